// The OpenAI-compatible surface: POST /v1/chat/completions and /v1/completions (paid with x402;
// the `model` field picks the model and its splitter), GET /v1/models (free).
//
// Order of checks on a paid route: body schema (400) -> model and parameters (404/400) ->
// payment (402/409, the x402 plugin) -> generate, attribute, store the record (inference.ts) -> settle
// (the settle call carries the output id and the record hash) -> respond. With `stream: true` and
// `exact` the whole output is generated, attributed and SETTLED before the first byte of the
// event stream (the payment commits on-chain to the attribution record, which needs the full
// output); with `upto` it streams as generated and settles at the end (openai-stream.ts).
import { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Network, PaymentScheme } from "@royalty402/fastify-x402";
import { LONGEST_TOKENIZABLE_RUN, longestUnbrokenRun, tokenize } from "../attribution/index.ts";
import { runPaidInference } from "../inference.ts";
import type { ChatMessage, CompletionRequest, ServedModel } from "../models/index.ts";
import { maximumPrice, priceListing } from "../models/pricing.ts";
import { summary } from "./attribution-summary.ts";
import { metered, streamChoice, streamMetered, usageOf } from "./openai-stream.ts";
import type { AppContext } from "./context.ts";
import { completionDiscovery } from "./discovery.ts";
import { ApiError } from "./errors.ts";
import { chatBodySchema, completionBodySchema, errorSchema, modelListSchema, modelSchema, paymentRequiredSchema } from "./schemas.ts";
import { splitForStream, sseEvents } from "./sse.ts";
import { attributionPath } from "../util/urls.ts";

interface Prepared {
  model: ServedModel;
  request: CompletionRequest;
  /** The most this request can cost: what `exact` charges and `upto` signs. */
  price: bigint;
  promptTokens: number;
  stream: boolean;
  includeUsage: boolean;
}

const prepared = new WeakMap<FastifyRequest, Prepared>();
/** The schemes the paid routes offer, per app context (set by openAiRoutes). */
const offered = new WeakMap<AppContext, readonly PaymentScheme[]>();

/** The offers a challenge for a request at the default max_tokens (and an empty prompt) would carry. */
function offersOf(ctx: AppContext, m: ServedModel, amount: bigint) {
  const offer = {
    network: ctx.network as Network,
    asset: { address: ctx.token.address, name: ctx.token.name, version: ctx.token.version },
    payTo: m.splitter,
    amount,
    maxTimeoutSeconds: 300,
  };
  return (offered.get(ctx) ?? []).map((scheme) => scheme.requirements(offer));
}

/** The public description of a model (GET /v1/models). */
export function modelListing(ctx: AppContext, m: ServedModel) {
  const c = m.config;
  const atDefault = maximumPrice(c.price, 0, c.defaultMaxTokens);
  return {
    id: m.id,
    object: "model",
    created: ctx.startedAt,
    owned_by: m.splitterConfig.owner,
    backend: c.backend,
    description: c.description,
    datanet: c.datanet,
    indexRoot: ctx.datanets.info(c.datanet)?.indexRoot ?? null,
    network: ctx.network,
    asset: ctx.token.address,
    payTo: m.splitter,
    splitterDeployed: m.deployed,
    price: {
      ...priceListing(c.price),
      /** Older name of perOutputToken (exact charges it for every max_tokens token). */
      perMaxToken: c.price.perOutputToken.toString(),
      defaultMaxTokens: c.defaultMaxTokens,
      maxTokensLimit: c.maxTokensLimit,
      /** The most a request with an empty prompt and the default max_tokens costs. */
      default: atDefault.toString(),
      asset: ctx.token.address,
      symbol: ctx.token.symbol,
      decimals: ctx.token.decimals,
    },
    /** The x402 offers of such a request's challenge (exact charges the maximum; upto settles the tokens generated). */
    accepts: offersOf(ctx, m, atDefault),
    split: {
      ownerBps: m.splitterConfig.ownerBps,
      protocolBps: m.splitterConfig.protocolBps,
      contributorBps: 10_000 - m.splitterConfig.ownerBps - m.splitterConfig.protocolBps,
      challengePeriod: m.splitterConfig.challengePeriod,
    },
  };
}

type ChatBody = {
  model: string;
  messages: Array<{ role: string; content?: string | Array<{ type: string; text?: string }> | null; name?: string }>;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  n?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  stop?: string | string[] | null;
  seed?: number | null;
};
type CompletionBody = Omit<ChatBody, "messages" | "max_completion_tokens"> & { prompt: string | string[] };

function messagesOf(body: ChatBody): ChatMessage[] {
  return body.messages.map((m, i) => {
    let content = "";
    if (typeof m.content === "string") content = m.content;
    else if (Array.isArray(m.content)) {
      content = m.content
        .map((part, j) => {
          if (part.type !== "text" || typeof part.text !== "string") {
            throw new ApiError(400, "unsupported_content", `messages[${i}].content[${j}]: only text parts are supported`, {
              param: `messages[${i}].content`,
            });
          }
          return part.text;
        })
        .join("");
    }
    return m.name === undefined ? { role: m.role, content } : { role: m.role, content, name: m.name };
  });
}

function prepare(ctx: AppContext, request: FastifyRequest, kind: "chat" | "text"): Prepared {
  const body = request.body as ChatBody & CompletionBody;
  const model = ctx.models.get(body.model);
  if (!model)
    throw new ApiError(404, "model_not_found", `The model \`${body.model}\` does not exist; GET /v1/models lists the models served here`, {
      param: "model",
    });
  if (body.n !== undefined && body.n !== null && body.n !== 1) {
    throw new ApiError(400, "unsupported_parameter", "n must be 1: every output is paid and attributed on its own", { param: "n" });
  }
  const requested = (kind === "chat" ? body.max_completion_tokens : undefined) ?? body.max_tokens ?? null;
  const maxTokens = requested ?? model.config.defaultMaxTokens;
  if (maxTokens > model.config.maxTokensLimit) {
    throw new ApiError(
      400,
      "max_tokens_too_large",
      `max_tokens is ${maxTokens}; model ${model.id} allows at most ${model.config.maxTokensLimit}`,
      { param: "max_tokens" },
    );
  }
  let messages: ChatMessage[] | undefined;
  let prompt: string;
  if (kind === "chat") {
    messages = messagesOf(body);
    prompt = messages
      .map((m) => m.content)
      .filter((c) => c.length > 0)
      .join("\n\n");
  } else {
    prompt = Array.isArray(body.prompt) ? body.prompt[0] : body.prompt;
  }
  const stop =
    body.stop === undefined || body.stop === null ? [] : (Array.isArray(body.stop) ? body.stop : [body.stop]).filter((s) => s.length > 0);
  // Fail before payment if the model cannot answer (e.g. its datanet is still empty).
  ctx.datanets.index(model.config.datanet);
  if (longestUnbrokenRun(prompt) > LONGEST_TOKENIZABLE_RUN)
    throw new ApiError(
      400,
      "prompt_run_too_long",
      `the prompt holds a run of more than ${LONGEST_TOKENIZABLE_RUN} characters without whitespace (or of whitespace alone), ` +
        "which the tokenizer cannot count quickly; break it up",
      { param: kind === "chat" ? "messages" : "prompt" },
    );
  const promptTokens = tokenize(prompt).length;
  return {
    model,
    price: maximumPrice(model.config.price, promptTokens, maxTokens),
    promptTokens,
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
    request: {
      kind,
      prompt,
      messages,
      maxTokens,
      temperature: body.temperature ?? 1,
      topP: body.top_p ?? 1,
      stop,
      seed: body.seed === undefined || body.seed === null ? null : BigInt(body.seed),
    },
  };
}

async function serve(ctx: AppContext, request: FastifyRequest, reply: FastifyReply, kind: "chat" | "text") {
  const p = prepared.get(request)!;
  const payment = request.x402!;
  const { model } = p;
  if (p.stream && payment.requirements.scheme === "upto") {
    const { promptTokens, includeUsage } = p;
    const job = { model, request: p.request, promptTokens, kind, includeUsage, baseUrl: ctx.baseUrl(request) };
    return streamMetered(ctx, request, reply, job);
  }
  const controller = new AbortController();
  // The client went away: stop a proxied generation (the plugin releases the reservation).
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  const { outputId, result, record, recordHash } = await runPaidInference(ctx, {
    model,
    request: p.request,
    payment,
    signal: controller.signal,
  });
  const recordUrl = `${ctx.baseUrl(request)}${attributionPath(outputId)}`;
  payment.setOutput({ outputId, attributionRoot: recordHash, attributionUrl: recordUrl, ...metered(model, payment, result) });

  const attribution = summary(record, outputId, recordHash, recordUrl);
  const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${outputId.slice(2)}`;
  const created = Math.floor(Date.now() / 1000);
  const usage = usageOf(result);
  const base = { id, created, model: model.id, system_fingerprint: result.fingerprint };

  if (!p.stream) {
    const choice =
      kind === "chat"
        ? { index: 0, message: { role: "assistant", content: result.text }, logprobs: null, finish_reason: result.finishReason }
        : { index: 0, text: result.text, logprobs: null, finish_reason: result.finishReason };
    return { ...base, object: kind === "chat" ? "chat.completion" : "text_completion", choices: [choice], usage, attribution };
  }

  const object = kind === "chat" ? "chat.completion.chunk" : "text_completion";
  const delta = (content: string | null, finish: string | null, first = false) => streamChoice(kind, content, finish, first);
  const events: object[] = [];
  if (kind === "chat") events.push({ ...base, object, choices: [delta(null, null, true)] });
  for (const piece of splitForStream(result.text)) events.push({ ...base, object, choices: [delta(piece, null)] });
  events.push({ ...base, object, choices: [delta(null, result.finishReason)], attribution });
  if (p.includeUsage) events.push({ ...base, object, choices: [], usage });
  reply.header("Content-Type", "text/event-stream; charset=utf-8").header("Cache-Control", "no-cache").header("X-Accel-Buffering", "no");
  // The x402 plugin settles in onSend, i.e. before this stream's first byte is written.
  return reply.send(Readable.from(sseEvents(events)));
}

export async function openAiRoutes(app: FastifyInstance, opts: { ctx: AppContext; schemes?: readonly PaymentScheme[] }): Promise<void> {
  const { ctx } = opts;
  const schemes = opts.schemes ?? [];
  offered.set(ctx, schemes);
  const paidRoute = (description: string, kind: "chat" | "text") => ({
    ...(schemes.length > 0 ? { scheme: schemes.map((s) => s.scheme) } : {}),
    resource: (request: FastifyRequest) => prepared.get(request)?.model.id ?? (request.body as { model?: string })?.model ?? "",
    price: (request: FastifyRequest) => prepared.get(request)!.price,
    description,
    mimeType: "application/json",
    discovery: completionDiscovery(ctx, kind, (m) => maximumPrice(m.config.price, 0, m.config.defaultMaxTokens)),
  });
  const prepareHook = (kind: "chat" | "text") => async (request: FastifyRequest) => {
    prepared.set(request, prepare(ctx, request, kind));
  };

  app.post(
    "/v1/chat/completions",
    {
      schema: {
        summary: "Chat completion (OpenAI-compatible), paid with x402",
        description:
          "Without a PAYMENT-SIGNATURE header the answer is 402 with " +
          "a PAYMENT-REQUIRED challenge (payTo: the model's splitter; " +
          "amount: perRequest + perPromptToken × prompt tokens + perOutputToken × max_tokens, the most it can cost; `exact` " +
          "charges it, `upto` signs it and settles the price of the tokens generated). " +
          "With a valid payment the output is generated, attributed, " +
          "settled, and returned with an `attribution` summary; PAYMENT-RESPONSE names the output id and record URL. `stream: " +
          "true` answers with server-sent events after settlement.",
        tags: ["models"],
        body: chatBodySchema,
        response: {
          200: {
            description:
              "chat.completion (or an event stream of chat.completion.chunk); " +
              "PAYMENT-RESPONSE header: the settlement, " +
              "extra.outputId and extra.attributionUrl",
            type: "object",
            additionalProperties: true,
          },
          402: paymentRequiredSchema,
          "4xx": errorSchema,
        },
      },
      config: { x402: paidRoute("chat completion", "chat") },
      preHandler: prepareHook("chat"),
    },
    (request, reply) => serve(ctx, request, reply, "chat"),
  );

  app.post(
    "/v1/completions",
    {
      schema: {
        summary: "Text completion (OpenAI-compatible), paid with x402",
        tags: ["models"],
        body: completionBodySchema,
        response: {
          200: {
            description: "text_completion (or an event stream of them); PAYMENT-RESPONSE header: the settlement",
            type: "object",
            additionalProperties: true,
          },
          402: paymentRequiredSchema,
          "4xx": errorSchema,
        },
      },
      config: { x402: paidRoute("text completion", "text") },
      preHandler: prepareHook("text"),
    },
    (request, reply) => serve(ctx, request, reply, "text"),
  );

  app.get(
    "/v1/models",
    {
      schema: {
        summary: "Models served here, with price, network, asset, payTo (splitter) and datanet",
        tags: ["models"],
        response: { 200: modelListSchema },
      },
    },
    async () => ({
      object: "list",
      data: ctx.models.list().map((m) => modelListing(ctx, m)),
    }),
  );

  app.get<{ Params: { id: string } }>(
    "/v1/models/:id",
    {
      schema: {
        summary: "One model",
        tags: ["models"],
        params: { type: "object", properties: { id: { type: "string" } } },
        response: { 200: modelSchema, "4xx": errorSchema },
      },
    },
    async (request) => {
      const m = ctx.models.get(request.params.id);
      if (!m) throw new ApiError(404, "model_not_found", `The model \`${request.params.id}\` does not exist`, { param: "model" });
      return modelListing(ctx, m);
    },
  );
}
