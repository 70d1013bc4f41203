// Claim timing from the host's configuration (facilitator.channelClaims): with maxCount 3, the third paid
// voucher starts a claim-and-settle by itself (no admin call), and the money reaches the splitter.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BATCH_SETTLEMENT_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { escrowAbi } from "../../server/facilitator/batch-settlement/abi.ts";
import { channelHost, type ChannelHost } from "./host.ts";
import { computeChannelId } from "@x402/evm/batch-settlement/client";
import { decodePaymentRequiredHeader } from "@x402/core/http";

const PRICE = 1000n;

let h: ChannelHost;
beforeAll(async () => {
  h = await channelHost(PRICE, { maxCount: 3 });
});
afterAll(async () => h?.close());

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("facilitator.channelClaims", () => {
  it("claims by itself once this instance holds maxCount unclaimed vouchers", async () => {
    expect(h.server.context.channels!.sweeper.policy).toMatchObject({ maxCount: 3, maxAgeMs: 60_000, maxAmount: 10_000_000n });
    const payer = await h.payer(1_000_000n, 10);
    const challenge = await fetch(`${h.base}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "m", prompt: "x", max_tokens: 8 }),
    });
    const offer = decodePaymentRequiredHeader(challenge.headers.get("payment-required")!).accepts.find(
      (a) => a.scheme === "batch-settlement",
    )!;
    const channelId = computeChannelId(payer.scheme.buildChannelConfig(offer), offer.network);
    const claimed = async () => {
      const [, totalClaimed] = await payer.wallet.readContract({
        address: BATCH_SETTLEMENT_ADDRESS,
        abi: escrowAbi,
        functionName: "channels",
        args: [channelId],
      });
      return totalClaimed;
    };
    const before = await h.balanceOf(h.splitter);
    for (let i = 0; i < 2; i++) expect((await payer.complete(`The jury said ${i}`)).status).toBe(200);
    expect(await claimed()).toBe(0n);
    expect((await payer.complete("The jury said 2")).status).toBe(200);
    expect(await until(claimed, (total) => total === 3n * PRICE)).toBe(3n * PRICE);
    expect(
      await until(
        () => h.balanceOf(h.splitter),
        (b) => b === before + 3n * PRICE,
      ),
    ).toBe(before + 3n * PRICE);
  });
});
