// The embedded x402 facilitator: verify and settle for scheme "exact" on one EVM chain.
// It implements @x402/core's FacilitatorClient, so the payment plugin treats it exactly like a
// remote facilitator reached through HTTPFacilitatorClient; what it adds (a journal hook before
// each broadcast, final results after "settlement_pending") are listeners a host subscribes to. Payments to one of our splitters
// settle through the batcher (settleBatch, with the output id and attribution root the server
// passes in the payload's "royalty402" extension); payments to any other address settle with
// the token's transferWithAuthorization, through the same nonce-managed relayer.
import type { FacilitatorClient } from "@x402/core/server";
import { BAZAAR, PAYMENT_IDENTIFIER } from "@royalty402/fastify-x402";
import type { PaymentPayload, PaymentRequirements, SettleResponse, SupportedResponse, VerifyResponse } from "@x402/core/types";
import { ZeroHash, type Provider, type Wallet } from "ethers";
import { SettlementSimulator, type SimulatorOptions } from "./simulator.ts";
import { SettlementBatcher, type BatcherOptions, type BatchItem } from "./batcher.ts";
import { ChainReader, onChain } from "./chain.ts";
import type { FinalSettlement } from "./outcome.ts";
import type { ExactEvmPayload } from "./payload.ts";
import { Reason, isTransportError } from "./reasons.ts";
import { Relayer, type RelayerOptions } from "./relayer.ts";
import { VouchedPayments, verifyExact, type VerifyContext } from "./verify.ts";
import { checksumAddress } from "../chain/address.ts";
import { linkFrontRun } from "./link.ts";
import { EIP2612_GAS_SPONSORING, UptoSplitterFacilitator } from "./upto/facilitator.ts";
import { nonceKey, parseUptoPayload } from "./upto/payload.ts";
import { ChannelFacilitator } from "./batch-settlement/facilitator.ts";
import { relayerChain } from "./batch-settlement/chain.ts";
import type { ChannelJournal } from "./batch-settlement/journal.ts";
import type { SweepPolicy } from "./batch-settlement/sweeper.ts";

const isUpto = (requirements: PaymentRequirements) => requirements?.scheme === "upto";
const isChannel = (requirements: PaymentRequirements) => requirements?.scheme === "batch-settlement";

/** Payload extension through which a resource server names what a payment bought. */
export const ROYALTY_EXTENSION = "royalty402";
export interface RoyaltyExtension {
  outputId: string; // bytes32
  attributionRoot: string; // bytes32
}

export interface FacilitatorOptions {
  provider: Provider;
  /** The relayer's wallet (a private key); it pays gas and must be registered on each splitter. */
  relayer: Wallet;
  /** Simulate the settlement call in verify (one more eth_call, sent in the same batch). Default true. */
  simulate?: boolean;
  batch?: BatcherOptions;
  simulation?: SimulatorOptions;
  relayerOptions?: RelayerOptions;
  /** Seconds since epoch; defaults to the wall clock, as the reference does. */
  now?: () => number;
  /** x402 batch-settlement channels (the relayer is their receiver authorizer): where vouchers are journalled, when claims run. */
  channels?: { journal: ChannelJournal; sweep?: Partial<SweepPolicy> };
}

/** A payment about to be broadcast in transaction `txHash` (after signing, before sending). */
interface BroadcastNotice {
  asset: string;
  payer: string;
  nonce: string;
  payTo: string;
  txHash: string;
}

/** Called before a payment's transaction is broadcast (again if re-signed); a throw keeps it off the chain. */
export type BroadcastListener = (notice: BroadcastNotice) => Promise<void>;

/** What a host can subscribe to beyond FacilitatorClient (the embedded facilitator, or a wrapper of it). */
export interface FacilitatorEvents {
  onBeforeBroadcast(listener: BroadcastListener): () => void;
  onFinal(listener: (settlement: FinalSettlement) => void): () => void;
}

/** Whether a FacilitatorClient offers FacilitatorEvents (checked by shape, so wrappers keep them). */
export function facilitatorEvents(facilitator: FacilitatorClient): FacilitatorEvents | null {
  const f = facilitator as Partial<FacilitatorEvents>;
  return typeof f.onBeforeBroadcast === "function" && typeof f.onFinal === "function" ? (f as FacilitatorEvents) : null;
}

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
/** A front-run landed after our verify, within the authorization's short validity window: recent blocks suffice. */
const FRONT_RUN_LOOKBACK_BLOCKS = 10_000;

export class EmbeddedFacilitator implements FacilitatorClient, FacilitatorEvents {
  readonly network: string;
  readonly chain: ChainReader;
  readonly relayer: Relayer;
  readonly batcher: SettlementBatcher;
  readonly simulator: SettlementSimulator;
  private readonly ctx: VerifyContext;
  private readonly broadcastListeners = new Set<BroadcastListener>();
  /** `upto` payments: Permit2 through the splitter's settleUpto, on the same relayer (one nonce queue). */
  readonly upto: UptoSplitterFacilitator;
  /** `batch-settlement` channels: vouchers checked in process, claimed in batches (null unless configured). */
  channels: ChannelFacilitator | null = null;

  private constructor(options: FacilitatorOptions, chainId: bigint) {
    this.network = `eip155:${chainId}`;
    this.relayer = new Relayer(options.relayer, options.provider, chainId, options.relayerOptions);
    this.chain = new ChainReader(options.provider, this.relayer.address);
    this.batcher = new SettlementBatcher(this.relayer, options.batch);
    this.simulator = new SettlementSimulator(options.provider, this.relayer.address, options.simulation);
    this.ctx = {
      chain: this.chain,
      network: this.network,
      now: options.now ?? (() => Date.now() / 1000),
      vouched: new VouchedPayments(),
      ...(options.simulate === false ? {} : { simulate: (req, payment) => this.simulate(req, payment) }),
    };
    this.upto = new UptoSplitterFacilitator({
      provider: options.provider,
      relayer: this.relayer,
      network: this.network,
      // Late results of upto payments reach the same listeners as the batches'.
      onFinal: (settlement) => this.batcher.emit("final", settlement),
    });
  }

  static async create(options: FacilitatorOptions): Promise<EmbeddedFacilitator> {
    const { chainId } = await onChain("getNetwork", () => options.provider.getNetwork());
    const facilitator = new EmbeddedFacilitator(options, chainId);
    if (options.channels) {
      const chain = relayerChain(facilitator.relayer, options.provider, Number(chainId));
      facilitator.channels = await ChannelFacilitator.create({ chain, ...options.channels });
    }
    return facilitator;
  }

  /** Subscribes to final on-chain results, including those that arrive after "settlement_pending". */
  onFinal(listener: (settlement: FinalSettlement) => void): () => void {
    this.batcher.on("final", listener);
    return () => this.batcher.off("final", listener);
  }

  /**
   * Subscribes to every payment about to be broadcast: a resource server journals the hash
   * ("settling") so that a crash after the broadcast is recoverable. If a listener throws, the
   * transaction is not broadcast and the payment is answered chain_unavailable with no transaction.
   */
  onBeforeBroadcast(listener: BroadcastListener): () => void {
    this.broadcastListeners.add(listener);
    return () => this.broadcastListeners.delete(listener);
  }

  async verify(paymentPayload: PaymentPayload, paymentRequirements: PaymentRequirements): Promise<VerifyResponse> {
    if (isUpto(paymentRequirements)) return this.upto.verify(paymentPayload, paymentRequirements);
    if (isChannel(paymentRequirements) && this.channels) return this.channels.verify(paymentPayload, paymentRequirements);
    try {
      const {
        payment: _payment,
        contractSigner: _contract,
        ...response
      } = await verifyExact(paymentPayload, paymentRequirements, this.ctx);
      return response;
    } catch (error) {
      if (!isTransportError(error)) throw error;
      return { isValid: false, invalidReason: Reason.chainUnavailable, invalidMessage: (error as Error).message };
    }
  }

  /** Settles (FacilitatorClient.settle); the broadcast listeners hear of it before its transaction is sent. */
  async settle(paymentPayload: PaymentPayload, paymentRequirements: PaymentRequirements): Promise<SettleResponse> {
    if (isUpto(paymentRequirements)) return this.settleUpto(paymentPayload, paymentRequirements);
    if (isChannel(paymentRequirements) && this.channels) return this.channels.settle(paymentPayload, paymentRequirements);
    const network = paymentRequirements?.network ?? this.network;
    try {
      const verdict = await verifyExact(paymentPayload, paymentRequirements, this.ctx, { onChain: false });
      if (!verdict.isValid || !verdict.payment) {
        return {
          success: false,
          errorReason: verdict.invalidReason ?? Reason.invalidPayload,
          ...(verdict.invalidMessage ? { errorMessage: verdict.invalidMessage } : {}),
          transaction: "",
          network,
          ...(verdict.payer ? { payer: verdict.payer } : {}),
        };
      }
      const { authorization: auth, signature } = verdict.payment;
      const royalty = royaltyExtension(paymentPayload);
      const payTo = checksumAddress(paymentRequirements.payTo)!;
      const item: BatchItem = {
        asset: checksumAddress(paymentRequirements.asset)!,
        payTo,
        outputId: royalty.outputId,
        attributionRoot: royalty.attributionRoot,
        from: auth.from,
        to: auth.to,
        value: auth.value,
        validAfter: auth.validAfter,
        validBefore: auth.validBefore,
        nonce: auth.nonce,
        signature,
        contractSigner: verdict.contractSigner === true,
        ...this.beforeBroadcast(checksumAddress(paymentRequirements.asset)!, auth.from, auth.nonce, payTo),
      };
      const ours = await this.chain.isOurSplitter(payTo);
      const outcome = await this.batcher.settle(item, ours);
      const payer = auth.from;
      if (outcome.status === "failed" && outcome.reason === Reason.nonceUsed && ours && royalty.outputId !== ZeroHash) {
        const linked = await this.linkIfFrontRun(item);
        if (linked) return { success: true, transaction: linked, network, payer, amount: auth.value.toString() };
      }
      switch (outcome.status) {
        case "settled":
          return { success: true, transaction: outcome.txHash, network, payer, amount: auth.value.toString() };
        case "pending":
          return { success: false, errorReason: Reason.settlementPending, transaction: outcome.txHash, network, payer };
        case "unavailable":
          return { success: false, errorReason: Reason.chainUnavailable, errorMessage: outcome.message, transaction: "", network, payer };
        case "failed":
          return {
            success: false,
            errorReason: outcome.reason,
            ...(outcome.message ? { errorMessage: outcome.message } : {}),
            transaction: outcome.txHash ?? "",
            network,
            payer,
          };
      }
    } catch (error) {
      if (!isTransportError(error)) throw error;
      return { success: false, errorReason: Reason.chainUnavailable, errorMessage: (error as Error).message, transaction: "", network };
    }
  }

  async getSupported(): Promise<SupportedResponse> {
    return {
      kinds: [
        { x402Version: 2, scheme: "exact", network: this.network as `${string}:${string}` },
        { x402Version: 2, scheme: "upto", network: this.network as `${string}:${string}` },
        ...(this.channels ? (await this.channels.getSupported()).kinds : []),
      ],
      // bazaar and payment-identifier are the host's (GET /discovery/resources; idempotency ids in the ledger).
      extensions: [EIP2612_GAS_SPONSORING, BAZAAR, PAYMENT_IDENTIFIER],
      signers: { "eip155:*": [this.relayer.address] },
    };
  }

  /** Settles an upto payment; the broadcast listeners hear of it under its Permit2 nonce as bytes32. */
  private settleUpto(paymentPayload: PaymentPayload, requirements: PaymentRequirements): Promise<SettleResponse> {
    const parsed = parseUptoPayload(paymentPayload);
    if ("error" in parsed) return this.upto.settle(paymentPayload, requirements);
    const { from, nonce } = parsed.authorization;
    const payTo = checksumAddress(requirements.payTo) ?? requirements.payTo;
    const asset = checksumAddress(requirements.asset) ?? requirements.asset;
    return this.upto.settle(paymentPayload, requirements, undefined, this.beforeBroadcast(asset, from, nonceKey(nonce), payTo));
  }

  /**
   * Someone executed the authorization between our verify and our batch: if its money reached the
   * splitter, emit the missing PaymentSettled link now (linkPayment) so that the paid output is
   * settled and allocated; returns the hash of the transaction that links it, or null.
   */
  private async linkIfFrontRun(item: BatchItem): Promise<string | null> {
    const head = await onChain("getBlockNumber", () => this.relayer.provider.getBlockNumber());
    const outcome = await linkFrontRun(this.relayer, {
      asset: item.asset,
      splitter: item.payTo,
      payer: item.from,
      nonce: item.nonce,
      value: item.value,
      outputId: item.outputId,
      attributionRoot: item.attributionRoot,
      fromBlock: Math.max(0, head - FRONT_RUN_LOOKBACK_BLOCKS),
    });
    if (outcome.status === "linked") return outcome.txHash;
    return outcome.status === "already_linked" || outcome.status === "settled_by_us" ? outcome.usedIn : null;
  }

  private beforeBroadcast(asset: string, payer: string, nonce: string, payTo: string): Pick<BatchItem, "beforeBroadcast"> {
    if (this.broadcastListeners.size === 0) return {};
    const listeners = [...this.broadcastListeners];
    return {
      beforeBroadcast: async (txHash) => {
        await Promise.all(listeners.map((listener) => listener({ asset, payer, nonce, payTo, txHash })));
      },
    };
  }

  /** eth_call of exactly what settle will send, from the relayer (combined across requests). */
  private async simulate(requirements: PaymentRequirements, payment: ExactEvmPayload): Promise<boolean> {
    const payTo = checksumAddress(requirements.payTo)!;
    return (await this.chain.isOurSplitter(payTo))
      ? this.simulator.viaSplitter(payTo, payment)
      : this.simulator.transfer(checksumAddress(requirements.asset)!, payment);
  }

  close(): void {
    this.batcher.close();
    this.channels?.close();
  }
}

/** The payload's royalty402 extension; a missing or malformed id is the zero hash. */
export function royaltyExtension(paymentPayload: PaymentPayload): RoyaltyExtension {
  const ext = paymentPayload.extensions?.[ROYALTY_EXTENSION] as Partial<RoyaltyExtension> | undefined;
  return {
    outputId: typeof ext?.outputId === "string" && BYTES32.test(ext.outputId) ? ext.outputId : ZeroHash,
    attributionRoot: typeof ext?.attributionRoot === "string" && BYTES32.test(ext.attributionRoot) ? ext.attributionRoot : ZeroHash,
  };
}
