// The OP-stack fee setup of bench:economics: on Hardhat's `op` chain type the receipts' l1Fee is zero
// until the L1Block predeploy holds fee scalars; after setL1Fees it is Base's Fjord L1 data fee.
import { describe, expect, it } from "vitest";
import { connectChain } from "../../scripts/shared/stack.ts";
import { BASE_L1_FEES, setL1Fees } from "../../scripts/bench/op-stack.ts";

const transferReceipt = async (chain: Awaited<ReturnType<typeof connectChain>>) => {
  const [from, to] = chain.signers;
  const tx = await from.sendTransaction({ to: to.address, value: 1n });
  await tx.wait();
  return chain.ethers.provider.send("eth_getTransactionReceipt", [tx.hash]);
};

describe("OP-stack L1 fees (hardhatOp)", () => {
  it("receipts carry a zero l1Fee with the chain's default L1Block storage", async () => {
    const chain = await connectChain("hardhatOp");
    expect(BigInt((await transferReceipt(chain)).l1Fee)).toBe(0n);
  });

  it("after setL1Fees, receipts carry Base's scalars and the Fjord L1 data fee", async () => {
    const chain = await connectChain("hardhatOp");
    await setL1Fees(chain.ethers.provider);
    const receipt = await transferReceipt(chain);
    expect(BigInt(receipt.l1BaseFeeScalar)).toBe(BigInt(BASE_L1_FEES.baseFeeScalar));
    expect(BigInt(receipt.l1BlobBaseFeeScalar)).toBe(BigInt(BASE_L1_FEES.blobBaseFeeScalar));
    // A plain transfer is below Fjord's 100-byte floor: fee = 100 × (16 × baseFeeScalar × l1BaseFee
    // + blobBaseFeeScalar × blobBaseFee) / 1e6.
    const f = BASE_L1_FEES;
    const expected =
      (100n * (16n * BigInt(f.baseFeeScalar) * f.l1BaseFeeWei + BigInt(f.blobBaseFeeScalar) * f.blobBaseFeeWei)) / 1_000_000n;
    expect(BigInt(receipt.l1Fee)).toBe(expected);
  });
});
