// EIP-712 digests and ECDSA signer recovery: EIP-3009 authorizations here, channel vouchers in
// batch-settlement/verify.ts. Recovery runs in libsecp256k1 (the `secp256k1` package's native
// build, ~0.3 ms on a loaded core; a JavaScript recovery takes 5-10 ms there), and recovered
// signers are kept in a small LRU, so verify then settle of one payload recovers once.
import { TypedDataEncoder, getAddress, getBytes } from "ethers";
import secp256k1 from "secp256k1";
import { keccak256Bytes, keccak256Hex } from "../chain/keccak.ts";
import type { Authorization } from "./payload.ts";

const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
const UINT256_MAX = (1n << 256n) - 1n;
const TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256Bytes(
  Buffer.from("TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"),
);

export interface Eip712Domain {
  name: string;
  version: string;
  chainId: bigint;
  verifyingContract: string;
}

const domainSeparators = new Map<string, Uint8Array>();

function domainSeparator(domain: Eip712Domain): Uint8Array {
  const key = `${domain.name}\u0000${domain.version}\u0000${domain.chainId}\u0000${domain.verifyingContract.toLowerCase()}`;
  let separator = domainSeparators.get(key);
  if (!separator) {
    separator = getBytes(TypedDataEncoder.hashDomain(domain));
    if (domainSeparators.size > 1000) domainSeparators.clear();
    domainSeparators.set(key, separator);
  }
  return separator;
}

/**
 * keccak256("\x19\x01" ‖ domainSeparator ‖ hashStruct(authorization)), the struct laid out by hand: the
 * type hash, then each field as one 32-byte word (ethers' generic encoder hashed the type string again
 * and converted every field through hex strings, for every payment).
 */
export function authorizationDigest(domain: Eip712Domain, auth: Authorization): string {
  const struct = Buffer.alloc(7 * 32);
  struct.set(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, 0);
  struct.set(wordBytes(auth.from, 20), 32 + 12);
  struct.set(wordBytes(auth.to, 20), 64 + 12);
  struct.set(uint256Bytes(auth.value), 96);
  struct.set(uint256Bytes(auth.validAfter), 128);
  struct.set(uint256Bytes(auth.validBefore), 160);
  struct.set(wordBytes(auth.nonce, 32), 192);
  const message = Buffer.alloc(66);
  message.set([0x19, 0x01], 0);
  message.set(domainSeparator(domain), 2);
  message.set(keccak256Bytes(struct), 34);
  return keccak256Hex(message);
}

const HEX_OF_SIZE: Record<20 | 32, RegExp> = { 20: /^0x[0-9a-fA-F]{40}$/, 32: /^0x[0-9a-fA-F]{64}$/ };

/** The bytes of a 0x-prefixed hex value of exactly `size` bytes (an address, a bytes32). */
function wordBytes(hex: string, size: 20 | 32): Buffer {
  if (!HEX_OF_SIZE[size].test(hex)) throw new Error(`expected ${size} bytes of hex, got ${hex}`);
  return Buffer.from(hex.slice(2), "hex");
}

function uint256Bytes(value: bigint): Buffer {
  if (value < 0n || value > UINT256_MAX) throw new Error(`${value} is not a uint256`);
  return Buffer.from(value.toString(16).padStart(64, "0"), "hex");
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
 * A 65-byte (r, s, v) signature in the only form OpenZeppelin's ECDSA and the token's ecrecover accept:
 * v 27 or 28 and (EIP-2) s in the lower half of the curve order. A malleated high-s twin, v 0/1 or a
 * 64-byte compact form would pass a lenient recovery here and then revert on-chain.
 */
export function isCanonicalSignature(signature: string): boolean {
  if (signature.length !== 132) return false;
  const v = signature.slice(130);
  return (v === "1b" || v === "1c") && BigInt(`0x${signature.slice(66, 130)}`) <= SECP256K1_HALF_N;
}

/** The address a canonical signature over `digest` recovers to, or null (not canonical, or not a valid signature). */
export function recoverSigner(digest: string, signature: string): string | null {
  if (!isCanonicalSignature(signature)) return null;
  const key = digest + signature;
  const hit = recovered.get(key);
  if (hit !== undefined) return hit || null;
  signatureStats.recoveries++;
  const address = recoverAddress(getBytes(digest), signature);
  const signer = address ? getAddress(address) : "";
  recovered.set(key, signer);
  return signer || null;
}

/**
 * libsecp256k1 recovery of a canonical signature (checked by the caller) straight from the bytes, the
 * address in lower case (no EIP-55 checksum, a keccak of its own, for an address only compared); null
 * when r or s is out of range or the point is not on the curve.
 */
export function recoverAddress(digest: Uint8Array, signature: string): string | null {
  try {
    const recoveryId = signature.slice(130) === "1b" ? 0 : 1;
    const publicKey = secp256k1.ecdsaRecover(Buffer.from(signature.slice(2, 130), "hex"), recoveryId, digest, false);
    return `0x${keccak256Hex(publicKey.subarray(1)).slice(-40)}`;
  } catch {
    return null;
  }
}
