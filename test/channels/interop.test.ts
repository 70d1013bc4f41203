// batch-settlement with the reference client (@x402/fetch + @x402/evm/batch-settlement/client, unmodified)
// over real HTTP against the payment plugin and our channel facilitator, on the in-process chain with the
// escrow and collector stand-ins: one deposit, paid requests with vouchers and no transaction each, one
// claim-and-settle transaction into the splitter linked to the outputs, a top-up when the deposit runs out,
// and a cooperative refund.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import { computeChannelId } from "@x402/evm/batch-settlement/client";
import { parseAbi, parseEventLogs, type Hex } from "viem";
import { BATCH_SETTLEMENT_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { escrowAbi } from "../../server/facilitator/batch-settlement/abi.ts";
import { outputsRoot } from "../../server/facilitator/batch-settlement/sweeper.ts";
import { PRICE, channelStack, recordHash, type ChannelStack } from "./support.ts";

const N = 50;
const linkEvent = parseAbi(["event ChannelOutputsPaid(bytes32 indexed outputsRoot, uint256 count, uint256 amount)"]);

let s: ChannelStack;
let payer: Awaited<ReturnType<ChannelStack["payer"]>>;
let channelId: Hex;

beforeAll(async () => {
  s = await channelStack();
  payer = await s.payer(1_000_000n, 100); // deposits 100 requests' worth at a time
});

afterAll(async () => s?.close());

const pay = (p = payer) => p.fetch(s.url, { method: "POST" });
const channelOnChain = async () =>
  s.signer.readContract({ address: BATCH_SETTLEMENT_ADDRESS, abi: escrowAbi, functionName: "channels", args: [channelId] });

describe("batch-settlement channels with the reference client", () => {
  it("the 402 offers the channel terms the reference client needs", async () => {
    const res = await fetch(s.url, { method: "POST" });
    expect(res.status).toBe(402);
    const required = decodePaymentRequiredHeader(res.headers.get("payment-required")!);
    expect(required.accepts.map((a) => a.scheme)).toEqual(["exact", "batch-settlement"]);
    const offer = required.accepts[1];
    expect(offer).toMatchObject({
      scheme: "batch-settlement",
      amount: PRICE.toString(),
      payTo: s.payTo,
      extra: { receiverAuthorizer: s.channels.authorizer, withdrawDelay: 900, name: "USD Coin", version: "2" },
    });
    channelId = computeChannelId(payer.scheme.buildChannelConfig(offer), s.network);
  });

  it(`one deposit, then ${N} paid requests with vouchers and no transaction each`, async () => {
    const firstBlock = await s.signer.getBlockNumber({ cacheTime: 0 });
    for (let i = 0; i < N; i++) {
      const res = await pay();
      expect(res.status).toBe(200);
      const receipt = decodePaymentResponseHeader(res.headers.get("payment-response")!);
      expect(receipt.success).toBe(true);
      expect(receipt.extra).toMatchObject({
        chargedAmount: PRICE.toString(),
        channelState: { channelId, chargedCumulativeAmount: String(PRICE * BigInt(i + 1)) },
      });
      if (i === 0) expect(receipt.transaction).toMatch(/^0x[0-9a-f]{64}$/);
      else expect(receipt.transaction).toBe("");
    }
    expect(await s.signer.getBlockNumber({ cacheTime: 0 })).toBe(firstBlock + 1n); // the deposit only
    expect(s.runs.count).toBe(N);
    expect(await channelOnChain()).toEqual([100n * PRICE, 0n]);
    expect(await s.balanceOf(payer.address)).toBe(1_000_000n - 100n * PRICE);
  });

  it("one claim-and-settle transaction moves the charged total into the splitter and links the outputs", async () => {
    const splitterBefore = await s.balanceOf(s.payTo);
    const swept = await s.channels.sweeper.sweep();
    expect(swept).toMatchObject({ channels: 1, outputs: N, amount: PRICE * BigInt(N) });
    expect(await s.balanceOf(s.payTo)).toBe(splitterBefore + PRICE * BigInt(N));
    expect(await channelOnChain()).toEqual([100n * PRICE, PRICE * BigInt(N)]);
    // The link: recomputed from the outputs the server answered (their ids from the receipts' outcomes).
    const paid = s.outcomes
      .filter((o) => o.status === "settled")
      .map((o) => (o as { payment: { outputId: string } }).payment.outputId as Hex);
    const expectedRoot = outputsRoot(paid.map((outputId) => ({ outputId, amount: PRICE, attributionRoot: recordHash(outputId) })));
    const receipt = await s.signer.getTransactionReceipt({ hash: swept!.links[0].transaction });
    const [event] = parseEventLogs({ abi: linkEvent, logs: receipt.logs });
    expect(event.args).toEqual({ outputsRoot: expectedRoot, count: BigInt(N), amount: PRICE * BigInt(N) });
    expect(await s.channels.sweeper.sweep()).toBeNull(); // nothing claimed twice
  });

  it("tops up when the deposit is used up and keeps paying", async () => {
    for (let i = N; i < 100 + 5; i++) expect((await pay()).status).toBe(200);
    expect(await channelOnChain()).toEqual([200n * PRICE, PRICE * BigInt(N)]);
    expect(await s.balanceOf(payer.address)).toBe(1_000_000n - 200n * PRICE);
  });

  it("a cooperative refund returns what was not charged; the charged rest reaches the splitter", async () => {
    const splitterBefore = await s.balanceOf(s.payTo);
    const refunded = await s.channels.refund(channelId);
    expect(refunded?.amount).toBe(200n * PRICE - 105n * PRICE);
    expect(await s.balanceOf(payer.address)).toBe(1_000_000n - 105n * PRICE);
    expect(await s.balanceOf(s.payTo)).toBe(splitterBefore + 55n * PRICE);
    expect(await channelOnChain()).toEqual([105n * PRICE, 105n * PRICE]);
  });
});
