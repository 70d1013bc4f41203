// Model backends (built-in ∞-gram, OpenAI-compatible proxy) and the registry of served models
// with their splitters.
export { generate, sampleNext } from "./infinigram.ts";
export { ProxyBackend } from "./proxy.ts";
export { Prng } from "./prng.ts";
export { ModelRegistry, accessPayeeId, type Payee, type ServedModel } from "./registry.ts";
export {
  BackendError,
  type CompletionRequest,
  type CompletionResult,
  type ChatMessage,
} from "./types.ts";
