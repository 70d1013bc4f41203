// What the plugin keeps about payments, behind an interface the host implements (a SQL ledger,
// a key-value store…); MemoryPaymentStore is the reference implementation.
// Amounts are decimal strings of atomic token units.

/** A payment's life: reserved before the handler runs, then exactly one terminal state. */
export type PaymentStatus =
  | "reserved" // authorization held; the handler may be running
  | "settling" // handed to the facilitator (txHash once the facilitator journals it)
  | "pending" // transaction broadcast, not confirmed in time: the chain decides later
  | "settled"
  | "failed" // refused by the facilitator or on-chain; nothing charged
  | "released"; // given back unused (handler failure, chain unreachable): the same payment may be retried

/** A payment is unique per (network, asset, payer, nonce): the nonce is the scheme's id of the payment. */
export interface PaymentKey {
  network: string; // CAIP-2, e.g. "eip155:8453"
  asset: string; // lower-case
  payer: string; // lower-case
  nonce: string; // lower-case
}

export interface PaymentRecord extends PaymentKey {
  payTo: string; // lower-case
  amount: string;
  /** The paid resource (the route's `resource`). */
  resource: string | null;
  outputId: string | null;
  status: PaymentStatus;
  txHash: string | null;
  errorReason: string | null;
  /** The PaymentPayload as received (JSON text): a retry is recognised by it, byte for byte. */
  payload: string;
  createdAt: number; // ms since epoch
  updatedAt: number;
}

export type NewPayment = Omit<PaymentRecord, "status" | "txHash" | "errorReason" | "createdAt" | "updatedAt">;

export type ReserveResult = { reserved: true; payment: PaymentRecord } | { reserved: false; existing: PaymentRecord };

/** The answer a payment bought, kept before settlement so that it survives a crash or a slow chain. */
export interface HeldOutput extends PaymentKey {
  outputId: string;
  /** sha256 (hex) of the retrieval token; the token itself is given only to the payer. */
  tokenHash: string;
  statusCode: number;
  contentType: string | null;
  body: Uint8Array;
  createdAt: number;
}

/**
 * A client's payment-identifier (x402 extension `payment-identifier`) bound to the first request
 * that used it: the payment and a fingerprint of what it bought (method, path, body, offer).
 */
export interface PaymentIdClaim {
  paymentId: string;
  /** sha256 (hex) of the request the id was first used for. */
  requestHash: string;
  key: PaymentKey;
}

export type ClaimResult = { claimed: true } | { claimed: false; existing: PaymentIdClaim };

export type TransitionFields = {
  txHash?: string | null;
  errorReason?: string | null;
  outputId?: string | null;
  /** The amount to settle or settled (decimal), when a metered scheme charges less than the reserved maximum. */
  amount?: string;
};

export interface PaymentStore {
  /** Atomically claims the key: exactly one concurrent caller gets `reserved: true`. */
  reserve(payment: NewPayment): Promise<ReserveResult>;
  /**
   * Compare-and-set: moves the payment to `to` only if it is in one of `from` (an edge of
   * PAYMENT_TRANSITIONS); returns the updated record, or null. Undefined fields keep their value.
   */
  transition(key: PaymentKey, from: PaymentStatus[], to: PaymentStatus, fields?: TransitionFields): Promise<PaymentRecord | null>;
  get(key: PaymentKey): Promise<PaymentRecord | null>;
  /** One output per payment; holding the same outputId again is a no-op. */
  holdOutput(output: HeldOutput): Promise<void>;
  /**
   * Optional: holdOutput and transition of the output's payment at once (a SQL store may write both
   * in one statement). `held` false: the output was not kept (`holdError` says why, if known).
   */
  holdAndTransition?(
    output: HeldOutput,
    from: PaymentStatus[],
    to: PaymentStatus,
    fields?: TransitionFields,
  ): Promise<{ row: PaymentRecord | null; held: boolean; holdError?: unknown }>;
  /** A held output with its payment's current record, or null. */
  getHeldOutput(outputId: string): Promise<{ output: HeldOutput; payment: PaymentRecord } | null>;
  /** Binds a payment-identifier to its first request atomically (needed for the `paymentIdentifier` option). */
  claimPaymentId?(claim: PaymentIdClaim): Promise<ClaimResult>;
  getPaymentId?(paymentId: string): Promise<PaymentIdClaim | null>;
}

/** The state machine every store enforces (a transition outside it is a bug in the caller). */
export const PAYMENT_TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  // The handler ran (or failed) and settlement starts; an external facilitator may answer
  // settled/pending/failed directly without a separate "settling" step.
  reserved: ["settling", "pending", "settled", "failed", "released"],
  // Submitted: confirmed, refused, or slow (pending, reconciled later). settling -> settling
  // records the hash of a re-signed transaction; settling -> released gives the reservation
  // back when the transaction certainly never reached the chain.
  settling: ["settling", "pending", "settled", "failed", "released"],
  // Reconciliation: the chain decides. pending -> pending records a replacement txHash;
  // pending -> settling resubmits only after the old transaction is known dropped.
  pending: ["pending", "settling", "settled", "failed"],
  settled: [],
  // Chain truth wins: a payment reported failed/released that later shows up settled on-chain
  // (e.g. submitted by a third party) is settled, never lost.
  failed: ["settled"],
  // released -> reserved: the authorization was never used, so the same signed payment may be
  // presented again (a retry after a handler failure); compare-and-set picks one retrier.
  released: ["reserved", "settled"],
};

export function keyId(key: PaymentKey): string {
  return `${key.network}|${key.asset}|${key.payer}|${key.nonce}`.toLowerCase();
}
