// The SQLite ledger in a thread of its own. node:sqlite is synchronous: on the event loop its
// statements and commits cost a channel-paid request ~0.6 ms of the loop's time, and a commit's
// write() stalls the loop whenever the kernel throttles dirty pages. Here a worker thread runs
// SqliteLedger unchanged (the same group commits and WAL fsyncs, so a write still resolves only
// once it is on disk) and the event loop only posts calls and reads the answers.
import { Worker } from "node:worker_threads";
import { LedgerError, type LedgerErrorCode } from "./errors.ts";
import { Maintenance, type MaintenanceOptions } from "./maintenance.ts";
import type { SqliteLedgerOptions } from "./sqlite.ts";
import type { Ledger } from "./types.ts";

type AsyncMethod = { [K in keyof Ledger]: Ledger[K] extends (...args: never[]) => Promise<unknown> ? K : never }[keyof Ledger];

/** The Ledger methods the thread answers (close and maintenance are the main thread's). */
const FORWARDED = [
  "reserve",
  "transition",
  "getPayment",
  "journalBroadcast",
  "listPayments",
  "putOutput",
  "getOutput",
  "getOutputRecords",
  "getOutputPaymentKeys",
  "listUnassignedSettledOutputs",
  "listEpochCandidates",
  "outputEpochs",
  "listOutputsPaidIn",
  "assignOutputsToEpoch",
  "putOutputText",
  "getOutputTexts",
  "listEpochOutputs",
  "holdOutput",
  "holdAndTransition",
  "getHeldOutput",
  "pruneHeldOutputs",
  "claimPaymentId",
  "getPaymentId",
  "putEpoch",
  "getEpoch",
  "listEpochs",
  "listEpochSummaries",
  "pageEpochSummaries",
  "countEpochs",
  "getEpochSummary",
  "latestEpochSummary",
  "listEpochClaims",
  "getEpochClaim",
  "addContribution",
  "listContributions",
  "modelTotals",
  "contributorTotals",
  "recentSettled",
  "settledBuckets",
  "getSettlementScan",
  "putSettlementScan",
  "getChannel",
  "openChannel",
  "acceptVoucher",
  "updateChannelFunds",
  "claimableChannels",
  "markChannelsClaimed",
  "markChannelStuck",
  "unlinkedVouchers",
  "openChannelLink",
  "openChannelLinks",
  "setChannelLinkTransaction",
  "markChannelLinkRecorded",
  "takeChannelSweep",
  "releaseChannelSweep",
  "oldestChannelWork",
  "heartbeat",
  "releaseDeadReservations",
  "migrate",
] as const satisfies readonly AsyncMethod[];
// A Ledger method added later without a line above leaves openSqliteThread's object short of Ledger: it fails to compile.
type Forwarded = (typeof FORWARDED)[number];

export type LedgerCall = { id: number; method: string; args: unknown[] };
export type RemoteError = { name: string; message: string; stack?: string; code?: string };
export type LedgerReply = { id: number; value: unknown } | { id: number; error: RemoteError };

/**
 * Collects items during one turn of the event loop and sends them together at its end. Calls and replies
 * cross this way: a message's fixed cost (its event, the other thread's wake-up) is paid once a turn, and
 * the thread's group commit takes every write of the turn together, as it did on the event loop.
 */
export class Batcher<T> {
  private items: T[] = [];

  constructor(private readonly send: (items: T[]) => void) {}

  add(item: T): void {
    if (this.items.length === 0) setImmediate(() => this.send(this.items.splice(0)));
    this.items.push(item);
  }
}

/** The ledger's errors keep their class and code across the thread boundary (callers test isLedgerError). */
function localError(remote: RemoteError): Error {
  const error = remote.name === "LedgerError" ? new LedgerError(remote.code as LedgerErrorCode, "") : new Error();
  error.message = remote.message;
  error.name = remote.name;
  if (remote.stack) error.stack = remote.stack;
  if (remote.code !== undefined) Object.assign(error, { code: remote.code });
  return error;
}

class LedgerThread {
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private stopped: Error | null = null;

  private readonly outbox: Batcher<LedgerCall>;

  private constructor(private readonly worker: Worker) {
    this.outbox = new Batcher((calls) => worker.postMessage(calls));
    worker.on("message", (replies: LedgerReply[]) => this.answer(replies));
    worker.on("error", (e) => this.stop(new LedgerError("ledger_closed", `the ledger thread failed: ${e.message}`)));
    worker.on("exit", (code) => this.stop(new LedgerError("ledger_closed", `the ledger thread exited (code ${code})`)));
    worker.unref(); // referenced only while a call waits (call/answer)
  }

  /** Starts the thread and waits for its ledger to open; returns the thread with the ledger's instance id. */
  static start(options: SqliteLedgerOptions): Promise<{ thread: LedgerThread; instanceId: string }> {
    const worker = new Worker(new URL("./thread-worker.mjs", import.meta.url), { workerData: options });
    return new Promise((resolve, reject) => {
      worker.once("message", (first: { ready?: string; failed?: RemoteError }) => {
        if (first.ready) resolve({ thread: new LedgerThread(worker), instanceId: first.ready });
        else reject(localError(first.failed ?? { name: "Error", message: "the ledger thread did not start" }));
      });
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`the ledger thread exited (code ${code}) before its ledger opened`)));
    });
  }

  call(method: string, ...args: unknown[]): Promise<unknown> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = this.nextId++;
    if (this.pending.size === 0) this.worker.ref();
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.outbox.add({ id, method, args });
    });
  }

  private answer(replies: LedgerReply[]): void {
    for (const reply of replies) {
      const waiting = this.pending.get(reply.id);
      if (!waiting) continue;
      this.pending.delete(reply.id);
      if ("error" in reply) waiting.reject(localError(reply.error));
      else waiting.resolve(reply.value);
    }
    if (this.pending.size === 0) this.worker.unref();
  }

  private stop(reason: Error): void {
    this.stopped ??= reason;
    for (const waiting of this.pending.values()) waiting.reject(this.stopped);
    this.pending.clear();
  }

  /** Closes the ledger (writes already issued are kept) and ends the thread. */
  async close(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.call("close");
    } finally {
      this.stop(new LedgerError("ledger_closed", "the SQLite ledger is closed"));
      await this.worker.terminate();
    }
  }
}

export type SqliteLedgerThread = Ledger & {
  readonly backend: "sqlite";
  startMaintenance(options?: MaintenanceOptions): Maintenance;
  /** The longest WAL fsync (ms) since the previous call (null: the ledger does not fsync itself). */
  takeSlowestFsyncMs(): Promise<number | null>;
  /** Commits of payment writes so far (a group counts once). */
  commits(): Promise<number>;
};

/** Opens an SQLite ledger in a worker thread (options as SqliteLedger's, without functions: they cannot cross threads). */
export async function openSqliteThread(options: Omit<SqliteLedgerOptions, "now" | "fsync" | "migrations">): Promise<SqliteLedgerThread> {
  const { thread, instanceId } = await LedgerThread.start(options);
  const forward = (method: string) => thread.call.bind(thread, method);
  let maintenance: Maintenance | null = null;
  const ledger: SqliteLedgerThread = {
    ...(Object.fromEntries(FORWARDED.map((m) => [m, forward(m)])) as Pick<Ledger, Forwarded>),
    backend: "sqlite",
    instanceId,
    startMaintenance(maintenanceOptions = {}) {
      maintenance ??= new Maintenance(ledger, maintenanceOptions);
      return maintenance;
    },
    async close() {
      await maintenance?.stop();
      maintenance = null;
      await thread.close();
    },
    takeSlowestFsyncMs: forward("takeSlowestFsyncMs") as () => Promise<number | null>,
    commits: forward("commits") as () => Promise<number>,
  };
  return ledger;
}
