// Epoch aggregation: from an epoch's settled payments and their attribution records to the
// cumulative claims tree the splitter pays against.
//
// Definitions (all integer, amounts in token units):
//   contributorPool(T) = T - floor(T*(ownerBps+protocolBps)/10000)
//     (RoyaltySplitter._pool: both cuts floored together, their dust stays with contributors)
//   cumulativeReceived  = sum of all settled payment amounts in the ledger, through this epoch, unless the
//                         input gives `received` (what the splitter received on-chain): then that. Less than
//                         the payments (a fee-on-transfer token): the pool is built on what arrived. More
//                         (third-party payments without an output, e.g. a plain x402 transfer): the excess
//                         is unattributed revenue, weighted to the model owner (excess * 1e6, as ppm).
//   epochPool           = max(0, contributorPool(cumulativeReceived) - previous cumulativeAllocated)
//   weight(account)     = sum over payments p of amount_p * ppm_p(account), where the model owner
//                         also gets amount_p * unattributedPpm_p (the unattributed remainder)
//   epoch amounts       = largest-remainder split of epochPool by weight (ties: lower address),
//                         so they add up to epochPool exactly
//   cumulativeAmount    = previous cumulative amount + epoch amount, per account
//   cumulativeAllocated = sum of all leaves' cumulativeAmount (<= contributorPool on-chain)
// Claims tree: StandardMerkleTree over (address account, uint256 cumulativeAmount), one leaf per
// account with a non-zero cumulative amount. Records tree: StandardMerkleTree over
// (bytes32 outputId, bytes32 recordHash), one leaf per payment of the epoch; recordHash =
// keccak256 of the record's canonical JSON. An empty tree has root 0x00…00.
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { ZeroHash } from "ethers";
import { normalizeAddress } from "../attribution/address.ts";
import { apportion } from "../attribution/apportion.ts";
import { AttributionError } from "../attribution/errors.ts";
import { hashRecord, validateRecord, type AttributionRecord } from "../attribution/record.ts";
import { BPS, fixedCuts } from "../util/cuts.ts";
import { allProofs } from "./proofs.ts";

export const EPOCH_FORMAT = "royalty402-epoch/v1";
const CLAIMS_LEAF_ENCODING = ["address", "uint256"];
export const RECORDS_LEAF_ENCODING = ["bytes32", "bytes32"];

export interface EpochPayment {
  outputId: string; // bytes32 hex
  amount: bigint;
  record: AttributionRecord;
}

export interface PreviousEpochState {
  epoch: number; // 0 when there was none
  cumulativeReceived: bigint;
  cumulativeAllocated: bigint;
  /** Cumulative amount per account (checksummed address). */
  totals: ReadonlyMap<string, bigint>;
}

export interface EpochInput {
  epoch: number;
  ownerBps: number;
  protocolBps: number;
  modelOwner: string;
  payments: readonly EpochPayment[];
  previous?: PreviousEpochState | null;
  chainId?: bigint | number | null;
  splitter?: string | null;
  /** Output (and prompt) texts to publish so anyone holding the datanet can recompute the records. */
  texts?: Readonly<Record<string, { output: string; prompt?: string | null }>>;
  /** Cumulative amount the splitter received on-chain at close (default: previous + the payments). */
  received?: bigint | null;
  /** The channel links (ChannelOutputsPaid) that paid for outputs of this epoch, published for verification. */
  channelLinks?: readonly ChannelLinkLeaves[];
}

/**
 * A sweep's ChannelOutputsPaid, as its transaction and every leaf (outputId, amount, recordHash) of the Merkle
 * root it emitted, including leaves of outputs allocated in other epochs: a verifier recomputes the root.
 */
export interface ChannelLinkLeaves {
  transaction: string;
  leaves: Array<{ outputId: string; amount: string; recordHash: string }>;
}

export interface ClaimLeaf {
  account: string;
  cumulativeAmount: string;
  proof: string[];
}

export interface RecordLeaf {
  outputId: string;
  recordHash: string;
  proof: string[];
}

export interface EpochDocument {
  format: string;
  epoch: number;
  chainId: string | null;
  splitter: string | null;
  modelOwner: string;
  ownerBps: number;
  protocolBps: number;
  previous: {
    epoch: number;
    cumulativeReceived: string;
    cumulativeAllocated: string;
    totals: Array<{ account: string; cumulativeAmount: string }>;
  };
  cumulativeReceived: string;
  contributorPool: string;
  epochPool: string;
  payments: Array<{ outputId: string; amount: string; recordHash: string; record: AttributionRecord }>;
  allocations: Array<{ account: string; weight: string; amount: string }>;
  cumulativeAllocated: string;
  claims: { root: string; leafEncoding: string[]; leaves: ClaimLeaf[] };
  records: { root: string; leafEncoding: string[]; leaves: RecordLeaf[] };
  texts?: Record<string, { output: string; prompt?: string | null }>;
  channelLinks?: ChannelLinkLeaves[];
}

export const NO_PREVIOUS_EPOCH: PreviousEpochState = { epoch: 0, cumulativeReceived: 0n, cumulativeAllocated: 0n, totals: new Map() };

function bad(why: string): never {
  throw new AttributionError("invalid_epoch_input", why);
}

function checkBps(name: string, v: number): bigint {
  if (!Number.isSafeInteger(v) || v < 0 || v > 10_000) bad(`${name} must be an integer in [0, 10000]`);
  return BigInt(v);
}

/** RoyaltySplitter._pool: what contributors may be allocated out of `received` in total (monotone in `received`). */
export function contributorPool(received: bigint, ownerBps: number, protocolBps: number): bigint {
  const ob = checkBps("ownerBps", ownerBps);
  const pb = checkBps("protocolBps", protocolBps);
  if (ob + pb > BPS) bad("ownerBps + protocolBps exceed 10000");
  // Both cuts floored together, as the contract does, so the pool never shrinks as revenue grows.
  return fixedCuts(received, ob, pb).pool;
}

const byAddress = (a: string, b: string) => (a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0);

function checkBytes32(name: string, v: unknown): string {
  if (typeof v !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(v)) bad(`${name} must be a 0x-prefixed 32-byte hex string`);
  return (v as string).toLowerCase();
}

/** Computes the epoch: allocations, cumulative leaves, both trees with a proof per leaf. */
export function buildEpoch(input: EpochInput): EpochDocument {
  if (!Number.isSafeInteger(input.epoch) || input.epoch < 1) bad("epoch must be a positive integer");
  const prev = input.previous ?? NO_PREVIOUS_EPOCH;
  if (input.epoch !== prev.epoch + 1) bad(`epoch ${input.epoch} does not follow epoch ${prev.epoch}`);
  const modelOwner = normalizeAddress(input.modelOwner);
  if (!Array.isArray(input.payments)) bad("payments must be an array");

  // Payments: validated, unique output ids, canonical record hashes.
  const seen = new Set<string>();
  let received = 0n;
  const payments = input.payments.map((p, i) => {
    const outputId = checkBytes32(`payments[${i}].outputId`, p?.outputId);
    if (seen.has(outputId)) throw new AttributionError("duplicate_output", `output ${outputId} is paid twice in this epoch`);
    seen.add(outputId);
    if (typeof p.amount !== "bigint" || p.amount <= 0n)
      throw new AttributionError("invalid_payment", `payments[${i}].amount must be a positive bigint`);
    const record = validateRecord(p.record);
    received += p.amount;
    return { outputId, amount: p.amount, record, recordHash: hashRecord(record) };
  });
  payments.sort((a, b) => (a.outputId < b.outputId ? -1 : a.outputId > b.outputId ? 1 : 0));

  // The epoch's share of the contributor pool.
  if (prev.cumulativeReceived < 0n || prev.cumulativeAllocated < 0n) bad("previous totals must be non-negative");
  const paid = prev.cumulativeReceived + received;
  const cumulativeReceived = input.received ?? paid;
  if (cumulativeReceived < prev.cumulativeReceived) bad("received must not be below the previous cumulativeReceived");
  const pool = contributorPool(cumulativeReceived, input.ownerBps, input.protocolBps);
  const epochPool = pool > prev.cumulativeAllocated ? pool - prev.cumulativeAllocated : 0n;

  // Weights: amount * ppm per account; the unattributed part goes to the model owner.
  const weights = new Map<string, bigint>();
  const add = (account: string, w: bigint) => weights.set(account, (weights.get(account) ?? 0n) + w);
  for (const p of payments) {
    for (const c of p.record.contributors) if (c.ppm > 0) add(c.address, p.amount * BigInt(c.ppm));
    if (p.record.unattributedPpm > 0) add(modelOwner, p.amount * BigInt(p.record.unattributedPpm));
  }
  if (cumulativeReceived > paid) add(modelOwner, (cumulativeReceived - paid) * 1_000_000n); // third-party revenue
  const accounts = [...weights.keys()].sort(byAddress);
  let amounts: Map<string, bigint>;
  if (accounts.length === 0) {
    // No payments but pool growth (only possible through rounding of the cuts): the owner's leaf.
    amounts = new Map(epochPool > 0n ? [[modelOwner, epochPool]] : []);
    if (epochPool > 0n) weights.set(modelOwner, 0n);
  } else {
    const byKey = apportion(
      epochPool,
      accounts.map((a) => ({ key: a.toLowerCase(), weight: weights.get(a)! })),
    );
    amounts = new Map(accounts.map((a) => [a, byKey.get(a.toLowerCase())!]));
  }

  // Cumulative totals and the claims tree.
  const totals = new Map<string, bigint>();
  for (const [a, v] of prev.totals) {
    if (v < 0n) bad(`previous total of ${a} is negative`);
    const k = normalizeAddress(a);
    totals.set(k, (totals.get(k) ?? 0n) + v);
  }
  for (const [a, v] of amounts) totals.set(a, (totals.get(a) ?? 0n) + v);
  const leafAccounts = [...totals.keys()].filter((a) => totals.get(a)! > 0n).sort(byAddress);
  const claimValues = leafAccounts.map((a) => [a, totals.get(a)!.toString()] as [string, string]);
  let cumulativeAllocated = 0n;
  for (const a of leafAccounts) cumulativeAllocated += totals.get(a)!;
  if (cumulativeAllocated !== prev.cumulativeAllocated + epochPool) {
    bad(`previous totals add up to ${cumulativeAllocated - epochPool}, not the previous cumulativeAllocated ${prev.cumulativeAllocated}`);
  }
  const claimsTree = claimValues.length > 0 ? StandardMerkleTree.of(claimValues, CLAIMS_LEAF_ENCODING) : null;
  const recordValues = payments.map((p) => [p.outputId, p.recordHash] as [string, string]);
  const recordsTree = recordValues.length > 0 ? StandardMerkleTree.of(recordValues, RECORDS_LEAF_ENCODING) : null;
  const claimProofs = claimsTree ? allProofs(claimsTree) : [];
  const recordProofs = recordsTree ? allProofs(recordsTree) : [];

  const doc: EpochDocument = {
    format: EPOCH_FORMAT,
    epoch: input.epoch,
    chainId: input.chainId == null ? null : BigInt(input.chainId).toString(),
    splitter: input.splitter == null ? null : normalizeAddress(input.splitter),
    modelOwner,
    ownerBps: input.ownerBps,
    protocolBps: input.protocolBps,
    previous: {
      epoch: prev.epoch,
      cumulativeReceived: prev.cumulativeReceived.toString(),
      cumulativeAllocated: prev.cumulativeAllocated.toString(),
      totals: [...prev.totals.entries()]
        .filter(([, v]) => v > 0n)
        .map(([a, v]) => ({ account: normalizeAddress(a), cumulativeAmount: v.toString() }))
        .sort((x, y) => byAddress(x.account, y.account)),
    },
    cumulativeReceived: cumulativeReceived.toString(),
    contributorPool: pool.toString(),
    epochPool: epochPool.toString(),
    payments: payments.map((p) => ({ outputId: p.outputId, amount: p.amount.toString(), recordHash: p.recordHash, record: p.record })),
    allocations: [...amounts.keys()]
      .sort(byAddress)
      .map((a) => ({ account: a, weight: weights.get(a)!.toString(), amount: amounts.get(a)!.toString() })),
    cumulativeAllocated: cumulativeAllocated.toString(),
    claims: {
      root: claimsTree?.root ?? ZeroHash,
      leafEncoding: CLAIMS_LEAF_ENCODING,
      leaves: claimValues.map(([account, cumulativeAmount], i) => ({ account, cumulativeAmount, proof: claimProofs[i] })),
    },
    records: {
      root: recordsTree?.root ?? ZeroHash,
      leafEncoding: RECORDS_LEAF_ENCODING,
      leaves: recordValues.map(([outputId, recordHash], i) => ({ outputId, recordHash, proof: recordProofs[i] })),
    },
  };
  if (input.texts !== undefined) {
    const texts: Record<string, { output: string; prompt?: string | null }> = {};
    for (const [id, t] of Object.entries(input.texts)) {
      const key = checkBytes32(`texts key`, id);
      if (!seen.has(key)) continue;
      texts[key] = t.prompt == null ? { output: t.output } : { output: t.output, prompt: t.prompt };
    }
    doc.texts = texts;
  }
  if (input.channelLinks !== undefined) doc.channelLinks = normalizedLinks(input.channelLinks);
  return doc;
}

/** Links in transaction order, each with its leaves in output id order, hex in lower case. */
function normalizedLinks(links: readonly ChannelLinkLeaves[]): ChannelLinkLeaves[] {
  const lower = (v: string) => v.toLowerCase();
  return links
    .map((l) => ({
      transaction: lower(l.transaction),
      leaves: l.leaves
        .map((leaf) => ({ outputId: lower(leaf.outputId), amount: BigInt(leaf.amount).toString(), recordHash: lower(leaf.recordHash) }))
        .sort((a, b) => (a.outputId < b.outputId ? -1 : a.outputId > b.outputId ? 1 : 0)),
    }))
    .sort((a, b) => (a.transaction < b.transaction ? -1 : a.transaction > b.transaction ? 1 : 0));
}

/** The state the next epoch starts from. */
export function nextPreviousState(doc: EpochDocument): PreviousEpochState {
  return {
    epoch: doc.epoch,
    cumulativeReceived: BigInt(doc.cumulativeReceived),
    cumulativeAllocated: BigInt(doc.cumulativeAllocated),
    totals: new Map(doc.claims.leaves.map((l) => [l.account, BigInt(l.cumulativeAmount)])),
  };
}

/** The inputs a document was computed from (for recomputation by a verifier). */
export function epochInputOf(doc: EpochDocument): EpochInput {
  return {
    epoch: doc.epoch,
    ownerBps: doc.ownerBps,
    protocolBps: doc.protocolBps,
    modelOwner: doc.modelOwner,
    chainId: doc.chainId === null ? null : BigInt(doc.chainId),
    splitter: doc.splitter,
    payments: doc.payments.map((p) => ({ outputId: p.outputId, amount: BigInt(p.amount), record: p.record })),
    previous: {
      epoch: doc.previous.epoch,
      cumulativeReceived: BigInt(doc.previous.cumulativeReceived),
      cumulativeAllocated: BigInt(doc.previous.cumulativeAllocated),
      totals: new Map(doc.previous.totals.map((t) => [t.account, BigInt(t.cumulativeAmount)])),
    },
    texts: doc.texts,
    received: BigInt(doc.cumulativeReceived),
    ...(doc.channelLinks ? { channelLinks: doc.channelLinks } : {}),
  };
}

/** The leaf and proof an account claims with, or null if it has none. */
export function claimOf(doc: EpochDocument, account: string): ClaimLeaf | null {
  const a = normalizeAddress(account);
  return doc.claims.leaves.find((l) => l.account === a) ?? null;
}
