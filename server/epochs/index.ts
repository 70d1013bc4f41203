// Epochs: the epoch document (build), posting and reading it on-chain, verifying a published one,
// closing (aggregate, build, post, assign; safe across instances) and the scheduler.
export {
  closeEpoch,
  refreshEpochs,
  type CloseContext,
} from "./closer.ts";
export { EpochScheduler } from "./scheduler.ts";
export { RepostRefused } from "./repost.ts";
export { EpochDocuments, type ParsedEpoch } from "./documents.ts";
export { TextStore } from "./texts.ts";
export {
  buildEpoch,
  nextPreviousState,
  NO_PREVIOUS_EPOCH,
  RECORDS_LEAF_ENCODING,
  type EpochDocument,
  type PreviousEpochState,
} from "./build.ts";
export { readPostedEpoch } from "./chain.ts";
export { verifyEpoch } from "./verify.ts";
