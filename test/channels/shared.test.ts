// Two model hosts (createApp, the whole server) sharing one PostgreSQL ledger and the same channels, on
// the in-process chain with the escrow: the same relayer key on both (it is the channels' receiver
// authorizer). The reference batch-settlement client pays one channel through both hosts in turn: a
// voucher taken by one is known to the other (checked against the shared charged total). The same signed
// voucher sent to both at once is charged once (the shared ledger reserves its payment key; the journal's
// conditional update is the second guard, tested on two ledgers in test/ledger/channels.test.ts). Both
// hosts sweeping at once claim and link every voucher exactly once: on-chain totals equal the ledger.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { decodePaymentResponseHeader, decodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { toClientEvmSigner } from "@x402/evm";
import { BatchSettlementEvmScheme as ReferenceChannelClient } from "@x402/evm/batch-settlement/client";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { type Contract, Interface, hexlify, randomBytes } from "ethers";
import { createWalletClient, custom, defineChain, publicActions } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { createApp, type RoyaltyServer } from "../../server/app.ts";
import { PostgresLedger } from "../../server/ledger/postgres.ts";
import { outputsRoot } from "../../server/facilitator/batch-settlement/sweeper.ts";
import type { Chain } from "../../scripts/shared/stack.ts";
import { hostChain } from "../support/host-chain.ts";

const ADMIN = "channel-shared-admin-token-0123456789";
const PRICE = 5000n;
const ALTERNATE = 10;
const RACES = 5;
const ETH_100 = "0x56BC75E2D63100000";
const url = inject("postgresUrl");
const schema = `shared_${Math.random().toString(36).slice(2, 10)}`;
const admin = new pg.Pool({ connectionString: url, max: 1 });
const dirs: string[] = [];
const servers: RoyaltyServer[] = [];
const ledgers: PostgresLedger[] = [];
let chain: Chain;
let token: Contract;
let bases: string[] = [];
let splitter = "";
const answered: string[] = []; // output ids of every 200

const json = { "content-type": "application/json" };
const body = (prompt: string) => JSON.stringify({ model: "m", prompt, max_tokens: 8 });
const linkEvents = new Interface(["event ChannelOutputsPaid(bytes32 indexed outputsRoot, uint256 count, uint256 amount)"]);
const escrowEvents = new Interface([
  "event Claimed(bytes32 indexed channelId, address indexed sender, uint128 claimAmount, uint128 totalClaimed)",
]);

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const l of ledgers) await l.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

async function host(h: Awaited<ReturnType<typeof hostChain>>): Promise<RoyaltyServer> {
  const ledger = new PostgresLedger({ connectionString: url, schema, poolSize: 8 });
  await ledger.migrate();
  ledgers.push(ledger);
  const dataDir = mkdtempSync(join(tmpdir(), "r402-channels-shared-"));
  dirs.push(dataDir);
  const server = await createApp({
    config: {
      server: { port: 0 },
      chain: h.config,
      facilitator: { mode: "embedded", maxWaitMs: 10 },
      dataDir,
      epochs: { enabled: false },
      datanets: [{ id: "brown", seed: { corpus: "brown", documents: 6, contributors: 4 } }],
      models: [{ id: "m", backend: "infinigram", datanet: "brown", pricePerRequest: PRICE.toString(), owner: h.owner.address }],
    },
    env: { ROYALTY402_ADMIN_TOKEN: ADMIN },
    chain: h.options,
    ledger,
    logger: false,
  });
  servers.push(server);
  return server;
}

/** The reference batch-settlement client over @x402/fetch; `send` is the fetch it pays through. */
async function channelPayer(amount: bigint, send: typeof fetch = fetch) {
  const account = privateKeyToAccount(generatePrivateKey());
  const eip1193 = chain.connection.provider;
  await eip1193.request({ method: "hardhat_setBalance", params: [account.address, ETH_100] });
  await (await (token.getFunction("mint") as any)(account.address, amount)).wait();
  const viemChain = defineChain({
    id: Number(chain.chainId),
    name: "hardhat",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: ["http://127.0.0.1:8545"] } },
  });
  const wallet = createWalletClient({ account, chain: viemChain, transport: custom(eip1193 as never) }).extend(publicActions);
  const scheme = new ReferenceChannelClient(toClientEvmSigner(wallet.account, wallet), { depositPolicy: { depositMultiplier: 100 } });
  const network = `eip155:${chain.chainId}` as const;
  const client = new x402Client().register(network, scheme);
  client.setSpendControls({ allowedAssets: [{ network, asset: await token.getAddress() }] });
  return wrapFetchWithPayment(send, client);
}

const outputOf = (res: Response) =>
  (decodePaymentResponseHeader(res.headers.get("payment-response")!).extra as { outputId: string }).outputId;

beforeAll(async () => {
  const h = await hostChain(1);
  ({ chain, token } = h);
  const a = await host(h);
  const b = await host(h);
  bases = [await a.listen({ port: 0 }), await b.listen({ port: 0 })];
  splitter = a.context.models.get("m")!.splitter;
  expect(b.context.models.get("m")!.splitter).toBe(splitter);
  expect(b.context.channels!.authorizer).toBe(a.context.channels!.authorizer);
});

describe("two hosts sharing one PostgreSQL ledger and the same channels", () => {
  it(`a channel paid through both hosts in turn (${ALTERNATE} requests): each takes vouchers continuing the other's`, async () => {
    const paid = await channelPayer(10_000_000n);
    for (let i = 0; i < ALTERNATE; i++) {
      const res = await paid(`${bases[i % 2]}/v1/completions`, { method: "POST", headers: json, body: body(`The jury said ${i}`) });
      expect(res.status, await res.clone().text()).toBe(200);
      expect(decodePaymentResponseHeader(res.headers.get("payment-response")!).extra).toMatchObject({
        chargedAmount: PRICE.toString(),
        channelState: { chargedCumulativeAmount: (PRICE * BigInt(i + 1)).toString() },
      });
      answered.push(outputOf(res));
    }
    const [channel] = await ledgers[0].claimableChannels();
    expect(channel.channel.charged).toBe(PRICE * BigInt(ALTERNATE));
    expect(channel.vouchers.map((v) => v.outputId)).toEqual(answered);
  });

  it(`the same signed voucher sent to both hosts at once (${RACES} times) is charged once and answered with one output`, async () => {
    const statuses: number[][] = [];
    // Every paid request the client sends goes to both hosts at the same moment; the client sees a 200 if any.
    const both: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      if (!request.headers.get("payment-signature")) return fetch(request);
      const path = new URL(request.url).pathname;
      const text = await request.text();
      const copies = await Promise.all(bases.map((b) => fetch(`${b}${path}`, { method: "POST", headers: request.headers, body: text })));
      statuses.push(copies.map((r) => r.status));
      const ok = copies.filter((r) => r.status === 200);
      if (ok.length > 0) answered.push(...new Set(ok.map(outputOf)));
      expect(new Set(ok.map(outputOf)).size).toBeLessThanOrEqual(1);
      return ok[0] ?? copies[0];
    };
    const paid = await channelPayer(10_000_000n, both);
    for (let i = 0; i < RACES; i++) {
      const res = await paid(`${bases[0]}/v1/completions`, { method: "POST", headers: json, body: body(`Raced ${i}`) });
      expect(res.status).toBe(200);
    }
    expect(statuses).toHaveLength(RACES);
    const channels = await ledgers[1].claimableChannels();
    const raced = channels.find((c) => c.vouchers.length === RACES)!;
    expect(raced.channel.charged).toBe(PRICE * BigInt(RACES));
    expect(answered).toHaveLength(ALTERNATE + RACES);
    expect(new Set(answered).size).toBe(ALTERNATE + RACES);
  });

  it("both hosts sweeping at once claim and link every voucher exactly once; on-chain totals equal the ledger", async () => {
    const provider = chain.ethers.provider;
    const fromBlock = await provider.getBlockNumber();
    const received = async () => BigInt(await token.getFunction("balanceOf")(splitter));
    const before = await received();
    const sweeps = await Promise.all(
      bases.map((b) => fetch(`${b}/admin/channels/settle`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}` } })),
    );
    expect(sweeps.map((r) => r.status)).toEqual([200, 200]);
    // A host that found the lease taken sweeps nothing; whatever is left (none) goes to a later sweep.
    await servers[0].context.channels!.sweeper.sweep();
    await servers[1].context.channels!.sweeper.sweep();

    const total = PRICE * BigInt(ALTERNATE + RACES);
    expect((await received()) - before).toBe(total);
    const claims = (await provider.getLogs({ address: "0x4020074e9dF2ce1deE5A9C1b5c3f541D02a10003", fromBlock })).flatMap((l) => {
      const parsed = escrowEvents.parseLog(l);
      return parsed ? [parsed.args.claimAmount as bigint] : [];
    });
    expect(claims.reduce((s, a) => s + a, 0n)).toBe(total);
    const links = (await provider.getLogs({ address: splitter, fromBlock })).map((l) => ({ log: l, event: linkEvents.parseLog(l)! }));
    expect(links.reduce((n, l) => n + Number(l.event.args.count), 0)).toBe(ALTERNATE + RACES);
    expect(links.reduce((s, l) => s + (l.event.args.amount as bigint), 0n)).toBe(total);

    // Every answered output's payment is settled by one of those links, whose root covers exactly its outputs.
    const ledger = ledgers[0];
    const byTx = new Map<string, string[]>();
    const recordHash = new Map<string, string>();
    for (const outputId of answered) {
      const output = (await ledger.getOutput(outputId))!;
      recordHash.set(outputId, output.recordHash);
      const payment = (await ledger.getPayment(output.paymentKey!))!;
      expect(payment.status).toBe("settled");
      byTx.set(payment.txHash!, [...(byTx.get(payment.txHash!) ?? []), outputId]);
    }
    for (const { log, event } of links) {
      const outputs = byTx.get(log.transactionHash)!;
      const leaves = outputs.map((outputId) => ({
        outputId: outputId as `0x${string}`,
        amount: PRICE,
        attributionRoot: recordHash.get(outputId) as `0x${string}`,
      }));
      expect(event.args.outputsRoot).toBe(outputsRoot(leaves));
    }
    expect([...byTx.values()].flat().sort()).toEqual([...answered].sort());
    expect(await ledger.claimableChannels()).toEqual([]);
    expect(await ledger.oldestChannelWork()).toBeNull();
  });

  it("the channel facilitators of both hosts settling one voucher at once (the facilitator API's path): one stores it", async () => {
    // The payment plugin's shared reservation is not in front of a facilitator called directly: the
    // journal's conditional update is. Capture a signed voucher the reference client makes, without sending it.
    let sent = 0;
    let captured: PaymentPayload | null = null;
    const capture: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      const header = request.headers.get("payment-signature");
      if (header && sent > 0) {
        captured = decodePaymentSignatureHeader(header);
        return new Response("held back", { status: 503 });
      }
      if (header) sent++;
      return fetch(request);
    };
    const paid = await channelPayer(10_000_000n, capture);
    expect((await paid(`${bases[0]}/v1/completions`, { method: "POST", headers: json, body: body("Deposit first") })).status).toBe(200);
    await paid(`${bases[0]}/v1/completions`, { method: "POST", headers: json, body: body("Captured") }).catch(() => null);
    const voucher = captured as PaymentPayload | null;
    expect(voucher).not.toBeNull();
    const requirements = voucher!.accepted as PaymentRequirements;
    const withOutput = (): PaymentPayload => ({
      ...voucher!,
      extensions: { ...voucher!.extensions, royalty402: { outputId: hexlify(randomBytes(32)), attributionRoot: hexlify(randomBytes(32)) } },
    });
    const facilitators = servers.map((s) => s.context.channels!);
    const results = await Promise.all(facilitators.map((f) => f.settle(withOutput(), requirements)));
    expect(results.filter((r) => r.success)).toHaveLength(1);
    expect(results.find((r) => !r.success)?.errorReason).toBe("invalid_batch_settlement_evm_cumulative_amount_mismatch");
    const [channel] = await ledgers[0].claimableChannels();
    expect(channel.channel.charged).toBe(2n * PRICE);
    expect(channel.vouchers).toHaveLength(2);
    // Sent again to either host: it is the channel's charged total already, so it is refused; nothing more is charged.
    expect((await facilitators[1].settle(withOutput(), requirements)).success).toBe(false);
    expect((await ledgers[1].claimableChannels())[0].channel.charged).toBe(2n * PRICE);
  });
});
