// What the dashboard shows, read from the ledger in amounts that do not grow with history:
// totals per model and per contributor come from the ledger's running totals, the recent
// list from its newest settled rows, and the chart from the settlements of the chart's window
// only, kept in memory and read incrementally (at start-up: that window, not all history).
// Figures that must agree with the public API (prices, epochs, earnings, claims) are taken
// from that API itself, not recomputed here.
import { getAddress } from "ethers";
import { parseRecord } from "../attribution/index.ts";
import type { Ledger, SettledRow } from "../ledger/index.ts";

export interface SettledPayment {
  outputId: string;
  model: string;
  amount: bigint;
  payer: string;
  txHash: string | null;
  /** When the ledger recorded the settlement (ms). */
  at: number;
  /** Contributors credited by the output's record (checksummed), with their ppm. */
  contributors: Array<{ address: string; ppm: number }>;
  unattributedPpm: number;
}

export interface SeriesPoint {
  /** Start of the bucket (ms). */
  t: number;
  payments: number;
  /** Atomic units settled in the bucket. */
  revenue: string;
  /** Atomic units settled up to the end of the bucket. */
  cumulativeRevenue: string;
}

export interface FeedTotals {
  payments: number;
  revenue: bigint;
  byModel: Map<string, { payments: number; revenue: bigint }>;
}

const PAGE = 2000;
/** Settlements written in the same millisecond as the cursor may arrive after it: look back this far. */
const LOOKBACK_MS = 5000;
/** The chart never holds more points than this, whatever the load. */
const MAX_WINDOW_POINTS = 200_000;

/** A settlement on the chart: no key (at 370 payments/s the window held 66,000 of them, ~40 MB with keys). */
interface Point {
  at: number;
  amount: bigint;
}

export class DashboardFeed {
  private window: Point[] = [];
  /**
   * Payments (payer:nonce → updatedAt) already on the chart that the next read may return again:
   * only those of the last LOOKBACK_MS before the cursor (a settled row's updatedAt never changes).
   */
  private readonly seen = new Map<string, number>();
  private cursor: number | null = null;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly ledger: Ledger,
    private readonly windowMs = 180_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reads the settlements since the last refresh (concurrent callers share one read). */
  refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async read(): Promise<void> {
    const start = this.now() - this.windowMs;
    let after = Math.max(0, this.cursor === null ? start : Math.max(start, this.cursor - LOOKBACK_MS));
    for (;;) {
      const page = await this.ledger.settledSince(after, PAGE);
      for (const row of page) this.add(row);
      if (page.length < PAGE) break;
      // Next page: re-read the last millisecond (ties may straddle the page end) unless that would not move forward.
      const last = page[page.length - 1].updatedAt;
      after = last - 1 > after ? last - 1 : last;
    }
    this.trim(start);
  }

  private add(row: SettledRow): void {
    this.cursor = Math.max(this.cursor ?? 0, row.updatedAt);
    const key = `${row.payer}:${row.nonce}`;
    if (this.seen.has(key)) return;
    this.seen.set(key, row.updatedAt);
    const point = { at: row.updatedAt, amount: BigInt(row.amount) };
    let i = this.window.length;
    while (i > 0 && this.window[i - 1].at > point.at) i--;
    this.window.splice(i, 0, point);
  }

  /** Drops points older than the window (and the oldest past the cap), and keys no read can return again. */
  private trim(start: number): void {
    let drop = 0;
    while (drop < this.window.length && (this.window[drop].at < start || this.window.length - drop > MAX_WINDOW_POINTS)) drop++;
    if (drop > 0) this.window = this.window.slice(drop);
    // The next read starts after max(start, cursor - LOOKBACK_MS): rows at or before that are never read again.
    const reread = Math.max(start, (this.cursor ?? 0) - LOOKBACK_MS);
    for (const [key, at] of this.seen) if (at <= reread) this.seen.delete(key);
  }

  /** Settled payments and revenue, in total and per model (the ledger's running totals). */
  async totals(): Promise<FeedTotals> {
    const byModel = new Map<string, { payments: number; revenue: bigint }>();
    let payments = 0;
    let revenue = 0n;
    for (const m of await this.ledger.modelTotals()) {
      byModel.set(m.modelId, { payments: m.payments, revenue: BigInt(m.revenue) });
      payments += m.payments;
      revenue += BigInt(m.revenue);
    }
    return { payments, revenue, byModel };
  }

  /** Settled outputs crediting each contributor (checksummed address). */
  async outputsByContributor(): Promise<Map<string, number>> {
    return new Map((await this.ledger.contributorTotals()).map((c) => [getAddress(c.contributor), c.outputs]));
  }

  /** The newest settled payments with an output, newest first. */
  async recent(n: number): Promise<SettledPayment[]> {
    const rows = await this.ledger.recentSettled(n);
    return rows.filter((r) => r.outputId !== null && r.record !== null).map(toSettled);
  }

  /**
   * Payments and revenue per bucket over the last `windowMs` up to `now` (buckets with nothing
   * in them included, so the chart's time axis is even), with the running revenue total ending
   * at `totalRevenue`.
   */
  series(now: number, windowMs: number, bucketMs: number, totalRevenue: bigint): SeriesPoint[] {
    const end = Math.floor(now / bucketMs) * bucketMs + bucketMs;
    const first = this.window[0]?.at;
    const start = Math.max(end - windowMs, first === undefined ? end - bucketMs : Math.floor(first / bucketMs) * bucketMs);
    const n = Math.max(1, Math.round((end - start) / bucketMs));
    const counts = new Array<number>(n).fill(0);
    const sums = new Array<bigint>(n).fill(0n);
    let inWindow = 0n;
    for (const p of this.window) {
      if (p.at < start) continue;
      const i = Math.min(n - 1, Math.floor((p.at - start) / bucketMs));
      counts[i]++;
      sums[i] += p.amount;
      inWindow += p.amount;
    }
    let running = totalRevenue > inWindow ? totalRevenue - inWindow : 0n;
    return counts.map((payments, i) => {
      running += sums[i];
      return { t: start + i * bucketMs, payments, revenue: sums[i].toString(), cumulativeRevenue: running.toString() };
    });
  }
}

function toSettled(row: SettledRow): SettledPayment {
  let contributors: SettledPayment["contributors"] = [];
  let unattributedPpm = 1_000_000;
  try {
    const record = parseRecord(row.record!);
    contributors = record.contributors.map((c) => ({ address: getAddress(c.address), ppm: c.ppm }));
    unattributedPpm = record.unattributedPpm;
  } catch {
    // A record the ledger holds is valid by construction; an unreadable one is shown as unattributed.
  }
  return {
    outputId: row.outputId!.toLowerCase(),
    model: row.modelId ?? "",
    amount: BigInt(row.amount),
    payer: getAddress(row.payer),
    txHash: row.txHash,
    at: row.updatedAt,
    contributors,
    unattributedPpm,
  };
}
