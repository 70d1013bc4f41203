// The scale-out ledger: PostgreSQL through a pg Pool, shared by several server instances.
// Every money-path write is a single statement whose WHERE/ON CONFLICT clause decides the
// race inside the database (unique key for reserve, compare-and-set on status for
// transition), so instances need no coordination of their own.
import { createHash } from "node:crypto";
import pg from "pg";
import { LedgerError } from "./errors.ts";
import { assertOrdered, postgresMigrations, type Migration } from "./migrations.ts";
import * as norm from "./normalize.ts";
import {
  CONTRIBUTION_COLUMNS,
  EPOCH_COLUMNS,
  OUTPUT_COLUMNS,
  OUTPUT_COLUMNS_O,
  HELD_OUTPUT_COLUMNS,
  HELD_OUTPUT_COLUMNS_H,
  PAYMENT_COLUMNS,
  PAYMENT_COLUMNS_P,
  sameOutput, toContribution, toEpoch, toHeldOutput, toJoinedPayment, toOutput, toOutputWithAmount, toOutputWithOptionalAmount, toPayment } from "./rows.ts";
import { assertTransition, isPaymentStatus } from "./transitions.ts";
import type {
  ContributionRecord,
  EpochRecord,
  HeldOutput,
  Ledger,
  OutputRecord,
  PaymentKey,
  PaymentRecord,
  PaymentStatus,
  ReserveResult,
} from "./types.ts";

export interface PostgresLedgerOptions {
  /** postgres://user:pass@host:port/db (never logged). */
  connectionString: string;
  /** Schema holding the tables (created by migrate); default "public". */
  schema?: string;
  /** Pool size per instance (default 10). */
  poolSize?: number;
  /** Server-side statement timeout (default 30000 ms): a stuck query fails instead of hanging a request. */
  statementTimeoutMs?: number;
  /** Clock for createdAt/updatedAt (ms). */
  now?: () => number;
  /** Migration list (tests substitute their own); default: postgresMigrations. */
  migrations?: readonly Migration[];
  /** application_name of the connections, as pg_stat_activity shows them (default "royalty402-ledger"). */
  applicationName?: string;
  /** Errors of idle pooled connections (e.g. the server restarted); the pool reconnects by itself. */
  onPoolError?: (err: Error) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const PAYMENT_KEY_MATCH = "network = $1 AND asset = $2 AND payer = $3 AND nonce = $4";

function keyValues(k: PaymentKey): string[] {
  return [k.network, k.asset, k.payer, k.nonce];
}

/** A stable signed 64-bit advisory-lock key per schema, so separate schemas migrate independently. */
function migrationLockKey(schema: string): string {
  const digest = createHash("sha256").update(`royalty402.ledger.migrate:${schema}`).digest();
  return digest.readBigInt64BE(0).toString();
}

export class PostgresLedger implements Ledger {
  readonly backend = "postgres" as const;
  readonly schema: string;
  private readonly pool: pg.Pool;
  private readonly now: () => number;
  private readonly migrations: readonly Migration[];
  private closed = false;

  constructor(options: PostgresLedgerOptions) {
    if (!/^postgres(ql)?:\/\//.test(options.connectionString)) {
      throw new LedgerError("unsupported_database_url", "the PostgreSQL ledger needs a postgres:// or postgresql:// URL");
    }
    this.schema = options.schema ?? "public";
    if (!SCHEMA_NAME.test(this.schema)) throw new LedgerError("invalid_input", "schema must be a lower-case SQL identifier");
    this.now = options.now ?? Date.now;
    this.migrations = options.migrations ?? postgresMigrations;
    assertOrdered(this.migrations);
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      application_name: options.applicationName ?? "royalty402-ledger",
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      // Unqualified table names resolve to our schema on every pooled connection.
      options: `-c search_path=${this.schema}`,
    });
    // Without a listener an idle connection's error (server restart) would crash the process.
    this.pool.on("error", (err) => options.onPoolError?.(err));
  }

  private async query(text: string, values: unknown[] = [], name?: string): Promise<Record<string, unknown>[]> {
    if (this.closed) throw new LedgerError("ledger_closed", "the PostgreSQL ledger is closed");
    const result = await this.pool.query(name ? { name, text, values } : { text, values });
    return result.rows;
  }

  /** Runs fn in one transaction on one pooled connection. */
  private async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.closed) throw new LedgerError("ledger_closed", "the PostgreSQL ledger is closed");
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const result = await fn(client);
      await client.query("COMMIT");
      return result;
    } catch (e) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async migrate(): Promise<void> {
    await this.transaction(async (client) => {
      // Held until COMMIT: instances starting together migrate one after the other.
      await client.query("SELECT pg_advisory_xact_lock($1::bigint)", [migrationLockKey(this.schema)]);
      const exists = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [this.schema]);
      // Only create when missing: CREATE SCHEMA needs a privilege a managed database may not grant.
      if (exists.rowCount === 0) await client.query(`CREATE SCHEMA "${this.schema}"`);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
      const applied = new Map(
        (await client.query("SELECT version, name FROM schema_migrations")).rows.map((r) => [Number(r.version), String(r.name)]),
      );
      for (const m of this.migrations) {
        const name = applied.get(m.version);
        if (name !== undefined) {
          if (name !== m.name) throw new LedgerError("migration_mismatch", `version ${m.version} is "${name}" in the database, "${m.name}" in code`);
          continue;
        }
        await client.query(m.sql);
        await client.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [m.version, m.name, this.now()]);
      }
    });
  }

  /** Versions recorded in schema_migrations, ascending. */
  async appliedMigrations(): Promise<Array<{ version: number; name: string }>> {
    const rows = await this.query("SELECT version, name FROM schema_migrations ORDER BY version");
    return rows.map((r) => ({ version: Number(r.version), name: String(r.name) }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  async reserve(input: norm.ReserveInput): Promise<ReserveResult> {
    const p = norm.reserveInput(input);
    const now = this.now();
    const inserted = await this.query(
      `INSERT INTO payments (network, asset, payer, nonce, pay_to, amount, model_id, output_id, status, tx_hash, error_reason, payload, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'reserved', NULL, NULL, $9, $10, $10)
       ON CONFLICT (network, asset, payer, nonce) DO NOTHING
       RETURNING ${PAYMENT_COLUMNS}`,
      [...keyValues(p), p.payTo, p.amount, p.modelId, p.outputId, p.payload, now],
      "ledger_reserve",
    );
    if (inserted.length === 1) return { reserved: true, payment: toPayment(inserted[0]) };
    // Lost the race (or a replay). The winner committed before ON CONFLICT saw its row, and
    // payments are never deleted, so this read finds it.
    const existing = await this.getPayment(p);
    if (!existing) throw new Error("ledger invariant broken: conflicting payment row not found");
    return { reserved: false, existing };
  }

  async transition(
    key: PaymentKey,
    from: PaymentStatus[],
    to: PaymentStatus,
    fields?: norm.TransitionFields,
  ): Promise<PaymentRecord | null> {
    const k = norm.paymentKey(key);
    assertTransition(from, to);
    const f = norm.transitionFields(fields);
    const rows = await this.query(
      `UPDATE payments SET
         status = $5,
         updated_at = GREATEST(updated_at, $6::bigint),
         tx_hash = CASE WHEN $7::boolean THEN $8::text ELSE tx_hash END,
         error_reason = CASE WHEN $9::boolean THEN $10::text ELSE error_reason END,
         output_id = CASE WHEN $11::boolean THEN $12::text ELSE output_id END
       WHERE ${PAYMENT_KEY_MATCH} AND status = ANY($13::text[])
       RETURNING ${PAYMENT_COLUMNS}`,
      [
        ...keyValues(k),
        to,
        this.now(),
        f.txHash !== undefined,
        f.txHash ?? null,
        f.errorReason !== undefined,
        f.errorReason ?? null,
        f.outputId !== undefined,
        f.outputId ?? null,
        from,
      ],
      "ledger_transition",
    );
    return rows.length === 1 ? toPayment(rows[0]) : null;
  }

  async getPayment(key: PaymentKey): Promise<PaymentRecord | null> {
    const k = norm.paymentKey(key);
    const rows = await this.query(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE ${PAYMENT_KEY_MATCH}`, keyValues(k), "ledger_get_payment");
    return rows.length === 1 ? toPayment(rows[0]) : null;
  }

  async listPayments(q: Parameters<Ledger["listPayments"]>[0]): Promise<PaymentRecord[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const shape: string[] = [];
    if (q?.status !== undefined) {
      if (!Array.isArray(q.status) || !q.status.every(isPaymentStatus)) throw new LedgerError("invalid_input", "status must be a list of payment statuses");
      if (q.status.length === 0) return [];
      values.push(q.status);
      where.push(`status = ANY($${values.length}::text[])`);
      shape.push("s");
    }
    if (q?.modelId !== undefined) {
      values.push(norm.id("modelId", q.modelId));
      where.push(`model_id = $${values.length}`);
      shape.push("m");
    }
    if (q?.afterUpdatedAt !== undefined) {
      values.push(norm.uint("afterUpdatedAt", q.afterUpdatedAt));
      where.push(`updated_at > $${values.length}`);
      shape.push("a");
    }
    const dir = q?.order === "desc" ? "DESC" : "ASC";
    values.push(norm.listLimit(q?.limit));
    const rows = await this.query(
      `SELECT ${PAYMENT_COLUMNS} FROM payments ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY updated_at ${dir}, network ${dir}, asset ${dir}, payer ${dir}, nonce ${dir}
       LIMIT $${values.length}`,
      values,
      `ledger_list_payments_${shape.join("")}_${dir}`,
    );
    return rows.map(toPayment);
  }

  async putOutput(input: OutputRecord): Promise<void> {
    const o = norm.output(input);
    const k = o.paymentKey;
    let inserted: Record<string, unknown>[];
    try {
      inserted = await this.query(
        `INSERT INTO outputs (output_id, model_id, network, asset, payer, nonce, record, record_hash, epoch, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (output_id) DO NOTHING
         RETURNING output_id`,
        [o.outputId, o.modelId, k?.network ?? null, k?.asset ?? null, k?.payer ?? null, k?.nonce ?? null, o.record, o.recordHash, o.epoch, o.createdAt],
        "ledger_put_output",
      );
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === "23503") throw new LedgerError("unknown_payment", `output ${o.outputId} names a payment the ledger does not hold`);
      if (code === "23505") throw new LedgerError("payment_has_output", `the payment of output ${o.outputId} already bought another output`);
      throw e;
    }
    if (inserted.length === 1) return;
    const existing = await this.getOutput(o.outputId);
    if (!existing || !sameOutput(existing, o)) throw new LedgerError("output_conflict", `output ${o.outputId} exists with a different record`);
  }

  async getOutput(outputId: string): Promise<OutputRecord | null> {
    const rows = await this.query(`SELECT ${OUTPUT_COLUMNS} FROM outputs WHERE output_id = $1`, [norm.id("outputId", outputId)], "ledger_get_output");
    return rows.length === 1 ? toOutput(rows[0]) : null;
  }

  async listUnassignedSettledOutputs(modelId: string, limit?: number): Promise<Array<OutputRecord & { amount: string }>> {
    const rows = await this.query(
      `SELECT ${OUTPUT_COLUMNS_O}, p.amount FROM outputs o
       JOIN payments p ON p.network = o.network AND p.asset = o.asset AND p.payer = o.payer AND p.nonce = o.nonce
       WHERE o.model_id = $1 AND o.epoch IS NULL AND p.status = 'settled'
       ORDER BY o.created_at, o.output_id
       LIMIT $2`,
      [norm.id("modelId", modelId), norm.optionalLimit(limit)], // LIMIT NULL = all rows
      "ledger_unassigned_outputs",
    );
    return rows.map(toOutputWithAmount);
  }

  async assignOutputsToEpoch(outputIds: string[], epoch: number): Promise<void> {
    const ids = norm.uniqueIds("outputIds", outputIds);
    const e = norm.uint("epoch", epoch);
    if (ids.length === 0) return;
    await this.transaction(async (client) => {
      // Row locks serialise competing assigners; the loser re-checks `epoch IS NULL` after
      // the winner commits, updates fewer rows, and rolls back.
      const result = await client.query(
        `UPDATE outputs o SET epoch = $2
         FROM payments p
         WHERE o.output_id = ANY($1::text[]) AND (o.epoch IS NULL OR o.epoch = $2)
           AND p.network = o.network AND p.asset = o.asset AND p.payer = o.payer AND p.nonce = o.nonce
           AND p.status = 'settled'
         RETURNING o.output_id`,
        [ids, e],
      );
      if (result.rowCount !== ids.length) {
        const assigned = new Set(result.rows.map((r) => String(r.output_id)));
        const missing = ids.find((id) => !assigned.has(id));
        throw new LedgerError("output_not_assignable", `output ${missing} is unknown, not settled, or already in another epoch`);
      }
    });
  }

  async listEpochOutputs(modelId: string, epoch: number): Promise<Array<OutputRecord & { amount: string | null }>> {
    const rows = await this.query(
      `SELECT ${OUTPUT_COLUMNS_O}, p.amount FROM outputs o
       LEFT JOIN payments p ON p.network = o.network AND p.asset = o.asset AND p.payer = o.payer AND p.nonce = o.nonce
       WHERE o.model_id = $1 AND o.epoch = $2
       ORDER BY o.created_at, o.output_id`,
      [norm.id("modelId", modelId), norm.uint("epoch", epoch)],
      "ledger_epoch_outputs",
    );
    return rows.map(toOutputWithOptionalAmount);
  }

  async holdOutput(input: HeldOutput): Promise<void> {
    const h = norm.heldOutput(input);
    let inserted: Record<string, unknown>[];
    try {
      inserted = await this.query(
        `INSERT INTO held_outputs (${HELD_OUTPUT_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT DO NOTHING
         RETURNING output_id`,
        [...keyValues(h), h.outputId, h.tokenHash, h.statusCode, h.contentType, Buffer.from(h.body.buffer, h.body.byteOffset, h.body.byteLength), h.createdAt],
        "ledger_hold_output",
      );
    } catch (e) {
      if ((e as { code?: string }).code === "23503") throw new LedgerError("unknown_payment", `held output ${h.outputId} names a payment the ledger does not hold`);
      throw e;
    }
    if (inserted.length === 1) return;
    const existing = await this.query(`SELECT output_id FROM held_outputs WHERE ${PAYMENT_KEY_MATCH}`, keyValues(h), "ledger_held_output_of_payment");
    if (existing[0]?.output_id !== h.outputId) throw new LedgerError("output_conflict", `output ${h.outputId} conflicts with an output already held`);
  }

  async getHeldOutput(outputId: string): Promise<{ output: HeldOutput; payment: PaymentRecord } | null> {
    const rows = await this.query(
      `SELECT ${HELD_OUTPUT_COLUMNS_H}, ${PAYMENT_COLUMNS_P} FROM held_outputs h
       JOIN payments p ON p.network = h.network AND p.asset = h.asset AND p.payer = h.payer AND p.nonce = h.nonce
       WHERE h.output_id = $1`,
      [norm.id("outputId", outputId)],
      "ledger_get_held_output",
    );
    return rows.length === 1 ? { output: toHeldOutput(rows[0]), payment: toJoinedPayment(rows[0]) } : null;
  }

  async putEpoch(input: EpochRecord): Promise<void> {
    const e = norm.epoch(input);
    const rows = await this.query(
      `INSERT INTO epochs (splitter, epoch, claims_root, records_root, cumulative_allocated, uri, tx_hash, status, document, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (splitter, epoch) DO UPDATE SET
         claims_root = excluded.claims_root, records_root = excluded.records_root,
         cumulative_allocated = excluded.cumulative_allocated, uri = excluded.uri, tx_hash = excluded.tx_hash,
         status = excluded.status, document = excluded.document
       WHERE epochs.status = 'built'
          OR (epochs.claims_root = excluded.claims_root AND epochs.records_root = excluded.records_root
              AND epochs.cumulative_allocated = excluded.cumulative_allocated)
       RETURNING splitter`,
      [e.splitter, e.epoch, e.claimsRoot, e.recordsRoot, e.cumulativeAllocated, e.uri, e.txHash, e.status, e.document, e.createdAt],
      "ledger_put_epoch",
    );
    if (rows.length === 0) throw new LedgerError("epoch_conflict", `epoch ${e.epoch} of ${e.splitter} was posted with other roots`);
  }

  async getEpoch(splitter: string, epoch: number): Promise<EpochRecord | null> {
    const rows = await this.query(
      `SELECT ${EPOCH_COLUMNS} FROM epochs WHERE splitter = $1 AND epoch = $2`,
      [norm.address("splitter", splitter), norm.uint("epoch", epoch)],
      "ledger_get_epoch",
    );
    return rows.length === 1 ? toEpoch(rows[0]) : null;
  }

  async listEpochs(splitter?: string): Promise<EpochRecord[]> {
    const rows =
      splitter === undefined
        ? await this.query(`SELECT ${EPOCH_COLUMNS} FROM epochs ORDER BY splitter, epoch`, [], "ledger_list_epochs")
        : await this.query(`SELECT ${EPOCH_COLUMNS} FROM epochs WHERE splitter = $1 ORDER BY epoch`, [norm.address("splitter", splitter)], "ledger_list_epochs_of");
    return rows.map(toEpoch);
  }

  async addContribution(input: Omit<ContributionRecord, "seq" | "createdAt">): Promise<ContributionRecord> {
    const c = norm.contribution(input);
    // One statement: the counter row's lock orders concurrent adders until commit, and a
    // failed insert rolls the counter back with it, so seq has no gaps or duplicates.
    const rows = await this.query(
      `WITH s AS (
         INSERT INTO datanet_seq (datanet_id, next_seq) VALUES ($1, 1)
         ON CONFLICT (datanet_id) DO UPDATE SET next_seq = datanet_seq.next_seq + 1
         RETURNING next_seq - 1 AS seq
       )
       INSERT INTO contributions (datanet_id, seq, contributor, content_hash, text, created_at)
       SELECT $1, s.seq, $2, $3, $4, $5 FROM s
       RETURNING ${CONTRIBUTION_COLUMNS}`,
      [c.datanetId, c.contributor, c.contentHash, c.text, this.now()],
      "ledger_add_contribution",
    );
    return toContribution(rows[0]);
  }

  async listContributions(datanetId: string): Promise<ContributionRecord[]> {
    const rows = await this.query(
      `SELECT ${CONTRIBUTION_COLUMNS} FROM contributions WHERE datanet_id = $1 ORDER BY seq`,
      [norm.id("datanetId", datanetId)],
      "ledger_list_contributions",
    );
    return rows.map(toContribution);
  }
}
