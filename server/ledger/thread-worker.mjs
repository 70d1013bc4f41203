// Entry of the SQLite ledger's thread (thread.ts). Loader hooks are per thread: the sources are
// TypeScript, so the worker registers tsx itself (as server/epochs/build-worker.mjs does).
import { register } from "tsx/esm/api";

register();
await import("./thread-worker.ts");
