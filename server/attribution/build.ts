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
import { tokenizeTexts, type TokenizeOptions } from "./tokenize-pool.ts";
import { INDEX_ALPHABET, SEPARATOR_TOKEN, TOKENIZER_ID, tokenize } from "./tokenizer.ts";

const DEFAULT_MIN_COPY_TOKENS = 50;

export interface BuildOptions {
  minCopyTokens?: number;
}

export interface BuildStats {
  tokenizeMs: number;
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

/** buildIndex, tokenizing across worker threads (tokenize-pool.ts): the same index, byte for byte. */
export async function buildIndexParallel(
  datanet: Datanet | readonly Contribution[],
  options: BuildOptions & TokenizeOptions = {},
): Promise<{ index: SuffixIndex; stats: BuildStats }> {
  const list = inOrder(datanet);
  const t0 = performance.now();
  const tokens = await tokenizeTexts(
    list.map((c) => c.text),
    options,
  );
  const tokenized = list.map((c, i) => ({ contribution: c, tokens: tokens[i] }));
  return withTokenizeTime(buildIndexFromTokens(tokenized, options), performance.now() - t0);
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
