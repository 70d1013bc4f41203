// Crash safety between the claim and the link: the money is in the splitter once the claim is mined, and
// the link (ChannelOutputsPaid) that names its outputs comes in a second transaction. A facilitator
// restarted from the journal links claimed outputs whose link never went out, and reuses a link that did
// go out but was not journalled (so no output is ever linked twice); the host records each link once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toFunctionSelector, type Hex } from "viem";
import { ChannelFacilitator } from "../../server/facilitator/batch-settlement/facilitator.ts";
import { MemoryChannelJournal } from "../../server/facilitator/batch-settlement/journal.ts";
import { relayerChain, type ChannelChain } from "../../server/facilitator/batch-settlement/chain.ts";
import { outputsRoot, type ChannelLink } from "../../server/facilitator/batch-settlement/sweeper.ts";
import { PRICE, channelStack, recordHash, type ChannelStack } from "./support.ts";

const PAID = 4;
const linkSelector = toFunctionSelector("linkChannelOutputs(bytes32,uint256,uint256)");
let s: ChannelStack;
let journal: MemoryChannelJournal;

beforeAll(async () => {
  journal = new MemoryChannelJournal();
  s = await channelStack({ journal });
});

afterAll(async () => s?.close());

/** A channel facilitator on the same key and journal; `failLinks`: its link transactions never go out. */
async function restart(failLinks = false) {
  const real = relayerChain(s.embedded.relayer, s.ethers.provider, Number(s.chainId));
  const chain: ChannelChain = {
    ...real,
    send: (to, data) =>
      failLinks && data.startsWith(linkSelector) ? Promise.reject(new Error("killed before the link")) : real.send(to, data),
  };
  const facilitator = await ChannelFacilitator.create({ chain, journal });
  const recorded: ChannelLink[] = [];
  facilitator.sweeper.onLinked = async (link) => void recorded.push(link);
  return { facilitator, recorded };
}

describe("between the claim and the link", () => {
  it("a restart links claimed outputs whose link never went out, and reuses a link that went out unjournalled", async () => {
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

    // Restarted: nothing to claim, the claimed outputs are linked and recorded.
    const second = await restart();
    const swept = await second.facilitator.sweeper.sweep();
    second.facilitator.close();
    expect(swept).toMatchObject({ channels: 0, outputs: 0, links: [{ root: expectedRoot, count: PAID, amount: PRICE * BigInt(PAID) }] });
    expect(second.recorded.map((l) => l.transaction)).toEqual([swept!.links[0].transaction]);
    expect(await s.balanceOf(s.payTo)).toBe(before + PRICE * BigInt(PAID)); // claimed once

    // The link went out but its journal line did not: the next start finds it on-chain and sends nothing.
    const linked = journal.log.findLastIndex((e) => e.kind === "linked");
    journal.log.splice(linked, 1);
    const block = await s.signer.getBlockNumber({ cacheTime: 0 });
    const third = await restart();
    const again = await third.facilitator.sweeper.sweep();
    third.facilitator.close();
    expect(again?.links.map((l) => l.transaction)).toEqual([swept!.links[0].transaction]);
    expect(third.recorded.map((l) => l.transaction)).toEqual([swept!.links[0].transaction]);
    expect(await s.signer.getBlockNumber({ cacheTime: 0 })).toBe(block);

    // Journalled now: a fourth start has nothing to do.
    const fourth = await restart();
    expect(await fourth.facilitator.sweeper.sweep()).toBeNull();
    fourth.facilitator.close();
  });
});
