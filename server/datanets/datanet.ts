// The datanet store: contributions in registration order. Registration order decides who
// is paid for text that several contributors submitted (first registered wins), so it is
// explicit (`seq`) and never inferred from insertion timing.
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { normalizeAddress } from "../attribution/address.ts";
import { textHash } from "../attribution/canonical.ts";
import { AttributionError } from "../attribution/errors.ts";
import { isWellFormedText, normalizeText } from "../attribution/tokenizer.ts";

export interface ContributionInput {
  contributor: string;
  text: string;
  /** Registration order; defaults to one past the highest registered so far. */
  seq?: number;
}

export interface Contribution {
  seq: number;
  /** EIP-55 checksummed address. */
  contributor: string;
  /** NFC-normalised text. */
  text: string;
  /** keccak256 of the NFC UTF-8 text. */
  contentHash: string;
}

function contentHashOf(text: string): string {
  return textHash(text);
}

export class Datanet {
  private readonly items: Contribution[] = [];
  private readonly bySeq = new Map<number, Contribution>();
  private readonly firstByHash = new Map<string, Contribution>();
  private sorted = true;
  private maxSeq = -1;

  static from(inputs: Iterable<ContributionInput>): Datanet {
    const d = new Datanet();
    for (const c of inputs) d.add(c);
    return d;
  }

  add(input: ContributionInput): Contribution {
    if (input === null || typeof input !== "object") {
      throw new AttributionError("invalid_contribution", "contribution must be an object");
    }
    const contributor = normalizeAddress(input.contributor);
    if (!isWellFormedText(input.text)) {
      throw new AttributionError("invalid_contribution", "text must be a well-formed string");
    }
    const text = normalizeText(input.text);
    if (text.length === 0) throw new AttributionError("invalid_contribution", "text is empty");
    const seq = input.seq ?? this.maxSeq + 1;
    if (!Number.isSafeInteger(seq) || seq < 0) {
      throw new AttributionError("invalid_contribution", `seq must be a non-negative integer, got ${seq}`);
    }
    if (this.bySeq.has(seq)) throw new AttributionError("duplicate_seq", `seq ${seq} is already registered`);
    const c: Contribution = { seq, contributor, text, contentHash: contentHashOf(text) };
    if (seq < this.maxSeq) this.sorted = false;
    this.maxSeq = Math.max(this.maxSeq, seq);
    this.items.push(c);
    this.bySeq.set(seq, c);
    const first = this.firstByHash.get(c.contentHash);
    if (first === undefined || first.seq > seq) this.firstByHash.set(c.contentHash, c);
    return c;
  }

  /** Contributions in registration order. */
  get contributions(): readonly Contribution[] {
    if (!this.sorted) {
      this.items.sort((a, b) => a.seq - b.seq);
      this.sorted = true;
    }
    return this.items;
  }

  get size(): number {
    return this.items.length;
  }

  get(seq: number): Contribution | undefined {
    return this.bySeq.get(seq);
  }

  /** The earliest registered contribution with this exact text (content hash), if any. */
  firstWithHash(contentHash: string): Contribution | undefined {
    return this.firstByHash.get(contentHash.toLowerCase());
  }

  /** True if an earlier-registered contribution has exactly the same text. */
  isExactDuplicate(c: Contribution): boolean {
    const first = this.firstWithHash(c.contentHash);
    return first !== undefined && first.seq < c.seq;
  }
}

/** One contribution as a JSON line: `{"contentHash","contributor","seq","text"}` (keys in this order). */
export function contributionLine(c: Pick<Contribution, "contentHash" | "contributor" | "seq" | "text">): string {
  return JSON.stringify({ contentHash: c.contentHash, contributor: c.contributor, seq: c.seq, text: c.text });
}

/**
 * Writes the datanet as JSON Lines, one contribution per line in registration order
 * (a portable copy of what the index is built from).
 */
export function saveDatanet(datanet: Datanet, file: string): void {
  const lines = datanet.contributions.map(contributionLine);
  writeFileSync(`${file}.tmp`, lines.join("\n") + (lines.length ? "\n" : ""));
  renameSync(`${file}.tmp`, file);
}

/** Reads a datanet written by saveDatanet; every line is re-validated and its hash checked. */
export function loadDatanet(file: string): Datanet {
  return parseDatanet(readFileSync(file, "utf8"), file);
}

/** Parses JSON Lines of contributions (saveDatanet's format); every line is re-validated and its hash checked. */
export function parseDatanet(text: string, source: string): Datanet {
  const d = new Datanet();
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let row: { seq?: number; contributor?: string; text?: string; contentHash?: string };
    try {
      row = JSON.parse(line);
    } catch {
      throw new AttributionError("invalid_contribution", `${source}:${i + 1} is not JSON`);
    }
    if (row === null || typeof row !== "object") throw new AttributionError("invalid_contribution", `${source}:${i + 1} is not an object`);
    const c = d.add({ seq: row.seq, contributor: row.contributor as string, text: row.text as string });
    if (row.contentHash !== undefined && row.contentHash !== c.contentHash) {
      throw new AttributionError("invalid_contribution", `${source}:${i + 1}: contentHash does not match the text`);
    }
  });
  return d;
}
