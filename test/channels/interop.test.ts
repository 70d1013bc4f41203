// batch-settlement with the reference client (@x402/fetch + @x402/evm/batch-settlement/client, unmodified)
// over real HTTP against the model host (createApp: the x402 plugin, the embedded facilitator with channels,
// the ∞-gram model) on the in-process chain with the escrow and collector stand-ins, the list: one
// deposit, 50 paid requests with a voucher and no transaction each, one claim-and-settle transaction into the
// splitter (POST /admin/channels/settle) linked to the outputs and their records, a top-up when the deposit
// runs out, and the client's cooperative refund at GET /channels/m/refund.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import { toClientEvmSigner } from "@x402/evm";
import { BatchSettlementEvmScheme as ReferenceChannelClient, computeChannelId } from "@x402/evm/batch-settlement/client";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import type { Contract } from "ethers";
import { createWalletClient, custom, defineChain, parseAbi, parseEventLogs, publicActions, type Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { createApp, type RoyaltyServer } from "../../server/app.ts";
import { BATCH_SETTLEMENT_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { escrowAbi } from "../../server/facilitator/batch-settlement/abi.ts";
import { outputsRoot } from "../../server/facilitator/batch-settlement/sweeper.ts";
import type { Chain } from "../../scripts/shared/stack.ts";
import { hostChain } from "../support/host-chain.ts";

const ADMIN = "channel-interop-admin-token-0123456789";
const PRICE = 1000n;
const N = 50;
const FUNDS = 1_000_000n;
const linkEvent = parseAbi(["event ChannelOutputsPaid(bytes32 indexed outputsRoot, uint256 count, uint256 amount)"]);
const json = { "content-type": "application/json" };
const dataDir = mkdtempSync(join(tmpdir(), "r402-channel-interop-"));

let chain: Chain;
let token: Contract;
let server: RoyaltyServer;
let base = "";
let splitter = "";
let channelId: Hex;
let payer: Awaited<ReturnType<typeof channelPayer>>;
const outputs: string[] = [];

const body = (i: number) => JSON.stringify({ model: "m", prompt: `The jury said ${i}`, max_tokens: 8 });
const pay = (i: number) => payer.fetch(`${base}/v1/completions`, { method: "POST", headers: json, body: body(i) });
const balanceOf = async (account: string) => BigInt(await token.getFunction("balanceOf")(account));
const channelOnChain = () =>
  payer.wallet.readContract({ address: BATCH_SETTLEMENT_ADDRESS, abi: escrowAbi, functionName: "channels", args: [channelId] });

/** A payer on the reference batch-settlement client, depositing 100 requests' worth at a time. */
async function channelPayer() {
  const account = privateKeyToAccount(generatePrivateKey());
  const eip1193 = chain.connection.provider;
  await eip1193.request({ method: "hardhat_setBalance", params: [account.address, "0x56BC75E2D63100000"] });
  await (await token.getFunction("mint")(account.address, FUNDS)).wait();
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
  return { wallet, address: account.address, scheme, fetch: wrapFetchWithPayment(fetch, client) };
}

beforeAll(async () => {
  const host = await hostChain(1);
  ({ chain, token } = host);
  server = await createApp({
    config: {
      server: { port: 0 },
      chain: host.config,
      facilitator: { mode: "embedded", maxWaitMs: 10 },
      dataDir,
      epochs: { enabled: false },
      datanets: [{ id: "brown", seed: { corpus: "brown", documents: 6, contributors: 4 } }],
      models: [{ id: "m", backend: "infinigram", datanet: "brown", pricePerRequest: PRICE.toString(), owner: host.owner.address }],
    },
    env: { ROYALTY402_ADMIN_TOKEN: ADMIN },
    chain: host.options,
    logger: false,
  });
  base = await server.listen({ port: 0 });
  splitter = server.context.models.get("m")!.splitter;
  payer = await channelPayer();
});

afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("batch-settlement channels with the reference client, on the model host", () => {
  it("the 402 offers the channel terms the reference client needs", async () => {
    const res = await fetch(`${base}/v1/completions`, { method: "POST", headers: json, body: body(0) });
    expect(res.status).toBe(402);
    const offer = decodePaymentRequiredHeader(res.headers.get("payment-required")!).accepts.find((a) => a.scheme === "batch-settlement")!;
    expect(offer).toMatchObject({
      amount: PRICE.toString(),
      payTo: splitter,
      extra: { receiverAuthorizer: server.context.channels!.authorizer, withdrawDelay: 900, name: "USD Coin", version: "2" },
    });
    channelId = computeChannelId(payer.scheme.buildChannelConfig(offer), offer.network);
  });

  it(`one deposit, then ${N} paid requests with a voucher and no transaction each`, async () => {
    const firstBlock = await payer.wallet.getBlockNumber({ cacheTime: 0 });
    for (let i = 0; i < N; i++) {
      const res = await pay(i);
      expect(res.status).toBe(200);
      const receipt = decodePaymentResponseHeader(res.headers.get("payment-response")!);
      expect(receipt.extra).toMatchObject({
        chargedAmount: PRICE.toString(),
        channelState: { channelId, chargedCumulativeAmount: String(PRICE * BigInt(i + 1)) },
      });
      if (i === 0)
        expect(receipt.transaction).toMatch(/^0x[0-9a-f]{64}$/); // the deposit's
      else expect(receipt.transaction).toBe("");
      outputs.push((receipt.extra as { outputId: string }).outputId);
    }
    expect(await payer.wallet.getBlockNumber({ cacheTime: 0 })).toBe(firstBlock + 1n); // the deposit only
    expect(await channelOnChain()).toEqual([100n * PRICE, 0n]);
    expect(await balanceOf(payer.address)).toBe(FUNDS - 100n * PRICE);
  });

  it("one claim-and-settle transaction moves the charged total into the splitter, linked to the outputs' records", async () => {
    const before = await balanceOf(splitter);
    const res = await fetch(`${base}/admin/channels/settle`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    const swept = (await res.json()) as { channels: number; outputs: number; amount: string; links: Array<{ transaction: Hex }> };
    expect(swept).toMatchObject({ channels: 1, outputs: N, amount: String(PRICE * BigInt(N)) });
    expect(await balanceOf(splitter)).toBe(before + PRICE * BigInt(N));
    expect(await channelOnChain()).toEqual([100n * PRICE, PRICE * BigInt(N)]);
    // The link recomputed from the outputs the payer was answered with and their records in the ledger.
    const leaves = await Promise.all(
      outputs.map(async (outputId) => {
        const record = (await server.context.ledger.getOutput(outputId))!;
        return { outputId: outputId as Hex, amount: PRICE, attributionRoot: record.recordHash as Hex };
      }),
    );
    const receipt = await payer.wallet.getTransactionReceipt({ hash: swept.links[0].transaction });
    const [event] = parseEventLogs({ abi: linkEvent, logs: receipt.logs });
    expect(event.args).toEqual({ outputsRoot: outputsRoot(leaves), count: BigInt(N), amount: PRICE * BigInt(N) });
  });

  it("tops up when the deposit is used up and keeps paying", async () => {
    for (let i = N; i < 105; i++) expect((await pay(i)).status).toBe(200);
    expect(await channelOnChain()).toEqual([200n * PRICE, PRICE * BigInt(N)]);
    expect(await balanceOf(payer.address)).toBe(FUNDS - 200n * PRICE);
  });

  it("the client's refund claims what it owes and returns the rest; the charged rest reaches the splitter", async () => {
    const before = await balanceOf(splitter);
    const refund = await payer.scheme.refund(`${base}/channels/m/refund`);
    expect(refund).toMatchObject({ success: true, amount: String(95n * PRICE) });
    expect(refund.extra?.channelState).toMatchObject({ channelId, balance: String(105n * PRICE), totalClaimed: String(105n * PRICE) });
    expect(await balanceOf(payer.address)).toBe(FUNDS - 105n * PRICE);
    expect(await balanceOf(splitter)).toBe(before + 55n * PRICE);
    expect(await channelOnChain()).toEqual([105n * PRICE, 105n * PRICE]);
  });
});
