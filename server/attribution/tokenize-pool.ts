// Tokenizing many texts across cores. Contiguous chunks of about `chunkChars` characters are the
// tasks (worker-pool.ts): one message per chunk, its tokens back as one transferred buffer.
// The output is exactly tokenize() of each text, in order, whichever thread did the work.
import type { TokenizeResult, TokenizeWordsResult } from "./attribution-worker.ts";
import { tokenize } from "./tokenizer.ts";
import { type WordIds, WordChunkMerger } from "./word-index.ts";
import { chunkRanges, defaultThreads, runInWorkers } from "./worker-pool.ts";

/** About 0.3 s of tokenizing per task: few messages, yet the last tasks still balance the threads. */
const DEFAULT_CHUNK_CHARS = 2_000_000;
// A worker costs ~0.8 s to start (tsx, the o200k tables) and ~0.5 s more on its first chunk while
// the tokenizer's merge cache fills: below ~30 MB one thread is as fast as two.
const DEFAULT_MIN_PARALLEL_CHARS = 32_000_000;

export interface TokenizeOptions {
  /** Worker threads (default: the cores, at most 8); 1 tokenizes in this thread. */
  threads?: number;
  /** Characters per task. */
  chunkChars?: number;
  /** Input of fewer characters is tokenized in this thread. */
  minParallelChars?: number;
}

/** tokenize() of every text, in order, spread over worker threads when the input is large. */
export async function tokenizeTexts(texts: readonly string[], options: TokenizeOptions = {}): Promise<Uint32Array[]> {
  return (await tokenizeInWorkers(texts, options, false)).tokens;
}

/**
 * tokenizeTexts, and when the texts go to worker threads also their word ids (word-index.ts),
 * keyed there from the texts in the same pass (the ids decoding the tokens would give): the
 * word view of a large build then needs no second pass over the corpus. wordIds is null otherwise.
 */
export function tokenizeWithWords(
  texts: readonly string[],
  options: TokenizeOptions = {},
): Promise<{ tokens: Uint32Array[]; wordIds: WordIds | null }> {
  return tokenizeInWorkers(texts, options, true);
}

async function tokenizeInWorkers(
  texts: readonly string[],
  options: TokenizeOptions,
  withWords: boolean,
): Promise<{ tokens: Uint32Array[]; wordIds: WordIds | null }> {
  const threads = options.threads ?? defaultThreads();
  const chunks = chunkRanges(texts.length, (i) => texts[i].length, options.chunkChars ?? DEFAULT_CHUNK_CHARS);
  const chars = texts.reduce((a, t) => a + t.length, 0);
  if (threads <= 1 || chunks.length < 2 || chars < (options.minParallelChars ?? DEFAULT_MIN_PARALLEL_CHARS)) {
    return { tokens: texts.map((t) => tokenize(t)), wordIds: null };
  }
  const kind = withWords ? ("tokenizeWords" as const) : ("tokenize" as const);
  const tasks = chunks.map(([s, e]) => ({ kind, texts: texts.slice(s, e) }));
  // the word ids merged as the chunks come in, not all at the end while the workers sit idle
  const merger = withWords ? new WordChunkMerger() : null;
  const results = merger
    ? await runInWorkers<TokenizeWordsResult>(tasks, threads, (r) => merger.add(r.words))
    : (await runInWorkers<TokenizeResult>(tasks, threads)).map((tokenized) => ({ tokenized, words: null }));
  const out: Uint32Array[] = new Array(texts.length);
  results.forEach(({ tokenized: { tokens, lengths } }, c) => {
    let at = 0;
    for (let k = 0; k < lengths.length; k++) {
      out[chunks[c][0] + k] = tokens.subarray(at, at + lengths[k]);
      at += lengths[k];
    }
  });
  return { tokens: out, wordIds: merger?.ids ?? null };
}
