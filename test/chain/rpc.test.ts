// The server's JSON-RPC connection (fetch transport) against a small JSON-RPC endpoint: batches,
// credentials from the URL, and an HTTP failure reported as a transport error (a 503, not a revert).
import { createServer, type IncomingMessage, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRpcProvider } from "../../server/chain/rpc.ts";
import { isTransportError } from "../../server/facilitator/reasons.ts";

const seen: Array<{ authorization?: string; body: unknown }> = [];
let failWith: number | null = null;
let server: Server;
let port = 0;

function answer(call: { id: number; method: string }) {
  const results: Record<string, string> = { eth_chainId: "0x7a69", eth_blockNumber: "0x2a", eth_getBalance: "0x64" };
  return { jsonrpc: "2.0", id: call.id, result: results[call.method] ?? null };
}

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  let text = "";
  for await (const chunk of req) text += chunk;
  return JSON.parse(text);
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const body = (await bodyOf(req)) as { id: number; method: string } | Array<{ id: number; method: string }>;
    seen.push({ authorization: req.headers.authorization, body });
    if (failWith !== null) {
      res.writeHead(failWith).end("down");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(Array.isArray(body) ? body.map(answer) : answer(body)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("connectRpcProvider over HTTP", () => {
  it("answers single and batched calls, with the URL's credentials as a Basic header", async () => {
    const { provider, chainId } = await connectRpcProvider(`http://alice:s%3Acret@127.0.0.1:${port}/`, 31337);
    expect(chainId).toBe(31337n);
    seen.length = 0;
    // Two calls in the same tick: ethers sends them as one JSON-RPC batch.
    const [block, balance] = await Promise.all([provider.getBlockNumber(), provider.getBalance("0x" + "11".repeat(20))]);
    expect([block, balance]).toEqual([42, 100n]);
    expect(seen.some((s) => Array.isArray(s.body) && s.body.length === 2)).toBe(true);
    // ...and no call is held back waiting for later ones (ethers' default holds each 10 ms).
    expect((provider as unknown as { _getOption(k: string): number })._getOption("batchStallTime")).toBe(0);
    expect(seen.every((s) => s.authorization === `Basic ${Buffer.from("alice:s:cret").toString("base64")}`)).toBe(true);
    provider.destroy();
  });

  it("an HTTP error from the endpoint is a transport error, not a chain answer", async () => {
    const { provider } = await connectRpcProvider(`http://127.0.0.1:${port}/`);
    failWith = 502;
    try {
      const error = await provider.getBlockNumber().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).not.toBeNull();
      expect(isTransportError(error)).toBe(true);
    } finally {
      failWith = null;
      provider.destroy();
    }
  });
});
