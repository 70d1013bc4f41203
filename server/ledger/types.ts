// The ledger's contract with the rest of the server. Two implementations share it:
// SQLite in a file (default) and PostgreSQL (DATABASE_URL), and one test suite runs on both.
// Amounts are decimal strings of atomic token units (never JS numbers).

import type { ChannelConfig, PaymentStatus } from "@royalty402/fastify-x402";

export type { PaymentStatus };

/** EIP-3009 authorizations are unique per (token, payer, nonce): so is a ledger payment. */
export interface PaymentKey {
  network: string; // CAIP-2, e.g. "eip155:31337"
  asset: string; // token address, lower-case hex
  payer: string; // lower-case hex
  nonce: string; // 0x-prefixed 32-byte hex, lower-case
}

export interface PaymentRecord extends PaymentKey {
  payTo: string;
  amount: string;
  modelId: string | null;
  outputId: string | null;
  status: PaymentStatus;
  txHash: string | null;
  errorReason: string | null;
  /** The x402 PaymentPayload as received (JSON text): enough to settle again after a crash; "" once settled past the retention. */
  payload: string;
  createdAt: number; // ms since epoch
  updatedAt: number;
}

export type ReserveResult = { reserved: true; payment: PaymentRecord } | { reserved: false; existing: PaymentRecord };

export interface OutputRecord {
  outputId: string;
  modelId: string;
  paymentKey: PaymentKey | null;
  /** Canonical JSON of the attribution record; recordHash = keccak256 of its UTF-8 bytes. */
  record: string;
  recordHash: string;
  epoch: number | null;
  createdAt: number;
}

/**
 * The response a payer paid for, kept while the payment's settlement is pending and served
 * (to the holder of the retrieval token only) once it is settled.
 */
/** An attribution record as the ledger stores it: packed bytes (record-codec.ts), or the canonical JSON of an older row. */
export type StoredRecord = string | Uint8Array;

export interface EpochCandidate {
  outputId: string;
  amount: string;
  record: StoredRecord;
}

export interface HeldOutput extends PaymentKey {
  outputId: string;
  /** sha256 (hex) of the retrieval token; the token itself is given only to the payer. */
  tokenHash: string;
  statusCode: number;
  contentType: string | null;
  body: Uint8Array;
  createdAt: number;
}

/** An output's text and its prompt, kept to publish with the epoch (epochs.publishTexts). */
export interface OutputText {
  output: string;
  prompt?: string | null;
}

export interface EpochRecord {
  splitter: string;
  epoch: number;
  claimsRoot: string;
  recordsRoot: string;
  cumulativeAllocated: string;
  uri: string;
  txHash: string | null;
  status: "built" | "posted" | "active" | "vetoed";
  /** Full epoch document (leaves, proofs, records) as JSON text. */
  document: string;
  createdAt: number;
}

export interface ContributionRecord {
  datanetId: string;
  seq: number; // registration order within the datanet (first registered wins)
  contributor: string;
  contentHash: string;
  text: string;
  createdAt: number;
}

/** An epoch row without its document: what lists show, read from indexed columns. */
export interface EpochSummary extends Omit<EpochRecord, "document"> {
  /** Outputs (paid) the epoch covers. */
  outputs: number;
  /** Accounts in its claims tree. */
  claimants: number;
  /** The splitter's cumulative receipts the epoch was built on (null if the document does not say). */
  cumulativeReceived: string | null;
  /** What this epoch allocated to contributors (null if the document does not say). */
  epochPool: string | null;
}

/** Where a page of epochs ends: the page holds the epochs just before this one in (splitter, epoch) order. */
export interface EpochCursor {
  splitter: string;
  epoch: number;
}

/** Which epochs `latestEpochSummary` may return: any, not vetoed, or not vetoed and sent on-chain (has a transaction). */
export type LatestEpochFilter = "any" | "not_vetoed" | "posted_not_vetoed";

/** A claim leaf of an epoch: an account's cumulative allocation up to that epoch. */
export interface EpochClaim {
  account: string; // lower-case hex
  cumulativeAmount: string;
}

/** Settled payments of one model, kept up to date in the transaction that settles each payment. */
export interface ModelTotals {
  modelId: string;
  payments: number;
  revenue: string;
}

/** Settled outputs whose attribution record credits a contributor (counted once per output). */
export interface ContributorTotals {
  contributor: string; // lower-case hex
  outputs: number;
}

/** Settled payments of one time bucket and one amount, counted (the dashboard chart). */
export interface SettledBucket {
  /** The bucket's start (ms): a multiple of its size. */
  t: number;
  amount: string;
  payments: number;
}

/** A settled payment as the dashboard shows it (no payload), with its output's record if stored. */
export interface SettledRow {
  modelId: string | null;
  outputId: string | null;
  amount: string;
  payer: string;
  nonce: string;
  txHash: string | null;
  updatedAt: number;
  record: string | null;
}

export interface PaymentLedger {
  /** Atomically claims (network, asset, payer, nonce). Exactly one concurrent caller gets reserved: true. */
  reserve(p: Omit<PaymentRecord, "status" | "txHash" | "errorReason" | "createdAt" | "updatedAt">): Promise<ReserveResult>;
  /**
   * Moves a payment to `to` only if it is currently in one of `from` (compare-and-set);
   * returns the updated record, or null if the payment was not in an allowed state.
   * Edges outside PAYMENT_TRANSITIONS (the payment package) throw LedgerError("invalid_transition").
   * Fields left undefined keep their value; null clears them. `amount` replaces the reserved maximum
   * by the metered amount of an upto payment (what totals and epochs then count).
   */
  transition(
    key: PaymentKey,
    from: PaymentStatus[],
    to: PaymentStatus,
    fields?: { txHash?: string | null; errorReason?: string | null; outputId?: string | null; amount?: string },
  ): Promise<PaymentRecord | null>;
  getPayment(key: PaymentKey): Promise<PaymentRecord | null>;
  /**
   * Records the hash of the transaction about to carry a settling payment (settling → settling);
   * false if it is no longer settling. The hashes asked for in one turn are written by one statement.
   */
  journalBroadcast(key: PaymentKey, txHash: string): Promise<boolean>;
  /**
   * Payments ordered by (updatedAt, key): oldest first unless `order: "desc"`.
   * `afterUpdatedAt` is strict (updatedAt > value); `limit` defaults to 1000, at most 10000.
   */
  listPayments(q: {
    status?: PaymentStatus[];
    modelId?: string;
    limit?: number;
    afterUpdatedAt?: number;
    order?: "asc" | "desc";
  }): Promise<PaymentRecord[]>;
}

interface OutputLedger {
  /**
   * Stores an output. Records are immutable: putting the same outputId again with the same
   * recordHash is a no-op, with a different one it throws LedgerError("output_conflict").
   * A payment buys at most one output ("payment_has_output"); the payment must exist ("unknown_payment").
   */
  putOutput(o: OutputRecord): Promise<void>;
  getOutput(outputId: string): Promise<OutputRecord | null>;
  /** The records (canonical JSON) of the given outputs, by lower-case output id; unknown ids are left out. */
  getOutputRecords(outputIds: string[]): Promise<Record<string, string>>;
  /** The payment keys of many outputs in one query (outputs without a payment are left out); no record is read. */
  getOutputPaymentKeys(outputIds: string[]): Promise<Record<string, PaymentKey>>;
  /** Outputs of settled payments not yet assigned to an epoch, oldest first (no limit given: all). */
  listUnassignedSettledOutputs(modelId: string, limit?: number): Promise<Array<OutputRecord & { amount: string }>>;
  /**
   * The same outputs with only what an epoch needs, each record as stored (packed, or the JSON of
   * an older row: record-codec.ts), so that the epoch worker, not the event loop, unpacks them.
   */
  listEpochCandidates(modelId: string, limit: number): Promise<EpochCandidate[]>;
  /** The epoch of each known output (null: in none yet), by lower-case output id; unknown ids are left out. */
  outputEpochs(outputIds: string[]): Promise<Map<string, number | null>>;
  /** The outputs whose settled payment's transaction is `txHash` (a channel link's), with amount and epoch. */
  listOutputsPaidIn(txHash: string): Promise<Array<{ outputId: string; amount: string; epoch: number | null }>>;
  /**
   * All-or-nothing: assigns every id to `epoch`, or throws LedgerError("output_not_assignable")
   * and changes nothing if one is unknown or already in another epoch (re-assigning to the
   * same epoch is a no-op), so two instances closing the same epoch cannot double count.
   */
  assignOutputsToEpoch(outputIds: string[], epoch: number): Promise<void>;
  /** Keeps an output's text for publication (a second put of the same output is a no-op). */
  putOutputText(outputId: string, text: OutputText): Promise<void>;
  /** The kept texts of the given outputs, by lower-case output id; outputs without one are left out. */
  getOutputTexts(outputIds: string[]): Promise<Record<string, OutputText>>;
  /** Outputs of one model assigned to `epoch` (with their payment amount), oldest first. */
  listEpochOutputs(modelId: string, epoch: number): Promise<Array<OutputRecord & { amount: string | null }>>;
}

export interface HeldOutputLedger {
  /**
   * Keeps the output of a payment whose settlement is pending: one per payment. Holding the
   * same outputId again is a no-op; another output for the payment, or an outputId held for
   * another payment, throws LedgerError("output_conflict"); the payment must exist ("unknown_payment").
   */
  holdOutput(h: HeldOutput): Promise<void>;
  /**
   * holdOutput and transition of the same payment together: on PostgreSQL one statement (one round
   * trip; both or neither), elsewhere both issued at once. `held` is false when the output was not
   * kept (`holdError` says why; a refused transition does not say, and its output may be kept).
   */
  holdAndTransition(
    h: HeldOutput,
    from: PaymentStatus[],
    to: Exclude<PaymentStatus, "settled">,
    fields?: { txHash?: string | null; errorReason?: string | null; outputId?: string | null; amount?: string },
  ): Promise<{ row: PaymentRecord | null; held: boolean; holdError?: unknown }>;
  /** A held output and its payment's current record, or null. */
  getHeldOutput(outputId: string): Promise<{ output: HeldOutput; payment: PaymentRecord } | null>;
  /**
   * Deletes held outputs of payments that reached settled or failed before `before` (ms), and empties
   * the payload of payments settled before it: past the retention period a settled payment's output
   * is no longer re-delivered. Returns the count of held outputs deleted.
   */
  pruneHeldOutputs(before: number): Promise<number>;
}

/** A client's payment-identifier bound to its first request (the payment and a sha256 of what it bought). */
export interface PaymentIdClaim {
  paymentId: string;
  requestHash: string;
  key: PaymentKey;
}

interface PaymentIdLedger {
  /** Binds the id to this request unless another claimed it first (then returns that claim). Claims are never deleted. */
  claimPaymentId(c: PaymentIdClaim): Promise<{ claimed: true } | { claimed: false; existing: PaymentIdClaim }>;
  getPaymentId(paymentId: string): Promise<PaymentIdClaim | null>;
}

interface EpochLedger {
  /**
   * Inserts or updates (splitter, epoch). Once an epoch has left "built", its roots and
   * cumulativeAllocated are what the chain holds: changing them throws LedgerError("epoch_conflict").
   */
  putEpoch(e: EpochRecord): Promise<void>;
  getEpoch(splitter: string, epoch: number): Promise<EpochRecord | null>;
  /** Full rows, documents included: prefer listEpochSummaries for lists. */
  listEpochs(splitter?: string): Promise<EpochRecord[]>;
  /** Epochs without their documents (indexed columns only), ordered by splitter then epoch. */
  listEpochSummaries(splitter?: string): Promise<EpochSummary[]>;
  /** At most `limit` epochs just before `before` (default: the last ones) in (splitter, epoch) order, newest last. */
  pageEpochSummaries(page: { splitter?: string; limit: number; before?: EpochCursor }): Promise<EpochSummary[]>;
  /** How many epochs there are (of one splitter, or in all). */
  countEpochs(splitter?: string): Promise<number>;
  getEpochSummary(splitter: string, epoch: number): Promise<EpochSummary | null>;
  /** A splitter's newest epoch that passes `filter` (default "any"), or null. */
  latestEpochSummary(splitter: string, filter?: LatestEpochFilter): Promise<EpochSummary | null>;
  /** The claim leaves of one epoch (every account it allocates to, cumulatively). */
  listEpochClaims(splitter: string, epoch: number): Promise<EpochClaim[]>;
  /** One account's claim leaf in one epoch, or null. */
  getEpochClaim(splitter: string, epoch: number, account: string): Promise<EpochClaim | null>;
}

interface ContributionLedger {
  /** Appends to the datanet with the next seq (0, 1, 2, … per datanet, no gaps, safe across instances). */
  addContribution(c: Omit<ContributionRecord, "seq" | "createdAt">): Promise<ContributionRecord>;
  /** In registration order (seq ascending). */
  /** In registration order; from seq `fromSeq` on when given. */
  listContributions(datanetId: string, fromSeq?: number): Promise<ContributionRecord[]>;
}

/** Totals kept incrementally in the same transactions as the rows they count (correct across instances). */
interface TotalsLedger {
  modelTotals(): Promise<ModelTotals[]>;
  /** Contributors credited by settled outputs, most outputs first (no limit: all). */
  contributorTotals(limit?: number): Promise<ContributorTotals[]>;
  /** The newest settled payments, newest first (at most 1000). */
  recentSettled(limit: number): Promise<SettledRow[]>;
  /**
   * Payments settled with `after` < updatedAt <= `until`, counted per `bucketMs` bucket (its start, in ms)
   * and amount: a few rows a bucket, however many payments it holds.
   */
  settledBuckets(after: number, until: number, bucketMs: number): Promise<SettledBucket[]>;
}

/**
 * Instances sharing the ledger keep a heartbeat row; the reservations of an instance whose
 * heartbeat stopped (a crashed process) are given back, never those of a live one.
 */
export interface InstanceLedger {
  /** This ledger object's instance id (random per process start), stored with each reservation it makes. */
  readonly instanceId: string;
  heartbeat(): Promise<void>;
  /** Releases reservations of instances whose last heartbeat is older than `staleMs`; returns how many. */
  releaseDeadReservations(staleMs: number): Promise<number>;
}

/** A splitter's settlement scan: the last block read and the amounts found of outputs (links) not yet in an epoch. */
export interface SettlementScan {
  scannedBlock: number;
  /** PaymentSettled amounts by lower-case output id. */
  settled: Map<string, bigint>;
  /** ChannelOutputsPaid amounts by lower-case link transaction hash. */
  links: Map<string, bigint>;
}

/** Kept in the ledger so a restart (or another instance) continues the scan instead of rereading from startBlock. */
interface SettlementScanLedger {
  getSettlementScan(splitter: string): Promise<SettlementScan | null>;
  /** Stores the scan unless the ledger holds one that reached a later block. */
  putSettlementScan(splitter: string, scan: SettlementScan): Promise<void>;
}

/** A payment channel as every instance sees it (amounts in token units, ids lower-case). */
export interface ChannelState {
  channelId: string;
  config: ChannelConfig;
  /** Deposits minus refunds and withdrawals (the escrow's `balance`). */
  balance: bigint;
  /** Claimed on-chain by our sweeps. */
  totalClaimed: bigint;
  refundNonce: bigint;
  withdrawRequestedAt: number;
  /** What the instances charged so far (the spec's chargedCumulativeAmount): the latest voucher's total. */
  charged: bigint;
  /** The latest voucher's ceiling and signature (null before the first voucher). */
  signedMax: bigint;
  signature: string | null;
  /** Why the escrow refused to claim the channel (the payer withdrew first): never claimed again. */
  stuck: string | null;
}

/** One accepted voucher: the output it paid for and the channel's charged total after it. */
export interface ChannelVoucher {
  channelId: string;
  charged: bigint;
  /** The channel's receiver (the splitter its money goes to). */
  receiver: string;
  outputId: string;
  amount: bigint;
  attributionRoot: string;
}

/** A voucher to store if the channel's charged total is still `from` (no other instance took one meanwhile). */
export interface AcceptedVoucher {
  channelId: string;
  receiver: string;
  from: bigint;
  charged: bigint;
  signedMax: bigint;
  signature: string;
  balance: bigint;
  output: { outputId: string; amount: bigint; attributionRoot: string };
  /**
   * The payment this voucher pays for, when the journal is also the payment store: it moves from reserved or
   * settling to pending (with the output) in the voucher's transaction. One held but past those refuses the
   * voucher (payment_not_reserved) and changes nothing; one not held (a payment of a host using this
   * facilitator through its API) leaves the voucher to be stored alone.
   */
  payment?: PaymentKey;
}

/** A claimable channel with its unclaimed vouchers, read in one snapshot (the channel's charged is the last one's). */
export interface ClaimableChannel {
  channel: ChannelState;
  vouchers: ChannelVoucher[];
}

/** ChannelOutputsPaid for these outputs on `receiver`: decided (txHash null), then sent, then recorded by the host. */
export interface ChannelLinkRow {
  root: string;
  receiver: string;
  amount: bigint;
  txHash: string | null;
  outputs: ChannelVoucher[];
}

/**
 * Channels shared by the instances: the check of each voucher against the shared charged total (a
 * conditional update, so the same cumulative amount is accepted once), what is claimed and linked, and
 * the sweep lease (one instance claims at a time; a dead holder's lease passes on with its heartbeat).
 */
export interface ChannelLedger {
  getChannel(channelId: string): Promise<ChannelState | null>;
  /** Stores a channel first seen on-chain, unless another instance stored it first; returns what the ledger holds. */
  openChannel(state: ChannelState): Promise<ChannelState>;
  /** Durable when it resolves true; false: the channel's charged total is no longer `from`. */
  acceptVoucher(v: AcceptedVoucher): Promise<boolean>;
  /** The escrow-side fields read from the chain (or after our deposit or refund). */
  updateChannelFunds(channelId: string, funds: Pick<ChannelState, "balance" | "refundNonce" | "withdrawRequestedAt">): Promise<void>;
  /** Channels (not stuck) with unclaimed vouchers. */
  claimableChannels(): Promise<ClaimableChannel[]>;
  /** The claim transaction of these vouchers; the channels' totalClaimed. */
  markChannelsClaimed(claims: Array<{ channelId: string; totalClaimed: bigint; outputIds: string[] }>, txHash: string): Promise<void>;
  /** Sets the channel aside; returns its unclaimed vouchers (their payments fail). */
  markChannelStuck(channelId: string, reason: string): Promise<ChannelVoucher[]>;
  /** Claimed vouchers not yet in a link. */
  unlinkedVouchers(): Promise<ChannelVoucher[]>;
  /** Decides a link (before its transaction is sent), so a restart looks for exactly this root. */
  openChannelLink(link: { root: string; receiver: string; amount: bigint; outputIds: string[] }): Promise<void>;
  /** Links not yet recorded by the host, with their outputs. */
  openChannelLinks(): Promise<ChannelLinkRow[]>;
  setChannelLinkTransaction(root: string, txHash: string): Promise<void>;
  markChannelLinkRecorded(root: string): Promise<void>;
  /** Takes the sweep lease (free, ours, or its holder's heartbeat older than `staleMs`); false: another instance sweeps. */
  takeChannelSweep(staleMs: number): Promise<boolean>;
  releaseChannelSweep(): Promise<void>;
  /** When the oldest pending channel work arrived (ms; 0 if claimed outputs wait for a link), null if none. */
  oldestChannelWork(): Promise<number | null>;
}

export interface Ledger
  extends PaymentLedger,
    OutputLedger,
    HeldOutputLedger,
    PaymentIdLedger,
    EpochLedger,
    ContributionLedger,
    TotalsLedger,
    SettlementScanLedger,
    ChannelLedger,
    InstanceLedger {
  /** Creates or upgrades the schema (idempotent; safe with several instances starting at once). */
  migrate(): Promise<void>;
  close(): Promise<void>;
}
