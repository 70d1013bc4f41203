// attribute(index, output, prompt?) -> AttributionRecord, by the current algorithm (v2,
// near-verbatim.ts) unless another is named; reattribute() recomputes a record with the
// algorithm and parameters it names, so records of every version keep verifying.
//
// Algorithm v1 (attributeVerbatim, "royalty402/verbatim-span-surprisal/v1"):
// 1. Tokenize output and prompt with the pinned tokenizer (NFC).
// 2. Find every maximal span of the output that occurs verbatim in the datanet and is at least
//    minSpanTokens long (the "matching statistics" of the output against the suffix array).
// 3. Skip spans found in more than maxContributions distinct contributions (common knowledge).
// 4. Mask output tokens inside any >= minSpanTokens run shared with the prompt (the caller
//    supplied that text; it earns contributors nothing).
// 5. Credit each remaining token once: to the longest kept span covering it (ties: earlier
//    start), at that span's earliest occurrence in the corpus, through the owner map (first
//    registered wins).
// 6. Weight every output token by its surprisal (integer milli-bits); contributors get the
//    weight of their credited tokens, everything else is unattributed; convert to parts per
//    million by largest remainder so the shares add up to exactly 1,000,000.
import { sharesInPpm } from "./apportion.ts";
import { textHash } from "./canonical.ts";
import { AttributionError } from "./errors.ts";
import {
  attributeNearVerbatim,
  NEAR_VERBATIM_ALGORITHM,
  NEAR_VERBATIM_DEFAULTS,
  NEAR_VERBATIM_LATER_PARAMS,
  type NearVerbatimParams,
} from "./near-verbatim.ts";
import { attributeRetrieval, RETRIEVAL_ALGORITHM, type RetrievalParams } from "./retrieval.ts";
import { backgroundId, genericGrams } from "./background.ts";
import { wordIndexOf } from "./word-index.ts";
import {
  ATTRIBUTION_ALGORITHM,
  type AttributionRecord,
  type AttributionSegment,
  type AttributionSpan,
  type ContributorShare,
} from "./record.ts";
import type { SuffixIndex } from "./suffix-index.ts";
import { FILTER_WINDOW, windowHashes } from "./ngram-filter.ts";
import { SEPARATOR_TOKEN, isWellFormedText, tokenize } from "./tokenizer.ts";

const DEFAULT_MIN_SPAN_TOKENS = 8;
const DEFAULT_MAX_CONTRIBUTIONS = 32;
const WEIGHTING = "surprisal-millibits";

/** The algorithm new records are computed with. */
export const CURRENT_ALGORITHM = NEAR_VERBATIM_ALGORITHM;
/** Algorithm v1, kept so that its records keep verifying. */
export const VERBATIM_ALGORITHM = ATTRIBUTION_ALGORITHM;

export interface AttributeOptions {
  /** v1 only */
  minSpanTokens?: number;
  /** v1 only */
  maxContributions?: number;
}

/** A maximal verbatim match: output tokens [start, end), suffix-array range [lo, hi). */
interface VerbatimMatch {
  start: number;
  end: number;
  lo: number;
  hi: number;
}

/**
 * All maximal spans of `output` of at least `minLen` tokens that occur in the corpus. A span is
 * maximal when it cannot be extended either way; since match ends never move left as the start
 * moves right, a new maximal span starts at i exactly when output[i, max(i+minLen, e+1)) occurs,
 * where e is the end of the previous maximal span. One range search per output position, then
 * one-token extensions inside the range.
 */
function findVerbatimMatches(index: SuffixIndex, output: ArrayLike<number>, minLen: number): VerbatimMatch[] {
  const L = output.length;
  const spans: VerbatimMatch[] = [];
  // Filter pre-check (exact: it never rejects a window that occurs): a probe can only occur if
  // its first and its last 8-token windows do.
  const useFilter = minLen >= FILTER_WINDOW && L >= FILTER_WINDOW;
  const hashes = useFilter ? windowHashes(output) : null;
  const filter = index.filter;
  let e = 0;
  for (let i = 0; i + minLen <= L && e < L; i++) {
    const probeEnd = Math.max(i + minLen, e + 1);
    if (hashes !== null) {
      if (!filter.mayContain(hashes[i])) continue;
      if (!filter.mayContain(hashes[probeEnd - FILTER_WINDOW])) {
        // Every start up to e+1-minLen probes through output[e+1-W, e+1): skip them all.
        if (probeEnd === e + 1 && i < e + 1 - minLen) i = e + 1 - minLen;
        continue;
      }
    }
    if (!index.findRange(output, i, probeEnd)) continue;
    let lo = index.foundLo;
    let hi = index.foundHi;
    let len = probeEnd - i;
    while (i + len < L && index.narrow(lo, hi, len, output[i + len])) {
      lo = index.foundLo;
      hi = index.foundHi;
      len++;
    }
    spans.push({ start: i, end: i + len, lo, hi });
    e = i + len;
  }
  return spans;
}

/**
 * Distinct contributions among the occurrences in SA range [lo, hi), counting up to
 * `limit + 1`, and the earliest occurrence (corpus position). Stops early past the limit.
 */
function occurrenceSummary(index: SuffixIndex, lo: number, hi: number, limit: number): { distinct: number; first: number } {
  const seen = new Set<number>();
  let first = Number.MAX_SAFE_INTEGER;
  const SA = index.sa;
  for (let k = lo; k < hi; k++) {
    const pos = SA.get(k);
    if (pos < first) first = pos;
    seen.add(index.contributionAt(pos));
    if (seen.size > limit) return { distinct: limit + 1, first: -1 };
  }
  return { distinct: seen.size, first };
}

/** Output positions covered by a run of at least minLen tokens that also occurs in the prompt. */
function promptMask(output: Uint32Array, prompt: Uint32Array | null, minLen: number): Uint8Array {
  const mask = new Uint8Array(output.length);
  if (prompt === null || prompt.length < minLen || output.length < minLen) return mask;
  const grams = new Set<string>();
  for (let i = 0; i + minLen <= prompt.length; i++) grams.add(prompt.subarray(i, i + minLen).join(","));
  for (let i = 0; i + minLen <= output.length; i++) {
    if (grams.has(output.subarray(i, i + minLen).join(","))) mask.fill(1, i, i + minLen);
  }
  return mask;
}

function ranges(mask: Uint8Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < mask.length; ) {
    if (!mask[i]) {
      i++;
      continue;
    }
    let j = i;
    while (j < mask.length && mask[j]) j++;
    out.push([i, j]);
    i = j;
  }
  return out;
}

function checkCount(name: string, v: number): number {
  if (!Number.isSafeInteger(v) || v < 1) throw new AttributionError("invalid_record", `${name} must be a positive integer`);
  return v;
}

/**
 * Builds what the current algorithm derives from an index on first use (the word view, the
 * background set): call it when an index is loaded, so the first paid request does not wait
 * (about 19 s for 100 MB).
 */
export function prepareAttribution(index: SuffixIndex): void {
  wordIndexOf(index);
  genericGrams();
}

/** Attributes `output` with the current algorithm, or the one named in `options.algorithm`. */
export function attribute(
  index: SuffixIndex,
  output: string,
  prompt?: string | null,
  options: { algorithm?: string } & AttributeOptions & Partial<NearVerbatimParams & RetrievalParams> = {},
): AttributionRecord {
  const { algorithm = CURRENT_ALGORITHM, minSpanTokens, maxContributions, ...nearVerbatim } = options;
  if (algorithm === VERBATIM_ALGORITHM) return attributeVerbatim(index, output, prompt, { minSpanTokens, maxContributions });
  if (algorithm === NEAR_VERBATIM_ALGORITHM) return attributeNearVerbatim(index, output, prompt, nearVerbatim);
  if (algorithm === RETRIEVAL_ALGORITHM) return attributeRetrieval(index, output, prompt, nearVerbatim);
  throw new AttributionError("invalid_record", `unknown attribution algorithm ${String(algorithm)}`);
}

/**
 * Recomputes a record from the output and prompt with the algorithm and parameters the record
 * names (the index must be the one it names: compare indexRoot first).
 */
export function reattribute(
  index: SuffixIndex,
  record: Pick<AttributionRecord, "algorithm" | "params">,
  output: string,
  prompt?: string | null,
): AttributionRecord {
  const params = record.params ?? {};
  if (record.algorithm === VERBATIM_ALGORITHM) {
    return attributeVerbatim(index, output, prompt, {
      minSpanTokens: numberParam(params.minSpanTokens),
      maxContributions: numberParam(params.maxContributions),
    });
  }
  if (record.algorithm === NEAR_VERBATIM_ALGORITHM || record.algorithm === RETRIEVAL_ALGORITHM) {
    if (params.background !== undefined && params.background !== backgroundId()) {
      throw new AttributionError("invalid_record", `record used background ${String(params.background)}, this build has ${backgroundId()}`);
    }
    const nearVerbatim: Partial<NearVerbatimParams> = {};
    for (const key of Object.keys(NEAR_VERBATIM_DEFAULTS) as Array<keyof NearVerbatimParams>) {
      nearVerbatim[key] = numberParam(params[key]) ?? (NEAR_VERBATIM_LATER_PARAMS.includes(key) ? 0 : undefined);
    }
    if (record.algorithm === NEAR_VERBATIM_ALGORITHM) return attributeNearVerbatim(index, output, prompt, nearVerbatim);
    return attributeRetrieval(index, output, prompt, {
      ...nearVerbatim,
      topK: numberParam(params.topK),
      minSupportWords: numberParam(params.minSupportWords),
    });
  }
  throw new AttributionError("invalid_record", `unknown attribution algorithm ${String(record.algorithm)}`);
}

function numberParam(v: unknown): number | undefined {
  return typeof v === "number" ? v : undefined;
}

/** Algorithm v1: verbatim spans of at least minSpanTokens tokens. */
export function attributeVerbatim(
  index: SuffixIndex,
  output: string,
  prompt?: string | null,
  options: AttributeOptions = {},
): AttributionRecord {
  if (!isWellFormedText(output)) throw new AttributionError("invalid_record", "output must be a well-formed string");
  if (prompt !== undefined && prompt !== null && !isWellFormedText(prompt)) {
    throw new AttributionError("invalid_record", "prompt must be a well-formed string");
  }
  return attributeTokens(index, tokenize(output), prompt == null ? null : tokenize(prompt), {
    ...options,
    outputHash: textHash(output),
    promptHash: prompt == null ? null : textHash(prompt),
  });
}

export function attributeTokens(
  index: SuffixIndex,
  out: Uint32Array,
  promptTokens: Uint32Array | null,
  options: AttributeOptions & { outputHash: string; promptHash: string | null },
): AttributionRecord {
  const minLen = checkCount("minSpanTokens", options.minSpanTokens ?? DEFAULT_MIN_SPAN_TOKENS);
  const maxContributions = checkCount("maxContributions", options.maxContributions ?? DEFAULT_MAX_CONTRIBUTIONS);
  const L = out.length;
  for (const toks of promptTokens === null ? [out] : [out, promptTokens]) {
    for (let i = 0; i < toks.length; i++) {
      if (toks[i] >= SEPARATOR_TOKEN) throw new AttributionError("invalid_record", `token id ${toks[i]} is not a text token`);
    }
  }

  const matches = findVerbatimMatches(index, out, minLen);
  const mask = promptMask(out, promptTokens, minLen);

  // Occurrences and earliest position of each span.
  const info = matches.map((m) => occurrenceSummary(index, m.lo, m.hi, maxContributions));

  // Credit: longest kept span first (ties: earlier start); each token once.
  const order = matches.map((_, i) => i).filter((i) => info[i].distinct <= maxContributions);
  order.sort((a, b) => matches[b].end - matches[b].start - (matches[a].end - matches[a].start) || matches[a].start - matches[b].start);
  const creditedBy = new Int32Array(L).fill(-1);
  for (const s of order) {
    for (let t = matches[s].start; t < matches[s].end; t++) if (!mask[t] && creditedBy[t] < 0) creditedBy[t] = s;
  }

  // Resolve owners, build segments and per-contributor weights.
  const surprisal = index.surprisal;
  const shares = new Map<string, ContributorShare>();
  let totalWeight = 0;
  let creditedWeight = 0;
  let creditedTokens = 0;
  const spans: AttributionSpan[] = matches.map((m, s) => {
    const common = info[s].distinct > maxContributions;
    const segments: AttributionSegment[] = [];
    if (!common) {
      let seg: AttributionSegment | null = null;
      for (let t = m.start; t < m.end; t++) {
        if (creditedBy[t] !== s) {
          seg = null;
          continue;
        }
        const own = index.owner(info[s].first + (t - m.start));
        const meta = index.contributions[own.contribution];
        if (seg !== null && seg.contribution === meta.seq && seg.contributionEnd === own.offset) {
          seg.end = t + 1;
          seg.contributionEnd++;
        } else {
          seg = {
            start: t,
            end: t + 1,
            contribution: meta.seq,
            contributor: meta.contributor,
            contributionStart: own.offset,
            contributionEnd: own.offset + 1,
          };
          segments.push(seg);
        }
        const w = surprisal[out[t]];
        let share = shares.get(meta.contributor);
        if (share === undefined) {
          share = { address: meta.contributor, ppm: 0, weight: 0, tokens: 0 };
          shares.set(meta.contributor, share);
        }
        share.weight += w;
        share.tokens++;
        creditedWeight += w;
        creditedTokens++;
      }
    }
    return { start: m.start, end: m.end, contributions: info[s].distinct, common, segments };
  });
  for (let t = 0; t < L; t++) totalWeight += surprisal[out[t]];

  const { contributors, unattributedPpm } = sharesInPpm(shares.values(), totalWeight, creditedWeight);

  return {
    algorithm: ATTRIBUTION_ALGORITHM,
    params: { minSpanTokens: minLen, maxContributions, tokenizer: index.params.tokenizer, weighting: WEIGHTING },
    indexRoot: index.indexRoot,
    outputHash: options.outputHash,
    promptHash: options.promptHash,
    outputTokens: L,
    totalWeight,
    contributors,
    unattributedPpm,
    unattributedWeight: totalWeight - creditedWeight,
    unattributedTokens: L - creditedTokens,
    masked: ranges(mask),
    spans,
  };
}
