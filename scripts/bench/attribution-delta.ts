// Delta-index benchmark: how soon a contribution registered on a running datanet is attributable,
// and what the background merge costs, through the real registration path (DatanetService over a
// SQLite ledger, the merge worker thread).
//
//   npm run bench:attribution-delta      (writes scripts/bench/results/attribution-delta.json)
//
// Datanet: the Brown corpus and nlp-corpus texts, extended to BENCH_DELTA_MB (default 100) MB with
// contributions of real sentences drawn from them in seeded order. Baseline, measured in the same
// run: the one-pass build of the whole index, which is what a new contribution waited for before.
// Five single registrations back to back, then 10 and 100 at once: time from addContributions to
// the first record that credits the new contributor; when the background merge is done and how long
// it held the event loop (its longest stall); records made against main + delta compared byte for
// byte with the records after the merge.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { getAddress, keccak256, toUtf8Bytes } from "ethers";
import { attribute } from "../../server/attribution/attribute.ts";
import { serializeRecord } from "../../server/attribution/record.ts";
import type { DatanetConfig } from "../../server/config/index.ts";
import { loadBrownCorpus } from "../../server/datanets/corpora.ts";
import { DatanetService } from "../../server/datanets/service.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import { seededRandom } from "../shared/random.ts";

const TARGET_BYTES = Number(process.env.BENCH_DELTA_MB ?? 100) * 1_000_000;
// five single registrations back to back (merges running meanwhile), then a bulk 10 and a bulk 100
const GROUPS = [[1, 1, 1, 1, 1], [10], [100]];
const ID = "bench";
const here = dirname(fileURLToPath(import.meta.url));
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const address = (i: number) => getAddress(keccak256(toUtf8Bytes(`bench-delta:${i}`)).slice(0, 42));

/** nlp-corpus texts, grouped into ~8 KB contributions (they are short). */
function nlpTexts(): string[] {
  const dir = join(dirname(createRequire(import.meta.url).resolve("nlp-corpus")), "..", "..", "builds");
  const out: string[] = [];
  let group: string[] = [];
  let size = 0;
  for (const f of readdirSync(dir)
    .filter((f) => /^doc-\d+\.json$/.test(f))
    .sort()) {
    for (const t of JSON.parse(readFileSync(join(dir, f), "utf8")) as string[]) {
      if (typeof t !== "string" || !t.trim()) continue;
      group.push(t.trim());
      size += t.length;
      if (size >= 8000) {
        out.push(group.join("\n\n"));
        group = [];
        size = 0;
      }
    }
  }
  if (group.length > 0) out.push(group.join("\n\n"));
  return out;
}

/**
 * Main: real texts, then ~8 KB contributions of their sentences in seeded order, up to `bytes`.
 * Fresh: the last `extra` Brown documents, kept out of main and of its sentence pool (new text).
 */
function corpus(bytes: number, extra: number): { main: string[]; fresh: string[] } {
  const brown = loadBrownCorpus().map((d) => d.text);
  const fresh = brown.slice(brown.length - extra);
  const real = [...brown.slice(0, brown.length - extra), ...nlpTexts()];
  const sentences = real.flatMap((t) => t.split(/(?<=[.!?])\s+/)).filter((s) => s.length > 20);
  const rand = seededRandom(1515);
  const make = () => {
    const parts: string[] = [];
    for (let len = 0; len < 8000; ) {
      const s = sentences[Math.floor(rand() * sentences.length)];
      parts.push(s);
      len += s.length + 1;
    }
    return parts.join(" ");
  };
  const main = [...real];
  for (let total = main.reduce((a, t) => a + t.length, 0); total < bytes; ) {
    const t = make();
    main.push(t);
    total += t.length;
  }
  return { main, fresh };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "r402-bench-delta-"));
  const extra = GROUPS.flat().reduce((a, b) => a + b, 0);
  const { main: texts, fresh } = corpus(TARGET_BYTES, extra);
  const file = join(dir, "contributions.jsonl");
  writeFileSync(file, texts.map((text, i) => JSON.stringify({ contributor: address(i % 2000), text })).join("\n"));
  const bytes = texts.reduce((a, t) => a + Buffer.byteLength(t), 0);
  console.log(`datanet: ${texts.length} contributions, ${round(bytes / 1e6)} MB; building the main index (the baseline)…`);

  const ledger = new SqliteLedger({ path: join(dir, "ledger.sqlite") });
  await ledger.migrate();
  const service = new DatanetService(ledger, join(dir, "data"), { info: () => {}, warn: (o, m) => console.warn(m, o) });
  const config = { id: ID, description: ID, seed: null, contributionsFile: file, minCopyTokens: 50, access: null };
  const opened = await service.open(config as unknown as DatanetConfig); // imports the file into the ledger, then builds
  const fullBuildMs = opened!.buildMs;
  const tokens = opened!.tokens;
  console.log(`  one-pass build (tokenize, suffix array, owner map, word view): ${round(fullBuildMs / 1000)} s, ${tokens} tokens`);

  const runs = [];
  let next = 0;
  for (const group of GROUPS) {
    const made: Array<{ output: string; record: string }> = [];
    const attributable: number[] = [];
    const deltaSizes: number[] = [];
    let last = 0;
    for (const size of group) {
      const batch = fresh.slice(next, next + size).map((text, i) => ({ contributor: address(100_000 + next + i), text }));
      next += size;
      const quoted = batch[batch.length - 1];
      const output = quoted.text.slice(200, 2200);
      const started = performance.now();
      await service.addContributions(ID, batch); // the merge it starts runs on meanwhile
      const record = attribute(service.attributionIndex(ID), output);
      last = performance.now();
      attributable.push(round(last - started));
      if (record.contributors[0]?.address !== quoted.contributor) throw new Error("the new contributor was not credited");
      deltaSizes.push(service.info(ID)!.delta?.contributions ?? 0);
      made.push({ output, record: serializeRecord(record) });
    }
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const alive = setInterval(() => {}, 1000); // the merge worker is unref'd: keep this process up meanwhile
    await service.merged(ID);
    clearInterval(alive);
    lag.disable();
    // the last record was made against the same contributions the merged index holds (earlier ones, fewer)
    const lastMade = made[made.length - 1];
    const identical = serializeRecord(attribute(service.attributionIndex(ID), lastMade.output)) === lastMade.record;
    if (!identical) throw new Error("the record after the merge differs from the one made against the delta");
    const sorted = [...attributable].sort((a, b) => a - b);
    const run = {
      registrations: group,
      deltaContributionsAtEach: deltaSizes,
      registrationToAttributableMs: attributable,
      medianMs: sorted[Math.floor((sorted.length - 1) / 2)],
      maxMs: sorted[sorted.length - 1],
      mergeDoneAfterLastRegistrationMs: Math.round(performance.now() - last),
      mergeLongestEventLoopStallMs: round(lag.max / 1e6),
      lastRecordIdenticalAfterMerge: identical,
    };
    console.log(`  ${JSON.stringify(run)}`);
    runs.push(run);
  }
  service.close();
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });

  const single = runs[0];
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: availableParallelism(), loadavg: loadavg().map((x) => round(x, 2)), node: process.version },
    datanet: { megabytes: round(bytes / 1e6), contributions: texts.length, tokens },
    baseline: { onePassBuildMs: Math.round(fullBuildMs) },
    delta: runs,
    target: { singleRegistrationToAttributableMs: 2000, met: single.maxMs <= 2000 },
    ratio: { onePassBuildOverSingleMedian: round(fullBuildMs / single.medianMs) },
  };
  mkdirSync(join(here, "results"), { recursive: true });
  writeFileSync(join(here, "results", "attribution-delta.json"), `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
}

await main();
