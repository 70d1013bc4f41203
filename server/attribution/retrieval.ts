// Retrieval-grounded attribution (algorithm "royalty402/retrieval-grounded/v1", the `rag`
// backend's records). The backend retrieved the top `topK` passages for the prompt (BM25 over
// the datanet: datanets/search.ts) and sent them to the upstream as context; a paraphrasing
// upstream rarely copies 6 words in a row, but it keeps the passages' rarer words.
//
// 1. Near-verbatim credit first (algorithm v2, its parameters): copied spans go to their authors,
//    retrieved or not.
// 2. Retrieval: the same search, recomputed from the prompt; the record lists the passages
//    (contribution seq, word range, score in micro-units) so a verifier can compare.
// 3. Support: an output word left uncredited by step 1 that is not an everyday word
//    (everyday-words.ts) and occurs in a retrieved passage is supported by it (the best-ranked
//    one holding it). A passage supporting fewer than `minSupportWords` distinct words supports
//    nothing (a single shared name is chance). Words between two words supported by the same
//    passage, at most `maxGapWords` apart, go with them: the passage supported that stretch.
// 4. Tokens carry the credit of their word and weigh their surprisal; ppm by largest remainder.
// Deterministic: retrieval, support and weights depend only on the index, prompt and output.
import { sharesInPpm } from "./apportion.ts";
import { AttributionError } from "./errors.ts";
import { everydayWords } from "./everyday-words.ts";
import { matchWords } from "./match-words.ts";
import { nearVerbatimWithView, type NearVerbatimParams } from "./near-verbatim.ts";
import type { AttributionRecord, AttributionSegment, AttributionSpan, ContributorShare } from "./record.ts";
import type { SuffixIndex } from "./suffix-index.ts";
import { passageIndex, SEARCH_PARAMS, type SearchHit } from "../datanets/search.ts";

export const RETRIEVAL_ALGORITHM = "royalty402/retrieval-grounded/v1";

export interface RetrievalParams {
  /** Passages retrieved for the prompt and sent to the upstream. */
  topK: number;
  /** A passage must support at least this many distinct rare words of the output. */
  minSupportWords: number;
}

const RETRIEVAL_DEFAULTS: Readonly<RetrievalParams> = { topK: 4, minSupportWords: 2 };

/** A retrieved passage as the record lists it. */
interface RetrievedPassage {
  contribution: number; // seq
  contributor: string;
  wordStart: number;
  wordEnd: number;
  /** BM25 score × 10^6, rounded (records hold integers only). */
  scoreMicros: number;
}

/** The passages the `rag` backend sends as context: top `topK` by BM25 for the prompt. */
export function retrievePassages(index: SuffixIndex, prompt: string, topK: number): SearchHit[] {
  return passageIndex(index).search(prompt, topK);
}

function listed(index: SuffixIndex, hits: readonly SearchHit[]): RetrievedPassage[] {
  return hits.map((h) => {
    const meta = index.contributions[h.passage.contribution];
    return {
      contribution: meta.seq,
      contributor: meta.contributor,
      wordStart: h.passage.wordStart,
      wordEnd: h.passage.wordEnd,
      scoreMicros: Math.round(h.score * 1e6),
    };
  });
}

/** Per output word, the retrieved passage (index in `hits`) supporting it, or -1. */
function supportOf(
  keys: readonly string[],
  free: (w: number) => boolean,
  hits: readonly SearchHit[],
  p: RetrievalParams & { maxGapWords: number },
) {
  const everyday = everydayWords();
  const vocab = hits.map((h) => new Set(matchWords(h.passage.text).map((w) => w.key)));
  const support = new Int32Array(keys.length).fill(-1);
  for (let w = 0; w < keys.length; w++) {
    if (!free(w) || everyday.has(keys[w])) continue;
    support[w] = vocab.findIndex((v) => v.has(keys[w]));
  }
  // Passages with too few distinct supported words support nothing.
  for (let h = 0; h < hits.length; h++) {
    const distinct = new Set<string>();
    for (let w = 0; w < keys.length; w++) if (support[w] === h) distinct.add(keys[w]);
    if (distinct.size < p.minSupportWords) for (let w = 0; w < keys.length; w++) if (support[w] === h) support[w] = -1;
  }
  // Fill short gaps between two words supported by the same passage.
  let last = -1;
  for (let w = 0; w < keys.length; w++) {
    if (support[w] < 0) continue;
    if (last >= 0 && support[last] === support[w] && w - last - 1 <= p.maxGapWords) {
      for (let g = last + 1; g < w; g++) if (free(g)) support[g] = support[w];
    }
    last = w;
  }
  return support;
}

export function attributeRetrieval(
  index: SuffixIndex,
  output: string,
  prompt: string | null | undefined,
  options: Partial<RetrievalParams & NearVerbatimParams> = {},
): AttributionRecord {
  const { topK = RETRIEVAL_DEFAULTS.topK, minSupportWords = RETRIEVAL_DEFAULTS.minSupportWords, ...nearOptions } = options;
  for (const [name, v] of Object.entries({ topK, minSupportWords })) {
    if (!Number.isSafeInteger(v) || v < 1 || v > 64) throw new AttributionError("invalid_record", `${name} must be an integer in [1, 64]`);
  }
  // The output as near-verbatim matching read it (tokens, offsets, words): not tokenized again.
  const { record: base, view } = nearVerbatimWithView(index, output, prompt, nearOptions);
  const { tokens, charAt, words } = view;
  const hits = prompt == null ? [] : retrievePassages(index, prompt, topK);
  // Tokens already credited or masked by near-verbatim matching keep that.
  const taken = new Uint8Array(tokens.length);
  for (const s of base.spans) for (const g of s.segments) taken.fill(1, g.start, g.end);
  for (const [a, b] of base.masked) taken.fill(1, a, b);
  // The tokens overlapping each word: words and token boundaries both run forward, so one sweep.
  const tokensOfWord: number[][] = [];
  for (let w = 0, first = 0; w < words.length; w++) {
    while (first < tokens.length && charAt[first + 1] <= words[w].start) first++;
    const out: number[] = [];
    for (let t = first; t < tokens.length && charAt[t] < words[w].end; t++) out.push(t);
    tokensOfWord.push(out);
  }
  const free = (w: number) => tokensOfWord[w].every((t) => !taken[t]);
  const params = { topK, minSupportWords, maxGapWords: Number(base.params.maxGapWords) };
  const support = supportOf(
    words.map((w) => w.key),
    free,
    hits,
    params,
  );
  return withSupport(index, base, listed(index, hits), support, tokensOfWord, tokens, { topK, minSupportWords });
}

/** The near-verbatim record with the supported tokens added as one span per passage. */
function withSupport(
  index: SuffixIndex,
  base: AttributionRecord,
  retrieved: RetrievedPassage[],
  support: Int32Array,
  tokensOfWord: number[][],
  tokens: Uint32Array,
  params: RetrievalParams,
): AttributionRecord {
  const shares = new Map<string, ContributorShare>(base.contributors.map((c) => [c.address, { ...c }]));
  const spans: AttributionSpan[] = base.spans.map((s) => ({ ...s, segments: s.segments.map((g) => ({ ...g })) }));
  let credited = base.totalWeight - base.unattributedWeight;
  let creditedTokens = base.outputTokens - base.unattributedTokens;
  const owner = new Int32Array(tokens.length).fill(-1);
  support.forEach((h, w) => {
    if (h >= 0) for (const t of tokensOfWord[w]) owner[t] = h;
  });
  for (let t = 0; t < tokens.length; ) {
    const h = owner[t];
    if (h < 0) {
      t++;
      continue;
    }
    let e = t;
    while (e < tokens.length && owner[e] === h) e++;
    const r = retrieved[h];
    const seg: AttributionSegment = {
      start: t,
      end: e,
      contribution: r.contribution,
      contributor: r.contributor,
      contributionStart: r.wordStart,
      contributionEnd: r.wordEnd,
    };
    spans.push({ start: t, end: e, contributions: 1, common: false, segments: [seg] });
    let share = shares.get(r.contributor);
    if (share === undefined) shares.set(r.contributor, (share = { address: r.contributor, ppm: 0, weight: 0, tokens: 0 }));
    for (let k = t; k < e; k++) {
      const weight = index.surprisal[tokens[k]];
      share.weight += weight;
      share.tokens++;
      credited += weight;
      creditedTokens++;
    }
    t = e;
  }
  spans.sort((a, b) => a.start - b.start);
  const { contributors, unattributedPpm } = sharesInPpm(shares.values(), base.totalWeight, credited);
  return {
    ...base,
    algorithm: RETRIEVAL_ALGORITHM,
    params: {
      ...base.params,
      ...params,
      retrieval: `bm25 k1=${SEARCH_PARAMS.k1} b=${SEARCH_PARAMS.b} passageWords=${SEARCH_PARAMS.passageWords}`,
    },
    contributors,
    unattributedPpm,
    unattributedWeight: base.totalWeight - credited,
    unattributedTokens: base.outputTokens - creditedTokens,
    spans,
    retrieved,
  };
}
