// Crash recovery for the payment ledger. Payments left in reserved / settling / pending (a
// process died mid-request, or a transaction outlived its request) are settled from chain
// facts only; the reconciler never settles anything (the one transaction it may cause is the
// front-run link, which the splitter emits at most once per authorization), so it can never settle twice.
//   authorization used on-chain   -> settled, with the hash of the transaction whose
//                                    PaymentSettled names (payer, nonce) (the journalled hash
//                                    first, else a log search); used without such an event:
//                                    front-run (someone sent the authorization straight to the
//                                    token, the money reached the splitter) -> settled once the
//                                    link (`linkFront`) emits the missing PaymentSettled; spent
//                                    outside our splitter -> failed nonce_already_used
//   unused, journalled tx mined   -> failed (the batch skipped it: the reason from PaymentSkipped)
//   unused, expired on-chain      -> failed (block time >= validBefore: it can never be used)
//   unused, reserved, abandoned   -> released (the handler never finished; nothing was sent)
//   otherwise                     -> left alone (a transaction may still be in flight)
// It runs once at start (every open row last updated before this process started) and then
// periodically (rows untouched for staleAfterMs, which may belong to another live instance:
// only chain facts move them, so checking a live row early is harmless); every write is a compare-and-set, so it races
// safely with live requests and with other instances sharing the ledger.
import type { Provider } from "ethers";
import { ZeroAddress, ZeroHash, zeroPadValue } from "ethers";
import type { FastifyBaseLogger } from "fastify";
import { PAYMENT_SETTLED_TOPIC, decodeSettlementLog } from "../facilitator/abi.ts";
import { ChainReader, getLightReceipt, onChain, rawSend, type LightReceipt } from "../facilitator/chain.ts";
import type { FrontRunPayment, LinkOutcome } from "../facilitator/link.ts";
import { describeRevert, reasonFromRevert } from "../facilitator/outcome.ts";
import { parseExactEvmPayload } from "../facilitator/payload.ts";
import { Reason } from "../facilitator/reasons.ts";
import type { Ledger, PaymentRecord, PaymentStatus } from "../ledger/types.ts";
import { onChainOutputId } from "./royalty.ts";

export interface ReconcileOptions {
  /** Chain access; default: the embedded facilitator's provider. Without one, no reconciliation. */
  provider?: Provider;
  /** Period of the background pass (ms, default 30 000); 0: only the pass at start. */
  intervalMs?: number;
  /** settling / pending / reserved rows untouched this long are checked against the chain (default 60 000 ms). */
  staleAfterMs?: number;
  /** A reserved row untouched this long, its authorization unused, is released (default 15 min: longer than any handler). */
  abandonReservedAfterMs?: number;
  /** How many blocks back to search PaymentSettled for a payment without a journalled hash (default 100 000). */
  lookbackBlocks?: number;
  /**
   * When this process started (ms since epoch; default: from process.uptime()). The pass at
   * start checks every open row last updated before it, however fresh: no request of this
   * process can hold it, so what a killed predecessor settled is recorded at once.
   */
  processStartedAt?: number;
  /**
   * Links a front-run authorization (the embedded facilitator's `linkFrontRun` over its relayer):
   * without it, a payment whose authorization someone else executed is recorded failed.
   */
  linkFront?: (payment: FrontRunPayment) => Promise<LinkOutcome>;
}

export interface ReconcileReport {
  checked: number;
  settled: number;
  failed: number;
  released: number;
  unresolved: number;
}

const OPEN: PaymentStatus[] = ["reserved", "settling", "pending"];
const PAGE = 500;
const MAX_PAGES = 20;

export class PaymentReconciler {
  private readonly chain: ChainReader;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<ReconcileReport> | null = null;
  private readonly staleAfterMs: number;
  private readonly abandonReservedAfterMs: number;
  private readonly lookbackBlocks: number;
  private readonly intervalMs: number;
  private readonly processStartedAt: number;
  private readonly linkFront: ReconcileOptions["linkFront"];

  constructor(
    private readonly ledger: Ledger,
    private readonly provider: Provider,
    private readonly network: string,
    options: ReconcileOptions = {},
    private readonly log?: Pick<FastifyBaseLogger, "warn" | "error" | "info">,
  ) {
    this.chain = new ChainReader(provider, ZeroAddress);
    this.staleAfterMs = options.staleAfterMs ?? 60_000;
    this.abandonReservedAfterMs = options.abandonReservedAfterMs ?? 15 * 60_000;
    this.lookbackBlocks = options.lookbackBlocks ?? 100_000;
    this.intervalMs = options.intervalMs ?? 30_000;
    this.processStartedAt = options.processStartedAt ?? Math.floor(Date.now() - process.uptime() * 1000);
    this.linkFront = options.linkFront;
  }

  /** A pass now, then one every intervalMs; errors (e.g. the chain is down) are logged, never thrown. */
  start(): Promise<ReconcileReport | null> {
    if (this.intervalMs > 0 && !this.timer) {
      this.timer = setInterval(() => void this.runLogged(), this.intervalMs);
      this.timer.unref();
    }
    return this.runLogged(true);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async runLogged(atStart = false): Promise<ReconcileReport | null> {
    try {
      const report = await (atStart ? this.runAtStart() : this.run());
      if (report.settled + report.failed + report.released > 0)
        this.log?.info({ reconcile: report }, "x402: reconciled payments with the chain");
      return report;
    } catch (error) {
      this.log?.warn({ err: error }, "x402: reconciliation pass failed; retrying on the next pass");
      return null;
    }
  }

  /** One pass over the stale open payments of this network. Concurrent calls share one pass. */
  run(now = Date.now()): Promise<ReconcileReport> {
    this.running ??= this.pass(now, now - this.staleAfterMs).finally(() => (this.running = null));
    return this.running;
  }

  /** The pass at start: also every open row last updated before this process started. */
  runAtStart(now = Date.now()): Promise<ReconcileReport> {
    this.running ??= this.pass(now, Math.max(now - this.staleAfterMs, this.processStartedAt - 1)).finally(() => (this.running = null));
    return this.running;
  }

  /** Checks the open rows with updatedAt <= cutoff. */
  private async pass(now: number, cutoff: number): Promise<ReconcileReport> {
    const report: ReconcileReport = { checked: 0, settled: 0, failed: 0, released: 0, unresolved: 0 };
    let head: { number: number; timestamp: bigint } | null = null;
    let after: number | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const rows = await this.ledger.listPayments({
        status: OPEN,
        limit: PAGE,
        order: "asc",
        ...(after !== undefined ? { afterUpdatedAt: after } : {}),
      });
      for (const row of rows) {
        if (row.updatedAt > cutoff) return report; // oldest first: the rest are fresh
        after = row.updatedAt;
        if (row.network !== this.network) continue;
        head ??= await this.head();
        report.checked++;
        const outcome = await this.reconcile(row, head, now);
        report[outcome]++;
      }
      if (rows.length < PAGE) break;
    }
    return report;
  }

  private async head(): Promise<{ number: number; timestamp: bigint }> {
    const send = rawSend(this.provider);
    const block = await onChain("getBlock", () =>
      send ? send("eth_getBlockByNumber", ["latest", false]) : this.provider.getBlock("latest"),
    );
    return { number: Number(BigInt(block.number)), timestamp: BigInt(block.timestamp) };
  }

  private async reconcile(
    row: PaymentRecord,
    head: { number: number; timestamp: bigint },
    now: number,
  ): Promise<"settled" | "failed" | "released" | "unresolved"> {
    // A channel voucher handed to the facilitator has no authorization on-chain: the sweep's link settles it
    // (channel-links.ts). A reservation whose handler never finished is released below, like any other.
    if (row.status !== "reserved" && isChannelPayment(row)) return "unresolved";
    const key = { network: row.network, asset: row.asset, payer: row.payer, nonce: row.nonce };
    // The receipt first, then the state: a state read after seeing a receipt reflects that block.
    const journalled = row.txHash ? await getLightReceipt(this.provider, row.txHash) : null;
    const used = await this.chain.authorizationUsed(row.asset, row.payer, row.nonce);
    // Compare-and-set on the state this pass saw: a live request or another instance may move it first.
    const move = async (to: "settled" | "failed" | "released", fields: { txHash?: string | null; errorReason?: string | null }) =>
      (await this.ledger.transition(key, [row.status], to, fields)) ? to : "unresolved";

    if (used) {
      const txHash = await this.findSettlement(row, journalled, head);
      if (txHash) return move("settled", { txHash, errorReason: null });
      const linked = await this.linkFrontRun(row, head);
      if (linked === "unresolved") return "unresolved";
      if (linked) return move("settled", { txHash: linked, errorReason: null });
      return move("failed", { errorReason: Reason.nonceUsed });
    }
    if (journalled) {
      // Mined, and the authorization is still unused: the batch skipped it (or reverted).
      const skipped = this.eventFor(journalled, row, "PaymentSkipped");
      const message =
        skipped?.name === "PaymentSkipped" ? describeRevert(skipped.reason) : "settlement transaction did not use the authorization";
      return move("failed", { errorReason: skipped ? reasonFromRevert(message) : Reason.transactionFailed });
    }
    const validBefore = this.validBefore(row);
    if (validBefore !== null && head.timestamp >= validBefore) return move("failed", { errorReason: Reason.validBefore });
    if (row.status === "reserved" && row.updatedAt <= now - this.abandonReservedAfterMs)
      return move("released", { errorReason: "reservation_abandoned" });
    return "unresolved";
  }

  /**
   * The tx hash that now links a front-run payment to its output (linkPayment's, or the front-run
   * transaction's when an earlier link exists); null when it was not front-run into our splitter;
   * "unresolved" when the output is not recorded yet or the link failed (retried on the next pass).
   */
  private async linkFrontRun(row: PaymentRecord, head: { number: number }): Promise<string | null | "unresolved"> {
    if (!this.linkFront || !row.outputId) return null;
    const output = await this.ledger.getOutput(row.outputId);
    if (!output) return "unresolved";
    try {
      const outcome = await this.linkFront({
        asset: row.asset,
        splitter: row.payTo,
        payer: row.payer,
        nonce: row.nonce,
        value: BigInt(row.amount),
        outputId: onChainOutputId(row.outputId),
        attributionRoot: output.recordHash || ZeroHash,
        fromBlock: Math.max(0, head.number - this.lookbackBlocks),
      });
      if (outcome.status === "linked") return outcome.txHash;
      if (outcome.status === "already_linked" || outcome.status === "settled_by_us") return outcome.usedIn;
      return outcome.status === "not_used" ? "unresolved" : null;
    } catch (error) {
      const context = { err: error, payer: row.payer, nonce: row.nonce };
      this.log?.warn(context, "x402: linking a front-run payment failed; retrying on the next pass");
      return "unresolved";
    }
  }

  private validBefore(row: PaymentRecord): bigint | null {
    try {
      const parsed = parseExactEvmPayload(JSON.parse(row.payload));
      return "error" in parsed ? null : parsed.authorization.validBefore;
    } catch {
      return null;
    }
  }

  private eventFor(receipt: LightReceipt, row: PaymentRecord, name: "PaymentSettled" | "PaymentSkipped") {
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== row.payTo) continue;
      const event = decodeSettlementLog(log);
      if (event?.name === name && event.payer.toLowerCase() === row.payer && event.nonce === row.nonce) return event;
    }
    return null;
  }

  /** The transaction whose PaymentSettled names this payment: the journalled one, else a log search. */
  private async findSettlement(row: PaymentRecord, journalled: LightReceipt | null, head: { number: number }): Promise<string | null> {
    if (journalled && journalled.status === 1 && this.eventFor(journalled, row, "PaymentSettled")) return journalled.hash;
    const fromBlock = Math.max(0, head.number - this.lookbackBlocks);
    const filter = {
      address: row.payTo,
      topics: [PAYMENT_SETTLED_TOPIC, null, zeroPadValue(row.payer, 32)],
      fromBlock: `0x${fromBlock.toString(16)}`,
      toBlock: "latest",
    };
    const send = rawSend(this.provider);
    const logs: Array<{ transactionHash: string; topics: string[]; data: string }> = await onChain("getLogs", () =>
      send ? send("eth_getLogs", [filter]) : (this.provider.getLogs({ ...filter, fromBlock }) as never),
    );
    for (const log of logs) {
      const event = decodeSettlementLog(log);
      if (event?.name === "PaymentSettled" && event.nonce === row.nonce) return String(log.transactionHash);
    }
    return null;
  }
}

function isChannelPayment(row: PaymentRecord): boolean {
  try {
    return (JSON.parse(row.payload) as { accepted?: { scheme?: unknown } })?.accepted?.scheme === "batch-settlement";
  } catch {
    return false;
  }
}
