// The built-in model: an ∞-gram language model over the datanet's own suffix array. Each next
// token is drawn from the tokens that follow the longest suffix of the context found in the
// datanet (counts from the suffix-array range), or the end of the contribution there. Its
// outputs are made of the contributors' text, so a fresh install has a real model whose answers
// are attributable. Deterministic for a seed: the PRNG is seeded, counts are integers, and
// ties break by token id.
import { detokenize, longestContinuation, tokenize, type Continuation, type SuffixIndex } from "../attribution/index.ts";
import { Prng } from "./prng.ts";
import type { BackendContext, CompletionRequest, CompletionResult, ModelBackend } from "./types.ts";

export interface InfiniGramOptions {
  /** Longest context suffix looked up (tokens); default 256. */
  maxSuffixTokens?: number;
}

const END = -1; // the end of a contribution: the model stops

/** Picks the next token (or END) from a continuation. */
export function sampleNext(c: Continuation, temperature: number, topP: number, prng: Prng): number {
  const n = c.tokens.length;
  const withEnd = c.suffixLength > 0 && c.endCount > 0;
  const size = n + (withEnd ? 1 : 0);
  if (size === 0) return END;
  const idAt = (i: number) => (i < n ? c.tokens[i] : END);
  const countAt = (i: number) => (i < n ? c.counts[i] : c.endCount);

  if (temperature === 0) {
    let best = 0;
    for (let i = 1; i < size; i++) if (countAt(i) > countAt(best)) best = i; // first maximum: lowest token id, END last
    return idAt(best);
  }

  if (temperature === 1 && topP >= 1) {
    // Exact integer sampling proportional to the counts.
    let total = 0;
    for (let i = 0; i < size; i++) total += countAt(i);
    let r = prng.below(total);
    for (let i = 0; i < size; i++) {
      r -= countAt(i);
      if (r < 0) return idAt(i);
    }
    return idAt(size - 1);
  }

  // p_i ∝ count_i^(1/T), computed relative to the largest count for numerical stability.
  let maxCount = 0;
  for (let i = 0; i < size; i++) maxCount = Math.max(maxCount, countAt(i));
  const logMax = Math.log(maxCount);
  let order = Array.from({ length: size }, (_, i) => i);
  const weight = new Float64Array(size);
  for (let i = 0; i < size; i++) weight[i] = Math.exp((Math.log(countAt(i)) - logMax) / temperature);
  if (topP < 1) {
    order.sort((a, b) => weight[b] - weight[a] || a - b);
    let sum = 0;
    for (const i of order) sum += weight[i];
    let kept = 0;
    let mass = 0;
    while (kept < order.length && mass < topP * sum) mass += weight[order[kept++]];
    order = order.slice(0, Math.max(1, kept));
  }
  let total = 0;
  for (const i of order) total += weight[i];
  let r = prng.next() * total;
  for (const i of order) {
    r -= weight[i];
    if (r < 0) return idAt(i);
  }
  return idAt(order[order.length - 1]);
}

/** Generates a completion of `request.prompt` from `index`. */
export function generate(index: SuffixIndex, request: CompletionRequest, options: InfiniGramOptions = {}): CompletionResult {
  const tokens = generation(index, request, options);
  for (let step = tokens.next(); ; step = tokens.next()) if (step.done) return step.value;
}

/** The generation token by token: yields each token as it is drawn, returns the completion. */
function* generation(index: SuffixIndex, request: CompletionRequest, options: InfiniGramOptions): Generator<number, CompletionResult> {
  const maxSuffix = options.maxSuffixTokens ?? 256;
  const prompt = tokenize(request.prompt);
  const context = new Uint32Array(prompt.length + request.maxTokens);
  context.set(prompt);
  let length = prompt.length;
  const prng = new Prng(request.seed ?? randomSeed());
  const longestStop = request.stop.reduce((m, s) => Math.max(m, s.length), 0);

  let text = "";
  let finishReason: CompletionResult["finishReason"] = "length";
  let generated = 0;
  let cutByStop = false;
  while (generated < request.maxTokens) {
    const from = Math.max(0, length - maxSuffix);
    const next = sampleNext(
      longestContinuation(index, context.subarray(from, length), { maxSuffixTokens: maxSuffix }),
      request.temperature,
      request.topP,
      prng,
    );
    if (next === END) {
      finishReason = "stop";
      break;
    }
    context[length++] = next;
    generated++;
    if (request.stop.length > 0) {
      const before = text.length;
      text = detokenize(context.subarray(prompt.length, length));
      const searchFrom = Math.max(0, before - longestStop);
      let cut = -1;
      for (const s of request.stop) {
        const at = text.indexOf(s, searchFrom);
        if (at >= 0 && (cut < 0 || at < cut)) cut = at;
      }
      if (cut >= 0) {
        text = text.slice(0, cut);
        finishReason = "stop";
        cutByStop = true;
        break;
      }
    }
    yield next; // after the stop check: the token that completes a stop sequence is never handed on
  }
  if (!cutByStop) text = detokenize(context.subarray(prompt.length, length));
  return {
    text,
    finishReason,
    promptTokens: prompt.length,
    completionTokens: cutByStop ? tokenize(text).length : generated,
    fingerprint: fingerprintOf(index),
  };
}

const fingerprintOf = (index: SuffixIndex) => `infinigram-${index.indexRoot.slice(2, 14)}`;

function randomSeed(): bigint {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return (BigInt(words[0]) << 32n) | BigInt(words[1]);
}

export class InfiniGramBackend implements ModelBackend {
  readonly kind = "infinigram" as const;
  constructor(private readonly options: InfiniGramOptions = {}) {}

  async complete(request: CompletionRequest, context: BackendContext): Promise<CompletionResult> {
    return generate(context.index, request, this.options);
  }

  /**
   * Hands on each piece of text as its token is drawn, yielding to the event loop between tokens so
   * that it reaches the client. A piece is held back while it ends inside a multi-byte character, or
   * while it could still be the start of a stop sequence (which is never sent). The client leaving
   * ends the generation: the output is what was sent.
   */
  async stream(request: CompletionRequest, context: BackendContext, onPiece: (piece: string) => void): Promise<CompletionResult> {
    const holdBack = Math.max(0, request.stop.reduce((m, s) => Math.max(m, s.length), 0) - 1);
    const tokens = generation(context.index, request, this.options);
    let pending: number[] = [];
    let decoded = ""; // the text of the tokens drawn so far, up to the last whole character
    let sent = 0;
    for (let step = tokens.next(); ; step = tokens.next()) {
      if (step.done) {
        if (step.value.text.length > sent) onPiece(step.value.text.slice(sent));
        return step.value;
      }
      pending.push(step.value);
      const piece = detokenize(pending);
      if (piece.endsWith("\uFFFD")) continue;
      decoded += piece;
      pending = [];
      if (decoded.length - holdBack > sent) {
        onPiece(decoded.slice(sent, decoded.length - holdBack));
        sent = decoded.length - holdBack;
      }
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (context.signal?.aborted) return sentSoFar(request, decoded.slice(0, sent), context.index);
    }
  }
}

/** The completion of a stream the client left: exactly the text it was sent. */
function sentSoFar(request: CompletionRequest, text: string, index: SuffixIndex): CompletionResult {
  return {
    text,
    finishReason: "length",
    promptTokens: tokenize(request.prompt).length,
    completionTokens: tokenize(text).length,
    fingerprint: fingerprintOf(index),
  };
}
