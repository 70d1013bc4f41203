// Running totals, updated in the transaction that settles a payment or stores its output, so
// the dashboard and /contributors read a few rows instead of the whole history, and several
// instances sharing one database keep them exact.
import * as norm from "../normalize.ts";
import { toSettledRow } from "../rows.ts";
import type { Queryable } from "../executor.ts";
import type { ContributorTotals, ModelTotals, SettledBucket, SettledRow } from "../types.ts";
import type { Db } from "./db.ts";

const MAX_RECENT = 1000;

/** Lower-case addresses a record credits (a record that is not JSON credits nobody). */
export function creditedContributors(record: string): string[] {
  try {
    const parsed = JSON.parse(record) as { contributors?: Array<{ address?: unknown }> };
    const list = Array.isArray(parsed?.contributors) ? parsed.contributors : [];
    return [
      ...new Set(
        list
          .map((c) => c?.address)
          .filter((a): a is string => typeof a === "string")
          .map((a) => a.toLowerCase()),
      ),
    ].sort(); // one lock order for every transaction (no deadlocks between concurrent settlements)
  } catch {
    return [];
  }
}

/** `payments` payments of `modelId` for `amount` in all have just settled. */
export async function countSettlement(db: Db, tx: Queryable, modelId: string | null, amount: string, payments = 1): Promise<void> {
  if (modelId === null) return;
  await tx.query(
    `INSERT INTO model_totals (model_id, payments, revenue) VALUES ($modelId, $payments, $amount)
     ON CONFLICT (model_id) DO UPDATE SET payments = model_totals.payments + excluded.payments,
       revenue = ${db.d.addAmount("model_totals.revenue", "excluded.revenue")}`,
    { modelId, amount, payments },
  );
}

/** A settled payment's output now exists: each contributor it credits gains one output. */
export async function countCredits(db: Db, tx: Queryable, record: string): Promise<void> {
  await countCreditsOf(db, tx, creditedContributors(record));
}

/** Each contributor named gains one output per time it is named (outputs of several settled payments at once). */
export async function countCreditsOf(db: Db, tx: Queryable, contributors: readonly string[]): Promise<void> {
  if (contributors.length === 0) return;
  const outputs = new Map<string, number>();
  for (const c of contributors) outputs.set(c, (outputs.get(c) ?? 0) + 1);
  const pairs = [...outputs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([c, n]) => [c, String(n)]);
  await tx.query(
    `INSERT INTO contributor_totals (contributor, outputs)
     SELECT a, CAST(b AS INTEGER) FROM (${db.d.pairRows("$pairs")}) credited WHERE true
     ON CONFLICT (contributor) DO UPDATE SET outputs = contributor_totals.outputs + excluded.outputs`,
    { pairs: JSON.stringify(pairs) },
  );
}

export async function modelTotals(db: Db): Promise<ModelTotals[]> {
  const { rows } = await db.exec.query("SELECT model_id, payments, revenue FROM model_totals ORDER BY model_id");
  return rows.map((r) => ({ modelId: String(r.model_id), payments: Number(r.payments), revenue: String(r.revenue) }));
}

export async function contributorTotals(db: Db, limit?: number): Promise<ContributorTotals[]> {
  const { rows } = await db.exec.query(
    "SELECT contributor, outputs FROM contributor_totals ORDER BY outputs DESC, contributor LIMIT $limit",
    { limit: norm.optionalLimit(limit) ?? db.d.noLimit },
  );
  return rows.map((r) => ({ contributor: String(r.contributor), outputs: Number(r.outputs) }));
}

const SETTLED_COLUMNS = "p.model_id, p.output_id, p.amount, p.payer, p.nonce, p.tx_hash, p.updated_at";

/** Newest first, walking the (status, updated_at) index backwards. */
export async function recentSettled(db: Db, limit: number): Promise<SettledRow[]> {
  const { rows } = await db.exec.query(
    `SELECT ${SETTLED_COLUMNS}, o.record, o.record_z FROM payments p
     LEFT JOIN outputs o ON o.network = p.network AND o.asset = p.asset AND o.payer = p.payer AND o.nonce = p.nonce
     WHERE p.status = 'settled'
     ORDER BY p.updated_at DESC, p.nonce DESC
     LIMIT $limit`,
    { limit: Math.min(Math.max(norm.uint("limit", limit), 1), MAX_RECENT) },
  );
  return rows.map(toSettledRow);
}

/** Settled payments per time bucket and amount, from the (status, updated_at) index's range. */
export async function settledBuckets(db: Db, after: number, until: number, bucketMs: number): Promise<SettledBucket[]> {
  const { rows } = await db.exec.query(
    `SELECT p.updated_at - p.updated_at % $bucket AS t, p.amount, COUNT(*) AS n FROM payments p
     WHERE p.status = 'settled' AND p.updated_at > $after AND p.updated_at <= $until
     GROUP BY 1, 2`,
    { after: norm.uint("after", after), until: norm.uint("until", until), bucket: Math.max(1, norm.uint("bucketMs", bucketMs)) },
  );
  return rows.map((r) => ({ t: Number(r.t), amount: String(r.amount), payments: Number(r.n) }));
}
