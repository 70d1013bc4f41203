// Public surface of attribution: tokenizer, suffix-array index, per-output attribution records.
export { AttributionError, type AttributionErrorCode } from "./errors.ts";
export { canonicalJson, canonicalHash, textHash } from "./canonical.ts";
export { TOKENIZER_ID, SEPARATOR_TOKEN, tokenize, detokenize, normalizeText } from "./tokenizer.ts";
export { normalizeAddress } from "./address.ts";
export { buildSuffixArray, buildPermutedLcp } from "./sais.ts";
export { SuffixIndex, INDEX_FORMAT, type ContributionMeta, type IndexParams, type OwnerRef } from "./suffix-index.ts";
export {
  buildIndex,
  buildIndexFromTokens,
  tokenizeContributions,
  DEFAULT_MIN_COPY_TOKENS,
  type BuildStats,
  type BuildOptions,
} from "./build.ts";
export { saveIndex, loadIndex, readManifest, computeIndexRoot, type IndexManifest, type LoadOptions } from "./store.ts";
export { surprisalTable, milliBitsLog2Ratio } from "./surprisal.ts";
export { apportion, type Weighted } from "./apportion.ts";
export {
  attribute,
  attributeVerbatim,
  reattribute,
  prepareAttribution,
  attributeTokens,
  CURRENT_ALGORITHM,
  VERBATIM_ALGORITHM,
  findVerbatimMatches,
  occurrenceSummary,
  DEFAULT_MIN_SPAN_TOKENS,
  DEFAULT_MAX_CONTRIBUTIONS,
  type AttributeOptions,
  type VerbatimMatch,
} from "./attribute.ts";
export {
  ATTRIBUTION_ALGORITHM,
  PPM,
  serializeRecord,
  hashRecord,
  validateRecord,
  parseRecord,
  type AttributionRecord,
  type AttributionSpan,
  type AttributionSegment,
  type ContributorShare,
  type AttributionParams,
} from "./record.ts";
export { attributeNearVerbatim, NEAR_VERBATIM_ALGORITHM, NEAR_VERBATIM_DEFAULTS, type NearVerbatimParams } from "./near-verbatim.ts";
export { wordIndexOf, buildWordIndex, WordIndex } from "./word-index.ts";
export { backgroundId, genericGrams, DEFAULT_BACKGROUND_MIN_DOCUMENTS } from "./background.ts";
export { longestContinuation, type Continuation, type ContinuationOptions } from "./infgram.ts";
