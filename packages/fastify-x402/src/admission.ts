// Stage 2, admission: decode the payment, check it is what this request costs, verify it with
// the facilitator, reserve it in the store (one request per authorization, ever), or answer a
// payment seen before. A request admitted carries `request.x402` into the handler.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { PaymentPayload, PaymentRequirements, VerifyResponse } from "@x402/core/types";
import { refuse, unavailable } from "./answers.ts";
import { PLAIN_CHALLENGE, type Challenges } from "./challenge.ts";
import type { Runtime } from "./options.ts";
import { Reason } from "./reasons.ts";
import { answerSeen } from "./redelivery.ts";
import type { PaymentScheme } from "./schemes/scheme.ts";
import type { PaymentKey, ReserveResult } from "./store.ts";
import type { PaidRoute, PaymentContext, PaymentOutput } from "./types.ts";
import { PAYMENT_SIGNATURE_HEADER, decodePaymentHeader } from "./wire.ts";

/** A request admitted with a payment, until its settlement stage has run. */
export interface AdmittedPayment {
  ctx: PaymentContext;
  scheme: PaymentScheme;
  /** The PaymentPayload as the store keeps it (what a retry must match byte for byte). */
  payloadJson: string;
  finished: boolean;
}

export const admitted = new WeakMap<FastifyRequest, AdmittedPayment>();

interface Priced {
  resource: string;
  scheme: PaymentScheme;
  payTo: string;
  amount: bigint;
  requirements: PaymentRequirements;
}

export function toAmount(value: bigint | string | number): bigint {
  const amount = typeof value === "bigint" ? value : BigInt(value);
  if (amount <= 0n) throw new Error("a paid route's price must be positive");
  return amount;
}

/** Answers the request (challenge, refusal, replay) or admits it; resolves true when it answered. */
export async function admit(rt: Runtime, ch: Challenges, route: PaidRoute, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  const priced = await price(rt, ch, route, request);
  if (!priced) {
    refuse(reply, 404, Reason.unknownResource, `no paid resource named ${JSON.stringify(await resourceOf(route, request))}`);
    return true;
  }
  const { resource, scheme, requirements } = priced;
  const rejected = (reason: string, message?: string) => {
    rt.emit({ status: "rejected", resource, request, reason });
    ch.send(reply, request, route, requirements, reason, message);
    return true;
  };
  const decoded = decodePaymentHeader(request.headers[PAYMENT_SIGNATURE_HEADER], rt.maxHeaderBytes);
  if (decoded === null) {
    rt.emit({ status: "challenged", resource, request });
    ch.send(reply, request, route, requirements, PLAIN_CHALLENGE);
    return true;
  }
  if (!decoded.ok) {
    if (decoded.status === 402) return rejected(decoded.reason, decoded.message);
    refuse(reply, decoded.status, decoded.reason, decoded.message);
    return true;
  }
  const payload = decoded.payload;
  const accepted = payload.accepted as unknown as Record<string, unknown>;
  if (accepted.scheme !== requirements.scheme) return rejected(Reason.unsupportedScheme, `scheme must be ${requirements.scheme}`);
  const mismatch = scheme.checkAccepted(accepted, requirements);
  if (mismatch) return rejected(mismatch.reason, mismatch.message);
  const identity = scheme.identify(payload);
  if ("error" in identity) {
    refuse(reply, 400, Reason.invalidPayload, identity.error);
    return true;
  }
  const key: PaymentKey = { network: rt.network, asset: rt.asset.address.toLowerCase(), payer: identity.payer, nonce: identity.nonce };
  const payloadJson = JSON.stringify(payload);

  let verdict: VerifyResponse;
  try {
    verdict = await rt.facilitator.verify(payload, requirements);
  } catch (error) {
    return answerUnavailable(rt, request, reply, resource, `facilitator unreachable: ${(error as Error).message}`);
  }
  if (!verdict.isValid) {
    if (verdict.invalidReason === Reason.chainUnavailable) return answerUnavailable(rt, request, reply, resource, verdict.invalidMessage ?? "chain unreachable");
    // A payment the store knows (settled, or being settled) fails verify however the facilitator
    // words it (used nonce, failed simulation): it may be a retry owed its answer.
    const seen = await rt.store.get(key).catch(() => null);
    if (seen && seen.status !== "released") return answerSeenPayment(rt, request, reply, resource, seen, payloadJson);
    return rejected(verdict.invalidReason ?? Reason.invalidPayload, verdict.invalidMessage);
  }

  let reservation: ReserveResult;
  try {
    reservation = await reserve(rt, priced, key, payloadJson);
  } catch (error) {
    request.log.error({ err: error }, "x402: reserving the payment failed");
    return answerUnavailable(rt, request, reply, resource, "payment store unavailable");
  }
  if (!reservation.reserved) return answerSeenPayment(rt, request, reply, resource, reservation.existing, payloadJson);

  const ctx = paymentContext(rt, { resource, payer: verdict.payer ?? identity.payer, amount: priced.amount, requirements, payload, key });
  request.x402 = ctx;
  admitted.set(request, { ctx, scheme, payloadJson, finished: false });
  return false;
}

async function resourceOf(route: PaidRoute, request: FastifyRequest): Promise<string> {
  return typeof route.resource === "function" ? await route.resource(request) : route.resource;
}

async function price(rt: Runtime, ch: Challenges, route: PaidRoute, request: FastifyRequest): Promise<Priced | null> {
  const resource = await resourceOf(route, request);
  const payTo = typeof resource === "string" ? await rt.payTo(resource) : undefined;
  if (!payTo) return null;
  const amount = toAmount(typeof route.price === "function" ? await route.price(request, resource) : route.price);
  const scheme = rt.schemes.get(route.scheme ?? rt.defaultScheme)!;
  return { resource, scheme, payTo, amount, requirements: ch.requirements(scheme.scheme, payTo, amount) };
}

function answerUnavailable(rt: Runtime, request: FastifyRequest, reply: FastifyReply, resource: string, message: string): true {
  rt.emit({ status: "unavailable", resource, request });
  unavailable(rt, reply, message);
  return true;
}

async function answerSeenPayment(rt: Runtime, request: FastifyRequest, reply: FastifyReply, resource: string, seen: Parameters<typeof answerSeen>[3], payloadJson: string) {
  const { redelivered } = await answerSeen(rt, request, reply, seen, payloadJson);
  rt.emit({ status: redelivered ? "redelivered" : reply.statusCode === 503 ? "unavailable" : "replayed", resource, request });
  return true as const;
}

/**
 * Reserves the payment. One released unused (its handler failed, or the chain was unreachable)
 * is taken again by compare-and-set: one retry wins, as on a first reserve. It must be the same
 * purchase (resource, payee, amount).
 */
async function reserve(rt: Runtime, priced: Priced, key: PaymentKey, payloadJson: string): Promise<ReserveResult> {
  const payTo = priced.payTo.toLowerCase();
  const amount = priced.amount.toString();
  const result = await rt.store.reserve({ ...key, payTo, amount, resource: priced.resource, outputId: null, payload: payloadJson });
  if (result.reserved) return result;
  const seen = result.existing;
  if (seen.status !== "released" || seen.resource !== priced.resource || seen.payTo !== payTo || seen.amount !== amount) return result;
  const again = await rt.store.transition(key, ["released"], "reserved", { errorReason: null, txHash: null });
  if (again) return { reserved: true, payment: again };
  return { reserved: false, existing: (await rt.store.get(key)) ?? seen };
}

function paymentContext(
  rt: Runtime,
  fields: { resource: string; payer: string; amount: bigint; requirements: PaymentRequirements; payload: PaymentPayload; key: PaymentKey },
): PaymentContext {
  const output: PaymentOutput = {};
  let outputId = rt.outputIdFor(fields.key);
  return {
    ...fields,
    get outputId() {
      return outputId;
    },
    output,
    setOutput(next) {
      if (next.outputId !== undefined) {
        if (typeof next.outputId !== "string" || next.outputId.length === 0 || next.outputId.length > 256) throw new Error("outputId must be 1 to 256 characters");
        outputId = next.outputId;
      }
      if (next.usage !== undefined && (typeof next.usage !== "bigint" || next.usage < 0n || next.usage > fields.amount)) {
        throw new Error("usage must be a bigint between 0 and the authorized amount");
      }
      rt.hooks.checkOutput?.(next);
      Object.assign(output, next);
    },
  };
}
