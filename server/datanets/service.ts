// The datanets a server's models draw on: contributions live in the ledger (shared by every
// instance, registration order = ledger seq); each instance holds the suffix index of the
// contributions it last built, cached on disk by a digest of the contribution list, so a
// restart loads rather than rebuilds. Contributions registered here after that build go into a
// delta index at once (attributable within milliseconds, attribution/delta.ts), and a background
// merge (delta-merge.ts) folds them into a new main index and swaps it in.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { getAddress, keccak256, toUtf8Bytes } from "ethers";
import {
  TOKENIZER_ID,
  tokenize,
  buildIndexParallel,
  canonicalHash,
  loadIndex,
  prepareAttribution,
  prepareWordIndex,
  readManifest,
  saveIndex,
  type SuffixIndex,
} from "../attribution/index.ts";
import { withDelta, type DeltaStats } from "../attribution/delta.ts";
import type { AttributionIndex } from "../attribution/segmented.ts";
import type { DatanetConfig } from "../config/index.ts";
import type { ContributionRecord, Ledger } from "../ledger/index.ts";
import { loadBrownCorpus } from "./corpora.ts";
import { Datanet } from "./datanet.ts";
import { exportBody, exportHash, publishesTexts, type DatanetExport } from "./export.ts";
import { adoptMerged, buildInWorker } from "./delta-merge.ts";
import { passageIndex } from "./search.ts";

export interface IndexInfo {
  indexRoot: string;
  contributions: number;
  tokens: number;
  builtAt: number;
  buildMs: number;
  loadedFromDisk: boolean;
  /** Contributions served from the delta index until the background merge swaps in a new main index. */
  delta: DeltaStats | null;
}

interface State {
  config: DatanetConfig;
  /** The last one-pass build (generation, search and paid access read it). */
  index: SuffixIndex | null;
  /** What new records are attributed against: `index`, or `index` plus the delta. */
  served: AttributionIndex | null;
  info: IndexInfo | null;
  building: Promise<IndexInfo | null> | null;
  /** Delta refreshes and merge swaps, one at a time, in order. */
  updates: Promise<unknown>;
  merging: Promise<void> | null;
  mergeAgain: boolean;
  /** Tokens of the delta's contributions by seq, so a refresh tokenizes only the newest. */
  deltaTokens: Map<number, Uint32Array>;
  /** Every index this server built or has on disk: indexRoot -> how many contributions (a prefix) it holds. */
  roots: Map<string, number>;
}

export class DatanetError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "DatanetError";
  }
}

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Deterministic contributor addresses for a seeded datanet (no keys: keepers push their claims). */
export function seedContributor(datanetId: string, i: number): string {
  return getAddress(keccak256(toUtf8Bytes(`royalty402:seed:${datanetId}:${i}`)).slice(0, 42));
}

export class DatanetService {
  private readonly states = new Map<string, State>();
  private readonly closing = new AbortController();

  constructor(
    private readonly ledger: Ledger,
    private readonly dataDir: string,
    private readonly log: Log,
  ) {}

  ids(): string[] {
    return [...this.states.keys()];
  }

  has(id: string): boolean {
    return this.states.has(id);
  }

  config(id: string): DatanetConfig {
    return this.state(id).config;
  }

  /** Registers a datanet, imports its seed or file into an empty datanet, and builds or loads its index. */
  async open(config: DatanetConfig): Promise<IndexInfo | null> {
    if (this.states.has(config.id)) throw new DatanetError(409, "datanet_exists", `datanet ${config.id} is already open`);
    this.states.set(config.id, {
      config,
      index: null,
      served: null,
      info: null,
      building: null,
      updates: Promise.resolve(),
      merging: null,
      mergeAgain: false,
      deltaTokens: new Map(),
      roots: this.rootsOnDisk(config.id),
    });
    const existing = await this.ledger.listContributions(config.id);
    if (existing.length === 0) {
      const initial = initialContributions(config);
      if (initial.length > 0) {
        this.log.info({ datanet: config.id, contributions: initial.length }, "importing the initial contributions of an empty datanet");
        await this.append(config.id, initial); // indexed by the build below
      }
    }
    return this.rebuild(config.id);
  }

  /** The current index snapshot; a request keeps using the snapshot it started with. */
  index(id: string): SuffixIndex {
    const s = this.state(id);
    if (!s.index) throw new DatanetError(503, "datanet_empty", `datanet ${id} has no contributions yet, so its model cannot answer`);
    return s.index;
  }

  /** The index new records are attributed against: the main index plus the delta of newer contributions. */
  attributionIndex(id: string): AttributionIndex {
    return this.state(id).served ?? this.index(id);
  }

  info(id: string): IndexInfo | null {
    return this.state(id).info;
  }

  /** Stops a running merge (the server is closing). */
  close(): void {
    this.closing.abort();
  }

  /**
   * Validates (address, well-formed non-empty text) and appends in order; nothing is added if one is
   * invalid. Once it returns, the new contributions are attributable (delta index), and a background
   * merge into a new main index is under way; unless `options.rebuild`: the caller rebuilds instead.
   */
  async addContributions(
    id: string,
    inputs: ReadonlyArray<{ contributor: unknown; text: unknown }>,
    options: { rebuild?: boolean } = {},
  ): Promise<ContributionRecord[]> {
    const s = this.state(id);
    const added = await this.append(id, inputs);
    if (options.rebuild) return added;
    try {
      if (s.index) await this.update(s, () => this.refreshDelta(s));
    } catch (e) {
      // they are registered all the same: the merge indexes them
      this.log.warn(
        { datanet: id, err: (e as Error).message },
        "delta index failed; the background merge will index the new contributions",
      );
    }
    this.scheduleMerge(s); // after the delta: the merge copies every text to its worker
    return added;
  }

  /** Validates and appends to the ledger, all or nothing invalid. */
  private async append(id: string, inputs: ReadonlyArray<{ contributor: unknown; text: unknown }>): Promise<ContributionRecord[]> {
    const scratch = new Datanet();
    const checked = inputs.map((input, i) => {
      try {
        return scratch.add({ contributor: input?.contributor as string, text: input?.text as string, seq: i });
      } catch (e) {
        throw new DatanetError(400, "invalid_contribution", `contributions[${i}]: ${(e as Error).message.replace(/^\w+: /, "")}`);
      }
    });
    const added: ContributionRecord[] = [];
    for (const c of checked)
      added.push(
        await this.ledger.addContribution({ datanetId: id, contributor: c.contributor, contentHash: c.contentHash, text: c.text }),
      );
    return added;
  }

  /** Runs `step` after every update queued before it (a failed one does not stop the queue). */
  private update<T>(s: State, step: () => Promise<T>): Promise<T> {
    const run = s.updates.then(step, step);
    s.updates = run.catch(() => undefined);
    return run;
  }

  /** Serves the main index plus a delta of every contribution registered after it. */
  private async refreshDelta(s: State): Promise<void> {
    const main = s.index;
    if (!main) return;
    const lastSeq = main.contributions[main.contributions.length - 1].seq;
    const rows = await this.ledger.listContributions(s.config.id, lastSeq + 1);
    const added = Datanet.from(rows.map((r) => ({ contributor: r.contributor, text: r.text, seq: r.seq })));
    const cache = s.deltaTokens;
    for (const seq of cache.keys()) if (seq <= lastSeq) cache.delete(seq); // merged into main
    const { index, stats } = withDelta(main, added.contributions, (c) => {
      let tokens = cache.get(c.seq);
      if (tokens === undefined) cache.set(c.seq, (tokens = tokenize(c.text)));
      return tokens;
    });
    s.served = index;
    s.roots.set(index.indexRoot, main.contributions.length + stats.contributions);
    s.info = {
      ...(s.info as IndexInfo),
      indexRoot: index.indexRoot,
      contributions: main.contributions.length + stats.contributions,
      tokens: index.corpusTokens,
      delta: stats.contributions > 0 ? stats : null,
    };
    if (stats.contributions > 0) this.log.info({ datanet: s.config.id, ...s.info }, "datanet delta index ready");
  }

  /** Starts a background merge, or asks the running one to run again when it ends. */
  private scheduleMerge(s: State): void {
    if (s.merging) {
      s.mergeAgain = true;
      return;
    }
    s.mergeAgain = false;
    s.merging = this.merge(s)
      .catch((e) => {
        if (!this.closing.signal.aborted)
          this.log.warn({ datanet: s.config.id, err: (e as Error).message }, "delta merge failed; serving the delta");
      })
      .finally(() => {
        s.merging = null;
        if (s.mergeAgain && !this.closing.signal.aborted) this.scheduleMerge(s);
      });
  }

  /** Builds the one-pass index of every contribution so far off the event loop, then swaps it in. */
  private async merge(s: State): Promise<void> {
    const started = performance.now();
    const main = s.index;
    const kept = main ? main.contributions.map((meta, i) => ({ meta, tokens: main.contributionTokens(i) })) : [];
    const rows = await this.ledger.listContributions(s.config.id, kept.length > 0 ? kept[kept.length - 1].meta.seq + 1 : 0);
    if (rows.length === 0) return;
    const total = kept.length + rows.length;
    const dir = this.cacheDir(s, [...kept.map((k) => k.meta), ...rows]);
    const job = {
      kept,
      rows: rows.map((r) => ({ seq: r.seq, contributor: r.contributor, text: r.text })),
      minCopyTokens: s.config.minCopyTokens,
      dir,
    };
    const result = await buildInWorker(job, this.closing.signal);
    await this.update(s, async () => {
      if ((s.index?.contributions.length ?? 0) >= total) return; // a rebuild got there first
      const index = adoptMerged(dir, result);
      if (s.config.access) passageIndex(index);
      s.index = index;
      s.roots.set(index.indexRoot, total);
      s.info = { ...(s.info as IndexInfo), builtAt: Date.now(), buildMs: Math.round(performance.now() - started), loadedFromDisk: false };
      await this.refreshDelta(s);
      this.log.info({ datanet: s.config.id, ...s.info }, "datanet delta merged into a new main index");
    });
  }

  /** Resolves when no background merge is running (tests and the bench wait for it). */
  async merged(id: string): Promise<void> {
    const s = this.state(id);
    while (s.merging) await s.merging;
  }

  /** The cache folder of the one-pass index of `rows`. */
  private cacheDir(s: State, rows: ReadonlyArray<{ seq: number; contributor: string; contentHash: string }>): string {
    const digest = canonicalHash({
      tokenizer: TOKENIZER_ID,
      minCopyTokens: s.config.minCopyTokens,
      contributions: rows.map((r) => [r.seq, r.contributor.toLowerCase(), r.contentHash.toLowerCase()]),
    });
    return join(this.dataDir, "indexes", s.config.id, digest.slice(2, 18));
  }

  /** Rebuilds the index from the ledger's contributions (or loads the cached build of the same list). */
  async rebuild(id: string): Promise<IndexInfo | null> {
    const s = this.state(id);
    // One build at a time per datanet; a second caller waits for the same result.
    if (s.building) return s.building;
    s.building = this.build(s).finally(() => (s.building = null));
    return s.building;
  }

  private async build(s: State): Promise<IndexInfo | null> {
    const rows = await this.ledger.listContributions(s.config.id);
    if (rows.length === 0) return null;
    const started = performance.now();
    const dir = this.cacheDir(s, rows);
    let index: SuffixIndex | null = null;
    let loadedFromDisk = false;
    if (existsSync(join(dir, "manifest.json"))) {
      try {
        index = loadIndex(dir);
        loadedFromDisk = true;
      } catch (e) {
        this.log.warn({ datanet: s.config.id, err: (e as Error).message }, "cached index unreadable; rebuilding");
      }
    }
    if (!index) {
      const datanet = Datanet.from(rows.map((r) => ({ contributor: r.contributor, text: r.text, seq: r.seq })));
      index = (await buildIndexParallel(datanet, { minCopyTokens: s.config.minCopyTokens })).index;
      await prepareWordIndex(index); // before saving: the word view is saved with the index
      saveIndex(index, dir);
    }
    await prepareWordIndex(index); // loaded with the index if it was saved with it; else derived, word keys in worker threads
    prepareAttribution(index); // the word view and background set, so the first paid request does not build them
    if (s.config.access) passageIndex(index); // likewise the search passages of a datanet selling access
    const info: IndexInfo = {
      indexRoot: index.indexRoot,
      contributions: rows.length,
      tokens: index.corpusTokens,
      builtAt: Date.now(),
      buildMs: Math.round(performance.now() - started),
      loadedFromDisk,
      delta: null,
    };
    await this.update(s, async () => {
      s.index = index;
      s.served = index;
      s.info = info;
      s.roots.set(index.indexRoot, rows.length);
      this.log.info({ datanet: s.config.id, ...info }, "datanet index ready");
      await this.refreshDelta(s); // contributions registered while it was being built
    });
    return s.info;
  }

  /** The indexes cached on disk for a datanet, by root. */
  private rootsOnDisk(id: string): Map<string, number> {
    const roots = new Map<string, number>();
    const dir = join(this.dataDir, "indexes", id);
    if (!existsSync(dir)) return roots;
    for (const name of readdirSync(dir)) {
      try {
        const m = readManifest(join(dir, name));
        roots.set(m.indexRoot, m.contributionCount);
      } catch {
        // not an index folder (or unreadable): it names no root
      }
    }
    return roots;
  }

  /**
   * The public export of an open datanet: all its contributions, or with `indexRoot` exactly those
   * the index of that root was built from (the first n in registration order).
   */
  async exportOf(id: string, indexRoot?: string): Promise<DatanetExport> {
    const s = this.state(id);
    if (!publishesTexts(s.config)) {
      throw new DatanetError(
        403,
        "texts_private",
        `datanet ${id} sells access to its texts, so it does not publish them (docs/VERIFYING.md says what can still be checked)`,
      );
    }
    const rows = await this.ledger.listContributions(id);
    let count = rows.length;
    if (indexRoot !== undefined) {
      const known = s.roots.get(indexRoot.toLowerCase());
      if (known === undefined) throw new DatanetError(404, "unknown_index_root", `datanet ${id} has built no index with root ${indexRoot}`);
      count = known;
    }
    const body = exportBody(rows.slice(0, count));
    const root = indexRoot?.toLowerCase() ?? [...s.roots].find(([, n]) => n === count)?.[0] ?? null;
    return { body, hash: exportHash(body), contributions: count, indexRoot: root, minCopyTokens: s.config.minCopyTokens };
  }

  /** Public description: contribution counts, contributors, the served index. */
  async describe(id: string) {
    const s = this.state(id);
    const rows = await this.ledger.listContributions(id);
    const byContributor = new Map<string, number>();
    for (const r of rows) {
      const a = getAddress(r.contributor);
      byContributor.set(a, (byContributor.get(a) ?? 0) + 1);
    }
    return {
      id,
      description: s.config.description,
      contributions: rows.length,
      contributors: [...byContributor.entries()].map(([address, contributions]) => ({ address, contributions })),
      index: s.info,
      /** Contributions registered since the served index was built (rebuild to include them). */
      unindexedContributions: rows.length - (s.info?.contributions ?? 0),
      params: { tokenizer: TOKENIZER_ID, minCopyTokens: s.config.minCopyTokens },
    };
  }

  private state(id: string): State {
    const s = this.states.get(id);
    if (!s) throw new DatanetError(404, "datanet_not_found", `no datanet named ${JSON.stringify(id)}`);
    return s;
  }
}

function initialContributions(config: DatanetConfig): Array<{ contributor: string; text: string }> {
  const out: Array<{ contributor: string; text: string }> = [];
  if (config.seed) {
    const docs = loadBrownCorpus(config.seed.offset + config.seed.documents).slice(config.seed.offset);
    docs.forEach((doc, i) => out.push({ contributor: seedContributor(config.id, i % config.seed!.contributors), text: doc.text }));
  }
  if (config.contributionsFile) {
    let text: string;
    try {
      text = readFileSync(config.contributionsFile, "utf8");
    } catch (e) {
      throw new DatanetError(
        400,
        "invalid_contribution",
        `datanet ${config.id}: cannot read ${config.contributionsFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    const trimmed = text.trim();
    let items: unknown[];
    try {
      items = trimmed.startsWith("[") ? JSON.parse(trimmed) : trimmed.split(/\n+/).map((line) => JSON.parse(line));
    } catch (e) {
      throw new DatanetError(
        400,
        "invalid_contribution",
        `datanet ${config.id}: ${config.contributionsFile} is neither a JSON array nor JSON lines: ${(e as Error).message}`,
      );
    }
    for (const item of items) out.push(item as { contributor: string; text: string });
  }
  return out;
}
