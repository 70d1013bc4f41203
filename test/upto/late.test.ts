// A settlement answered "settlement_pending" (its receipt not there in time) is followed after the
// answer: once the transaction is mined, the facilitator reports the final result, as exact batches
// do, so the host records pending -> settled. Blocks are mined by hand here.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FinalSettlement } from "../../server/facilitator/outcome.ts";
import { UptoSplitterFacilitator } from "../../server/facilitator/upto/facilitator.ts";
import { nonceKey } from "../../server/facilitator/upto/payload.ts";
import { signUpto, splitterUptoStack, uptoRequirements } from "./support.ts";

let s: Awaited<ReturnType<typeof splitterUptoStack>>;
const automine = (on: boolean) => s.connection.provider.request({ method: "evm_setAutomine", params: [on] });

beforeAll(async () => {
  s = await splitterUptoStack();
});

afterAll(async () => {
  await automine(true);
});

describe("a pending upto settlement", () => {
  it("reports its final result once mined", async () => {
    const finals: FinalSettlement[] = [];
    const upto = new UptoSplitterFacilitator({
      provider: s.ethers.provider,
      relayer: s.relayer,
      network: s.network,
      receiptTimeoutMs: 0,
      onFinal: (f) => finals.push(f),
    });
    const wallet = await s.payer(10_000n);
    const requirements = uptoRequirements(s, s.payTo, 5_000n);
    const payload = await signUpto(wallet, requirements);
    await automine(false);
    const answer = await upto.settle(payload, { ...requirements, amount: "1234" });
    expect(answer).toMatchObject({ success: false, errorReason: "settlement_pending" });
    expect(finals).toEqual([]);
    await s.connection.provider.request({ method: "evm_mine", params: [] });
    for (let i = 0; i < 100 && finals.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    const nonce = nonceKey(BigInt((payload.payload as any).permit2Authorization.nonce));
    expect(finals).toEqual([
      expect.objectContaining({ status: "settled", txHash: answer.transaction, payer: wallet.account.address, nonce }),
    ]);
    expect(await s.balanceOf(wallet.account.address)).toBe(10_000n - 1234n);
  });
});
