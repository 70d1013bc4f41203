// The background merge of a datanet's delta: a worker thread builds the one-pass index of every
// contribution so far (the same build as `datanet build`, so the same files and indexRoot) into
// the index cache, and the event loop then loads it and adopts the worker's word view. Nothing on
// the request path waits for it: the delta keeps new contributions attributable meanwhile.
import { Worker } from "node:worker_threads";
import { PackedInts } from "../attribution/packed-ints.ts";
import { adoptWordIndex } from "../attribution/segmented.ts";
import { loadIndex } from "../attribution/store.ts";
import type { ContributionMeta, SuffixIndex } from "../attribution/suffix-index.ts";
import { WordArray } from "../attribution/word-array.ts";
import { WordIndex } from "../attribution/word-index.ts";

export interface MergeJob {
  /** The main index's contributions with their tokens (views of one buffer: copied once). */
  kept: Array<{ meta: ContributionMeta; tokens: Uint32Array }>;
  /** The contributions registered after them. */
  rows: Array<{ seq: number; contributor: string; text: string }>;
  minCopyTokens: number;
  dir: string;
}

export interface MergeResult {
  indexRoot: string;
  words: {
    words: Uint32Array;
    sa: Uint32Array;
    saBits: number;
    offsets: Uint32Array;
    vocabulary: Map<string, number>;
    bucketStart: Uint32Array;
  };
}

/** Runs one merge in its own worker thread; `signal` ends it early (server closing). */
export function buildInWorker(job: MergeJob, signal: AbortSignal): Promise<MergeResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./delta-merge-worker.mjs", import.meta.url), { workerData: job });
    worker.unref(); // a merge never keeps a process alive; the delta serves until one finishes
    const stop = () => void worker.terminate();
    signal.addEventListener("abort", stop, { once: true });
    let result: MergeResult | null = null;
    worker.on("message", (m: MergeResult) => (result = m));
    worker.on("error", reject);
    worker.on("exit", (code) => {
      signal.removeEventListener("abort", stop);
      if (result) resolve(result);
      else reject(new Error(signal.aborted ? "the merge was stopped" : `the merge worker exited (code ${code}) without an index`));
    });
  });
}

/** Loads the index the worker wrote and gives it the worker's word view. */
export function adoptMerged(dir: string, result: MergeResult): SuffixIndex {
  const index = loadIndex(dir, { verify: false, words: false }); // the worker's view is adopted below
  if (index.indexRoot !== result.indexRoot) throw new Error(`merged index ${index.indexRoot} is not the one built (${result.indexRoot})`);
  const w = result.words;
  const words = WordArray.from(w.words, w.vocabulary.size);
  adoptWordIndex(index, new WordIndex(words, new PackedInts(w.sa, w.saBits), w.offsets, w.vocabulary, w.bucketStart));
  return index;
}
