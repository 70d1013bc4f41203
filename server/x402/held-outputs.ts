// Outputs whose settlement was still pending when the response had to leave. The payer paid
// (or may have), so the output is not thrown away: it is kept in the ledger against the
// payment and handed out once the payment is settled, to whoever holds the retrieval token
// given in the 202 answer (output ids are public on-chain, so the id alone is not enough).
//   GET {outputsPath}/:outputId?token=…
//     settled                      -> 200, the stored body and content type, PAYMENT-RESPONSE
//     reserved/settling/pending    -> 425 + Retry-After, settlement_pending
//     failed/released              -> 402, the settlement's reason (nothing was charged)
//     unknown id or wrong token    -> 404 unknown_output
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { Readable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { getAddress } from "ethers";
import type { SettleResponse } from "@x402/core/types";
import type { Ledger } from "../ledger/types.ts";
import { Reason } from "../facilitator/reasons.ts";
import { PAYMENT_RESPONSE_HEADER, encodeSettlement } from "./wire.ts";

export const DEFAULT_OUTPUTS_PATH = "/x402/outputs";
/** Streamed bodies are collected up to this size to be kept; a model output is far smaller. */
export const DEFAULT_MAX_HELD_OUTPUT_BYTES = 4 * 1024 * 1024;

export function newRetrievalToken(): { token: string; tokenHash: string } {
  const token = randomBytes(32).toString("base64url");
  return { token, tokenHash: hashToken(token) };
}

/**
 * The retrieval token of a payment's held output, derived from the signed PaymentPayload as
 * received (the ledger's `payload` text): only the payer had it before the request, and a
 * retry of the same payment after a crash can be given the same token again.
 */
export function retrievalTokenFor(payloadJson: string): { token: string; tokenHash: string } {
  const token = createHash("sha256").update("royalty402/held-output/v1\u0000", "utf8").update(payloadJson, "utf8").digest("base64url");
  return { token, tokenHash: hashToken(token) };
}

/**
 * Reads a reply payload to keep it, without losing it: `bytes` is its content (null when it
 * cannot be kept: unreadable or over `max`), `body` is what to send in its place (the bytes,
 * or for a stream over `max` a stream of what was read followed by the rest).
 */
export async function keepPayload(payload: unknown, max: number): Promise<{ bytes: Uint8Array | null; body: unknown }> {
  if (payload === null || payload === undefined || typeof payload === "string" || payload instanceof Uint8Array) {
    const bytes = await payloadBytes(payload, max);
    return { bytes, body: payload };
  }
  if (!(payload instanceof Readable) && typeof (payload as AsyncIterable<unknown>)[Symbol.asyncIterator] !== "function") return { bytes: null, body: payload };
  const iterator = (payload as AsyncIterable<string | Uint8Array>)[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await iterator.next();
    if (next.done) {
      const bytes = Buffer.concat(chunks);
      return { bytes, body: bytes };
    }
    const piece = typeof next.value === "string" ? Buffer.from(next.value, "utf8") : Buffer.from(next.value);
    chunks.push(piece);
    size += piece.byteLength;
    if (size > max) {
      const rest = async function* () {
        yield* chunks;
        for (let r = await iterator.next(); !r.done; r = await iterator.next()) yield r.value;
      };
      return { bytes: null, body: Readable.from(rest()) };
    }
  }
}

function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** A reply payload as bytes: strings, buffers, or a (finite) stream read to the end; null if over `max`. */
export async function payloadBytes(payload: unknown, max: number): Promise<Uint8Array | null> {
  if (payload === null || payload === undefined) return new Uint8Array(0);
  if (typeof payload === "string") {
    const bytes = Buffer.from(payload, "utf8");
    return bytes.byteLength <= max ? bytes : null;
  }
  if (payload instanceof Uint8Array) return payload.byteLength <= max ? payload : null;
  if (payload instanceof Readable || typeof (payload as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of payload as AsyncIterable<string | Uint8Array>) {
      const piece = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : Buffer.from(chunk);
      size += piece.byteLength;
      if (size > max) {
        (payload as { destroy?: () => void }).destroy?.();
        return null;
      }
      chunks.push(piece);
    }
    return Buffer.concat(chunks);
  }
  return null;
}

export interface HeldOutputRoutesOptions {
  ledger: Ledger;
  path: string;
  retryAfterSeconds: string;
  attributionUrl: (baseUrl: string, outputId: string) => string;
  baseUrl: (request: import("fastify").FastifyRequest) => string;
}

export function heldOutputRoutes(app: FastifyInstance, o: HeldOutputRoutesOptions): void {
  app.get<{ Params: { outputId: string }; Querystring: { token?: string } }>(`${o.path}/:outputId`, async (request, reply) => {
    const { outputId } = request.params;
    const token = typeof request.query.token === "string" ? request.query.token : "";
    const notFound = () => reply.code(404).header("Cache-Control", "no-store").send({ error: "unknown_output", message: "no output held under this id and token" });
    if (!token || outputId.length > 256) return notFound();
    let held;
    try {
      held = await o.ledger.getHeldOutput(outputId);
    } catch (error) {
      request.log.error({ err: error }, "x402: ledger read of a held output failed");
      return reply.code(503).header("Retry-After", o.retryAfterSeconds).send({ error: Reason.chainUnavailable, message: "payment ledger unavailable" });
    }
    const given = Buffer.from(hashToken(token), "hex");
    if (!held || !timingSafeEqual(given, Buffer.from(held.output.tokenHash, "hex"))) return notFound();

    const { output, payment } = held;
    const network = payment.network as `${string}:${string}`;
    const payer = getAddress(payment.payer);
    reply.header("Cache-Control", "no-store");
    switch (payment.status) {
      case "settled": {
        const response: SettleResponse = {
          success: true,
          transaction: payment.txHash ?? "",
          network,
          payer,
          amount: payment.amount,
          extra: { outputId: output.outputId, attributionUrl: o.attributionUrl(o.baseUrl(request), output.outputId) },
        };
        reply.code(output.statusCode).header(PAYMENT_RESPONSE_HEADER, encodeSettlement(response));
        if (output.contentType) reply.header("Content-Type", output.contentType);
        return reply.send(Buffer.from(output.body));
      }
      case "failed":
      case "released": {
        const reason = payment.errorReason ?? Reason.transactionFailed;
        const response: SettleResponse = { success: false, errorReason: reason, transaction: payment.txHash ?? "", network, payer };
        return reply.code(402).header(PAYMENT_RESPONSE_HEADER, encodeSettlement(response)).send({ error: reason, message: "the payment did not settle: nothing was charged and the output is not delivered" });
      }
      default:
        return reply
          .code(425)
          .header("Retry-After", o.retryAfterSeconds)
          .send({ error: Reason.settlementPending, status: payment.status, transaction: payment.txHash, message: "the payment is not settled yet; ask again later" });
    }
  });
}
