// Merkle proofs in bulk. OpenZeppelin's getProof(i) re-hashes the leaf and verifies the proof it
// returns (about log2(n) hashes per proof); a proof is only the siblings on the way to the root,
// so every proof of a tree is read from its node array in one pass without hashing.
import type { StandardMerkleTree } from "@openzeppelin/merkle-tree";

/** The proof of the leaf at `index` in an OpenZeppelin node array (root at 0, children of i at 2i+1 and 2i+2). */
export function proofAt(nodes: readonly string[], index: number): string[] {
  const proof: string[] = [];
  for (let i = index; i > 0; i = (i - 1) >> 1) proof.push(nodes[i % 2 === 1 ? i + 1 : i - 1]);
  return proof;
}

/** Every value's proof, in the order the values were given to StandardMerkleTree.of. */
export function allProofs<T extends unknown[]>(tree: StandardMerkleTree<T>): string[][] {
  const { tree: nodes, values } = tree.dump();
  return values.map((v) => proofAt(nodes, v.treeIndex));
}
