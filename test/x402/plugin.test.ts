// The fastify x402 plugin end to end on the in-process chain with a real SQLite ledger:
// challenge, bad input, payment, replay (sequential and concurrent), re-delivery of a settled
// payment's output to the same signed payload, the server-signed retrieval URL, handler failure and the retry of the same
// payment, settlement failure after the handler ran, challenge rate limit.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload } from "@x402/core/types";
import { ethers as E } from "ethers";
import { Reason } from "../../server/facilitator/index.ts";
import { splitterInterface } from "../../server/facilitator/abi.ts";
import { paidApp, PRICE_PER_TOKEN } from "./support/app.ts";
import { fundedWallet, pay, x402Stack, type X402Stack } from "./support/stack.ts";

let s: X402Stack;
let h: Awaited<ReturnType<typeof paidApp>>;
let payer: E.Wallet;

beforeAll(async () => {
  s = await x402Stack();
  h = await paidApp(s, {
    handler: async (body) => {
      // A payer who empties their wallet while the model runs: settlement must fail.
      if (body.drain) {
        const wallet = new E.Wallet(body.drain, s.ethers.provider);
        await s.connection.provider.request({ method: "hardhat_setBalance", params: [wallet.address, "0xDE0B6B3A7640000"] });
        const token = s.token.connect(wallet);
        await (await token.transfer(s.roles.keeper.address, await s.token.balanceOf(wallet.address))).wait();
      }
    },
  });
  payer = await fundedWallet(s);
});

afterAll(async () => {
  await h.app.close();
  await h.ledger.close();
});

const body = (extra: Record<string, unknown> = {}) => ({ model: "tiny", prompt: "hello", max_tokens: 50, ...extra });

async function challenge(b = body()) {
  const res = await h.app.inject({ method: "POST", url: "/v1/completions", payload: b });
  expect(res.statusCode).toBe(402);
  return decodePaymentRequiredHeader(res.headers["payment-required"] as string);
}

function send(payment: PaymentPayload | string, b = body()) {
  const header = typeof payment === "string" ? payment : encodePaymentSignatureHeader(payment);
  return h.app.inject({ method: "POST", url: "/v1/completions", payload: b, headers: { "payment-signature": header } });
}

const REDELIVERED = "x-royalty402-redelivered";

/**
 * Answers to copies of one payment: one original 200; the others 409, or (once it is being
 * settled) 202 settlement_pending, or (once settled) a re-delivery of the original.
 */
function expectOneOriginal(responses: Awaited<ReturnType<typeof send>>[]) {
  const originals = responses.filter((r) => r.statusCode === 200 && r.headers[REDELIVERED] === undefined);
  expect(originals).toHaveLength(1);
  const [original] = originals;
  for (const r of responses) {
    if (r === original) continue;
    if (r.statusCode === 202) expect([r.headers[REDELIVERED], r.json().error]).toEqual(["true", Reason.settlementPending]);
    else if (r.statusCode === 200) {
      expect([r.headers[REDELIVERED], r.body, r.headers["payment-response"]]).toEqual([
        "true",
        original.body,
        original.headers["payment-response"],
      ]);
    } else expect([r.statusCode, r.json().error]).toEqual([409, Reason.paymentReplayed]);
  }
  return original;
}

async function settledEvents(payer: string, nonce: string) {
  const logs = await s.ethers.provider.getLogs({ address: s.payTo, fromBlock: 0, toBlock: "latest" });
  return logs
    .map((l) => ({ log: l, event: splitterInterface.parseLog(l) }))
    .filter(({ event }) => event?.name === "PaymentSettled" && event.args.payer === payer && event.args.nonce === nonce);
}

describe("x402 plugin", () => {
  it("answers an unpaid call with a v2 challenge priced from the request", async () => {
    const res = await h.app.inject({ method: "POST", url: "/v1/completions", payload: body({ max_tokens: 7 }) });
    expect(res.statusCode).toBe(402);
    expect(res.headers["cache-control"]).toBe("no-store");
    const required = decodePaymentRequiredHeader(res.headers["payment-required"] as string);
    expect(required).toMatchObject({ x402Version: 2, resource: { url: "http://models.test/v1/completions", description: "completion" } });
    expect(required.accepts).toEqual([
      {
        scheme: "exact",
        network: s.network,
        asset: s.asset,
        amount: (7n * PRICE_PER_TOKEN).toString(),
        payTo: s.payTo,
        maxTimeoutSeconds: 300,
        extra: { name: "USD Coin", version: "2" },
      },
    ]);
    expect((await h.app.inject({ method: "GET", url: "/free" })).statusCode).toBe(200);
  });

  it("answers an unknown model with 404 before asking for money", async () => {
    const res = await h.app.inject({ method: "POST", url: "/v1/completions", payload: body({ model: "nope" }) });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe("unknown_resource");
  });

  it("gives bad payment headers a clear 4xx with a reason code", async () => {
    const [req] = (await challenge()).accepts;
    const cases: Array<[string | PaymentPayload, number, string]> = [
      ["%%%not-base64%%%", 400, Reason.invalidPayload],
      [Buffer.from("{not json").toString("base64"), 400, Reason.invalidPayload],
      [Buffer.from("[1,2]").toString("base64"), 400, Reason.invalidPayload],
      ["A".repeat(9000), 431, Reason.paymentHeaderTooLarge],
      [{ ...(await pay(payer, req)), x402Version: 1 }, 402, Reason.invalidX402Version],
      [await pay(payer, req, { accepted: { scheme: "upto" } }), 402, Reason.unsupportedScheme],
      [await pay(payer, req, { accepted: { network: "eip155:8453" } }), 402, Reason.networkMismatch],
      [await pay(payer, req, { accepted: { asset: s.roles.keeper.address } }), 402, Reason.assetMismatch],
      [await pay(payer, req, { accepted: { payTo: s.roles.keeper.address } }), 402, Reason.recipientMismatch],
      [await pay(payer, req, { accepted: { amount: "1" } }), 402, Reason.valueMismatch],
      [await pay(E.Wallet.createRandom(), req, { from: payer.address }), 402, Reason.signature],
      [await pay(E.Wallet.createRandom(), req), 402, Reason.insufficientBalance],
    ];
    for (const [payment, status, reason] of cases) {
      const res = await send(payment);
      expect([res.statusCode, res.json().error]).toEqual([status, reason]);
      if (status === 402) expect(decodePaymentRequiredHeader(res.headers["payment-required"] as string).error).toBe(reason);
    }
    expect(h.calls).toHaveLength(0);
  });

  it("reserves, runs the handler, settles, and answers with PAYMENT-RESPONSE naming the output", async () => {
    const [req] = (await challenge()).accepts;
    const before = await s.token.balanceOf(s.payTo);
    const res = await send(await pay(payer, req));
    expect(res.statusCode).toBe(200);
    const settlement = decodePaymentResponseHeader(res.headers["payment-response"] as string);
    const { outputId } = res.json();
    expect(settlement).toMatchObject({
      success: true,
      network: s.network,
      payer: payer.address,
      amount: "5000",
      extra: { outputId, attributionUrl: `http://models.test/attributions/${outputId}` },
    });
    expect(await s.token.balanceOf(s.payTo)).toBe(before + 5000n);
    const receipt = await s.ethers.provider.getTransactionReceipt(settlement.transaction);
    const event = receipt!.logs.map((l) => splitterInterface.parseLog(l)).find((e) => e?.name === "PaymentSettled")!;
    expect([event.args.outputId, event.args.attributionRoot]).toEqual([outputId, `0x${"ab".repeat(32)}`]);
    const [record] = await h.ledger.listPayments({ status: ["settled"] });
    expect(record).toMatchObject({
      payer: payer.address.toLowerCase(),
      amount: "5000",
      modelId: "tiny",
      outputId,
      txHash: settlement.transaction,
    });
  });

  it("re-delivers a settled payment's output to the same signed payload, without running the handler or settling again", async () => {
    const [req] = (await challenge()).accepts;
    const wallet = await fundedWallet(s, 100_000n);
    const payment = await pay(wallet, req);
    const original = await send(payment);
    expect(original.statusCode).toBe(200);
    expect(original.headers[REDELIVERED]).toBeUndefined();
    const calls = h.calls.length;
    const sent = s.facilitator.relayer.sent;
    for (let i = 0; i < 2; i++) {
      const again = await send(payment);
      expect(again.statusCode).toBe(200);
      expect(again.headers[REDELIVERED]).toBe("true");
      expect(again.body).toBe(original.body);
      expect(again.headers["content-type"]).toBe(original.headers["content-type"]);
      expect(decodePaymentResponseHeader(again.headers["payment-response"] as string)).toEqual(
        decodePaymentResponseHeader(original.headers["payment-response"] as string),
      );
    }
    expect(h.calls.length).toBe(calls);
    expect(s.facilitator.relayer.sent).toBe(sent);
    expect(await s.token.balanceOf(wallet.address)).toBe(100_000n - 5000n);
    const nonce = (payment.payload.authorization as { nonce: string }).nonce;
    expect(await settledEvents(wallet.address, nonce)).toHaveLength(1);
  });

  it("answers with a server-signed URL serving the output again; the token cannot be derived from the public payload", async () => {
    const [req] = (await challenge()).accepts;
    const wallet = await fundedWallet(s, 100_000n);
    const payment = await pay(wallet, req);
    const original = await send(payment);
    expect(original.statusCode).toBe(200);
    const { extra } = decodePaymentResponseHeader(original.headers["payment-response"] as string);
    const { outputId } = original.json();
    expect(extra).toMatchObject({ outputId, attributionUrl: `http://models.test/attributions/${outputId}` });
    const outputUrl = new URL(extra!.outputUrl as string);
    expect(outputUrl.pathname).toBe(`/x402/outputs/${outputId}`);
    const token = outputUrl.searchParams.get("token")!;
    const fetched = await h.app.inject({ method: "GET", url: `${outputUrl.pathname}?token=${token}` });
    expect([fetched.statusCode, fetched.body]).toEqual([200, original.body]);
    // The former token, a hash of the signed payload anyone can rebuild once it is on-chain, is refused.
    const fromPayload = createHash("sha256")
      .update("royalty402/held-output/v1\u0000", "utf8")
      .update(JSON.stringify(payment), "utf8")
      .digest("base64url");
    expect(fromPayload).not.toBe(token);
    const refused = await h.app.inject({ method: "GET", url: `${outputUrl.pathname}?token=${fromPayload}` });
    expect([refused.statusCode, refused.json().error]).toEqual([404, "unknown_output"]);
  });

  it("refuses with 409 a different payload for a settled payment's nonce", async () => {
    const [req] = (await challenge()).accepts;
    const wallet = await fundedWallet(s, 100_000n);
    const payment = await pay(wallet, req);
    expect((await send(payment)).statusCode).toBe(200);
    const calls = h.calls.length;
    const nonce = (payment.payload.authorization as { nonce: string }).nonce;
    // Re-signed with the same nonce (another validBefore), and the same signature in another envelope.
    const resigned = await pay(wallet, req, { nonce, validBefore: BigInt(Math.floor(Date.now() / 1000)) + 200n });
    const reworded = { ...payment, resource: { url: "http://elsewhere.test/", description: "", mimeType: "" } };
    for (const other of [resigned, reworded]) {
      const replay = await send(other);
      expect(replay.statusCode).toBe(409);
      expect(replay.headers[REDELIVERED]).toBeUndefined();
      expect(replay.json()).toMatchObject({ error: Reason.paymentReplayed, status: "settled" });
      expect(replay.body).not.toContain("completion for");
    }
    expect(h.calls.length).toBe(calls);
    expect(await s.token.balanceOf(wallet.address)).toBe(100_000n - 5000n);
  });

  it("runs the handler once and settles once for 8 concurrent copies of one payment", async () => {
    const [req] = (await challenge()).accepts;
    const wallet = await fundedWallet(s, 100_000n);
    const payment = await pay(wallet, req);
    const calls = h.calls.length;
    const responses = await Promise.all(Array.from({ length: 8 }, () => send(payment)));
    // Copies that arrive once it is settled are given the same output again (a re-delivery).
    expectOneOriginal(responses);
    expect(h.calls.length - calls).toBe(1);
    expect(await settledEvents(wallet.address, (payment.payload.authorization as { nonce: string }).nonce)).toHaveLength(1);
    expect(await s.token.balanceOf(wallet.address)).toBe(100_000n - 5000n);
  });

  it("charges nothing and releases the reservation when the handler fails", async () => {
    const [req] = (await challenge(body({ fail: true }))).accepts;
    const wallet = await fundedWallet(s, 100_000n);
    const payment = await pay(wallet, req);
    const res = await send(payment, body({ fail: true }));
    expect(res.statusCode).toBe(500);
    expect(res.headers["payment-response"]).toBeUndefined();
    expect(await s.token.balanceOf(wallet.address)).toBe(100_000n);
    const auth = payment.payload.authorization as { nonce: string };
    const record = await h.ledger.getPayment({
      network: s.network,
      asset: s.asset.toLowerCase(),
      payer: wallet.address.toLowerCase(),
      nonce: auth.nonce,
    });
    expect(record?.status).toBe("released");
  });

  it("accepts the same signed payment again after a handler failure, and settles it once", async () => {
    const [req] = (await challenge()).accepts;
    const wallet = await fundedWallet(s, 100_000n);
    const payment = await pay(wallet, req);
    const calls = h.calls.length;
    expect((await send(payment, body({ fail: true }))).statusCode).toBe(500);
    const retry = await send(payment);
    expect(retry.statusCode).toBe(200);
    const settlement = decodePaymentResponseHeader(retry.headers["payment-response"] as string);
    expect(settlement).toMatchObject({ success: true, payer: wallet.address, amount: "5000" });
    expect(h.calls.length - calls).toBe(2); // the failed run and the retry
    expect(await s.token.balanceOf(wallet.address)).toBe(100_000n - 5000n);
    const nonce = (payment.payload.authorization as { nonce: string }).nonce;
    const record = await h.ledger.getPayment({
      network: s.network,
      asset: s.asset.toLowerCase(),
      payer: wallet.address.toLowerCase(),
      nonce,
    });
    expect(record).toMatchObject({ status: "settled", txHash: settlement.transaction, errorReason: null });
    // Once settled, the same payload is given the same output again; nothing runs.
    const again = await send(payment);
    expect([again.statusCode, again.headers[REDELIVERED], again.body]).toEqual([200, "true", retry.body]);
    expect(h.calls.length - calls).toBe(2);
  });

  it("lets exactly one of 6 concurrent retries of a released payment run the handler", async () => {
    const [req] = (await challenge()).accepts;
    const wallet = await fundedWallet(s, 100_000n);
    const payment = await pay(wallet, req);
    expect((await send(payment, body({ fail: true }))).statusCode).toBe(500);
    const calls = h.calls.length;
    const responses = await Promise.all(Array.from({ length: 6 }, () => send(payment)));
    expectOneOriginal(responses);
    expect(h.calls.length - calls).toBe(1);
    expect(await s.token.balanceOf(wallet.address)).toBe(100_000n - 5000n);
  });

  it("does not deliver the output when settlement fails after the handler ran", async () => {
    const [req] = (await challenge()).accepts;
    const wallet = await fundedWallet(s, 100_000n);
    const res = await send(await pay(wallet, req), body({ drain: wallet.privateKey }));
    expect(res.statusCode).toBe(402);
    expect(res.json()).toMatchObject({ error: Reason.insufficientBalance });
    expect(res.body).not.toContain("completion for");
    const settlement = decodePaymentResponseHeader(res.headers["payment-response"] as string);
    expect(settlement).toMatchObject({ success: false, errorReason: Reason.insufficientBalance });
    const [failed] = await h.ledger.listPayments({ status: ["failed"] });
    expect(failed).toMatchObject({ payer: wallet.address.toLowerCase(), errorReason: Reason.insufficientBalance });
  });
});

describe("challenge rate limit", () => {
  it("answers unpaid requests past the limit with 429 and Retry-After; paid requests and other routes go through", async () => {
    const limited = await paidApp(s, { plugin: { challengeRateLimit: { max: 3, timeWindow: 60_000 } } });
    try {
      const unpaid = () => limited.app.inject({ method: "POST", url: "/v1/completions", payload: body() });
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await unpaid()).statusCode);
      expect(statuses).toEqual([402, 402, 402, 429, 429]);
      const refused = await unpaid();
      expect(refused.statusCode).toBe(429);
      expect(Number(refused.headers["retry-after"])).toBeGreaterThan(0);
      expect(refused.json()).toMatchObject({ code: "challenge_rate_limited" });
      expect(refused.headers["payment-required"]).toBeUndefined();
      const [req] = decodePaymentRequiredHeader(
        (await h.app.inject({ method: "POST", url: "/v1/completions", payload: body() })).headers["payment-required"] as string,
      ).accepts;
      const paid = await limited.app.inject({
        method: "POST",
        url: "/v1/completions",
        payload: body(),
        headers: { "payment-signature": encodePaymentSignatureHeader(await pay(await fundedWallet(s, 100_000n), req)) },
      });
      expect(paid.statusCode).toBe(200);
      expect((await limited.app.inject({ method: "GET", url: "/free" })).statusCode).toBe(200);
    } finally {
      await limited.app.close();
      await limited.ledger.close();
    }
  });
});
