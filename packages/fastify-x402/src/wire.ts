// x402 version 2 on the wire, as the reference SDK (@x402/core) speaks it: the three headers
// carry standard base64 of UTF-8 JSON. Decoding untrusted headers is strict and never throws:
// anything that is not a well-formed v2 payment gets a reason code.
import { decodePaymentSignatureHeader, encodePaymentRequiredHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequired, SettleResponse } from "@x402/core/types";
import { Reason } from "./reasons.ts";

export const PAYMENT_REQUIRED_HEADER = "PAYMENT-REQUIRED";
export const PAYMENT_SIGNATURE_HEADER = "payment-signature"; // node lower-cases request headers
export const PAYMENT_RESPONSE_HEADER = "PAYMENT-RESPONSE";
export const X402_VERSION = 2;
/** A reference client's PAYMENT-SIGNATURE is ~1.3 kB; ERC-1271 signatures may be longer. */
export const DEFAULT_MAX_PAYMENT_HEADER_BYTES = 8 * 1024;

export type DecodeResult = { ok: true; payload: PaymentPayload } | { ok: false; status: 400 | 402 | 431; reason: string; message: string };

export const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** The payment a request carries; null without a PAYMENT-SIGNATURE header. */
export function decodePaymentHeader(
  header: string | string[] | undefined,
  maxBytes = DEFAULT_MAX_PAYMENT_HEADER_BYTES,
): DecodeResult | null {
  if (header === undefined) return null;
  if (Array.isArray(header)) return refuse(400, Reason.invalidPayload, "send one PAYMENT-SIGNATURE header");
  if (header.length > maxBytes) return refuse(431, Reason.paymentHeaderTooLarge, `PAYMENT-SIGNATURE exceeds ${maxBytes} bytes`);
  let payload: unknown;
  try {
    payload = decodePaymentSignatureHeader(header.trim());
  } catch {
    return refuse(400, Reason.invalidPayload, "PAYMENT-SIGNATURE is not base64-encoded JSON");
  }
  if (!isObject(payload)) return refuse(400, Reason.invalidPayload, "PAYMENT-SIGNATURE must encode a JSON object");
  if (payload.x402Version !== X402_VERSION) return refuse(402, Reason.invalidX402Version, `x402Version must be ${X402_VERSION}`);
  if (!isObject(payload.accepted) || !isObject(payload.payload)) {
    return refuse(400, Reason.invalidPayload, "a v2 payment needs `accepted` and `payload` objects");
  }
  return { ok: true, payload: payload as unknown as PaymentPayload };
}

export function refuse(status: 400 | 402 | 431, reason: string, message: string): DecodeResult {
  return { ok: false, status, reason, message };
}

export function encodeChallenge(paymentRequired: PaymentRequired): string {
  return encodePaymentRequiredHeader(paymentRequired);
}

/**
 * The SDK's encodePaymentResponseHeader, without its byte-by-byte btoa (a few percent of a paid request's
 * CPU): the same bytes, standard base64 of the UTF-8 JSON, extensionResponses left out as it does.
 */
export function encodeSettlement(response: SettleResponse): string {
  const { extensionResponses: _buyerHidden, ...buyerFacing } = response as SettleResponse & { extensionResponses?: unknown };
  return Buffer.from(JSON.stringify(buyerFacing), "utf8").toString("base64");
}
