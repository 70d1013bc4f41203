import { encode } from "gpt-tokenizer/encoding/o200k_base";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../scripts/shared/random.ts";
import { asciiPieceEnd, encodeO200k } from "../../server/attribution/piece-encoder.ts";
import { brownDocs } from "../fixtures/attribution/helpers.ts";

const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };
const library = (s: string) => Array.from(encode(s, PLAIN_TEXT));

// Pieces of text where the split regex's branches meet: contractions in both cases, digit runs,
// spaces before line breaks and letters, punctuation runs with / and line breaks, CRLF, control
// characters, and non-ASCII letters, marks, digits and spaces next to ASCII.
const FRAGMENTS = [
  "don't",
  "DON'T",
  "it's",
  "'s",
  "'S",
  "'ll",
  "'LL",
  "'lL",
  "'ve",
  "'VE",
  "'re",
  "'Re",
  "'d",
  "'m",
  "'t",
  "'x",
  "'",
  "''",
  "a",
  "Z",
  "word",
  "Word",
  "WORD",
  "camelCase",
  "HTTPServer",
  "ABCdef",
  "x1",
  "1",
  "12",
  "123",
  "1234",
  "1234567",
  "3.14",
  "1,000",
  " ",
  "  ",
  "   ",
  "\t",
  "\v",
  "\f",
  "\n",
  "\n\n",
  "\r\n",
  "\r",
  " \n",
  "\n ",
  "  \n  ",
  "\t\n",
  ".",
  "...",
  "!?",
  ",",
  "/",
  "//",
  "\n/",
  "(",
  ")",
  '"',
  "-",
  "--",
  "$",
  "#",
  "_",
  "\x00",
  "\x7f",
  "<|endoftext|>",
  "é",
  "e\u0301",
  "\u0301",
  "ß",
  "İ",
  "ǅ",
  "ʰ",
  "日本",
  "Ωmega",
  "\u00a0",
  "\u2028",
  "\u3000",
  "\u0085",
  "\ufeff",
  "😀",
  "²",
  "٣",
  "Ⅻ",
  "—",
  "«",
  "\ud800",
  "\udc00",
];

function trickyStrings(count: number, seed: number): string[] {
  const rand = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const parts: string[] = [];
    for (let k = 1 + Math.floor(rand() * 24); k > 0; k--) parts.push(FRAGMENTS[Math.floor(rand() * FRAGMENTS.length)]);
    return parts.join("");
  });
}

describe("the o200k piece encoder", () => {
  it("gives gpt-tokenizer's encode for generated tricky strings", () => {
    for (const s of trickyStrings(20_000, 15)) expect(Array.from(encodeO200k(s)), JSON.stringify(s)).toEqual(library(s));
  });

  it("gives gpt-tokenizer's encode for long runs, edge lengths and real prose", () => {
    const runs = ["a", "A", " ", "\n", ".", "7", "é", "ab "].flatMap((r) => [1, 2, 3, 63, 64, 65, 300].map((n) => r.repeat(n)));
    const prose = brownDocs()
      .slice(0, 30)
      .map((d) => d.text);
    for (const s of ["", ...runs, ...prose, prose.join("\r\n").toUpperCase()]) expect(Array.from(encodeO200k(s))).toEqual(library(s));
  });

  it("decides ASCII pieces by hand and leaves those next to non-ASCII to the regex", () => {
    expect(asciiPieceEnd("Hello world", 0)).toBe(5);
    expect(asciiPieceEnd("Hello world", 5)).toBe(11);
    expect(asciiPieceEnd("they're here", 0)).toBe(7);
    expect(asciiPieceEnd("12345", 0)).toBe(3);
    expect(asciiPieceEnd("a  \n\n  b", 1)).toBe(5);
    expect(asciiPieceEnd("a   b", 1)).toBe(3);
    expect(asciiPieceEnd("end!\n/x", 3)).toBe(6);
    expect(asciiPieceEnd("caf\u00e9", 0)).toBe(-1);
    expect(asciiPieceEnd("a \u00a0b", 1)).toBe(-1);
  });
});
