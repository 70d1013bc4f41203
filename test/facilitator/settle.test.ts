// Settlement through the batcher and the nonce-managed relayer, on real contracts.
import { beforeAll, describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import { EmbeddedFacilitator, Reason, type FinalSettlement } from "../../server/facilitator/index.ts";
import { splitterInterface } from "../../server/facilitator/abi.ts";
import { fundedWallet, pay, x402Stack, type X402Stack } from "../x402/support/stack.ts";

let s: X402Stack;

beforeAll(async () => {
  s = await x402Stack({ facilitator: { batch: { maxBatchSize: 32, maxWaitMs: 20 } } });
});

async function settledEvents(txHash: string) {
  const receipt = await s.ethers.provider.getTransactionReceipt(txHash);
  return receipt!.logs.flatMap((log) => {
    try {
      const parsed = splitterInterface.parseLog(log);
      return parsed ? [parsed] : [];
    } catch {
      return [];
    }
  });
}

describe("facilitator settle", () => {
  it("settles concurrent payments in one settleBatch; a bad item is skipped, the others settle", async () => {
    const req = s.requirements();
    const payers = await Promise.all([0, 1, 2, 3].map(() => fundedWallet(s)));
    const broke = await fundedWallet(s, 5n); // signs validly, cannot pay
    const payments = await Promise.all([...payers, broke].map((p) => pay(p, req)));
    const before = await s.token.balanceOf(s.payTo);
    const results = await Promise.all(payments.map((p) => s.facilitator.settle(p, req)));
    expect(results.slice(0, 4).every((r) => r.success)).toBe(true);
    expect(results[4]).toMatchObject({ success: false, errorReason: Reason.insufficientBalance, payer: broke.address });
    const tx = results[0].transaction;
    expect(results.every((r) => r.transaction === tx)).toBe(true); // one transaction for all five
    expect(await s.token.balanceOf(s.payTo)).toBe(before + 4n * 10_000n);
    const events = await settledEvents(tx);
    expect(events.filter((e) => e.name === "PaymentSettled")).toHaveLength(4);
    expect(events.filter((e) => e.name === "PaymentSkipped")).toHaveLength(1);
  });

  it("carries the output id and attribution root from the royalty402 extension", async () => {
    const req = s.requirements();
    const payment = await pay(await fundedWallet(s), req);
    const outputId = E.hexlify(E.randomBytes(32));
    const attributionRoot = E.hexlify(E.randomBytes(32));
    const result = await s.facilitator.settle({ ...payment, extensions: { royalty402: { outputId, attributionRoot } } }, req);
    expect(result.success).toBe(true);
    const [event] = await settledEvents(result.transaction);
    expect(event.args.outputId).toBe(outputId);
    expect(event.args.attributionRoot).toBe(attributionRoot);
  });

  it("joins a duplicate settle of the same authorization instead of submitting it twice", async () => {
    const req = s.requirements();
    const payer = await fundedWallet(s, 10_000n);
    const payment = await pay(payer, req);
    const [a, b] = await Promise.all([s.facilitator.settle(payment, req), s.facilitator.settle(payment, req)]);
    expect(a.success && b.success).toBe(true);
    expect(a.transaction).toBe(b.transaction);
    expect(await s.token.balanceOf(payer.address)).toBe(0n);
    const again = await s.facilitator.settle(payment, req); // later: the same answer, no new transaction
    expect(again).toMatchObject({ success: true, transaction: a.transaction });
  });

  it("settles 200 concurrent payments with no relayer nonce errors, in few transactions", async () => {
    const req = s.requirements({ amount: "1" });
    const payers = await Promise.all(Array.from({ length: 10 }, () => fundedWallet(s)));
    const payments = await Promise.all(Array.from({ length: 200 }, (_, i) => pay(payers[i % 10], req)));
    const sentBefore = s.facilitator.relayer.sent;
    const results = await Promise.all(payments.map((p) => s.facilitator.settle(p, req)));
    const failures = results.filter((r) => !r.success);
    expect(failures).toEqual([]);
    const txs = new Set(results.map((r) => r.transaction));
    expect(s.facilitator.relayer.sent - sentBefore).toBe(txs.size);
    expect(txs.size).toBeLessThanOrEqual(20); // 200 payments, batches of up to 32
    for (const p of payers) expect(await s.token.balanceOf(p.address)).toBe(1_000_000_000n - 20n);
  });

  it("settles an ERC-1271 wallet's payment in a batch of its own, apart from ECDSA payments", async () => {
    const req = s.requirements();
    const owner = E.Wallet.createRandom();
    const wallet = await s.ethers.deployContract("ERC1271Wallet", [owner.address]);
    const walletAddress = await wallet.getAddress();
    await (await s.token.mint(walletAddress, 10_000n)).wait();
    const contractPayment = await pay({ address: walletAddress, signTypedData: owner.signTypedData.bind(owner) }, req);
    const others = await Promise.all([0, 1, 2].map(async () => pay(await fundedWallet(s), req)));
    const results = await Promise.all([contractPayment, ...others].map((p) => s.facilitator.settle(p, req)));
    expect(results.map((r) => r.success)).toEqual([true, true, true, true]);
    // Payers with code get the contract-signer cap in their own batch: they cannot burn the others' gas.
    expect(new Set(results.map((r) => r.transaction)).size).toBe(2);
    expect(new Set(results.slice(1).map((r) => r.transaction)).size).toBe(1);
    expect(await s.token.balanceOf(walletAddress)).toBe(0n);
  });

  it("recovers when something else used the relayer's next nonce", async () => {
    await (await s.relayer.sendTransaction({ to: s.roles.keeper.address, value: 1n })).wait();
    const req = s.requirements();
    const result = await s.facilitator.settle(await pay(await fundedWallet(s), req), req);
    expect(result.success).toBe(true);
  });

  it("settles a payment to a plain address with transferWithAuthorization", async () => {
    const req = s.requirements({ payTo: s.roles.keeper.address });
    const before = await s.token.balanceOf(s.roles.keeper.address);
    const result = await s.facilitator.settle(await pay(await fundedWallet(s), req), req);
    expect(result.success).toBe(true);
    expect(await s.token.balanceOf(s.roles.keeper.address)).toBe(before + 10_000n);
  });

  it("refuses to settle an invalid payment without submitting anything", async () => {
    const req = s.requirements();
    const sent = s.facilitator.relayer.sent;
    const result = await s.facilitator.settle(await pay(await fundedWallet(s), req, { value: 1n }), req);
    expect(result).toMatchObject({ success: false, errorReason: Reason.valueMismatch, transaction: "" });
    expect(s.facilitator.relayer.sent).toBe(sent);
  });

  it("answers settlement_pending for a slow transaction, then reconciles it from the receipt", async () => {
    const relayer = new E.Wallet(E.Wallet.createRandom().privateKey, s.ethers.provider);
    await s.connection.provider.request({ method: "hardhat_setBalance", params: [relayer.address, "0x56BC75E2D63100000"] });
    await (await s.splitter.connect(s.roles.owner).setFacilitator(relayer.address, true)).wait();
    const slow = await EmbeddedFacilitator.create({
      provider: s.ethers.provider,
      relayer,
      batch: { confirmTimeoutMs: 300, reconcileMs: 100, maxWaitMs: 5 },
    });
    const finals: FinalSettlement[] = [];
    slow.onFinal((f) => finals.push(f));
    const req = s.requirements();
    const payer = await fundedWallet(s);
    const payment = await pay(payer, req);
    await s.connection.provider.request({ method: "evm_setAutomine", params: [false] });
    try {
      const result = await slow.settle(payment, req);
      expect(result).toMatchObject({ success: false, errorReason: Reason.settlementPending });
      expect(result.transaction).toMatch(/^0x[0-9a-f]{64}$/);
      expect(finals).toEqual([]);
      // A retry of the same payment (as @x402/core's resource server does once) joins, never resubmits.
      const retry = await slow.settle(payment, req);
      expect(retry).toMatchObject({ errorReason: Reason.settlementPending, transaction: result.transaction });
      expect(slow.relayer.sent).toBe(1);
      await s.connection.provider.request({ method: "evm_mine", params: [] });
      await expect.poll(() => finals.length, { timeout: 5000, interval: 50 }).toBe(1);
      expect(finals[0]).toMatchObject({ status: "settled", txHash: result.transaction, payer: payer.address });
      expect(await slow.settle(payment, req)).toMatchObject({ success: true, transaction: result.transaction });
    } finally {
      await s.connection.provider.request({ method: "evm_setAutomine", params: [true] });
      slow.close();
    }
  });
});
