// Permit2 deposits (the spec's `permit2` asset transfer method, for tokens without EIP-3009): when the offer
// says extra.assetTransferMethod "permit2", the reference client signs a PermitWitnessTransferFrom to the
// canonical Permit2 deposit collector (witness: the channel id); the facilitator deposits through that
// collector (stand-in installed at its canonical address), and the channel pays with vouchers as usual.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import { computeChannelId } from "@x402/evm/batch-settlement/client";
import { BatchSettlementReason as R } from "@royalty402/fastify-x402";
import { BATCH_SETTLEMENT_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { escrowAbi } from "../../server/facilitator/batch-settlement/abi.ts";
import { PRICE, channelOffer, channelStack, type ChannelStack } from "./support.ts";

let s: ChannelStack;
beforeAll(async () => {
  s = await channelStack({ assetTransferMethod: "permit2" });
});
afterAll(async () => s?.close());

describe("Permit2 deposits with the reference client", () => {
  it("the offer names permit2; a payer who approved Permit2 deposits through the collector and pays with vouchers", async () => {
    const offer = channelOffer((await fetch(s.url, { method: "POST" })).headers.get("payment-required")!);
    expect(offer.extra).toMatchObject({ assetTransferMethod: "permit2" });
    const p = await s.payer(100_000n, 10, true);
    const id = computeChannelId(p.scheme.buildChannelConfig(offer), s.network);
    for (let i = 0; i < 3; i++) {
      const res = await p.fetch(s.url, { method: "POST" });
      expect(res.status).toBe(200);
      const receipt = decodePaymentResponseHeader(res.headers.get("payment-response")!);
      if (i === 0)
        expect(receipt.transaction).toMatch(/^0x[0-9a-f]{64}$/); // the deposit's
      else expect(receipt.transaction).toBe("");
    }
    const channel = await s.signer.readContract({
      address: BATCH_SETTLEMENT_ADDRESS,
      abi: escrowAbi,
      functionName: "channels",
      args: [id],
    });
    expect(channel).toEqual([10n * PRICE, 0n]);
    expect(await s.balanceOf(p.address)).toBe(100_000n - 10n * PRICE);
    expect(await s.channels.sweeper.sweep()).toMatchObject({ outputs: 3, amount: 3n * PRICE });
  });

  it("a payer without a Permit2 allowance is refused before anything runs: the deposit would not go through", async () => {
    const p = await s.payer(100_000n, 10, false);
    const runs = s.runs.count;
    const res = await p.fetch(s.url, { method: "POST" });
    expect(res.status).toBe(402);
    expect(decodePaymentRequiredHeader(res.headers.get("payment-required")!).error).toBe(R.depositSimulationFailed);
    expect(s.runs.count).toBe(runs);
    expect(await s.balanceOf(p.address)).toBe(100_000n);
  });
});
