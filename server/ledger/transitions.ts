// The payment state machine. A transition outside these edges is a bug in the caller and is
// refused loudly, so a settled payment can never be reported as released (or the like).
import { LedgerError } from "./errors.ts";
import type { PaymentStatus } from "./types.ts";

const PAYMENT_STATUSES: readonly PaymentStatus[] = ["reserved", "settling", "pending", "settled", "failed", "released"];

const PAYMENT_TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  // The handler ran (or failed) and settlement starts; an external facilitator may answer
  // settled/pending/failed directly without a separate "settling" step.
  reserved: ["settling", "pending", "settled", "failed", "released"],
  // Submitted: confirmed, refused, or slow (pending, reconciled later). settling -> settling
  // records the hash of a re-signed transaction (fee bump); settling -> released gives the
  // reservation back when the transaction certainly never reached the chain.
  settling: ["settling", "pending", "settled", "failed", "released"],
  // Reconciliation: the chain decides. pending -> pending records a replacement txHash;
  // pending -> settling resubmits only after the old transaction is known dropped.
  pending: ["pending", "settling", "settled", "failed"],
  settled: [],
  // Chain truth wins: an authorization reported failed/released that later shows up settled
  // on-chain (e.g. submitted by a third party) is recorded as settled, never lost.
  failed: ["settled"],
  // released -> reserved: the authorization was never used on-chain, so the same signed
  // payment may be presented again (a retry after a handler failure); compare-and-set picks
  // one retrier.
  released: ["reserved", "settled"],
};

export function isPaymentStatus(s: unknown): s is PaymentStatus {
  return typeof s === "string" && (PAYMENT_STATUSES as readonly string[]).includes(s);
}

/** Throws unless every `from -> to` is an edge of the state machine. */
export function assertTransition(from: readonly PaymentStatus[], to: PaymentStatus): void {
  if (!isPaymentStatus(to)) throw new LedgerError("invalid_input", `unknown payment status ${JSON.stringify(to)}`);
  if (!Array.isArray(from) || from.length === 0) throw new LedgerError("invalid_input", "transition needs at least one `from` status");
  for (const f of from) {
    if (!isPaymentStatus(f)) throw new LedgerError("invalid_input", `unknown payment status ${JSON.stringify(f)}`);
    if (!PAYMENT_TRANSITIONS[f].includes(to)) throw new LedgerError("invalid_transition", `${f} -> ${to} is not allowed`);
  }
}
