// The `exact` scheme on EVM chains: an EIP-3009 transferWithAuthorization of exactly the price.
// Mismatch reasons are the reference facilitator's (@x402/evm) codes.
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { getAddress } from "viem";
import type { PaymentIdentity, PaymentScheme, PriceOffer, Refusal } from "./scheme.ts";
import { ADDRESS, BYTES32, SIGNATURE, sameAddress } from "./fields.ts";

export const ExactReason = {
  networkMismatch: "invalid_exact_evm_network_mismatch",
  assetMismatch: "invalid_exact_evm_asset_mismatch",
  recipientMismatch: "invalid_exact_evm_recipient_mismatch",
  valueMismatch: "invalid_exact_evm_payload_authorization_value_mismatch",
  transactionFailed: "invalid_exact_evm_transaction_failed",
} as const;

const UINT = /^[0-9]{1,78}$/;
const isUint256 = (value: unknown) => typeof value === "string" && UINT.test(value) && BigInt(value) < 1n << 256n;

// The same few addresses (payees, the token) come back on every request: checksum each once.
const checksummed = new Map<string, string>();
function checksum(address: string): string {
  let hit = checksummed.get(address);
  if (hit === undefined) {
    hit = getAddress(address);
    if (checksummed.size >= 10_000) checksummed.clear();
    checksummed.set(address, hit);
  }
  return hit;
}

export function exactEvmScheme(): PaymentScheme {
  return {
    scheme: "exact",
    failedReason: ExactReason.transactionFailed,
    requirements: (offer: PriceOffer): PaymentRequirements => ({
      scheme: "exact",
      network: offer.network,
      asset: checksum(offer.asset.address),
      amount: offer.amount.toString(),
      payTo: checksum(offer.payTo),
      maxTimeoutSeconds: offer.maxTimeoutSeconds,
      extra: { name: offer.asset.name, version: offer.asset.version },
    }),
    checkAccepted,
    identify,
  };
}

function checkAccepted(accepted: Record<string, unknown>, required: PaymentRequirements): Refusal | null {
  if (accepted.network !== required.network) return { reason: ExactReason.networkMismatch, message: `network must be ${required.network}` };
  if (!sameAddress(accepted.asset, required.asset))
    return { reason: ExactReason.assetMismatch, message: `asset must be ${required.asset}` };
  if (!sameAddress(accepted.payTo, required.payTo))
    return { reason: ExactReason.recipientMismatch, message: `payTo must be ${required.payTo}` };
  if (accepted.amount !== required.amount) return { reason: ExactReason.valueMismatch, message: `amount must be ${required.amount}` };
  return null;
}

/** The authorization's signer and nonce, once every field has the right shape; the facilitator checks the rest. */
function identify(payload: PaymentPayload): PaymentIdentity | { error: string } {
  const inner = payload.payload as { authorization?: unknown; signature?: unknown };
  const authorization = inner.authorization as Record<string, unknown> | undefined;
  if (!authorization || typeof authorization !== "object") return { error: "payload.authorization is missing" };
  if (typeof inner.signature !== "string" || !SIGNATURE.test(inner.signature))
    return { error: "payload.signature must be 0x-prefixed hex" };
  if (typeof authorization.from !== "string" || !ADDRESS.test(authorization.from)) return { error: "authorization.from is not an address" };
  if (typeof authorization.to !== "string" || !ADDRESS.test(authorization.to)) return { error: "authorization.to is not an address" };
  for (const field of ["value", "validAfter", "validBefore"] as const) {
    if (!isUint256(authorization[field])) return { error: `authorization.${field} must be a decimal string` };
  }
  if (typeof authorization.nonce !== "string" || !BYTES32.test(authorization.nonce)) {
    return { error: "authorization.nonce must be 32 bytes of 0x-prefixed hex" };
  }
  return { payer: authorization.from.toLowerCase(), nonce: authorization.nonce.toLowerCase() };
}
