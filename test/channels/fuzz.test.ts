// 1,000 generated bad channel payments against the channel facilitator's verify and settle (what the
// plugin calls for every paid request): each a mutation of the payer's valid next voucher. Every one is
// refused with one of the scheme's reason codes, and the channel's charged total never moves.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { toClientEvmSigner } from "@x402/evm";
import { computeChannelId, signVoucher } from "@x402/evm/batch-settlement/client";
import { BatchSettlementReason, type ChannelConfig } from "@royalty402/fastify-x402";
import { privateKeyToAccount } from "viem/accounts";
import { toHex, type Hex } from "viem";
import { seededRandom } from "../../scripts/shared/random.ts";
import { PRICE, channelOffer, channelStack, type ChannelStack } from "./support.ts";

const CASES = 1_000;
const REASONS = new Set<string>(Object.values(BatchSettlementReason));

let s: ChannelStack;
let offer: PaymentRequirements;
let valid: PaymentPayload;
let channelId: Hex;

beforeAll(async () => {
  s = await channelStack();
  const payer = await s.payer(100_000n, 10);
  expect((await payer.fetch(s.url, { method: "POST" })).status).toBe(200);
  offer = channelOffer((await fetch(s.url, { method: "POST" })).headers.get("payment-required")!);
  const config = payer.scheme.buildChannelConfig(offer) as ChannelConfig;
  channelId = computeChannelId(config, s.network);
  const voucher = await signVoucher(toClientEvmSigner(payer.wallet.account, payer.wallet), channelId, (2n * PRICE).toString(), s.network);
  valid = { x402Version: 2, accepted: offer, payload: { type: "voucher", channelConfig: config, voucher } } as unknown as PaymentPayload;
});

afterAll(async () => s?.close());

type Inner = { type: string; channelConfig: Record<string, unknown>; voucher: Record<string, string> };

function mutant(random: () => number): PaymentPayload {
  const p = structuredClone(valid) as PaymentPayload & { payload: Inner };
  const int = (n: number) => Math.floor(random() * n);
  const bytes = (n: number) => toHex(Uint8Array.from({ length: n }, () => int(256)));
  const { voucher, channelConfig } = p.payload;
  switch (int(8)) {
    case 0: {
      const delta = BigInt(1 + int(5_000)) * (random() < 0.5 ? -1n : 1n);
      voucher.maxClaimableAmount = (
        BigInt(voucher.maxClaimableAmount) + delta < 0n ? 0n : BigInt(voucher.maxClaimableAmount) + delta
      ).toString();
      if (voucher.maxClaimableAmount === (2n * PRICE).toString()) voucher.maxClaimableAmount = "1";
      break;
    }
    case 1: {
      const at = 2 + 2 * int(65);
      const flipped = ((Number.parseInt(voucher.signature.slice(at, at + 2), 16) ^ (1 + int(255))) & 0xff).toString(16).padStart(2, "0");
      voucher.signature = voucher.signature.slice(0, at) + flipped + voucher.signature.slice(at + 2);
      break;
    }
    case 2:
      voucher.channelId = bytes(32);
      break;
    case 3:
      channelConfig[["receiver", "token", "receiverAuthorizer", "payer", "payerAuthorizer"][int(5)]] = privateKeyToAccount(
        bytes(32),
      ).address;
      break;
    case 4:
      channelConfig.withdrawDelay = random() < 0.5 ? 901 + int(10_000) : int(900);
      break;
    case 5:
      channelConfig.salt = bytes(32);
      break;
    case 6:
      p.payload.type = ["refund", "claim", "settle", "", "Voucher"][int(5)];
      break;
    default:
      voucher.maxClaimableAmount = ["-1", "1e3", "0x10", "", "340282366920938463463374607431768211456"][int(5)];
  }
  return p;
}

describe("generated bad channel payments", () => {
  it(`${CASES} mutations of a valid voucher are all refused with a reason code; nothing is charged`, async () => {
    const random = seededRandom(13);
    const charged = s.channels.book.get(channelId)!.charged;
    const seen = new Set<string>();
    for (let i = 0; i < CASES; i++) {
      const payload = mutant(random);
      const verdict = await s.channels.verify(payload, offer);
      expect(verdict.isValid, JSON.stringify(payload.payload)).toBe(false);
      expect(REASONS.has(verdict.invalidReason!), verdict.invalidReason).toBe(true);
      seen.add(verdict.invalidReason!);
      if (i % 10 === 0) expect((await s.channels.settle(payload, offer)).success).toBe(false);
    }
    expect(s.channels.book.get(channelId)!.charged).toBe(charged);
    expect(seen.size).toBeGreaterThanOrEqual(6);
    expect((await s.channels.verify(valid, offer)).isValid).toBe(true); // the unmutated voucher still passes
  });
});
