export { fastifyX402, fastifyX402 as default } from "./plugin.ts";
export { MemoryPaymentStore } from "./memory-store.ts";
export { settleAtEnd, type DeferredSettlement, type StreamReceipt, type StreamReceiptStatus } from "./streaming.ts";
export { clientErrorHandler } from "./client-errors.ts";
export { Reason, type ReasonCode } from "./reasons.ts";
export { exactEvmScheme, ExactReason } from "./schemes/exact.ts";
export { uptoEvmScheme, UptoReason, type UptoSchemeOptions } from "./schemes/upto.ts";
export {
  batchSettlementEvmScheme,
  BatchSettlementReason,
  parseChannelPayload,
  receivedChannelPayload,
  voucherNonce,
  MIN_WITHDRAW_DELAY,
  MAX_WITHDRAW_DELAY,
  type BatchSettlementSchemeOptions,
  type ChannelConfig,
  type ChannelPayload,
  type Voucher,
  type Erc3009Deposit,
  type Permit2Deposit,
} from "./schemes/batch-settlement.ts";
export type { AssetInfo, Network, PaymentIdentity, PaymentScheme, PriceOffer, Refusal, SchemeSettleContext } from "./schemes/scheme.ts";
export { PAYMENT_TRANSITIONS, keyId } from "./store.ts";
export type {
  ClaimResult,
  HeldOutput,
  PaymentIdClaim,
  NewPayment,
  PaymentKey,
  PaymentRecord,
  PaymentStatus,
  PaymentStore,
  ReserveResult,
  TransitionFields,
} from "./store.ts";
export { DEFAULT_OUTPUTS_PATH } from "./options.ts";
export { BAZAAR, DEFAULT_DISCOVERY_PATH, bazaarDeclaration, type DiscoveryListing, type RouteDiscovery } from "./discovery.ts";
export { PAYMENT_IDENTIFIER, paymentIdentifierDeclaration, type PaymentIdOptions } from "./payment-identifier.ts";
export { X_PAYMENT_RESPONSE_HEADER, type V1Requirements } from "./v1.ts";
export { PAYMENT_REQUIRED_HEADER, PAYMENT_RESPONSE_HEADER, PAYMENT_SIGNATURE_HEADER, X402_VERSION, decodePaymentHeader } from "./wire.ts";
export type {
  ChallengeRateLimit,
  LateSettlement,
  OutcomeStatus,
  PaidRoute,
  PaymentContext,
  PaymentOutcome,
  PaymentOutput,
  Recovery,
  ResponseExtraContext,
  SettleHookContext,
  X402Hooks,
  X402Options,
} from "./types.ts";
