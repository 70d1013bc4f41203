export {
  EmbeddedFacilitator,
  ROYALTY_EXTENSION,
  facilitatorEvents,
  type FacilitatorEvents,
  type FacilitatorOptions,
  type RoyaltyExtension,
} from "./facilitator.ts";
export { facilitatorRoutes, type FacilitatorHttpOptions } from "./http.ts";
export { Reason, ChainUnavailableError, isTransportError, type ReasonCode } from "./reasons.ts";
export { settlementKey, type FinalSettlement, type SettlementOutcome } from "./outcome.ts";
export type { BatcherOptions } from "./batcher.ts";
export { linkFrontRun, type FrontRunPayment, type LinkOutcome } from "./link.ts";
