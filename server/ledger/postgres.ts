// The scale-out ledger: PostgreSQL through a pg Pool, shared by several server instances.
// Every money-path write is a single statement (or one short transaction) whose WHERE /
// ON CONFLICT clause or row lock decides the race inside the database (unique key for
// reserve, compare-and-set on status for transition), so instances need no coordination
// of their own.
import { createHash } from "node:crypto";
import pg from "pg";
import { postgresDialect } from "./dialect.ts";
import { LedgerError } from "./errors.ts";
import { applyMigrations, type Executor, type Params, type Queryable, type Result } from "./executor.ts";
import { postgresMigrations, type Migration } from "./migrations.ts";
import { SqlLedger, type SqlLedgerOptions } from "./sql-ledger.ts";

export interface PostgresLedgerOptions extends SqlLedgerOptions {
  /** postgres://user:pass@host:port/db (never logged). */
  connectionString: string;
  /** Schema holding the tables (created by migrate); default "public". */
  schema?: string;
  /** Pool size per instance (default 10). */
  poolSize?: number;
  /** Server-side statement timeout (default 30000 ms): a stuck query fails instead of hanging a request. */
  statementTimeoutMs?: number;
  /** application_name of the connections, as pg_stat_activity shows them (default "royalty402-ledger"). */
  applicationName?: string;
  /** Errors of idle pooled connections (e.g. the server restarted); the pool reconnects by itself. */
  onPoolError?: (err: Error) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const NAMED_PARAM = /\$([A-Za-z_][A-Za-z0-9_]*)/g;

interface Compiled {
  name: string;
  text: string;
  names: string[];
}

/** $named parameters to PostgreSQL's $1, $2, … (a name used twice binds once); named prepared statements. */
function compile(sql: string): Compiled {
  const names: string[] = [];
  const text = sql.replace(NAMED_PARAM, (_m, name: string) => {
    let i = names.indexOf(name);
    if (i < 0) i = names.push(name) - 1;
    return `$${i + 1}`;
  });
  return { name: `ledger_${createHash("sha1").update(text).digest("hex").slice(0, 16)}`, text, names };
}

/** A stable signed 64-bit advisory-lock key per schema, so separate schemas migrate independently. */
function migrationLockKey(schema: string): string {
  const digest = createHash("sha256").update(`royalty402.ledger.migrate:${schema}`).digest();
  return digest.readBigInt64BE(0).toString();
}

class PostgresExecutor implements Executor {
  readonly dialect = postgresDialect;
  private readonly compiled = new Map<string, Compiled>();
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {}

  private ensureOpen(): void {
    if (this.closed) throw new LedgerError("ledger_closed", "the PostgreSQL ledger is closed");
  }

  private async run(client: pg.Pool | pg.PoolClient, sql: string, params: Params = {}): Promise<Result> {
    let c = this.compiled.get(sql);
    if (!c) {
      c = compile(sql);
      this.compiled.set(sql, c);
    }
    const values = c.names.map((n) => {
      const v = params[n];
      if (v === undefined) throw new Error(`ledger statement parameter $${n} is missing`);
      return v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
    });
    const result = await client.query({ name: c.name, text: c.text, values });
    return { rows: result.rows, changes: result.rowCount ?? 0 };
  }

  async query(sql: string, params?: Params): Promise<Result> {
    this.ensureOpen();
    return this.run(this.pool, sql, params);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    this.ensureOpen();
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const result = await fn({ query: (sql, params) => this.run(client, sql, params) });
      await client.query("COMMIT");
      return result;
    } catch (e) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  write<T>(fn: (tx: Queryable) => Promise<T>, atomic: boolean): Promise<T> {
    if (atomic) return this.transaction(fn);
    this.ensureOpen();
    return fn(this);
  }

  async migrate(migrations: readonly Migration[], now: number): Promise<void> {
    this.ensureOpen();
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
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
      await applyMigrations(
        applied,
        migrations,
        async (m) => {
          await client.query(m.sql);
          await client.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [m.version, m.name, now]);
        },
        (m, name) => new LedgerError("migration_mismatch", `version ${m.version} is "${name}" in the database, "${m.name}" in code`),
      );
      await client.query("COMMIT");
    } catch (e) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async appliedMigrations(): Promise<Array<{ version: number; name: string }>> {
    const { rows } = await this.query("SELECT version, name FROM schema_migrations ORDER BY version");
    return rows.map((r) => ({ version: Number(r.version), name: String(r.name) }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

export class PostgresLedger extends SqlLedger {
  readonly backend = "postgres" as const;
  readonly schema: string;

  constructor(options: PostgresLedgerOptions) {
    if (!/^postgres(ql)?:\/\//.test(options.connectionString)) {
      throw new LedgerError("unsupported_database_url", "the PostgreSQL ledger needs a postgres:// or postgresql:// URL");
    }
    const schema = options.schema ?? "public";
    if (!SCHEMA_NAME.test(schema)) throw new LedgerError("invalid_input", "schema must be a lower-case SQL identifier");
    const pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.poolSize ?? 10,
      application_name: options.applicationName ?? "royalty402-ledger",
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      // Unqualified table names resolve to our schema on every pooled connection.
      options: `-c search_path=${schema}`,
    });
    // Without a listener an idle connection's error (server restart) would crash the process.
    pool.on("error", (err) => options.onPoolError?.(err));
    super(new PostgresExecutor(pool, schema), options, postgresMigrations);
    this.schema = schema;
  }
}
