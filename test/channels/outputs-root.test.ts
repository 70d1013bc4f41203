// The sweeper builds each link's Merkle root by hand (on bytes, off the library's ABI coder): it must be
// the OpenZeppelin StandardMerkleTree root that `epoch verify` and anyone else recompute.
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import type { Hex } from "viem";
import { outputsRoot } from "../../server/facilitator/batch-settlement/sweeper.ts";

const bytes32 = () => `0x${randomBytes(32).toString("hex")}` as Hex;

describe("outputsRoot", () => {
  it("is StandardMerkleTree's root over (bytes32 outputId, uint256 amount, bytes32 attributionRoot)", () => {
    for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 31, 100, 257]) {
      const outputs = Array.from({ length: n }, (_, i) => ({
        outputId: bytes32(),
        amount: i % 3 === 0 ? 1080n : BigInt(`0x${randomBytes(16).toString("hex")}`),
        attributionRoot: i % 5 === 0 ? (`0x${"00".repeat(32)}` as Hex) : bytes32(),
      }));
      const values = outputs.map((o) => [o.outputId, o.amount.toString(), o.attributionRoot]);
      expect(outputsRoot(outputs)).toBe(StandardMerkleTree.of(values, ["bytes32", "uint256", "bytes32"]).root);
    }
  });

  it("refuses an empty link, as the library does", () => {
    expect(() => outputsRoot([])).toThrow();
  });
});
