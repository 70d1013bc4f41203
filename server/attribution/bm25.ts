// BM25 (Okapi) lexical search over a set of texts: which documents a query's words point to.
// Used by the `rag` backend to pick the passages it sends the upstream, and reusable by any search
// over a datanet. Words are the normalized matching words of near-verbatim attribution
// (match-words.ts: NFKC, lower case, letters and digits), so case and punctuation do not matter.
// Deterministic: the same documents (in the same order) and query give the same hits and scores;
// ties go to the earlier document. Documents can be added one at a time (an index grows with its
// datanet); their ids are their positions.
import { matchKeys } from "./match-words.ts";

export interface Bm25Params {
  /** Term-frequency saturation. */
  k1: number;
  /** Length normalization (0: none, 1: full). */
  b: number;
}

const BM25_DEFAULTS: Readonly<Bm25Params> = { k1: 1.2, b: 0.75 };

export interface Bm25Hit {
  /** Position of the document in the order it was added. */
  doc: number;
  score: number;
}

export class Bm25Index {
  private readonly terms = new Map<string, number>();
  /** Per term id: the documents holding it (increasing) and how often. */
  private readonly postingDocs: number[][] = [];
  private readonly postingCounts: number[][] = [];
  private readonly lengths: number[] = [];
  private totalLength = 0;
  private readonly cache = new Map<string, string>();
  readonly params: Readonly<Bm25Params>;

  constructor(params: Partial<Bm25Params> = {}) {
    this.params = { ...BM25_DEFAULTS, ...params };
  }

  get size(): number {
    return this.lengths.length;
  }

  /** Adds a document; returns its id. */
  add(text: string): number {
    const doc = this.lengths.length;
    const words = matchKeys(text, this.cache);
    const counts = new Map<string, number>();
    for (const w of words) counts.set(w, (counts.get(w) ?? 0) + 1);
    for (const [w, n] of counts) {
      let t = this.terms.get(w);
      if (t === undefined) {
        t = this.terms.size;
        this.terms.set(w, t);
        this.postingDocs.push([]);
        this.postingCounts.push([]);
      }
      this.postingDocs[t].push(doc);
      this.postingCounts[t].push(n);
    }
    this.lengths.push(words.length);
    this.totalLength += words.length;
    return doc;
  }

  /** The `k` best documents for `query` (score > 0), best first; ties: earlier document. */
  search(query: string, k: number): Bm25Hit[] {
    const N = this.lengths.length;
    if (N === 0 || k <= 0) return [];
    const { k1, b } = this.params;
    const avg = this.totalLength / N || 1;
    const scores = new Map<number, number>();
    // Unique query words in sorted order: the sum is taken in one fixed order.
    for (const w of [...new Set(matchKeys(query, this.cache))].sort()) {
      const t = this.terms.get(w);
      if (t === undefined) continue;
      const docs = this.postingDocs[t];
      const tfs = this.postingCounts[t];
      const idf = Math.log(1 + (N - docs.length + 0.5) / (docs.length + 0.5));
      for (let i = 0; i < docs.length; i++) {
        const tf = tfs[i];
        const norm = tf + k1 * (1 - b + (b * this.lengths[docs[i]]) / avg);
        scores.set(docs[i], (scores.get(docs[i]) ?? 0) + (idf * tf * (k1 + 1)) / norm);
      }
    }
    const hits: Bm25Hit[] = [];
    for (const [doc, score] of scores) if (score > 0) hits.push({ doc, score });
    hits.sort((x, y) => y.score - x.score || x.doc - y.doc);
    return hits.slice(0, k);
  }
}

/** A passage: the characters [start, end) of a text. */
export interface PassageRange {
  start: number;
  end: number;
}

/**
 * Splits a text into passages of about `words` whitespace-separated words: a passage ends at the
 * first line end after `words` words, or after 1.5 × `words` words. Passages are exact slices.
 */
export function passagesOf(text: string, words = 80): PassageRange[] {
  const out: PassageRange[] = [];
  let start = -1;
  let end = 0;
  let count = 0;
  for (const m of text.matchAll(/\S+/g)) {
    const lineBreak = count > 0 && text.slice(end, m.index).includes("\n");
    if (count >= words * 1.5 || (lineBreak && count >= words)) {
      out.push({ start, end });
      count = 0;
    }
    if (count === 0) start = m.index;
    end = m.index + m[0].length;
    count++;
  }
  if (count > 0) out.push({ start, end });
  return out;
}
