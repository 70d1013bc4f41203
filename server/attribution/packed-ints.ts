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

export class PackedInts {
  readonly length: number;
  readonly width: number;
  private readonly mask: number;
  private readonly data: Uint32Array;

  /** Packs `values` (each in [0, 2^width)); width defaults to what the largest value needs. */
  constructor(values: ArrayLike<number>, width?: number) {
    let max = 0;
    for (let i = 0; i < values.length; i++) if (values[i] > max) max = values[i];
    const w = width ?? bitsFor(max);
    if (!(w >= 1 && w <= 31) || max >= 2 ** w) throw new RangeError(`values up to ${max} do not fit in ${w} bits`);
    this.length = values.length;
    this.width = w;
    this.mask = 2 ** w - 1;
    // +1 word: get() may read the word after the last value's
    this.data = new Uint32Array(Math.ceil(values.length / 32) * w + 1);
    for (let i = 0; i < values.length; i++) this.set(i, values[i]);
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

  /** Values [start, end) unpacked into a new array (a copy, unlike a typed array's subarray). */
  subarray(start: number, end = this.length): Uint32Array {
    const s = Math.max(0, Math.min(start < 0 ? this.length + start : start, this.length));
    const e = Math.max(s, Math.min(end < 0 ? this.length + end : end, this.length));
    const out = new Uint32Array(e - s);
    for (let i = s; i < e; i++) out[i - s] = this.get(i);
    return out;
  }
}
