// EIP-712 digest and ECDSA signer recovery for EIP-3009 TransferWithAuthorization, with ethers.
// Recovery costs milliseconds of CPU: verify avoids it on the happy path (the settlement
// simulation checks the signature on-chain) and recovered signers are kept in a small LRU.
import { Signature, TypedDataEncoder, concat, getAddress, keccak256, recoverAddress } from "ethers";
import { TRANSFER_WITH_AUTHORIZATION_TYPES } from "./abi.ts";
import type { Authorization } from "./payload.ts";

const structEncoder = TypedDataEncoder.from(TRANSFER_WITH_AUTHORIZATION_TYPES);
const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

export interface Eip712Domain {
  name: string;
  version: string;
  chainId: bigint;
  verifyingContract: string;
}

const domainSeparators = new Map<string, string>();

function domainSeparator(domain: Eip712Domain): string {
  const key = `${domain.name}\u0000${domain.version}\u0000${domain.chainId}\u0000${domain.verifyingContract.toLowerCase()}`;
  let separator = domainSeparators.get(key);
  if (!separator) {
    separator = TypedDataEncoder.hashDomain(domain);
    if (domainSeparators.size > 1000) domainSeparators.clear();
    domainSeparators.set(key, separator);
  }
  return separator;
}

/** keccak256("\x19\x01" ‖ domainSeparator ‖ hashStruct(authorization)) */
export function authorizationDigest(domain: Eip712Domain, auth: Authorization): string {
  return keccak256(concat(["0x1901", domainSeparator(domain), structEncoder.hash(auth)]));
}

class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly capacity: number) {}
  get(key: string): V | undefined {
    const value = this.map.get(key);
    if (value !== undefined) {
      this.map.delete(key);
      this.map.set(key, value);
    }
    return value;
  }
  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
  }
}

const recovered = new Lru<string>(20_000);

/** ECDSA recoveries actually computed (cache misses), for tests and metrics. */
export const signatureStats = { recoveries: 0 };

/**
 * The address a 65-byte ECDSA signature over `digest` recovers to, or null if the signature is
 * not a canonical one the token would accept (wrong length, high s, bad v).
 */
export function recoverSigner(digest: string, signature: string): string | null {
  // The token's ecrecover takes v = 27 or 28 only, and (EIP-2) the lower half of s.
  if (signature.length !== 132) return null;
  const v = signature.slice(130);
  if (v !== "1b" && v !== "1c") return null;
  const key = digest + signature;
  const hit = recovered.get(key);
  if (hit !== undefined) return hit || null;
  let signer = "";
  signatureStats.recoveries++;
  try {
    const sig = Signature.from(signature);
    if (BigInt(sig.s) <= SECP256K1_HALF_N) signer = getAddress(recoverAddress(digest, sig));
  } catch {
    signer = "";
  }
  recovered.set(key, signer);
  return signer || null;
}
