// x402 version 1 on the wire, translated to and from version 2 in this one module. A v1 client
// reads the challenge from the 402's JSON body ({x402Version: 1, error, accepts}, `exact` only,
// network by name), pays in `X-PAYMENT` ({x402Version: 1, scheme, network, payload}) and reads
// `X-PAYMENT-RESPONSE`. Its payment is checked, verified, reserved and settled as the v2
// payment {accepted: the route's exact offer, payload} — the same EIP-3009 authorization.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { PaymentPayload, PaymentRequirements, SettleResponse } from "@x402/core/types";
import { decodePaymentResponseHeader, decodePaymentSignatureHeader, encodePaymentResponseHeader } from "@x402/core/http";
import { Reason } from "./reasons.ts";
import { PAYMENT_RESPONSE_HEADER, type DecodeResult, isObject, refuse } from "./wire.ts";

export const X_PAYMENT_HEADER = "x-payment"; // node lower-cases request headers
export const X_PAYMENT_RESPONSE_HEADER = "X-PAYMENT-RESPONSE";

/** v1 network names of the v1 reference client (@x402/evm/v1) for CAIP-2 ids. */
const V1_NETWORK_NAMES: Readonly<Record<string, string>> = {
  "eip155:1": "ethereum",
  "eip155:11155111": "sepolia",
  "eip155:8453": "base",
  "eip155:84532": "base-sepolia",
  "eip155:43114": "avalanche",
  "eip155:43113": "avalanche-fuji",
  "eip155:137": "polygon",
  "eip155:80002": "polygon-amoy",
};

/** The v1 name of a network: the option's, else the reference table's; null when v1 has none (v1 off). */
export function v1NetworkName(network: string, option: string | false | undefined): string | null {
  if (option === false) return null;
  return option ?? V1_NETWORK_NAMES[network] ?? null;
}

/** A v1 payment requirement, as v1 clients read it from the 402 body. */
export interface V1Requirements {
  scheme: "exact";
  network: string;
  maxAmountRequired: string;
  resource: string;
  description: string;
  mimeType: string;
  payTo: string;
  maxTimeoutSeconds: number;
  asset: string;
  extra: Record<string, unknown>;
}

export function v1Accepts(
  v1Network: string,
  offers: readonly PaymentRequirements[],
  resource: { url: string; description: string; mimeType: string },
): V1Requirements[] {
  return offers
    .filter((offer) => offer.scheme === "exact")
    .map((offer) => ({
      scheme: "exact",
      network: v1Network,
      maxAmountRequired: offer.amount,
      resource: resource.url,
      description: resource.description,
      mimeType: resource.mimeType,
      payTo: offer.payTo,
      maxTimeoutSeconds: offer.maxTimeoutSeconds,
      asset: offer.asset,
      extra: { name: offer.extra?.name, version: offer.extra?.version },
    }));
}

/** The v1 payment of an `X-PAYMENT` header as the v2 payment it stands for (accepted: the route's exact offer). */
export function decodeV1Payment(
  header: string | string[],
  v1Network: string,
  exactOffer: PaymentRequirements | undefined,
  maxBytes: number,
): DecodeResult {
  if (Array.isArray(header)) return refuse(400, Reason.invalidPayload, "send one X-PAYMENT header");
  if (header.length > maxBytes) return refuse(431, Reason.paymentHeaderTooLarge, `X-PAYMENT exceeds ${maxBytes} bytes`);
  let v1: unknown;
  try {
    v1 = decodePaymentSignatureHeader(header.trim());
  } catch {
    return refuse(400, Reason.invalidPayload, "X-PAYMENT is not base64-encoded JSON");
  }
  if (!isObject(v1)) return refuse(400, Reason.invalidPayload, "X-PAYMENT must encode a JSON object");
  if (v1.x402Version !== 1)
    return refuse(402, Reason.invalidX402Version, "X-PAYMENT carries x402Version 1 (send version 2 in PAYMENT-SIGNATURE)");
  if (v1.scheme !== "exact" || !exactOffer) return refuse(402, Reason.unsupportedScheme, "x402 v1 payments must use the exact scheme");
  if (v1.network !== v1Network) return refuse(402, "invalid_exact_evm_network_mismatch", `network must be ${v1Network}`);
  if (!isObject(v1.payload)) return refuse(400, Reason.invalidPayload, "a v1 payment needs a `payload` object");
  const payload: PaymentPayload = { x402Version: 2, accepted: exactOffer, payload: v1.payload };
  return { ok: true, payload };
}

/** Adds X-PAYMENT-RESPONSE (v1 network name) next to a reply's PAYMENT-RESPONSE, for a v1 payer. */
export function addV1Settlement(reply: FastifyReply, v1Network: string): void {
  const header = reply.getHeader(PAYMENT_RESPONSE_HEADER);
  if (typeof header !== "string") return;
  let response: SettleResponse;
  try {
    response = decodePaymentResponseHeader(header);
  } catch {
    return;
  }
  const v1 = {
    success: response.success,
    transaction: response.transaction,
    network: v1Network,
    payer: response.payer,
    ...(response.errorReason ? { errorReason: response.errorReason } : {}),
  };
  reply.header(X_PAYMENT_RESPONSE_HEADER, encodePaymentResponseHeader(v1 as unknown as SettleResponse));
}

/** Requests that paid with a v1 header (their answers carry X-PAYMENT-RESPONSE). */
export const v1Requests = new WeakSet<FastifyRequest>();
