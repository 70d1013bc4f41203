// The server's view of each payment channel: what the escrow holds (mirrored from the chain when the
// channel is first seen, then kept current by our own deposits and claims), what this server has
// charged, the latest voucher that covers it, and the outputs paid since the last claim.
import type { ChannelConfig } from "@royalty402/fastify-x402";
import type { Hex } from "viem";

export interface PaidOutput {
  outputId: Hex;
  amount: bigint;
  attributionRoot: Hex;
}

export interface ChannelRecord {
  channelId: Hex;
  config: ChannelConfig;
  /** Deposits minus refunds and withdrawals (the escrow's `balance`). */
  balance: bigint;
  totalClaimed: bigint;
  refundNonce: bigint;
  withdrawRequestedAt: number;
  /** What this server charged so far (the spec's chargedCumulativeAmount). */
  charged: bigint;
  /** The latest voucher's ceiling and signature (null before the first voucher after a claim-only load). */
  signedMax: bigint;
  signature: Hex | null;
  /** Outputs paid by vouchers not yet claimed, in order. */
  unclaimed: PaidOutput[];
  /** Outputs claimed (their money is in the splitter) whose link is not journalled yet. */
  unlinked: PaidOutput[];
  /** A request of this channel is between check and commit (requests of one channel are serialized). */
  busy: boolean;
  /** Why the escrow refused to claim this channel (the payer withdrew first); it is not claimed again. */
  stuck?: string;
}

/** What the chain says about a channel the book has not seen. */
export type ChainChannel = Pick<ChannelRecord, "balance" | "totalClaimed" | "refundNonce" | "withdrawRequestedAt">;

const REFRESH_MS = 5_000;

export class ChannelBook {
  private readonly records = new Map<string, ChannelRecord>();
  private readonly refreshedAt = new Map<string, number>();

  constructor(private readonly readChain: (channelId: Hex) => Promise<ChainChannel>) {}

  get(channelId: Hex): ChannelRecord | undefined {
    return this.records.get(channelId.toLowerCase());
  }

  /** The record of a channel, read from the chain the first time (charged starts at what is claimed on-chain). */
  async load(channelId: Hex, config: ChannelConfig): Promise<ChannelRecord> {
    const known = this.get(channelId);
    if (known) return known;
    const onChain = await this.readChain(channelId);
    const again = this.get(channelId); // another request may have loaded it meanwhile
    if (again) return again;
    const record: ChannelRecord = {
      channelId: channelId.toLowerCase() as Hex,
      config,
      ...onChain,
      charged: onChain.totalClaimed,
      signedMax: onChain.totalClaimed,
      signature: null,
      unclaimed: [],
      unlinked: [],
      busy: false,
    };
    this.records.set(record.channelId, record);
    return record;
  }

  /**
   * Reads the channel's on-chain state again (a deposit or withdrawal this server did not send), at most
   * once per `REFRESH_MS` per channel, so bad vouchers cannot turn into a stream of RPC calls.
   */
  async refresh(record: ChannelRecord): Promise<boolean> {
    const now = Date.now();
    if (now - (this.refreshedAt.get(record.channelId) ?? 0) < REFRESH_MS) return false;
    this.refreshedAt.set(record.channelId, now);
    const onChain = await this.readChain(record.channelId);
    record.balance = onChain.balance;
    if (onChain.totalClaimed > record.totalClaimed) record.totalClaimed = onChain.totalClaimed;
    record.refundNonce = onChain.refundNonce;
    record.withdrawRequestedAt = onChain.withdrawRequestedAt;
    return true;
  }

  put(record: ChannelRecord): void {
    this.records.set(record.channelId, record);
  }

  /** Channels holding charged vouchers not yet claimed. */
  claimable(): ChannelRecord[] {
    return [...this.records.values()].filter((r) => r.charged > r.totalClaimed && r.signature !== null && r.stuck === undefined);
  }

  /** Channels with claimed outputs not linked yet (a crash between the claim and the link). */
  unlinked(): ChannelRecord[] {
    return [...this.records.values()].filter((r) => r.unlinked.length > 0);
  }

  unclaimedTotals(): { count: number; amount: bigint } {
    let count = 0;
    let amount = 0n;
    for (const r of this.claimable()) {
      count += r.unclaimed.length;
      amount += r.charged - r.totalClaimed;
    }
    return { count, amount };
  }
}
