// Near-verbatim attribution (algorithm v2): credit survives small edits, case, spacing and
// punctuation changes.
//
// 1. Output and datanet are compared as normalized words (match-words.ts, word-index.ts).
// 2. Seeds: every run of `seedWords` output words found in at most `maxSeedOccurrences` places of
//    the datanet (a phrase found everywhere says nothing about its source) and not generic: in
//    fewer than `backgroundMinDocuments` documents of the background corpus (background.ts).
// 3. Chains: seeds from the same contribution, in the same order in output and contribution, with
//    at most `maxGapWords` words between them on either side (substitutions, insertions,
//    deletions) form one span. Each exact run is extended to a maximal exact match with the
//    contribution; a chain counts when its runs cover at least `minSpanWords` words.
// 4. Each output word inside a counted chain goes to the chain covering it with the most matched
//    words (ties: earlier registration, earlier start), then to the earliest-registered
//    contribution holding it in an exact run of at least `copyMinWords` words, if that is earlier
//    (first registered wins, also for passages embedded in a later contribution). Runs are made
//    of seeds, so stock phrases never form one: an early contribution stitched from common
//    phrases does not take them from later authors, a copier of a rare passage loses it.
// 5. Output words shared with the prompt in runs of at least `minSpanWords` words are masked.
// 6. Tokens carry the credit of the word they belong to (tokens between two words of the same
//    credited span go with it) and weigh their surprisal, as in v1; ppm by largest remainder.
import { sharesInPpm } from "./apportion.ts";
import { backgroundId, BACKGROUND_GRAM, DEFAULT_BACKGROUND_MIN_DOCUMENTS, genericGrams, gramHash, isGeneric } from "./background.ts";
import { textHash } from "./canonical.ts";
import { AttributionError } from "./errors.ts";
import { DEFAULT_EVERYDAY_DOCUMENTS, everydayWords } from "./everyday-words.ts";
import { matchWords, MATCH_NORMALIZATION, type MatchWord } from "./match-words.ts";
import type { AttributionRecord, AttributionSegment, AttributionSpan, ContributorShare } from "./record.ts";
import type { SuffixIndex } from "./suffix-index.ts";
import { isWellFormedText, normalizeText, tokenCharOffsets, tokenize } from "./tokenizer.ts";
import { wordIndexOf, type WordIndex } from "./word-index.ts";

export const NEAR_VERBATIM_ALGORITHM = "royalty402/near-verbatim-surprisal/v2";

export interface NearVerbatimParams {
  seedWords: number;
  maxSeedOccurrences: number;
  maxGapWords: number;
  minSpanWords: number;
  copyMinWords: number;
  backgroundMinDocuments: number;
  /** A word in at least this many background documents is everyday (everyday-words.ts); 0: none is. */
  everydayDocuments: number;
  /** A chain counts only when it matches at least this many words that are not everyday; 0: off. */
  minRareWords: number;
  /** ...where this many matched everyday words count as one rare word (a long verbatim run is evidence too). */
  everydayPerRare: number;
}

/** Params a record may lack (written before they existed): absent means 0, the behaviour of that time. */
export const NEAR_VERBATIM_LATER_PARAMS: ReadonlyArray<keyof NearVerbatimParams> = ["everydayDocuments", "minRareWords", "everydayPerRare"];

export const NEAR_VERBATIM_DEFAULTS: Readonly<NearVerbatimParams> = {
  seedWords: 4,
  maxSeedOccurrences: 16,
  maxGapWords: 6,
  minSpanWords: 6,
  copyMinWords: 5,
  backgroundMinDocuments: DEFAULT_BACKGROUND_MIN_DOCUMENTS,
  everydayDocuments: DEFAULT_EVERYDAY_DOCUMENTS,
  minRareWords: 2,
  everydayPerRare: 16,
};

/** An exact run: output words [i, i + len) equal contribution words [p, p + len). */
interface Run {
  i: number;
  p: number;
  len: number;
}

interface Chain {
  contribution: number;
  runs: Run[];
  matched: number;
  /** Matched output words that are not everyday words. */
  rare: number;
  outStart: number;
  outEnd: number;
}

/**
 * Seeds as keys pos * L + i (pos: word position in the datanet, i: output word, L: output words),
 * sorted: by contribution, then position in it, then output word.
 */
function findSeeds(wi: WordIndex, words: readonly MatchWord[], ids: Uint32Array, masked: Uint8Array, p: NearVerbatimParams): Float64Array {
  const keys: number[] = [];
  const k = p.seedWords;
  const L = ids.length;
  if (wi.words.length * L >= Number.MAX_SAFE_INTEGER) throw new AttributionError("invalid_record", "output too long for this datanet");
  const wordKeys = words.map((w) => w.key);
  const generic = genericGrams(p.backgroundMinDocuments);
  outer: for (let i = 0; i + k <= L; i++) {
    for (let j = i; j < i + k; j++) if (masked[j]) continue outer;
    if (k === BACKGROUND_GRAM && isGeneric(generic, gramHash(wordKeys, i))) continue;
    if (!wi.findRange(ids, i, i + k) || wi.foundHi - wi.foundLo > p.maxSeedOccurrences) continue;
    for (let s = wi.foundLo; s < wi.foundHi; s++) keys.push(wi.sa.get(s) * L + i);
  }
  return Float64Array.from(keys).sort();
}

/** Tries to add seed (i, pos) of length k to `chain`; true if it belongs there. */
function extendChain(chain: Chain, i: number, pos: number, k: number, maxGap: number): boolean {
  const last = chain.runs[chain.runs.length - 1];
  if (pos - last.p === i - last.i && i >= last.i && i <= last.i + last.len) {
    last.len = Math.max(last.len, i + k - last.i);
    chain.outEnd = Math.max(chain.outEnd, i + k);
    return true;
  }
  const gapOut = i - (last.i + last.len);
  const gapIn = pos - (last.p + last.len);
  if (i <= last.i || pos <= last.p || gapOut > maxGap || gapIn > maxGap || Math.abs(i - last.i - (pos - last.p)) > maxGap) return false;
  chain.runs.push({ i, p: pos, len: k });
  chain.outEnd = Math.max(chain.outEnd, i + k);
  return true;
}

/** Extends every run of the chain to a maximal exact match with its contribution (seeds stop at stock phrases). */
function extendRuns(wi: WordIndex, ids: Uint32Array, ch: Chain): void {
  const W = wi.words;
  const base = wi.offsets[ch.contribution];
  for (const r of ch.runs) {
    while (r.i > 0 && r.p > 0 && W.get(base + r.p - 1) === ids[r.i - 1]) {
      r.i--;
      r.p--;
      r.len++;
    }
    while (r.i + r.len < ids.length && W.get(base + r.p + r.len) === ids[r.i + r.len]) r.len++;
    ch.outStart = Math.min(ch.outStart, r.i);
    ch.outEnd = Math.max(ch.outEnd, r.i + r.len);
  }
}

function buildChains(wi: WordIndex, ids: Uint32Array, seeds: Float64Array, rare: Uint8Array, p: NearVerbatimParams): Chain[] {
  const chains: Chain[] = [];
  const open: Chain[] = [];
  const L = ids.length;
  let c = 0;
  for (let n = 0; n < seeds.length; n++) {
    // key = global * L + i exactly (below 2^53); correct the float division's rounding
    let global = Math.floor(seeds[n] / L);
    let i = seeds[n] - global * L;
    if (i < 0) {
      global--;
      i += L;
    } else if (i >= L) {
      global++;
      i -= L;
    }
    if (global >= wi.offsets[c + 1]) {
      while (global >= wi.offsets[c + 1]) c++;
      open.length = 0;
    }
    const pos = global - wi.offsets[c];
    // Chains that ended too far back in the contribution cannot grow any more.
    let kept = 0;
    for (const ch of open) {
      const last = ch.runs[ch.runs.length - 1];
      if (pos - (last.p + last.len) <= p.maxGapWords) open[kept++] = ch;
    }
    open.length = kept;
    if (open.some((ch) => extendChain(ch, i, pos, p.seedWords, p.maxGapWords))) continue;
    const chain: Chain = {
      contribution: c,
      runs: [{ i, p: pos, len: p.seedWords }],
      matched: 0,
      rare: 0,
      outStart: i,
      outEnd: i + p.seedWords,
    };
    chains.push(chain);
    open.push(chain);
  }
  for (const ch of chains) {
    extendRuns(wi, ids, ch);
    let reach = -1;
    for (const r of ch.runs) {
      for (let w = Math.max(r.i, reach); w < r.i + r.len; w++) {
        ch.matched++;
        ch.rare += rare[w];
      }
      reach = Math.max(reach, r.i + r.len);
    }
  }
  return chains;
}

/** Output words masked because a run of at least `minWords` of them also appears in the prompt. */
function promptWordMask(out: readonly MatchWord[], prompt: readonly MatchWord[] | null, minWords: number): Uint8Array {
  const mask = new Uint8Array(out.length);
  if (prompt === null || prompt.length < minWords) return mask;
  const key = (ws: readonly MatchWord[], i: number) =>
    ws
      .slice(i, i + minWords)
      .map((w) => w.key)
      .join("\u0000");
  const grams = new Set<string>();
  for (let i = 0; i + minWords <= prompt.length; i++) grams.add(key(prompt, i));
  for (let i = 0; i + minWords <= out.length; i++) if (grams.has(key(out, i))) mask.fill(1, i, i + minWords);
  return mask;
}

/** Per output word: the credited contribution (-1: none), its word position there, and the chain. */
function creditWords(words: number, chains: Chain[], masked: Uint8Array, p: NearVerbatimParams) {
  const owner = new Int32Array(words).fill(-1);
  const ownerPos = new Int32Array(words).fill(-1);
  const chainOf = new Int32Array(words).fill(-1);
  const counts = (ch: Chain) =>
    ch.matched >= p.minSpanWords && ch.rare + Math.floor((ch.matched - ch.rare) / Math.max(1, p.everydayPerRare)) >= p.minRareWords;
  const order = chains.map((_, n) => n).filter((n) => counts(chains[n]));
  order.sort(
    (a, b) =>
      chains[b].matched - chains[a].matched || chains[a].contribution - chains[b].contribution || chains[a].outStart - chains[b].outStart,
  );
  for (const n of order) {
    const ch = chains[n];
    for (let w = ch.outStart; w < ch.outEnd; w++) {
      if (masked[w] || chainOf[w] >= 0) continue;
      chainOf[w] = n;
      owner[w] = ch.contribution;
    }
    for (const r of ch.runs) for (let w = r.i; w < r.i + r.len; w++) if (chainOf[w] === n) ownerPos[w] = r.p + (w - r.i);
  }
  // First registered wins: an earlier contribution holding the word in an exact run takes it.
  for (const ch of chains) {
    for (const r of ch.runs) {
      if (r.len < p.copyMinWords) continue;
      for (let w = r.i; w < r.i + r.len; w++) {
        if (owner[w] > ch.contribution) {
          owner[w] = ch.contribution;
          ownerPos[w] = r.p + (w - r.i);
        }
      }
    }
  }
  return { owner, ownerPos, chainOf };
}

function checkParams(options: Partial<NearVerbatimParams>): NearVerbatimParams {
  const p = { ...NEAR_VERBATIM_DEFAULTS, ...options };
  for (const [name, v] of Object.entries(p)) {
    const least = NEAR_VERBATIM_LATER_PARAMS.includes(name as keyof NearVerbatimParams) ? 0 : 1;
    if (!Number.isSafeInteger(v) || v < least) throw new AttributionError("invalid_record", `${name} must be a positive integer`);
  }
  return p;
}

export function attributeNearVerbatim(
  index: SuffixIndex,
  output: string,
  prompt?: string | null,
  options: Partial<NearVerbatimParams> = {},
): AttributionRecord {
  return nearVerbatimWithView(index, output, prompt, options).record;
}

/** The output as the algorithm read it: tokens, their character offsets and the match words. */
export interface OutputView {
  tokens: Uint32Array;
  charAt: Uint32Array;
  words: MatchWord[];
}

/** attributeNearVerbatim, also handing back the output's view (retrieval.ts builds on both). */
export function nearVerbatimWithView(
  index: SuffixIndex,
  output: string,
  prompt?: string | null,
  options: Partial<NearVerbatimParams> = {},
): { record: AttributionRecord; view: OutputView } {
  if (!isWellFormedText(output)) throw new AttributionError("invalid_record", "output must be a well-formed string");
  if (prompt != null && !isWellFormedText(prompt)) throw new AttributionError("invalid_record", "prompt must be a well-formed string");
  const p = checkParams(options);
  const text = normalizeText(output);
  const tokens = tokenize(text);
  const charAt = tokenCharOffsets(tokens);
  const words = matchWords(text);
  const wi = wordIndexOf(index);
  const masked = promptWordMask(words, prompt == null ? null : matchWords(normalizeText(prompt)), p.minSpanWords);
  const ids = wi.idsOf(words.map((w) => w.key));
  const everyday = p.everydayDocuments > 0 ? everydayWords(p.everydayDocuments) : new Set<string>();
  const rare = Uint8Array.from(words, (w) => (everyday.has(w.key) ? 0 : 1));
  const chains = buildChains(wi, ids, findSeeds(wi, words, ids, masked, p), rare, p);
  const { owner, ownerPos, chainOf } = creditWords(words.length, chains, masked, p);

  // Token t -> the word it overlaps (wordOf >= 0), or -(w + 1) when it lies before word w.
  const wordOf = new Int32Array(tokens.length);
  for (let t = 0, w = 0; t < tokens.length; t++) {
    while (w < words.length && words[w].end <= charAt[t]) w++;
    wordOf[t] = w < words.length && words[w].start < charAt[t + 1] ? w : -(w + 1);
  }
  const creditedWord = (t: number): number => {
    const w = wordOf[t];
    if (w >= 0) return chainOf[w] >= 0 ? w : -1;
    const next = -w - 1;
    // between two words: credited with them when both belong to the same chain and owner
    return next > 0 &&
      next < words.length &&
      chainOf[next - 1] >= 0 &&
      chainOf[next - 1] === chainOf[next] &&
      owner[next - 1] === owner[next]
      ? next - 1
      : -1;
  };
  const tokenMasked = Uint8Array.from(wordOf, (w) => (w >= 0 && masked[w] ? 1 : 0));
  const record = buildRecord(index, output, prompt, p, tokens, { owner, ownerPos, chainOf, creditedWord }, tokenMasked);
  return { record, view: { tokens, charAt, words } };
}

interface WordCredit {
  owner: Int32Array;
  ownerPos: Int32Array;
  chainOf: Int32Array;
  creditedWord: (t: number) => number;
}

function ranges(mask: Uint8Array): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i]) continue;
    let j = i;
    while (j < mask.length && mask[j]) j++;
    out.push([i, j]);
    i = j;
  }
  return out;
}

function buildRecord(
  index: SuffixIndex,
  output: string,
  prompt: string | null | undefined,
  p: NearVerbatimParams,
  tokens: Uint32Array,
  { owner, ownerPos, chainOf, creditedWord }: WordCredit,
  tokenMasked: Uint8Array,
): AttributionRecord {
  const surprisal = index.surprisal;
  const shares = new Map<string, ContributorShare>();
  const spanOf = new Map<number, AttributionSpan>();
  const spans: AttributionSpan[] = [];
  let totalWeight = 0;
  let creditedWeight = 0;
  let creditedTokens = 0;
  let seg: AttributionSegment | null = null;
  let segChain = -1;
  for (let t = 0; t < tokens.length; t++) {
    const weight = surprisal[tokens[t]];
    totalWeight += weight;
    const w = creditedWord(t);
    if (w < 0) {
      seg = null;
      continue;
    }
    const n = chainOf[w];
    const c = owner[w];
    const meta = index.contributions[c];
    let span = spanOf.get(n);
    if (span === undefined) {
      span = { start: t, end: t + 1, contributions: 1, common: false, segments: [] };
      spanOf.set(n, span);
      spans.push(span);
    }
    span.end = t + 1;
    const pos = ownerPos[w] >= 0 ? ownerPos[w] : -1;
    if (seg !== null && segChain === n && seg.contribution === meta.seq) {
      seg.end = t + 1;
      if (pos >= 0) {
        if (seg.contributionStart < 0) seg.contributionStart = pos;
        seg.contributionEnd = Math.max(seg.contributionEnd, pos + 1);
      }
    } else {
      seg = {
        start: t,
        end: t + 1,
        contribution: meta.seq,
        contributor: meta.contributor,
        contributionStart: pos,
        contributionEnd: pos >= 0 ? pos + 1 : -1,
      };
      segChain = n;
      span.segments.push(seg);
    }
    let share = shares.get(meta.contributor);
    if (share === undefined) {
      share = { address: meta.contributor, ppm: 0, weight: 0, tokens: 0 };
      shares.set(meta.contributor, share);
    }
    share.weight += weight;
    share.tokens++;
    creditedWeight += weight;
    creditedTokens++;
  }
  for (const sp of spans) for (const s of sp.segments) if (s.contributionStart < 0) s.contributionStart = s.contributionEnd = 0;

  const { contributors, unattributedPpm } = sharesInPpm(shares.values(), totalWeight, creditedWeight);
  return {
    algorithm: NEAR_VERBATIM_ALGORITHM,
    params: {
      ...p,
      background: backgroundId(),
      normalization: MATCH_NORMALIZATION,
      tokenizer: index.params.tokenizer,
      weighting: "surprisal-millibits",
    },
    indexRoot: index.indexRoot,
    outputHash: textHash(output),
    promptHash: prompt == null ? null : textHash(prompt),
    outputTokens: tokens.length,
    totalWeight,
    contributors,
    unattributedPpm,
    unattributedWeight: totalWeight - creditedWeight,
    unattributedTokens: tokens.length - creditedTokens,
    masked: ranges(tokenMasked),
    spans,
  };
}
