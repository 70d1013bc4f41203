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
  chainUnavailable: "chain_unavailable",
} as const;

/** Maps the revert text of a failed settlement (proxy, Permit2 or token error) to a reason code. */
export function reasonFromUptoRevert(text: string): string {
  if (/InvalidNonce/.test(text)) return UptoReason.invalidNonce;
  if (/AmountExceedsPermitted|InvalidAmount\(uint256/.test(text)) return UptoReason.settlementExceedsAmount;
  if (/UnauthorizedFacilitator|NotFacilitator|SettlementIsPaused/.test(text)) return UptoReason.unauthorizedFacilitator;
  if (/InvalidSigner|InvalidSignature|SignatureExpired|InvalidContractSignature/.test(text)) return UptoReason.invalidSignature;
  if (/allowance/i.test(text)) return UptoReason.allowanceRequired;
  if (/balance/i.test(text)) return UptoReason.insufficientBalance;
  return UptoReason.transactionFailed;
}
