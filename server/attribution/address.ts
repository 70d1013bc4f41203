// Contributor and account addresses as the attribution records and epochs write them: checksummed.
import { getAddress, isAddress } from "ethers";
import { AttributionError } from "./errors.ts";

export function normalizeAddress(address: unknown): string {
  if (typeof address !== "string" || !isAddress(address)) {
    throw new AttributionError("invalid_address", `not an address: ${String(address)}`);
  }
  return getAddress(address.toLowerCase());
}
