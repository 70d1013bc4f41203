export { x402Payments, REDELIVERED_HEADER, type ChallengeRateLimit, type PaidRoute, type PaymentContext, type X402Options } from "./plugin.ts";
export { PaymentReconciler, type ReconcileOptions, type ReconcileReport } from "./reconciler.ts";
export { DEFAULT_OUTPUTS_PATH } from "./held-outputs.ts";
export { decodePaymentHeader, checkAccepted, PAYMENT_REQUIRED_HEADER, PAYMENT_RESPONSE_HEADER, PAYMENT_SIGNATURE_HEADER } from "./wire.ts";
