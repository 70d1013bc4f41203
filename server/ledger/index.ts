// Opens the ledger the configuration asks for: PostgreSQL when a DATABASE_URL is given
// (several instances share it), otherwise SQLite in a local file.
import { LedgerError } from "./errors.ts";
import type { MaintenanceOptions } from "./maintenance.ts";
import { PostgresLedger, type PostgresLedgerOptions } from "./postgres.ts";
import type { SqliteLedger, SqliteLedgerOptions } from "./sqlite.ts";
import type { SqliteLedgerThread } from "./thread.ts";

export * from "./types.ts";
export { LedgerError, isLedgerError } from "./errors.ts";
export { PostgresLedger } from "./postgres.ts";
export type { SqliteLedger } from "./sqlite.ts";
export type { SqliteLedgerThread } from "./thread.ts";

export const DEFAULT_SQLITE_PATH = ".data/royalty402.sqlite";

export interface LedgerConfig {
  /** postgres:// or postgresql:// selects PostgreSQL; empty/undefined selects SQLite. */
  databaseUrl?: string;
  /** SQLite file (default .data/royalty402.sqlite, relative to the working directory). */
  sqlitePath?: string;
  postgres?: Omit<PostgresLedgerOptions, "connectionString">;
  sqlite?: Omit<SqliteLedgerOptions, "path">;
  /**
   * SQLite only: run the ledger in a worker thread (the server's database.sqliteThread), so its
   * statements and commits never hold the event loop. Function options (`now`, `fsync`) cannot cross.
   */
  thread?: boolean;
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  /** Heartbeat, dead-reservation release and held-output pruning; false turns them off (default on). */
  maintenance?: MaintenanceOptions | false;
}

/** DATABASE_URL and LEDGER_SQLITE_PATH from the environment. */
export function ledgerConfigFromEnv(env: NodeJS.ProcessEnv = process.env): LedgerConfig {
  return { databaseUrl: env.DATABASE_URL || undefined, sqlitePath: env.LEDGER_SQLITE_PATH || undefined };
}

export async function openLedger(config: LedgerConfig = {}): Promise<SqliteLedger | SqliteLedgerThread | PostgresLedger> {
  let ledger: SqliteLedger | SqliteLedgerThread | PostgresLedger;
  if (config.databaseUrl) {
    // The URL carries a password: name only its scheme in errors.
    if (!/^postgres(ql)?:\/\//.test(config.databaseUrl)) {
      const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(config.databaseUrl)?.[0] ?? "(none)";
      throw new LedgerError("unsupported_database_url", `DATABASE_URL must be postgres:// or postgresql://, got scheme ${scheme}`);
    }
    ledger = new PostgresLedger({ ...config.postgres, connectionString: config.databaseUrl });
  } else {
    // Loaded lazily so a PostgreSQL deployment never touches node:sqlite (still experimental in Node 22).
    const options = { ...config.sqlite, path: config.sqlitePath ?? DEFAULT_SQLITE_PATH };
    if (config.thread) {
      const { now, fsync, migrations, ...plain } = options;
      if (now || fsync || migrations) throw new Error("openLedger: the SQLite thread takes no now, fsync or migrations option");
      ledger = await (await import("./thread.ts")).openSqliteThread(plain);
    } else ledger = new (await import("./sqlite.ts")).SqliteLedger(options);
  }
  if (config.migrate !== false) {
    try {
      await ledger.migrate();
    } catch (e) {
      await ledger.close();
      throw e;
    }
    if (config.maintenance !== false) ledger.startMaintenance(config.maintenance);
  }
  return ledger;
}
