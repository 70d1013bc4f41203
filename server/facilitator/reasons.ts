// Reason codes, spelled exactly as the reference x402 facilitator (@x402/evm 2.27) spells them,
// plus the few this project adds (marked "ours"). Clients and dashboards key on these strings.

export const Reason = {
  // verify, in the reference order
  scheme: "invalid_exact_evm_scheme",
  missingDomain: "invalid_exact_evm_missing_eip712_domain",
  networkMismatch: "invalid_exact_evm_network_mismatch",
  signature: "invalid_exact_evm_signature",
  recipientMismatch: "invalid_exact_evm_recipient_mismatch",
  validBefore: "invalid_exact_evm_payload_authorization_valid_before",
  validAfter: "invalid_exact_evm_payload_authorization_valid_after",
  valueMismatch: "invalid_exact_evm_payload_authorization_value_mismatch",
  // verify, on-chain
  nonceUsed: "invalid_exact_evm_nonce_already_used",
  insufficientBalance: "invalid_exact_evm_insufficient_balance",
  tokenNameMismatch: "invalid_exact_evm_token_name_mismatch",
  tokenVersionMismatch: "invalid_exact_evm_token_version_mismatch",
  eip3009NotSupported: "invalid_exact_evm_eip3009_not_supported",
  simulationFailed: "invalid_exact_evm_transaction_simulation_failed",
  // settle
  settlementPending: "settlement_pending",
  transactionFailed: "invalid_exact_evm_transaction_failed",
  transferEventMismatch: "invalid_exact_evm_transfer_event_mismatch",
  // x402 specification codes for malformed requests
  invalidPayload: "invalid_payload",
  invalidX402Version: "invalid_x402_version",
  unsupportedScheme: "unsupported_scheme",
  // ours
  assetMismatch: "invalid_exact_evm_asset_mismatch",
  chainUnavailable: "chain_unavailable",
  paymentReplayed: "payment_replayed",
  paymentHeaderTooLarge: "payment_header_too_large",
} as const;

/** Thrown (never returned) when the chain or RPC cannot be reached: callers answer 503, charge nothing. */
export class ChainUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ChainUnavailableError";
  }
}

const TRANSPORT_CODES = new Set([
  "NETWORK_ERROR",
  "SERVER_ERROR",
  "TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);
const TRANSPORT_TEXT = new RegExp(
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket hang up|fetch failed|network error|failed to detect network|/.source +
    /request timeout|other side closed|getaddrinfo|connect ECONN/.source,
  "i",
);

/** True if an error means "could not talk to the chain", as opposed to "the chain said no". */
export function isTransportError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current != null; depth++) {
    if (current instanceof ChainUnavailableError) return true;
    const e = current as { code?: unknown; message?: unknown; cause?: unknown; error?: unknown };
    if (typeof e.code === "string" && TRANSPORT_CODES.has(e.code)) return true;
    if (typeof e.message === "string" && TRANSPORT_TEXT.test(e.message)) return true;
    current = e.cause ?? e.error;
  }
  return false;
}

/** True only if the connection was refused: the request certainly never reached the node. */
export function isConnectionRefused(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current != null; depth++) {
    const e = current as { code?: unknown; message?: unknown; cause?: unknown; error?: unknown };
    if (e.code === "ECONNREFUSED" || (typeof e.message === "string" && /ECONNREFUSED/.test(e.message))) return true;
    current = e.cause ?? e.error;
  }
  return false;
}
