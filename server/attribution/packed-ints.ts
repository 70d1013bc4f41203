// A fixed-width array of non-negative integers packed into 32-bit words: token ids need 18 bits,
// positions in a 1 GB corpus 28, so the query-time index holds ~5.75 bytes per token instead of 8.
// Values are laid out in groups of 32 (a group of `width` words), so every index computation
// stays a small integer. Read-only once built; the files on disk keep their 32-bit layout (store.ts).

/** Bits needed to store every value in [0, max]. */
export function bitsFor(max: number): number {
  let w = 1;
  while (w < 31 && 2 ** w <= max) w++;
  if (2 ** w <= max) throw new RangeError(`${max} does not fit in 31 bits`);
  return w;
}

function maxOf(values: ArrayLike<number>): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) if (values[i] > max) max = values[i];
  return max;
}

export class PackedInts {
  readonly length: number;
  readonly width: number;
  private readonly mask: number;
  private readonly data: Uint32Array;

  /** Packs `values` (each in [0, 2^width)); width defaults to what the largest value needs. */
  constructor(values: ArrayLike<number>, width?: number, fillValues = true) {
    const w = width ?? bitsFor(maxOf(values));
    if (!(w >= 1 && w <= 31)) throw new RangeError(`width ${w} is not in 1..31`);
    this.length = values.length;
    this.width = w;
    this.mask = 2 ** w - 1;
    // +1 word: get() may read the word after the last value's
    this.data = new Uint32Array(Math.ceil(values.length / 32) * w + 1);
    if (fillValues) this.fill(0, values);
  }

  /** Packs `length` values arriving in consecutive pieces (a file read a slice at a time). */
  static fromPieces(length: number, width: number, pieces: Iterable<ArrayLike<number>>): PackedInts {
    const p = new PackedInts({ length }, width, false);
    let at = 0;
    for (const piece of pieces) {
      if (at + piece.length > length) throw new RangeError("more values than the declared length");
      p.fill(at, piece);
      at += piece.length;
    }
    if (at !== length) throw new RangeError(`expected ${length} values, got ${at}`);
    return p;
  }

  private fill(at: number, values: ArrayLike<number>): void {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v > this.mask) throw new RangeError(`value ${v} does not fit in ${this.width} bits`);
      this.set(at + i, v);
    }
  }

  private set(i: number, v: number): void {
    const w = this.width;
    const b = (i & 31) * w;
    const k = (i >>> 5) * w + (b >>> 5);
    const o = b & 31;
    this.data[k] |= v << o;
    if (o + w > 32) this.data[k + 1] |= v >>> (32 - o);
  }

  get(i: number): number {
    const w = this.width;
    const b = (i & 31) * w;
    const k = (i >>> 5) * w + (b >>> 5);
    const o = b & 31;
    const lo = this.data[k] >>> o;
    return (o + w <= 32 ? lo : lo | (this.data[k + 1] << (32 - o))) & this.mask;
  }

  get byteLength(): number {
    return this.data.byteLength;
  }

  /** The packed words, for a reader that inlines get() (token-array.ts, word-array.ts). */
  get packed(): Uint32Array {
    return this.data;
  }

  /** Values [start, end) unpacked into a new array (a copy, unlike a typed array's subarray). */
  subarray(start: number, end = this.length): Uint32Array {
    const s = Math.max(0, Math.min(start < 0 ? this.length + start : start, this.length));
    const e = Math.max(s, Math.min(end < 0 ? this.length + end : end, this.length));
    const out = new Uint32Array(e - s);
    for (let i = s; i < e; i++) out[i - s] = this.get(i);
    return out;
  }
}
