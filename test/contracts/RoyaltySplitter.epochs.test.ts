// RoyaltySplitter, allocation side: postEpoch checks, challenge period, guardian veto, cumulative
// Merkle claims (claim, claimMany) and the on-chain OverClaimed guard.
import { beforeAll, describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import { claimsTree, eventsOf, expectRevert, mined, setNextTimestamp } from "./support.ts";
import { freshStack, postEpoch, type Fixture } from "./fixtures.ts";

const HOUR = 3600n;

/** A fresh stack whose splitter already received `revenue` (minted straight into it: any transfer counts). */
async function funded(revenue: bigint, challengePeriod = 1) {
  const f = await freshStack({ challengePeriod });
  if (revenue > 0n) await mined(f.token.mint(f.splitterAddress, revenue));
  return f;
}

async function blockTime(f: Fixture, receipt: E.TransactionReceipt) {
  return BigInt((await f.ethers.provider.getBlock(receipt.blockNumber))!.timestamp);
}

describe("postEpoch", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await funded(1_000_000n); // pool = 1_000_000 - 100_000 - 20_000
  });

  it("only the oracle may post (NotOracle)", async () => {
    for (const who of [f.roles.owner, f.roles.guardian, f.roles.facilitator, f.roles.keeper]) {
      await expectRevert(f.splitter.connect(who).postEpoch(1, E.id("r"), 1n, E.id("rec"), ""), f.splitter, "NotOracle");
    }
  });

  it("epochs start at 1 and are sequential (WrongEpoch)", async () => {
    const oracle = f.splitter.connect(f.roles.oracle);
    await expectRevert(oracle.postEpoch(0, E.id("r"), 1n, E.id("rec"), ""), f.splitter, "WrongEpoch", [1n, 0n]);
    await expectRevert(oracle.postEpoch(2, E.id("r"), 1n, E.id("rec"), ""), f.splitter, "WrongEpoch", [1n, 2n]);
  });

  it("an allocation one unit above the contributor pool is rejected (OverAllocated)", async () => {
    expect(await f.splitter.contributorPool()).toBe(880_000n);
    await expectRevert(f.splitter.connect(f.roles.oracle).postEpoch(1, E.id("r"), 880_001n, E.id("rec"), ""), f.splitter, "OverAllocated", [
      880_000n,
      880_001n,
    ]);
  });

  it("a valid epoch is active from the next second (a one-second challenge period); EpochPosted carries every field", async () => {
    const root = E.id("claims:1");
    const recordsRoot = E.id("records:1");
    const receipt = await mined(f.splitter.connect(f.roles.oracle).postEpoch(1, root, 500_000n, recordsRoot, "ipfs://epoch-1"));
    expect((await f.splitter.pendingEpoch()).epoch).toBe(1n);
    await f.connection.networkHelpers.mine();
    const events = eventsOf(receipt, f.splitter, "EpochPosted");
    expect(events).toHaveLength(1);
    const ev = events[0].args;
    expect([ev.epoch, ev.claimsRoot, ev.cumulativeAllocated, ev.recordsRoot, ev.uri, ev.activeAt]).toEqual([
      1n,
      root,
      500_000n,
      recordsRoot,
      "ipfs://epoch-1",
      (await blockTime(f, receipt)) + 1n,
    ]);
    expect([...(await f.splitter.activeEpoch())]).toEqual([1n, root, 500_000n]);
    expect([...(await f.splitter.pendingEpoch())]).toEqual([0n, E.ZeroHash, 0n, 0n]);
  });

  it("the same number cannot be posted twice, and the next must follow", async () => {
    const oracle = f.splitter.connect(f.roles.oracle);
    await expectRevert(oracle.postEpoch(1, E.id("x"), 500_000n, E.id("rec"), ""), f.splitter, "WrongEpoch", [2n, 1n]);
    await expectRevert(oracle.postEpoch(3, E.id("x"), 500_000n, E.id("rec"), ""), f.splitter, "WrongEpoch", [2n, 3n]);
  });

  it("the cumulative allocation may stay equal but never decrease (AllocationDecreased)", async () => {
    await expectRevert(
      f.splitter.connect(f.roles.oracle).postEpoch(2, E.id("claims:2"), 499_999n, E.id("rec"), ""),
      f.splitter,
      "AllocationDecreased",
      [500_000n, 499_999n],
    );
    await postEpoch(f, 2, E.id("claims:2"), 500_000n);
    expect([...(await f.splitter.activeEpoch())]).toEqual([2n, E.id("claims:2"), 500_000n]);
  });

  it("exactly the whole pool is accepted; the pool limit grows with new revenue", async () => {
    await postEpoch(f, 3, E.id("claims:3"), 880_000n);
    expect((await f.splitter.activeEpoch()).cumulativeAllocated).toBe(880_000n);
    // 1 more unit received: cuts still floor to 100_000 and 20_000, so the pool grows by the unit.
    await mined(f.token.mint(f.splitterAddress, 1n));
    expect(await f.splitter.contributorPool()).toBe(880_001n);
    await expectRevert(
      f.splitter.connect(f.roles.oracle).postEpoch(4, E.id("claims:4"), 880_002n, E.id("rec"), ""),
      f.splitter,
      "OverAllocated",
      [880_001n, 880_002n],
    );
    await postEpoch(f, 4, E.id("claims:4"), 880_001n);
    expect([...(await f.splitter.activeEpoch())]).toEqual([4n, E.id("claims:4"), 880_001n]);
  });
});

describe("challenge period", () => {
  let f: Fixture;
  let A: string, B: string, C: string;
  beforeAll(async () => {
    f = await funded(1_000_000n, Number(HOUR));
    [A, B, C] = f.others.slice(0, 3).map((s) => s.address);
  });

  it("a posted epoch is pending until activeAt; claims use the previous active root until then", async () => {
    const keeper = f.splitter.connect(f.roles.keeper);
    const tree1 = claimsTree([
      [A, 100n],
      [B, 200n],
    ]);
    const r1 = await postEpoch(f, 1, tree1.root, 300n);
    const t1 = await blockTime(f, r1);
    expect(eventsOf(r1, f.splitter, "EpochPosted")[0].args.activeAt).toBe(t1 + HOUR);
    expect([...(await f.splitter.pendingEpoch())]).toEqual([1n, tree1.root, 300n, t1 + HOUR]);
    expect([...(await f.splitter.activeEpoch())]).toEqual([0n, E.ZeroHash, 0n]);

    // Nothing is claimable while the first epoch is pending, up to the last second.
    await expectRevert(keeper.claim(A, 100n, tree1.proofOf(A).proof), f.splitter, "InvalidProof");
    await setNextTimestamp(f, t1 + HOUR - 1n);
    await expectRevert(keeper.claim(A, 100n, tree1.proofOf(A).proof), f.splitter, "InvalidProof");
    // Posting the next epoch is refused while one is pending.
    await expectRevert(
      f.splitter.connect(f.roles.oracle).postEpoch(2, E.id("too-early"), 300n, E.id("rec"), ""),
      f.splitter,
      "EpochPending",
      [1n, t1 + HOUR],
    );

    // At activeAt it is claimable.
    await setNextTimestamp(f, t1 + HOUR);
    await mined(keeper.claim(A, 100n, tree1.proofOf(A).proof));
    expect(await f.token.balanceOf(A)).toBe(100n);
    expect([...(await f.splitter.activeEpoch())]).toEqual([1n, tree1.root, 300n]);
    expect([...(await f.splitter.pendingEpoch())]).toEqual([0n, E.ZeroHash, 0n, 0n]);

    // Epoch 2 is pending: epoch 1 stays the claims root.
    const tree2 = claimsTree([
      [A, 250n],
      [B, 300n],
      [C, 50n],
    ]);
    const r2 = await postEpoch(f, 2, tree2.root, 600n);
    const t2 = await blockTime(f, r2);
    expect([...(await f.splitter.activeEpoch())]).toEqual([1n, tree1.root, 300n]);
    expect([...(await f.splitter.pendingEpoch())]).toEqual([2n, tree2.root, 600n, t2 + HOUR]);
    await mined(keeper.claim(B, 200n, tree1.proofOf(B).proof));
    expect(await f.token.balanceOf(B)).toBe(200n);
    await expectRevert(keeper.claim(A, 250n, tree2.proofOf(A).proof), f.splitter, "InvalidProof");
    await expectRevert(
      f.splitter.connect(f.roles.oracle).postEpoch(3, E.id("too-early"), 600n, E.id("rec"), ""),
      f.splitter,
      "EpochPending",
      [2n, t2 + HOUR],
    );
    await setNextTimestamp(f, t2 + HOUR - 1n);
    await expectRevert(keeper.claim(C, 50n, tree2.proofOf(C).proof), f.splitter, "InvalidProof");

    // From activeAt, epoch 2 is the root: cumulative amounts pay the difference; epoch-1 proofs are stale.
    await setNextTimestamp(f, t2 + HOUR);
    const receipt = await mined(keeper.claim(A, 250n, tree2.proofOf(A).proof));
    expect(eventsOf(receipt, f.splitter, "Claimed").map((e) => [...e.args])).toEqual([[A, 150n, 250n]]);
    await mined(keeper.claim(B, 300n, tree2.proofOf(B).proof));
    await mined(keeper.claim(C, 50n, tree2.proofOf(C).proof));
    expect([await f.token.balanceOf(A), await f.token.balanceOf(B), await f.token.balanceOf(C)]).toEqual([250n, 300n, 50n]);
    await expectRevert(keeper.claim(B, 200n, tree1.proofOf(B).proof), f.splitter, "InvalidProof");
    expect(await f.splitter.totalClaimed()).toBe(600n);

    // Too late to veto an epoch whose challenge period is over.
    await expectRevert(f.splitter.connect(f.roles.guardian).vetoEpoch(2), f.splitter, "VetoTooLate", [2n, t2 + HOUR]);

    // The next epoch may be posted now; that promotes epoch 2 for good.
    await postEpoch(f, 3, E.id("claims:3"), 600n);
    expect([...(await f.splitter.activeEpoch())]).toEqual([2n, tree2.root, 600n]);
    expect((await f.splitter.pendingEpoch()).epoch).toBe(3n);
  });
});

describe("guardian veto", () => {
  let f: Fixture;
  let A: string;
  beforeAll(async () => {
    f = await funded(1_000_000n, Number(HOUR));
    A = f.others[0].address;
  });

  it("there is nothing to veto before any epoch (NoPendingEpoch), and only the guardian may veto (NotGuardian)", async () => {
    await expectRevert(f.splitter.connect(f.roles.guardian).vetoEpoch(1), f.splitter, "NoPendingEpoch");
    await postEpoch(f, 1, claimsTree([[A, 400n]]).root, 400n);
    for (const who of [f.roles.owner, f.roles.oracle, f.roles.facilitator, f.roles.keeper]) {
      await expectRevert(f.splitter.connect(who).vetoEpoch(1), f.splitter, "NotGuardian");
    }
    await expectRevert(f.splitter.connect(f.roles.guardian).vetoEpoch(2), f.splitter, "NoPendingEpoch");
  });

  it("a vetoed first epoch pays nothing, ever, and its number can be reposted with another allocation", async () => {
    const vetoed = claimsTree([[A, 400n]]);
    const receipt = await mined(f.splitter.connect(f.roles.guardian).vetoEpoch(1));
    expect(eventsOf(receipt, f.splitter, "EpochVetoed").map((e) => e.args.epoch)).toEqual([1n]);
    expect([...(await f.splitter.pendingEpoch())]).toEqual([0n, E.ZeroHash, 0n, 0n]);
    await expectRevert(f.splitter.connect(f.roles.guardian).vetoEpoch(1), f.splitter, "NoPendingEpoch");

    await f.connection.networkHelpers.time.increase(HOUR * 2n);
    expect([...(await f.splitter.activeEpoch())]).toEqual([0n, E.ZeroHash, 0n]);
    await expectRevert(f.splitter.connect(f.roles.keeper).claim(A, 400n, vetoed.proofOf(A).proof), f.splitter, "InvalidProof");
    expect(await f.token.balanceOf(A)).toBe(0n);
    expect(await f.token.balanceOf(f.splitterAddress)).toBe(1_000_000n);

    // Reposting number 1, with a smaller allocation than the vetoed one (no AllocationDecreased).
    const fixed = claimsTree([[A, 300n]]);
    const r = await postEpoch(f, 1, fixed.root, 300n);
    const t = await blockTime(f, r);
    await setNextTimestamp(f, t + HOUR);
    await mined(f.splitter.connect(f.roles.keeper).claim(A, 300n, fixed.proofOf(A).proof));
    expect(await f.token.balanceOf(A)).toBe(300n);
  });

  it("a vetoed later epoch pays nothing: claims stay on the previous root", async () => {
    const bad = claimsTree([[A, 900n]]);
    const r = await postEpoch(f, 2, bad.root, 900n);
    const t = await blockTime(f, r);
    // One second before activeAt the veto is still in time.
    await setNextTimestamp(f, t + HOUR - 1n);
    await mined(f.splitter.connect(f.roles.guardian).vetoEpoch(2));
    await f.connection.networkHelpers.time.increase(HOUR * 2n);
    expect((await f.splitter.activeEpoch()).epoch).toBe(1n);
    await expectRevert(f.splitter.connect(f.roles.keeper).claim(A, 900n, bad.proofOf(A).proof), f.splitter, "InvalidProof");
    expect(await f.token.balanceOf(A)).toBe(300n);
    expect(await f.splitter.totalClaimed()).toBe(300n);

    // The allocation check compares with the active epoch (300), not the vetoed one (900).
    await expectRevert(
      f.splitter.connect(f.roles.oracle).postEpoch(2, E.id("lower"), 299n, E.id("rec"), ""),
      f.splitter,
      "AllocationDecreased",
      [300n, 299n],
    );
  });

  it("a veto exactly at activeAt is too late (VetoTooLate)", async () => {
    const tree = claimsTree([[A, 500n]]);
    const r = await postEpoch(f, 2, tree.root, 500n);
    const t = await blockTime(f, r);
    await setNextTimestamp(f, t + HOUR);
    await expectRevert(f.splitter.connect(f.roles.guardian).vetoEpoch(2), f.splitter, "VetoTooLate", [2n, t + HOUR]);
    await mined(f.splitter.connect(f.roles.keeper).claim(A, 500n, tree.proofOf(A).proof));
    expect(await f.token.balanceOf(A)).toBe(500n);
  });

  it("a vetoed epoch number cannot be posted again before one more challenge period (RepostCooldown)", async () => {
    const g = await funded(1_000n, 3600);
    const r = await postEpoch(g, 1, E.id("claims"), 10n);
    await mined(g.splitter.connect(g.roles.guardian).vetoEpoch(1));
    const vetoedAt = (await blockTime(g, r)) + 1n;
    const oracle = g.splitter.connect(g.roles.oracle);
    await expectRevert(oracle.postEpoch(1, E.id("again"), 10n, E.id("rec"), ""), g.splitter, "RepostCooldown");
    await setNextTimestamp(g, vetoedAt + HOUR + 5n);
    await mined(oracle.postEpoch(1, E.id("again"), 10n, E.id("rec"), ""));
  });
});

describe("claims", () => {
  let f: Fixture;
  let A: string, B: string, C: string, D: string;
  let tree1: ReturnType<typeof claimsTree>;
  let tree2: ReturnType<typeof claimsTree>;
  beforeAll(async () => {
    f = await funded(1_000_000n);
    [A, B, C, D] = f.others.slice(0, 4).map((s) => s.address);
    tree1 = claimsTree([
      [A, 100_000n],
      [B, 200_000n],
      [C, 0n],
    ]);
    tree2 = claimsTree([
      [A, 150_000n],
      [B, 200_000n],
      [C, 80_000n],
      [D, 20_000n],
    ]);
  });

  it("before any epoch nothing can be claimed (InvalidProof)", async () => {
    await expectRevert(f.splitter.claim(A, 100_000n, tree1.proofOf(A).proof), f.splitter, "InvalidProof");
  });

  it("a keeper's claim pays the account, not the keeper, and records the cumulative amount", async () => {
    await postEpoch(f, 1, tree1.root, 300_000n);
    const keeper = f.splitter.connect(f.roles.keeper);
    const keeperBefore = await f.token.balanceOf(f.roles.keeper.address);
    const { proof } = tree1.proofOf(A);
    expect(await keeper.claim.staticCall(A, 100_000n, proof)).toBe(100_000n);
    const receipt = await mined(keeper.claim(A, 100_000n, proof));
    expect(eventsOf(receipt, f.splitter, "Claimed").map((e) => [...e.args])).toEqual([[A, 100_000n, 100_000n]]);
    const [t] = eventsOf(receipt, f.token, "Transfer");
    expect([t.args.from, t.args.to, t.args.value]).toEqual([f.splitterAddress, A, 100_000n]);
    expect(await f.token.balanceOf(A)).toBe(100_000n);
    expect(await f.token.balanceOf(f.roles.keeper.address)).toBe(keeperBefore);
    expect(await f.splitter.claimed(A)).toBe(100_000n);
    expect(await f.splitter.totalClaimed()).toBe(100_000n);
    expect(await f.splitter.totalReceived()).toBe(1_000_000n);
  });

  it("claiming again with nothing new reverts NothingToClaim (also for a zero leaf)", async () => {
    await expectRevert(f.splitter.claim(A, 100_000n, tree1.proofOf(A).proof), f.splitter, "NothingToClaim");
    await expectRevert(f.splitter.claim(C, 0n, tree1.proofOf(C).proof), f.splitter, "NothingToClaim");
  });

  it("a wrong proof, amount or account is rejected (InvalidProof)", async () => {
    const proofA = tree1.proofOf(A).proof;
    const proofB = tree1.proofOf(B).proof;
    await expectRevert(f.splitter.claim(B, 200_000n, proofA), f.splitter, "InvalidProof");
    await expectRevert(f.splitter.claim(B, 200_001n, proofB), f.splitter, "InvalidProof");
    await expectRevert(f.splitter.claim(B, 199_999n, proofB), f.splitter, "InvalidProof");
    await expectRevert(f.splitter.claim(D, 200_000n, proofB), f.splitter, "InvalidProof");
    await expectRevert(f.splitter.claim(B, 200_000n, []), f.splitter, "InvalidProof");
    await expectRevert(f.splitter.claim(B, 200_000n, [...proofB, E.id("extra")]), f.splitter, "InvalidProof");
    // A truncated proof fails too.
    await expectRevert(f.splitter.claim(B, 200_000n, proofB.slice(1)), f.splitter, "InvalidProof");
    expect(await f.splitter.claimed(B)).toBe(0n);
  });

  it("after the next epoch, a larger cumulative amount pays exactly the difference", async () => {
    await postEpoch(f, 2, tree2.root, 450_000n);
    const receipt = await mined(f.splitter.connect(f.roles.keeper).claim(A, 150_000n, tree2.proofOf(A).proof));
    expect(eventsOf(receipt, f.splitter, "Claimed").map((e) => [...e.args])).toEqual([[A, 50_000n, 150_000n]]);
    expect(await f.token.balanceOf(A)).toBe(150_000n);
    expect(await f.splitter.claimed(A)).toBe(150_000n);
    // The old leaf is no longer provable.
    await expectRevert(f.splitter.claim(B, 200_000n, tree1.proofOf(B).proof), f.splitter, "InvalidProof");
  });

  it("claimMany: LengthMismatch on differing lengths", async () => {
    const proofs = [tree2.proofOf(B).proof, tree2.proofOf(C).proof];
    await expectRevert(f.splitter.claimMany([B, C], [200_000n], proofs), f.splitter, "LengthMismatch");
    await expectRevert(f.splitter.claimMany([B, C], [200_000n, 80_000n], [proofs[0]]), f.splitter, "LengthMismatch");
    await expectRevert(f.splitter.claimMany([B], [200_000n, 80_000n], proofs), f.splitter, "LengthMismatch");
  });

  it("claimMany: one invalid proof reverts the whole call", async () => {
    await expectRevert(
      f.splitter.claimMany([B, C], [200_000n, 80_001n], [tree2.proofOf(B).proof, tree2.proofOf(C).proof]),
      f.splitter,
      "InvalidProof",
    );
    expect(await f.splitter.claimed(B)).toBe(0n);
  });

  it("claimMany pays each account its difference and skips accounts with nothing new", async () => {
    const accounts = [A, B, C, D];
    const amounts = accounts.map((a) => tree2.proofOf(a).amount);
    const proofs = accounts.map((a) => tree2.proofOf(a).proof);
    const keeper = f.splitter.connect(f.roles.keeper);
    expect(await keeper.claimMany.staticCall(accounts, amounts, proofs)).toBe(300_000n);
    const receipt = await mined(keeper.claimMany(accounts, amounts, proofs));
    expect(eventsOf(receipt, f.splitter, "Claimed").map((e) => [...e.args])).toEqual([
      [B, 200_000n, 200_000n],
      [C, 80_000n, 80_000n],
      [D, 20_000n, 20_000n],
    ]);
    expect(eventsOf(receipt, f.token, "Transfer").map((e) => [e.args.to, e.args.value])).toEqual([
      [B, 200_000n],
      [C, 80_000n],
      [D, 20_000n],
    ]);
    expect(await Promise.all(accounts.map((a) => f.token.balanceOf(a)))).toEqual([150_000n, 200_000n, 80_000n, 20_000n]);
    expect(await f.splitter.totalClaimed()).toBe(450_000n);
  });

  it("claimMany with nothing new for anyone pays 0 without reverting (unlike claim)", async () => {
    const accounts = [A, B];
    const receipt = await mined(
      f.splitter.claimMany(
        accounts,
        accounts.map((a) => tree2.proofOf(a).amount),
        accounts.map((a) => tree2.proofOf(a).proof),
      ),
    );
    expect(eventsOf(receipt, f.splitter, "Claimed")).toHaveLength(0);
    expect(eventsOf(receipt, f.token, "Transfer")).toHaveLength(0);
    expect(await f.splitter.claimMany.staticCall([], [], [])).toBe(0n);
    expect(await f.splitter.totalClaimed()).toBe(450_000n);
  });
});

describe("OverClaimed: a malicious tree cannot pay more than the posted allocation", () => {
  it("leaves summing above cumulativeAllocated pay out only up to it", async () => {
    const f = await funded(1_000_000n);
    const [A, B] = f.others.slice(0, 2).map((s) => s.address);
    const evil = claimsTree([
      [A, 600n],
      [B, 600n],
    ]);
    await postEpoch(f, 1, evil.root, 1_000n);
    const pa = evil.proofOf(A).proof;
    const pb = evil.proofOf(B).proof;

    await expectRevert(f.splitter.claimMany([A, B], [600n, 600n], [pa, pb]), f.splitter, "OverClaimed", [1_000n, 1_200n]);
    expect(await f.splitter.claimed(A)).toBe(0n);

    await mined(f.splitter.claim(A, 600n, pa));
    await expectRevert(f.splitter.claim(B, 600n, pb), f.splitter, "OverClaimed", [1_000n, 1_200n]);
    await expectRevert(f.splitter.claimMany([B], [600n], [pb]), f.splitter, "OverClaimed", [1_000n, 1_200n]);
    expect(await f.token.balanceOf(B)).toBe(0n);
    expect(await f.splitter.totalClaimed()).toBe(600n);
    expect(await f.token.balanceOf(f.splitterAddress)).toBe(1_000_000n - 600n);

    // Once an epoch allocates enough, the same leaf pays.
    await postEpoch(f, 2, evil.root, 1_200n);
    await mined(f.splitter.claim(B, 600n, pb));
    expect(await f.token.balanceOf(B)).toBe(600n);
  });
});
