// A proxy to any OpenAI-compatible upstream (vLLM, llama.cpp server, Ollama, a hosted API).
// The upstream is always asked for a complete (non-streamed) answer: the output must exist
// before it is attributed and before the payment that commits to its attribution record is
// settled. Streaming to our client happens after that, from the finished text.
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
    const chat = request.kind === "chat";
    const body: Record<string, unknown> = {
      model: this.upstream.model,
      max_tokens: request.maxTokens,
      temperature: request.temperature,
      stream: false,
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
          accept: "application/json",
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
    let json: UpstreamResponse;
    try {
      json = (await res.json()) as UpstreamResponse;
    } catch {
      throw new BackendError(502, "upstream_invalid_response", `the upstream model answered HTTP ${res.status} without JSON`);
    }
    if (!res.ok) {
      const message = (json as { error?: { message?: unknown } })?.error?.message;
      throw new BackendError(
        502,
        "upstream_error",
        `the upstream model refused the request: HTTP ${res.status}${typeof message === "string" ? ` (${message.slice(0, 200)})` : ""}`,
      );
    }
    const choice = json?.choices?.[0];
    const text = chat ? choice?.message?.content : choice?.text;
    if (typeof text !== "string") throw new BackendError(502, "upstream_invalid_response", "the upstream answer has no text in choices[0]");
    const promptTokens = json.usage?.prompt_tokens;
    const completionTokens = json.usage?.completion_tokens;
    return {
      text,
      finishReason: choice?.finish_reason === "length" ? "length" : "stop",
      promptTokens: Number.isSafeInteger(promptTokens) ? (promptTokens as number) : tokenize(request.prompt).length,
      completionTokens: Number.isSafeInteger(completionTokens) ? (completionTokens as number) : tokenize(text).length,
      fingerprint: typeof json.system_fingerprint === "string" ? json.system_fingerprint : `proxy-${this.upstream.model}`,
    };
  }
}
