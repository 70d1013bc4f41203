// Moves to "settled", batched: the settlements asked for together (a batch transaction's 32
// payments, a channel link's 64) run as one transaction of four statements —
// one UPDATE for every payment, one read of their outputs' records, the contributors' and the
// models' running totals — instead of four statements per payment. On PostgreSQL each statement
// is a round trip, so this is most of a settlement's cost there. Each caller still gets its own
// compare-and-set answer: its updated row, or null.
import { keyId } from "@royalty402/fastify-x402";
import type { Queryable } from "../executor.ts";
import type * as norm from "../normalize.ts";
import { recordText } from "../record-codec.ts";
import { PAYMENT_COLUMNS, toPayment } from "../rows.ts";
import type { PaymentKey, PaymentRecord, PaymentStatus } from "../types.ts";
import { TRANSITION_FIELDS, setFlag, transitionSets, type Db } from "./db.ts";
import { countCreditsOf, countSettlement, creditedContributors } from "./totals.ts";

interface Settle {
  key: PaymentKey;
  from: PaymentStatus[];
  fields: norm.TransitionFields;
  now: number;
  resolve: (row: PaymentRecord | null) => void;
  reject: (error: unknown) => void;
}

/** Per ledger, the batch still taking settlements: it closes when its transaction starts. */
const open = new WeakMap<Db, Map<string, Settle>>();

/**
 * Moves the payment to settled if it is in one of `from`, in one transaction with the other
 * settlements asked for before that transaction starts. The batch takes its place among the
 * ledger's writes when its first settlement is asked for (in SQLite: that turn's group commit).
 */
export function settleSoon(db: Db, key: PaymentKey, from: PaymentStatus[], fields: norm.TransitionFields): Promise<PaymentRecord | null> {
  return new Promise((resolve, reject) => {
    let batch = open.get(db);
    // A payment asked for twice goes into a new batch, which runs after the one holding it.
    if (!batch || batch.has(keyId(key))) batch = startBatch(db);
    batch.set(keyId(key), { key, from, fields, now: db.now(), resolve, reject });
  });
}

function startBatch(db: Db): Map<string, Settle> {
  const batch = new Map<string, Settle>();
  open.set(db, batch);
  const run = (tx: Queryable) => {
    if (open.get(db) === batch) open.delete(db);
    return settleAll(db, tx, [...batch.values()]);
  };
  let settled: Promise<Map<string, PaymentRecord>>;
  try {
    settled = db.exec.write(run, true);
  } catch (error) {
    open.delete(db); // a closed ledger: this batch fails, the next asks again
    settled = Promise.reject(error);
  }
  settled.then(
    (rows) => {
      for (const [id, s] of batch) s.resolve(rows.get(id) ?? null);
    },
    (error: unknown) => {
      for (const s of batch.values()) s.reject(error);
    },
  );
  return batch;
}

/** One settlement's row: its key, its from-states as ",a,b,", then each field's set flag and value. */
const SETTLE_COLUMNS = [
  ...["v_network", "v_asset", "v_payer", "v_nonce", "v_from"],
  ...TRANSITION_FIELDS.flatMap((field) => [`v_set_${field}`, `v_${field}`]),
];

/** The UPDATE of every payment of the batch, then the totals of those it settled. */
async function settleAll(db: Db, tx: Queryable, batch: Settle[]): Promise<Map<string, PaymentRecord>> {
  // In key order: two instances settling overlapping batches lock their rows in the same order.
  const ordered = [...batch].sort((a, b) => (keyId(a.key) < keyId(b.key) ? -1 : 1));
  const tuples = ordered.map(({ key: k, from, fields: f }) => [
    ...[k.network, k.asset, k.payer, k.nonce, `,${from.join(",")},`],
    ...TRANSITION_FIELDS.flatMap((field) => [setFlag(f[field]), f[field] ?? null]),
  ]);
  const { rows } = await tx.query(
    `UPDATE payments SET
       status = 'settled',
       updated_at = ${db.d.greatest("updated_at", "CAST($now AS BIGINT)")},
       ${transitionSets(db, (field) => [`v.v_set_${field}`, `v.v_${field}`])}
     FROM (${db.d.tupleRows("$settles", SETTLE_COLUMNS)}) v
     WHERE network = v.v_network AND asset = v.v_asset AND payer = v.v_payer AND nonce = v.v_nonce
       AND v.v_from LIKE '%,' || status || ',%'
     RETURNING ${PAYMENT_COLUMNS.split(", ")
       .map((c) => `payments.${c}`)
       .join(", ")}`,
    { settles: JSON.stringify(tuples), now: Math.max(...batch.map((s) => s.now)) },
  );
  const settled = new Map(rows.map((r) => [keyId(r as unknown as PaymentKey), toPayment(r)]));
  if (settled.size > 0) await countTotals(db, tx, [...settled.values()]);
  return settled;
}

/** The running totals of payments just settled: their outputs' contributors, their models' payments and revenue. */
async function countTotals(db: Db, tx: Queryable, payments: PaymentRecord[]): Promise<void> {
  const keys = payments.map((p) => [p.network, p.asset, p.payer, p.nonce]);
  const { rows } = await tx.query(
    `SELECT o.record, o.record_z FROM (${db.d.tupleRows("$keys", ["k_network", "k_asset", "k_payer", "k_nonce"])}) k
     JOIN outputs o ON o.network = k.k_network AND o.asset = k.k_asset AND o.payer = k.k_payer AND o.nonce = k.k_nonce`,
    { keys: JSON.stringify(keys) },
  );
  await countCreditsOf(
    db,
    tx,
    rows.flatMap((r) => creditedContributors(recordText(r) ?? "")),
  );
  const byModel = new Map<string, { payments: number; revenue: bigint }>();
  for (const p of payments) {
    if (p.modelId === null) continue;
    const sum = byModel.get(p.modelId) ?? { payments: 0, revenue: 0n };
    sum.payments += 1;
    sum.revenue += BigInt(p.amount);
    byModel.set(p.modelId, sum);
  }
  for (const [modelId, sum] of [...byModel].sort(([a], [b]) => (a < b ? -1 : 1)))
    await countSettlement(db, tx, modelId, sum.revenue.toString(), sum.payments);
}
