// Reason codes of the plugin's own answers. Clients key on these strings; a scheme adds its own
// (the exact scheme uses the reference facilitator's invalid_exact_evm_* codes).
export const Reason = {
  /** The PAYMENT-SIGNATURE header is not a well-formed x402 v2 payment. */
  invalidPayload: "invalid_payload",
  invalidX402Version: "invalid_x402_version",
  /** The payment names a scheme this route does not take. */
  unsupportedScheme: "unsupported_scheme",
  paymentHeaderTooLarge: "payment_header_too_large",
  /** Request headers over the HTTP server's limit (see clientErrorHandler). */
  headerTooLarge: "header_too_large",
  /** The authorization was presented before and cannot be used again. */
  paymentReplayed: "payment_replayed",
  /** Broadcast, not yet confirmed: the output is held for the payer. */
  settlementPending: "settlement_pending",
  /** The chain, the facilitator or the payment store cannot be reached: nothing was charged. */
  chainUnavailable: "chain_unavailable",
  /** settle threw without a reason of its own. */
  settlementFailed: "settlement_failed",
  unknownResource: "unknown_resource",
  unknownOutput: "unknown_output",
  challengeRateLimited: "challenge_rate_limited",
  /** The payment-identifier extension's id is malformed, or missing where required. */
  invalidPaymentIdentifier: "invalid_payment_identifier",
  /** The payment identifier was used for another request or payment (or its first request is still running). */
  paymentIdentifierConflict: "payment_identifier_conflict",
} as const;

export type ReasonCode = (typeof Reason)[keyof typeof Reason];
