// Outputs kept against their payment before settlement: a retry after a crash, or a payer whose
// settlement was still pending, is given the output once the payment is settled, by whoever
// holds the retrieval token given with the answer (output ids alone may be public).
//   GET {outputsPath}/:outputId?token=…
//     settled                      -> 200, the stored body and content type, PAYMENT-RESPONSE
//     reserved/settling/pending    -> 425 + Retry-After, settlement_pending
//     failed/released              -> 402, the settlement's reason (nothing was charged)
//     unknown id or wrong token    -> 404 unknown_output
import { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { SettleResponse } from "@x402/core/types";
import { refuse, unavailable } from "./answers.ts";
import type { Runtime } from "./options.ts";
import { Reason } from "./reasons.ts";
import { displayPayer, responseExtra, settlementHeader } from "./receipts.ts";
import type { HeldOutput, PaymentRecord } from "./store.ts";

/**
 * Reads a reply payload to keep it without losing it: `bytes` is its content (null when it
 * cannot be kept: unreadable or over `max`), `body` is what to send in its place (the bytes, or
 * for a stream over `max` a stream of what was read followed by the rest).
 */
export async function keepPayload(payload: unknown, max: number): Promise<{ bytes: Uint8Array | null; body: unknown }> {
  if (payload === null || payload === undefined) return { bytes: new Uint8Array(0), body: payload };
  if (typeof payload === "string") {
    const bytes = Buffer.from(payload, "utf8");
    return { bytes: bytes.byteLength <= max ? bytes : null, body: payload };
  }
  if (payload instanceof Uint8Array) return { bytes: payload.byteLength <= max ? payload : null, body: payload };
  if (!(payload instanceof Readable) && typeof (payload as AsyncIterable<unknown>)[Symbol.asyncIterator] !== "function")
    return { bytes: null, body: payload };
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

/** The settled answer of a held output: its status, content type, body and PAYMENT-RESPONSE. */
export function sendHeldOutput(rt: Runtime, request: FastifyRequest, reply: FastifyReply, output: HeldOutput, payment: PaymentRecord) {
  const response: SettleResponse = {
    success: true,
    transaction: payment.txHash ?? "",
    network: payment.network as `${string}:${string}`,
    payer: displayPayer(payment.payer),
    amount: payment.amount,
    extra: responseExtra(rt, request, output.outputId, payment, true),
  };
  settlementHeader(reply.code(output.statusCode).header("Cache-Control", "no-store"), response);
  if (output.contentType) reply.header("Content-Type", output.contentType);
  return reply.send(Buffer.from(output.body));
}

export function heldOutputRoute(app: FastifyInstance, rt: Runtime): void {
  app.get<{ Params: { outputId: string }; Querystring: { token?: string } }>(`${rt.outputsPath}/:outputId`, async (request, reply) => {
    const { outputId } = request.params;
    const token = typeof request.query.token === "string" ? request.query.token : "";
    const notFound = () => refuse(reply, 404, Reason.unknownOutput, "no output held under this id and token");
    if (!token || outputId.length > 256) return notFound();
    let held;
    try {
      held = await rt.store.getHeldOutput(outputId);
    } catch (error) {
      request.log.error({ err: error }, "x402: reading a held output failed");
      return unavailable(rt, reply, "payment store unavailable");
    }
    if (!held || !rt.tokens.matches(token, held.output.tokenHash)) return notFound();
    const { output, payment } = held;
    switch (payment.status) {
      case "settled":
        return sendHeldOutput(rt, request, reply, output, payment);
      case "failed":
      case "released": {
        const reason = payment.errorReason ?? Reason.settlementFailed;
        const response: SettleResponse = {
          success: false,
          errorReason: reason,
          transaction: payment.txHash ?? "",
          network: payment.network as `${string}:${string}`,
          payer: displayPayer(payment.payer),
        };
        settlementHeader(reply, response);
        return refuse(reply, 402, reason, "the payment did not settle: nothing was charged and the output is not delivered");
      }
      default:
        return refuse(
          reply.header("Retry-After", rt.retryAfter),
          425,
          Reason.settlementPending,
          "the payment is not settled yet; ask again later",
          {
            status: payment.status,
            transaction: payment.txHash,
          },
        );
    }
  });
}
