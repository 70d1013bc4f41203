// The models this server sells: their backend, datanet, price and splitter (payTo). A model's
// splitter is either one deployed elsewhere (config `splitter`: its on-chain configuration is
// the truth) or the factory's CREATE2 splitter for (configuration, salt), created at
// registration when `createSplitter` is set, otherwise only predicted until its first epoch.
// Datanets selling access (config `access`) are payees too, each with its own factory splitter;
// epochs, earnings and claims go over every payee.
import { ZeroAddress, getAddress, type Provider, type Signer } from "ethers";
import { ConfigError, type DatanetAccessConfig, type ModelConfig } from "../config/index.ts";
import { InfiniGramBackend } from "./infinigram.ts";
import { ProxyBackend } from "./proxy.ts";
import { RagBackend } from "./rag.ts";
import { createSplitter, datanetSalt, hasCode, modelSalt, predictSplitter, readSplitterConfig, type SplitterConfig } from "./splitters.ts";
import type { ModelBackend } from "./types.ts";
import { SerialQueue } from "../util/serial.ts";

/** Whoever is paid into a splitter and allocated in epochs: a model, or a datanet selling access. */
export interface Payee {
  id: string;
  /** The x402 payTo. */
  splitter: string;
  /** What the splitter holds (or will hold once created): epochs use its bps, owner and challenge period. */
  splitterConfig: SplitterConfig;
  /** CREATE2 salt (null for a splitter configured by address). */
  salt: string | null;
  deployed: boolean;
}

export interface ServedModel extends Payee {
  config: ModelConfig;
  backend: ModelBackend;
}

/** The terms a factory splitter is created with (a model's or a datanet access configuration's fields). */
type SplitterTerms = Pick<ModelConfig, "owner" | "guardian" | "protocolRecipient" | "ownerBps" | "protocolBps" | "challengePeriod">;

/** The payee id of a datanet's paid access (its epochs, outputs and earnings are listed under it). */
export function accessPayeeId(datanetId: string): string {
  return `datanet:${datanetId}`;
}

export interface RegistryDeps {
  provider: Provider;
  factory: string | null;
  token: string;
  /** The address that settles payments (embedded relayer or external facilitator). */
  facilitatorAddress: string | null;
  oracle: Signer | null;
  oracleAddress: string | null;
  env: NodeJS.ProcessEnv;
  /** Serialises the oracle's transactions (shared with the epoch closer). */
  oracleQueue?: SerialQueue;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export class ModelRegistry {
  private readonly models = new Map<string, ServedModel>();
  /** Datanets selling access, by payee id (accessPayeeId). */
  private readonly sellers = new Map<string, Payee>();
  private readonly oracleQueue: SerialQueue;

  constructor(private readonly deps: RegistryDeps) {
    this.oracleQueue = deps.oracleQueue ?? new SerialQueue();
  }

  get(id: string): ServedModel | undefined {
    return this.models.get(id);
  }

  list(): ServedModel[] {
    return [...this.models.values()];
  }

  bySplitter(address: string): ServedModel | undefined {
    const a = address.toLowerCase();
    return this.list().find((m) => m.splitter.toLowerCase() === a);
  }

  /** A model or a datanet seller by payee id. */
  payee(id: string): Payee | undefined {
    return this.models.get(id) ?? this.sellers.get(id);
  }

  /** Every payee with a splitter: the models, then the datanets selling access. */
  payees(): Payee[] {
    return [...this.models.values(), ...this.sellers.values()];
  }

  payeeBySplitter(address: string): Payee | undefined {
    const a = address.toLowerCase();
    return this.payees().find((p) => p.splitter.toLowerCase() === a);
  }

  /** Adds a datanet's paid access as a payee with its own factory splitter (salt: datanetSalt unless configured). */
  async addSeller(datanetId: string, access: DatanetAccessConfig, path: string): Promise<Payee> {
    const id = accessPayeeId(datanetId);
    if (this.payee(id)) throw new ConfigError(path, `payee ${JSON.stringify(id)} is already registered (a model has that id)`);
    const salt = access.salt ?? datanetSalt(datanetId);
    const seller: Payee = { id, ...(await this.factorySplitter(access, salt, path, access.createSplitter)) };
    this.sellers.set(id, seller);
    this.deps.log.info({ payee: id, splitter: seller.splitter, deployed: seller.deployed }, "datanet access registered");
    return seller;
  }

  /**
   * Adds a model. `path` names it in errors (e.g. "models[2]"). With `deploy` (default: the
   * model's createSplitter) a missing factory splitter is created now, paid by the oracle.
   */
  async add(config: ModelConfig, path: string, options: { deploy?: boolean } = {}): Promise<ServedModel> {
    if (this.payee(config.id)) throw new ConfigError(`${path}.id`, `model ${JSON.stringify(config.id)} is already registered`);
    const backend = this.backendFor(config, path);
    const resolved = config.splitter
      ? await this.configured(config, path)
      : await this.factorySplitter(config, config.salt ?? modelSalt(config.id), path, options.deploy ?? config.createSplitter);
    const model: ServedModel = { id: config.id, config, backend, ...resolved };
    this.models.set(config.id, model);
    this.deps.log.info({ model: model.id, backend: backend.kind, splitter: model.splitter, deployed: model.deployed }, "model registered");
    return model;
  }

  /** Makes sure the payee's splitter exists on-chain (before an epoch is posted to it). */
  async ensureDeployed(model: Payee): Promise<void> {
    if (model.deployed) return;
    if (await hasCode(this.deps.provider, model.splitter)) {
      model.deployed = true;
      return;
    }
    if (!model.salt || !this.deps.factory || !this.deps.oracle)
      throw new Error(`splitter ${model.splitter} of model ${model.id} is not deployed and cannot be created here`);
    const { oracle, provider, factory } = this.deps;
    const salt = model.salt;
    await this.oracleQueue.run(() => createSplitter(oracle, provider, factory, model.splitterConfig, salt));
    model.deployed = true;
  }

  private backendFor(config: ModelConfig, path: string): ModelBackend {
    if (config.backend === "infinigram") return new InfiniGramBackend({ maxSuffixTokens: config.maxSuffixTokens });
    const upstream = config.upstream!;
    let apiKey: string | null = null;
    if (upstream.apiKeyEnv) {
      apiKey = this.deps.env[upstream.apiKeyEnv] ?? null;
      if (!apiKey) throw new ConfigError(`env.${upstream.apiKeyEnv}`, `is named by ${path}.upstream.apiKeyEnv but is not set`);
    }
    return config.backend === "rag" ? new RagBackend(upstream, apiKey, config.ragPassages) : new ProxyBackend(upstream, apiKey);
  }

  private async configured(config: ModelConfig, path: string): Promise<Omit<ServedModel, "id" | "config" | "backend">> {
    const splitter = getAddress(config.splitter!);
    const onChain = await readSplitterConfig(this.deps.provider, splitter);
    if (!onChain) throw new ConfigError(`${path}.splitter`, `there is no contract at ${splitter} on this chain`);
    if (onChain.token !== getAddress(this.deps.token))
      throw new ConfigError(`${path}.splitter`, `is paid in ${onChain.token}, but chain.token is ${this.deps.token}`);
    if (this.deps.oracleAddress && onChain.oracle !== getAddress(this.deps.oracleAddress)) {
      throw new ConfigError(
        `${path}.splitter`,
        `its oracle is ${onChain.oracle}, but ROYALTY402_ORACLE_KEY is the key of ${this.deps.oracleAddress}: epochs could not be posted`,
      );
    }
    return { splitter, splitterConfig: onChain, salt: null, deployed: true };
  }

  private async factorySplitter(config: SplitterTerms, salt: string, path: string, deploy: boolean): Promise<Omit<Payee, "id">> {
    const { factory, provider, oracle, oracleAddress, facilitatorAddress } = this.deps;
    if (!factory) throw new ConfigError("chain.factory", `is required to give ${path} a splitter (or set ${path}.splitter)`);
    if (!oracleAddress)
      throw new ConfigError(
        "env.ROYALTY402_ORACLE_KEY",
        `is required: the oracle is part of ${path}'s splitter configuration (it posts epochs)`,
      );
    if (!facilitatorAddress)
      throw new ConfigError("env.ROYALTY402_RELAYER_KEY", `is required: the settling relayer is part of ${path}'s splitter configuration`);
    const splitterConfig: SplitterConfig = {
      token: getAddress(this.deps.token),
      owner: config.owner,
      facilitator: getAddress(facilitatorAddress),
      oracle: getAddress(oracleAddress),
      guardian: config.guardian ?? config.owner,
      protocolRecipient: config.protocolRecipient ?? ZeroAddress,
      ownerBps: config.ownerBps,
      protocolBps: config.protocolBps,
      challengePeriod: config.challengePeriod,
    };
    const splitter = await predictSplitter(provider, factory, splitterConfig, salt);
    let deployed = await hasCode(provider, splitter);
    if (!deployed && deploy) {
      if (!oracle) throw new ConfigError("env.ROYALTY402_ORACLE_KEY", `is required to create ${path}'s splitter`);
      await this.oracleQueue.run(() => createSplitter(oracle, provider, factory, splitterConfig, salt));
      deployed = true;
    }
    return { splitter, splitterConfig, salt, deployed };
  }
}
