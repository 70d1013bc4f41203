// The canonical addresses the reference x402 SDK hard-codes for the `upto` scheme (the same on every
// EVM chain): the payer signs for Permit2 with the upto proxy as spender.
export const PERMIT2_ADDRESS = "0x000000000022D473030F116dDEE9F6B43aC78BA3";
export const X402_UPTO_PROXY_ADDRESS = "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002";
/** Multicall3: the reference facilitator diagnoses a failed Permit2 simulation through it. */
export const MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11";
/** The x402 `batch-settlement` escrow and its ERC-3009 deposit collector (the reference client signs for both). */
export const BATCH_SETTLEMENT_ADDRESS = "0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003";
export const ERC3009_DEPOSIT_COLLECTOR_ADDRESS = "0x4020806089470a89826cB9fB1f4059150b550004";
/** The batch-settlement deposit collector for tokens without EIP-3009 (the payer signs a Permit2 witness transfer). */
export const PERMIT2_DEPOSIT_COLLECTOR_ADDRESS = "0x4020425FAf3B746C082C2f942b4E5159887B0005";
