// The matching view of text used by the near-verbatim algorithm (v2): words compared after
// Unicode compatibility normalization (NFKC), lower-casing and removal of everything but letters,
// digits and combining marks, so case, spacing, line breaks and punctuation do not break a
// match. Only matching uses it: records still point at the output's own tokens.

export const MATCH_NORMALIZATION = "words:NFKC,lowercase,letters-digits-marks";

export interface MatchWord {
  key: string;
  /** UTF-16 range [start, end) of the word in the text it came from. */
  start: number;
  end: number;
}

const WORD = /\S+/gu;
const NOT_WORD_CHAR = /[^\p{L}\p{N}\p{M}]/gu;

/** Normalized key of one whitespace-free piece of text ("" if it has no letters or digits). */
export function matchKey(piece: string): string {
  return piece.normalize("NFKC").toLowerCase().replace(NOT_WORD_CHAR, "");
}

// Keys of recently seen pieces (query time): most output words repeat across outputs.
const recent = new Map<string, string>();

/** Words of `text` with their normalized keys, in order; pieces without letters or digits are skipped. */
export function matchWords(text: string): MatchWord[] {
  const out: MatchWord[] = [];
  for (const m of text.matchAll(WORD)) {
    let key = recent.get(m[0]);
    if (key === undefined) {
      key = matchKey(m[0]);
      if (recent.size >= 1 << 16) recent.clear();
      recent.set(m[0], key);
    }
    if (key !== "") out.push({ key, start: m.index, end: m.index + m[0].length });
  }
  return out;
}

/** Only the keys, with a cache for repeated pieces (building the corpus view). */
export function matchKeys(text: string, cache: Map<string, string>): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(WORD)) {
    let key = cache.get(m[0]);
    if (key === undefined) {
      key = matchKey(m[0]);
      if (cache.size < 1 << 21) cache.set(m[0], key);
    }
    if (key !== "") out.push(key);
  }
  return out;
}
