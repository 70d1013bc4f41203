// The validated server configuration. Everything here may be shown to an operator (it is what
// the file says, with defaults filled in); secrets live apart, in `Secrets`, and only ever come
// from the environment (or, for an in-process chain, from the caller).

export const IN_PROCESS = "in-process";

export interface ServerSection {
  host: string;
  port: number;
  /** Base URL clients reach this server at (record URLs, epoch URIs); null: from the request / listen address. */
  publicUrl: string | null;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  bodyLimitBytes: number;
  trustProxy: boolean;
  /** Unpaid requests (402 challenges) per client IP and window on paid routes; null: unlimited. */
  challengeRateLimit: { max: number; windowSeconds: number } | null;
}

export interface ChainSection {
  /** JSON-RPC endpoint, or "in-process" (a Hardhat chain inside this process, for development). */
  rpcUrl: string;
  chainId: number;
  /** EIP-3009 payment token (USDC); null only for "in-process", where it is deployed at start. */
  token: string | null;
  /** SplitterFactory; null only for "in-process". */
  factory: string | null;
  /** Default guardian of new splitters (may veto pending epochs); null: the model owner. */
  guardian: string | null;
  /** Default protocol fee recipient of new splitters. */
  protocolRecipient: string | null;
  /** First block to scan for splitter events (deployment block on public chains). */
  startBlock: number;
}

export type FacilitatorSection =
  | {
      mode: "embedded";
      /** Serve the standard facilitator API at /facilitator/{verify,settle,supported}. */
      expose: boolean;
      maxBatchSize: number;
      maxWaitMs: number;
      confirmTimeoutMs: number;
      /** Offer x402 batch-settlement channels where the chain has the scheme's escrow. */
      channels: boolean;
      /** When the channels' vouchers are claimed: whichever limit is reached first. */
      channelClaims: ChannelClaims;
    }
  | {
      mode: "url";
      url: string;
      /** The external facilitator's settling address (registered as facilitator on new splitters). */
      address: string;
    };

export interface ChannelClaims {
  /** Claim once the oldest unclaimed voucher is this old (below the channels' 900 s withdrawal delay). */
  maxAgeSeconds: number;
  /** Claim once this instance holds this many unclaimed vouchers. */
  maxCount: number;
  /** Claim once this instance's unclaimed vouchers charged this much (atomic token units). */
  maxAmount: bigint;
}

interface DatabaseSection {
  /** SQLite file (used unless DATABASE_URL is set in the environment). */
  sqlitePath: string;
  /** Days a settled (or failed) payment's held output is kept for re-delivery before it is deleted. */
  heldOutputRetentionDays: number;
  /** SQLite in a worker thread of its own (true), or on the event loop (default). */
  sqliteThread: boolean;
}

export interface EpochsSection {
  enabled: boolean;
  /** Close an epoch when this many seconds passed since the last one (and something is unassigned). */
  intervalSeconds: number | null;
  /** Close an epoch as soon as a model has this many settled outputs not yet in an epoch. */
  paymentCount: number | null;
  /** How often the scheduler looks (seconds). */
  checkIntervalSeconds: number;
  /** Put output and prompt texts into published epoch documents (lets anyone recompute the records). */
  publishTexts: boolean;
}

interface DatanetSeed {
  corpus: "brown";
  /** Number of Brown documents (from `offset`), one contribution each. */
  documents: number;
  /** Distinct contributor addresses the documents are dealt to (round robin). */
  contributors: number;
  offset: number;
}

export interface DatanetConfig {
  id: string;
  description: string;
  /** Imported into an empty datanet at start. */
  seed: DatanetSeed | null;
  /** JSON array (or JSON lines) of {contributor, text}, imported into an empty datanet at start. */
  contributionsFile: string | null;
  minCopyTokens: number;
  /** Paid data access (search, documents); null: the datanet sells no access (it earns through models only). */
  access: DatanetAccessConfig | null;
}

/** What a datanet sells directly, and the terms of its own splitter (the payTo of its access routes). */
export interface DatanetAccessConfig {
  /** Atomic token units per search query; null: search is not sold. */
  pricePerSearch: bigint | null;
  /** Atomic token units per document (a contribution's full text); only charged when sellDocuments. */
  pricePerDocument: bigint | null;
  /** Whether full documents are sold at all (default false: only search passages). */
  sellDocuments: boolean;
  /** Most passages one search returns. */
  maxResults: number;
  owner: string;
  ownerBps: number;
  protocolBps: number;
  challengePeriod: number;
  guardian: string | null;
  protocolRecipient: string | null;
  /** CREATE2 salt; null: keccak256("royalty402:datanet:" + id). */
  salt: string | null;
  createSplitter: boolean;
}

export interface UpstreamConfig {
  /** Base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:11434/v1 (…/chat/completions is appended). */
  url: string;
  model: string;
  /** Name of the environment variable holding the upstream API key (the key itself never goes in the file). */
  apiKeyEnv: string | null;
  timeoutMs: number;
}

/** A model's price in atomic token units: perRequest + perPromptToken × prompt + perOutputToken × output, clamped to [min, max]. */
export interface ModelPrice {
  perRequest: bigint;
  perPromptToken: bigint;
  perOutputToken: bigint;
  /** The least a request costs (null: no floor). */
  min: bigint | null;
  /** The most a request costs (null: no ceiling). */
  max: bigint | null;
}

export interface ModelConfig {
  id: string;
  backend: "infinigram" | "proxy" | "rag";
  description: string;
  datanet: string;
  /** What a request costs (server/models/pricing.ts). */
  price: ModelPrice;
  defaultMaxTokens: number;
  maxTokensLimit: number;
  ownerBps: number;
  protocolBps: number;
  owner: string;
  challengePeriod: number;
  guardian: string | null;
  protocolRecipient: string | null;
  /** A splitter created elsewhere (e.g. by Ignition); null: the factory's splitter for this model. */
  splitter: string | null;
  /** CREATE2 salt; null: keccak256("royalty402:model:" + id). */
  salt: string | null;
  /** Create the splitter through the factory at start if it does not exist yet (else only predicted). */
  createSplitter: boolean;
  upstream: UpstreamConfig | null;
  /** ∞-gram: longest context suffix considered. */
  maxSuffixTokens: number;
  /** rag: passages retrieved for the prompt and sent to the upstream as context. */
  ragPassages: number;
}

export interface ServerConfig {
  server: ServerSection;
  chain: ChainSection;
  facilitator: FacilitatorSection;
  database: DatabaseSection;
  dataDir: string;
  epochs: EpochsSection;
  datanets: DatanetConfig[];
  models: ModelConfig[];
}

/** Secrets: from the environment only, never from the file, never logged, never served. */
export interface Secrets {
  relayerKey: string | null;
  oracleKey: string | null;
  adminToken: string | null;
  databaseUrl: string | null;
}
