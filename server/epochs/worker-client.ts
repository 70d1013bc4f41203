// One worker thread for epoch work (worker-tasks.ts), started on first use and restarted if it
// dies. It is unref'd while idle, so it never keeps a process alive; a pending task keeps it ref'd.
import { Worker } from "node:worker_threads";
import { AttributionError, type AttributionErrorCode } from "../attribution/errors.ts";
import type { WorkerRequest, WorkerResult } from "./worker-tasks.ts";

type Pending = { resolve(value: unknown): void; reject(error: Error): void };
type WorkerError = { message: string; name: string; code?: string };

export class EpochWorker {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  /** Runs a task in the worker; `transfer`: buffers of the request moved to the worker (unusable here afterwards), not copied. */
  run<R extends WorkerRequest>(request: R, transfer: ArrayBuffer[] = []): Promise<WorkerResult<R>> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (this.pending.size === 1) worker.ref();
      worker.postMessage({ id, request }, transfer);
    });
  }

  async close(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.fail(worker, new Error("the epoch worker was closed"));
    await worker.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL("./build-worker.mjs", import.meta.url));
    worker.unref();
    worker.on("message", (m: { id: number; result?: unknown; error?: WorkerError }) => this.settle(m));
    worker.on("error", (e) => this.fail(worker, e));
    worker.on("exit", (code) => this.fail(worker, new Error(`the epoch worker exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private settle({ id, result, error }: { id: number; result?: unknown; error?: WorkerError }): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker?.unref();
    if (error) p.reject(asError(error));
    else p.resolve(result);
  }

  /** The worker died: every task it held fails (callers retry), and the next task starts a new one. */
  private fail(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    for (const p of this.pending.values()) p.reject(error);
    this.pending.clear();
  }
}

/** The worker's error as the caller would have seen it in-thread (attribution errors keep their reason code). */
function asError(e: WorkerError): Error {
  if (e.name === "AttributionError" && e.code) return new AttributionError(e.code as AttributionErrorCode, e.message);
  return Object.assign(new Error(e.message), { name: e.name });
}
