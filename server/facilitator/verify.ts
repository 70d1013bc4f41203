// verify for the x402 "exact" scheme on EVM (EIP-3009), in the reference facilitator's order
// and with its reason codes. Off-chain checks first; then on-chain: a simulation of the exact
// call settle will make (one eth_call), and only if it fails (or simulation is off) the reads
// that name the reason: nonce state, balance, and the token's EIP-712 domain (cached).
import type { PaymentPayload, PaymentRequirements, VerifyResponse } from "@x402/core/types";
import { getAddress } from "ethers";
import type { ChainReader } from "./chain.ts";
import { evmChainId, parseExactEvmPayload, type ExactEvmPayload } from "./payload.ts";
import { Reason } from "./reasons.ts";
import { authorizationDigest, recoverSigner } from "./signature.ts";

export interface VerifyContext {
  chain: ChainReader;
  /** CAIP-2 network this facilitator serves, e.g. "eip155:31337". */
  network: string;
  /** Seconds since epoch (the reference uses the wall clock). */
  now: () => number;
  /** Runs the settlement call as eth_call; resolves false if it would not settle. */
  simulate?: (requirements: PaymentRequirements, payment: ExactEvmPayload) => Promise<boolean>;
}

export interface VerifyOutcome extends VerifyResponse {
  /** The parsed payment, when it parsed. */
  payment?: ExactEvmPayload;
  /** True if the signature was accepted by the payer's ERC-1271 wallet (not plain ECDSA). */
  contractSigner?: boolean;
}

/** validBefore must leave this much time for settlement (the reference uses 6 s). */
export const VALID_BEFORE_MARGIN_SECONDS = 6n;

const UINT = /^[0-9]{1,78}$/;

function invalid(invalidReason: string, payer?: string, invalidMessage?: string, payment?: ExactEvmPayload): VerifyOutcome {
  return { isValid: false, invalidReason, ...(invalidMessage ? { invalidMessage } : {}), ...(payer ? { payer } : {}), ...(payment ? { payment } : {}) };
}

function isAddress(value: unknown): value is string {
  if (typeof value !== "string") return false;
  try {
    getAddress(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Verifies a payment against requirements. `onChain: false` skips the state reads (used by
 * settle, whose batch skips anything the chain refuses); an ERC-1271 signer is still asked.
 * Throws ChainUnavailableError when the chain cannot be reached; never throws on bad input.
 */
export async function verifyExact(
  paymentPayload: PaymentPayload,
  requirements: PaymentRequirements,
  ctx: VerifyContext,
  options: { onChain: boolean } = { onChain: true },
): Promise<VerifyOutcome> {
  if (!paymentPayload || typeof paymentPayload !== "object" || !paymentPayload.accepted || typeof paymentPayload.accepted !== "object") {
    return invalid(Reason.invalidPayload, undefined, "paymentPayload.accepted is missing");
  }
  if (!requirements || typeof requirements !== "object" || !isAddress(requirements.asset) || !isAddress(requirements.payTo) || typeof requirements.amount !== "string" || !UINT.test(requirements.amount)) {
    return invalid(Reason.invalidPayload, undefined, "paymentRequirements need asset, payTo (addresses) and amount (decimal string)");
  }
  const parsed = parseExactEvmPayload(paymentPayload);
  if ("error" in parsed) return invalid(Reason.invalidPayload, undefined, parsed.error);
  const { authorization: auth, signature } = parsed;
  const payer = auth.from;

  if (paymentPayload.accepted.scheme !== "exact" || requirements.scheme !== "exact") return invalid(Reason.scheme, payer);
  const extra = requirements.extra as { name?: unknown; version?: unknown } | undefined;
  if (typeof extra?.name !== "string" || !extra.name || typeof extra.version !== "string" || !extra.version) {
    return invalid(Reason.missingDomain, payer);
  }
  const chainId = evmChainId(requirements.network);
  if (paymentPayload.accepted.network !== requirements.network || requirements.network !== ctx.network || chainId === null) {
    return invalid(Reason.networkMismatch, payer);
  }

  const asset = getAddress(requirements.asset);
  const digest = authorizationDigest({ name: extra.name, version: extra.version, chainId, verifyingContract: asset }, auth);
  let signatureValid = recoverSigner(digest, signature) === payer;
  let contractSigner = false;
  if (!signatureValid && (await ctx.chain.hasCode(payer))) {
    signatureValid = contractSigner = await ctx.chain.isValidErc1271(payer, digest, signature);
  }
  if (!signatureValid) return invalid(Reason.signature, payer);

  if (auth.to !== getAddress(requirements.payTo)) return invalid(Reason.recipientMismatch, payer);
  const now = BigInt(Math.floor(ctx.now()));
  if (auth.validBefore < now + VALID_BEFORE_MARGIN_SECONDS) return invalid(Reason.validBefore, payer);
  if (auth.validAfter > now) return invalid(Reason.validAfter, payer);
  if (auth.value !== BigInt(requirements.amount)) return invalid(Reason.valueMismatch, payer);

  if (options.onChain) {
    // As the reference does: one simulation of the settlement call on the happy path; the
    // state reads that name the reason run only when it fails (or when simulation is off).
    if (ctx.simulate && (await ctx.simulate(requirements, parsed))) return { isValid: true, payer, payment: parsed, contractSigner };
    const [used, domain, balance] = await Promise.all([
      ctx.chain.authorizationUsed(asset, payer, auth.nonce),
      ctx.chain.tokenDomain(asset),
      ctx.chain.balanceOf(asset, payer).catch((error) => {
        if ((error as Error).name === "ChainUnavailableError") throw error;
        return null;
      }),
    ]);
    if (used === null) return invalid(Reason.eip3009NotSupported, payer);
    if (used) return invalid(Reason.nonceUsed, payer);
    if (domain.name !== null && domain.name !== extra.name) return invalid(Reason.tokenNameMismatch, payer);
    if (domain.version !== null && domain.version !== extra.version) return invalid(Reason.tokenVersionMismatch, payer);
    if (balance !== null && balance < auth.value) return invalid(Reason.insufficientBalance, payer);
    if (ctx.simulate) return invalid(Reason.simulationFailed, payer);
  }
  return { isValid: true, payer, payment: parsed, contractSigner };
}
