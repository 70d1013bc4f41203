// o200k encoding of NFC text, identical to gpt-tokenizer's encode but faster on prose: the split
// into pieces (gpt-tokenizer's o200k regex) is decided by hand wherever the characters it depends
// on are ASCII, and each piece's tokens come from a table keyed by the piece's characters, so the
// common path allocates no substring and does no Map lookup (those were three quarters of the
// time). A piece touching a non-ASCII character is split by the library's own regex at that point.
// A piece missing from the table is encoded alone by gpt-tokenizer: a regex match encodes alone
// exactly as inside its text (the split regex has no look-behind, and its one look-ahead is true at
// the end of the string), so the tokens are the same. test/attribution/piece-encoder.test.ts
// compares the two on tricky inputs; the benchmark corpus was compared once in full.
import { encode } from "gpt-tokenizer/encoding/o200k_base";
import { O200K_TOKEN_SPLIT_REGEX } from "gpt-tokenizer/encodingParams/constants";
import { CharTable, grown, hashChars } from "./char-table.ts";

const SPLIT_AT = new RegExp(O200K_TOKEN_SPLIT_REGEX.source, "uy");
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

// ASCII character classes as the split regex sees them; NON_ASCII and END are not ASCII classes.
const OTHER = 0; // [^\s\p{L}\p{N}]: punctuation, symbols, control characters
const LOWER = 1;
const UPPER = 2;
const DIGIT = 3;
const SPACE = 4; // \s but not \r or \n
const NEWLINE = 5;
const NON_ASCII = 6;
const END = 7;

const CLASS = new Uint8Array(128).map((_, c) => {
  if (c >= 0x61 && c <= 0x7a) return LOWER;
  if (c >= 0x41 && c <= 0x5a) return UPPER;
  if (c >= 0x30 && c <= 0x39) return DIGIT;
  if (c === 10 || c === 13) return NEWLINE;
  if (c === 9 || c === 11 || c === 12 || c === 32) return SPACE;
  return OTHER;
});

function classAt(s: string, i: number): number {
  if (i >= s.length) return END;
  const c = s.charCodeAt(i);
  return c < 128 ? CLASS[c] : NON_ASCII;
}

/** ' followed by s, d, m, t, ll, ve or re in either case: the end after it, else `j`. */
function afterContraction(s: string, j: number): number {
  if (s.charCodeAt(j) !== 0x27) return j;
  const a = s.charCodeAt(j + 1) | 0x20;
  if (a === 0x73 || a === 0x64 || a === 0x6d || a === 0x74) return j + 2; // s d m t
  const b = s.charCodeAt(j + 2) | 0x20;
  if ((a === 0x6c && b === 0x6c) || (a === 0x76 && b === 0x65) || (a === 0x72 && b === 0x65)) return j + 3; // ll ve re
  return j;
}

/**
 * Upper case letters then lower case ones from the letter at `i` (either regex letter branch);
 * -1 if a non-ASCII character could extend them.
 */
function lettersEnd(s: string, i: number): number {
  let j = i;
  while (classAt(s, j) === UPPER) j++;
  while (classAt(s, j) === LOWER) j++;
  return classAt(s, j) === NON_ASCII ? -1 : afterContraction(s, j);
}

/** ` ?[^\s\p{L}\p{N}]+[\r\n/]*` from the first non-space `j`. */
function punctuationEnd(s: string, j: number): number {
  let k = j;
  while (classAt(s, k) === OTHER) k++;
  if (classAt(s, k) === NON_ASCII) return -1;
  for (let c = s.charCodeAt(k); c === 10 || c === 13 || c === 0x2f; c = s.charCodeAt(++k));
  return k;
}

/**
 * The whitespace branches: up to the last line break of the run, else all of a run that ends the
 * text, else all but its last character (at least one).
 */
function spaceEnd(s: string, i: number): number {
  let k = i;
  let lastBreak = -1;
  for (let c = classAt(s, k); c === SPACE || c === NEWLINE; c = classAt(s, ++k)) if (c === NEWLINE) lastBreak = k;
  const after = classAt(s, k);
  if (after === NON_ASCII) return -1;
  if (lastBreak >= 0) return lastBreak + 1;
  if (after === END || k - i === 1) return k;
  return k - 1;
}

/** End of the split regex's match at `i`, or -1 when a non-ASCII character could change it. */
export function asciiPieceEnd(s: string, i: number): number {
  const c = classAt(s, i);
  if (c === LOWER || c === UPPER) return lettersEnd(s, i);
  if (c === DIGIT) {
    let j = i + 1;
    while (j < i + 3 && classAt(s, j) === DIGIT) j++;
    return j < i + 3 && classAt(s, j) === NON_ASCII ? -1 : j;
  }
  if (c === OTHER || c === SPACE) {
    // one character before letters: [^\r\n\p{L}\p{N}]? of the letter branches
    const d = classAt(s, i + 1);
    if (d === NON_ASCII) return -1;
    if (d === LOWER || d === UPPER) return lettersEnd(s, i + 1);
    if (c === OTHER) return punctuationEnd(s, i);
    if (d === OTHER && s.charCodeAt(i) === 32) return punctuationEnd(s, i + 1);
  }
  if (c === SPACE || c === NEWLINE) return spaceEnd(s, i);
  return -1;
}

function pieceEnd(s: string, i: number): number {
  const end = asciiPieceEnd(s, i);
  if (end >= 0) return end;
  SPLIT_AT.lastIndex = i;
  // Every character starts a match (it is a letter, a digit, whitespace or none of them).
  if (SPLIT_AT.exec(s) === null) throw new Error(`the o200k split regex matched nothing at ${i}`);
  return SPLIT_AT.lastIndex;
}

// Pieces seen before; tokensAt[e]..tokensAt[e + 1]: the tokens of piece e in `tokens`.
const pieces = new CharTable(64);
let tokensAt = new Int32Array(1 << 16);
let tokens = new Uint32Array(1 << 18);

/** Adds piece s[i, end) and its tokens to the table: its entry, or -1 if the table did not take it. */
function remember(s: string, i: number, end: number, hash: number, pieceTokens: readonly number[]): number {
  const e = pieces.add(s, i, end, hash);
  if (e < 0) return -1;
  tokensAt = grown(tokensAt, e + 2);
  const at = tokensAt[e];
  tokens = grown(tokens, at + pieceTokens.length);
  tokens.set(pieceTokens, at);
  tokensAt[e + 1] = at + pieceTokens.length;
  return e;
}

/** gpt-tokenizer's o200k encode(text) with special-token strings as plain text, as a Uint32Array. */
export function encodeO200k(text: string): Uint32Array {
  let out = new Uint32Array(16 + (text.length >>> 2));
  let n = 0;
  for (let i = 0, end = 0; i < text.length; i = end) {
    end = pieceEnd(text, i);
    const hash = hashChars(text, i, end);
    let e = pieces.find(text, i, end, hash);
    if (e < 0) {
      const pieceTokens = encode(text.slice(i, end), PLAIN_TEXT);
      e = remember(text, i, end, hash, pieceTokens);
      if (e < 0) {
        if (n + pieceTokens.length > out.length) out = longer(out, n + pieceTokens.length);
        out.set(pieceTokens, n);
        n += pieceTokens.length;
        continue;
      }
    }
    const from = tokensAt[e];
    const to = tokensAt[e + 1];
    if (n + to - from > out.length) out = longer(out, n + to - from);
    for (let k = from; k < to; k++) out[n++] = tokens[k];
  }
  return out.slice(0, n);
}

function longer(a: Uint32Array, length: number): Uint32Array<ArrayBuffer> {
  const b = new Uint32Array(Math.max(length, 2 * a.length));
  b.set(a);
  return b;
}
