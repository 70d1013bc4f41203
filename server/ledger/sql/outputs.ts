// Outputs and their attribution records: immutable once stored, assigned to one epoch each.
import { LedgerError } from "../errors.ts";
import * as norm from "../normalize.ts";
import { packRecord, recordText } from "../record-codec.ts";
import { OUTPUT_COLUMNS, OUTPUT_COLUMNS_O, sameOutput, toOutput, toOutputWithAmount, toOutputWithOptionalAmount } from "../rows.ts";
import type { EpochCandidate, OutputRecord, PaymentKey } from "../types.ts";
import { PAYMENT_KEY_MATCH, keyParams, type Db } from "./db.ts";
import { countCredits, creditedContributors } from "./totals.ts";

const JOIN_PAYMENT = "p.network = o.network AND p.asset = o.asset AND p.payer = o.payer AND p.nonce = o.nonce";

const INSERT_OUTPUT = `INSERT INTO outputs
  (output_id, model_id, network, asset, payer, nonce, record, record_z, record_hash, epoch, created_at)
  VALUES ($outputId, $modelId, $network, $asset, $payer, $nonce, '', $recordZ, $recordHash, $epoch, $createdAt)
  ON CONFLICT (output_id) DO NOTHING
  RETURNING output_id`;

/**
 * PostgreSQL, in one statement (one round trip): the payment row's lock, the output, and the
 * credits when the payment is already settled. The lock re-reads the newest status, so against a
 * concurrent settlement exactly one of the two counts the credits, as in the transaction below.
 */
const INSERT_OUTPUT_AND_CREDITS = (db: Db) => `WITH paid AS (SELECT status FROM payments WHERE ${PAYMENT_KEY_MATCH} FOR UPDATE),
  inserted AS (${INSERT_OUTPUT}),
  credited AS (
    INSERT INTO contributor_totals (contributor, outputs)
    SELECT a, 1 FROM (${db.d.pairRows("$pairs")}) c
    WHERE EXISTS (SELECT 1 FROM inserted) AND EXISTS (SELECT 1 FROM paid WHERE status = 'settled')
    ON CONFLICT (contributor) DO UPDATE SET outputs = contributor_totals.outputs + 1)
  SELECT output_id FROM inserted`;

export async function putOutput(db: Db, input: OutputRecord): Promise<void> {
  const o = norm.output(input);
  const k = o.paymentKey;
  const params = {
    outputId: o.outputId,
    modelId: o.modelId,
    network: k?.network ?? null,
    asset: k?.asset ?? null,
    payer: k?.payer ?? null,
    nonce: k?.nonce ?? null,
    recordZ: packRecord(o.record),
    recordHash: o.recordHash,
    epoch: o.epoch,
    createdAt: o.createdAt,
  };
  let inserted: boolean;
  try {
    if (db.d.updateInWith) {
      const pairs = JSON.stringify(creditedContributors(o.record).map((c) => [c, null]));
      inserted = (await db.exec.query(INSERT_OUTPUT_AND_CREDITS(db), { ...params, pairs })).rows.length === 1;
    } else {
      // A payment write: in SQLite it joins the turn's group commit (its own savepoint), not a commit of its own.
      inserted = await db.exec.write(async (tx) => {
        // The payment row's lock orders this against a concurrent settlement, so exactly one of
        // the two sees both the output and the settled status, and counts the credits once.
        const payment = k ? await tx.query(`SELECT status FROM payments WHERE ${PAYMENT_KEY_MATCH} ${db.d.forUpdate}`, keyParams(k)) : null;
        const { rows } = await tx.query(INSERT_OUTPUT, params);
        if (rows.length === 1 && payment?.rows[0]?.status === "settled") await countCredits(db, tx, o.record);
        return rows.length === 1;
      }, true);
    }
  } catch (e) {
    const kind = db.d.errorKind(e);
    if (kind === "foreign_key") throw new LedgerError("unknown_payment", `output ${o.outputId} names a payment the ledger does not hold`);
    if (kind === "unique") throw new LedgerError("payment_has_output", `the payment of output ${o.outputId} already bought another output`);
    throw e;
  }
  if (inserted) return;
  const existing = await getOutput(db, o.outputId);
  if (!existing || !sameOutput(existing, o))
    throw new LedgerError("output_conflict", `output ${o.outputId} exists with a different record`);
}

export async function getOutput(db: Db, outputId: string): Promise<OutputRecord | null> {
  const { rows } = await db.exec.query(`SELECT ${OUTPUT_COLUMNS} FROM outputs WHERE output_id = $outputId`, {
    outputId: norm.id("outputId", outputId),
  });
  return rows.length === 1 ? toOutput(rows[0]) : null;
}

export async function listUnassignedSettledOutputs(
  db: Db,
  modelId: string,
  limit?: number,
): Promise<Array<OutputRecord & { amount: string }>> {
  const { rows } = await db.exec.query(
    `SELECT ${OUTPUT_COLUMNS_O}, p.amount FROM outputs o
     JOIN payments p ON ${JOIN_PAYMENT}
     WHERE o.model_id = $modelId AND o.epoch IS NULL AND p.status = 'settled'
     ORDER BY o.created_at, o.output_id
     LIMIT $limit`,
    { modelId: norm.id("modelId", modelId), limit: norm.optionalLimit(limit) ?? db.d.noLimit },
  );
  return rows.map(toOutputWithAmount);
}

/**
 * Rows per statement of the big epoch reads and writes: 10,000 rows in one SQLite statement held
 * the event loop ~140 ms (list) and ~220 ms (assign) on a busy machine. An UPDATE costs more per
 * row (the row and two indexes rewritten): 250 took 30-85 ms each in a CPU profile of a loaded
 * soak's close, the longest stalls of it; a payment write waits behind one.
 */
const EPOCH_ROWS_PER_STATEMENT = 1000;
const EPOCH_UPDATES_PER_STATEMENT = 50;

/** Lets timers and I/O run between two statements of a long read or write (SQLite's are synchronous). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** In pages along the unassigned-outputs index (created_at, output_id), so no one statement reads 10,000 records. */
export async function listEpochCandidates(db: Db, modelId: string, limit: number): Promise<EpochCandidate[]> {
  const model = norm.id("modelId", modelId);
  const wanted = norm.optionalLimit(limit) ?? Number.MAX_SAFE_INTEGER;
  const out: EpochCandidate[] = [];
  let after = { at: -1, id: "" };
  while (out.length < wanted) {
    if (out.length > 0) await nextTurn();
    const page = Math.min(EPOCH_ROWS_PER_STATEMENT, wanted - out.length);
    const { rows } = await db.exec.query(
      `SELECT o.output_id, o.created_at, p.amount, o.record, o.record_z FROM outputs o
       JOIN payments p ON ${JOIN_PAYMENT}
       WHERE o.model_id = $modelId AND o.epoch IS NULL AND p.status = 'settled'
         AND (o.created_at > $afterAt OR (o.created_at = $afterAt AND o.output_id > $afterId))
       ORDER BY o.created_at, o.output_id
       LIMIT $limit`,
      { modelId: model, afterAt: after.at, afterId: after.id, limit: page },
    );
    for (const r of rows)
      out.push({
        outputId: String(r.output_id),
        amount: String(r.amount),
        record: r.record_z instanceof Uint8Array ? r.record_z : String(r.record ?? ""),
      });
    if (rows.length < page) break;
    const last = rows[rows.length - 1];
    after = { at: Number(last.created_at), id: String(last.output_id) };
  }
  return out;
}

/** Ids per statement when looking many up (a bound list parameter each). */
const IDS_PER_QUERY = 1000;

export async function outputEpochs(db: Db, outputIds: string[]): Promise<Map<string, number | null>> {
  const ids = norm.uniqueIds("outputIds", outputIds);
  const epochs = new Map<string, number | null>();
  for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
    const { rows } = await db.exec.query(`SELECT output_id, epoch FROM outputs WHERE ${db.d.inList("output_id", "$ids")}`, {
      ids: db.d.list(ids.slice(i, i + IDS_PER_QUERY)) as string,
    });
    for (const r of rows) epochs.set(String(r.output_id), r.epoch == null ? null : Number(r.epoch));
  }
  return epochs;
}

/** The outputs whose settled payment names `txHash` (a channel link's outputs), with their amounts and epochs. */
export async function listOutputsPaidIn(
  db: Db,
  txHash: string,
): Promise<Array<{ outputId: string; amount: string; epoch: number | null }>> {
  const { rows } = await db.exec.query(
    `SELECT o.output_id, p.amount, o.epoch FROM payments p
     JOIN outputs o ON ${JOIN_PAYMENT}
     WHERE p.tx_hash = $txHash AND p.status = 'settled'`,
    { txHash: norm.id("txHash", txHash.toLowerCase()) },
  );
  return rows.map((r) => ({ outputId: String(r.output_id), amount: String(r.amount), epoch: r.epoch == null ? null : Number(r.epoch) }));
}

/**
 * All-or-nothing, yet in statements of EPOCH_UPDATES_PER_STATEMENT ids that commit on their own:
 * one transaction of 10,000 ids held SQLite's single writer (and every payment write queued behind
 * it) for the whole assignment. A statement that updates fewer rows than it names (an output
 * unknown, not settled, or in another epoch) takes every one of them out of the epoch again before
 * throwing (those of an earlier, interrupted attempt too). A crash in
 * between leaves some of the epoch's outputs assigned to its row: the closer finishes that row
 * first on its next run (assigning the rest), and no epoch is built while one is unfinished.
 * Durability: each statement commits, and the epoch row's next write fsyncs them with it.
 */
export async function assignOutputsToEpoch(db: Db, outputIds: string[], epoch: number): Promise<void> {
  const ids = norm.uniqueIds("outputIds", outputIds);
  const e = norm.uint("epoch", epoch);
  for (let i = 0; i < ids.length; i += EPOCH_UPDATES_PER_STATEMENT) {
    if (i > 0) await nextTurn();
    const chunk = ids.slice(i, i + EPOCH_UPDATES_PER_STATEMENT);
    // Row locks (PostgreSQL) or the write lock (SQLite) order competing statements: the later one
    // re-checks `epoch IS NULL` and updates fewer rows.
    const { changes } = await db.exec.query(
      `UPDATE outputs SET epoch = $epoch
       WHERE ${db.d.inList("output_id", "$ids")} AND (epoch IS NULL OR epoch = $epoch)
         AND EXISTS (SELECT 1 FROM payments p WHERE p.network = outputs.network AND p.asset = outputs.asset
                     AND p.payer = outputs.payer AND p.nonce = outputs.nonce AND p.status = 'settled')`,
      { epoch: e, ids: db.d.list(chunk) as string },
    );
    if (changes === chunk.length) continue;
    const reason = await firstUnassignable(db, ids, e);
    await unassign(db, ids, e);
    throw new LedgerError("output_not_assignable", reason);
  }
}

/** Undoes an assignment that failed part-way: the given outputs leave `epoch` (others' epochs untouched). */
async function unassign(db: Db, ids: string[], epoch: number): Promise<void> {
  for (let i = 0; i < ids.length; i += EPOCH_UPDATES_PER_STATEMENT) {
    if (i > 0) await nextTurn();
    await db.exec.query(`UPDATE outputs SET epoch = NULL WHERE ${db.d.inList("output_id", "$ids")} AND epoch = $epoch`, {
      ids: db.d.list(ids.slice(i, i + EPOCH_UPDATES_PER_STATEMENT)) as string,
      epoch,
    });
  }
}

async function firstUnassignable(db: Db, ids: string[], epoch: number): Promise<string> {
  const { rows } = await db.exec.query(`SELECT output_id FROM outputs WHERE ${db.d.inList("output_id", "$ids")} AND epoch = $epoch`, {
    ids: db.d.list(ids) as string,
    epoch,
  });
  const assigned = new Set(rows.map((r) => String(r.output_id)));
  const missing = ids.find((id) => !assigned.has(id));
  return `output ${missing} is unknown, not settled, or already in another epoch`;
}

export async function listEpochOutputs(db: Db, modelId: string, epoch: number): Promise<Array<OutputRecord & { amount: string | null }>> {
  const { rows } = await db.exec.query(
    `SELECT ${OUTPUT_COLUMNS_O}, p.amount FROM outputs o
     LEFT JOIN payments p ON ${JOIN_PAYMENT}
     WHERE o.model_id = $modelId AND o.epoch = $epoch
     ORDER BY o.created_at, o.output_id`,
    { modelId: norm.id("modelId", modelId), epoch: norm.uint("epoch", epoch) },
  );
  return rows.map(toOutputWithOptionalAmount);
}

/** The attribution records (canonical JSON) of the given outputs, by output id; unknown ids are left out. */
export async function getOutputRecords(db: Db, outputIds: string[]): Promise<Record<string, string>> {
  const ids = norm.uniqueIds("outputIds", outputIds);
  if (ids.length === 0) return {};
  const { rows } = await db.exec.query(`SELECT output_id, record, record_z FROM outputs WHERE ${db.d.inList("output_id", "$ids")}`, {
    ids: db.d.list(ids) as string,
  });
  return Object.fromEntries(rows.map((r) => [String(r.output_id), recordText(r) ?? ""]));
}

export async function getOutputPaymentKeys(db: Db, outputIds: string[]): Promise<Record<string, PaymentKey>> {
  const ids = norm.uniqueIds("outputIds", outputIds);
  if (ids.length === 0) return {};
  const { rows } = await db.exec.query(
    `SELECT output_id, network, asset, payer, nonce FROM outputs WHERE nonce IS NOT NULL AND ${db.d.inList("output_id", "$ids")}`,
    { ids: db.d.list(ids) as string },
  );
  const key = (r: Record<string, unknown>): PaymentKey => ({
    network: String(r.network),
    asset: String(r.asset),
    payer: String(r.payer),
    nonce: String(r.nonce),
  });
  return Object.fromEntries(rows.map((r) => [String(r.output_id), key(r)]));
}
