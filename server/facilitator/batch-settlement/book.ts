// This instance's view of each payment channel, read from the journal (the ledger every instance
// shares) the first time and again whenever a voucher does not fit it (another instance may have
// taken one, deposited or claimed); a channel the journal does not know is read from the chain.
import type { ChannelConfig } from "@royalty402/fastify-x402";
import type { Hex } from "viem";
import type { ChannelState } from "../../ledger/types.ts";
import type { ChannelJournal } from "./journal.ts";

export interface PaidOutput {
  outputId: Hex;
  amount: bigint;
  attributionRoot: Hex;
}

export interface ChannelRecord extends Omit<ChannelState, "channelId" | "signature"> {
  channelId: Hex;
  signature: Hex | null;
  /** A request of this channel is between check and commit here (requests of one channel are serialized per instance). */
  busy: boolean;
}

/** What the chain says about a channel. */
export type ChainChannel = Pick<ChannelRecord, "balance" | "totalClaimed" | "refundNonce" | "withdrawRequestedAt">;

const REFRESH_MS = 5_000;

const toRecord = (s: ChannelState): ChannelRecord => ({
  ...s,
  channelId: s.channelId as Hex,
  signature: s.signature as Hex | null,
  busy: false,
});

export class ChannelBook {
  private readonly records = new Map<string, ChannelRecord>();
  private readonly refreshedAt = new Map<string, number>();

  constructor(
    private readonly readChain: (channelId: Hex) => Promise<ChainChannel>,
    private readonly journal: ChannelJournal,
  ) {}

  get(channelId: Hex): ChannelRecord | undefined {
    return this.records.get(channelId.toLowerCase());
  }

  /** The record of a channel: from the journal, or read from the chain the first time any instance sees it. */
  async load(channelId: Hex, config: ChannelConfig): Promise<ChannelRecord> {
    const known = this.get(channelId);
    if (known) return known;
    const id = channelId.toLowerCase() as Hex;
    let state = await this.journal.getChannel(id);
    if (!state) {
      const onChain = await this.readChain(id);
      const fresh = { channelId: id, config, ...onChain, charged: onChain.totalClaimed, signedMax: onChain.totalClaimed };
      state = await this.journal.openChannel({ ...fresh, signature: null, stuck: null });
    }
    return this.get(id) ?? this.keep(toRecord(state)); // another request may have loaded it meanwhile
  }

  /** Reads the channel again from the journal (another instance may have moved it); false if nothing changed. */
  async reload(record: ChannelRecord): Promise<boolean> {
    const state = await this.journal.getChannel(record.channelId);
    if (!state || record.busy) return false;
    const changed = state.charged !== record.charged || state.balance !== record.balance || state.totalClaimed !== record.totalClaimed;
    Object.assign(record, toRecord(state));
    return changed;
  }

  /**
   * Reads the channel's on-chain state again (a deposit or withdrawal no instance sent), at most once per
   * `REFRESH_MS` per channel, so bad vouchers cannot turn into a stream of RPC calls; the journal keeps it.
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
    await this.journal.updateChannelFunds(record.channelId, onChain);
    return true;
  }

  private keep(record: ChannelRecord): ChannelRecord {
    this.records.set(record.channelId, record);
    return record;
  }
}
