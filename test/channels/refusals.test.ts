// Bad channel payments over HTTP: a voucher with a bad signature, a lower cumulative amount, an amount
// over the deposit, an unknown channel, another payee, a replayed voucher. Each gets a 4xx with the
// reference SDK's reason code, the model does not run, and nothing is charged.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { toClientEvmSigner } from "@x402/evm";
import { computeChannelId, signVoucher } from "@x402/evm/batch-settlement/client";
import { BatchSettlementReason as R, type ChannelConfig } from "@royalty402/fastify-x402";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { Hex } from "viem";
import { PRICE, channelOffer, channelStack, type ChannelStack } from "./support.ts";

let s: ChannelStack;
let payer: Awaited<ReturnType<ChannelStack["payer"]>>;
let offer: PaymentRequirements;
let config: ChannelConfig;
let channelId: Hex;

beforeAll(async () => {
  s = await channelStack();
  payer = await s.payer(100_000n, 3); // deposits 3 requests' worth
  for (let i = 0; i < 3; i++) expect((await payer.fetch(s.url, { method: "POST" })).status).toBe(200);
  offer = channelOffer((await fetch(s.url, { method: "POST" })).headers.get("payment-required")!);
  config = payer.scheme.buildChannelConfig(offer) as ChannelConfig;
  channelId = computeChannelId(config, s.network);
});

afterAll(async () => s?.close());

/** A voucher payload signed by `key` (default the payer's own) for `max`, on `channelConfig`. */
async function voucherPayload(max: bigint, channelConfig = config, signer = toClientEvmSigner(payer.wallet.account, payer.wallet)) {
  const id = computeChannelId(channelConfig, s.network);
  const voucher = await signVoucher(signer, id, max.toString(), s.network);
  return { x402Version: 2, accepted: offer, payload: { type: "voucher", channelConfig, voucher } } as unknown as PaymentPayload;
}

async function send(payload: PaymentPayload) {
  const res = await fetch(s.url, { method: "POST", headers: { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) } });
  const required = res.headers.get("payment-required");
  return { status: res.status, reason: required ? decodePaymentRequiredHeader(required).error : undefined };
}

describe("bad channel payments are refused, run nothing and charge nothing", () => {
  const charged = () => s.channels.book.get(channelId)!.charged;

  it.each([
    [
      "a voucher signed by another key",
      R.voucherSignature,
      async () => voucherPayload(4n * PRICE, config, toClientEvmSigner(privateKeyToAccount(generatePrivateKey()))),
    ],
    ["a cumulative amount below what was charged", R.cumulativeMismatch, async () => voucherPayload(2n * PRICE + 500n)],
    ["an amount over the deposit", R.cumulativeExceedsBalance, async () => voucherPayload(4n * PRICE)],
    ["an unknown channel (no deposit)", R.channelNotFound, async () => voucherPayload(PRICE, { ...config, salt: `0x${"11".repeat(32)}` })],
    [
      "another payee",
      R.receiverMismatch,
      async () => voucherPayload(4n * PRICE, { ...config, receiver: privateKeyToAccount(generatePrivateKey()).address }),
    ],
  ])("%s", async (_name, reason, build) => {
    const runs = s.runs.count;
    const before = charged();
    const answer = await send(await build());
    expect(answer).toEqual({ status: 402, reason });
    expect(s.runs.count).toBe(runs);
    expect(charged()).toBe(before);
  });

  it("a replayed voucher is answered from the ledger: the model does not run again, nothing more is charged", async () => {
    const payload = await voucherPayload(3n * PRICE); // the third request's voucher, already paid
    const runs = s.runs.count;
    const res = await fetch(s.url, { method: "POST", headers: { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) } });
    expect(res.status).toBe(409); // a payment seen before, presented differently: payment_replayed
    expect(s.runs.count).toBe(runs);
    expect(charged()).toBe(3n * PRICE);
  });

  it("a malformed voucher is a 400 with the reason", async () => {
    const payload = await voucherPayload(4n * PRICE);
    (payload.payload as { voucher: { maxClaimableAmount: string } }).voucher.maxClaimableAmount = "-1";
    const res = await fetch(s.url, { method: "POST", headers: { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "invalid_payload", message: expect.stringContaining("maxClaimableAmount") });
  });
});
