// What the dashboard shows, read from the ledger in amounts that do not grow with history:
// totals per model and per contributor come from the ledger's running totals, the recent
// list from its newest settled rows, and the chart from counts per second of the chart's window,
// read by the ledger per bucket and amount (a few rows a second, however many payments) and kept
// in memory, each range read once (at start-up: that window, not all history).
// Figures that must agree with the public API (prices, epochs, earnings, claims) are taken
// from that API itself, not recomputed here.
import { setImmediate as nextTurn } from "node:timers/promises";
import { getAddress } from "ethers";
import { parseRecord } from "../attribution/index.ts";
import type { Ledger, SettledBucket, SettledRow } from "../ledger/index.ts";

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

/** Settlements this recent may still appear (written in one millisecond, committed apart): read again on every refresh. */
const LOOKBACK_MS = 5000;
/** One query reads at most this much time (~4,000 payments at 400/s), so no statement holds the event loop long. */
const SLICE_MS = 10_000;

interface Bucket {
  payments: number;
  revenue: bigint;
}

export class DashboardFeed {
  /** Settled payments per bucket start (ms), up to `stableUntil`: each range is read once. */
  private readonly buckets = new Map<number, Bucket>();
  /** The same for the last LOOKBACK_MS before the latest refresh, read again each time. */
  private recentBuckets = new Map<number, Bucket>();
  private stableUntil: number | null = null;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly ledger: Ledger,
    private readonly windowMs = 180_000,
    private readonly now: () => number = Date.now,
    private readonly bucketMs = 1000,
  ) {}

  /** Reads the settlements since the last refresh (concurrent callers share one read). */
  refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** Counts per bucket from the ledger: a few rows a second of history, never a row per payment. */
  private async read(): Promise<void> {
    const now = this.now();
    const start = now - this.windowMs;
    const stableTo = Math.max(start, now - LOOKBACK_MS);
    const from = Math.max(start, this.stableUntil ?? start);
    for (let after = from; after < stableTo; after += SLICE_MS) {
      if (after > from) await nextTurn(); // requests run between slices
      add(this.buckets, await this.ledger.settledBuckets(after, Math.min(after + SLICE_MS, stableTo), this.bucketMs));
    }
    this.stableUntil = Math.max(from, stableTo);
    const recent = new Map<number, Bucket>();
    add(recent, await this.ledger.settledBuckets(this.stableUntil, now, this.bucketMs));
    this.recentBuckets = recent;
    for (const t of this.buckets.keys()) if (t + this.bucketMs <= start) this.buckets.delete(t);
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
   * Payments and revenue per bucket over the window up to `now` (buckets with nothing in them
   * included, so the chart's time axis is even), with the running revenue total ending at
   * `totalRevenue`.
   */
  series(now: number, totalRevenue: bigint): SeriesPoint[] {
    const { bucketMs } = this;
    const end = Math.floor(now / bucketMs) * bucketMs + bucketMs;
    const held = [...this.buckets, ...this.recentBuckets];
    const first = held.reduce((m, [t]) => Math.min(m, t), Number.POSITIVE_INFINITY);
    const start = Math.max(end - this.windowMs, Number.isFinite(first) ? first : end - bucketMs);
    const n = Math.max(1, Math.round((end - start) / bucketMs));
    const counts = new Array<number>(n).fill(0);
    const sums = new Array<bigint>(n).fill(0n);
    let inWindow = 0n;
    for (const [t, b] of held) {
      if (t < start) continue;
      const i = Math.min(n - 1, Math.floor((t - start) / bucketMs));
      counts[i] += b.payments;
      sums[i] += b.revenue;
      inWindow += b.revenue;
    }
    let running = totalRevenue > inWindow ? totalRevenue - inWindow : 0n;
    return counts.map((payments, i) => {
      running += sums[i];
      return { t: start + i * bucketMs, payments, revenue: sums[i].toString(), cumulativeRevenue: running.toString() };
    });
  }
}

function add(into: Map<number, Bucket>, rows: SettledBucket[]): void {
  for (const r of rows) {
    const b = into.get(r.t) ?? { payments: 0, revenue: 0n };
    b.payments += r.payments;
    b.revenue += BigInt(r.amount) * BigInt(r.payments);
    into.set(r.t, b);
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
