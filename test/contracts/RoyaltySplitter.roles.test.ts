// Role rotation: every role can change hands, two-step (proposed, then accepted by the new holder); the
// oracle only after one challenge period, proposed by the owner (a lost key) or the guardian (a leaked
// key), and the outgoing oracle cannot post meanwhile. A vetoed epoch number waits one more challenge
// period before it can be posted again.
import { describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import { claimsTree, eventsOf, expectRevert, mined } from "./support.ts";
import { freshStack, type Fixture } from "./fixtures.ts";

const HOUR = 3600n;

async function stackWithRevenue(revenue = 1_000_000n) {
  const f = await freshStack({ challengePeriod: Number(HOUR) });
  await mined(f.token.mint(f.splitterAddress, revenue));
  return f;
}

async function blockTime(f: Fixture, receipt: E.TransactionReceipt) {
  return BigInt((await f.ethers.provider.getBlock(receipt.blockNumber))!.timestamp);
}

const increase = (f: Fixture, seconds: bigint) => f.connection.networkHelpers.time.increase(seconds);

describe("a leaked oracle key", () => {
  it("cannot move money before the guardian rotates it out: its epoch is vetoed, it cannot repost, the new oracle takes over", async () => {
    const f = await stackWithRevenue();
    const [attacker, newOracle, honest] = f.others;
    const pool = await f.splitter.contributorPool();
    const leaked = f.splitter.connect(f.roles.oracle); // the attacker holds this key

    // The attacker allocates the whole pool to itself; the guardian vetoes within the challenge period.
    const theft = claimsTree([[attacker.address, pool]]);
    await mined(leaked.postEpoch(1, theft.root, pool, E.id("r"), ""));
    await expectRevert(f.splitter.claim(attacker.address, pool, theft.proofOf(attacker.address).proof), f.splitter, "InvalidProof");
    const guardian = f.splitter.connect(f.roles.guardian);
    await mined(guardian.vetoEpoch(1));
    // ... and rotates the oracle out at once: from now the leaked key cannot post at all.
    const proposal = await mined(guardian.proposeOracle(newOracle.address));
    await expectRevert(leaked.postEpoch(1, theft.root, pool, E.id("r"), ""), f.splitter, "OracleRotating", [newOracle.address]);
    await increase(f, 2n * HOUR); // cooldown and rotation delay both over
    await expectRevert(leaked.postEpoch(1, theft.root, pool, E.id("r"), ""), f.splitter, "OracleRotating", [newOracle.address]);
    await expectRevert(f.splitter.claim(attacker.address, pool, theft.proofOf(attacker.address).proof), f.splitter, "InvalidProof");

    const accepted = await mined(f.splitter.connect(newOracle).acceptOracle());
    expect(eventsOf(accepted, f.splitter, "RoleTransferred").map((e) => [...e.args])).toEqual([
      [E.encodeBytes32String("oracle"), f.roles.oracle.address, newOracle.address],
    ]);
    expect(await f.splitter.oracle()).toBe(newOracle.address);
    await expectRevert(leaked.postEpoch(1, theft.root, pool, E.id("r"), ""), f.splitter, "NotOracle");
    const fair = claimsTree([[honest.address, pool]]);
    const posted = await mined(f.splitter.connect(newOracle).postEpoch(1, fair.root, pool, E.id("r"), ""));
    await f.connection.networkHelpers.time.increaseTo((await blockTime(f, posted)) + HOUR);
    await mined(f.splitter.claim(honest.address, pool, fair.proofOf(honest.address).proof));
    expect(await f.token.balanceOf(honest.address)).toBe(pool);
    expect(await f.token.balanceOf(attacker.address)).toBe(0n);
    expect((await blockTime(f, accepted)) >= (await blockTime(f, proposal)) + HOUR).toBe(true);
  });

  it("the owner's proposal also waits one challenge period, and the guardian may cancel it", async () => {
    const f = await stackWithRevenue();
    const [rogue] = f.others;
    await mined(f.splitter.connect(f.roles.owner).proposeOracle(rogue.address));
    await expectRevert(f.splitter.connect(rogue).acceptOracle(), f.splitter, "OracleNotReady");
    await expectRevert(f.splitter.connect(f.roles.owner).cancelOracleProposal(), f.splitter, "NotGuardian");
    await mined(f.splitter.connect(f.roles.guardian).cancelOracleProposal());
    await increase(f, 2n * HOUR);
    await expectRevert(f.splitter.connect(rogue).acceptOracle(), f.splitter, "NotProposed");
    // The current oracle may post again once the proposal is gone.
    await mined(f.splitter.connect(f.roles.oracle).postEpoch(1, E.id("c"), 1n, E.id("r"), ""));
  });
});

describe("a lost oracle key", () => {
  it("is replaced: the owner proposes a new oracle, which accepts after the delay and posts the next epoch", async () => {
    const f = await stackWithRevenue();
    const [replacement, contributor] = f.others;
    const first = claimsTree([[contributor.address, 100n]]);
    const r1 = await mined(f.splitter.connect(f.roles.oracle).postEpoch(1, first.root, 100n, E.id("r"), ""));
    await f.connection.networkHelpers.time.increaseTo((await blockTime(f, r1)) + HOUR);
    // The key is lost: nobody can post epoch 2. The owner proposes a replacement.
    await expectRevert(f.splitter.connect(f.roles.keeper).proposeOracle(replacement.address), f.splitter, "NotOwnerOrGuardian");
    await mined(f.splitter.connect(f.roles.owner).proposeOracle(replacement.address));
    expect(await f.splitter.proposedOracle()).toBe(replacement.address);
    await expectRevert(f.splitter.connect(f.roles.keeper).acceptOracle(), f.splitter, "NotProposed");
    await increase(f, HOUR);
    await mined(f.splitter.connect(replacement).acceptOracle());
    const second = claimsTree([[contributor.address, 300n]]);
    const r2 = await mined(f.splitter.connect(replacement).postEpoch(2, second.root, 300n, E.id("r"), ""));
    await f.connection.networkHelpers.time.increaseTo((await blockTime(f, r2)) + HOUR);
    await mined(f.splitter.claim(contributor.address, 300n, second.proofOf(contributor.address).proof));
    expect(await f.token.balanceOf(contributor.address)).toBe(300n);
  });

  it("a proposed oracle may not be zero or the guardian", async () => {
    const f = await stackWithRevenue();
    const owner = f.splitter.connect(f.roles.owner);
    await expectRevert(owner.proposeOracle(E.ZeroAddress), f.splitter, "InvalidRoleHolder", [E.ZeroAddress]);
    await expectRevert(owner.proposeOracle(f.roles.guardian.address), f.splitter, "InvalidRoleHolder", [f.roles.guardian.address]);
  });
});

describe("owner, guardian and protocol recipient rotation (two-step)", () => {
  it("the owner hands over to a new owner, who then manages facilitators and receives the owner cut", async () => {
    const f = await stackWithRevenue();
    const [next, stranger] = f.others;
    await expectRevert(f.splitter.connect(stranger).proposeOwner(next.address), f.splitter, "NotOwner");
    await mined(f.splitter.connect(f.roles.owner).proposeOwner(next.address));
    await expectRevert(f.splitter.connect(stranger).acceptOwner(), f.splitter, "NotProposed");
    expect(await f.splitter.owner()).toBe(f.roles.owner.address); // nothing changes before acceptance
    await mined(f.splitter.connect(next).acceptOwner());
    expect(await f.splitter.owner()).toBe(next.address);
    await expectRevert(f.splitter.connect(f.roles.owner).setFacilitator(stranger.address, true), f.splitter, "NotOwner");
    await mined(f.splitter.connect(next).setFacilitator(stranger.address, true));
    const w = await mined(f.splitter.withdrawOwnerFees());
    expect(eventsOf(w, f.splitter, "OwnerFeesWithdrawn").map((e) => e.args.recipient)).toEqual([next.address]);
    expect(await f.token.balanceOf(next.address)).toBe(100_000n);
  });

  it("only the guardian hands over the guardian role, never to the oracle; the new guardian vetoes and pauses", async () => {
    const f = await stackWithRevenue();
    const [next] = f.others;
    await expectRevert(f.splitter.connect(f.roles.owner).proposeGuardian(next.address), f.splitter, "NotGuardian");
    await expectRevert(f.splitter.connect(f.roles.guardian).proposeGuardian(f.roles.oracle.address), f.splitter, "InvalidRoleHolder");
    await mined(f.splitter.connect(f.roles.guardian).proposeGuardian(next.address));
    await mined(f.splitter.connect(next).acceptGuardian());
    expect(await f.splitter.guardian()).toBe(next.address);
    await expectRevert(f.splitter.connect(f.roles.guardian).setSettlementPaused(true), f.splitter, "NotGuardian");
    await mined(f.splitter.connect(f.roles.oracle).postEpoch(1, E.id("c"), 1n, E.id("r"), ""));
    await mined(f.splitter.connect(next).vetoEpoch(1));
  });

  it("only the protocol recipient redirects the protocol cut", async () => {
    const f = await stackWithRevenue();
    const [next] = f.others;
    await expectRevert(f.splitter.connect(f.roles.owner).proposeProtocolRecipient(next.address), f.splitter, "NotProtocolRecipient");
    await mined(f.splitter.connect(f.roles.protocol).proposeProtocolRecipient(next.address));
    await mined(f.splitter.connect(next).acceptProtocolRecipient());
    const w = await mined(f.splitter.withdrawProtocolFees());
    expect(eventsOf(w, f.splitter, "ProtocolFeesWithdrawn").map((e) => [...e.args])).toEqual([[next.address, 20_000n]]);
  });
});
