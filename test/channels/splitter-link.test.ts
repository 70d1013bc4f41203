// RoyaltySplitter.linkChannelOutputs: only a registered facilitator may commit to the outputs a channel
// claim paid for, never while settlement is paused, and the event carries what it was given. Each link names
// the head it extends, so the same link sent twice (a sweep that died before its transaction was mined) lands once.
import { beforeAll, describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import { deployStack, type Stack } from "../../scripts/shared/stack.ts";
import { expectRevert } from "../contracts/support.ts";

let s: Stack;
beforeAll(async () => {
  s = await deployStack(undefined, {}, { payers: 0 });
});

describe("linkChannelOutputs", () => {
  it("emits ChannelOutputsPaid for a facilitator", async () => {
    const root = E.id("outputs");
    const head = await s.splitter.channelLinkHead();
    const receipt = await (await s.splitter.connect(s.roles.facilitator).linkChannelOutputs(head, root, 50n, 50_000n)).wait();
    const [log] = receipt!.logs.map((l) => s.splitter.interface.parseLog(l)).filter((l) => l?.name === "ChannelOutputsPaid");
    expect(log?.args.toArray()).toEqual([root, 50n, 50_000n]);
    expect(await s.splitter.channelLinkHead()).toBe(root);
  });

  it("applies a link sent twice once, and refuses a root that repeats the head", async () => {
    const head = await s.splitter.channelLinkHead();
    const root = E.id("sent twice");
    const link = () => s.splitter.connect(s.roles.facilitator).linkChannelOutputs(head, root, 3n, 3_000n);
    await (await link()).wait();
    await expectRevert(link(), s.splitter, "StaleChannelLinkHead");
    const repeat = s.splitter.connect(s.roles.facilitator).linkChannelOutputs(root, root, 3n, 3_000n);
    await expectRevert(repeat, s.splitter, "StaleChannelLinkHead");
  });

  it("refuses anyone else, and everyone while settlement is paused", async () => {
    await expectRevert(s.splitter.connect(s.roles.keeper).linkChannelOutputs(E.ZeroHash, E.id("x"), 1n, 1n), s.splitter, "NotFacilitator");
    await (await s.splitter.connect(s.roles.guardian).setSettlementPaused(true)).wait();
    const paused = s.splitter.connect(s.roles.facilitator).linkChannelOutputs(await s.splitter.channelLinkHead(), E.id("y"), 1n, 1n);
    await expectRevert(paused, s.splitter, "SettlementIsPaused");
  });
});
