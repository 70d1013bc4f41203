// Validates a configuration object (parsed from the JSON file) together with the environment,
// fills in defaults and returns the typed config plus the secrets. The first problem found is
// thrown as a ConfigError naming the field; nothing is half-applied.
//
// Environment (overrides the file where both exist):
//   ROYALTY402_RELAYER_KEY   relayer private key (embedded facilitator; pays settlement gas)   env only
//   ROYALTY402_ORACLE_KEY    oracle private key (posts epochs, creates splitters)              env only
//   ROYALTY402_ADMIN_TOKEN   bearer token for /admin/*
//   DATABASE_URL             postgres:// URL: PostgreSQL instead of the SQLite file              env only
//   LEDGER_SQLITE_PATH       database.sqlitePath
//   ROYALTY402_RPC_URL       chain.rpcUrl (an RPC URL may embed an API key)
//   HOST, PORT, PUBLIC_URL   server.host, server.port, server.publicUrl
//   ROYALTY402_LOG_LEVEL     server.logLevel
import { join as joinPath } from "node:path";
import {
  ID_PATTERN,
  ID_WHAT,
  address,
  amount,
  array,
  boolean,
  bytes32,
  fail,
  integer,
  object,
  oneOf,
  optionalAddress,
  optionalString,
  privateKey,
  string,
  url,
} from "./fields.ts";
import {
  IN_PROCESS,
  type ChainSection,
  type ChannelClaims,
  type DatanetAccessConfig,
  type DatanetConfig,
  type EpochsSection,
  type FacilitatorSection,
  type ModelConfig,
  type ModelPrice,
  type Secrets,
  type ServerConfig,
  type ServerSection,
} from "./types.ts";

const KEYS_IN_ENV =
  "private keys are read from the environment only (ROYALTY402_RELAYER_KEY, ROYALTY402_ORACLE_KEY), never from the config file";
const SECRET_FIELDS: Record<string, string> = {
  relayerKey: KEYS_IN_ENV,
  oracleKey: KEYS_IN_ENV,
  privateKey: KEYS_IN_ENV,
  relayerPrivateKey: KEYS_IN_ENV,
  oraclePrivateKey: KEYS_IN_ENV,
  keys: KEYS_IN_ENV,
  mnemonic: KEYS_IN_ENV,
};
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const MAX_UINT32 = 4_294_967_295;

export interface ValidateOptions {
  /** Environment to read overrides and secrets from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Directory relative paths in the file are resolved against (default: the working directory). */
  baseDir?: string;
}

export function validateConfig(raw: unknown, options: ValidateOptions = {}): { config: ServerConfig; secrets: Secrets } {
  const env = options.env ?? process.env;
  const resolve = (p: string) => (options.baseDir && !p.startsWith("/") ? joinPath(options.baseDir, p) : p);
  const root = object(
    "",
    raw ?? {},
    ["$schema", "server", "chain", "facilitator", "database", "dataDir", "epochs", "admin", "datanets", "models"],
    SECRET_FIELDS,
  );

  const server = serverSection(root.server, env);
  const chain = chainSection(root.chain, env);
  const facilitator = facilitatorSection(root.facilitator);
  const dataDir = resolve(optionalString("dataDir", root.dataDir, ".data") || fail("dataDir", "must not be empty"));
  const db = object("database", root.database ?? {}, ["sqlitePath", "heldOutputRetentionDays", "sqliteThread"], {
    url: "DATABASE_URL is read from the environment only (it carries a password)",
  });
  const sqlitePath =
    env.LEDGER_SQLITE_PATH ||
    (db.sqlitePath === undefined ? joinPath(dataDir, "royalty402.sqlite") : resolve(string("database.sqlitePath", db.sqlitePath)));
  const epochs = epochsSection(root.epochs);
  const admin = object("admin", root.admin ?? {}, ["token"]);

  const datanets = array("datanets", root.datanets, []).map((d, i) => datanetConfig(`datanets[${i}]`, d, resolve, chain));
  const ids = new Set<string>();
  datanets.forEach((d, i) => {
    if (ids.has(d.id)) fail(`datanets[${i}].id`, `duplicate datanet id ${JSON.stringify(d.id)}`);
    ids.add(d.id);
  });
  const models = array("models", root.models, []).map((m, i) => modelConfig(`models[${i}]`, m, { chain, datanets: ids }));
  const modelIds = new Set<string>();
  models.forEach((m, i) => {
    if (modelIds.has(m.id)) fail(`models[${i}].id`, `duplicate model id ${JSON.stringify(m.id)}`);
    modelIds.add(m.id);
  });

  const secrets = secretsFromEnv(env, admin.token);
  return {
    config: {
      server,
      chain,
      facilitator,
      database: {
        sqlitePath,
        heldOutputRetentionDays: integer("database.heldOutputRetentionDays", db.heldOutputRetentionDays, 1, 3650, 7),
        sqliteThread: boolean("database.sqliteThread", db.sqliteThread, false),
      },
      dataDir,
      epochs,
      datanets,
      models,
    },
    secrets,
  };
}

/** The secrets, from the environment (the admin token may also come from the file). */
export function secretsFromEnv(env: NodeJS.ProcessEnv = process.env, fileAdminToken?: unknown): Secrets {
  const secrets: Secrets = {
    relayerKey: privateKey("ROYALTY402_RELAYER_KEY", env.ROYALTY402_RELAYER_KEY),
    oracleKey: privateKey("ROYALTY402_ORACLE_KEY", env.ROYALTY402_ORACLE_KEY),
    adminToken: adminToken(env.ROYALTY402_ADMIN_TOKEN, fileAdminToken),
    databaseUrl: databaseUrl(env.DATABASE_URL),
  };
  if (secrets.relayerKey && secrets.oracleKey && secrets.relayerKey.toLowerCase() === secrets.oracleKey.toLowerCase()) {
    fail(
      "env.ROYALTY402_ORACLE_KEY",
      "must differ from ROYALTY402_RELAYER_KEY (the relayer manages its own transaction nonces; a shared key would collide)",
    );
  }
  return secrets;
}

function serverSection(v: unknown, env: NodeJS.ProcessEnv): ServerSection {
  const s = object("server", v ?? {}, ["host", "port", "publicUrl", "logLevel", "bodyLimitBytes", "trustProxy", "challengeRateLimit"]);
  const publicUrl = env.PUBLIC_URL || s.publicUrl;
  return {
    host: string(env.HOST ? "env.HOST" : "server.host", env.HOST || (s.host ?? "127.0.0.1")),
    port: integer(env.PORT ? "env.PORT" : "server.port", env.PORT || s.port, 0, 65535, 8402),
    publicUrl:
      publicUrl === undefined || publicUrl === null
        ? null
        : url(env.PUBLIC_URL ? "env.PUBLIC_URL" : "server.publicUrl", publicUrl, ["http", "https"]),
    logLevel: oneOf(
      env.ROYALTY402_LOG_LEVEL ? "env.ROYALTY402_LOG_LEVEL" : "server.logLevel",
      env.ROYALTY402_LOG_LEVEL || s.logLevel,
      LOG_LEVELS,
      "info",
    ),
    bodyLimitBytes: integer("server.bodyLimitBytes", s.bodyLimitBytes, 1024, 64 * 1024 * 1024, 1024 * 1024),
    trustProxy: boolean("server.trustProxy", s.trustProxy, false),
    challengeRateLimit: challengeRateLimit(s.challengeRateLimit),
  };
}

/** `false` turns it off; default 1200 challenges per client IP per minute. */
function challengeRateLimit(v: unknown): ServerSection["challengeRateLimit"] {
  if (v === false) return null;
  const r = object("server.challengeRateLimit", v ?? {}, ["max", "windowSeconds"]);
  return {
    max: integer("server.challengeRateLimit.max", r.max, 1, 10_000_000, 1200),
    windowSeconds: integer("server.challengeRateLimit.windowSeconds", r.windowSeconds, 1, 86_400, 60),
  };
}

function chainSection(v: unknown, env: NodeJS.ProcessEnv): ChainSection {
  const c = object("chain", v, ["rpcUrl", "chainId", "token", "factory", "guardian", "protocolRecipient", "startBlock"], SECRET_FIELDS);
  const rpcField = env.ROYALTY402_RPC_URL ? "env.ROYALTY402_RPC_URL" : "chain.rpcUrl";
  const rawRpc = env.ROYALTY402_RPC_URL || c.rpcUrl;
  const rpcUrl = rawRpc === IN_PROCESS ? IN_PROCESS : url(rpcField, rawRpc, ["http", "https", "ws", "wss"]);
  const inProcess = rpcUrl === IN_PROCESS;
  const chainId = integer("chain.chainId", c.chainId ?? (inProcess ? 31337 : undefined), 1, Number.MAX_SAFE_INTEGER);
  const required = (field: "token" | "factory") =>
    c[field] === undefined || c[field] === null
      ? inProcess
        ? null
        : fail(
            `chain.${field}`,
            `is required (the ${field === "token" ? "payment token (USDC)" : "SplitterFactory"} address) unless rpcUrl is "${IN_PROCESS}"`,
          )
      : address(`chain.${field}`, c[field]);
  return {
    rpcUrl,
    chainId,
    token: required("token"),
    factory: required("factory"),
    guardian: optionalAddress("chain.guardian", c.guardian),
    protocolRecipient: optionalAddress("chain.protocolRecipient", c.protocolRecipient),
    startBlock: integer("chain.startBlock", c.startBlock, 0, Number.MAX_SAFE_INTEGER, 0),
  };
}

function facilitatorSection(v: unknown): FacilitatorSection {
  const f = object(
    "facilitator",
    v ?? {},
    ["mode", "expose", "maxBatchSize", "maxWaitMs", "confirmTimeoutMs", "channels", "channelClaims", "url", "address"],
    SECRET_FIELDS,
  );
  const mode = oneOf("facilitator.mode", f.mode, ["embedded", "url"] as const, "embedded");
  if (mode === "url") {
    for (const k of ["expose", "maxBatchSize", "maxWaitMs", "confirmTimeoutMs", "channels", "channelClaims"])
      if (f[k] !== undefined) fail(`facilitator.${k}`, 'only applies to mode "embedded"');
    return { mode, url: url("facilitator.url", f.url, ["http", "https"]), address: address("facilitator.address", f.address) };
  }
  for (const k of ["url", "address"]) if (f[k] !== undefined) fail(`facilitator.${k}`, 'only applies to mode "url"');
  return {
    mode,
    expose: boolean("facilitator.expose", f.expose, true),
    maxBatchSize: integer("facilitator.maxBatchSize", f.maxBatchSize, 1, 256, 32),
    maxWaitMs: integer("facilitator.maxWaitMs", f.maxWaitMs, 0, 60_000, 25),
    confirmTimeoutMs: integer("facilitator.confirmTimeoutMs", f.confirmTimeoutMs, 100, 600_000, 30_000),
    channels: boolean("facilitator.channels", f.channels, true),
    channelClaims: channelClaims(f.channelClaims),
  };
}

/** The channels withdraw 900 s after a payer asks: a claim must be sent, and mined, well before. */
const MAX_CLAIM_AGE_SECONDS = 600;

function channelClaims(v: unknown): ChannelClaims {
  const c = object("facilitator.channelClaims", v ?? {}, ["maxAgeSeconds", "maxCount", "maxAmount"]);
  const path = (field: string) => `facilitator.channelClaims.${field}`;
  return {
    maxAgeSeconds: integer(path("maxAgeSeconds"), c.maxAgeSeconds, 1, MAX_CLAIM_AGE_SECONDS, 60),
    maxCount: integer(path("maxCount"), c.maxCount, 1, 100_000, 1_000),
    maxAmount: amount(path("maxAmount"), c.maxAmount, { positive: true, fallback: 10_000_000n }),
  };
}

function epochsSection(v: unknown): EpochsSection {
  const e = object("epochs", v ?? {}, ["enabled", "intervalSeconds", "paymentCount", "checkIntervalSeconds", "publishTexts"]);
  const enabled = boolean("epochs.enabled", e.enabled, true);
  // Without either trigger named, epochs close hourly; naming only paymentCount means count-only.
  const intervalSeconds =
    e.intervalSeconds === null || (e.intervalSeconds === undefined && e.paymentCount !== undefined && e.paymentCount !== null)
      ? null
      : integer("epochs.intervalSeconds", e.intervalSeconds, 1, 365 * 86400, 3600);
  const paymentCount =
    e.paymentCount === undefined || e.paymentCount === null ? null : integer("epochs.paymentCount", e.paymentCount, 1, 1_000_000);
  if (enabled && intervalSeconds === null && paymentCount === null)
    fail("epochs", "needs intervalSeconds and/or paymentCount (or enabled: false)");
  return {
    enabled,
    intervalSeconds,
    paymentCount,
    checkIntervalSeconds: integer("epochs.checkIntervalSeconds", e.checkIntervalSeconds, 1, 3600, 5),
    publishTexts: boolean("epochs.publishTexts", e.publishTexts, false),
  };
}

function datanetConfig(
  path: string,
  v: unknown,
  resolve: (p: string) => string,
  chain: Pick<ChainSection, "guardian" | "protocolRecipient">,
): DatanetConfig {
  const d = object(path, v, ["id", "description", "seed", "contributionsFile", "minCopyTokens", "access"]);
  let seed: DatanetConfig["seed"] = null;
  if (d.seed !== undefined && d.seed !== null) {
    const s = object(`${path}.seed`, d.seed, ["corpus", "documents", "contributors", "offset"]);
    seed = {
      corpus: oneOf(`${path}.seed.corpus`, s.corpus, ["brown"] as const),
      documents: integer(`${path}.seed.documents`, s.documents, 1, 500),
      contributors: integer(`${path}.seed.contributors`, s.contributors, 1, 500),
      offset: integer(`${path}.seed.offset`, s.offset, 0, 499, 0),
    };
    if (seed.offset + seed.documents > 500)
      fail(`${path}.seed`, `offset + documents must be at most 500 (the Brown corpus has 500 documents)`);
  }
  return {
    id: string(`${path}.id`, d.id, { pattern: ID_PATTERN, what: ID_WHAT }),
    description: optionalString(`${path}.description`, d.description, ""),
    seed,
    contributionsFile:
      d.contributionsFile === undefined || d.contributionsFile === null
        ? null
        : resolve(string(`${path}.contributionsFile`, d.contributionsFile)),
    minCopyTokens: integer(`${path}.minCopyTokens`, d.minCopyTokens, 1, 100_000, 50),
    access: d.access === undefined || d.access === null ? null : accessConfig(`${path}.access`, d.access, chain),
  };
}

const ACCESS_FIELDS = [
  "pricePerSearch",
  "pricePerDocument",
  "sellDocuments",
  "maxResults",
  "owner",
  "ownerBps",
  "protocolBps",
  "challengePeriod",
  "guardian",
  "protocolRecipient",
  "salt",
  "createSplitter",
] as const;

/** A datanet's paid access: prices, whether documents are sold, and its splitter's terms. */
function accessConfig(path: string, v: unknown, chain: Pick<ChainSection, "guardian" | "protocolRecipient">): DatanetAccessConfig {
  const a = object(path, v, ACCESS_FIELDS, SECRET_FIELDS);
  const price = (name: "pricePerSearch" | "pricePerDocument") =>
    a[name] === undefined || a[name] === null ? null : amount(`${path}.${name}`, a[name], { positive: true });
  const pricePerSearch = price("pricePerSearch");
  const pricePerDocument = price("pricePerDocument");
  const sellDocuments = boolean(`${path}.sellDocuments`, a.sellDocuments, false);
  if (sellDocuments && pricePerDocument === null) fail(`${path}.pricePerDocument`, "is required when sellDocuments is true");
  if (pricePerSearch === null && !sellDocuments)
    fail(path, "sells nothing: set pricePerSearch and/or sellDocuments with pricePerDocument (or remove access)");
  const terms = splitterTerms(path, a, chain);
  return { pricePerSearch, pricePerDocument, sellDocuments, maxResults: integer(`${path}.maxResults`, a.maxResults, 1, 50, 5), ...terms };
}

/** The terms of a factory splitter (owner, cuts, guardian, protocol recipient, salt), shared by models and datanets. */
function splitterTerms(path: string, m: Record<string, unknown>, chain: Pick<ChainSection, "guardian" | "protocolRecipient">) {
  const ownerBps = integer(`${path}.ownerBps`, m.ownerBps, 0, 10_000, 1000);
  const protocolBps = integer(`${path}.protocolBps`, m.protocolBps, 0, 10_000, 0);
  if (ownerBps + protocolBps > 10_000)
    fail(`${path}.protocolBps`, `ownerBps + protocolBps must be at most 10000, got ${ownerBps + protocolBps}`);
  const protocolRecipient = optionalAddress(`${path}.protocolRecipient`, m.protocolRecipient) ?? chain.protocolRecipient;
  if (protocolBps > 0 && !protocolRecipient && !m.splitter)
    fail(`${path}.protocolRecipient`, "is required when protocolBps > 0 (or set chain.protocolRecipient)");
  return {
    ownerBps,
    protocolBps,
    owner: address(`${path}.owner`, m.owner),
    challengePeriod: integer(`${path}.challengePeriod`, m.challengePeriod, 1, MAX_UINT32, 1),
    guardian: optionalAddress(`${path}.guardian`, m.guardian) ?? chain.guardian,
    protocolRecipient,
    salt: m.salt === undefined || m.salt === null ? null : bytes32(`${path}.salt`, m.salt),
    createSplitter: boolean(`${path}.createSplitter`, m.createSplitter, true),
  };
}

const MODEL_FIELDS = [
  "id",
  "backend",
  "description",
  "datanet",
  "price",
  "pricePerRequest",
  "pricePerMaxToken",
  "defaultMaxTokens",
  "maxTokensLimit",
  "ownerBps",
  "protocolBps",
  "owner",
  "challengePeriod",
  "guardian",
  "protocolRecipient",
  "splitter",
  "salt",
  "createSplitter",
  "upstream",
  "maxSuffixTokens",
  "ragPassages",
] as const;

const PRICE_FIELDS = ["perRequest", "perPromptToken", "perOutputToken", "min", "max"] as const;

/**
 * `price: { perRequest, perPromptToken, perOutputToken, min?, max? }`, or the older
 * `pricePerRequest` + `pricePerMaxToken` read as the same thing (perOutputToken = pricePerMaxToken:
 * a request still costs pricePerRequest + pricePerMaxToken × max_tokens with `exact`).
 */
function modelPrice(path: string, m: Record<string, unknown>): ModelPrice {
  if (m.price === undefined) {
    const perRequest = amount(`${path}.pricePerRequest`, m.pricePerRequest, { fallback: 0n });
    const perOutputToken = amount(`${path}.pricePerMaxToken`, m.pricePerMaxToken, { fallback: 0n });
    if (perRequest === 0n && perOutputToken === 0n)
      fail(`${path}.pricePerRequest`, "a paid model needs price (or pricePerRequest and/or pricePerMaxToken) greater than 0");
    return { perRequest, perPromptToken: 0n, perOutputToken, min: null, max: null };
  }
  for (const old of ["pricePerRequest", "pricePerMaxToken"])
    if (m[old] !== undefined) fail(`${path}.${old}`, "cannot be combined with price (write it as price.perRequest / price.perOutputToken)");
  const p = object(`${path}.price`, m.price, PRICE_FIELDS);
  const at = (field: string, v: unknown) => amount(`${path}.price.${field}`, v, { fallback: 0n });
  const optional = (field: string, v: unknown) => (v === undefined || v === null ? null : amount(`${path}.price.${field}`, v));
  const price = {
    perRequest: at("perRequest", p.perRequest),
    perPromptToken: at("perPromptToken", p.perPromptToken),
    perOutputToken: at("perOutputToken", p.perOutputToken),
    min: optional("min", p.min),
    max: optional("max", p.max),
  };
  if (price.min !== null && price.max !== null && price.min > price.max)
    fail(`${path}.price.min`, `must not exceed price.max (${price.max})`);
  if (price.perRequest + price.perPromptToken + price.perOutputToken === 0n && !price.min)
    fail(`${path}.price`, "a paid model needs perRequest, perPromptToken, perOutputToken or min greater than 0");
  if (price.max === 0n) fail(`${path}.price.max`, "must be greater than 0");
  return price;
}

/** One model entry; also used for models registered at runtime through the admin API. */
export function modelConfig(
  path: string,
  v: unknown,
  ctx: { chain: Pick<ChainSection, "guardian" | "protocolRecipient">; datanets: ReadonlySet<string> },
): ModelConfig {
  const m = object(path, v, MODEL_FIELDS, SECRET_FIELDS);
  const id = string(`${path}.id`, m.id, { pattern: ID_PATTERN, what: ID_WHAT });
  const backend = oneOf(`${path}.backend`, m.backend, ["infinigram", "proxy", "rag"] as const);
  const datanet = string(`${path}.datanet`, m.datanet);
  if (!ctx.datanets.has(datanet))
    fail(
      `${path}.datanet`,
      `names no declared datanet (declared: ${[...ctx.datanets].map((d) => JSON.stringify(d)).join(", ") || "none"})`,
    );
  const splitter = optionalAddress(`${path}.splitter`, m.splitter);
  const terms = splitterTerms(path, m, ctx.chain);
  const defaultMaxTokens = integer(`${path}.defaultMaxTokens`, m.defaultMaxTokens, 1, 1_000_000, 128);
  const maxTokensLimit = integer(`${path}.maxTokensLimit`, m.maxTokensLimit, 1, 1_000_000, Math.max(1024, defaultMaxTokens));
  if (defaultMaxTokens > maxTokensLimit) fail(`${path}.defaultMaxTokens`, `must not exceed maxTokensLimit (${maxTokensLimit})`);
  const price = modelPrice(path, m);

  let upstream: ModelConfig["upstream"] = null;
  if (backend === "proxy" || backend === "rag") {
    const u = object(`${path}.upstream`, m.upstream, ["url", "model", "apiKeyEnv", "timeoutMs"], {
      apiKey: "upstream API keys are read from the environment: set apiKeyEnv to the variable's name",
    });
    upstream = {
      url: url(`${path}.upstream.url`, u.url, ["http", "https"]),
      model: string(`${path}.upstream.model`, u.model),
      apiKeyEnv:
        u.apiKeyEnv === undefined || u.apiKeyEnv === null
          ? null
          : string(`${path}.upstream.apiKeyEnv`, u.apiKeyEnv, { pattern: /^[A-Z_][A-Z0-9_]*$/, what: "an environment variable name" }),
      timeoutMs: integer(`${path}.upstream.timeoutMs`, u.timeoutMs, 100, 600_000, 60_000),
    };
  } else if (m.upstream !== undefined) {
    fail(`${path}.upstream`, 'only applies to backends "proxy" and "rag"');
  }

  return {
    id,
    backend,
    description: optionalString(`${path}.description`, m.description, ""),
    datanet,
    price,
    defaultMaxTokens,
    maxTokensLimit,
    ...terms,
    splitter,
    upstream,
    maxSuffixTokens: integer(`${path}.maxSuffixTokens`, m.maxSuffixTokens, 1, 4096, 256),
    ragPassages: integer(`${path}.ragPassages`, m.ragPassages, 1, 64, 4),
  };
}

function adminToken(fromEnv: string | undefined, fromFile: unknown): string | null {
  const field = fromEnv ? "env.ROYALTY402_ADMIN_TOKEN" : "admin.token";
  const v = fromEnv || fromFile;
  if (v === undefined || v === null || v === "") return null;
  if (typeof v !== "string") fail(field, "must be a string");
  if (v.length < 16) fail(field, `must be at least 16 characters (${v.length} given; value not shown)`);
  return v;
}

function databaseUrl(v: string | undefined): string | null {
  if (!v) return null;
  if (!/^postgres(ql)?:\/\//.test(v))
    fail("env.DATABASE_URL", `must be a postgres:// or postgresql:// URL (got scheme ${/^[a-z][a-z0-9+.-]*:/i.exec(v)?.[0] ?? "(none)"})`);
  return v;
}
/** Re-exported for admin endpoints that validate a single model entry. */
