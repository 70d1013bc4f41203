// Options checked once at registration (a wrong one is a one-line error naming it) and resolved
// into what the stages share.
import { createHash } from "node:crypto";
import type { FastifyRequest } from "fastify";
import type { FacilitatorClient } from "@x402/core/server";
import { exactEvmScheme } from "./schemes/exact.ts";
import { schemeRegistry, type AssetInfo, type Network, type PaymentScheme } from "./schemes/scheme.ts";
import { retrievalTokens, type RetrievalTokens } from "./retrieval.ts";
import { keyId, type PaymentKey, type PaymentStore } from "./store.ts";
import type { PaymentOutcome, Recovery, X402Hooks, X402Options } from "./types.ts";
import { DEFAULT_MAX_PAYMENT_HEADER_BYTES } from "./wire.ts";
import { DEFAULT_DISCOVERY_PATH } from "./discovery.ts";
import { v1NetworkName } from "./v1.ts";

export const DEFAULT_OUTPUTS_PATH = "/x402/outputs";
/** Streamed bodies are collected up to this size to be kept; a typical paid answer is far smaller. */
const DEFAULT_MAX_HELD_OUTPUT_BYTES = 4 * 1024 * 1024;

/** What the stages of one registration share. */
export interface Runtime {
  store: PaymentStore;
  facilitator: FacilitatorClient;
  network: Network;
  asset: AssetInfo;
  payTo: X402Options["payTo"];
  schemes: Map<string, PaymentScheme>;
  defaultScheme: string;
  hooks: X402Hooks;
  maxTimeoutSeconds: number;
  maxHeaderBytes: number;
  maxHeldBytes: number;
  retryAfter: string;
  publicUrl: string | undefined;
  outputsPath: string;
  redeliveryWindowMs: number;
  redeliveredHeader: string;
  tokens: RetrievalTokens;
  recovery: Recovery | undefined;
  /** The payment-identifier extension, when on. */
  paymentIds: { required: boolean; waitMs: number } | null;
  /** Bazaar discovery, when on: where the listing is served. */
  discovery: { path: string } | null;
  /** The network's x402 v1 name; null: v1 payments are not taken. */
  v1Network: string | null;
  outputIdFor(key: PaymentKey): string;
  isUnavailable(error: unknown): boolean;
  baseUrl(request: FastifyRequest): string;
  emit(outcome: PaymentOutcome): void;
  /** The recovery pass at start while it runs, else null. */
  startPass: Promise<unknown> | null;
}

const fail = (message: string): never => {
  throw new Error(`fastify-x402: ${message}`);
};
const isFunction = (value: unknown) => typeof value === "function";
const positiveInt = (value: unknown) => typeof value === "number" && Number.isInteger(value) && value > 0;
const TRANSPORT = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket hang up|fetch failed|network error|timed? ?out/i;

/** Throws a one-line error naming the first wrong option. */
function validate(options: X402Options): void {
  if (!options || typeof options !== "object") fail("options are required");
  const { store, facilitator } = options;
  for (const method of ["reserve", "transition", "get", "holdOutput", "getHeldOutput"] as const) {
    if (!store || !isFunction(store[method])) fail(`store must implement PaymentStore (${method} is missing)`);
  }
  for (const method of ["verify", "settle", "getSupported"] as const) {
    if (!facilitator || !isFunction(facilitator[method])) fail(`facilitator must be an x402 FacilitatorClient (${method} is missing)`);
  }
  if (typeof options.network !== "string" || !/^[a-z0-9-]{3,8}:[-_a-zA-Z0-9]{1,32}$/.test(options.network))
    fail(`network must be a CAIP-2 id such as "eip155:8453"`);
  const { asset } = options;
  if (!asset || typeof asset.address !== "string" || typeof asset.name !== "string" || typeof asset.version !== "string") {
    fail("asset must be { address, name, version }");
  }
  if (!isFunction(options.payTo)) fail("payTo must be a function of the resource");
  for (const field of [
    "maxTimeoutSeconds",
    "maxPaymentHeaderBytes",
    "retryAfterSeconds",
    "maxHeldOutputBytes",
    "redeliveryWindowSeconds",
  ] as const) {
    if (options[field] !== undefined && !positiveInt(options[field])) fail(`${field} must be a positive integer`);
  }
  if (options.publicUrl !== undefined && !/^https?:\/\/[^/]+/.test(options.publicUrl)) fail("publicUrl must be an http(s) URL");
  if (options.redeliveredHeader !== undefined && !/^[A-Za-z0-9-]+$/.test(options.redeliveredHeader))
    fail("redeliveredHeader must be a header name");
  if (options.outputsPath !== undefined && !options.outputsPath.startsWith("/")) fail("outputsPath must start with /");
  checkExtensions(options);
  const secret = options.retrievalSecret;
  if (secret !== undefined && (typeof secret === "string" ? Buffer.byteLength(secret) : secret.byteLength) < 32)
    fail("retrievalSecret must be at least 32 bytes");
}

function checkExtensions(options: X402Options): void {
  const ids = options.paymentIdentifier;
  if (ids && (!isFunction(options.store.claimPaymentId) || !isFunction(options.store.getPaymentId)))
    fail("paymentIdentifier needs a store implementing claimPaymentId and getPaymentId");
  if (typeof ids === "object" && ids.waitSeconds !== undefined && !positiveInt(ids.waitSeconds))
    fail("paymentIdentifier.waitSeconds must be a positive integer");
  const discovery = options.discovery;
  if (typeof discovery === "object" && discovery.path !== undefined && !discovery.path.startsWith("/"))
    fail("discovery.path must start with /");
  if (options.v1Network !== undefined && options.v1Network !== false && !/^[a-z0-9-]{1,40}$/.test(options.v1Network))
    fail('v1Network must be a v1 network name such as "base-sepolia", or false');
}

export function resolveOptions(options: X402Options): Runtime {
  validate(options);
  const { store, facilitator, asset } = options;
  const outputsPath = (options.outputsPath ?? DEFAULT_OUTPUTS_PATH).replace(/\/+$/, "");
  const secret = options.retrievalSecret;
  const schemes = schemeRegistry(options.schemes ?? [exactEvmScheme()]);
  if (schemes.size === 0) fail("schemes must name at least one scheme");
  const hooks = options.hooks ?? {};
  const publicUrl = options.publicUrl?.replace(/\/+$/, "");
  return {
    store,
    facilitator,
    network: options.network as Network,
    asset,
    payTo: options.payTo,
    schemes,
    defaultScheme: schemes.keys().next().value as string,
    hooks,
    maxTimeoutSeconds: options.maxTimeoutSeconds ?? 300,
    maxHeaderBytes: options.maxPaymentHeaderBytes ?? DEFAULT_MAX_PAYMENT_HEADER_BYTES,
    maxHeldBytes: options.maxHeldOutputBytes ?? DEFAULT_MAX_HELD_OUTPUT_BYTES,
    retryAfter: String(options.retryAfterSeconds ?? 5),
    publicUrl,
    outputsPath,
    redeliveryWindowMs: (options.redeliveryWindowSeconds ?? 600) * 1000,
    redeliveredHeader: options.redeliveredHeader ?? "X-Payment-Redelivered",
    tokens: retrievalTokens(secret),
    recovery: options.recovery,
    paymentIds: paymentIdsOf(options.paymentIdentifier),
    discovery: options.discovery
      ? { path: (typeof options.discovery === "object" && options.discovery.path) || DEFAULT_DISCOVERY_PATH }
      : null,
    v1Network: v1NetworkName(options.network, options.v1Network),
    outputIdFor: options.outputId ?? ((key) => `0x${createHash("sha256").update(keyId(key), "utf8").digest("hex")}`),
    isUnavailable: options.isUnavailableError ?? ((error) => TRANSPORT.test(String((error as Error)?.message ?? error))),
    baseUrl: (request) => publicUrl ?? `${request.protocol}://${request.host}`,
    emit(outcome) {
      try {
        hooks.onOutcome?.(outcome);
      } catch (error) {
        outcome.request.log.error({ err: error }, "x402: an onOutcome listener threw");
      }
    },
    startPass: null,
  };
}

function paymentIdsOf(option: X402Options["paymentIdentifier"]): Runtime["paymentIds"] {
  if (!option) return null;
  const given = typeof option === "object" ? option : {};
  return { required: given.required ?? false, waitMs: (given.waitSeconds ?? 30) * 1000 };
}
