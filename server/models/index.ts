// Model backends (built-in ∞-gram, OpenAI-compatible proxy) and the registry of served models
// with their splitters.
export { InfiniGramBackend, generate, sampleNext, type InfiniGramOptions } from "./infinigram.ts";
export { ProxyBackend } from "./proxy.ts";
export { Prng } from "./prng.ts";
export { ModelRegistry, type ServedModel, type RegistryDeps } from "./registry.ts";
export {
  modelSalt,
  predictSplitter,
  createSplitter,
  readSplitterConfig,
  splitterViews,
  factoryContract,
  type SplitterConfig,
} from "./splitters.ts";
export {
  BackendError,
  type ModelBackend,
  type CompletionRequest,
  type CompletionResult,
  type ChatMessage,
  type BackendContext,
} from "./types.ts";
