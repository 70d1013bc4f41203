// The `upto` scheme on EVM chains: the payer signs a Permit2 witness transfer of at most the
// route's price, and what is settled after the handler ran is what it metered
// (request.x402.setOutput({ usage })): zero settles nothing, no usage reported settles the maximum.
// Mismatch reasons are the reference facilitator's (@x402/evm) codes.
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { getAddress } from "viem";
import type { PaymentIdentity, PaymentScheme, PriceOffer, Refusal, SchemeSettleContext } from "./scheme.ts";
import { ADDRESS, SIGNATURE, asRecord, sameAddress } from "./fields.ts";

export const UptoReason = {
  networkMismatch: "invalid_upto_evm_network_mismatch",
  assetMismatch: "invalid_upto_evm_asset_mismatch",
  recipientMismatch: "invalid_upto_evm_recipient_mismatch",
  amountMismatch: "invalid_upto_evm_payload_amount_mismatch",
  facilitatorMismatch: "upto_unauthorized_facilitator",
  transactionFailed: "invalid_upto_evm_transaction_failed",
} as const;

export interface UptoSchemeOptions {
  /** The facilitator address the payer binds into the Permit2 witness for an offer paid to `payTo`. */
  facilitatorAddress: (payTo: string) => string;
  /** x402 extensions declared in the challenge next to the offer (e.g. eip2612GasSponsoring). */
  extensions?: Record<string, unknown>;
}

const UINT = /^[0-9]{1,78}$/;
const MAX_UINT256 = (1n << 256n) - 1n;

export function uptoEvmScheme(options: UptoSchemeOptions): PaymentScheme {
  return {
    scheme: "upto",
    failedReason: UptoReason.transactionFailed,
    ...(options.extensions ? { extensions: options.extensions } : {}),
    requirements: (offer: PriceOffer): PaymentRequirements => ({
      scheme: "upto",
      network: offer.network,
      asset: getAddress(offer.asset.address),
      amount: offer.amount.toString(),
      payTo: getAddress(offer.payTo),
      maxTimeoutSeconds: offer.maxTimeoutSeconds,
      extra: {
        name: offer.asset.name,
        version: offer.asset.version,
        assetTransferMethod: "permit2",
        facilitatorAddress: getAddress(options.facilitatorAddress(offer.payTo)),
      },
    }),
    checkAccepted,
    identify,
    settlementRequirements,
  };
}

function checkAccepted(accepted: Record<string, unknown>, required: PaymentRequirements): Refusal | null {
  if (accepted.network !== required.network) return { reason: UptoReason.networkMismatch, message: `network must be ${required.network}` };
  if (!sameAddress(accepted.asset, required.asset)) return { reason: UptoReason.assetMismatch, message: `asset must be ${required.asset}` };
  if (!sameAddress(accepted.payTo, required.payTo))
    return { reason: UptoReason.recipientMismatch, message: `payTo must be ${required.payTo}` };
  if (accepted.amount !== required.amount) return { reason: UptoReason.amountMismatch, message: `amount must be ${required.amount}` };
  const facilitator = required.extra?.facilitatorAddress;
  if (!sameAddress(asRecord(accepted.extra)?.facilitatorAddress, facilitator))
    return { reason: UptoReason.facilitatorMismatch, message: `extra.facilitatorAddress must be ${String(facilitator)}` };
  return null;
}

function uint(value: unknown): bigint | null {
  if (typeof value !== "string" || !UINT.test(value)) return null;
  const n = BigInt(value);
  return n <= MAX_UINT256 ? n : null;
}

/** The Permit2 signer and nonce (as bytes32 hex), once every field has the right shape; the facilitator checks the rest. */
function identify(payload: PaymentPayload): PaymentIdentity | { error: string } {
  const inner = asRecord(payload.payload);
  const auth = asRecord(inner?.permit2Authorization);
  if (!inner || !auth || !asRecord(auth.permitted) || !asRecord(auth.witness)) return { error: "payload.permit2Authorization is missing" };
  if (typeof inner.signature !== "string" || !SIGNATURE.test(inner.signature))
    return { error: "payload.signature must be 0x-prefixed hex" };
  if (typeof auth.from !== "string" || !ADDRESS.test(auth.from)) return { error: "permit2Authorization.from is not an address" };
  const nonce = uint(auth.nonce);
  if (nonce === null) return { error: "permit2Authorization.nonce must be a decimal string" };
  // The bytes32 form is the one the chain logs (PaymentSettled's nonce), so stores key on it.
  return { payer: auth.from.toLowerCase(), nonce: `0x${nonce.toString(16).padStart(64, "0")}` };
}

/** The metered amount: the handler's usage, or the signed maximum when it reported none. */
function settlementRequirements(context: SchemeSettleContext): PaymentRequirements {
  if (context.usage === undefined) return context.requirements;
  return { ...context.requirements, amount: context.usage.toString() };
}
