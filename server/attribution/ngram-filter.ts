// A blocked Bloom filter of every W-token window of the corpus (W = 8, the minimum span), built
// when an index is loaded. attribute() asks it before searching the suffix array: most output
// positions of new text start no verbatim 8-token match, and the filter answers that with one
// memory access instead of a binary search. It never says "absent" for a window that occurs,
// so it changes how fast a record is computed, never what it contains. It is derived from the
// token array, so it is not stored and not part of indexRoot. ~0.75 bytes per token.
import { SEPARATOR_TOKEN } from "./tokenizer.ts";

export const FILTER_WINDOW = 8;
const B = 0x01000193; // multiplier of the rolling hash (mod 2^32)

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Rolling hashes of every window of `W` tokens: out[i] hashes tokens[i, i + W). */
export function windowHashes(tokens: ArrayLike<number>, out?: Int32Array): Int32Array {
  const n = tokens.length - FILTER_WINDOW + 1;
  const res = out && out.length >= Math.max(0, n) ? out : new Int32Array(Math.max(0, n));
  if (n <= 0) return res;
  let Bw = 1;
  for (let k = 0; k < FILTER_WINDOW; k++) Bw = Math.imul(Bw, B);
  let h = 0;
  for (let p = 0; p < tokens.length; p++) {
    h = (Math.imul(h, B) + tokens[p]) | 0;
    if (p >= FILTER_WINDOW) h = (h - Math.imul(tokens[p - FILTER_WINDOW], Bw)) | 0;
    if (p >= FILTER_WINDOW - 1) res[p - FILTER_WINDOW + 1] = h;
  }
  return res;
}

export class NgramFilter {
  private readonly words: Uint32Array;
  private readonly shift: number;

  /** Filter over the windows of `corpus` that contain no separator. */
  constructor(corpus: Uint32Array) {
    // ~6 bits per window, a power of two (>= 2^16 bits) so the word index is the top bits of the hash
    let wordsLog2 = 11;
    while (wordsLog2 < 27 && 32 * 2 ** wordsLog2 < corpus.length * 6) wordsLog2++;
    this.words = new Uint32Array(2 ** wordsLog2);
    this.shift = 32 - wordsLog2;
    // the same rolling hash as windowHashes, inline (no corpus-sized temporary array)
    let Bw = 1;
    for (let k = 0; k < FILTER_WINDOW; k++) Bw = Math.imul(Bw, B);
    let h = 0;
    let lastSep = -1;
    for (let p = 0; p < corpus.length; p++) {
      const t = corpus[p];
      h = (Math.imul(h, B) + t) | 0;
      if (p >= FILTER_WINDOW) h = (h - Math.imul(corpus[p - FILTER_WINDOW], Bw)) | 0;
      if (t === SEPARATOR_TOKEN) lastSep = p;
      if (p >= FILTER_WINDOW - 1 && lastSep < p - FILTER_WINDOW + 1) this.add(h);
    }
  }

  get byteLength(): number {
    return this.words.byteLength;
  }

  private add(hash: number): void {
    const h = fmix32(hash);
    this.words[h >>> this.shift] |= (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
  }

  /** False only if no corpus window has this hash. */
  mayContain(hash: number): boolean {
    const h = fmix32(hash);
    const mask = (1 << (h & 31)) | (1 << ((h >>> 5) & 31));
    return (this.words[h >>> this.shift] & mask) === mask;
  }
}
