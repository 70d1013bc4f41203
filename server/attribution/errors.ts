// One error type for the attribution service: every refusal carries a stable reason code
// that callers (HTTP layer, CLI) can map to a 4xx without parsing messages.

export type AttributionErrorCode =
  | "invalid_contribution"
  | "duplicate_seq"
  | "invalid_address"
  | "empty_datanet"
  | "index_corrupt"
  | "index_mismatch"
  | "invalid_record"
  | "invalid_payment"
  | "duplicate_output"
  | "invalid_epoch_input"
  | "invalid_json"
  | "epoch_not_found";

export class AttributionError extends Error {
  readonly code: AttributionErrorCode;
  constructor(code: AttributionErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = "AttributionError";
    this.code = code;
  }
}
