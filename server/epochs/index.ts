// Epochs: closing (aggregate, build, post, assign; safe across instances) and the scheduler.
export { closeEpoch, finishEpoch, refreshEpochs, latestEpoch, EpochMismatchError, MAX_OUTPUTS_PER_EPOCH, type CloseContext, type CloseResult } from "./closer.ts";
export { EpochScheduler } from "./scheduler.ts";
export { EpochDocuments, type ParsedEpoch } from "./documents.ts";
export { TextStore, type OutputText } from "./texts.ts";
export { SerialQueue, KeyedQueues } from "./serial.ts";
