// Server configuration: a JSON file plus environment variables, validated at start.
export { ConfigError } from "./errors.ts";
export { loadConfig } from "./load.ts";
export { validateConfig, modelConfig, secretsFromEnv } from "./validate.ts";
export {
  IN_PROCESS,
  type ServerConfig,
  type Secrets,
  type ModelConfig,
  type ModelPrice,
  type DatanetAccessConfig,
  type DatanetConfig,
  type EpochsSection,
  type UpstreamConfig,
} from "./types.ts";
