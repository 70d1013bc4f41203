// Largest-remainder apportionment in exact integer arithmetic: divides `total` units over
// weighted keys so the parts add up to `total` exactly. Each key first gets
// floor(total * w / W); the units left over go one each to the largest remainders, ties
// broken by key (ascending), so the result depends only on the input set, never its order.
import { AttributionError } from "./errors.ts";
import { PPM, type ContributorShare } from "./record.ts";

export interface Weighted {
  key: string;
  weight: bigint;
}

export function apportion(total: bigint, items: readonly Weighted[]): Map<string, bigint> {
  if (total < 0n) throw new AttributionError("invalid_epoch_input", "cannot apportion a negative total");
  let W = 0n;
  const seen = new Set<string>();
  for (const it of items) {
    if (it.weight < 0n) throw new AttributionError("invalid_epoch_input", `negative weight for ${it.key}`);
    if (seen.has(it.key)) throw new AttributionError("invalid_epoch_input", `duplicate key ${it.key}`);
    seen.add(it.key);
    W += it.weight;
  }
  const out = new Map<string, bigint>();
  if (W === 0n) {
    if (total !== 0n) throw new AttributionError("invalid_epoch_input", "cannot apportion a positive total over zero weight");
    for (const it of items) out.set(it.key, 0n);
    return out;
  }
  let given = 0n;
  const rema: Array<{ key: string; rem: bigint }> = [];
  for (const it of items) {
    const q = (total * it.weight) / W;
    out.set(it.key, q);
    given += q;
    rema.push({ key: it.key, rem: (total * it.weight) % W });
  }
  let left = total - given; // < number of items with a non-zero remainder
  rema.sort((a, b) => (a.rem > b.rem ? -1 : a.rem < b.rem ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let i = 0; left > 0n; i++, left--) {
    const k = rema[i].key;
    out.set(k, out.get(k)! + 1n);
  }
  return out;
}

/**
 * A record's contributors sorted by address, each with its share of PPM by weight, and the
 * unattributed remainder (the output's weight no contributor is credited with). Every
 * attribution algorithm ends with this, so records of any version split the same way.
 */
export function sharesInPpm(
  shares: Iterable<ContributorShare>,
  totalWeight: number,
  creditedWeight: number,
): { contributors: ContributorShare[]; unattributedPpm: number } {
  const contributors = [...shares].sort((a, b) => (a.address.toLowerCase() < b.address.toLowerCase() ? -1 : 1));
  if (totalWeight <= 0) return { contributors, unattributedPpm: PPM };
  const parts = apportion(BigInt(PPM), [
    ...contributors.map((c) => ({ key: c.address.toLowerCase(), weight: BigInt(c.weight) })),
    { key: "unattributed", weight: BigInt(totalWeight - creditedWeight) },
  ]);
  for (const c of contributors) c.ppm = Number(parts.get(c.address.toLowerCase()));
  return { contributors, unattributedPpm: Number(parts.get("unattributed")) };
}
