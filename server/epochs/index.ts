// Epochs: the epoch document (build), posting and reading it on-chain, verifying a published one,
// closing (aggregate, build, post, assign; safe across instances) and the scheduler.
export {
  closeEpoch,
  finishEpoch,
  refreshEpochs,
  latestEpoch,
  EpochMismatchError,
  MAX_OUTPUTS_PER_EPOCH,
  type CloseContext,
  type CloseResult,
} from "./closer.ts";
export { EpochScheduler } from "./scheduler.ts";
export { repostVetoedEpoch, RepostRefused, type RepostResult, type RepostRefusal } from "./repost.ts";
export { EpochDocuments, type ParsedEpoch } from "./documents.ts";
export { TextStore, type OutputText } from "./texts.ts";
export {
  buildEpoch,
  contributorPool,
  epochDocumentHash,
  epochInputOf,
  nextPreviousState,
  claimOf,
  EPOCH_FORMAT,
  NO_PREVIOUS_EPOCH,
  CLAIMS_LEAF_ENCODING,
  RECORDS_LEAF_ENCODING,
  type EpochDocument,
  type EpochInput,
  type EpochPayment,
  type PreviousEpochState,
  type ClaimLeaf,
  type RecordLeaf,
} from "./build.ts";
export { postEpoch, readPostedEpoch, splitterContract, type PostedEpoch, type PostedEpochStatus } from "./chain.ts";
export { verifyEpoch, type EpochVerification, type VerifyCheck, type VerifyOptions } from "./verify.ts";
