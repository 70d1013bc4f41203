// The cooperative refund as the spec and the reference client define it, over HTTP: the client's
// refund(url) probes the URL (402 with the channel offer), then sends a refund payload (a zero-charge
// voucher at what was charged, and an optional amount). The server claims and links what the channel owes,
// returns the rest (or the amount asked for) to the payer, runs no handler and records no payment; the
// client updates its channel (forgets it after a full refund) and keeps paying.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import { toClientEvmSigner } from "@x402/evm";
import { BatchSettlementEvmScheme as ReferenceChannelClient, computeChannelId } from "@x402/evm/batch-settlement/client";
import type { Hex } from "viem";
import { BatchSettlementReason as R } from "@royalty402/fastify-x402";
import { BATCH_SETTLEMENT_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { escrowAbi } from "../../server/facilitator/batch-settlement/abi.ts";
import { relayerChain } from "../../server/facilitator/batch-settlement/chain.ts";
import { ChannelFacilitator } from "../../server/facilitator/batch-settlement/facilitator.ts";
import { PRICE, channelOffer, channelStack, type ChannelStack } from "./support.ts";

type Payer = Awaited<ReturnType<ChannelStack["payer"]>>;
const TX = /^0x[0-9a-f]{64}$/;

let s: ChannelStack;
beforeAll(async () => {
  s = await channelStack();
});
afterAll(async () => s?.close());

const pay = async (p: Payer, times = 1) => {
  for (let i = 0; i < times; i++) expect((await p.fetch(s.url, { method: "POST" })).status).toBe(200);
};
const receiptOf = (res: Response) => decodePaymentResponseHeader(res.headers.get("payment-response")!);
async function channelIdOf(p: Payer): Promise<Hex> {
  const offer = channelOffer((await fetch(s.url, { method: "POST" })).headers.get("payment-required")!);
  return computeChannelId(p.scheme.buildChannelConfig(offer), s.network);
}
const onChain = (id: Hex) =>
  s.signer.readContract({ address: BATCH_SETTLEMENT_ADDRESS, abi: escrowAbi, functionName: "channels", args: [id] });

describe("cooperative refund with the reference client", () => {
  it("the refund URL answers the client's probe with the channel offer", async () => {
    const res = await fetch(s.refundUrl);
    expect(res.status).toBe(402);
    const offer = decodePaymentRequiredHeader(res.headers.get("payment-required")!).accepts;
    expect(offer).toEqual([expect.objectContaining({ scheme: "batch-settlement", payTo: s.payTo })]);
  });

  it("claims and links what was charged, returns the rest, runs nothing; the next call deposits again", async () => {
    const p = await s.payer(100_000n, 10);
    await pay(p, 3);
    const id = await channelIdOf(p);
    const runs = s.runs.count;
    const paymentsSeen = () => s.outcomes.filter((o) => o.status !== "challenged").length;
    const settled = paymentsSeen();
    const splitterBefore = await s.balanceOf(s.payTo);

    const refund = await p.scheme.refund(s.refundUrl);
    expect(refund).toMatchObject({ success: true, amount: String(7n * PRICE), payer: p.address });
    expect(refund.transaction).toMatch(TX);
    const charged = String(3n * PRICE);
    expect(refund.extra?.channelState).toMatchObject({
      channelId: id,
      balance: charged,
      totalClaimed: charged,
      chargedCumulativeAmount: charged,
    });
    expect(await s.balanceOf(p.address)).toBe(100_000n - 3n * PRICE);
    expect(await s.balanceOf(s.payTo)).toBe(splitterBefore + 3n * PRICE);
    expect(await onChain(id)).toEqual([3n * PRICE, 3n * PRICE]);
    // The claimed outputs are linked (and the link recorded): nothing of the channel is left to claim or link.
    expect((await s.journal.claimableChannels()).some((c) => c.channel.channelId === id)).toBe(false);
    expect(await s.journal.unlinkedVouchers()).toEqual([]);
    expect(await s.journal.openChannelLinks()).toEqual([]);
    expect(s.runs.count).toBe(runs);
    expect(paymentsSeen()).toBe(settled); // not a payment

    // The client forgot the channel: it recovers it from the chain and tops it up with its next payment.
    const res = await p.fetch(s.url, { method: "POST" });
    expect(res.status).toBe(200);
    expect(receiptOf(res).transaction).toMatch(TX);
    expect(receiptOf(res).extra?.channelState).toMatchObject({ chargedCumulativeAmount: String(4n * PRICE) });
    expect(await onChain(id)).toEqual([13n * PRICE, 3n * PRICE]);
  });

  it("a partial refund returns the amount asked for; the channel keeps paying with vouchers", async () => {
    const p = await s.payer(100_000n, 10);
    await pay(p, 2);
    const id = await channelIdOf(p);
    const refund = await p.scheme.refund(s.refundUrl, { amount: String(3n * PRICE) });
    expect(refund).toMatchObject({ success: true, amount: String(3n * PRICE) });
    expect(await s.balanceOf(p.address)).toBe(100_000n - 10n * PRICE + 3n * PRICE);
    expect(await onChain(id)).toEqual([7n * PRICE, 2n * PRICE]);
    const res = await p.fetch(s.url, { method: "POST" });
    expect(res.status).toBe(200);
    expect(receiptOf(res).transaction).toBe(""); // a voucher: the balance the client kept covers it
  });

  it("an amount over what is not charged is refused with its reason, and nothing moves", async () => {
    const p = await s.payer(100_000n, 10);
    await pay(p);
    const id = await channelIdOf(p);
    const refused = await p.scheme.refund(s.refundUrl, { amount: String(9n * PRICE + 1n) }).catch((error: Error) => error);
    expect(String(refused)).toContain(R.refundAmountInvalid);
    expect(await onChain(id)).toEqual([10n * PRICE, 0n]);
    expect(await s.balanceOf(p.address)).toBe(100_000n - 10n * PRICE);
  });

  it("a client that lost its state gets the corrective 402 and its refund goes through on the retry", async () => {
    const p = await s.payer(100_000n, 10);
    await pay(p, 2);
    // A second reference client of the same wallet: it recovers charged = 0 (claimed on-chain), the server charged 2.
    const fresh = new ReferenceChannelClient(toClientEvmSigner(p.wallet.account, p.wallet), { depositPolicy: { depositMultiplier: 10 } });
    const refund = await fresh.refund(s.refundUrl);
    expect(refund).toMatchObject({ success: true, amount: String(8n * PRICE) });
    expect(await s.balanceOf(p.address)).toBe(100_000n - 2n * PRICE);
  });

  it("the refund URL sells nothing: a voucher sent there gets a 400 and runs nothing", async () => {
    const p = await s.payer(100_000n, 10);
    await pay(p);
    const id = await channelIdOf(p);
    const runs = s.runs.count;
    const res = await p.fetch(s.refundUrl);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_payload");
    expect(s.runs.count).toBe(runs);
    expect(await onChain(id)).toEqual([10n * PRICE, 0n]);
  });

  it("a crash between journalling a refund and sending it leaves the mirror low; the chain corrects it on the next voucher", async () => {
    const p = await s.payer(100_000n, 10);
    await pay(p, 2);
    const id = (await channelIdOf(p)).toLowerCase() as Hex;
    // What the journal holds after the refund's first write, the transaction never sent: the balance it would leave.
    const journal = s.journal;
    await journal.updateChannelFunds(id, { balance: 2n * PRICE, refundNonce: 1n, withdrawRequestedAt: 0 });
    const kept = s.embedded.channels!;
    kept.close();
    const chain = relayerChain(s.embedded.relayer, s.ethers.provider, Number(s.network.split(":")[1]));
    s.embedded.channels = await ChannelFacilitator.create({ chain, journal, sweep: { maxAgeMs: 3_600_000 } });
    try {
      expect((await journal.getChannel(id))?.balance).toBe(2n * PRICE); // what the restarted facilitator reads
      const res = await p.fetch(s.url, { method: "POST" });
      expect(res.status).toBe(200); // the deposit the chain holds covers it
      expect(receiptOf(res).extra?.channelState).toMatchObject({
        balance: String(10n * PRICE),
        chargedCumulativeAmount: String(3n * PRICE),
      });
    } finally {
      s.embedded.channels.close();
      s.embedded.channels = kept;
    }
  });
});
