// The `rag` backend: retrieval-grounded generation. It retrieves the top passages of the datanet
// for the prompt (BM25, deterministic: attribution/retrieval.ts) and sends them to the upstream
// (an OpenAI-compatible proxy) as context ahead of the conversation. Its outputs are attributed
// with the retrieval-grounded algorithm, which recomputes the same retrieval and credits the
// passages by how much of the output they support, so a paraphrasing upstream still pays the
// authors it drew on.
import { RETRIEVAL_ALGORITHM, retrievePassages } from "../attribution/retrieval.ts";
import type { UpstreamConfig } from "../config/index.ts";
import { ProxyBackend } from "./proxy.ts";
import type { BackendContext, ChatMessage, CompletionRequest, CompletionResult, ModelBackend } from "./types.ts";

/** The context message the upstream receives (numbered passages, best first). */
function contextMessage(passages: readonly string[]): string {
  const listed = passages.map((p, i) => `[${i + 1}] ${p}`).join("\n\n");
  return `Answer using these passages from the datanet where they help:\n\n${listed}`;
}

export class RagBackend implements ModelBackend {
  readonly kind = "rag" as const;
  readonly attribution: { algorithm: string; topK: number };
  private readonly proxy: ProxyBackend;

  constructor(upstream: UpstreamConfig, apiKey: string | null, topK: number, fetchImpl: typeof fetch = fetch) {
    this.proxy = new ProxyBackend(upstream, apiKey, fetchImpl);
    this.attribution = { algorithm: RETRIEVAL_ALGORITHM, topK };
  }

  async complete(request: CompletionRequest, context: BackendContext): Promise<CompletionResult> {
    const passages = retrievePassages(context.index, request.prompt, this.attribution.topK).map((h) => h.passage.text);
    if (passages.length === 0) return this.proxy.complete(request, context);
    const system: ChatMessage = { role: "system", content: contextMessage(passages) };
    const grounded: CompletionRequest =
      request.kind === "chat"
        ? { ...request, messages: [system, ...(request.messages ?? [{ role: "user", content: request.prompt }])] }
        : { ...request, prompt: `${system.content}\n\n${request.prompt}` };
    return this.proxy.complete(grounded, context);
  }
}
