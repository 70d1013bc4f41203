// Stage 3, settlement, in onSend once the handler has answered: keep the output against the
// payment and journal "settling" with the amount to settle (a metered scheme's may be below the
// reserved maximum; all durable before anything can reach the chain), run the
// settle hooks, settle, and turn the answer into what the payer is owed:
//   settled                        -> the handler's answer + PAYMENT-RESPONSE
//   unreachable, nothing broadcast -> 503 + Retry-After, reservation released (retry the same payment)
//   broadcast, not yet confirmed   -> 202 settlement_pending, the output held at outputUrl
//   refused                        -> 402 + PAYMENT-RESPONSE with the reason, output withheld
// A handler answering >= 400 (or a client gone mid-handler) releases the reservation: nothing charged.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { PaymentPayload, PaymentRequirements, SettleResponse } from "@x402/core/types";
import { admitted, type AdmittedPayment } from "./admission.ts";
import { replacePayload } from "./answers.ts";
import { keepPayload } from "./held-outputs.ts";
import type { LateResults } from "./late-settlements.ts";
import type { Runtime } from "./options.ts";
import { Reason } from "./reasons.ts";
import { responseExtra, sendPending, settlementHeader } from "./receipts.ts";
import type { HeldOutput, PaymentKey, PaymentRecord, PaymentStatus, TransitionFields } from "./store.ts";
import { isDeferred } from "./streaming.ts";
import type { PaymentScheme } from "./schemes/scheme.ts";
import type { PaymentContext, SettleHookContext } from "./types.ts";

/** States a request of this process may still move forward. */
const IN_FLIGHT: PaymentStatus[] = ["reserved", "settling"];

export async function settleOnSend(
  rt: Runtime,
  late: LateResults,
  request: FastifyRequest,
  reply: FastifyReply,
  body: unknown,
): Promise<unknown> {
  const state = admitted.get(request);
  if (!state || state.finished || isDeferred(request)) return body;
  if (reply.statusCode >= 400) {
    await release(rt, request, state, `handler_status_${reply.statusCode}`, "handler_failed");
    return body;
  }
  state.finished = true;
  const { ctx } = state;
  const kept = await keepPayload(body, rt.maxHeldBytes).catch((error) => {
    request.log.error({ err: error, payment: ctx.key }, "x402: the output of a paid request could not be read");
    return { bytes: null, body: null };
  });
  body = kept.body;
  const metered = meteredAmount(state);
  // A settlement the facilitator records in the store itself (a channel voucher) is neither journalled nor moved here.
  const recorded = state.scheme.recordsSettlement?.(ctx.payload) === true;
  const journalled = holdAndJournal(rt, request, reply, ctx, kept.bytes, metered, recorded);
  // Such a settlement has nothing to wait for here: it starts beside the held output's write, so the
  // store commits both together (and a recorded journal never answers by itself).
  const settling = recorded ? settle(rt, request, state) : null;
  const journal = await journalled;
  if (journal.answer !== undefined) {
    replacePayload(reply, body, reply.statusCode);
    return journal.answer;
  }
  const result = await (settling ?? settle(rt, request, state));
  if (result.success) result.amount = settledAmount(result, ctx, metered);
  return answerSettlement(rt, late, request, reply, ctx, result, body, journal.held, state.scheme, recorded);
}

/** What this payment settles: a metered scheme's amount (upto: the handler's usage), else the accepted amount. */
export function meteredAmount({ ctx, scheme }: AdmittedPayment): string {
  const usage = ctx.output.usage !== undefined ? { usage: ctx.output.usage } : {};
  return (scheme.settlementRequirements?.({ payload: ctx.payload, requirements: ctx.requirements, ...usage }) ?? ctx.requirements).amount;
}

/** The facilitator's settled amount when it is a plausible one (at most the authorized maximum), else what was asked. */
export function settledAmount(result: SettleResponse, ctx: PaymentContext, metered: string): string {
  const answered = result.amount;
  return typeof answered === "string" && /^[0-9]{1,78}$/.test(answered) && BigInt(answered) <= ctx.amount ? answered : metered;
}

/** The ledger's amount field, written only when it differs from the reserved one (a metered scheme). */
export const amountField = (ctx: PaymentContext, amount: string) => (amount === ctx.amount.toString() ? {} : { amount });

/** Records the facilitator's answer and turns the reply into what the payer is owed. */
async function answerSettlement(
  rt: Runtime,
  late: LateResults,
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: PaymentContext,
  result: SettleResponse,
  body: unknown,
  held: boolean,
  scheme: Pick<PaymentScheme, "failedReason" | "settlesLater">,
  recorded: boolean,
): Promise<unknown> {
  const txHash = result.transaction || null;
  const fail = (status: number) => replacePayload(reply, body, status);

  if (result.success) {
    // A channel voucher is paid for the payer, but its money reaches payTo with a later claim.
    if (!recorded)
      await rt.store
        .transition(ctx.key, IN_FLIGHT, scheme.settlesLater ? "pending" : "settled", {
          outputId: ctx.outputId,
          txHash: scheme.settlesLater ? null : txHash, // a metered zero settles with no transaction
          errorReason: null,
          ...amountField(ctx, result.amount!),
        })
        .catch((error) => {
          request.log.error({ err: error, payment: ctx.key }, "x402: settled but the store write failed; recovery will record it");
        });
    const amount = result.amount!;
    settlementHeader(reply, {
      ...result,
      payer: result.payer ?? ctx.payer,
      amount,
      // A scheme's own fields (batch-settlement: chargedAmount, channelState) travel with the host's.
      extra: { ...result.extra, ...responseExtra(rt, request, ctx.outputId, ctx.key, held) },
    });
    rt.emit({ status: "settled", resource: ctx.resource, request, payment: ctx, transaction: result.transaction, amount });
    return body;
  }
  if (result.errorReason === Reason.chainUnavailable && !txHash) {
    // Nothing reached the chain: give the reservation back (the same payment may be retried).
    await rt.store.transition(ctx.key, IN_FLIGHT, "released", { errorReason: Reason.chainUnavailable, txHash: null }).catch(() => null);
    fail(503).header("Retry-After", rt.retryAfter);
    rt.emit({ status: "unavailable", resource: ctx.resource, request, payment: ctx });
    return JSON.stringify({ error: Reason.chainUnavailable, message: "the payment could not be settled now; nothing was charged" });
  }
  if (result.errorReason === Reason.settlementPending) {
    await rt.store
      .transition(ctx.key, IN_FLIGHT, "pending", {
        outputId: ctx.outputId,
        txHash: result.transaction,
        errorReason: Reason.settlementPending,
      })
      .catch((error) => request.log.error({ err: error, payment: ctx.key }, "x402: could not record a pending settlement; recovery will"));
    await late.notePending(ctx.key);
    replacePayload(reply, body, 202);
    rt.emit({ status: "pending", resource: ctx.resource, request, payment: ctx, transaction: result.transaction });
    return sendPending(rt, reply, { ...result, payer: result.payer ?? ctx.payer }, responseExtra(rt, request, ctx.outputId, ctx.key, held));
  }
  const reason = result.errorReason ?? scheme.failedReason ?? Reason.settlementFailed;
  await rt.store.transition(ctx.key, IN_FLIGHT, "failed", { outputId: ctx.outputId, txHash, errorReason: reason }).catch(() => null);
  settlementHeader(fail(402), { ...result, errorReason: reason, payer: result.payer ?? ctx.payer });
  rt.emit({ status: "failed", resource: ctx.resource, request, payment: ctx, reason, ...(txHash ? { transaction: txHash } : {}) });
  return JSON.stringify({
    error: reason,
    ...(result.errorMessage ? { message: result.errorMessage } : {}),
    ...(txHash ? { transaction: txHash } : {}),
  });
}

/**
 * Keeps the output and journals "settling", both awaited before settle: if this process dies later, a
 * retry of the same payment is given the output and recovery finds the payment. An unkept output is
 * logged, not fatal. A settlement the facilitator records itself (`recorded`) is not journalled: it
 * stays reserved until then.
 */
async function holdAndJournal(
  rt: Runtime,
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: PaymentContext,
  bytes: Uint8Array | null,
  metered: string,
  recorded: boolean,
) {
  const contentType = (reply.getHeader("content-type") as string | undefined) ?? null;
  const output = bytes && {
    ...ctx.key,
    outputId: ctx.outputId,
    tokenHash: rt.tokens.issue(ctx.outputId, ctx.key).tokenHash,
    statusCode: reply.statusCode,
    contentType,
    body: bytes,
    createdAt: Date.now(),
  };
  const unkept = (error: unknown): false => {
    request.log.error(
      { err: error, payment: ctx.key },
      "x402: could not keep the output of a paid request; a retry after a crash cannot be given it",
    );
    return false;
  };
  if (!bytes)
    request.log.warn(
      { payment: ctx.key },
      `x402: the output of a paid request cannot be kept (unreadable or over ${rt.maxHeldBytes} bytes)`,
    );
  const fields = { outputId: ctx.outputId, ...amountField(ctx, metered) };
  const { isHeld, journal } = await keepAndJournal(rt, ctx.key, output || null, fields, recorded, unkept);
  if ("error" in journal) {
    request.log.error({ err: journal.error, payment: ctx.key }, "x402: payment store unavailable before settlement; nothing submitted");
    reply.code(503).header("Retry-After", rt.retryAfter);
    rt.emit({ status: "unavailable", resource: ctx.resource, request, payment: ctx });
    return {
      held: isHeld,
      answer: JSON.stringify({ error: Reason.chainUnavailable, message: "the payment could not be settled now; nothing was charged" }),
    };
  }
  if (!journal.row) {
    const seen = await rt.store.get(ctx.key).catch(() => null);
    reply.code(409);
    rt.emit({ status: "replayed", resource: ctx.resource, request, payment: ctx });
    return {
      held: isHeld,
      answer: JSON.stringify({
        error: Reason.paymentReplayed,
        message: "the reservation of this payment is no longer held",
        status: seen?.status ?? null,
      }),
    };
  }
  return { held: isHeld, answer: undefined };
}

type Journal = { row: PaymentRecord | "recorded" | null } | { error: unknown };

/**
 * Keeps the output and journals "settling": in one statement where the store can (if it fails, neither is
 * written), else both issued together. A settlement the facilitator records (`recorded`) only keeps the output.
 */
async function keepAndJournal(
  rt: Runtime,
  key: PaymentKey,
  output: HeldOutput | null,
  fields: TransitionFields,
  recorded: boolean,
  unkept: (error: unknown) => false,
): Promise<{ isHeld: boolean; journal: Journal }> {
  if (output && !recorded && rt.store.holdAndTransition) {
    try {
      const both = await rt.store.holdAndTransition(output, ["reserved"], "settling", fields);
      if (!both.held && both.holdError !== undefined) unkept(both.holdError);
      return { isHeld: both.held, journal: { row: both.row } };
    } catch (error) {
      return { isHeld: false, journal: { error } };
    }
  }
  const held = output ? rt.store.holdOutput(output).then(() => true, unkept) : Promise.resolve(false);
  const journalled: Promise<Journal> = recorded
    ? Promise.resolve({ row: "recorded" })
    : rt.store.transition(key, ["reserved"], "settling", fields).then(
        (row) => ({ row }),
        (error: unknown) => ({ error }),
      );
  const [isHeld, journal] = await Promise.all([held, journalled]);
  return { isHeld, journal };
}

/** Runs the settle hooks and settles (through the scheme or the facilitator); a throw becomes a failed answer. */
export async function settle(rt: Runtime, request: FastifyRequest, state: AdmittedPayment): Promise<SettleResponse> {
  const { ctx, scheme } = state;
  const hookContext: SettleHookContext = { request, payment: ctx, paymentPayload: ctx.payload, requirements: ctx.requirements };
  const failed = (reason: string, message?: string): SettleResponse => ({
    success: false,
    errorReason: reason,
    ...(message ? { errorMessage: message } : {}),
    transaction: "",
    network: rt.network,
  });
  let result: SettleResponse;
  try {
    const verdict = await rt.hooks.beforeSettle?.(hookContext);
    if (verdict?.abort) return failed(verdict.reason, verdict.message);
    const extensions = await rt.hooks.enrichSettlementPayload?.(hookContext);
    // The host's extensions replace any the client sent under the same name.
    const payload: PaymentPayload = extensions ? { ...ctx.payload, extensions: { ...ctx.payload.extensions, ...extensions } } : ctx.payload;
    const schemeContext = {
      payload,
      requirements: ctx.requirements,
      ...(ctx.output.usage !== undefined ? { usage: ctx.output.usage } : {}),
    };
    const requirements: PaymentRequirements = scheme.settlementRequirements?.(schemeContext) ?? ctx.requirements;
    result = scheme.settle
      ? await scheme.settle({ ...schemeContext, requirements }, rt.facilitator)
      : await rt.facilitator.settle(payload, requirements);
  } catch (error) {
    const reason =
      (error as { errorReason?: string }).errorReason ??
      (rt.isUnavailable(error) ? Reason.chainUnavailable : (scheme.failedReason ?? Reason.settlementFailed));
    result = failed(reason, (error as Error).message);
  }
  try {
    await rt.hooks.afterSettle?.({ ...hookContext, result });
  } catch (error) {
    request.log.error({ err: error, payment: ctx.key }, "x402: an afterSettle hook threw");
  }
  return result;
}

/** Gives the reservation back: nothing was charged. */
export async function release(
  rt: Runtime,
  request: FastifyRequest,
  state: AdmittedPayment,
  why: string,
  reason: "handler_failed" | "request_aborted",
): Promise<void> {
  state.finished = true;
  await rt.store.transition(state.ctx.key, ["reserved"], "released", { errorReason: why }).catch(() => null);
  try {
    await rt.hooks.onVerifiedPaymentCanceled?.({ request, payment: state.ctx, reason });
  } catch (error) {
    request.log.error({ err: error, payment: state.ctx.key }, "x402: an onVerifiedPaymentCanceled hook threw");
  }
  rt.emit({ status: "released", resource: state.ctx.resource, request, payment: state.ctx, reason: why });
}
