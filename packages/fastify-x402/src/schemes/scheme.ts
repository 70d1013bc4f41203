// A payment scheme on the server side (the reference SDK's "mechanism"): what a challenge
// offers, how a payment names its payer and nonce, and what is settled after the handler ran.
// `exact` settles the accepted amount; a metered scheme (`upto`) returns a smaller amount from
// settlementRequirements; a scheme that claims later (`batch-settlement`) replaces settle.
import type { FacilitatorClient } from "@x402/core/server";
import type { PaymentPayload, PaymentRequirements, SettleResponse, VerifyResponse } from "@x402/core/types";

export type Network = `${string}:${string}`;

export interface AssetInfo {
  address: string;
  /** EIP-712 domain of the token (USDC: "USD Coin", "2"). */
  name: string;
  version: string;
}

/** What a route charges, as the plugin hands it to a scheme. */
export interface PriceOffer {
  network: Network;
  asset: AssetInfo;
  payTo: string;
  amount: bigint;
  maxTimeoutSeconds: number;
}

export interface Refusal {
  reason: string;
  message: string;
}

/** Who pays and the payment's unique id, read from an untrusted payload. */
export interface PaymentIdentity {
  payer: string;
  /** Unique per (network, asset, payer): an EIP-3009 nonce, a voucher id… */
  nonce: string;
}

/** What a scheme sees when the payment is settled. */
export interface SchemeSettleContext {
  payload: PaymentPayload;
  requirements: PaymentRequirements;
  /** What the handler reported it used, for metered schemes (request.x402.setOutput({ usage })). */
  usage?: bigint;
}

export interface PaymentScheme {
  readonly scheme: string;
  /** The requirements a challenge offers for a price. */
  requirements(offer: PriceOffer): PaymentRequirements;
  /** Whether what the client accepted is what this request costs; null when it is. */
  checkAccepted(accepted: Record<string, unknown>, required: PaymentRequirements): Refusal | null;
  /** The payer and nonce of a payment, or what is wrong with its payload. */
  identify(payload: PaymentPayload): PaymentIdentity | { error: string };
  /** x402 extensions the challenge declares when it offers this scheme (e.g. eip2612GasSponsoring). */
  readonly extensions?: Record<string, unknown>;
  /**
   * A successful settle accepts the payment but moves its money later (a channel voucher, claimed in a
   * batch): the payer is answered as paid, the store records the payment "pending" until the host
   * records the transfer ("settled", with its transaction).
   */
  readonly settlesLater?: boolean;
  /**
   * Whether the facilitator records this payload's settlement in the plugin's store itself, in the
   * transaction that keeps it (a facilitator sharing the store: a channel voucher moves its payment to
   * pending as it is journalled). The plugin then journals no "settling" before settle (nothing of it
   * reaches the chain) and no transition after it.
   */
  recordsSettlement?(payload: PaymentPayload): boolean;
  /** The reason recorded when settle throws without one of its own. */
  readonly failedReason?: string;
  /** The requirements to settle after the handler ran; default: the accepted ones. */
  settlementRequirements?(context: SchemeSettleContext): PaymentRequirements;
  /** Settles in the scheme's own way (e.g. keep a voucher and claim later); default: facilitator.settle. */
  settle?(context: SchemeSettleContext, facilitator: FacilitatorClient): Promise<SettleResponse>;
  /**
   * Whether a payload is a payment operation rather than a payment (a channel's cooperative refund): it is
   * verified and settled at once, runs no handler and is not recorded as a payment.
   */
  isOperation?(payload: PaymentPayload): boolean;
  /** The offer a refused payment is answered with, from the facilitator's verdict (a channel's corrective 402). */
  correctiveRequirements?(requirements: PaymentRequirements, verdict: VerifyResponse): PaymentRequirements;
}

/** The registered schemes by name; a duplicate name is a registration error. */
export function schemeRegistry(schemes: readonly PaymentScheme[]): Map<string, PaymentScheme> {
  const registry = new Map<string, PaymentScheme>();
  for (const scheme of schemes) {
    if (registry.has(scheme.scheme)) throw new Error(`fastify-x402: scheme "${scheme.scheme}" is registered twice`);
    registry.set(scheme.scheme, scheme);
  }
  return registry;
}
