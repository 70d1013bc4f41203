// Crash safety of channel payments: every accepted voucher is on disk (fsynced JSON lines) before the
// paid answer leaves. A facilitator started again from the journal alone (the first one dropped with
// vouchers unclaimed, as after kill -9) claims them all, once; a torn last line is ignored.
import { appendFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChannelFacilitator } from "../../server/facilitator/batch-settlement/facilitator.ts";
import { FileChannelJournal } from "../../server/facilitator/batch-settlement/journal.ts";
import { relayerChain } from "../../server/facilitator/batch-settlement/chain.ts";
import { PRICE, channelStack, type ChannelStack } from "./support.ts";

const PAID = 12;
let dir: string;
let s: ChannelStack;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "channels-journal-"));
  s = await channelStack({ journal: new FileChannelJournal(join(dir, "channels.jsonl")) });
});

afterAll(async () => {
  await s?.close();
  await rm(dir, { recursive: true, force: true });
});

/** A new channel facilitator on the same key, knowing only the journal file. */
const restart = async () => {
  const chain = relayerChain(s.embedded.relayer, s.ethers.provider, Number(s.chainId));
  return ChannelFacilitator.create({ chain, journal: new FileChannelJournal(join(dir, "channels.jsonl")) });
};

describe("the channel journal", () => {
  it("a restarted facilitator claims every voucher the first one accepted, and none twice", async () => {
    const payer = await s.payer(100_000n, 20);
    for (let i = 0; i < PAID; i++) expect((await payer.fetch(s.url, { method: "POST" })).status).toBe(200);
    s.channels.close(); // "crash": the first facilitator never claims
    await appendFile(join(dir, "channels.jsonl"), '{"kind":"voucher","chann'); // a write torn by the crash

    const before = await s.balanceOf(s.payTo);
    const second = await restart();
    const swept = await second.sweeper.sweep();
    second.close();
    expect(swept).toMatchObject({ channels: 1, outputs: PAID, amount: PRICE * BigInt(PAID) });
    expect(await s.balanceOf(s.payTo)).toBe(before + PRICE * BigInt(PAID));

    const third = await restart();
    expect(await third.sweeper.sweep()).toBeNull();
    third.close();
    expect(await s.balanceOf(s.payTo)).toBe(before + PRICE * BigInt(PAID));
  });
});
