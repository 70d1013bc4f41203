// Payments: reserve (the unique key picks one winner), compare-and-set transitions, reads.
// Settling a payment also counts it in the running totals, in the same transaction.
import { LedgerError } from "../errors.ts";
import type { Queryable } from "../executor.ts";
import * as norm from "../normalize.ts";
import { HELD_OUTPUT_COLUMNS, PAYMENT_COLUMNS, toPayment } from "../rows.ts";
import { assertTransition, isPaymentStatus } from "../transitions.ts";
import type { HeldOutput, PaymentKey, PaymentLedger, PaymentRecord, PaymentStatus, ReserveResult } from "../types.ts";
import { PAYMENT_KEY_MATCH, TRANSITION_FIELDS, keyParams, setFlag, transitionSets, type Db } from "./db.ts";
import { checkHeld, holdOutput, unknownPayment } from "./held-outputs.ts";
import { settleSoon } from "./settle-batch.ts";

export async function reserve(db: Db, input: norm.ReserveInput): Promise<ReserveResult> {
  const p = norm.reserveInput(input);
  const now = db.now();
  return db.exec.write(async (tx) => {
    const { rows } = await tx.query(
      `INSERT INTO payments (network, asset, payer, nonce, pay_to, amount, model_id, output_id, status, tx_hash, error_reason, payload,
                             created_at, updated_at, instance_id)
       VALUES ($network, $asset, $payer, $nonce, $payTo, $amount, $modelId, $outputId, 'reserved', NULL, NULL, $payload,
               $now, $now, $instance)
       ON CONFLICT (network, asset, payer, nonce) DO NOTHING
       RETURNING ${PAYMENT_COLUMNS}`,
      {
        ...keyParams(p),
        payTo: p.payTo,
        amount: p.amount,
        modelId: p.modelId,
        outputId: p.outputId,
        payload: p.payload,
        now,
        instance: db.instanceId,
      },
    );
    if (rows.length === 1) return { reserved: true, payment: toPayment(rows[0]) };
    // Lost the race (or a replay): the winner committed before ON CONFLICT saw its row, and
    // payments are never deleted, so this read finds it.
    const existing = await selectPayment(tx, p);
    if (!existing) throw new Error("ledger invariant broken: conflicting payment row not found");
    return { reserved: false, existing };
  }, false);
}

export async function transition(
  db: Db,
  key: PaymentKey,
  from: PaymentStatus[],
  to: PaymentStatus,
  fields?: norm.TransitionFields,
): Promise<PaymentRecord | null> {
  const k = norm.paymentKey(key);
  assertTransition(from, to);
  const f = norm.transitionFields(fields);
  // Settled is terminal, so a successful move to it happens once per payment: the batch counts it then.
  if (to === "settled") return settleSoon(db, k, from, f);
  const now = db.now();
  return db.exec.write((tx) => updateStatus(db, tx, k, from, to, f, now), false);
}

/**
 * Keeps a payment's output and moves the payment, as holdOutput and transition would. On PostgreSQL
 * the INSERT rides in the UPDATE's WITH clause: one round trip and one commit for both, instead of two.
 */
export async function holdAndTransition(
  db: Db,
  output: HeldOutput,
  from: PaymentStatus[],
  to: Exclude<PaymentStatus, "settled">,
  fields?: norm.TransitionFields,
): Promise<{ row: PaymentRecord | null; held: boolean; holdError?: unknown }> {
  const h = norm.heldOutput(output);
  const k = keyParams(h);
  if (!db.d.updateInWith) {
    let holdError: unknown;
    const [isHeld, row] = await Promise.all([
      holdOutput(db, h).then(
        () => true,
        (error: unknown) => ((holdError = error), false),
      ),
      transition(db, k, from, to, fields),
    ]);
    return isHeld ? { row, held: true } : { row, held: false, holdError };
  }
  assertTransition(from, to);
  const f = norm.transitionFields(fields);
  const held = HELD_INSERT_PARAMS(h);
  const statement = db.exec.query(
    `WITH held AS (
       INSERT INTO held_outputs (${HELD_OUTPUT_COLUMNS})
       VALUES ($network, $asset, $payer, $nonce, $h_outputId, $h_tokenHash, $h_statusCode, $h_contentType, $h_body, $h_createdAt)
       ON CONFLICT DO NOTHING
       RETURNING output_id
     )
     ${UPDATE_STATUS(db, "(SELECT COUNT(*) FROM held) AS held_inserted")}`,
    { ...updateParams(db, k, from, to, f, db.now()), ...held },
  );
  const { rows } = await statement.catch((e: unknown) => {
    if (db.d.errorKind(e) !== "foreign_key") throw e;
    return { rows: null };
  });
  // No payment to hold it for (and so none moved), as holdOutput and transition say apart.
  if (rows === null) return { row: null, held: false, holdError: unknownPayment(h.outputId) };
  if (rows.length === 0) return { row: null, held: false };
  const row = toPayment(rows[0]);
  if (Number(rows[0].held_inserted) === 1) return { row, held: true };
  // Held already (a retry): the same output is fine, another one is a conflict, as holdOutput says.
  const holdError = await checkHeld(db, h).then(
    () => undefined,
    (error: unknown) => error,
  );
  return holdError === undefined ? { row, held: true } : { row, held: false, holdError };
}

/** A held output's columns, but its key, as holdAndTransition binds them (the key is the payment's). */
const HELD_INSERT_PARAMS = (h: HeldOutput) => ({
  h_outputId: h.outputId,
  h_tokenHash: h.tokenHash,
  h_statusCode: h.statusCode,
  h_contentType: h.contentType,
  h_body: h.body,
  h_createdAt: h.createdAt,
});

const UPDATE_STATUS = (db: Db, returningAlso?: string) => `UPDATE payments SET
       status = $to,
       updated_at = ${db.d.greatest("updated_at", "CAST($now AS BIGINT)")},
       ${transitionSets(db, (field) => [`$set_${field}`, `$${field}`])},
       instance_id = CASE WHEN $to = 'reserved' THEN CAST($instance AS TEXT) ELSE instance_id END
     WHERE ${PAYMENT_KEY_MATCH} AND ${db.d.inList("status", "$from")}
     RETURNING ${PAYMENT_COLUMNS}${returningAlso ? `, ${returningAlso}` : ""}`;

function updateParams(db: Db, k: PaymentKey, from: PaymentStatus[], to: PaymentStatus, f: norm.TransitionFields, now: number) {
  return {
    ...keyParams(k),
    to,
    from: db.d.list(from) as string,
    now,
    ...Object.fromEntries(
      TRANSITION_FIELDS.flatMap((field) => [
        [`set_${field}`, setFlag(f[field])],
        [field, f[field] ?? null],
      ]),
    ),
    instance: db.instanceId,
  };
}

async function updateStatus(
  db: Db,
  tx: Queryable,
  k: PaymentKey,
  from: PaymentStatus[],
  to: PaymentStatus,
  f: norm.TransitionFields,
  now: number,
): Promise<PaymentRecord | null> {
  const { rows } = await tx.query(UPDATE_STATUS(db), updateParams(db, k, from, to, f, now));
  return rows.length === 1 ? toPayment(rows[0]) : null;
}

async function selectPayment(q: Queryable, k: PaymentKey): Promise<PaymentRecord | null> {
  const { rows } = await q.query(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE ${PAYMENT_KEY_MATCH}`, keyParams(k));
  return rows.length === 1 ? toPayment(rows[0]) : null;
}

export async function getPayment(db: Db, key: PaymentKey): Promise<PaymentRecord | null> {
  return selectPayment(db.exec, norm.paymentKey(key));
}

export async function listPayments(db: Db, q: Parameters<PaymentLedger["listPayments"]>[0]): Promise<PaymentRecord[]> {
  const where: string[] = [];
  const params: Record<string, string | number> = { limit: norm.listLimit(q?.limit) };
  if (q?.status !== undefined) {
    if (!Array.isArray(q.status) || !q.status.every(isPaymentStatus))
      throw new LedgerError("invalid_input", "status must be a list of payment statuses");
    if (q.status.length === 0) return [];
    where.push(db.d.inList("status", "$statuses"));
    params.statuses = db.d.list(q.status) as string;
  }
  if (q?.modelId !== undefined) {
    where.push("model_id = $modelId");
    params.modelId = norm.id("modelId", q.modelId);
  }
  if (q?.afterUpdatedAt !== undefined) {
    where.push("updated_at > $after");
    params.after = norm.uint("afterUpdatedAt", q.afterUpdatedAt);
  }
  const dir = q?.order === "desc" ? "DESC" : "ASC";
  const { rows } = await db.exec.query(
    `SELECT ${PAYMENT_COLUMNS} FROM payments ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY updated_at ${dir}, network ${dir}, asset ${dir}, payer ${dir}, nonce ${dir}
     LIMIT $limit`,
    params,
  );
  return rows.map(toPayment);
}
