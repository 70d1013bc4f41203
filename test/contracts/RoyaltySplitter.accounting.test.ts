// RoyaltySplitter accounting: fixed cuts exact to the unit (both cuts floored together, then split),
// fee withdrawals, and a full scenario in which the splitter never pays out more than it received.
import { beforeAll, describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import type { RoyaltySplitter } from "../../types/ethers-contracts/index.ts";
import { claimsTree, eventsOf, expectRevert, mined, now } from "./support.ts";
import { freshStack, paidOut, payment, postEpoch, settle, type Fixture } from "./fixtures.ts";

/** The 10% / 2% cuts as the contract defines them: both floored together, then split; the pool is the rest. */
function cutsOf(received: bigint, ownerBps = 1000n, protocolBps = 200n) {
  const fees = (received * (ownerBps + protocolBps)) / 10_000n;
  const owner = (fees * ownerBps) / (ownerBps + protocolBps);
  return { owner, protocol: fees - owner, pool: received - fees };
}

describe("fixed cuts are exact to the unit", () => {
  let f: Fixture;
  let saltCounter = 0;
  beforeAll(async () => {
    f = await freshStack();
  });

  /** A new splitter on the shared token and factory with the given cuts, holding `received`. */
  async function splitterWith(ownerBps: number, protocolBps: number, received: bigint) {
    const config = { ...f.config, ownerBps, protocolBps };
    const salt = E.id(`cuts:${saltCounter++}`);
    await mined(f.factory.createSplitter(config, salt));
    const address = await f.factory.predictSplitter(config, salt);
    const splitter = (await f.ethers.getContractAt("RoyaltySplitter", address)) as unknown as RoyaltySplitter;
    if (received > 0n) await mined(f.token.mint(address, received));
    return { splitter, address };
  }

  // [received, ownerBps, protocolBps, owner, protocol, pool]: expected values worked out by hand.
  const cases: Array<[bigint, number, number, bigint, bigint, bigint]> = [
    [999_999n, 1000, 200, 99_999n, 20_000n, 880_000n], // fees floor(119_999.88) = 119_999, owner floor(99_999.17)
    [1_000_000n, 1000, 200, 100_000n, 20_000n, 880_000n],
    [1n, 1000, 200, 0n, 0n, 1n],
    [9_999n, 1000, 200, 999n, 200n, 8_800n], // fees floor(1_199.88) = 1_199, owner floor(999.17)
    [3n, 5000, 5000, 1n, 2n, 0n], // 100% in cuts: nothing for contributors
    [10_001n, 3333, 3333, 3333n, 3333n, 3335n],
    [123_456_789n, 1, 9999, 12_345n, 123_444_444n, 0n],
    [1_000_000n, 0, 0, 0n, 0n, 1_000_000n],
    [1_000_000n, 10_000, 0, 1_000_000n, 0n, 0n],
    [7n, 0, 1, 0n, 0n, 7n],
  ];

  it.each(cases)(
    "received %i with bps %i/%i: owner %i, protocol %i, pool %i; withdrawn and claimed to exactly zero",
    async (received, ownerBps, protocolBps, owner, protocol, pool) => {
      const { splitter, address } = await splitterWith(ownerBps, protocolBps, received);
      expect(await splitter.totalReceived()).toBe(received);
      expect(await splitter.ownerAccrued()).toBe(owner);
      expect(await splitter.protocolAccrued()).toBe(protocol);
      expect(await splitter.contributorPool()).toBe(pool);
      expect(owner + protocol + pool).toBe(received);

      // The pool is also the exact limit of an epoch's allocation.
      const contributor = f.others[0].address;
      const oracle = splitter.connect(f.roles.oracle);
      await expectRevert(oracle.postEpoch(1, E.id("x"), pool + 1n, E.id("r"), ""), splitter, "OverAllocated", [pool, pool + 1n]);

      // Everything can leave, to the unit: fees to their recipients, the pool to a contributor.
      const before = await Promise.all([f.roles.owner, f.roles.protocol, f.others[0]].map((s) => f.token.balanceOf(s.address)));
      if (owner > 0n) await mined(splitter.connect(f.roles.keeper).withdrawOwnerFees());
      if (protocol > 0n) await mined(splitter.connect(f.roles.keeper).withdrawProtocolFees());
      if (pool > 0n) {
        const tree = claimsTree([[contributor, pool]]);
        await mined(oracle.postEpoch(1, tree.root, pool, E.id("r"), ""));
        await mined(splitter.claim(contributor, pool, tree.proofOf(contributor).proof));
      }
      const after = await Promise.all([f.roles.owner, f.roles.protocol, f.others[0]].map((s) => f.token.balanceOf(s.address)));
      expect(after.map((a, i) => a - before[i])).toEqual([owner, protocol, pool]);
      expect(await f.token.balanceOf(address)).toBe(0n);
      expect(await splitter.totalReceived()).toBe(received);
    },
  );
});

describe("fee withdrawals", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await freshStack();
    await settle(f, f.payers[0], 999_999n);
  });

  it("nothing accrued yet is NothingToClaim", async () => {
    const g = await freshStack();
    await expectRevert(g.splitter.withdrawOwnerFees(), g.splitter, "NothingToClaim");
    await expectRevert(g.splitter.withdrawProtocolFees(), g.splitter, "NothingToClaim");
  });

  it("withdrawOwnerFees pays the owner its floor cut, callable by anyone; then NothingToClaim", async () => {
    const keeper = f.splitter.connect(f.roles.keeper);
    const keeperBefore = await f.token.balanceOf(f.roles.keeper.address);
    expect(await keeper.withdrawOwnerFees.staticCall()).toBe(99_999n);
    const receipt = await mined(keeper.withdrawOwnerFees());
    expect(eventsOf(receipt, f.splitter, "OwnerFeesWithdrawn").map((e) => [...e.args])).toEqual([[f.roles.owner.address, 99_999n]]);
    expect(await f.token.balanceOf(f.roles.owner.address)).toBe(99_999n);
    expect(await f.token.balanceOf(f.roles.keeper.address)).toBe(keeperBefore);
    expect(await f.splitter.ownerWithdrawn()).toBe(99_999n);
    expect(await f.splitter.ownerAccrued()).toBe(99_999n);
    expect(await f.splitter.totalReceived()).toBe(999_999n);
    expect(await f.splitter.contributorPool()).toBe(880_000n);
    await expectRevert(keeper.withdrawOwnerFees(), f.splitter, "NothingToClaim");
    await expectRevert(f.splitter.connect(f.roles.owner).withdrawOwnerFees(), f.splitter, "NothingToClaim");
  });

  it("withdrawProtocolFees pays the protocol recipient, callable by anyone; then NothingToClaim", async () => {
    const anyone = f.splitter.connect(f.payers[3]);
    const receipt = await mined(anyone.withdrawProtocolFees());
    expect(eventsOf(receipt, f.splitter, "ProtocolFeesWithdrawn").map((e) => [...e.args])).toEqual([[f.roles.protocol.address, 20_000n]]);
    expect(await f.token.balanceOf(f.roles.protocol.address)).toBe(20_000n);
    expect(await f.splitter.protocolWithdrawn()).toBe(20_000n);
    expect(await f.splitter.totalReceived()).toBe(999_999n);
    expect(await f.token.balanceOf(f.splitterAddress)).toBe(999_999n - 99_999n - 20_000n);
    await expectRevert(anyone.withdrawProtocolFees(), f.splitter, "NothingToClaim");
  });

  it("one more unit of revenue lifts the owner's cut by one; the protocol already held the rounding unit", async () => {
    await mined(f.token.connect(f.payers[1]).transfer(f.splitterAddress, 1n));
    expect(await f.splitter.totalReceived()).toBe(1_000_000n);
    expect(await f.splitter.withdrawOwnerFees.staticCall()).toBe(1n);
    await expectRevert(f.splitter.withdrawProtocolFees(), f.splitter, "NothingToClaim");
    await mined(f.splitter.withdrawOwnerFees());
    expect(await f.token.balanceOf(f.roles.owner.address)).toBe(100_000n);
    expect(await f.token.balanceOf(f.roles.protocol.address)).toBe(20_000n);
    expect(await f.splitter.contributorPool()).toBe(880_000n);
    expect(await f.splitter.totalReceived()).toBe(1_000_000n);
  });

  it("a splitter without cuts has no fees to withdraw, ever", async () => {
    const g = await freshStack({ ownerBps: 0, protocolBps: 0, protocolRecipient: E.ZeroAddress });
    await settle(g, g.payers[0], 1_000_000n);
    await expectRevert(g.splitter.withdrawOwnerFees(), g.splitter, "NothingToClaim");
    await expectRevert(g.splitter.withdrawProtocolFees(), g.splitter, "NothingToClaim");
    expect(await g.splitter.contributorPool()).toBe(1_000_000n);
  });
});

describe("full scenario: the splitter never pays out more than it received", () => {
  it("payments, a vetoed epoch, two epochs, claims and withdrawals keep balance == received - paid out and stay solvent", async () => {
    const CHALLENGE = 600n;
    const f = await freshStack({ challengePeriod: Number(CHALLENGE) });
    const [p0, p1, p2, p3] = f.payers;
    const contributors = f.others.slice(0, 4).map((s) => s.address);
    const [A, B, C, D] = contributors;
    const recipients = [...contributors, f.roles.owner.address, f.roles.protocol.address];
    let received = 0n; // independent tally of money in

    /** Money out, observed from the recipients' balances (they start with none). */
    const moneyOut = async () => {
      let sum = 0n;
      for (const r of recipients) sum += await f.token.balanceOf(r);
      return sum;
    };
    const check = async () => {
      const balance = await f.token.balanceOf(f.splitterAddress);
      const out = await moneyOut();
      expect(await f.splitter.totalReceived()).toBe(received);
      expect(await paidOut(f)).toBe(out);
      expect(balance).toBe(received - out);
      const [, , allocated] = await f.splitter.activeEpoch();
      const owed =
        allocated -
        (await f.splitter.totalClaimed()) +
        ((await f.splitter.ownerAccrued()) - (await f.splitter.ownerWithdrawn())) +
        ((await f.splitter.protocolAccrued()) - (await f.splitter.protocolWithdrawn()));
      expect(balance >= owed).toBe(true);
      return { balance, owed };
    };
    const waitChallenge = async (receipt: E.TransactionReceipt) => {
      const t = BigInt((await f.ethers.provider.getBlock(receipt.blockNumber))!.timestamp);
      await f.connection.networkHelpers.time.increaseTo(t + CHALLENGE);
    };

    // Revenue: settle, a batch with one bad item, and a plain transfer.
    await settle(f, p0, 1_000_003n);
    await settle(f, p1, 2_345_678n);
    received += 1_000_003n + 2_345_678n;
    const batch = [await payment(f, p2, 777n), await payment(f, p3, 10n, { validBefore: await now(f) }), await payment(f, p0, 99_999n)];
    expect(await f.splitter.connect(f.roles.facilitator).settleBatch.staticCall(batch)).toBe(2n);
    await mined(f.splitter.connect(f.roles.facilitator).settleBatch(batch));
    received += 777n + 99_999n;
    await mined(f.token.connect(p3).transfer(f.splitterAddress, 500_001n));
    received += 500_001n;
    await check();

    // A malicious epoch 1 over-allocating is refused; an inflated one is vetoed and pays nothing.
    const pool1 = await f.splitter.contributorPool();
    expect(pool1).toBe(cutsOf(received).pool);
    await expectRevert(
      f.splitter.connect(f.roles.oracle).postEpoch(1, E.id("greedy"), pool1 + 1n, E.id("r"), ""),
      f.splitter,
      "OverAllocated",
      [pool1, pool1 + 1n],
    );
    const inflated = claimsTree([[D, pool1]]);
    await postEpoch(f, 1, inflated.root, pool1);
    const veto = await mined(f.splitter.connect(f.roles.guardian).vetoEpoch(1));
    await waitChallenge(veto); // the vetoed number may be posted again after one more challenge period

    // Epoch 1: 50/30/20 of the whole pool, largest remainder (the remainder goes to A).
    const b1 = (pool1 * 30n) / 100n;
    const c1 = (pool1 * 20n) / 100n;
    const a1 = pool1 - b1 - c1;
    const tree1 = claimsTree([
      [A, a1],
      [B, b1],
      [C, c1],
    ]);
    await waitChallenge(await postEpoch(f, 1, tree1.root, pool1));
    await expectRevert(f.splitter.claim(D, pool1, inflated.proofOf(D).proof), f.splitter, "InvalidProof");
    await mined(f.splitter.connect(f.roles.keeper).claim(A, a1, tree1.proofOf(A).proof));
    await mined(f.splitter.connect(f.roles.keeper).claim(B, b1, tree1.proofOf(B).proof));
    await mined(f.splitter.withdrawOwnerFees());
    await check();

    // More revenue, then epoch 2 (cumulative) allocating the whole new pool, D joins.
    await settle(f, p1, 3_333_333n);
    await settle(f, p2, 1n);
    received += 3_333_334n;
    const { owed: owedBefore2, balance: balanceBefore2 } = await check();
    expect(balanceBefore2 > owedBefore2).toBe(true); // the new revenue's pool is not allocated yet
    const pool2 = await f.splitter.contributorPool();
    const extra = pool2 - pool1;
    const tree2 = claimsTree([
      [A, a1 + extra / 4n],
      [B, b1 + extra / 4n],
      [C, c1 + extra / 4n],
      [D, extra - 3n * (extra / 4n)],
    ]);
    await waitChallenge(await postEpoch(f, 2, tree2.root, pool2));
    await check();

    const amounts = contributors.map((a) => tree2.proofOf(a).amount);
    const proofs = contributors.map((a) => tree2.proofOf(a).proof);
    expect(amounts.reduce((x, y) => x + y, 0n)).toBe(pool2);
    await mined(f.splitter.connect(f.roles.keeper).claimMany(contributors, amounts, proofs));
    await check();
    await mined(f.splitter.withdrawProtocolFees());
    await mined(f.splitter.withdrawOwnerFees());
    const final = await check();

    // Everything allocated, claimed and withdrawn: the splitter is empty, and the money is where it belongs.
    expect(final.balance).toBe(0n);
    expect(final.owed).toBe(0n);
    expect(await Promise.all(contributors.map((a) => f.token.balanceOf(a)))).toEqual(amounts);
    expect(await f.token.balanceOf(f.roles.owner.address)).toBe(cutsOf(received).owner);
    expect(await f.token.balanceOf(f.roles.protocol.address)).toBe(cutsOf(received).protocol);
    expect(await moneyOut()).toBe(received);
    // Nobody can take anything more.
    expect(await f.splitter.claimMany.staticCall(contributors, amounts, proofs)).toBe(0n);
    for (const a of contributors) {
      await expectRevert(f.splitter.claim(a, tree2.proofOf(a).amount, tree2.proofOf(a).proof), f.splitter, "NothingToClaim");
    }
    await expectRevert(f.splitter.withdrawOwnerFees(), f.splitter, "NothingToClaim");
    await expectRevert(f.splitter.withdrawProtocolFees(), f.splitter, "NothingToClaim");
    expect(await f.token.balanceOf(f.splitterAddress)).toBe(0n);
  });
});
