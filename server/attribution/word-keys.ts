// The word keys of chunks of contributions, as a worker builds them for the word view
// (word-index.ts): each text's whitespace-separated words keyed as matchKeys does, numbered by
// first occurrence in the chunk. A word this thread has seen before is found by its characters
// (char-table.ts): its key is computed once per thread, and the scan allocates nothing per word.
import type { WordsResult } from "./attribution-worker.ts";
import { CharTable, grown, hashChars } from "./char-table.ts";
import { matchKey } from "./match-words.ts";
import { isSpaceUnit as isSpace } from "./tokenizer.ts";

export class WordKeyer {
  private readonly words = new CharTable(64);
  /** Key number of each word entry; -1: the word has no key (no letters or digits). */
  private keyOfWord = new Int32Array(1 << 16);
  private readonly keyNumbers = new Map<string, number>();
  private readonly keys: string[] = [];
  /** Per key number: its id in the chunk of number chunkOf[key] (stale for older chunks). */
  private localOf = new Int32Array(1 << 16);
  private chunkOf = new Int32Array(1 << 16);
  private chunk = 0;

  /** Key ids of each text, numbered by first occurrence in this chunk (the keys in that order). */
  keyChunk(texts: Iterable<string>): WordsResult {
    this.chunk++;
    const keys: string[] = [];
    let ids = new Uint32Array(1 << 16);
    let n = 0;
    const lengths: number[] = [];
    for (const text of texts) {
      const first = n;
      for (let i = 0; i < text.length; ) {
        while (i < text.length && isSpace(text.charCodeAt(i))) i++;
        let end = i;
        while (end < text.length && !isSpace(text.charCodeAt(end))) end++;
        const key = end > i ? this.keyNumber(text, i, end) : -1;
        if (key >= 0) {
          ids = grown(ids, n + 1);
          ids[n++] = this.localId(key, keys);
        }
        i = end;
      }
      lengths.push(n - first);
    }
    return { keys, ids: ids.slice(0, n), lengths: Uint32Array.from(lengths) };
  }

  private keyNumber(text: string, i: number, end: number): number {
    const hash = hashChars(text, i, end);
    const e = this.words.find(text, i, end, hash);
    if (e >= 0) return this.keyOfWord[e];
    const key = matchKey(text.slice(i, end));
    let number = key === "" ? -1 : this.keyNumbers.get(key);
    if (number === undefined) {
      number = this.keys.length;
      this.keys.push(key);
      this.keyNumbers.set(key, number);
      this.localOf = grown(this.localOf, number + 1);
      this.chunkOf = grown(this.chunkOf, number + 1);
    }
    const added = this.words.add(text, i, end, hash);
    if (added >= 0) {
      this.keyOfWord = grown(this.keyOfWord, added + 1);
      this.keyOfWord[added] = number;
    }
    return number;
  }

  private localId(key: number, chunkKeys: string[]): number {
    if (this.chunkOf[key] !== this.chunk) {
      this.chunkOf[key] = this.chunk;
      this.localOf[key] = chunkKeys.length;
      chunkKeys.push(this.keys[key]);
    }
    return this.localOf[key];
  }
}
