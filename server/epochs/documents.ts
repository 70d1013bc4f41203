// Parsed epoch documents, cached: contributor and record lookups (leaves and proofs) are served
// from the document the ledger holds for a posted epoch, which never changes once posted.
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
  private readonly cache = new Map<string, ParsedEpoch>();

  constructor(
    private readonly ledger: Ledger,
    private readonly max = 64,
  ) {}

  parse(record: EpochRecord): ParsedEpoch {
    const key = `${record.splitter.toLowerCase()}:${record.epoch}:${record.claimsRoot}:${record.recordsRoot}`;
    const hit = this.cache.get(key);
    if (hit) {
      hit.record = record; // status / txHash may have moved on; the document has not
      return hit;
    }
    const doc = JSON.parse(record.document) as EpochDocument;
    const parsed: ParsedEpoch = {
      record,
      doc,
      claims: new Map(doc.claims.leaves.map((l) => [getAddress(l.account), l])),
      records: new Map(doc.records.leaves.map((l) => [l.outputId.toLowerCase(), l])),
    };
    if (this.cache.size >= this.max) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, parsed);
    return parsed;
  }

  async get(splitter: string, epoch: number): Promise<ParsedEpoch | null> {
    const record = await this.ledger.getEpoch(splitter, epoch);
    return record ? this.parse(record) : null;
  }
}
