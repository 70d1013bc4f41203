import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ZeroHash } from "ethers";
import { attribute, attributeTokens } from "../../server/attribution/attribute.ts";
import { buildIndex } from "../../server/attribution/build.ts";
import { longestContinuation } from "../../server/attribution/infgram.ts";
import { hashRecord, PPM, serializeRecord, validateRecord, type AttributionRecord } from "../../server/attribution/record.ts";
import { milliBitsLog2Ratio } from "../../server/attribution/surprisal.ts";
import { FILTER_WINDOW, NgramFilter, windowHashes } from "../../server/attribution/ngram-filter.ts";
import type { SuffixIndex } from "../../server/attribution/suffix-index.ts";
import { addressOf, randomTokens, tokenIndex } from "../fixtures/attribution/helpers.ts";
import { determinismDatanet, determinismOutput } from "../fixtures/attribution/determinism.ts";
import { seededRandom } from "../../scripts/shared/random.ts";

const run = (index: SuffixIndex, out: number[], prompt: number[] | null = null, opts = {}) =>
  attributeTokens(index, Uint32Array.from(out), prompt === null ? null : Uint32Array.from(prompt), {
    outputHash: ZeroHash,
    promptHash: null,
    ...opts,
  });

const credited = (r: AttributionRecord) => r.contributors.reduce((a, c) => a + c.tokens, 0);

function contains(hay: readonly number[], needle: readonly number[]): boolean {
  outer: for (let s = 0; s + needle.length <= hay.length; s++) {
    for (let k = 0; k < needle.length; k++) if (hay[s + k] !== needle[k]) continue outer;
    return true;
  }
  return false;
}

describe("attribute: spans", () => {
  const rand = seededRandom(7);
  const docs = Array.from({ length: 6 }, () => randomTokens(rand, 300));
  const index = tokenIndex(docs, [0, 1, 2, 3, 4, 4]); // contributions 4 and 5 share a contributor
  const fresh = () => randomTokens(rand, 40, 9000, 1000); // never in the corpus

  it("credits a copied passage to its contribution with positions in output and contribution", () => {
    const out = [...fresh(), ...docs[2].slice(100, 140), ...fresh()];
    const r = run(index, out);
    expect(r.spans).toHaveLength(1);
    expect(r.spans[0]).toMatchObject({ start: 40, end: 80, contributions: 1, common: false });
    expect(r.spans[0].segments).toEqual([
      { start: 40, end: 80, contribution: 2, contributor: addressOf(2), contributionStart: 100, contributionEnd: 140 },
    ]);
    expect(r.contributors.map((c) => [c.address, c.tokens])).toEqual([[addressOf(2), 40]]);
    expect(r.unattributedTokens).toBe(80);
    expect(r.contributors[0].ppm + r.unattributedPpm).toBe(PPM);
    const w = (toks: number[]) => toks.reduce((a, t) => a + index.surprisal[t], 0);
    expect(r.contributors[0].weight).toBe(w(docs[2].slice(100, 140)));
    expect(r.totalWeight).toBe(w(out));
  });

  it("needs at least minSpanTokens (8) tokens", () => {
    expect(run(index, [...fresh(), ...docs[1].slice(10, 17), ...fresh()]).spans).toHaveLength(0);
    expect(run(index, [...fresh(), ...docs[1].slice(10, 17), ...fresh()]).unattributedPpm).toBe(PPM);
    const r = run(index, [...fresh(), ...docs[1].slice(10, 18), ...fresh()]);
    expect(r.spans.map((s) => [s.start, s.end])).toEqual([[40, 48]]);
    expect(run(index, [...fresh(), ...docs[1].slice(10, 17)], null, { minSpanTokens: 5 }).spans).toHaveLength(1);
  });

  it("sums a contributor's contributions and splits an output across contributors", () => {
    const out = [...docs[4].slice(0, 30), ...fresh(), ...docs[5].slice(50, 80), ...docs[0].slice(0, 20)];
    const r = run(index, out);
    expect(r.contributors.map((c) => [c.address, c.tokens])).toEqual(
      [
        [addressOf(0), 20],
        [addressOf(4), 60],
      ].sort((a, b) => ((a[0] as string).toLowerCase() < (b[0] as string).toLowerCase() ? -1 : 1)),
    );
    expect(r.contributors.reduce((a, c) => a + c.ppm, r.unattributedPpm)).toBe(PPM);
  });

  it("credits overlapping spans' shared tokens once, to the longer span", () => {
    // A ends with x, B starts with x (x = 10 tokens) and continues; the output is A-tail + x + B-rest
    const x = randomTokens(rand, 10, 20000, 1000);
    const a = [...randomTokens(rand, 50, 30000, 1000), ...randomTokens(rand, 12, 40000, 1000), ...x];
    const b = [...x, ...randomTokens(rand, 30, 50000, 1000)];
    const idx = tokenIndex([a, b]);
    const out = [...a.slice(50, 62), ...b];
    const r = run(idx, out);
    expect(r.spans.map((s) => [s.start, s.end])).toEqual([
      [0, 22],
      [12, 52],
    ]);
    expect(r.spans[0].segments).toEqual([expect.objectContaining({ start: 0, end: 12, contribution: 0 })]);
    expect(r.spans[1].segments).toEqual([expect.objectContaining({ start: 12, end: 52, contribution: 1, contributionStart: 0 })]);
    expect(credited(r)).toBe(52);
  });

  it("skips spans found in more than 32 contributions as common knowledge", () => {
    const common = randomTokens(rand, 12, 60000, 1000);
    const shared32 = randomTokens(rand, 12, 70000, 1000);
    const contribs = Array.from({ length: 40 }, (_, i) => [
      ...randomTokens(rand, 20),
      ...(i < 33 ? common : []),
      ...randomTokens(rand, 20),
      ...(i >= 5 && i < 37 ? shared32 : []),
      ...randomTokens(rand, 20),
    ]);
    const idx = tokenIndex(contribs);
    const r33 = run(idx, common);
    expect(r33.spans).toEqual([{ start: 0, end: 12, contributions: 33, common: true, segments: [] }]);
    expect(r33.unattributedPpm).toBe(PPM);
    const r32 = run(idx, shared32);
    expect(r32.spans[0]).toMatchObject({ contributions: 32, common: false });
    // earliest registered contribution containing it
    expect(r32.contributors.map((c) => c.address)).toEqual([addressOf(5)]);
    expect(run(idx, common, null, { maxContributions: 33 }).spans[0].common).toBe(false);
  });

  it("masks output tokens that the prompt already contains", () => {
    const quote = docs[3].slice(0, 40);
    const out = [...fresh(), ...quote];
    const r = run(index, out, [...randomTokens(rand, 5, 9000, 1000), ...quote.slice(0, 15)]);
    expect(r.masked).toEqual([[40, 55]]);
    expect(r.contributors[0].tokens).toBe(25);
    expect(r.spans[0].segments).toEqual([expect.objectContaining({ start: 55, end: 80, contributionStart: 15, contributionEnd: 40 })]);
    // fewer than minSpanTokens in common with the prompt: nothing masked
    const r2 = run(index, out, quote.slice(0, 7));
    expect(r2.masked).toEqual([]);
    expect(r2.contributors[0].tokens).toBe(40);
  });

  it("property: every >= 8-token verbatim run is covered, spans are maximal, each token credited once, ppm add up", () => {
    const alphabet = 40; // small alphabet: many repeats and overlaps
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: alphabet - 1 }), { minLength: 1, maxLength: 60 }), { minLength: 1, maxLength: 6 }),
        fc.array(
          fc.tuple(
            fc.nat(5),
            fc.nat(60),
            fc.integer({ min: 0, max: 30 }),
            fc.array(fc.integer({ min: 0, max: alphabet - 1 }), { maxLength: 6 }),
          ),
          { maxLength: 6 },
        ),
        (contribs, pieces) => {
          // build the output from copied pieces and random tokens
          const out: number[] = [];
          for (const [c, s, len, noise] of pieces) {
            const src = contribs[c % contribs.length];
            out.push(...src.slice(s % src.length, (s % src.length) + len), ...noise);
          }
          const idx = tokenIndex(contribs);
          const r = run(idx, out);
          validateRecord(r);
          expect(r.contributors.reduce((a, c) => a + c.ppm, r.unattributedPpm)).toBe(PPM);
          const occurs = (a: number, b: number) => contribs.some((c) => contains(c, out.slice(a, b)));
          for (const sp of r.spans) {
            expect(sp.end - sp.start).toBeGreaterThanOrEqual(8);
            expect(occurs(sp.start, sp.end)).toBe(true);
            if (sp.start > 0) expect(occurs(sp.start - 1, sp.end)).toBe(false);
            if (sp.end < out.length) expect(occurs(sp.start, sp.end + 1)).toBe(false);
          }
          for (let i = 0; i + 8 <= out.length; i++) {
            if (occurs(i, i + 8)) expect(r.spans.some((sp) => sp.start <= i && i + 8 <= sp.end)).toBe(true);
          }
          const seen = new Set<number>();
          for (const sp of r.spans) {
            for (const g of sp.segments) {
              expect(g.end - g.start).toBe(g.contributionEnd - g.contributionStart);
              expect(out.slice(g.start, g.end)).toEqual(contribs[g.contribution].slice(g.contributionStart, g.contributionEnd));
              for (let t = g.start; t < g.end; t++) {
                expect(seen.has(t)).toBe(false);
                seen.add(t);
              }
            }
          }
          expect(seen.size).toBe(credited(r));
          expect(r.unattributedTokens + seen.size).toBe(out.length);
        },
      ),
      { numRuns: 80 },
    );
  });
});

describe("attribute: text, records and determinism", () => {
  it("rejects malformed input with a reason code", () => {
    const idx = tokenIndex([[1, 2, 3, 4, 5, 6, 7, 8, 9]]);
    expect(() => attribute(idx, "bad \uDC00")).toThrowError(/invalid_record/);
    expect(() => attribute(idx, 17 as unknown as string)).toThrowError(/invalid_record/);
    expect(() => attribute(idx, "ok", "bad \uD800")).toThrowError(/invalid_record/);
    const empty = attribute(idx, "");
    expect(empty).toMatchObject({ outputTokens: 0, unattributedPpm: PPM, contributors: [] });
  });

  it("produces byte-identical records in two separate processes", async () => {
    const child = () =>
      promisify(execFile)(process.execPath, ["--import", "tsx", "test/fixtures/attribution/child-attribute.ts"], {
        cwd: process.cwd(),
        maxBuffer: 1 << 24,
      }).then((r) => JSON.parse(r.stdout));
    const pending = child();
    const { index } = buildIndex(determinismDatanet());
    const { output, prompt } = determinismOutput();
    const record = attribute(index, output, prompt);
    const json = serializeRecord(record);
    const other = await pending;
    expect(other.indexRoot).toBe(index.indexRoot);
    expect(other.json).toBe(json);
    expect(other.recordHash).toBe(hashRecord(record));
    // and the record says something: the copied Brown passages are credited, the prompt masked
    expect(record.contributors.length).toBeGreaterThan(0);
    expect(record.masked.length).toBeGreaterThan(0);
    expect(json).not.toMatch(/\s/);
    expect(Object.keys(JSON.parse(json))).toEqual([...Object.keys(JSON.parse(json))].sort());
  });
});

describe("8-gram filter", () => {
  it("never rejects a window that occurs in the corpus, and rejects most that do not", () => {
    const rand = seededRandom(11);
    const corpus = Uint32Array.from([...randomTokens(rand, 5000), 0x3ffff, ...randomTokens(rand, 3000), 0x3ffff]);
    const filter = new NgramFilter(corpus);
    const hashes = windowHashes(corpus);
    for (let i = 0; i + FILTER_WINDOW <= corpus.length; i++) {
      if (!corpus.subarray(i, i + FILTER_WINDOW).includes(0x3ffff)) expect(filter.mayContain(hashes[i])).toBe(true);
    }
    const fresh = windowHashes(Uint32Array.from(randomTokens(rand, 2000, 100000, 5000)));
    const accepted = fresh.filter((h) => filter.mayContain(h)).length;
    expect(accepted / fresh.length).toBeLessThan(0.2);
  });
});

describe("surprisal", () => {
  it("is floor(1000*log2(S/c)) computed exactly", () => {
    expect(milliBitsLog2Ratio(8n, 1n)).toBe(3000);
    expect(milliBitsLog2Ratio(1024n, 1024n)).toBe(0);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 1e6 }), (a, b) => {
        const [num, den] = a >= b ? [a, b] : [b, a];
        const v = milliBitsLog2Ratio(BigInt(num), BigInt(den));
        const approx = 1000 * Math.log2(num / den);
        expect(Math.abs(v - Math.floor(approx))).toBeLessThanOrEqual(1);
        expect(v).toBeLessThanOrEqual(approx + 1e-6);
      }),
    );
  });

  it("gives rarer tokens more weight", () => {
    const idx = tokenIndex([[5, 5, 5, 5, 5, 5, 7, 9, 9]]);
    expect(idx.surprisal[7]).toBeGreaterThan(idx.surprisal[9]);
    expect(idx.surprisal[9]).toBeGreaterThan(idx.surprisal[5]);
    expect(idx.surprisal[12345]).toBeGreaterThan(idx.surprisal[7]); // unseen: add-one smoothing
  });
});

describe("longest continuation (∞-gram)", () => {
  function brute(contribs: number[][], ctx: number[]) {
    for (let k = ctx.length; k >= 1; k--) {
      const suf = ctx.slice(ctx.length - k);
      const next = new Map<number, number>();
      let occ = 0;
      let end = 0;
      for (const c of contribs) {
        for (let s = 0; s + k <= c.length; s++) {
          if (suf.every((t, j) => c[s + j] === t)) {
            occ++;
            if (s + k === c.length) end++;
            else next.set(c[s + k], (next.get(c[s + k]) ?? 0) + 1);
          }
        }
      }
      if (next.size > 0) return { k, occ, end, next: [...next.entries()].sort((a, b) => a[0] - b[0]) };
    }
    return null;
  }

  it("returns the longest suffix with a continuation and its next-token counts", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 80 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 20 }),
        (contribs, ctx) => {
          const idx = tokenIndex(contribs);
          const got = longestContinuation(idx, ctx);
          const want = brute(contribs, ctx);
          if (want === null) {
            expect(got.suffixLength).toBe(0);
            expect(got.counts.reduce((a, b) => a + b, 0)).toBe(idx.corpusTokens);
          } else {
            expect(got.suffixLength).toBe(want.k);
            expect(got.occurrences).toBe(want.occ);
            expect(got.endCount).toBe(want.end);
            expect(Array.from(got.tokens).map((t, i) => [t, got.counts[i]])).toEqual(want.next);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("bounds the suffix length it considers and rejects non-token ids", () => {
    const c = randomTokens(seededRandom(3), 200);
    const idx = tokenIndex([c]);
    const full = longestContinuation(idx, c.slice(0, 150));
    expect(full.suffixLength).toBe(150);
    expect(Array.from(full.tokens)).toEqual([c[150]]);
    expect(longestContinuation(idx, c.slice(0, 150), { maxSuffixTokens: 16 }).suffixLength).toBe(16);
    expect(() => longestContinuation(idx, [1, 2, 0x3ffff])).toThrow(RangeError);
  });
});
