// Validation and canonical form of everything the ledger stores: addresses, nonces, hashes
// lower-case; amounts canonical decimal strings of a uint256; ids bounded. Both backends
// call these before touching the database, so the same input is stored the same way.
import { LedgerError } from "./errors.ts";
import type { ContributionRecord, EpochRecord, HeldOutput, OutputRecord, PaymentKey, PaymentRecord } from "./types.ts";

const ADDRESS = /^0x[0-9a-f]{40}$/;
const BYTES32 = /^0x[0-9a-f]{64}$/;
const HEX = /^0x[0-9a-f]*$/;
const DECIMAL = /^[0-9]{1,78}$/;
// CAIP-2: namespace:reference, e.g. eip155:8453 (the reference is case-sensitive in general).
const CAIP2 = /^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/;
const MAX_UINT256 = (1n << 256n) - 1n;
const MAX_ID_LENGTH = 256;
const EPOCH_STATUSES = ["built", "posted", "active", "vetoed"] as const;

function bad(field: string, why: string): never {
  throw new LedgerError("invalid_input", `${field} ${why}`);
}

function str(field: string, v: unknown): string {
  if (typeof v !== "string") bad(field, "must be a string");
  return v;
}

export function address(field: string, v: unknown): string {
  const s = str(field, v).toLowerCase();
  if (!ADDRESS.test(s)) bad(field, "must be a 20-byte 0x hex address");
  return s;
}

function bytes32(field: string, v: unknown): string {
  const s = str(field, v).toLowerCase();
  if (!BYTES32.test(s)) bad(field, "must be 32 bytes of 0x hex");
  return s;
}

/** A canonical decimal string of a uint256 ("007" -> "7"); rejects signs, decimals, exponents. */
function amount(field: string, v: unknown): string {
  const s = str(field, v);
  if (!DECIMAL.test(s)) bad(field, "must be a decimal string of an unsigned integer");
  const n = BigInt(s);
  if (n > MAX_UINT256) bad(field, "exceeds uint256");
  return n.toString();
}

export function id(field: string, v: unknown): string {
  const s = str(field, v);
  if (s.length === 0 || s.length > MAX_ID_LENGTH) bad(field, `must be 1..${MAX_ID_LENGTH} characters`);
  return s;
}

function optionalId(field: string, v: unknown): string | null {
  return v === null || v === undefined ? null : id(field, v);
}

export function txHash(field: string, v: unknown): string {
  return bytes32(field, v);
}

function optionalTxHash(field: string, v: unknown): string | null {
  return v === null || v === undefined ? null : bytes32(field, v);
}

/** Non-negative safe integer (timestamps in ms, epoch numbers). */
export function uint(field: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) bad(field, "must be a non-negative safe integer");
  return v;
}

/** Hex strings are stored lower-case; anything else verbatim. */
function hexLower(field: string, v: unknown): string {
  const s = str(field, v);
  if (s.length === 0) bad(field, "must not be empty");
  return HEX.test(s.toLowerCase()) ? s.toLowerCase() : s;
}

export function paymentKey(k: PaymentKey, field = "paymentKey"): PaymentKey {
  if (k === null || typeof k !== "object") bad(field, "must be an object");
  const network = str(`${field}.network`, k.network);
  if (!CAIP2.test(network)) bad(`${field}.network`, "must be a CAIP-2 chain id such as eip155:8453");
  return {
    network,
    asset: address(`${field}.asset`, k.asset),
    payer: address(`${field}.payer`, k.payer),
    nonce: bytes32(`${field}.nonce`, k.nonce),
  };
}

export type ReserveInput = Omit<PaymentRecord, "status" | "txHash" | "errorReason" | "createdAt" | "updatedAt">;

export function reserveInput(p: ReserveInput): ReserveInput {
  if (p === null || typeof p !== "object") bad("payment", "must be an object");
  return {
    ...paymentKey(p, "payment"),
    payTo: address("payment.payTo", p.payTo),
    amount: amount("payment.amount", p.amount),
    modelId: optionalId("payment.modelId", p.modelId),
    outputId: optionalId("payment.outputId", p.outputId),
    payload: str("payment.payload", p.payload),
  };
}

export interface TransitionFields {
  txHash?: string | null;
  errorReason?: string | null;
  outputId?: string | null;
  /** The amount settled, when a metered scheme (upto) charges less than the reserved maximum. */
  amount?: string;
}

/** Keeps the undefined/null distinction: undefined = leave as is, null = clear. */
export function transitionFields(f: TransitionFields | undefined): TransitionFields {
  const out: TransitionFields = {};
  if (f === undefined) return out;
  if (f === null || typeof f !== "object") bad("fields", "must be an object");
  if (f.txHash !== undefined) out.txHash = optionalTxHash("fields.txHash", f.txHash);
  if (f.errorReason !== undefined)
    out.errorReason = f.errorReason === null ? null : str("fields.errorReason", f.errorReason).slice(0, 1000);
  if (f.outputId !== undefined) out.outputId = optionalId("fields.outputId", f.outputId);
  if (f.amount !== undefined) out.amount = amount("fields.amount", f.amount);
  return out;
}

export function output(o: OutputRecord): OutputRecord {
  if (o === null || typeof o !== "object") bad("output", "must be an object");
  return {
    outputId: id("output.outputId", o.outputId),
    modelId: id("output.modelId", o.modelId),
    paymentKey: o.paymentKey === null || o.paymentKey === undefined ? null : paymentKey(o.paymentKey, "output.paymentKey"),
    record: str("output.record", o.record),
    recordHash: bytes32("output.recordHash", o.recordHash),
    epoch: o.epoch === null || o.epoch === undefined ? null : uint("output.epoch", o.epoch),
    createdAt: uint("output.createdAt", o.createdAt),
  };
}

/** Held bodies are responses, not archives: 16 MiB is far above any model output. */
const MAX_HELD_BODY_BYTES = 16 * 1024 * 1024;

export function heldOutput(h: HeldOutput): HeldOutput {
  if (h === null || typeof h !== "object") bad("heldOutput", "must be an object");
  if (!(h.body instanceof Uint8Array)) bad("heldOutput.body", "must be bytes (Uint8Array)");
  if (h.body.byteLength > MAX_HELD_BODY_BYTES) bad("heldOutput.body", `must be at most ${MAX_HELD_BODY_BYTES} bytes`);
  if (!Number.isInteger(h.statusCode) || h.statusCode < 200 || h.statusCode > 299) bad("heldOutput.statusCode", "must be a 2xx status");
  const tokenHash = str("heldOutput.tokenHash", h.tokenHash).toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(tokenHash)) bad("heldOutput.tokenHash", "must be a sha256 hex digest");
  return {
    ...paymentKey(h, "heldOutput"),
    outputId: id("heldOutput.outputId", h.outputId),
    tokenHash,
    statusCode: h.statusCode,
    contentType: h.contentType === null || h.contentType === undefined ? null : str("heldOutput.contentType", h.contentType).slice(0, 256),
    body: h.body,
    createdAt: uint("heldOutput.createdAt", h.createdAt),
  };
}

export function epoch(e: EpochRecord): EpochRecord {
  if (e === null || typeof e !== "object") bad("epoch", "must be an object");
  if (!(EPOCH_STATUSES as readonly string[]).includes(e.status)) bad("epoch.status", `must be one of ${EPOCH_STATUSES.join(", ")}`);
  return {
    splitter: address("epoch.splitter", e.splitter),
    epoch: uint("epoch.epoch", e.epoch),
    claimsRoot: bytes32("epoch.claimsRoot", e.claimsRoot),
    recordsRoot: bytes32("epoch.recordsRoot", e.recordsRoot),
    cumulativeAllocated: amount("epoch.cumulativeAllocated", e.cumulativeAllocated),
    uri: str("epoch.uri", e.uri),
    txHash: optionalTxHash("epoch.txHash", e.txHash),
    status: e.status,
    document: str("epoch.document", e.document),
    createdAt: uint("epoch.createdAt", e.createdAt),
  };
}

export function contribution(c: Omit<ContributionRecord, "seq" | "createdAt">): Omit<ContributionRecord, "seq" | "createdAt"> {
  if (c === null || typeof c !== "object") bad("contribution", "must be an object");
  return {
    datanetId: id("contribution.datanetId", c.datanetId),
    contributor: address("contribution.contributor", c.contributor),
    contentHash: hexLower("contribution.contentHash", c.contentHash),
    text: str("contribution.text", c.text),
  };
}

const DEFAULT_PAYMENT_LIST_LIMIT = 1000;
const MAX_PAYMENT_LIST_LIMIT = 10_000;

export function listLimit(v: unknown): number {
  if (v === undefined) return DEFAULT_PAYMENT_LIST_LIMIT;
  const n = uint("limit", v);
  return Math.min(Math.max(n, 1), MAX_PAYMENT_LIST_LIMIT);
}

/** Optional limit without a default: undefined means all rows. */
export function optionalLimit(v: unknown): number | null {
  return v === undefined || v === null ? null : Math.max(uint("limit", v), 1);
}

export function uniqueIds(field: string, ids: unknown): string[] {
  if (!Array.isArray(ids)) bad(field, "must be an array");
  return [...new Set(ids.map((x, i) => id(`${field}[${i}]`, x)))];
}
