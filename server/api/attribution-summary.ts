// The attribution summary a paid answer carries: the record's hash and URL and its top contributors
// (the whole record is at the URL).
import type { AttributionRecord } from "../attribution/index.ts";

const TOP_CONTRIBUTORS = 10;

/** The attribution summary an answer carries (the top contributors, the record's hash and URL). */
export function summary(record: AttributionRecord, outputId: string, recordHash: string, recordUrl: string) {
  const top = [...record.contributors]
    .sort((a, b) => b.ppm - a.ppm || (a.address.toLowerCase() < b.address.toLowerCase() ? -1 : 1))
    .slice(0, TOP_CONTRIBUTORS);
  return {
    outputId,
    recordHash,
    recordUrl,
    indexRoot: record.indexRoot,
    algorithm: record.algorithm,
    contributors: top.map((c) => ({ address: c.address, ppm: c.ppm })),
    contributorCount: record.contributors.length,
    unattributedPpm: record.unattributedPpm,
  };
}
