// What the ledger keeps for reads that must not grow with history, on both databases: running
// totals per model and per contributor (exact with two instances settling at once), epoch
// list columns and claim leaves derived from the document, recent settlements, held-output
// pruning, and the release of a dead instance's reservations.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import pg from "pg";
import { afterAll, afterEach, describe, expect, inject, it } from "vitest";
import { PostgresLedger } from "../../server/ledger/postgres.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import type { EpochRecord, Ledger, OutputRecord, PaymentRecord, SettledBucket } from "../../server/ledger/types.ts";
import { address, hex, keyOf, paymentInput } from "../support/ledger-contract.ts";

type Opened = Ledger & { close(): Promise<void> };
const dir = mkdtempSync(join(tmpdir(), "royalty402-read-models-"));
const url = inject("postgresUrl");
const admin = new pg.Pool({ connectionString: url, max: 2 });
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await admin.end();
});

interface Backend {
  name: string;
  open: (db: string, now?: () => number) => Opened;
  drop: (db: string) => Promise<void>;
  /** Runs SQL outside the ledger (plays an older instance's write). */
  raw: (db: string, sql: string) => Promise<void>;
}

const backends: Backend[] = [
  {
    name: "SQLite",
    open: (db, now) => new SqliteLedger({ path: join(dir, `${db}.sqlite`), now }),
    drop: async () => {},
    raw: async (db, sql) => {
      const raw = new DatabaseSync(join(dir, `${db}.sqlite`));
      raw.exec(sql);
      raw.close();
    },
  },
  {
    name: "PostgreSQL",
    open: (db, now) => new PostgresLedger({ connectionString: url, schema: db, poolSize: 4, now }),
    drop: async (db) => void (await admin.query(`DROP SCHEMA IF EXISTS ${db} CASCADE`)),
    raw: async (db, sql) => void (await admin.query(`SET search_path = ${db}; ${sql}; RESET search_path`)),
  },
];

const record = (contributors: string[]) =>
  JSON.stringify({ contributors: contributors.map((a) => ({ address: a.toUpperCase().replace("0X", "0x"), ppm: 1 })) });

for (const backend of backends) {
  describe(`Ledger read models: ${backend.name}`, () => {
    const opened: Array<{ l: Opened; db: string }> = [];
    afterEach(async () => {
      for (const { l } of opened) await l.close();
      for (const db of new Set(opened.map((o) => o.db))) await backend.drop(db);
      opened.length = 0;
    });
    async function open(db = `r_${hex(5).slice(2)}`, now?: () => number) {
      const l = backend.open(db, now);
      opened.push({ l, db });
      await l.migrate();
      return l;
    }
    const output = (p: PaymentRecord, contributors: string[]): OutputRecord => ({
      outputId: hex(32),
      modelId: p.modelId!,
      paymentKey: keyOf(p),
      record: record(contributors),
      recordHash: hex(32),
      epoch: null,
      createdAt: Date.now(),
    });
    async function reserved(l: Ledger, over: Partial<PaymentRecord> = {}) {
      const r = await l.reserve(paymentInput(over));
      if (!r.reserved) throw new Error("expected a fresh reservation");
      return r.payment;
    }

    it("counts settled payments per model and credited outputs per contributor once, output first or settlement first", async () => {
      const l = await open();
      const [alice, bob] = [address(), address()];
      const a1 = await reserved(l, { modelId: "a", amount: "1000" });
      await l.putOutput(output(a1, [alice, bob])); // output first, then settled
      await l.transition(keyOf(a1), ["reserved"], "settled", { txHash: hex(32) });
      const a2 = await reserved(l, { modelId: "a", amount: ((1n << 200n) + 1n).toString() });
      await l.transition(keyOf(a2), ["reserved"], "settled", { txHash: hex(32) });
      await l.putOutput(output(a2, [alice])); // settled first, then output
      const b1 = await reserved(l, { modelId: "b", amount: "7" });
      await l.putOutput(output(b1, [bob]));
      await l.transition(keyOf(b1), ["reserved"], "failed", { errorReason: "x" }); // never counted
      const b2 = await reserved(l, { modelId: "b", amount: "5" });
      await l.transition(keyOf(b2), ["reserved"], "settling");
      await l.transition(keyOf(b2), ["settling"], "settled", { txHash: hex(32) });

      expect(await l.modelTotals()).toEqual([
        { modelId: "a", payments: 2, revenue: ((1n << 200n) + 1001n).toString() },
        { modelId: "b", payments: 1, revenue: "5" },
      ]);
      expect(await l.contributorTotals()).toEqual([
        { contributor: alice, outputs: 2 },
        { contributor: bob, outputs: 1 },
      ]);
      expect(await l.contributorTotals(1)).toEqual([{ contributor: alice, outputs: 2 }]);
      const recent = await l.recentSettled(2);
      expect(recent.map((p) => p.amount)).toEqual(["5", ((1n << 200n) + 1n).toString()]);
      expect(JSON.parse(recent[1].record!).contributors).toHaveLength(1);
      expect(recent[0].record).toBeNull();
    });

    it("counts settled payments per time bucket and amount, after (exclusive) to until (inclusive)", async () => {
      let t = 1_700_000_000_500;
      const l = await open(undefined, () => t);
      const settle = async (amount: string) => {
        const p = await reserved(l, { modelId: "a", amount });
        await l.transition(keyOf(p), ["reserved"], "settled", { txHash: hex(32) });
      };
      for (const amount of ["7", "7", "7", "9"]) await settle(amount);
      const big = ((1n << 200n) + 1n).toString();
      t += 1000;
      await settle(big);
      await settle(big);
      const failed = await reserved(l, { modelId: "a", amount: "1000" });
      await l.transition(keyOf(failed), ["reserved"], "failed", { errorReason: "x" }); // never counted
      const sorted = (rows: SettledBucket[]) => rows.sort((x, y) => x.t - y.t || x.amount.localeCompare(y.amount));
      expect(sorted(await l.settledBuckets(0, t, 1000))).toEqual([
        { t: 1_700_000_000_000, amount: "7", payments: 3 },
        { t: 1_700_000_000_000, amount: "9", payments: 1 },
        { t: 1_700_000_001_000, amount: big, payments: 2 },
      ]);
      expect(await l.settledBuckets(t - 1000, t, 1000)).toEqual([{ t: 1_700_000_001_000, amount: big, payments: 2 }]);
      expect(await l.settledBuckets(0, t - 1, 1000)).toHaveLength(2);
    });

    it("settles many payments asked for at once in one batch, each answered as its own compare-and-set", async () => {
      const l = await open();
      const [alice, bob] = [address(), address()];
      const ps = await Promise.all(Array.from({ length: 6 }, (_, i) => reserved(l, { modelId: i < 4 ? "a" : "b", amount: "10" })));
      for (const p of ps.slice(0, 5)) await l.putOutput(output(p, p === ps[0] ? [alice, bob] : [bob]));
      await l.transition(keyOf(ps[5]), ["reserved"], "failed", { errorReason: "x" });
      const tx = hex(32);
      const answers = await Promise.all([
        l.transition(keyOf(ps[0]), ["reserved"], "settled", { txHash: tx }),
        l.transition(keyOf(ps[1]), ["reserved", "settling"], "settled", { txHash: tx, amount: "4" }), // metered below the reservation
        l.transition(keyOf(ps[2]), ["settling"], "settled", { txHash: tx }), // wrong state: refused
        l.transition(keyOf(ps[3]), ["reserved"], "settled", { txHash: tx, outputId: "out-3" }),
        l.transition(keyOf(ps[3]), ["reserved"], "settled", { txHash: tx, outputId: "out-3b" }), // the same payment again
        l.transition(keyOf(ps[4]), ["reserved"], "settled", { txHash: tx }),
        l.transition(keyOf(ps[5]), ["failed"], "settled", { txHash: tx }), // chain truth wins over a failure
      ]);
      // One of the two asks for ps[3] wins (SQLite: the first; PostgreSQL: whichever locks the row first).
      const [first, second] = [answers[3], answers[4]];
      expect([first, second].filter((a) => a !== null)).toHaveLength(1);
      const won = first ?? second;
      expect([won?.nonce, won?.outputId]).toEqual([ps[3].nonce, first ? "out-3" : "out-3b"]);
      const others = [0, 1, 2, 5, 6].map((i) => answers[i]);
      expect(others.map((a) => a?.status ?? null)).toEqual(["settled", "settled", null, "settled", "settled"]);
      expect(others.map((a) => a?.nonce ?? null)).toEqual([ps[0], ps[1], null, ps[4], ps[5]].map((p) => p?.nonce ?? null));
      expect([answers[1]?.amount, answers[0]?.txHash, answers[0]?.payload]).toEqual(["4", tx, ps[0].payload]);
      expect((await l.getPayment(keyOf(ps[2])))?.status).toBe("reserved");
      expect(await l.modelTotals()).toEqual([
        { modelId: "a", payments: 3, revenue: "24" },
        { modelId: "b", payments: 2, revenue: "20" },
      ]);
      expect(await l.contributorTotals()).toEqual([
        { contributor: bob, outputs: 4 },
        { contributor: alice, outputs: 1 },
      ]);
    });

    it("two instances settling and storing outputs at once keep the totals exact", async () => {
      const db = `r_${hex(5).slice(2)}`;
      const [l1, l2] = [await open(db), await open(db)];
      const contributor = address();
      const payments = await Promise.all(Array.from({ length: 30 }, (_, i) => reserved(i % 2 ? l1 : l2, { modelId: "m", amount: "3" })));
      // For each payment, one instance settles while the other stores the output.
      await Promise.all(
        payments.flatMap((p, i) => [
          (i % 2 ? l1 : l2).transition(keyOf(p), ["reserved"], "settled", { txHash: hex(32) }),
          (i % 2 ? l2 : l1).putOutput(output(p, [contributor])),
        ]),
      );
      expect(await l1.modelTotals()).toEqual([{ modelId: "m", payments: 30, revenue: "90" }]);
      expect(await l2.contributorTotals()).toEqual([{ contributor, outputs: 30 }]);
    });

    it("lists epochs from their columns, derived from the document once, with claim leaves", async () => {
      const l = await open();
      const splitter = address();
      const [alice, bob] = [address(), address()];
      const doc = (n: number, leaves: Array<[string, string]>) =>
        JSON.stringify({
          epoch: n,
          cumulativeReceived: "5000",
          epochPool: "400",
          payments: [{ outputId: "a" }, { outputId: "b" }],
          claims: {
            leaves: leaves.map(([account, cumulativeAmount]) => ({
              account: account.toUpperCase().replace("0X", "0x"),
              cumulativeAmount,
              proof: [],
            })),
          },
        });
      const e1: EpochRecord = {
        splitter,
        epoch: 1,
        claimsRoot: hex(32),
        recordsRoot: hex(32),
        cumulativeAllocated: "400",
        uri: "u1",
        txHash: null,
        status: "built",
        document: doc(1, [[alice, "300"]]),
        createdAt: 1,
      };
      await l.putEpoch(e1);
      // Rebuilt while built: the leaves follow the new document.
      const rebuilt = {
        ...e1,
        claimsRoot: hex(32),
        document: doc(1, [
          [alice, "250"],
          [bob, "150"],
        ]),
      };
      await l.putEpoch(rebuilt);
      await l.putEpoch({ ...rebuilt, status: "posted", txHash: hex(32) });
      const [summary] = await l.listEpochSummaries(splitter);
      expect(summary).toMatchObject({ epoch: 1, status: "posted", outputs: 2, claimants: 2, cumulativeReceived: "5000", epochPool: "400" });
      expect(summary).not.toHaveProperty("document");
      expect(await l.listEpochClaims(splitter, 1)).toEqual(
        [
          { account: alice, cumulativeAmount: "250" },
          { account: bob, cumulativeAmount: "150" },
        ].sort((a, b) => (a.account < b.account ? -1 : 1)),
      );
      expect(await l.getEpochClaim(splitter, 1, bob.toUpperCase().replace("0X", "0x"))).toEqual({ account: bob, cumulativeAmount: "150" });
      expect(await l.getEpochClaim(splitter, 2, bob)).toBeNull();
      expect(await l.listEpochSummaries(address())).toEqual([]);
    });

    it("lists an epoch an older instance wrote without its summary, and derives it on the next write", async () => {
      const db = `r_${hex(5).slice(2)}`;
      const l = await open(db);
      const splitter = address();
      const document = JSON.stringify({ payments: [{}, {}, {}], claims: { leaves: [{ account: address(), cumulativeAmount: "9" }] } });
      const e: EpochRecord = {
        splitter,
        epoch: 1,
        claimsRoot: hex(32),
        recordsRoot: hex(32),
        cumulativeAllocated: "9",
        uri: "u",
        txHash: null,
        status: "built",
        document,
        createdAt: 5,
      };
      await l.putEpoch(e);
      await backend.raw(db, "DELETE FROM epoch_claims; DELETE FROM epoch_summaries");
      expect(await l.listEpochSummaries(splitter)).toMatchObject([{ epoch: 1, outputs: 0, claimants: 0, createdAt: 5 }]);
      await l.putEpoch({ ...e, status: "posted", txHash: hex(32) }); // same roots: only the missing rows are derived
      expect(await l.listEpochSummaries(splitter)).toMatchObject([{ epoch: 1, status: "posted", outputs: 3, claimants: 1, createdAt: 5 }]);
      expect(await l.listEpochClaims(splitter, 1)).toHaveLength(1);
    });

    it("pages epochs backwards through the primary key, counts them, and finds a splitter's newest by status", async () => {
      const l = await open();
      const [a, b] = [address(), address()].sort();
      const put = (splitter: string, epoch: number, status: EpochRecord["status"], txHash: string | null) =>
        l.putEpoch({
          splitter,
          epoch,
          claimsRoot: hex(32),
          recordsRoot: hex(32),
          cumulativeAllocated: String(epoch),
          uri: `u${epoch}`,
          txHash,
          status,
          document: JSON.stringify({ payments: [{}], cumulativeReceived: "10" }),
          createdAt: epoch,
        });
      for (let n = 1; n <= 5; n++) await put(a, n, n === 5 ? "vetoed" : "active", hex(32));
      await put(a, 6, "built", null);
      for (let n = 1; n <= 2; n++) await put(b, n, n === 2 ? "vetoed" : "posted", hex(32));
      const keys = (rows: Array<{ splitter: string; epoch: number }>) => rows.map((r) => `${r.splitter === a ? "a" : "b"}${r.epoch}`);

      // Across splitters: (splitter, epoch) order, the last page first, newest last.
      expect(keys(await l.pageEpochSummaries({ limit: 3 }))).toEqual(["a6", "b1", "b2"]);
      expect(keys(await l.pageEpochSummaries({ limit: 3, before: { splitter: b, epoch: 1 } }))).toEqual(["a4", "a5", "a6"]);
      expect(keys(await l.pageEpochSummaries({ limit: 3, before: { splitter: a, epoch: 4 } }))).toEqual(["a1", "a2", "a3"]);
      expect(await l.pageEpochSummaries({ limit: 3, before: { splitter: a, epoch: 1 } })).toEqual([]);
      expect(keys(await l.pageEpochSummaries({ splitter: a, limit: 2, before: { splitter: a, epoch: 3 } }))).toEqual(["a1", "a2"]);
      expect(keys(await l.pageEpochSummaries({ splitter: b, limit: 10 }))).toEqual(["b1", "b2"]);
      expect(keys(await l.pageEpochSummaries({ splitter: a, limit: 1, before: { splitter: b, epoch: 1 } }))).toEqual(["a6"]);
      expect(await l.pageEpochSummaries({ splitter: b, limit: 1, before: { splitter: a, epoch: 9 } })).toEqual([]);
      const [page] = await l.pageEpochSummaries({ splitter: a, limit: 1 });
      expect(page).toMatchObject({ epoch: 6, status: "built", outputs: 1, cumulativeReceived: "10" });
      expect(page).toEqual(await l.getEpochSummary(a, 6));
      expect(await l.getEpochSummary(a, 7)).toBeNull();

      expect([await l.countEpochs(), await l.countEpochs(a), await l.countEpochs(b), await l.countEpochs(address())]).toEqual([8, 6, 2, 0]);
      const latest = async (splitter: string, filter?: "not_vetoed" | "posted_not_vetoed") =>
        (await l.latestEpochSummary(splitter, filter))?.epoch ?? null;
      expect([await latest(a), await latest(a, "not_vetoed"), await latest(a, "posted_not_vetoed")]).toEqual([6, 6, 4]);
      expect([await latest(b), await latest(b, "not_vetoed"), await latest(address())]).toEqual([2, 1, null]);
    });

    it("prunes held outputs of payments settled or failed before the cutoff, keeping pending ones", async () => {
      let t = 1_000_000;
      const l = await open(undefined, () => t);
      const hold = async (p: PaymentRecord) => {
        const outputId = hex(32);
        await l.holdOutput({
          ...keyOf(p),
          outputId,
          tokenHash: hex(32).slice(2),
          statusCode: 200,
          contentType: "text/plain",
          body: new Uint8Array([1, 2, 3]),
          createdAt: t,
        });
        return outputId;
      };
      const settled = await reserved(l);
      const settledId = await hold(settled);
      await l.transition(keyOf(settled), ["reserved"], "settled", { txHash: hex(32) });
      const settledOutput = output(settled, [address()]);
      await l.putOutput(settledOutput);
      const settledRow = await l.getPayment(keyOf(settled));
      const pending = await reserved(l);
      const pendingId = await hold(pending);
      await l.transition(keyOf(pending), ["reserved"], "pending", { txHash: hex(32) });
      t += 10_000;
      const late = await reserved(l);
      const lateId = await hold(late);
      await l.transition(keyOf(late), ["reserved"], "settled", { txHash: hex(32) });

      expect(await l.pruneHeldOutputs(t - 5_000)).toBe(1);
      expect(await l.getHeldOutput(settledId)).toBeNull();
      expect(await l.getHeldOutput(pendingId)).not.toBeNull();
      expect(await l.getHeldOutput(lateId)).not.toBeNull();
      expect(await l.pruneHeldOutputs(t - 5_000)).toBe(0);
      // The settled payment past the retention keeps its row but not its payload; the others keep theirs.
      expect(await l.getPayment(keyOf(settled))).toEqual({ ...settledRow, payload: "" }); // SQLite rewrites the row: all else kept
      expect((await l.getOutput(settledOutput.outputId))?.paymentKey).toEqual(keyOf(settled));
      expect((await l.getPayment(keyOf(pending)))!.payload).toBe(pending.payload);
      expect((await l.getPayment(keyOf(late)))!.payload).toBe(late.payload);
    });

    it("keeps output texts once and reads records and texts of many outputs in one query", async () => {
      const l = await open();
      const p = await reserved(l);
      const o = output(p, [address()]);
      await l.putOutput(o);
      expect(await l.getOutputRecords([o.outputId, hex(32)])).toEqual({ [o.outputId]: o.record });
      expect(await l.getOutputPaymentKeys([o.outputId, hex(32)])).toEqual({ [o.outputId]: keyOf(p) });
      await l.putOutputText(o.outputId, { output: "an answer", prompt: "a question" });
      await l.putOutputText(o.outputId, { output: "another answer" }); // written once: a no-op
      const other = hex(32);
      await l.putOutputText(other, { output: "no prompt" });
      expect(await l.getOutputTexts([o.outputId, other, hex(32)])).toEqual({
        [o.outputId]: { output: "an answer", prompt: "a question" },
        [other]: { output: "no prompt" },
      });
      expect(await l.getOutputTexts([])).toEqual({});
    });

    it("releases the reservations of an instance whose heartbeat stopped, never a live instance's", async () => {
      let t = 1_000_000;
      const db = `r_${hex(5).slice(2)}`;
      const [dead, live] = [await open(db, () => t), await open(db, () => t)];
      await dead.heartbeat();
      await live.heartbeat();
      const lost = await reserved(dead);
      const mine = await reserved(live);
      const silent = await reserved(await open(db, () => t)); // an instance that never beat: left to the reconciler
      t += 15_000;
      await live.heartbeat();
      expect(await live.releaseDeadReservations(20_000)).toBe(0); // dead is late but not yet stale
      t += 10_000;
      await live.heartbeat();
      expect(await live.releaseDeadReservations(20_000)).toBe(1);
      expect(await live.getPayment(keyOf(lost))).toMatchObject({ status: "released", errorReason: "instance_stopped" });
      expect((await live.getPayment(keyOf(mine)))?.status).toBe("reserved");
      expect((await live.getPayment(keyOf(silent)))?.status).toBe("reserved");
      // The payer presents the authorization again: a live instance reserves it, and it stays.
      expect(await live.transition(keyOf(lost), ["released"], "reserved")).toMatchObject({ status: "reserved" });
      t += 60_000;
      await live.heartbeat();
      expect(await live.releaseDeadReservations(20_000)).toBe(0);
      expect((await live.getPayment(keyOf(lost)))?.status).toBe("reserved");
    });
  });
}
