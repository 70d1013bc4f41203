export { EmbeddedFacilitator, ROYALTY_EXTENSION, type FacilitatorOptions, type RoyaltyExtension, type SettleOptions } from "./facilitator.ts";
export { facilitatorRoutes, type FacilitatorHttpOptions } from "./http.ts";
export { Reason, ChainUnavailableError, isTransportError, type ReasonCode } from "./reasons.ts";
export { settlementKey, type FinalSettlement, type SettlementOutcome } from "./outcome.ts";
export type { BatcherOptions } from "./batcher.ts";
export { linkFrontRun, type FrontRunPayment, type LinkOutcome } from "./link.ts";
