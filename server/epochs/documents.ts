// Parsed epoch documents, cached: contributor and record lookups (leaves and proofs) are served
// from the document the ledger holds for a posted epoch, which never changes once posted.
// The cache is bounded by the documents' size (least recently used out first), not by their
// count: one epoch of 10,000 outputs weighs as much as hundreds of small ones.
import { getAddress } from "ethers";
import type { ClaimLeaf, EpochDocument, RecordLeaf } from "./build.ts";
import type { EpochRecord, Ledger } from "../ledger/index.ts";

export interface ParsedEpoch {
  record: EpochRecord;
  doc: EpochDocument;
  claims: Map<string, ClaimLeaf>; // by checksummed address
  records: Map<string, RecordLeaf>; // by lower-case output id
}

export class EpochDocuments {
  private readonly cache = new Map<string, { parsed: ParsedEpoch; bytes: number }>();
  private bytes = 0;

  constructor(
    private readonly ledger: Ledger,
    /** Total document text kept parsed (default 32 MiB). */
    private readonly maxBytes = 32 * 1024 * 1024,
  ) {}

  parse(record: EpochRecord): ParsedEpoch {
    const key = `${record.splitter.toLowerCase()}:${record.epoch}:${record.claimsRoot}:${record.recordsRoot}`;
    const hit = this.cache.get(key);
    if (hit) {
      this.cache.delete(key); // re-inserted below: most recently used last
      this.cache.set(key, hit);
      hit.parsed.record = record; // status / txHash may have moved on; the document has not
      return hit.parsed;
    }
    const doc = JSON.parse(record.document) as EpochDocument;
    const parsed: ParsedEpoch = {
      record,
      doc,
      claims: new Map(doc.claims.leaves.map((l) => [getAddress(l.account), l])),
      records: new Map(doc.records.leaves.map((l) => [l.outputId.toLowerCase(), l])),
    };
    const bytes = record.document.length;
    for (const [oldest, entry] of this.cache) {
      if (this.bytes + bytes <= this.maxBytes) break;
      this.cache.delete(oldest);
      this.bytes -= entry.bytes;
    }
    if (bytes <= this.maxBytes) {
      this.cache.set(key, { parsed, bytes });
      this.bytes += bytes;
    }
    return parsed;
  }

  async get(splitter: string, epoch: number): Promise<ParsedEpoch | null> {
    const record = await this.ledger.getEpoch(splitter, epoch);
    return record ? this.parse(record) : null;
  }
}
