// The paid-inference use case, apart from HTTP: generate the output of a paid request (whole, or
// streamed piece by piece), attribute it against the model's datanet, and store the output with
// its record (and its text, when epochs publish texts) before the payment is settled, so a
// settled payment always has both.
import { attribute, detokenize, hashRecord, serializeRecord, tokenize, type AttributionRecord } from "./attribution/index.ts";
import type { Metrics } from "./api/metrics.ts";
import type { DatanetService } from "./datanets/index.ts";
import type { TextStore } from "./epochs/index.ts";
import type { Ledger, OutputText, PaymentKey } from "./ledger/index.ts";
import type { CompletionRequest, CompletionResult, ServedModel } from "./models/index.ts";

export interface InferenceServices {
  ledger: Ledger;
  datanets: DatanetService;
  texts: TextStore | null;
  metrics: Metrics;
}

export interface PaidInference {
  model: ServedModel;
  request: CompletionRequest;
  /** The payment's output id (the x402 plugin derives it) and ledger key. */
  payment: { outputId: string; key: PaymentKey };
  /** Stops a proxied generation when the client goes away. */
  signal: AbortSignal;
}

export interface InferenceOutput {
  outputId: string;
  result: CompletionResult;
  record: AttributionRecord;
  recordHash: string;
}

export async function runPaidInference(services: InferenceServices, job: PaidInference): Promise<InferenceOutput> {
  const index = services.datanets.index(job.model.config.datanet);
  const stopGeneration = services.metrics.generationSeconds.startTimer({ model: job.model.id });
  const result = await job.model.backend.complete(job.request, { index, signal: job.signal });
  stopGeneration();
  return recordOutput(services, job, result);
}

/**
 * Generates while handing each piece of text on as it comes (a backend without a stream of its
 * own: its finished text, token by token); the client leaving (job.signal) ends it early. The
 * output is not recorded yet: recordOutput, once the text is final.
 */
export async function streamGeneration(services: InferenceServices, job: PaidInference, onPiece: (piece: string) => void) {
  const { model, request } = job;
  const context = { index: services.datanets.index(model.config.datanet), signal: job.signal };
  const stopGeneration = services.metrics.generationSeconds.startTimer({ model: model.id });
  try {
    if (model.backend.stream) return await model.backend.stream(request, context, onPiece);
    const result = await model.backend.complete(request, context);
    for (const token of tokenize(result.text)) onPiece(detokenize([token]));
    return result;
  } finally {
    stopGeneration();
  }
}

/** Attributes a finished output against the model's datanet and stores it with its record (and text). */
export async function recordOutput(services: InferenceServices, job: PaidInference, result: CompletionResult): Promise<InferenceOutput> {
  const { model, request } = job;
  const index = services.datanets.attributionIndex(model.config.datanet); // main + delta: new contributions count at once
  const stopAttribution = services.metrics.attributionSeconds.startTimer({ model: model.id });
  const record = attribute(index, result.text, request.prompt, model.backend.attribution);
  const recordHash = hashRecord(record);
  stopAttribution();

  const outputId = job.payment.outputId.toLowerCase();
  const stored = { outputId, modelId: model.id, paymentKey: job.payment.key, record, recordHash };
  await storeOutput(services, stored, { output: result.text, prompt: request.prompt });
  return { outputId, result, record, recordHash };
}

/** Stores a paid output with its record (and its text, when epochs publish texts), before its payment settles. */
export async function storeOutput(
  services: Pick<InferenceServices, "ledger" | "texts">,
  output: { outputId: string; modelId: string; paymentKey: PaymentKey; record: AttributionRecord; recordHash: string },
  text: OutputText,
): Promise<void> {
  await services.ledger.putOutput({ ...output, record: serializeRecord(output.record), epoch: null, createdAt: Date.now() });
  await services.texts?.save(output.outputId, text);
}
