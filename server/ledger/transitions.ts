// The payment state machine is the payment package's PAYMENT_TRANSITIONS. A transition outside its
// edges is a bug in the caller and is refused loudly, so a settled payment can never be reported
// as released (or the like).
import { PAYMENT_TRANSITIONS } from "@royalty402/fastify-x402";
import { LedgerError } from "./errors.ts";
import type { PaymentStatus } from "./types.ts";

const PAYMENT_STATUSES = Object.keys(PAYMENT_TRANSITIONS) as PaymentStatus[];

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
