// indexRoot: a function of the ordered contribution list (seq, contributor, contentHash, token
// count) and the build parameters only, never of how the index is laid out or segmented. So a
// main index plus a delta of new contributions, the merged index and an outsider's one-pass build
// from the export all name the same root. It commits to the texts through each contentHash
// (keccak256 of the text, checked when an export is read).
import { createHash } from "node:crypto";
import { canonicalHash, canonicalJson } from "./canonical.ts";
import type { ContributionMeta, IndexParams } from "./suffix-index.ts";

/** Names this definition of the root (the file-based root before it was "royalty402-index/v1"). */
const INDEX_ROOT_FORMAT = "royalty402-index-root/v2";

/** sha256 of contributions.json (canonical JSON of the list): the contribution list's digest. */
export function contributionsDigest(contributions: readonly ContributionMeta[]): string {
  return createHash("sha256").update(canonicalJson(contributions), "utf8").digest("hex");
}

/** The root from its parts (loadIndex rebuilds it from a manifest without parsing the list). */
export function indexRootFromDigest(params: IndexParams, contributionCount: number, tokenCount: number, digest: string): string {
  return canonicalHash({ format: INDEX_ROOT_FORMAT, params, contributionCount, tokenCount, contributions: digest });
}

/** indexRoot of these contributions, in this order (tokenCount counts one separator per contribution). */
export function indexRootOf(params: IndexParams, contributions: readonly ContributionMeta[]): string {
  let tokenCount = 0;
  for (const c of contributions) tokenCount += c.tokens + 1;
  return indexRootFromDigest(params, contributions.length, tokenCount, contributionsDigest(contributions));
}
