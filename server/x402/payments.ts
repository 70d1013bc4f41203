// The x402 plugin as this server mounts it: the package @royalty402/fastify-x402 over the
// ledger, with the royalty402 extension in every settlement, the embedded facilitator's journal
// before broadcast and late results, and crash recovery from chain facts.
import type { FastifyInstance, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import type { FacilitatorClient } from "@x402/core/server";
import {
  fastifyX402,
  keyId,
  type ChallengeRateLimit,
  type PaymentKey,
  type PaymentScheme,
  type X402Hooks,
  type X402Options,
} from "@royalty402/fastify-x402";
import type { Provider } from "ethers";
import { hashPaymentKey } from "../facilitator/abi.ts";
import { facilitatorEvents, isTransportError, type FacilitatorEvents } from "../facilitator/index.ts";
import type { Ledger } from "../ledger/index.ts";
import { attributionPath } from "../util/urls.ts";
import { PaymentReconciler, type ReconcileOptions } from "./reconciler.ts";
import { royaltyHooks } from "./royalty.ts";
import { ledgerPaymentStore } from "./store.ts";

/** Marks an answer given again to a retry of a payment already settled or being settled. */
const REDELIVERED_HEADER = "X-Royalty402-Redelivered";

export interface PaymentsOptions {
  ledger: Ledger;
  /** The embedded facilitator (or a wrapper of it), or any facilitator by URL (HTTPFacilitatorClient). */
  facilitator: FacilitatorClient;
  /** CAIP-2 network, e.g. "eip155:31337". */
  network: string;
  /** The payment token and its EIP-712 domain (USDC: "USD Coin", "2"). */
  asset: { address: string; name: string; version: string };
  /** The schemes offered (schemes.ts); default exact only. */
  schemes?: PaymentScheme[];
  /** The splitter (payTo) of a model; undefined for an unknown model. */
  payTo: (model: string) => string | undefined | Promise<string | undefined>;
  /** The chain, for crash recovery (with a facilitator that journals its broadcasts). */
  provider?: Provider;
  /** Crash recovery (reconciler.ts); on with `provider` and the embedded facilitator; false turns it off. */
  reconcile?: ReconcileOptions | false;
  publicUrl?: string;
  /** Where an output's attribution record is served; default `${base}/attributions/${outputId}`. */
  attributionUrl?: (outputId: string) => string;
  outputsPath?: string;
  maxHeldOutputBytes?: number;
  maxPaymentHeaderBytes?: number;
  retrievalSecret?: string | Uint8Array;
  redeliveryWindowSeconds?: number;
  challengeRateLimit?: ChallengeRateLimit | false;
  /** Every payment request's outcome (metrics, epoch scheduling). */
  onOutcome?: X402Hooks["onOutcome"];
  /** The payment-identifier extension (idempotency ids kept in the ledger); default on. */
  paymentIdentifier?: X402Options["paymentIdentifier"];
  /** Bazaar discovery (challenges declare it; GET /discovery/resources lists the paid routes); default on. */
  discovery?: X402Options["discovery"];
  /** x402 v1 clients: the network's v1 name (default: "hardhat" for chain 31337, else the v1 reference table's). */
  v1Network?: string | false;
}

/** The v1 name of the local chain (31337), which the v1 reference client's table lacks: viem's name for it. */
export const LOCAL_V1_NETWORK = "hardhat";

async function payments(app: FastifyInstance, options: PaymentsOptions): Promise<void> {
  const { ledger, facilitator, network } = options;
  const store = ledgerPaymentStore(ledger);
  const events = facilitatorEvents(facilitator);
  const base = (request: FastifyRequest) => options.publicUrl ?? `${request.protocol}://${request.host}`;
  const attributionUrl = (request: FastifyRequest, outputId: string) =>
    options.attributionUrl?.(outputId) ?? `${base(request)}${attributionPath(outputId)}`;
  const settlingHere = new Set<string>();
  const hooks: X402Hooks = {
    ...royaltyHooks(attributionUrl),
    ...(events ? journalHooks(settlingHere) : {}),
    ...(options.onOutcome ? { onOutcome: options.onOutcome } : {}),
  };
  const provider = options.reconcile === false ? undefined : (options.reconcile?.provider ?? (events ? options.provider : undefined));
  await app.register(fastifyX402, {
    store,
    facilitator,
    network,
    asset: options.asset,
    payTo: options.payTo,
    hooks,
    redeliveredHeader: REDELIVERED_HEADER,
    paymentIdentifier: options.paymentIdentifier ?? true,
    discovery: options.discovery ?? true,
    ...(options.v1Network !== undefined
      ? { v1Network: options.v1Network }
      : network === "eip155:31337"
        ? { v1Network: LOCAL_V1_NETWORK }
        : {}),
    outputId: (key: PaymentKey) => hashPaymentKey(key.network, key.asset, key.payer, key.nonce),
    isUnavailableError: isTransportError,
    ...(events ? { lateSettlements: (listener) => events.onFinal(listener) } : {}),
    ...(provider ? { recovery: new PaymentReconciler(ledger, provider, network, options.reconcile || {}, app.log) } : {}),
    ...pick(options, [
      "schemes",
      "publicUrl",
      "outputsPath",
      "maxHeldOutputBytes",
      "maxPaymentHeaderBytes",
      "retrievalSecret",
      "redeliveryWindowSeconds",
      "challengeRateLimit",
    ]),
  });
  if (events) journalBroadcasts(app, events, ledger, network, settlingHere);
}

/** The payments this process is settling now: only their broadcasts are journalled here. */
function journalHooks(settlingHere: Set<string>): Pick<X402Hooks, "beforeSettle" | "afterSettle"> {
  return {
    beforeSettle: async ({ payment }) => void settlingHere.add(keyId(payment.key)),
    afterSettle: async ({ payment }) => void settlingHere.delete(keyId(payment.key)),
  };
}

/**
 * Records the batch transaction's hash against each of our payments after it is signed and
 * before it is broadcast: a crash after the broadcast leaves a row the reconciler can finish.
 * A payment whose reservation is no longer held is kept off the chain.
 */
function journalBroadcasts(
  app: FastifyInstance,
  events: FacilitatorEvents,
  ledger: Ledger,
  network: string,
  settlingHere: Set<string>,
): void {
  const unsubscribe = events.onBeforeBroadcast(async ({ asset, payer, nonce, txHash }) => {
    const key = { network, asset: asset.toLowerCase(), payer: payer.toLowerCase(), nonce: nonce.toLowerCase() };
    if (!settlingHere.has(keyId(key))) return;
    // A batch transaction's payments are asked for in one turn: the ledger writes their hashes in one statement.
    if (!(await ledger.journalBroadcast(key, txHash))) throw new Error("the reservation is no longer held");
  });
  app.addHook("onClose", async () => unsubscribe());
}

function pick<T extends object, K extends keyof T>(source: T, keys: K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (source[key] !== undefined) picked[key] = source[key];
  return picked;
}

/** x402 payments on the model host's routes (`config.x402`), over the ledger. */
export const x402Payments = fp(payments, { fastify: "5.x", name: "royalty402-payments" });
