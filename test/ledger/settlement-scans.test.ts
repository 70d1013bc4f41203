// The PaymentSettled scan position kept in the ledger (server/ledger/sql/scans.ts), on a real
// SQLite file and a real PostgreSQL: it survives reopening, never moves backwards, and refuses
// entries that are not output ids.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { Ledger } from "../../server/ledger/index.ts";
import { PostgresLedger } from "../../server/ledger/postgres.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import { address, expectLedgerError, hex } from "../support/ledger-contract.ts";

const dir = mkdtempSync(join(tmpdir(), "royalty402-scans-"));
const url = inject("postgresUrl");
const admin = new pg.Pool({ connectionString: url, max: 1 });
const schemas: string[] = [];
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await admin.end();
});

const backends: Array<[string, () => () => Ledger]> = [
  [
    "SQLite",
    () => {
      const path = join(dir, `${Math.random().toString(36).slice(2)}.sqlite`);
      return () => new SqliteLedger({ path });
    },
  ],
  [
    "PostgreSQL",
    () => {
      const schema = `scan_${Math.random().toString(36).slice(2, 10)}`;
      schemas.push(schema);
      return () => new PostgresLedger({ connectionString: url, schema, poolSize: 2 });
    },
  ],
];

describe.each(backends)("settlement scans: %s", (_name, database) => {
  async function opened(open: () => Ledger): Promise<Ledger> {
    const ledger = open();
    await ledger.migrate();
    return ledger;
  }

  it("hands back the stored scan after reopening, per splitter (any address case)", async () => {
    const open = database();
    const splitter = address();
    const [a, b, c] = [hex(32), hex(32), hex(32)];
    const first = await opened(open);
    expect(await first.getSettlementScan(splitter)).toBeNull();
    await first.putSettlementScan(splitter.toUpperCase().replace("0X", "0x"), {
      scannedBlock: 120,
      settled: new Map([
        [a, 5000n],
        [b, 10n ** 30n],
      ]),
      links: new Map([[c, 7n]]),
    });
    await first.close();

    const again = await opened(open);
    const scan = await again.getSettlementScan(splitter);
    expect(scan?.scannedBlock).toBe(120);
    expect([...(scan?.settled ?? [])]).toEqual([
      [a, 5000n],
      [b, 10n ** 30n],
    ]);
    expect([...(scan?.links ?? [])]).toEqual([[c, 7n]]);
    expect(await again.getSettlementScan(address())).toBeNull();
    await again.close();
  });

  it("keeps the further scan when an instance that read less writes later", async () => {
    const ledger = await opened(database());
    const splitter = address();
    const kept = hex(32);
    await ledger.putSettlementScan(splitter, { scannedBlock: 200, settled: new Map([[kept, 1n]]), links: new Map() });
    await ledger.putSettlementScan(splitter, { scannedBlock: 150, settled: new Map(), links: new Map() });
    expect((await ledger.getSettlementScan(splitter))?.settled.get(kept)).toBe(1n);
    await ledger.putSettlementScan(splitter, { scannedBlock: 201, settled: new Map(), links: new Map() });
    const scan = await ledger.getSettlementScan(splitter);
    expect(scan?.scannedBlock).toBe(201);
    expect(scan?.settled.size).toBe(0);
    await ledger.close();
  });

  it("refuses entries that are not bytes32 output ids with non-negative amounts", async () => {
    const ledger = await opened(database());
    await expectLedgerError(
      ledger.putSettlementScan(address(), { scannedBlock: 1, settled: new Map([["out-1", 1n]]), links: new Map() }),
      "invalid_input",
    );
    await expectLedgerError(
      ledger.putSettlementScan(address(), { scannedBlock: 1, settled: new Map(), links: new Map([[hex(32), -1n]]) }),
      "invalid_input",
    );
    await expectLedgerError(ledger.putSettlementScan("0xnope", { scannedBlock: 1, settled: new Map(), links: new Map() }), "invalid_input");
    await ledger.close();
  });
});
