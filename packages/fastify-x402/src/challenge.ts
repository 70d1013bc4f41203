// Stage 1, the challenge: 402 with PAYMENT-REQUIRED. A challenge must cost about what a static
// route costs: requirements and encoded answers are built once per (payee, amount, url, reason)
// and a route with a fixed resource and price resends its last answer from a callback hook.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { PaymentRequired, PaymentRequirements } from "@x402/core/types";
import { routeExtensions } from "./discovery.ts";
import type { Runtime } from "./options.ts";
import type { PaidRoute } from "./types.ts";
import { v1Accepts } from "./v1.ts";
import { PAYMENT_REQUIRED_HEADER, X402_VERSION, encodeChallenge } from "./wire.ts";

const CACHE_LIMIT = 10_000;

export interface Challenges {
  requirements(scheme: string, payTo: string, amount: bigint): PaymentRequirements;
  /** 402 with the offers (one per scheme) and the reason (x402's "Payment required" for a plain challenge). */
  send(
    reply: FastifyReply,
    request: FastifyRequest,
    route: PaidRoute,
    offers: readonly PaymentRequirements[],
    reason: string,
    message?: string,
  ): FastifyReply;
  encoded(
    request: FastifyRequest,
    route: PaidRoute,
    offers: readonly PaymentRequirements[],
    reason: string,
    message?: string,
  ): { header: string; body: string };
}

export const PLAIN_CHALLENGE = "Payment required";

export function challenges(rt: Runtime): Challenges {
  const requirementsCache = new Map<string, PaymentRequirements>();
  const answerCache = new Map<string, { header: string; body: string }>();
  /** Every offer built here (a shared one; a corrected copy is not). */
  const issued = new WeakSet<PaymentRequirements>();

  function requirements(scheme: string, payTo: string, amount: bigint): PaymentRequirements {
    const cacheKey = `${scheme}|${payTo}|${amount}`;
    let cached = requirementsCache.get(cacheKey);
    if (!cached) {
      cached = rt.schemes
        .get(scheme)!
        .requirements({ network: rt.network, asset: rt.asset, payTo, amount, maxTimeoutSeconds: rt.maxTimeoutSeconds });
      issued.add(cached);
      if (requirementsCache.size >= CACHE_LIMIT) requirementsCache.clear();
      requirementsCache.set(cacheKey, cached);
    }
    return cached;
  }

  function encoded(request: FastifyRequest, route: PaidRoute, offers: readonly PaymentRequirements[], reason: string, message?: string) {
    const url = `${rt.baseUrl(request)}${request.url}`;
    const offered = offers.map((o) => `${o.scheme}\u0000${o.payTo}\u0000${o.amount}`).join("\u0001");
    const cacheKey = `${offered}\u0000${request.method} ${url}\u0000${reason}\u0000${message ?? ""}`;
    // An offer not from the requirements cache is one payer's (a corrective 402's channel snapshot): never cached.
    const shared = offers.every((o) => issued.has(o));
    let cached = shared ? answerCache.get(cacheKey) : undefined;
    if (!cached) {
      const extensions = Object.assign(
        {},
        ...offers.map((o) => rt.schemes.get(o.scheme)?.extensions ?? {}),
        routeExtensions(rt, route, request.method),
      );
      const resource = { url, description: route.description ?? "", mimeType: route.mimeType ?? "application/json" };
      const paymentRequired: PaymentRequired = {
        x402Version: X402_VERSION,
        error: reason,
        resource,
        accepts: [...offers],
        ...(Object.keys(extensions).length > 0 ? { extensions } : {}),
      };
      // The body is the v1 challenge (v1 clients read it there); v2 clients read the header.
      const v1 = rt.v1Network ? v1Accepts(rt.v1Network, offers, resource) : [];
      const body = {
        ...(v1.length > 0 ? { x402Version: 1 } : {}),
        error: reason,
        ...(message ? { message } : {}),
        ...(v1.length > 0 ? { accepts: v1 } : {}),
      };
      cached = { header: encodeChallenge(paymentRequired), body: JSON.stringify(body) };
      if (answerCache.size >= CACHE_LIMIT) answerCache.clear();
      if (shared) answerCache.set(cacheKey, cached);
    }
    return cached;
  }

  function send(
    reply: FastifyReply,
    request: FastifyRequest,
    route: PaidRoute,
    offers: readonly PaymentRequirements[],
    reason: string,
    message?: string,
  ) {
    return sendEncoded(reply, encoded(request, route, offers, reason, message));
  }

  return { requirements, send, encoded };
}

export function sendEncoded(reply: FastifyReply, answer: { header: string; body: string }): FastifyReply {
  return reply
    .code(402)
    .header(PAYMENT_REQUIRED_HEADER, answer.header)
    .header("Cache-Control", "no-store")
    .header("Content-Type", "application/json; charset=utf-8")
    .send(answer.body);
}
