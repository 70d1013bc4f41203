// Outputs held for payers whose settlement is pending, re-delivered once settled, pruned
// after the retention period.
import { LedgerError } from "../errors.ts";
import * as norm from "../normalize.ts";
import { HELD_OUTPUT_COLUMNS, HELD_OUTPUT_COLUMNS_H, PAYMENT_COLUMNS_P, toHeldOutput, toJoinedPayment } from "../rows.ts";
import type { HeldOutput, PaymentRecord } from "../types.ts";
import { PAYMENT_KEY_MATCH, keyParams, type Db } from "./db.ts";

export async function holdOutput(db: Db, input: HeldOutput): Promise<void> {
  const h = norm.heldOutput(input);
  let inserted: boolean;
  try {
    inserted = await db.exec.write(async (tx) => {
      const { rows } = await tx.query(
        `INSERT INTO held_outputs (${HELD_OUTPUT_COLUMNS})
         VALUES ($network, $asset, $payer, $nonce, $outputId, $tokenHash, $statusCode, $contentType, $body, $createdAt)
         ON CONFLICT DO NOTHING
         RETURNING output_id`,
        {
          ...keyParams(h),
          outputId: h.outputId,
          tokenHash: h.tokenHash,
          statusCode: h.statusCode,
          contentType: h.contentType,
          body: h.body,
          createdAt: h.createdAt,
        },
      );
      return rows.length === 1;
    }, false);
  } catch (e) {
    if (db.d.errorKind(e) === "foreign_key") throw unknownPayment(h.outputId);
    throw e;
  }
  if (!inserted) await checkHeld(db, h);
}

export const unknownPayment = (outputId: string) =>
  new LedgerError("unknown_payment", `held output ${outputId} names a payment the ledger does not hold`);

/** After an insert that did nothing: the payment's held output must be this one. */
export async function checkHeld(db: Db, h: HeldOutput): Promise<void> {
  const { rows } = await db.exec.query(`SELECT output_id FROM held_outputs WHERE ${PAYMENT_KEY_MATCH}`, keyParams(h));
  if (rows[0]?.output_id !== h.outputId)
    throw new LedgerError("output_conflict", `output ${h.outputId} conflicts with an output already held`);
}

export async function getHeldOutput(db: Db, outputId: string): Promise<{ output: HeldOutput; payment: PaymentRecord } | null> {
  const { rows } = await db.exec.query(
    `SELECT ${HELD_OUTPUT_COLUMNS_H}, ${PAYMENT_COLUMNS_P} FROM held_outputs h
     JOIN payments p ON p.network = h.network AND p.asset = h.asset AND p.payer = h.payer AND p.nonce = h.nonce
     WHERE h.output_id = $outputId`,
    { outputId: norm.id("outputId", outputId) },
  );
  return rows.length === 1 ? { output: toHeldOutput(rows[0]), payment: toJoinedPayment(rows[0]) } : null;
}

export async function pruneHeldOutputs(db: Db, before: number): Promise<number> {
  const b = norm.uint("before", before);
  const { changes } = await db.exec.write(
    (tx) =>
      tx.query(
        `DELETE FROM held_outputs
         WHERE created_at < $before
           AND EXISTS (SELECT 1 FROM payments p WHERE p.network = held_outputs.network AND p.asset = held_outputs.asset
                       AND p.payer = held_outputs.payer AND p.nonce = held_outputs.nonce
                       AND p.status IN ('settled', 'failed') AND p.updated_at < $before)`,
        { before: b },
      ),
    false,
  );
  await emptySettledPayloads(db, b);
  return changes;
}

const PAYLOAD_BATCH = 2000;
const SETTLED_WITH_PAYLOAD = "payload <> '' AND updated_at < $before AND status = 'settled'";

/**
 * Empties the payload of payments settled before `before`. Settled is final, and past the
 * retention nothing reads it (settling again is done; re-delivery by payload is over, as its
 * held output is gone); the row keeps everything else. In batches, so no write waits long.
 */
async function emptySettledPayloads(db: Db, before: number): Promise<void> {
  for (;;) {
    const changed = db.d.name === "sqlite" ? await rewriteBatchSqlite(db, before) : await updateBatch(db, before);
    if (changed < PAYLOAD_BATCH) return;
  }
}

// PostgreSQL: an UPDATE writes a new row version; (auto)vacuum makes the old one's space reusable.
async function updateBatch(db: Db, before: number): Promise<number> {
  const { changes } = await db.exec.write(
    (tx) =>
      tx.query(
        `UPDATE payments SET payload = ''
         WHERE (network, asset, payer, nonce) IN (SELECT network, asset, payer, nonce FROM payments
                                                  WHERE ${SETTLED_WITH_PAYLOAD} LIMIT ${PAYLOAD_BATCH})`,
        { before },
      ),
    false,
  );
  return changes;
}

// SQLite leaves the space a shrinking UPDATE frees inside its pages, and new rows never land there;
// a deleted row's pages go back to the free list and are reused. So the rows are written again:
// deleted and inserted with an empty payload in one transaction (outputs' references are checked at commit).
async function rewriteBatchSqlite(db: Db, before: number): Promise<number> {
  return db.exec.transaction(async (tx) => {
    await tx.query("PRAGMA defer_foreign_keys = ON");
    await tx.query("DROP TABLE IF EXISTS temp.payments_rewritten");
    await tx.query(`CREATE TEMP TABLE payments_rewritten AS SELECT * FROM payments WHERE ${SETTLED_WITH_PAYLOAD} LIMIT ${PAYLOAD_BATCH}`, {
      before,
    });
    await tx.query("UPDATE temp.payments_rewritten SET payload = ''");
    const { changes } = await tx.query(
      `DELETE FROM payments WHERE (network, asset, payer, nonce) IN
         (SELECT network, asset, payer, nonce FROM temp.payments_rewritten)`,
    );
    await tx.query("INSERT INTO payments SELECT * FROM temp.payments_rewritten");
    await tx.query("DROP TABLE temp.payments_rewritten");
    return changes;
  });
}
