// The plugin's public shapes: route configuration, what a handler sees, options, hooks, events.
import type { FastifyRequest } from "fastify";
import type { FacilitatorClient } from "@x402/core/server";
import type { PaymentPayload, PaymentRequirements, SettleResponse } from "@x402/core/types";
import type { RouteDiscovery } from "./discovery.ts";
import type { PaymentIdOptions } from "./payment-identifier.ts";
import type { AssetInfo, PaymentScheme } from "./schemes/scheme.ts";
import type { PaymentKey, PaymentStore } from "./store.ts";

type Awaitable<T> = T | Promise<T>;

/** What a paid route declares in `config.x402`. */
export interface PaidRoute {
  /** The resource this route sells, or how to read it from the request (e.g. the body's `model`). */
  resource: string | ((request: FastifyRequest) => Awaitable<string>);
  /** Price in atomic token units, fixed or computed from the request. */
  price: bigint | string | number | ((request: FastifyRequest, resource: string) => Awaitable<bigint | string | number>);
  /** The registered scheme(s) offered, in the challenge's order; default: the first one registered. */
  scheme?: string | readonly string[];
  description?: string;
  mimeType?: string;
  /** How discovery (the bazaar extension) describes this route; false leaves it out. */
  discovery?: RouteDiscovery | false;
  /** The route sells nothing: it takes payment operations only (a channel's refund); a payment gets a 400. */
  operationsOnly?: boolean;
}

/** What the handler reports it delivered. Hosts add their own fields by module augmentation. */
export interface PaymentOutput {
  /** The id of what the payment bought; defaults to a hash of the payment key. */
  outputId?: string;
  /** For metered schemes: the amount actually used (atomic units, at most the authorized amount). */
  usage?: bigint;
}

/** What the handler of a paid route sees as `request.x402`. */
export interface PaymentContext {
  readonly resource: string;
  readonly payer: string;
  readonly amount: bigint;
  readonly requirements: PaymentRequirements;
  readonly payload: PaymentPayload;
  readonly key: PaymentKey;
  readonly outputId: string;
  /** Everything the handler reported through setOutput (read by hooks). */
  readonly output: Readonly<PaymentOutput>;
  setOutput(output: PaymentOutput): void;
}

export interface ChallengeRateLimit {
  /** Challenges (requests without PAYMENT-SIGNATURE) allowed per client and window. */
  max: number;
  /** Window in ms, or a duration string such as "1 minute". */
  timeWindow: number | string;
  /** Who a client is; default: the request's IP. */
  keyGenerator?: (request: FastifyRequest) => string | number | Promise<string | number>;
}

/** How a payment request ended, for metrics and schedulers. */
export type OutcomeStatus =
  | "challenged" // 402 without a payment
  | "rejected" // a payment refused before the handler (mismatch, verify)
  | "replayed" // 409
  | "redelivered" // the same payment again: its kept output answered, nothing settled
  | "released" // the handler failed or the client left: nothing charged
  | "unavailable" // 503: nothing charged
  | "settled"
  | "pending" // 202: broadcast, not yet confirmed
  | "failed"; // settlement refused after the handler ran

export interface PaymentOutcome {
  status: OutcomeStatus;
  resource: string;
  request: FastifyRequest;
  /** With a reserved payment: its context. */
  payment?: PaymentContext;
  reason?: string;
  transaction?: string;
  /** Settled: the amount charged (atomic units; a metered scheme may charge less than authorized). */
  amount?: string;
}

/** What settlement hooks see. */
export interface SettleHookContext {
  request: FastifyRequest;
  payment: PaymentContext;
  paymentPayload: PaymentPayload;
  requirements: PaymentRequirements;
}

/** Where an answer's PAYMENT-RESPONSE extra is built (first answer, re-delivery, held output). */
export interface ResponseExtraContext {
  request: FastifyRequest;
  outputId: string;
  key: PaymentKey;
}

/** Hooks in the manner of the reference x402ResourceServer's. */
export interface X402Hooks {
  /** Checks what a handler reports through setOutput (throw to refuse it: the handler fails, nothing is charged). */
  checkOutput?: (output: PaymentOutput) => void;
  /** Extensions added to the payload handed to settle (they replace any the client sent under the same name). */
  enrichSettlementPayload?: (context: SettleHookContext) => Awaitable<Record<string, unknown> | undefined>;
  /** Fields added to PAYMENT-RESPONSE `extra` (additive). */
  enrichSettlementResponse?: (context: ResponseExtraContext) => Record<string, unknown> | undefined;
  /** Before settle; the payment is journalled "settling". `abort` answers 402 with the reason and records it failed. */
  beforeSettle?: (context: SettleHookContext) => Awaitable<undefined | { abort: true; reason: string; message?: string }>;
  /** After the facilitator answered (success or not). */
  afterSettle?: (context: SettleHookContext & { result: SettleResponse }) => Awaitable<void>;
  /** A verified, reserved payment given back unused (handler failure, client gone). */
  onVerifiedPaymentCanceled?: (context: {
    request: FastifyRequest;
    payment: PaymentContext;
    reason: "handler_failed" | "request_aborted";
  }) => Awaitable<void>;
  /** Every payment request's outcome (never throws into the request). */
  onOutcome?: (outcome: PaymentOutcome) => void;
}

/** A final result of a settlement answered "pending" (or still running), from the facilitator's side. */
export interface LateSettlement {
  asset: string;
  payer: string;
  nonce: string;
  status: "settled" | "failed";
  txHash: string | null;
  reason?: string;
}

/** Crash recovery the host runs over its store (e.g. from chain facts). */
export interface Recovery {
  /** The pass at start (awaited briefly by a retry of a payment left "settling"), then periodic passes. */
  start(): Promise<unknown>;
  stop(): void;
}

export interface X402Options {
  store: PaymentStore;
  /** Any x402 facilitator: new HTTPFacilitatorClient({ url }), or one in-process. */
  facilitator: FacilitatorClient;
  /** CAIP-2 network, e.g. "eip155:8453". */
  network: string;
  /** The payment token and its EIP-712 domain. */
  asset: AssetInfo;
  /** The payee of a resource; undefined for an unknown resource (404 unknown_resource). */
  payTo: (resource: string) => Awaitable<string | undefined>;
  /** Default: [exactEvmScheme()]. */
  schemes?: PaymentScheme[];
  hooks?: X402Hooks;
  maxTimeoutSeconds?: number; // default 300
  maxPaymentHeaderBytes?: number; // default 8 KiB
  retryAfterSeconds?: number; // default 5
  /** Base URL for `resource.url` in challenges and output URLs; default: from the request's Host. */
  publicUrl?: string;
  /** Where a payer fetches a held output with its retrieval token; default "/x402/outputs". */
  outputsPath?: string;
  /** Largest streamed body kept for the payer (default 4 MiB). */
  maxHeldOutputBytes?: number;
  /**
   * Key of the server-signed retrieval tokens (at least 32 bytes). Give a stable one so that a
   * retry after a restart gets the same token; default: random per process.
   */
  retrievalSecret?: string | Uint8Array;
  /** A retry of the very same signed payment gets its output re-delivered this long after it was paid (default 600 s). */
  redeliveryWindowSeconds?: number;
  /** The header marking a re-delivered answer (default "X-Payment-Redelivered"). */
  redeliveredHeader?: string;
  /** The default output id of a payment (default: sha256 of the payment key, 0x-hex). */
  outputId?: (key: PaymentKey) => string;
  /** Whether a thrown facilitator error means "could not reach it" (503, nothing charged). */
  isUnavailableError?: (error: unknown) => boolean;
  /** Final results of settlements answered "pending": recorded in the store when they arrive. */
  lateSettlements?: (listener: (settlement: LateSettlement) => void) => () => void;
  recovery?: Recovery;
  /** Rate limit on 402 challenges, per client (@fastify/rate-limit). Off by default. */
  challengeRateLimit?: ChallengeRateLimit | false;
  /** The payment-identifier extension (idempotency ids; the store must implement claimPaymentId). Off by default. */
  paymentIdentifier?: PaymentIdOptions | boolean;
  /** The bazaar extension in challenges and GET {path} (default "/discovery/resources") listing the paid routes. Off by default. */
  discovery?: { path?: string } | boolean;
  /** x402 v1 clients (X-PAYMENT): the network's v1 name; default from the v1 reference table (base, base-sepolia…); false: off. */
  v1Network?: string | false;
}
