// Token weights: surprisal in integer milli-bits from corpus unigram counts with add-one
// smoothing, surprisal(t) = floor(1000 * log2((N + V) / (count(t) + 1))), N = corpus tokens,
// V = tokenizer vocabulary. Computed with exact integer arithmetic (BigInt), not Math.log2,
// so every machine and JS engine derives the same table from the same counts.

const MILLIBITS = 1000;

function bitLength(x: bigint): number {
  return x === 0n ? 0 : x.toString(2).length;
}

/** floor(1000 * log2(numerator / denominator)) for numerator >= denominator >= 1. */
export function milliBitsLog2Ratio(numerator: bigint, denominator: bigint, numeratorPow?: bigint): number {
  if (denominator < 1n || numerator < denominator) throw new RangeError("need numerator >= denominator >= 1");
  // k = max{ k : den^1000 * 2^k <= num^1000 }
  const a = numeratorPow ?? numerator ** BigInt(MILLIBITS);
  const b = denominator ** BigInt(MILLIBITS);
  let k = bitLength(a) - bitLength(b);
  if (k < 0) k = 0;
  while (k > 0 && b << BigInt(k) > a) k--;
  while (b << BigInt(k + 1) <= a) k++;
  return k;
}

/**
 * Surprisal table indexed by token id (length = counts.length). `totalTokens` is N, the number
 * of corpus tokens counted (separators excluded); `vocabularySize` is V.
 */
export function surprisalTable(counts: Uint32Array, totalTokens: number, vocabularySize: number): Uint32Array {
  const s = totalTokens + vocabularySize;
  const S = BigInt(s);
  let sPow: bigint | undefined;
  const cache = new Map<number, number>();
  const table = new Uint32Array(counts.length);
  for (let t = 0; t < counts.length; t++) {
    const c = counts[t];
    let v = cache.get(c);
    if (v === undefined) {
      v = quickMilliBits(s, c + 1);
      if (v < 0) {
        sPow ??= S ** BigInt(MILLIBITS);
        v = milliBitsLog2Ratio(S, BigInt(c) + 1n, sPow);
      }
      cache.set(c, v);
    }
    table[t] = v;
  }
  return table;
}

// Math.log2 is within a few ulps (~1e-11 milli-bits here), so its floor is exact unless the value
// lies within MARGIN of an integer; those (rare) cases return -1 and are decided with BigInt. The
// table stays a pure function of the counts, and a delta's table (segmented.ts) costs milliseconds.
const MARGIN = 1e-6;

function quickMilliBits(numerator: number, denominator: number): number {
  if (!Number.isSafeInteger(numerator) || numerator > 2 ** 48 || denominator > numerator) return -1;
  const v = MILLIBITS * (Math.log2(numerator) - Math.log2(denominator));
  const k = Math.floor(v);
  return v - k < MARGIN || k + 1 - v < MARGIN ? -1 : k;
}
