// An epoch document as the ledger stores it: once, without what can be derived. The published
// document (build.ts, served at the epoch's uri) adds the proofs (both trees are rebuilt from the
// leaves), the records leaves (the payments' outputId and recordHash, in the same order) and each
// payment's attribution record (kept once, in the outputs table). Older rows hold the whole
// published document; both forms expand to the same published document.
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { ZeroHash } from "ethers";
import type { AttributionRecord } from "../attribution/record.ts";
import type { EpochDocument } from "./build.ts";
import { proofAt } from "./proofs.ts";

type StoredPayment = { outputId: string; amount: string; recordHash: string; record?: AttributionRecord };

interface StoredEpoch extends Omit<EpochDocument, "payments" | "claims" | "records"> {
  payments: StoredPayment[];
  claims: { root: string; leafEncoding: string[]; leaves: Array<{ account: string; cumulativeAmount: string }> };
  records: { root: string; leafEncoding: string[] };
}

/** A tree's nodes and, per leaf, its index among them: any proof is read from these (proofs.ts). */
export interface TreeIndex {
  nodes: string[];
  /** [key, value, tree index] per leaf: key = account (checksummed) or output id (lower case). */
  leaves: Array<[string, string, number]>;
}

export interface ExpandedEpoch {
  /** The published document (JSON). */
  json: string;
  claims: TreeIndex;
  records: TreeIndex;
}

/** The stored form of a published document. */
export function toStored(doc: EpochDocument): string {
  const stored: StoredEpoch = {
    ...doc,
    payments: doc.payments.map((p) => ({ outputId: p.outputId, amount: p.amount, recordHash: p.recordHash })),
    claims: {
      root: doc.claims.root,
      leafEncoding: doc.claims.leafEncoding,
      leaves: doc.claims.leaves.map((l) => ({ account: l.account, cumulativeAmount: l.cumulativeAmount })),
    },
    records: { root: doc.records.root, leafEncoding: doc.records.leafEncoding },
  };
  return JSON.stringify(stored);
}

/** The output ids a stored (or published) document covers. */
export function storedOutputIds(json: string): string[] {
  return (JSON.parse(json) as StoredEpoch).payments.map((p) => p.outputId);
}

/** Output ids whose record the stored document does not hold (to be read from the outputs table). */
export function missingRecords(json: string): string[] {
  return (JSON.parse(json) as StoredEpoch).payments.filter((p) => p.record === undefined).map((p) => p.outputId);
}

function rebuild(values: Array<[string, string]>, encoding: string[], root: string, what: string): TreeIndex {
  if (values.length === 0) {
    if (root !== ZeroHash) throw new Error(`the stored ${what} tree is empty but its root is ${root}`);
    return { nodes: [], leaves: [] };
  }
  const tree = StandardMerkleTree.of(values, encoding);
  if (tree.root !== root) throw new Error(`the stored ${what} leaves hash to ${tree.root}, not the root ${root}`);
  const { tree: nodes, values: indexed } = tree.dump();
  return { nodes, leaves: indexed.map((v) => [v.value[0], v.value[1], v.treeIndex]) };
}

/** The published document and both trees, from the stored form and the records it lacks (canonical JSON by output id). */
export function expandStored(json: string, records: Readonly<Record<string, string>>): ExpandedEpoch {
  const stored = JSON.parse(json) as StoredEpoch;
  const payments = stored.payments.map((p) => {
    const record = p.record ?? (records[p.outputId] === undefined ? undefined : (JSON.parse(records[p.outputId]) as AttributionRecord));
    if (record === undefined) throw new Error(`the record of output ${p.outputId} is missing`);
    return { outputId: p.outputId, amount: p.amount, recordHash: p.recordHash, record };
  });
  const claimValues = stored.claims.leaves.map((l): [string, string] => [l.account, l.cumulativeAmount]);
  const recordValues = payments.map((p): [string, string] => [p.outputId, p.recordHash]);
  const claims = rebuild(claimValues, stored.claims.leafEncoding, stored.claims.root, "claims");
  const recordsTree = rebuild(recordValues, stored.records.leafEncoding, stored.records.root, "records");
  const doc: EpochDocument = {
    ...stored,
    payments,
    claims: { ...stored.claims, leaves: withProofs(claims, (account, cumulativeAmount, proof) => ({ account, cumulativeAmount, proof })) },
    records: {
      ...stored.records,
      leaves: withProofs(recordsTree, (outputId, recordHash, proof) => ({ outputId, recordHash, proof })),
    },
  };
  return { json: JSON.stringify(doc), claims, records: recordsTree };
}

function withProofs<T>(tree: TreeIndex, leaf: (key: string, value: string, proof: string[]) => T): T[] {
  return tree.leaves.map(([key, value, index]) => leaf(key, value, proofAt(tree.nodes, index)));
}
