// OP-stack L1 data fees on Hardhat's `op` chain type (network `hardhatOp`). EDR fills `l1Fee` in each
// receipt from the L1Block predeploy's storage (as op-geth does), but its genesis leaves the Ecotone fee
// scalars where they read as zero, so every l1Fee is 0. Writing Base's scalars and stated L1 fees into
// the predeploy's slots makes the receipts carry the fee Base would charge for the same transaction.
import type { RpcSender } from "./costs.ts";

export const L1_BLOCK_ADDRESS = "0x4200000000000000000000000000000000000015";

/** Base mainnet's Ecotone/Fjord fee scalars, and the L1 fees this benchmark states. */
export const BASE_L1_FEES = {
  baseFeeScalar: 2269,
  blobBaseFeeScalar: 1_055_762,
  l1BaseFeeWei: 1_000_000_000n, // 1 gwei
  blobBaseFeeWei: 62_500_000n, // 0.0625 gwei
};

export type L1Fees = typeof BASE_L1_FEES;

// L1Block storage (Ecotone layout): slot 1 basefee; slot 3 packs sequenceNumber (uint64, lowest),
// blobBaseFeeScalar (uint32) and baseFeeScalar (uint32) above it; slot 7 blobBaseFee.
const BASE_FEE_SLOT = 1;
const SCALARS_SLOT = 3;
const BLOB_BASE_FEE_SLOT = 7;

const word = (x: bigint) => `0x${x.toString(16).padStart(64, "0")}`;

/** Writes the fee parameters into the L1Block predeploy (hardhat_setStorageAt); later receipts carry l1Fee. */
export async function setL1Fees(provider: RpcSender, fees: L1Fees = BASE_L1_FEES): Promise<void> {
  const slot3 = BigInt(await provider.send("eth_getStorageAt", [L1_BLOCK_ADDRESS, word(BigInt(SCALARS_SLOT)), "latest"]));
  const sequenceNumber = slot3 & ((1n << 64n) - 1n);
  const scalars = (BigInt(fees.baseFeeScalar) << 96n) | (BigInt(fees.blobBaseFeeScalar) << 64n) | sequenceNumber;
  const set = (slot: number, value: bigint) => provider.send("hardhat_setStorageAt", [L1_BLOCK_ADDRESS, word(BigInt(slot)), word(value)]);
  await set(BASE_FEE_SLOT, fees.l1BaseFeeWei);
  await set(SCALARS_SLOT, scalars);
  await set(BLOB_BASE_FEE_SLOT, fees.blobBaseFeeWei);
}
