// x402 payments for fastify routes. A route opts in with `config.x402 = { model, price }`:
//   no PAYMENT-SIGNATURE      -> 402, PAYMENT-REQUIRED (base64 PaymentRequired), Cache-Control: no-store
//                                (429 + Retry-After past the optional challenge rate limit)
//   malformed header          -> 400 invalid_payload (431 payment_header_too_large)
//   wrong version/scheme/network/asset/payTo/amount -> 402 with the reason code
//   verify refuses            -> 402 with the facilitator's reason code
//   authorization seen before -> 409 payment_replayed (sequential or concurrent: the handler never runs twice),
//                                unless it was released unused (handler failure): then it may run again,
//                                or it is the byte-identical payload of a payment settled (200, the kept
//                                output re-delivered) or being settled (202 settlement_pending)
//   chain/ledger unreachable  -> 503 + Retry-After, nothing charged
// Otherwise the authorization is RESERVED in the ledger, the handler runs, its output is kept in
// the ledger (before anything reaches the chain), and the payment is settled before the response
// leaves: 2xx + PAYMENT-RESPONSE (extra: outputId, attributionUrl).
// The ledger row goes reserved -> settling (with the batch transaction's hash, written before
// it is broadcast) -> settled, so a crash at any point is recoverable (reconciler.ts).
// A handler error (status >= 400) releases the reservation and charges nothing; a settlement
// failure turns the response into a 402 with the settle reason (the output is not delivered);
// a settlement still pending keeps the output in the ledger and answers 202 with where to
// fetch it once settled (held-outputs.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from "fastify";
import rateLimit from "@fastify/rate-limit";
import type { FacilitatorClient } from "@x402/core/server";
import type { PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse } from "@x402/core/types";
import { ZeroHash, getAddress, keccak256 } from "ethers";
import type { Ledger, PaymentKey, PaymentRecord, PaymentStatus, ReserveResult } from "../ledger/types.ts";
import { hashPaymentKey } from "../facilitator/abi.ts";
import { EmbeddedFacilitator, ROYALTY_EXTENSION, type RoyaltyExtension, type SettleOptions } from "../facilitator/facilitator.ts";
import type { FinalSettlement } from "../facilitator/outcome.ts";
import { parseExactEvmPayload } from "../facilitator/payload.ts";
import { Reason, isTransportError } from "../facilitator/reasons.ts";
import { DEFAULT_MAX_HELD_OUTPUT_BYTES, DEFAULT_OUTPUTS_PATH, heldOutputRoutes, keepPayload, retrievalTokenFor } from "./held-outputs.ts";
import { PaymentReconciler, type ReconcileOptions } from "./reconciler.ts";
import {
  DEFAULT_MAX_PAYMENT_HEADER_BYTES,
  PAYMENT_REQUIRED_HEADER,
  PAYMENT_RESPONSE_HEADER,
  PAYMENT_SIGNATURE_HEADER,
  X402_VERSION,
  checkAccepted,
  decodePaymentHeader,
  encodeChallenge,
  encodeSettlement,
} from "./wire.ts";

type Awaitable<T> = T | Promise<T>;

/** What a paid route declares. */
export interface PaidRoute {
  /** The model this route serves, or how to read it from the request (e.g. the body's `model`). */
  model: string | ((request: FastifyRequest) => Awaitable<string>);
  /** Price in atomic token units, fixed or computed from the request (e.g. from max_tokens). */
  price: bigint | string | number | ((request: FastifyRequest, model: string) => Awaitable<bigint | string | number>);
  description?: string;
  mimeType?: string;
}

export interface ChallengeRateLimit {
  /** Challenges (requests without PAYMENT-SIGNATURE) allowed per client and window. */
  max: number;
  /** Window in ms, or a duration string such as "1 minute". */
  timeWindow: number | string;
  /** Who a client is; default: the request's IP. */
  keyGenerator?: (request: FastifyRequest) => string | number | Promise<string | number>;
}

export interface X402Options {
  ledger: Ledger;
  /** The embedded facilitator, or any facilitator by URL (new HTTPFacilitatorClient({ url })). */
  facilitator: FacilitatorClient;
  /** CAIP-2 network, e.g. "eip155:31337". */
  network: string;
  /** The payment token and its EIP-712 domain (USDC: "USD Coin", "2"). */
  asset: { address: string; name: string; version: string };
  /** The splitter (payTo) of a model; undefined for an unknown model (answered 404 unknown_model). */
  payTo: (model: string) => Awaitable<string | undefined>;
  maxTimeoutSeconds?: number; // default 300
  maxPaymentHeaderBytes?: number; // default 8 KiB
  retryAfterSeconds?: number; // default 5
  /** Base URL for `resource.url` in challenges; default: from the request's Host. */
  publicUrl?: string;
  /** Where an output's attribution record is served; default `${publicUrl}/attributions/${outputId}`. */
  attributionUrl?: (outputId: string) => string;
  /** Where a payer fetches an output whose settlement was pending; default "/x402/outputs". */
  outputsPath?: string;
  /** Largest streamed body kept for a pending settlement (default 4 MiB). */
  maxHeldOutputBytes?: number;
  /**
   * Crash recovery: payments left open are settled from chain facts, at start and periodically.
   * On by default with the embedded facilitator (its provider); give `provider` to use it with
   * an external facilitator; false turns it off.
   */
  reconcile?: ReconcileOptions | false;
  /** Rate limit on 402 challenges, per client (@fastify/rate-limit). Off by default. */
  challengeRateLimit?: ChallengeRateLimit | false;
}

/** What the handler of a paid route sees (request.x402) and may set. */
export interface PaymentContext {
  readonly model: string;
  readonly payer: string;
  readonly amount: bigint;
  readonly requirements: PaymentRequirements;
  readonly payload: PaymentPayload;
  readonly key: PaymentKey;
  /** Defaults to a hash of the payment key; the handler may name its own. */
  outputId: string;
  /** keccak256 of the output's attribution record (bytes32); zero until the handler sets it. */
  attributionRoot: string;
  attributionUrl?: string;
  /** The handler names what the payment bought: recorded on-chain with the settlement. */
  setOutput(o: { outputId?: string; attributionRoot?: string; attributionUrl?: string }): void;
}

declare module "fastify" {
  interface FastifyRequest {
    x402?: PaymentContext;
  }
  interface FastifyContextConfig {
    x402?: PaidRoute;
  }
}

interface RequestState {
  ctx: PaymentContext;
  /** The PaymentPayload as the ledger stores it (what a retry must match byte for byte). */
  payloadJson: string;
  finished: boolean;
}

/** Marks an answer given again to a retry of a payment already settled or being settled. */
export const REDELIVERED_HEADER = "X-Royalty402-Redelivered";

const states = new WeakMap<FastifyRequest, RequestState>();
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
/** Payment states a request of this process may still move forward. */
const IN_FLIGHT: PaymentStatus[] = ["reserved", "settling"];
/** How long a retry of a payment still settling waits for the reconciler's pass at start. */
const START_PASS_WAIT_MS = 2000;

function defaultOutputId(key: PaymentKey): string {
  return hashPaymentKey(key.network, key.asset, key.payer, key.nonce);
}

function keyId(key: PaymentKey): string {
  return `${key.network}|${key.asset}|${key.payer}|${key.nonce}`.toLowerCase();
}

function toAmount(value: bigint | string | number): bigint {
  const amount = typeof value === "bigint" ? value : BigInt(value);
  if (amount <= 0n) throw new Error("a paid route's price must be positive");
  return amount;
}

export async function x402Payments(app: FastifyInstance, options: X402Options): Promise<void> {
  const { ledger, facilitator, network } = options;
  const asset = getAddress(options.asset.address);
  const maxTimeoutSeconds = options.maxTimeoutSeconds ?? 300;
  const maxHeaderBytes = options.maxPaymentHeaderBytes ?? DEFAULT_MAX_PAYMENT_HEADER_BYTES;
  const maxHeldBytes = options.maxHeldOutputBytes ?? DEFAULT_MAX_HELD_OUTPUT_BYTES;
  const retryAfter = String(options.retryAfterSeconds ?? 5);
  const outputsPath = (options.outputsPath ?? DEFAULT_OUTPUTS_PATH).replace(/\/+$/, "");
  // The embedded facilitator journals the settlement hash before broadcasting (beforeBroadcast).
  const embedded = facilitator instanceof EmbeddedFacilitator ? facilitator : null;
  const awaitingFinal = new Set<string>();
  /** The reconciler's pass at start while it runs (crash recovery), else null. */
  let startPass: Promise<unknown> | null = null;
  const earlyFinals = new Map<string, FinalSettlement>();

  const baseUrl = (request: FastifyRequest) => options.publicUrl ?? `${request.protocol}://${request.host}`;
  const attributionUrlAt = (base: string, outputId: string) => (options.attributionUrl ? options.attributionUrl(outputId) : `${base}/attributions/${outputId}`);
  const attributionUrl = (request: FastifyRequest, outputId: string) => attributionUrlAt(baseUrl(request), outputId);

  // A challenge must cost about what a static route costs: the requirements, the encoded
  // PAYMENT-REQUIRED header and the body are built once per (payTo, amount, url, reason) and
  // a challenge is then a Map lookup.
  const requirementsCache = new Map<string, PaymentRequirements>();
  function requirementsFor(payTo: string, amount: bigint): PaymentRequirements {
    const cacheKey = `${payTo}|${amount}`;
    let requirements = requirementsCache.get(cacheKey);
    if (!requirements) {
      requirements = {
        scheme: "exact",
        network: network as `${string}:${string}`,
        asset,
        amount: amount.toString(),
        payTo: getAddress(payTo),
        maxTimeoutSeconds,
        extra: { name: options.asset.name, version: options.asset.version },
      };
      if (requirementsCache.size >= 10_000) requirementsCache.clear();
      requirementsCache.set(cacheKey, requirements);
    }
    return requirements;
  }

  const challengeCache = new Map<string, { header: string; body: string }>();
  function challenge(request: FastifyRequest, route: PaidRoute, requirements: PaymentRequirements, error: string, message?: string): { header: string; body: string } {
    const url = `${baseUrl(request)}${request.url}`;
    const cacheKey = `${requirements.payTo}\u0000${requirements.amount}\u0000${url}\u0000${error}\u0000${message ?? ""}`;
    let cached = challengeCache.get(cacheKey);
    if (!cached) {
      const paymentRequired: PaymentRequired = {
        x402Version: X402_VERSION,
        error,
        resource: { url, description: route.description ?? "", mimeType: route.mimeType ?? "application/json" },
        accepts: [requirements],
      };
      cached = { header: encodeChallenge(paymentRequired), body: JSON.stringify({ error, ...(message ? { message } : {}) }) };
      if (challengeCache.size >= 10_000) challengeCache.clear();
      challengeCache.set(cacheKey, cached);
    }
    return cached;
  }

  function paymentRequired(reply: FastifyReply, request: FastifyRequest, route: PaidRoute, requirements: PaymentRequirements, reason: string, message?: string) {
    const { header, body } = challenge(request, route, requirements, reason, message);
    return reply
      .code(402)
      .header(PAYMENT_REQUIRED_HEADER, header)
      .header("Cache-Control", "no-store")
      .header("Content-Type", "application/json; charset=utf-8")
      .send(body);
  }

  function unavailable(reply: FastifyReply, message: string) {
    return reply.code(503).header("Retry-After", retryAfter).header("Cache-Control", "no-store").send({ error: Reason.chainUnavailable, message });
  }

  function replayed(reply: FastifyReply, status: PaymentStatus) {
    return reply.code(409).header("Cache-Control", "no-store").send({ error: Reason.paymentReplayed, message: "this payment authorization was already presented", status });
  }

  /**
   * Reserves the authorization. A payment released unused (its handler failed, or settlement
   * could not reach the chain) is taken again by compare-and-set: one retry wins, as on a
   * first reserve. It must be the same purchase (model, payee, amount).
   */
  async function reserve(key: PaymentKey, payTo: string, amount: bigint, model: string, payloadJson: string): Promise<ReserveResult> {
    const result = await ledger.reserve({ ...key, payTo: payTo.toLowerCase(), amount: amount.toString(), modelId: model, outputId: null, payload: payloadJson });
    if (result.reserved) return result;
    const seen = result.existing;
    if (seen.status !== "released" || seen.modelId !== model || seen.payTo !== payTo.toLowerCase() || seen.amount !== amount.toString()) return result;
    const again = await ledger.transition(key, ["released"], "reserved", { errorReason: null, txHash: null });
    if (again) return { reserved: true, payment: again };
    return { reserved: false, existing: (await ledger.getPayment(key)) ?? seen };
  }

  async function preHandler(route: PaidRoute, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const model = typeof route.model === "function" ? await route.model(request) : route.model;
    const payTo = typeof model === "string" ? await options.payTo(model) : undefined;
    if (!payTo) return reply.code(404).send({ error: "unknown_model", message: `no paid model named ${JSON.stringify(model)}` });
    const amount = toAmount(typeof route.price === "function" ? await route.price(request, model) : route.price);
    const requirements = requirementsFor(payTo, amount);

    const decoded = decodePaymentHeader(request.headers[PAYMENT_SIGNATURE_HEADER], maxHeaderBytes);
    if (decoded === null) return paymentRequired(reply, request, route, requirements, "Payment required");
    if (!decoded.ok) {
      if (decoded.status === 402) return paymentRequired(reply, request, route, requirements, decoded.reason, decoded.message);
      return reply.code(decoded.status).header("Cache-Control", "no-store").send({ error: decoded.reason, message: decoded.message });
    }
    const payload = decoded.payload;
    const mismatch = checkAccepted(payload.accepted, requirements);
    if (mismatch) return paymentRequired(reply, request, route, requirements, mismatch.reason, mismatch.message);
    const parsed = parseExactEvmPayload(payload);
    if ("error" in parsed) return reply.code(400).header("Cache-Control", "no-store").send({ error: Reason.invalidPayload, message: parsed.error });

    const key: PaymentKey = { network, asset: asset.toLowerCase(), payer: parsed.authorization.from.toLowerCase(), nonce: parsed.authorization.nonce };
    const payloadJson = JSON.stringify(payload);
    let verdict;
    try {
      verdict = await facilitator.verify(payload, requirements);
    } catch (error) {
      return unavailable(reply, `facilitator unreachable: ${(error as Error).message}`);
    }
    if (!verdict.isValid) {
      if (verdict.invalidReason === Reason.chainUnavailable) return unavailable(reply, verdict.invalidMessage ?? "chain unreachable");
      if (verdict.invalidReason === Reason.nonceUsed) {
        const seen = await ledger.getPayment(key).catch(() => null);
        if (seen) return answerSeen(request, reply, seen, payloadJson);
      }
      return paymentRequired(reply, request, route, requirements, verdict.invalidReason ?? Reason.invalidPayload, verdict.invalidMessage);
    }

    let reservation;
    try {
      reservation = await reserve(key, payTo, amount, model, payloadJson);
    } catch (error) {
      request.log.error({ err: error }, "x402: ledger reserve failed");
      return unavailable(reply, "payment ledger unavailable");
    }
    if (!reservation.reserved) return answerSeen(request, reply, reservation.existing, payloadJson);

    const ctx: PaymentContext = {
      model,
      payer: parsed.authorization.from,
      amount,
      requirements,
      payload,
      key,
      outputId: defaultOutputId(key),
      attributionRoot: ZeroHash,
      setOutput(o) {
        if (o.outputId !== undefined) ctx.outputId = o.outputId;
        if (o.attributionRoot !== undefined) {
          if (!BYTES32.test(o.attributionRoot)) throw new Error("attributionRoot must be bytes32 hex");
          ctx.attributionRoot = o.attributionRoot;
        }
        if (o.attributionUrl !== undefined) ctx.attributionUrl = o.attributionUrl;
      },
    };
    request.x402 = ctx;
    states.set(request, { ctx, payloadJson, finished: false });
    return undefined;
  }

  /**
   * A payment seen before. The very same signed payload (byte for byte) of a payment already
   * settled gets the answer its first request would have had (the output the ledger holds,
   * with the settlement's PAYMENT-RESPONSE), marked as a re-delivery: its first answer may have
   * died with a crashed process. One still settling gets the 202 of a pending settlement.
   * Nothing runs and nothing is settled again. Anything else is a replay (409).
   */
  async function answerSeen(request: FastifyRequest, reply: FastifyReply, seen: PaymentRecord, payloadJson: string) {
    if ((seen.status === "settling" || seen.status === "pending") && startPass && seen.payload === payloadJson) {
      // Left open by a process that died: the reconciler's pass at start is about to record it
      // from the chain; a retry that waits briefly for it can be given the output at once.
      await Promise.race([startPass, new Promise((resolve) => setTimeout(resolve, START_PASS_WAIT_MS).unref())]);
      seen = (await ledger.getPayment(seen).catch(() => null)) ?? seen;
    }
    const deliverable = seen.status === "settled" || seen.status === "pending" || seen.status === "settling";
    if (!deliverable || seen.payload !== payloadJson || !seen.outputId) return replayed(reply, seen.status);
    let held;
    try {
      held = await ledger.getHeldOutput(seen.outputId);
    } catch (error) {
      request.log.error({ err: error }, "x402: ledger read of a held output failed");
      return unavailable(reply, "payment ledger unavailable");
    }
    if (!held || keyId(held.output) !== keyId(seen)) return replayed(reply, seen.status);
    const { output, payment } = held;
    const payer = getAddress(payment.payer);
    const extra = { outputId: output.outputId, attributionUrl: attributionUrl(request, output.outputId) };
    reply.header(REDELIVERED_HEADER, "true");
    if (payment.status === "settled") {
      const response: SettleResponse = { success: true, transaction: payment.txHash ?? "", network: payment.network as `${string}:${string}`, payer, amount: payment.amount, extra };
      reply.code(output.statusCode).header("Cache-Control", "no-store").header(PAYMENT_RESPONSE_HEADER, encodeSettlement(response));
      if (output.contentType) reply.header("Content-Type", output.contentType);
      return reply.send(Buffer.from(output.body));
    }
    if (payment.status !== "pending" && payment.status !== "settling") return replayed(reply.removeHeader(REDELIVERED_HEADER), payment.status);
    const outputUrl = `${baseUrl(request)}${outputsPath}/${encodeURIComponent(output.outputId)}?token=${retrievalTokenFor(payment.payload).token}`;
    const result: SettleResponse = { success: false, errorReason: Reason.settlementPending, transaction: payment.txHash ?? "", network: payment.network as `${string}:${string}`, payer };
    pendingAnswer(reply, result, output.outputId, extra.attributionUrl, outputUrl);
    return reply.send(pendingBody(result.transaction, output.outputId, outputUrl));
  }

  async function release(state: RequestState, why: string): Promise<void> {
    state.finished = true;
    await ledger.transition(state.ctx.key, ["reserved"], "released", { errorReason: why }).catch(() => null);
  }

  /** Settles through the facilitator; a thrown error becomes a failed SettleResponse. */
  async function settle(ctx: PaymentContext, settleOptions: SettleOptions): Promise<SettleResponse> {
    // A bytes32 output id goes on-chain as is; any other id is hashed into one.
    const onChainOutputId = BYTES32.test(ctx.outputId) ? ctx.outputId : keccak256(Buffer.from(ctx.outputId, "utf8"));
    const royalty: RoyaltyExtension = { outputId: onChainOutputId, attributionRoot: ctx.attributionRoot };
    const settlePayload: PaymentPayload = { ...ctx.payload, extensions: { ...ctx.payload.extensions, [ROYALTY_EXTENSION]: royalty } };
    try {
      return embedded ? await embedded.settle(settlePayload, ctx.requirements, settleOptions) : await facilitator.settle(settlePayload, ctx.requirements);
    } catch (error) {
      const reason = (error as { errorReason?: string }).errorReason ?? (isTransportError(error) ? Reason.chainUnavailable : Reason.transactionFailed);
      return { success: false, errorReason: reason, errorMessage: (error as Error).message, transaction: "", network: network as `${string}:${string}` };
    }
  }

  async function onSend(request: FastifyRequest, reply: FastifyReply, body: unknown): Promise<unknown> {
    const state = states.get(request);
    if (!state || state.finished) return body;
    if (reply.statusCode >= 400) {
      await release(state, `handler_status_${reply.statusCode}`);
      return body;
    }
    state.finished = true;
    const { ctx } = state;

    // Keep the output against the payment before anything can reach the chain: if this
    // process dies before the answer leaves, a retry of the same payment is given it (answerSeen).
    // The write joins the ledger's group commit; it is awaited just before the broadcast.
    const kept = await keepPayload(body, maxHeldBytes).catch((error) => {
      request.log.error({ err: error, payment: ctx.key }, "x402: the output of a paid request could not be read");
      return { bytes: null, body: null };
    });
    body = kept.body;
    const retrieval = retrievalTokenFor(state.payloadJson);
    const contentType = (reply.getHeader("content-type") as string | undefined) ?? null;
    const held: Promise<boolean> = kept.bytes
      ? ledger
          .holdOutput({ ...ctx.key, outputId: ctx.outputId, tokenHash: retrieval.tokenHash, statusCode: reply.statusCode, contentType, body: kept.bytes, createdAt: Date.now() })
          .then(
            () => true,
            (error) => {
              request.log.error({ err: error, payment: ctx.key }, "x402: could not keep the output of a paid request; a retry after a crash cannot be given it");
              return false;
            },
          )
      : Promise.resolve(false);
    if (!kept.bytes) request.log.warn({ payment: ctx.key }, `x402: the output of a paid request cannot be kept (unreadable or over ${maxHeldBytes} bytes)`);

    const abandon = () => {
      if (body && typeof (body as { destroy?: unknown }).destroy === "function") (body as { destroy: () => void }).destroy();
    };
    const answerJson = (status: number) => {
      abandon();
      reply.removeHeader("content-length");
      return reply.code(status).header("Content-Type", "application/json; charset=utf-8").header("Cache-Control", "no-store");
    };

    // Journal "settling" before anything can reach the chain: with the embedded facilitator,
    // with the batch transaction's hash, after signing and before broadcasting (the same
    // ledger group commit covers the whole batch); with another facilitator, before the call.
    let settleOptions: SettleOptions = {};
    if (embedded) {
      settleOptions = {
        beforeBroadcast: async (txHash) => {
          await held;
          const row = await ledger.transition(ctx.key, IN_FLIGHT, "settling", { txHash, outputId: ctx.outputId });
          if (!row) throw new Error("the reservation is no longer held");
        },
      };
    } else {
      await held;
      let row: PaymentRecord | null;
      try {
        row = await ledger.transition(ctx.key, ["reserved"], "settling", { outputId: ctx.outputId });
      } catch (error) {
        request.log.error({ err: error, payment: ctx.key }, "x402: ledger unavailable before settlement; nothing submitted");
        answerJson(503).header("Retry-After", retryAfter);
        return JSON.stringify({ error: Reason.chainUnavailable, message: "the payment could not be settled now; nothing was charged" });
      }
      if (!row) {
        const seen = await ledger.getPayment(ctx.key).catch(() => null);
        answerJson(409);
        return JSON.stringify({ error: Reason.paymentReplayed, message: "the reservation of this payment is no longer held", status: seen?.status ?? null });
      }
    }

    const result = await settle(ctx, settleOptions);
    const txHash = result.transaction || null;

    if (result.success) {
      await ledger.transition(ctx.key, IN_FLIGHT, "settled", { outputId: ctx.outputId, txHash: result.transaction, errorReason: null }).catch((error) => {
        request.log.error({ err: error, payment: ctx.key }, "x402: settled on-chain but the ledger write failed; the reconciler will record it");
      });
      const response: SettleResponse = {
        success: true,
        transaction: result.transaction,
        network: result.network,
        payer: result.payer ?? ctx.payer,
        amount: ctx.amount.toString(),
        extra: { outputId: ctx.outputId, attributionUrl: ctx.attributionUrl ?? attributionUrl(request, ctx.outputId) },
      };
      reply.header(PAYMENT_RESPONSE_HEADER, encodeSettlement(response));
      return body;
    }

    if (result.errorReason === Reason.chainUnavailable && !txHash) {
      // Nothing reached the chain: give the reservation back (the same payment may be retried).
      await ledger.transition(ctx.key, IN_FLIGHT, "released", { errorReason: Reason.chainUnavailable, txHash: null }).catch(() => null);
      answerJson(503).header("Retry-After", retryAfter);
      return JSON.stringify({ error: Reason.chainUnavailable, message: "the payment could not be settled now; nothing was charged" });
    }

    if (result.errorReason === Reason.settlementPending) {
      abandon();
      const outputUrl = (await held) ? `${baseUrl(request)}${outputsPath}/${encodeURIComponent(ctx.outputId)}?token=${retrieval.token}` : null;
      return pending(request, reply, ctx, result, outputUrl);
    }

    await ledger.transition(ctx.key, IN_FLIGHT, "failed", { outputId: ctx.outputId, txHash, errorReason: result.errorReason ?? Reason.transactionFailed }).catch(() => null);
    answerJson(402).header(PAYMENT_RESPONSE_HEADER, encodeSettlement({ ...result, payer: result.payer ?? ctx.payer }));
    return JSON.stringify({ error: result.errorReason ?? Reason.transactionFailed, ...(result.errorMessage ? { message: result.errorMessage } : {}), ...(txHash ? { transaction: txHash } : {}) });
  }

  /**
   * The transaction was broadcast but has not confirmed yet: the payer may be charged, so the
   * output kept against the payment is served once it settles; the answer is 202 with where to
   * fetch it (a retrieval token only this payer can have).
   */
  async function pending(request: FastifyRequest, reply: FastifyReply, ctx: PaymentContext, result: SettleResponse, outputUrl: string | null): Promise<unknown> {
    await ledger
      .transition(ctx.key, IN_FLIGHT, "pending", { outputId: ctx.outputId, txHash: result.transaction, errorReason: Reason.settlementPending })
      .catch((error) => request.log.error({ err: error, payment: ctx.key }, "x402: could not record a pending settlement; the reconciler will"));
    const id = keyId(ctx.key);
    const early = earlyFinals.get(id);
    if (early) {
      earlyFinals.delete(id);
      await recordFinal(early);
    } else awaitingFinal.add(id);
    reply.removeHeader("content-length");
    pendingAnswer(reply, { ...result, payer: result.payer ?? ctx.payer }, ctx.outputId, ctx.attributionUrl ?? attributionUrl(request, ctx.outputId), outputUrl);
    return pendingBody(result.transaction, ctx.outputId, outputUrl);
  }

  /** The headers of a 202 settlement_pending answer. */
  function pendingAnswer(reply: FastifyReply, result: SettleResponse, outputId: string, attribution: string, outputUrl: string | null): void {
    const response: SettleResponse = { ...result, extra: { outputId, attributionUrl: attribution, ...(outputUrl ? { outputUrl } : {}) } };
    reply
      .code(202)
      .header("Content-Type", "application/json; charset=utf-8")
      .header("Cache-Control", "no-store")
      .header("Retry-After", retryAfter)
      .header(PAYMENT_RESPONSE_HEADER, encodeSettlement(response));
    if (outputUrl) reply.header("Location", outputUrl);
  }

  function pendingBody(transaction: string, outputId: string, outputUrl: string | null): string {
    return JSON.stringify({
      error: Reason.settlementPending,
      message: outputUrl
        ? "the payment's transaction is not confirmed yet; the output is kept for you at outputUrl once it settles"
        : "the payment's transaction is not confirmed yet, and the output could not be kept",
      transaction,
      outputId,
      ...(outputUrl ? { outputUrl } : {}),
    });
  }

  // The hooks are callback-style with a synchronous fast path: a challenge (the most frequent
  // request a paid route sees) then costs no promise at all, so it stays close to a static route.
  type Done = (error?: Error | null, payload?: unknown) => void;

  function paidHook(route: PaidRoute) {
    const fixedAmount = typeof route.price === "function" ? null : toAmount(route.price);
    // The last challenge this route sent: the common case repeats it exactly.
    let last: { payTo: string; url: string; host: string | undefined; header: string; body: string } | null = null;
    return (request: FastifyRequest, reply: FastifyReply, done: Done) => {
      if (request.headers[PAYMENT_SIGNATURE_HEADER] === undefined && typeof route.model === "string" && fixedAmount !== null) {
        const payTo = options.payTo(route.model);
        if (typeof payTo === "string") {
          const host = options.publicUrl ? undefined : baseUrl(request);
          if (last === null || last.payTo !== payTo || last.url !== request.url || last.host !== host) {
            last = { payTo, url: request.url, host, ...challenge(request, route, requirementsFor(payTo, fixedAmount), "Payment required") };
          }
          reply
            .code(402)
            .header(PAYMENT_REQUIRED_HEADER, last.header)
            .header("Cache-Control", "no-store")
            .header("Content-Type", "application/json; charset=utf-8")
            .send(last.body);
          return; // answered: fastify expects no done() after a reply from a callback hook
        }
        if (payTo === undefined) {
          reply.code(404).send({ error: "unknown_model", message: `no paid model named ${JSON.stringify(route.model)}` });
          return;
        }
      }
      // preHandler returns the reply when it answered, undefined when the handler should run.
      preHandler(route, request, reply).then((answered) => (answered === undefined ? done() : undefined), done);
    };
  }

  function onSendHook(request: FastifyRequest, reply: FastifyReply, payload: unknown, done: Done): void {
    const state = states.get(request);
    if (!state || state.finished) return done(null, payload);
    onSend(request, reply, payload).then((settled) => done(null, settled), done);
  }

  /** A request that ended without reaching onSend (client gone mid-handler) gives its reservation back. */
  function onResponseHook(request: FastifyRequest, _reply: FastifyReply, done: Done): void {
    const state = states.get(request);
    if (!state || state.finished) return done();
    release(state, "request_aborted").then(() => done(), () => done());
  }

  let challengeLimiter: onRequestHookHandler | null = null;
  if (options.challengeRateLimit) {
    const limit = options.challengeRateLimit;
    if (!app.hasDecorator("rateLimit")) await app.register(rateLimit, { global: false });
    challengeLimiter = app.rateLimit({
      max: limit.max,
      timeWindow: limit.timeWindow,
      ...(limit.keyGenerator ? { keyGenerator: limit.keyGenerator } : {}),
      // Only challenges are limited: a request carrying a payment goes through.
      allowList: (request) => request.headers[PAYMENT_SIGNATURE_HEADER] !== undefined,
      errorResponseBuilder: (_request, context) => ({
        statusCode: context.statusCode,
        code: "challenge_rate_limited",
        error: "Too Many Requests",
        message: `too many unpaid requests; retry in ${context.after}`,
      }),
    }) as onRequestHookHandler;
  }

  app.addHook("onRoute", (routeOptions) => {
    const route = routeOptions.config?.x402;
    if (!route) return;
    const append = <T>(existing: T | T[] | undefined, hook: T): T[] => (existing === undefined ? [hook] : Array.isArray(existing) ? [...existing, hook] : [existing, hook]);
    if (challengeLimiter) routeOptions.onRequest = append(routeOptions.onRequest, challengeLimiter as never);
    routeOptions.preHandler = append(routeOptions.preHandler, paidHook(route) as never);
    routeOptions.onSend = append(routeOptions.onSend, onSendHook as never);
    routeOptions.onResponse = append(routeOptions.onResponse, onResponseHook as never);
  });

  heldOutputRoutes(app, { ledger, path: outputsPath, retryAfterSeconds: retryAfter, baseUrl, attributionUrl: attributionUrlAt });

  // Late results: a transaction that confirmed after its request was answered "pending".
  const withFinals = facilitator as FacilitatorClient & { onFinal?: (listener: (f: FinalSettlement) => void) => () => void };
  if (typeof withFinals.onFinal === "function") {
    const unsubscribe = withFinals.onFinal((final) => {
      const id = keyId({ network, asset: final.asset, payer: final.payer, nonce: final.nonce });
      if (awaitingFinal.delete(id)) void recordFinal(final);
      else {
        // It may beat onSend's "pending" write: keep it briefly for onSend to pick up.
        earlyFinals.set(id, final);
        setTimeout(() => earlyFinals.delete(id), 60_000).unref();
      }
    });
    app.addHook("onClose", async () => unsubscribe());
  }

  async function recordFinal(final: FinalSettlement): Promise<void> {
    const key: PaymentKey = { network, asset: final.asset.toLowerCase(), payer: final.payer.toLowerCase(), nonce: final.nonce.toLowerCase() };
    await ledger
      .transition(key, ["pending"], final.status, { txHash: final.txHash, errorReason: final.reason ?? null })
      .catch((error) => app.log.error({ err: error, payment: key }, "x402: could not record a late settlement result"));
  }

  // Crash recovery: at start and then periodically (reconciler.ts).
  const reconcileProvider = options.reconcile === false ? null : (options.reconcile?.provider ?? embedded?.chain.provider ?? null);
  if (reconcileProvider) {
    const reconciler = new PaymentReconciler(ledger, reconcileProvider, network, options.reconcile || {}, app.log);
    app.addHook("onReady", async () => {
      startPass = reconciler.start().finally(() => (startPass = null));
    });
    app.addHook("onClose", async () => reconciler.stop());
  }
}

// Let the hooks reach routes registered beside the plugin (what fastify-plugin does).
(x402Payments as unknown as Record<symbol, boolean>)[Symbol.for("skip-override")] = true;
