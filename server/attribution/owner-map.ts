// First registered wins: the owner map says, for every corpus token, which earlier token (and
// so which earlier contribution) is credited for it. A token is copied when it lies in a
// window of at least `minCopyTokens` tokens that already occurs in an earlier contribution,
// or in a contribution whose whole text (content hash) was registered before. Its source is
// the earliest such occurrence, followed transitively, so copies of copies pay the original.
// Only copied tokens are stored, as runs (start, length, source): a datanet without copying
// costs nothing here.
import { buildPermutedLcp } from "./sais.ts";
import { SEPARATOR_TOKEN } from "./tokenizer.ts";

export interface OwnerRuns {
  runStarts: Uint32Array;
  runLengths: Uint32Array;
  runSources: Uint32Array;
}

/**
 * @param duplicateOf per contribution, the index of the earliest contribution with the same
 *   content hash, or -1.
 */
export function computeOwnerRuns(
  T: Uint32Array,
  SA: Int32Array,
  offsets: Uint32Array,
  duplicateOf: Int32Array,
  minCopyTokens: number,
): OwnerRuns {
  const n = T.length;
  const m = minCopyTokens;
  const C = offsets.length - 1;
  // delta[i] = f - i < 0 when the window T[i, i+m) first occurs at f in an earlier contribution.
  const delta = new Int32Array(n);
  {
    const plcp = buildPermutedLcp(T, SA, SEPARATOR_TOKEN);
    // Suffixes sharing an m-token window are adjacent in SA order, linked by lcp >= m.
    let k = 0;
    let cIdx = 0;
    while (k < n) {
      let end = k + 1;
      while (end < n && plcp[SA[end]] >= m) end++;
      if (end - k > 1) {
        let f = SA[k];
        for (let j = k + 1; j < end; j++) if (SA[j] < f) f = SA[j];
        // contribution of f (binary search over offsets)
        let lo = 0;
        let hi = C - 1;
        while (lo < hi) {
          const mid = (lo + hi + 1) >>> 1;
          if (offsets[mid] <= f) lo = mid;
          else hi = mid - 1;
        }
        cIdx = lo;
        const fEnd = offsets[cIdx + 1];
        for (let j = k; j < end; j++) {
          const i = SA[j];
          if (i >= fEnd) delta[i] = f - i;
        }
      }
      k = end;
    }
  }

  // source[p]: resolved earlier position credited for token p, or -1.
  const source = new Int32Array(n);
  const ring = new Int32Array(m + 1); // monotonic deque of window starts, increasing delta
  let head = 0;
  let size = 0;
  let c = 0;
  let runCount = 0;
  for (let p = 0; p < n; p++) {
    while (c < C - 1 && offsets[c + 1] <= p) c++;
    if (delta[p] !== 0) {
      while (size > 0 && delta[ring[(head + size - 1) % ring.length]] >= delta[p]) size--;
      ring[(head + size) % ring.length] = p;
      size++;
    }
    while (size > 0 && ring[head] < p - m + 1) {
      head = (head + 1) % ring.length;
      size--;
    }
    let src = -1;
    if (T[p] !== SEPARATOR_TOKEN) {
      if (size > 0) src = p + delta[ring[head]];
      const d = duplicateOf[c];
      if (d >= 0) {
        const s2 = offsets[d] + (p - offsets[c]);
        if (src < 0 || s2 < src) src = s2;
      }
      if (src >= 0 && source[src] >= 0) src = source[src];
    }
    source[p] = src;
    if (src >= 0 && !(p > 0 && source[p - 1] >= 0 && source[p - 1] + 1 === src)) runCount++;
  }

  const runStarts = new Uint32Array(runCount);
  const runLengths = new Uint32Array(runCount);
  const runSources = new Uint32Array(runCount);
  let r = -1;
  for (let p = 0; p < n; p++) {
    const src = source[p];
    if (src < 0) continue;
    if (r >= 0 && source[p - 1] >= 0 && source[p - 1] + 1 === src) {
      runLengths[r]++;
    } else {
      r++;
      runStarts[r] = p;
      runLengths[r] = 1;
      runSources[r] = src;
    }
  }
  return { runStarts, runLengths, runSources };
}
