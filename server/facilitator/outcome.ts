// What became of one payment handed to the settlement pipeline.
import { AbiCoder, Interface, dataSlice } from "ethers";
import { Reason } from "./reasons.ts";

export type SettlementOutcome =
  | { status: "settled"; txHash: string }
  | { status: "failed"; reason: string; message?: string; txHash?: string }
  /** Broadcast, not yet confirmed within the wait: reconciled in the background. */
  | { status: "pending"; txHash: string }
  /** The chain could not be reached before anything was broadcast: nothing happened. */
  | { status: "unavailable"; message: string };

/** A terminal on-chain result, as announced to listeners (including late ones after "pending"). */
export interface FinalSettlement {
  key: string; // settlementKey(asset, payer, nonce)
  asset: string;
  payer: string;
  nonce: string;
  payTo: string;
  status: "settled" | "failed";
  txHash: string | null;
  reason?: string;
  message?: string;
}

export function settlementKey(asset: string, payer: string, nonce: string): string {
  return `${asset.toLowerCase()}:${payer.toLowerCase()}:${nonce.toLowerCase()}`;
}

// Revert data a token may put in PaymentSkipped.reason: Error(string) and common custom errors.
const tokenErrors = new Interface([
  "error AuthorizationExpired()",
  "error AuthorizationNotYetValid()",
  "error AuthorizationUsedOrCanceled()",
  "error AuthorizationAlreadyUsed()",
  "error AuthorizationUsed()",
  "error AuthorizationExpired(uint256 validBefore)",
  "error AuthorizationNotYetValid(uint256 validAfter)",
  "error AuthorizationUsed(address authorizer, bytes32 nonce)",
  "error AuthorizationUsedOrCanceled(address authorizer, bytes32 nonce)",
  "error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)",
  "error InvalidSignature()",
  "error InvalidSigner()",
  "error ECDSAInvalidSignature()",
  "error ERC3009InvalidSignature()",
  "error ERC2612InvalidSigner(address signer, address owner)",
  "error ERC3009ExpiredAuthorization(uint256 validBefore)",
  "error ERC3009FutureAuthorization(uint256 validAfter)",
  "error ERC3009UsedAuthorization(address authorizer, bytes32 nonce)",
]);

/** Decodes revert data to readable text: "Error(string)" message or custom error name. */
export function describeRevert(data: string | null | undefined): string {
  if (!data || data === "0x") return "reverted without reason";
  if (data.startsWith("0x08c379a0")) {
    try {
      return AbiCoder.defaultAbiCoder().decode(["string"], dataSlice(data, 4))[0] as string;
    } catch {
      return "malformed Error(string)";
    }
  }
  try {
    const parsed = tokenErrors.parseError(data);
    if (parsed) return parsed.name;
  } catch {
    // fall through
  }
  return `custom error ${data.slice(0, 10)}`;
}

/** Maps a token's revert text to the reference facilitator's reason codes. */
export function reasonFromRevert(text: string): string {
  if (/expired|valid ?before/i.test(text)) return Reason.validBefore;
  if (/not ?yet ?valid|future|valid ?after/i.test(text)) return Reason.validAfter;
  if (/used|cancel/i.test(text)) return Reason.nonceUsed;
  if (/balance/i.test(text)) return Reason.insufficientBalance;
  if (/signature|signer/i.test(text)) return Reason.signature;
  return Reason.transactionFailed;
}
