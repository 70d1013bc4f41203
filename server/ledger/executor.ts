// How the shared ledger code talks to a database: statements with $named parameters, written
// once for both dialects, run by an executor (sqlite.ts or postgres.ts) that knows its driver.
import type { Dialect } from "./dialect.ts";
import type { Migration } from "./migrations.ts";

type Row = Record<string, unknown>;
export type Params = Record<string, string | number | null | Uint8Array | unknown[]>;

export interface Result {
  rows: Row[];
  /** Rows inserted, updated or deleted. */
  changes: number;
}

export interface Queryable {
  query(sql: string, params?: Params): Promise<Result>;
}

export interface Executor extends Queryable {
  readonly dialect: Dialect;
  /** fn's statements commit together or not at all. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * A payment write. SQLite commits the writes issued in one event-loop turn together (one
   * fsync), one that throws undone alone (the others still commit); PostgreSQL runs it in its own
   * transaction when `atomic` (several statements), otherwise straight on the pool.
   */
  write<T>(fn: (tx: Queryable) => Promise<T>, atomic: boolean): Promise<T>;
  /** Applies pending migrations under the dialect's migration lock; throws migration_mismatch on a rewritten history. */
  migrate(migrations: readonly Migration[], now: number): Promise<void>;
  appliedMigrations(): Promise<Array<{ version: number; name: string }>>;
  close(): Promise<void>;
}

/** The migration loop both executors run inside their locked transaction. */
export async function applyMigrations(
  applied: Map<number, string>,
  migrations: readonly Migration[],
  run: (m: Migration) => Promise<void>,
  mismatch: (m: Migration, name: string) => Error,
): Promise<void> {
  for (const m of migrations) {
    const name = applied.get(m.version);
    if (name === undefined) await run(m);
    else if (name !== m.name) throw mismatch(m, name);
  }
}
