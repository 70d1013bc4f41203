// verify for the x402 "exact" scheme on EVM (EIP-3009), with the reference facilitator's reason
// codes in the reference order. The happy path costs no signature recovery: the cheap checks
// (scheme, domain, network, recipient, time window, value) run first, then one simulation of
// the exact call settle will make (an eth_call, combined across concurrent requests), in which
// the token itself checks the signature (ecrecover or ERC-1271), the nonce, the balance and the
// time window of exactly the authorization that will be settled. Only when something fails
// does the detailed diagnosis run: the signature in JS, then the on-chain reads that name the
// reason (nonce state, token domain, balance), so the reason code is the one the reference
// would give.
import type { PaymentPayload, PaymentRequirements, VerifyResponse } from "@x402/core/types";
import type { ChainReader } from "./chain.ts";
import { checksumAddress } from "../chain/address.ts";
import { evmChainId, parseExactEvmPayload, type Authorization, type ExactEvmPayload } from "./payload.ts";
import { Reason } from "./reasons.ts";
import { authorizationDigest, recoverSigner, type Eip712Domain } from "./signature.ts";

export interface VerifyContext {
  chain: ChainReader;
  /** CAIP-2 network this facilitator serves, e.g. "eip155:31337". */
  network: string;
  /** Seconds since epoch (the reference uses the wall clock). */
  now: () => number;
  /** Runs the settlement call as eth_call; resolves false if it would not settle. */
  simulate?: (requirements: PaymentRequirements, payment: ExactEvmPayload) => Promise<boolean>;
  /** Payments whose signature a simulation has vouched for (settle need not check it again). */
  vouched?: VouchedPayments;
}

export interface VerifyOutcome extends VerifyResponse {
  /** The parsed payment, when it parsed. */
  payment?: ExactEvmPayload;
  /** True if the payer is a contract: the token checks its signature through ERC-1271. */
  contractSigner?: boolean;
}

/** validBefore must leave this much time for settlement (the reference uses 6 s). */
const VALID_BEFORE_MARGIN_SECONDS = 6n;

const UINT = /^[0-9]{1,78}$/;

/**
 * Recently simulated payments, by every field the token's signature check depends on. An entry is
 * needed only from a request's verify to its settle (seconds, a few per connection), and settle
 * takes it out; a small cap bounds what refused or abandoned requests leave behind (a miss only
 * costs settle a signature check). 50,000 keys of ~300 bytes each kept 19 MB alive under load.
 */
export class VouchedPayments {
  private readonly entries = new Map<string, boolean>();
  constructor(private readonly capacity = 4096) {}

  static key(network: string, asset: string, payTo: string, p: ExactEvmPayload): string {
    const a = p.authorization;
    const parties = `${network}|${asset}|${payTo}|${a.from}|${a.to}`;
    return `${parties}|${a.value}|${a.validAfter}|${a.validBefore}|${a.nonce}|${p.signature}`.toLowerCase();
  }

  add(key: string, contractSigner: boolean): void {
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, contractSigner);
  }

  /** The payer's contract-signer flag if vouched for (and forgets it: settle asks once), else undefined. */
  take(key: string): boolean | undefined {
    const flag = this.entries.get(key);
    this.entries.delete(key);
    return flag;
  }
}

function invalid(invalidReason: string, payer?: string, invalidMessage?: string, payment?: ExactEvmPayload): VerifyOutcome {
  return {
    isValid: false,
    invalidReason,
    ...(invalidMessage ? { invalidMessage } : {}),
    ...(payer ? { payer } : {}),
    ...(payment ? { payment } : {}),
  };
}

/** The first failing check among those the reference runs after the signature, or null. */
function checksAfterSignature(auth: Authorization, payTo: string, amount: string, nowSeconds: number): string | null {
  if (auth.to !== payTo) return Reason.recipientMismatch;
  const now = BigInt(Math.floor(nowSeconds));
  if (auth.validBefore < now + VALID_BEFORE_MARGIN_SECONDS) return Reason.validBefore;
  if (auth.validAfter > now) return Reason.validAfter;
  if (auth.value !== BigInt(amount)) return Reason.valueMismatch;
  return null;
}

/** ECDSA recovery in JS (milliseconds of CPU), or the payer's ERC-1271 wallet on-chain. */
async function checkSignature(
  chain: ChainReader,
  domain: Eip712Domain,
  payment: ExactEvmPayload,
): Promise<{ valid: boolean; contractSigner: boolean }> {
  const { authorization: auth, signature } = payment;
  const digest = authorizationDigest(domain, auth);
  if (recoverSigner(digest, signature) === auth.from) return { valid: true, contractSigner: await chain.hasCode(auth.from) };
  if (!(await chain.hasCode(auth.from))) return { valid: false, contractSigner: false };
  const valid = await chain.isValidErc1271(auth.from, digest, signature);
  return { valid, contractSigner: valid };
}

/** The on-chain reads that name why a payment would not settle, in the reference order. */
async function diagnose(
  chain: ChainReader,
  asset: string,
  extra: { name: string; version: string },
  auth: Authorization,
): Promise<string | null> {
  const payer = auth.from;
  const [used, domain, balance] = await Promise.all([
    chain.authorizationUsed(asset, payer, auth.nonce),
    chain.tokenDomain(asset),
    chain.balanceOf(asset, payer).catch((error) => {
      if ((error as Error).name === "ChainUnavailableError") throw error;
      return null;
    }),
  ]);
  if (used === null) return Reason.eip3009NotSupported;
  if (used) return Reason.nonceUsed;
  if (domain.name !== null && domain.name !== extra.name) return Reason.tokenNameMismatch;
  if (domain.version !== null && domain.version !== extra.version) return Reason.tokenVersionMismatch;
  if (balance !== null && balance < auth.value) return Reason.insufficientBalance;
  return null;
}

/**
 * Verifies a payment against requirements. `onChain: false` skips the state reads (used by
 * settle, whose batch skips anything the chain refuses); the signature is then checked in JS
 * unless a simulation already vouched for this exact authorization.
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
  const asset = requirements && typeof requirements === "object" ? checksumAddress(requirements.asset) : null;
  const payTo = asset ? checksumAddress(requirements.payTo) : null;
  if (!asset || !payTo || typeof requirements.amount !== "string" || !UINT.test(requirements.amount)) {
    return invalid(Reason.invalidPayload, undefined, "paymentRequirements need asset, payTo (addresses) and amount (decimal string)");
  }
  const parsed = parseExactEvmPayload(paymentPayload);
  if ("error" in parsed) return invalid(Reason.invalidPayload, undefined, parsed.error);
  const auth = parsed.authorization;
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
  const domain: Eip712Domain = { name: extra.name, version: extra.version, chainId, verifyingContract: asset };
  const named = { name: extra.name, version: extra.version };
  const later = checksAfterSignature(auth, payTo, requirements.amount, ctx.now());
  const vouchKey = VouchedPayments.key(ctx.network, asset, payTo, parsed);

  if (options.onChain && ctx.simulate && later === null) {
    // hasCode only budgets the batch item's gas: if it cannot be read, budget for a contract.
    const [settles, contractSigner] = await Promise.all([ctx.simulate(requirements, parsed), ctx.chain.hasCode(payer).catch(() => true)]);
    if (settles) {
      ctx.vouched?.add(vouchKey, contractSigner);
      return { isValid: true, payer, payment: parsed, contractSigner };
    }
    if (!(await checkSignature(ctx.chain, domain, parsed)).valid) return invalid(Reason.signature, payer);
    return invalid((await diagnose(ctx.chain, asset, named, auth)) ?? Reason.simulationFailed, payer);
  }

  // Nothing vouches for the signature here (or a later check failed, and the reference
  // reports a bad signature first): check it now.
  let contractSigner = later === null && !options.onChain ? ctx.vouched?.take(vouchKey) : undefined;
  if (contractSigner === undefined) {
    const signature = await checkSignature(ctx.chain, domain, parsed);
    if (!signature.valid) return invalid(Reason.signature, payer);
    contractSigner = signature.contractSigner;
  }
  if (later !== null) return invalid(later, payer);
  if (options.onChain) {
    const reason = await diagnose(ctx.chain, asset, named, auth);
    if (reason !== null) return invalid(reason, payer);
  }
  return { isValid: true, payer, payment: parsed, contractSigner };
}
