// The model host (createApp) on the in-process Hardhat chain, wired as in production: TestUSDC,
// the factory, a relayer and an oracle with their own keys, a small Brown-corpus datanet, one
// ∞-gram model whose splitter is created at start. Plus what a reliability test needs around
// it: funded payers, the model's payment requirements, signed payments, a count of the model
// backend's generations (how often a paid handler really ran), and on-chain settlement events.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { type Contract, Wallet, type Provider } from "ethers";
import { createApp, type CreateAppOptions, type RoyaltyServer } from "../../../server/app.ts";
import { splitterInterface } from "../../../server/facilitator/abi.ts";
import type { Ledger } from "../../../server/ledger/index.ts";
import { connectChain, type Chain } from "../../../scripts/shared/stack.ts";
import { pay, type PaymentOverrides } from "../../x402/support/stack.ts";

export const MODEL = "brown-ngram";
export const ADMIN_TOKEN = "reliability-admin-token-0123456789";
export const PRICE_PER_REQUEST = 1000n;
export const PRICE_PER_MAX_TOKEN = 10n;
export const DEFAULT_MAX_TOKENS = 16;
export const MAX_TOKENS_LIMIT = 64;
const HUNDRED_ETH = "0x56BC75E2D63100000";

export const priceFor = (maxTokens: number) => PRICE_PER_REQUEST + PRICE_PER_MAX_TOKEN * BigInt(maxTokens);

/** Deploys TestUSDC and the factory on an in-process chain; keys for the relayer and the oracle. */
export async function deployChain(chain?: Chain) {
  chain ??= await connectChain();
  const { ethers, signers, connection } = chain;
  const token = (await ethers.deployContract("TestUSDC")) as unknown as Contract;
  const factory = (await ethers.deployContract("SplitterFactory", [1])) as unknown as Contract;
  const fundGas = (address: string) => connection.provider.request({ method: "hardhat_setBalance", params: [address, HUNDRED_ETH] });
  const relayerKey = Wallet.createRandom().privateKey;
  const oracleKey = Wallet.createRandom().privateKey;
  for (const key of [relayerKey, oracleKey]) await fundGas(new Wallet(key).address);
  return { chain, ethers, signers, token, factory, relayerKey, oracleKey, fundGas, owner: signers[1] };
}

export type DeployedChain = Awaited<ReturnType<typeof deployChain>>;

export interface HostOptions {
  /** Reach the chain through this provider. */
  provider?: Provider;
  /** Reach the chain at this URL with the server's own provider and keys from the environment, as in production. */
  rpcUrl?: string;
  ledger?: Ledger;
  relayerKey?: string;
  /** Extra facilitator config (maxWaitMs, confirmTimeoutMs...). */
  facilitator?: Record<string, unknown>;
  epochs?: Record<string, unknown>;
  /** An existing splitter instead of the factory's (its on-chain configuration is used). */
  splitter?: string;
  /** Without an oracle (e.g. a second instance that must not post epochs). */
  noOracle?: boolean;
  logger?: CreateAppOptions["logger"];
  env?: Record<string, string>;
  server?: Record<string, unknown>;
}

/** The model host on `d`'s chain. */
export async function startHost(d: DeployedChain, o: HostOptions = {}) {
  const provider = o.provider ?? (d.ethers.provider as unknown as Provider);
  const dataDir = mkdtempSync(join(tmpdir(), "r402-rel-"));
  const relayerKey = o.relayerKey ?? d.relayerKey;
  const relayer = new Wallet(relayerKey, provider);
  const oracle = o.noOracle ? null : new Wallet(d.oracleKey, provider);
  const keysFromEnv = o.rpcUrl ? { ROYALTY402_RELAYER_KEY: relayerKey, ...(o.noOracle ? {} : { ROYALTY402_ORACLE_KEY: d.oracleKey }) } : {};
  const server: RoyaltyServer = await createApp({
    config: {
      server: { host: "127.0.0.1", port: 0, ...o.server },
      chain: { rpcUrl: o.rpcUrl ?? "in-process", chainId: 31337, token: await d.token.getAddress(), factory: await d.factory.getAddress() },
      facilitator: { mode: "embedded", maxWaitMs: 10, ...o.facilitator },
      dataDir,
      epochs: { enabled: false, ...o.epochs },
      datanets: [{ id: "corpus-brown", seed: { corpus: "brown", documents: 6, contributors: 5 } }],
      models: [
        {
          id: MODEL,
          backend: "infinigram",
          datanet: "corpus-brown",
          pricePerRequest: PRICE_PER_REQUEST.toString(),
          pricePerMaxToken: PRICE_PER_MAX_TOKEN.toString(),
          defaultMaxTokens: DEFAULT_MAX_TOKENS,
          maxTokensLimit: MAX_TOKENS_LIMIT,
          owner: d.owner.address,
          ...(o.splitter ? { splitter: o.splitter } : {}),
        },
      ],
    },
    env: { ROYALTY402_ADMIN_TOKEN: ADMIN_TOKEN, ...keysFromEnv, ...o.env },
    ...(o.rpcUrl ? {} : { chain: { provider, relayer, oracle } }),
    ...(o.ledger ? { ledger: o.ledger } : {}),
    logger: o.logger ?? false,
  });
  const model = server.context.models.get(MODEL)!;
  // Count the backend's generations: the handler of a paid route runs once per generation.
  const backend = model.backend;
  const generations = { count: 0 };
  (model as { backend: typeof backend }).backend = {
    kind: backend.kind,
    complete: (...args: Parameters<typeof backend.complete>) => {
      generations.count++;
      return backend.complete(...args);
    },
  };
  return {
    server,
    app: server.app,
    ledger: server.context.ledger,
    relayer,
    payTo: model.splitter,
    generations,
    async close() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type Host = Awaited<ReturnType<typeof startHost>>;

export const completionBody = (maxTokens = 8, extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  prompt: "The jury said",
  max_tokens: maxTokens,
  temperature: 0,
  ...extra,
});

/** The requirements the host asks for a request (from its 402 challenge). */
export async function requirementsFor(host: Host, body: Record<string, unknown> = completionBody()): Promise<PaymentRequirements> {
  const res = await host.app.inject({ method: "POST", url: "/v1/completions", payload: body });
  if (res.statusCode !== 402) throw new Error(`expected a 402 challenge, got ${res.statusCode}: ${res.body}`);
  return decodePaymentRequiredHeader(res.headers["payment-required"] as string).accepts[0];
}

export async function fundedPayer(d: DeployedChain, amount = 10n ** 12n): Promise<Wallet> {
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  if (amount > 0n) await (await (d.token.getFunction("mint") as any)(wallet.address, amount)).wait();
  return wallet;
}

export async function signedHeader(
  wallet: Wallet,
  requirements: PaymentRequirements,
  o: PaymentOverrides = {},
): Promise<{ payment: PaymentPayload; header: string }> {
  const payment = await pay(wallet, requirements, o);
  return { payment, header: encodePaymentSignatureHeader(payment) };
}

export const nonceOf = (payment: PaymentPayload) => (payment.payload.authorization as { nonce: string }).nonce.toLowerCase();

/** PaymentSettled events of a splitter (by nonce), from block `fromBlock`. */
export async function settledEvents(provider: Provider, splitter: string, fromBlock = 0) {
  const topic = splitterInterface.getEvent("PaymentSettled")!.topicHash;
  const logs = await provider.getLogs({ address: splitter, topics: [topic], fromBlock, toBlock: "latest" });
  return logs.map((log) => {
    const parsed = splitterInterface.parseLog(log)!;
    return {
      outputId: (parsed.args.outputId as string).toLowerCase(),
      payer: (parsed.args.payer as string).toLowerCase(),
      amount: parsed.args.amount as bigint,
      nonce: (parsed.args.nonce as string).toLowerCase(),
      attributionRoot: (parsed.args.attributionRoot as string).toLowerCase(),
      txHash: log.transactionHash,
    };
  });
}
