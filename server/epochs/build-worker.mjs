// Entry of the epoch worker thread. Loader hooks are per thread: the sources are TypeScript, so
// the worker registers tsx itself (bin/royalty402.js does the same for the main thread).
import { register } from "tsx/esm/api";

register();
await import("./build-worker.ts");
