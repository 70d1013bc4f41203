// The pinned tokenizer: gpt-tokenizer's o200k_base over NFC-normalised text. Every index and
// record names it, so a record is only ever recomputed with the tokenizer that produced it.
import { createRequire } from "node:module";
import { encode, decode, decodeGenerator } from "gpt-tokenizer/encoding/o200k_base";

const gptTokenizerVersion: string = createRequire(import.meta.url)("gpt-tokenizer/package.json").version;

export const TOKENIZER_ID = `gpt-tokenizer@${gptTokenizerVersion}/o200k_base/NFC`;

/**
 * Token id that separates contributions inside the index. It is above every o200k id, so no
 * query (which never contains it) can match across two contributions.
 */
export const SEPARATOR_TOKEN = 0x3ffff;
/** Alphabet size of the indexed token array (ids 0..SEPARATOR_TOKEN). */
export const INDEX_ALPHABET = SEPARATOR_TOKEN + 1;

// Special-token strings ("<|endoftext|>") in contributed or generated text are ordinary text.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

export function normalizeText(text: string): string {
  return text.normalize("NFC");
}

export function tokenize(text: string): Uint32Array {
  return Uint32Array.from(encode(normalizeText(text), PLAIN_TEXT));
}

export function detokenize(tokens: ArrayLike<number>): string {
  return decode(Array.from(tokens));
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** A string that is valid Unicode (no lone surrogates), so it has a UTF-8 encoding to hash. */
export function isWellFormedText(s: unknown): s is string {
  return typeof s === "string" && !LONE_SURROGATE.test(s);
}

/** UTF-16 offset of every token boundary of `tokens` in their decoded text (length + 1 entries). */
export function tokenCharOffsets(tokens: ArrayLike<number>): Uint32Array {
  const list = Array.from(tokens);
  const offsets = new Uint32Array(list.length + 1);
  const pieces = [...decodeGenerator(list)];
  if (pieces.length === list.length) {
    for (let i = 0; i < pieces.length; i++) offsets[i + 1] = offsets[i] + pieces[i].length;
  } else {
    // A character split across tokens came out as one piece: measure prefixes instead.
    for (let i = 1; i <= list.length; i++) offsets[i] = decode(list.slice(0, i)).length;
  }
  return offsets;
}
