// First registered wins: the owner map says, for every corpus token, which earlier token (and
// so which earlier contribution) is credited for it. A token is copied when it lies in a
// window of at least `minCopyTokens` tokens that already occurs in an earlier contribution,
// or in a contribution whose whole text (content hash) was registered before. Its source is
// the earliest such occurrence, followed transitively, so copies of copies pay the original.
// Only copied tokens are stored, as runs (start, length, source): a datanet without copying
// costs nothing here.
import { SEPARATOR_TOKEN } from "./tokenizer.ts";

/** Polynomial hash (mod 2^32) of every m-token window T[i, i+m), rolled along the array; 0 past the end. */
function windowHashes(T: Uint32Array, m: number): Int32Array {
  const n = T.length;
  const hash = new Int32Array(n);
  const B = 0x01000193;
  let top = 1; // B^(m-1)
  for (let d = 1; d < m; d++) top = Math.imul(top, B);
  let h = 0;
  for (let i = 0; i < Math.min(m, n); i++) h = (Math.imul(h, B) + T[i]) | 0;
  for (let i = 0; i + m <= n; i++) {
    hash[i] = h;
    if (i + m < n) h = (Math.imul((h - Math.imul(T[i], top)) | 0, B) + T[i + m]) | 0;
  }
  return hash;
}

/** Whether the m-token windows at a and b are equal and hold no separator (their suffixes' lcp >= m). */
function sameWindow(T: Uint32Array, a: number, b: number, m: number): boolean {
  if (a + m > T.length || b + m > T.length) return false;
  for (let d = 0; d < m; d++) {
    const x = T[a + d];
    if (x !== T[b + d] || x === SEPARATOR_TOKEN) return false;
  }
  return true;
}

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
    // Suffixes sharing an m-token window (no separator inside) are adjacent in SA order: a group
    // is a run of neighbours with equal window hashes whose windows compare equal. One random read
    // per suffix, where an LCP array costs three passes of random accesses.
    const hash = windowHashes(T, m);
    let k = 0;
    let cIdx = 0;
    let h = n > 0 ? hash[SA[0]] : 0;
    while (k < n) {
      let end = k + 1;
      let prev = SA[k];
      let hNext = 0;
      while (end < n) {
        const next = SA[end];
        hNext = hash[next];
        if (hNext !== h || !sameWindow(T, prev, next, m)) break;
        prev = next;
        end++;
      }
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
      h = hNext;
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
