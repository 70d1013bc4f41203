// Real streaming for metered payments (upto): the answer is streamed as the backend produces it,
// and the payment settles when it ends, for the tokens generated; the receipt (settlement, output
// id, record URL, attribution summary) is the last event before [DONE], since the headers went
// out with the first token. A client that leaves mid-stream is charged for what was generated,
// and the record covers exactly that text. An error before the first token answers as usual
// (nothing charged); after it, the text so far is the output.
import type { FastifyReply, FastifyRequest } from "fastify";
import { settleAtEnd, type DeferredSettlement, type PaymentContext } from "@royalty402/fastify-x402";
import { tokenize } from "../attribution/index.ts";
import { recordOutput, streamGeneration, type InferenceServices } from "../inference.ts";
import type { CompletionRequest, CompletionResult, ServedModel } from "../models/index.ts";
import { meteredPrice } from "../models/pricing.ts";
import { attributionPath } from "../util/urls.ts";
import { summary } from "./attribution-summary.ts";

export interface StreamJob {
  model: ServedModel;
  request: CompletionRequest;
  /** The prompt's token count, as the route priced it. */
  promptTokens: number;
  kind: "chat" | "text";
  includeUsage: boolean;
  baseUrl: string;
}

/** With a metered scheme (upto): the price of the tokens used, which is what settles. */
export function metered(model: ServedModel, payment: PaymentContext, usage: { promptTokens: number; completionTokens: number }) {
  if (payment.requirements.scheme !== "upto") return {};
  return { usage: meteredPrice(model.config.price, usage, payment.amount) };
}

export async function streamMetered(services: InferenceServices, request: FastifyRequest, reply: FastifyReply, job: StreamJob) {
  const payment = request.x402!;
  const controller = new AbortController();
  const raw = reply.raw;
  raw.once("close", () => {
    if (!raw.writableFinished) controller.abort();
  });
  const id = `${job.kind === "chat" ? "chatcmpl" : "cmpl"}-${payment.outputId.slice(2, 34)}`;
  const created = Math.floor(Date.now() / 1000);
  const object = job.kind === "chat" ? "chat.completion.chunk" : "text_completion";
  const base = { id, created, model: job.model.id, object };
  const send = (event: object | string) => {
    if (!raw.destroyed && !raw.writableEnded) raw.write(`data: ${typeof event === "string" ? event : JSON.stringify(event)}\n\n`);
  };
  const choice = (content: string | null, finish: string | null, first = false) => streamChoice(job.kind, content, finish, first);

  let deferred: DeferredSettlement | null = null;
  const start = () => {
    // The first token: from here on the payment settles at the end, whatever happens.
    deferred = settleAtEnd(request);
    reply.hijack();
    raw.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", "x-accel-buffering": "no" });
    if (job.kind === "chat") send({ ...base, choices: [choice(null, null, true)] });
  };
  const inference = { model: job.model, request: job.request, payment, signal: controller.signal };
  let text = "";
  let result: CompletionResult;
  try {
    result = await streamGeneration(services, inference, (piece) => {
      if (!deferred) start();
      text += piece;
      send({ ...base, choices: [choice(piece, null)] });
    });
  } catch (error) {
    if (!deferred) throw error; // nothing sent: an ordinary error answer, nothing charged
    result = partialResult(job, text);
  }
  if (!deferred) start(); // an empty answer
  const writer = { base, send, choice, end: () => raw.end() };
  return finish(services, request, job, inference, result, deferred!, writer);
}

interface Writer {
  base: object;
  send(event: object | string): void;
  choice(content: string | null, finish: string | null): object;
  end(): void;
}

/** The output of a stream that broke after its first token: the text so far. */
function partialResult(job: StreamJob, text: string): CompletionResult {
  return { text, finishReason: "length", promptTokens: 0, completionTokens: 0, fingerprint: `stream-${job.model.id}` };
}

async function finish(
  services: InferenceServices,
  request: FastifyRequest,
  job: StreamJob,
  inference: Parameters<typeof recordOutput>[1],
  generated: CompletionResult,
  deferred: DeferredSettlement,
  { base, send, choice, end }: Writer,
) {
  const payment = request.x402!;
  let result = generated;
  try {
    if (result.completionTokens === 0 && result.text.length > 0) result = { ...result, ...countTokens(job, result.text) };
    const { outputId, record, recordHash } = await recordOutput(services, inference, result);
    const recordUrl = `${job.baseUrl}${attributionPath(outputId)}`;
    payment.setOutput({ outputId, attributionRoot: recordHash, attributionUrl: recordUrl, ...metered(job.model, payment, result) });
    const receipt = await deferred.settle();
    const attribution = summary(record, outputId, recordHash, recordUrl);
    send({ ...base, choices: [choice(null, result.finishReason)], attribution, x402: receipt });
    if (job.includeUsage) send({ ...base, choices: [], usage: usageOf(result) });
  } catch (error) {
    request.log.error({ err: error }, "a metered stream could not be recorded or settled; nothing charged");
    await deferred.release("stream_record_failed");
    send({ error: { message: "the answer could not be recorded; nothing was charged", code: "stream_failed" } });
  }
  send("[DONE]");
  end();
}

function countTokens(job: StreamJob, text: string) {
  return { promptTokens: job.promptTokens, completionTokens: tokenize(text).length };
}

/** One choice of a stream event: a chat delta (the first names the role) or a text piece; with `finish`, the last. */
export function streamChoice(kind: "chat" | "text", content: string | null, finish: string | null, first = false) {
  return kind === "chat"
    ? { index: 0, delta: finish ? {} : first ? { role: "assistant", content: "" } : { content }, logprobs: null, finish_reason: finish }
    : { index: 0, text: content ?? "", logprobs: null, finish_reason: finish };
}

export function usageOf(result: CompletionResult) {
  return {
    prompt_tokens: result.promptTokens,
    completion_tokens: result.completionTokens,
    total_tokens: result.promptTokens + result.completionTokens,
  };
}
