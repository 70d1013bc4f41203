// The embedded facilitator's `batch-settlement` side: verify and settle deposit, voucher and refund payloads
// (a voucher is checked and recorded in process, no transaction; a deposit is sent to the escrow through
// the canonical ERC-3009 or Permit2 collector first; a cooperative refund claims what the channel owes, then returns
// the rest), and hand claims to the sweeper. Implements FacilitatorClient, so the payment plugin uses it
// like any facilitator. A refusal the client can resync from carries the channel's snapshot (corrective 402).
import type { FacilitatorClient } from "@x402/core/server";
import type { PaymentPayload, PaymentRequirements, SettleResponse, SupportedResponse, VerifyResponse } from "@x402/core/types";
import {
  BatchSettlementReason as R,
  Reason,
  receivedChannelPayload,
  voucherNonce,
  type ChannelPayload,
  type PaymentKey,
} from "@royalty402/fastify-x402";
import { decodeFunctionResult, encodeFunctionData, type Hex } from "viem";
import { BATCH_SETTLEMENT_ADDRESS } from "../../chain/x402/addresses.ts";
import { isLedgerError } from "../../ledger/errors.ts";
import { royaltyExtension } from "../facilitator.ts";
import { escrowAbi } from "./abi.ts";
import { ChannelBook, type ChainChannel, type ChannelRecord, type PaidOutput } from "./book.ts";
import { checkPermit2Deposit, depositData } from "./deposit.ts";
import type { ChannelJournal } from "./journal.ts";
import { ChannelSweeper, type SweepPolicy } from "./sweeper.ts";
import type { ChannelChain } from "./chain.ts";
import { checkChannel, checkCumulative, checkRefund, checkVoucherSignature, type Refused } from "./verify.ts";

/** Refusals that a stale mirror of the escrow's balance could cause. */
const STALE_MIRROR = new Set<string>([R.cumulativeExceedsBalance, R.channelNotFound]);

export interface ChannelFacilitatorOptions {
  /** The receiver authorizer's key on the chain: it sends deposits, claims and sweeps (a facilitator of each splitter). */
  chain: ChannelChain;
  journal: ChannelJournal;
  /**
   * The journal is also the payment plugin's store: an accepted voucher moves its payment to pending in the
   * same transaction (the scheme's facilitatorRecordsVouchers). Default false.
   */
  recordsPayments?: boolean;
  sweep?: Partial<SweepPolicy>;
}

type Checked = { payload: ChannelPayload; record: ChannelRecord } | { refused: Refused; payer?: string; record?: ChannelRecord };
type Failed = (refused: Refused, payer?: string, transaction?: string) => SettleResponse;

export class ChannelFacilitator implements FacilitatorClient {
  readonly network: `${string}:${string}`;
  readonly book: ChannelBook;
  readonly sweeper: ChannelSweeper;
  private readonly chain: ChannelChain;
  private readonly journal: ChannelJournal;
  private readonly chainId: number;
  private readonly recordsPayments: boolean;

  private constructor(options: ChannelFacilitatorOptions, chainId: number) {
    this.chainId = chainId;
    this.network = `eip155:${chainId}`;
    this.chain = options.chain;
    this.journal = options.journal;
    this.recordsPayments = options.recordsPayments ?? false;
    this.book = new ChannelBook((id) => this.readChannel(id), this.journal);
    this.sweeper = new ChannelSweeper(this.book, this.chain, this.journal, options.sweep);
  }

  /** Starts the sweep timer (vouchers the journal holds from before a restart, or from other instances, are claimed). */
  static async create(options: ChannelFacilitatorOptions): Promise<ChannelFacilitator> {
    const facilitator = new ChannelFacilitator(options, options.chain.chainId);
    facilitator.sweeper.start();
    return facilitator;
  }

  get authorizer(): string {
    return this.chain.address;
  }

  async verify(paymentPayload: PaymentPayload, requirements: PaymentRequirements): Promise<VerifyResponse> {
    const checked = await this.check(paymentPayload, requirements);
    if ("refused" in checked) {
      const { reason, message } = checked.refused;
      // The latest voucher again is a retry owed its answer (the host re-delivers it), not a stale client.
      const parsed = receivedChannelPayload(paymentPayload);
      const retry = "voucher" in parsed && checked.record?.signature === parsed.voucher.signature;
      const corrective = retry ? {} : correctiveExtra(checked.record);
      return { isValid: false, invalidReason: reason, invalidMessage: message, ...payerOf(checked), ...corrective };
    }
    if (checked.payload.type === "deposit") {
      const simulated = await this.simulateDeposit(paymentPayload, checked.payload);
      if (simulated)
        return { isValid: false, invalidReason: R.depositSimulationFailed, invalidMessage: simulated, payer: checked.payload.config.payer };
    }
    return { isValid: true, payer: checked.payload.config.payer, extra: channelState(checked.record) };
  }

  /**
   * Deposits first if the payload carries one, then records the voucher (journalled) as paying for this
   * output; a refund payload returns the deposit not charged instead.
   */
  async settle(paymentPayload: PaymentPayload, requirements: PaymentRequirements): Promise<SettleResponse> {
    const failed: Failed = (refused, payer, transaction = "") => ({
      success: false,
      errorReason: refused.reason,
      errorMessage: refused.message,
      transaction,
      network: this.network,
      ...(payer ? { payer } : {}),
    });
    const checked = await this.check(paymentPayload, requirements);
    if ("refused" in checked) return failed(checked.refused, checked.payer);
    if (checked.payload.type === "refund") return this.settleRefund(paymentPayload, requirements, failed);
    const { payload, record } = checked;
    if (record.busy) return failed({ reason: R.channelBusy, message: "another request of this channel is being settled; retry" });
    record.busy = true;
    try {
      let transaction = "";
      if (payload.deposit) {
        const sent = await this.deposit(paymentPayload, payload, record);
        if ("refused" in sent) return failed(sent.refused, payload.config.payer, sent.transaction);
        transaction = sent.transaction;
      }
      const lost = await this.commit(payload, record, requirements, paidOutput(paymentPayload, BigInt(requirements.amount)));
      if (lost) return failed(lost, payload.config.payer, transaction);
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

  /** The operator's cooperative refund of everything not charged (after claiming what the channel owes). */
  async refund(channelId: Hex): Promise<{ transaction: Hex; amount: bigint } | null> {
    const record = this.book.get(channelId);
    if (!record) return null;
    if (record.charged > record.totalClaimed) await this.sweeper.sweep();
    const amount = record.balance - record.charged;
    if (amount <= 0n) return null;
    if (record.busy) throw new Error("a request of this channel is being settled; retry");
    record.busy = true;
    try {
      const sent = await this.returnToPayer(record, amount);
      if ("refused" in sent) throw new Error(sent.refused.message);
      return { transaction: sent.transaction, amount };
    } finally {
      record.busy = false;
    }
  }

  /**
   * The payer's cooperative refund (the spec's refund payload): claim and link what the channel owes first,
   * then check again under the channel's lock (a voucher may have arrived) and return the amount asked for,
   * or everything not charged.
   */
  private async settleRefund(paymentPayload: PaymentPayload, requirements: PaymentRequirements, failed: Failed): Promise<SettleResponse> {
    const owed = this.book.get(parseChannelId(paymentPayload));
    if (owed && owed.charged > owed.totalClaimed) {
      const swept = await this.sweeper.sweep().then(
        () => null,
        (error: Error) => error,
      );
      if (swept)
        return failed({ reason: R.refundTransactionFailed, message: `claiming the channel before its refund failed: ${swept.message}` });
    }
    const checked = await this.check(paymentPayload, requirements);
    if ("refused" in checked) return failed(checked.refused, checked.payer);
    const { payload, record } = checked;
    if (record.busy) return failed({ reason: R.channelBusy, message: "another request of this channel is being settled; retry" });
    record.busy = true;
    try {
      const amount = payload.refundAmount ?? record.balance - record.charged;
      const sent = await this.returnToPayer(record, amount);
      if ("refused" in sent) return failed(sent.refused, payload.config.payer);
      const extra = { channelState: channelState(record) };
      return {
        success: true,
        transaction: sent.transaction,
        network: this.network,
        payer: payload.config.payer,
        amount: amount.toString(),
        extra,
      };
    } finally {
      record.busy = false;
    }
  }

  /**
   * Sends refund(config, amount) from the receiver authorizer (the escrow returns it in full: it is at most
   * balance - charged). The balance it leaves is journalled before sending: a crash mid-way leaves the mirror
   * low, never high, and a low mirror is read again from the chain when a voucher exceeds it.
   */
  private async returnToPayer(record: ChannelRecord, amount: bigint): Promise<{ transaction: Hex } | { refused: Refused }> {
    await this.mirror(record, { balance: record.balance - amount, refundNonce: record.refundNonce + 1n });
    let transaction: Hex;
    try {
      const data = encodeFunctionData({ abi: escrowAbi, functionName: "refund", args: [record.config, amount] });
      transaction = await this.chain.send(BATCH_SETTLEMENT_ADDRESS, data);
    } catch (error) {
      await this.mirrorChain(record).catch(() => undefined); // whether it went through, the chain says
      return { refused: { reason: R.refundTransactionFailed, message: (error as Error).message } };
    }
    // Sent: the balance journalled above is right; the chain adds the withdrawal a refund may have shortened.
    await this.mirrorChain(record).catch(() => undefined);
    return { transaction };
  }

  private async mirrorChain(record: ChannelRecord): Promise<void> {
    const onChain = await this.readChannel(record.channelId);
    record.withdrawRequestedAt = onChain.withdrawRequestedAt;
    if (onChain.totalClaimed > record.totalClaimed) record.totalClaimed = onChain.totalClaimed;
    await this.mirror(record, onChain);
  }

  private async mirror(record: ChannelRecord, next: { balance: bigint; refundNonce: bigint }): Promise<void> {
    const funds = { balance: next.balance, refundNonce: next.refundNonce, withdrawRequestedAt: record.withdrawRequestedAt };
    await this.journal.updateChannelFunds(record.channelId, funds);
    record.balance = next.balance;
    record.refundNonce = next.refundNonce;
  }

  close(): void {
    this.sweeper.stop();
  }

  private async check(paymentPayload: PaymentPayload, requirements: PaymentRequirements): Promise<Checked> {
    const payload = receivedChannelPayload(paymentPayload);
    if ("error" in payload) return { refused: { reason: R.payloadType, message: payload.error } };
    const payer = payload.config.payer;
    if (requirements?.scheme !== "batch-settlement" || requirements.network !== this.network)
      return { refused: { reason: R.networkMismatch, message: `this facilitator settles batch-settlement on ${this.network}` }, payer };
    const refused =
      checkChannel(payload, requirements, this.authorizer, this.chainId) ??
      checkPermit2Deposit(payload, requirements) ??
      checkVoucherSignature(payload, this.chainId);
    if (refused) return { refused, payer };
    const record = await this.book.load(payload.voucher.channelId, payload.config);
    const price = BigInt(requirements.amount);
    const checkState = () => (payload.type === "refund" ? checkRefund(payload, record) : checkCumulative(payload, record, price));
    let cumulative = checkState();
    // Another instance may have taken a voucher, a deposit or a claim of this channel: look at the journal again.
    if (cumulative && (await this.book.reload(record))) cumulative = checkState();
    // The payer may have deposited without us (another server, directly): look at the chain once more.
    if (cumulative && STALE_MIRROR.has(cumulative.reason) && !record.busy && (await this.book.refresh(record))) cumulative = checkState();
    return cumulative ? { refused: cumulative, payer, record } : { payload, record };
  }

  /** Null once the voucher is journalled; a refusal if another instance took this cumulative amount first. */
  private async commit(
    payload: ChannelPayload,
    record: ChannelRecord,
    requirements: PaymentRequirements,
    output: PaidOutput,
  ): Promise<Refused | null> {
    const next = {
      charged: record.charged + BigInt(requirements.amount),
      signedMax: payload.voucher.maxClaimableAmount,
      signature: payload.voucher.signature,
    };
    // Durable before the answer leaves (a crash after this line loses no voucher), and only if the channel's
    // charged total in the shared journal is still the one this voucher was checked against.
    const voucher = { channelId: record.channelId, receiver: record.config.receiver, from: record.charged, ...next };
    const payment = this.recordsPayments ? { payment: paymentKeyOf(payload, requirements) } : {};
    let stored: boolean;
    try {
      stored = await this.journal.acceptVoucher({ ...voucher, balance: record.balance, output, ...payment });
    } catch (error) {
      if (!isLedgerError(error, "payment_not_reserved")) throw error;
      return { reason: Reason.paymentReplayed, message: "the reservation of this payment is no longer held" };
    }
    // The next request of this channel reads the journal again (check) and sees what was charged.
    if (!stored)
      return { reason: R.cumulativeMismatch, message: "another request of this channel was charged first: sign the next voucher again" };
    Object.assign(record, next);
    this.sweeper.noteVoucher(output.amount);
    return null;
  }

  /** What the escrow would say to this deposit now (null: it would go through). */
  private async simulateDeposit(payment: PaymentPayload, p: ChannelPayload): Promise<string | null> {
    try {
      await this.chain.call(BATCH_SETTLEMENT_ADDRESS, depositData(payment, p));
      return null;
    } catch (error) {
      return (error as { shortMessage?: string }).shortMessage ?? (error as Error).message;
    }
  }

  private async deposit(
    payment: PaymentPayload,
    p: ChannelPayload,
    record: ChannelRecord,
  ): Promise<{ transaction: string } | { refused: Refused; transaction: string }> {
    const simulated = await this.simulateDeposit(payment, p);
    if (simulated) return { refused: { reason: R.depositSimulationFailed, message: simulated }, transaction: "" };
    try {
      const transaction = await this.chain.send(BATCH_SETTLEMENT_ADDRESS, depositData(payment, p));
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

/** The channel id a payload names (already checked to be well formed). */
const parseChannelId = (payload: PaymentPayload) => (receivedChannelPayload(payload) as ChannelPayload).voucher.channelId;

/**
 * What a corrective 402 carries (the spec's channelState and voucherState): the snapshot and, once this
 * server holds one, the last voucher, whose signature the reference client checks before adopting the charged
 * amount; without it the client falls back to the chain's totalClaimed, which is then what was charged.
 */
function correctiveExtra(record: ChannelRecord | undefined) {
  if (!record) return {};
  const voucherState = record.signature ? { signedMaxClaimable: record.signedMax.toString(), signature: record.signature } : undefined;
  return { extra: { channelState: channelState(record), ...(voucherState ? { voucherState } : {}) } };
}

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

/** The payment plugin's key of this deposit or voucher (its payer and voucher nonce, as the scheme identifies it). */
function paymentKeyOf(payload: ChannelPayload, requirements: PaymentRequirements): PaymentKey {
  const { network, asset } = requirements;
  return { network, asset: asset.toLowerCase(), payer: payload.config.payer.toLowerCase(), nonce: voucherNonce(payload.voucher) };
}

/** The output this voucher paid for, from the payload's royalty402 extension (the server adds it before settling). */
function paidOutput(payload: PaymentPayload, amount: bigint): PaidOutput {
  const { outputId, attributionRoot } = royaltyExtension(payload);
  return { outputId: outputId as Hex, amount, attributionRoot: attributionRoot as Hex };
}
