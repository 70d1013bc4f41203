// Longest-continuation queries for an ∞-gram language model over the datanet: the longest
// suffix of the context that occurs in the corpus followed by at least one token, and the
// counts of the tokens that follow it (read from that suffix's suffix-array range, where the
// occurrences are grouped by next token).
//
// Work is bounded: O(log(maxSuffixTokens) * (maxSuffixTokens + log N)) to find the suffix, then
// O(D * log(range / D)) for the D distinct next tokens (D <= vocabulary), by galloping over the
// blocks instead of reading every occurrence.
import type { SuffixIndex } from "./suffix-index.ts";
import { SEPARATOR_TOKEN } from "./tokenizer.ts";

export interface Continuation {
  /** Length of the longest context suffix found with a continuation (0 = unigram fallback). */
  suffixLength: number;
  /** Occurrences of that suffix in the corpus, including those at the end of a contribution. */
  occurrences: number;
  /** Occurrences followed by the end of a contribution (no next token). */
  endCount: number;
  /** Distinct next tokens, ascending, and how often each follows the suffix. */
  tokens: Uint32Array;
  counts: Uint32Array;
}

export interface ContinuationOptions {
  /** Longest context suffix considered (default 256 tokens). */
  maxSuffixTokens?: number;
}

function unigramContinuation(index: SuffixIndex): Continuation {
  const u = index.unigram;
  let d = 0;
  for (let t = 0; t < u.length; t++) if (u[t] > 0) d++;
  const tokens = new Uint32Array(d);
  const counts = new Uint32Array(d);
  for (let t = 0, j = 0; t < u.length; t++) {
    if (u[t] > 0) {
      tokens[j] = t;
      counts[j++] = u[t];
    }
  }
  return { suffixLength: 0, occurrences: index.corpusTokens, endCount: 0, tokens, counts };
}

/** SA range of the last k context tokens if they occur followed by a real token, else null. */
function continuedRange(index: SuffixIndex, ctx: ArrayLike<number>, k: number): [number, number] | null {
  const L = ctx.length;
  const [lo, hi] = index.range(ctx, L - k, L);
  if (lo === hi) return null;
  // Occurrences are sorted by next token and the separator is the largest id: if the first
  // one is followed by the separator, all are.
  if (index.tokens.get(index.sa.get(lo) + k) === SEPARATOR_TOKEN) return null;
  return [lo, hi];
}

export function longestContinuation(index: SuffixIndex, context: ArrayLike<number>, options: ContinuationOptions = {}): Continuation {
  const maxK = Math.min(context.length, Math.max(0, Math.floor(options.maxSuffixTokens ?? 256)));
  for (let i = context.length - maxK; i < context.length; i++) {
    const t = context[i];
    if (!Number.isInteger(t) || t < 0 || t >= SEPARATOR_TOKEN) throw new RangeError(`context token ${t} is not a token id`);
  }
  // The predicate "suffix of length k occurs with a continuation" is monotone in k.
  let best = 0;
  let bestRange: [number, number] | null = null;
  let lo = 1;
  let hi = maxK;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = continuedRange(index, context, mid);
    if (r) {
      best = mid;
      bestRange = r;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  if (best === 0 || bestRange === null) return unigramContinuation(index);

  const [rlo, rhi] = bestRange;
  const T = index.tokens;
  const SA = index.sa;
  const k = best;
  const toks: number[] = [];
  const cnts: number[] = [];
  let endCount = 0;
  let cur = rlo;
  while (cur < rhi) {
    const t = T.get(SA.get(cur) + k);
    if (t === SEPARATOR_TOKEN) {
      endCount = rhi - cur;
      break;
    }
    // Gallop to bracket the end of t's block, then binary search inside the bracket.
    let step = 1;
    let inside = cur; // last index known to hold t
    while (cur + step < rhi && T.get(SA.get(cur + step) + k) === t) {
      inside = cur + step;
      step *= 2;
    }
    let a = inside + 1;
    let b = Math.min(cur + step, rhi);
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (T.get(SA.get(mid) + k) === t) a = mid + 1;
      else b = mid;
    }
    toks.push(t);
    cnts.push(a - cur);
    cur = a;
  }
  return { suffixLength: k, occurrences: rhi - rlo, endCount, tokens: Uint32Array.from(toks), counts: Uint32Array.from(cnts) };
}
