// The payment-identifier extension over real HTTP with the reference client (@x402/fetch, the
// exact EVM client, the extension's own client helper and validators), on a local chain, the
// embedded facilitator and a SQLite ledger: the same id with the same request is answered once
// and charged once; anything else under that id is a 409; duplicates in flight wait for the first.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AddressInfo } from "node:net";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import {
  PAYMENT_IDENTIFIER,
  appendPaymentIdentifierToExtensions,
  generatePaymentId,
  isPaymentIdentifierExtension,
  validatePaymentIdentifier,
} from "@x402/extensions/payment-identifier";
import { privateKeyToAccount } from "viem/accounts";
import { paidApp } from "./support/app.ts";
import { fundedWallet, x402Stack, type X402Stack } from "./support/stack.ts";

let s: X402Stack;
let h: Awaited<ReturnType<typeof paidApp>>;
let url: string;

beforeAll(async () => {
  s = await x402Stack();
  // A handler that takes a moment, so that duplicates sent together overlap the first.
  h = await paidApp(s, { handler: async (body) => void (body.slow && (await new Promise((r) => setTimeout(r, 300)))) });
  await h.app.listen({ host: "127.0.0.1", port: 0 });
  url = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}/v1/completions`;
});

afterAll(async () => {
  await h?.app.close();
  await h?.ledger.close();
});

const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

/** The reference client with a fixed payment id, recording the PAYMENT-SIGNATURE headers it sends. */
async function payingClient(id: string) {
  const wallet = await fundedWallet(s, 1_000_000n);
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: privateKeyToAccount(wallet.privateKey as `0x${string}`) });
  client.setSpendControls({ allowedAssets: [{ network: s.network as `${string}:${string}`, asset: s.asset }] });
  client.onBeforePaymentCreation(async ({ paymentRequired }) => {
    paymentRequired.extensions ??= {};
    appendPaymentIdentifierToExtensions(paymentRequired.extensions, id);
  });
  const sent: string[] = [];
  const recording = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const signature = request.headers.get("PAYMENT-SIGNATURE");
    if (signature) sent.push(signature);
    return fetch(request);
  };
  return { wallet, client, sent, fetchWithPayment: wrapFetchWithPayment(recording, client) };
}

const completion = (prompt: string, extra: Record<string, unknown> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ model: "tiny", prompt, max_tokens: 3, ...extra }),
});

describe("payment-identifier", () => {
  it("is declared in every challenge as the reference extension validates it", async () => {
    const res = await post({ model: "tiny", prompt: "hi", max_tokens: 3 });
    expect(res.status).toBe(402);
    const required = decodePaymentRequiredHeader(res.headers.get("PAYMENT-REQUIRED")!);
    const declared = required.extensions?.[PAYMENT_IDENTIFIER];
    expect(isPaymentIdentifierExtension(declared)).toBe(true);
    expect(validatePaymentIdentifier(declared)).toEqual({ valid: true });
    expect(declared).toMatchObject({ info: { required: false } });
  });

  it("the same id and request again: the first answer, no second run, no second charge", async () => {
    const id = generatePaymentId();
    const { wallet, sent, fetchWithPayment } = await payingClient(id);
    const calls = h.calls.length;
    const first = await fetchWithPayment(url, completion("once"));
    expect(first.status).toBe(200);
    const firstBody = await first.json();
    const settlement = decodePaymentResponseHeader(first.headers.get("PAYMENT-RESPONSE")!);
    expect(settlement.success).toBe(true);
    expect(sent).toHaveLength(1);
    expect(await s.token.balanceOf(wallet.address)).toBe(1_000_000n - 300n);

    // The response was lost: the client sends the identical request and payment again.
    const again = await post({ model: "tiny", prompt: "once", max_tokens: 3 }, { "PAYMENT-SIGNATURE": sent[0] });
    expect(again.status).toBe(200);
    expect(again.headers.get("X-Royalty402-Redelivered")).toBe("true");
    expect(await again.json()).toEqual(firstBody);
    expect(decodePaymentResponseHeader(again.headers.get("PAYMENT-RESPONSE")!).transaction).toBe(settlement.transaction);
    expect(h.calls.length).toBe(calls + 1);
    expect(await s.token.balanceOf(wallet.address)).toBe(1_000_000n - 300n);
  });

  it("the same id with another body, or with another payment, is refused 409; nothing runs or is charged", async () => {
    const id = generatePaymentId();
    const { wallet, sent, fetchWithPayment } = await payingClient(id);
    expect((await fetchWithPayment(url, completion("first"))).status).toBe(200);
    const calls = h.calls.length;

    const otherBody = await post({ model: "tiny", prompt: "something else", max_tokens: 3 }, { "PAYMENT-SIGNATURE": sent[0] });
    expect(otherBody.status).toBe(409);
    expect(await otherBody.json()).toMatchObject({ error: "payment_identifier_conflict" });

    // A fresh authorization under the same id (what the reference client signs on a new 402).
    const otherPayment = await fetchWithPayment(url, completion("first"));
    expect(otherPayment.status).toBe(409);
    expect(await otherPayment.json()).toMatchObject({ error: "payment_identifier_conflict" });

    expect(h.calls.length).toBe(calls);
    expect(await s.token.balanceOf(wallet.address)).toBe(1_000_000n - 300n);
  });

  it("two identical requests at once: one runs, the other waits and gets its answer; one charge", async () => {
    const id = generatePaymentId();
    const { wallet, client } = await payingClient(id);
    const body = { model: "tiny", prompt: "together", max_tokens: 3, slow: true };
    const challenge = await post(body);
    const payment = await client.createPaymentPayload(decodePaymentRequiredHeader(challenge.headers.get("PAYMENT-REQUIRED")!));
    const header = encodePaymentSignatureHeader(payment);
    const calls = h.calls.length;

    const answers = await Promise.all([post(body, { "PAYMENT-SIGNATURE": header }), post(body, { "PAYMENT-SIGNATURE": header })]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    const [a, b] = await Promise.all(answers.map((r) => r.json()));
    expect(a).toEqual(b);
    expect(answers.filter((r) => r.headers.get("X-Royalty402-Redelivered") === "true")).toHaveLength(1);
    expect(h.calls.length).toBe(calls + 1);
    expect(await s.token.balanceOf(wallet.address)).toBe(1_000_000n - 300n);
  });

  it("a malformed id is a 400 with a reason, before anything is verified or reserved", async () => {
    const { client } = await payingClient("pay_placeholder_0000");
    const challenge = await post({ model: "tiny", prompt: "bad id", max_tokens: 3 });
    const required = decodePaymentRequiredHeader(challenge.headers.get("PAYMENT-REQUIRED")!);
    const payment = await client.createPaymentPayload(required);
    (payment.extensions![PAYMENT_IDENTIFIER] as { info: { id: string } }).info.id = "short!";
    const calls = h.calls.length;
    const res = await post(
      { model: "tiny", prompt: "bad id", max_tokens: 3 },
      { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payment) },
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "invalid_payment_identifier" });
    expect(h.calls.length).toBe(calls);
  });
});
