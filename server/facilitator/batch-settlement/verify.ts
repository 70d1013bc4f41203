// The in-process checks of a batch-settlement payment (no RPC for a plain voucher): the channel is
// ours and is the one the payload names, the voucher is signed by the channel's payer authorizer, and
// it covers exactly what this server charged so far plus this request, within the deposit.
import { BatchSettlementReason as R, type ChannelPayload } from "@royalty402/fastify-x402";
import type { PaymentRequirements } from "@x402/core/types";
import { BATCH_SETTLEMENT_DOMAIN, BATCH_SETTLEMENT_ADDRESS, voucherTypes } from "@x402/evm";
import { computeChannelId } from "@x402/evm/batch-settlement/client";
import { hashTypedData, zeroAddress, type Hex } from "viem";
import { isCanonicalSignature, recoverSigner } from "../signature.ts";
import type { ChannelRecord } from "./book.ts";

export interface Refused {
  reason: string;
  message: string;
}

const same = (a: string, b: unknown) => typeof b === "string" && a.toLowerCase() === b.toLowerCase();

/** The channel terms the payload commits to must be the offer's (receiver, token, authorizer, delay) and hash to its id. */
export function checkChannel(p: ChannelPayload, req: PaymentRequirements, authorizer: string, chainId: number): Refused | null {
  const c = p.config;
  if (!same(c.receiver, req.payTo)) return { reason: R.receiverMismatch, message: `channelConfig.receiver must be ${req.payTo}` };
  if (!same(c.token, req.asset)) return { reason: R.tokenMismatch, message: `channelConfig.token must be ${req.asset}` };
  if (!same(c.receiverAuthorizer, authorizer) || !same(authorizer, req.extra?.receiverAuthorizer))
    return { reason: R.receiverAuthorizerMismatch, message: `channelConfig.receiverAuthorizer must be ${authorizer}` };
  if (c.withdrawDelay !== req.extra?.withdrawDelay)
    return { reason: R.withdrawDelayMismatch, message: `channelConfig.withdrawDelay must be ${String(req.extra?.withdrawDelay)}` };
  if (channelIdOf(c, chainId) !== p.voucher.channelId.toLowerCase())
    return { reason: R.channelIdMismatch, message: "voucher.channelId is not the EIP-712 hash of channelConfig" };
  return null;
}

/** ECDSA recovery against the committed payer authorizer; channels without one (EIP-1271 payers) are not taken. */
export function checkVoucherSignature(p: ChannelPayload, chainId: number): Refused | null {
  const authorizer = p.config.payerAuthorizer;
  if (authorizer === zeroAddress)
    return { reason: R.voucherSignature, message: "channels must commit a payerAuthorizer key (vouchers are checked in process)" };
  if (!isCanonicalSignature(p.voucher.signature))
    return {
      reason: R.voucherSignature,
      message: "voucher.signature must be 65 bytes (r, s, v) with v 27 or 28 and s in the lower half of the curve order",
    };
  const digest = hashTypedData({
    domain: { ...BATCH_SETTLEMENT_DOMAIN, chainId, verifyingContract: BATCH_SETTLEMENT_ADDRESS },
    types: voucherTypes,
    primaryType: "Voucher",
    message: { channelId: p.voucher.channelId as Hex, maxClaimableAmount: p.voucher.maxClaimableAmount },
  });
  const signer = recoverSigner(digest, p.voucher.signature);
  if (!signer || !same(signer, authorizer))
    return { reason: R.voucherSignature, message: "the voucher is not signed by channelConfig.payerAuthorizer" };
  return null;
}

// Verify and then settle check the same voucher: the memo keeps the EIP-712 channel ids of recent configs
// (recoverSigner keeps recent signers likewise). Bounded: oldest dropped.
const MEMO_SIZE = 4096;
const channelIds = new Map<string, string>();

function remember<V>(memo: Map<string, V>, key: string, value: V): void {
  if (memo.size >= MEMO_SIZE) memo.delete(memo.keys().next().value as string);
  memo.set(key, value);
}

function channelIdOf(c: ChannelPayload["config"], chainId: number): string {
  const key = `${chainId}:${c.payer}:${c.payerAuthorizer}:${c.receiver}:${c.receiverAuthorizer}:${c.token}:${c.withdrawDelay}:${c.salt}`;
  let id = channelIds.get(key);
  if (id === undefined) {
    id = computeChannelId(c, chainId).toLowerCase();
    remember(channelIds, key, id);
  }
  return id;
}

/** The voucher must be the channel's charged total plus this request's price, and the escrow must hold it. */
export function checkCumulative(p: ChannelPayload, record: ChannelRecord, price: bigint): Refused | null {
  const max = p.voucher.maxClaimableAmount;
  const deposit = p.deposit?.amount ?? 0n;
  if (record.stuck) return { reason: R.channelNotFound, message: "the payer withdrew this channel before it was claimed; open a new one" };
  if (record.balance + deposit === 0n) return { reason: R.channelNotFound, message: "the channel holds no deposit: deposit first" };
  if (max <= record.totalClaimed)
    return { reason: R.cumulativeBelowClaimed, message: `maxClaimableAmount must exceed ${record.totalClaimed} (claimed on-chain)` };
  if (max !== record.charged + price)
    return {
      reason: R.cumulativeMismatch,
      message: `maxClaimableAmount must be ${record.charged + price} (charged ${record.charged} + ${price})`,
    };
  if (max > record.balance + deposit)
    return {
      reason: R.cumulativeExceedsBalance,
      message: `maxClaimableAmount ${max} exceeds the channel's deposit ${record.balance + deposit}`,
    };
  if (record.withdrawRequestedAt !== 0 && p.type === "voucher")
    return { reason: R.channelNotFound, message: "the payer is withdrawing this channel; deposit again on a new channel" };
  return null;
}

/**
 * A refund's zero-charge voucher must be at exactly what was charged (so the server keeps all of it), and
 * something must be left to return: a partial amount at most the deposit not charged.
 */
export function checkRefund(p: ChannelPayload, record: ChannelRecord): Refused | null {
  const max = p.voucher.maxClaimableAmount;
  if (record.stuck) return { reason: R.channelNotFound, message: "the payer withdrew this channel before it was claimed" };
  if (max < record.totalClaimed)
    return { reason: R.cumulativeBelowClaimed, message: `maxClaimableAmount must be at least ${record.totalClaimed} (claimed on-chain)` };
  if (max !== record.charged)
    return {
      reason: R.cumulativeMismatch,
      message: `a refund's voucher charges nothing: maxClaimableAmount must be ${record.charged} (charged so far)`,
    };
  const left = record.balance - record.charged;
  if (left <= 0n) return { reason: R.refundNoBalance, message: `nothing to refund: the deposit ${record.balance} is all charged` };
  if (p.refundAmount !== undefined && p.refundAmount > left)
    return { reason: R.refundAmountInvalid, message: `amount ${p.refundAmount} exceeds the ${left} not charged (omit it to refund all)` };
  return null;
}
