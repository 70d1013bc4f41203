// The datanet index held in memory at query time: token array, suffix array, contribution
// offsets, the owner map (as runs of copied tokens, see owner-map.ts) and the unigram /
// surprisal tables. Token ids and suffix-array entries are bit-packed: 16 bits per token (dense
// codes of the ids in use, token-array.ts) + log2(tokens) bits per entry (packed-ints.ts), 5.1
// bytes per token at 100 MB, 5.5 at 1 GB, plus a few bytes per contribution and per copied run.
// The files keep 32-bit words (store.ts).
import { AttributionError } from "./errors.ts";
import { NgramFilter } from "./ngram-filter.ts";
import { bitsFor, PackedInts } from "./packed-ints.ts";
import { TokenArray } from "./token-array.ts";
import { INDEX_ALPHABET, SEPARATOR_TOKEN } from "./tokenizer.ts";

export const INDEX_FORMAT = "royalty402-index/v1";

export interface ContributionMeta {
  seq: number;
  contributor: string;
  contentHash: string;
  /** Token count (separator excluded). */
  tokens: number;
}

export interface IndexArrays {
  /** All contributions' tokens, each followed by SEPARATOR_TOKEN, in registration order. */
  tokens: Uint32Array;
  /** Suffix array over `tokens`. */
  sa: Int32Array;
  /** offsets[i] = first token of contribution i; offsets[C] = tokens.length. */
  offsets: Uint32Array;
  /** Copied runs, sorted by start: tokens [start, start+length) are owned by tokens [source, source+length). */
  runStarts: Uint32Array;
  runLengths: Uint32Array;
  runSources: Uint32Array;
  /** Corpus count per token id (ids below SEPARATOR_TOKEN). */
  unigram: Uint32Array;
  /** Surprisal per token id, integer milli-bits. */
  surprisal: Uint32Array;
}

/** IndexArrays as an index is made from: the token and suffix arrays raw (a build) or already packed (a load). */
export type IndexSource = Omit<IndexArrays, "tokens" | "sa"> & { tokens: Uint32Array | TokenArray; sa: Int32Array | PackedInts };

export interface IndexParams {
  tokenizer: string;
  separatorToken: number;
  /** Copies of at least this many tokens from an earlier contribution are credited to it. */
  minCopyTokens: number;
  vocabularySize: number;
}

/** Where a corpus token's credit goes: the owning contribution and the token's position in it. */
export interface OwnerRef {
  contribution: number; // index into contributions (registration order)
  offset: number; // token offset inside that contribution
}

/** Bits of a packed suffix-array entry of an index of n tokens. */
export function suffixBits(n: number): number {
  return bitsFor(Math.max(0, n - 1));
}

// Scratch outputs of the search primitives (avoids allocating a pair per probe).
let cmpLcp = 0;

function compareSuffix(T: TokenArray, s: number, P: ArrayLike<number>, ps: number, m: number, d: number): number {
  while (d < m) {
    const a = T.get(s + d);
    const b = P[ps + d];
    if (a !== b) {
      cmpLcp = d;
      return a < b ? -1 : 1;
    }
    d++;
  }
  cmpLcp = m;
  return 0;
}

export class SuffixIndex {
  /** All contributions' tokens, each followed by SEPARATOR_TOKEN (IndexArrays.tokens, packed). */
  readonly tokens: TokenArray;
  /** The suffix array (IndexArrays.sa, packed). */
  readonly sa: PackedInts;
  readonly offsets: Uint32Array;
  readonly runStarts: Uint32Array;
  readonly runLengths: Uint32Array;
  readonly runSources: Uint32Array;
  readonly unigram: Uint32Array;
  readonly surprisal: Uint32Array;
  /** bucketStart[t] .. bucketStart[t+1]: the suffix-array block of suffixes starting with t. */
  readonly bucketStart: Uint32Array;
  readonly contributions: readonly ContributionMeta[];
  readonly params: IndexParams;
  readonly indexRoot: string;
  /** Number of corpus tokens, separators excluded. */
  readonly corpusTokens: number;
  private ngramFilter: NgramFilter | null = null;
  /** Result of the last successful findRange / narrow: the suffix-array range [foundLo, foundHi). */
  foundLo = 0;
  foundHi = 0;

  constructor(arrays: IndexSource, contributions: readonly ContributionMeta[], params: IndexParams, indexRoot: string) {
    this.tokens = arrays.tokens instanceof TokenArray ? arrays.tokens : TokenArray.fromIds(arrays.tokens, arrays.unigram);
    this.sa = arrays.sa instanceof PackedInts ? arrays.sa : new PackedInts(arrays.sa, suffixBits(arrays.sa.length));
    this.offsets = arrays.offsets;
    this.runStarts = arrays.runStarts;
    this.runLengths = arrays.runLengths;
    this.runSources = arrays.runSources;
    this.unigram = arrays.unigram;
    this.surprisal = arrays.surprisal;
    this.contributions = contributions;
    this.params = params;
    this.indexRoot = indexRoot;
    this.corpusTokens = this.tokens.length - contributions.length;
    const n = this.tokens.length;
    if (this.sa.length !== n || this.offsets.length !== contributions.length + 1 || this.offsets[contributions.length] !== n) {
      throw new AttributionError("index_corrupt", "array lengths disagree");
    }
    if (this.unigram.length !== SEPARATOR_TOKEN || this.surprisal.length !== SEPARATOR_TOKEN) {
      throw new AttributionError("index_corrupt", "unigram/surprisal tables have the wrong size");
    }
    const bs = new Uint32Array(INDEX_ALPHABET + 1);
    let sum = 0;
    for (let t = 0; t < SEPARATOR_TOKEN; t++) {
      bs[t] = sum;
      sum += this.unigram[t];
    }
    bs[SEPARATOR_TOKEN] = sum;
    bs[INDEX_ALPHABET] = sum + contributions.length;
    if (bs[INDEX_ALPHABET] !== n) throw new AttributionError("index_corrupt", "unigram counts do not add up to the token count");
    this.bucketStart = bs;
  }

  /**
   * Which 8-token windows may occur (an accelerator of the verbatim algorithm v1, see
   * ngram-filter.ts), built on first use: v2 never asks it, so it costs nothing until a v1
   * record is computed.
   */
  get filter(): NgramFilter {
    this.ngramFilter ??= new NgramFilter(this.tokens.subarray(0));
    return this.ngramFilter;
  }

  /** Bytes of the arrays resident at query time. */
  get residentBytes(): number {
    return (
      this.tokens.byteLength +
      this.sa.byteLength +
      this.offsets.byteLength +
      this.runStarts.byteLength +
      this.runLengths.byteLength +
      this.runSources.byteLength +
      this.unigram.byteLength +
      this.surprisal.byteLength +
      this.bucketStart.byteLength +
      (this.ngramFilter?.byteLength ?? 0)
    );
  }

  /** Index (registration order) of the contribution containing corpus position `pos`. */
  contributionAt(pos: number): number {
    const off = this.offsets;
    let lo = 0;
    let hi = off.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (off[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The owner of the token at corpus position `pos`, after first-registered-wins. */
  owner(pos: number): OwnerRef {
    const starts = this.runStarts;
    let lo = 0;
    let hi = starts.length - 1;
    let r = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= pos) {
        r = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const source = r >= 0 && pos < starts[r] + this.runLengths[r] ? this.runSources[r] + (pos - starts[r]) : pos;
    const c = this.contributionAt(source);
    return { contribution: c, offset: source - this.offsets[c] };
  }

  /**
   * Finds the suffix-array range of the suffixes that start with P[ps, pe) (pe > ps) and leaves
   * it in foundLo/foundHi. Returns false (range empty) if the pattern does not occur.
   */
  findRange(P: ArrayLike<number>, ps: number, pe: number): boolean {
    const t = P[ps];
    if (!(t >= 0 && t < SEPARATOR_TOKEN)) return false;
    const lo = this.bucketStart[t];
    const hi = this.bucketStart[t + 1];
    if (lo === hi) return false;
    if (pe - ps === 1) {
      this.foundLo = lo;
      this.foundHi = hi;
      return true;
    }
    return this.findWithin(P, ps, pe, lo, hi, 1);
  }

  /**
   * Like findRange, inside [lo, hi) whose suffixes all start with P[ps, ps+depth). The binary
   * searches skip the prefix already known to match on both bounds.
   */
  findWithin(P: ArrayLike<number>, ps: number, pe: number, lo: number, hi: number, depth: number): boolean {
    const T = this.tokens;
    const SA = this.sa;
    const m = pe - ps;
    let l = lo;
    let h = hi;
    let llcp = depth;
    let rlcp = depth;
    while (l < h) {
      const mid = (l + h) >>> 1;
      if (compareSuffix(T, SA.get(mid), P, ps, m, Math.min(llcp, rlcp)) < 0) {
        l = mid + 1;
        llcp = cmpLcp;
      } else {
        h = mid;
        rlcp = cmpLcp;
      }
    }
    const first = l;
    if (first === hi || compareSuffix(T, SA.get(first), P, ps, m, depth) !== 0) return false;
    // Upper bound: first suffix that is greater and does not start with the pattern.
    h = hi;
    l = first + 1;
    llcp = m;
    rlcp = depth;
    while (l < h) {
      const mid = (l + h) >>> 1;
      if (compareSuffix(T, SA.get(mid), P, ps, m, Math.min(llcp, rlcp)) <= 0) {
        l = mid + 1;
        llcp = cmpLcp;
      } else {
        h = mid;
        rlcp = cmpLcp;
      }
    }
    this.foundLo = first;
    this.foundHi = l;
    return true;
  }

  /**
   * Narrows [lo, hi) (all sharing `depth` tokens) to the suffixes whose next token is `token`,
   * leaving the result in foundLo/foundHi. Returns false if none.
   */
  narrow(lo: number, hi: number, depth: number, token: number): boolean {
    const T = this.tokens;
    const SA = this.sa;
    let l = lo;
    let h = hi;
    while (l < h) {
      const mid = (l + h) >>> 1;
      if (T.get(SA.get(mid) + depth) < token) l = mid + 1;
      else h = mid;
    }
    if (l === hi || T.get(SA.get(l) + depth) !== token) return false;
    const first = l;
    h = hi;
    while (l < h) {
      const mid = (l + h) >>> 1;
      if (T.get(SA.get(mid) + depth) <= token) l = mid + 1;
      else h = mid;
    }
    this.foundLo = first;
    this.foundHi = l;
    return true;
  }

  /** Suffix-array range [lo, hi) of the suffixes starting with P[ps, pe); lo === hi if none. */
  range(P: ArrayLike<number>, ps: number, pe: number): [number, number] {
    return this.findRange(P, ps, pe) ? [this.foundLo, this.foundHi] : [0, 0];
  }

  /** Range [lo, hi) narrowed to suffixes whose token at `depth` is `token`; lo === hi if none. */
  extend(lo: number, hi: number, depth: number, token: number): [number, number] {
    return this.narrow(lo, hi, depth, token) ? [this.foundLo, this.foundHi] : [lo, lo];
  }

  /** Number of occurrences of P[ps, pe) in the corpus. */
  count(P: ArrayLike<number>, ps = 0, pe = P.length): number {
    if (pe <= ps) return this.corpusTokens;
    const [lo, hi] = this.range(P, ps, pe);
    return hi - lo;
  }

  /** Tokens of contribution i (separator excluded), unpacked into a new array. */
  contributionTokens(i: number): Uint32Array {
    return this.tokens.subarray(this.offsets[i], this.offsets[i + 1] - 1);
  }
}
