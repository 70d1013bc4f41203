import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { buildSuffixArray } from "../../server/attribution/sais.ts";
import { AttributionError } from "../../server/attribution/errors.ts";

function naiveSuffixArray(t: ArrayLike<number>): number[] {
  const n = t.length;
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => {
    while (a < n && b < n) {
      if (t[a] !== t[b]) return t[a] - t[b];
      a++;
      b++;
    }
    return a === n ? -1 : 1; // the shorter suffix (reaching the sentinel) is smaller
  });
  return idx;
}

describe("SA-IS suffix array", () => {
  it("matches a comparison sort on random texts over small and large alphabets", () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 300 })
          .chain((k) => fc.tuple(fc.constant(k), fc.array(fc.integer({ min: 0, max: k - 1 }), { maxLength: 200 }))),
        ([k, arr]) => {
          const sa = buildSuffixArray(Uint32Array.from(arr), k);
          expect(Array.from(sa)).toEqual(naiveSuffixArray(arr));
        },
      ),
      { numRuns: 600 },
    );
  });

  it("handles highly repetitive texts (deep recursion) and edge cases", () => {
    const cases: number[][] = [
      [],
      [0],
      [5, 5, 5, 5, 5, 5, 5, 5],
      [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1],
      Array.from({ length: 500 }, (_, i) => (i % 7 === 0 ? 1 : 0)),
      Array.from({ length: 1000 }, (_, i) => [2, 1, 2, 1, 1][i % 5]),
      Array.from({ length: 300 }, (_, i) => 299 - i), // strictly decreasing: no LMS suffix
      Array.from({ length: 300 }, (_, i) => i), // strictly increasing
    ];
    // Fibonacci word: worst case for many suffix sorters
    let a = [0];
    let b = [0, 1];
    while (b.length < 2000) [a, b] = [b, [...b, ...a]];
    cases.push(b);
    for (const c of cases) {
      const k = c.length === 0 ? 1 : Math.max(...c) + 1;
      expect(Array.from(buildSuffixArray(Uint32Array.from(c), k))).toEqual(naiveSuffixArray(c));
    }
  });

  it("rejects symbols outside the alphabet with a reason code", () => {
    expect(() => buildSuffixArray(Uint32Array.from([0, 3, 1]), 3)).toThrowError(AttributionError);
    expect(() => buildSuffixArray(Uint32Array.from([0, 3, 1]), 3)).toThrowError(/invalid_contribution/);
  });
});
