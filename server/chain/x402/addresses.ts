// The canonical addresses the reference x402 SDK hard-codes for the `upto` scheme (the same on every
// EVM chain): the payer signs for Permit2 with the upto proxy as spender.
export const PERMIT2_ADDRESS = "0x000000000022D473030F116dDEE9F6B43aC78BA3";
export const X402_UPTO_PROXY_ADDRESS = "0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002";
/** Multicall3: the reference facilitator diagnoses a failed Permit2 simulation through it. */
export const MULTICALL3_ADDRESS = "0xcA11bde05977b3631167028862bE2a173976CA11";
