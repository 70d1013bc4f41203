// The upto scheme through the plugin with the in-memory store: the reference upto client
// (@x402/fetch + @x402/evm/upto/client) signs a Permit2 maximum, the reference upto facilitator
// (@x402/evm/upto/facilitator, viem) settles what the handler metered. Permit2 and the x402 upto
// proxy are the repository's local stand-ins at their canonical addresses.
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Fastify, { type FastifyInstance } from "fastify";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { x402Facilitator } from "@x402/core/facilitator";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import { PERMIT2_ADDRESS, toClientEvmSigner, toFacilitatorEvmSigner, x402UptoPermit2ProxyAddress } from "@x402/evm";
import { UptoEvmScheme as UptoClientScheme } from "@x402/evm/upto/client";
import { UptoEvmScheme as UptoFacilitatorScheme } from "@x402/evm/upto/facilitator";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { createWalletClient, custom, defineChain, erc20Abi, maxUint256, publicActions, type EIP1193Provider } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { MemoryPaymentStore, exactEvmScheme, fastifyX402, uptoEvmScheme, type PaymentOutcome } from "@royalty402/fastify-x402";
import { testChain, type TestChain } from "./support/chain.ts";

const MAX = 1000n;
const GAS_SPONSORING = { eip2612GasSponsoring: { info: { description: "EIP-2612 permit to Permit2", version: "1" } } };

let chain: TestChain;
let app: FastifyInstance;
let url: string;
let facilitatorAddress: string;
let closeFacilitator: () => Promise<unknown>;
const store = new MemoryPaymentStore();
const outcomes: PaymentOutcome[] = [];
let _runs = 0;

function walletFor(key = generatePrivateKey()) {
  const chainId = Number(chain.network.split(":")[1]);
  const viemChain = defineChain({
    id: chainId,
    name: "hardhat",
    nativeCurrency: { name: "ETH", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [] } },
  });
  const transport = custom(chain.connection.provider as unknown as EIP1193Provider);
  return createWalletClient({ account: privateKeyToAccount(key), chain: viemChain, transport, pollingInterval: 50 }).extend(publicActions);
}

/** Deploys a local stand-in and copies its code to the canonical address the reference client hard-codes. */
async function installAt(name: string, address: string, args: unknown[]) {
  const deployed = await chain.connection.ethers.deployContract(name, args);
  const code = await chain.connection.ethers.provider.getCode(await deployed.getAddress());
  await chain.connection.provider.request({ method: "hardhat_setCode", params: [address, code] });
}

const fund = (address: string) =>
  chain.connection.provider.request({ method: "hardhat_setBalance", params: [address, "0x56BC75E2D63100000"] });

beforeAll(async () => {
  chain = await testChain();
  await installAt("Permit2", PERMIT2_ADDRESS, []);
  await installAt("X402UptoPermit2Proxy", x402UptoPermit2ProxyAddress, [PERMIT2_ADDRESS]);
  // The reference upto facilitator, reached over HTTP; the payer binds its address into the witness.
  const relayer = walletFor();
  await fund(relayer.account.address);
  facilitatorAddress = relayer.account.address;
  const facilitator = new x402Facilitator().register(
    chain.network,
    new UptoFacilitatorScheme(toFacilitatorEvmSigner({ ...relayer, address: relayer.account.address } as never)),
  );
  const http = Fastify({ logger: false });
  http.post("/verify", async (r) => facilitator.verify((r.body as any).paymentPayload, (r.body as any).paymentRequirements));
  http.post("/settle", async (r) => facilitator.settle((r.body as any).paymentPayload, (r.body as any).paymentRequirements));
  http.get("/supported", async () => facilitator.getSupported());
  await http.listen({ host: "127.0.0.1", port: 0 });
  closeFacilitator = () => http.close();
  const upto = new HTTPFacilitatorClient({ url: `http://127.0.0.1:${(http.server.address() as AddressInfo).port}` });
  const exact = new HTTPFacilitatorClient({ url: chain.facilitatorUrl });
  // Each scheme to its own reference facilitator, as a host with two facilitators would.
  const byScheme = <K extends "verify" | "settle">(method: K) =>
    ((payload: any, requirements: any) => (requirements.scheme === "upto" ? upto : exact)[method](payload, requirements)) as never;

  app = Fastify({ logger: false });
  await app.register(fastifyX402, {
    store,
    facilitator: { verify: byScheme("verify"), settle: byScheme("settle"), getSupported: () => upto.getSupported() },
    network: chain.network,
    asset: { address: chain.asset, name: "USD Coin", version: "2" },
    payTo: (resource) => (resource === "tokens" ? chain.payTo : undefined),
    schemes: [exactEvmScheme(), uptoEvmScheme({ facilitatorAddress: () => facilitatorAddress, extensions: GAS_SPONSORING })],
    hooks: { onOutcome: (o) => outcomes.push(o) },
  });
  app.post("/tokens", { config: { x402: { resource: "tokens", price: MAX, scheme: ["exact", "upto"] } } }, async (request) => {
    _runs++;
    const used = (request.body as { used?: number } | undefined)?.used;
    if (used !== undefined) request.x402!.setOutput({ usage: BigInt(used) });
    return { used: used ?? null };
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/tokens`;
});

afterAll(async () => {
  await app?.close();
  await closeFacilitator?.();
  await chain?.close();
});

/** A payer holding `amount`, paying with the reference upto client, Permit2 approved once. */
async function uptoPayer(amount: bigint) {
  const payer = await chain.payer(amount);
  const w = walletFor(payer.key);
  await fund(w.account.address);
  await w.waitForTransactionReceipt({
    hash: await w.writeContract({
      address: chain.asset as `0x${string}`,
      abi: erc20Abi,
      functionName: "approve",
      args: [PERMIT2_ADDRESS, maxUint256],
    }),
  });
  const client = new x402Client();
  client.register(chain.network, new UptoClientScheme(toClientEvmSigner(w.account, w)));
  client.setSpendControls({ allowedAssets: [{ network: chain.network, asset: chain.asset }] });
  return { address: w.account.address, fetch: wrapFetchWithPayment(fetch, client) };
}

const post = (pay: typeof fetch, body: object) =>
  pay(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("the upto scheme", () => {
  it("is offered next to exact, with the witness's facilitator and the declared extensions", async () => {
    const res = await fetch(url, { method: "POST" });
    expect(res.status).toBe(402);
    const required = decodePaymentRequiredHeader(res.headers.get("payment-required")!);
    expect(required.accepts.map((a) => a.scheme)).toEqual(["exact", "upto"]);
    expect(required.accepts[1]).toMatchObject({
      amount: MAX.toString(),
      payTo: chain.payTo,
      extra: { assetTransferMethod: "permit2", facilitatorAddress, name: "USD Coin", version: "2" },
    });
    expect(required.extensions).toEqual(GAS_SPONSORING);
  });

  it("settles exactly the metered usage, in one transfer, and records it", async () => {
    const payer = await uptoPayer(5000n);
    const before = await chain.balanceOf(chain.payTo);
    const res = await post(payer.fetch, { used: 420 });
    expect(res.status).toBe(200);
    const settlement = decodePaymentResponseHeader(res.headers.get("payment-response")!);
    expect(settlement).toMatchObject({ success: true, amount: "420" });
    expect(await chain.balanceOf(payer.address)).toBe(5000n - 420n);
    expect(await chain.balanceOf(chain.payTo)).toBe(before + 420n);
    expect(outcomes.at(-1)).toMatchObject({ status: "settled", amount: "420" });
    // The store keeps the settled amount, not the signed maximum.
    const row = store.list().find((p) => p.payer === payer.address.toLowerCase() && p.status === "settled");
    expect(row).toMatchObject({ amount: "420", txHash: settlement.transaction.toLowerCase() });
  });

  it("a metered zero settles nothing and charges nothing", async () => {
    const payer = await uptoPayer(5000n);
    const res = await post(payer.fetch, { used: 0 });
    expect(res.status).toBe(200);
    expect(decodePaymentResponseHeader(res.headers.get("payment-response")!)).toMatchObject({ success: true, amount: "0" });
    expect(await chain.balanceOf(payer.address)).toBe(5000n);
  });

  it("usage above the signed maximum fails the handler: released, nothing charged", async () => {
    const payer = await uptoPayer(5000n);
    const res = await post(payer.fetch, { used: Number(MAX) + 1 });
    expect(res.status).toBe(500);
    expect(outcomes.at(-1)).toMatchObject({ status: "released" });
    expect(await chain.balanceOf(payer.address)).toBe(5000n);
  });

  it("exact on the same route still charges the price", async () => {
    const payer = await chain.payer(5000n);
    const res = await post(payer.fetch, {});
    expect(res.status).toBe(200);
    expect(decodePaymentResponseHeader(res.headers.get("payment-response")!)).toMatchObject({ success: true, amount: MAX.toString() });
    expect(await chain.balanceOf(payer.account.address)).toBe(5000n - MAX);
  });
});
