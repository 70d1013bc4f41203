// An in-memory PaymentStore: for tests, demos and single-process servers that accept losing
// their payment journal on restart.
import {
  PAYMENT_TRANSITIONS,
  type ClaimResult,
  type PaymentIdClaim,
  keyId,
  type HeldOutput,
  type NewPayment,
  type PaymentKey,
  type PaymentRecord,
  type PaymentStatus,
  type PaymentStore,
  type ReserveResult,
  type TransitionFields,
} from "./store.ts";

export class MemoryPaymentStore implements PaymentStore {
  private readonly payments = new Map<string, PaymentRecord>();
  private readonly outputs = new Map<string, HeldOutput>();
  private readonly paymentIds = new Map<string, PaymentIdClaim>();

  async reserve(payment: NewPayment): Promise<ReserveResult> {
    const id = keyId(payment);
    const existing = this.payments.get(id);
    if (existing) return { reserved: false, existing: { ...existing } };
    const now = Date.now();
    const record: PaymentRecord = { ...payment, status: "reserved", txHash: null, errorReason: null, createdAt: now, updatedAt: now };
    this.payments.set(id, record);
    return { reserved: true, payment: { ...record } };
  }

  async transition(
    key: PaymentKey,
    from: PaymentStatus[],
    to: PaymentStatus,
    fields: TransitionFields = {},
  ): Promise<PaymentRecord | null> {
    for (const f of from) if (!PAYMENT_TRANSITIONS[f].includes(to)) throw new Error(`payment store: ${f} -> ${to} is not allowed`);
    const record = this.payments.get(keyId(key));
    if (!record || !from.includes(record.status)) return null;
    record.status = to;
    for (const field of ["txHash", "errorReason", "outputId"] as const) if (fields[field] !== undefined) record[field] = fields[field];
    if (fields.amount !== undefined) record.amount = fields.amount;
    record.updatedAt = Date.now();
    return { ...record };
  }

  async get(key: PaymentKey): Promise<PaymentRecord | null> {
    const record = this.payments.get(keyId(key));
    return record ? { ...record } : null;
  }

  /** Every payment, oldest first (for tests and dashboards). */
  list(): PaymentRecord[] {
    return [...this.payments.values()].map((p) => ({ ...p })).sort((a, b) => a.createdAt - b.createdAt);
  }

  async holdOutput(output: HeldOutput): Promise<void> {
    if (!this.payments.has(keyId(output))) throw new Error("payment store: holdOutput for an unknown payment");
    const same = this.outputs.get(output.outputId);
    if (same) {
      if (keyId(same) !== keyId(output)) throw new Error("payment store: this outputId is held for another payment");
      return;
    }
    for (const held of this.outputs.values())
      if (keyId(held) === keyId(output)) throw new Error("payment store: this payment already holds an output");
    this.outputs.set(output.outputId, { ...output });
  }

  async getHeldOutput(outputId: string): Promise<{ output: HeldOutput; payment: PaymentRecord } | null> {
    const output = this.outputs.get(outputId);
    const payment = output && this.payments.get(keyId(output));
    return output && payment ? { output: { ...output }, payment: { ...payment } } : null;
  }

  async claimPaymentId(claim: PaymentIdClaim): Promise<ClaimResult> {
    const existing = this.paymentIds.get(claim.paymentId);
    if (existing) return { claimed: false, existing: { ...existing, key: { ...existing.key } } };
    this.paymentIds.set(claim.paymentId, { ...claim, key: { ...claim.key } });
    return { claimed: true };
  }

  async getPaymentId(paymentId: string): Promise<PaymentIdClaim | null> {
    const claim = this.paymentIds.get(paymentId);
    return claim ? { ...claim, key: { ...claim.key } } : null;
  }
}
