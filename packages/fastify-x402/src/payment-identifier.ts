// The x402 `payment-identifier` extension: a client's idempotency id for a paid request.
// The id is bound to the first request that used it (its payment and a fingerprint of what it
// bought: method, path, body, offer). The identical request again is answered as the first was
// (its kept output, nothing charged or run twice; a duplicate arriving while the first runs
// waits for it); anything else under the same id is a conflict (409).
import { createHash } from "node:crypto";
import type { FastifyRequest } from "fastify";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import type { Runtime } from "./options.ts";
import { asRecord } from "./schemes/fields.ts";
import { keyId, type PaymentIdClaim, type PaymentKey, type PaymentRecord } from "./store.ts";

export const PAYMENT_IDENTIFIER = "payment-identifier";
const ID_PATTERN = "^[a-zA-Z0-9_-]+$";
const ID = /^[a-zA-Z0-9_-]{16,128}$/;
const POLL_MS = [25, 50, 100, 200, 250];

export interface PaymentIdOptions {
  /** Clients must send an id (400 without one). Default false. */
  required?: boolean;
  /** How long a duplicate waits for the first request under its id to finish (default 30 s). */
  waitSeconds?: number;
}

/** What the challenge declares, as the reference `declarePaymentIdentifierExtension` does. */
export function paymentIdentifierDeclaration(required: boolean) {
  return {
    info: { required },
    schema: {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      properties: {
        required: { type: "boolean" },
        id: { type: "string", minLength: 16, maxLength: 128, pattern: ID_PATTERN },
      },
      required: ["required"],
    },
  };
}

export type IdVerdict =
  | { kind: "none" }
  | { kind: "new"; claim: PaymentIdClaim }
  | { kind: "same"; claim: PaymentIdClaim }
  | { kind: "conflict" | "invalid"; message: string };

/** The id a payload carries: null without one, or what is wrong with it. */
function readPaymentId(payload: PaymentPayload): { id: string } | { error: string } | null {
  const extension = payload.extensions?.[PAYMENT_IDENTIFIER];
  if (extension === undefined) return null;
  const info = asRecord(asRecord(extension)?.info);
  if (!info) return { error: `extensions["${PAYMENT_IDENTIFIER}"].info must be an object` };
  if (info.id === undefined) return null;
  if (typeof info.id !== "string" || !ID.test(info.id))
    return { error: "the payment identifier must be 16 to 128 characters: letters, digits, - and _" };
  return { id: info.id };
}

/** sha256 of what the request buys: method, path and query, body, resource and the offer paid. */
function requestHash(request: FastifyRequest, resource: string, offer: PaymentRequirements): string {
  const body = typeof request.body === "string" ? request.body : JSON.stringify(request.body ?? null);
  const { scheme, network, amount } = offer;
  const fields = [
    request.method,
    request.url,
    resource,
    scheme,
    network,
    offer.asset.toLowerCase(),
    amount,
    offer.payTo.toLowerCase(),
    body,
  ];
  return createHash("sha256").update(JSON.stringify(fields), "utf8").digest("hex");
}

const sameClaim = (a: PaymentIdClaim, b: PaymentIdClaim) => a.requestHash === b.requestHash && keyId(a.key) === keyId(b.key);

/** Before verify (a resent payment may no longer verify): whether the request's id is new, the same request, or a conflict. */
export async function checkPaymentId(
  rt: Runtime,
  request: FastifyRequest,
  payload: PaymentPayload,
  key: PaymentKey,
  resource: string,
  offer: PaymentRequirements,
): Promise<IdVerdict> {
  if (!rt.paymentIds) return { kind: "none" };
  const read = readPaymentId(payload);
  if (read === null)
    return rt.paymentIds.required ? { kind: "invalid", message: `this resource requires a ${PAYMENT_IDENTIFIER} id` } : { kind: "none" };
  if ("error" in read) return { kind: "invalid", message: read.error };
  const claim: PaymentIdClaim = { paymentId: read.id, requestHash: requestHash(request, resource, offer), key };
  const existing = await rt.store.getPaymentId!(read.id);
  if (!existing) return { kind: "new", claim };
  return sameClaim(existing, claim) ? { kind: "same", claim } : { kind: "conflict", message: conflictMessage };
}

const conflictMessage = "this payment identifier was used for another request or another payment";

/** Binds a new id to this request; a concurrent request may have bound it first. */
export async function claimPaymentId(rt: Runtime, claim: PaymentIdClaim): Promise<IdVerdict> {
  const result = await rt.store.claimPaymentId!(claim);
  if (result.claimed) return { kind: "new", claim };
  return sameClaim(result.existing, claim) ? { kind: "same", claim } : { kind: "conflict", message: conflictMessage };
}

/**
 * The payment of the first request under an id once it is no longer running (reserved or
 * settling), or null if it is still running after the wait (or was never reserved).
 */
export async function awaitFirstRequest(rt: Runtime, key: PaymentKey): Promise<PaymentRecord | null> {
  const deadline = Date.now() + rt.paymentIds!.waitMs;
  for (let i = 0; ; i++) {
    const payment = await rt.store.get(key);
    if (payment && payment.status !== "reserved" && payment.status !== "settling") return payment;
    if (Date.now() >= deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS[Math.min(i, POLL_MS.length - 1)]));
  }
}
