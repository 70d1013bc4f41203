// Runs the SQLite ledger's checkpoints in a worker thread (checkpoint-worker.mjs) instead of
// inside commits on the event loop. The ledger's own connection gets wal_autocheckpoint 0 while
// the worker runs; if the worker fails, SQLite's automatic checkpoint is turned back on, so the
// WAL never grows without bound.
import { Worker } from "node:worker_threads";
import type { DatabaseSync } from "node:sqlite";

/** SQLite's default: a checkpoint once the WAL holds this many pages. */
const AUTOCHECKPOINT_PAGES = 1000;

export class Checkpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private stopping = false;
  /** Checkpoints that copied pages (for tests and metrics). */
  checkpoints = 0;

  constructor(
    private readonly db: DatabaseSync,
    path: string,
    options: { intervalMs?: number; busyTimeoutMs: number },
  ) {
    db.exec("PRAGMA wal_autocheckpoint = 0");
    this.worker = new Worker(new URL("./checkpoint-worker.mjs", import.meta.url), {
      workerData: { path, intervalMs: options.intervalMs ?? 200, busyTimeoutMs: options.busyTimeoutMs },
    });
    this.worker.unref();
    this.worker.on("message", (m: { checkpoints?: number; error?: string }) => {
      if (m.checkpoints !== undefined) this.checkpoints = m.checkpoints;
      if (m.error !== undefined) this.fallBack();
    });
    this.worker.on("error", () => this.fallBack());
    this.exited = new Promise((resolve) =>
      this.worker.once("exit", () => {
        if (!this.stopping) this.fallBack();
        resolve();
      }),
    );
  }

  /** The worker cannot checkpoint: SQLite does it in commits again. */
  private fallBack(): void {
    if (this.db.isOpen) this.db.exec(`PRAGMA wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  }

  /** Stops the worker (it closes its connection), before the ledger closes its own. */
  async close(): Promise<void> {
    this.stopping = true;
    this.worker.ref(); // awaited: the process must wait for its exit
    this.worker.postMessage("stop");
    await this.exited;
  }
}
