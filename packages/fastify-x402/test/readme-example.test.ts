// The README's example, run as written against a facilitator reached by URL (the reference
// x402 facilitator over HTTP on an in-process chain) and paid by the reference client.
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { decodePaymentResponseHeader } from "@x402/core/http";
import { testChain, type TestChain } from "./support/chain.ts";

let chain: TestChain;
beforeAll(async () => {
  chain = await testChain();
});
afterAll(() => chain.close());

async function example(FACILITATOR_URL: string, NETWORK: string, USDC: string, PAY_TO: string) {
  // README example start
  const { default: Fastify } = await import("fastify");
  const { HTTPFacilitatorClient } = await import("@x402/core/server");
  const { fastifyX402, MemoryPaymentStore } = await import("@royalty402/fastify-x402");

  const app = Fastify();
  await app.register(fastifyX402, {
    store: new MemoryPaymentStore(),
    facilitator: new HTTPFacilitatorClient({ url: FACILITATOR_URL }),
    network: NETWORK,
    asset: { address: USDC, name: "USD Coin", version: "2" },
    payTo: () => PAY_TO,
  });
  app.get("/weather", { config: { x402: { resource: "weather", price: 1000n } } }, async () => ({ sunny: true }));
  // README example end
  return app;
}

it("the README example is this test's code", () => {
  const source = readFileSync(new URL(import.meta.url), "utf8");
  const lines = source.split("\n");
  const start = lines.findIndex((l) => l.includes("// README example start"));
  const end = lines.findIndex((l) => l.includes("// README example end"));
  const code = lines
    .slice(start + 1, end)
    .map((l) => l.replace(/^ {2}/, ""))
    .join("\n");
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const block = /```ts\n([\s\S]*?)```/.exec(readme)![1];
  const body = block.trim();
  // The README spells the imports as static imports; everything else is the same text.
  const asStatic = code
    .replace('const { default: Fastify } = await import("fastify");', 'import Fastify from "fastify";')
    .replace(
      'const { HTTPFacilitatorClient } = await import("@x402/core/server");',
      'import { HTTPFacilitatorClient } from "@x402/core/server";',
    )
    .replace(
      'const { fastifyX402, MemoryPaymentStore } = await import("@royalty402/fastify-x402");',
      'import { fastifyX402, MemoryPaymentStore } from "@royalty402/fastify-x402";',
    );
  expect(body).toBe(asStatic.trim());
});

it("a paid route from the README: 402, then paid by the reference client, the token at the payee", async () => {
  const app = await example(chain.facilitatorUrl, chain.network, chain.asset, chain.payTo);
  await app.listen({ host: "127.0.0.1", port: 0 });
  try {
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/weather`;
    expect((await fetch(url)).status).toBe(402);
    const payer = await chain.payer();
    const before = await chain.balanceOf(chain.payTo);
    const res = await payer.fetch(url);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ sunny: true });
    const settlement = decodePaymentResponseHeader(res.headers.get("PAYMENT-RESPONSE")!);
    expect(settlement).toMatchObject({ success: true, network: chain.network, payer: payer.account.address, amount: "1000" });
    expect(settlement.transaction).toMatch(/^0x[0-9a-f]{64}$/);
    expect(await chain.balanceOf(chain.payTo)).toBe(before + 1000n);
  } finally {
    await app.close();
  }
});
