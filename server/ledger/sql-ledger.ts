// The ledger over any executor: one implementation of every method (statements in sql/,
// grouped by concern), shared by the SQLite and PostgreSQL backends.
import { randomUUID } from "node:crypto";
import type { Executor } from "./executor.ts";
import { Maintenance, type MaintenanceOptions } from "./maintenance.ts";
import { assertOrdered, type Migration } from "./migrations.ts";
import type * as norm from "./normalize.ts";
import * as channels from "./sql/channels.ts";
import * as contributions from "./sql/contributions.ts";
import type { Db } from "./sql/db.ts";
import { journalSoon } from "./sql/broadcast-batch.ts";
import * as epochs from "./sql/epochs.ts";
import * as held from "./sql/held-outputs.ts";
import * as instances from "./sql/instances.ts";
import * as outputs from "./sql/outputs.ts";
import * as paymentIds from "./sql/payment-ids.ts";
import * as payments from "./sql/payments.ts";
import * as scans from "./sql/scans.ts";
import * as texts from "./sql/texts.ts";
import * as totals from "./sql/totals.ts";
import type {
  AcceptedVoucher,
  ChannelLedger,
  ChannelState,
  ContributionRecord,
  PaymentIdClaim,
  EpochCursor,
  EpochRecord,
  HeldOutput,
  LatestEpochFilter,
  Ledger,
  OutputRecord,
  OutputText,
  PaymentKey,
  PaymentLedger,
  PaymentStatus,
  SettlementScan,
} from "./types.ts";

export interface SqlLedgerOptions {
  /** Clock for createdAt/updatedAt (ms). */
  now?: () => number;
  /** Migration list (tests substitute their own); default: the dialect's. */
  migrations?: readonly Migration[];
}

export abstract class SqlLedger implements Ledger {
  readonly instanceId = randomUUID();
  private readonly db: Db;
  private readonly migrations: readonly Migration[];
  private maintenance: Maintenance | null = null;

  protected constructor(exec: Executor, options: SqlLedgerOptions, defaultMigrations: readonly Migration[]) {
    this.db = { exec, d: exec.dialect, now: options.now ?? Date.now, instanceId: this.instanceId };
    this.migrations = options.migrations ?? defaultMigrations;
    assertOrdered(this.migrations);
  }

  migrate(): Promise<void> {
    return this.db.exec.migrate(this.migrations, this.db.now());
  }

  /** Versions recorded in schema_migrations, ascending. */
  appliedMigrations(): Promise<Array<{ version: number; name: string }>> {
    return this.db.exec.appliedMigrations();
  }

  /** Starts this instance's heartbeat, dead-reservation release and held-output pruning (stopped by close). */
  startMaintenance(options: MaintenanceOptions = {}): Maintenance {
    this.maintenance ??= new Maintenance(this, options, this.db.now);
    return this.maintenance;
  }

  async close(): Promise<void> {
    await this.maintenance?.stop();
    this.maintenance = null;
    await this.db.exec.close();
  }

  // Payments
  reserve = (p: norm.ReserveInput) => payments.reserve(this.db, p);
  transition = (key: PaymentKey, from: PaymentStatus[], to: PaymentStatus, fields?: norm.TransitionFields) =>
    payments.transition(this.db, key, from, to, fields);
  getPayment = (key: PaymentKey) => payments.getPayment(this.db, key);
  journalBroadcast = (key: PaymentKey, txHash: string) => journalSoon(this.db, key, txHash);
  listPayments = (q: Parameters<PaymentLedger["listPayments"]>[0]) => payments.listPayments(this.db, q);

  // Outputs
  putOutput = (o: OutputRecord) => outputs.putOutput(this.db, o);
  getOutput = (outputId: string) => outputs.getOutput(this.db, outputId);
  getOutputRecords = (outputIds: string[]) => outputs.getOutputRecords(this.db, outputIds);
  getOutputPaymentKeys = (outputIds: string[]) => outputs.getOutputPaymentKeys(this.db, outputIds);
  putOutputText = (outputId: string, text: OutputText) => texts.putOutputText(this.db, outputId, text);
  getOutputTexts = (outputIds: string[]) => texts.getOutputTexts(this.db, outputIds);
  listUnassignedSettledOutputs = (modelId: string, limit?: number) => outputs.listUnassignedSettledOutputs(this.db, modelId, limit);
  listEpochCandidates = (modelId: string, limit: number) => outputs.listEpochCandidates(this.db, modelId, limit);
  outputEpochs = (outputIds: string[]) => outputs.outputEpochs(this.db, outputIds);
  listOutputsPaidIn = (txHash: string) => outputs.listOutputsPaidIn(this.db, txHash);
  assignOutputsToEpoch = (outputIds: string[], epoch: number) => outputs.assignOutputsToEpoch(this.db, outputIds, epoch);
  listEpochOutputs = (modelId: string, epoch: number) => outputs.listEpochOutputs(this.db, modelId, epoch);

  // Held outputs
  holdOutput = (h: HeldOutput) => held.holdOutput(this.db, h);
  holdAndTransition = (h: HeldOutput, from: PaymentStatus[], to: Exclude<PaymentStatus, "settled">, fields?: norm.TransitionFields) =>
    payments.holdAndTransition(this.db, h, from, to, fields);
  getHeldOutput = (outputId: string) => held.getHeldOutput(this.db, outputId);
  pruneHeldOutputs = (before: number) => held.pruneHeldOutputs(this.db, before);

  // Payment identifiers
  claimPaymentId = (c: PaymentIdClaim) => paymentIds.claimPaymentId(this.db, c);
  getPaymentId = (paymentId: string) => paymentIds.getPaymentId(this.db, paymentId);

  // Epochs
  putEpoch = (e: EpochRecord) => epochs.putEpoch(this.db, e);
  getEpoch = (splitter: string, epoch: number) => epochs.getEpoch(this.db, splitter, epoch);
  listEpochs = (splitter?: string) => epochs.listEpochs(this.db, splitter);
  listEpochSummaries = (splitter?: string) => epochs.listEpochSummaries(this.db, splitter);
  pageEpochSummaries = (page: { splitter?: string; limit: number; before?: EpochCursor }) => epochs.pageEpochSummaries(this.db, page);
  countEpochs = (splitter?: string) => epochs.countEpochs(this.db, splitter);
  getEpochSummary = (splitter: string, epoch: number) => epochs.getEpochSummary(this.db, splitter, epoch);
  latestEpochSummary = (splitter: string, filter?: LatestEpochFilter) => epochs.latestEpochSummary(this.db, splitter, filter);
  listEpochClaims = (splitter: string, epoch: number) => epochs.listEpochClaims(this.db, splitter, epoch);
  getEpochClaim = (splitter: string, epoch: number, account: string) => epochs.getEpochClaim(this.db, splitter, epoch, account);

  // Contributions
  addContribution = (c: Omit<ContributionRecord, "seq" | "createdAt">) => contributions.addContribution(this.db, c);
  listContributions = (datanetId: string, fromSeq?: number) => contributions.listContributions(this.db, datanetId, fromSeq);

  // Totals
  modelTotals = () => totals.modelTotals(this.db);
  contributorTotals = (limit?: number) => totals.contributorTotals(this.db, limit);
  recentSettled = (limit: number) => totals.recentSettled(this.db, limit);
  settledBuckets = (after: number, until: number, bucketMs: number) => totals.settledBuckets(this.db, after, until, bucketMs);

  // Settlement scans
  getSettlementScan = (splitter: string) => scans.getSettlementScan(this.db, splitter);
  putSettlementScan = (splitter: string, scan: SettlementScan) => scans.putSettlementScan(this.db, splitter, scan);

  // Channels
  getChannel = (channelId: string) => channels.getChannel(this.db, channelId);
  openChannel = (state: ChannelState) => channels.openChannel(this.db, state);
  acceptVoucher = (v: AcceptedVoucher) => channels.acceptVoucher(this.db, v);
  updateChannelFunds: ChannelLedger["updateChannelFunds"] = (id, funds) => channels.updateChannelFunds(this.db, id, funds);
  claimableChannels = () => channels.claimableChannels(this.db);
  markChannelsClaimed: ChannelLedger["markChannelsClaimed"] = (claims, tx) => channels.markChannelsClaimed(this.db, claims, tx);
  markChannelStuck = (channelId: string, reason: string) => channels.markChannelStuck(this.db, channelId, reason);
  unlinkedVouchers = () => channels.unlinkedVouchers(this.db);
  openChannelLink: ChannelLedger["openChannelLink"] = (link) => channels.openChannelLink(this.db, link);
  openChannelLinks = () => channels.openChannelLinks(this.db);
  setChannelLinkTransaction = (root: string, txHash: string) => channels.setChannelLinkTransaction(this.db, root, txHash);
  markChannelLinkRecorded = (root: string) => channels.markChannelLinkRecorded(this.db, root);
  takeChannelSweep = (staleMs: number) => channels.takeChannelSweep(this.db, staleMs);
  releaseChannelSweep = () => channels.releaseChannelSweep(this.db);
  oldestChannelWork = () => channels.oldestChannelWork(this.db);

  // Instances
  heartbeat = () => instances.heartbeat(this.db);
  releaseDeadReservations = (staleMs: number) => instances.releaseDeadReservations(this.db, staleMs);
}
