// The model host's services, built from a validated configuration, without any HTTP:
// chain (provider, keys, token), ledger, facilitator, datanets, models and epochs. Everything
// opened is pushed on one disposer stack; `close()` (or a failure while building) unwinds it.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FastifyRequest } from "fastify";
import { HTTPFacilitatorClient, type FacilitatorClient } from "@x402/core/server";
import { Contract, Wallet, getAddress, type Provider, type Signer } from "ethers";
import type { AppContext, TokenInfo } from "./api/context.ts";
import { createMetrics, meteredFacilitator, type Metrics } from "./api/metrics.ts";
import { TOKEN_ABI } from "./chain/abi.ts";
import { startLocalChain, type LocalChain } from "./chain/local.ts";
import { RpcUnavailableError, connectRpcProvider } from "./chain/rpc.ts";
import { ConfigError, IN_PROCESS, modelConfig, type Secrets, type ServerConfig } from "./config/index.ts";
import { EpochDocuments, EpochScheduler, TextStore, type CloseContext } from "./epochs/index.ts";
import { SerialQueue } from "./util/serial.ts";
import { EmbeddedFacilitator } from "./facilitator/index.ts";
import type { ChannelFacilitator } from "./facilitator/batch-settlement/facilitator.ts";
import { BATCH_SETTLEMENT_ADDRESS } from "./chain/x402/addresses.ts";
import { channelLedger } from "./x402/channel-links.ts";
import { openLedger, type Ledger } from "./ledger/index.ts";
import { ModelRegistry, type Payee } from "./models/index.ts";
import { DatanetError, DatanetService } from "./datanets/index.ts";
import { epochPath } from "./util/urls.ts";

interface ChainOverride {
  provider: Provider;
  /** Settles payments (embedded facilitator): must sign raw transactions, so a Wallet. */
  relayer?: Wallet | null;
  /** Posts epochs and creates splitters. */
  oracle?: Signer | null;
}

export interface ServiceOptions {
  env?: NodeJS.ProcessEnv;
  /** Bring your own provider and keys; otherwise chain.rpcUrl ("in-process": a chain in this process). */
  chain?: ChainOverride;
  /** Share an open ledger (it is then not closed with the services). */
  ledger?: Ledger;
  /** Use this facilitator instead of the configured one (and its settling address). */
  facilitator?: { client: FacilitatorClient; address: string };
  log?: Log;
}

interface Log {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface Services {
  config: ServerConfig;
  context: AppContext;
  /** The embedded facilitator (null with facilitator.mode "url" or a caller's facilitator). */
  embedded: EmbeddedFacilitator | null;
  /** The facilitator the x402 plugin calls (metered). */
  facilitator: FacilitatorClient;
  /** The chain started inside this process for chain.rpcUrl "in-process" (null otherwise). */
  localChain: LocalChain | null;
  /** The address clients reach the server at, once it listens (epoch URIs use it). */
  setListenUrl(url: string): void;
  close(): Promise<void>;
}

type Disposer = () => Promise<unknown> | unknown;

class DisposerStack {
  private readonly items: Disposer[] = [];
  push(dispose: Disposer): void {
    this.items.push(dispose);
  }
  async unwind(): Promise<void> {
    for (const dispose of this.items.splice(0).reverse())
      await Promise.resolve()
        .then(dispose)
        .catch(() => undefined);
  }
}

const silent: Log = { info() {}, warn() {}, error() {} };

export async function buildServices(config: ServerConfig, secrets: Secrets, options: ServiceOptions = {}): Promise<Services> {
  const stack = new DisposerStack();
  try {
    return await build(config, secrets, options, stack);
  } catch (error) {
    await stack.unwind();
    throw error;
  }
}

async function build(config: ServerConfig, secrets: Secrets, options: ServiceOptions, stack: DisposerStack): Promise<Services> {
  const log = options.log ?? silent;
  const { chain, localChain } = await openChain(config, secrets, options.chain, stack);
  const { provider, relayer, oracle } = chain;
  const chainId = (await provider.getNetwork()).chainId;
  if (chainId !== BigInt(config.chain.chainId))
    throw new ConfigError("chain.chainId", `is ${config.chain.chainId}, but the chain reports ${chainId}`);
  const oracleAddress = oracle ? getAddress(await oracle.getAddress()) : null;
  if (relayer && oracleAddress && getAddress(relayer.address) === oracleAddress) {
    throw new ConfigError("env.ROYALTY402_ORACLE_KEY", "must differ from the relayer key (the relayer manages its own transaction nonces)");
  }
  if (!config.chain.token) throw new ConfigError("chain.token", "is required (the payment token address)");
  const token = await readToken(provider, config.chain.token);
  if (config.chain.factory && (await provider.getCode(config.chain.factory)) === "0x")
    throw new ConfigError("chain.factory", `there is no contract at ${config.chain.factory} on this chain`);

  const ledger =
    options.ledger ??
    (await openLedger({
      databaseUrl: secrets.databaseUrl ?? undefined,
      sqlitePath: config.database.sqlitePath,
      thread: config.database.sqliteThread,
      maintenance: { heldOutputRetentionMs: config.database.heldOutputRetentionDays * 86_400_000 },
    }));
  if (!options.ledger) stack.push(() => ledger.close());

  const metrics = createMetrics(ledger as { takeSlowestFsyncMs?: () => number | null | Promise<number | null> });
  const opened = await openFacilitator(config, provider, relayer, ledger, options.facilitator, stack);
  const { client, address: facilitatorAddress, embedded } = opened;
  const facilitator = meteredFacilitator(client, metrics, embedded ? 0 : 250);
  if (embedded?.channels) recordChannels(embedded.channels, ledger, log, stack);

  const datanets = await openDatanets(config, ledger, log);
  stack.push(() => datanets.close()); // stops a background merge of a delta index
  const oracleQueue = new SerialQueue();
  const env = options.env ?? process.env;
  const models = new ModelRegistry({
    provider,
    factory: config.chain.factory,
    token: token.address,
    facilitatorAddress,
    oracle,
    oracleAddress,
    env,
    oracleQueue,
    log,
  });
  for (const [i, m] of config.models.entries()) await models.add(m, `models[${i}]`);
  for (const [i, d] of config.datanets.entries()) if (d.access) await models.addSeller(d.id, d.access, `datanets[${i}].access`);
  const registry = new ModelFile(join(config.dataDir, "registry.json"));
  await addRegisteredModels(config, registry, models, datanets, log);

  let listenUrl: string | null = null;
  const baseUrl = (request?: FastifyRequest) =>
    config.server.publicUrl ??
    (request ? `${request.protocol}://${request.host}` : (listenUrl ?? `http://${config.server.host}:${config.server.port}`));
  const uriFor = (splitter: string, epoch: number) => `${baseUrl()}${epochPath(splitter, epoch)}`;
  const { epochs, docs, texts, scheduler } = openEpochs(config, {
    ledger,
    provider,
    oracle,
    oracleQueue,
    chainId,
    models,
    embedded,
    metrics,
    log,
    uriFor,
  });
  stack.push(() => docs.close());
  stack.push(() => scheduler.stop());

  const context: AppContext = {
    config,
    ledger,
    provider,
    chainId,
    network: `eip155:${chainId}`,
    token,
    models,
    datanets,
    scheduler,
    epochs,
    docs,
    texts,
    metrics,
    adminToken: secrets.adminToken,
    channels: embedded?.channels ?? null,
    startedAt: Math.floor(Date.now() / 1000),
    baseUrl,
    async registerModel(raw, opts) {
      const model = await models.add(modelConfig("model", raw, { chain: config.chain, datanets: new Set(datanets.ids()) }), "model", {
        deploy: opts.deploy,
      });
      registry.write([...registry.read(), raw]);
      return model;
    },
  };
  return {
    config,
    context,
    embedded,
    facilitator,
    localChain,
    setListenUrl: (url) => void (listenUrl = url),
    close: () => stack.unwind(),
  };
}

interface EpochDeps {
  ledger: Ledger;
  provider: Provider;
  oracle: Signer | null;
  oracleQueue: SerialQueue;
  chainId: bigint;
  models: ModelRegistry;
  embedded: EmbeddedFacilitator | null;
  metrics: Metrics;
  log: Log;
  uriFor(splitter: string, epoch: number): string;
}

/** Epoch documents, published texts, the closing context and the scheduler (not started). */
function openEpochs(config: ServerConfig, d: EpochDeps) {
  const docs = new EpochDocuments(d.ledger);
  const texts = config.epochs.publishTexts ? new TextStore(d.ledger, join(config.dataDir, "texts")) : null;
  const epochs: CloseContext = {
    ledger: d.ledger,
    provider: d.provider,
    oracle: d.oracle,
    oracleQueue: d.oracleQueue,
    chainId: d.chainId,
    startBlock: config.chain.startBlock,
    docs,
    texts,
    uriFor: d.uriFor,
    ensureDeployed: async (model: Payee) => {
      const was = model.deployed;
      await d.models.ensureDeployed(model);
      // A splitter just created: the embedded facilitator must look at its code again.
      if (!was) d.embedded?.chain.forgetSplitter(model.splitter);
    },
    now: () => Date.now(),
    latestKnown: new Map(),
  };
  const scheduler = new EpochScheduler(epochs, d.models, config.epochs, d.log);
  scheduler.on("result", (r) => d.metrics.epochs.inc({ model: r.model, status: r.status }));
  scheduler.on("error", (e) => d.metrics.epochs.inc({ model: e.model, status: "error" }));
  return { epochs, docs, texts, scheduler };
}

async function openChain(config: ServerConfig, secrets: Secrets, override: ChainOverride | undefined, stack: DisposerStack) {
  const keyed = (provider: Provider) => ({
    provider,
    relayer: secrets.relayerKey ? new Wallet(secrets.relayerKey, provider) : null,
    oracle: secrets.oracleKey ? new Wallet(secrets.oracleKey, provider) : null,
  });
  if (override) {
    return { chain: { provider: override.provider, relayer: override.relayer ?? null, oracle: override.oracle ?? null }, localChain: null };
  }
  if (config.chain.rpcUrl !== IN_PROCESS) {
    const provider = await connect(config);
    stack.push(() => provider.destroy());
    return { chain: keyed(provider), localChain: null };
  }
  const local = await startLocalChain();
  stack.push(() => local.close());
  config.chain.token ??= local.token;
  config.chain.factory ??= local.factory;
  // Keys from the environment get gas on this fresh chain; otherwise the dev accounts' roles.
  const chain = keyed(local.provider);
  for (const wallet of [chain.relayer, chain.oracle]) if (wallet) await local.fundGas(wallet.address);
  return {
    chain: { provider: local.provider, relayer: chain.relayer ?? local.roles.relayer, oracle: chain.oracle ?? local.roles.oracle },
    localChain: local,
  };
}

async function connect(config: ServerConfig): Promise<Provider> {
  try {
    return (await connectRpcProvider(config.chain.rpcUrl, config.chain.chainId)).provider;
  } catch (e) {
    if (!(e instanceof RpcUnavailableError)) throw e;
    const field = e.message.includes(" is chain ") ? "chain.chainId" : "chain.rpcUrl";
    throw new ConfigError(field, e.message.replace(/^the chain at \S+ /, "the RPC endpoint "));
  }
}

async function readToken(provider: Provider, address: string): Promise<TokenInfo> {
  if ((await provider.getCode(address)) === "0x") throw new ConfigError("chain.token", `there is no contract at ${address} on this chain`);
  const token = new Contract(address, TOKEN_ABI, provider);
  try {
    const [name, version, decimals, symbol] = await Promise.all([token.name(), token.version(), token.decimals(), token.symbol()]);
    return { address: getAddress(address), name, version, decimals: Number(decimals), symbol };
  } catch {
    throw new ConfigError("chain.token", `${address} is not an EIP-3009 token with name(), version(), decimals() and symbol()`);
  }
}

async function openFacilitator(
  config: ServerConfig,
  provider: Provider,
  relayer: Wallet | null,
  ledger: Ledger,
  given: ServiceOptions["facilitator"],
  stack: DisposerStack,
): Promise<{ client: FacilitatorClient; address: string | null; embedded: EmbeddedFacilitator | null }> {
  if (given) return { client: given.client, address: getAddress(given.address), embedded: null };
  if (config.facilitator.mode === "url")
    return { client: new HTTPFacilitatorClient({ url: config.facilitator.url }), address: config.facilitator.address, embedded: null };
  if (!relayer)
    throw new ConfigError("env.ROYALTY402_RELAYER_KEY", 'is required by the embedded facilitator (or set facilitator.mode "url")');
  const { maxBatchSize, maxWaitMs, confirmTimeoutMs, channelClaims: claims } = config.facilitator;
  // Channels (unless turned off) where the chain has the batch-settlement escrow; vouchers journalled in the ledger,
  // which instances sharing a PostgreSQL ledger share (with the same relayer key: the channels' receiver authorizer).
  // The ledger is the payment store too: a voucher and its payment are recorded in one transaction (schemes.ts).
  const offerChannels = config.facilitator.channels && (await provider.getCode(BATCH_SETTLEMENT_ADDRESS)) !== "0x";
  const sweep = { maxAgeMs: claims.maxAgeSeconds * 1000, maxCount: claims.maxCount, maxAmount: claims.maxAmount };
  const channels = offerChannels ? { channels: { journal: ledger, recordsPayments: true, sweep } } : {};
  const batch = { maxBatchSize, maxWaitMs, confirmTimeoutMs };
  const embedded = await EmbeddedFacilitator.create({ provider, relayer, batch, ...channels });
  stack.push(() => embedded.close());
  return { client: embedded, address: relayer.address, embedded };
}

/**
 * Channel payments in the ledger: settled by the sweep's link, failed when the escrow refuses a claim.
 * A graceful stop sweeps what is unclaimed (at most 30 s); vouchers it could not claim stay journalled
 * for the next start.
 */
function recordChannels(channels: ChannelFacilitator, ledger: Ledger, log: Log, stack: DisposerStack): void {
  const record = channelLedger(ledger);
  channels.sweeper.onLinked = record.linked;
  channels.sweeper.onStuck = record.stuck;
  channels.sweeper.onError = (err) => log.error({ err }, "channels: a sweep failed; its vouchers stay journalled and are claimed later");
  stack.push(() => {
    const timeout = new Promise((resolve) => setTimeout(resolve, 30_000).unref());
    return Promise.race([channels.sweeper.sweep().catch((err) => channels.sweeper.onError(err)), timeout]);
  });
}

async function openDatanets(config: ServerConfig, ledger: Ledger, log: Log): Promise<DatanetService> {
  const datanets = new DatanetService(ledger, config.dataDir, log);
  for (const [i, d] of config.datanets.entries()) {
    try {
      await datanets.open(d);
    } catch (e) {
      if (e instanceof DatanetError) throw new ConfigError(`datanets[${i}]`, e.message);
      throw e;
    }
  }
  return datanets;
}

async function addRegisteredModels(
  config: ServerConfig,
  registry: ModelFile,
  models: ModelRegistry,
  datanets: DatanetService,
  log: Log,
): Promise<void> {
  for (const [i, raw] of registry.read().entries()) {
    const where = `registry.json models[${i}]`;
    const id = (raw as { id?: unknown })?.id;
    if (typeof id === "string" && models.get(id)) {
      log.warn({ model: id }, "a runtime-registered model has the id of a configured one; the configuration wins");
      continue;
    }
    await models.add(modelConfig(where, raw, { chain: config.chain, datanets: new Set(datanets.ids()) }), where);
  }
}

/** Models registered at runtime (admin API), kept in the data folder for restarts. */
class ModelFile {
  constructor(private readonly file: string) {}

  read(): unknown[] {
    if (!existsSync(this.file)) return [];
    try {
      const parsed = JSON.parse(readFileSync(this.file, "utf8")) as { models?: unknown[] };
      return Array.isArray(parsed.models) ? parsed.models : [];
    } catch (e) {
      throw new ConfigError(this.file, `is not valid JSON: ${(e as Error).message}`);
    }
  }

  write(models: unknown[]): void {
    mkdirSync(join(this.file, ".."), { recursive: true });
    writeFileSync(`${this.file}.tmp`, JSON.stringify({ models }, null, 2));
    renameSync(`${this.file}.tmp`, this.file);
  }
}
