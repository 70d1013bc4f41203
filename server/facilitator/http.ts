// The standard x402 facilitator HTTP API over the embedded facilitator, as a fastify plugin:
//   POST {prefix}/verify   {x402Version, paymentPayload, paymentRequirements} -> VerifyResponse
//   POST {prefix}/settle   {x402Version, paymentPayload, paymentRequirements} -> SettleResponse
//   GET  {prefix}/supported -> {kinds, extensions, signers}
// A refused payment is a 200 with isValid/success false and a reason code (as the reference
// facilitator answers); a malformed request is a 400; an unreachable chain is a 503 with Retry-After.
import type { FastifyInstance, FastifyReply } from "fastify";
import type { FacilitatorClient } from "@x402/core/server";
import { Reason } from "./reasons.ts";

export interface FacilitatorHttpOptions {
  facilitator: FacilitatorClient;
  /** Seconds a client should wait after a 503. */
  retryAfterSeconds?: number;
}

const MAX_BODY_BYTES = 64 * 1024;

type RequestCheck = { ok: true; paymentPayload: any; paymentRequirements: any } | { ok: false; reason: string; message: string };

function checkBody(body: unknown): RequestCheck {
  if (!body || typeof body !== "object") return { ok: false, reason: Reason.invalidPayload, message: "body must be a JSON object" };
  const { x402Version, paymentPayload, paymentRequirements } = body as Record<string, unknown>;
  if (!paymentPayload || typeof paymentPayload !== "object")
    return { ok: false, reason: Reason.invalidPayload, message: "paymentPayload is required" };
  if (!paymentRequirements || typeof paymentRequirements !== "object")
    return { ok: false, reason: Reason.invalidPayload, message: "paymentRequirements is required" };
  const version = x402Version ?? (paymentPayload as { x402Version?: unknown }).x402Version;
  if (version !== 2 || (paymentPayload as { x402Version?: unknown }).x402Version !== 2) {
    return { ok: false, reason: Reason.invalidX402Version, message: "only x402Version 2 is supported" };
  }
  return { ok: true, paymentPayload, paymentRequirements };
}

export async function facilitatorRoutes(app: FastifyInstance, options: FacilitatorHttpOptions): Promise<void> {
  const { facilitator } = options;
  const retryAfter = String(options.retryAfterSeconds ?? 5);
  const unavailable = (reply: FastifyReply) => reply.code(503).header("Retry-After", retryAfter);

  app.post("/verify", { bodyLimit: MAX_BODY_BYTES }, async (request, reply) => {
    const check = checkBody(request.body);
    if (!check.ok) return reply.code(400).send({ isValid: false, invalidReason: check.reason, invalidMessage: check.message });
    const result = await facilitator.verify(check.paymentPayload, check.paymentRequirements);
    if (result.invalidReason === Reason.chainUnavailable) unavailable(reply);
    return reply.send(result);
  });

  app.post("/settle", { bodyLimit: MAX_BODY_BYTES }, async (request, reply) => {
    const check = checkBody(request.body);
    const network = (request.body as { paymentRequirements?: { network?: unknown } } | undefined)?.paymentRequirements?.network;
    if (!check.ok) {
      return reply.code(400).send({
        success: false,
        errorReason: check.reason,
        errorMessage: check.message,
        transaction: "",
        network: typeof network === "string" ? network : "",
      });
    }
    const result = await facilitator.settle(check.paymentPayload, check.paymentRequirements);
    if (result.errorReason === Reason.chainUnavailable) unavailable(reply);
    return reply.send(result);
  });

  app.get("/supported", async () => facilitator.getSupported());
}
