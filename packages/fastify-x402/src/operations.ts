// Payment operations: a payload that moves money back rather than paying for the route (a channel's
// cooperative refund). It is verified and settled at once, the route's handler never runs and nothing
// is recorded as a payment. The answer carries PAYMENT-RESPONSE like a paid one (200 on success; 402
// with the failed settlement otherwise), which is what the reference client reads.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { PaymentPayload, PaymentRequirements, SettleResponse, VerifyResponse } from "@x402/core/types";
import { unavailable } from "./answers.ts";
import type { Runtime } from "./options.ts";
import { Reason } from "./reasons.ts";
import { settlementHeader } from "./receipts.ts";

export interface Operation {
  rt: Runtime;
  request: FastifyRequest;
  reply: FastifyReply;
  requirements: PaymentRequirements;
  payload: PaymentPayload;
  /** Answers a refused operation with the route's 402 (corrected from the verdict where the scheme can). */
  reject(reason: string, message: string | undefined, verdict: VerifyResponse): true;
}

export async function runOperation(op: Operation): Promise<true> {
  const { rt, reply, payload, requirements } = op;
  let verdict: VerifyResponse;
  try {
    verdict = await rt.facilitator.verify(payload, requirements);
  } catch (error) {
    unavailable(rt, reply, `facilitator unreachable: ${(error as Error).message}`);
    return true;
  }
  if (!verdict.isValid) return op.reject(verdict.invalidReason ?? Reason.invalidPayload, verdict.invalidMessage, verdict);
  let result: SettleResponse;
  try {
    result = await rt.facilitator.settle(payload, requirements);
  } catch (error) {
    if (rt.isUnavailable(error)) {
      unavailable(rt, reply, `facilitator unreachable: ${(error as Error).message}`);
      return true;
    }
    result = {
      success: false,
      errorReason: Reason.settlementFailed,
      errorMessage: (error as Error).message,
      transaction: "",
      network: rt.network,
    };
  }
  settlementHeader(reply.code(result.success ? 200 : 402), result)
    .header("Cache-Control", "no-store")
    .send(
      result.success
        ? { message: "payment operation settled", transaction: result.transaction, amount: result.amount ?? "" }
        : { error: result.errorReason, message: result.errorMessage ?? result.errorReason },
    );
  return true;
}
