// The SQLite ledger's checkpoints, in a worker thread: copying the WAL's committed pages into
// the database file (and fsyncing both) takes tens of milliseconds, which SQLite's automatic
// checkpoint would spend inside a commit on the event loop. A PASSIVE checkpoint never blocks
// the writer; once it has copied every frame, the writer's next transaction starts the WAL over.
// Plain JavaScript, so the thread needs no TypeScript loader.
import { parentPort, workerData } from "node:worker_threads";

// Like the command line's main thread: node:sqlite's ExperimentalWarning is not news (loaded after this).
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if (w.name === "ExperimentalWarning" && /SQLite/i.test(w.message)) return;
  process.stderr.write(`${w.name}: ${w.message}\n`);
});
const { DatabaseSync } = await import("node:sqlite");

const { path, intervalMs, busyTimeoutMs } = workerData;
const db = new DatabaseSync(path);
db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
let last = { log: 0, checkpointed: 0 };
let checkpoints = 0;

function run() {
  try {
    const { log, checkpointed } = checkpoint.get();
    // (log, checkpointed) count the current WAL's frames: pages were copied if either moved.
    if (checkpointed > 0 && (log !== last.log || checkpointed !== last.checkpointed)) {
      checkpoints++;
      parentPort.postMessage({ checkpoints });
    }
    last = { log, checkpointed };
  } catch (error) {
    parentPort.postMessage({ error: String(error?.message ?? error) });
  }
}

const timer = setInterval(run, intervalMs);
parentPort.on("message", (message) => {
  if (message !== "stop") return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
