// Model backends (built-in ∞-gram, OpenAI-compatible proxy), the datanets they draw on, and
// the registry of served models with their splitters.
export { InfiniGramBackend, generate, sampleNext, type InfiniGramOptions } from "./infinigram.ts";
export { ProxyBackend } from "./proxy.ts";
export { Prng } from "./prng.ts";
export { DatanetService, DatanetError, seedContributor, type IndexInfo } from "./datanets.ts";
export { ModelRegistry, type ServedModel, type RegistryDeps } from "./registry.ts";
export { modelSalt, predictSplitter, createSplitter, readSplitterConfig, splitterViews, factoryContract, type SplitterConfig } from "./splitters.ts";
export { BackendError, type ModelBackend, type CompletionRequest, type CompletionResult, type ChatMessage, type BackendContext } from "./types.ts";
