// Parses the untrusted `payload` of an x402 "exact" EVM payment into typed values.
// Every field is checked for shape here, so later steps never throw on bad input.
import type { PaymentPayload } from "@x402/core/types";
import { checksumAddress } from "../chain/address.ts";

export interface Authorization {
  from: string; // checksummed
  to: string; // checksummed
  value: bigint;
  validAfter: bigint;
  validBefore: bigint;
  nonce: string; // 0x + 64 lower-case hex
}

export interface ExactEvmPayload {
  authorization: Authorization;
  signature: string; // 0x-hex, lower-case
}

const UINT = /^[0-9]{1,78}$/;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const HEX = /^0x(?:[0-9a-fA-F]{2})+$/;
const MAX_UINT256 = (1n << 256n) - 1n;
/** ECDSA is 65 bytes; ERC-1271 wallets may use more, but not without bound. */
export const MAX_SIGNATURE_BYTES = 4096;

function uint(value: unknown): bigint | null {
  if (typeof value !== "string" || !UINT.test(value)) return null;
  const n = BigInt(value);
  return n <= MAX_UINT256 ? n : null;
}

const address = checksumAddress;

// The plugin, verify and settle all read the same payload: parse each inner payload object once.
// Keyed by the `payload` object itself, which the copies made for settle share; a hit counts only
// if the raw fields are still the ones parsed (a caller may have edited the object since).
interface ParsedEntry {
  raw: unknown[];
  result: ExactEvmPayload | { error: string };
}
const parsedPayloads = new WeakMap<object, ParsedEntry>();

function rawFields(inner: Record<string, unknown>): unknown[] {
  const auth = inner.authorization as Record<string, unknown> | undefined;
  return auth && typeof auth === "object"
    ? [inner.signature, auth, auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce]
    : [inner.signature, auth];
}

const sameFields = (a: unknown[], b: unknown[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Returns the typed payload, or a message naming the first bad field. */
export function parseExactEvmPayload(paymentPayload: PaymentPayload): ExactEvmPayload | { error: string } {
  const inner = paymentPayload?.payload as Record<string, unknown> | undefined;
  if (!inner || typeof inner !== "object") return { error: "payload is missing" };
  const raw = rawFields(inner);
  const hit = parsedPayloads.get(inner);
  if (hit && sameFields(hit.raw, raw)) return hit.result;
  const result = parseInner(inner);
  parsedPayloads.set(inner, { raw, result });
  return result;
}

function parseInner(inner: Record<string, unknown>): ExactEvmPayload | { error: string } {
  const auth = inner.authorization as Record<string, unknown> | undefined;
  if (!auth || typeof auth !== "object") return { error: "payload.authorization is missing" };
  const signature = inner.signature;
  if (typeof signature !== "string" || !HEX.test(signature) || signature.length > 2 + MAX_SIGNATURE_BYTES * 2) {
    return { error: "payload.signature must be 0x-prefixed hex" };
  }
  const from = address(auth.from);
  if (!from) return { error: "authorization.from is not an address" };
  const to = address(auth.to);
  if (!to) return { error: "authorization.to is not an address" };
  const value = uint(auth.value);
  if (value === null) return { error: "authorization.value must be a decimal string" };
  const validAfter = uint(auth.validAfter);
  if (validAfter === null) return { error: "authorization.validAfter must be a decimal string" };
  const validBefore = uint(auth.validBefore);
  if (validBefore === null) return { error: "authorization.validBefore must be a decimal string" };
  if (typeof auth.nonce !== "string" || !BYTES32.test(auth.nonce)) {
    return { error: "authorization.nonce must be 32 bytes of 0x-prefixed hex" };
  }
  return {
    authorization: { from, to, value, validAfter, validBefore, nonce: auth.nonce.toLowerCase() },
    signature: signature.toLowerCase(),
  };
}

/** CAIP-2 "eip155:<id>" -> chain id, or null. */
export function evmChainId(network: unknown): bigint | null {
  if (typeof network !== "string") return null;
  const m = /^eip155:([0-9]{1,20})$/.exec(network);
  return m ? BigInt(m[1]) : null;
}
