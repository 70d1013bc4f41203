// Epochs: one row per (splitter, epoch) with its document, plus what lists need in rows of
// their own (epoch_summaries: counts, pool; epoch_claims: claim leaves) so lists and earnings
// never read a document. They are derived from the document when its roots change, in the
// same transaction.
import { LedgerError } from "../errors.ts";
import type { Params, Queryable } from "../executor.ts";
import * as norm from "../normalize.ts";
import { EPOCH_COLUMNS, EPOCH_SUMMARY_COLUMNS, toEpoch, toEpochSummary } from "../rows.ts";
import type { EpochClaim, EpochCursor, EpochRecord, EpochSummary, LatestEpochFilter } from "../types.ts";
import type { Db } from "./db.ts";

interface Derived {
  outputs: number;
  claimants: number;
  cumulativeReceived: string | null;
  epochPool: string | null;
  claims: Array<[string, string]>;
}

/** The list columns of an epoch document (a document without them yields zeros and nulls). */
function deriveColumns(document: string): Derived {
  let doc: { payments?: unknown; claims?: { leaves?: unknown }; cumulativeReceived?: unknown; epochPool?: unknown } = {};
  try {
    doc = JSON.parse(document) ?? {};
  } catch {}
  const leaves = Array.isArray(doc.claims?.leaves) ? (doc.claims.leaves as Array<{ account?: unknown; cumulativeAmount?: unknown }>) : [];
  const claims = leaves
    .filter((l) => typeof l?.account === "string" && l.cumulativeAmount !== undefined)
    .map((l): [string, string] => [String(l.account).toLowerCase(), String(l.cumulativeAmount)]);
  const amountOrNull = (v: unknown) => (typeof v === "string" && /^[0-9]{1,78}$/.test(v) ? v : null);
  return {
    outputs: Array.isArray(doc.payments) ? doc.payments.length : 0,
    claimants: claims.length,
    cumulativeReceived: amountOrNull(doc.cumulativeReceived),
    epochPool: amountOrNull(doc.epochPool),
    claims,
  };
}

type Roots = { claims_root: unknown; records_root: unknown; cumulative_allocated: unknown; summarized: unknown };

/** The stored row has these roots and its derived rows (a row written by an older instance may lack them). */
const sameRoots = (row: Roots | undefined, e: EpochRecord) =>
  row !== undefined &&
  Number(row.summarized) === 1 &&
  row.claims_root === e.claimsRoot &&
  row.records_root === e.recordsRoot &&
  String(row.cumulative_allocated) === e.cumulativeAllocated;

async function rootsOf(q: Queryable, e: EpochRecord, lock = ""): Promise<Roots | undefined> {
  const { rows } = await q.query(
    `SELECT claims_root, records_root, cumulative_allocated,
       CASE WHEN EXISTS (SELECT 1 FROM epoch_summaries s WHERE s.splitter = epochs.splitter AND s.epoch = epochs.epoch)
         THEN 1 ELSE 0 END AS summarized
     FROM epochs WHERE splitter = $splitter AND epoch = $epoch ${lock}`,
    {
      splitter: e.splitter,
      epoch: e.epoch,
    },
  );
  return rows[0] as Roots | undefined;
}

export async function putEpoch(db: Db, input: EpochRecord): Promise<void> {
  const e = norm.epoch(input);
  // Parse the document outside the transaction, and only when its roots are new.
  let derived = sameRoots(await rootsOf(db.exec, e), e) ? null : deriveColumns(e.document);
  await db.exec.transaction(async (tx) => {
    if (derived === null && !sameRoots(await rootsOf(tx, e, db.d.forUpdate), e)) derived = deriveColumns(e.document);
    const { rows } = await tx.query(
      `INSERT INTO epochs (splitter, epoch, claims_root, records_root, cumulative_allocated, uri, tx_hash, status, document, created_at)
       VALUES ($splitter, $epoch, $claimsRoot, $recordsRoot, $cumulativeAllocated, $uri, $txHash, $status, $document, $createdAt)
       ON CONFLICT (splitter, epoch) DO UPDATE SET
         claims_root = excluded.claims_root, records_root = excluded.records_root,
         cumulative_allocated = excluded.cumulative_allocated, uri = excluded.uri, tx_hash = excluded.tx_hash,
         status = excluded.status, document = excluded.document
       WHERE epochs.status = 'built'
          OR (epochs.claims_root = excluded.claims_root AND epochs.records_root = excluded.records_root
              AND epochs.cumulative_allocated = excluded.cumulative_allocated)
       RETURNING splitter`,
      {
        splitter: e.splitter,
        epoch: e.epoch,
        claimsRoot: e.claimsRoot,
        recordsRoot: e.recordsRoot,
        cumulativeAllocated: e.cumulativeAllocated,
        uri: e.uri,
        txHash: e.txHash,
        status: e.status,
        document: e.document,
        createdAt: e.createdAt,
      },
    );
    if (rows.length === 0) throw new LedgerError("epoch_conflict", `epoch ${e.epoch} of ${e.splitter} was posted with other roots`);
    if (derived) await writeDerived(db, tx, e, derived);
  });
}

async function writeDerived(db: Db, tx: Queryable, e: EpochRecord, derived: Derived): Promise<void> {
  await tx.query(
    `INSERT INTO epoch_summaries (splitter, epoch, created_at, outputs, claimants, cumulative_received, epoch_pool)
     VALUES ($splitter, $epoch, $createdAt, $outputs, $claimants, $cumulativeReceived, $epochPool)
     ON CONFLICT (splitter, epoch) DO UPDATE SET outputs = excluded.outputs, claimants = excluded.claimants,
       cumulative_received = excluded.cumulative_received, epoch_pool = excluded.epoch_pool`,
    {
      splitter: e.splitter,
      epoch: e.epoch,
      createdAt: e.createdAt,
      outputs: derived.outputs,
      claimants: derived.claimants,
      cumulativeReceived: derived.cumulativeReceived,
      epochPool: derived.epochPool,
    },
  );
  await replaceClaims(db, tx, e, derived.claims);
}

async function replaceClaims(db: Db, tx: Queryable, e: EpochRecord, claims: Array<[string, string]>): Promise<void> {
  await tx.query("DELETE FROM epoch_claims WHERE splitter = $splitter AND epoch = $epoch", { splitter: e.splitter, epoch: e.epoch });
  if (claims.length === 0) return;
  await tx.query(
    `INSERT INTO epoch_claims (splitter, epoch, account, cumulative_amount)
     SELECT $splitter, $epoch, a, b FROM (${db.d.pairRows("$claims")}) leaves`,
    { splitter: e.splitter, epoch: e.epoch, claims: JSON.stringify(claims) },
  );
}

export async function getEpoch(db: Db, splitter: string, epoch: number): Promise<EpochRecord | null> {
  const { rows } = await db.exec.query(`SELECT ${EPOCH_COLUMNS} FROM epochs WHERE splitter = $splitter AND epoch = $epoch`, {
    splitter: norm.address("splitter", splitter),
    epoch: norm.uint("epoch", epoch),
  });
  return rows.length === 1 ? toEpoch(rows[0]) : null;
}

export async function listEpochs(db: Db, splitter?: string): Promise<EpochRecord[]> {
  const { rows } =
    splitter === undefined
      ? await db.exec.query(`SELECT ${EPOCH_COLUMNS} FROM epochs ORDER BY splitter, epoch`)
      : await db.exec.query(`SELECT ${EPOCH_COLUMNS} FROM epochs WHERE splitter = $splitter ORDER BY epoch`, {
          splitter: norm.address("splitter", splitter),
        });
  return rows.map(toEpoch);
}

// LEFT JOIN: an epoch written by an older instance mid-deploy has no summary row until its next putEpoch.
const SUMMARY_JOIN = "epochs e LEFT JOIN epoch_summaries s ON s.splitter = e.splitter AND s.epoch = e.epoch";

export async function listEpochSummaries(db: Db, splitter?: string): Promise<EpochSummary[]> {
  const { rows } =
    splitter === undefined
      ? await db.exec.query(`SELECT ${EPOCH_SUMMARY_COLUMNS} FROM ${SUMMARY_JOIN} ORDER BY e.splitter, e.epoch`)
      : await db.exec.query(`SELECT ${EPOCH_SUMMARY_COLUMNS} FROM ${SUMMARY_JOIN} WHERE e.splitter = $splitter ORDER BY e.epoch`, {
          splitter: norm.address("splitter", splitter),
        });
  return rows.map(toEpochSummary);
}

/**
 * At most `limit` epochs just before `before` (or the last ones) in (splitter, epoch) order, newest last:
 * a backward walk of the primary key, so a page costs the same whatever the history.
 */
export async function pageEpochSummaries(
  db: Db,
  page: { splitter?: string; limit: number; before?: EpochCursor },
): Promise<EpochSummary[]> {
  const params: Params = { limit: Math.max(norm.uint("limit", page.limit), 1) };
  const where: string[] = [];
  const splitter = page.splitter === undefined ? undefined : norm.address("splitter", page.splitter);
  if (splitter !== undefined) {
    params.splitter = splitter;
    where.push("e.splitter = $splitter");
  }
  if (page.before !== undefined) {
    const beforeSplitter = norm.address("before.splitter", page.before.splitter);
    const beforeEpoch = norm.uint("before.epoch", page.before.epoch);
    // Both planners seek the primary key to the cursor with these forms (an OR, or a row value next to
    // `splitter =`, made SQLite walk every newer epoch of the splitter instead).
    if (splitter === undefined) {
      Object.assign(params, { beforeSplitter, beforeEpoch });
      where.push("(e.splitter, e.epoch) < ($beforeSplitter, $beforeEpoch)");
    } else if (beforeSplitter === splitter) {
      params.beforeEpoch = beforeEpoch;
      where.push("e.epoch < $beforeEpoch");
    } else if (beforeSplitter < splitter) return []; // (a greater splitter's cursor: every epoch is before it)
  }
  const { rows } = await db.exec.query(
    `SELECT ${EPOCH_SUMMARY_COLUMNS} FROM ${SUMMARY_JOIN} ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY e.splitter DESC, e.epoch DESC LIMIT $limit`,
    params,
  );
  return rows.map(toEpochSummary).reverse();
}

export async function countEpochs(db: Db, splitter?: string): Promise<number> {
  const { rows } =
    splitter === undefined
      ? await db.exec.query("SELECT COUNT(*) AS n FROM epochs")
      : await db.exec.query("SELECT COUNT(*) AS n FROM epochs WHERE splitter = $splitter", {
          splitter: norm.address("splitter", splitter),
        });
  return Number(rows[0].n);
}

export async function getEpochSummary(db: Db, splitter: string, epoch: number): Promise<EpochSummary | null> {
  const { rows } = await db.exec.query(
    `SELECT ${EPOCH_SUMMARY_COLUMNS} FROM ${SUMMARY_JOIN} WHERE e.splitter = $splitter AND e.epoch = $epoch`,
    {
      splitter: norm.address("splitter", splitter),
      epoch: norm.uint("epoch", epoch),
    },
  );
  return rows.length === 1 ? toEpochSummary(rows[0]) : null;
}

const LATEST_FILTERS: Record<LatestEpochFilter, string> = {
  any: "",
  not_vetoed: "AND e.status <> 'vetoed'",
  posted_not_vetoed: "AND e.status <> 'vetoed' AND e.tx_hash IS NOT NULL",
};

/** A splitter's newest epoch that passes `filter` (walks the primary key backwards from the newest). */
export async function latestEpochSummary(db: Db, splitter: string, filter: LatestEpochFilter = "any"): Promise<EpochSummary | null> {
  const { rows } = await db.exec.query(
    `SELECT ${EPOCH_SUMMARY_COLUMNS} FROM ${SUMMARY_JOIN} WHERE e.splitter = $splitter ${LATEST_FILTERS[filter]}
     ORDER BY e.epoch DESC LIMIT 1`,
    { splitter: norm.address("splitter", splitter) },
  );
  return rows.length === 1 ? toEpochSummary(rows[0]) : null;
}

export async function listEpochClaims(db: Db, splitter: string, epoch: number): Promise<EpochClaim[]> {
  const { rows } = await db.exec.query(
    "SELECT account, cumulative_amount FROM epoch_claims WHERE splitter = $splitter AND epoch = $epoch ORDER BY account",
    {
      splitter: norm.address("splitter", splitter),
      epoch: norm.uint("epoch", epoch),
    },
  );
  return rows.map((r) => ({ account: String(r.account), cumulativeAmount: String(r.cumulative_amount) }));
}

export async function getEpochClaim(db: Db, splitter: string, epoch: number, account: string): Promise<EpochClaim | null> {
  const { rows } = await db.exec.query(
    "SELECT account, cumulative_amount FROM epoch_claims WHERE splitter = $splitter AND epoch = $epoch AND account = $account",
    { splitter: norm.address("splitter", splitter), epoch: norm.uint("epoch", epoch), account: norm.address("account", account) },
  );
  return rows.length === 1 ? { account: String(rows[0].account), cumulativeAmount: String(rows[0].cumulative_amount) } : null;
}
