// The public export of an open datanet: its contributions in registration order as JSON Lines
// (`{"contentHash","contributor","seq","text"}`, datanet.ts's format), addressed by the keccak256
// of its bytes. The index is a pure function of this list (plus minCopyTokens): its
// contributions.json lists every contribution's seq, contributor and contentHash (the keccak256
// of its text), and indexRoot commits to that file and to every array built from the texts. So
// anyone can rebuild the index from the export, compare its indexRoot with a record's, and
// recompute the record. A datanet that sells access to its texts does not publish them.
import { keccak256, toUtf8Bytes } from "ethers";
import { normalizeAddress } from "../attribution/address.ts";
import { buildIndex, type SuffixIndex } from "../attribution/index.ts";
import type { DatanetConfig } from "../config/index.ts";
import { contributionLine, parseDatanet } from "./datanet.ts";

export interface DatanetExport {
  /** JSON Lines, one contribution per line, registration order. */
  body: string;
  /** keccak256 of the UTF-8 body: the export's content address. */
  hash: string;
  contributions: number;
  /** The index built from exactly these contributions, when this server built it. */
  indexRoot: string | null;
  minCopyTokens: number;
}

/** HTTP headers that carry an export's address and what it rebuilds. */
export const EXPORT_HEADERS = {
  hash: "x-royalty402-export-hash",
  indexRoot: "x-royalty402-index-root",
  minCopyTokens: "x-royalty402-min-copy-tokens",
} as const;

export function exportBody(rows: ReadonlyArray<{ contentHash: string; contributor: string; seq: number; text: string }>): string {
  return rows.map((r) => contributionLine({ ...r, contributor: normalizeAddress(r.contributor) }) + "\n").join("");
}

export function exportHash(body: string): string {
  return keccak256(toUtf8Bytes(body));
}

/** Open datanets publish their texts; one that sells access to them (config `access`: search or documents) keeps them private. */
export function publishesTexts(config: Pick<DatanetConfig, "access">): boolean {
  return config.access === null;
}

/** Rebuilds the index from an export (every line re-validated, every contentHash checked). */
export function indexFromExport(body: string, source: string, minCopyTokens: number): SuffixIndex {
  return buildIndex(parseDatanet(body, source), { minCopyTokens }).index;
}
