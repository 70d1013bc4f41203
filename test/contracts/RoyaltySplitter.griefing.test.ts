// Batch griefing by EIP-7702-delegated payers: a payer verified as a plain EOA delegates its account to
// code whose isValidSignature burns all gas before the batch lands. Through the real facilitator (verify,
// then settle through the batcher and relayer at their own gas budget), every honest item must settle.
import { describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import { pay, x402Stack, type X402Stack } from "../x402/support/stack.ts";
import { splitterInterface } from "../../server/facilitator/abi.ts";
import { EOA_ITEM_GAS } from "../../server/facilitator/batcher.ts";

const ITEMS = 32;

/** Delegates `account` to `code` the way an EIP-7702 authorization does: its code becomes 0xef0100 || code. */
async function delegate(s: X402Stack, account: string, code: string) {
  await s.connection.provider.request({ method: "hardhat_setCode", params: [account, `0xef0100${code.slice(2).toLowerCase()}`] });
}

async function scenario(burners: number, options: { recheckCode: boolean }) {
  const s = await x402Stack({
    payers: 0,
    facilitator: { batch: { maxBatchSize: ITEMS, maxWaitMs: 200, ...(options.recheckCode ? {} : { hasCode: async () => false }) } },
  });
  const burner = await (await s.ethers.deployContract("DelegatedGasBurner")).getAddress();
  const wallets = Array.from({ length: ITEMS }, () => E.Wallet.createRandom());
  for (const w of wallets) await (await s.token.mint(w.address, 10_000n)).wait();
  const req = s.requirements();
  const payments = await Promise.all(wallets.map((w) => pay(w, req)));
  // Every payer is a plain EOA when verified.
  const verdicts = await Promise.all(payments.map((p) => s.facilitator.verify(p, req)));
  expect(verdicts.every((v) => v.isValid)).toBe(true);
  // Then the attackers (spread through the batch) delegate their accounts to the gas burner.
  const step = Math.floor(ITEMS / burners);
  const attackers = new Set(Array.from({ length: burners }, (_, i) => wallets[i * step + 1].address));
  for (const a of attackers) await delegate(s, a, burner);

  const before = await s.token.balanceOf(s.payTo);
  const results = await Promise.all(payments.map((p) => s.facilitator.settle(p, req)));
  const honest = results.filter((_, i) => !attackers.has(wallets[i].address));
  const transactions = new Set(results.map((r) => r.transaction).filter(Boolean));
  let gasUsed = 0n;
  let deferred = 0;
  for (const hash of transactions) {
    const receipt = (await s.ethers.provider.getTransactionReceipt(hash))!;
    expect(receipt.status).toBe(1);
    gasUsed += receipt.gasUsed;
    deferred += receipt.logs.filter((l) => splitterInterface.parseLog(l)?.name === "PaymentsDeferred").length;
  }
  s.facilitator.close();
  return {
    honestSettled: honest.filter((r) => r.success).length,
    honestReverted: honest.filter((r) => !r.success).length,
    attackersSettled: results.filter((r, i) => attackers.has(wallets[i].address) && r.success).length,
    received: (await s.token.balanceOf(s.payTo)) - before,
    transactions: transactions.size,
    gasUsed,
    deferred,
    honestCount: honest.length,
  };
}

describe("batch griefing by EIP-7702-delegated payers", () => {
  for (const burners of [1, 8]) {
    it(`${burners} delegated burner(s) among ${ITEMS} items: every honest item settles (payer code re-read before broadcast)`, async () => {
      const r = await scenario(burners, { recheckCode: true });
      expect(r.honestSettled).toBe(ITEMS - burners);
      expect(r.honestReverted).toBe(0);
      expect(r.attackersSettled).toBe(0);
      expect(r.received).toBe(BigInt(ITEMS - burners) * 10_000n);
      expect(r.transactions).toBe(2); // honest payers in one batch, the code-bearing ones apart
    });

    it(`${burners} burner(s) delegating after the code check: the per-item cap still keeps every honest item`, async () => {
      const r = await scenario(burners, { recheckCode: false });
      expect(r.honestSettled).toBe(ITEMS - burners);
      expect(r.honestReverted).toBe(0);
      expect(r.received).toBe(BigInt(ITEMS - burners) * 10_000n);
      expect(r.transactions).toBe(1);
      expect(r.deferred).toBe(0); // the relayer's budget covers every item's cap
      // The burners really burned: each used its whole cap (EOA_ITEM_GAS) inside the one batch.
      expect(r.gasUsed > BigInt(burners) * EOA_ITEM_GAS).toBe(true);
      expect(r.attackersSettled).toBe(0);
    });
  }

  it("a batch over the relayer's gas budget: the contract defers the rest, the batcher queues them again, all settle", async () => {
    // Room for about three items per transaction: 8 payments need several batches.
    const maxBatchGas = 80_000n + 3n * (EOA_ITEM_GAS + EOA_ITEM_GAS / 63n + 15_000n);
    const s = await x402Stack({ payers: 0, facilitator: { batch: { maxBatchSize: 8, maxWaitMs: 200, maxBatchGas } } });
    const wallets = Array.from({ length: 8 }, () => E.Wallet.createRandom());
    for (const w of wallets) await (await s.token.mint(w.address, 10_000n)).wait();
    const req = s.requirements();
    const payments = await Promise.all(wallets.map((w) => pay(w, req)));
    const before = await s.token.balanceOf(s.payTo);
    const results = await Promise.all(payments.map((p) => s.facilitator.settle(p, req)));
    s.facilitator.close();
    expect(results.every((r) => r.success)).toBe(true);
    expect((await s.token.balanceOf(s.payTo)) - before).toBe(8n * 10_000n);
    const transactions = [...new Set(results.map((r) => r.transaction))];
    expect(transactions.length).toBeGreaterThan(1);
    let deferrals = 0;
    for (const hash of transactions) {
      const receipt = (await s.ethers.provider.getTransactionReceipt(hash))!;
      deferrals += receipt.logs.filter((l) => splitterInterface.parseLog(l)?.name === "PaymentsDeferred").length;
    }
    expect(deferrals).toBeGreaterThan(0);
  });
});
