// The merge worker: builds the one-pass index of the main index's contributions (their tokens
// handed over, so they are not tokenized again) and the new ones, writes it to the cache folder
// and hands back its normalized-word view (the costly part of preparing an index), so the event
// loop only loads the files and adopts the words. Tokenizing is deterministic, so this is the
// index `buildIndex` gives from the texts.
import { parentPort, workerData } from "node:worker_threads";
import { buildIndexFromTokens, type TokenizedContribution } from "../attribution/build.ts";
import { saveIndex } from "../attribution/store.ts";
import { tokenize } from "../attribution/tokenizer.ts";
import { wordIndexOf } from "../attribution/word-index.ts";
import { Datanet } from "./datanet.ts";
import type { MergeJob, MergeResult } from "./delta-merge.ts";

const job = workerData as MergeJob;
const items: TokenizedContribution[] = job.kept.map((k) => ({ contribution: k.meta, tokens: k.tokens }));
for (const c of Datanet.from(job.rows).contributions) items.push({ contribution: c, tokens: tokenize(c.text) });
const index = buildIndexFromTokens(items, { minCopyTokens: job.minCopyTokens }).index;
const w = wordIndexOf(index);
saveIndex(index, job.dir); // with its word view, so a restart loads it rather than deriving it
// packed arrays travel unpacked (their storage is private) and are packed again on arrival
const words = w.words.subarray(0);
const sa = w.sa.subarray(0);
const result: MergeResult = {
  indexRoot: index.indexRoot,
  words: {
    words,
    sa,
    saBits: w.sa.width,
    offsets: w.offsets,
    vocabulary: w.vocabulary as Map<string, number>,
    bucketStart: w.bucketStart,
  },
};
parentPort?.postMessage(result, [words.buffer, sa.buffer, w.offsets.buffer, w.bucketStart.buffer] as ArrayBuffer[]);
