// Chain/RPC outage and the external-facilitator path. The facilitator talks to the chain
// over a real HTTP JSON-RPC endpoint that the test takes down: paid calls get 503 with
// Retry-After, nothing is charged, and service resumes by itself when the RPC is back.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AddressInfo } from "node:net";
import Fastify from "fastify";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { encodePaymentSignatureHeader, decodePaymentRequiredHeader } from "@x402/core/http";
import { JsonRpcProvider, Wallet } from "ethers";
import { EmbeddedFacilitator, Reason, facilitatorRoutes } from "../../server/facilitator/index.ts";
import { paidApp } from "./support/app.ts";
import { RpcGateway } from "./support/rpc-gateway.ts";
import { fundedWallet, pay, x402Stack, type X402Stack } from "./support/stack.ts";

let s: X402Stack;
let gateway: RpcGateway;
let remote: EmbeddedFacilitator;
let h: Awaited<ReturnType<typeof paidApp>>;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  s = await x402Stack();
  gateway = new RpcGateway(s.connection.provider);
  await gateway.start();
  const provider = new JsonRpcProvider(gateway.url, s.chainId, { staticNetwork: true, batchStallTime: 2 });
  // The stack's relayer key, on the HTTP provider: it is the splitter's facilitator.
  remote = await EmbeddedFacilitator.create({ provider, relayer: new Wallet(s.relayer.privateKey, provider) });
  s.facilitator.close();
  h = await paidApp(s, {
    facilitator: remote,
    handler: async (body) => {
      if (body.outageDuringHandler) await gateway.stop();
    },
  });
  closers.push(
    () => h.ledger.close(),
    () => h.app.close(),
    async () => remote.close(),
    () => gateway.stop(),
  );
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

const body = (extra: Record<string, unknown> = {}) => ({ model: "tiny", prompt: "x", max_tokens: 10, ...extra });

async function requirements() {
  const res = await h.app.inject({ method: "POST", url: "/v1/completions", payload: body() });
  return decodePaymentRequiredHeader(res.headers["payment-required"] as string).accepts[0];
}

describe("chain outage", () => {
  it("answers 503 with Retry-After when verify cannot reach the chain; nothing reserved", async () => {
    const req = await requirements();
    const wallet = await fundedWallet(s, 10_000n);
    const payment = await pay(wallet, req);
    await gateway.stop();
    try {
      const res = await h.app.inject({
        method: "POST",
        url: "/v1/completions",
        payload: body(),
        headers: { "payment-signature": encodePaymentSignatureHeader(payment) },
      });
      expect(res.statusCode).toBe(503);
      expect(res.headers["retry-after"]).toBe("5");
      expect(res.json().error).toBe(Reason.chainUnavailable);
      expect(h.calls).toHaveLength(0);
    } finally {
      await gateway.start();
    }
    // Recovery is automatic: the same payment goes through once the RPC is back.
    const again = await h.app.inject({
      method: "POST",
      url: "/v1/completions",
      payload: body(),
      headers: { "payment-signature": encodePaymentSignatureHeader(payment) },
    });
    expect(again.statusCode).toBe(200);
    expect(await s.token.balanceOf(wallet.address)).toBe(10_000n - 1000n);
  });

  it("answers 503 and releases the reservation when settle cannot reach the chain", async () => {
    const req = await requirements();
    const wallet = await fundedWallet(s, 10_000n);
    const payment = await pay(wallet, req);
    const res = await h.app.inject({
      method: "POST",
      url: "/v1/completions",
      payload: body({ outageDuringHandler: true }),
      headers: { "payment-signature": encodePaymentSignatureHeader(payment) },
    });
    await gateway.start();
    expect(res.statusCode).toBe(503);
    expect(res.headers["retry-after"]).toBeDefined();
    expect(res.body).not.toContain("completion for");
    expect(await s.token.balanceOf(wallet.address)).toBe(10_000n);
    const nonce = (payment.payload.authorization as { nonce: string }).nonce;
    const record = await h.ledger.getPayment({
      network: s.network,
      asset: s.asset.toLowerCase(),
      payer: wallet.address.toLowerCase(),
      nonce,
    });
    expect(record).toMatchObject({ status: "released", errorReason: Reason.chainUnavailable });
  });

  it("the facilitator HTTP API answers 503 + Retry-After while the chain is down, 400 for a malformed request", async () => {
    const api = Fastify();
    await api.register(facilitatorRoutes, { prefix: "/facilitator", facilitator: remote, retryAfterSeconds: 2 });
    await api.ready();
    closers.push(() => api.close());
    const req = await requirements();
    const payment = await pay(await fundedWallet(s, 10_000n), req);
    const bad = await api.inject({ method: "POST", url: "/facilitator/verify", payload: { x402Version: 2 } });
    expect([bad.statusCode, bad.json().invalidReason]).toEqual([400, Reason.invalidPayload]);
    const v1 = await api.inject({
      method: "POST",
      url: "/facilitator/settle",
      payload: { x402Version: 1, paymentPayload: { ...payment, x402Version: 1 }, paymentRequirements: req },
    });
    expect([v1.statusCode, v1.json().errorReason]).toEqual([400, Reason.invalidX402Version]);
    await gateway.stop();
    try {
      const res = await api.inject({
        method: "POST",
        url: "/facilitator/verify",
        payload: { x402Version: 2, paymentPayload: payment, paymentRequirements: req },
      });
      expect(res.statusCode).toBe(503);
      expect(res.headers["retry-after"]).toBe("2");
      expect(res.json()).toMatchObject({ isValid: false, invalidReason: Reason.chainUnavailable });
    } finally {
      await gateway.start();
    }
    const ok = await api.inject({
      method: "POST",
      url: "/facilitator/verify",
      payload: { x402Version: 2, paymentPayload: payment, paymentRequirements: req },
    });
    expect(ok.json()).toMatchObject({ isValid: true });
  });
});

describe("external facilitator by URL", () => {
  it("the plugin pays through any facilitator reached with HTTPFacilitatorClient, and answers 503 when it is gone", async () => {
    const api = Fastify();
    await api.register(facilitatorRoutes, { prefix: "/facilitator", facilitator: remote });
    await api.listen({ host: "127.0.0.1", port: 0 });
    const url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}/facilitator`;
    const viaUrl = await paidApp(s, { facilitator: new HTTPFacilitatorClient({ url }) });
    closers.push(
      () => viaUrl.ledger.close(),
      () => viaUrl.app.close(),
    );
    const req = await requirements();
    const wallet = await fundedWallet(s, 10_000n);
    const send = async () =>
      viaUrl.app.inject({
        method: "POST",
        url: "/v1/completions",
        payload: body(),
        headers: { "payment-signature": encodePaymentSignatureHeader(await pay(wallet, req)) },
      });
    const paid = await send();
    expect(paid.statusCode).toBe(200);
    expect(await s.token.balanceOf(wallet.address)).toBe(9_000n);
    await api.close();
    const down = await send();
    expect(down.statusCode).toBe(503);
    expect(await s.token.balanceOf(wallet.address)).toBe(9_000n);
  });
});
