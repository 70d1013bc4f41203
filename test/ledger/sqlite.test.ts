// The ledger contract on a real SQLite file, plus what only a file can show: reopening,
// durability settings, and a reserve race between separate OS processes.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { createMetrics } from "../../server/api/metrics.ts";
import { DEFAULT_SQLITE_PATH, ledgerConfigFromEnv, openLedger } from "../../server/ledger/index.ts";
import { sqliteDialect } from "../../server/ledger/dialect.ts";
import { sqliteMigrations } from "../../server/ledger/migrations.ts";
import { journalStatement } from "../../server/ledger/sql/broadcast-batch.ts";
import { claimStatement } from "../../server/ledger/sql/channels.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import { keyOf, ledgerContract, paymentInput } from "../support/ledger-contract.ts";

const dir = mkdtempSync(join(tmpdir(), "royalty402-ledger-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const until = async (ok: () => boolean) => {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!ok()) throw new Error("timed out waiting");
};
const fileOf = (db: string) => join(dir, `${db}.sqlite`);
const childScript = fileURLToPath(new URL("../support/ledger-race-child.ts", import.meta.url));
const spawnChild = (...args: string[]) =>
  spawn(process.execPath, ["--disable-warning=ExperimentalWarning", "--import", "tsx", childScript, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
  });

ledgerContract("SQLite", {
  migrations: sqliteMigrations,
  open: async (db, options) => new SqliteLedger({ path: fileOf(db), ...options }),
  drop: async (db) => {
    for (const suffix of ["", "-wal", "-shm"]) rmSync(fileOf(db) + suffix, { force: true });
  },
  extraMigration: (version, table) => ({ version, name: table, sql: `CREATE TABLE ${table} (x INTEGER) STRICT` }),
});

describe("SQLite ledger file", () => {
  it("keeps its data when reopened", async () => {
    const path = join(dir, "reopen", "ledger.sqlite");
    const first = new SqliteLedger({ path });
    await first.migrate();
    const r = await first.reserve(paymentInput());
    if (!r.reserved) throw new Error("not reserved");
    const settled = await first.transition(keyOf(r.payment), ["reserved"], "settled", { txHash: "0x" + "ab".repeat(32) });
    await first.addContribution({ datanetId: "dn", contributor: r.payment.payer, contentHash: "0x01", text: "kept" });
    await first.close();

    const again = new SqliteLedger({ path });
    await again.migrate();
    expect(await again.getPayment(keyOf(r.payment))).toEqual(settled);
    expect((await again.listContributions("dn")).map((c) => [c.seq, c.text])).toEqual([[0, "kept"]]);
    expect((await again.addContribution({ datanetId: "dn", contributor: r.payment.payer, contentHash: "0x02", text: "next" })).seq).toBe(1);
    await again.close();
  });

  it("runs in WAL mode with full fsync, a busy timeout and foreign keys", async () => {
    const path = join(dir, "settings.sqlite");
    const ledger = new SqliteLedger({ path, busyTimeoutMs: 1234 });
    // FULL durability, the WAL's fsync done by the ledger off the event loop (SQLite itself: NORMAL).
    expect(ledger.settings()).toEqual({
      journalMode: "wal",
      synchronous: "FULL",
      sqliteSynchronous: "NORMAL",
      busyTimeoutMs: 1234,
      foreignKeys: true,
    });
    const normal = new SqliteLedger({ path, synchronous: "NORMAL" });
    expect(normal.settings().synchronous).toBe("NORMAL");
    await Promise.all([ledger.close(), normal.close()]);
    // WAL is a property of the file: another connection sees it too.
    const raw = new DatabaseSync(path);
    expect(raw.prepare("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    raw.close();
  });

  it("commits the payment writes of one event-loop turn together, each call seeing the ones before it", async () => {
    const ledger = new SqliteLedger({ path: join(dir, "group.sqlite") });
    await ledger.migrate();
    const inputs = Array.from({ length: 32 }, () => paymentInput());
    const commits = ledger.stats.commits;
    const reserved = await Promise.all(inputs.map((i) => ledger.reserve(i)));
    expect(reserved.every((r) => r.reserved)).toBe(true);
    expect(ledger.stats.commits - commits).toBe(1);
    // In one group: a transition queued after a reserve sees it; a failed compare-and-set
    // (wrong state) answers null without undoing the others.
    const late = paymentInput();
    const [r, moved, refused, settled] = await Promise.all([
      ledger.reserve(late),
      ledger.transition(keyOf(late), ["reserved"], "settling"),
      ledger.transition(keyOf(inputs[0]), ["settling"], "settled", { txHash: "0x" + "cd".repeat(32) }),
      ledger.transition(keyOf(inputs[1]), ["reserved"], "settled", { txHash: "0x" + "cd".repeat(32) }),
    ]);
    expect([r.reserved, moved?.status, refused, settled?.status]).toEqual([true, "settling", null, "settled"]);
    expect(ledger.stats.commits - commits).toBe(2);
    await ledger.close();
    // Durable: a new connection sees every committed write.
    const again = new SqliteLedger({ path: join(dir, "group.sqlite") });
    expect((await again.listPayments({ status: ["reserved"] })).length).toBe(31);
    expect((await again.getPayment(keyOf(late)))?.status).toBe("settling");
    await again.close();
  });

  it("undoes only the write that throws in a group: the writes around it still commit", async () => {
    const ledger = new SqliteLedger({ path: join(dir, "group-throw.sqlite") });
    await ledger.migrate();
    const [a, b, stranger] = [paymentInput(), paymentInput(), paymentInput()];
    const commits = ledger.stats.commits;
    const orphan = {
      outputId: "orphan",
      modelId: "m",
      paymentKey: keyOf(stranger), // never reserved: the foreign key refuses the output
      record: "{}",
      recordHash: "0x" + "01".repeat(32),
      epoch: null,
      createdAt: 1,
    };
    const [first, refused, last] = await Promise.allSettled([ledger.reserve(a), ledger.putOutput(orphan), ledger.reserve(b)]);
    expect(first.status === "fulfilled" && first.value.reserved).toBe(true);
    expect(refused.status === "rejected" && (refused.reason as { code?: string }).code).toBe("unknown_payment");
    expect(last.status === "fulfilled" && last.value.reserved).toBe(true);
    expect(ledger.stats.commits - commits).toBe(1);
    await ledger.close();
    const again = new SqliteLedger({ path: join(dir, "group-throw.sqlite") });
    expect((await again.listPayments({ status: ["reserved"] })).length).toBe(2);
    expect(await again.getOutput("orphan")).toBeNull();
    await again.close();
  });

  it("lets payment writes commit between the statements of an epoch assignment, not after all of them", async () => {
    const ledger = new SqliteLedger({ path: join(dir, "assign.sqlite") });
    await ledger.migrate();
    const ids: string[] = [];
    for (let i = 0; i < 750; i++) {
      const r = await ledger.reserve(paymentInput());
      if (!r.reserved) throw new Error("not reserved");
      await ledger.transition(keyOf(r.payment), ["reserved"], "settled", { txHash: "0x" + "ab".repeat(32) });
      const outputId = `out-${i}`;
      const record = JSON.stringify({ i });
      await ledger.putOutput({
        outputId,
        modelId: "m",
        paymentKey: keyOf(r.payment),
        record,
        recordHash: "0x" + "01".repeat(32),
        epoch: null,
        createdAt: i,
      });
      ids.push(outputId);
    }
    // A trigger notes how many outputs the assignment had committed when the reserve inserted its row.
    const observer = new DatabaseSync(join(dir, "assign.sqlite"));
    observer.exec(`CREATE TABLE seen (assigned INTEGER);
      CREATE TRIGGER note AFTER INSERT ON payments BEGIN INSERT INTO seen SELECT count(*) FROM outputs WHERE epoch = 1; END;`);
    // Several statements; the reserve is issued while the first one is queued.
    const assigned = ledger.assignOutputsToEpoch(ids, 1);
    const reserved = ledger.reserve(paymentInput());
    await Promise.all([assigned, reserved]);
    const [{ assigned: seen }] = observer.prepare("SELECT assigned FROM seen").all() as Array<{ assigned: number }>;
    observer.close();
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThan(750);
    expect(await ledger.listEpochOutputs("m", 1)).toHaveLength(750);
    await ledger.close();
  });

  it("answers a commit only after an fsync of the WAL that started after it, commits meanwhile sharing the next one", async () => {
    const path = join(dir, "walsync.sqlite");
    const started: Array<() => void> = [];
    let hold = false;
    // Once `hold`: an fsync that finishes when the test says so, so the order is visible.
    const fsync = (file: FileHandle) => file.sync().then(() => (hold ? new Promise<void>((done) => started.push(done)) : undefined));
    const ledger = new SqliteLedger({ path, fsync });
    await ledger.migrate();
    hold = true;

    let answered = 0;
    const first = ledger.reserve(paymentInput()).then(() => answered++);
    await until(() => started.length === 1); // committed; its fsync runs
    expect(answered).toBe(0);
    // Two more commits while that fsync runs: neither may be answered by it.
    const more = [
      ledger.reserve(paymentInput()),
      ledger.addContribution({ datanetId: "dn", contributor: "0x" + "11".repeat(20), contentHash: "0x0a", text: "t" }),
    ];
    const moreAnswered = Promise.all(more).then(() => answered++);
    await new Promise((r) => setTimeout(r, 20));
    started.shift()!();
    await first;
    expect(answered).toBe(1);
    await until(() => started.length === 1); // one fsync for both later commits
    expect(answered).toBe(1);
    started.shift()!();
    await moreAnswered;
    expect(answered).toBe(2);
    expect(started).toEqual([]);
    await ledger.close();
  });

  it("reports its slowest WAL fsync once, through the metrics gauge every paid answer's wait shows in", async () => {
    const path = join(dir, "slow-fsync.sqlite");
    const slowMs = 120;
    const fsync = (file: FileHandle) => file.sync().then(() => new Promise<void>((done) => setTimeout(done, slowMs)));
    const ledger = new SqliteLedger({ path, fsync });
    await ledger.migrate();
    const metrics = createMetrics(ledger);
    await ledger.reserve(paymentInput());
    const gauge = async () => (await metrics.registry.getSingleMetric("royalty402_ledger_fsync_max_seconds")!.get()).values[0].value;
    expect(await gauge()).toBeGreaterThanOrEqual(slowMs / 1000 - 0.005);
    expect(await gauge()).toBe(0); // read once: the next scrape starts over
    expect(ledger.takeSlowestFsyncMs()).toBe(0);
    await ledger.close();
  });

  it("checkpoints in a worker thread: commits never checkpoint, yet the WAL stops growing", async () => {
    const path = join(dir, "checkpoints.sqlite");
    const ledger = new SqliteLedger({ path, checkpointIntervalMs: 20 });
    await ledger.migrate();
    const pragma = (name: string) => Object.values(new DatabaseSync(path).prepare(`PRAGMA ${name}`).get() ?? {})[0];
    expect(pragma("page_size")).toBe(4096);
    // About 1,600 pages (6.5 MB) in 100 commits; SQLite's own checkpoint is off on the ledger's connection.
    const walSizes: number[] = [];
    for (let i = 0; i < 100; i++) {
      await ledger.addContribution({
        datanetId: "big",
        contributor: "0x" + "22".repeat(20),
        contentHash: `0x${i.toString(16)}`,
        text: "w".repeat(64_000),
      });
      walSizes.push(statSync(`${path}-wal`).size);
      if (i % 10 === 9) await new Promise((r) => setTimeout(r, 40));
    }
    expect(ledger.stats.checkpoints).toBeGreaterThan(0);
    // The WAL started over after the worker's checkpoints: never the whole 6.5 MB.
    expect(Math.max(...walSizes)).toBeLessThan(4 * 1024 * 1024);
    expect((await ledger.listContributions("big")).length).toBe(100);
    await ledger.close();
  });

  /** A freshly migrated ledger file, opened raw (to read its schema and query plans). */
  async function migratedFile(name: string): Promise<DatabaseSync> {
    const path = join(dir, name);
    const ledger = new SqliteLedger({ path });
    await ledger.migrate();
    await ledger.close();
    return new DatabaseSync(path);
  }

  it("stores amounts as TEXT, never as numbers", async () => {
    const path = join(dir, "types.sqlite");
    const ledger = new SqliteLedger({ path });
    await ledger.migrate();
    const big = "123456789012345678901234567890";
    await ledger.reserve(paymentInput({ amount: big }));
    await ledger.close();
    const raw = new DatabaseSync(path);
    expect(raw.prepare("SELECT typeof(amount) AS t, amount FROM payments").get()).toEqual({ t: "text", amount: big });
    raw.close();
  });

  it("journals a batch's transaction hash by looking each payment up by its key, not by walking every settling payment", async () => {
    const raw = await migratedFile("plan.sqlite");
    const plan = raw
      .prepare(`EXPLAIN QUERY PLAN ${journalStatement(sqliteDialect)}`)
      .all({ journal: "[]", now: 0 })
      .map((row) => String(row.detail));
    raw.close();
    // The batch (json_each) is the outer loop; payments is searched by its primary key for each entry.
    expect(plan[0]).toMatch(/^SCAN json_each/);
    expect(plan[1]).toMatch(
      /^SEARCH payments USING INDEX sqlite_autoindex_payments_1 \(network=\? AND asset=\? AND payer=\? AND nonce=\?\)/,
    );
  });

  it("a claim finds its vouchers by output id, not by reading the channel's every voucher", async () => {
    const raw = await migratedFile("claim-plan.sqlite");
    const plan = raw
      .prepare(`EXPLAIN QUERY PLAN ${claimStatement(sqliteDialect)}`)
      .all({ tx: "0x", id: "0x", outputs: "[]" })
      .map((row) => String(row.detail));
    raw.close();
    expect(plan[0]).toMatch(/^SEARCH channel_vouchers USING INDEX channel_vouchers_output \(output_id=\?\)/);
  });

  it("payments carry only the indexes a query reads; the reconciler's open payments come by (status, updated_at)", async () => {
    const raw = await migratedFile("indexes.sqlite");
    const indexes = raw
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'payments' ORDER BY name")
      .all()
      .map((row) => String(row.name));
    // Every status change rewrites the payment's entry in each index on updated_at: two of them were read by nothing.
    expect(indexes).toEqual(["payments_payload_kept", "payments_status_updated", "payments_tx_hash", "sqlite_autoindex_payments_1"]);
    const plan = raw
      .prepare(
        `EXPLAIN QUERY PLAN SELECT * FROM payments WHERE status IN ('reserved', 'settling', 'pending') AND updated_at > 0
         ORDER BY updated_at, network, asset, payer, nonce LIMIT 100`,
      )
      .all()
      .map((row) => String(row.detail));
    raw.close();
    expect(plan[0]).toMatch(/^SEARCH payments USING INDEX payments_status_updated \(status=\? AND updated_at>\?\)/);
  });

  it("separate processes racing on one file: exactly one winner per key", async () => {
    const path = join(dir, "race.sqlite"); // fresh file: the children also race to migrate it
    const inputs = Array.from({ length: 60 }, () => paymentInput());
    const inputsFile = join(dir, "race-inputs.json");
    writeFileSync(inputsFile, JSON.stringify(inputs));

    const children = Array.from({ length: 4 }, () => {
      const proc = spawnChild("race", path, inputsFile);
      let out = "";
      let err = "";
      proc.stdout.on("data", (d) => (out += d));
      proc.stderr.on("data", (d) => (err += d));
      const ready = new Promise<void>((resolve, reject) => {
        proc.stdout.on("data", () => out.includes("ready\n") && resolve());
        proc.on("exit", (code) => reject(new Error(`child exited (${code}) before ready: ${err}`)));
      });
      // "close", not "exit": exit can fire before the child's last stdout chunk has been read.
      const done = new Promise<string[]>((resolve, reject) =>
        proc.on("close", (code) =>
          code === 0 ? resolve(JSON.parse(out.split("\n")[1])) : reject(new Error(`child failed (${code}): ${err}`)),
        ),
      );
      return { proc, ready, done };
    });
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.proc.stdin.end("go\n");
    const won = (await Promise.all(children.map((c) => c.done))).flat();

    expect(won.sort()).toEqual(inputs.map((i) => i.nonce).sort());
    const check = new SqliteLedger({ path });
    expect(await check.appliedMigrations()).toEqual(sqliteMigrations.map((m) => ({ version: m.version, name: m.name })));
    expect((await check.listPayments({})).length).toBe(60);
    await check.close();
  });

  it.each([
    { where: "in the event loop's thread", thread: false },
    { where: "in a thread of its own (database.sqliteThread)", thread: true },
  ])("a process killed -9 mid-stream loses no reservation it reported: the ledger $where", async ({ thread }) => {
    const path = join(dir, thread ? "killed-thread.sqlite" : "killed.sqlite");
    const proc = spawnChild("churn", path, thread ? "thread" : "");
    let out = "";
    let err = "";
    proc.stderr.on("data", (d) => (err += d));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on("exit", (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on("data", (d) => {
        out += d;
        if (out.split("\n").length > 40) resolve();
      });
      proc.on("exit", () => reject(new Error(`churn child exited early: ${err}`)));
    });
    proc.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");

    const reported = out.split("\n").filter((l) => /^0x[0-9a-f]{64}$/.test(l));
    expect(reported.length).toBeGreaterThanOrEqual(40);
    const ledger = new SqliteLedger({ path });
    await ledger.migrate();
    const stored = new Set((await ledger.listPayments({ limit: 10_000 })).map((p) => p.nonce));
    expect(reported.filter((n) => !stored.has(n))).toEqual([]);
    await ledger.close();
  });
});

describe("openLedger (SQLite)", () => {
  it("reads DATABASE_URL and LEDGER_SQLITE_PATH from the environment", () => {
    expect(ledgerConfigFromEnv({ DATABASE_URL: "postgres://h/db", LEDGER_SQLITE_PATH: "x.sqlite" })).toEqual({
      databaseUrl: "postgres://h/db",
      sqlitePath: "x.sqlite",
    });
    expect(ledgerConfigFromEnv({ DATABASE_URL: "" })).toEqual({ databaseUrl: undefined, sqlitePath: undefined });
  });

  it("without DATABASE_URL opens a migrated SQLite file, creating its folder", async () => {
    const path = join(dir, "nested", "deeper", "ledger.sqlite");
    const ledger = await openLedger({ sqlitePath: path });
    expect(ledger.backend).toBe("sqlite");
    expect(existsSync(path)).toBe(true);
    expect((await ledger.reserve(paymentInput())).reserved).toBe(true);
    await ledger.close();
  });

  it("defaults to .data/royalty402.sqlite under the working directory", async () => {
    const cwd = process.cwd();
    const work = mkdtempSync(join(dir, "cwd-"));
    process.chdir(work);
    try {
      const ledger = await openLedger({ databaseUrl: "" });
      expect(ledger.backend).toBe("sqlite");
      await ledger.close();
      expect(existsSync(join(work, DEFAULT_SQLITE_PATH))).toBe(true);
    } finally {
      process.chdir(cwd);
    }
  });
});
