// The dashboard feed on a real SQLite ledger with history: start-up reads only the chart's
// window (not every payment ever settled), refreshes read only what is new, and the totals,
// the chart's running revenue and the recent list agree with the ledger.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getAddress } from "ethers";
import { afterAll, expect, it } from "vitest";
import { DashboardFeed } from "../../server/dashboard/feed.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";

const dir = mkdtempSync(join(tmpdir(), "royalty402-feed-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hex = (n: number) => "0x" + randomBytes(n).toString("hex");
const alice = getAddress(hex(20));

function record(): string {
  return JSON.stringify({
    algorithm: "t",
    indexRoot: "0x" + "11".repeat(32),
    contributors: [{ address: alice, ppm: 600_000 }],
    unattributedPpm: 400_000,
  });
}

it("reads the window at start-up and only new settlements after, with totals from the ledger", async () => {
  let t = 1_700_000_000_000;
  const ledger = new SqliteLedger({ path: join(dir, "feed.sqlite"), now: () => t });
  await ledger.migrate();
  const settle = async (amount: string) => {
    const outputId = hex(32);
    const r = await ledger.reserve({
      network: "eip155:31337",
      asset: hex(20),
      payer: hex(20),
      nonce: hex(32),
      payTo: hex(20),
      amount,
      modelId: "m",
      outputId,
      payload: "{}",
    });
    if (!r.reserved) throw new Error("expected a fresh reservation");
    await ledger.putOutput({
      outputId,
      modelId: "m",
      paymentKey: r.payment,
      record: record(),
      recordHash: hex(32),
      epoch: null,
      createdAt: t,
    });
    await ledger.transition(r.payment, ["reserved"], "settled", { txHash: hex(32) });
  };
  for (let i = 0; i < 300; i++, t += 1000) await settle("10"); // five minutes of history

  let rowsRead = 0;
  const counting = new Proxy(ledger, {
    get: (target, prop) =>
      prop === "settledBuckets"
        ? async (after: number, until: number, bucketMs: number) => {
            const rows = await target.settledBuckets(after, until, bucketMs);
            rowsRead += rows.length;
            return rows;
          }
        : Reflect.get(target, prop),
  });
  const feed = new DashboardFeed(counting, 60_000, () => t);
  await feed.refresh();
  expect(rowsRead).toBe(59); // a row per second and amount in the last minute (strictly after its start), not 300
  const totals = await feed.totals();
  expect(totals).toMatchObject({ payments: 300, revenue: 3000n });
  const points = feed.series(t, totals.revenue);
  expect(points.reduce((n, p) => n + p.payments, 0)).toBe(59);
  expect(points.at(-1)!.cumulativeRevenue).toBe("3000");
  expect(points[0].cumulativeRevenue).toBe(String(3000 - 59 * 10 + 10)); // what came before the window, plus the first bucket

  rowsRead = 0;
  for (let i = 0; i < 5; i++, t += 1000) await settle("7");
  await feed.refresh();
  expect(rowsRead).toBeLessThanOrEqual(5 + 5); // the new ones and the look-back second(s)
  expect((await feed.totals()).revenue).toBe(3035n);
  expect(feed.series(t, 3035n).reduce((n, p) => n + p.payments, 0)).toBe(59); // the window moved on 5 s

  const recent = await feed.recent(3);
  expect(recent.map((p) => p.amount)).toEqual([7n, 7n, 7n]);
  expect(recent[0].at).toBeGreaterThan(recent[1].at);
  expect(recent[0].contributors).toEqual([{ address: alice, ppm: 600_000 }]);
  expect(await feed.outputsByContributor()).toEqual(new Map([[alice, 305]]));
  await ledger.close();
});

it("a busy second is one row per amount, its revenue exact", async () => {
  let t = 1_800_000_000_000;
  const ledger = new SqliteLedger({ path: join(dir, "busy.sqlite"), now: () => t });
  await ledger.migrate();
  const big = (1n << 200n) + 1n;
  for (let i = 0; i < 40; i++) {
    const r = await ledger.reserve({
      network: "eip155:31337",
      asset: hex(20),
      payer: hex(20),
      nonce: hex(32),
      payTo: hex(20),
      amount: i % 4 === 0 ? big.toString() : "3",
      modelId: "m",
      outputId: hex(32),
      payload: "{}",
    });
    if (!r.reserved) throw new Error("expected a fresh reservation");
    await ledger.transition(r.payment, ["reserved"], "settled", { txHash: hex(32) });
  }
  t += 10_000; // past the look-back: read once, as history
  let rows = 0;
  const counting = new Proxy(ledger, {
    get: (target, prop) =>
      prop === "settledBuckets"
        ? async (...args: [number, number, number]) => {
            const r = await target.settledBuckets(...args);
            rows += r.length;
            return r;
          }
        : Reflect.get(target, prop),
  });
  const feed = new DashboardFeed(counting, 60_000, () => t);
  await feed.refresh();
  expect(rows).toBe(2);
  const revenue = 10n * big + 30n * 3n;
  const points = feed.series(t, revenue);
  const busy = points.filter((p) => p.payments > 0);
  expect(busy).toEqual([{ t: 1_800_000_000_000, payments: 40, revenue: revenue.toString(), cumulativeRevenue: revenue.toString() }]);
  await feed.refresh(); // nothing new: the settled second is not read again
  expect(rows).toBe(2);
  await ledger.close();
});
