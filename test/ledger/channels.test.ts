// Channels in the ledger (server/ledger/sql/channels.ts), on a real SQLite file and a real PostgreSQL,
// each with two ledger objects on one database playing two instances: the first to store a channel
// wins; a voucher is stored only against the charged total it was checked with (of two instances racing
// the same cumulative amount, one wins); claims, links decided before they are sent, the sweep lease.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { AcceptedVoucher, ChannelState, Ledger } from "../../server/ledger/index.ts";
import { PostgresLedger } from "../../server/ledger/postgres.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import { BIG, channelState, expectLedgerError, hex, keyOf, paymentInput } from "../support/ledger-contract.ts";

const dir = mkdtempSync(join(tmpdir(), "royalty402-channels-"));
const url = inject("postgresUrl");
const admin = new pg.Pool({ connectionString: url, max: 1 });
const schemas: string[] = [];
const opened: Ledger[] = [];
afterAll(async () => {
  for (const l of opened) await l.close();
  rmSync(dir, { recursive: true, force: true });
  for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await admin.end();
});

type Open = () => Ledger;
const backends: Array<[string, () => Open]> = [
  [
    "SQLite",
    () => {
      const path = join(dir, `${Math.random().toString(36).slice(2)}.sqlite`);
      return () => new SqliteLedger({ path });
    },
  ],
  [
    "PostgreSQL",
    () => {
      const schema = `chan_${Math.random().toString(36).slice(2, 10)}`;
      schemas.push(schema);
      return () => new PostgresLedger({ connectionString: url, schema, poolSize: 4 });
    },
  ],
];

const voucher = (c: ChannelState, from: bigint, price: bigint): AcceptedVoucher => ({
  channelId: c.channelId,
  receiver: c.config.receiver,
  from,
  charged: from + price,
  signedMax: from + price,
  signature: hex(65),
  balance: c.balance,
  output: { outputId: hex(32), amount: price, attributionRoot: hex(32) },
});

describe.each(backends)("channels in the ledger: %s", (_name, database) => {
  /** Two instances on one fresh database. */
  async function two(): Promise<[Ledger, Ledger]> {
    const open = database();
    const a = open();
    await a.migrate();
    const b = open();
    await b.migrate();
    opened.push(a, b);
    return [a, b];
  }

  it("stores a channel once (the first instance wins) and hands back uint256 amounts and the config", async () => {
    const [a, b] = await two();
    const c = channelState({ balance: BIG, totalClaimed: 7n });
    expect(await a.getChannel(c.channelId)).toBeNull();
    expect(await a.openChannel(c)).toEqual(c);
    expect(await b.openChannel({ ...c, balance: 1n })).toEqual(c);
    expect(await b.getChannel(c.channelId.toUpperCase().replace("0X", "0x"))).toEqual(c);
    await expectLedgerError(a.getChannel("0x1234"), "invalid_input");
  });

  it("stores a voucher only against the charged total it was checked with: of two instances racing one amount, one wins", async () => {
    const [a, b] = await two();
    const c = await a.openChannel(channelState());
    expect(await a.acceptVoucher(voucher(c, 0n, 1000n))).toBe(true);
    // Both instances checked the next voucher against 1000: the same cumulative amount, at once.
    const race = [voucher(c, 1000n, 1000n), voucher(c, 1000n, 1000n)];
    const won = await Promise.all([a.acceptVoucher(race[0]), b.acceptVoucher(race[1])]);
    expect(won.filter(Boolean)).toHaveLength(1);
    const winner = race[won.indexOf(true)];
    expect(await b.getChannel(c.channelId)).toMatchObject({ charged: 2000n, signedMax: 2000n, signature: winner.signature });
    // A stale instance (still at 1000) is told, and nothing is stored.
    expect(await b.acceptVoucher(voucher(c, 1000n, 5000n))).toBe(false);
    const [claimable] = await a.claimableChannels();
    expect(claimable.vouchers.map((v) => [v.charged, v.outputId])).toEqual([
      [1000n, expect.any(String)],
      [2000n, winner.output.outputId],
    ]);
    expect(claimable.channel.charged).toBe(2000n);
    await expectLedgerError(a.acceptVoucher({ ...voucher(c, 2000n, 0n) }), "invalid_input");
  });

  it("stores a voucher and moves its payment to pending in one transaction, or neither", async () => {
    const [a, b] = await two();
    const c = await a.openChannel(channelState());
    const reserve = async () => {
      const r = await a.reserve(paymentInput());
      if (!r.reserved) throw new Error("not reserved");
      return keyOf(r.payment);
    };
    // Reserved: the voucher is stored and the payment is pending with the voucher's output.
    const first = { ...voucher(c, 0n, 10n), payment: await reserve() };
    expect(await a.acceptVoucher(first)).toBe(true);
    expect(await b.getPayment(first.payment)).toMatchObject({ status: "pending", outputId: first.output.outputId });
    // Another instance took the amount first: false, and the payment is still reserved.
    const stale = { ...voucher(c, 0n, 10n), payment: await reserve() };
    expect(await b.acceptVoucher(stale)).toBe(false);
    expect(await a.getPayment(stale.payment)).toMatchObject({ status: "reserved", outputId: null });
    // A payment no longer reserved (released): refused, and the channel is not charged.
    const released = await reserve();
    await a.transition(released, ["reserved"], "released", { errorReason: "instance_stopped" });
    await expectLedgerError(b.acceptVoucher({ ...voucher(c, 10n, 10n), payment: released }), "payment_not_reserved");
    expect((await a.getChannel(c.channelId))?.charged).toBe(10n);
    expect(await a.getPayment(released)).toMatchObject({ status: "released" });
    // A payment this ledger does not hold (another host's, through the facilitator): the voucher alone.
    const foreign = keyOf(paymentInput());
    expect(await b.acceptVoucher({ ...voucher(c, 10n, 10n), payment: foreign })).toBe(true);
    expect(await a.getPayment(foreign)).toBeNull();
    const [claimable] = await a.claimableChannels();
    expect(claimable.vouchers.map((v) => v.charged)).toEqual([10n, 20n]);
  });

  it("claims, decides a link before it is sent, records it; oldest work tells the timer what waits", async () => {
    const [a, b] = await two();
    expect(await a.oldestChannelWork()).toBeNull();
    const c = await a.openChannel(channelState());
    const v1 = voucher(c, 0n, 10n);
    const v2 = voucher(c, 10n, BIG);
    expect(await a.acceptVoucher(v1)).toBe(true);
    expect(await b.acceptVoucher(v2)).toBe(true);
    expect(await a.oldestChannelWork()).toBeGreaterThan(0);

    const claimTx = hex(32);
    await b.markChannelsClaimed(
      [{ channelId: c.channelId, totalClaimed: 10n + BIG, outputIds: [v1.output.outputId, v2.output.outputId] }],
      claimTx,
    );
    expect(await a.claimableChannels()).toEqual([]);
    expect((await a.getChannel(c.channelId))?.totalClaimed).toBe(10n + BIG);
    expect(await a.oldestChannelWork()).toBe(0); // claimed, waiting for a link
    const unlinked = await a.unlinkedVouchers();
    expect(unlinked.map((v) => v.receiver)).toEqual([c.config.receiver.toLowerCase(), c.config.receiver.toLowerCase()]);

    const root = hex(32);
    const link = { root, receiver: c.config.receiver, amount: 10n + BIG, outputIds: [v1.output.outputId, v2.output.outputId] };
    await a.openChannelLink(link);
    expect(await a.unlinkedVouchers()).toEqual([]);
    // The same outputs cannot go into a second link.
    await expectLedgerError(b.openChannelLink({ ...link, root: hex(32) }), "channel_link_conflict");
    const [open] = await b.openChannelLinks();
    expect(open).toMatchObject({ root, amount: 10n + BIG, txHash: null });
    expect(open.outputs.map((o) => o.outputId).sort()).toEqual([v1.output.outputId, v2.output.outputId].sort());

    const linkTx = hex(32);
    await b.markChannelLinkRecorded(root); // no transaction yet: not recorded
    expect(await a.openChannelLinks()).toHaveLength(1);
    await b.setChannelLinkTransaction(root, linkTx);
    expect((await a.openChannelLinks())[0].txHash).toBe(linkTx);
    await b.markChannelLinkRecorded(root);
    expect(await a.openChannelLinks()).toEqual([]);
    expect(await a.oldestChannelWork()).toBeNull();
  });

  it("sets a channel aside: its unclaimed vouchers are handed back, it is not claimable, and takes no voucher", async () => {
    const [a] = await two();
    const c = await a.openChannel(channelState());
    const v = voucher(c, 0n, 10n);
    await a.acceptVoucher(v);
    const left = await a.markChannelStuck(c.channelId, "WithdrawAmountExceedsAvailable");
    expect(left.map((o) => o.outputId)).toEqual([v.output.outputId]);
    expect(await a.claimableChannels()).toEqual([]);
    expect(await a.oldestChannelWork()).toBeNull();
    expect(await a.acceptVoucher(voucher(c, 10n, 10n))).toBe(false);
    expect((await a.getChannel(c.channelId))?.stuck).toBe("WithdrawAmountExceedsAvailable");
  });

  it("keeps the channel's funds as read from the chain", async () => {
    const [a, b] = await two();
    const c = await a.openChannel(channelState());
    await b.updateChannelFunds(c.channelId, { balance: 5n, refundNonce: 3n, withdrawRequestedAt: 1_700_000_000 });
    expect(await a.getChannel(c.channelId)).toMatchObject({ balance: 5n, refundNonce: 3n, withdrawRequestedAt: 1_700_000_000 });
  });

  it("lets one instance sweep at a time; a released lease or a dead holder's passes on", async () => {
    const [a, b] = await two();
    expect(await a.takeChannelSweep(20_000)).toBe(true);
    expect(await a.takeChannelSweep(20_000)).toBe(true); // its own
    expect(await b.takeChannelSweep(20_000)).toBe(false);
    await b.releaseChannelSweep(); // not its lease: nothing happens
    expect(await b.takeChannelSweep(20_000)).toBe(false);
    await a.releaseChannelSweep();
    expect(await b.takeChannelSweep(20_000)).toBe(true);
    // b stops beating (killed): once its heartbeat is older than the threshold, a takes over.
    await new Promise((r) => setTimeout(r, 30));
    expect(await a.takeChannelSweep(10)).toBe(true);
    expect(await b.takeChannelSweep(20_000)).toBe(false);
  });
});
