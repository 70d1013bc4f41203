// Settlement pipeline. Payments to one splitter are collected for up to `maxWaitMs` or
// `maxBatchSize` items and submitted as one settleBatchWithGas transaction by the relayer; results
// come back per item from the receipt's PaymentSettled / PaymentSkipped logs (by payer+nonce).
// Before a batch is built every payer's code is read (again: at most once a second per payer,
// payer-codes.ts): a payer with code (a wallet, or an account delegated with EIP-7702 since it was
// verified) goes into a batch of its own with the contract-signer cap, and every item runs under its
// cap, so a gas-burning wallet can only burn its own item's cap. Items the contract
// deferred (PaymentsDeferred: the transaction ran low on gas) are queued again.
// A transaction that does not confirm within `confirmTimeoutMs` answers "pending" to its
// waiters and stays tracked: a background loop reads its receipt later (re-sending the
// identical signed bytes if the node lost them) and announces the final result.
import { EventEmitter } from "node:events";
import { PAYMENTS_DEFERRED_TOPIC, decodeSettlementLog, encodeSettleBatch, encodeTransferWithAuthorization, tokenInterface } from "./abi.ts";
import { onChain, rawSend, type LightReceipt } from "./chain.ts";
import { describeRevert, reasonFromRevert, settlementKey, type FinalSettlement, type SettlementOutcome } from "./outcome.ts";
import { Reason, isTransportError } from "./reasons.ts";
import { PayerCodes } from "./payer-codes.ts";
import { TransactionRevertedError, type Relayer, type SentTransaction } from "./relayer.ts";

export interface BatchItem {
  asset: string;
  payTo: string; // the splitter, or any recipient for a direct transfer
  outputId: string; // bytes32
  attributionRoot: string; // bytes32
  from: string;
  to: string;
  value: bigint;
  validAfter: bigint;
  validBefore: bigint;
  nonce: string;
  signature: string;
  /** The payer had code when verified (ERC-1271 wallet). Read again before every batch. */
  contractSigner?: boolean;
  /**
   * Called with the transaction hash after signing and before broadcasting (e.g. to write
   * "settling" with the hash to a ledger). If it throws, nothing is broadcast and the item is
   * answered "unavailable".
   */
  beforeBroadcast?: (txHash: string) => Promise<void>;
}

/** The journal hook refused: the transaction was signed but never broadcast. */
class NotBroadcastError extends Error {
  constructor(cause: unknown) {
    super(`not broadcast: the journal write failed (${(cause as Error)?.message ?? cause})`, { cause });
    this.name = "NotBroadcastError";
  }
}

export interface BatcherOptions {
  maxBatchSize?: number; // default 32
  maxWaitMs?: number; // default 25
  confirmTimeoutMs?: number; // default 30 000
  pollMs?: number; // receipt polling while a caller waits; default 50
  reconcileMs?: number; // background polling of pending transactions; default 1000
  /** Whether an account has code, read before a batch; default: eth_getCode at "latest". */
  hasCode?: (account: string) => Promise<boolean>;
  /** How long a payer's code read serves later batches (ms); default 1000, 0: read before every batch. */
  codeMaxAgeMs?: number;
  /**
   * The most gas one batch transaction may ask for (the chain's block gas limit, or the relayer's
   * budget); default: no cap. Items beyond it are deferred by the contract and queued again.
   */
  maxBatchGas?: bigint;
}

interface Tracked {
  item: BatchItem;
  key: string;
  final: Promise<SettlementOutcome>;
  resolveFinal: (o: SettlementOutcome) => void;
  sent: Promise<string | null>; // tx hash once broadcast; null if it never was
  resolveSent: (hash: string | null) => void;
}

interface Submission {
  to: string;
  data: string;
  gasLimit?: bigint;
  items: Tracked[];
  tx?: SentTransaction;
  interpret: (receipt: LightReceipt) => Map<string, SettlementOutcome>;
  /** Items the contract deferred in this receipt (to be queued again); `answered` is interpret's result. */
  deferred?: (receipt: LightReceipt, answered: Map<string, SettlementOutcome>) => Tracked[];
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const BATCH_BASE_GAS = 80_000n;
/** Per-item cap of a batch of payers without code: an ECDSA authorization uses ~40-65k. */
export const EOA_ITEM_GAS = 100_000n;
/** Per-item cap of a batch of code-bearing payers (RoyaltySplitter.SETTLE_ITEM_GAS): room for an ERC-1271 check. */
const CONTRACT_ITEM_GAS = 300_000n;
/** What an item needs beside its token call (RoyaltySplitter's ITEM_OVERHEAD_GAS). */
const ITEM_OVERHEAD_GAS = 15_000n;

/**
 * The gas limit of a batch of `count` items capped at `itemGas`: every item can get its whole cap
 * (the EVM forwards 63/64), so even if every payer burned its cap nothing would be deferred.
 */
function batchGasLimit(count: number, itemGas: bigint): bigint {
  return BATCH_BASE_GAS + BigInt(count) * (itemGas + itemGas / 63n + ITEM_OVERHEAD_GAS);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Final outcomes remembered for a repeated settle of the same authorization (a client retrying
 * its /settle call): the newest 16,384, about 45 s at 370 settlements/s. Later, a repeat is sent
 * again and the chain refuses the used nonce, as with the reference facilitator. (50,000 kept
 * 10 MB alive; the ledger, not this map, is what keeps a paid request from settling twice.)
 */
const MAX_FINALS = 16_384;

export class SettlementBatcher extends EventEmitter<{ final: [FinalSettlement] }> {
  private readonly maxBatchSize: number;
  private readonly maxWaitMs: number;
  private readonly confirmTimeoutMs: number;
  private readonly pollMs: number;
  private readonly queues = new Map<string, { items: Tracked[]; timer: NodeJS.Timeout | null }>();
  private readonly inflight = new Map<string, Tracked>();
  private readonly finals = new Map<string, SettlementOutcome>();
  private readonly pending = new Set<Submission>();
  private readonly reconcileTimer: NodeJS.Timeout;
  private readonly codes: PayerCodes;
  private readonly maxBatchGas: bigint | undefined;
  private closed = false;
  /** settleBatch / transfer transactions submitted (for tests and metrics). */
  submissions = 0;

  constructor(
    private readonly relayer: Relayer,
    options: BatcherOptions = {},
  ) {
    super();
    this.maxBatchSize = options.maxBatchSize ?? 32;
    this.maxWaitMs = options.maxWaitMs ?? 25;
    this.confirmTimeoutMs = options.confirmTimeoutMs ?? 30_000;
    this.pollMs = options.pollMs ?? 50;
    this.reconcileTimer = setInterval(() => void this.reconcile(), options.reconcileMs ?? 1000);
    this.reconcileTimer.unref();
    this.codes = new PayerCodes(options.hasCode ?? ((account) => codeAt(relayer.provider, account)), options.codeMaxAgeMs ?? 1000);
    this.maxBatchGas = options.maxBatchGas;
  }

  /** Transactions broadcast but not yet resolved. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Settles one payment. Resolves "settled"/"failed" when the chain has answered, "pending" if
   * its transaction was broadcast but not confirmed in time, "unavailable" if nothing could be
   * broadcast. A second call for the same authorization joins the first, never submits again.
   */
  async settle(item: BatchItem, viaSplitter: boolean): Promise<SettlementOutcome> {
    const key = settlementKey(item.asset, item.from, item.nonce);
    const done = this.finals.get(key);
    if (done) return done;
    let tracked = this.inflight.get(key);
    if (!tracked) {
      const final = deferred<SettlementOutcome>();
      const sent = deferred<string | null>();
      tracked = { item, key, final: final.promise, resolveFinal: final.resolve, sent: sent.promise, resolveSent: sent.resolve };
      this.inflight.set(key, tracked);
      if (viaSplitter) this.enqueue(tracked);
      else void this.submit(this.directTransfer(tracked));
    }
    return this.await(tracked);
  }

  private async await(tracked: Tracked): Promise<SettlementOutcome> {
    const hash = await Promise.race([tracked.sent, tracked.final.then(() => null)]);
    if (hash === null) return tracked.final;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<SettlementOutcome>((resolve) => {
      timer = setTimeout(() => resolve({ status: "pending", txHash: hash }), this.confirmTimeoutMs);
    });
    try {
      return await Promise.race([tracked.final, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private enqueue(tracked: Tracked): void {
    const splitter = tracked.item.payTo.toLowerCase();
    let queue = this.queues.get(splitter);
    if (!queue) {
      queue = { items: [], timer: null };
      this.queues.set(splitter, queue);
    }
    queue.items.push(tracked);
    if (queue.items.length >= this.maxBatchSize) this.flush(splitter);
    else if (!queue.timer) queue.timer = setTimeout(() => this.flush(splitter), this.maxWaitMs);
  }

  private flush(splitter: string): void {
    const queue = this.queues.get(splitter);
    if (!queue) return;
    if (queue.timer) clearTimeout(queue.timer);
    queue.timer = null;
    while (queue.items.length > 0) void this.submitSplitterItems(queue.items.splice(0, this.maxBatchSize));
  }

  /** Reads every payer's code (PayerCodes) and submits payers with code apart, each group with its own cap. */
  private async submitSplitterItems(items: Tracked[]): Promise<void> {
    let codes: boolean[];
    try {
      codes = await Promise.all(items.map((t) => this.codes.has(t.item.from)));
    } catch {
      codes = items.map(() => true); // unreadable: budget every item as a contract signer
    }
    const plain = items.filter((_, i) => !codes[i]);
    const withCode = items.filter((_, i) => codes[i]);
    if (plain.length > 0) void this.submit(this.splitterBatch(plain[0].item.payTo, plain, EOA_ITEM_GAS));
    if (withCode.length > 0) void this.submit(this.splitterBatch(withCode[0].item.payTo, withCode, CONTRACT_ITEM_GAS));
  }

  private splitterBatch(splitter: string, items: Tracked[], itemGas: bigint): Submission {
    const data = encodeSettleBatch(
      items.map((t) => t.item),
      itemGas,
    );
    const interpret = (receipt: LightReceipt) => {
      const results = new Map<string, SettlementOutcome>();
      for (const log of receipt.logs) {
        if (log.address.toLowerCase() !== splitter.toLowerCase()) continue;
        const event = decodeSettlementLog(log);
        if (!event) continue;
        const key = settlementKey(items[0].item.asset, event.payer, event.nonce);
        if (event.name === "PaymentSettled") results.set(key, { status: "settled", txHash: receipt.hash });
        else {
          const message = describeRevert(event.reason);
          results.set(key, { status: "failed", reason: reasonFromRevert(message), message, txHash: receipt.hash });
        }
      }
      return results;
    };
    // Upper bound, not an estimate: only gas used is paid, and a node's estimateGas would
    // re-execute the whole batch many times (and, with deferral, find the least gas that defers all).
    const needed = batchGasLimit(items.length, itemGas);
    const gasLimit = this.maxBatchGas !== undefined && this.maxBatchGas < needed ? this.maxBatchGas : needed;
    const deferred = (receipt: LightReceipt, answered: Map<string, SettlementOutcome>) => {
      const deferredLog = receipt.logs.some(
        (l) => l.address.toLowerCase() === splitter.toLowerCase() && l.topics[0]?.toLowerCase() === PAYMENTS_DEFERRED_TOPIC,
      );
      if (!deferredLog) return [];
      return items.filter((t) => !answered.has(t.key));
    };
    return { to: splitter, data, gasLimit, items, interpret, deferred };
  }

  private directTransfer(tracked: Tracked): Submission {
    const { item } = tracked;
    const data = encodeTransferWithAuthorization(item, item.signature);
    const interpret = (receipt: LightReceipt) => {
      const results = new Map<string, SettlementOutcome>();
      const paid = receipt.logs.some((log) => {
        if (log.address.toLowerCase() !== item.asset.toLowerCase()) return false;
        const parsed = (() => {
          try {
            return tokenInterface.parseLog(log);
          } catch {
            return null;
          }
        })();
        return (
          parsed?.name === "Transfer" &&
          (parsed.args.from as string).toLowerCase() === item.from.toLowerCase() &&
          (parsed.args.to as string).toLowerCase() === item.to.toLowerCase() &&
          (parsed.args.value as bigint) === item.value
        );
      });
      results.set(
        tracked.key,
        paid
          ? { status: "settled", txHash: receipt.hash }
          : { status: "failed", reason: Reason.transferEventMismatch, txHash: receipt.hash },
      );
      return results;
    };
    return { to: item.asset, data, items: [tracked], interpret };
  }

  private async submit(submission: Submission): Promise<void> {
    const hooks = submission.items.flatMap((t) => (t.item.beforeBroadcast ? [t.item.beforeBroadcast] : []));
    const beforeBroadcast =
      hooks.length === 0
        ? undefined
        : async (hash: string) => {
            try {
              await Promise.all(hooks.map((hook) => hook(hash)));
            } catch (error) {
              throw new NotBroadcastError(error);
            }
          };
    try {
      submission.tx = await this.relayer.send(submission.to, submission.data, submission.gasLimit, beforeBroadcast);
      this.submissions++;
    } catch (error) {
      if (error instanceof NotBroadcastError) {
        for (const t of submission.items) this.unavailable(t, error.message);
      } else if (isTransportError(error)) {
        for (const t of submission.items) this.unavailable(t, "chain unreachable: nothing was submitted");
      } else {
        const message =
          error instanceof TransactionRevertedError
            ? `${error.message}${error.data ? ` (${describeRevert(error.data)})` : ""}`
            : String((error as Error)?.message ?? error);
        for (const t of submission.items) this.finish(t, { status: "failed", reason: Reason.transactionFailed, message });
      }
      return;
    }
    for (const t of submission.items) t.resolveSent(submission.tx.hash);
    const started = Date.now();
    while (Date.now() - started < this.confirmTimeoutMs && !this.closed) {
      if (await this.tryResolve(submission)) return;
      await sleep(this.pollMs);
    }
    this.pending.add(submission); // waiters got "pending"; reconcile() finishes the job
  }

  /** Reads the receipt; if present, finishes every item and returns true. */
  private async tryResolve(submission: Submission): Promise<boolean> {
    const tx = submission.tx!;
    let receipt: LightReceipt | null;
    try {
      receipt = await this.relayer.receipt(tx.hash);
    } catch {
      return false; // chain unreachable: try again later
    }
    if (!receipt) {
      if (tx.uncertain) tx.uncertain = !(await this.relayer.rebroadcast(tx.raw));
      return false;
    }
    if (receipt.status !== 1) {
      for (const t of submission.items)
        this.finish(t, { status: "failed", reason: Reason.transactionFailed, message: "settlement transaction reverted", txHash: tx.hash });
      return true;
    }
    const results = submission.interpret(receipt);
    const deferred = new Set(submission.deferred?.(receipt, results) ?? []);
    for (const t of submission.items) {
      if (deferred.has(t)) continue;
      this.finish(
        t,
        results.get(t.key) ?? {
          status: "failed",
          reason: Reason.transferEventMismatch,
          message: "no settlement event for this payment",
          txHash: tx.hash,
        },
      );
    }
    for (const t of deferred) this.enqueue(t); // untouched on-chain: the same waiters get the next batch's answer
    return true;
  }

  /** Background pass over transactions that outlived their waiters. */
  async reconcile(): Promise<void> {
    for (const submission of [...this.pending]) {
      if (await this.tryResolve(submission)) this.pending.delete(submission);
    }
  }

  private unavailable(t: Tracked, message: string): void {
    this.inflight.delete(t.key); // nothing happened: a later attempt may try again
    t.resolveSent(null);
    t.resolveFinal({ status: "unavailable", message });
  }

  private finish(t: Tracked, outcome: SettlementOutcome): void {
    this.inflight.delete(t.key);
    // Remember on-chain facts only: a refusal before broadcast (e.g. paused) may pass later.
    if ("txHash" in outcome && outcome.txHash) {
      this.finals.set(t.key, outcome);
      if (this.finals.size > MAX_FINALS) this.finals.delete(this.finals.keys().next().value as string);
    }
    t.resolveSent(null);
    t.resolveFinal(outcome);
    const { item } = t;
    this.emit("final", {
      key: t.key,
      asset: item.asset,
      payer: item.from,
      nonce: item.nonce,
      payTo: item.payTo,
      status: outcome.status === "settled" ? "settled" : "failed",
      txHash: "txHash" in outcome ? (outcome.txHash ?? null) : null,
      ...(outcome.status === "failed" ? { reason: outcome.reason, ...(outcome.message ? { message: outcome.message } : {}) } : {}),
    });
  }

  /** Flushes queued items now (e.g. before shutdown). */
  flushAll(): void {
    for (const splitter of this.queues.keys()) this.flush(splitter);
  }

  close(): void {
    this.closed = true;
    this.flushAll();
    clearInterval(this.reconcileTimer);
  }
}

/** eth_getCode at "latest" (the raw call: ethers' getCode may answer from its 250 ms cache). */
async function codeAt(provider: Relayer["provider"], account: string): Promise<boolean> {
  const send = rawSend(provider);
  const code = await onChain("getCode", () =>
    send ? (send("eth_getCode", [account, "latest"]) as Promise<string>) : provider.getCode(account),
  );
  return code !== "0x";
}
