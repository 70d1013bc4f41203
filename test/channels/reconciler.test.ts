// The reconciler and channel payments: a voucher's payment is "pending" until the sweep's link settles it
// and names no EIP-3009 authorization, so crash recovery must leave it to the sweep. The control: the same
// row as an exact payment whose authorization expired unused is recorded failed by the same pass.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PaymentRequirements } from "@x402/core/types";
import { Wallet } from "ethers";
import { openLedger, type Ledger } from "../../server/ledger/index.ts";
import { PaymentReconciler } from "../../server/x402/reconciler.ts";
import { connectChain, type Chain } from "../../scripts/shared/stack.ts";
import { pay } from "../x402/support/stack.ts";

let dir: string;
let ledger: Ledger;
let chain: Chain;
let requirements: PaymentRequirements;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "channels-reconciler-"));
  ledger = await openLedger({ sqlitePath: join(dir, "ledger.db") });
  chain = await connectChain();
  const token = await chain.ethers.deployContract("TestUSDC");
  requirements = {
    scheme: "exact",
    network: "eip155:31337",
    asset: (await token.getAddress()).toLowerCase(),
    amount: "1000",
    payTo: Wallet.createRandom().address.toLowerCase(),
    maxTimeoutSeconds: 1,
    extra: { name: "USD Coin", version: "2" },
  };
});

afterAll(async () => {
  await ledger?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A pending payment whose authorization (exact-shaped) expires within a second; `scheme` as the payer accepted. */
async function pendingPayment(scheme: string) {
  const payer = Wallet.createRandom();
  const payment = await pay(payer, requirements, { accepted: { scheme } });
  const key = {
    network: requirements.network,
    asset: requirements.asset,
    payer: payer.address.toLowerCase(),
    nonce: (payment.payload.authorization as { nonce: string }).nonce.toLowerCase(),
  };
  const input = { ...key, payTo: requirements.payTo, amount: "1000", modelId: "m", outputId: null, payload: JSON.stringify(payment) };
  if (!(await ledger.reserve(input)).reserved) throw new Error("not reserved");
  await ledger.transition(key, ["reserved"], "pending", { txHash: null });
  return key;
}

describe("crash recovery and channel payments", () => {
  it("leaves a pending voucher payment to the sweep; an expired exact one in the same pass is failed", async () => {
    const voucher = await pendingPayment("batch-settlement");
    const exact = await pendingPayment("exact");
    await chain.connection.provider.request({ method: "evm_increaseTime", params: [120] });
    await chain.connection.provider.request({ method: "evm_mine", params: [] });
    const reconciler = new PaymentReconciler(ledger, chain.ethers.provider, "eip155:31337", {
      intervalMs: 0,
      processStartedAt: Date.now() + 1,
    });
    const report = await reconciler.runAtStart();
    expect(report).toMatchObject({ checked: 2, failed: 1, unresolved: 1 });
    expect((await ledger.getPayment(exact))!.status).toBe("failed");
    expect((await ledger.getPayment(voucher))!.status).toBe("pending");
  });
});
