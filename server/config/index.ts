// Server configuration: a JSON file plus environment variables, validated at start.
export { ConfigError, isConfigError } from "./errors.ts";
export { loadConfig, type LoadedConfig } from "./load.ts";
export { validateConfig, modelConfig, secretsFromEnv, type ValidateOptions } from "./validate.ts";
export {
  IN_PROCESS,
  type ServerConfig,
  type Secrets,
  type ModelConfig,
  type DatanetConfig,
  type ChainSection,
  type EpochsSection,
  type FacilitatorSection,
  type ServerSection,
  type UpstreamConfig,
  type DatanetSeed,
} from "./types.ts";
