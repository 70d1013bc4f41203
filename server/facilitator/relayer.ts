// The one wallet that submits settlement transactions. Its transaction nonces are assigned
// here, one at a time through a single queue, so concurrent settlements never collide
// ("nonce too low"). Gas is estimated outside the queue; signing and broadcasting inside it.
// A broadcast whose outcome is unknown (the RPC went away mid-call) is reported as uncertain
// with its hash and signed bytes: callers reconcile by hash and may re-send the identical
// bytes (same nonce, same hash), never a new transaction for the same payments.
import type { FeeData, Provider, Wallet } from "ethers";
import type { Hex } from "viem";
import { keccak256Hex } from "../chain/keccak.ts";
import { ChainUnavailableError, isConnectionRefused, isTransportError } from "./reasons.ts";
import { getLightReceipt, onChain, rawSend, type LightReceipt } from "./chain.ts";
import { TransactionSigner } from "./transaction-signer.ts";

export interface SentTransaction {
  hash: string;
  nonce: number;
  /** Signed transaction bytes: re-broadcasting them is idempotent. */
  raw: string;
  /** True if the broadcast call failed in transit: the transaction may or may not be known. */
  uncertain: boolean;
}

export class TransactionRevertedError extends Error {
  constructor(
    message: string,
    readonly data?: string,
  ) {
    super(message);
    this.name = "TransactionRevertedError";
  }
}

/** Runs after a transaction is signed (its hash known) and before it is broadcast. */
export type BeforeBroadcast = (txHash: string) => Promise<void>;

export interface RelayerOptions {
  /** Gas limit = estimate × this / 100. */
  gasMarginPercent?: number;
  /** How long fee data is reused. */
  feeCacheMs?: number;
}

const NONCE_TOO_LOW = /nonce too low|nonce has already been used|NONCE_EXPIRED|invalid nonce|Nonce too low/i;
const ALREADY_KNOWN = /already known|known transaction|AlreadyKnown|already imported/i;
const FEE_TOO_LOW = /fee per gas less than|underpriced|REPLACEMENT_UNDERPRICED|max fee per gas|fee cap less than/i;

export class Relayer {
  readonly address: string;
  private nextNonce: number | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private fees: { data: FeeData; at: number } | null = null;
  private readonly gasMarginPercent: bigint;
  private readonly feeCacheMs: number;
  /** Transactions broadcast so far (for metrics and tests). */
  sent = 0;
  /**
   * The same key, signing natively: a batch transaction (kilobytes of calldata) in a fraction of the
   * time ethers or a viem account takes, producing the same bytes. Null for a wallet without a raw key.
   */
  private readonly signer: TransactionSigner | null;

  constructor(
    private readonly wallet: Wallet,
    readonly provider: Provider,
    private readonly chainId: bigint,
    options: RelayerOptions = {},
  ) {
    this.address = wallet.address;
    this.signer = (() => {
      try {
        return new TransactionSigner(wallet.privateKey as Hex);
      } catch {
        return null;
      }
    })();
    this.gasMarginPercent = BigInt(options.gasMarginPercent ?? 130);
    this.feeCacheMs = options.feeCacheMs ?? 1000;
  }

  /**
   * Signs with the next local nonce and broadcasts. Without `gasLimit` the call is estimated
   * first and TransactionRevertedError is thrown if it would revert; with one (the batcher's
   * upper bound: a node's estimateGas re-executes a whole batch many times) it is sent as is.
   */
  async send(to: string, data: string, gasLimit?: bigint, beforeBroadcast?: BeforeBroadcast): Promise<SentTransaction> {
    if (gasLimit === undefined) {
      try {
        gasLimit = ((await this.provider.estimateGas({ from: this.address, to, data })) * this.gasMarginPercent) / 100n;
      } catch (error) {
        if (isTransportError(error)) throw new ChainUnavailableError("estimateGas: chain unreachable", { cause: error });
        const e = error as { shortMessage?: string; message?: string; data?: string; info?: { error?: { data?: string } } };
        throw new TransactionRevertedError(e.shortMessage ?? e.message ?? "estimateGas reverted", e.data ?? e.info?.error?.data);
      }
    }
    const limit = gasLimit;
    return this.serially(() => this.signAndBroadcast(to, data, limit, beforeBroadcast));
  }

  private serially<T>(run: () => Promise<T>): Promise<T> {
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async feeData(refresh: boolean): Promise<FeeData> {
    if (!refresh && this.fees && Date.now() - this.fees.at < this.feeCacheMs) return this.fees.data;
    const data = await onChain("getFeeData", () => this.provider.getFeeData());
    this.fees = { data, at: Date.now() };
    return data;
  }

  private async syncNonce(): Promise<number> {
    // The raw call: ethers' getTransactionCount answers from a 250 ms cache, which after a
    // "nonce too low" would hand back the same stale count on every retry.
    const send = rawSend(this.provider);
    this.nextNonce = await onChain("getTransactionCount", async () =>
      send
        ? Number(BigInt(await send("eth_getTransactionCount", [this.address, "pending"])))
        : this.provider.getTransactionCount(this.address, "pending"),
    );
    return this.nextNonce;
  }

  /** Broadcasts signed bytes (the raw RPC call: ethers' broadcastTransaction re-parses them). */
  private broadcast(raw: string): Promise<unknown> {
    const send = rawSend(this.provider);
    return send ? send("eth_sendRawTransaction", [raw]) : this.provider.broadcastTransaction(raw);
  }

  private async signAndBroadcast(to: string, data: string, gasLimit: bigint, beforeBroadcast?: BeforeBroadcast): Promise<SentTransaction> {
    let refreshFees = false;
    for (let attempt = 0; ; attempt++) {
      const nonce = this.nextNonce ?? (await this.syncNonce());
      const fees = await this.feeData(refreshFees);
      const maxFeePerGas = fees.maxFeePerGas ?? fees.gasPrice ?? 1_000_000_000n;
      const maxPriorityFeePerGas = fees.maxPriorityFeePerGas ?? 0n;
      const raw = this.signer
        ? this.signer.sign({
            chainId: Number(this.chainId),
            nonce,
            to: to as Hex,
            data: data as Hex,
            gas: gasLimit,
            maxFeePerGas,
            maxPriorityFeePerGas,
            value: 0n,
          })
        : await this.wallet.signTransaction({
            type: 2,
            chainId: this.chainId,
            nonce,
            to,
            data,
            gasLimit,
            maxFeePerGas,
            maxPriorityFeePerGas,
            value: 0n,
          });
      const hash = keccak256Hex(Buffer.from(raw.slice(2), "hex"));
      // Journal first (e.g. the ledger's "settling" with this hash): if that fails, nothing
      // is sent and the nonce stays free.
      if (beforeBroadcast) await beforeBroadcast(hash);
      try {
        await this.broadcast(raw);
      } catch (error) {
        const message = String((error as Error)?.message ?? error);
        if (ALREADY_KNOWN.test(message)) {
          this.nextNonce = nonce + 1;
          this.sent++;
          return { hash, nonce, raw, uncertain: false };
        }
        if (isConnectionRefused(error)) {
          // Nothing reached the node: the transaction does not exist. Re-read the count next time.
          this.nextNonce = null;
          throw new ChainUnavailableError("broadcast: chain unreachable", { cause: error });
        }
        if (isTransportError(error)) {
          // The node may have accepted it: keep the nonce spent and let the caller reconcile.
          this.nextNonce = nonce + 1;
          this.sent++;
          return { hash, nonce, raw, uncertain: true };
        }
        if (attempt < 3 && NONCE_TOO_LOW.test(message)) {
          await this.syncNonce(); // someone else used this wallet: take the chain's count
          continue;
        }
        if (attempt < 3 && FEE_TOO_LOW.test(message)) {
          refreshFees = true;
          continue;
        }
        this.nextNonce = null; // unknown state: re-read the count before the next send
        throw error;
      }
      this.nextNonce = nonce + 1;
      this.sent++;
      return { hash, nonce, raw, uncertain: false };
    }
  }

  /** Re-sends identical signed bytes (idempotent). Returns false if the chain is unreachable. */
  async rebroadcast(raw: string): Promise<boolean> {
    try {
      await this.broadcast(raw);
      return true;
    } catch (error) {
      return !isTransportError(error);
    }
  }

  async receipt(hash: string): Promise<LightReceipt | null> {
    return getLightReceipt(this.provider, hash);
  }
}
