// A proxy to any OpenAI-compatible upstream (vLLM, llama.cpp server, Ollama, a hosted API).
// complete() asks for a whole answer (exact: the output exists before it is attributed and
// settled); stream() asks the upstream for a stream and hands on each piece as it arrives (upto:
// settled for the tokens generated once the stream ends, or the client leaves).
import { tokenize } from "../attribution/index.ts";
import type { UpstreamConfig } from "../config/index.ts";
import { BackendError, type BackendContext, type CompletionRequest, type CompletionResult, type ModelBackend } from "./types.ts";

type UpstreamChoice = { message?: { content?: unknown }; text?: unknown; finish_reason?: unknown };
type UpstreamResponse = {
  choices?: UpstreamChoice[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown };
  system_fingerprint?: unknown;
};

export class ProxyBackend implements ModelBackend {
  readonly kind = "proxy" as const;

  constructor(
    private readonly upstream: UpstreamConfig,
    /** The upstream API key (from the environment variable named by upstream.apiKeyEnv). */
    private readonly apiKey: string | null = null,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async complete(request: CompletionRequest, context: BackendContext): Promise<CompletionResult> {
    const res = await this.call(request, context, false);
    const chat = request.kind === "chat";
    let json: UpstreamResponse;
    try {
      json = (await res.json()) as UpstreamResponse;
    } catch {
      throw new BackendError(502, "upstream_invalid_response", `the upstream model answered HTTP ${res.status} without JSON`);
    }
    const choice = json?.choices?.[0];
    const text = chat ? choice?.message?.content : choice?.text;
    if (typeof text !== "string") throw new BackendError(502, "upstream_invalid_response", "the upstream answer has no text in choices[0]");
    return this.result(request, text, choice?.finish_reason, json.usage, json.system_fingerprint);
  }

  async stream(request: CompletionRequest, context: BackendContext, onPiece: (piece: string) => void): Promise<CompletionResult> {
    const res = await this.call(request, context, true);
    if (!res.body) throw new BackendError(502, "upstream_invalid_response", "the upstream answered a stream request without a body");
    const chat = request.kind === "chat";
    let text = "";
    let finish: unknown;
    let usage: UpstreamResponse["usage"];
    let fingerprint: unknown;
    try {
      for await (const data of sseData(res.body)) {
        if (data === "[DONE]") break;
        const chunk = JSON.parse(data) as UpstreamResponse & { choices?: Array<UpstreamChoice & { delta?: { content?: unknown } }> };
        const choice = chunk.choices?.[0];
        const piece = chat ? choice?.delta?.content : choice?.text;
        if (typeof piece === "string" && piece.length > 0) {
          text += piece;
          onPiece(piece);
        }
        finish = choice?.finish_reason ?? finish;
        usage = chunk.usage ?? usage;
        fingerprint = chunk.system_fingerprint ?? fingerprint;
      }
    } catch (error) {
      // The client left: what was generated so far is the output (counted by our tokenizer).
      if (context.signal?.aborted) return this.result(request, text, "length", undefined, fingerprint);
      if (error instanceof SyntaxError)
        throw new BackendError(502, "upstream_invalid_response", "the upstream stream carried invalid JSON");
      throw new BackendError(502, "upstream_unreachable", `the upstream stream broke (${(error as Error).message})`);
    }
    if (context.signal?.aborted) return this.result(request, text, "length", undefined, fingerprint);
    return this.result(request, text, finish, usage, fingerprint);
  }

  private result(
    request: CompletionRequest,
    text: string,
    finish: unknown,
    usage: UpstreamResponse["usage"],
    fingerprint: unknown,
  ): CompletionResult {
    const promptTokens = usage?.prompt_tokens;
    const completionTokens = usage?.completion_tokens;
    return {
      text,
      finishReason: finish === "length" ? "length" : "stop",
      promptTokens: Number.isSafeInteger(promptTokens) ? (promptTokens as number) : tokenize(request.prompt).length,
      completionTokens: Number.isSafeInteger(completionTokens) ? (completionTokens as number) : tokenize(text).length,
      fingerprint: typeof fingerprint === "string" ? fingerprint : `proxy-${this.upstream.model}`,
    };
  }

  /** Sends the request upstream; a transport failure or a refusal becomes a BackendError. */
  private async call(request: CompletionRequest, context: BackendContext, stream: boolean): Promise<Response> {
    const chat = request.kind === "chat";
    const body: Record<string, unknown> = {
      model: this.upstream.model,
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      stream,
      ...(request.topP < 1 ? { top_p: request.topP } : {}),
      ...(request.stop.length > 0 ? { stop: request.stop } : {}),
      ...(request.seed !== null ? { seed: Number(BigInt.asIntN(53, request.seed)) } : {}),
      ...(chat ? { messages: request.messages ?? [{ role: "user", content: request.prompt }] } : { prompt: request.prompt }),
    };
    const url = `${this.upstream.url}/${chat ? "chat/completions" : "completions"}`;
    const signal = context.signal
      ? AbortSignal.any([context.signal, AbortSignal.timeout(this.upstream.timeoutMs)])
      : AbortSignal.timeout(this.upstream.timeoutMs);
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: stream ? "text/event-stream" : "application/json",
          ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
        },
        body: JSON.stringify(body),
        signal,
      });
    } catch (error) {
      const name = (error as Error)?.name;
      if (name === "TimeoutError" || name === "AbortError")
        throw new BackendError(504, "upstream_timeout", `the upstream model did not answer within ${this.upstream.timeoutMs} ms`);
      throw new BackendError(
        502,
        "upstream_unreachable",
        `the upstream model is unreachable (${(error as Error)?.message ?? "connection failed"})`,
      );
    }
    if (!res.ok) {
      const json = (await res.json().catch(() => null)) as { error?: { message?: unknown } } | null;
      const message = json?.error?.message;
      throw new BackendError(
        502,
        "upstream_error",
        `the upstream model refused the request: HTTP ${res.status}${typeof message === "string" ? ` (${message.slice(0, 200)})` : ""}`,
      );
    }
    return res;
  }
}

/** The `data:` payloads of a server-sent event stream. */
async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const bytes of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true });
    let end = buffer.indexOf("\n");
    while (end >= 0) {
      const line = buffer.slice(0, end).replace(/\r$/, "");
      buffer = buffer.slice(end + 1);
      if (line.startsWith("data:")) yield line.slice(5).trim();
      end = buffer.indexOf("\n");
    }
  }
}
