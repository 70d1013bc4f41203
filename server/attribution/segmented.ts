// An index made of segments: the main index and a small delta of contributions registered since
// it was built (registration order: every delta seq is above every main seq). Attribution reads
// it as if it were one index built in one pass from all the contributions: contribution numbers,
// word positions and separators run on across segments, occurrence counts add up, surprisal comes
// from the summed unigram counts, and indexRoot is the root of the whole ordered list
// (segmented-root.ts). So a record made while a contribution sits in the delta is byte-identical
// to one made after the merge and to one an outsider re-derives from the export.
import { AttributionError } from "./errors.ts";
import { indexRootOf } from "./segmented-root.ts";
import type { ContributionMeta, IndexParams, SuffixIndex } from "./suffix-index.ts";
import { surprisalTable } from "./surprisal.ts";
import { SEPARATOR_TOKEN } from "./tokenizer.ts";
import { wordIndexOf, type WordIndex } from "./word-index.ts";

/** What a record needs from an index besides its words. A SuffixIndex is one. */
export interface AttributionSource {
  readonly indexRoot: string;
  readonly params: IndexParams;
  readonly contributions: readonly ContributionMeta[];
  readonly surprisal: Uint32Array;
}

/** An output's words as ids of each segment's vocabulary (a word unknown to a segment matches nothing there). */
export type WordQuery = readonly Uint32Array[];

/** The normalized-word view near-verbatim matching reads, over one index or several segments. */
export interface WordSource {
  /** Words plus one separator per contribution, all segments. */
  readonly length: number;
  /** offsets[i] = first word of contribution i (global); offsets[C] = length. */
  readonly offsets: Uint32Array;
  query(keys: readonly string[]): WordQuery;
  /** Global positions where q[ps, pe) occurs, when it occurs 1..limit times; otherwise null. */
  occurrences(q: WordQuery, ps: number, pe: number, limit: number): ArrayLike<number> | null;
  /** Whether the word at global position `pos` is output word i. */
  same(q: WordQuery, pos: number, i: number): boolean;
}

class SegmentWords implements WordSource {
  readonly length: number;
  readonly offsets: Uint32Array;
  /** First global word position of each segment. */
  private readonly bases: number[] = [];

  constructor(private readonly parts: readonly WordIndex[]) {
    let length = 0;
    let contributions = 0;
    for (const w of parts) {
      this.bases.push(length);
      length += w.words.length;
      contributions += w.offsets.length - 1;
    }
    this.length = length;
    if (parts.length === 1) this.offsets = parts[0].offsets;
    else {
      this.offsets = new Uint32Array(contributions + 1);
      let c = 0;
      parts.forEach((w, s) => {
        for (let i = 0; i + 1 < w.offsets.length; i++) this.offsets[c++] = this.bases[s] + w.offsets[i];
      });
      this.offsets[c] = length;
    }
  }

  query(keys: readonly string[]): WordQuery {
    return this.parts.map((w) => w.idsOf(keys));
  }

  occurrences(q: WordQuery, ps: number, pe: number, limit: number): ArrayLike<number> | null {
    if (this.parts.length === 1) {
      const w = this.parts[0];
      if (!w.findRange(q[0], ps, pe) || w.foundHi - w.foundLo > limit) return null;
      return w.sa.subarray(w.foundLo, w.foundHi);
    }
    const found: Array<[number, number, number]> = [];
    let total = 0;
    this.parts.forEach((w, s) => {
      if (!w.findRange(q[s], ps, pe)) return;
      found.push([s, w.foundLo, w.foundHi]);
      total += w.foundHi - w.foundLo;
    });
    if (total === 0 || total > limit) return null;
    const at: number[] = [];
    for (const [s, lo, hi] of found) for (let k = lo; k < hi; k++) at.push(this.bases[s] + this.parts[s].sa.get(k));
    return at;
  }

  same(q: WordQuery, pos: number, i: number): boolean {
    let s = this.parts.length - 1;
    while (pos < this.bases[s]) s--;
    return this.parts[s].words.get(pos - this.bases[s]) === q[s][i];
  }
}

function checkSegments(segments: readonly SuffixIndex[]): void {
  if (segments.length === 0) throw new AttributionError("empty_datanet", "a segmented index needs at least one segment");
  const p = segments[0].params;
  for (let s = 1; s < segments.length; s++) {
    const q = segments[s].params;
    if (q.tokenizer !== p.tokenizer || q.minCopyTokens !== p.minCopyTokens || q.vocabularySize !== p.vocabularySize) {
      throw new AttributionError("index_mismatch", "segments were built with different parameters");
    }
    const before = segments[s - 1].contributions;
    if (segments[s].contributions[0].seq <= before[before.length - 1].seq) {
      throw new AttributionError("duplicate_seq", "segments must hold contributions in strictly increasing seq order");
    }
  }
}

export class SegmentedIndex implements AttributionSource {
  readonly indexRoot: string;
  readonly params: IndexParams;
  readonly contributions: readonly ContributionMeta[];
  readonly surprisal: Uint32Array;
  readonly corpusTokens: number;
  private wordView: WordSource | null = null;

  constructor(readonly segments: readonly SuffixIndex[]) {
    checkSegments(segments);
    this.params = segments[0].params;
    this.contributions = segments.flatMap((s) => s.contributions);
    this.indexRoot = indexRootOf(this.params, this.contributions);
    const unigram = new Uint32Array(SEPARATOR_TOKEN);
    let corpusTokens = 0;
    for (const s of segments) {
      const u = s.unigram;
      for (let t = 0; t < unigram.length; t++) unigram[t] += u[t];
      corpusTokens += s.corpusTokens;
    }
    this.corpusTokens = corpusTokens;
    this.surprisal = surprisalTable(unigram, corpusTokens, this.params.vocabularySize);
  }

  /** The main index (built in one pass); the rest are deltas. */
  get main(): SuffixIndex {
    return this.segments[0];
  }

  words(): WordSource {
    this.wordView ??= new SegmentWords(this.segments.map(wordsOf));
    return this.wordView;
  }
}

/** An index attribution can read: one built in one pass, or a main index with its delta. */
export type AttributionIndex = SuffixIndex | SegmentedIndex;

const single = new WeakMap<SuffixIndex, WordSource>();
const adopted = new WeakMap<SuffixIndex, WordIndex>();

/** Gives `index` a word view built elsewhere (a merge worker) from the same contributions. */
export function adoptWordIndex(index: SuffixIndex, words: WordIndex): void {
  if (words.offsets.length !== index.contributions.length + 1) throw new AttributionError("index_mismatch", "word view of another index");
  adopted.set(index, words);
}

function wordsOf(index: SuffixIndex): WordIndex {
  return adopted.get(index) ?? wordIndexOf(index);
}

/** The word view of an index (built on first use and kept with it). */
export function wordSourceOf(index: AttributionIndex): WordSource {
  if (index instanceof SegmentedIndex) return index.words();
  let view = single.get(index);
  if (view === undefined) {
    view = new SegmentWords([wordsOf(index)]);
    single.set(index, view);
  }
  return view;
}

/** The one-pass index inside: itself, or a segmented index's main (for algorithms that read one index only). */
export function mainIndexOf(index: AttributionIndex): SuffixIndex {
  return index instanceof SegmentedIndex ? index.main : index;
}
