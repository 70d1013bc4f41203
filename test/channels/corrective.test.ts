// The corrective 402 (the spec's "Recovery After State Loss"), with the reference client unmodified: a
// voucher whose cumulative base is not the server's gets `cumulative_amount_mismatch` (or `_below_claimed`)
// with the channel snapshot and the last voucher the server holds (accepts[].extra.channelState and
// voucherState); the client checks that voucher's signature, adopts the server's charged amount and its
// retry is paid. Without a voucher (a server that lost its state) the client falls back to the chain.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from "@x402/core/http";
import { toClientEvmSigner } from "@x402/evm";
import {
  BatchSettlementEvmScheme as ReferenceChannelClient,
  InMemoryClientChannelStorage,
  computeChannelId,
} from "@x402/evm/batch-settlement/client";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import type { Hex } from "viem";
import { BatchSettlementReason as R } from "@royalty402/fastify-x402";
import { relayerChain } from "../../server/facilitator/batch-settlement/chain.ts";
import { ChannelFacilitator } from "../../server/facilitator/batch-settlement/facilitator.ts";
import { openLedger } from "../../server/ledger/index.ts";
import { PRICE, channelOffer, channelStack, type ChannelStack } from "./support.ts";

type Payer = Awaited<ReturnType<ChannelStack["payer"]>>;

let s: ChannelStack;
beforeAll(async () => {
  s = await channelStack();
});
afterAll(async () => s?.close());

/** Another reference client of the payer's wallet with its own storage, and every answer it received. */
function clientOf(p: Payer, storage = new InMemoryClientChannelStorage()) {
  const scheme = new ReferenceChannelClient(toClientEvmSigner(p.wallet.account, p.wallet), {
    storage,
    depositPolicy: { depositMultiplier: 10 },
  });
  const client = new x402Client().register(s.network, scheme);
  client.setSpendControls({ allowedAssets: [{ network: s.network, asset: s.asset }] });
  const answers: Response[] = [];
  const signatures: string[] = [];
  const recording = async (input: RequestInfo | URL, init?: RequestInit) => {
    const signature = input instanceof Request ? input.headers.get("payment-signature") : null;
    if (signature) signatures.push(signature);
    const res = await fetch(input, init);
    answers.push(res.clone());
    return res;
  };
  const paid = wrapFetchWithPayment(recording as typeof fetch, client);
  return { scheme, storage, answers, signatures, pay: () => paid(s.url, { method: "POST" }) };
}

async function channelIdOf(p: Payer): Promise<Hex> {
  const offer = channelOffer((await fetch(s.url, { method: "POST" })).headers.get("payment-required")!);
  return computeChannelId(p.scheme.buildChannelConfig(offer), s.network).toLowerCase() as Hex;
}

/** The corrective 402 among a client's answers: its error and its channel offer. */
function corrective(answers: Response[]) {
  const required = answers.filter((r) => r.status === 402).map((r) => decodePaymentRequiredHeader(r.headers.get("payment-required")!));
  const fix = required.find((r) => r.error !== "Payment required")!;
  return { error: fix.error, offer: fix.accepts.find((a) => a.scheme === "batch-settlement")! };
}

const charged = (res: Response) =>
  (decodePaymentResponseHeader(res.headers.get("payment-response")!).extra as { channelState: { chargedCumulativeAmount: string } })
    .channelState.chargedCumulativeAmount;

describe("the corrective 402 with the reference client", () => {
  it("a client that lost its state resyncs from the server's last voucher and its retry is paid", async () => {
    const p = await s.payer(100_000n);
    for (let i = 0; i < 3; i++) expect((await p.fetch(s.url, { method: "POST" })).status).toBe(200);
    const runs = s.runs.count;
    const fresh = clientOf(p); // recovers charged = 0 (nothing claimed on-chain); the server charged 3
    const res = await fresh.pay();
    expect(res.status).toBe(200);
    expect(charged(res)).toBe(String(4n * PRICE));
    expect(s.runs.count).toBe(runs + 1); // the refused voucher ran nothing
    const { error, offer } = corrective(fresh.answers);
    expect(error).toBe(R.cumulativeMismatch);
    const record = s.channels.book.get(await channelIdOf(p))!;
    expect(offer.extra).toMatchObject({
      channelState: { chargedCumulativeAmount: String(3n * PRICE), balance: String(10n * PRICE), totalClaimed: "0" },
      voucherState: { signedMaxClaimable: String(3n * PRICE) },
    });
    expect((offer.extra.voucherState as { signature: string }).signature).not.toBe(record.signature); // the voucher since
  });

  it("the latest voucher sent again (its answer was lost) is answered from the ledger, not corrected", async () => {
    const p = await s.payer(100_000n);
    const client = clientOf(p);
    for (let i = 0; i < 2; i++) expect((await client.pay()).status).toBe(200);
    const runs = s.runs.count;
    const again = await fetch(s.url, { method: "POST", headers: { "payment-signature": client.signatures.at(-1)! } });
    // Answered from the ledger as the payment it is: pending until the sweep links it (its output kept at outputUrl).
    expect(again.status).toBe(202);
    expect(((await again.json()) as { error: string }).error).toBe("settlement_pending");
    expect(s.runs.count).toBe(runs);
  });

  it("a client behind what was claimed gets cumulative_below_claimed, resyncs and is paid", async () => {
    const p = await s.payer(100_000n);
    for (let i = 0; i < 2; i++) expect((await p.fetch(s.url, { method: "POST" })).status).toBe(200);
    await s.channels.sweeper.sweep();
    const id = await channelIdOf(p);
    const stale = clientOf(p);
    await stale.storage.set(id, { chargedCumulativeAmount: "0", balance: String(10n * PRICE) });
    const res = await stale.pay();
    expect(res.status).toBe(200);
    expect(charged(res)).toBe(String(3n * PRICE));
    expect(corrective(stale.answers).error).toBe(R.cumulativeBelowClaimed);
  });

  it("a server that lost its state corrects without a voucher: the client falls back to the chain's totalClaimed", async () => {
    const p = await s.payer(100_000n);
    for (let i = 0; i < 2; i++) expect((await p.fetch(s.url, { method: "POST" })).status).toBe(200);
    await s.channels.sweeper.sweep(); // 2 claimed on-chain
    expect((await p.fetch(s.url, { method: "POST" })).status).toBe(200); // a third, unclaimed
    // The same chain seen by a facilitator without the journal (the third voucher is forfeit, as the spec says).
    const chain = relayerChain(s.embedded.relayer, s.ethers.provider, Number(s.network.split(":")[1]));
    const empty = await openLedger({ sqlitePath: ":memory:", maintenance: false });
    const amnesic = await ChannelFacilitator.create({ chain, journal: empty, sweep: { maxAgeMs: 3_600_000 } });
    try {
      const offer = channelOffer((await fetch(s.url, { method: "POST" })).headers.get("payment-required")!);
      const client = clientOf(p);
      const id = computeChannelId(p.scheme.buildChannelConfig(offer), s.network);
      await client.storage.set(id, { chargedCumulativeAmount: String(3n * PRICE), balance: String(10n * PRICE) });
      const { payload } = await client.scheme.createPaymentPayload(2, offer);
      const verdict = await amnesic.verify({ x402Version: 2, accepted: offer, payload }, offer);
      expect(verdict).toMatchObject({ isValid: false, invalidReason: R.cumulativeMismatch });
      expect(verdict.extra).toEqual({ channelState: expect.objectContaining({ chargedCumulativeAmount: String(2n * PRICE) }) });
      // The reference client's recovery from such a 402: charged = the chain's totalClaimed.
      const corrected = { ...offer, extra: { ...offer.extra, ...verdict.extra } };
      expect(
        await client.scheme.processCorrectivePaymentRequired({
          x402Version: 2,
          error: R.cumulativeMismatch,
          accepts: [corrected],
        } as never),
      ).toBe(true);
      expect(await client.storage.get(id)).toMatchObject({ chargedCumulativeAmount: String(2n * PRICE) });
    } finally {
      amnesic.close();
      await empty.close();
    }
  });

  it("after an operator refund behind its back, a client's voucher gets cumulative_exceeds_balance; a recovered one tops up", async () => {
    const p = await s.payer(100_000n);
    expect((await p.fetch(s.url, { method: "POST" })).status).toBe(200);
    const id = await channelIdOf(p);
    expect(await s.channels.refund(id)).toMatchObject({ amount: 9n * PRICE });
    const res = await p.fetch(s.url, { method: "POST" });
    expect(res.status).toBe(402);
    expect(decodePaymentRequiredHeader(res.headers.get("payment-required")!).error).toBe(R.cumulativeExceedsBalance);
    const recovered = clientOf(p); // reads balance = totalClaimed from the chain, so it deposits
    const again = await recovered.pay();
    expect(again.status).toBe(200);
    expect(charged(again)).toBe(String(2n * PRICE));
  });
});
