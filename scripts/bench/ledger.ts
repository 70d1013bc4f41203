// Ledger read-path benchmark: fills a SQLite ledger with N paid outputs (reserve, output,
// settle, held output) and M epochs with documents of the real shape, then times the reads the
// dashboard and the public API make, the way they are made now and the way they were made
// before (every epoch document read and parsed; every settled payment re-read with its
// output), in the same run, and measures ledger bytes per paid output.
//
//   npm run bench:ledger      (writes scripts/bench/results/ledger.json; BENCH_LEDGER_OUTPUTS=N, default 10000;
//                              BENCH_LEDGER_DATABASE_URL=postgres://… measures PostgreSQL too, in a throwaway schema)
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { getAddress } from "ethers";
import { DashboardFeed } from "../../server/dashboard/feed.ts";
import { toStored } from "../../server/epochs/stored.ts";
import pg from "pg";
import { PostgresLedger } from "../../server/ledger/postgres.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import type { Ledger, PaymentRecord } from "../../server/ledger/types.ts";

const OUTPUTS = Number(process.env.BENCH_LEDGER_OUTPUTS ?? 10_000);
const PER_EPOCH = 1000;
const CONTRIBUTORS = 40;
const BATCH = 250;
const REPEAT = 5;
const here = dirname(fileURLToPath(import.meta.url));
const hex = (n: number) => "0x" + randomBytes(n).toString("hex");
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

const contributors = Array.from({ length: CONTRIBUTORS }, () => getAddress(hex(20))).sort((a, b) =>
  a.toLowerCase() < b.toLowerCase() ? -1 : 1,
);
const splitter = hex(20);

/** An attribution record of the real shape (~600 bytes): three contributors, a few spans. */
function record(i: number): string {
  const picked = [0, 1, 2]
    .map((k) => contributors[(i * 7 + k * 13) % CONTRIBUTORS])
    .sort((a, b) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1));
  return JSON.stringify({
    algorithm: "royalty402-sa/v1",
    contributors: picked.map((address, k) => ({
      address,
      ppm: [300_000, 200_000, 100_000][k],
      tokens: 40 - k * 10,
      weight: 1000 - k * 100,
    })),
    indexRoot: "0x" + "11".repeat(32),
    masked: [],
    outputHash: hex(32),
    outputTokens: 200,
    params: { minSpanTokens: 8 },
    promptHash: hex(32),
    spans: picked.map((address, k) => ({ start: k * 40, end: k * 40 + 30, contributor: address, contribution: k })),
    totalWeight: 2700,
    unattributedPpm: 400_000,
    unattributedTokens: 80,
    unattributedWeight: 0,
  });
}

/** An epoch document of the real shape: payments with records, allocations, both trees with proofs. */
function epochDocument(epoch: number, outputs: Array<{ outputId: string; amount: string; recordHash: string; record: string }>): string {
  const proof = (n: number) => Array.from({ length: n }, () => hex(32));
  const leaves = contributors.map((account, k) => ({ account, cumulativeAmount: String(epoch * 1000 + k), proof: proof(6) }));
  return JSON.stringify({
    format: "royalty402-epoch/v1",
    epoch,
    chainId: "31337",
    splitter,
    modelOwner: contributors[0],
    ownerBps: 1000,
    protocolBps: 100,
    previous: {
      epoch: epoch - 1,
      cumulativeReceived: "0",
      cumulativeAllocated: "0",
      totals: leaves.map(({ account, cumulativeAmount }) => ({ account, cumulativeAmount })),
    },
    cumulativeReceived: String(epoch * 1_000_000),
    contributorPool: String(epoch * 500_000),
    epochPool: "500000",
    payments: outputs.map((o) => ({ outputId: o.outputId, amount: o.amount, recordHash: o.recordHash, record: JSON.parse(o.record) })),
    allocations: contributors.map((account) => ({ account, weight: "1000", amount: "12500" })),
    cumulativeAllocated: String(epoch * 500_000),
    claims: { root: hex(32), leafEncoding: ["address", "uint256"], leaves },
    records: {
      root: hex(32),
      leafEncoding: ["bytes32", "bytes32"],
      leaves: outputs.map((o) => ({ outputId: o.outputId, recordHash: o.recordHash, proof: proof(10) })),
    },
  });
}

async function fill(ledger: Ledger, advance: () => void): Promise<void> {
  const body = new TextEncoder().encode(JSON.stringify({ choices: [{ message: { content: "x".repeat(600) } }] }));
  const settledOutputs: Array<{ outputId: string; amount: string; recordHash: string; record: string }> = [];
  for (let start = 0; start < OUTPUTS; start += BATCH) {
    const ids = Array.from({ length: Math.min(BATCH, OUTPUTS - start) }, (_, k) => start + k);
    await Promise.all(
      ids.map(async (i) => {
        const payload = JSON.stringify({
          x402Version: 2,
          payload: { signature: hex(65), authorization: { nonce: hex(32) } },
          pad: "p".repeat(900),
        });
        const o = { outputId: hex(32), amount: "1000", recordHash: hex(32), record: record(i) };
        const r = await ledger.reserve({
          network: "eip155:31337",
          asset: hex(20),
          payer: hex(20),
          nonce: hex(32),
          payTo: splitter,
          amount: o.amount,
          modelId: "m",
          outputId: o.outputId,
          payload,
        });
        if (!r.reserved) throw new Error("bench: expected a fresh reservation");
        const p: PaymentRecord = r.payment;
        await ledger.putOutput({
          outputId: o.outputId,
          modelId: "m",
          paymentKey: p,
          record: o.record,
          recordHash: o.recordHash,
          epoch: null,
          createdAt: Date.now(),
        });
        await ledger.holdOutput({
          ...p,
          outputId: o.outputId,
          tokenHash: hex(32).slice(2),
          statusCode: 200,
          contentType: "application/json",
          body,
          createdAt: Date.now(),
        });
        await ledger.transition(p, ["reserved"], "settled", { txHash: hex(32) });
        settledOutputs[i] = o;
      }),
    );
    advance();
  }
  for (let e = 1; e * PER_EPOCH <= OUTPUTS; e++) {
    const outputs = settledOutputs.slice((e - 1) * PER_EPOCH, e * PER_EPOCH);
    const base = {
      splitter,
      epoch: e,
      claimsRoot: hex(32),
      recordsRoot: hex(32),
      cumulativeAllocated: String(e * 500_000),
      uri: `http://x/epochs/${e}`,
      createdAt: Date.now(),
    };
    const document = toStored(JSON.parse(epochDocument(e, outputs))); // as the closer stores it: no proofs, no records
    await ledger.putEpoch({ ...base, txHash: null, status: "built", document });
    await ledger.assignOutputsToEpoch(
      outputs.map((o) => o.outputId),
      e,
    );
    await ledger.putEpoch({ ...base, txHash: hex(32), status: "active", document });
  }
}

async function median(fn: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

// ---- the read paths as they were: every document read and parsed, every settled payment re-read with its output

async function oldEpochList(ledger: Ledger): Promise<number> {
  return (await ledger.listEpochs()).map((r) => JSON.parse(r.document).payments.length).length;
}

async function oldSummary(ledger: Ledger): Promise<number> {
  const perModel = new Map<string, bigint>();
  const outputs = new Map<string, number>();
  let after = 0;
  for (;;) {
    const page = await ledger.listPayments({ status: ["settled"], afterUpdatedAt: after, limit: 2000, order: "asc" });
    for (const p of page) {
      const o = p.outputId ? await ledger.getOutput(p.outputId) : null;
      if (!o) continue;
      perModel.set(o.modelId, (perModel.get(o.modelId) ?? 0n) + BigInt(p.amount));
      for (const c of (JSON.parse(o.record) as { contributors: Array<{ address: string }> }).contributors) {
        const a = getAddress(c.address);
        outputs.set(a, (outputs.get(a) ?? 0) + 1);
      }
    }
    if (page.length < 2000) break;
    after = page[page.length - 1].updatedAt;
  }
  for (const r of await ledger.listEpochs()) JSON.parse(r.document);
  return outputs.size + perModel.size;
}

async function oldContributor(ledger: Ledger, account: string): Promise<string> {
  const all = await ledger.listEpochs(splitter);
  const latest = all.filter((e) => e.status !== "vetoed" && e.txHash !== null).at(-1)!;
  const doc = JSON.parse(latest.document) as { claims: { leaves: Array<{ account: string; cumulativeAmount: string }> } };
  return doc.claims.leaves.find((l) => l.account === account)?.cumulativeAmount ?? "0";
}

// ---- the read paths as they are now

async function newEpochList(ledger: Ledger): Promise<number> {
  return (await ledger.listEpochSummaries()).length;
}

async function newSummary(ledger: Ledger): Promise<number> {
  const feed = new DashboardFeed(ledger); // a fresh feed: the first summary after a restart
  await feed.refresh();
  const [totals, outputs, recent, epochs] = await Promise.all([
    feed.totals(),
    feed.outputsByContributor(),
    feed.recent(15),
    ledger.listEpochSummaries(),
  ]);
  const latest = epochs.at(-1);
  if (latest) await ledger.listEpochClaims(latest.splitter, latest.epoch);
  feed.series(Date.now(), totals.revenue);
  return outputs.size + recent.length;
}

async function newContributor(ledger: Ledger, account: string): Promise<string> {
  const latest = (await ledger.listEpochSummaries(splitter)).filter((e) => e.status !== "vetoed" && e.txHash !== null).at(-1)!;
  return (await ledger.getEpochClaim(splitter, latest.epoch, account))?.cumulativeAmount ?? "0";
}

async function measureReads(ledger: Ledger) {
  const account = contributors[5];
  if ((await oldContributor(ledger, account)) !== (await newContributor(ledger, account)))
    throw new Error("bench: old and new contributor reads disagree");
  const reads = {
    epochList: { oldMs: await median(() => oldEpochList(ledger)), newMs: await median(() => newEpochList(ledger)) },
    dashboardSummary: { oldMs: await median(() => oldSummary(ledger)), newMs: await median(() => newSummary(ledger)) },
    contributor: { oldMs: await median(() => oldContributor(ledger, account)), newMs: await median(() => newContributor(ledger, account)) },
  };
  return Object.fromEntries(
    Object.entries(reads).map(([k, v]) => [k, { oldMs: round(v.oldMs), newMs: round(v.newMs), speedup: round(v.oldMs / v.newMs, 1) }]),
  );
}

/** The same on PostgreSQL (BENCH_LEDGER_DATABASE_URL), in a throwaway schema: reads and bytes per output (tables, indexes, TOAST). */
async function postgres(url: string) {
  const schema = `bench_ledger_${randomBytes(4).toString("hex")}`;
  let clock = Date.now() - Math.ceil(OUTPUTS / BATCH) * 60_000;
  const ledger = new PostgresLedger({ connectionString: url, schema, now: () => clock });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await ledger.migrate();
    const t0 = performance.now();
    await fill(ledger, () => (clock += 60_000));
    const fillSeconds = round((performance.now() - t0) / 1000);
    clock = Date.now();
    const reads = await measureReads(ledger);
    await admin.query(`VACUUM ANALYZE`);
    const { rows } = await admin.query(
      `SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY bytes DESC`,
      [schema],
    );
    const total = rows.reduce((sum: number, r: { bytes: string }) => sum + Number(r.bytes), 0);
    return {
      fillSeconds,
      reads,
      bytesPerOutput: round(total / OUTPUTS, 0),
      tableBytesPerOutput: Object.fromEntries(
        rows.map((r: { name: string; bytes: string | number }) => [r.name, round(Number(r.bytes) / OUTPUTS, 0)]),
      ),
    };
  } finally {
    await ledger.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "bench-ledger-"));
  const path = join(dir, "ledger.sqlite");
  // Payments spread over time (a minute per batch, ending now), so the dashboard's 3-minute window holds only the newest.
  let clock = Date.now() - Math.ceil(OUTPUTS / BATCH) * 60_000;
  const ledger = new SqliteLedger({ path, synchronous: "NORMAL", now: () => clock });
  await ledger.migrate();
  const t0 = performance.now();
  await fill(ledger, () => (clock += 60_000));
  const fillSeconds = (performance.now() - t0) / 1000;
  clock = Date.now();

  const reads = await measureReads(ledger);

  await ledger.close();
  const db = new (await import("node:sqlite")).DatabaseSync(path);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const fileBytes = statSync(path).size;
  const tables = tableBytes(db);
  db.close();
  // Past the retention: held outputs deleted, settled payloads emptied.
  const pruned = new SqliteLedger({ path, now: () => Date.now() + 8 * 24 * 3600_000 });
  const prunedCount = await pruned.pruneHeldOutputs(Date.now() + 1);
  await pruned.close();
  // Pages in use (the free list is reused by new rows), no VACUUM.
  const inspect = new (await import("node:sqlite")).DatabaseSync(path);
  inspect.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const pragma = (name: string) => Number((inspect.prepare(`PRAGMA ${name}`).get() as Record<string, number>)[name]);
  const prunedBytes = (pragma("page_count") - pragma("freelist_count")) * pragma("page_size");
  const prunedTables = tableBytes(inspect);
  inspect.close();
  rmSync(dir, { recursive: true, force: true });

  const result = {
    outputs: OUTPUTS,
    epochs: Math.floor(OUTPUTS / PER_EPOCH),
    fillSeconds: round(fillSeconds),
    reads,
    bytesPerOutput: round(fileBytes / OUTPUTS, 0),
    bytesPerOutputAfterHeldOutputsPruned: round(prunedBytes / OUTPUTS, 0),
    heldOutputsPruned: prunedCount,
    tableBytesPerOutput: Object.fromEntries(Object.entries(tables).map(([k, v]) => [k, round(v / OUTPUTS, 0)])),
    tableBytesPerOutputAfterRetention: Object.fromEntries(Object.entries(prunedTables).map(([k, v]) => [k, round(v / OUTPUTS, 0)])),
    postgres: process.env.BENCH_LEDGER_DATABASE_URL ? await postgres(process.env.BENCH_LEDGER_DATABASE_URL) : null,
    measuredAt: new Date().toISOString(),
  };
  console.table(result.reads);
  if (result.postgres) console.table(result.postgres.reads);
  console.log(
    JSON.stringify({ ...result, reads: undefined, postgres: result.postgres && { ...result.postgres, reads: undefined } }, null, 2),
  );
  mkdirSync(join(here, "results"), { recursive: true });
  writeFileSync(join(here, "results", "ledger.json"), JSON.stringify(result, null, 2) + "\n");
}

/** Bytes per table and index (dbstat), when this SQLite build has it. */
function tableBytes(db: import("node:sqlite").DatabaseSync): Record<string, number> {
  try {
    const rows = db.prepare("SELECT name, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC").all() as Array<{
      name: string;
      bytes: number;
    }>;
    return Object.fromEntries(rows.map((r: { name: string; bytes: string | number }) => [r.name, Number(r.bytes)]));
  } catch {
    return {};
  }
}

await main();
