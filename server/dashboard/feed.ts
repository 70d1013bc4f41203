// What the dashboard shows, read from the ledger incrementally: every settled payment (its
// time, amount and model) and its output's attribution record (who it credited). One refresh
// reads only the payments settled since the previous one, so polling stays cheap however long
// the server has run. Figures that must agree with the public API (prices, epochs, earnings,
// claims) are taken from that API itself, not recomputed here.
import { getAddress } from "ethers";
import { parseRecord } from "../attribution/index.ts";
import type { Ledger, PaymentRecord } from "../ledger/index.ts";

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

const PAGE = 2000;
/** Settlements written in the same millisecond as the cursor may arrive after it: look back this far. */
const LOOKBACK_MS = 5000;

export class DashboardFeed {
  private readonly payments = new Map<string, SettledPayment>();
  private readonly ordered: SettledPayment[] = [];
  private cursor = 0;
  private refreshing: Promise<void> | null = null;

  constructor(private readonly ledger: Ledger) {}

  /** Reads payments settled since the last refresh (concurrent callers share one read). */
  refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  private async read(): Promise<void> {
    let after = Math.max(0, this.cursor - LOOKBACK_MS);
    for (;;) {
      const page = await this.ledger.listPayments({ status: ["settled"], afterUpdatedAt: after, limit: PAGE, order: "asc" });
      for (const p of page) {
        this.cursor = Math.max(this.cursor, p.updatedAt);
        if (p.outputId === null || this.payments.has(p.outputId.toLowerCase())) continue;
        const payment = await this.toSettled(p);
        if (!payment) continue;
        this.payments.set(payment.outputId, payment);
        this.insertOrdered(payment);
      }
      if (page.length < PAGE) return;
      // Next page: re-read the last millisecond (ties may straddle the page end) unless that
      // would not move forward.
      const last = page[page.length - 1].updatedAt;
      after = last - 1 > after ? last - 1 : last;
    }
  }

  private async toSettled(p: PaymentRecord): Promise<SettledPayment | null> {
    const outputId = p.outputId!.toLowerCase();
    const output = await this.ledger.getOutput(outputId);
    if (!output) return null;
    let contributors: SettledPayment["contributors"] = [];
    let unattributedPpm = 1_000_000;
    try {
      const record = parseRecord(output.record);
      contributors = record.contributors.map((c) => ({ address: getAddress(c.address), ppm: c.ppm }));
      unattributedPpm = record.unattributedPpm;
    } catch {
      // A record the ledger holds is valid by construction; an unreadable one is shown as unattributed.
    }
    return { outputId, model: output.modelId, amount: BigInt(p.amount), payer: getAddress(p.payer), txHash: p.txHash, at: p.updatedAt, contributors, unattributedPpm };
  }

  private insertOrdered(p: SettledPayment): void {
    let i = this.ordered.length;
    while (i > 0 && this.ordered[i - 1].at > p.at) i--;
    this.ordered.splice(i, 0, p);
  }

  get(outputId: string): SettledPayment | undefined {
    return this.payments.get(outputId.toLowerCase());
  }

  all(): readonly SettledPayment[] {
    return this.ordered;
  }

  /** Newest first. */
  recent(n: number): SettledPayment[] {
    return this.ordered.slice(-n).reverse();
  }

  byModel(): Map<string, { payments: number; revenue: bigint }> {
    const out = new Map<string, { payments: number; revenue: bigint }>();
    for (const p of this.ordered) {
      const m = out.get(p.model) ?? { payments: 0, revenue: 0n };
      m.payments++;
      m.revenue += p.amount;
      out.set(p.model, m);
    }
    return out;
  }

  /** Outputs crediting each contributor. */
  outputsByContributor(): Map<string, number> {
    const out = new Map<string, number>();
    for (const p of this.ordered) for (const c of p.contributors) out.set(c.address, (out.get(c.address) ?? 0) + 1);
    return out;
  }

  /**
   * Payments and revenue per bucket over the last `windowMs` up to `now` (buckets with nothing
   * in them included, so the chart's time axis is even), with the running revenue total.
   */
  series(now: number, windowMs: number, bucketMs: number): SeriesPoint[] {
    const end = Math.floor(now / bucketMs) * bucketMs + bucketMs;
    const first = this.ordered[0]?.at;
    const start = Math.max(end - windowMs, first === undefined ? end - bucketMs : Math.floor(first / bucketMs) * bucketMs);
    const n = Math.max(1, Math.round((end - start) / bucketMs));
    const counts = new Array<number>(n).fill(0);
    const sums = new Array<bigint>(n).fill(0n);
    let before = 0n;
    for (const p of this.ordered) {
      if (p.at < start) {
        before += p.amount;
        continue;
      }
      const i = Math.min(n - 1, Math.floor((p.at - start) / bucketMs));
      counts[i]++;
      sums[i] += p.amount;
    }
    let running = before;
    return counts.map((payments, i) => {
      running += sums[i];
      return { t: start + i * bucketMs, payments, revenue: sums[i].toString(), cumulativeRevenue: running.toString() };
    });
  }
}
