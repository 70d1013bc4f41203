// The embedded facilitator's `batch-settlement` side: verify and settle deposit and voucher payloads
// (a voucher is checked and recorded in process, no transaction; a deposit is sent to the escrow through
// the canonical ERC-3009 collector first), and hand claims to the sweeper. Implements FacilitatorClient,
// so the payment plugin uses it like any facilitator.
import type { FacilitatorClient } from "@x402/core/server";
import type { PaymentPayload, PaymentRequirements, SettleResponse, SupportedResponse, VerifyResponse } from "@x402/core/types";
import { BatchSettlementReason as R, parseChannelPayload, type ChannelPayload } from "@royalty402/fastify-x402";
import { decodeFunctionResult, encodeAbiParameters, encodeFunctionData, type Hex } from "viem";
import { BATCH_SETTLEMENT_ADDRESS, ERC3009_DEPOSIT_COLLECTOR_ADDRESS } from "../../chain/x402/addresses.ts";
import { royaltyExtension } from "../facilitator.ts";
import { escrowAbi } from "./abi.ts";
import { ChannelBook, type ChainChannel, type ChannelRecord, type PaidOutput } from "./book.ts";
import { replayJournal, type ChannelJournal } from "./journal.ts";
import { ChannelSweeper, type SweepPolicy } from "./sweeper.ts";
import type { ChannelChain } from "./chain.ts";
import { checkChannel, checkCumulative, checkVoucherSignature, type Refused } from "./verify.ts";

/** Refusals that a stale mirror of the escrow's balance could cause. */
const STALE_MIRROR = new Set<string>([R.cumulativeExceedsBalance, R.channelNotFound]);

export interface ChannelFacilitatorOptions {
  /** The receiver authorizer's key on the chain: it sends deposits, claims and sweeps (a facilitator of each splitter). */
  chain: ChannelChain;
  journal: ChannelJournal;
  sweep?: Partial<SweepPolicy>;
}

type Checked = { payload: ChannelPayload; record: ChannelRecord } | { refused: Refused; payer?: string };

export class ChannelFacilitator implements FacilitatorClient {
  readonly network: `${string}:${string}`;
  readonly book: ChannelBook;
  readonly sweeper: ChannelSweeper;
  private readonly chain: ChannelChain;
  private readonly journal: ChannelJournal;
  private readonly chainId: number;

  private constructor(options: ChannelFacilitatorOptions, chainId: number) {
    this.chainId = chainId;
    this.network = `eip155:${chainId}`;
    this.chain = options.chain;
    this.journal = options.journal;
    this.book = new ChannelBook((id) => this.readChannel(id));
    this.sweeper = new ChannelSweeper(this.book, this.chain, this.journal, options.sweep);
  }

  /** Replays the journal (vouchers held before a restart are claimed again) and starts the sweep timer. */
  static async create(options: ChannelFacilitatorOptions): Promise<ChannelFacilitator> {
    const facilitator = new ChannelFacilitator(options, options.chain.chainId);
    replayJournal(facilitator.book, await options.journal.entries());
    facilitator.sweeper.start();
    return facilitator;
  }

  get authorizer(): string {
    return this.chain.address;
  }

  async verify(paymentPayload: PaymentPayload, requirements: PaymentRequirements): Promise<VerifyResponse> {
    const checked = await this.check(paymentPayload, requirements);
    if ("refused" in checked)
      return { isValid: false, invalidReason: checked.refused.reason, invalidMessage: checked.refused.message, ...payerOf(checked) };
    if (checked.payload.type === "deposit") {
      const simulated = await this.simulateDeposit(checked.payload);
      if (simulated)
        return { isValid: false, invalidReason: R.depositSimulationFailed, invalidMessage: simulated, payer: checked.payload.config.payer };
    }
    return { isValid: true, payer: checked.payload.config.payer, extra: channelState(checked.record) };
  }

  /** Deposits first if the payload carries one, then records the voucher (journalled) as paying for this output. */
  async settle(paymentPayload: PaymentPayload, requirements: PaymentRequirements): Promise<SettleResponse> {
    const failed = (refused: Refused, payer?: string, transaction = ""): SettleResponse => ({
      success: false,
      errorReason: refused.reason,
      errorMessage: refused.message,
      transaction,
      network: this.network,
      ...(payer ? { payer } : {}),
    });
    const checked = await this.check(paymentPayload, requirements);
    if ("refused" in checked) return failed(checked.refused, checked.payer);
    const { payload, record } = checked;
    if (record.busy) return failed({ reason: R.channelBusy, message: "another request of this channel is being settled; retry" });
    record.busy = true;
    try {
      let transaction = "";
      if (payload.deposit) {
        const sent = await this.deposit(payload, record);
        if ("refused" in sent) return failed(sent.refused, payload.config.payer, sent.transaction);
        transaction = sent.transaction;
      }
      await this.commit(payload, record, BigInt(requirements.amount), paidOutput(paymentPayload, BigInt(requirements.amount)));
      return {
        success: true,
        transaction,
        network: this.network,
        payer: payload.config.payer,
        amount: payload.deposit ? payload.deposit.amount.toString() : "",
        extra: { chargedAmount: requirements.amount, channelState: channelState(record) },
      };
    } finally {
      record.busy = false;
    }
  }

  async getSupported(): Promise<SupportedResponse> {
    return {
      kinds: [{ x402Version: 2, scheme: "batch-settlement", network: this.network, extra: { receiverAuthorizer: this.authorizer } }],
      extensions: [],
      signers: { "eip155:*": [this.authorizer] },
    };
  }

  /** Cooperative refund of everything unclaimed (after claiming what the channel owes), sent by the authorizer. */
  async refund(channelId: Hex): Promise<{ transaction: Hex; amount: bigint } | null> {
    const record = this.book.get(channelId);
    if (!record) return null;
    await this.sweeper.sweep();
    const amount = record.balance - record.totalClaimed;
    if (amount === 0n) return null;
    const data = encodeFunctionData({ abi: escrowAbi, functionName: "refund", args: [record.config, amount] });
    const transaction = await this.chain.send(BATCH_SETTLEMENT_ADDRESS, data);
    record.balance -= amount;
    record.refundNonce += 1n;
    await this.journal.append({
      kind: "refunded",
      channelId: record.channelId,
      balance: record.balance.toString(),
      refundNonce: record.refundNonce.toString(),
    });
    return { transaction, amount };
  }

  close(): void {
    this.sweeper.stop();
  }

  private async check(paymentPayload: PaymentPayload, requirements: PaymentRequirements): Promise<Checked> {
    const payload = parseChannelPayload(paymentPayload);
    if ("error" in payload) return { refused: { reason: R.payloadType, message: payload.error } };
    const payer = payload.config.payer;
    if (requirements?.scheme !== "batch-settlement" || requirements.network !== this.network)
      return { refused: { reason: R.networkMismatch, message: `this facilitator settles batch-settlement on ${this.network}` }, payer };
    const refused = checkChannel(payload, requirements, this.authorizer, this.chainId) ?? checkVoucherSignature(payload, this.chainId);
    if (refused) return { refused, payer };
    const record = await this.book.load(payload.voucher.channelId, payload.config);
    const price = BigInt(requirements.amount);
    let cumulative = checkCumulative(payload, record, price);
    // The payer may have deposited without us (another server, directly): look at the chain once more.
    if (cumulative && STALE_MIRROR.has(cumulative.reason) && !record.busy && (await this.book.refresh(record)))
      cumulative = checkCumulative(payload, record, price);
    return cumulative ? { refused: cumulative, payer } : { payload, record };
  }

  private async commit(payload: ChannelPayload, record: ChannelRecord, price: bigint, output: PaidOutput): Promise<void> {
    const next = { charged: record.charged + price, signedMax: payload.voucher.maxClaimableAmount, signature: payload.voucher.signature };
    // Durable before the answer leaves: a crash after this line loses no voucher.
    await this.journal.append({
      kind: "voucher",
      channelId: record.channelId,
      config: record.config,
      signedMax: next.signedMax.toString(),
      signature: next.signature,
      charged: next.charged.toString(),
      balance: record.balance.toString(),
      totalClaimed: record.totalClaimed.toString(),
      output: { ...output, amount: output.amount.toString() },
    });
    Object.assign(record, next);
    record.unclaimed.push(output);
    this.sweeper.noteVoucher(output.amount);
  }

  private depositData(p: ChannelPayload): Hex {
    const d = p.deposit!;
    const collectorData = encodeAbiParameters(
      [{ type: "uint256" }, { type: "uint256" }, { type: "uint256" }, { type: "bytes" }],
      [d.validAfter, d.validBefore, BigInt(d.salt), d.signature],
    );
    const args = [p.config, d.amount, ERC3009_DEPOSIT_COLLECTOR_ADDRESS, collectorData] as const;
    return encodeFunctionData({ abi: escrowAbi, functionName: "deposit", args });
  }

  /** What the escrow would say to this deposit now (null: it would go through). */
  private async simulateDeposit(p: ChannelPayload): Promise<string | null> {
    try {
      await this.chain.call(BATCH_SETTLEMENT_ADDRESS, this.depositData(p));
      return null;
    } catch (error) {
      return (error as { shortMessage?: string }).shortMessage ?? (error as Error).message;
    }
  }

  private async deposit(
    p: ChannelPayload,
    record: ChannelRecord,
  ): Promise<{ transaction: string } | { refused: Refused; transaction: string }> {
    const simulated = await this.simulateDeposit(p);
    if (simulated) return { refused: { reason: R.depositSimulationFailed, message: simulated }, transaction: "" };
    try {
      const transaction = await this.chain.send(BATCH_SETTLEMENT_ADDRESS, this.depositData(p));
      record.balance += p.deposit!.amount;
      return { transaction };
    } catch (error) {
      return { refused: { reason: R.depositTransactionFailed, message: (error as Error).message }, transaction: "" };
    }
  }

  private async readChannel(channelId: Hex): Promise<ChainChannel> {
    const read = async <F extends "channels" | "refundNonce" | "pendingWithdrawals">(functionName: F) => {
      const data = encodeFunctionData({ abi: escrowAbi, functionName, args: [channelId] } as never);
      return decodeFunctionResult({ abi: escrowAbi, functionName, data: await this.chain.call(BATCH_SETTLEMENT_ADDRESS, data) } as never);
    };
    const [[balance, totalClaimed], refundNonce, [, initiatedAt]] = (await Promise.all([
      read("channels"),
      read("refundNonce"),
      read("pendingWithdrawals"),
    ])) as [readonly [bigint, bigint], bigint, readonly [bigint, number]];
    return { balance, totalClaimed, refundNonce, withdrawRequestedAt: Number(initiatedAt) };
  }
}

const payerOf = (checked: { payer?: string }) => (checked.payer ? { payer: checked.payer } : {});

/** The channel snapshot the reference client reads from every answer. */
function channelState(record: ChannelRecord) {
  return {
    channelId: record.channelId,
    balance: record.balance.toString(),
    totalClaimed: record.totalClaimed.toString(),
    withdrawRequestedAt: record.withdrawRequestedAt,
    refundNonce: record.refundNonce.toString(),
    chargedCumulativeAmount: record.charged.toString(),
  };
}

/** The output this voucher paid for, from the payload's royalty402 extension (the server adds it before settling). */
function paidOutput(payload: PaymentPayload, amount: bigint): PaidOutput {
  const { outputId, attributionRoot } = royaltyExtension(payload);
  return { outputId: outputId as Hex, amount, attributionRoot: attributionRoot as Hex };
}
