// Crash safety between the claim and the link: the money is in the splitter once the claim is mined, and
// the link (ChannelOutputsPaid) that names its outputs comes in a second transaction, decided in the ledger
// (root and outputs) before it is sent. A facilitator restarted on the ledger links claimed outputs whose
// link never went out, and finds on-chain a link that went out before the ledger stored its transaction
// (so no output is ever linked twice); the host records each link once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toFunctionSelector, type Hex } from "viem";
import { ChannelFacilitator } from "../../server/facilitator/batch-settlement/facilitator.ts";
import type { ChannelJournal } from "../../server/facilitator/batch-settlement/journal.ts";
import { openLedger, type SqliteLedger } from "../../server/ledger/index.ts";
import { relayerChain, type ChannelChain } from "../../server/facilitator/batch-settlement/chain.ts";
import { outputsRoot, type ChannelLink } from "../../server/facilitator/batch-settlement/sweeper.ts";
import { PRICE, channelStack, recordHash, type ChannelStack } from "./support.ts";

const PAID = 4;
const linkSelector = toFunctionSelector("linkChannelOutputs(bytes32,uint256,uint256)");
let s: ChannelStack;
let ledger: SqliteLedger;

beforeAll(async () => {
  ledger = (await openLedger({ sqlitePath: ":memory:", maintenance: false })) as SqliteLedger;
  s = await channelStack({ journal: ledger });
});

afterAll(async () => {
  await s?.close();
  await ledger?.close();
});

/**
 * A channel facilitator on the same key and ledger; `failLinks`: its link transactions never go out;
 * `loseLinkTransaction`: it dies after a link is mined, before the ledger stores its transaction.
 */
async function restart(failLinks = false, loseLinkTransaction = false) {
  const real = relayerChain(s.embedded.relayer, s.ethers.provider, Number(s.chainId));
  const chain: ChannelChain = {
    ...real,
    send: (to, data) =>
      failLinks && data.startsWith(linkSelector) ? Promise.reject(new Error("killed before the link")) : real.send(to, data),
  };
  const died = () => Promise.reject(new Error("killed before the link's transaction was stored"));
  const journal: ChannelJournal = loseLinkTransaction ? { ...ledger, setChannelLinkTransaction: died } : ledger;
  const facilitator = await ChannelFacilitator.create({ chain, journal });
  const recorded: ChannelLink[] = [];
  facilitator.sweeper.onLinked = async (link) => void recorded.push(link);
  return { facilitator, recorded };
}

describe("between the claim and the link", () => {
  it("a restart links claimed outputs whose link never went out, and reuses a link that went out unrecorded", async () => {
    const payer = await s.payer(100_000n, 20);
    for (let i = 0; i < PAID; i++) expect((await payer.fetch(s.url, { method: "POST" })).status).toBe(200);
    s.channels.close();
    const paid = s.outcomes
      .filter((o) => o.status === "settled")
      .map((o) => (o as { payment: { outputId: string } }).payment.outputId as Hex);
    const expectedRoot = outputsRoot(paid.map((outputId) => ({ outputId, amount: PRICE, attributionRoot: recordHash(outputId) })));

    // Killed after the claim was mined, before the link.
    const before = await s.balanceOf(s.payTo);
    const first = await restart(true);
    const failed = await first.facilitator.sweeper.sweep().catch((error: Error) => error);
    expect(String(failed)).toContain("killed before the link");
    first.facilitator.close();
    expect(await s.balanceOf(s.payTo)).toBe(before + PRICE * BigInt(PAID));
    expect(first.recorded).toEqual([]);

    // Restarted: nothing to claim; the decided link is not on-chain, so it goes out now, and then the process dies.
    const second = await restart(false, true);
    const lost = await second.facilitator.sweeper.sweep().catch((error: Error) => error);
    expect(String(lost)).toContain("before the link's transaction was stored");
    second.facilitator.close();
    expect(second.recorded).toEqual([]);
    expect(await s.balanceOf(s.payTo)).toBe(before + PRICE * BigInt(PAID)); // claimed once
    const block = await s.signer.getBlockNumber({ cacheTime: 0 });

    // The link went out but the ledger does not know its transaction: the next start finds it on-chain and sends nothing.
    const third = await restart();
    const again = await third.facilitator.sweeper.sweep();
    third.facilitator.close();
    expect(again).toMatchObject({ channels: 0, outputs: 0, links: [{ root: expectedRoot, count: PAID, amount: PRICE * BigInt(PAID) }] });
    expect(third.recorded.map((l) => l.transaction)).toEqual([again!.links[0].transaction]);
    expect(await s.signer.getBlockNumber({ cacheTime: 0 })).toBe(block);

    // Recorded now: a fourth start has nothing to do.
    const fourth = await restart();
    expect(await fourth.facilitator.sweeper.sweep()).toBeNull();
    fourth.facilitator.close();
  });
});
