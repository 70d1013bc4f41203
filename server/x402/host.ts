// How the model host mounts the x402 payment plugin: its options from the host's context, and
// the per-payment hooks the host adds (OpenAI-shaped errors, metrics, epoch scheduling).
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { FacilitatorClient } from "@x402/core/server";
import { decodePaymentResponseHeader } from "@x402/core/http";
import type { AppContext } from "../api/context.ts";
import { openAiErrorShape } from "../api/errors.ts";
import { Reason } from "../facilitator/index.ts";
import { REDELIVERED_HEADER, x402Payments } from "./plugin.ts";

export interface PaymentsMount {
  context: AppContext;
  facilitator: FacilitatorClient;
  publicUrl?: string | null;
  challengeRateLimit?: { max: number; windowSeconds: number } | null;
}

export async function registerPayments(app: FastifyInstance, mount: PaymentsMount): Promise<void> {
  const { context, facilitator, publicUrl, challengeRateLimit } = mount;
  const { token, models } = context;
  await app.register(x402Payments, {
    ledger: context.ledger,
    facilitator,
    network: context.network,
    asset: { address: token.address, name: token.name, version: token.version },
    payTo: (model: string) => models.get(model)?.splitter,
    ...(publicUrl ? { publicUrl } : {}),
    ...(challengeRateLimit ? { challengeRateLimit: { max: challengeRateLimit.max, timeWindow: challengeRateLimit.windowSeconds * 1000 } } : {}),
  });
  // Registered after the x402 plugin's own onRoute hook, so these run after its onSend.
  app.addHook("onRoute", (route) => {
    if (!route.config?.x402) return;
    const append = <T>(existing: T | T[] | undefined, hook: T): T[] => (existing === undefined ? [hook] : Array.isArray(existing) ? [...existing, hook] : [existing, hook]);
    route.onSend = append(route.onSend, (async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => openAiErrorShape(request, reply, payload)) as never);
    route.onResponse = append(route.onResponse, (async (request: FastifyRequest, reply: FastifyReply) => countPayment(context, request, reply)) as never);
  });
}

function countPayment(ctx: AppContext, request: FastifyRequest, reply: FastifyReply): void {
  const payment = request.x402;
  const requested = (request.body as { model?: unknown } | undefined)?.model;
  const model = payment?.model ?? (typeof requested === "string" && ctx.models.get(requested) ? requested : "unknown");
  const status = reply.statusCode;
  let outcome: string;
  // A re-delivery (same signed payment, already settled) is not a new payment; a 202 is still pending.
  if (reply.getHeader(REDELIVERED_HEADER) !== undefined) outcome = "redelivered";
  else if (status === 202) outcome = "pending";
  else if (status < 400) outcome = "settled";
  else if (status === 402) {
    const response = reply.getHeader("payment-response");
    if (request.headers["payment-signature"] === undefined) outcome = "challenged";
    else if (typeof response === "string") {
      let reason: string | undefined;
      try {
        reason = decodePaymentResponseHeader(response).errorReason;
      } catch {
        reason = undefined;
      }
      outcome = reason === Reason.settlementPending ? "pending" : "failed";
    } else outcome = "rejected";
  } else if (status === 409) outcome = "replayed";
  else if (status === 503) outcome = "unavailable";
  else if (payment) outcome = "released";
  else return; // malformed request or unknown model: not a payment
  ctx.metrics.payments.inc({ model, status: outcome });
  if (outcome === "settled" && payment) {
    ctx.metrics.paidAmount.inc({ model }, Number(payment.amount));
    ctx.scheduler.notePayment(payment.model);
  }
}
