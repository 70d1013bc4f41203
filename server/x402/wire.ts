// x402 version 2 on the wire, as the reference SDK (@x402/core 2.27) speaks it: the three
// headers carry standard base64 of UTF-8 JSON. Decoding untrusted headers is strict and never
// throws: it returns a reason code for anything that is not a well-formed v2 payment.
import { decodePaymentSignatureHeader, encodePaymentRequiredHeader, encodePaymentResponseHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse } from "@x402/core/types";
import { Reason } from "../facilitator/reasons.ts";

export const PAYMENT_REQUIRED_HEADER = "PAYMENT-REQUIRED";
export const PAYMENT_SIGNATURE_HEADER = "payment-signature"; // node lower-cases request headers
export const PAYMENT_RESPONSE_HEADER = "PAYMENT-RESPONSE";
export const X402_VERSION = 2;
/** A reference client's PAYMENT-SIGNATURE is ~1.3 kB; ERC-1271 signatures may be longer. */
export const DEFAULT_MAX_PAYMENT_HEADER_BYTES = 8 * 1024;

export type DecodeResult =
  | { ok: true; payload: PaymentPayload }
  | { ok: false; status: 400 | 402 | 431; reason: string; message: string };

export function decodePaymentHeader(header: string | string[] | undefined, maxBytes = DEFAULT_MAX_PAYMENT_HEADER_BYTES): DecodeResult | null {
  if (header === undefined) return null;
  if (Array.isArray(header)) return { ok: false, status: 400, reason: Reason.invalidPayload, message: "send one PAYMENT-SIGNATURE header" };
  if (header.length > maxBytes) {
    return { ok: false, status: 431, reason: Reason.paymentHeaderTooLarge, message: `PAYMENT-SIGNATURE exceeds ${maxBytes} bytes` };
  }
  let payload: unknown;
  try {
    payload = decodePaymentSignatureHeader(header.trim());
  } catch {
    return { ok: false, status: 400, reason: Reason.invalidPayload, message: "PAYMENT-SIGNATURE is not base64-encoded JSON" };
  }
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) {
    return { ok: false, status: 400, reason: Reason.invalidPayload, message: "PAYMENT-SIGNATURE must encode a JSON object" };
  }
  const p = payload as Record<string, unknown>;
  if (p.x402Version !== X402_VERSION) {
    return { ok: false, status: 402, reason: Reason.invalidX402Version, message: `x402Version must be ${X402_VERSION}` };
  }
  if (!p.accepted || typeof p.accepted !== "object" || !p.payload || typeof p.payload !== "object") {
    return { ok: false, status: 400, reason: Reason.invalidPayload, message: "a v2 payment needs `accepted` and `payload` objects" };
  }
  return { ok: true, payload: payload as PaymentPayload };
}

export function encodeChallenge(paymentRequired: PaymentRequired): string {
  return encodePaymentRequiredHeader(paymentRequired);
}

export function encodeSettlement(response: SettleResponse): string {
  return encodePaymentResponseHeader(response);
}

const sameAddress = (a: unknown, b: string) => typeof a === "string" && a.toLowerCase() === b.toLowerCase();

/** Checks that the requirements the client says it accepted are the ones this request costs. */
export function checkAccepted(accepted: Partial<PaymentRequirements>, required: PaymentRequirements): { reason: string; message: string } | null {
  if (accepted.scheme !== required.scheme) return { reason: Reason.unsupportedScheme, message: `scheme must be ${required.scheme}` };
  if (accepted.network !== required.network) return { reason: Reason.networkMismatch, message: `network must be ${required.network}` };
  if (!sameAddress(accepted.asset, required.asset)) return { reason: Reason.assetMismatch, message: `asset must be ${required.asset}` };
  if (!sameAddress(accepted.payTo, required.payTo)) return { reason: Reason.recipientMismatch, message: `payTo must be ${required.payTo}` };
  if (accepted.amount !== required.amount) return { reason: Reason.valueMismatch, message: `amount must be ${required.amount}` };
  return null;
}
