// The pinned tokenizer: gpt-tokenizer's o200k_base over NFC-normalised text. Every index and
// record names it, so a record is only ever recomputed with the tokenizer that produced it.
import { createRequire } from "node:module";
import { decode } from "gpt-tokenizer/encoding/o200k_base";
import { encodeO200k } from "./piece-encoder.ts";

const gptTokenizerVersion: string = createRequire(import.meta.url)("gpt-tokenizer/package.json").version;

export const TOKENIZER_ID = `gpt-tokenizer@${gptTokenizerVersion}/o200k_base/NFC`;

/**
 * Token id that separates contributions inside the index. It is above every o200k id, so no
 * query (which never contains it) can match across two contributions.
 */
export const SEPARATOR_TOKEN = 0x3ffff;
/** Alphabet size of the indexed token array (ids 0..SEPARATOR_TOKEN). */
export const INDEX_ALPHABET = SEPARATOR_TOKEN + 1;

export function normalizeText(text: string): string {
  return text.normalize("NFC");
}

/** gpt-tokenizer's encode of the NFC text (special-token strings such as "<|endoftext|>" are ordinary text). */
export function tokenize(text: string): Uint32Array {
  return tokenizeNormalized(normalizeText(text));
}

/** tokenize() of a text already normalizeText'ed, without normalizing it again. */
export function tokenizeNormalized(nfc: string): Uint32Array {
  return encodeO200k(nfc);
}

/**
 * gpt-tokenizer's BPE takes time quadratic in the length of one pre-token (a run of letters, of
 * punctuation or of whitespace): 16,000 letters take 0.15 s, 64,000 take 2 s. Text from outside
 * (a prompt, before any payment) is refused when it holds a longer unbroken run than this; prose,
 * code and URLs stay far below it.
 */
export const LONGEST_TOKENIZABLE_RUN = 4096;

/** JavaScript's \s (what the split regex and the words' separator take for whitespace), by UTF-16 unit. */
export function isSpaceUnit(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13);
  if (c < 0xa0) return false;
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

// The run guard also breaks runs at U+0085 (NEL), which Unicode counts as whitespace.
const isSpace = (c: number) => c === 0x85 || isSpaceUnit(c);

/** The longest run of characters that are all whitespace or all not (UTF-16 units), in one pass. */
export function longestUnbrokenRun(text: string): number {
  let longest = 0;
  let run = 0;
  let space = false;
  for (let i = 0; i < text.length; i++) {
    const s = isSpace(text.charCodeAt(i));
    run = s === space ? run + 1 : 1;
    space = s;
    if (run > longest) longest = run;
  }
  return longest;
}

export function detokenize(tokens: ArrayLike<number>): string {
  return decode(Array.from(tokens));
}

/** A string that is valid Unicode (no lone surrogates), so it has a UTF-8 encoding to hash. */
export function isWellFormedText(s: unknown): s is string {
  // String.prototype.isWellFormed is ES2024 (Node 20+); the TypeScript lib here is ES2023
  return typeof s === "string" && (s as string & { isWellFormed(): boolean }).isWellFormed();
}

// UTF-16 length of each token decoded alone; -1 when it is not whole characters (part of a
// multi-byte character decodes to U+FFFD).
const pieceLengths = new Map<number, number>();

function pieceLength(token: number): number {
  let n = pieceLengths.get(token);
  if (n === undefined) {
    const s = decode([token]);
    n = s.includes("\uFFFD") ? -1 : s.length;
    if (pieceLengths.size < 1 << 18) pieceLengths.set(token, n);
  }
  return n;
}

/** UTF-16 offset of every token boundary of `tokens` in their decoded text (length + 1 entries). */
export function tokenCharOffsets(tokens: ArrayLike<number>): Uint32Array {
  const offsets = new Uint32Array(tokens.length + 1);
  let whole = true;
  for (let i = 0; i < tokens.length && whole; i++) {
    const n = pieceLength(tokens[i]);
    if (n < 0) whole = false;
    else offsets[i + 1] = offsets[i] + n;
  }
  if (whole) return offsets;
  // Some tokens hold part of a character: such a token and the ones after it up to the token that
  // completes the character are measured as a group, whose characters go to its last token.
  let group: number[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const n = group.length === 0 ? pieceLength(tokens[i]) : -1;
    if (n >= 0) {
      offsets[i + 1] = offsets[i] + n;
      continue;
    }
    group.push(tokens[i]);
    const text = decode(group);
    offsets[i + 1] = offsets[i];
    if (!text.includes("\uFFFD") || i === tokens.length - 1) {
      offsets[i + 1] = offsets[i + 1 - group.length] + text.length;
      group = [];
    }
  }
  return offsets;
}
