// An attribution worker thread (worker-pool.ts). Each task is a large chunk of contributions;
// numeric results come back as one transferred buffer per chunk (not copied, not one message each).
//   tokenize: texts -> all their tokens back to back, and each text's length in tokens
//   words:    tokens of contributions -> their match-word keys (match-words.ts) as ids local to
//             the chunk, the chunk's keys in order of first occurrence, and each contribution's length
//   tokenizeWords: texts -> both of the above at once, the keys from the texts themselves (what
//             their tokens decode to), so a large build does not decode every token again
//   suffixArray: a text (shared with the caller) -> its suffix array (SA-IS), transferred back
import { parentPort } from "node:worker_threads";
import { buildSuffixArray } from "./sais.ts";
import { detokenize, isWellFormedText, normalizeText, tokenize, tokenizeNormalized } from "./tokenizer.ts";
import { WordKeyer } from "./word-keys.ts";

export type WorkerTask =
  | { kind: "tokenize"; texts: string[] }
  | { kind: "tokenizeWords"; texts: string[] }
  | { kind: "words"; tokens: Uint32Array; lengths: Uint32Array }
  | { kind: "suffixArray"; text: Uint32Array; alphabetSize: number };

export interface TokenizeResult {
  tokens: Uint32Array<ArrayBuffer>;
  lengths: Uint32Array<ArrayBuffer>;
}

export interface TokenizeWordsResult {
  tokenized: TokenizeResult;
  words: WordsResult;
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

/** The text each contribution's tokens decode to, one at a time. */
function* decoded(tokens: Uint32Array, lengths: Uint32Array): Iterable<string> {
  let at = 0;
  for (const len of lengths) {
    yield detokenize(tokens.subarray(at, at + len));
    at += len;
  }
}

/**
 * What `tokens` of the NFC text `nfc` decode to: the text itself (byte-level BPE is lossless),
 * decoded only for a text with a lone surrogate (encoded as U+FFFD).
 */
function decodedText(nfc: string, tokens: Uint32Array): string {
  return isWellFormedText(nfc) ? nfc : detokenize(tokens);
}

function tokenizeWordsChunk(texts: readonly string[], keyer: WordKeyer): TokenizeWordsResult {
  const nfc = texts.map(normalizeText); // once for both the tokens and the words
  const parts = nfc.map(tokenizeNormalized);
  return {
    tokenized: concat(parts),
    words: keyer.keyChunk(nfc.map((t, i) => decodedText(t, parts[i]))),
  };
}

const port = parentPort;
if (port) {
  const keyer = new WordKeyer();
  port.on("message", ({ id, task }: { id: number; task: WorkerTask }) => {
    if (task.kind === "tokenize") {
      const r = tokenizeChunk(task.texts);
      port.postMessage({ id, result: r }, [r.tokens.buffer, r.lengths.buffer]);
    } else if (task.kind === "tokenizeWords") {
      const r = tokenizeWordsChunk(task.texts, keyer);
      const buffers = [r.tokenized.tokens.buffer, r.tokenized.lengths.buffer, r.words.ids.buffer, r.words.lengths.buffer];
      port.postMessage({ id, result: r }, buffers);
    } else if (task.kind === "suffixArray") {
      const sa = buildSuffixArray(task.text, task.alphabetSize);
      port.postMessage({ id, result: sa }, [sa.buffer as ArrayBuffer]); // a fresh ArrayBuffer, not the shared text
    } else {
      const r = keyer.keyChunk(decoded(task.tokens, task.lengths));
      port.postMessage({ id, result: r }, [r.ids.buffer, r.lengths.buffer]);
    }
  });
}
