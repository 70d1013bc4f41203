// Reads the untrusted payload of an x402 `upto` EVM payment (a Permit2 witness authorization) into
// typed values; every field is checked for shape, so later steps never throw on bad input.
import type { PaymentPayload } from "@x402/core/types";
import { getAddress, isAddress, type Address, type Hex } from "viem";
import { MAX_SIGNATURE_BYTES } from "../payload.ts";

interface UptoAuthorization {
  from: Address;
  token: Address;
  maxAmount: bigint; // permitted.amount: the signed maximum
  spender: Address;
  nonce: bigint;
  deadline: bigint;
  to: Address; // witness.to
  facilitator: Address; // witness.facilitator
  validAfter: bigint;
}

export interface UptoPayload {
  authorization: UptoAuthorization;
  signature: Hex;
}

const UINT = /^(?:[0-9]{1,78}|0x[0-9a-fA-F]{1,64})$/;
const HEX = /^0x(?:[0-9a-fA-F]{2})+$/;
const MAX_UINT256 = (1n << 256n) - 1n;

function uint(value: unknown): bigint | null {
  if (typeof value !== "string" || !UINT.test(value)) return null;
  const n = BigInt(value);
  return n <= MAX_UINT256 ? n : null;
}

function address(value: unknown): Address | null {
  return typeof value === "string" && isAddress(value, { strict: false }) ? getAddress(value) : null;
}

const record = (value: unknown) => (value && typeof value === "object" ? (value as Record<string, unknown>) : null);

/** The typed payload, or a message naming the first bad field. */
export function parseUptoPayload(paymentPayload: PaymentPayload): UptoPayload | { error: string } {
  const inner = record(paymentPayload?.payload);
  const auth = record(inner?.permit2Authorization);
  const permitted = record(auth?.permitted);
  const witness = record(auth?.witness);
  if (!inner || !auth || !permitted || !witness) return { error: "payload.permit2Authorization is missing or incomplete" };
  const signature = inner.signature;
  if (typeof signature !== "string" || !HEX.test(signature) || signature.length > 2 + 2 * MAX_SIGNATURE_BYTES) {
    return { error: "payload.signature is not hex" };
  }
  const fields = {
    from: address(auth.from),
    token: address(permitted.token),
    maxAmount: uint(permitted.amount),
    spender: address(auth.spender),
    nonce: uint(auth.nonce),
    deadline: uint(auth.deadline),
    to: address(witness.to),
    facilitator: address(witness.facilitator),
    validAfter: uint(witness.validAfter),
  };
  const bad = Object.entries(fields).find(([, v]) => v === null);
  if (bad) return { error: `permit2Authorization.${bad[0]} is malformed` };
  return { authorization: fields as UptoAuthorization, signature: signature.toLowerCase() as Hex };
}

/** A Permit2 nonce as the bytes32 the splitter's PaymentSettled carries (and the ledger keys on). */
export function nonceKey(nonce: bigint): Hex {
  return `0x${nonce.toString(16).padStart(64, "0")}`;
}
