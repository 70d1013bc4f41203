// Ledger errors carry a stable reason code so callers can map them to HTTP answers
// without parsing messages. Messages never contain connection strings or payloads.

export type LedgerErrorCode =
  | "invalid_input" // a field failed validation (the message names the field)
  | "invalid_transition" // the requested status change is not an edge of the payment state machine
  | "unknown_payment" // an output names a payment the ledger does not hold
  | "payment_not_reserved" // a voucher's payment is no longer reserved or settling (released, failed, settled)
  | "payment_has_output" // the payment already bought another output
  | "output_conflict" // the outputId exists with a different record
  | "output_not_assignable" // an output is unknown or already in another epoch
  | "epoch_conflict" // a posted epoch's roots or allocation would change
  | "channel_link_conflict" // a channel link names outputs that are unclaimed or linked already
  | "migration_mismatch" // the database's migration history differs from this code's
  | "unsupported_database_url" // DATABASE_URL is not postgres:// or postgresql://
  | "ledger_closed"; // the ledger was used after close()

export class LedgerError extends Error {
  readonly code: LedgerErrorCode;
  constructor(code: LedgerErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = "LedgerError";
    this.code = code;
  }
}

export function isLedgerError(e: unknown, code?: LedgerErrorCode): e is LedgerError {
  return e instanceof LedgerError && (code === undefined || e.code === code);
}
