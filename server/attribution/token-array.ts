// The query-time token array: each token id stored as a dense code over the ids this corpus uses
// (English text uses ~57k of o200k's 200k ids, plus the separator), so a token takes 16 bits
// where an id takes 18. Codes keep the ids' order, and get() decodes through a small table, so
// every reader still sees token ids. The index files keep the ids themselves (store.ts).
import { AttributionError } from "./errors.ts";
import { bitsFor, PackedInts } from "./packed-ints.ts";
import { SEPARATOR_TOKEN } from "./tokenizer.ts";

const ABSENT = 0xffffffff;

/** Codes of the ids in use (unigram count > 0, and the separator), in id order. */
export interface TokenCodes {
  /** id -> code, ABSENT for an id the corpus does not use. */
  encode: Uint32Array;
  /** code -> id. */
  decode: Uint32Array;
}

export function tokenCodes(unigram: Uint32Array): TokenCodes {
  const encode = new Uint32Array(SEPARATOR_TOKEN + 1).fill(ABSENT);
  const ids: number[] = [];
  for (let t = 0; t < unigram.length; t++) {
    if (unigram[t] > 0) {
      encode[t] = ids.length;
      ids.push(t);
    }
  }
  encode[SEPARATOR_TOKEN] = ids.length;
  ids.push(SEPARATOR_TOKEN);
  return { encode, decode: Uint32Array.from(ids) };
}

export class TokenArray {
  readonly length: number;
  private readonly codes: PackedInts;
  private readonly decode: Uint32Array;
  // codes' layout, read inline by get() (the hottest read of every search)
  private readonly data: Uint32Array;
  private readonly bits: number;
  private readonly mask: number;

  private constructor(codes: PackedInts, decode: Uint32Array) {
    this.codes = codes;
    this.decode = decode;
    this.length = codes.length;
    this.data = codes.packed;
    this.bits = codes.width;
    this.mask = 2 ** codes.width - 1;
  }

  /** Packs `length` token ids arriving in consecutive pieces; an id the codes do not know is refused. */
  static fromPieces(length: number, codes: TokenCodes, pieces: Iterable<ArrayLike<number>>): TokenArray {
    const width = bitsFor(codes.decode.length - 1);
    const { encode } = codes;
    let buffer = new Uint32Array(0);
    function* encoded(): Iterable<Uint32Array> {
      for (const piece of pieces) {
        // one buffer for every piece: each is packed before the next is made
        if (buffer.length < piece.length) buffer = new Uint32Array(piece.length);
        const out = buffer.subarray(0, piece.length);
        for (let i = 0; i < piece.length; i++) {
          const c = piece[i] < encode.length ? encode[piece[i]] : ABSENT;
          if (c === ABSENT) throw new AttributionError("index_corrupt", `token id ${piece[i]} is not counted in the unigram table`);
          out[i] = c;
        }
        yield out;
      }
    }
    return new TokenArray(PackedInts.fromPieces(length, width, encoded()), codes.decode);
  }

  static fromIds(ids: Uint32Array, unigram: Uint32Array): TokenArray {
    const slice = 1 << 22;
    function* pieces(): Iterable<Uint32Array> {
      for (let s = 0; s < ids.length; s += slice) yield ids.subarray(s, Math.min(ids.length, s + slice));
    }
    return TokenArray.fromPieces(ids.length, tokenCodes(unigram), pieces());
  }

  /** Bits per token. */
  get width(): number {
    return this.codes.width;
  }

  get byteLength(): number {
    return this.codes.byteLength + this.decode.byteLength;
  }

  get(i: number): number {
    const w = this.bits;
    const b = (i & 31) * w;
    const k = (i >>> 5) * w + (b >>> 5);
    const o = b & 31;
    const lo = this.data[k] >>> o;
    return this.decode[(o + w <= 32 ? lo : lo | (this.data[k + 1] << (32 - o))) & this.mask];
  }

  /** Token ids [start, end) in a new array. */
  subarray(start: number, end = this.length): Uint32Array {
    const out = this.codes.subarray(start, end);
    for (let i = 0; i < out.length; i++) out[i] = this.decode[out[i]];
    return out;
  }
}
