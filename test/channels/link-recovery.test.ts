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
import { CHANNEL_OUTPUTS_PAID_TOPIC } from "../../server/facilitator/batch-settlement/abi.ts";
import { PRICE, channelStack, recordHash, type ChannelStack } from "./support.ts";

const PAID = 4;
const linkSelector = toFunctionSelector("linkChannelOutputs(bytes32,bytes32,uint256,uint256)");
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

describe("a link sent twice", () => {
  it("lands once: the copy mined first wins, the second is refused on the splitter's head and found by its root", async () => {
    const ledger2 = (await openLedger({ sqlitePath: ":memory:", maintenance: false })) as SqliteLedger;
    const s2 = await channelStack({ journal: ledger2 });
    try {
      const payer = await s2.payer(100_000n, 20);
      for (let i = 0; i < PAID; i++) expect((await payer.fetch(s2.url, { method: "POST" })).status).toBe(200);
      s2.channels.close();
      const real = relayerChain(s2.embedded.relayer, s2.ethers.provider, Number(s2.chainId));
      // A sweep that died with its link unmined: that copy is mined while this sweep sends its own.
      const chain: ChannelChain = {
        ...real,
        send: async (to, data) => {
          if (data.startsWith(linkSelector)) await real.send(to, data);
          return real.send(to, data);
        },
      };
      const facilitator = await ChannelFacilitator.create({ chain, journal: ledger2 });
      const swept = await facilitator.sweeper.sweep();
      facilitator.close();
      expect(swept?.links).toHaveLength(1);
      const logs = await s2.ethers.provider.getLogs({ address: s2.payTo, topics: [CHANNEL_OUTPUTS_PAID_TOPIC], fromBlock: 0 });
      expect(logs.map((l) => l.topics[1])).toEqual([swept!.links[0].root]);
      expect(logs[0].transactionHash).toBe(swept!.links[0].transaction);
    } finally {
      await s2.close();
      await ledger2.close();
    }
  });
});
