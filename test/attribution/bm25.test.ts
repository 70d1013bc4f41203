// BM25 search on real Brown-corpus text: the document a passage came from ranks first, scores
// follow the formula, results are deterministic, and passages are exact slices.
import { describe, expect, it } from "vitest";
import { Bm25Index, passagesOf } from "../../server/attribution/bm25.ts";
import { brownDocs, passage } from "../fixtures/attribution/helpers.ts";

const docs = brownDocs().slice(0, 60);

describe("Bm25Index", () => {
  const index = new Bm25Index();
  for (const d of docs) index.add(d.text);

  it("ranks the document a passage came from first, for a reworded query too", () => {
    for (const n of [3, 17, 42]) {
      const q = passage(docs[n].text, 500, 40);
      expect(index.search(q, 5)[0].doc).toBe(n);
      expect(index.search(q.toUpperCase().replace(/[.,;]/g, ""), 1)[0].doc).toBe(n);
    }
  });

  it("scores by the Okapi formula, best first, ties to the earlier document", () => {
    const small = new Bm25Index({ k1: 1.2, b: 0.75 });
    small.add("apple banana");
    small.add("apple apple cherry date");
    small.add("cherry");
    small.add("cherry");
    const hits = small.search("Apple!", 10);
    // N = 4, df = 2: idf = ln(1 + 2.5 / 2.5); avg length 2
    const idf = Math.log(2);
    const s = (tf: number, len: number) => (idf * tf * 2.2) / (tf + 1.2 * (0.25 + (0.75 * len) / 2));
    expect(hits.map((h) => h.doc)).toEqual([1, 0]);
    expect(hits[0].score).toBeCloseTo(s(2, 4), 12);
    expect(hits[1].score).toBeCloseTo(s(1, 2), 12);
    expect(small.search("cherry", 10).map((h) => h.doc)).toEqual([2, 3, 1]);
    expect(small.search("nothing here", 10)).toEqual([]);
  });

  it("gives the same hits and scores when built again in the same order", () => {
    const again = new Bm25Index();
    for (const d of docs) again.add(d.text);
    const q = passage(docs[9].text, 100, 30);
    expect(again.search(q, 10)).toEqual(index.search(q, 10));
  });
});

describe("passagesOf", () => {
  it("cuts exact slices of about the given number of words, covering every word once", () => {
    const text = docs[5].text;
    const parts = passagesOf(text, 80);
    const words = (s: string) => s.split(/\s+/).filter((w) => w !== "");
    expect(parts.flatMap((p) => words(text.slice(p.start, p.end)))).toEqual(words(text));
    for (const p of parts.slice(0, -1)) expect(words(text.slice(p.start, p.end)).length).toBeGreaterThanOrEqual(80);
    for (const p of parts) expect(words(text.slice(p.start, p.end)).length).toBeLessThanOrEqual(120);
  });
});
