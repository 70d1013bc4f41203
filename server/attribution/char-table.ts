// A set of strings keyed by a range of characters of another string, numbered in order of
// insertion: lookups hash and compare the characters in place, so a tokenizer or word scanner
// needs no substring (no allocation, no Map) for text it has seen before. Open addressing on flat
// typed arrays, each slot holding an entry and its hash side by side (one cache line a probe),
// grown while at most half full. It refuses new entries past MAX_ENTRIES or MAX_CHARS (a bound on
// its memory however varied the text, e.g. a server's prompts), and callers then take their slow path.

const MAX_ENTRIES = 1 << 20;
const MAX_CHARS = 1 << 23;

export class CharTable {
  /** Per slot: entry + 1 (0: empty), then the entry's hash. */
  private slots = new Int32Array(2 << 12);
  private keyAt = new Int32Array(1 << 12);
  private chars = new Uint16Array(1 << 16);
  private count = 0;

  constructor(private readonly longestKey: number) {}

  get size(): number {
    return this.count;
  }

  /** The entry of s[i, end) (hash from hashChars), or -1. */
  find(s: string, i: number, end: number, hash: number): number {
    const mask = (this.slots.length >> 1) - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const e = this.slots[2 * slot] - 1;
      if (e < 0) return -1;
      if (this.slots[2 * slot + 1] === hash && this.keyAt[e + 1] - this.keyAt[e] === end - i && this.sameChars(e, s, i, end)) return e;
    }
  }

  /** Adds s[i, end) (not present) as the next entry; -1 if the table is full or the key too long. */
  add(s: string, i: number, end: number, hash: number): number {
    if (this.count >= MAX_ENTRIES || end - i > this.longestKey || this.keyAt[this.count] + (end - i) > MAX_CHARS) return -1;
    if (2 * (this.count + 1) > this.slots.length >> 1) this.rehash();
    const e = this.count++;
    this.keyAt = grown(this.keyAt, e + 2);
    let at = this.keyAt[e];
    this.chars = grown(this.chars, at + (end - i));
    for (let j = i; j < end; j++) this.chars[at++] = s.charCodeAt(j);
    this.keyAt[e + 1] = at;
    this.place(e, hash);
    return e;
  }

  private place(e: number, hash: number): void {
    const mask = (this.slots.length >> 1) - 1;
    let slot = hash & mask;
    while (this.slots[2 * slot] !== 0) slot = (slot + 1) & mask;
    this.slots[2 * slot] = e + 1;
    this.slots[2 * slot + 1] = hash;
  }

  private rehash(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2);
    for (let k = 0; k < old.length; k += 2) if (old[k] !== 0) this.place(old[k] - 1, old[k + 1]);
  }

  private sameChars(e: number, s: string, i: number, end: number): boolean {
    for (let k = this.keyAt[e], j = i; j < end; j++, k++) if (this.chars[k] !== s.charCodeAt(j)) return false;
    return true;
  }
}

/** FNV-1a over the UTF-16 units of s[i, end). */
export function hashChars(s: string, i: number, end: number): number {
  let h = 0x811c9dc5;
  for (let j = i; j < end; j++) h = Math.imul(h ^ s.charCodeAt(j), 0x01000193);
  return (h ^ (h >>> 15)) | 0;
}

/** `a`, or a copy at least `length` long (doubling) with its contents. */
export function grown<T extends Uint16Array | Uint32Array | Int32Array>(a: T, length: number): T {
  if (length <= a.length) return a;
  const bigger = new (a.constructor as new (n: number) => T)(Math.max(length, a.length * 2));
  bigger.set(a);
  return bigger;
}
