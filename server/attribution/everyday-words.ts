// Everyday words of general English: words found in at least `minDocuments` of the background
// documents (background.ts: 500 Brown documents and 100 nlp-corpus files). A phrase made only of
// everyday words ("let me know if you have any other questions") says nothing about where it came
// from, however it is strung together, so the near-verbatim algorithm counts a chain only when it
// matches enough words that are *not* everyday (`minRareWords`). That is what keeps boilerplate that
// the 1961 background never saw (closing lines of chat assistants) from earning royalties, while
// a real passage of a few dozen words holds many rarer words.
// The list for the default threshold ships as background-everyday-words.txt (first line: what it
// was built from; then one word a line, sorted); `tsx server/attribution/everyday-words.ts`
// rebuilds it, and a test checks it.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { backgroundDocuments, backgroundId } from "./background.ts";
import { matchKeys } from "./match-words.ts";

/** 60 of 600 documents: about the 3,000 most widespread words. */
export const DEFAULT_EVERYDAY_DOCUMENTS = 60;

/** Sorted normalized words found in at least `minDocuments` background documents. */
export function buildEverydayWords(minDocuments: number): string[] {
  const documentCount = new Map<string, number>();
  const cache = new Map<string, string>();
  for (const text of backgroundDocuments()) {
    for (const w of new Set(matchKeys(text, cache))) documentCount.set(w, (documentCount.get(w) ?? 0) + 1);
  }
  const out: string[] = [];
  for (const [w, n] of documentCount) if (n >= minDocuments) out.push(w);
  return out.sort();
}

export const SHIPPED_WORDS_FILE = join(dirname(fileURLToPath(import.meta.url)), "background-everyday-words.txt");
const shippedId = () => `${backgroundId().replace(/\/.*$/, "")}/words in >= ${DEFAULT_EVERYDAY_DOCUMENTS} documents`;

function loadShipped(): string[] | null {
  if (!existsSync(SHIPPED_WORDS_FILE)) return null;
  const [id, ...words] = readFileSync(SHIPPED_WORDS_FILE, "utf8").trimEnd().split("\n");
  return id === shippedId() ? words : null; // other package versions: rebuild
}

const built = new Map<number, ReadonlySet<string>>();

/** The everyday words for a threshold, once per process (the default one from the shipped file). */
export function everydayWords(minDocuments = DEFAULT_EVERYDAY_DOCUMENTS): ReadonlySet<string> {
  let set = built.get(minDocuments);
  if (set === undefined) {
    set = new Set((minDocuments === DEFAULT_EVERYDAY_DOCUMENTS ? loadShipped() : null) ?? buildEverydayWords(minDocuments));
    built.set(minDocuments, set);
  }
  return set;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(SHIPPED_WORDS_FILE, [shippedId(), ...buildEverydayWords(DEFAULT_EVERYDAY_DOCUMENTS)].join("\n") + "\n");
}
