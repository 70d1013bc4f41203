// The embedded ledger: SQLite in one file through node:sqlite. Several processes may open
// the same file: WAL lets readers run beside the single writer, busy_timeout makes a writer
// wait for the lock instead of failing, and every write is one statement or one
// BEGIN IMMEDIATE transaction, so the unique key (network, asset, payer, nonce) decides
// exactly one reserver. Calls are synchronous underneath, so within one process two calls
// never interleave; the async signatures match the PostgreSQL ledger.
// Group commit: the payment writes (reserve, transition) issued in one turn of the event loop
// run in one transaction, so a batch of settlements costs one fsync, not one per payment, and
// synchronous=FULL stays the default. Each call resolves only after its commit.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { LedgerError } from "./errors.ts";
import { assertOrdered, sqliteMigrations, type Migration } from "./migrations.ts";
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

export interface SqliteLedgerOptions {
  /** Database file; its folder is created if missing. */
  path: string;
  /** How long a writer waits for another connection's lock (default 5000 ms). */
  busyTimeoutMs?: number;
  /**
   * FULL (default): every commit is fsynced before reserve()/transition() return, so a
   * reservation or settlement survives power loss, not only a process crash. NORMAL in WAL
   * mode survives kill -9 but may lose the last commits on power loss: use it only where a
   * lost reservation is acceptable (benchmarks, throwaway nodes).
   */
  synchronous?: "FULL" | "NORMAL";
  /** Clock for createdAt/updatedAt (ms). */
  now?: () => number;
  /** Migration list (tests substitute their own); default: sqliteMigrations. */
  migrations?: readonly Migration[];
}

type Params = Record<string, string | number | null>;

// SQLite extended result codes (https://sqlite.org/rescode.html).
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

const PAYMENT_KEY_MATCH = "network = $network AND asset = $asset AND payer = $payer AND nonce = $nonce";

export class SqliteLedger implements Ledger {
  readonly backend = "sqlite" as const;
  readonly path: string;
  private db: DatabaseSync | null;
  private readonly statements = new Map<string, StatementSync>();
  private readonly now: () => number;
  private readonly migrations: readonly Migration[];

  constructor(options: SqliteLedgerOptions) {
    this.path = options.path === ":memory:" ? options.path : resolve(options.path);
    this.now = options.now ?? Date.now;
    this.migrations = options.migrations ?? sqliteMigrations;
    assertOrdered(this.migrations);
    if (this.path !== ":memory:") mkdirSync(dirname(this.path), { recursive: true });
    const db = new DatabaseSync(this.path);
    try {
      // busy_timeout first: switching to WAL needs a lock another process may hold right now.
      db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
      const mode = db.prepare("PRAGMA journal_mode = WAL").get() as { journal_mode: string };
      if (this.path !== ":memory:" && mode.journal_mode.toLowerCase() !== "wal") {
        throw new Error(`SQLite refused WAL mode (got ${mode.journal_mode}) for ${this.path}`);
      }
      db.exec(`PRAGMA synchronous = ${options.synchronous === "NORMAL" ? "NORMAL" : "FULL"}`);
      db.exec("PRAGMA foreign_keys = ON");
    } catch (e) {
      db.close();
      throw e;
    }
    this.db = db;
  }

  /** Commits of payment writes (a group counts once), for tests and metrics. */
  readonly stats = { commits: 0 };
  private group: Array<{ run: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }> = [];
  private groupScheduled = false;

  /** Queues a write for the next group commit (see the header). */
  private grouped<T>(run: () => T): Promise<T> {
    this.handle();
    return new Promise<T>((resolve, reject) => {
      this.group.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (!this.groupScheduled) {
        this.groupScheduled = true;
        setImmediate(() => this.commitGroup());
      }
    });
  }

  private commitGroup(): void {
    this.groupScheduled = false;
    const ops = this.group.splice(0);
    if (ops.length === 0) return;
    if (!this.db) {
      for (const op of ops) op.reject(new LedgerError("ledger_closed", "the SQLite ledger is closed"));
      return;
    }
    if (ops.length === 1) {
      const [op] = ops;
      try {
        const value = op.run();
        this.stats.commits++;
        op.resolve(value);
      } catch (e) {
        op.reject(e);
      }
      return;
    }
    const db = this.db;
    try {
      db.exec("BEGIN IMMEDIATE");
    } catch (e) {
      for (const op of ops) op.reject(e);
      return;
    }
    // A failing statement (e.g. a constraint) undoes only itself; the others still commit.
    const results = ops.map((op) => {
      try {
        return { ok: true as const, value: op.run() };
      } catch (error) {
        return { ok: false as const, error };
      }
    });
    try {
      db.exec("COMMIT");
    } catch (e) {
      try {
        db.exec("ROLLBACK");
      } catch {}
      for (const op of ops) op.reject(e);
      return;
    }
    this.stats.commits++;
    ops.forEach((op, i) => {
      const r = results[i];
      if (r.ok) op.resolve(r.value);
      else op.reject(r.error);
    });
  }

  private handle(): DatabaseSync {
    if (!this.db) throw new LedgerError("ledger_closed", "the SQLite ledger is closed");
    return this.db;
  }

  /** Prepared once per connection, reused for every call. */
  private stmt(sql: string): StatementSync {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.handle().prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** BEGIN IMMEDIATE takes the write lock up front, so the transaction never fails half-way on a lock upgrade. */
  private immediate<T>(fn: () => T): T {
    const db = this.handle();
    db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      db.exec("COMMIT");
      return result;
    } catch (e) {
      // Keep the original error even if the transaction is already gone.
      try {
        db.exec("ROLLBACK");
      } catch {}
      throw e;
    }
  }

  async migrate(): Promise<void> {
    const db = this.handle();
    this.immediate(() => {
      db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
      const applied = new Map(
        (db.prepare("SELECT version, name FROM schema_migrations").all() as Array<{ version: number; name: string }>).map((r) => [
          r.version,
          r.name,
        ]),
      );
      for (const m of this.migrations) {
        const name = applied.get(m.version);
        if (name !== undefined) {
          if (name !== m.name) throw new LedgerError("migration_mismatch", `version ${m.version} is "${name}" in the database, "${m.name}" in code`);
          continue;
        }
        db.exec(m.sql);
        db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(m.version, m.name, this.now());
      }
    });
    // The schema may have changed under statements prepared earlier.
    this.statements.clear();
  }

  /** The connection's durability settings as SQLite reports them (for /healthz and tests). */
  settings(): { journalMode: string; synchronous: "OFF" | "NORMAL" | "FULL" | "EXTRA"; busyTimeoutMs: number; foreignKeys: boolean } {
    const db = this.handle();
    const pragma = (name: string) => Object.values(db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>)[0];
    return {
      journalMode: String(pragma("journal_mode")),
      synchronous: (["OFF", "NORMAL", "FULL", "EXTRA"] as const)[Number(pragma("synchronous"))],
      busyTimeoutMs: Number(pragma("busy_timeout")),
      foreignKeys: Number(pragma("foreign_keys")) === 1,
    };
  }

  /** Versions recorded in schema_migrations, ascending. */
  async appliedMigrations(): Promise<Array<{ version: number; name: string }>> {
    return this.handle().prepare("SELECT version, name FROM schema_migrations ORDER BY version").all() as Array<{ version: number; name: string }>;
  }

  async close(): Promise<void> {
    if (!this.db) return;
    this.commitGroup(); // writes already issued are kept
    this.statements.clear();
    this.db.close();
    this.db = null;
  }

  async reserve(input: norm.ReserveInput): Promise<ReserveResult> {
    const p = norm.reserveInput(input);
    const now = this.now();
    return this.grouped(() => this.insertReservation(p, now));
  }

  private insertReservation(p: ReturnType<typeof norm.reserveInput>, now: number): ReserveResult {
    const row = this.stmt(
      `INSERT INTO payments (network, asset, payer, nonce, pay_to, amount, model_id, output_id, status, tx_hash, error_reason, payload, created_at, updated_at)
       VALUES ($network, $asset, $payer, $nonce, $payTo, $amount, $modelId, $outputId, 'reserved', NULL, NULL, $payload, $now, $now)
       ON CONFLICT (network, asset, payer, nonce) DO NOTHING
       RETURNING ${PAYMENT_COLUMNS}`,
    ).get({ ...p, now } as Params);
    if (row) return { reserved: true, payment: toPayment(row) };
    // Lost the race (or a replay): payments are never deleted, so the winner's row is there.
    const existing = this.selectPayment(p);
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
    const now = this.now();
    return this.grouped(() => this.updateStatus(k, from, to, f, now));
  }

  private updateStatus(k: PaymentKey, from: PaymentStatus[], to: PaymentStatus, f: ReturnType<typeof norm.transitionFields>, now: number): PaymentRecord | null {
    const row = this.stmt(
      `UPDATE payments SET
         status = $to,
         updated_at = MAX(updated_at, $now),
         tx_hash = CASE WHEN $setTxHash THEN $txHash ELSE tx_hash END,
         error_reason = CASE WHEN $setErrorReason THEN $errorReason ELSE error_reason END,
         output_id = CASE WHEN $setOutputId THEN $outputId ELSE output_id END
       WHERE ${PAYMENT_KEY_MATCH} AND status IN (SELECT value FROM json_each($from))
       RETURNING ${PAYMENT_COLUMNS}`,
    ).get({
      ...k,
      to,
      from: JSON.stringify(from),
      now,
      setTxHash: f.txHash === undefined ? 0 : 1,
      txHash: f.txHash ?? null,
      setErrorReason: f.errorReason === undefined ? 0 : 1,
      errorReason: f.errorReason ?? null,
      setOutputId: f.outputId === undefined ? 0 : 1,
      outputId: f.outputId ?? null,
    } as Params);
    return row ? toPayment(row) : null;
  }

  private selectPayment(k: PaymentKey): PaymentRecord | null {
    const row = this.stmt(`SELECT ${PAYMENT_COLUMNS} FROM payments WHERE ${PAYMENT_KEY_MATCH}`).get({ network: k.network, asset: k.asset, payer: k.payer, nonce: k.nonce });
    return row ? toPayment(row) : null;
  }

  async getPayment(key: PaymentKey): Promise<PaymentRecord | null> {
    return this.selectPayment(norm.paymentKey(key));
  }

  async listPayments(q: Parameters<Ledger["listPayments"]>[0]): Promise<PaymentRecord[]> {
    const where: string[] = [];
    const params: Params = { limit: norm.listLimit(q?.limit) };
    if (q?.status !== undefined) {
      if (!Array.isArray(q.status) || !q.status.every(isPaymentStatus)) throw new LedgerError("invalid_input", "status must be a list of payment statuses");
      if (q.status.length === 0) return [];
      where.push("status IN (SELECT value FROM json_each($statuses))");
      params.statuses = JSON.stringify(q.status);
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
    const rows = this.stmt(
      `SELECT ${PAYMENT_COLUMNS} FROM payments ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
       ORDER BY updated_at ${dir}, network ${dir}, asset ${dir}, payer ${dir}, nonce ${dir}
       LIMIT $limit`,
    ).all(params);
    return rows.map(toPayment);
  }

  async putOutput(input: OutputRecord): Promise<void> {
    const o = norm.output(input);
    const k = o.paymentKey;
    let inserted: unknown;
    try {
      inserted = this.stmt(
        `INSERT INTO outputs (output_id, model_id, network, asset, payer, nonce, record, record_hash, epoch, created_at)
         VALUES ($outputId, $modelId, $network, $asset, $payer, $nonce, $record, $recordHash, $epoch, $createdAt)
         ON CONFLICT (output_id) DO NOTHING
         RETURNING output_id`,
      ).get({
        outputId: o.outputId,
        modelId: o.modelId,
        network: k?.network ?? null,
        asset: k?.asset ?? null,
        payer: k?.payer ?? null,
        nonce: k?.nonce ?? null,
        record: o.record,
        recordHash: o.recordHash,
        epoch: o.epoch,
        createdAt: o.createdAt,
      });
    } catch (e) {
      const code = (e as { errcode?: number }).errcode;
      if (code === SQLITE_CONSTRAINT_FOREIGNKEY) throw new LedgerError("unknown_payment", `output ${o.outputId} names a payment the ledger does not hold`);
      if (code === SQLITE_CONSTRAINT_UNIQUE) throw new LedgerError("payment_has_output", `the payment of output ${o.outputId} already bought another output`);
      throw e;
    }
    if (inserted) return;
    const existing = await this.getOutput(o.outputId);
    if (!existing || !sameOutput(existing, o)) throw new LedgerError("output_conflict", `output ${o.outputId} exists with a different record`);
  }

  async getOutput(outputId: string): Promise<OutputRecord | null> {
    const row = this.stmt(`SELECT ${OUTPUT_COLUMNS} FROM outputs WHERE output_id = $outputId`).get({ outputId: norm.id("outputId", outputId) });
    return row ? toOutput(row) : null;
  }

  async listUnassignedSettledOutputs(modelId: string, limit?: number): Promise<Array<OutputRecord & { amount: string }>> {
    const rows = this.stmt(
      `SELECT ${OUTPUT_COLUMNS_O}, p.amount FROM outputs o
       JOIN payments p ON p.network = o.network AND p.asset = o.asset AND p.payer = o.payer AND p.nonce = o.nonce
       WHERE o.model_id = $modelId AND o.epoch IS NULL AND p.status = 'settled'
       ORDER BY o.created_at, o.output_id
       LIMIT $limit`,
    ).all({ modelId: norm.id("modelId", modelId), limit: norm.optionalLimit(limit) ?? -1 });
    return rows.map(toOutputWithAmount);
  }

  async assignOutputsToEpoch(outputIds: string[], epoch: number): Promise<void> {
    const ids = norm.uniqueIds("outputIds", outputIds);
    const e = norm.uint("epoch", epoch);
    if (ids.length === 0) return;
    this.immediate(() => {
      const assign = this.stmt(
        `UPDATE outputs SET epoch = $epoch
         WHERE output_id = $outputId AND (epoch IS NULL OR epoch = $epoch)
           AND EXISTS (SELECT 1 FROM payments p WHERE p.network = outputs.network AND p.asset = outputs.asset
                       AND p.payer = outputs.payer AND p.nonce = outputs.nonce AND p.status = 'settled')`,
      );
      for (const outputId of ids) {
        if (Number(assign.run({ epoch: e, outputId }).changes) !== 1) {
          throw new LedgerError("output_not_assignable", `output ${outputId} is unknown, not settled, or already in another epoch`);
        }
      }
    });
  }

  async listEpochOutputs(modelId: string, epoch: number): Promise<Array<OutputRecord & { amount: string | null }>> {
    const rows = this.stmt(
      `SELECT ${OUTPUT_COLUMNS_O}, p.amount FROM outputs o
       LEFT JOIN payments p ON p.network = o.network AND p.asset = o.asset AND p.payer = o.payer AND p.nonce = o.nonce
       WHERE o.model_id = $modelId AND o.epoch = $epoch
       ORDER BY o.created_at, o.output_id`,
    ).all({ modelId: norm.id("modelId", modelId), epoch: norm.uint("epoch", epoch) });
    return rows.map(toOutputWithOptionalAmount);
  }

  async holdOutput(input: HeldOutput): Promise<void> {
    const h = norm.heldOutput(input);
    const inserted = await this.grouped(() => {
      try {
        return this.stmt(
          `INSERT INTO held_outputs (${HELD_OUTPUT_COLUMNS})
           VALUES ($network, $asset, $payer, $nonce, $outputId, $tokenHash, $statusCode, $contentType, $body, $createdAt)
           ON CONFLICT DO NOTHING
           RETURNING output_id`,
        ).get({ ...h } as unknown as Params);
      } catch (e) {
        if ((e as { errcode?: number }).errcode === SQLITE_CONSTRAINT_FOREIGNKEY) throw new LedgerError("unknown_payment", `held output ${h.outputId} names a payment the ledger does not hold`);
        throw e;
      }
    });
    if (inserted) return;
    const existing = this.stmt(`SELECT output_id FROM held_outputs WHERE ${PAYMENT_KEY_MATCH}`).get({ network: h.network, asset: h.asset, payer: h.payer, nonce: h.nonce }) as { output_id: string } | undefined;
    if (existing?.output_id !== h.outputId) throw new LedgerError("output_conflict", `output ${h.outputId} conflicts with an output already held`);
  }

  async getHeldOutput(outputId: string): Promise<{ output: HeldOutput; payment: PaymentRecord } | null> {
    const row = this.stmt(
      `SELECT ${HELD_OUTPUT_COLUMNS_H}, ${PAYMENT_COLUMNS_P} FROM held_outputs h
       JOIN payments p ON p.network = h.network AND p.asset = h.asset AND p.payer = h.payer AND p.nonce = h.nonce
       WHERE h.output_id = $outputId`,
    ).get({ outputId: norm.id("outputId", outputId) });
    return row ? { output: toHeldOutput(row), payment: toJoinedPayment(row) } : null;
  }

  async putEpoch(input: EpochRecord): Promise<void> {
    const e = norm.epoch(input);
    const row = this.stmt(
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
    ).get({ ...e } as unknown as Params);
    if (!row) throw new LedgerError("epoch_conflict", `epoch ${e.epoch} of ${e.splitter} was posted with other roots`);
  }

  async getEpoch(splitter: string, epoch: number): Promise<EpochRecord | null> {
    const row = this.stmt(`SELECT ${EPOCH_COLUMNS} FROM epochs WHERE splitter = $splitter AND epoch = $epoch`).get({
      splitter: norm.address("splitter", splitter),
      epoch: norm.uint("epoch", epoch),
    });
    return row ? toEpoch(row) : null;
  }

  async listEpochs(splitter?: string): Promise<EpochRecord[]> {
    const rows =
      splitter === undefined
        ? this.stmt(`SELECT ${EPOCH_COLUMNS} FROM epochs ORDER BY splitter, epoch`).all()
        : this.stmt(`SELECT ${EPOCH_COLUMNS} FROM epochs WHERE splitter = $splitter ORDER BY epoch`).all({ splitter: norm.address("splitter", splitter) });
    return rows.map(toEpoch);
  }

  async addContribution(input: Omit<ContributionRecord, "seq" | "createdAt">): Promise<ContributionRecord> {
    const c = norm.contribution(input);
    return this.immediate(() => {
      const { seq } = this.stmt(
        `INSERT INTO datanet_seq (datanet_id, next_seq) VALUES ($datanetId, 1)
         ON CONFLICT (datanet_id) DO UPDATE SET next_seq = datanet_seq.next_seq + 1
         RETURNING next_seq - 1 AS seq`,
      ).get({ datanetId: c.datanetId }) as { seq: number };
      const row = this.stmt(
        `INSERT INTO contributions (datanet_id, seq, contributor, content_hash, text, created_at)
         VALUES ($datanetId, $seq, $contributor, $contentHash, $text, $now)
         RETURNING ${CONTRIBUTION_COLUMNS}`,
      ).get({ ...c, seq, now: this.now() } as Params);
      return toContribution(row!);
    });
  }

  async listContributions(datanetId: string): Promise<ContributionRecord[]> {
    const rows = this.stmt(`SELECT ${CONTRIBUTION_COLUMNS} FROM contributions WHERE datanet_id = $datanetId ORDER BY seq`).all({
      datanetId: norm.id("datanetId", datanetId),
    });
    return rows.map(toContribution);
  }
}
