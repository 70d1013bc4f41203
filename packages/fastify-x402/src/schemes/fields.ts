// Shape checks of untrusted payload fields, shared by the EVM schemes (the facilitator checks the rest).
export const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
export const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
/** ECDSA is 65 bytes; ERC-1271 wallets may use more, but not without bound. */
export const SIGNATURE = /^0x(?:[0-9a-fA-F]{2}){1,4096}$/;

export const sameAddress = (a: unknown, b: unknown) =>
  typeof a === "string" && typeof b === "string" && a.toLowerCase() === b.toLowerCase();

/** A JSON object's fields, or null for anything else. */
export const asRecord = (value: unknown) =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
