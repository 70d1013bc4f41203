// The facilitator side of the x402 `upto` scheme for payments to our splitters. Verify is the
// reference upto verify (@x402/evm/upto/facilitator, unmodified) with the splitter as the facilitator
// the payer must name in the witness, plus a Permit2 nonce check; settle is ours: the relayer calls
// the splitter's settleUpto, which has the upto proxy move the metered amount from the payer to the
// splitter and emits PaymentSettled(outputId, payer, amount, nonce, attributionRoot) for the output
// named in the payload's "royalty402" extension, as EIP-3009 payments do. A payload carrying the
// eip2612GasSponsoring extension settles through settleUptoWithPermit, which submits the payer's
// EIP-2612 approval of Permit2 first (the agent never needs a transaction of its own).
import type { PaymentPayload, PaymentRequirements, SchemeNetworkFacilitator, SettleResponse, VerifyResponse } from "@x402/core/types";
import { UptoEvmScheme } from "@x402/evm/upto/facilitator";
import type { Provider } from "ethers";
import { encodeFunctionData, getAddress, isAddress, parseErc6492Signature, parseSignature, type Address, type Hex } from "viem";
import { royaltyExtension } from "../facilitator.ts";
import { settlementKey, type FinalSettlement } from "../outcome.ts";
import { ChainUnavailableError, isTransportError } from "../reasons.ts";
import { TransactionRevertedError, type BeforeBroadcast, type Relayer } from "../relayer.ts";
import { PERMIT2_ADDRESS } from "../../chain/x402/addresses.ts";
import { permit2NonceAbi, uptoSplitterAbi } from "./abi.ts";
import { nonceKey, parseUptoPayload, type UptoPayload } from "./payload.ts";
import { UptoReason, reasonFromUptoRevert, revertText } from "./reasons.ts";
import { findSettlement, waitForSettlement } from "./receipts.ts";
import { readContractAs, splitterBoundSigner } from "./signer.ts";

export interface UptoFacilitatorOptions {
  provider: Provider;
  /** The relayer that also settles `exact` payments (one nonce queue); registered on each splitter. */
  relayer: Relayer;
  /** CAIP-2 network, e.g. "eip155:31337". */
  network: string;
  /** How long settle waits for the receipt before answering settlement_pending (default 60 s). */
  receiptTimeoutMs?: number;
  /** How far back settle looks for an earlier PaymentSettled of the same payment (default 100 000 blocks). */
  lookbackBlocks?: number;
  /** Hears the final result of a settlement answered "settlement_pending" (the host records it). */
  onFinal?: (settlement: FinalSettlement) => void;
  /** How long a pending settlement is followed after its answer (default 30 minutes; the reconciler takes over after). */
  followPendingMs?: number;
}

export interface UptoSettleOptions {
  /** Called with the transaction hash after signing, before broadcasting (journal it to recover a crash). */
  beforeBroadcast?: BeforeBroadcast;
}

/** The x402 extension key under which the payer sends an EIP-2612 approval of Permit2. */
export const EIP2612_GAS_SPONSORING = "eip2612GasSponsoring";
const UINT = /^[0-9]{1,78}$/;

/** `extra` of an upto offer paid to `splitter`: the splitter is the facilitator the payer signs for. */
export function uptoOfferExtra(splitter: string): { assetTransferMethod: "permit2"; facilitatorAddress: string } {
  return { assetTransferMethod: "permit2", facilitatorAddress: getAddress(splitter) };
}

export class UptoSplitterFacilitator implements SchemeNetworkFacilitator {
  readonly scheme = "upto";
  readonly caipFamily = "eip155:*";
  private readonly inFlight = new Map<string, Promise<SettleResponse>>();
  /** Splitters the relayer is registered on (a refusal is read again next time). */
  private readonly splitters = new Set<string>();
  private readonly read: ReturnType<typeof readContractAs>;

  constructor(private readonly options: UptoFacilitatorOptions) {
    this.read = readContractAs(options.provider, options.relayer.address as Address);
  }

  /** No facilitator-wide extra: the facilitator address of an offer is its payTo (see uptoOfferExtra). */
  getExtra(): undefined {
    return undefined;
  }

  getSigners(): string[] {
    return [this.options.relayer.address];
  }

  async verify(payload: PaymentPayload, requirements: PaymentRequirements): Promise<VerifyResponse> {
    try {
      const parsed = parseUptoPayload(payload);
      if ("error" in parsed) return { isValid: false, invalidReason: UptoReason.invalidPayload, invalidMessage: parsed.error, payer: "" };
      return await this.verifyParsed(payload, requirements, parsed);
    } catch (error) {
      if (!isTransportError(error)) throw error;
      return { isValid: false, invalidReason: UptoReason.chainUnavailable, invalidMessage: (error as Error).message, payer: "" };
    }
  }

  /**
   * Settles `requirements.amount` (the metered amount, at most the signed maximum; 0 settles nothing).
   * The same payment settled again answers the first settlement (found by its PaymentSettled event).
   */
  async settle(
    payload: PaymentPayload,
    requirements: PaymentRequirements,
    _context?: unknown,
    options: UptoSettleOptions = {},
  ): Promise<SettleResponse> {
    const network = requirements?.network ?? this.options.network;
    const parsed = parseUptoPayload(payload);
    if ("error" in parsed) {
      return { success: false, errorReason: UptoReason.invalidPayload, errorMessage: parsed.error, transaction: "", network };
    }
    const amount = typeof requirements?.amount === "string" && UINT.test(requirements.amount) ? BigInt(requirements.amount) : null;
    const payer = parsed.authorization.from;
    if (amount === null) return { success: false, errorReason: UptoReason.invalidAmount, transaction: "", network, payer };
    const key = `${payer}:${parsed.authorization.nonce}:${parsed.signature}`.toLowerCase();
    const running = this.inFlight.get(key);
    if (running) return running;
    const result = this.settleOnce(payload, requirements, parsed, amount, options).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, result);
    return result;
  }

  private async verifyParsed(payload: PaymentPayload, requirements: PaymentRequirements, parsed: UptoPayload): Promise<VerifyResponse> {
    const payer = parsed.authorization.from;
    if (typeof requirements?.payTo !== "string" || !isAddress(requirements.payTo, { strict: false })) {
      return { isValid: false, invalidReason: UptoReason.invalidPayload, invalidMessage: "requirements.payTo is not an address", payer };
    }
    const splitter = getAddress(requirements.payTo);
    if (await this.nonceUsed(parsed)) return { isValid: false, invalidReason: UptoReason.invalidNonce, payer };
    const reference = await new UptoEvmScheme(splitterBoundSigner(this.options.provider, splitter)).verify(payload, requirements);
    if (!reference.isValid) return reference;
    if (!(await this.isOurSplitter(splitter))) return { isValid: false, invalidReason: UptoReason.payToNotSplitter, payer };
    return reference;
  }

  private async settleOnce(
    payload: PaymentPayload,
    requirements: PaymentRequirements,
    parsed: UptoPayload,
    amount: bigint,
    options: UptoSettleOptions,
  ): Promise<SettleResponse> {
    const network = requirements.network;
    const payer = parsed.authorization.from;
    const max = parsed.authorization.maxAmount;
    try {
      // Re-verify against the signed maximum: at settle time requirements.amount is the metered amount.
      const verdict = await this.verifyParsed(payload, { ...requirements, amount: max.toString() }, parsed);
      if (!verdict.isValid) {
        const earlier = verdict.invalidReason === UptoReason.invalidNonce ? await this.earlierSettlement(requirements, parsed) : null;
        if (earlier) return earlier;
        return { success: false, errorReason: verdict.invalidReason ?? UptoReason.invalidPayload, transaction: "", network, payer };
      }
      if (amount === 0n) return { success: true, transaction: "", network, payer, amount: "0" };
      if (amount > max) return { success: false, errorReason: UptoReason.settlementExceedsAmount, transaction: "", network, payer };
      return await this.broadcast(requirements, parsed, payload, amount, options);
    } catch (error) {
      if (!isTransportError(error)) throw error;
      return {
        success: false,
        errorReason: UptoReason.chainUnavailable,
        errorMessage: (error as Error).message,
        transaction: "",
        network,
        payer,
      };
    }
  }

  private async broadcast(
    requirements: PaymentRequirements,
    parsed: UptoPayload,
    payload: PaymentPayload,
    amount: bigint,
    options: UptoSettleOptions,
  ): Promise<SettleResponse> {
    const network = requirements.network;
    const splitter = getAddress(requirements.payTo);
    const { authorization: a } = parsed;
    const signature = onChainSignature(parsed.signature);
    const item = {
      ...(royaltyExtension(payload) as { outputId: Hex; attributionRoot: Hex }),
      from: a.from,
      maxAmount: a.maxAmount,
      amount,
      nonce: a.nonce,
      deadline: a.deadline,
      validAfter: a.validAfter,
      signature,
    };
    const permit = eip2612PermitOf(payload);
    const data = permit
      ? encodeFunctionData({ abi: uptoSplitterAbi, functionName: "settleUptoWithPermit", args: [item, permit] })
      : encodeFunctionData({ abi: uptoSplitterAbi, functionName: "settleUpto", args: [item] });
    let sent;
    try {
      sent = await this.options.relayer.send(splitter, data, undefined, options.beforeBroadcast);
    } catch (error) {
      if (error instanceof TransactionRevertedError) {
        return {
          success: false,
          errorReason: reasonFromUptoRevert(revertText(error.message, error.data)),
          errorMessage: error.message,
          transaction: "",
          network,
          payer: a.from,
        };
      }
      if (error instanceof ChainUnavailableError) {
        return {
          success: false,
          errorReason: UptoReason.chainUnavailable,
          errorMessage: error.message,
          transaction: "",
          network,
          payer: a.from,
        };
      }
      throw error;
    }
    const outcome = await waitForSettlement(
      this.options.provider,
      sent.hash,
      splitter,
      a.from,
      nonceKey(a.nonce),
      this.options.receiptTimeoutMs ?? 60_000,
    );
    switch (outcome.status) {
      case "settled":
        return { success: true, transaction: sent.hash, network, payer: a.from, amount: outcome.amount.toString() };
      case "pending":
        this.followPending(sent.hash, requirements.asset, splitter, a.from, nonceKey(a.nonce));
        return { success: false, errorReason: UptoReason.settlementPending, transaction: sent.hash, network, payer: a.from };
      case "failed":
        return { success: false, errorReason: UptoReason.transactionFailed, transaction: sent.hash, network, payer: a.from };
    }
  }

  /** Keeps waiting for a transaction answered pending, and reports its final result (as exact payments' batches do). */
  private followPending(hash: string, asset: string, splitter: Address, payer: Address, nonce: Hex): void {
    const { onFinal, provider, followPendingMs } = this.options;
    if (!onFinal) return;
    void waitForSettlement(provider, hash, splitter, payer, nonce, followPendingMs ?? 30 * 60_000).then(
      (outcome) => {
        if (outcome.status === "pending") return;
        const failed = outcome.status === "failed" ? { reason: UptoReason.transactionFailed } : {};
        const key = settlementKey(asset, payer, nonce);
        onFinal({ key, asset, payer, nonce, payTo: splitter, status: outcome.status, txHash: hash, ...failed });
      },
      () => undefined, // the chain went away: the reconciler finishes it from chain facts
    );
  }

  /** An earlier settlement of this very authorization on the splitter, answered again (idempotent settle). */
  private async earlierSettlement(requirements: PaymentRequirements, parsed: UptoPayload): Promise<SettleResponse | null> {
    const { from, nonce } = parsed.authorization;
    const splitter = getAddress(requirements.payTo);
    const found = await findSettlement(
      this.options.provider,
      splitter,
      from,
      nonceKey(nonce),
      onChainSignature(parsed.signature),
      this.options.lookbackBlocks ?? 100_000,
    );
    if (!found) return null;
    return { success: true, transaction: found.txHash, network: requirements.network, payer: from, amount: found.amount.toString() };
  }

  private async nonceUsed(parsed: UptoPayload): Promise<boolean> {
    const { from, nonce } = parsed.authorization;
    const bitmap = (await this.read({
      address: PERMIT2_ADDRESS,
      abi: permit2NonceAbi,
      functionName: "nonceBitmap",
      args: [from, nonce >> 8n],
    })) as bigint;
    return ((bitmap >> (nonce & 0xffn)) & 1n) === 1n;
  }

  /** Whether the relayer may settle through `splitter` (its isFacilitator). */
  private async isOurSplitter(splitter: Address): Promise<boolean> {
    if (this.splitters.has(splitter)) return true;
    const relayer = this.options.relayer.address as Address;
    const yes = await this.read({ address: splitter, abi: uptoSplitterAbi, functionName: "isFacilitator", args: [relayer] }).catch(
      (error) => {
        if (isTransportError(error)) throw error;
        return false; // not a splitter at all
      },
    );
    if (yes === true) this.splitters.add(splitter);
    return yes === true;
  }
}

/** The signature as Permit2 checks it: an ERC-6492 wrapper (a wallet not deployed yet) is unwrapped, as the reference does. */
function onChainSignature(signature: Hex): Hex {
  return parseErc6492Signature(signature).signature;
}

/**
 * The payer's EIP-2612 approval of Permit2 from the eip2612GasSponsoring extension, if any (its fields
 * were checked by the reference verify: owner, token, spender Permit2, deadline, and the simulation).
 */
export function eip2612PermitOf(payload: PaymentPayload): { value: bigint; deadline: bigint; r: Hex; s: Hex; v: number } | null {
  const info = (payload.extensions?.[EIP2612_GAS_SPONSORING] as { info?: Record<string, unknown> } | undefined)?.info;
  if (!info || typeof info.signature !== "string" || typeof info.amount !== "string" || typeof info.deadline !== "string") return null;
  if (!UINT.test(info.amount) || !UINT.test(info.deadline) || !/^0x[0-9a-fA-F]{130}$/.test(info.signature)) return null;
  const { r, s, v, yParity } = parseSignature(info.signature as Hex);
  return { value: BigInt(info.amount), deadline: BigInt(info.deadline), r, s, v: Number(v ?? 27n + BigInt(yParity)) };
}
