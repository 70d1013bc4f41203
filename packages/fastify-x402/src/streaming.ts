// Settlement at the end of a stream. A paid route normally settles in onSend, before the first
// byte; a handler that streams a metered answer (upto) instead calls settleAtEnd(request) before
// writing: the plugin then leaves the payment alone in onSend and onResponse, and the handler
// calls settle() once the stream's content is final (or the client left: what was generated is
// charged), then puts the receipt in its last event, since the headers are long gone.
// release() gives the reservation back instead (nothing charged).
import type { FastifyRequest } from "fastify";
import type { SettleResponse } from "@x402/core/types";
import { admitted, type AdmittedPayment } from "./admission.ts";
import type { LateResults } from "./late-settlements.ts";
import type { Runtime } from "./options.ts";
import { Reason } from "./reasons.ts";
import { responseExtra } from "./receipts.ts";
import { amountField, meteredAmount, release, settle, settledAmount } from "./settlement.ts";

/** How a deferred settlement ended: settled (charged), pending (broadcast, not confirmed), or not charged. */
export type StreamReceiptStatus = "settled" | "pending" | "failed" | "unavailable" | "replayed";

export interface StreamReceipt {
  status: StreamReceiptStatus;
  /** The settlement as PAYMENT-RESPONSE would carry it (extra: outputId and the host's fields). */
  settlement: SettleResponse;
}

export interface DeferredSettlement {
  /** Settles what the handler reported (setOutput, e.g. usage); idempotent: a second call returns the first's receipt. */
  settle(): Promise<StreamReceipt>;
  /** Gives the reservation back: nothing is charged. */
  release(why: string): Promise<void>;
}

const runtimes = new WeakMap<FastifyRequest, { rt: Runtime; late: LateResults }>();
const deferred = new WeakMap<FastifyRequest, Promise<StreamReceipt> | null>();

/** Called by the plugin once a request's payment is admitted. */
export function bindStreaming(request: FastifyRequest, rt: Runtime, late: LateResults): void {
  runtimes.set(request, { rt, late });
}

/** Whether the handler took the settlement over (onSend and onResponse leave it alone). */
export function isDeferred(request: FastifyRequest): boolean {
  return deferred.has(request);
}

/** Takes the settlement of this request's payment over from the plugin; call before sending anything. */
export function settleAtEnd(request: FastifyRequest): DeferredSettlement {
  const state = admitted.get(request);
  const bound = runtimes.get(request);
  if (!state || !bound || state.finished) throw new Error("fastify-x402: settleAtEnd needs a paid request whose payment is still open");
  const { rt, late } = bound;
  if (!deferred.has(request)) deferred.set(request, null);
  return {
    settle() {
      let running = deferred.get(request);
      if (!running) {
        running = settleDeferred(rt, late, request, state);
        deferred.set(request, running);
      }
      return running;
    },
    release: (why) => (state.finished ? Promise.resolve() : release(rt, request, state, why, "handler_failed")),
  };
}

async function settleDeferred(rt: Runtime, late: LateResults, request: FastifyRequest, state: AdmittedPayment): Promise<StreamReceipt> {
  state.finished = true;
  const { ctx } = state;
  const metered = meteredAmount(state);
  const base = { network: rt.network, payer: ctx.payer, transaction: "" };
  const journalled = await rt.store
    .transition(ctx.key, ["reserved"], "settling", { outputId: ctx.outputId, ...amountField(ctx, metered) })
    .then(
      (row) => ({ row }),
      (error: unknown) => ({ error }),
    );
  if ("error" in journalled) {
    request.log.error({ err: journalled.error, payment: ctx.key }, "x402: payment store unavailable before a deferred settlement");
    rt.emit({ status: "unavailable", resource: ctx.resource, request, payment: ctx });
    return { status: "unavailable", settlement: { ...base, success: false, errorReason: Reason.chainUnavailable } };
  }
  if (!journalled.row) return { status: "replayed", settlement: { ...base, success: false, errorReason: Reason.paymentReplayed } };
  const result = await settle(rt, request, state);
  const settlement = { ...result, payer: result.payer ?? ctx.payer, extra: responseExtra(rt, request, ctx.outputId, ctx.key, false) };
  return { status: await recordDeferred(rt, late, request, state, result, metered), settlement };
}

/** Records the facilitator's answer (as onSend does for an ordinary answer) and names the outcome. */
async function recordDeferred(
  rt: Runtime,
  late: LateResults,
  request: FastifyRequest,
  { ctx, scheme }: AdmittedPayment,
  result: SettleResponse,
  metered: string,
): Promise<StreamReceiptStatus> {
  const inFlight: Array<"reserved" | "settling"> = ["reserved", "settling"];
  const txHash = result.transaction || null;
  const log = (error: unknown) => request.log.error({ err: error, payment: ctx.key }, "x402: could not record a deferred settlement");
  if (result.success) {
    result.amount = settledAmount(result, ctx, metered);
    await rt.store
      .transition(ctx.key, inFlight, "settled", { outputId: ctx.outputId, txHash, errorReason: null, ...amountField(ctx, result.amount) })
      .catch(log);
    rt.emit({ status: "settled", resource: ctx.resource, request, payment: ctx, transaction: result.transaction, amount: result.amount });
    return "settled";
  }
  if (result.errorReason === Reason.chainUnavailable && !txHash) {
    await rt.store.transition(ctx.key, inFlight, "released", { errorReason: Reason.chainUnavailable, txHash: null }).catch(log);
    rt.emit({ status: "unavailable", resource: ctx.resource, request, payment: ctx });
    return "unavailable";
  }
  if (result.errorReason === Reason.settlementPending) {
    await rt.store
      .transition(ctx.key, inFlight, "pending", { outputId: ctx.outputId, txHash, errorReason: Reason.settlementPending })
      .catch(log);
    await late.notePending(ctx.key);
    rt.emit({ status: "pending", resource: ctx.resource, request, payment: ctx, transaction: result.transaction });
    return "pending";
  }
  const reason = result.errorReason ?? scheme.failedReason ?? Reason.settlementFailed;
  await rt.store.transition(ctx.key, inFlight, "failed", { outputId: ctx.outputId, txHash, errorReason: reason }).catch(log);
  rt.emit({ status: "failed", resource: ctx.resource, request, payment: ctx, reason });
  return "failed";
}
