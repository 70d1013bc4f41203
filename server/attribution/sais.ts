// Suffix array construction by induced sorting (SA-IS, Nong, Zhang & Chan 2009): linear time,
// typed arrays only. The text is an integer array over [0, K) followed by a virtual sentinel
// that is smaller than every symbol. The reduced problem of each level lives inside the
// suffix array itself, so extra memory is one type byte per symbol plus two bucket arrays.
import { AttributionError } from "./errors.ts";

/** Suffix array of `text` (values in [0, alphabetSize)). */
export function buildSuffixArray(text: Uint32Array | Int32Array, alphabetSize: number): Int32Array {
  const n = text.length;
  if (n >= 0x7fffffff) throw new AttributionError("invalid_contribution", "text too long for a 32-bit suffix array");
  const T = text instanceof Int32Array ? text : new Int32Array(text.buffer, text.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const c = T[i];
    if (c < 0 || c >= alphabetSize) {
      throw new AttributionError("invalid_contribution", `symbol ${c} at ${i} outside alphabet [0, ${alphabetSize})`);
    }
  }
  const SA = new Int32Array(n);
  if (n < alphabetSize >> 2) {
    // Small text, large alphabet: rank the symbols densely (order-preserving, same suffix
    // array) so the per-level bucket arrays are sized by the text, not the alphabet.
    const distinct = Array.from(new Set(T)).sort((a, b) => a - b);
    const rank = new Map(distinct.map((v, i) => [v, i]));
    sais(
      Int32Array.from(T, (v) => rank.get(v)!),
      SA,
      n,
      distinct.length,
    );
  } else {
    sais(T, SA, n, alphabetSize);
  }
  return SA;
}

function bucketStarts(counts: Int32Array, bkt: Int32Array, K: number): void {
  let sum = 0;
  for (let c = 0; c < K; c++) {
    bkt[c] = sum;
    sum += counts[c];
  }
}

function bucketEnds(counts: Int32Array, bkt: Int32Array, K: number): void {
  let sum = 0;
  for (let c = 0; c < K; c++) {
    sum += counts[c];
    bkt[c] = sum;
  }
}

/**
 * Induces L-type suffixes left to right, then S-type suffixes right to left. Entries carry
 * their predecessor's type in the sign bit (Mori's trick): an entry j >= 0 is induced from
 * (j-1 has the type the current pass induces), ~j is passed over. The type of j-1 is read
 * from T[j-1] next to T[j] at insertion, instead of from a type array far away in memory. The
 * bucket pointer is cached while consecutive insertions go to the same bucket. `SA` holds
 * the sorted LMS suffixes (non-negative) at their bucket ends and 0 (= nothing to induce)
 * elsewhere; it ends with every suffix, all non-negative.
 */
function induce(T: Int32Array, SA: Int32Array, n: number, K: number, counts: Int32Array, bkt: Int32Array): void {
  bucketStarts(counts, bkt, K);
  // The virtual sentinel sorts first; the suffix just before it is L-type.
  let j = n - 1;
  let c1 = T[j];
  let b = bkt[c1];
  SA[b++] = j > 0 && T[j - 1] < c1 ? ~j : j;
  for (let i = 0; i < n; i++) {
    j = SA[i];
    SA[i] = ~j;
    if (j > 0) {
      j--;
      const c0 = T[j];
      if (c0 !== c1) {
        bkt[c1] = b;
        c1 = c0;
        b = bkt[c1];
      }
      SA[b++] = j > 0 && T[j - 1] < c0 ? ~j : j;
    }
  }
  bucketEnds(counts, bkt, K);
  c1 = 0;
  b = bkt[0];
  for (let i = n - 1; i >= 0; i--) {
    j = SA[i];
    if (j > 0) {
      j--;
      const c0 = T[j];
      if (c0 !== c1) {
        bkt[c1] = b;
        c1 = c0;
        b = bkt[c1];
      }
      SA[--b] = j === 0 || T[j - 1] > c0 ? ~j : j;
    } else {
      SA[i] = ~j;
    }
  }
}

function sais(T: Int32Array, SA: Int32Array, n: number, K: number): void {
  if (n === 0) return;
  if (n === 1) {
    SA[0] = 0;
    return;
  }
  // stype[i] = 1 if suffix i is S-type (smaller than suffix i+1). The last symbol is L-type
  // because the sentinel after it is smaller.
  const stype = new Uint8Array(n);
  for (let i = n - 2; i >= 0; i--) {
    const a = T[i];
    const b = T[i + 1];
    stype[i] = a < b || (a === b && stype[i + 1] === 1) ? 1 : 0;
  }
  const counts = new Int32Array(K);
  for (let i = 0; i < n; i++) counts[T[i]]++;
  const bkt = new Int32Array(K);

  // Stage 1: sort the LMS substrings by inducing from LMS positions placed at bucket ends.
  SA.fill(0);
  bucketEnds(counts, bkt, K);
  for (let i = n - 1; i >= 1; i--) {
    if (stype[i] === 1 && stype[i - 1] === 0) SA[--bkt[T[i]]] = i;
  }
  induce(T, SA, n, K, counts, bkt);

  // Compact the sorted LMS positions into SA[0, n1).
  let n1 = 0;
  for (let i = 0; i < n; i++) {
    const p = SA[i];
    if (p > 0 && stype[p] === 1 && stype[p - 1] === 0) SA[n1++] = p;
  }

  // Name the LMS substrings; equal substrings share a name. Names are stored at n1 + pos/2
  // (LMS positions are at least two apart, so these slots are distinct and fit).
  SA.fill(-1, n1, n);
  let names = 0;
  let prev = -1;
  for (let i = 0; i < n1; i++) {
    const pos = SA[i];
    let differs = prev < 0;
    if (!differs) {
      for (let d = 0; ; d++) {
        const a = pos + d;
        const b = prev + d;
        // The substring that reaches the sentinel is unique.
        if (a === n || b === n || T[a] !== T[b] || stype[a] !== stype[b]) {
          differs = true;
          break;
        }
        if (d > 0 && stype[a] === 1 && stype[a - 1] === 0) break; // both end here (same types)
      }
    }
    if (differs) {
      names++;
      prev = pos;
    }
    SA[n1 + (pos >> 1)] = names - 1;
  }
  // Move the names to the tail, in text order: that is the reduced string.
  for (let i = n - 1, j = n - 1; i >= n1; i--) {
    if (SA[i] >= 0) SA[j--] = SA[i];
  }

  // Stage 2: suffix array of the reduced string (recursively if names repeat).
  const s1 = SA.subarray(n - n1, n);
  const SA1 = SA.subarray(0, n1);
  if (names < n1) {
    sais(s1, SA1, n1, names);
  } else {
    for (let i = 0; i < n1; i++) SA1[s1[i]] = i;
  }

  // Stage 3: sorted LMS suffixes -> full suffix array by induction.
  for (let i = 1, j = 0; i < n; i++) {
    if (stype[i] === 1 && stype[i - 1] === 0) s1[j++] = i;
  }
  for (let i = 0; i < n1; i++) SA1[i] = s1[SA1[i]];
  SA.fill(0, n1, n);
  bucketEnds(counts, bkt, K);
  for (let i = n1 - 1; i >= 0; i--) {
    const p = SA[i];
    SA[i] = 0;
    SA[--bkt[T[p]]] = p;
  }
  induce(T, SA, n, K, counts, bkt);
}
