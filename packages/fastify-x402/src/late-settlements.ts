// Final results that arrive after a request was answered "pending" (202): recorded in the store.
// A result may also beat the request's own "pending" write; it is kept briefly for it.
import type { FastifyBaseLogger } from "fastify";
import type { Runtime } from "./options.ts";
import { keyId, type PaymentKey } from "./store.ts";
import type { LateSettlement } from "./types.ts";

const EARLY_RESULT_TTL_MS = 60_000;

export interface LateResults {
  /** The request recorded its payment "pending": apply a result already in, or wait for it. */
  notePending(key: PaymentKey): Promise<void>;
  /** Subscribes to the facilitator's late results; returns the unsubscribe function. */
  listen(subscribe: (listener: (settlement: LateSettlement) => void) => () => void): () => void;
}

export function lateResults(rt: Runtime, log: FastifyBaseLogger): LateResults {
  const awaiting = new Set<string>();
  const early = new Map<string, LateSettlement>();
  const keyOf = (s: LateSettlement): PaymentKey => ({
    network: rt.network,
    asset: s.asset.toLowerCase(),
    payer: s.payer.toLowerCase(),
    nonce: s.nonce.toLowerCase(),
  });

  async function record(settlement: LateSettlement): Promise<void> {
    const key = keyOf(settlement);
    await rt.store
      .transition(key, ["pending"], settlement.status, { txHash: settlement.txHash, errorReason: settlement.reason ?? null })
      .catch((error) => log.error({ err: error, payment: key }, "x402: could not record a late settlement result"));
  }

  return {
    async notePending(key) {
      const id = keyId(key);
      const result = early.get(id);
      if (result) {
        early.delete(id);
        await record(result);
      } else awaiting.add(id);
    },
    listen(subscribe) {
      return subscribe((settlement) => {
        const id = keyId(keyOf(settlement));
        if (awaiting.delete(id)) void record(settlement);
        else {
          early.set(id, settlement);
          setTimeout(() => early.delete(id), EARLY_RESULT_TTL_MS).unref();
        }
      });
    },
  };
}
