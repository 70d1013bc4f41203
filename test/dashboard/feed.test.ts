// The dashboard feed on a real SQLite ledger with history: start-up reads only the chart's
// window (not every payment ever settled), refreshes read only what is new, and the totals,
// the chart's running revenue and the recent list agree with the ledger.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getAddress } from "ethers";
import { afterAll, expect, it } from "vitest";
import { DashboardFeed } from "../../server/dashboard/feed.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import { hex, paymentInput } from "../support/ledger-contract.ts";

const dir = mkdtempSync(join(tmpdir(), "royalty402-feed-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const alice = getAddress(hex(20));

function record(): string {
  return JSON.stringify({
    algorithm: "t",
    indexRoot: "0x" + "11".repeat(32),
    contributors: [{ address: alice, ppm: 600_000 }],
    unattributedPpm: 400_000,
  });
}

/** Reserves and settles one payment of `amount`, with an output crediting alice unless `withOutput` is false. */
async function settle(ledger: SqliteLedger, createdAt: number, amount: string, withOutput = true): Promise<void> {
  const outputId = hex(32);
  const r = await ledger.reserve(paymentInput({ amount, modelId: "m", outputId }));
  if (!r.reserved) throw new Error("expected a fresh reservation");
  if (withOutput)
    await ledger.putOutput({
      outputId,
      modelId: "m",
      paymentKey: r.payment,
      record: record(),
      recordHash: hex(32),
      epoch: null,
      createdAt,
    });
  await ledger.transition(r.payment, ["reserved"], "settled", { txHash: hex(32) });
}

/** The ledger, counting the bucket rows read through it. */
function countingBuckets(ledger: SqliteLedger) {
  const read = { rows: 0 };
  const counted = new Proxy(ledger, {
    get: (target, prop) =>
      prop === "settledBuckets"
        ? async (...args: [number, number, number]) => {
            const rows = await target.settledBuckets(...args);
            read.rows += rows.length;
            return rows;
          }
        : Reflect.get(target, prop),
  });
  return { counted, read };
}

it("reads the window at start-up and only new settlements after, with totals from the ledger", async () => {
  let t = 1_700_000_000_000;
  const ledger = new SqliteLedger({ path: join(dir, "feed.sqlite"), now: () => t });
  await ledger.migrate();
  for (let i = 0; i < 300; i++, t += 1000) await settle(ledger, t, "10"); // five minutes of history

  const { counted, read } = countingBuckets(ledger);
  const feed = new DashboardFeed(counted, 60_000, () => t);
  await feed.refresh();
  expect(read.rows).toBe(59); // a row per second and amount in the last minute (strictly after its start), not 300
  const totals = await feed.totals();
  expect(totals).toMatchObject({ payments: 300, revenue: 3000n });
  const points = feed.series(t, totals.revenue);
  expect(points.reduce((n, p) => n + p.payments, 0)).toBe(59);
  expect(points.at(-1)!.cumulativeRevenue).toBe("3000");
  expect(points[0].cumulativeRevenue).toBe(String(3000 - 59 * 10 + 10)); // what came before the window, plus the first bucket

  read.rows = 0;
  for (let i = 0; i < 5; i++, t += 1000) await settle(ledger, t, "7");
  await feed.refresh();
  expect(read.rows).toBeLessThanOrEqual(5 + 5); // the new ones and the look-back second(s)
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
  for (let i = 0; i < 40; i++) await settle(ledger, t, i % 4 === 0 ? big.toString() : "3", false);
  t += 10_000; // past the look-back: read once, as history
  const { counted, read } = countingBuckets(ledger);
  const feed = new DashboardFeed(counted, 60_000, () => t);
  await feed.refresh();
  expect(read.rows).toBe(2);
  const revenue = 10n * big + 30n * 3n;
  const points = feed.series(t, revenue);
  const busy = points.filter((p) => p.payments > 0);
  expect(busy).toEqual([{ t: 1_800_000_000_000, payments: 40, revenue: revenue.toString(), cumulativeRevenue: revenue.toString() }]);
  await feed.refresh(); // nothing new: the settled second is not read again
  expect(read.rows).toBe(2);
  await ledger.close();
});
