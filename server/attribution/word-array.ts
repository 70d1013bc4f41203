// The word view's word ids in at most 16 bits each. Ids are ranked by frequency (word-index.ts),
// so when the vocabulary needs more bits only the rarest words (~0.7% of a large corpus's words,
// and the contribution separators) take the escape value; their ids are kept in a side table
// sorted by position, found through a directory of 1,024-word blocks.
import { bitsFor, PackedInts } from "./packed-ints.ts";

const MAX_SLOT_BITS = 16;
const BLOCK_BITS = 10;

export class WordArray {
  readonly length: number;
  private readonly slots: PackedInts;
  /** Slot value that sends get() to the side table (-1: none, every id fits its slot). */
  private readonly escapeSlot: number;
  private readonly escapedAt: Uint32Array;
  private readonly escapedIds: Uint32Array;
  /** directory[b]: index in escapedAt of the first escape at or after block b's start. */
  private readonly directory: Uint32Array;

  // slots' layout, read inline by get() (the hottest read of word matching)
  private readonly data: Uint32Array;
  private readonly bits: number;
  private readonly mask: number;

  private constructor(slots: PackedInts, escapeSlot: number, escapedAt: Uint32Array, escapedIds: Uint32Array) {
    this.slots = slots;
    this.data = slots.packed;
    this.bits = slots.width;
    this.mask = 2 ** slots.width - 1;
    this.length = slots.length;
    this.escapeSlot = escapeSlot;
    this.escapedAt = escapedAt;
    this.escapedIds = escapedIds;
    const blocks = Math.ceil(this.length / (1 << BLOCK_BITS));
    this.directory = new Uint32Array(blocks + 1);
    for (let b = 0, e = 0; b <= blocks; b++) {
      while (e < escapedAt.length && escapedAt[e] >>> BLOCK_BITS < b) e++;
      this.directory[b] = e;
    }
  }

  /** Packs `length` ids (each at most `maxId`) arriving in consecutive pieces. */
  static fromPieces(length: number, maxId: number, pieces: Iterable<ArrayLike<number>>): WordArray {
    const width = Math.min(bitsFor(maxId), MAX_SLOT_BITS);
    const escapeSlot = bitsFor(maxId) > MAX_SLOT_BITS ? 2 ** MAX_SLOT_BITS - 1 : -1;
    const at: number[] = [];
    const ids: number[] = [];
    let base = 0;
    let buffer = new Uint32Array(0);
    function* slotted(): Iterable<ArrayLike<number>> {
      for (const piece of pieces) {
        if (escapeSlot < 0) {
          yield piece;
        } else {
          if (buffer.length < piece.length) buffer = new Uint32Array(piece.length); // reused: packed before the next piece
          const out = buffer.subarray(0, piece.length);
          for (let i = 0; i < piece.length; i++) {
            const v = piece[i];
            if (v >= escapeSlot) {
              if (v > maxId) throw new RangeError(`word id ${v} is above ${maxId}`);
              at.push(base + i);
              ids.push(v);
              out[i] = escapeSlot;
            } else out[i] = v;
          }
          yield out;
        }
        base += piece.length;
      }
    }
    const slots = PackedInts.fromPieces(length, width, slotted());
    return new WordArray(slots, escapeSlot, Uint32Array.from(at), Uint32Array.from(ids));
  }

  static from(ids: Uint32Array, maxId: number): WordArray {
    return WordArray.fromPieces(ids.length, maxId, [ids]);
  }

  /** Bits per word in the packed slots. */
  get width(): number {
    return this.slots.width;
  }

  get byteLength(): number {
    return this.slots.byteLength + this.escapedAt.byteLength + this.escapedIds.byteLength + this.directory.byteLength;
  }

  get(i: number): number {
    const w = this.bits;
    const b = (i & 31) * w;
    const k = (i >>> 5) * w + (b >>> 5);
    const o = b & 31;
    const lo = this.data[k] >>> o;
    const v = (o + w <= 32 ? lo : lo | (this.data[k + 1] << (32 - o))) & this.mask;
    return v === this.escapeSlot ? this.escaped(i) : v;
  }

  private escaped(i: number): number {
    const b = i >>> BLOCK_BITS;
    let lo = this.directory[b];
    let hi = this.directory[b + 1] - 1;
    const at = this.escapedAt;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (at[mid] < i) lo = mid + 1;
      else hi = mid;
    }
    return this.escapedIds[lo];
  }

  /** Ids [start, end) in a new array. */
  subarray(start: number, end = this.length): Uint32Array {
    const s = Math.max(0, Math.min(start, this.length));
    const e = Math.max(s, Math.min(end, this.length));
    const out = new Uint32Array(e - s);
    for (let i = s; i < e; i++) out[i - s] = this.get(i);
    return out;
  }
}
