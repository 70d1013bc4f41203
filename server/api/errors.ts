// Every refusal is a JSON body with a reason code. On the OpenAI-compatible routes (/v1/*) it
// has OpenAI's shape, {error: {message, type, param, code}}, so OpenAI clients surface it;
// elsewhere it is {error: code, message}, the shape the x402 plugin uses.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AttributionError } from "../attribution/index.ts";
import { ConfigError } from "../config/index.ts";
import { isTransportError } from "../facilitator/index.ts";
import { LedgerError } from "../ledger/index.ts";
import { BackendError } from "../models/index.ts";
import { DatanetError } from "../datanets/index.ts";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

const isOpenAiRoute = (url: string): boolean => url === "/v1" || url.startsWith("/v1/") || url.startsWith("/v1?");

function openAiType(status: number): string {
  if (status === 401 || status === 403) return "authentication_error";
  if (status === 402) return "payment_required_error";
  if (status === 409) return "conflict_error";
  if (status === 429) return "rate_limit_error";
  if (status === 502 || status === 504) return "upstream_error";
  if (status === 503) return "service_unavailable_error";
  if (status >= 400 && status < 500) return "invalid_request_error";
  return "api_error";
}

function errorBody(
  url: string,
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  if (isOpenAiRoute(url)) {
    const { param = null, ...rest } = extra;
    return { error: { message, type: openAiType(status), param, code, ...rest } };
  }
  return { error: code, message, ...extra };
}

function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
) {
  if (status === 503 && !reply.hasHeader("retry-after")) reply.header("Retry-After", "5");
  return reply
    .code(status)
    .header("Cache-Control", "no-store")
    .send(errorBody(request.url, status, code, message, extra));
}

interface Mapped {
  status: number;
  code: string;
  message: string;
  extra?: Record<string, unknown>;
}

const LEDGER_STATUS: Partial<Record<LedgerError["code"], [number, string]>> = {
  invalid_input: [400, "invalid_request"],
  output_conflict: [409, "output_conflict"],
  payment_has_output: [409, "payment_has_output"],
  unknown_payment: [409, "unknown_payment"],
  epoch_conflict: [409, "epoch_conflict"],
};

/** Maps any thrown error to a status and reason code (unknown errors: 500, message hidden). */
function mapError(error: unknown): Mapped {
  if (error instanceof ApiError) return { status: error.status, code: error.code, message: error.message, extra: error.extra };
  if (error instanceof BackendError || error instanceof DatanetError)
    return { status: error.status, code: error.code, message: error.message };
  if (error instanceof ConfigError)
    return { status: 400, code: "invalid_config", message: error.message.replace(/^config: /, ""), extra: { field: error.field } };
  if (error instanceof AttributionError) {
    if (error.code === "index_corrupt" || error.code === "index_mismatch")
      return { status: 500, code: error.code, message: "the datanet index is damaged; rebuild it" };
    return { status: 400, code: error.code, message: error.message.replace(/^\w+: /, "") };
  }
  if (error instanceof LedgerError) {
    const mapped = LEDGER_STATUS[error.code];
    if (mapped) return { status: mapped[0], code: mapped[1], message: error.message.replace(/^\w+: /, "") };
    return { status: 503, code: "ledger_unavailable", message: "the payment ledger is unavailable; nothing was charged" };
  }
  const e = error as FastifyError;
  if (e?.validation)
    return {
      status: 400,
      code: "invalid_request",
      message:
        `${e.validationContext ?? "body"}${e.message.startsWith("/") ? "" : " "}` +
        `${e.message.replace(/^(body|querystring|params|headers)\s*/, "")}`,
    };
  switch (e?.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return { status: 400, code: "invalid_json", message: `the request body is not valid JSON${e.message ? ` (${e.message})` : ""}` };
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return { status: 413, code: "body_too_large", message: "the request body is too large" };
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return { status: 415, code: "unsupported_media_type", message: "send the body as application/json" };
  }
  if (e instanceof SyntaxError || (e?.statusCode === 400 && /JSON/i.test(e.message ?? "")))
    return { status: 400, code: "invalid_json", message: "the request body is not valid JSON" };
  if (isTransportError(error))
    return { status: 503, code: "chain_unavailable", message: "the chain is unreachable right now; nothing was charged" };
  // A plugin's own refusal (e.g. @fastify/rate-limit's 429) keeps its reason code.
  if (typeof e?.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    return {
      status: e.statusCode,
      code: typeof e.code === "string" && /^[a-z][a-z0-9_]*$/.test(e.code) ? e.code : "bad_request",
      message: e.message,
    };
  }
  return { status: 500, code: "internal_error", message: "an internal error occurred" };
}

/** Requests node's HTTP parser refuses (headers over 16 KiB: 431 header_too_large) get a JSON refusal too. */
export { clientErrorHandler as answerClientError } from "@royalty402/fastify-x402";

export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const m = mapError(error);
    if (m.status >= 500) request.log.error({ err: error }, "request failed");
    else request.log.info({ code: m.code, status: m.status }, "request refused");
    return sendError(request, reply, m.status, m.code, m.message, m.extra);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, 404, "not_found", `no route ${request.method} ${request.url.split("?")[0]}`),
  );
}

/**
 * The x402 plugin answers with {error: code, message}. On /v1 routes, rewrite such bodies into
 * OpenAI's error shape (headers, PAYMENT-REQUIRED included, are left as they are).
 */
export function openAiErrorShape(request: FastifyRequest, reply: FastifyReply, payload: unknown): unknown {
  if (reply.statusCode < 400 || typeof payload !== "string" || !isOpenAiRoute(request.url)) return payload;
  let body: unknown;
  try {
    body = JSON.parse(payload);
  } catch {
    return payload;
  }
  if (!body || typeof body !== "object" || typeof (body as { error?: unknown }).error !== "string") return payload;
  const { error, message, x402Version, accepts, ...rest } = body as {
    error: string;
    message?: unknown;
    x402Version?: unknown;
    accepts?: unknown;
  };
  // The plain challenge carries x402's human-readable "Payment required" rather than a code.
  const isCode = /^[a-z0-9_]+$/.test(error);
  const code = isCode ? error : reply.statusCode === 402 ? "payment_required" : "error";
  const text = typeof message === "string" ? message : isCode ? error : error;
  const explained =
    code === "payment_required" && typeof message !== "string"
      ? `${text}: pay with x402 (the PAYMENT-REQUIRED header holds the requirements) and retry with PAYMENT-SIGNATURE`
      : text;
  const shaped = errorBody(request.url, reply.statusCode, code, explained, rest);
  // The x402 v1 challenge stays at the top level, where v1 clients read it (`error` keeps OpenAI's shape).
  return JSON.stringify(x402Version === 1 ? { x402Version, ...shaped, accepts } : shaped);
}
