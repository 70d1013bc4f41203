// `epoch verify --datanet-from <file|url>`: rebuild the datanet index(es) an epoch's records name
// from the datanet's public export, so every record is re-derived from public data alone. A URL
// is asked once per indexRoot (?root=), a file is one export.
import { readFileSync } from "node:fs";
import { EXPORT_HEADERS, exportHash, indexFromExport } from "../../datanets/export.ts";
import type { SuffixIndex } from "../../attribution/index.ts";
import { CliError } from "../errors.ts";

/** The index builder's default; an export served over HTTP names its own. */
const DEFAULT_MIN_COPY_TOKENS = 50;

async function fetchExport(url: string, root: string): Promise<{ body: string; minCopyTokens: number; source: string }> {
  const source = `${url}${url.includes("?") ? "&" : "?"}root=${root}`;
  const res = await fetch(source, { signal: AbortSignal.timeout(300_000) }).catch(() => null);
  if (!res?.ok) throw new CliError(`cannot fetch the datanet export ${source}${res ? ` (HTTP ${res.status}: ${await res.text()})` : ""}.`);
  const body = await res.text();
  const announced = res.headers.get(EXPORT_HEADERS.hash);
  if (announced !== null && announced !== exportHash(body)) {
    throw new CliError(`the export from ${source} does not match its ${EXPORT_HEADERS.hash} header.`);
  }
  const min = Number(res.headers.get(EXPORT_HEADERS.minCopyTokens) ?? DEFAULT_MIN_COPY_TOKENS);
  return { body, minCopyTokens: Number.isSafeInteger(min) && min > 0 ? min : DEFAULT_MIN_COPY_TOKENS, source };
}

function rebuild(body: string, source: string, minCopyTokens: number): SuffixIndex {
  try {
    const index = indexFromExport(body, source, minCopyTokens);
    console.log(`  rebuilt the index from ${source} (export ${exportHash(body)}): indexRoot ${index.indexRoot}`);
    return index;
  } catch (e) {
    throw new CliError(`cannot rebuild the index from ${source}: ${(e as Error).message.replace(/\.$/, "")}.`);
  }
}

/** The indexes of `roots`, rebuilt from the export at `source` (a URL: one request per root; a file: one index). */
export async function indexesFromExport(source: string, roots: readonly string[]): Promise<SuffixIndex[]> {
  if (!/^https?:\/\//.test(source)) {
    let body: string;
    try {
      body = readFileSync(source, "utf8");
    } catch (e) {
      throw new CliError(`cannot read ${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}.`);
    }
    return [rebuild(body, source, DEFAULT_MIN_COPY_TOKENS)];
  }
  const out: SuffixIndex[] = [];
  for (const root of new Set(roots.map((r) => r.toLowerCase()))) {
    const x = await fetchExport(source, root);
    out.push(rebuild(x.body, x.source, x.minCopyTokens));
  }
  return out;
}
