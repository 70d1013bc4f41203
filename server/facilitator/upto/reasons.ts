import { decodeErrorResult, parseAbi, type Hex } from "viem";

// Reason codes of the upto path: the reference facilitator's (@x402/evm 2.27), spelled as it spells
// them, plus the few this path adds (marked "ours").
export const UptoReason = {
  invalidNonce: "permit2_invalid_nonce",
  settlementExceedsAmount: "invalid_upto_evm_payload_settlement_exceeds_amount",
  transactionFailed: "invalid_upto_evm_transaction_failed",
  unauthorizedFacilitator: "upto_unauthorized_facilitator",
  invalidSignature: "invalid_permit2_signature",
  allowanceRequired: "permit2_allowance_required",
  insufficientBalance: "permit2_insufficient_balance",
  // ours
  invalidPayload: "invalid_payload",
  invalidAmount: "invalid_upto_evm_settlement_amount",
  payToNotSplitter: "invalid_upto_evm_payto_not_a_splitter",
  settlementPending: "settlement_pending",
  settlementPaused: "settlement_paused",
  chainUnavailable: "chain_unavailable",
} as const;

// Errors a settlement can revert with: Permit2, the upto proxy, the splitter, an OpenZeppelin token.
const SETTLEMENT_ERRORS = parseAbi([
  "error InvalidNonce()",
  "error InvalidAmount(uint256 maxAmount)",
  "error SignatureExpired(uint256 signatureDeadline)",
  "error InvalidSignature()",
  "error InvalidSigner()",
  "error InvalidSignatureLength()",
  "error InvalidContractSignature()",
  "error AmountExceedsPermitted()",
  "error UnauthorizedFacilitator()",
  "error PaymentTooEarly()",
  "error NotFacilitator()",
  "error SettlementIsPaused()",
  "error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)",
  "error ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed)",
]);

/** The error name in revert data if it is one of the known settlement errors, else the message. */
export function revertText(message: string, data: string | undefined): string {
  if (data && /^0x[0-9a-fA-F]{8}/.test(data)) {
    try {
      return decodeErrorResult({ abi: SETTLEMENT_ERRORS, data: data as Hex }).errorName;
    } catch {
      // not one of ours: fall back to the node's message
    }
  }
  return message;
}

/** Maps the revert text of a failed settlement (proxy, Permit2 or token error) to a reason code. */
export function reasonFromUptoRevert(text: string): string {
  if (/InvalidNonce/.test(text)) return UptoReason.invalidNonce;
  if (/AmountExceedsPermitted|InvalidAmount\(uint256/.test(text)) return UptoReason.settlementExceedsAmount;
  if (/SettlementIsPaused/.test(text)) return UptoReason.settlementPaused;
  if (/UnauthorizedFacilitator|NotFacilitator/.test(text)) return UptoReason.unauthorizedFacilitator;
  if (/InvalidSigner|InvalidSignature|SignatureExpired|InvalidContractSignature/.test(text)) return UptoReason.invalidSignature;
  if (/allowance/i.test(text)) return UptoReason.allowanceRequired;
  if (/balance/i.test(text)) return UptoReason.insufficientBalance;
  return UptoReason.transactionFailed;
}
