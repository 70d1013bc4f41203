// Building an index from a datanet: tokenize every contribution (pinned tokenizer), lay the
// contributions out in registration order separated by SEPARATOR_TOKEN, build the suffix array
// (SA-IS), the owner map and the unigram/surprisal tables. Deterministic: the same
// contributions give the same arrays, hence the same files and the same indexRoot.
import { performance } from "node:perf_hooks";
import { vocabularySize } from "gpt-tokenizer/encoding/o200k_base";
import type { Contribution, Datanet } from "../datanets/datanet.ts";
import { AttributionError } from "./errors.ts";
import { computeOwnerRuns } from "./owner-map.ts";
import { buildSuffixArray } from "./sais.ts";
import { computeIndexRoot } from "./store.ts";
import { SuffixIndex, type ContributionMeta, type IndexParams } from "./suffix-index.ts";
import { surprisalTable } from "./surprisal.ts";
import { tokenizeWithWords, type TokenizeOptions } from "./tokenize-pool.ts";
import { INDEX_ALPHABET, SEPARATOR_TOKEN, TOKENIZER_ID, tokenize } from "./tokenizer.ts";
import { adoptWordIndex, startWordView, type TokenSource, type WordIds } from "./word-index.ts";
import { defaultThreads } from "./worker-pool.ts";

const DEFAULT_MIN_COPY_TOKENS = 50;
/** As prepareWordIndex's threshold for word keys in workers. */
const DEFAULT_MIN_OVERLAP_TOKENS = 8_000_000;

export interface BuildOptions {
  minCopyTokens?: number;
}

export interface BuildStats {
  tokenizeMs: number;
  /** Overlapped builds only: the word view's keys (worker threads), and the wait for its suffix array after the token view. */
  wordKeysMs?: number;
  wordViewWaitMs?: number;
  suffixArrayMs: number;
  ownerMapMs: number;
  tablesMs: number;
  totalMs: number;
  copiedTokens: number;
}

export interface TokenizedContribution {
  contribution: Pick<Contribution, "seq" | "contributor" | "contentHash">;
  tokens: Uint32Array;
}

function inOrder(datanet: Datanet | readonly Contribution[]): readonly Contribution[] {
  return Array.isArray(datanet)
    ? [...(datanet as readonly Contribution[])].sort((a, b) => a.seq - b.seq)
    : (datanet as Datanet).contributions;
}

function withTokenizeTime(built: { index: SuffixIndex; stats: BuildStats }, tokenizeMs: number) {
  built.stats.tokenizeMs = tokenizeMs;
  built.stats.totalMs += tokenizeMs;
  return built;
}

/** Builds the in-memory index of a datanet, tokenizing in this thread. */
export function buildIndex(
  datanet: Datanet | readonly Contribution[],
  options: BuildOptions = {},
): { index: SuffixIndex; stats: BuildStats } {
  const list = inOrder(datanet);
  const t0 = performance.now();
  const tokenized = list.map((c) => ({ contribution: c, tokens: tokenize(c.text) }));
  return withTokenizeTime(buildIndexFromTokens(tokenized, options), performance.now() - t0);
}

export interface OverlapOptions {
  /** Worker threads (default: the cores, at most 8); 1 builds no word view here (prepareWordIndex does, later). */
  threads?: number;
  /** Below this many tokens the word view is left to prepareWordIndex (a worker's start costs more than it saves). */
  minOverlapTokens?: number;
}

/**
 * buildIndex, tokenizing across worker threads (tokenize-pool.ts), and for a large datanet the
 * word view (word-index.ts) built alongside: the same index, byte for byte, and the same view.
 */
export async function buildIndexParallel(
  datanet: Datanet | readonly Contribution[],
  options: BuildOptions & TokenizeOptions & OverlapOptions = {},
): Promise<{ index: SuffixIndex; stats: BuildStats }> {
  const list = inOrder(datanet);
  const t0 = performance.now();
  const { tokens, wordIds } = await tokenizeWithWords(
    list.map((c) => c.text),
    options,
  );
  const tokenized = list.map((c, i) => ({ contribution: c, tokens: tokens[i] }));
  const tokenizeMs = performance.now() - t0; // before the build, which its stats time themselves
  return withTokenizeTime(await buildIndexWithWordView(tokenized, { ...options, wordIds }), tokenizeMs);
}

/**
 * The token view in this thread while a worker sorts the word view's suffixes (both are SA-IS,
 * the two longest stages, independent of each other): two cores instead of one. The word view is
 * kept with the index for prepareWordIndex / wordIndexOf.
 */
export async function buildIndexWithWordView(
  items: readonly TokenizedContribution[],
  options: BuildOptions & OverlapOptions & { wordIds?: WordIds | null } = {},
): Promise<{ index: SuffixIndex; stats: BuildStats }> {
  const threads = options.threads ?? defaultThreads();
  const total = items.reduce((a, it) => a + it.tokens.length, 0);
  if (threads <= 1 || total < (options.minOverlapTokens ?? DEFAULT_MIN_OVERLAP_TOKENS)) return buildIndexFromTokens(items, options);
  const t0 = performance.now();
  const wordView = await startWordView(options.wordIds ?? tokenSourceOf(items), { threads });
  const t1 = performance.now();
  const built = buildIndexFromTokens(items, options);
  const t2 = performance.now();
  adoptWordIndex(built.index, await wordView());
  const t3 = performance.now();
  Object.assign(built.stats, { wordKeysMs: t1 - t0, wordViewWaitMs: t3 - t2, totalMs: built.stats.totalMs + (t1 - t0) + (t3 - t2) });
  return built;
}

function tokenSourceOf(items: readonly TokenizedContribution[]): TokenSource {
  return {
    count: items.length,
    lengthOf: (i) => items[i].tokens.length,
    tokensOf: (s, e) => {
      const out = new Uint32Array(items.slice(s, e).reduce((a, it) => a + it.tokens.length, 0));
      for (let i = s, at = 0; i < e; at += items[i].tokens.length, i++) out.set(items[i].tokens, at);
      return out;
    },
  };
}

/** Builds the index from already tokenized contributions (registration order). */
export function buildIndexFromTokens(
  items: readonly TokenizedContribution[],
  options: BuildOptions = {},
): { index: SuffixIndex; stats: BuildStats } {
  const minCopyTokens = options.minCopyTokens ?? DEFAULT_MIN_COPY_TOKENS;
  if (!Number.isSafeInteger(minCopyTokens) || minCopyTokens < 1) {
    throw new AttributionError("invalid_contribution", "minCopyTokens must be a positive integer");
  }
  if (items.length === 0) throw new AttributionError("empty_datanet", "a datanet needs at least one contribution");
  const start = performance.now();
  const C = items.length;
  let n = 0;
  for (let i = 0; i < C; i++) {
    if (i > 0 && items[i].contribution.seq <= items[i - 1].contribution.seq) {
      throw new AttributionError("duplicate_seq", "contributions must be in strictly increasing seq order");
    }
    if (items[i].tokens.length === 0)
      throw new AttributionError("invalid_contribution", `contribution ${items[i].contribution.seq} has no tokens`);
    n += items[i].tokens.length + 1;
  }
  const tokens = new Uint32Array(n);
  const offsets = new Uint32Array(C + 1);
  const unigram = new Uint32Array(SEPARATOR_TOKEN);
  const contributions: ContributionMeta[] = [];
  const duplicateOf = new Int32Array(C).fill(-1);
  const firstByHash = new Map<string, number>();
  let pos = 0;
  for (let i = 0; i < C; i++) {
    const { contribution: c, tokens: toks } = items[i];
    offsets[i] = pos;
    for (let j = 0; j < toks.length; j++) {
      const t = toks[j];
      if (t >= SEPARATOR_TOKEN) throw new AttributionError("invalid_contribution", `token id ${t} out of range`);
      unigram[t]++;
    }
    tokens.set(toks, pos);
    pos += toks.length;
    tokens[pos++] = SEPARATOR_TOKEN;
    const hash = c.contentHash.toLowerCase();
    const first = firstByHash.get(hash);
    if (first === undefined) firstByHash.set(hash, i);
    else duplicateOf[i] = first;
    contributions.push({ seq: c.seq, contributor: c.contributor, contentHash: hash, tokens: toks.length });
  }
  offsets[C] = n;

  const t1 = performance.now();
  const sa = buildSuffixArray(tokens, INDEX_ALPHABET);
  const t2 = performance.now();
  const runs = computeOwnerRuns(tokens, sa, offsets, duplicateOf, minCopyTokens);
  const t3 = performance.now();
  const surprisal = surprisalTable(unigram, n - C, vocabularySize);
  const t4 = performance.now();

  const params: IndexParams = { tokenizer: TOKENIZER_ID, separatorToken: SEPARATOR_TOKEN, minCopyTokens, vocabularySize };
  const arrays = { tokens, sa, offsets, ...runs, unigram, surprisal };
  const indexRoot = computeIndexRoot(arrays, contributions, params);
  const index = new SuffixIndex(arrays, contributions, params, indexRoot);
  let copiedTokens = 0;
  for (let r = 0; r < runs.runLengths.length; r++) copiedTokens += runs.runLengths[r];
  const stats: BuildStats = {
    tokenizeMs: 0,
    suffixArrayMs: t2 - t1,
    ownerMapMs: t3 - t2,
    tablesMs: t4 - t3 + (t1 - start),
    totalMs: performance.now() - start,
    copiedTokens,
  };
  return { index, stats };
}
