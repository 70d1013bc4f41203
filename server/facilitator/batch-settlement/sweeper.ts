// Claims and settlement: every charged voucher not yet claimed goes into one escrow transaction
// (multicall of claim(rows) and settle(receiver, token) per receiver), then each splitter that received
// money gets linkChannelOutputs(root, count, amount): a Merkle root over the outputs those vouchers paid
// for, so anyone can recompute which outputs the money paid. Runs by itself when the unclaimed vouchers
// reach a count or an amount, or when the oldest is `maxAgeMs` old; on demand with sweep().
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { encodeFunctionData, type Hex } from "viem";
import { BATCH_SETTLEMENT_ADDRESS } from "../../chain/x402/addresses.ts";
import { escrowAbi, splitterLinkAbi } from "./abi.ts";
import type { ChannelBook, ChannelRecord, PaidOutput } from "./book.ts";
import type { ChannelJournal } from "./journal.ts";
import type { ChannelChain } from "./chain.ts";

export interface SweepPolicy {
  /** Claim once the oldest unclaimed voucher is this old (ms). */
  maxAgeMs: number;
  /** Claim once this many paid outputs are unclaimed. */
  maxCount: number;
  /** Claim once this much (token units) is unclaimed. */
  maxAmount: bigint;
}

const DEFAULT_SWEEP_POLICY: SweepPolicy = { maxAgeMs: 60_000, maxCount: 1_000, maxAmount: 10_000_000n };

export interface SweepResult {
  transaction: Hex;
  channels: number;
  outputs: number;
  amount: bigint;
  links: ChannelLink[];
  /** Channels the escrow refused to claim (set aside as stuck), with its reason. */
  refused: Array<{ channelId: Hex; reason: string }>;
}

/** One splitter's ChannelOutputsPaid: the outputs the swept money paid for. */
export interface ChannelLink {
  receiver: string;
  root: Hex;
  count: number;
  amount: bigint;
  transaction: Hex;
  outputs: PaidOutput[];
}

const EMPTY = { transaction: "0x" as Hex, channels: 0, outputs: 0, amount: 0n, links: [] };

interface Row {
  record: ChannelRecord;
  totalClaimed: bigint;
  outputs: PaidOutput[];
}

export class ChannelSweeper {
  readonly policy: SweepPolicy;
  private running: Promise<SweepResult | null> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private oldestUnclaimedAt: number | null = null;
  /** Vouchers not yet claimed and what they charged, kept as they arrive (a voucher never scans every channel). */
  private unclaimed = { count: 0, amount: 0n };
  /** Look for an existing link before sending one (set after a restart with unlinked outputs). */
  private recovering = false;
  /** Failures of automatic sweeps (they are retried on the next trigger). */
  onError: (error: unknown) => void = () => {};
  /** Each link once mined: the host records its outputs' payments settled by it (the ledger). */
  onLinked: (link: ChannelLink) => Promise<void> = async () => {};
  /** Channels the escrow refused to claim, with the outputs their vouchers paid for (never claimed now). */
  onStuck: (outputs: PaidOutput[], reason: string) => Promise<void> = async () => {};

  constructor(
    private readonly book: ChannelBook,
    private readonly chain: ChannelChain,
    private readonly journal: ChannelJournal,
    policy: Partial<SweepPolicy> = {},
  ) {
    this.policy = { ...DEFAULT_SWEEP_POLICY, ...policy };
  }

  start(): void {
    // A crash may have left claimed outputs unlinked: their link may be on-chain already.
    this.recovering = this.book.unlinked().length > 0;
    if (this.book.claimable().length > 0 || this.recovering) this.oldestUnclaimedAt = Date.now();
    this.unclaimed = this.book.unclaimedTotals();
    this.timer = setInterval(() => this.maybeSweep(), Math.max(250, Math.min(this.policy.maxAgeMs, 5_000)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Called after each accepted voucher, with what it charged. */
  noteVoucher(charged: bigint): void {
    this.oldestUnclaimedAt ??= Date.now();
    this.unclaimed = { count: this.unclaimed.count + 1, amount: this.unclaimed.amount + charged };
    if (this.unclaimed.count >= this.policy.maxCount || this.unclaimed.amount >= this.policy.maxAmount) this.trigger();
  }

  private maybeSweep(): void {
    if (this.oldestUnclaimedAt !== null && Date.now() - this.oldestUnclaimedAt >= this.policy.maxAgeMs) this.trigger();
  }

  private trigger(): void {
    this.sweep().catch((error) => this.onError(error));
  }

  /** One sweep at a time; a call during a sweep waits for it and then sweeps what arrived meanwhile. */
  async sweep(): Promise<SweepResult | null> {
    while (this.running) await this.running.catch(() => null);
    this.running = this.sweepOnce();
    try {
      return await this.running;
    } finally {
      this.running = null;
    }
  }

  private async sweepOnce(): Promise<SweepResult | null> {
    const candidates: Row[] = this.book
      .claimable()
      .filter((record) => !record.busy)
      .map((record) => ({ record, totalClaimed: record.charged, outputs: [...record.unclaimed] }));
    this.oldestUnclaimedAt = null;
    const { rows, refused } = await this.claimableRows(candidates);
    const transaction = rows.length > 0 ? await this.chain.send(BATCH_SETTLEMENT_ADDRESS, claimAndSettleData(rows)) : ("0x" as Hex);
    for (const row of rows) {
      row.record.totalClaimed = row.totalClaimed;
      row.record.unclaimed = row.record.unclaimed.slice(row.outputs.length);
      row.record.unlinked.push(...row.outputs);
      await this.journal.append({
        kind: "claimed",
        channelId: row.record.channelId,
        totalClaimed: row.totalClaimed.toString(),
        outputs: row.outputs.length,
      });
    }
    if (this.book.claimable().length > 0) this.oldestUnclaimedAt = Date.now();
    this.unclaimed = this.book.unclaimedTotals(); // what this sweep left (busy channels, vouchers meanwhile)
    const links = await this.link();
    if (rows.length === 0 && links.length === 0) return refused.length > 0 ? { ...EMPTY, refused } : null;
    const outputs = rows.reduce((n, row) => n + row.outputs.length, 0);
    const amount = rows.reduce((sum, row) => sum + row.outputs.reduce((s, o) => s + o.amount, 0n), 0n);
    return { transaction, channels: rows.length, outputs, amount, links, refused };
  }

  /**
   * The rows the escrow would take now. If the whole claim would revert (a payer finalized a timed
   * withdrawal before we claimed), each row is tried alone and a refused channel is set aside (`stuck`),
   * so it cannot hold back everyone else's claims.
   */
  private async claimableRows(rows: Row[]): Promise<{ rows: Row[]; refused: SweepResult["refused"] }> {
    if (rows.length === 0 || (await this.wouldPass(rows)) === null) return { rows, refused: [] };
    const passing: Row[] = [];
    const refused: SweepResult["refused"] = [];
    for (const row of rows) {
      const reason = await this.wouldPass([row]);
      if (reason === null) passing.push(row);
      else {
        row.record.stuck = reason;
        await this.onStuck(row.outputs, reason).catch((error) => this.onError(error));
        refused.push({ channelId: row.record.channelId, reason });
      }
    }
    return { rows: passing, refused };
  }

  private async wouldPass(rows: Row[]): Promise<string | null> {
    try {
      await this.chain.call(BATCH_SETTLEMENT_ADDRESS, claimAndSettleData(rows));
      return null;
    } catch (error) {
      return (error as { shortMessage?: string }).shortMessage ?? (error as Error).message;
    }
  }

  /**
   * ChannelOutputsPaid on each receiving splitter for the claimed outputs not linked yet, recorded by
   * the host, then journalled. Outputs a crash left claimed but unlinked are linked here too, reusing a
   * link the splitter already emitted for the same root (so no output is linked twice). A link whose
   * recording fails stays unlinked and is retried by the next sweep.
   */
  private async link(): Promise<ChannelLink[]> {
    const byReceiver = new Map<string, ChannelRecord[]>();
    for (const record of this.book.unlinked())
      byReceiver.set(record.config.receiver, [...(byReceiver.get(record.config.receiver) ?? []), record]);
    const links: ChannelLink[] = [];
    for (const [receiver, records] of byReceiver) {
      const outputs = records.flatMap((r) => r.unlinked);
      const root = outputsRoot(outputs);
      const amount = outputs.reduce((sum, o) => sum + o.amount, 0n);
      const data = encodeFunctionData({
        abi: splitterLinkAbi,
        functionName: "linkChannelOutputs",
        args: [root, BigInt(outputs.length), amount],
      });
      const earlier = this.recovering ? await this.chain.findLink(receiver, root) : null;
      const link = {
        receiver,
        root,
        count: outputs.length,
        amount,
        transaction: earlier ?? (await this.chain.send(receiver, data)),
        outputs,
      };
      try {
        await this.onLinked(link);
      } catch (error) {
        this.recovering = true; // the link is on-chain: the retry must find it, not send another
        this.onError(error);
        continue;
      }
      for (const r of records) r.unlinked = [];
      await this.journal.append({ kind: "linked", channelIds: records.map((r) => r.channelId), transaction: link.transaction });
      links.push(link);
    }
    if (this.book.unlinked().length === 0) this.recovering = false;
    return links;
  }
}

/** One escrow call: claim every row (we are each channel's receiver authorizer), then sweep each receiver. */
function claimAndSettleData(rows: readonly Row[]): Hex {
  const claims = rows.map(({ record, totalClaimed }) => ({
    voucher: { channel: record.config, maxClaimableAmount: record.signedMax },
    signature: record.signature as Hex,
    totalClaimed,
  }));
  const receivers = new Map(rows.map(({ record: r }) => [`${r.config.receiver}|${r.config.token}`, r.config]));
  const calls = [
    encodeFunctionData({ abi: escrowAbi, functionName: "claim", args: [claims] }),
    ...[...receivers.values()].map((c) => encodeFunctionData({ abi: escrowAbi, functionName: "settle", args: [c.receiver, c.token] })),
  ];
  return encodeFunctionData({ abi: escrowAbi, functionName: "multicall", args: [calls] });
}

/** The Merkle root (OpenZeppelin StandardMerkleTree) over (outputId, amount, attributionRoot) of the outputs. */
export function outputsRoot(outputs: readonly PaidOutput[]): Hex {
  const leaves = outputs.map((o) => [o.outputId, o.amount.toString(), o.attributionRoot]);
  return StandardMerkleTree.of(leaves, ["bytes32", "uint256", "bytes32"]).root as Hex;
}
