// Entry of a merge worker thread (delta-merge.ts). Loader hooks are per thread: the sources are
// TypeScript, so the worker registers tsx itself, like the epoch worker.
import { register } from "tsx/esm/api";

register();
await import("./delta-merge-worker.ts");
