// Entry of an attribution worker thread (tokenizing, word keys). Loader hooks are per thread:
// the sources are TypeScript, so the worker registers tsx itself (as server/epochs/build-worker.mjs does).
import { register } from "tsx/esm/api";

register();
await import("./attribution-worker.ts");
