// The payer's escape hatch against the server: a payer who withdraws (initiateWithdraw, then
// finalizeWithdraw after the channel's delay) before the server claimed takes back the unclaimed escrow.
// The sweep then sets that channel aside and still claims everyone else's vouchers, and the channel's
// next voucher is refused. During the delay the server claims what it is owed (the spec's grace period), so
// the payer's finalize returns only the rest.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { computeChannelId } from "@x402/evm/batch-settlement/client";
import { parseAbi, type Hex } from "viem";
import { BatchSettlementReason } from "@royalty402/fastify-x402";
import { decodePaymentRequiredHeader } from "@x402/core/http";
import { BATCH_SETTLEMENT_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { PRICE, channelOffer, channelStack, type ChannelStack } from "./support.ts";

const CONFIG =
  "(address payer,address payerAuthorizer,address receiver,address receiverAuthorizer,address token,uint40 withdrawDelay,bytes32 salt)";
const withdrawAbi = parseAbi([
  `function initiateWithdraw(${CONFIG} config, uint128 amount)`,
  `function finalizeWithdraw(${CONFIG} config)`,
]);

let s: ChannelStack;
beforeAll(async () => {
  s = await channelStack();
});
afterAll(async () => s?.close());

describe("a payer withdraws before the server claims", () => {
  it("the withdrawn channel is set aside; the others are claimed; its next voucher is refused", async () => {
    const leaving = await s.payer(100_000n, 3);
    const staying = await s.payer(100_000n, 10);
    for (const p of [leaving, staying, leaving, staying]) expect((await p.fetch(s.url, { method: "POST" })).status).toBe(200);

    const offer = channelOffer((await fetch(s.url, { method: "POST" })).headers.get("payment-required")!);
    const config = leaving.scheme.buildChannelConfig(offer);
    const send = async (functionName: "initiateWithdraw" | "finalizeWithdraw", args: readonly unknown[]) => {
      const hash = await leaving.wallet.writeContract({ address: BATCH_SETTLEMENT_ADDRESS, abi: withdrawAbi, functionName, args } as never);
      await leaving.wallet.waitForTransactionReceipt({ hash });
    };
    await send("initiateWithdraw", [config, 3n * PRICE]);
    await s.ethers.provider.send("evm_increaseTime", [config.withdrawDelay]);
    await s.ethers.provider.send("evm_mine", []);
    await send("finalizeWithdraw", [config]);
    expect(await s.balanceOf(leaving.address)).toBe(100_000n); // the two vouchers were never claimed

    const before = await s.balanceOf(s.payTo);
    const swept = await s.channels.sweeper.sweep();
    const leavingId = computeChannelId(config, s.network).toLowerCase() as Hex;
    expect(swept).toMatchObject({ channels: 1, outputs: 2, amount: 2n * PRICE, refused: [{ channelId: leavingId }] });
    expect(await s.balanceOf(s.payTo)).toBe(before + 2n * PRICE);

    const runs = s.runs.count;
    const res = await leaving.fetch(s.url, { method: "POST" });
    expect(res.status).toBe(402);
    expect(decodePaymentRequiredHeader(res.headers.get("payment-required")!).error).toBe(BatchSettlementReason.channelNotFound);
    expect(s.runs.count).toBe(runs);
  });
});

// Its own chain: the test above moved the chain's clock past the delay (deposits signed now would be expired).
describe("a payer withdraws after the server claimed", () => {
  let s: ChannelStack;
  beforeAll(async () => {
    s = await channelStack();
  });
  afterAll(async () => s?.close());

  it("during the delay the sweep claims the vouchers, and the finalized withdrawal returns only the rest", async () => {
    const p = await s.payer(100_000n, 10);
    for (let i = 0; i < 2; i++) expect((await p.fetch(s.url, { method: "POST" })).status).toBe(200);
    const offer = channelOffer((await fetch(s.url, { method: "POST" })).headers.get("payment-required")!);
    const config = p.scheme.buildChannelConfig(offer);
    const send = async (functionName: "initiateWithdraw" | "finalizeWithdraw", args: readonly unknown[]) => {
      const hash = await p.wallet.writeContract({ address: BATCH_SETTLEMENT_ADDRESS, abi: withdrawAbi, functionName, args } as never);
      await p.wallet.waitForTransactionReceipt({ hash });
    };
    await send("initiateWithdraw", [config, 8n * PRICE]); // everything not claimed yet
    expect(await s.channels.sweeper.sweep()).toMatchObject({ outputs: 2, amount: 2n * PRICE, refused: [] });
    await s.ethers.provider.send("evm_increaseTime", [config.withdrawDelay]);
    await s.ethers.provider.send("evm_mine", []);
    await send("finalizeWithdraw", [config]);
    expect(await s.balanceOf(p.address)).toBe(100_000n - 2n * PRICE); // the 8 asked for, the 2 charged stay paid
  });
});
