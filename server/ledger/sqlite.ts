// The embedded ledger: SQLite in one file through node:sqlite. Several processes may open
// the same file: WAL lets readers run beside the single writer, busy_timeout makes a writer
// wait for the lock instead of failing, and every write is one statement or one
// BEGIN IMMEDIATE transaction, so the unique key (network, asset, payer, nonce) decides
// exactly one reserver. Calls are synchronous underneath and run one at a time in the process
// (a promise chain), so two calls never interleave inside a transaction.
// Group commit: the payment and output writes (reserve, transition, output, hold) issued in one
// turn of the event loop run in one transaction, so a batch of settlements costs one fsync, not
// one per payment. Durability is synchronous=FULL's by default, but the fsync runs on libuv's
// thread pool, never on the event loop (wal-sync.ts): each call resolves only after its commit
// is on disk.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { sqliteDialect } from "./dialect.ts";
import { LedgerError } from "./errors.ts";
import { applyMigrations, type Executor, type Params, type Queryable, type Result } from "./executor.ts";
import { sqliteMigrations, type Migration } from "./migrations.ts";
import { SqlLedger, type SqlLedgerOptions } from "./sql-ledger.ts";
import { Checkpointer } from "./checkpointer.ts";
import { WalSync, type Fsync } from "./wal-sync.ts";

export interface SqliteLedgerOptions extends SqlLedgerOptions {
  /** Database file; its folder is created if missing. */
  path: string;
  /** How long a writer waits for another connection's lock (default 5000 ms). */
  busyTimeoutMs?: number;
  /**
   * FULL (default): every commit's WAL is fsynced before reserve()/transition() return, so a
   * reservation or settlement survives power loss, not only a process crash (SQLite runs with
   * synchronous=NORMAL and the ledger fsyncs the WAL off the event loop: wal-sync.ts). NORMAL
   * survives kill -9 but may lose the last commits on power loss: use it only where a lost
   * reservation is acceptable (benchmarks, throwaway nodes).
   */
  synchronous?: "FULL" | "NORMAL";
  /** The WAL's fsync (tests); default FileHandle.sync. */
  fsync?: Fsync;
  /** How often the checkpoint worker copies the WAL into the database file (default 200 ms). */
  checkpointIntervalMs?: number;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };
type Op = { run: (tx: Queryable) => Promise<unknown>; resolve: (v: unknown) => void; reject: (e: unknown) => void };

// One queue for every SQLite connection of the process: a transaction body awaits between its
// statements, and another connection's BEGIN IMMEDIATE in that gap would block the thread on
// the file lock (busy_timeout) that only this same thread can release.
let processQueue: Promise<unknown> = Promise.resolve();

const RETURNS_ROWS = /^\s*(SELECT|WITH|PRAGMA)\b|\bRETURNING\b/i;

function openDatabase(path: string, options: SqliteLedgerOptions): DatabaseSync {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    // busy_timeout first: switching to WAL needs a lock another process may hold right now.
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    const mode = db.prepare("PRAGMA journal_mode = WAL").get() as { journal_mode: string };
    if (path !== ":memory:" && mode.journal_mode.toLowerCase() !== "wal") {
      throw new Error(`SQLite refused WAL mode (got ${mode.journal_mode}) for ${path}`);
    }
    // FULL's fsync is the ledger's own, off the event loop (WalSync).
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    // Amounts are uint256 decimal strings; SQLite's own integers stop at 2^63.
    const big = (v: unknown) => BigInt(String(v ?? 0));
    db.function("u256_add", { deterministic: true }, (a, b) => (big(a) + big(b)).toString());
    db.aggregate("u256_sum", { start: "0", step: (sum, v) => (big(sum) + big(v)).toString() });
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

class SqliteExecutor implements Executor {
  readonly dialect = sqliteDialect;
  /** Commits of payment writes (a group counts once), for tests and metrics. */
  readonly stats = { commits: 0 };
  private db: DatabaseSync | null;
  private readonly statements = new Map<string, StatementSync>();
  private group: Op[] = [];
  private groupScheduled = false;
  private readonly direct: Queryable = { query: async (sql, params) => this.run(sql, params) };

  constructor(
    db: DatabaseSync,
    /** fsyncs the WAL after commits (null: NORMAL durability, or an in-memory database). */
    readonly walSync: WalSync | null,
    /** Checkpoints in a worker thread (null: an in-memory database). */
    readonly checkpointer: Checkpointer | null,
  ) {
    this.db = db;
  }

  /** Resolves once the commits made so far are on disk (as synchronous=FULL would before returning). */
  private durable(): Promise<void> {
    return this.walSync?.sync() ?? Promise.resolve();
  }

  handle(): DatabaseSync {
    if (!this.db) throw new LedgerError("ledger_closed", "the SQLite ledger is closed");
    return this.db;
  }

  /** One call at a time in the process: an async transaction body never interleaves with another call. */
  private serial<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = processQueue.then(fn, fn);
    processQueue = next.catch(() => undefined);
    return next;
  }

  private run(sql: string, params: Params = {}): Result {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.handle().prepare(sql);
      this.statements.set(sql, s);
    }
    const bound = params as Record<string, string | number | null | Uint8Array>;
    if (RETURNS_ROWS.test(sql)) {
      const rows = s.all(bound) as Result["rows"];
      return { rows, changes: rows.length };
    }
    return { rows: [], changes: Number(s.run(bound).changes) };
  }

  query(sql: string, params?: Params): Promise<Result> {
    this.handle();
    return this.serial(() => this.run(sql, params));
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.handle();
    const result = await this.serial(async () => {
      // BEGIN IMMEDIATE takes the write lock up front, so the transaction never fails half-way on a lock upgrade.
      const db = this.handle();
      db.exec("BEGIN IMMEDIATE");
      try {
        const result = await fn(this.direct);
        db.exec("COMMIT");
        return result;
      } catch (e) {
        // Keep the original error even if the transaction is already gone.
        try {
          db.exec("ROLLBACK");
        } catch {}
        throw e;
      }
    });
    await this.durable(); // outside the queue: the next transaction need not wait for this fsync
    return result;
  }

  write<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.handle();
    return new Promise<T>((resolve, reject) => {
      this.group.push({ run: fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.groupScheduled) {
        this.groupScheduled = true;
        setImmediate(() => void this.serial(() => this.commitGroup()));
      }
    });
  }

  private async commitGroup(): Promise<void> {
    this.groupScheduled = false;
    const ops = this.group.splice(0);
    if (ops.length === 0) return;
    if (!this.db) {
      for (const op of ops) op.reject(new LedgerError("ledger_closed", "the SQLite ledger is closed"));
      return;
    }
    const db = this.db;
    let results: Outcome[];
    try {
      db.exec("BEGIN IMMEDIATE");
      try {
        results = await this.runOps(ops, false);
      } catch {
        // An op threw (rare: a broken foreign key, a full disk): undo the group and run it again with each op
        // in its own savepoint, so that only the failing ops are undone and the others still commit.
        db.exec("ROLLBACK");
        db.exec("BEGIN IMMEDIATE");
        results = await this.runOps(ops, true);
      }
    } catch (e) {
      try {
        if (db.isTransaction) db.exec("ROLLBACK");
      } catch {}
      for (const op of ops) op.reject(e);
      return;
    }
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
    // Answered once on disk; the queue moves on meanwhile (the next group may commit while this one's fsync runs).
    const answer = (syncError?: unknown) =>
      ops.forEach((op, i) => {
        const r = results[i];
        if (syncError !== undefined) op.reject(syncError);
        else if (r.ok) op.resolve(r.value);
        else op.reject(r.error);
      });
    this.durable().then(() => answer(), answer);
  }

  /** Runs a group's ops in order; isolated: each in a savepoint (a throw undoes only its op), else a throw ends the run. */
  private async runOps(ops: Op[], isolated: boolean): Promise<Outcome[]> {
    const results: Outcome[] = [];
    for (const op of ops) {
      if (!isolated) {
        results.push({ ok: true, value: await op.run(this.direct) });
        continue;
      }
      this.handle().exec("SAVEPOINT op");
      try {
        results.push({ ok: true, value: await op.run(this.direct) });
        this.handle().exec("RELEASE op");
      } catch (error) {
        this.handle().exec("ROLLBACK TO op");
        this.handle().exec("RELEASE op");
        results.push({ ok: false, error });
      }
    }
    return results;
  }

  async migrate(migrations: readonly Migration[], now: number): Promise<void> {
    await this.transaction(async (tx) => {
      const db = this.handle();
      db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
      const { rows } = await tx.query("SELECT version, name FROM schema_migrations");
      const applied = new Map(rows.map((r) => [Number(r.version), String(r.name)]));
      await applyMigrations(
        applied,
        migrations,
        async (m) => {
          db.exec(m.sql);
          await tx.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($version, $name, $now)", {
            version: m.version,
            name: m.name,
            now,
          });
        },
        (m, name) => new LedgerError("migration_mismatch", `version ${m.version} is "${name}" in the database, "${m.name}" in code`),
      );
    });
    // The schema may have changed under statements prepared earlier.
    this.statements.clear();
  }

  async appliedMigrations(): Promise<Array<{ version: number; name: string }>> {
    const { rows } = await this.query("SELECT version, name FROM schema_migrations ORDER BY version");
    return rows.map((r) => ({ version: Number(r.version), name: String(r.name) }));
  }

  async close(): Promise<void> {
    if (!this.db) return;
    await this.serial(() => this.commitGroup()); // writes already issued are kept
    await this.walSync?.close();
    await this.checkpointer?.close(); // before our connection: the last one to close checkpoints and removes the WAL
    this.statements.clear();
    this.db?.close();
    this.db = null;
  }
}

export class SqliteLedger extends SqlLedger {
  readonly backend = "sqlite" as const;
  readonly path: string;
  readonly synchronous: "FULL" | "NORMAL";
  private readonly sqlite: SqliteExecutor;

  constructor(options: SqliteLedgerOptions) {
    const path = options.path === ":memory:" ? options.path : resolve(options.path);
    const walSync = path === ":memory:" || options.synchronous === "NORMAL" ? null : new WalSync(`${path}-wal`, options.fsync);
    const db = openDatabase(path, options);
    const busyTimeoutMs = Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000));
    const checkpointer =
      path === ":memory:" ? null : new Checkpointer(db, path, { intervalMs: options.checkpointIntervalMs, busyTimeoutMs });
    const exec = new SqliteExecutor(db, walSync, checkpointer);
    super(exec, options, sqliteMigrations);
    this.path = path;
    this.synchronous = options.synchronous ?? "FULL";
    this.sqlite = exec;
  }

  /** Commits of payment writes (a group counts once) and checkpoints the worker made, for tests and metrics. */
  get stats(): { commits: number; checkpoints: number } {
    return { commits: this.sqlite.stats.commits, checkpoints: this.sqlite.checkpointer?.checkpoints ?? 0 };
  }

  /** The longest WAL fsync (ms) since the previous call (null: this ledger does not fsync itself). */
  takeSlowestFsyncMs(): number | null {
    return this.sqlite.walSync?.takeSlowestMs() ?? null;
  }

  /**
   * The connection's settings as SQLite reports them (for /healthz and tests), and the ledger's
   * durability: `synchronous` FULL means each commit's WAL is fsynced before the call resolves
   * (by the ledger, off the event loop), while SQLite itself runs with `sqliteSynchronous` NORMAL.
   */
  settings() {
    const db = this.sqlite.handle();
    const pragma = (name: string) => Object.values(db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown>)[0];
    return {
      journalMode: String(pragma("journal_mode")),
      synchronous: this.synchronous,
      sqliteSynchronous: (["OFF", "NORMAL", "FULL", "EXTRA"] as const)[Number(pragma("synchronous"))],
      busyTimeoutMs: Number(pragma("busy_timeout")),
      foreignKeys: Number(pragma("foreign_keys")) === 1,
    };
  }
}
