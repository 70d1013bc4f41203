// The ledger database a soak runs on: SQLite (a file in the run's folder) or a throwaway
// PostgreSQL cluster (scripts/shared/postgres.ts). Opens ledgers on it and measures its bytes.
import { statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import pg from "pg";
import type { Ledger } from "../../server/ledger/index.ts";
import { PostgresLedger } from "../../server/ledger/postgres.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import { startTestCluster } from "./postgres.ts";

export interface SoakDatabase {
  kind: "sqlite" | "postgres";
  /** The config file's database section and the server's environment for it. */
  config: { sqlitePath: string };
  env: Record<string, string>;
  openLedger(): Ledger;
  /** Bytes on disk now (SQLite: file and WAL; PostgreSQL: the database). */
  bytes(): Promise<number>;
  /** Live bytes by table or index (SQLite: pages in use after a checkpoint; PostgreSQL: after VACUUM FULL, indexes and TOAST included). */
  liveBytes(): Promise<{ total: number; byName: Record<string, number> }>;
  stop(): Promise<void>;
}

function sqlite(dir: string): SoakDatabase {
  const path = join(dir, "ledger.sqlite");
  return {
    kind: "sqlite",
    config: { sqlitePath: path },
    env: {},
    openLedger: () => new SqliteLedger({ path }),
    bytes: async () => [path, `${path}-wal`].reduce((n, f) => n + (statSync(f, { throwIfNoEntry: false })?.size ?? 0), 0),
    liveBytes: async () => {
      const db = new DatabaseSync(path);
      db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
      const pragma = (name: string) => Number((db.prepare(`PRAGMA ${name}`).get() as Record<string, number>)[name]);
      const total = (pragma("page_count") - pragma("freelist_count")) * pragma("page_size");
      const rows = db.prepare("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name").all();
      db.close();
      return { total, byName: Object.fromEntries(rows.map((r) => [String(r.name), Number(r.bytes)])) };
    },
    stop: async () => undefined,
  };
}

async function postgres(dir: string): Promise<SoakDatabase> {
  const cluster = await startTestCluster();
  const pool = new pg.Pool({ connectionString: cluster.url, max: 1 });
  const scalar = async (sql: string) => Number((await pool.query(sql)).rows[0].n);
  return {
    kind: "postgres",
    config: { sqlitePath: join(dir, "unused.sqlite") },
    env: { DATABASE_URL: cluster.url },
    openLedger: () => new PostgresLedger({ connectionString: cluster.url, poolSize: 2 }),
    bytes: () => scalar("SELECT pg_database_size(current_database()) AS n"),
    liveBytes: async () => {
      await pool.query("VACUUM FULL");
      const { rows } = await pool.query(
        "SELECT relname AS name, pg_total_relation_size(relid) AS bytes FROM pg_stat_user_tables WHERE schemaname = 'public'",
      );
      const byName = Object.fromEntries(rows.map((r) => [String(r.name), Number(r.bytes)]));
      return { total: Object.values(byName).reduce((a, b) => a + b, 0), byName };
    },
    stop: async () => {
      await pool.end();
      await cluster.stop();
    },
  };
}

/** BENCH_SOAK_DATABASE: "sqlite" (default) or "postgres". */
export async function soakDatabase(kind: string, dir: string): Promise<SoakDatabase> {
  if (kind === "sqlite") return sqlite(dir);
  if (kind === "postgres") return postgres(dir);
  throw new Error(`BENCH_SOAK_DATABASE must be sqlite or postgres, not ${kind}`);
}
