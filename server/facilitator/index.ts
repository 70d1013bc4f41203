export {
  EmbeddedFacilitator,
  ROYALTY_EXTENSION,
  facilitatorEvents,
  type FacilitatorEvents,
  type FacilitatorOptions,
  type RoyaltyExtension,
} from "./facilitator.ts";
export { facilitatorRoutes } from "./http.ts";
export { Reason, isTransportError } from "./reasons.ts";
export type { FinalSettlement } from "./outcome.ts";
export { linkFrontRun, type FrontRunPayment } from "./link.ts";
