// The epoch worker thread: answers { id, request } messages with { id, result } or { id, error }.
import { parentPort } from "node:worker_threads";
import { lowerThreadPriority } from "../util/thread-priority.ts";
import { resultTransfer, runTask, type WorkerRequest } from "./worker-tasks.ts";

lowerThreadPriority(); // the event loop's thread first: requests are not kept waiting by an epoch build

parentPort?.on("message", ({ id, request }: { id: number; request: WorkerRequest }) => {
  try {
    const result = runTask(request);
    parentPort?.postMessage({ id, result }, resultTransfer(result));
  } catch (e) {
    parentPort?.postMessage({ id, error: { message: (e as Error).message, name: (e as Error).name, code: (e as { code?: string }).code } });
  }
});
