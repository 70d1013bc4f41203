import { describe, expect, it } from "vitest";
import { computeOwnerRuns } from "../../server/attribution/owner-map.ts";
import { buildSuffixArray } from "../../server/attribution/sais.ts";
import { INDEX_ALPHABET, SEPARATOR_TOKEN } from "../../server/attribution/tokenizer.ts";
import { seededRandom } from "../../scripts/shared/random.ts";

/** The owner map by its definition, quadratic: windows compared token by token. */
function naiveSources(T: Uint32Array, offsets: Uint32Array, duplicateOf: Int32Array, m: number): Int32Array {
  const n = T.length;
  const C = offsets.length - 1;
  const contributionOf = (p: number) => {
    let c = 0;
    while (c + 1 < C && offsets[c + 1] <= p) c++;
    return c;
  };
  const windowAt = (i: number) => {
    if (i + m > n) return false;
    for (let d = 0; d < m; d++) if (T[i + d] === SEPARATOR_TOKEN) return false;
    return true;
  };
  const same = (a: number, b: number) => {
    for (let d = 0; d < m; d++) if (T[a + d] !== T[b + d]) return false;
    return true;
  };
  // first[i]: earliest start of window i's tokens anywhere, if that lies in an earlier contribution
  const first = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    if (!windowAt(i)) continue;
    let f = i;
    for (let j = 0; j < i; j++)
      if (windowAt(j) && same(i, j)) {
        f = j;
        break;
      }
    if (f < offsets[contributionOf(i)]) first[i] = f;
  }
  const source = new Int32Array(n).fill(-1);
  for (let p = 0; p < n; p++) {
    if (T[p] === SEPARATOR_TOKEN) continue;
    let src = -1;
    for (let i = Math.max(0, p - m + 1); i <= p; i++) {
      if (first[i] >= 0 && (src < 0 || first[i] + (p - i) < src)) src = first[i] + (p - i);
    }
    const c = contributionOf(p);
    if (duplicateOf[c] >= 0) {
      const s2 = offsets[duplicateOf[c]] + (p - offsets[c]);
      if (src < 0 || s2 < src) src = s2;
    }
    if (src >= 0 && source[src] >= 0) src = source[src];
    source[p] = src;
  }
  return source;
}

describe("owner map", () => {
  it("matches its definition on texts full of repeats (windows grouped by hash, then compared)", () => {
    const rand = seededRandom(15);
    for (let trial = 0; trial < 40; trial++) {
      const m = 1 + Math.floor(rand() * 6);
      const C = 2 + Math.floor(rand() * 6);
      const parts: number[][] = [];
      for (let c = 0; c < C; c++) {
        const len = 1 + Math.floor(rand() * 40);
        const alphabet = 1 + Math.floor(rand() * 4);
        const part = Array.from({ length: len }, () => Math.floor(rand() * alphabet));
        // copy a piece of an earlier contribution now and then
        if (c > 0 && rand() < 0.6) {
          const from = parts[Math.floor(rand() * c)];
          const s = Math.floor(rand() * from.length);
          part.splice(Math.floor(rand() * part.length), 0, ...from.slice(s, s + 1 + Math.floor(rand() * 12)));
        }
        parts.push(part);
      }
      const duplicateOf = new Int32Array(C).fill(-1);
      if (C > 2 && rand() < 0.3) {
        parts[C - 1] = [...parts[0]];
        duplicateOf[C - 1] = 0;
      }
      const offsets = new Uint32Array(C + 1);
      const all: number[] = [];
      parts.forEach((p, c) => {
        offsets[c] = all.length;
        all.push(...p, SEPARATOR_TOKEN);
      });
      offsets[C] = all.length;
      const T = Uint32Array.from(all);
      const sa = buildSuffixArray(T, INDEX_ALPHABET);
      const runs = computeOwnerRuns(T, sa, offsets, duplicateOf, m);
      const got = new Int32Array(T.length).fill(-1);
      for (let r = 0; r < runs.runStarts.length; r++)
        for (let k = 0; k < runs.runLengths[r]; k++) got[runs.runStarts[r] + k] = runs.runSources[r] + k;
      expect([...got], `trial ${trial}`).toEqual([...naiveSources(T, offsets, duplicateOf, m)]);
    }
  });
});
