// An attribution worker thread (worker-pool.ts). Each task is a large chunk of contributions;
// numeric results come back as one transferred buffer per chunk (not copied, not one message each).
//   tokenize: texts -> all their tokens back to back, and each text's length in tokens
//   words:    tokens of contributions -> their match-word keys (match-words.ts) as ids local to
//             the chunk, the chunk's keys in order of first occurrence, and each contribution's length
import { parentPort } from "node:worker_threads";
import { matchKeys } from "./match-words.ts";
import { detokenize, tokenize } from "./tokenizer.ts";

export type WorkerTask = { kind: "tokenize"; texts: string[] } | { kind: "words"; tokens: Uint32Array; lengths: Uint32Array };

export interface TokenizeResult {
  tokens: Uint32Array<ArrayBuffer>;
  lengths: Uint32Array<ArrayBuffer>;
}

export interface WordsResult {
  keys: string[];
  ids: Uint32Array<ArrayBuffer>;
  lengths: Uint32Array<ArrayBuffer>;
}

function concat(parts: readonly ArrayLike<number>[]): TokenizeResult {
  const lengths = Uint32Array.from(parts, (p) => p.length);
  const tokens = new Uint32Array(lengths.reduce((a, b) => a + b, 0));
  let at = 0;
  for (const p of parts) {
    tokens.set(p, at);
    at += p.length;
  }
  return { tokens, lengths };
}

function tokenizeChunk(texts: readonly string[]): TokenizeResult {
  return concat(texts.map((t) => tokenize(t)));
}

/** Word keys of each contribution in the chunk, as ids into `keys` (local first-occurrence order). */
function wordKeysChunk(tokens: Uint32Array, lengths: Uint32Array, cache = new Map<string, string>()): WordsResult {
  const local = new Map<string, number>();
  const parts: Uint32Array[] = [];
  let at = 0;
  for (const len of lengths) {
    const keys = matchKeys(detokenize(tokens.subarray(at, at + len)), cache);
    at += len;
    parts.push(
      Uint32Array.from(keys, (k) => {
        let id = local.get(k);
        if (id === undefined) {
          id = local.size;
          local.set(k, id);
        }
        return id;
      }),
    );
  }
  const { tokens: ids, lengths: wordLengths } = concat(parts);
  return { keys: [...local.keys()], ids, lengths: wordLengths };
}

const port = parentPort;
if (port) {
  const cache = new Map<string, string>();
  port.on("message", ({ id, task }: { id: number; task: WorkerTask }) => {
    if (task.kind === "tokenize") {
      const r = tokenizeChunk(task.texts);
      port.postMessage({ id, result: r }, [r.tokens.buffer, r.lengths.buffer]);
    } else {
      const r = wordKeysChunk(task.tokens, task.lengths, cache);
      port.postMessage({ id, result: r }, [r.ids.buffer, r.lengths.buffer]);
    }
  });
}
