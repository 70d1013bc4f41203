// A payment seen before. The very same signed payload (byte for byte) of a payment settled or
// being settled is answered as its first request would have been (its first answer may have
// died with a crashed process or a dropped connection): the held output with the recorded
// settlement, or the 202 of a pending one; nothing runs and nothing is settled again. This is
// allowed for redeliveryWindowSeconds after the payment: once settled, the signed payload is
// public on-chain, so later only the server-signed retrieval token gets the output. Anything
// else is a replay (409).
import type { FastifyReply, FastifyRequest } from "fastify";
import type { SettleResponse } from "@x402/core/types";
import { replayed, unavailable } from "./answers.ts";
import { sendHeldOutput } from "./held-outputs.ts";
import type { Runtime } from "./options.ts";
import { Reason } from "./reasons.ts";
import { displayPayer, responseExtra, sendPending } from "./receipts.ts";
import { keyId, type PaymentRecord } from "./store.ts";

/** How long a retry of a payment still settling waits for the recovery pass at start. */
const START_PASS_WAIT_MS = 2000;

export type SeenAnswer = { answered: FastifyReply; redelivered: boolean };

export async function answerSeen(
  rt: Runtime,
  request: FastifyRequest,
  reply: FastifyReply,
  seen: PaymentRecord,
  payloadJson: string,
): Promise<SeenAnswer> {
  if ((seen.status === "settling" || seen.status === "pending") && rt.startPass && seen.payload === payloadJson) {
    // Left open by a process that died: recovery is about to record it; a short wait may let this retry have the output.
    await Promise.race([rt.startPass, new Promise((resolve) => setTimeout(resolve, START_PASS_WAIT_MS).unref())]);
    seen = (await rt.store.get(seen).catch(() => null)) ?? seen;
  }
  const deliverable = seen.status === "settled" || seen.status === "pending" || seen.status === "settling";
  if (!deliverable || seen.payload !== payloadJson || !seen.outputId) return { answered: replayed(reply, seen.status), redelivered: false };
  if (Date.now() - seen.createdAt > rt.redeliveryWindowMs) {
    const message = "this payment was answered already; fetch its output with the retrieval token given with the answer (outputUrl)";
    return { answered: replayed(reply, seen.status, message), redelivered: false };
  }
  let held;
  try {
    held = await rt.store.getHeldOutput(seen.outputId);
  } catch (error) {
    request.log.error({ err: error }, "x402: reading a held output failed");
    return { answered: unavailable(rt, reply, "payment store unavailable"), redelivered: false };
  }
  if (!held || keyId(held.output) !== keyId(seen)) return { answered: replayed(reply, seen.status), redelivered: false };
  const { output, payment } = held;
  if (payment.status === "settled") {
    reply.header(rt.redeliveredHeader, "true");
    return { answered: sendHeldOutput(rt, request, reply, output, payment), redelivered: true };
  }
  if (payment.status !== "pending" && payment.status !== "settling")
    return { answered: replayed(reply, payment.status), redelivered: false };
  const network = payment.network as `${string}:${string}`;
  const result: SettleResponse = {
    success: false,
    errorReason: Reason.settlementPending,
    transaction: payment.txHash ?? "",
    network,
    payer: displayPayer(payment.payer),
  };
  reply.header(rt.redeliveredHeader, "true");
  return {
    answered: reply.send(sendPending(rt, reply, result, responseExtra(rt, request, output.outputId, payment, true))),
    redelivered: true,
  };
}
