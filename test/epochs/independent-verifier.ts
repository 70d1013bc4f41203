// An outsider's epoch verifier, written from docs/VERIFYING.md alone: it imports nothing from
// this project (only viem and @openzeppelin/merkle-tree), so it checks the page as much as the
// server. Given public data (the chain and the published epoch documents) it recomputes an
// epoch and says whether the chain holds exactly that.
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { getAddress, keccak256, parseAbiItem, stringToBytes, type Address, type Hex, type PublicClient } from "viem";

type Doc = any;

const ZERO_ROOT = `0x${"0".repeat(64)}`;
const PPM = 1_000_000n;

/** Section 3: canonical JSON. */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export const recordHash = (record: unknown): Hex => keccak256(stringToBytes(canonicalJson(record)));

/** Section 4: both cuts floored together. */
export function pool(received: bigint, ownerBps: number, protocolBps: number): bigint {
  const fees = (received * BigInt(ownerBps + protocolBps)) / 10_000n;
  return received - fees;
}

/** Section 5: largest remainder, ties by lower-case address. */
function shares(total: bigint, weights: Map<string, bigint>): Map<string, bigint> {
  const W = [...weights.values()].reduce((a, b) => a + b, 0n);
  const out = new Map<string, bigint>();
  const rest: Array<[string, bigint]> = [];
  let given = 0n;
  for (const [account, w] of weights) {
    out.set(account, (total * w) / W);
    given += (total * w) / W;
    rest.push([account, (total * w) % W]);
  }
  rest.sort(([a, ra], [b, rb]) => (ra !== rb ? (ra > rb ? -1 : 1) : a.toLowerCase() < b.toLowerCase() ? -1 : 1));
  for (let i = 0; given < total; i++, given++) out.set(rest[i][0], out.get(rest[i][0])! + 1n);
  return out;
}

export interface Recomputed {
  claimsRoot: string;
  recordsRoot: string;
  cumulativeAllocated: bigint;
  epochPool: bigint;
  amounts: Map<string, bigint>;
  totals: Map<string, bigint>;
}

/** Sections 4–7, from the document's inputs and the previous epoch's document (null for epoch 1). */
export function recompute(doc: Doc, previousDoc: Doc | null): Recomputed {
  const prevReceived = previousDoc ? BigInt(previousDoc.cumulativeReceived) : 0n;
  const prevAllocated = previousDoc ? BigInt(previousDoc.cumulativeAllocated) : 0n;
  const prevTotals = new Map<string, bigint>(
    (previousDoc?.claims.leaves ?? []).map((l: any) => [getAddress(l.account), BigInt(l.cumulativeAmount)]),
  );
  const received = BigInt(doc.cumulativeReceived);
  const epochPool =
    pool(received, doc.ownerBps, doc.protocolBps) > prevAllocated ? pool(received, doc.ownerBps, doc.protocolBps) - prevAllocated : 0n;
  const owner = getAddress(doc.modelOwner);

  const weights = new Map<string, bigint>();
  const add = (account: string, w: bigint) => w > 0n && weights.set(getAddress(account), (weights.get(getAddress(account)) ?? 0n) + w);
  let paid = 0n;
  for (const p of doc.payments) {
    const amount = BigInt(p.amount);
    paid += amount;
    for (const c of p.record.contributors) add(c.address, amount * BigInt(c.ppm));
    add(owner, amount * BigInt(p.record.unattributedPpm));
  }
  const thirdParty = received - prevReceived - paid;
  if (thirdParty > 0n) add(owner, thirdParty * PPM);
  const amounts = weights.size > 0 ? shares(epochPool, weights) : new Map(epochPool > 0n ? [[owner, epochPool]] : []);

  const totals = new Map(prevTotals);
  for (const [account, amount] of amounts) totals.set(account, (totals.get(account) ?? 0n) + amount);
  const leaves = [...totals].filter(([, v]) => v > 0n).map(([a, v]) => [a, v.toString()]);
  const records = doc.payments.map((p: any) => [p.outputId, recordHash(p.record)]);
  return {
    claimsRoot: leaves.length ? StandardMerkleTree.of(leaves, ["address", "uint256"]).root : ZERO_ROOT,
    recordsRoot: records.length ? StandardMerkleTree.of(records, ["bytes32", "bytes32"]).root : ZERO_ROOT,
    cumulativeAllocated: [...totals.values()].reduce((a, b) => a + b, 0n),
    epochPool,
    amounts,
    totals,
  };
}

// Split to fit the line width; `as const` keeps the literal type viem needs to type the event's args.
const EPOCH_POSTED_FIELDS = "bytes32 claimsRoot, uint256 cumulativeAllocated, bytes32 recordsRoot, string uri, uint64 activeAt";
const EPOCH_POSTED = parseAbiItem(`event EpochPosted(uint256 indexed epoch, ${EPOCH_POSTED_FIELDS})` as const);
const PAYMENT_SETTLED = parseAbiItem(
  "event PaymentSettled(bytes32 indexed outputId, address indexed payer, uint256 amount, bytes32 nonce, bytes32 attributionRoot)",
);

/** Section 1: the latest posting of `epoch`. */
export async function postedEpoch(client: PublicClient, splitter: Address, epoch: number) {
  const logs = await client.getLogs({ address: splitter, event: EPOCH_POSTED, args: { epoch: BigInt(epoch) }, fromBlock: 0n });
  const last = logs.at(-1);
  return last ? { ...last.args, blockNumber: last.blockNumber } : null;
}

/** Section 2: every PaymentSettled of the splitter, by output id. */
export async function settledPayments(client: PublicClient, splitter: Address) {
  const logs = await client.getLogs({ address: splitter, event: PAYMENT_SETTLED, fromBlock: 0n });
  return new Map(
    logs.map((l) => [l.args.outputId!.toLowerCase(), { amount: l.args.amount!, attributionRoot: l.args.attributionRoot!.toLowerCase() }]),
  );
}
