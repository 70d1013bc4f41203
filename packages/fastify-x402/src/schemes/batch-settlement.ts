// The x402 `batch-settlement` scheme on EVM chains (payment channels): the payer deposits into the
// escrow once and signs a cumulative voucher per request; the facilitator checks each voucher in
// process and claims many of them later in one transaction. The challenge names the receiver
// authorizer (who claims and refunds) and the withdrawal delay the payer's channel must commit to.
// Reason codes are the reference SDK's (@x402/evm batch-settlement).
import type { PaymentPayload, PaymentRequirements, VerifyResponse } from "@x402/core/types";
import { concatBytes, encodeAbiParameters, getAddress, hexToBytes, keccak256, numberToBytes } from "viem";
import type { PaymentIdentity, PaymentScheme, PriceOffer, Refusal } from "./scheme.ts";
import { ADDRESS, BYTES32, asRecord, sameAddress } from "./fields.ts";

export const BatchSettlementReason = {
  networkMismatch: "invalid_batch_settlement_evm_network_mismatch",
  tokenMismatch: "invalid_batch_settlement_evm_token_mismatch",
  receiverMismatch: "invalid_batch_settlement_evm_receiver_mismatch",
  receiverAuthorizerMismatch: "invalid_batch_settlement_evm_receiver_authorizer_mismatch",
  withdrawDelayMismatch: "invalid_batch_settlement_evm_withdraw_delay_mismatch",
  amountMismatch: "invalid_batch_settlement_evm_amount_mismatch",
  payloadType: "invalid_batch_settlement_evm_payload_type",
  channelIdMismatch: "invalid_batch_settlement_evm_channel_id_mismatch",
  voucherSignature: "invalid_batch_settlement_evm_voucher_signature",
  cumulativeMismatch: "invalid_batch_settlement_evm_cumulative_amount_mismatch",
  cumulativeExceedsBalance: "invalid_batch_settlement_evm_cumulative_exceeds_balance",
  cumulativeBelowClaimed: "invalid_batch_settlement_evm_cumulative_below_claimed",
  channelNotFound: "invalid_batch_settlement_evm_channel_not_found",
  channelBusy: "invalid_batch_settlement_evm_channel_busy",
  depositSimulationFailed: "invalid_batch_settlement_evm_deposit_simulation_failed",
  depositTransactionFailed: "invalid_batch_settlement_evm_deposit_transaction_failed",
  depositBelowMin: "invalid_batch_settlement_evm_deposit_below_min_deposit",
  withdrawDelayOutOfRange: "invalid_batch_settlement_evm_withdraw_delay_out_of_range",
  refundPayload: "invalid_batch_settlement_evm_refund_payload",
  refundAmountInvalid: "invalid_batch_settlement_evm_refund_amount_invalid",
  refundNoBalance: "invalid_batch_settlement_evm_refund_no_balance",
  refundTransactionFailed: "invalid_batch_settlement_evm_refund_transaction_failed",
  permit2InvalidSignature: "invalid_batch_settlement_evm_permit2_invalid_signature",
  permit2InvalidSpender: "invalid_batch_settlement_evm_permit2_invalid_spender",
  permit2DeadlineExpired: "invalid_batch_settlement_evm_permit2_deadline_expired",
} as const;

/** Refusals after which the reference client resyncs its channel from the 402's channelState / voucherState. */
const CORRECTIVE = new Set<string>([BatchSettlementReason.cumulativeMismatch, BatchSettlementReason.cumulativeBelowClaimed]);

/** The spec's bounds on a channel's withdrawal delay (15 minutes to 30 days). */
export const MIN_WITHDRAW_DELAY = 900;
export const MAX_WITHDRAW_DELAY = 2_592_000;

export interface BatchSettlementSchemeOptions {
  /** The address that authorizes claims and refunds for channels paying `payTo` (the facilitator's key). */
  receiverAuthorizer: (payTo: string) => string;
  /** Seconds a payer's timed withdrawal waits, so claims land first; default 900 (the minimum). */
  withdrawDelay?: number;
  /** How the client signs deposits: EIP-3009 (default; USDC) or a Permit2 witness transfer (any ERC-20). */
  assetTransferMethod?: "eip3009" | "permit2";
  /**
   * The facilitator journals vouchers in this plugin's store and moves a voucher's payment to pending in the
   * same transaction (an embedded facilitator sharing the store). Then a plain voucher's payment is not
   * journalled "settling" before settle (nothing reaches the chain) nor moved after it. Default false.
   */
  facilitatorRecordsVouchers?: boolean;
}

export interface ChannelConfig {
  payer: `0x${string}`;
  payerAuthorizer: `0x${string}`;
  receiver: `0x${string}`;
  receiverAuthorizer: `0x${string}`;
  token: `0x${string}`;
  withdrawDelay: number;
  salt: `0x${string}`;
}

export interface Voucher {
  channelId: `0x${string}`;
  maxClaimableAmount: bigint;
  signature: `0x${string}`;
}

export interface Erc3009Deposit {
  method: "eip3009";
  amount: bigint;
  validAfter: bigint;
  validBefore: bigint;
  salt: `0x${string}`;
  signature: `0x${string}`;
}

/** A Permit2 deposit: the payer's PermitWitnessTransferFrom to the Permit2 deposit collector, witness the channel id. */
export interface Permit2Deposit {
  method: "permit2";
  amount: bigint;
  from: `0x${string}`;
  token: `0x${string}`;
  spender: `0x${string}`;
  nonce: bigint;
  deadline: bigint;
  channelId: `0x${string}`;
  signature: `0x${string}`;
}

/**
 * A deposit, voucher or refund payload whose every field has the right shape (nothing is verified yet).
 * A refund carries a zero-charge voucher (at what was charged so far) and optionally the amount to return.
 */
export interface ChannelPayload {
  type: "deposit" | "voucher" | "refund";
  config: ChannelConfig;
  voucher: Voucher;
  deposit?: Erc3009Deposit | Permit2Deposit;
  /** A partial refund's amount (none: refund everything not charged). */
  refundAmount?: bigint;
}

const SIGNATURE = /^0x(?:[0-9a-fA-F]{2}){64,4096}$/;
const UINT = /^[0-9]{1,39}$/;
const MAX_UINT128 = (1n << 128n) - 1n;

export function batchSettlementEvmScheme(options: BatchSettlementSchemeOptions): PaymentScheme {
  const withdrawDelay = options.withdrawDelay ?? MIN_WITHDRAW_DELAY;
  if (!Number.isInteger(withdrawDelay) || withdrawDelay < MIN_WITHDRAW_DELAY || withdrawDelay > MAX_WITHDRAW_DELAY)
    throw new Error(`fastify-x402: batch-settlement withdrawDelay must be ${MIN_WITHDRAW_DELAY}..${MAX_WITHDRAW_DELAY} seconds`);
  return {
    scheme: "batch-settlement",
    settlesLater: true,
    failedReason: BatchSettlementReason.depositTransactionFailed,
    requirements: (offer: PriceOffer): PaymentRequirements => ({
      scheme: "batch-settlement",
      network: offer.network,
      asset: getAddress(offer.asset.address),
      amount: offer.amount.toString(),
      payTo: getAddress(offer.payTo),
      maxTimeoutSeconds: offer.maxTimeoutSeconds,
      extra: {
        receiverAuthorizer: getAddress(options.receiverAuthorizer(offer.payTo)),
        withdrawDelay,
        name: offer.asset.name,
        version: offer.asset.version,
        ...(options.assetTransferMethod === "permit2" ? { assetTransferMethod: "permit2" } : {}),
      },
    }),
    checkAccepted,
    identify,
    isOperation: (payload) => asRecord(payload?.payload)?.type === "refund",
    ...(options.facilitatorRecordsVouchers ? { recordsSettlement: (payload) => asRecord(payload?.payload)?.type === "voucher" } : {}),
    correctiveRequirements,
  };
}

/**
 * The corrective 402's offer (the spec's "Recovery After State Loss"): the channel snapshot and the last
 * voucher the facilitator holds, so the reference client checks the voucher's signature, adopts the
 * server's charged amount and retries. Only for the refusals the client recovers from.
 */
function correctiveRequirements(requirements: PaymentRequirements, verdict: VerifyResponse): PaymentRequirements {
  const channelState = asRecord(verdict.extra?.channelState);
  if (!channelState || !CORRECTIVE.has(verdict.invalidReason ?? "")) return requirements;
  const voucherState = asRecord(verdict.extra?.voucherState);
  return { ...requirements, extra: { ...requirements.extra, channelState, ...(voucherState ? { voucherState } : {}) } };
}

function checkAccepted(accepted: Record<string, unknown>, required: PaymentRequirements): Refusal | null {
  const R = BatchSettlementReason;
  if (accepted.network !== required.network) return { reason: R.networkMismatch, message: `network must be ${required.network}` };
  if (!sameAddress(accepted.asset, required.asset)) return { reason: R.tokenMismatch, message: `asset must be ${required.asset}` };
  if (!sameAddress(accepted.payTo, required.payTo)) return { reason: R.receiverMismatch, message: `payTo must be ${required.payTo}` };
  if (accepted.amount !== required.amount) return { reason: R.amountMismatch, message: `amount must be ${required.amount}` };
  const extra = asRecord(accepted.extra);
  if (!sameAddress(extra?.receiverAuthorizer, required.extra.receiverAuthorizer))
    return {
      reason: R.receiverAuthorizerMismatch,
      message: `extra.receiverAuthorizer must be ${String(required.extra.receiverAuthorizer)}`,
    };
  if (extra?.withdrawDelay !== required.extra.withdrawDelay)
    return { reason: R.withdrawDelayMismatch, message: `extra.withdrawDelay must be ${String(required.extra.withdrawDelay)}` };
  return null;
}

function uint128(value: unknown): bigint | null {
  if (typeof value !== "string" || !UINT.test(value)) return null;
  const n = BigInt(value);
  return n <= MAX_UINT128 ? n : null;
}

function parseConfig(value: unknown): ChannelConfig | string {
  const c = asRecord(value);
  if (!c) return "payload.channelConfig is missing";
  for (const field of ["payer", "payerAuthorizer", "receiver", "receiverAuthorizer", "token"] as const) {
    if (typeof c[field] !== "string" || !ADDRESS.test(c[field] as string)) return `channelConfig.${field} is not an address`;
  }
  if (!Number.isInteger(c.withdrawDelay) || (c.withdrawDelay as number) < 0 || (c.withdrawDelay as number) >= 2 ** 40)
    return "channelConfig.withdrawDelay must be a uint40";
  if (typeof c.salt !== "string" || !BYTES32.test(c.salt)) return "channelConfig.salt must be bytes32 hex";
  const address = (field: string) => getAddress(c[field] as string);
  return {
    payer: address("payer"),
    payerAuthorizer: address("payerAuthorizer"),
    receiver: address("receiver"),
    receiverAuthorizer: address("receiverAuthorizer"),
    token: address("token"),
    withdrawDelay: c.withdrawDelay as number,
    salt: c.salt.toLowerCase() as `0x${string}`,
  };
}

function parseVoucher(value: unknown): Voucher | string {
  const v = asRecord(value);
  if (!v) return "payload.voucher is missing";
  if (typeof v.channelId !== "string" || !BYTES32.test(v.channelId)) return "voucher.channelId must be bytes32 hex";
  const max = uint128(v.maxClaimableAmount);
  if (max === null) return "voucher.maxClaimableAmount must be a decimal uint128";
  if (typeof v.signature !== "string" || !SIGNATURE.test(v.signature)) return "voucher.signature must be 0x-prefixed hex";
  return { channelId: v.channelId.toLowerCase() as `0x${string}`, maxClaimableAmount: max, signature: v.signature as `0x${string}` };
}

function parseDeposit(value: unknown): Erc3009Deposit | Permit2Deposit | string {
  const d = asRecord(value);
  const permit2 = asRecord(asRecord(d?.authorization)?.permit2Authorization);
  if (d && permit2) return parsePermit2Deposit(d.amount, permit2);
  const auth = asRecord(asRecord(d?.authorization)?.erc3009Authorization);
  if (!d || !auth) return "deposit.authorization must hold an erc3009Authorization or a permit2Authorization";
  const amount = uint128(d.amount);
  const validAfter = uint128(auth.validAfter);
  const validBefore = uint128(auth.validBefore);
  if (amount === null || amount === 0n) return "deposit.amount must be a positive decimal uint128";
  if (validAfter === null || validBefore === null) return "erc3009Authorization.validAfter/validBefore must be decimal";
  if (typeof auth.salt !== "string" || !BYTES32.test(auth.salt)) return "erc3009Authorization.salt must be bytes32 hex";
  if (typeof auth.signature !== "string" || !SIGNATURE.test(auth.signature)) return "erc3009Authorization.signature must be hex";
  return {
    method: "eip3009",
    amount,
    validAfter,
    validBefore,
    salt: auth.salt as `0x${string}`,
    signature: auth.signature as `0x${string}`,
  };
}

function parsePermit2Deposit(rawAmount: unknown, p: Record<string, unknown>): Permit2Deposit | string {
  const amount = uint128(rawAmount);
  if (amount === null || amount === 0n) return "deposit.amount must be a positive decimal uint128";
  const permitted = asRecord(p.permitted);
  const witness = asRecord(p.witness);
  for (const [name, v] of [
    ["from", p.from],
    ["spender", p.spender],
    ["permitted.token", permitted?.token],
  ] as const)
    if (typeof v !== "string" || !ADDRESS.test(v)) return `permit2Authorization.${name} is not an address`;
  const permittedAmount = uint128(permitted?.amount);
  const nonce = typeof p.nonce === "string" && /^[0-9]{1,78}$/.test(p.nonce) ? BigInt(p.nonce) : null;
  const deadline = uint128(p.deadline);
  if (permittedAmount !== amount) return "permit2Authorization.permitted.amount must be deposit.amount";
  if (nonce === null || nonce >= 2n ** 256n || deadline === null) return "permit2Authorization.nonce/deadline must be decimal";
  if (typeof witness?.channelId !== "string" || !BYTES32.test(witness.channelId))
    return "permit2Authorization.witness.channelId must be bytes32";
  if (typeof p.signature !== "string" || !SIGNATURE.test(p.signature)) return "permit2Authorization.signature must be hex";
  const address = (v: unknown) => getAddress(v as string);
  return {
    method: "permit2",
    amount,
    from: address(p.from),
    token: address(permitted!.token),
    spender: address(p.spender),
    nonce,
    deadline,
    channelId: witness.channelId.toLowerCase() as `0x${string}`,
    signature: p.signature as `0x${string}`,
  };
}

/** The deposit, voucher or refund in a payment payload, or what is wrong with its shape. */
export function parseChannelPayload(payload: PaymentPayload): ChannelPayload | { error: string } {
  const inner = asRecord(payload?.payload);
  return inner ? parseInner(inner) : { error: "payload is missing" };
}

// A paid request reads its payload several times (identify, verify, settle; settle's copy of the payload keeps
// the inner object), and a received payload is never changed: parsed once, kept while the payload object lives.
const parsedPayloads = new WeakMap<object, ChannelPayload | { error: string }>();

/** parseChannelPayload, remembered per payload object: for payloads as received, which nothing changes. */
export function receivedChannelPayload(payload: PaymentPayload): ChannelPayload | { error: string } {
  const inner = asRecord(payload?.payload);
  if (!inner) return { error: "payload is missing" };
  let parsed = parsedPayloads.get(inner);
  if (!parsed) {
    parsed = parseInner(inner);
    parsedPayloads.set(inner, parsed);
  }
  return parsed;
}

function parseInner(inner: Record<string, unknown>): ChannelPayload | { error: string } {
  if (inner.type !== "deposit" && inner.type !== "voucher" && inner.type !== "refund")
    return { error: `payload.type must be "deposit", "voucher" or "refund"` };
  const config = parseConfig(inner.channelConfig);
  if (typeof config === "string") return { error: config };
  const voucher = parseVoucher(inner.voucher);
  if (typeof voucher === "string") return { error: voucher };
  if (inner.type === "voucher") return { type: "voucher", config, voucher };
  if (inner.type === "refund") {
    if (inner.amount === undefined) return { type: "refund", config, voucher };
    const refundAmount = uint128(inner.amount);
    if (refundAmount === null || refundAmount === 0n)
      return { error: "refund amount must be a positive decimal uint128 (omit it to refund everything)" };
    return { type: "refund", config, voucher, refundAmount };
  }
  const deposit = parseDeposit(inner.deposit);
  if (typeof deposit === "string") return { error: deposit };
  return { type: "deposit", config, voucher, deposit };
}

/**
 * The payer and a per-voucher nonce: keccak256(channelId, maxClaimableAmount). Vouchers are cumulative, so
 * each paid request signs a new maximum and a replayed voucher names the same payment. A refund's nonce is
 * tagged apart (its zero-charge voucher repeats the last paid maximum).
 */
function identify(payload: PaymentPayload): PaymentIdentity | { error: string } {
  const parsed = receivedChannelPayload(payload);
  if ("error" in parsed) return parsed;
  const { channelId, maxClaimableAmount } = parsed.voucher;
  const fields = [{ type: "bytes32" }, { type: "uint128" }, { type: "string" }] as const;
  const nonce =
    parsed.type === "refund"
      ? keccak256(encodeAbiParameters(fields, [channelId, maxClaimableAmount, "refund"]))
      : voucherNonce(parsed.voucher);
  return { payer: parsed.config.payer.toLowerCase(), nonce };
}

type NonceOf = Pick<Voucher, "channelId" | "maxClaimableAmount">;
/** The nonce last computed for a voucher object (the plugin and the facilitator both ask for each one). */
const nonces = new WeakMap<NonceOf, { of: string; nonce: `0x${string}` }>();

/** A deposit's or voucher's payment nonce: keccak256(abi.encode(channelId, maxClaimableAmount)). */
export function voucherNonce(voucher: NonceOf): `0x${string}` {
  const { channelId, maxClaimableAmount } = voucher;
  const of = `${channelId}:${maxClaimableAmount}`;
  const known = nonces.get(voucher);
  if (known?.of === of) return known.nonce;
  // abi.encode(bytes32, uint128) is the two words side by side: no ABI coder on every paid request.
  const nonce = keccak256(concatBytes([hexToBytes(channelId), numberToBytes(maxClaimableAmount, { size: 32 })]));
  nonces.set(voucher, { of, nonce });
  return nonce;
}
