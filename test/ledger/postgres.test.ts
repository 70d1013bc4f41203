// The ledger contract on a real PostgreSQL (the throwaway cluster from test/support/postgres.ts,
// or TEST_DATABASE_URL). Each test gets its own schema; two pools on one schema play two
// server instances.
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import { openLedger } from "../../server/ledger/index.ts";
import { postgresMigrations } from "../../server/ledger/migrations.ts";
import { PostgresLedger } from "../../server/ledger/postgres.ts";
import { expectLedgerError, keyOf, ledgerContract, paymentInput } from "../support/ledger-contract.ts";
import { MISSING_POSTGRES, findPostgresBin, startTestCluster } from "../support/postgres.ts";

const url = inject("postgresUrl");
const admin = new pg.Pool({ connectionString: url, max: 2 });
afterAll(() => admin.end());

ledgerContract("PostgreSQL", {
  migrations: postgresMigrations,
  open: async (schema, options) => new PostgresLedger({ connectionString: url, schema, poolSize: 4, ...options }),
  drop: async (schema) => {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  },
  extraMigration: (version, table) => ({ version, name: table, sql: `CREATE TABLE ${table} (x INTEGER)` }),
});

describe("PostgreSQL ledger", () => {
  const schemas: string[] = [];
  const schema = () => {
    const s = `p_${Math.random().toString(36).slice(2, 10)}`;
    schemas.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  });

  it("openLedger with a postgres URL opens a migrated PostgreSQL ledger", async () => {
    const s = schema();
    const ledger = await openLedger({ databaseUrl: url, sqlitePath: "/nonexistent/never-created.sqlite", postgres: { schema: s } });
    expect(ledger.backend).toBe("postgres");
    expect((await ledger.reserve(paymentInput())).reserved).toBe(true);
    await ledger.close();
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${s}.payments`);
    expect(rows[0].n).toBe(1);
  });

  it("refuses other URL schemes without echoing the URL", async () => {
    const err = await openLedger({ databaseUrl: "mysql://admin:s3cret@db/x" }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/unsupported_database_url/);
    expect((err as Error).message).not.toMatch(/s3cret/);
    await expectLedgerError(openLedger({ databaseUrl: "postgres-ish://x" }), "unsupported_database_url");
  });

  it("stores amounts as NUMERIC and hands them back as exact strings", async () => {
    const s = schema();
    const ledger = new PostgresLedger({ connectionString: url, schema: s, poolSize: 2 });
    await ledger.migrate();
    const big = ((1n << 256n) - 1n).toString();
    await ledger.reserve(paymentInput({ amount: big }));
    await ledger.reserve(paymentInput({ amount: "1" }));
    const { rows } = await admin.query(
      `SELECT pg_typeof(amount)::text AS t, sum(amount) OVER ()::text AS total FROM ${s}.payments LIMIT 1`,
    );
    expect(rows[0]).toEqual({ t: "numeric", total: (1n << 256n).toString() });
    await ledger.close();
  });

  it("keeps working after the server drops its connections", async () => {
    const s = schema();
    const applicationName = `ledger-test-${s}`; // terminate only this instance's connections
    // Default pool error handling: must not crash.
    const ledger = new PostgresLedger({ connectionString: url, schema: s, poolSize: 3, applicationName });
    await ledger.migrate();
    const first = await ledger.reserve(paymentInput());
    const killed = await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [
      applicationName,
    ]);
    expect(killed.rowCount).toBeGreaterThan(0);
    // A query may land on a connection that is dying right now; the pool replaces it.
    let found = null;
    for (let attempt = 0; attempt < 5 && !found; attempt++) {
      found = await ledger.getPayment(keyOf(first.reserved ? first.payment : first.existing)).catch(() => null);
    }
    expect(found).not.toBeNull();
    await ledger.close();
  });
});

describe("test PostgreSQL setup", () => {
  it("fails loudly, never skips, when PostgreSQL is not installed", async () => {
    const saved = process.env.PG_BIN;
    process.env.PG_BIN = "/nonexistent/postgresql/bin";
    try {
      expect(findPostgresBin()).toBeNull();
      await expect(startTestCluster()).rejects.toThrow(MISSING_POSTGRES);
    } finally {
      if (saved === undefined) delete process.env.PG_BIN;
      else process.env.PG_BIN = saved;
    }
  });
});
