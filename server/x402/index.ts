export { x402Payments, type PaidRoute, type PaymentContext, type X402Options } from "./plugin.ts";
export { decodePaymentHeader, checkAccepted, PAYMENT_REQUIRED_HEADER, PAYMENT_RESPONSE_HEADER, PAYMENT_SIGNATURE_HEADER } from "./wire.ts";
