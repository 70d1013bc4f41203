// The plugin's refusals: a JSON body {error: reason, message} and no caching.
import type { FastifyReply } from "fastify";
import type { Runtime } from "./options.ts";
import { Reason } from "./reasons.ts";
import type { PaymentStatus } from "./store.ts";

export function refuse(reply: FastifyReply, status: number, reason: string, message: string, extra: Record<string, unknown> = {}) {
  return reply
    .code(status)
    .header("Cache-Control", "no-store")
    .send({ error: reason, message, ...extra });
}

export function unavailable(rt: Runtime, reply: FastifyReply, message: string) {
  return refuse(reply.header("Retry-After", rt.retryAfter), 503, Reason.chainUnavailable, message);
}

export function replayed(reply: FastifyReply, status: PaymentStatus | null, message = "this payment authorization was already presented") {
  return refuse(reply, 409, Reason.paymentReplayed, message, { status });
}

/** Replaces a reply's payload by a JSON refusal from onSend (a stream being replaced is destroyed). */
export function replacePayload(reply: FastifyReply, payload: unknown, status: number): FastifyReply {
  if (payload && typeof (payload as { destroy?: unknown }).destroy === "function") (payload as { destroy: () => void }).destroy();
  reply.removeHeader("content-length");
  return reply.code(status).header("Content-Type", "application/json; charset=utf-8").header("Cache-Control", "no-store");
}
