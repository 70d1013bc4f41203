// The in-process checks of a batch-settlement payment (no RPC for a plain voucher): the channel is
// ours and is the one the payload names, the voucher is signed by the channel's payer authorizer, and
// it covers exactly what this server charged so far plus this request, within the deposit.
import { BatchSettlementReason as R, type ChannelPayload } from "@royalty402/fastify-x402";
import type { PaymentRequirements } from "@x402/core/types";
import { BATCH_SETTLEMENT_DOMAIN, BATCH_SETTLEMENT_ADDRESS } from "@x402/evm";
import { computeChannelId } from "@x402/evm/batch-settlement/client";
import { concatBytes, hashDomain, hexToBytes, numberToBytes, stringToBytes, zeroAddress } from "viem";
import { keccak256Bytes } from "../../chain/keccak.ts";
import { isCanonicalSignature, recoverAddress } from "../signature.ts";
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
  const signer = voucherSigner(p.voucher, chainId);
  if (!signer || !same(signer, authorizer))
    return { reason: R.voucherSignature, message: "the voucher is not signed by channelConfig.payerAuthorizer" };
  return null;
}

// Verify and then settle check the same voucher: the memos keep the EIP-712 channel ids of recent configs
// and the signers of recent vouchers (keyed by everything the digest and the signature are made of).
// Bounded: oldest dropped.
const MEMO_SIZE = 4096;
const channelIds = new Map<string, string>();
const voucherSigners = new Map<string, string | null>();

function remember<V>(memo: Map<string, V>, key: string, value: V): void {
  if (memo.size >= MEMO_SIZE) memo.delete(memo.keys().next().value as string);
  memo.set(key, value);
}

// EIP-712 for the one voucher type, by hand: the domain separator once per chain, then two keccaks per
// voucher (viem's generic hashTypedData hashed the domain and the type string again for every voucher,
// ~8 keccaks, a tenth of a paid request's CPU).
const VOUCHER_TYPEHASH = keccak256Bytes(stringToBytes("Voucher(bytes32 channelId,uint128 maxClaimableAmount)"));
const EIP712_PREFIX = Uint8Array.of(0x19, 0x01);
const EIP712_DOMAIN_FIELDS = [
  { name: "name", type: "string" },
  { name: "version", type: "string" },
  { name: "chainId", type: "uint256" },
  { name: "verifyingContract", type: "address" },
] as const;
const domainSeparators = new Map<number, Uint8Array>();

function domainSeparator(chainId: number): Uint8Array {
  let separator = domainSeparators.get(chainId);
  if (!separator) {
    const domain = { ...BATCH_SETTLEMENT_DOMAIN, chainId: BigInt(chainId), verifyingContract: BATCH_SETTLEMENT_ADDRESS };
    separator = hexToBytes(hashDomain({ domain, types: { EIP712Domain: EIP712_DOMAIN_FIELDS } }));
    domainSeparators.set(chainId, separator);
  }
  return separator;
}

/** keccak256("\x19\x01" ‖ domainSeparator ‖ keccak256(VOUCHER_TYPEHASH ‖ channelId ‖ uint256(maxClaimableAmount))) */
export function voucherDigest(voucher: Pick<ChannelPayload["voucher"], "channelId" | "maxClaimableAmount">, chainId: number): Uint8Array {
  const amount = numberToBytes(voucher.maxClaimableAmount, { size: 32 });
  const struct = keccak256Bytes(concatBytes([VOUCHER_TYPEHASH, hexToBytes(voucher.channelId), amount]));
  return keccak256Bytes(concatBytes([EIP712_PREFIX, domainSeparator(chainId), struct]));
}

/** The voucher's signer in lower case, or null (not a valid signature); the signature is canonical (checked before). */
function voucherSigner(voucher: ChannelPayload["voucher"], chainId: number): string | null {
  const key = `${chainId}:${voucher.channelId}:${voucher.maxClaimableAmount}:${voucher.signature}`;
  let signer = voucherSigners.get(key);
  if (signer === undefined) {
    signer = recoverAddress(voucherDigest(voucher, chainId), voucher.signature);
    remember(voucherSigners, key, signer);
  }
  return signer;
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
