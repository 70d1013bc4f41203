// The SQLite ledger's thread: one SqliteLedger, unchanged, answering the calls thread.ts posts.
// A call is answered when the ledger's promise settles, so a write is answered once it is on disk.
import { parentPort, workerData } from "node:worker_threads";
import type { SqliteLedger, SqliteLedgerOptions } from "./sqlite.ts";
import { Batcher, type LedgerCall, type LedgerReply, type RemoteError } from "./thread.ts";

// Like the command line's main thread: node:sqlite's ExperimentalWarning is not news.
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if (w.name === "ExperimentalWarning" && /SQLite/i.test(w.message)) return;
  process.stderr.write(`${w.name}: ${w.message}\n`);
});
const { SqliteLedger: Ledger } = await import("./sqlite.ts");

const port = parentPort;
if (!port) throw new Error("thread-worker.ts runs only as a worker thread (thread.ts starts it)");

function remoteError(e: unknown): RemoteError {
  const error = e instanceof Error ? e : new Error(String(e));
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: error.message, stack: error.stack, code: typeof code === "string" ? code : undefined };
}

let ledger: SqliteLedger;
try {
  ledger = new Ledger(workerData as SqliteLedgerOptions);
  port.postMessage({ ready: ledger.instanceId });
} catch (e) {
  port.postMessage({ failed: remoteError(e) });
  process.exit(1);
}

// Extra calls beside the Ledger interface: what the server's metrics read.
const extras = {
  takeSlowestFsyncMs: () => ledger.takeSlowestFsyncMs(),
  commits: () => ledger.stats.commits,
};

const replies = new Batcher<LedgerReply>((batch) => port.postMessage(batch));

async function answer({ id, method, args }: LedgerCall): Promise<void> {
  try {
    const fn = method in extras ? extras[method as keyof typeof extras] : (ledger as unknown as Record<string, unknown>)[method];
    if (typeof fn !== "function") throw new Error(`the ledger has no method ${method}`);
    replies.add({ id, value: await fn.apply(ledger, args) });
  } catch (e) {
    replies.add({ id, error: remoteError(e) });
  }
}

// In order: the ledger queues each call's statements as it is made.
port.on("message", (calls: LedgerCall[]) => calls.forEach((call) => void answer(call)));
