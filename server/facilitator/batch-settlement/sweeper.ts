// Claims and settlement: every charged voucher not yet claimed (by any instance sharing the journal) goes
// into one escrow transaction (multicall of claim(rows) and settle(receiver, token) per receiver), then
// each splitter that received money gets linkChannelOutputs(root, count, amount): a Merkle root over the
// outputs those vouchers paid for, so anyone can recompute which outputs the money paid. One instance
// sweeps at a time (the journal's lease). Runs by itself when this instance's unclaimed vouchers reach a
// count or an amount, or when the journal's oldest unclaimed voucher is `maxAgeMs` old; on demand with sweep().
import { bytesToHex, concatBytes, decodeFunctionResult, encodeFunctionData, hexToBytes, numberToBytes, type Hex } from "viem";
import { keccak256Bytes } from "../../chain/keccak.ts";
import { BATCH_SETTLEMENT_ADDRESS } from "../../chain/x402/addresses.ts";
import { escrowAbi, splitterLinkAbi } from "./abi.ts";
import type { ChannelState, ChannelVoucher } from "../../ledger/types.ts";
import type { ChannelBook, PaidOutput } from "./book.ts";
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
/** A sweep lease whose holder's heartbeat is older than this passes on (the ledger's dead-instance threshold). */
const LEASE_STALE_MS = 20_000;

interface Row {
  channel: ChannelState;
  totalClaimed: bigint;
  outputs: PaidOutput[];
}

const paid = (v: ChannelVoucher): PaidOutput => ({
  outputId: v.outputId as Hex,
  amount: v.amount,
  attributionRoot: v.attributionRoot as Hex,
});

export class ChannelSweeper {
  readonly policy: SweepPolicy;
  private running: Promise<SweepResult | null> | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** This instance's vouchers since its last sweep and what they charged (a voucher never scans every channel). */
  private unclaimed = { count: 0, amount: 0n };
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

  /** Looks at the journal's oldest work every few seconds (a restart resumes what a crash left, any instance's). */
  start(): void {
    this.timer = setInterval(() => void this.maybeSweep(), Math.max(250, Math.min(this.policy.maxAgeMs, 5_000)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Called after each accepted voucher, with what it charged. */
  noteVoucher(charged: bigint): void {
    this.unclaimed = { count: this.unclaimed.count + 1, amount: this.unclaimed.amount + charged };
    if (this.unclaimed.count >= this.policy.maxCount || this.unclaimed.amount >= this.policy.maxAmount) this.trigger();
  }

  private async maybeSweep(): Promise<void> {
    if (this.running) return;
    try {
      const oldest = await this.journal.oldestChannelWork();
      if (oldest !== null && Date.now() - oldest >= this.policy.maxAgeMs) this.trigger();
    } catch (error) {
      this.onError(error);
    }
  }

  private trigger(): void {
    this.sweep().catch((error) => this.onError(error));
  }

  /**
   * One sweep at a time; a call during a sweep waits for it and then sweeps what arrived meanwhile.
   * Null when there is nothing to do, or another instance holds the sweep lease (it sweeps).
   */
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
    if (!(await this.journal.takeChannelSweep(LEASE_STALE_MS))) {
      // Another instance sweeps: this one's count starts again (its vouchers are claimed by age otherwise).
      this.unclaimed = { count: 0, amount: 0n };
      return null;
    }
    try {
      return await this.claimAndLink();
    } finally {
      await this.journal.releaseChannelSweep();
    }
  }

  private async claimAndLink(): Promise<SweepResult | null> {
    this.unclaimed = { count: 0, amount: 0n };
    const candidates = (await this.journal.claimableChannels()).map(({ channel, vouchers }) => ({
      channel,
      totalClaimed: channel.charged,
      outputs: vouchers.map(paid),
    }));
    const { rows, refused } = await this.claimableRows(candidates);
    // A replayed claim row is a no-op in the escrow: a claim mined before a crash and sent again costs gas, never money.
    const transaction = rows.length > 0 ? await this.chain.send(BATCH_SETTLEMENT_ADDRESS, claimAndSettleData(rows)) : ("0x" as Hex);
    if (rows.length > 0) {
      const claims = rows.map((r) => ({
        channelId: r.channel.channelId,
        totalClaimed: r.totalClaimed,
        outputIds: r.outputs.map((o) => o.outputId),
      }));
      await this.journal.markChannelsClaimed(claims, transaction);
    }
    for (const row of rows) {
      const cached = this.book.get(row.channel.channelId as Hex);
      if (cached && cached.totalClaimed < row.totalClaimed) cached.totalClaimed = row.totalClaimed;
    }
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
        const channelId = row.channel.channelId as Hex;
        const outputs = (await this.journal.markChannelStuck(channelId, reason)).map(paid);
        const cached = this.book.get(channelId);
        if (cached) cached.stuck = reason;
        await this.onStuck(outputs, reason).catch((error) => this.onError(error));
        refused.push({ channelId, reason });
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
   * ChannelOutputsPaid on each receiving splitter for the claimed outputs not linked yet, recorded by the
   * host. Each link is decided in the journal (root and outputs) before it is sent; a link decided by a
   * sweep that died (this instance before a restart, or another) is looked for on-chain by its root and
   * sent only if it is not there, so no output is linked twice. A link whose recording fails is recorded
   * by the next sweep.
   */
  private async link(): Promise<ChannelLink[]> {
    const links: ChannelLink[] = [];
    for (const open of await this.journal.openChannelLinks()) {
      const outputs = open.outputs.map(paid);
      const decided = { receiver: open.receiver, root: open.root as Hex, outputs, amount: open.amount };
      const link = await this.sendLink(decided, open.txHash as Hex | null, true);
      if (link) links.push(link);
    }
    const byReceiver = new Map<string, PaidOutput[]>();
    for (const v of await this.journal.unlinkedVouchers()) {
      const outputs = byReceiver.get(v.receiver);
      if (outputs) outputs.push(paid(v));
      else byReceiver.set(v.receiver, [paid(v)]);
    }
    for (const [receiver, outputs] of byReceiver) {
      const root = outputsRoot(outputs);
      const amount = outputs.reduce((sum, o) => sum + o.amount, 0n);
      await this.journal.openChannelLink({ root, receiver, amount, outputIds: outputs.map((o) => o.outputId) });
      const link = await this.sendLink({ receiver, root, outputs, amount }, null, false);
      if (link) links.push(link);
    }
    return links;
  }

  /** Sends (or finds, after a crash) one decided link, stores its transaction, and has the host record it. */
  private async sendLink(
    d: Pick<ChannelLink, "receiver" | "root" | "outputs" | "amount">,
    known: Hex | null,
    leftOver: boolean,
  ): Promise<ChannelLink | null> {
    let transaction = known ?? (leftOver ? await this.chain.findLink(d.receiver, d.root) : null);
    transaction ??= await this.sendLinkTransaction(d);
    if (!known) await this.journal.setChannelLinkTransaction(d.root, transaction);
    const link: ChannelLink = { ...d, count: d.outputs.length, transaction };
    try {
      await this.onLinked(link);
    } catch (error) {
      this.onError(error); // the link is on-chain and stored: the next sweep records it
      return null;
    }
    await this.journal.markChannelLinkRecorded(d.root);
    return link;
  }

  /**
   * The link extends the splitter's current head, so a copy of it still unmined from a sweep that died
   * lands at most once: whichever is mined second reverts. A refusal because the head moved is that copy
   * having landed meanwhile (found by its root), or another sweep's link (the next sweep retries).
   */
  private async sendLinkTransaction(d: Pick<ChannelLink, "receiver" | "root" | "outputs" | "amount">): Promise<Hex> {
    const head = decodeFunctionResult({
      abi: splitterLinkAbi,
      functionName: "channelLinkHead",
      data: await this.chain.call(d.receiver, encodeFunctionData({ abi: splitterLinkAbi, functionName: "channelLinkHead" })),
    });
    const args = [head, d.root, BigInt(d.outputs.length), d.amount] as const;
    try {
      return await this.chain.send(d.receiver, encodeFunctionData({ abi: splitterLinkAbi, functionName: "linkChannelOutputs", args }));
    } catch (error) {
      const landed = await this.chain.findLink(d.receiver, d.root);
      if (landed) return landed;
      throw error;
    }
  }
}

/** One escrow call: claim every row (we are each channel's receiver authorizer), then sweep each receiver. */
function claimAndSettleData(rows: readonly Row[]): Hex {
  const claims = rows.map(({ channel, totalClaimed }) => ({
    voucher: { channel: channel.config, maxClaimableAmount: channel.signedMax },
    signature: channel.signature as Hex,
    totalClaimed,
  }));
  const receivers = new Map(rows.map(({ channel: c }) => [`${c.config.receiver}|${c.config.token}`, c.config]));
  const calls = [
    encodeFunctionData({ abi: escrowAbi, functionName: "claim", args: [claims] }),
    ...[...receivers.values()].map((c) => encodeFunctionData({ abi: escrowAbi, functionName: "settle", args: [c.receiver, c.token] })),
  ];
  return encodeFunctionData({ abi: escrowAbi, functionName: "multicall", args: [calls] });
}

/**
 * The Merkle root (OpenZeppelin StandardMerkleTree) over (outputId, amount, attributionRoot) of the outputs,
 * built here on bytes: the library's ABI coder and its BigInt leaf comparisons cost ~0.1 ms per output on
 * the event loop, during the paid load. Same tree: leaves keccak256(keccak256(abi.encode(values))) sorted,
 * laid out from the end of the array, each node the keccak256 of its sorted children
 * (server/epochs/verify-links.ts recomputes it with the library).
 */
export function outputsRoot(outputs: readonly PaidOutput[]): Hex {
  if (outputs.length === 0) throw new Error("a link needs at least one output");
  const leaves = outputs.map((o) => {
    const encoded = concatBytes([hexToBytes(o.outputId), numberToBytes(o.amount, { size: 32 }), hexToBytes(o.attributionRoot)]);
    return keccak256Bytes(keccak256Bytes(encoded));
  });
  leaves.sort(Buffer.compare);
  const tree = new Array<Uint8Array>(2 * leaves.length - 1);
  leaves.forEach((leaf, i) => {
    tree[tree.length - 1 - i] = leaf;
  });
  for (let i = tree.length - 1 - leaves.length; i >= 0; i--) {
    const [a, b] = [tree[2 * i + 1], tree[2 * i + 2]];
    tree[i] = keccak256Bytes(Buffer.compare(a, b) <= 0 ? concatBytes([a, b]) : concatBytes([b, a]));
  }
  return bytesToHex(tree[0]);
}
