// Closing an epoch of one model: aggregate the settled outputs not yet in an epoch, build the
// epoch (fixed cuts, contributor amounts, cumulative claims tree, records tree), post it to
// the model's splitter, record the transaction and assign the outputs.
//
// Safe with several instances sharing one ledger, and idempotent on retry:
//  1. The ledger row (splitter, epoch N) is the lock. It is written with status "posted" (and no
//     tx hash yet) BEFORE anything is sent; putEpoch refuses other roots for a row that has left
//     "built", so exactly one document can ever be epoch N. A loser gets epoch_conflict and
//     backs off; the winner's document is in the ledger for anyone to finish.
//  2. "Finishing" an epoch row is idempotent and done by whoever comes next: assign its outputs
//     (all-or-nothing, a no-op when already assigned), post it unless the chain already holds
//     it (a concurrent post reverts and is then found on-chain), check the chain's roots equal
//     the document's, and record tx hash and status.
//  3. Epoch N+1 is only built once N is finished, from N's cumulative totals.
import type { Provider, Signer } from "ethers";
import { AttributionError } from "../attribution/index.ts";
import { isLedgerError, type EpochRecord, type Ledger, type SettlementScan } from "../ledger/index.ts";
import type { Payee } from "../models/index.ts";
import { splitterViews } from "../models/splitters.ts";
import type { EpochDocuments } from "./documents.ts";
import type { SerialQueue } from "../util/serial.ts";
import type { TextStore } from "./texts.ts";
import { decodeEventLog, type Hex } from "viem";
import { nextPreviousState, type PreviousEpochState } from "./build.ts";
import { paymentBlock } from "./worker-tasks.ts";
import { channelLinksFor } from "./links.ts";
import { PAYMENT_SETTLED_TOPIC, paymentSettledAmount } from "../facilitator/abi.ts";
import { rawSend } from "../facilitator/chain.ts";
import { CHANNEL_OUTPUTS_PAID_TOPIC, channelLinkEvent } from "../facilitator/batch-settlement/abi.ts";
import { postEpochRoots, readPostedEpoch, splitterContract, type PostedEpoch } from "./chain.ts";

/** Most outputs one epoch aggregates (the rest go to the next one). */
const MAX_OUTPUTS_PER_EPOCH = 10_000;

export interface CloseContext {
  ledger: Ledger;
  provider: Provider;
  oracle: Signer | null;
  oracleQueue: SerialQueue;
  chainId: bigint;
  startBlock: number;
  docs: EpochDocuments;
  texts: TextStore | null;
  uriFor(splitter: string, epoch: number): string;
  ensureDeployed(model: Payee): Promise<void>;
  now(): number;
  /** Highest epoch number seen per splitter (lower-case), so lookups need not read every document. */
  latestKnown: Map<string, number>;
}

export type CloseResult =
  | {
      status: "closed";
      model: string;
      epoch: number;
      outputs: number;
      cumulativeAllocated: string;
      claimsRoot: string;
      txHash: string | null;
    }
  | {
      status: "skipped";
      model: string;
      reason: "nothing_to_close" | "below_payment_count" | "closed_by_another_instance";
      epoch?: number;
      outputs?: number;
    }
  | { status: "waiting"; model: string; reason: "epoch_pending"; epoch: number; activeAt: number }
  | { status: "halted"; model: string; reason: "epoch_vetoed"; epoch: number };

/** The chain holds other roots for an epoch than our ledger: needs an operator, never retried blindly. */
export class EpochMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EpochMismatchError";
  }
}

export async function postedOnChain(ctx: CloseContext, splitter: string, epoch: number): Promise<PostedEpoch | null> {
  try {
    return await readPostedEpoch(ctx.provider, splitter, epoch, ctx.startBlock);
  } catch (e) {
    if (e instanceof AttributionError && e.code === "epoch_not_found") return null;
    throw e;
  }
}

export function statusOf(posted: PostedEpoch): EpochRecord["status"] {
  if (posted.status === "vetoed") return "vetoed";
  if (posted.status === "pending") return "posted";
  return "active"; // active now, or superseded by a later epoch (it was active before)
}

/** The ledger's newest epoch row of a splitter (other instances' new rows included). */
export async function latestEpoch(ctx: CloseContext, splitter: string): Promise<EpochRecord | null> {
  const key = splitter.toLowerCase();
  let n = ctx.latestKnown.get(key);
  if (n === undefined) {
    n = (await ctx.ledger.latestEpochSummary(splitter))?.epoch ?? 0;
  }
  let record = n > 0 ? await ctx.ledger.getEpoch(splitter, n) : null;
  for (;;) {
    const next = await ctx.ledger.getEpoch(splitter, n + 1);
    if (!next) break;
    record = next;
    n++;
  }
  ctx.latestKnown.set(key, n);
  return record;
}

const finished = (e: EpochRecord) => (e.status === "active" || e.status === "vetoed") && e.txHash !== null;

/** Brings an epoch row to its final state: outputs assigned, posted, roots checked, tx recorded. */
async function finishEpoch(ctx: CloseContext, model: Payee, record: EpochRecord, outputIds?: string[]): Promise<EpochRecord> {
  if (record.status === "vetoed") return record;
  await ctx.ledger.assignOutputsToEpoch(outputIds ?? (await ctx.docs.outputIds(record)), record.epoch);

  let posted = await postedOnChain(ctx, model.splitter, record.epoch);
  if (!posted) {
    if (!ctx.oracle) throw new Error(`epoch ${record.epoch} of ${model.id} is built but this instance has no oracle key to post it`);
    const oracle = ctx.oracle;
    posted = await ctx.oracleQueue.run(async () => {
      const again = await postedOnChain(ctx, model.splitter, record.epoch);
      if (again) return again;
      try {
        await postEpochRoots(splitterContract(model.splitter, oracle), record);
      } catch (error) {
        // Another instance may have posted it a moment ago (WrongEpoch / EpochPending): look again.
        const raced = await postedOnChain(ctx, model.splitter, record.epoch);
        if (raced) return raced;
        throw error;
      }
      return postedOnChain(ctx, model.splitter, record.epoch);
    });
    if (!posted) throw new Error(`epoch ${record.epoch} of ${model.id} was posted but no EpochPosted event is visible`);
  }
  if (
    posted.claimsRoot !== record.claimsRoot ||
    posted.recordsRoot !== record.recordsRoot ||
    posted.cumulativeAllocated !== BigInt(record.cumulativeAllocated)
  ) {
    throw new EpochMismatchError(
      `epoch ${record.epoch} of ${model.id} on ${model.splitter}: ` +
        `the chain holds claimsRoot ${posted.claimsRoot} / recordsRoot ` +
        `${posted.recordsRoot}, the ledger ${record.claimsRoot} / ${record.recordsRoot}`,
    );
  }
  const status = statusOf(posted);
  if (record.txHash === posted.transactionHash && record.status === status) return record;
  const updated: EpochRecord = { ...record, txHash: posted.transactionHash, status };
  await ctx.ledger.putEpoch(updated);
  return updated;
}

const finishUnfinished = async (ctx: CloseContext, model: Payee, record: EpochRecord | null) =>
  record && !finished(record) ? finishEpoch(ctx, model, record) : record;

const haltedBy = (model: Payee, vetoed: EpochRecord): CloseResult => ({
  status: "halted",
  model: model.id,
  reason: "epoch_vetoed",
  epoch: vetoed.epoch,
});

/**
 * Closes the next epoch of `model` if at least `minOutputs` settled outputs wait for one.
 * Finishes an unfinished previous epoch first (after a crash or another instance's attempt).
 */
export async function closeEpoch(ctx: CloseContext, model: Payee, options: { minOutputs?: number } = {}): Promise<CloseResult> {
  const minOutputs = Math.max(1, options.minOutputs ?? 1);
  const splitter = model.splitter;
  let latest = await finishUnfinished(ctx, model, await latestEpoch(ctx, splitter));
  if (latest?.status === "vetoed") return haltedBy(model, latest);

  // Records stay packed here: the epoch worker unpacks and parses them.
  const outputs = await ctx.ledger.listEpochCandidates(model.id, MAX_OUTPUTS_PER_EPOCH);
  if (outputs.length === 0) return { status: "skipped", model: model.id, reason: "nothing_to_close" };
  if (outputs.length < minOutputs) return { status: "skipped", model: model.id, reason: "below_payment_count", outputs: outputs.length };

  // The splitter accepts epoch N+1 only once epoch N's challenge period is over.
  await ctx.ensureDeployed(model);
  const pending = await splitterViews(splitter, ctx.provider).getFunction("pendingEpoch")();
  if (BigInt(pending.epoch) !== 0n)
    return {
      status: "waiting",
      model: model.id,
      reason: "epoch_pending",
      epoch: Number(pending.epoch),
      activeAt: Number(pending.activeAt),
    };
  // The previous epoch's challenge period may have ended since its row was read above: record it
  // as active (or vetoed) before building on it, so no row is left "posted" behind a later epoch.
  latest = await finishUnfinished(ctx, model, latest);
  if (latest?.status === "vetoed") return haltedBy(model, latest);

  const epoch = (latest?.epoch ?? 0) + 1;
  const previous = latest ? await previousState(ctx, latest) : null;
  const { ownerBps, protocolBps, owner } = model.splitterConfig;
  const { received, links } = await receivedForEpoch(ctx, splitter, outputs, previous?.cumulativeReceived ?? 0n);
  const channelLinks = await channelLinksFor(
    ctx.ledger,
    links,
    outputs.map((o) => o.outputId),
  );
  // Records parsed and hashed, trees, proofs and the document: all in the epoch worker thread.
  const built = await ctx.docs.build({
    epoch,
    ownerBps,
    protocolBps,
    modelOwner: owner,
    payments: paymentBlock(outputs),
    previous,
    chainId: ctx.chainId,
    splitter,
    texts: ctx.texts ? await ctx.texts.loadMany(outputs.map((o) => o.outputId)) : undefined,
    received,
    ...(channelLinks.length > 0 ? { channelLinks } : {}),
  });
  const claimed: EpochRecord = {
    splitter,
    epoch,
    claimsRoot: built.claimsRoot,
    recordsRoot: built.recordsRoot,
    cumulativeAllocated: built.cumulativeAllocated,
    uri: ctx.uriFor(splitter, epoch),
    txHash: null,
    status: "posted",
    document: built.stored,
    createdAt: ctx.now(),
  };
  try {
    await ctx.ledger.putEpoch(claimed);
  } catch (e) {
    if (isLedgerError(e, "epoch_conflict")) return { status: "skipped", model: model.id, reason: "closed_by_another_instance", epoch };
    throw e;
  }
  // Identical roots from a concurrent instance also "win": either way, finish what the ledger holds.
  const stored = (await ctx.ledger.getEpoch(splitter, epoch)) ?? claimed;
  ctx.latestKnown.set(splitter.toLowerCase(), Math.max(epoch, ctx.latestKnown.get(splitter.toLowerCase()) ?? 0));
  const done = await finishEpoch(ctx, model, stored, stored.claimsRoot === claimed.claimsRoot ? built.outputIds : undefined);
  if (done.status === "vetoed") return haltedBy(model, done);
  return {
    status: "closed",
    model: model.id,
    epoch,
    outputs: built.outputIds.length,
    cumulativeAllocated: done.cumulativeAllocated,
    claimsRoot: done.claimsRoot,
    txHash: done.txHash,
  };
}

/**
 * What the splitter received through this epoch, read at one block B (every listed payment is
 * settled on-chain, so B is taken after the list): the on-chain total at B, less the money linked
 * to outputs up to B that are in no epoch and not in this one (settled, but not recorded yet: the
 * next epoch's): PaymentSettled amounts, and the part of each channel link's (ChannelOutputsPaid)
 * amount whose outputs the ledger does not hold settled by that link in this or an earlier epoch
 * (a sweep whose outputs are not recorded yet). What remains over the epochs' payments is money
 * that came without an output (a plain transfer by a stock x402 facilitator): unattributed, the
 * owner's. Less (a fee-on-transfer token): the pool is built on what arrived. Never below the
 * previous total. Also the scan's channel links as stored (read once: decoding the scan again
 * cost another ~20 ms of event loop at 10,000 outputs).
 */
async function receivedForEpoch(
  ctx: CloseContext,
  splitter: string,
  listed: Array<{ outputId: string }>,
  previous: bigint,
): Promise<{ received: bigint; links: ReadonlyMap<string, bigint> }> {
  const block = await ctx.provider.getBlockNumber();
  const total = BigInt(await splitterViews(splitter, ctx.provider).getFunction("totalReceived")({ blockTag: block }));
  const scan = await scanSettlements(ctx, splitter, block);
  const inThisEpoch = new Set(listed.map((o) => o.outputId.toLowerCase()));
  let notYetInEpoch = 0n;
  const others = [...scan.settled.keys()].filter((id) => !inThisEpoch.has(id));
  const epochs = await ctx.ledger.outputEpochs(others);
  for (const outputId of others) {
    if (epochs.get(outputId) != null)
      scan.settled.delete(outputId); // in an earlier epoch: never counted again
    else notYetInEpoch += scan.settled.get(outputId) ?? 0n;
  }
  for (const [txHash, amount] of scan.links) {
    const { allocated, earlier } = await channelAllocated(ctx, txHash, inThisEpoch);
    if (earlier >= amount)
      scan.links.delete(txHash); // every output of this link is in an earlier epoch
    else if (amount > allocated) notYetInEpoch += amount - allocated;
  }
  await ctx.ledger.putSettlementScan(splitter, scan);
  const received = total - notYetInEpoch;
  return { received: received > previous ? received : previous, links: scan.links };
}

/** The amounts of a link's outputs (settled by its transaction) in this or an earlier epoch, and in an earlier one. */
async function channelAllocated(ctx: CloseContext, txHash: string, inThisEpoch: ReadonlySet<string>) {
  let allocated = 0n;
  let earlier = 0n;
  for (const o of await ctx.ledger.listOutputsPaidIn(txHash)) {
    if (o.epoch != null) earlier += BigInt(o.amount);
    if (o.epoch != null || inThisEpoch.has(o.outputId.toLowerCase())) allocated += BigInt(o.amount);
  }
  return { allocated, earlier };
}

/**
 * The splitter's PaymentSettled amounts by output id, and ChannelOutputsPaid amounts by link
 * transaction, through `toBlock`, of outputs (links) not (yet) seen in an epoch. Continues the scan
 * the ledger holds (kept across restarts and shared by instances: it is derived from the chain
 * alone), so each close reads only the blocks after the previous one's.
 */
async function scanSettlements(ctx: CloseContext, splitter: string, toBlock: number): Promise<SettlementScan> {
  const scan = (await ctx.ledger.getSettlementScan(splitter)) ?? {
    scannedBlock: ctx.startBlock - 1,
    settled: new Map<string, bigint>(),
    links: new Map<string, bigint>(),
  };
  if (toBlock <= scan.scannedBlock) return scan;
  const topics = [[PAYMENT_SETTLED_TOPIC, CHANNEL_OUTPUTS_PAID_TOPIC]];
  // In slices of about LOGS_PER_CALL logs: decoding thousands of logs at once would hold the event loop.
  let span = FIRST_SPAN;
  for (let fromBlock = scan.scannedBlock + 1; fromBlock <= toBlock; ) {
    const to = Math.min(toBlock, fromBlock + span - 1);
    const logs = await logsBetween(ctx.provider, { address: splitter, topics, fromBlock, toBlock: to });
    for (const log of logs) addSettlementLog(scan, log);
    // At most twice the last span: after blocks without logs, a jump to MAX_SPAN fetched a 10,000-output
    // epoch's logs in one response (~120 ms of event loop to read and parse it).
    span = Math.max(1, Math.min(MAX_SPAN, 2 * span, Math.floor((span * LOGS_PER_CALL) / Math.max(logs.length, 1))));
    fromBlock = to + 1;
  }
  return { ...scan, scannedBlock: toBlock };
}

/**
 * Blocks the first eth_getLogs call of a scan covers; then sized for about LOGS_PER_CALL logs, at
 * most twice the previous span and MAX_SPAN blocks (public RPCs refuse more).
 */
const FIRST_SPAN = 8;
const LOGS_PER_CALL = 250;
const MAX_SPAN = 2000;

type RawLog = { topics: readonly string[]; data: string; transactionHash: string };

/**
 * eth_getLogs as the node answers it: ethers' getLogs would also build a Log object per entry
 * (checksumming its address with a keccak each), which is most of a slice's time on the loop.
 */
async function logsBetween(
  provider: Provider,
  filter: { address: string; topics: string[][]; fromBlock: number; toBlock: number },
): Promise<RawLog[]> {
  const send = rawSend(provider);
  if (!send) return provider.getLogs(filter);
  const quantity = (n: number) => `0x${n.toString(16)}`;
  return send("eth_getLogs", [{ ...filter, fromBlock: quantity(filter.fromBlock), toBlock: quantity(filter.toBlock) }]);
}

function addSettlementLog(scan: SettlementScan, log: RawLog): void {
  if (log.topics[0]?.toLowerCase() === CHANNEL_OUTPUTS_PAID_TOPIC) {
    const tx = log.transactionHash.toLowerCase();
    scan.links.set(tx, (scan.links.get(tx) ?? 0n) + channelLinkAmount(log));
    return;
  }
  const event = paymentSettledAmount(log);
  if (!event) return;
  scan.settled.set(event.outputId, (scan.settled.get(event.outputId) ?? 0n) + event.amount);
}

const channelLinkAmount = (log: { topics: readonly string[]; data: string }) =>
  decodeEventLog({ abi: channelLinkEvent, data: log.data as Hex, topics: log.topics as [Hex, ...Hex[]] }).args.amount;

/** The state epoch N+1 starts from, read from epoch N's indexed rows (summary and claim leaves), never its document. */
async function previousState(ctx: CloseContext, latest: EpochRecord): Promise<PreviousEpochState> {
  const summary = await ctx.ledger.getEpochSummary(latest.splitter, latest.epoch);
  // A row an older version wrote without its summary: read its document (once, rare).
  if (summary?.cumulativeReceived == null) return nextPreviousState(JSON.parse((await ctx.docs.parse(latest)).json));
  const claims = await ctx.ledger.listEpochClaims(latest.splitter, latest.epoch);
  return {
    epoch: latest.epoch,
    cumulativeReceived: BigInt(summary.cumulativeReceived),
    cumulativeAllocated: BigInt(latest.cumulativeAllocated),
    totals: new Map(claims.map((c) => [c.account, BigInt(c.cumulativeAmount)])),
  };
}

/** Moves posted epochs whose challenge period ended to "active" (and notices vetoes). */
export async function refreshEpochs(ctx: CloseContext, model: Payee): Promise<EpochRecord | null> {
  const latest = await latestEpoch(ctx, model.splitter);
  if (!latest || finished(latest)) return latest;
  // Unfinished rows (posted, awaiting their challenge period, or left by a crashed instance).
  if (latest.epoch > 1) {
    const before = await ctx.ledger.getEpoch(model.splitter, latest.epoch - 1);
    if (before && !finished(before)) await finishEpoch(ctx, model, before);
  }
  return finishEpoch(ctx, model, latest);
}
