// What differs between SQLite and PostgreSQL, in one small record. The ledger's SQL is written
// once (shared implementation in store.ts, statements with $named parameters); the few
// places where the dialects disagree call into this record instead of branching.

type ErrorKind = "foreign_key" | "unique" | null;

export interface Dialect {
  readonly name: "sqlite" | "postgres";
  /** `col` is one of the list parameter `param` (pass the value through list()). */
  inList(col: string, param: string): string;
  /**
   * `col` where the planner must not use it to pick an index: SQLite keeps no statistics here and
   * prefers an equality on a key's first column to an indexed IN list, however many rows that key has.
   */
  unindexed(col: string): string;
  /** A list parameter's value as the driver binds it. */
  list(values: readonly string[]): unknown;
  /** Rows (a, b) of a JSON array of pairs `[[a, b], …]` bound as `param` (text). */
  pairRows(param: string): string;
  /** Rows of a JSON array of string-or-null tuples bound as `param` (text), the columns named `names`. */
  tupleRows(param: string, names: readonly string[]): string;
  /** The larger of two integers. */
  greatest(a: string, b: string): string;
  /** a + b for decimal amounts of up to uint256 (stored as TEXT in SQLite, NUMERIC in PostgreSQL). */
  addAmount(a: string, b: string): string;
  /** A bound decimal amount as the amount columns' type. */
  amountParam(param: string): string;
  /** Row lock taken by a SELECT in a transaction (SQLite's write transactions are already exclusive). */
  readonly forUpdate: string;
  /** LIMIT value meaning "no limit". */
  readonly noLimit: number | null;
  /** A WITH clause may hold an UPDATE … RETURNING (PostgreSQL): two writes in one statement. */
  readonly updateInWith: boolean;
  /** Which constraint a driver error broke, if any. */
  errorKind(e: unknown): ErrorKind;
}

// SQLite extended result codes (https://sqlite.org/rescode.html).
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

const sqliteTuples = (param: string, names: readonly string[]) =>
  `SELECT ${names.map((n, i) => `json_extract(value, '$[${i}]') AS ${n}`).join(", ")} FROM json_each(${param})`;
const postgresTuples = (param: string, names: readonly string[]) =>
  `SELECT ${names.map((n, i) => `value->>${i} AS ${n}`).join(", ")} FROM jsonb_array_elements(CAST(${param} AS JSONB))`;

export const sqliteDialect: Dialect = {
  name: "sqlite",
  inList: (col, param) => `${col} IN (SELECT value FROM json_each(${param}))`,
  unindexed: (col) => `+${col}`,
  list: (values) => JSON.stringify(values),
  pairRows: (param) => sqliteTuples(param, ["a", "b"]),
  tupleRows: sqliteTuples,
  greatest: (a, b) => `MAX(${a}, ${b})`,
  // u256_add is registered on every connection (sqlite.ts): SQLite integers stop at 2^63.
  addAmount: (a, b) => `u256_add(${a}, ${b})`,
  amountParam: (param) => `CAST(${param} AS TEXT)`,
  forUpdate: "",
  noLimit: -1,
  updateInWith: false,
  errorKind(e) {
    const code = (e as { errcode?: number }).errcode;
    if (code === SQLITE_CONSTRAINT_FOREIGNKEY) return "foreign_key";
    if (code === SQLITE_CONSTRAINT_UNIQUE || code === SQLITE_CONSTRAINT_PRIMARYKEY) return "unique";
    return null;
  },
};

export const postgresDialect: Dialect = {
  name: "postgres",
  inList: (col, param) => `${col} = ANY(CAST(${param} AS TEXT[]))`,
  unindexed: (col) => col, // PostgreSQL's planner has the statistics to choose
  list: (values) => [...values],
  pairRows: (param) => postgresTuples(param, ["a", "b"]),
  tupleRows: postgresTuples,
  greatest: (a, b) => `GREATEST(${a}, ${b})`,
  addAmount: (a, b) => `(${a} + CAST(${b} AS NUMERIC))`,
  amountParam: (param) => `CAST(${param} AS NUMERIC)`,
  forUpdate: "FOR UPDATE",
  noLimit: null,
  updateInWith: true,
  errorKind(e) {
    const code = (e as { code?: string }).code;
    if (code === "23503") return "foreign_key";
    if (code === "23505") return "unique";
    return null;
  },
};
