// The paid-inference use case, apart from HTTP: generate the output of a paid request, attribute
// it against the model's datanet, and store the output with its record (and its text, when
// epochs publish texts) before the payment is settled, so a settled payment always has both.
import { attribute, hashRecord, serializeRecord, type AttributionRecord } from "./attribution/index.ts";
import type { Metrics } from "./api/metrics.ts";
import type { DatanetService } from "./datanets/index.ts";
import type { TextStore } from "./epochs/index.ts";
import type { Ledger, PaymentKey } from "./ledger/index.ts";
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
  const { model, request } = job;
  const index = services.datanets.index(model.config.datanet);

  const stopGeneration = services.metrics.generationSeconds.startTimer({ model: model.id });
  const result = await model.backend.complete(request, { index, signal: job.signal });
  stopGeneration();

  const stopAttribution = services.metrics.attributionSeconds.startTimer({ model: model.id });
  const record = attribute(index, result.text, request.prompt, model.backend.attribution);
  const recordHash = hashRecord(record);
  stopAttribution();

  const outputId = job.payment.outputId.toLowerCase();
  const output = {
    outputId,
    modelId: model.id,
    paymentKey: job.payment.key,
    record: serializeRecord(record),
    recordHash,
    epoch: null,
    createdAt: Date.now(),
  };
  await services.ledger.putOutput(output);
  await services.texts?.save(outputId, { output: result.text, prompt: request.prompt });
  return { outputId, result, record, recordHash };
}
