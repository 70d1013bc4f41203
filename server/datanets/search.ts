// Full-text search over a datanet's served index: each contribution is cut into passages of
// PASSAGE_WORDS words, ranked by BM25 (k1, b below) against the query's words. Built from the
// index alone (its tokens decode to the contributions' texts), once per index snapshot, so a
// search is reproducible by anyone holding the same index: ties go to the earlier passage.
import { detokenize } from "../attribution/tokenizer.ts";
import type { SuffixIndex } from "../attribution/suffix-index.ts";

export const SEARCH_PARAMS = { ranking: "bm25", k1: 1.2, b: 0.75, passageWords: 80, terms: "nfc-lowercase-letters-digits" } as const;

const WORD = /[\p{L}\p{N}]+/gu;

/** A passage: words [wordStart, wordEnd) of contribution `contribution` (registration order), and their text. */
export interface Passage {
  contribution: number;
  wordStart: number;
  wordEnd: number;
  text: string;
}

export interface SearchHit {
  passage: Passage;
  score: number;
}

interface Posting {
  passage: number;
  tf: number;
}

/** The lower-cased words of a text, in order. */
export function termsOf(text: string): string[] {
  return (text.match(WORD) ?? []).map((w) => w.toLowerCase());
}

export class PassageIndex {
  readonly passages: Passage[] = [];
  /** Each contribution's full text, decoded from the index. */
  readonly texts: string[] = [];
  private readonly lengths: number[] = [];
  private readonly postings = new Map<string, Posting[]>();
  private readonly averageLength: number;

  constructor(index: SuffixIndex) {
    let words = 0;
    for (let c = 0; c < index.contributions.length; c++) {
      const text = detokenize(index.contributionTokens(c));
      this.texts.push(text);
      words += this.addPassages(c, text);
    }
    this.averageLength = this.passages.length > 0 ? words / this.passages.length : 0;
  }

  /** The best `limit` passages for the query (score > 0), best first; ties: earlier passage first. */
  search(query: string, limit: number): SearchHit[] {
    const { k1, b } = SEARCH_PARAMS;
    const n = this.passages.length;
    const scores = new Map<number, number>();
    for (const term of new Set(termsOf(query))) {
      const list = this.postings.get(term);
      if (!list) continue;
      const idf = Math.log(1 + (n - list.length + 0.5) / (list.length + 0.5));
      for (const { passage, tf } of list) {
        const norm = k1 * (1 - b + (b * this.lengths[passage]) / this.averageLength);
        scores.set(passage, (scores.get(passage) ?? 0) + (idf * tf * (k1 + 1)) / (tf + norm));
      }
    }
    return [...scores.entries()]
      .filter(([, score]) => score > 0)
      .sort((x, y) => y[1] - x[1] || x[0] - y[0])
      .slice(0, limit)
      .map(([p, score]) => ({ passage: this.passages[p], score }));
  }

  private addPassages(contribution: number, text: string): number {
    const words = [...text.matchAll(WORD)];
    const size = SEARCH_PARAMS.passageWords;
    for (let start = 0; start < words.length; start += size) {
      const chunk = words.slice(start, start + size);
      const last = chunk[chunk.length - 1];
      const id = this.passages.length;
      this.passages.push({
        contribution,
        wordStart: start,
        wordEnd: start + chunk.length,
        text: text.slice(chunk[0].index, last.index + last[0].length),
      });
      this.lengths.push(chunk.length);
      const tf = new Map<string, number>();
      for (const w of chunk) tf.set(w[0].toLowerCase(), (tf.get(w[0].toLowerCase()) ?? 0) + 1);
      for (const [term, count] of tf) {
        let list = this.postings.get(term);
        if (!list) this.postings.set(term, (list = []));
        list.push({ passage: id, tf: count });
      }
    }
    return words.length;
  }
}

const built = new WeakMap<SuffixIndex, PassageIndex>();

/** The passage index of an index snapshot (built on first use, then kept as long as the snapshot). */
export function passageIndex(index: SuffixIndex): PassageIndex {
  let p = built.get(index);
  if (!p) built.set(index, (p = new PassageIndex(index)));
  return p;
}
