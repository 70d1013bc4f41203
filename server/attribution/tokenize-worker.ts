// A tokenizer worker: each task is a chunk of texts; the reply is all their tokens in one
// Int32Array-sized buffer plus the length of each text's part, both transferred (not copied).
import { parentPort } from "node:worker_threads";
import { tokenize } from "./tokenizer.ts";

export interface TokenizeTask {
  id: number;
  texts: string[];
}

export interface TokenizeReply {
  id: number;
  tokens: Uint32Array;
  lengths: Uint32Array;
}

/** Tokenizes a chunk of texts into one array (texts back to back) and their lengths. */
export function tokenizeChunk(texts: readonly string[]): { tokens: Uint32Array<ArrayBuffer>; lengths: Uint32Array<ArrayBuffer> } {
  const parts = texts.map((t) => tokenize(t));
  const lengths = Uint32Array.from(parts, (p) => p.length);
  const tokens = new Uint32Array(lengths.reduce((a, b) => a + b, 0));
  let at = 0;
  for (const p of parts) {
    tokens.set(p, at);
    at += p.length;
  }
  return { tokens, lengths };
}

const port = parentPort;
if (port) {
  port.on("message", ({ id, texts }: TokenizeTask) => {
    const { tokens, lengths } = tokenizeChunk(texts);
    const reply: TokenizeReply = { id, tokens, lengths };
    port.postMessage(reply, [tokens.buffer, lengths.buffer]);
  });
}
