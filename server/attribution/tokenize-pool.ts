// Tokenizing many texts across cores. Contiguous chunks of about `chunkChars` characters are the
// tasks: one message per chunk, its tokens back as one transferred buffer (a worker per core, each
// taking the next chunk when it is done). Results are placed by chunk, so the output is exactly
// tokenize() of each text, in order, whichever thread did the work.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { tokenize } from "./tokenizer.ts";
import type { TokenizeReply, TokenizeTask } from "./tokenize-worker.ts";

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

interface Chunk {
  start: number;
  end: number;
}

function chunksOf(texts: readonly string[], chunkChars: number): Chunk[] {
  const chunks: Chunk[] = [];
  let start = 0;
  let chars = 0;
  for (let i = 0; i < texts.length; i++) {
    chars += texts[i].length;
    if (chars >= chunkChars || i === texts.length - 1) {
      chunks.push({ start, end: i + 1 });
      start = i + 1;
      chars = 0;
    }
  }
  return chunks;
}

/** tokenize() of every text, in order, spread over worker threads when the input is large. */
export async function tokenizeTexts(texts: readonly string[], options: TokenizeOptions = {}): Promise<Uint32Array[]> {
  const threads = options.threads ?? Math.min(availableParallelism(), 8);
  const chunks = chunksOf(texts, options.chunkChars ?? DEFAULT_CHUNK_CHARS);
  const chars = texts.reduce((a, t) => a + t.length, 0);
  if (threads <= 1 || chunks.length < 2 || chars < (options.minParallelChars ?? DEFAULT_MIN_PARALLEL_CHARS)) {
    return texts.map((t) => tokenize(t));
  }
  return runPool(texts, chunks, Math.min(threads, chunks.length));
}

function runPool(texts: readonly string[], chunks: readonly Chunk[], threads: number): Promise<Uint32Array[]> {
  return new Promise((resolve, reject) => {
    const out: Uint32Array[] = new Array(texts.length);
    const workers: Worker[] = [];
    let next = 0;
    let done = 0;
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      for (const w of workers) void w.terminate();
      if (error) reject(error);
      else resolve(out);
    };
    const feed = (w: Worker) => {
      if (next >= chunks.length) return;
      const id = next++;
      const task: TokenizeTask = { id, texts: texts.slice(chunks[id].start, chunks[id].end) };
      w.postMessage(task);
    };
    const place = ({ id, tokens, lengths }: TokenizeReply) => {
      let at = 0;
      for (let k = 0; k < lengths.length; k++) {
        out[chunks[id].start + k] = tokens.subarray(at, at + lengths[k]);
        at += lengths[k];
      }
    };
    for (let i = 0; i < threads; i++) {
      const w = new Worker(new URL("./tokenize-worker.mjs", import.meta.url));
      workers.push(w);
      w.on("message", (reply: TokenizeReply) => {
        place(reply);
        if (++done === chunks.length) settle();
        else feed(w);
      });
      w.on("error", (e) => settle(e));
      w.on("exit", (code) => settle(new Error(`a tokenizer worker exited early (code ${code})`)));
      feed(w);
    }
  });
}
