// EIP-55 checksums, remembered.
import { getAddress } from "ethers";

// Checksumming is a keccak256 per call and the same few addresses (payers, splitters, the
// token) come back on every request: remember recent answers.
const checksummed = new Map<string, string | null>();

/** getAddress, remembered; null for anything that is not an address. */
export function checksumAddress(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const hit = checksummed.get(value);
  if (hit !== undefined) return hit;
  let result: string | null;
  try {
    result = getAddress(value);
  } catch {
    result = null;
  }
  if (value.length <= 64) {
    if (checksummed.size >= 10_000) checksummed.clear();
    checksummed.set(value, result);
  }
  return result;
}
