// Runs a list of tasks on worker threads (attribution-worker.ts), one per core: each worker takes
// the next task when it is done, results are placed by task index, so the outcome does not depend
// on which thread ran what. The pool lives for one call; a worker error or exit fails the call.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { WorkerTask } from "./attribution-worker.ts";

export function defaultThreads(): number {
  return Math.min(availableParallelism(), 8);
}

/** Contiguous [start, end) ranges of about `size` each, measured by `sizeOf`. */
export function chunkRanges(count: number, sizeOf: (i: number) => number, size: number): Array<[number, number]> {
  const chunks: Array<[number, number]> = [];
  let start = 0;
  let acc = 0;
  for (let i = 0; i < count; i++) {
    acc += sizeOf(i);
    if (acc >= size || i === count - 1) {
      chunks.push([start, i + 1]);
      start = i + 1;
      acc = 0;
    }
  }
  return chunks;
}

/**
 * The results of `tasks` by task index; `inOrder`, if given, sees each result as soon as it and all
 * before it are in (work on early results overlaps the later tasks).
 */
export function runInWorkers<R>(tasks: readonly WorkerTask[], threads: number, inOrder?: (result: R) => void): Promise<R[]> {
  return new Promise((resolve, reject) => {
    const results: R[] = new Array(tasks.length);
    const arrived = new Uint8Array(tasks.length);
    const workers: Worker[] = [];
    let next = 0;
    let done = 0;
    let seen = 0;
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      for (const w of workers) void w.terminate();
      if (error) reject(error);
      else resolve(results);
    };
    const feed = (w: Worker) => {
      if (next >= tasks.length) return;
      const id = next++;
      w.postMessage({ id, task: tasks[id] });
    };
    for (let i = 0; i < Math.min(threads, tasks.length); i++) {
      const w = new Worker(new URL("./attribution-worker.mjs", import.meta.url));
      workers.push(w);
      w.on("message", ({ id, result }: { id: number; result: R }) => {
        results[id] = result;
        arrived[id] = 1;
        try {
          while (inOrder && seen < tasks.length && arrived[seen] === 1) inOrder(results[seen++]);
        } catch (e) {
          settle(e as Error);
          return;
        }
        if (++done === tasks.length) settle();
        else feed(w);
      });
      w.on("error", (e) => settle(e));
      w.on("exit", (code) => settle(new Error(`an attribution worker exited early (code ${code})`)));
      feed(w);
    }
    if (tasks.length === 0) settle();
  });
}
