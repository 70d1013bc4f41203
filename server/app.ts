// The model host server: one fastify app wiring configuration, chain, ledger, facilitator,
// x402 payments, datanets and their indexes, model backends, attribution, epochs, metrics.
//
//   const server = await createApp({ config, secrets, chain: { provider, relayer, oracle } });
//   const url = await server.listen();          // or server.app.inject(...) without a socket
//   ...
//   await server.close();
//
// `config` is a validated ServerConfig (prepareConfig / loadServerConfig) or a raw config object
// (validated here, secrets from `env`). `chain` lets a caller bring its own provider and keys
// (e.g. a Hardhat chain it already deployed on); otherwise chain.rpcUrl and the env keys are
// used, and chain.rpcUrl "in-process" starts a Hardhat chain inside this process with TestUSDC
// and the factory deployed (server.localChain: addresses, funded keys, mint()).
import { mkdirSync, readFileSync, writeFileSync, renameSync, existsSync } from "node:fs";
import { join } from "node:path";
import Fastify, { type FastifyInstance, type FastifyRequest } from "fastify";
import helmet from "@fastify/helmet";
import swagger from "@fastify/swagger";
import { HTTPFacilitatorClient, type FacilitatorClient } from "@x402/core/server";
import { Contract, FetchRequest, JsonRpcProvider, Network, Wallet, WebSocketProvider, getAddress, type Provider, type Signer } from "ethers";
import { adminRoutes } from "./api/admin.ts";
import type { AppContext, TokenInfo } from "./api/context.ts";
import { answerClientError, installErrorHandling } from "./api/errors.ts";
import { createMetrics, meteredFacilitator } from "./api/metrics.ts";
import { openAiRoutes } from "./api/openai.ts";
import { opsRoutes } from "./api/ops.ts";
import { publicRoutes } from "./api/public.ts";
import { ConfigError, IN_PROCESS, loadConfig, modelConfig, secretsFromEnv, validateConfig, type Secrets, type ServerConfig } from "./config/index.ts";
import { startInProcessChain, type InProcessChain } from "./config/in-process-chain.ts";
import { EpochDocuments, EpochScheduler, SerialQueue, TextStore, type CloseContext } from "./epochs/index.ts";
import { EmbeddedFacilitator, facilitatorRoutes } from "./facilitator/index.ts";
import { openLedger, type Ledger } from "./ledger/index.ts";
import { DatanetError, DatanetService, ModelRegistry, type ServedModel } from "./models/index.ts";
import { registerPayments } from "./x402/host.ts";

export interface ChainOverride {
  provider: Provider;
  /** Settles payments (embedded facilitator): must sign raw transactions, so a Wallet. */
  relayer?: Wallet | null;
  /** Posts epochs and creates splitters. */
  oracle?: Signer | null;
}

export interface CreateAppOptions {
  config: ServerConfig | unknown;
  /** With a validated config: its secrets (anything missing is read from `env`). */
  secrets?: Partial<Secrets>;
  env?: NodeJS.ProcessEnv;
  chain?: ChainOverride;
  /** Share an open ledger (it is then not closed with the app). */
  ledger?: Ledger;
  /** Use this facilitator instead of the configured one (and its settling address). */
  facilitator?: { client: FacilitatorClient; address: string };
  /** false: silent; or pino options (level, a destination stream). Default: config.server.logLevel to stdout. */
  logger?: boolean | { level?: string; stream?: { write(line: string): void } };
  /** Start the epoch scheduler now (default true). closeNow works either way. */
  startScheduler?: boolean;
}

export interface RoyaltyServer {
  app: FastifyInstance;
  config: ServerConfig;
  context: AppContext;
  /** The Hardhat chain started inside this process for chain.rpcUrl "in-process" (null otherwise). */
  localChain: InProcessChain | null;
  /** Listens (default: config host and port) and returns the base URL. */
  listen(options?: { host?: string; port?: number }): Promise<string>;
  close(): Promise<void>;
}

/** Log redaction: keys, signatures, tokens and payment headers never reach the logs. */
export const LOG_REDACT_PATHS = [
  "req.headers.authorization",
  'req.headers["payment-signature"]',
  'req.headers["x-payment"]',
  "req.headers.cookie",
  'res.headers["payment-response"]',
  'res.headers["payment-required"]',
  "headers.authorization",
  'headers["payment-signature"]',
  "*.privateKey",
  "*.relayerKey",
  "*.oracleKey",
  "*.adminToken",
  "*.apiKey",
  "*.signature",
  "*.authorization",
  "*.payload",
  "secrets",
  "*.secrets",
];

/**
 * A request as logged: fastify's default view, with the query string's values redacted (they
 * may carry tokens, e.g. the payer-only retrieval token of a held output).
 */
export function requestLogView(req: FastifyRequest) {
  const [path, query] = req.url.split("?", 2);
  const url = query === undefined ? path : `${path}?${query.split("&").map((pair) => `${pair.split("=", 1)[0]}=[redacted]`).join("&")}`;
  return { method: req.method, url, host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

const validated = new WeakSet<object>();

/** Validates a raw config (file contents) with the environment; the result is accepted by createApp as is. */
export function prepareConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env, baseDir?: string): { config: ServerConfig; secrets: Secrets } {
  const result = validateConfig(raw, { env, baseDir });
  validated.add(result.config);
  return result;
}

/** loadConfig (file + environment) whose result createApp accepts as is. */
export function loadServerConfig(file: string, env: NodeJS.ProcessEnv = process.env): { config: ServerConfig; secrets: Secrets } {
  const loaded = loadConfig(file, env);
  validated.add(loaded.config);
  return { config: loaded.config, secrets: loaded.secrets };
}

function isValidated(config: unknown): config is ServerConfig {
  return typeof config === "object" && config !== null && validated.has(config);
}

async function withTimeout<T>(what: string, ms: number, run: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([run, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How long one JSON-RPC call may take. ethers waits 5 minutes by default: a hung RPC (accepts
 * connections, never answers) would hold every paid request that long instead of a prompt 503.
 */
export const RPC_TIMEOUT_MS = 10_000;

function rpcRequest(url: string): FetchRequest {
  const request = new FetchRequest(url);
  request.timeout = RPC_TIMEOUT_MS;
  return request;
}

async function connectProvider(config: ServerConfig): Promise<Provider> {
  const { rpcUrl, chainId } = config.chain;
  if (rpcUrl === IN_PROCESS) throw new ConfigError("chain.rpcUrl", `"${IN_PROCESS}" needs a chain from the caller (server/main.ts starts one; createApp takes options.chain)`);
  const network = Network.from(chainId);
  const provider = /^wss?:/.test(rpcUrl) ? new WebSocketProvider(rpcUrl, network) : new JsonRpcProvider(rpcRequest(rpcUrl), network, { staticNetwork: network });
  let reported: bigint;
  try {
    reported = BigInt(await withTimeout("eth_chainId", 10_000, (provider as JsonRpcProvider).send("eth_chainId", [])));
  } catch (e) {
    provider.destroy();
    // The URL may carry an API key: name the problem, not the URL.
    throw new ConfigError("chain.rpcUrl", `the RPC endpoint does not answer (${(e as Error).message.split("\n")[0].replace(/\w+:\/\/\S+/g, "<url>").slice(0, 120)})`);
  }
  if (reported !== BigInt(chainId)) {
    provider.destroy();
    throw new ConfigError("chain.chainId", `is ${chainId}, but the RPC endpoint reports chain ${reported}`);
  }
  return provider;
}

async function readToken(provider: Provider, address: string): Promise<TokenInfo> {
  const token = new Contract(address, ["function name() view returns (string)", "function version() view returns (string)", "function decimals() view returns (uint8)", "function symbol() view returns (string)"], provider);
  if ((await provider.getCode(address)) === "0x") throw new ConfigError("chain.token", `there is no contract at ${address} on this chain`);
  try {
    const [name, version, decimals, symbol] = await Promise.all([token.name(), token.version(), token.decimals(), token.symbol()]);
    return { address: getAddress(address), name, version, decimals: Number(decimals), symbol };
  } catch {
    throw new ConfigError("chain.token", `${address} is not an EIP-3009 token with name(), version(), decimals() and symbol()`);
  }
}

export async function createApp(options: CreateAppOptions): Promise<RoyaltyServer> {
  const env = options.env ?? process.env;
  let config: ServerConfig;
  let secrets: Secrets;
  if (isValidated(options.config)) {
    config = options.config;
    const fromEnv = secretsFromEnv(env);
    secrets = { ...fromEnv, ...Object.fromEntries(Object.entries(options.secrets ?? {}).filter(([, v]) => v !== undefined)) };
  } else {
    ({ config, secrets } = prepareConfig(options.config, env));
  }
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async () => {
    for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  };

  try {
    // ---- chain, keys, token ----
    let localChain: InProcessChain | null = null;
    let chainOverride = options.chain;
    if (!chainOverride && config.chain.rpcUrl === IN_PROCESS) {
      const local = await startInProcessChain(config, secrets);
      localChain = local;
      cleanups.push(() => local.close());
      config.chain.token = local.token;
      config.chain.factory = local.factory;
      chainOverride = local;
    }
    const provider = chainOverride?.provider ?? (await connectProvider(config));
    if (!chainOverride) cleanups.push(() => provider.destroy());
    const chainId = (await provider.getNetwork()).chainId;
    if (chainId !== BigInt(config.chain.chainId)) throw new ConfigError("chain.chainId", `is ${config.chain.chainId}, but the chain reports ${chainId}`);
    const network = `eip155:${chainId}`;
    const relayer = chainOverride?.relayer ?? (secrets.relayerKey ? new Wallet(secrets.relayerKey, provider) : null);
    const oracle = chainOverride?.oracle ?? (secrets.oracleKey ? new Wallet(secrets.oracleKey, provider) : null);
    const oracleAddress = oracle ? getAddress(await oracle.getAddress()) : null;
    if (relayer && oracleAddress && getAddress(relayer.address) === oracleAddress) {
      throw new ConfigError("env.ROYALTY402_ORACLE_KEY", "must differ from the relayer key (the relayer manages its own transaction nonces)");
    }
    if (!config.chain.token) throw new ConfigError("chain.token", "is required (the payment token address)");
    const token = await readToken(provider, config.chain.token);
    if (config.chain.factory && (await provider.getCode(config.chain.factory)) === "0x") throw new ConfigError("chain.factory", `there is no contract at ${config.chain.factory} on this chain`);

    // ---- ledger ----
    const ledger =
      options.ledger ??
      (await openLedger({
        databaseUrl: secrets.databaseUrl ?? undefined,
        sqlitePath: config.database.sqlitePath,
        maintenance: { heldOutputRetentionMs: config.database.heldOutputRetentionDays * 86_400_000 },
      }));
    if (!options.ledger) cleanups.push(() => ledger.close());

    // ---- facilitator ----
    const metrics = createMetrics();
    let facilitator: FacilitatorClient;
    let facilitatorAddress: string | null;
    let embedded: EmbeddedFacilitator | null = null;
    if (options.facilitator) {
      facilitator = options.facilitator.client;
      facilitatorAddress = getAddress(options.facilitator.address);
    } else if (config.facilitator.mode === "url") {
      facilitator = new HTTPFacilitatorClient({ url: config.facilitator.url });
      facilitatorAddress = config.facilitator.address;
    } else {
      if (!relayer) throw new ConfigError("env.ROYALTY402_RELAYER_KEY", 'is required by the embedded facilitator (or set facilitator.mode "url")');
      embedded = await EmbeddedFacilitator.create({
        provider,
        relayer,
        batch: { maxBatchSize: config.facilitator.maxBatchSize, maxWaitMs: config.facilitator.maxWaitMs, confirmTimeoutMs: config.facilitator.confirmTimeoutMs },
      });
      const own = embedded;
      cleanups.push(() => own.close());
      facilitator = embedded;
      facilitatorAddress = relayer.address;
    }
    const meteredClient = meteredFacilitator(facilitator, metrics, embedded ? 0 : 250);

    // ---- fastify ----
    const loggerOption =
      options.logger === false
        ? false
        : {
            level: (typeof options.logger === "object" && options.logger.level) || config.server.logLevel,
            redact: { paths: LOG_REDACT_PATHS, censor: "[redacted]" },
            serializers: { req: requestLogView },
            ...(typeof options.logger === "object" && options.logger.stream ? { stream: options.logger.stream } : {}),
          };
    const app = Fastify({
      logger: loggerOption,
      bodyLimit: config.server.bodyLimitBytes,
      trustProxy: config.server.trustProxy,
      return503OnClosing: true,
      clientErrorHandler: answerClientError,
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
    });
    cleanups.push(() => app.close());
    const log = app.log;

    // ---- datanets, models, epochs ----
    const datanets = new DatanetService(ledger, config.dataDir, log);
    for (const [i, d] of config.datanets.entries()) {
      try {
        await datanets.open(d);
      } catch (e) {
        if (e instanceof DatanetError) throw new ConfigError(`datanets[${i}]`, e.message);
        throw e;
      }
    }
    const oracleQueue = new SerialQueue();
    const models = new ModelRegistry({ provider, factory: config.chain.factory, token: token.address, facilitatorAddress, oracle, oracleAddress, env, oracleQueue, log });
    for (const [i, m] of config.models.entries()) await models.add(m, `models[${i}]`);
    const registryFile = join(config.dataDir, "registry.json");
    for (const [i, raw] of readRegistry(registryFile).entries()) {
      const id = (raw as { id?: unknown })?.id;
      if (typeof id === "string" && models.get(id)) {
        log.warn({ model: id }, "a runtime-registered model has the id of a configured one; the configuration wins");
        continue;
      }
      await models.add(modelConfig(`registry.json models[${i}]`, raw, { chain: config.chain, datanets: new Set(datanets.ids()) }), `registry.json models[${i}]`);
    }

    const docs = new EpochDocuments(ledger);
    const texts = config.epochs.publishTexts ? new TextStore(join(config.dataDir, "texts")) : null;
    let listenUrl: string | null = null;
    const baseUrl = (request?: FastifyRequest) => config.server.publicUrl ?? (request ? `${request.protocol}://${request.host}` : listenUrl ?? `http://${config.server.host}:${config.server.port}`);
    const closeCtx: CloseContext = {
      ledger,
      provider,
      oracle,
      oracleQueue,
      chainId,
      startBlock: config.chain.startBlock,
      docs,
      texts,
      uriFor: (splitter, epoch) => `${baseUrl()}/epochs/${getAddress(splitter)}/${epoch}`,
      ensureDeployed: async (model: ServedModel) => {
        const was = model.deployed;
        await models.ensureDeployed(model);
        if (!was) embedded?.chain.forgetSplitter(model.splitter);
      },
      now: () => Date.now(),
      latestKnown: new Map(),
    };
    const scheduler = new EpochScheduler(closeCtx, models, config.epochs, log);
    scheduler.on("result", (r) => metrics.epochs.inc({ model: r.model, status: r.status }));
    scheduler.on("error", (e) => metrics.epochs.inc({ model: e.model, status: "error" }));
    cleanups.push(() => scheduler.stop());

    const context: AppContext = {
      config,
      ledger,
      provider,
      chainId,
      network,
      token,
      models,
      datanets,
      scheduler,
      epochs: closeCtx,
      docs,
      texts,
      metrics,
      adminToken: secrets.adminToken,
      startedAt: Math.floor(Date.now() / 1000),
      baseUrl,
      async registerModel(raw, opts) {
        const mc = modelConfig("model", raw, { chain: config.chain, datanets: new Set(datanets.ids()) });
        const model = await models.add(mc, "model", { deploy: opts.deploy });
        writeRegistry(registryFile, [...readRegistry(registryFile), raw]);
        return model;
      },
    };

    // ---- routes ----
    // Security headers on every response (CSP, nosniff, frame denial, HSTS, no referrer leaks).
    await app.register(helmet, { global: true });
    await app.register(swagger, {
      openapi: {
        openapi: "3.0.3",
        info: {
          title: "royalty402 model host",
          version: "0.1.0",
          description:
            "OpenAI-compatible endpoints paid per call with x402 (USDC, EIP-3009). Each payment lands in the model's RoyaltySplitter; each output's attribution record says which datanet contributors it used, and epochs split the payments to them on-chain.",
        },
        components: { securitySchemes: { bearerAuth: { type: "http", scheme: "bearer" } } },
      },
    });
    installErrorHandling(app);
    await registerPayments(app, { context, facilitator: meteredClient, publicUrl: config.server.publicUrl, challengeRateLimit: config.server.challengeRateLimit });
    await app.register(openAiRoutes, { ctx: context });
    await app.register(publicRoutes, { ctx: context });
    await app.register(adminRoutes, { ctx: context, prefix: "/admin" });
    await app.register(opsRoutes, { ctx: context });
    if (embedded && config.facilitator.mode === "embedded" && config.facilitator.expose) {
      await app.register(facilitatorRoutes, { prefix: "/facilitator", facilitator: embedded });
    }
    await app.ready();
    if (options.startScheduler !== false) scheduler.start();

    let closed = false;
    const server: RoyaltyServer = {
      app,
      config,
      context,
      localChain,
      async listen(listenOptions = {}) {
        const address = await app.listen({ host: listenOptions.host ?? config.server.host, port: listenOptions.port ?? config.server.port });
        listenUrl = address.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://127.0.0.1:");
        return config.server.publicUrl ?? listenUrl;
      },
      async close() {
        if (closed) return;
        closed = true;
        await cleanup();
      },
    };
    return server;
  } catch (error) {
    await cleanup();
    throw error;
  }
}

function readRegistry(file: string): unknown[] {
  if (!existsSync(file)) return [];
  try {
    const parsed = JSON.parse(readFileSync(file, "utf8")) as { models?: unknown[] };
    return Array.isArray(parsed.models) ? parsed.models : [];
  } catch (e) {
    throw new ConfigError(file, `is not valid JSON: ${(e as Error).message}`);
  }
}

function writeRegistry(file: string, models: unknown[]): void {
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify({ models }, null, 2));
  renameSync(`${file}.tmp`, file);
}
