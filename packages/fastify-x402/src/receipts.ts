// What a paid answer carries: PAYMENT-RESPONSE with the settlement and `extra` (output id,
// where to fetch the output again with its retrieval token, the host's fields), and the 202
// of a settlement still pending.
import type { FastifyReply, FastifyRequest } from "fastify";
import type { SettleResponse } from "@x402/core/types";
import { getAddress } from "viem";
import type { Runtime } from "./options.ts";
import { Reason } from "./reasons.ts";
import type { PaymentKey } from "./store.ts";
import { PAYMENT_RESPONSE_HEADER, encodeSettlement } from "./wire.ts";

/** A stored (lower-case) payer as clients see it: EVM addresses checksummed. */
export function displayPayer(payer: string): string {
  return /^0x[0-9a-f]{40}$/.test(payer) ? getAddress(payer) : payer;
}

/** Where the payer fetches a held output: the URL carries the server-signed retrieval token. */
function outputUrl(rt: Runtime, request: FastifyRequest, outputId: string, key: PaymentKey): string {
  return `${rt.baseUrl(request)}${rt.outputsPath}/${encodeURIComponent(outputId)}?token=${rt.tokens.issue(outputId, key).token}`;
}

export function responseExtra(
  rt: Runtime,
  request: FastifyRequest,
  outputId: string,
  key: PaymentKey,
  held: boolean,
): Record<string, unknown> {
  const added = rt.hooks.enrichSettlementResponse?.({ request, outputId, key }) ?? {};
  return { ...added, outputId, ...(held ? { outputUrl: outputUrl(rt, request, outputId, key) } : {}) };
}

export function settlementHeader(reply: FastifyReply, response: SettleResponse): FastifyReply {
  return reply.header(PAYMENT_RESPONSE_HEADER, encodeSettlement(response));
}

/** The 202 of a settlement broadcast but not yet confirmed: the output is fetched at outputUrl once settled. */
export function sendPending(rt: Runtime, reply: FastifyReply, result: SettleResponse, extra: Record<string, unknown>): string {
  const url = typeof extra.outputUrl === "string" ? extra.outputUrl : null;
  settlementHeader(reply.code(202), { ...result, extra })
    .header("Content-Type", "application/json; charset=utf-8")
    .header("Cache-Control", "no-store")
    .header("Retry-After", rt.retryAfter);
  if (url) reply.header("Location", url);
  return JSON.stringify({
    error: Reason.settlementPending,
    message: url
      ? "the payment's transaction is not confirmed yet; the output is kept for you at outputUrl once it settles"
      : "the payment's transaction is not confirmed yet, and the output could not be kept",
    transaction: result.transaction,
    outputId: extra.outputId,
    ...(url ? { outputUrl: url } : {}),
  });
}
