// Stage 2, admission: decode the payment, check it is what this request costs, verify it with
// the facilitator, reserve it in the store (one request per authorization, ever), or answer a
// payment seen before. A request admitted carries `request.x402` into the handler.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { PaymentPayload, PaymentRequirements, VerifyResponse } from "@x402/core/types";
import { refuse, unavailable } from "./answers.ts";
import { PLAIN_CHALLENGE, type Challenges } from "./challenge.ts";
import { runOperation } from "./operations.ts";
import type { Runtime } from "./options.ts";
import { awaitFirstRequest, checkPaymentId, claimPaymentId, type IdVerdict } from "./payment-identifier.ts";
import { Reason } from "./reasons.ts";
import { answerSeen } from "./redelivery.ts";
import type { PaymentIdentity, PaymentScheme } from "./schemes/scheme.ts";
import type { PaymentKey, PaymentRecord, ReserveResult } from "./store.ts";
import type { PaidRoute, PaymentContext, PaymentOutput } from "./types.ts";
import { X_PAYMENT_HEADER, decodeV1Payment, v1Requests } from "./v1.ts";
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
  payTo: string;
  amount: bigint;
  /** One offer per scheme the route offers, in the challenge's order. */
  offers: Array<{ scheme: PaymentScheme; requirements: PaymentRequirements }>;
  /** The offer the payment names (the first one until a payment is read). */
  scheme: PaymentScheme;
  requirements: PaymentRequirements;
}

/** The schemes a route offers, in its order (default: the first registered). */
export function offeredSchemes(rt: Runtime, route: PaidRoute): PaymentScheme[] {
  const names = route.scheme === undefined ? [rt.defaultScheme] : typeof route.scheme === "string" ? [route.scheme] : route.scheme;
  return names.map((name) => rt.schemes.get(name)!);
}

export function toAmount(value: bigint | string | number): bigint {
  const amount = typeof value === "bigint" ? value : BigInt(value);
  if (amount <= 0n) throw new Error("a paid route's price must be positive");
  return amount;
}

/** A request being admitted: what it costs and how to answer it. */
interface Admission extends Priced {
  rt: Runtime;
  ch: Challenges;
  route: PaidRoute;
  request: FastifyRequest;
  reply: FastifyReply;
}

/** Answers the request (challenge, refusal, replay) or admits it; resolves true when it answered. */
export async function admit(rt: Runtime, ch: Challenges, route: PaidRoute, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  const priced = await price(rt, ch, route, request);
  if (!priced) {
    refuse(reply, 404, Reason.unknownResource, `no paid resource named ${JSON.stringify(await resourceOf(route, request))}`);
    return true;
  }
  const a: Admission = { ...priced, rt, ch, route, request, reply };
  const checked = checkPayment(a);
  if (checked === true) return true;
  const { payload, identity } = checked;
  if (a.scheme.isOperation?.(payload)) {
    const reject = (reason: string, message: string | undefined, verdict: VerifyResponse) => rejected(a, reason, message, verdict);
    return runOperation({ rt, request, reply, requirements: a.requirements, payload, reject });
  }
  if (route.operationsOnly) {
    refuse(reply, 400, Reason.invalidPayload, "this route takes payment operations only (a batch-settlement refund), not payments");
    return true;
  }
  priced.scheme = a.scheme;
  priced.requirements = a.requirements;
  const key: PaymentKey = { network: rt.network, asset: rt.asset.address.toLowerCase(), payer: identity.payer, nonce: identity.nonce };
  const payloadJson = JSON.stringify(payload);
  const byId = await idempotent(a, () => checkPaymentId(rt, request, payload, key, priced.resource, a.requirements), key, payloadJson);
  if (byId === true) return true;
  const verdict = await verify(a, payload, key, payloadJson);
  if (verdict === true) return true;
  if (byId && byId.kind === "new" && (await idempotent(a, () => claimPaymentId(rt, byId.claim), key, payloadJson)) === true) return true;

  let reservation: ReserveResult;
  try {
    reservation = await reserve(rt, priced, key, payloadJson);
  } catch (error) {
    request.log.error({ err: error }, "x402: reserving the payment failed");
    return answerUnavailable(a, "payment store unavailable");
  }
  if (!reservation.reserved) {
    // A duplicate under a payment identifier waits for the first request's answer instead of a 409.
    if (byId?.kind === "new" || byId?.kind === "same") return answerAfterFirst(a, key, payloadJson);
    return answerSeenPayment(a, reservation.existing, payloadJson);
  }
  const { resource, amount, requirements, scheme } = priced;
  const ctx = paymentContext(rt, { resource, payer: verdict.payer ?? identity.payer, amount, requirements, payload, key });
  request.x402 = ctx;
  admitted.set(request, { ctx, scheme, payloadJson, finished: false });
  return false;
}

/**
 * A 402 naming what is wrong with the payment, with the challenge to pay again. With the facilitator's
 * verdict, the payment's scheme may correct its offer (a channel's snapshot for the client to resync from).
 */
function rejected(a: Admission, reason: string, message?: string, verdict?: VerifyResponse): true {
  a.rt.emit({ status: "rejected", resource: a.resource, request: a.request, reason });
  const offers = a.offers.map(({ scheme, requirements }) =>
    verdict && scheme === a.scheme && scheme.correctiveRequirements ? scheme.correctiveRequirements(requirements, verdict) : requirements,
  );
  a.ch.send(a.reply, a.request, a.route, offers, reason, message);
  return true;
}

const offersOf = (a: Admission) => a.offers.map((o) => o.requirements);

/** Decodes the payment and checks it is what this request costs, or answers (true). */
function checkPayment(a: Admission): { payload: PaymentPayload; identity: PaymentIdentity } | true {
  const { rt, request, reply } = a;
  const decoded = decodePayment(a);
  if (decoded === null) {
    rt.emit({ status: "challenged", resource: a.resource, request });
    a.ch.send(reply, request, a.route, offersOf(a), PLAIN_CHALLENGE);
    return true;
  }
  if (!decoded.ok) {
    if (decoded.status === 402) return rejected(a, decoded.reason, decoded.message);
    refuse(reply, decoded.status, decoded.reason, decoded.message);
    return true;
  }
  const payload = decoded.payload;
  const accepted = payload.accepted as unknown as Record<string, unknown>;
  const offer = a.offers.find((o) => o.scheme.scheme === accepted.scheme);
  if (!offer) return rejected(a, Reason.unsupportedScheme, `scheme must be ${a.offers.map((o) => o.scheme.scheme).join(" or ")}`);
  a.scheme = offer.scheme;
  a.requirements = offer.requirements;
  const { requirements, scheme } = a;
  const mismatch = scheme.checkAccepted(accepted, requirements);
  if (mismatch) return rejected(a, mismatch.reason, mismatch.message);
  const identity = scheme.identify(payload);
  if ("error" in identity) {
    refuse(reply, 400, Reason.invalidPayload, identity.error);
    return true;
  }
  return { payload, identity };
}

/** The request's payment: v2 from PAYMENT-SIGNATURE, else v1 from X-PAYMENT (translated to v2), else null. */
function decodePayment(a: Admission) {
  const { rt, request } = a;
  const v2 = request.headers[PAYMENT_SIGNATURE_HEADER];
  const v1 = request.headers[X_PAYMENT_HEADER];
  if (v2 !== undefined || v1 === undefined || !rt.v1Network) return decodePaymentHeader(v2, rt.maxHeaderBytes);
  v1Requests.add(request);
  const exact = a.offers.find((o) => o.scheme.scheme === "exact")?.requirements;
  return decodeV1Payment(v1, rt.v1Network, exact, rt.maxHeaderBytes);
}

/**
 * Runs a payment-identifier step and answers what it decided: a bad id (400), a conflict (409),
 * or the same request seen before (its answer, after waiting for it). Returns the verdict, or
 * true when it answered.
 */
async function idempotent(a: Admission, step: () => Promise<IdVerdict>, key: PaymentKey, payloadJson: string): Promise<IdVerdict | true> {
  let verdict: IdVerdict;
  try {
    verdict = await step();
  } catch (error) {
    a.request.log.error({ err: error }, "x402: reading the payment identifier failed");
    return answerUnavailable(a, "payment store unavailable");
  }
  switch (verdict.kind) {
    case "invalid":
      refuse(a.reply, 400, Reason.invalidPaymentIdentifier, verdict.message);
      return true;
    case "conflict":
      a.rt.emit({ status: "replayed", resource: a.resource, request: a.request });
      refuse(a.reply, 409, Reason.paymentIdentifierConflict, verdict.message);
      return true;
    case "same": {
      const first = await a.rt.store.get(key).catch(() => null);
      // Not reserved yet (the first request is verifying, or died before reserving) or given back
      // unused: this request goes on, and reserving picks one of them.
      if (!first || first.status === "released") return verdict;
      return answerAfterFirst(a, key, payloadJson);
    }
    default:
      return verdict;
  }
}

/** The first request's answer under this payment identifier, once it has one. */
async function answerAfterFirst(a: Admission, key: PaymentKey, payloadJson: string): Promise<true> {
  const first = await awaitFirstRequest(a.rt, key).catch(() => null);
  if (first) return answerSeenPayment(a, first, payloadJson);
  const message = "the first request with this payment identifier is still being answered; retry shortly";
  refuse(a.reply.header("Retry-After", a.rt.retryAfter), 409, Reason.paymentIdentifierConflict, message);
  return true;
}

/** The facilitator's verdict on a valid payment, or an answer (true). */
async function verify(a: Admission, payload: PaymentPayload, key: PaymentKey, payloadJson: string): Promise<VerifyResponse | true> {
  let verdict: VerifyResponse;
  try {
    verdict = await a.rt.facilitator.verify(payload, a.requirements);
  } catch (error) {
    return answerUnavailable(a, `facilitator unreachable: ${(error as Error).message}`);
  }
  if (verdict.isValid) return verdict;
  if (verdict.invalidReason === Reason.chainUnavailable) return answerUnavailable(a, verdict.invalidMessage ?? "chain unreachable");
  // A payment the store knows (settled, or being settled) fails verify however the facilitator
  // words it (used nonce, failed simulation): it may be a retry owed its answer. Unless the scheme
  // corrects the refusal: a stale channel client re-signs a voucher it paid before, and resyncs from
  // the corrective 402 to pay anew.
  const correct = a.scheme.correctiveRequirements;
  const corrected = correct !== undefined && correct(a.requirements, verdict) !== a.requirements;
  const seen = corrected ? null : await a.rt.store.get(key).catch(() => null);
  if (seen && seen.status !== "released") return answerSeenPayment(a, seen, payloadJson);
  return rejected(a, verdict.invalidReason ?? Reason.invalidPayload, verdict.invalidMessage, verdict);
}

async function resourceOf(route: PaidRoute, request: FastifyRequest): Promise<string> {
  return typeof route.resource === "function" ? await route.resource(request) : route.resource;
}

async function price(rt: Runtime, ch: Challenges, route: PaidRoute, request: FastifyRequest): Promise<Priced | null> {
  const resource = await resourceOf(route, request);
  const payTo = typeof resource === "string" ? await rt.payTo(resource) : undefined;
  if (!payTo) return null;
  const amount = toAmount(typeof route.price === "function" ? await route.price(request, resource) : route.price);
  const offers = offeredSchemes(rt, route).map((scheme) => ({ scheme, requirements: ch.requirements(scheme.scheme, payTo, amount) }));
  return { resource, payTo, amount, offers, scheme: offers[0].scheme, requirements: offers[0].requirements };
}

function answerUnavailable(a: Admission, message: string): true {
  a.rt.emit({ status: "unavailable", resource: a.resource, request: a.request });
  unavailable(a.rt, a.reply, message);
  return true;
}

async function answerSeenPayment(a: Admission, seen: PaymentRecord, payloadJson: string): Promise<true> {
  const { redelivered } = await answerSeen(a.rt, a.request, a.reply, seen, payloadJson);
  a.rt.emit({
    status: redelivered ? "redelivered" : a.reply.statusCode === 503 ? "unavailable" : "replayed",
    resource: a.resource,
    request: a.request,
  });
  return true;
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
        if (typeof next.outputId !== "string" || next.outputId.length === 0 || next.outputId.length > 256)
          throw new Error("outputId must be 1 to 256 characters");
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
