// The word-level suffix array the near-verbatim algorithm (v2) matches against. It is derived
// from the token index alone (each contribution's tokens decode to its exact text), so it adds
// nothing to the indexRoot: the same index always gives the same word view. Built on first use
// and kept with the index. Word ids are ranked by frequency (ties: first occurrence); each
// contribution is followed by a separator id (the vocabulary size), so no match crosses two
// contributions. Word ids take at most 16 bits (word-array.ts, the rarest escaped) and suffix-array
// entries are bit-packed (packed-ints.ts): ~16 + 25 bits per word at 100 MB. Matching reads only
// which positions hold a word sequence, so neither the ids' order nor the suffixes' changes a record.
import type { WordsResult } from "./attribution-worker.ts";
import { matchKeys } from "./match-words.ts";
import { bitsFor, PackedInts } from "./packed-ints.ts";
import { WordArray } from "./word-array.ts";
import { buildSuffixArray } from "./sais.ts";
import type { SuffixIndex } from "./suffix-index.ts";
import { detokenize, SEPARATOR_TOKEN } from "./tokenizer.ts";
import { chunkRanges, defaultThreads, runInWorkers } from "./worker-pool.ts";

const DEFAULT_CHUNK_TOKENS = 500_000;

const views = new WeakMap<SuffixIndex, WordIndex>();

/** Id of a query word that does not occur in the datanet (matches nothing). */
const UNKNOWN_WORD = 0xffffffff;

export class WordIndex {
  /** foundLo/foundHi: the suffix-array range of the last successful findRange. */
  foundLo = 0;
  foundHi = 0;

  constructor(
    readonly words: WordArray,
    readonly sa: PackedInts,
    /** offsets[i] = first word of contribution i; offsets[C] = words.length. */
    readonly offsets: Uint32Array,
    readonly vocabulary: ReadonlyMap<string, number>,
    /** bucketStart[w]..bucketStart[w+1]: the suffixes starting with word w. */
    readonly bucketStart: Uint32Array,
  ) {}

  get separator(): number {
    return this.vocabulary.size;
  }

  get byteLength(): number {
    return this.words.byteLength + this.sa.byteLength + this.offsets.byteLength + this.bucketStart.byteLength;
  }

  idsOf(keys: readonly string[]): Uint32Array {
    return Uint32Array.from(keys, (k) => this.vocabulary.get(k) ?? UNKNOWN_WORD);
  }

  /** Suffix-array range of the suffixes starting with P[ps, pe), left in foundLo/foundHi; false if none. */
  findRange(P: Uint32Array, ps: number, pe: number): boolean {
    const first = P[ps];
    if (first >= this.separator) return false;
    const lo = this.bucketStart[first];
    const hi = this.bucketStart[first + 1];
    if (lo === hi) return false;
    const W = this.words;
    const SA = this.sa;
    let l = lo;
    let h = hi;
    while (l < h) {
      const mid = (l + h) >>> 1;
      if (compareSuffix(W, SA.get(mid), P, ps, pe) < 0) l = mid + 1;
      else h = mid;
    }
    if (l === hi || compareSuffix(W, SA.get(l), P, ps, pe) !== 0) return false;
    const start = l;
    h = hi;
    while (l < h) {
      const mid = (l + h) >>> 1;
      if (compareSuffix(W, SA.get(mid), P, ps, pe) <= 0) l = mid + 1;
      else h = mid;
    }
    this.foundLo = start;
    this.foundHi = l;
    return true;
  }
}

/** Compares the suffix at s with P[ps, pe) on its length (the first words are known equal). */
function compareSuffix(W: WordArray, s: number, P: Uint32Array, ps: number, pe: number): number {
  for (let d = 1; d < pe - ps; d++) {
    const a = W.get(s + d);
    const b = P[ps + d];
    if (a !== b) return a < b ? -1 : 1;
  }
  return 0;
}

/** Word ids of every contribution: ids by first occurrence over the contributions in order. */
export interface WordIds {
  vocabulary: Map<string, number>;
  perContribution: Uint32Array[];
}

function wordIdsInThread(index: SuffixIndex): WordIds {
  const vocabulary = new Map<string, number>();
  const cache = new Map<string, string>();
  const perContribution: Uint32Array[] = [];
  for (let i = 0; i < index.contributions.length; i++) {
    const keys = matchKeys(detokenize(index.contributionTokens(i)), cache);
    perContribution.push(Uint32Array.from(keys, (k) => idOf(vocabulary, k)));
  }
  return { vocabulary, perContribution };
}

function idOf(vocabulary: Map<string, number>, key: string): number {
  let id = vocabulary.get(key);
  if (id === undefined) {
    id = vocabulary.size;
    vocabulary.set(key, id);
  }
  return id;
}

/** Tokens of contributions [s, e) back to back (no separators), and each one's length in tokens. */
export interface TokenSource {
  count: number;
  lengthOf(i: number): number;
  tokensOf(s: number, e: number): Uint32Array;
}

function sourceOf(index: SuffixIndex): TokenSource {
  return {
    count: index.contributions.length,
    lengthOf: (i) => index.contributions[i].tokens,
    tokensOf: (s, e) => index.tokens.subarray(index.offsets[s], index.offsets[e]).filter(notSeparator),
  };
}

/**
 * The same ids, with the keys computed in worker threads a chunk of contributions at a time.
 * Each chunk numbers its keys by first occurrence inside it; merging the chunks in order gives
 * a key new to the whole its id at its first occurrence, exactly as one thread would.
 */
async function wordIdsInWorkers(source: TokenSource, threads: number, chunks: Array<[number, number]>): Promise<WordIds> {
  const tasks = chunks.map(([s, e]) => {
    const lengths = Uint32Array.from({ length: e - s }, (_, k) => source.lengthOf(s + k));
    return { kind: "words" as const, tokens: source.tokensOf(s, e), lengths };
  });
  const merger = new WordChunkMerger();
  await runInWorkers<WordsResult>(tasks, threads, (r) => merger.add(r));
  return merger.ids;
}

/**
 * The ids of consecutive chunks' word keys (each numbered by first occurrence inside its chunk),
 * merged in order a chunk at a time (while the workers key the later chunks): a key new to the
 * whole gets its id at its first occurrence, as in one thread.
 */
export class WordChunkMerger {
  readonly ids: WordIds = { vocabulary: new Map(), perContribution: [] };

  add({ keys, ids, lengths }: WordsResult): void {
    const global = Uint32Array.from(keys, (k) => idOf(this.ids.vocabulary, k));
    for (let k = 0; k < ids.length; k++) ids[k] = global[ids[k]];
    let at = 0;
    for (const len of lengths) {
      this.ids.perContribution.push(ids.subarray(at, at + len));
      at += len;
    }
  }
}

const notSeparator = (t: number) => t !== SEPARATOR_TOKEN;

/** The word view without its suffix array: words with separators (shareable), offsets, buckets. */
interface WordLayout {
  vocabulary: Map<string, number>;
  words: Uint32Array;
  offsets: Uint32Array;
  bucketStart: Uint32Array;
}

function layOut({ vocabulary, perContribution }: WordIds, shared: boolean): WordLayout {
  const C = perContribution.length;
  const n = perContribution.reduce((a, ids) => a + ids.length + 1, 0);
  const separator = vocabulary.size;
  const counts = new Uint32Array(separator + 2);
  for (const ids of perContribution) for (const w of ids) counts[w]++;
  const { rank, ranked } = rankByFrequency(vocabulary, counts);
  const words = new Uint32Array(shared ? new SharedArrayBuffer(n * 4) : new ArrayBuffer(n * 4));
  const offsets = new Uint32Array(C + 1);
  let pos = 0;
  for (let i = 0; i < C; i++) {
    offsets[i] = pos;
    const ids = perContribution[i];
    for (let k = 0; k < ids.length; k++) words[pos + k] = rank[ids[k]];
    pos += ids.length;
    words[pos++] = separator;
  }
  offsets[C] = n;
  const bucketStart = new Uint32Array(separator + 2);
  for (let w = 0, sum = 0; w <= separator; w++) {
    bucketStart[w] = sum;
    sum += w === separator ? C : counts[ranked[w]];
    bucketStart[w + 1] = sum;
  }
  const byRank = new Map<string, number>();
  const keys = [...vocabulary.keys()];
  for (let r = 0; r < separator; r++) byRank.set(keys[ranked[r]], r);
  return { vocabulary: byRank, words, offsets, bucketStart };
}

/** Ids by first occurrence -> ids by frequency (most frequent 0; ties: first occurrence), both ways. */
function rankByFrequency(vocabulary: Map<string, number>, counts: Uint32Array): { rank: Uint32Array; ranked: Uint32Array } {
  const V = vocabulary.size;
  const ranked = Uint32Array.from({ length: V }, (_, i) => i).sort((a, b) => counts[b] - counts[a] || a - b);
  const rank = new Uint32Array(V);
  for (let r = 0; r < V; r++) rank[ranked[r]] = r;
  return { rank, ranked };
}

function finish({ vocabulary, words, offsets, bucketStart }: WordLayout, sa: Int32Array): WordIndex {
  const n = words.length;
  return new WordIndex(WordArray.from(words, vocabulary.size), new PackedInts(sa, bitsFor(n - 1)), offsets, vocabulary, bucketStart);
}

/** The word view from the word ids, built in this thread. */
function assemble(ids: WordIds): WordIndex {
  const layout = layOut(ids, false);
  return finish(layout, buildSuffixArray(layout.words, layout.vocabulary.size + 1));
}

/** The words' suffix array in a worker thread (the words shared, not copied; the array transferred back). */
async function suffixArrayInWorker(layout: WordLayout): Promise<Int32Array> {
  const task = { kind: "suffixArray" as const, text: layout.words, alphabetSize: layout.vocabulary.size + 1 };
  const [sa] = await runInWorkers<Int32Array>([task], 1);
  return sa;
}

/**
 * Starts the word view of contributions not yet indexed (their tokens, registration order, or
 * their word ids if the tokenizing pool gave them): word keys in worker threads, then the words'
 * suffix array in one worker, so this thread is free to
 * build the token view meanwhile. The view it finally gives is the one wordIndexOf builds, byte for byte.
 */
export async function startWordView(source: TokenSource | WordIds, options: WordViewOptions = {}): Promise<() => Promise<WordIndex>> {
  const threads = options.threads ?? defaultThreads();
  let ids: WordIds;
  if ("vocabulary" in source)
    ids = source; // keyed while tokenizing (tokenize-pool.ts)
  else
    ids = await wordIdsInWorkers(source, threads, chunkRanges(source.count, source.lengthOf, options.chunkTokens ?? DEFAULT_CHUNK_TOKENS));
  const layout = layOut(ids, true);
  const sa = suffixArrayInWorker(layout);
  sa.catch(() => {}); // awaited by the caller; not an unhandled rejection meanwhile
  return async () => finish(layout, await sa);
}

/** Keeps a view built by startWordView for wordIndexOf / prepareWordIndex. */
export function adoptWordIndex(index: SuffixIndex, view: WordIndex): void {
  if (view.offsets.length !== index.contributions.length + 1) throw new RangeError("word view of another index");
  if (!views.has(index)) views.set(index, view);
}

/** The word view kept with `index`, if one was built or loaded (saveIndex writes it with the index). */
export function heldWordIndex(index: SuffixIndex): WordIndex | undefined {
  return views.get(index);
}

/** The word view of `index`, built on first use (in this thread). */
export function wordIndexOf(index: SuffixIndex): WordIndex {
  let view = views.get(index);
  if (view === undefined) {
    view = assemble(wordIdsInThread(index));
    views.set(index, view);
  }
  return view;
}

export interface WordViewOptions {
  /** Worker threads (default: the cores, at most 8); 1 builds in this thread. */
  threads?: number;
  /** Tokens per worker task. */
  chunkTokens?: number;
  /** A smaller index is built in this thread. */
  minParallelTokens?: number;
}

/**
 * Builds the word view ahead of use, its word keys in worker threads when the index is large
 * (the same view, byte for byte, as wordIndexOf builds), and keeps it for wordIndexOf.
 */
export async function prepareWordIndex(index: SuffixIndex, options: WordViewOptions = {}): Promise<WordIndex> {
  const cached = views.get(index);
  if (cached) return cached;
  const threads = options.threads ?? defaultThreads();
  const C = index.contributions.length;
  const chunks = chunkRanges(C, (i) => index.contributions[i].tokens, options.chunkTokens ?? DEFAULT_CHUNK_TOKENS);
  const parallel = threads > 1 && chunks.length > 1 && index.corpusTokens >= (options.minParallelTokens ?? 8_000_000);
  const view = assemble(parallel ? await wordIdsInWorkers(sourceOf(index), threads, chunks) : wordIdsInThread(index));
  views.set(index, views.get(index) ?? view);
  return views.get(index) as WordIndex;
}
