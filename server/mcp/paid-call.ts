// A paid tool call is the paid HTTP route driven in-process: the arguments become a
// POST /v1/completions body, _meta["x402/payment"] its PAYMENT-SIGNATURE, and the answer is
// mapped to a tool result in the x402 MCP transport's tool-result style. So MCP calls go through
// the one payment pipeline (challenge, verify, reservation, replay and re-delivery, attribution,
// batched settlement into the splitter, crash recovery) with its reason codes, and a fix there
// is a fix here.
import type { FastifyInstance, FastifyRequest, LightMyRequestResponse } from "fastify";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import type { PaymentRequired, SettleResponse } from "@x402/core/types";
import type { ServedModel } from "../models/index.ts";
import { toolName, toolResource, type ToolArguments } from "./tools.ts";

export const PAYMENT_META_KEY = "x402/payment";
export const PAYMENT_RESPONSE_META_KEY = "x402/payment-response";
const PAID_PATH = "/v1/completions";
const REDELIVERED_HEADER = "x-royalty402-redelivered";
/** Refusals of the payment itself: answered with the requirements, so the agent can pay again. */
const PAYMENT_REFUSAL_STATUSES = new Set([402, 409, 431]);
const PAYMENT_REFUSAL_CODES = new Set(["invalid_payload", "payment_header_too_large", "payment_replayed"]);

/** What the tool call came with: the HTTP request that carried it (host, address) and its payment. */
export interface PaidCall {
  app: FastifyInstance;
  request: FastifyRequest;
  model: ServedModel;
  args: ToolArguments;
  /** `_meta["x402/payment"]` as sent (undefined: absent). */
  payment: unknown;
}

export async function callPaidTool(call: PaidCall): Promise<CallToolResult> {
  const res = await inject(call, call.payment);
  const name = toolName(call.model.id);
  if (res.statusCode === 200) return paidResult(call.model, res);
  const refusal = refusalOf(res);
  if (res.statusCode === 202) return toolError(refusal, settlementOf(res));
  if (!PAYMENT_REFUSAL_STATUSES.has(res.statusCode) && !PAYMENT_REFUSAL_CODES.has(refusal.error)) return toolError(refusal);
  // The challenge of a refused payment is the one an unpaid call gets (cached by the plugin).
  const own = res.headers["payment-required"];
  const header = own ?? (await inject(call, undefined)).headers["payment-required"];
  if (typeof header !== "string") return toolError(refusal, settlementOf(res));
  const required = decodePaymentRequiredHeader(header);
  // A 402's own challenge names its reason (x402's "Payment required" when unpaid); a borrowed one gets the refusal's.
  return paymentRequiredResult(
    {
      ...required,
      error: typeof own === "string" ? required.error : refusal.error,
      resource: { ...required.resource, url: toolResource(name) },
    },
    call.payment === undefined ? null : refusal.message,
    settlementOf(res),
  );
}

function inject(call: PaidCall, payment: unknown): Promise<LightMyRequestResponse> {
  const { request, model, args } = call;
  const headers: Record<string, string> = { "content-type": "application/json" };
  // The route builds its URLs (record, outputUrl) and rate-limits challenges from these.
  for (const name of ["host", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-for"]) {
    const value = request.headers[name];
    if (typeof value === "string") headers[name] = value;
  }
  // Standard base64 of the JSON, as @x402/core's encoder writes it (Buffer's is ~10× faster).
  if (payment !== undefined) headers["payment-signature"] = Buffer.from(JSON.stringify(payment)).toString("base64");
  const body = { model: model.id, prompt: args.prompt, ...(args.max_tokens === undefined ? {} : { max_tokens: args.max_tokens }) };
  return call.app.inject({ method: "POST", url: PAID_PATH, headers, payload: JSON.stringify(body), remoteAddress: request.ip });
}

interface Refusal {
  status: number;
  error: string;
  message: string;
  /** A payment still settling: where its output waits for the payer (a retry of the same payment gets it too). */
  outputUrl?: string;
}

/** The reason code and message of a refusal, in either of the host's error shapes. */
function refusalOf(res: LightMyRequestResponse): Refusal {
  let body: { error?: unknown; message?: unknown; outputUrl?: unknown } = {};
  try {
    body = JSON.parse(res.body);
  } catch {
    // not JSON: keep the status
  }
  const nested = typeof body.error === "object" && body.error !== null ? (body.error as { code?: unknown; message?: unknown }) : null;
  const error = String(nested?.code ?? body.error ?? `http_${res.statusCode}`);
  const message = String(nested?.message ?? body.message ?? res.statusMessage ?? "");
  return { status: res.statusCode, error, message, ...(typeof body.outputUrl === "string" ? { outputUrl: body.outputUrl } : {}) };
}

function settlementOf(res: LightMyRequestResponse): SettleResponse | null {
  const header = res.headers["payment-response"];
  return typeof header === "string" ? decodePaymentResponseHeader(header) : null;
}

const withSettlement = (settlement: SettleResponse | null) => (settlement ? { _meta: { [PAYMENT_RESPONSE_META_KEY]: settlement } } : {});

/** isError with the PaymentRequired as structuredContent and the same JSON as content[0].text. */
function paymentRequiredResult(required: PaymentRequired, message: string | null, settlement: SettleResponse | null): CallToolResult {
  const structured = required as unknown as Record<string, unknown>;
  const content: CallToolResult["content"] = [{ type: "text", text: JSON.stringify(structured) }];
  if (message) content.push({ type: "text", text: `${required.error}: ${message}` });
  return { isError: true, structuredContent: structured, content, ...withSettlement(settlement) };
}

/** A refusal that is not about the payment (arguments, model, chain): its reason code, status and message. */
function toolError(refusal: Refusal, settlement: SettleResponse | null = null): CallToolResult {
  const structured = { ...refusal };
  return {
    isError: true,
    structuredContent: structured,
    content: [{ type: "text", text: JSON.stringify(structured) }],
    ...withSettlement(settlement),
  };
}

interface CompletionAnswer {
  choices: Array<{ text: string; finish_reason: string }>;
  attribution: { outputId: string; recordUrl: string; contributors: Array<{ address: string; ppm: number }>; unattributedPpm: number };
}

function paidResult(model: ServedModel, res: LightMyRequestResponse): CallToolResult {
  const answer = JSON.parse(res.body) as CompletionAnswer;
  const settlement = settlementOf(res);
  const { attribution } = answer;
  const outputUrl = settlement?.extra?.outputUrl;
  const structured = {
    model: model.id,
    text: answer.choices[0]?.text ?? "",
    finishReason: answer.choices[0]?.finish_reason ?? "stop",
    outputId: attribution.outputId,
    recordUrl: attribution.recordUrl,
    ...(typeof outputUrl === "string" ? { outputUrl } : {}),
    ...(res.headers[REDELIVERED_HEADER] === "true" ? { redelivered: true } : {}),
    attribution,
  };
  return {
    content: [
      { type: "text", text: structured.text },
      { type: "text", text: JSON.stringify(structured) },
    ],
    structuredContent: structured,
    ...withSettlement(settlement),
  };
}
