// Prometheus metrics (prom-client), one registry per app so several apps can share a process.
// Settlement latency and batch sizes are observed by wrapping the facilitator from the outside.
import type { FacilitatorClient } from "@x402/core/server";
import type { PaymentPayload, PaymentRequirements, SettleResponse, SupportedResponse, VerifyResponse } from "@x402/core/types";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { facilitatorEvents, type FacilitatorEvents } from "../facilitator/index.ts";

/** `ledger`: an SQLite ledger that fsyncs its own WAL reports its slowest fsync per scrape. */
export function createMetrics(ledger?: { takeSlowestFsyncMs?: () => number | null | Promise<number | null> }) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "royalty402_" });
  if (ledger?.takeSlowestFsyncMs) {
    const take = ledger.takeSlowestFsyncMs.bind(ledger);
    new Gauge({
      name: "royalty402_ledger_fsync_max_seconds",
      help: "The longest fsync of the SQLite ledger's WAL since the previous scrape (every paid answer waits for one)",
      registers: [registry],
      async collect() {
        this.set(((await take()) ?? 0) / 1000);
      },
    });
  }
  return {
    registry,
    payments: new Counter({
      name: "royalty402_payments_total",
      help:
        "Paid-route requests by outcome (the x402 plugin's outcome event): challenged (402 without payment), rejected (payment " +
        "refused before the handler), settled, pending, failed " +
        "(settlement refused), replayed, redelivered (a paid answer given " +
        "again), released (handler failed, nothing charged), unavailable",
      labelNames: ["model", "status"] as const,
      registers: [registry],
    }),
    paidAmount: new Counter({
      name: "royalty402_paid_amount_atomic_total",
      help: "Settled payment amounts in atomic token units",
      labelNames: ["model"] as const,
      registers: [registry],
    }),
    settlementSeconds: new Histogram({
      name: "royalty402_settlement_seconds",
      help: "Time from handing a payment to the facilitator to its settle answer",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: "royalty402_settlement_batch_size",
      help: "Payments of this server settled per on-chain transaction",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers: [registry],
    }),
    attributionSeconds: new Histogram({
      name: "royalty402_attribution_seconds",
      help: "Time to compute an output's attribution record",
      labelNames: ["model"] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    generationSeconds: new Histogram({
      name: "royalty402_generation_seconds",
      help: "Time for the model backend to produce an output",
      labelNames: ["model"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    epochs: new Counter({
      name: "royalty402_epochs_total",
      help: "Epoch close attempts by result (closed, skipped, waiting, halted, error)",
      labelNames: ["model", "status"] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * A FacilitatorClient that measures settle latency and how many of our settlements share a
 * transaction. The embedded batcher answers every item of a batch from one receipt, in one
 * turn of the event loop (batchWindowMs 0); a remote facilitator's answers arrive apart, so
 * they are grouped over a short window.
 */
export function meteredFacilitator(
  inner: FacilitatorClient,
  metrics: Metrics,
  batchWindowMs = 0,
): FacilitatorClient & Partial<FacilitatorEvents> {
  const later = (run: () => void) => (batchWindowMs === 0 ? setImmediate(run) : setTimeout(run, batchWindowMs).unref());
  const batches = new Map<string, number>();
  const wrapped: FacilitatorClient & Partial<FacilitatorEvents> = {
    verify: (payload: PaymentPayload, requirements: PaymentRequirements): Promise<VerifyResponse> => inner.verify(payload, requirements),
    async settle(payload: PaymentPayload, requirements: PaymentRequirements): Promise<SettleResponse> {
      const stop = metrics.settlementSeconds.startTimer();
      try {
        const result = await inner.settle(payload, requirements);
        if (result.success && result.transaction) {
          const seen = batches.get(result.transaction);
          batches.set(result.transaction, (seen ?? 0) + 1);
          // Settlements of one batch answer together: count them for a moment, then observe.
          if (seen === undefined) {
            later(() => {
              metrics.batchSize.observe(batches.get(result.transaction) ?? 1);
              batches.delete(result.transaction);
            });
          }
        }
        return result;
      } finally {
        stop();
      }
    },
    getSupported: (): Promise<SupportedResponse> => inner.getSupported(),
  };
  // The embedded facilitator's events (journal before broadcast, late results) pass through.
  const events = facilitatorEvents(inner);
  if (events) {
    wrapped.onBeforeBroadcast = (listener) => events.onBeforeBroadcast(listener);
    wrapped.onFinal = (listener) => events.onFinal(listener);
  }
  return wrapped;
}
