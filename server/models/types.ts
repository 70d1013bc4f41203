// What a model backend is given and gives back. The HTTP layer turns OpenAI requests into a
// CompletionRequest and the result into OpenAI responses; backends know nothing of HTTP or payments.
import type { SuffixIndex } from "../attribution/index.ts";

export interface ChatMessage {
  role: string;
  content: string;
  name?: string;
}

export interface CompletionRequest {
  kind: "chat" | "text";
  /** The text the model continues (chat: the messages' contents); also masks prompt-copied spans in attribution. */
  prompt: string;
  /** Chat only: the conversation as sent (a proxy forwards it unchanged). */
  messages?: ChatMessage[];
  maxTokens: number;
  /** 0 = greedy; OpenAI's range is [0, 2]. */
  temperature: number;
  /** Nucleus sampling mass in (0, 1]. */
  topP: number;
  /** Up to 4 stop sequences; the output ends before the first one. */
  stop: string[];
  /** Same seed, same request, same index: same output (∞-gram). null: a fresh random seed. */
  seed: bigint | null;
}

export interface CompletionResult {
  text: string;
  finishReason: "stop" | "length";
  promptTokens: number;
  completionTokens: number;
  /** Identifies what produced the output (OpenAI's system_fingerprint). */
  fingerprint: string;
}

export interface BackendContext {
  /** The datanet index the output will be attributed against (the same snapshot). */
  index: SuffixIndex;
  signal?: AbortSignal;
}

export interface ModelBackend {
  readonly kind: "infinigram" | "proxy" | "rag";
  /** The attribution algorithm (and its options) for this backend's outputs; default: the current one. */
  readonly attribution?: { algorithm: string; topK?: number };
  complete(request: CompletionRequest, context: BackendContext): Promise<CompletionResult>;
  /**
   * Generates while handing each piece of text to `onPiece` as it comes. When `context.signal`
   * aborts (the client left) it ends early and returns what was generated so far.
   */
  stream?(request: CompletionRequest, context: BackendContext, onPiece: (piece: string) => void): Promise<CompletionResult>;
}

/** A backend failure with an HTTP status and reason code (nothing is charged: the handler fails). */
export class BackendError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "BackendError";
  }
}
