// Money that reaches a splitter without our settlement, end to end on a model host over the
// in-process chain: a third party submits a payer's authorization straight to the token before
// a crashed instance's settlement (the reconciler links it and records the payment settled, and
// the next epoch allocates it), and a plain transfer to the splitter (a stock x402 facilitator:
// no output) is allocated to the model owner as unattributed at the next epoch. A restarted closer
// continues the PaymentSettled scan kept in the ledger.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { Contract, Wallet, hexlify, randomBytes } from "ethers";
import { createApp, type RoyaltyServer } from "../../server/app.ts";
import { SPLITTER_ABI } from "../../server/chain/abi.ts";
import { closeEpoch as closeEpochOf } from "../../server/epochs/closer.ts";
import { linkFrontRun } from "../../server/facilitator/index.ts";
import { Relayer } from "../../server/facilitator/relayer.ts";
import { PaymentReconciler } from "../../server/x402/reconciler.ts";
import type { Chain } from "../../scripts/shared/stack.ts";
import { hostChain } from "../support/host-chain.ts";
import { pay } from "../x402/support/stack.ts";

const ADMIN = "unlinked-revenue-admin-token-0123456789";
const PRICE = 5000n;
const dataDir = mkdtempSync(join(tmpdir(), "r402-unlinked-"));
let chain: Chain;
let server: RoyaltyServer;
let token: Contract;
let base = "";
let owner = "";
let relayerWallet: Wallet;

async function funded(): Promise<Wallet> {
  const payer = new Wallet(Wallet.createRandom().privateKey);
  await (await (token.getFunction("mint") as any)(payer.address, 100_000n)).wait();
  return payer;
}

const body = (prompt: string) => JSON.stringify({ model: "m", prompt, max_tokens: 16 });

async function requirementsFor(prompt: string): Promise<PaymentRequirements> {
  const challenge = await fetch(`${base}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: body(prompt),
  });
  return decodePaymentRequiredHeader(challenge.headers.get("payment-required")!).accepts[0] as PaymentRequirements;
}

async function payOnce(prompt: string) {
  const payment = await pay(await funded(), await requirementsFor(prompt));
  const res = await fetch(`${base}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "payment-signature": encodePaymentSignatureHeader(payment) },
    body: body(prompt),
  });
  expect(res.status).toBe(200);
}

async function closeEpoch(): Promise<any> {
  const res = await fetch(`${base}/admin/epochs/close`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ model: "m" }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as any).results[0];
}

beforeAll(async () => {
  const host = await hostChain(60);
  ({ chain, token } = host);
  owner = host.owner.address;
  relayerWallet = host.relayer;
  server = await createApp({
    config: {
      server: { port: 0 },
      chain: host.config,
      facilitator: { mode: "embedded", maxWaitMs: 10 },
      dataDir,
      epochs: { enabled: false },
      datanets: [{ id: "brown", seed: { corpus: "brown", documents: 6, contributors: 4 } }],
      models: [
        { id: "m", backend: "infinigram", datanet: "brown", pricePerRequest: PRICE.toString(), ownerBps: 1000, owner, challengePeriod: 60 },
      ],
    },
    env: { ROYALTY402_ADMIN_TOKEN: ADMIN },
    chain: host.options,
    logger: false,
  });
  base = await server.listen({ port: 0 });
});

afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const leafOf = (doc: any, account: string) =>
  BigInt(doc.claims.leaves.find((l: any) => l.account.toLowerCase() === account.toLowerCase())?.cumulativeAmount ?? 0);
const allocationOf = (doc: any, account: string) => doc.allocations.find((a: any) => a.account.toLowerCase() === account.toLowerCase());

describe("money that reaches the splitter without our settlement", () => {
  it("a crashed instance's front-run payment is linked, settled with its output, allocated; a plain transfer: to the owner", async () => {
    const { ledger } = server.context;
    const splitterAddress = server.context.models.get("m")!.splitter;
    const splitter = new Contract(splitterAddress, SPLITTER_ABI, chain.ethers.provider);
    await payOnce("The jury said");
    const [served] = await ledger.listUnassignedSettledOutputs("m");

    // A crashed instance's payment: reserved, output stored, settling with a hash the node never saw.
    const payer = await funded();
    const payment = await pay(payer, await requirementsFor("The city of Atlanta"));
    const auth = payment.payload.authorization as any;
    const key = {
      network: server.context.network,
      asset: (await token.getAddress()).toLowerCase(),
      payer: payer.address.toLowerCase(),
      nonce: auth.nonce,
    };
    const outputId = hexlify(randomBytes(32));
    expect(
      (
        await ledger.reserve({
          ...key,
          payTo: splitterAddress.toLowerCase(),
          amount: PRICE.toString(),
          modelId: "m",
          outputId,
          payload: JSON.stringify(payment),
        })
      ).reserved,
    ).toBe(true);
    await ledger.putOutput({
      outputId,
      modelId: "m",
      paymentKey: key,
      record: served.record,
      recordHash: served.recordHash,
      epoch: null,
      createdAt: Date.now(),
    });
    await ledger.transition(key, ["reserved"], "settling", { txHash: hexlify(randomBytes(32)) });

    // A third party submits the authorization straight to the token: the money arrives, no PaymentSettled.
    const thirdParty = chain.signers[6];
    const submit = token
      .connect(thirdParty)
      .getFunction("transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)");
    await (await submit(auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce, payment.payload.signature)).wait();

    // Without the link the chain facts say "spent outside our splitter"; with it the payment is settled.
    // The server's relayer key (the server is idle now: its own relayer sends nothing meanwhile).
    const relayer = new Relayer(relayerWallet, chain.ethers.provider, (await chain.ethers.provider.getNetwork()).chainId);
    const reconciler = new PaymentReconciler(ledger, chain.ethers.provider, server.context.network, {
      intervalMs: 0,
      processStartedAt: Date.now() + 1,
      linkFront: (p) => linkFrontRun(relayer, p),
    });
    const report = await reconciler.runAtStart();
    expect(report).toMatchObject({ settled: 1, failed: 0 });
    const row = (await ledger.getPayment(key))!;
    expect(row.status).toBe("settled");
    const linkReceipt = await chain.ethers.provider.getTransactionReceipt(row.txHash!);
    const linkEvents = linkReceipt!.logs
      .filter((l) => l.address.toLowerCase() === splitterAddress.toLowerCase())
      .map((l) => splitter.interface.parseLog(l)!);
    expect(linkEvents.map((e) => [e.name, e.args.outputId, e.args.amount])).toEqual([["PaymentSettled", outputId, PRICE]]);

    // A stock facilitator's plain transfer: money without an output.
    const PLAIN = 7777n;
    await (await (token.getFunction("mint") as any)(splitterAddress, PLAIN)).wait();

    const closed = await closeEpoch();
    expect(closed).toMatchObject({ status: "closed", epoch: 1, outputs: 2 });
    // The published document (the ledger stores it without records and proofs).
    const doc = (await (await fetch(`${base}/epochs/${splitterAddress}/1`)).json()) as any;
    expect(doc.payments.map((p: any) => p.outputId).sort()).toEqual([served.outputId, outputId].sort());
    expect((await ledger.getOutput(outputId))!.epoch).toBe(1);
    const onChainTotal = BigInt(await splitter.getFunction("totalReceived")());
    expect(onChainTotal).toBe(2n * PRICE + PLAIN);
    expect(BigInt(doc.cumulativeReceived)).toBe(onChainTotal);
    // The owner's weight includes the plain transfer as unattributed (amount x 1e6).
    const unattributed = doc.payments.reduce((sum: bigint, p: any) => sum + BigInt(p.amount) * BigInt(p.record.unattributedPpm), 0n);
    expect(BigInt(allocationOf(doc, owner)?.weight ?? 0)).toBe(unattributed + PLAIN * 1_000_000n);
    // Totals balance: the leaves add up to the allocated amount, which is the contributor pool.
    const leaves = doc.claims.leaves.reduce((sum: bigint, l: any) => sum + BigInt(l.cumulativeAmount), 0n);
    expect(leaves).toBe(BigInt(doc.cumulativeAllocated));
    expect(BigInt(doc.cumulativeAllocated)).toBe(BigInt(await splitter.getFunction("contributorPool")()));
    expect(leafOf(doc, owner)).toBeGreaterThan(0n);
  });

  it("a restarted closer continues the PaymentSettled scan the ledger holds, not from startBlock", async () => {
    const { ledger } = server.context;
    const model = server.context.models.get("m")!;
    const stored = (await ledger.getSettlementScan(model.splitter))!;
    expect(stored.scannedBlock).toBeGreaterThan(0);
    const epochOne = (await ledger.listEpochOutputs("m", 1)).map((o) => o.outputId.toLowerCase());
    expect(epochOne.every((id) => stored.settled.has(id))).toBe(true); // dropped at the next close, once found in an epoch

    await payOnce("The grand jury");
    await chain.connection.provider.request({ method: "evm_increaseTime", params: [61] });
    await chain.connection.provider.request({ method: "evm_mine", params: [] });
    // A fresh closing context (what a restart builds) over a provider that records the log ranges read.
    const ranges: Array<{ fromBlock: unknown; toBlock: unknown }> = [];
    const provider = new Proxy(server.context.epochs.provider, {
      get(target, prop) {
        if (prop === "send")
          return (method: string, params: any[]) => {
            if (method === "eth_getLogs") ranges.push({ fromBlock: params[0].fromBlock, toBlock: params[0].toBlock });
            return (target as any).send(method, params);
          };
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const closed = await closeEpochOf({ ...server.context.epochs, provider, latestKnown: new Map() }, model);
    expect(closed).toMatchObject({ status: "closed", epoch: 2, outputs: 1 });
    expect(Number(ranges[0].fromBlock)).toBe(stored.scannedBlock + 1);

    const doc = (await (await fetch(`${base}/epochs/${model.splitter}/2`)).json()) as any;
    const splitter = new Contract(model.splitter, SPLITTER_ABI, chain.ethers.provider);
    expect(BigInt(doc.cumulativeReceived)).toBe(BigInt(await splitter.getFunction("totalReceived")()));
    const after = (await ledger.getSettlementScan(model.splitter))!;
    expect(after.scannedBlock).toBeGreaterThan(stored.scannedBlock);
    expect(epochOne.some((id) => after.settled.has(id))).toBe(false);
    // Read in contiguous slices (each at most 2,000 blocks) up to where the scan now stands.
    const spans = ranges.map((r) => [Number(r.fromBlock), Number(r.toBlock)]);
    spans.slice(1).forEach(([from], i) => expect(from).toBe(spans[i][1] + 1));
    expect(spans.every(([from, to]) => to >= from && to - from < 2000)).toBe(true);
    expect(spans.at(-1)![1]).toBe(after.scannedBlock);
  });
});
