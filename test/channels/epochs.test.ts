// Channel-paid outputs in the epochs, end to end on a model host over the in-process chain (escrow and
// collector stand-ins installed): the model route offers batch-settlement next to exact; the reference
// channel client deposits once and pays with vouchers; the payments stay "pending" in the ledger and an
// epoch closed before the sweep leaves them (and the escrowed money) out; POST /admin/channels/settle
// claims, settles into the splitter and links the outputs, which settles their payments with the link's
// transaction; the next epoch allocates them as linked money (no unattributed revenue) and a contributor
// claims exactly its leaf.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { toClientEvmSigner } from "@x402/evm";
import { BatchSettlementEvmScheme as ReferenceChannelClient } from "@x402/evm/batch-settlement/client";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { Contract, Wallet } from "ethers";
import { createWalletClient, custom, defineChain, publicActions } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { createApp, type RoyaltyServer } from "../../server/app.ts";
import { SPLITTER_ABI } from "../../server/chain/abi.ts";
import type { Chain } from "../../scripts/shared/stack.ts";
import { hostChain } from "../support/host-chain.ts";
import { pay } from "../x402/support/stack.ts";

const ADMIN = "channel-epochs-admin-token-0123456789";
const PRICE = 5000n;
const N = 6;
const ETH_100 = "0x56BC75E2D63100000";
const dataDir = mkdtempSync(join(tmpdir(), "r402-channel-epochs-"));
let chain: Chain;
let server: RoyaltyServer;
let token: Contract;
let splitter: Contract;
let base = "";
const channelOutputs: string[] = [];
let factoryAddress = "";

const body = (prompt: string) => JSON.stringify({ model: "m", prompt, max_tokens: 16 });
const json = { "content-type": "application/json" };
const admin = (path: string, payload: unknown = {}) =>
  fetch(`${base}/admin/${path}`, { method: "POST", headers: { ...json, authorization: `Bearer ${ADMIN}` }, body: JSON.stringify(payload) });

async function closeEpoch(): Promise<any> {
  const res = await admin("epochs/close", { model: "m" });
  expect(res.status).toBe(200);
  return ((await res.json()) as any).results[0];
}

/** Moves the chain past a challenge period (the factory's minimum here is one second). */
async function passChallengePeriod(): Promise<void> {
  await chain.connection.provider.request({ method: "evm_increaseTime", params: [5] });
  await chain.connection.provider.request({ method: "evm_mine", params: [] });
}

/** A payer on the reference batch-settlement client (@x402/fetch), holding `amount` TestUSDC. */
async function channelPayer(amount: bigint) {
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
  const scheme = new ReferenceChannelClient(toClientEvmSigner(wallet.account, wallet), { depositPolicy: { depositMultiplier: 10 } });
  const network = `eip155:${chain.chainId}` as const;
  const client = new x402Client().register(network, scheme);
  client.setSpendControls({ allowedAssets: [{ network, asset: await token.getAddress() }] });
  return wrapFetchWithPayment(fetch, client);
}

async function payExact(prompt: string): Promise<void> {
  const payer = new Wallet(Wallet.createRandom().privateKey);
  await (await (token.getFunction("mint") as any)(payer.address, 100_000n)).wait();
  const challenge = await fetch(`${base}/v1/completions`, { method: "POST", headers: json, body: body(prompt) });
  const offer = decodePaymentRequiredHeader(challenge.headers.get("payment-required")!).accepts.find((a) => a.scheme === "exact");
  const payment = await pay(payer, offer as PaymentRequirements);
  const res = await fetch(`${base}/v1/completions`, {
    method: "POST",
    headers: { ...json, "payment-signature": encodePaymentSignatureHeader(payment) },
    body: body(prompt),
  });
  expect(res.status).toBe(200);
}

const paymentOf = async (outputId: string) => {
  const output = (await server.context.ledger.getOutput(outputId))!;
  return (await server.context.ledger.getPayment(output.paymentKey!))!;
};

beforeAll(async () => {
  const host = await hostChain(1);
  ({ chain, token } = host);
  factoryAddress = host.config.factory;
  server = await createApp({
    config: {
      server: { port: 0 },
      chain: host.config,
      facilitator: { mode: "embedded", maxWaitMs: 10 },
      dataDir,
      epochs: { enabled: false },
      datanets: [{ id: "brown", seed: { corpus: "brown", documents: 6, contributors: 4 } }],
      models: [
        {
          id: "m",
          backend: "infinigram",
          datanet: "brown",
          pricePerRequest: PRICE.toString(),
          ownerBps: 1000,
          owner: host.owner.address,
          challengePeriod: 1,
        },
      ],
    },
    env: { ROYALTY402_ADMIN_TOKEN: ADMIN },
    chain: host.options,
    logger: false,
  });
  base = await server.listen({ port: 0 });
  splitter = new Contract(server.context.models.get("m")!.splitter, SPLITTER_ABI, chain.ethers.provider);
});

afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("channel-paid outputs in the epochs", () => {
  it("the model route offers exact, upto and batch-settlement with the channel terms", async () => {
    const res = await fetch(`${base}/v1/completions`, { method: "POST", headers: json, body: body("The jury") });
    expect(res.status).toBe(402);
    const accepts = decodePaymentRequiredHeader(res.headers.get("payment-required")!).accepts;
    expect(accepts.map((a) => a.scheme)).toEqual(["exact", "upto", "batch-settlement"]);
    expect(accepts[2]).toMatchObject({
      amount: PRICE.toString(),
      payTo: await splitter.getAddress(),
      extra: { receiverAuthorizer: server.context.channels!.authorizer, withdrawDelay: 900 },
    });
  });

  it(`${N} channel payments are answered, pending in the ledger until the sweep; an epoch closed now leaves them out`, async () => {
    await payExact("The city of Atlanta");
    const paidFetch = await channelPayer(1_000_000n);
    for (let i = 0; i < N; i++) {
      const res = await paidFetch(`${base}/v1/completions`, { method: "POST", headers: json, body: body(`The jury said ${i}`) });
      expect(res.status).toBe(200);
      const receipt = decodePaymentResponseHeader(res.headers.get("payment-response")!);
      expect(receipt.extra).toMatchObject({ chargedAmount: PRICE.toString() });
      channelOutputs.push((receipt.extra as { outputId: string }).outputId);
    }
    for (const id of channelOutputs) expect(await paymentOf(id)).toMatchObject({ status: "pending", txHash: null });

    const closed = await closeEpoch();
    expect(closed).toMatchObject({ status: "closed", epoch: 1, outputs: 1 });
    const doc = (await (await fetch(`${base}/epochs/${await splitter.getAddress()}/1`)).json()) as any;
    expect(doc.payments.map((p: any) => p.outputId)).not.toContain(channelOutputs[0]);
    // The deposit sits in the escrow: the splitter holds only the exact payment.
    expect(BigInt(doc.cumulativeReceived)).toBe(PRICE);
    expect(BigInt(await splitter.getFunction("totalReceived")())).toBe(PRICE);
  });

  it("POST /admin/channels/settle sweeps and links; the payments become settled by the link's transaction", async () => {
    const res = await admin("channels/settle");
    expect(res.status).toBe(200);
    const swept = (await res.json()) as any;
    expect(swept).toMatchObject({ channels: 1, outputs: N, amount: String(PRICE * BigInt(N)) });
    expect(swept.links).toHaveLength(1);
    const link = swept.links[0];
    for (const id of channelOutputs) expect(await paymentOf(id)).toMatchObject({ status: "settled", txHash: link.transaction });
    expect(BigInt(await splitter.getFunction("totalReceived")())).toBe(PRICE * BigInt(N + 1));
    const again = (await (await admin("channels/settle")).json()) as any;
    expect(again.outputs).toBe(0); // nothing claimed twice
  });

  it("the next epoch allocates the channel-paid outputs as linked money, and a contributor claims its leaf", async () => {
    await passChallengePeriod();
    const closed = await closeEpoch();
    expect(closed).toMatchObject({ status: "closed", epoch: 2, outputs: N });
    const splitterAddress = await splitter.getAddress();
    const doc = (await (await fetch(`${base}/epochs/${splitterAddress}/2`)).json()) as any;
    expect(doc.payments.map((p: any) => p.outputId).sort()).toEqual([...channelOutputs].sort());
    expect(doc.payments.every((p: any) => BigInt(p.amount) === PRICE)).toBe(true);
    expect(BigInt(doc.cumulativeReceived)).toBe(PRICE * BigInt(N + 1));
    // No unattributed revenue: the owner's weight is only the records' unattributed share of the payments.
    const unattributed = doc.payments.reduce((sum: bigint, p: any) => sum + BigInt(p.amount) * BigInt(p.record.unattributedPpm), 0n);
    const owner = server.context.models.get("m")!.splitterConfig.owner;
    const ownerWeight = doc.allocations.find((a: any) => a.account.toLowerCase() === owner.toLowerCase())?.weight ?? "0";
    expect(BigInt(ownerWeight)).toBe(unattributed);
    expect(BigInt(doc.cumulativeAllocated)).toBe(BigInt(await splitter.getFunction("contributorPool")()));

    await passChallengePeriod();
    await server.context.scheduler.closeNow("m"); // promotes epoch 2 to active (nothing new to close)
    const leaf = doc.claims.leaves.find((l: any) => l.account.toLowerCase() !== owner.toLowerCase())!;
    const before = BigInt(await token.getFunction("balanceOf")(leaf.account));
    const keeper = chain.signers[6];
    await (await (splitter.connect(keeper) as Contract).getFunction("claim")(leaf.account, leaf.cumulativeAmount, leaf.proof)).wait();
    expect(BigInt(await token.getFunction("balanceOf")(leaf.account)) - before).toBe(BigInt(leaf.cumulativeAmount));
  });

  it("money linked by a sweep the ledger has not recorded yet is not counted as unattributed revenue", async () => {
    const channels = server.context.channels!;
    const record = channels.sweeper.onLinked;
    const unrecorded: Array<Parameters<typeof record>[0]> = [];
    channels.sweeper.onLinked = async (link) => void unrecorded.push(link); // the ledger write is late
    const paidFetch = await channelPayer(1_000_000n);
    for (let i = 0; i < 2; i++)
      expect((await paidFetch(`${base}/v1/completions`, { method: "POST", headers: json, body: body(`Late ${i}`) })).status).toBe(200);
    expect((await (await admin("channels/settle")).json()) as any).toMatchObject({ outputs: 2 });
    await payExact("The county");
    await passChallengePeriod();
    const closed = await closeEpoch();
    expect(closed).toMatchObject({ status: "closed", epoch: 3, outputs: 1 });
    const doc = (await (await fetch(`${base}/epochs/${await splitter.getAddress()}/3`)).json()) as any;
    const total = BigInt(await splitter.getFunction("totalReceived")());
    expect(BigInt(doc.cumulativeReceived)).toBe(total - 2n * PRICE);
    const unattributed = doc.payments.reduce((sum: bigint, p: any) => sum + BigInt(p.amount) * BigInt(p.record.unattributedPpm), 0n);
    const owner = server.context.models.get("m")!.splitterConfig.owner;
    const ownerWeight = doc.allocations.find((a: any) => a.account.toLowerCase() === owner.toLowerCase())?.weight ?? "0";
    expect(BigInt(ownerWeight)).toBe(unattributed);

    // Recorded later: the next epoch takes them, on the whole total.
    channels.sweeper.onLinked = record;
    for (const link of unrecorded) await record(link);
    await passChallengePeriod();
    const next = await closeEpoch();
    expect(next).toMatchObject({ status: "closed", epoch: 4, outputs: 2 });
    const doc4 = (await (await fetch(`${base}/epochs/${await splitter.getAddress()}/4`)).json()) as any;
    expect(BigInt(doc4.cumulativeReceived)).toBe(total);
  });
});

describe("facilitator.channels: false", () => {
  it("offers no batch-settlement although the chain has the escrow, and the admin sweep says channels are off", async () => {
    const { ethers, signers } = chain;
    const relayer = new Wallet(Wallet.createRandom().privateKey, ethers.provider);
    await chain.connection.provider.request({ method: "hardhat_setBalance", params: [relayer.address, ETH_100] });
    const otherDir = mkdtempSync(join(tmpdir(), "r402-no-channels-"));
    const other = await createApp({
      config: {
        server: { port: 0 },
        chain: { rpcUrl: "in-process", token: await token.getAddress(), factory: factoryAddress, guardian: signers[3].address },
        facilitator: { mode: "embedded", maxWaitMs: 10, channels: false },
        dataDir: otherDir,
        epochs: { enabled: false },
        datanets: [{ id: "brown", seed: { corpus: "brown", documents: 6, contributors: 4 } }],
        models: [{ id: "m2", backend: "infinigram", datanet: "brown", pricePerRequest: "5000", owner: signers[1].address }],
      },
      env: { ROYALTY402_ADMIN_TOKEN: ADMIN },
      chain: { provider: ethers.provider, relayer, oracle: signers[2] },
      logger: false,
    });
    try {
      const url = await other.listen({ port: 0 });
      const challenge = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ model: "m2", prompt: "The" }),
      });
      expect(decodePaymentRequiredHeader(challenge.headers.get("payment-required")!).accepts.map((a) => a.scheme)).toEqual([
        "exact",
        "upto",
      ]);
      const sweep = await fetch(`${url}/admin/channels/settle`, {
        method: "POST",
        headers: { ...json, authorization: `Bearer ${ADMIN}` },
        body: "{}",
      });
      expect(sweep.status).toBe(404);
      expect((await sweep.json()).error).toBe("channels_not_enabled");
    } finally {
      await other.close();
      rmSync(otherDir, { recursive: true, force: true });
    }
  });
});
