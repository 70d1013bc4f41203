// The attribution record: what one model output owes to which contributors, and why. Its
// canonical JSON is what gets hashed (recordHash), stored, served and committed on-chain.
import { canonicalJson, canonicalHash } from "./canonical.ts";
import { normalizeAddress } from "./address.ts";
import { AttributionError } from "./errors.ts";

export const ATTRIBUTION_ALGORITHM = "royalty402/verbatim-span-surprisal/v1";
export const PPM = 1_000_000;

/** The parameters a record was computed with; which ones depend on the algorithm version. */
interface AttributionParams {
  /** v1: shortest verbatim span credited, in tokens. */
  minSpanTokens?: number;
  /** v1: spans in more contributions than this are common knowledge. */
  maxContributions?: number;
  tokenizer: string;
  /** How token weights are derived: "surprisal-millibits" (floor(1000*log2((N+V)/(count+1)))). */
  weighting: string;
  /** v2 parameters (see near-verbatim.ts). */
  [name: string]: string | number | undefined;
}

/** Output tokens [start, end) credited to one contribution, at [contributionStart, contributionEnd) in it. */
export interface AttributionSegment {
  start: number;
  end: number;
  contribution: number; // seq of the credited contribution
  contributor: string;
  contributionStart: number;
  contributionEnd: number;
}

/** A maximal verbatim span of the output, [start, end) in output tokens. */
export interface AttributionSpan {
  start: number;
  end: number;
  /** Distinct contributions containing the span (counted up to maxContributions + 1). */
  contributions: number;
  /** Skipped as common knowledge (in more than maxContributions contributions). */
  common: boolean;
  segments: AttributionSegment[];
}

export interface ContributorShare {
  address: string;
  ppm: number;
  /** Sum of the surprisal (milli-bits) of the output tokens credited to this contributor. */
  weight: number;
  tokens: number;
}

export interface AttributionRecord {
  algorithm: string;
  params: AttributionParams;
  indexRoot: string;
  outputHash: string;
  promptHash: string | null;
  outputTokens: number;
  totalWeight: number;
  /** Sorted by address (lower-case order). */
  contributors: ContributorShare[];
  unattributedPpm: number;
  unattributedWeight: number;
  unattributedTokens: number;
  /** Output token ranges [start, end) masked because they also appear in the prompt. */
  masked: Array<[number, number]>;
  spans: AttributionSpan[];
  /** Retrieval-grounded records only: the passages retrieved for the prompt (retrieval.ts). */
  retrieved?: Array<{ contribution: number; contributor: string; wordStart: number; wordEnd: number; scoreMicros: number }>;
}

export function serializeRecord(record: AttributionRecord): string {
  return canonicalJson(record);
}

export function hashRecord(record: AttributionRecord): string {
  return canonicalHash(record);
}

function isUint(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Checks the parts of a record that payments depend on (shares, ppm arithmetic, addresses) and
 * returns it typed. Throws invalid_record with the reason.
 */
export function validateRecord(value: unknown): AttributionRecord {
  const bad = (why: string): never => {
    throw new AttributionError("invalid_record", why);
  };
  if (value === null || typeof value !== "object" || Array.isArray(value)) bad("record must be an object");
  const r = value as AttributionRecord;
  if (typeof r.algorithm !== "string") bad("algorithm missing");
  if (typeof r.indexRoot !== "string" || !/^0x[0-9a-f]{64}$/.test(r.indexRoot)) bad("indexRoot must be a 32-byte hex string");
  if (!Array.isArray(r.contributors)) bad("contributors must be an array");
  if (!isUint(r.unattributedPpm) || r.unattributedPpm > PPM) bad("unattributedPpm must be an integer in [0, 1000000]");
  let sum = r.unattributedPpm;
  let prev = "";
  for (const c of r.contributors) {
    if (c === null || typeof c !== "object") bad("contributor entry must be an object");
    let addr: string;
    try {
      addr = normalizeAddress(c.address);
    } catch {
      return bad(`invalid contributor address ${String(c.address)}`);
    }
    if (addr !== c.address) bad(`contributor address ${c.address} is not checksummed`);
    const key = addr.toLowerCase();
    if (key <= prev) bad("contributors must be sorted by address without duplicates");
    prev = key;
    if (!isUint(c.ppm)) bad(`ppm of ${addr} must be a non-negative integer`);
    sum += c.ppm;
  }
  if (sum !== PPM) bad(`ppm shares add up to ${sum}, not ${PPM}`);
  return r;
}

/** Parses a record from JSON text; `requireCanonical` also insists the text is its canonical form. */
export function parseRecord(json: string, requireCanonical = false): AttributionRecord {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw new AttributionError("invalid_json", `record is not JSON: ${(e as Error).message}`);
  }
  const record = validateRecord(value);
  if (requireCanonical && canonicalJson(record) !== json)
    throw new AttributionError("invalid_record", "record JSON is not in canonical form");
  return record;
}
