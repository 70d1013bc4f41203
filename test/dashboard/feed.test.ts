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
      prop === "settledSince"
        ? async (after: number, limit: number) => {
            const rows = await target.settledSince(after, limit);
            rowsRead += rows.length;
            return rows;
          }
        : Reflect.get(target, prop),
  });
  const feed = new DashboardFeed(counting, 60_000, () => t);
  await feed.refresh();
  expect(rowsRead).toBe(59); // settled in the last minute (strictly after its start), not 300
  const totals = await feed.totals();
  expect(totals).toMatchObject({ payments: 300, revenue: 3000n });
  const points = feed.series(t, 60_000, 1000, totals.revenue);
  expect(points.reduce((n, p) => n + p.payments, 0)).toBe(59);
  expect(points.at(-1)!.cumulativeRevenue).toBe("3000");
  expect(points[0].cumulativeRevenue).toBe(String(3000 - 59 * 10 + 10)); // what came before the window, plus the first bucket

  rowsRead = 0;
  for (let i = 0; i < 5; i++, t += 1000) await settle("7");
  await feed.refresh();
  expect(rowsRead).toBeLessThanOrEqual(5 + 5); // the new ones and the look-back second(s)
  expect((await feed.totals()).revenue).toBe(3035n);
  expect(feed.series(t, 60_000, 1000, 3035n).reduce((n, p) => n + p.payments, 0)).toBe(59); // the window moved on 5 s

  const recent = await feed.recent(3);
  expect(recent.map((p) => p.amount)).toEqual([7n, 7n, 7n]);
  expect(recent[0].at).toBeGreaterThan(recent[1].at);
  expect(recent[0].contributors).toEqual([{ address: alice, ppm: 600_000 }]);
  expect(await feed.outputsByContributor()).toEqual(new Map([[alice, 305]]));
  await ledger.close();
});
