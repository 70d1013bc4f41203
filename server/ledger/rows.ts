// Database rows (snake_case, as both backends return them) to the interface's records.
// PostgreSQL hands BIGINT and NUMERIC back as strings: numbers go through num(), amounts stay strings.
import type {
  ContributionRecord,
  EpochRecord,
  EpochSummary,
  HeldOutput,
  OutputRecord,
  PaymentRecord,
  PaymentStatus,
  SettledRow,
} from "./types.ts";
import { recordText } from "./record-codec.ts";

type Row = Record<string, unknown>;

// Explicit column lists rather than `*`: a later migration that adds a column must not change
// the result shape of statements other instances already have prepared (PostgreSQL refuses
// "cached plan must not change result type" during a rolling deploy).
export const PAYMENT_COLUMNS =
  "network, asset, payer, nonce, pay_to, amount, model_id, output_id, status, tx_hash, error_reason, payload, created_at, updated_at";
export const OUTPUT_COLUMNS = "output_id, model_id, network, asset, payer, nonce, record, record_z, record_hash, epoch, created_at";
/** Output columns qualified with alias `o`, for joins with payments `p`. */
export const OUTPUT_COLUMNS_O = OUTPUT_COLUMNS.split(", ")
  .map((c) => `o.${c}`)
  .join(", ");
export const EPOCH_COLUMNS = "splitter, epoch, claims_root, records_root, cumulative_allocated, uri, tx_hash, status, document, created_at";
/** Epoch columns without the document (epochs `e` joined with epoch_summaries `s`), for lists. */
export const EPOCH_SUMMARY_COLUMNS =
  "e.splitter, e.epoch, e.claims_root, e.records_root, e.cumulative_allocated, e.uri, e.tx_hash, e.status, " +
  "COALESCE(s.created_at, e.created_at) AS created_at, COALESCE(s.outputs, 0) AS outputs, COALESCE(s.claimants, 0) AS claimants, " +
  "s.cumulative_received, s.epoch_pool";
export const CONTRIBUTION_COLUMNS = "datanet_id, seq, contributor, content_hash, text, created_at";
export const HELD_OUTPUT_COLUMNS = "network, asset, payer, nonce, output_id, token_hash, status_code, content_type, body, created_at";
/** Held-output columns qualified with alias `h`, for joins with payments `p`. */
export const HELD_OUTPUT_COLUMNS_H = HELD_OUTPUT_COLUMNS.split(", ")
  .map((c) => `h.${c}`)
  .join(", ");
/** Payment columns qualified with alias `p` and prefixed `p_`, so they do not clash in a join. */
export const PAYMENT_COLUMNS_P = PAYMENT_COLUMNS.split(", ")
  .map((c) => `p.${c} AS p_${c}`)
  .join(", ");

export function toHeldOutput(r: Row): HeldOutput {
  const body = r.body as Uint8Array;
  return {
    network: String(r.network),
    asset: String(r.asset),
    payer: String(r.payer),
    nonce: String(r.nonce),
    outputId: String(r.output_id),
    tokenHash: String(r.token_hash),
    statusCode: num(r.status_code),
    contentType: strOrNull(r.content_type),
    body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
    createdAt: num(r.created_at),
  };
}

/** The `p_`-prefixed payment columns of a join row. */
export function toJoinedPayment(r: Row): PaymentRecord {
  const unprefixed: Row = {};
  for (const [k, v] of Object.entries(r)) if (k.startsWith("p_")) unprefixed[k.slice(2)] = v;
  return toPayment(unprefixed);
}

function num(v: unknown): number {
  return typeof v === "number" ? v : Number(v as string | bigint);
}

function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

export function toPayment(r: Row): PaymentRecord {
  return {
    network: String(r.network),
    asset: String(r.asset),
    payer: String(r.payer),
    nonce: String(r.nonce),
    payTo: String(r.pay_to),
    amount: String(r.amount),
    modelId: strOrNull(r.model_id),
    outputId: strOrNull(r.output_id),
    status: String(r.status) as PaymentStatus,
    txHash: strOrNull(r.tx_hash),
    errorReason: strOrNull(r.error_reason),
    payload: String(r.payload),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

export function toOutput(r: Row): OutputRecord {
  return {
    outputId: String(r.output_id),
    modelId: String(r.model_id),
    paymentKey:
      r.nonce === null || r.nonce === undefined
        ? null
        : { network: String(r.network), asset: String(r.asset), payer: String(r.payer), nonce: String(r.nonce) },
    record: recordText(r) ?? "",
    recordHash: String(r.record_hash),
    epoch: numOrNull(r.epoch),
    createdAt: num(r.created_at),
  };
}

export function toOutputWithAmount(r: Row): OutputRecord & { amount: string } {
  return { ...toOutput(r), amount: String(r.amount) };
}

export function toOutputWithOptionalAmount(r: Row): OutputRecord & { amount: string | null } {
  return { ...toOutput(r), amount: strOrNull(r.amount) };
}

export function toEpoch(r: Row): EpochRecord {
  return {
    splitter: String(r.splitter),
    epoch: num(r.epoch),
    claimsRoot: String(r.claims_root),
    recordsRoot: String(r.records_root),
    cumulativeAllocated: String(r.cumulative_allocated),
    uri: String(r.uri),
    txHash: strOrNull(r.tx_hash),
    status: String(r.status) as EpochRecord["status"],
    document: String(r.document),
    createdAt: num(r.created_at),
  };
}

export function toEpochSummary(r: Row): EpochSummary {
  const { document: _document, ...rest } = toEpoch({ ...r, document: "" });
  return {
    ...rest,
    outputs: num(r.outputs),
    claimants: num(r.claimants),
    cumulativeReceived: strOrNull(r.cumulative_received),
    epochPool: strOrNull(r.epoch_pool),
  };
}

/** A payments row joined with its output's record (`record` may be absent or null). */
export function toSettledRow(r: Row): SettledRow {
  return {
    modelId: strOrNull(r.model_id),
    outputId: strOrNull(r.output_id),
    amount: String(r.amount),
    payer: String(r.payer),
    nonce: String(r.nonce),
    txHash: strOrNull(r.tx_hash),
    updatedAt: num(r.updated_at),
    record: recordText(r),
  };
}

export function toContribution(r: Row): ContributionRecord {
  return {
    datanetId: String(r.datanet_id),
    seq: num(r.seq),
    contributor: String(r.contributor),
    contentHash: String(r.content_hash),
    text: String(r.text),
    createdAt: num(r.created_at),
  };
}

/** Same output apart from epoch assignment and timestamps (a retried putOutput). */
export function sameOutput(a: OutputRecord, b: OutputRecord): boolean {
  const ka = a.paymentKey;
  const kb = b.paymentKey;
  const sameKey =
    ka === null || kb === null
      ? ka === kb
      : ka.network === kb.network && ka.asset === kb.asset && ka.payer === kb.payer && ka.nonce === kb.nonce;
  return a.modelId === b.modelId && a.recordHash === b.recordHash && a.record === b.record && sameKey;
}
