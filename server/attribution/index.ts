// Public surface of attribution: tokenizer, suffix-array index, per-output attribution records.
export { AttributionError } from "./errors.ts";
export { canonicalHash, textHash } from "./canonical.ts";
export { LONGEST_TOKENIZABLE_RUN, TOKENIZER_ID, detokenize, longestUnbrokenRun, tokenize } from "./tokenizer.ts";
export { SuffixIndex } from "./suffix-index.ts";
export { buildIndex, buildIndexParallel } from "./build.ts";
export { saveIndex, loadIndex, readManifest } from "./store.ts";
export { prepareWordIndex } from "./word-index.ts";
export { attribute, prepareAttribution } from "./attribute.ts";
export {
  serializeRecord,
  hashRecord,
  parseRecord,
  type AttributionRecord,
} from "./record.ts";
export { longestContinuation, type Continuation } from "./infgram.ts";
