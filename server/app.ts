// The model host over HTTP: one fastify instance serving the paid API, the public and admin
// routes, the facilitator API and the dashboard, on the services of services.ts.
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
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import swagger from "@fastify/swagger";
import { adminRoutes } from "./api/admin.ts";
import { dataAccessRoutes } from "./api/data-access.ts";
import { answerClientError, installErrorHandling } from "./api/errors.ts";
import { openAiRoutes } from "./api/openai.ts";
import { securityHeaders } from "./api/security-headers.ts";
import { channelRoutes } from "./api/channels.ts";
import { opsRoutes } from "./api/ops.ts";
import { publicRoutes } from "./api/public.ts";
import type { LocalChain } from "./chain/local.ts";
import { loadConfig, secretsFromEnv, validateConfig, type Secrets, type ServerConfig } from "./config/index.ts";
import { dashboardRoutes } from "./dashboard/routes.ts";
import { facilitatorRoutes } from "./facilitator/index.ts";
import { mcpRoutes } from "./mcp/routes.ts";
import { buildServices, type ServiceOptions, type Services } from "./services.ts";
import { registerPayments } from "./x402/host.ts";

export interface CreateAppOptions extends Omit<ServiceOptions, "log"> {
  config: ServerConfig | unknown;
  /** With a validated config: its secrets (anything missing is read from `env`). */
  secrets?: Partial<Secrets>;
  /** false: silent; or pino options (level, a destination stream). Default: config.server.logLevel to stdout. */
  logger?: boolean | { level?: string; stream?: { write(line: string): void } };
  /** Start the epoch scheduler now (default true). closeNow works either way. */
  startScheduler?: boolean;
}

export interface RoyaltyServer {
  app: FastifyInstance;
  config: ServerConfig;
  context: Services["context"];
  /** The Hardhat chain started inside this process for chain.rpcUrl "in-process" (null otherwise). */
  localChain: LocalChain | null;
  /** Listens (default: config host and port) and returns the base URL. */
  listen(options?: { host?: string; port?: number }): Promise<string>;
  close(): Promise<void>;
}

/** A listen failure, in one sentence (port in use, not allowed). */
class ListenError extends Error {}

/** Log redaction: keys, signatures, tokens and payment headers never reach the logs. */
const LOG_REDACT_PATHS = [
  "req.headers.authorization",
  'req.headers["payment-signature"]',
  'req.headers["x-payment"]',
  "req.headers.cookie",
  'res.headers["payment-response"]',
  'res.headers["x-payment-response"]',
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
function requestLogView(req: FastifyRequest) {
  const [path, query] = req.url.split("?", 2);
  const url =
    query === undefined
      ? path
      : `${path}?${query
          .split("&")
          .map((pair) => `${pair.split("=", 1)[0]}=[redacted]`)
          .join("&")}`;
  return { method: req.method, url, host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
}

const validated = new WeakSet<object>();

/** Validates a raw config (file contents) with the environment; the result is accepted by createApp as is. */
export function prepareConfig(
  raw: unknown,
  env: NodeJS.ProcessEnv = process.env,
  baseDir?: string,
): { config: ServerConfig; secrets: Secrets } {
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

const OPENAPI = {
  openapi: "3.0.3",
  info: {
    title: "royalty402 model host",
    version: "0.1.0",
    description:
      "OpenAI-compatible endpoints paid per call with x402 (USDC, " +
      "EIP-3009). Each payment lands in the model's RoyaltySplitter; " +
      "each output's attribution record says which datanet contributors it used, and epochs split the payments to them on-chain.",
  },
  components: { securitySchemes: { bearerAuth: { type: "http", scheme: "bearer" } } },
} as const;

/**
 * Everything the model host serves, on the instance it is registered on: security headers,
 * OpenAPI, the x402 payments, the API routes, the facilitator API (when exposed) and the dashboard.
 */
const royaltyHost: FastifyPluginAsync<{ services: Services }> = fp(
  async (app: FastifyInstance, { services }: { services: Services }) => {
    const { context, config, embedded } = services;
    securityHeaders(app);
    await app.register(swagger, { openapi: OPENAPI });
    installErrorHandling(app);
    const { publicUrl, challengeRateLimit } = config.server;
    const schemes = await registerPayments(app, {
      context,
      facilitator: services.facilitator,
      embedded: services.embedded,
      publicUrl,
      challengeRateLimit,
    });
    await app.register(openAiRoutes, { ctx: context, schemes });
    await app.register(publicRoutes, { ctx: context });
    await app.register(dataAccessRoutes, { ctx: context, schemes });
    await app.register(channelRoutes, { ctx: context, schemes });
    await app.register(adminRoutes, { ctx: context, prefix: "/admin" });
    await app.register(opsRoutes, { ctx: context });
    await app.register(mcpRoutes, { ctx: context });
    if (embedded && config.facilitator.mode === "embedded" && config.facilitator.expose) {
      await app.register(facilitatorRoutes, { prefix: "/facilitator", facilitator: embedded });
    }
    await app.register(dashboardRoutes, { ctx: context, inject: (path: string) => app.inject({ method: "GET", url: path }) });
  },
  { fastify: "5.x", name: "royalty402-host" },
);

function loggerOption(config: ServerConfig, logger: CreateAppOptions["logger"]) {
  if (logger === false) return false;
  const given = typeof logger === "object" ? logger : {};
  return {
    level: given.level || config.server.logLevel,
    redact: { paths: LOG_REDACT_PATHS, censor: "[redacted]" },
    serializers: { req: requestLogView },
    ...(given.stream ? { stream: given.stream } : {}),
  };
}

function resolveConfig(options: CreateAppOptions): { config: ServerConfig; secrets: Secrets } {
  const env = options.env ?? process.env;
  if (!isValidated(options.config)) return prepareConfig(options.config, env);
  const given = Object.fromEntries(Object.entries(options.secrets ?? {}).filter(([, v]) => v !== undefined));
  return { config: options.config, secrets: { ...secretsFromEnv(env), ...given } };
}

async function listenOn(app: FastifyInstance, host: string, port: number): Promise<string> {
  try {
    return await app.listen({ host, port });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE")
      throw new ListenError(`port ${port} on ${host} is already in use (choose another with --port, or --port 0 for any free port)`);
    if (code === "EACCES") throw new ListenError(`not allowed to listen on ${host}:${port}`);
    throw e;
  }
}

export async function createApp(options: CreateAppOptions): Promise<RoyaltyServer> {
  const { config, secrets } = resolveConfig(options);
  const app = Fastify({
    logger: loggerOption(config, options.logger),
    bodyLimit: config.server.bodyLimitBytes,
    trustProxy: config.server.trustProxy,
    return503OnClosing: true,
    clientErrorHandler: answerClientError,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
  });
  let services: Services | null = null;
  try {
    services = await buildServices(config, secrets, { ...options, log: app.log });
    await app.register(royaltyHost, { services });
    await app.ready();
  } catch (error) {
    await app.close();
    await services?.close();
    throw error;
  }
  if (options.startScheduler !== false) services.context.scheduler.start();
  return serverOf(app, services);
}

function serverOf(app: FastifyInstance, services: Services): RoyaltyServer {
  const { config } = services;
  let closed = false;
  return {
    app,
    config,
    context: services.context,
    localChain: services.localChain,
    async listen(at = {}) {
      const address = await listenOn(app, at.host ?? config.server.host, at.port ?? config.server.port);
      const url = address.replace("://0.0.0.0:", "://127.0.0.1:").replace("://[::]:", "://127.0.0.1:");
      services.setListenUrl(url);
      return config.server.publicUrl ?? url;
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await services.close();
    },
  };
}
