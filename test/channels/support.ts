// A chain and server for the channel tests: TestUSDC, a splitter whose facilitator is the embedded
// facilitator's relayer key (also the channels' receiver authorizer), the escrow and collector stand-ins
// at their canonical addresses, and the payment plugin (in-memory store) offering exact and
// batch-settlement on one route, both settled by the embedded facilitator.
// The handler is a stand-in for a model (it counts its runs); the royalty extension names each output.
import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import { keccak256, toHex, type Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { toClientEvmSigner } from "@x402/evm";
import { BatchSettlementEvmScheme as ReferenceChannelClient } from "@x402/evm/batch-settlement/client";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { decodePaymentRequiredHeader } from "@x402/core/http";
import { MemoryPaymentStore, batchSettlementEvmScheme, exactEvmScheme, fastifyX402, type PaymentOutcome } from "@royalty402/fastify-x402";
import { Wallet } from "ethers";
import type { SweepPolicy } from "../../server/facilitator/batch-settlement/sweeper.ts";
import { EmbeddedFacilitator } from "../../server/facilitator/index.ts";
import type { ChannelJournal } from "../../server/facilitator/batch-settlement/journal.ts";
import { openLedger } from "../../server/ledger/index.ts";
import { uptoStack } from "../upto/support.ts";

export const PRICE = 1_000n;

export async function channelStack(
  options: { journal?: ChannelJournal; sweep?: Partial<SweepPolicy>; assetTransferMethod?: "eip3009" | "permit2" } = {},
) {
  const authorizerKey = generatePrivateKey();
  const s = await uptoStack({ facilitator: privateKeyToAccount(authorizerKey).address });
  const signer = await s.walletClient(authorizerKey); // funds the key; reads in the tests
  // The journal is a ledger; by default a fresh SQLite one in memory.
  const own = options.journal ? null : await openLedger({ sqlitePath: ":memory:", maintenance: false });
  const journal: ChannelJournal = options.journal ?? own!;
  const sweep = options.sweep ?? { maxAgeMs: 3_600_000 };
  const relayer = new Wallet(authorizerKey, s.ethers.provider);
  const embedded = await EmbeddedFacilitator.create({ provider: s.ethers.provider, relayer, channels: { journal, sweep } });
  const channels = embedded.channels!;
  const outcomes: PaymentOutcome[] = [];
  const runs = { count: 0 };
  const app = await serve(s, embedded, outcomes, runs, options.assetTransferMethod);
  const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const url = `${origin}/generate`;
  const refundUrl = `${origin}/refund`;

  /** A payer holding `amount` TestUSDC, paying with the reference batch-settlement client over @x402/fetch. */
  async function payer(amount: bigint, depositMultiplier = 10, approvePermit2 = false) {
    const wallet = await s.payer(amount, { approvePermit2 });
    const scheme = new ReferenceChannelClient(toClientEvmSigner(wallet.account, wallet), { depositPolicy: { depositMultiplier } });
    const client = new x402Client().register(s.network, scheme);
    client.setSpendControls({ allowedAssets: [{ network: s.network, asset: s.asset }] });
    return { wallet, address: wallet.account.address, scheme, fetch: wrapFetchWithPayment(fetch, client) };
  }

  async function close() {
    embedded.close();
    await app.close();
    await own?.close();
  }
  return { ...s, signer, embedded, journal, channels, outcomes, runs, app, url, refundUrl, payer, close };
}

export type ChannelStack = Awaited<ReturnType<typeof channelStack>>;

async function serve(
  s: Awaited<ReturnType<typeof uptoStack>>,
  embedded: EmbeddedFacilitator,
  outcomes: PaymentOutcome[],
  runs: { count: number },
  assetTransferMethod?: "eip3009" | "permit2",
) {
  const app: FastifyInstance = Fastify({ logger: false });
  await app.register(fastifyX402, {
    store: new MemoryPaymentStore(),
    facilitator: embedded,
    network: s.network,
    asset: { address: s.asset, name: "USD Coin", version: "2" },
    payTo: (resource) => (resource === "generate" ? s.payTo : undefined),
    schemes: [exactEvmScheme(), batchSettlementEvmScheme({ receiverAuthorizer: () => embedded.relayer.address, assetTransferMethod })],
    hooks: {
      onOutcome: (o) => outcomes.push(o),
      // What the server's royalty hook does: name the output and its attribution record's hash.
      enrichSettlementPayload: ({ payment }) => ({
        royalty402: { outputId: payment.outputId, attributionRoot: recordHash(payment.outputId as Hex) },
      }),
    },
  });
  const x402 = { resource: "generate", price: PRICE, scheme: ["exact", "batch-settlement"] };
  app.post("/generate", { config: { x402 } }, async () => {
    runs.count++;
    return { text: "an answer" };
  });
  // The channel's refund URL (what the reference client's refund(url) probes and pays): it sells nothing.
  const refund = { resource: "generate", price: 1n, scheme: "batch-settlement", operationsOnly: true };
  app.get("/refund", { config: { x402: refund } }, async () => ({ unreachable: true }));
  await app.listen({ host: "127.0.0.1", port: 0 });
  return app;
}

/** The batch-settlement offer of a 402 answer. */
export const channelOffer = (paymentRequired: string) =>
  decodePaymentRequiredHeader(paymentRequired).accepts.find((a) => a.scheme === "batch-settlement")!;

/** The stand-in attribution record hash of an output. */
export const recordHash = (outputId: Hex) => keccak256(toHex(`record:${outputId}`));
