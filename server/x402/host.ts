// How the model host mounts the x402 payment plugin: its options from the host's context, the
// OpenAI error shape on /v1 refusals, and the payment outcome event feeding the metrics and the
// epoch scheduler.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { FacilitatorClient } from "@x402/core/server";
import type { PaymentOutcome, PaymentScheme } from "@royalty402/fastify-x402";
import type { AppContext } from "../api/context.ts";
import { openAiErrorShape } from "../api/errors.ts";
import { linkFrontRun, type EmbeddedFacilitator } from "../facilitator/index.ts";
import { x402Payments } from "./payments.ts";
import { offeredSchemes } from "./schemes.ts";

export interface PaymentsMount {
  context: AppContext;
  facilitator: FacilitatorClient;
  /** The embedded facilitator behind `facilitator`, if any: its relayer links front-run payments. */
  embedded?: EmbeddedFacilitator | null;
  publicUrl?: string | null;
  challengeRateLimit?: { max: number; windowSeconds: number } | null;
}

/** Mounts the payments; returns the schemes paid routes may offer (exact, and upto when it can be settled). */
export async function registerPayments(app: FastifyInstance, mount: PaymentsMount): Promise<PaymentScheme[]> {
  const { context, facilitator, embedded, publicUrl, challengeRateLimit } = mount;
  const { token, models } = context;
  const schemes = await offeredSchemes(facilitator, Boolean(embedded), context.network, app.log, context.channels?.authorizer);
  await app.register(x402Payments, {
    ledger: context.ledger,
    facilitator,
    schemes,
    network: context.network,
    asset: { address: token.address, name: token.name, version: token.version },
    payTo: (resource: string) => models.payee(resource)?.splitter,
    provider: context.provider,
    retrievalSecret: retrievalSecret(context.config.dataDir),
    onOutcome: (outcome) => countPayment(context, outcome),
    ...(embedded ? { reconcile: { linkFront: (payment) => linkFrontRun(embedded.relayer, payment) } } : {}),
    ...(publicUrl ? { publicUrl } : {}),
    ...(challengeRateLimit
      ? { challengeRateLimit: { max: challengeRateLimit.max, timeWindow: challengeRateLimit.windowSeconds * 1000 } }
      : {}),
  });
  // Registered after the x402 plugin's own onRoute hook, so this runs after its onSend.
  app.addHook("onRoute", (route) => {
    if (!route.config?.x402) return;
    const hook = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => openAiErrorShape(request, reply, payload);
    route.onSend = route.onSend === undefined ? [hook] : Array.isArray(route.onSend) ? [...route.onSend, hook] : [route.onSend, hook];
  });
  return schemes;
}

/** The key of the retrieval tokens, kept in the data folder so tokens outlive a restart. */
function retrievalSecret(dataDir: string): Buffer {
  const file = join(dataDir, "x402-retrieval.key");
  try {
    const existing = Buffer.from(readFileSync(file, "utf8").trim(), "hex");
    if (existing.byteLength >= 32) return existing;
  } catch {
    // first start: make one
  }
  const secret = randomBytes(32);
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${secret.toString("hex")}\n`, { mode: 0o600 });
  return secret;
}

function countPayment(ctx: AppContext, outcome: PaymentOutcome): void {
  const model = ctx.models.payee(outcome.resource) ? outcome.resource : "unknown";
  ctx.metrics.payments.inc({ model, status: outcome.status });
  if (outcome.status === "settled") {
    ctx.metrics.paidAmount.inc({ model }, Number(outcome.amount ?? 0));
    ctx.scheduler.notePayment(outcome.resource);
  }
}
