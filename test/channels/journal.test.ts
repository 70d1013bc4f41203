// Crash safety of channel payments: every accepted voucher is committed to the ledger (a SQLite file
// here) before the paid answer leaves. A facilitator started again on the ledger file alone, from a new
// ledger object as a new process would (the first dropped with vouchers unclaimed, as after kill -9),
// claims them all, once.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChannelFacilitator } from "../../server/facilitator/batch-settlement/facilitator.ts";
import { relayerChain } from "../../server/facilitator/batch-settlement/chain.ts";
import { openLedger, type SqliteLedger } from "../../server/ledger/index.ts";
import { PRICE, channelStack, type ChannelStack } from "./support.ts";

const PAID = 12;
let dir: string;
let s: ChannelStack;
const ledgers: SqliteLedger[] = [];

/** A new ledger object on the same file (a new process's view). */
const reopen = async () => {
  const ledger = (await openLedger({ sqlitePath: join(dir, "ledger.sqlite"), maintenance: false })) as SqliteLedger;
  ledgers.push(ledger);
  return ledger;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "channels-journal-"));
  s = await channelStack({ journal: await reopen() });
});

afterAll(async () => {
  await s?.close();
  for (const l of ledgers) await l.close();
  await rm(dir, { recursive: true, force: true });
});

/** A new channel facilitator on the same key, knowing only the ledger file. */
const restart = async () => {
  const chain = relayerChain(s.embedded.relayer, s.ethers.provider, Number(s.chainId));
  return ChannelFacilitator.create({ chain, journal: await reopen() });
};

describe("the channel journal in the ledger", () => {
  it("a restarted facilitator claims every voucher the first one accepted, and none twice", async () => {
    const payer = await s.payer(100_000n, 20);
    for (let i = 0; i < PAID; i++) expect((await payer.fetch(s.url, { method: "POST" })).status).toBe(200);
    s.channels.close(); // "crash": the first facilitator never claims

    const before = await s.balanceOf(s.payTo);
    const second = await restart();
    const swept = await second.sweeper.sweep();
    second.close();
    expect(swept).toMatchObject({ channels: 1, outputs: PAID, amount: PRICE * BigInt(PAID) });
    expect(swept?.links).toHaveLength(1);
    expect(await s.balanceOf(s.payTo)).toBe(before + PRICE * BigInt(PAID));

    const third = await restart();
    expect(await third.sweeper.sweep()).toBeNull();
    third.close();
    expect(await s.balanceOf(s.payTo)).toBe(before + PRICE * BigInt(PAID));
  });
});
