// upto payments to a model's splitter through our facilitator: the payer signs with the reference upto
// client for the splitter as both recipient and facilitator; the relayer settles the metered amount
// through the splitter, which emits the PaymentSettled link of the output, so the money enters the
// contributor pool and epochs as an EIP-3009 payment does.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import express from "express";
import { ethers as E } from "ethers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { decodePaymentResponseHeader, wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { UptoEvmScheme as UptoClientScheme } from "@x402/evm/upto/client";
import { UptoEvmScheme as UptoServerScheme } from "@x402/evm/upto/server";
import { paymentMiddleware, setSettlementOverrides, x402ResourceServer } from "@x402/express";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { x402Facilitator } from "@x402/core/facilitator";
import type { FacilitatorClient } from "@x402/core/server";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import type { Hex } from "viem";
import { declareEip2612GasSponsoringExtension } from "@x402/extensions";
import { toClientEvmSigner } from "@x402/evm";
import { ROYALTY_EXTENSION } from "../../server/facilitator/facilitator.ts";
import { PERMIT2_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { uptoOfferExtra } from "../../server/facilitator/upto/facilitator.ts";
import { reasonFromUptoRevert, revertText } from "../../server/facilitator/upto/reasons.ts";
import { revertOf, serveFacilitator, signUpto, splitterUptoStack, uptoRequirements } from "./support.ts";

const MAX = 2_000_000n;
const METERED = 87n;

let s: Awaited<ReturnType<typeof splitterUptoStack>>;
let requirements: PaymentRequirements;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  s = await splitterUptoStack();
  requirements = uptoRequirements(s, s.payTo, MAX);
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

/** What the reference upto client signs for `reqs`, plus the royalty extension our resource server adds. */
async function referencePayment(
  wallet: Awaited<ReturnType<typeof s.payer>>,
  reqs = requirements,
  royalty = { outputId: E.hexlify(E.randomBytes(32)), attributionRoot: E.hexlify(E.randomBytes(32)) },
) {
  const created = await new UptoClientScheme(wallet.account).createPaymentPayload(2, reqs);
  const payload: PaymentPayload = {
    x402Version: 2,
    resource: { url: "http://models.test/v1/completions", description: "", mimeType: "" },
    accepted: reqs,
    payload: created.payload,
    extensions: { [ROYALTY_EXTENSION]: royalty },
  };
  return { payload, royalty };
}

function settledEvents(receipt: E.TransactionReceipt) {
  return receipt.logs
    .map((l) => (l.address === s.payTo ? s.splitter.interface.parseLog(l) : null))
    .filter((e) => e?.name === "PaymentSettled");
}

describe("upto through the splitter", () => {
  it("the offer's extra names the splitter as the facilitator the payer signs for", () => {
    expect(uptoOfferExtra(s.payTo.toLowerCase())).toEqual({ assetTransferMethod: "permit2", facilitatorAddress: s.payTo });
  });

  it("settles the metered amount to the splitter and emits PaymentSettled(outputId, payer, amount, nonce, attributionRoot)", async () => {
    const wallet = await s.payer(MAX);
    const { payload, royalty } = await referencePayment(wallet);
    expect(await s.upto.verify(payload, requirements)).toMatchObject({ isValid: true, payer: wallet.account.address });
    const before = await s.splitter.totalReceived();
    const result = await s.upto.settle(payload, { ...requirements, amount: METERED.toString() });
    expect(result).toMatchObject({ success: true, amount: METERED.toString(), payer: wallet.account.address, network: s.network });
    expect(await s.splitter.totalReceived()).toBe(before + METERED);
    expect(await s.balanceOf(wallet.account.address)).toBe(MAX - METERED);
    const receipt = (await s.ethers.provider.getTransactionReceipt(result.transaction))!;
    const nonce = (payload.payload as { permit2Authorization: { nonce: string } }).permit2Authorization.nonce;
    const [event] = settledEvents(receipt);
    expect(event!.args.toObject()).toEqual({
      outputId: royalty.outputId,
      payer: wallet.account.address,
      amount: METERED,
      nonce: E.toBeHex(BigInt(nonce), 32),
      attributionRoot: royalty.attributionRoot,
    });

    // Settling the same payment again answers the same settlement; nothing moves twice.
    expect(await s.upto.settle(payload, { ...requirements, amount: METERED.toString() })).toMatchObject({
      success: true,
      transaction: result.transaction,
      amount: METERED.toString(),
    });
    expect(await s.balanceOf(wallet.account.address)).toBe(MAX - METERED);
    // Verifying it again: the Permit2 nonce is used.
    expect(await s.upto.verify(payload, requirements)).toMatchObject({ isValid: false, invalidReason: "permit2_invalid_nonce" });
  });

  it("the settled amount enters the contributor pool: an epoch allocates it and the contributor claims it", async () => {
    const wallet = await s.payer(MAX);
    const { payload } = await referencePayment(wallet);
    expect(await s.upto.settle(payload, { ...requirements, amount: "1000000" })).toMatchObject({ success: true });
    const pool = await s.splitter.contributorPool();
    const contributor = E.Wallet.createRandom().address;
    const tree = StandardMerkleTree.of([[contributor, pool.toString()]], ["address", "uint256"]);
    await (await s.splitter.connect(s.roles.oracle).postEpoch(1, tree.root, pool, E.ZeroHash, "ipfs://epoch-1")).wait();
    await (await s.splitter.claim(contributor, pool, tree.getProof(0))).wait();
    expect(await s.balanceOf(contributor)).toBe(pool);
    expect(pool).toBe((await s.splitter.totalReceived()) - (await s.splitter.ownerAccrued()) - (await s.splitter.protocolAccrued()));
  });

  it("a zero metered amount settles nothing and sends no transaction", async () => {
    const wallet = await s.payer(MAX);
    const { payload } = await referencePayment(wallet);
    const sent = s.relayer.sent;
    expect(await s.upto.settle(payload, { ...requirements, amount: "0" })).toMatchObject({ success: true, amount: "0", transaction: "" });
    expect(s.relayer.sent).toBe(sent);
    expect(await s.balanceOf(wallet.account.address)).toBe(MAX);
  });

  it("refuses another facilitator in the witness, a payTo that is not a splitter, a settle above the maximum, a reused nonce", async () => {
    const wallet = await s.payer(MAX * 3n);
    const toRelayer = { ...requirements, extra: { ...requirements.extra, facilitatorAddress: s.relayer.address } };
    const { payload: wrongFacilitator } = await referencePayment(wallet, toRelayer);
    expect(await s.upto.verify(wrongFacilitator, requirements)).toMatchObject({
      isValid: false,
      invalidReason: "upto_facilitator_mismatch",
    });

    const eoa = E.Wallet.createRandom().address;
    const toEoa = { ...requirements, payTo: eoa, extra: { ...requirements.extra, facilitatorAddress: eoa } };
    const { payload: notSplitter } = await referencePayment(wallet, toEoa);
    expect(await s.upto.verify(notSplitter, toEoa)).toMatchObject({
      isValid: false,
      invalidReason: "invalid_upto_evm_payto_not_a_splitter",
    });
    expect(await s.upto.settle(notSplitter, { ...toEoa, amount: "5" })).toMatchObject({
      success: false,
      errorReason: "invalid_upto_evm_payto_not_a_splitter",
    });

    const { payload } = await referencePayment(wallet);
    expect(await s.upto.settle(payload, { ...requirements, amount: (MAX + 1n).toString() })).toMatchObject({
      success: false,
      errorReason: "invalid_upto_evm_payload_settlement_exceeds_amount",
    });

    const first = await signUpto(wallet, requirements, { nonce: "4242" });
    expect(await s.upto.settle(first, { ...requirements, amount: "10" })).toMatchObject({ success: true });
    const reused = await signUpto(wallet, requirements, { nonce: "4242", deadline: String(Math.floor(Date.now() / 1000) + 999) });
    expect(await s.upto.verify(reused, requirements)).toMatchObject({ isValid: false, invalidReason: "permit2_invalid_nonce" });
    expect(await s.upto.settle(reused, { ...requirements, amount: "10" })).toMatchObject({
      success: false,
      errorReason: "permit2_invalid_nonce",
    });
    expect(await s.balanceOf(wallet.account.address)).toBe(MAX * 3n - 10n);
  });

  it("a paused splitter: settle refused with settlement_paused, nothing moves", async () => {
    const wallet = await s.payer(MAX);
    const { payload } = await referencePayment(wallet);
    await (await s.splitter.connect(s.roles.guardian).setSettlementPaused(true)).wait();
    try {
      expect(await s.upto.settle(payload, { ...requirements, amount: "5" })).toMatchObject({
        success: false,
        errorReason: "settlement_paused",
        transaction: "",
      });
    } finally {
      await (await s.splitter.connect(s.roles.guardian).setSettlementPaused(false)).wait();
    }
    expect(await s.balanceOf(wallet.account.address)).toBe(MAX);
  });

  it("revert data from a node that does not name the error maps to the same reason codes", () => {
    const data = (signature: string) => E.id(signature).slice(0, 10);
    expect(reasonFromUptoRevert(revertText("execution reverted", data("InvalidNonce()")))).toBe("permit2_invalid_nonce");
    expect(reasonFromUptoRevert(revertText("execution reverted", data("SettlementIsPaused()")))).toBe("settlement_paused");
    expect(reasonFromUptoRevert(revertText("execution reverted", "0x12345678"))).toBe("invalid_upto_evm_transaction_failed");
  });

  /** settleUptoBatch items of 100 units each, one per Permit2 nonce, signed by `wallet`. */
  async function batchItems(wallet: Awaited<ReturnType<typeof s.payer>>, nonces: string[]) {
    const items = [];
    for (const nonce of nonces) {
      const signed = await signUpto(wallet, requirements, { nonce });
      const a = (signed.payload as { permit2Authorization: { nonce: string; deadline: string } }).permit2Authorization;
      items.push({
        outputId: E.hexlify(E.randomBytes(32)),
        attributionRoot: E.ZeroHash,
        from: wallet.account.address,
        maxAmount: MAX,
        amount: 100n,
        nonce: BigInt(a.nonce),
        deadline: BigInt(a.deadline),
        validAfter: 0n,
        signature: (signed.payload as { signature: Hex }).signature,
      });
    }
    return items;
  }

  it("settleUptoBatch settles the good items and skips a bad one with PaymentSkipped", async () => {
    const wallet = await s.payer(MAX * 3n);
    const items = await batchItems(wallet, ["501", "502", "501"]);
    // An explicit gas limit, as the facilitator sends: a node's estimate would find the least gas, which defers all.
    const receipt = await (await s.splitter.connect(s.relayerWallet).settleUptoBatch(items, { gasLimit: 1_200_000 })).wait();
    const names = receipt!.logs.map((l) => (l.address === s.payTo ? s.splitter.interface.parseLog(l)?.name : null)).filter(Boolean);
    expect(names).toEqual(["PaymentSettled", "PaymentSettled", "PaymentSkipped"]);
    expect(await s.balanceOf(wallet.account.address)).toBe(MAX * 3n - 200n);
    // Only registered facilitators may settle.
    expect(await revertOf(s.splitter.connect(s.roles.keeper).settleUptoBatch(items))).toMatch(/NotFacilitator/);
  });

  it("settleUptoBatch short of gas defers the rest (PaymentsDeferred) instead of failing or skipping them", async () => {
    const wallet = await s.payer(MAX * 3n);
    const items = await batchItems(wallet, ["601", "602", "603"]);
    // Room for one item's whole cap (300k + 1/63 + overhead) and its use, not for a second one.
    const receipt = await (await s.splitter.connect(s.relayerWallet).settleUptoBatch(items, { gasLimit: 390_000 })).wait();
    const events = receipt!.logs.filter((l) => l.address === s.payTo).map((l) => s.splitter.interface.parseLog(l)!);
    expect(events.map((e) => e.name)).toEqual(["PaymentSettled", "PaymentsDeferred"]);
    expect(events[1].args.map(Number)).toEqual([1, 2]);
    expect(await s.balanceOf(wallet.account.address)).toBe(MAX * 3n - 100n);
    // The deferred items are untouched: they settle in the next batch.
    const rest = await (await s.splitter.connect(s.relayerWallet).settleUptoBatch(items.slice(1), { gasLimit: 800_000 })).wait();
    const names = rest!.logs.filter((l) => l.address === s.payTo).map((l) => s.splitter.interface.parseLog(l)!.name);
    expect(names).toEqual(["PaymentSettled", "PaymentSettled"]);
  });
});

describe("the reference @x402/express middleware settles upto through our facilitator's HTTP API", () => {
  let url: string;

  beforeAll(async () => {
    const facilitator = new x402Facilitator().register(s.network, s.upto);
    const client: FacilitatorClient = {
      verify: (p, r) => facilitator.verify(p, r),
      settle: (p, r) => facilitator.settle(p, r),
      getSupported: async () => facilitator.getSupported() as never,
    };
    const served = await serveFacilitator(client);
    closers.push(served.close);
    const resourceServer = new x402ResourceServer(new HTTPFacilitatorClient({ url: served.url })).register(
      s.network,
      new UptoServerScheme(),
    );
    const price = { amount: MAX.toString(), asset: s.asset, extra: { name: "USD Coin", version: "2", ...uptoOfferExtra(s.payTo) } };
    const accepts = { scheme: "upto", network: s.network, payTo: s.payTo, price, maxTimeoutSeconds: 300 };
    const app = express();
    app.use(
      paymentMiddleware(
        {
          "POST /generate": { accepts, description: "metered" },
          "POST /generate-gasless": { accepts, description: "metered", extensions: declareEip2612GasSponsoringExtension() },
        },
        resourceServer,
      ),
    );
    const generate: express.RequestHandler = (_req, res) => {
      setSettlementOverrides(res, { amount: METERED.toString() });
      res.json({ ok: true });
    };
    app.post("/generate", generate);
    app.post("/generate-gasless", generate);
    const server: Server = await new Promise((resolve) => {
      const srv = app.listen(0, "127.0.0.1", () => resolve(srv));
    });
    closers.push(() => new Promise((r) => server.close(r)));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  async function pay(wallet: Awaited<ReturnType<typeof s.payer>>, path: string) {
    const payer = new x402Client();
    payer.register(s.network, new UptoClientScheme(toClientEvmSigner(wallet.account, wallet)));
    payer.setSpendControls({ allowedAssets: [{ network: s.network, asset: s.asset, maxAmountPerPayment: MAX.toString() }] });
    const res = await wrapFetchWithPayment(fetch, payer)(`${url}${path}`, { method: "POST" });
    expect(res.status).toBe(200);
    const settlement = decodePaymentResponseHeader(res.headers.get("PAYMENT-RESPONSE")!);
    expect(settlement).toMatchObject({ success: true, amount: METERED.toString(), payer: wallet.account.address });
    const receipt = (await s.ethers.provider.getTransactionReceipt(settlement.transaction))!;
    expect(settledEvents(receipt).map((e) => e!.args.amount)).toEqual([METERED]);
  }

  it("the reference client pays a metered route; the metered amount reaches the splitter with its PaymentSettled", async () => {
    const wallet = await s.payer(MAX);
    const before = await s.splitter.totalReceived();
    await pay(wallet, "/generate");
    expect(await s.splitter.totalReceived()).toBe(before + METERED);
  });

  it("with eip2612GasSponsoring an agent without a Permit2 approval pays without sending any transaction", async () => {
    const wallet = await s.payer(MAX, { approvePermit2: false });
    const sentBefore = await wallet.getTransactionCount({ address: wallet.account.address });
    const before = await s.splitter.totalReceived();
    await pay(wallet, "/generate-gasless");
    expect(await s.splitter.totalReceived()).toBe(before + METERED);
    expect(await s.token.allowance(wallet.account.address, PERMIT2_ADDRESS)).toBe(MAX - METERED);
    expect(await wallet.getTransactionCount({ address: wallet.account.address })).toBe(sentBefore);
  });
});
