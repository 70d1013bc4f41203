import { describe, expect, it } from "vitest";
import { seededRandom } from "../../scripts/shared/random.ts";
import { matchKeys } from "../../server/attribution/match-words.ts";
import { WordKeyer } from "../../server/attribution/word-keys.ts";

// Words and separators where the scan could differ from matchKeys' /\S+/gu: every JavaScript
// whitespace, U+0085 (not whitespace to \s), punctuation-only words (no key), case and
// compatibility forms (one key for several words), a word longer than the keyer's table keys.
const FRAGMENTS = [
  "The",
  "the",
  "THE",
  "ﬁne",
  "fine",
  "Ⅻ",
  "café",
  "cafe\u0301",
  "...",
  "--",
  "don't",
  "12:30",
  "\u{1F600}",
  "\ud800",
  "x".repeat(70),
  " ",
  "  ",
  "\t",
  "\n",
  "\r\n",
  "\v",
  "\f",
  "\u00a0",
  "\u1680",
  "\u2003",
  "\u2028",
  "\u2029",
  "\u202f",
  "\u205f",
  "\u3000",
  "\ufeff",
  "\u0085",
  "\u200b",
];

function texts(count: number, seed: number): string[] {
  const rand = seededRandom(seed);
  return Array.from({ length: count }, () =>
    Array.from({ length: Math.floor(rand() * 30) }, () => FRAGMENTS[Math.floor(rand() * FRAGMENTS.length)]).join(""),
  );
}

describe("word keys of a chunk", () => {
  it("are matchKeys of each text, numbered by first occurrence in the chunk, across chunks", () => {
    const keyer = new WordKeyer();
    for (let chunk = 0; chunk < 20; chunk++) {
      const chunkTexts = texts(50, chunk);
      const { keys, ids, lengths } = keyer.keyChunk(chunkTexts);
      const expectedKeys: string[] = [];
      const expected = chunkTexts.map((t) => matchKeys(t, new Map()));
      for (const k of expected.flat()) if (!expectedKeys.includes(k)) expectedKeys.push(k);
      expect(keys).toEqual(expectedKeys);
      expect(Array.from(lengths)).toEqual(expected.map((k) => k.length));
      expect(Array.from(ids, (id) => keys[id])).toEqual(expected.flat());
    }
  });
});
