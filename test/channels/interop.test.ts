// batch-settlement with the reference client (@x402/fetch + @x402/evm/batch-settlement/client, unmodified)
// over real HTTP against the model host (createApp: the x402 plugin, the embedded facilitator with channels,
// the ∞-gram model) on the in-process chain with the escrow and collector stand-ins, the list: one
// deposit, 50 paid requests with a voucher and no transaction each, one claim-and-settle transaction into the
// splitter (POST /admin/channels/settle) linked to the outputs and their records, a top-up when the deposit
// runs out, and the client's cooperative refund at GET /channels/m/refund.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import { computeChannelId } from "@x402/evm/batch-settlement/client";
import { parseAbi, parseEventLogs, type Hex } from "viem";
import { BATCH_SETTLEMENT_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { escrowAbi } from "../../server/facilitator/batch-settlement/abi.ts";
import { outputsRoot } from "../../server/facilitator/batch-settlement/sweeper.ts";
import { channelHost, type ChannelHost } from "./host.ts";

const PRICE = 1000n;
const N = 50;
const FUNDS = 1_000_000n;
const linkEvent = parseAbi(["event ChannelOutputsPaid(bytes32 indexed outputsRoot, uint256 count, uint256 amount)"]);
const json = { "content-type": "application/json" };

let h: ChannelHost;
let channelId: Hex;
let payer: Awaited<ReturnType<ChannelHost["payer"]>>;
const outputs: string[] = [];

const body = (i: number) => JSON.stringify({ model: "m", prompt: `The jury said ${i}`, max_tokens: 8 });
const pay = (i: number) => payer.complete(`The jury said ${i}`);
const channelOnChain = () =>
  payer.wallet.readContract({ address: BATCH_SETTLEMENT_ADDRESS, abi: escrowAbi, functionName: "channels", args: [channelId] });

beforeAll(async () => {
  h = await channelHost(PRICE);
  payer = await h.payer(FUNDS, 100); // deposits 100 requests' worth at a time
});

afterAll(async () => h?.close());

describe("batch-settlement channels with the reference client, on the model host", () => {
  it("the 402 offers the channel terms the reference client needs", async () => {
    const res = await fetch(`${h.base}/v1/completions`, { method: "POST", headers: json, body: body(0) });
    expect(res.status).toBe(402);
    const offer = decodePaymentRequiredHeader(res.headers.get("payment-required")!).accepts.find((a) => a.scheme === "batch-settlement")!;
    expect(offer).toMatchObject({
      amount: PRICE.toString(),
      payTo: h.splitter,
      extra: { receiverAuthorizer: h.server.context.channels!.authorizer, withdrawDelay: 900, name: "USD Coin", version: "2" },
    });
    channelId = computeChannelId(payer.scheme.buildChannelConfig(offer), offer.network);
  });

  it(`one deposit, then ${N} paid requests with a voucher and no transaction each`, async () => {
    const firstBlock = await payer.wallet.getBlockNumber({ cacheTime: 0 });
    for (let i = 0; i < N; i++) {
      const res = await pay(i);
      expect(res.status).toBe(200);
      const receipt = decodePaymentResponseHeader(res.headers.get("payment-response")!);
      expect(receipt.extra).toMatchObject({
        chargedAmount: PRICE.toString(),
        channelState: { channelId, chargedCumulativeAmount: String(PRICE * BigInt(i + 1)) },
      });
      if (i === 0)
        expect(receipt.transaction).toMatch(/^0x[0-9a-f]{64}$/); // the deposit's
      else expect(receipt.transaction).toBe("");
      outputs.push((receipt.extra as { outputId: string }).outputId);
    }
    expect(await payer.wallet.getBlockNumber({ cacheTime: 0 })).toBe(firstBlock + 1n); // the deposit only
    expect(await channelOnChain()).toEqual([100n * PRICE, 0n]);
    expect(await h.balanceOf(payer.address)).toBe(FUNDS - 100n * PRICE);
  });

  it("one claim-and-settle transaction moves the charged total into the splitter, linked to the outputs' records", async () => {
    const before = await h.balanceOf(h.splitter);
    const res = await h.admin("channels/settle");
    expect(res.status).toBe(200);
    const swept = (await res.json()) as { channels: number; outputs: number; amount: string; links: Array<{ transaction: Hex }> };
    expect(swept).toMatchObject({ channels: 1, outputs: N, amount: String(PRICE * BigInt(N)) });
    expect(await h.balanceOf(h.splitter)).toBe(before + PRICE * BigInt(N));
    expect(await channelOnChain()).toEqual([100n * PRICE, PRICE * BigInt(N)]);
    // The link recomputed from the outputs the payer was answered with and their records in the ledger.
    const leaves = await Promise.all(
      outputs.map(async (outputId) => {
        const record = (await h.server.context.ledger.getOutput(outputId))!;
        return { outputId: outputId as Hex, amount: PRICE, attributionRoot: record.recordHash as Hex };
      }),
    );
    const receipt = await payer.wallet.getTransactionReceipt({ hash: swept.links[0].transaction });
    const [event] = parseEventLogs({ abi: linkEvent, logs: receipt.logs });
    expect(event.args).toEqual({ outputsRoot: outputsRoot(leaves), count: BigInt(N), amount: PRICE * BigInt(N) });
  });

  it("tops up when the deposit is used up and keeps paying", async () => {
    for (let i = N; i < 105; i++) expect((await pay(i)).status).toBe(200);
    expect(await channelOnChain()).toEqual([200n * PRICE, PRICE * BigInt(N)]);
    expect(await h.balanceOf(payer.address)).toBe(FUNDS - 200n * PRICE);
  });

  it("the client's refund claims what it owes and returns the rest; the charged rest reaches the splitter", async () => {
    const before = await h.balanceOf(h.splitter);
    const refund = await payer.scheme.refund(`${h.base}/channels/m/refund`);
    expect(refund).toMatchObject({ success: true, amount: String(95n * PRICE) });
    expect(refund.extra?.channelState).toMatchObject({ channelId, balance: String(105n * PRICE), totalClaimed: String(105n * PRICE) });
    expect(await h.balanceOf(payer.address)).toBe(FUNDS - 105n * PRICE);
    expect(await h.balanceOf(h.splitter)).toBe(before + 55n * PRICE);
    expect(await channelOnChain()).toEqual([105n * PRICE, 105n * PRICE]);
  });
});
