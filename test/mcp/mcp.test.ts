// Paid MCP tools end to end: the model host (createApp) on an in-process Hardhat chain, reached
// over real HTTP by the MCP SDK's own Client and StreamableHTTPClientTransport; payments signed by
// the reference x402 client (@x402/core x402Client with @x402/evm's exact scheme, a viem account).
// Checked against the chain (splitter balance), the ledger and the model backend's call count.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ErrorCode, McpError, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { PaymentPayload, PaymentRequired } from "@x402/core/types";
import { type Contract, Wallet } from "ethers";
import { createApp, type RoyaltyServer } from "../../server/app.ts";
import { pay as payCommand } from "../../server/cli/actions/pay.ts";
import { callTool, connectMcp, payTool, paymentRequiredOf, settlementOf } from "../../server/mcp/client.ts";
import { exactPayer, hostChain } from "../support/host-chain.ts";
import { pay } from "../x402/support/stack.ts";

const MODEL = "brown-ngram";
const PRICE = 1000n + 10n * 16n; // pricePerRequest + pricePerMaxToken × defaultMaxTokens
const dataDir = mkdtempSync(join(tmpdir(), "r402-mcp-"));
let server: RoyaltyServer;
let base = "";
let token: Contract;
let mcp: Client;
let runs = 0;

beforeAll(async () => {
  const host = await hostChain(1);
  ({ token } = host);
  server = await createApp({
    config: {
      server: { host: "127.0.0.1", port: 0 },
      chain: host.config,
      facilitator: { mode: "embedded", maxWaitMs: 20 },
      dataDir,
      epochs: { enabled: false },
      datanets: [{ id: "brown", seed: { corpus: "brown", documents: 8, contributors: 5 } }],
      models: [
        {
          id: MODEL,
          backend: "infinigram",
          datanet: "brown",
          pricePerRequest: "1000",
          pricePerMaxToken: "10",
          defaultMaxTokens: 16,
          maxTokensLimit: 64,
          owner: host.owner.address,
        },
      ],
    },
    env: { ROYALTY402_ADMIN_TOKEN: "mcp-test-admin-token-0123" },
    chain: host.options,
    logger: false,
  });
  base = await server.listen({ port: 0 });
  // Counts model runs (the backend itself is the real ∞-gram model).
  const backend = server.context.models.get(MODEL)!.backend;
  const complete = backend.complete.bind(backend);
  backend.complete = (...args) => {
    runs++;
    return complete(...args);
  };
  mcp = await connectMcp(`${base}/mcp`, "mcp-test");
});

afterAll(async () => {
  await mcp?.close();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const splitter = () => server.context.models.get(MODEL)!.splitter;
const balanceOf = async (address: string): Promise<bigint> => (token.getFunction("balanceOf") as any)(address);
const payments = () => server.context.ledger.listPayments({ modelId: MODEL, limit: 1000 });

const payer = () => exactPayer(token, 1_000_000n);

async function challenge(args: Record<string, unknown> = { prompt: "The jury said" }): Promise<PaymentRequired> {
  const result = await callTool(mcp, MODEL, args);
  const required = paymentRequiredOf(result);
  expect(required, JSON.stringify(result)).not.toBeNull();
  return required!;
}

/** A refusal of the payment: isError, the reason code in PaymentRequired.error, the offers to pay again. */
function expectPaymentRefused(result: CallToolResult, code: string) {
  expect(result.isError).toBe(true);
  const required = paymentRequiredOf(result)!;
  expect(required, JSON.stringify(result)).not.toBeNull();
  expect(required.error).toBe(code);
  expect(required.accepts[0]).toMatchObject({ scheme: "exact", payTo: splitter(), amount: PRICE.toString() });
  expect(JSON.parse((result.content[0] as { text: string }).text)).toEqual(result.structuredContent);
}

describe("paid MCP tools", () => {
  it("lists one tool per paid model, named by the model id, with the prompt and max_tokens inputs", async () => {
    const { tools } = await mcp.listTools();
    expect(tools.map((t) => t.name)).toEqual([MODEL]);
    expect(tools[0].inputSchema).toMatchObject({
      type: "object",
      required: ["prompt"],
      properties: { prompt: { type: "string" }, max_tokens: { type: "integer", maximum: 64 } },
    });
    expect(tools[0].description).toContain("x402");
    expect(tools[0].description).toContain("recordUrl");
  });

  it("answers an unpaid call with isError and the PaymentRequired in structuredContent and content[0].text, running nothing", async () => {
    const before = { runs, payments: (await payments()).length };
    const result = await callTool(mcp, MODEL, { prompt: "The jury said" });
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toMatchObject({
      x402Version: 2,
      error: "Payment required",
      resource: { url: `mcp://tool/${MODEL}` },
      accepts: [
        {
          scheme: "exact",
          network: "eip155:31337",
          amount: PRICE.toString(),
          asset: await token.getAddress(),
          payTo: splitter(),
          extra: { name: "USD Coin", version: "2" },
        },
        // Every paid model offers upto next to exact (the embedded facilitator settles it).
        { scheme: "upto", amount: PRICE.toString(), payTo: splitter(), extra: { assetTransferMethod: "permit2" } },
        // And channels, where the chain has the batch-settlement escrow (the local chain does).
        { scheme: "batch-settlement", amount: PRICE.toString(), payTo: splitter() },
      ],
    });
    expect(JSON.parse((result.content[0] as { text: string }).text)).toEqual(result.structuredContent);
    expect(runs).toBe(before.runs);
    expect((await payments()).length).toBe(before.payments);
    // The price follows max_tokens, as on the HTTP route.
    expect((await challenge({ prompt: "x", max_tokens: 40 })).accepts[0].amount).toBe((1000n + 400n).toString());
  });

  it("runs a paid call: text, attribution and record URL; the settlement in _meta; the money in the splitter", async () => {
    const { wallet, client } = await payer();
    const before = { balance: await balanceOf(splitter()), runs };
    const { result, required, settlement } = await payTool(mcp, client, MODEL, { prompt: "The jury said it did find", max_tokens: 16 });
    expect(required?.accepts[0].payTo).toBe(splitter());
    expect(result.isError ?? false, JSON.stringify(result)).toBe(false);
    const out = result.structuredContent as any;
    expect(out.text.length).toBeGreaterThan(0);
    expect((result.content[0] as { text: string }).text).toBe(out.text);
    expect(out.recordUrl).toBe(`${base}/attributions/${out.outputId}`);
    expect(out.attribution.contributors.length).toBeGreaterThan(0);
    expect(settlement).toMatchObject({ success: true, network: "eip155:31337", payer: wallet.address, amount: PRICE.toString() });
    expect(settlement!.transaction).toMatch(/^0x[0-9a-f]{64}$/);
    expect(settlement!.extra).toMatchObject({ outputId: out.outputId });
    expect(await balanceOf(splitter())).toBe(before.balance + PRICE);
    expect(runs).toBe(before.runs + 1);
    const record = await fetch(out.recordUrl);
    expect(record.status).toBe(200);
    const ledgerRow = (await payments()).find((p) => p.outputId === out.outputId);
    expect(ledgerRow).toMatchObject({ status: "settled", payer: wallet.address.toLowerCase(), amount: PRICE.toString() });
  });

  it("answers a replayed payment with its first answer (no second run or charge); a reused nonce is refused", async () => {
    const { client } = await payer();
    const required = await challenge();
    const payload = await client.createPaymentPayload(required);
    const first = await callTool(mcp, MODEL, { prompt: "The jury said" }, payload);
    expect(first.isError ?? false, JSON.stringify(first)).toBe(false);
    const before = { balance: await balanceOf(splitter()), runs, settled: (await payments()).filter((p) => p.status === "settled").length };

    const again = await callTool(mcp, MODEL, { prompt: "The jury said" }, payload);
    expect(again.isError ?? false).toBe(false);
    expect(again.structuredContent).toMatchObject({ redelivered: true, outputId: (first.structuredContent as any).outputId });
    expect((again.structuredContent as any).text).toBe((first.structuredContent as any).text);
    expect(settlementOf(again)?.transaction).toBe(settlementOf(first)?.transaction);

    // Another signed payload under the same nonce is a replay, not a purchase.
    const inner = (payload as PaymentPayload).payload as { authorization: Record<string, string> };
    const { wallet } = await payer();
    const reused = await pay(wallet, required.accepts[0], { nonce: inner.authorization.nonce, from: inner.authorization.from });
    expectPaymentRefused(await callTool(mcp, MODEL, { prompt: "The jury said" }, reused), "payment_replayed");

    expect(runs).toBe(before.runs);
    expect(await balanceOf(splitter())).toBe(before.balance);
    expect((await payments()).filter((p) => p.status === "settled").length).toBe(before.settled);
  });

  it("refuses bad payment payloads with reason codes, charging and running nothing", async () => {
    const { wallet, client } = await payer();
    const stranger = new Wallet(Wallet.createRandom().privateKey);
    const required = await challenge();
    const offer = required.accepts[0];
    const good = (await client.createPaymentPayload(required)) as PaymentPayload;
    const before = { balance: await balanceOf(splitter()), runs, payments: (await payments()).length };
    const cases: Array<[unknown, string]> = [
      ["not a payment", "invalid_payload"],
      [null, "invalid_payload"],
      [{ ...good, x402Version: 1 }, "invalid_x402_version"],
      [{ ...good, accepted: { ...good.accepted, scheme: "upto-ish" } }, "unsupported_scheme"],
      [{ x402Version: 2, accepted: good.accepted }, "invalid_payload"],
      [await pay(wallet, offer, { value: PRICE - 1n }), "invalid_exact_evm_payload_authorization_value_mismatch"],
      [await pay(wallet, offer, { to: stranger.address }), "invalid_exact_evm_recipient_mismatch"],
      [await pay(stranger, offer, { from: wallet.address }), "invalid_exact_evm_signature"],
      [await pay(wallet, offer, { validBefore: 1n }), "invalid_exact_evm_payload_authorization_valid_before"],
      [{ ...good, padding: "x".repeat(10_000) }, "payment_header_too_large"],
    ];
    for (const [payment, code] of cases) {
      const result = await callTool(mcp, MODEL, { prompt: "The jury said" }, payment);
      expectPaymentRefused(result, code);
      // A second content part explains the refusal in words.
      expect((result.content[1] as { text: string } | undefined)?.text).toMatch(new RegExp(`^${code}: .{8,}`));
    }
    expect(runs).toBe(before.runs);
    expect(await balanceOf(splitter())).toBe(before.balance);
    expect((await payments()).length).toBe(before.payments);
  });

  it("refuses bad arguments before any payment: with reason codes as tool errors; an unknown tool is a protocol error", async () => {
    const { client } = await payer();
    const before = { runs, balance: await balanceOf(splitter()) };
    const tooMany = await callTool(mcp, MODEL, { prompt: "The jury said", max_tokens: 65 });
    expect(tooMany).toMatchObject({ isError: true, structuredContent: { status: 400, error: "max_tokens_too_large" } });
    for (const args of [{ prompt: "" }, { prompt: 7 }, {}, { prompt: "x", max_tokens: 2.5 }, { prompt: "x", temperature: 1 }]) {
      const result = await callTool(mcp, MODEL, args, await client.createPaymentPayload(await challenge()));
      expect(result, JSON.stringify(args)).toMatchObject({ isError: true, structuredContent: { error: "invalid_arguments" } });
    }
    const unknown = await callTool(mcp, "no-such-model", { prompt: "x" }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(McpError);
    expect((unknown as McpError).code).toBe(ErrorCode.InvalidParams);
    expect(runs).toBe(before.runs);
    expect(await balanceOf(splitter())).toBe(before.balance);
  });

  it("is stateless: GET and DELETE on /mcp are 405, and a new client needs no session", async () => {
    for (const method of ["GET", "DELETE"]) {
      const res = await fetch(`${base}/mcp`, { method, headers: { accept: "text/event-stream" } });
      expect(res.status).toBe(405);
      expect(res.headers.get("allow")).toBe("POST");
    }
    const other = await connectMcp(`${base}/mcp`, "second");
    expect((await other.listTools()).tools).toHaveLength(1);
    await other.close();
  });

  it("royalty402 pay --mcp pays the tool as an agent, under its spending cap", async () => {
    const { wallet } = await payer();
    const before = { balance: await balanceOf(splitter()), runs };
    const printed: string[] = [];
    const log = vi.spyOn(console, "log").mockImplementation((line: string) => void printed.push(line));
    vi.stubEnv("ROYALTY402_PAYER_KEY", wallet.privateKey);
    try {
      await payCommand(undefined, { mcp: `${base}/mcp`, prompt: "The jury said", maxAmount: "0.01", json: true });
      const capped = await payCommand(undefined, { mcp: base, prompt: "The jury said", maxTokens: 64, maxAmount: "0.001" }).catch((e) => e);
      expect(String(capped)).toMatch(/above the spending cap/);
    } finally {
      log.mockRestore();
      vi.unstubAllEnvs();
    }
    const out = JSON.parse(printed.join("\n"));
    expect(out).toMatchObject({ model: MODEL, mcp: `${base}/mcp`, receipt: { success: true, payer: wallet.address } });
    expect(out.attribution.recordUrl).toBe(`${base}/attributions/${out.attribution.outputId}`);
    expect(out.answer.length).toBeGreaterThan(0);
    expect(await balanceOf(splitter())).toBe(before.balance + PRICE);
    expect(runs).toBe(before.runs + 1);
  });
});
