// Published epoch documents, cached: the ledger stores each document once without what can be
// derived (stored.ts); the epoch worker rebuilds the published JSON and both trees, and proofs
// are read from the trees on demand (proofs.ts). A posted epoch's document never changes.
// The cache is bounded by bytes (least recently used out first), not by count: one epoch of
// 10,000 outputs weighs as much as hundreds of small ones.
import { getAddress } from "ethers";
import type { ClaimLeaf, RecordLeaf } from "./build.ts";
import type { EpochRecord, EpochSummary, Ledger } from "../ledger/index.ts";
import { proofAt } from "./proofs.ts";
import type { TreeIndex } from "./stored.ts";
import { blockTransfers, type BuildTask, type BuiltEpoch, type PublishedEpoch } from "./worker-tasks.ts";
import { EpochWorker } from "./worker-client.ts";

export class ParsedEpoch {
  private readonly claimIndex: Map<string, [string, string, number]>;
  private readonly recordIndex: Map<string, [string, string, number]>;
  /** The published document's bytes, as served at the epoch's uri. */
  readonly body: Buffer;

  constructor(
    public record: Omit<EpochRecord, "document">,
    private readonly expanded: PublishedEpoch,
  ) {
    this.body = Buffer.from(expanded.body.buffer, expanded.body.byteOffset, expanded.body.byteLength);
    this.claimIndex = new Map(expanded.claims.leaves.map((l) => [getAddress(l[0]), l]));
    this.recordIndex = new Map(expanded.records.leaves.map((l) => [l[0].toLowerCase(), l]));
  }

  /** The published document as text (decoded on each call: for the closer and the demo, not for serving). */
  get json(): string {
    return this.body.toString("utf8");
  }

  get bytes(): number {
    const nodes = (t: TreeIndex) => t.nodes.length * 70 + t.leaves.length * 150;
    return this.body.byteLength + nodes(this.expanded.claims) + nodes(this.expanded.records);
  }

  /** An account's claim leaf with its proof, or null. */
  claim(account: string): ClaimLeaf | null {
    const leaf = this.claimIndex.get(getAddress(account.toLowerCase()));
    return leaf ? { account: leaf[0], cumulativeAmount: leaf[1], proof: proofAt(this.expanded.claims.nodes, leaf[2]) } : null;
  }

  /** An output's records leaf with its proof, or null. */
  recordLeaf(outputId: string): RecordLeaf | null {
    const leaf = this.recordIndex.get(outputId.toLowerCase());
    return leaf ? { outputId: leaf[0], recordHash: leaf[1], proof: proofAt(this.expanded.records.nodes, leaf[2]) } : null;
  }
}

export class EpochDocuments {
  private readonly cache = new Map<string, ParsedEpoch>();
  private bytes = 0;
  private readonly worker = new EpochWorker();

  constructor(
    private readonly ledger: Ledger,
    /** Total size of the documents and trees kept (default 32 MiB). */
    private readonly maxBytes = 32 * 1024 * 1024,
  ) {}

  /** Builds an epoch in the worker thread (its document in stored form, roots, output ids). */
  build(task: BuildTask): Promise<BuiltEpoch> {
    return this.worker.run({ op: "build", task }, Array.isArray(task.payments) ? [] : blockTransfers(task.payments));
  }

  /** The output ids an epoch row's document covers (parsed in the worker). */
  outputIds(record: EpochRecord): Promise<string[]> {
    return this.worker.run({ op: "outputIds", stored: record.document });
  }

  async parse(record: EpochRecord): Promise<ParsedEpoch> {
    const hit = this.cached(record);
    if (hit) return hit;
    const missing = await this.worker.run({ op: "missingRecords", stored: record.document });
    const records = await this.ledger.getOutputRecords(missing);
    const parsed = new ParsedEpoch(withoutDocument(record), await this.worker.run({ op: "expand", stored: record.document, records }));
    this.remember(cacheKey(record), parsed);
    return parsed;
  }

  /** The epoch's document; a cached one costs a read of the epoch's indexed columns, never of its stored document. */
  async get(splitter: string, epoch: number): Promise<ParsedEpoch | null> {
    const summary = await this.ledger.getEpochSummary(splitter, epoch);
    if (!summary) return null;
    const hit = this.cached(summary);
    if (hit) return hit;
    const record = await this.ledger.getEpoch(splitter, epoch);
    return record ? this.parse(record) : null;
  }

  close(): Promise<void> {
    return this.worker.close();
  }

  private cached(record: EpochSummary | EpochRecord): ParsedEpoch | null {
    const key = cacheKey(record);
    const hit = this.cache.get(key);
    if (!hit) return null;
    this.cache.delete(key); // re-inserted: most recently used last
    this.cache.set(key, hit);
    hit.record = withoutDocument(record); // status / txHash may have moved on; the document has not
    return hit;
  }

  private remember(key: string, parsed: ParsedEpoch): void {
    const bytes = parsed.bytes;
    for (const [oldest, entry] of this.cache) {
      if (this.bytes + bytes <= this.maxBytes) break;
      this.cache.delete(oldest);
      this.bytes -= entry.bytes;
    }
    if (bytes <= this.maxBytes) {
      this.cache.set(key, parsed);
      this.bytes += bytes;
    }
  }
}

const cacheKey = (r: EpochSummary | EpochRecord) => `${r.splitter.toLowerCase()}:${r.epoch}:${r.claimsRoot}:${r.recordsRoot}`;

/** The epoch's row without its stored document (a cached epoch keeps the expanded form only). */
function withoutDocument(r: EpochSummary | EpochRecord): Omit<EpochRecord, "document"> {
  if (!("document" in r)) return r;
  const { document: _stored, ...rest } = r;
  return rest;
}
