// RoyaltySplitter, receiving side: config, clone-only, settle, facilitators, guardian pause,
// plain transfers counted as revenue, settleBatch skipping bad items.
import { beforeAll, describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import { signAuthorization, settlementOf } from "../../scripts/shared/stack.ts";
import type { ERC1271Wallet, RoyaltySplitter } from "../../types/ethers-contracts/index.ts";
import { claimsTree, decodeError, eventsOf, expectRevert, mined, now } from "./support.ts";
import { freshStack, payment, postEpoch, settle, type Fixture } from "./fixtures.ts";

const TWA_BYTES = "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)";

describe("configuration", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await freshStack({ challengePeriod: 3600, ownerBps: 1234, protocolBps: 56 });
  });

  it("config() returns exactly the creation config", async () => {
    const c = await f.splitter.config();
    expect(c.token).toBe(f.config.token);
    expect(c.owner).toBe(f.config.owner);
    expect(c.facilitator).toBe(f.config.facilitator);
    expect(c.oracle).toBe(f.config.oracle);
    expect(c.guardian).toBe(f.config.guardian);
    expect(c.protocolRecipient).toBe(f.config.protocolRecipient);
    expect(c.ownerBps).toBe(1234n);
    expect(c.protocolBps).toBe(56n);
    expect(c.challengePeriod).toBe(3600n);
  });

  it("starts empty: nothing received, no epochs, not paused, only the initial facilitator", async () => {
    expect(await f.splitter.totalReceived()).toBe(0n);
    expect(await f.splitter.contributorPool()).toBe(0n);
    expect(await f.splitter.settlementPaused()).toBe(false);
    expect([...(await f.splitter.activeEpoch())]).toEqual([0n, E.ZeroHash, 0n]);
    expect([...(await f.splitter.pendingEpoch())]).toEqual([0n, E.ZeroHash, 0n, 0n]);
    expect(await f.splitter.isFacilitator(f.roles.facilitator.address)).toBe(true);
    for (const other of [f.roles.owner, f.roles.oracle, f.roles.guardian, f.roles.keeper, f.payers[0]]) {
      expect(await f.splitter.isFacilitator(other.address)).toBe(false);
    }
  });

  it("the implementation itself refuses every stateful entry point with NotAClone", async () => {
    const impl = (await f.ethers.getContractAt("RoyaltySplitter", await f.factory.implementation())) as unknown as RoyaltySplitter;
    const item = await payment(f, f.payers[0], 1n);
    const asFacilitator = impl.connect(f.roles.facilitator);
    const calls: Array<[string, () => Promise<unknown>]> = [
      ["config", () => impl.config()],
      ["isFacilitator", () => impl.isFacilitator(f.roles.facilitator.address)],
      ["totalReceived", () => impl.totalReceived()],
      ["contributorPool", () => impl.contributorPool()],
      ["ownerAccrued", () => impl.ownerAccrued()],
      ["protocolAccrued", () => impl.protocolAccrued()],
      ["settle", () => asFacilitator.settle(item)],
      ["settleBatch", () => asFacilitator.settleBatch([item])],
      ["setFacilitator", () => impl.connect(f.roles.owner).setFacilitator(f.roles.keeper.address, true)],
      ["setSettlementPaused", () => impl.connect(f.roles.guardian).setSettlementPaused(true)],
      ["postEpoch", () => impl.connect(f.roles.oracle).postEpoch(1, E.ZeroHash, 0, E.ZeroHash, "")],
      ["vetoEpoch", () => impl.connect(f.roles.guardian).vetoEpoch(1)],
      ["withdrawOwnerFees", () => impl.withdrawOwnerFees()],
      ["withdrawProtocolFees", () => impl.withdrawProtocolFees()],
      ["claimMany", () => impl.claimMany([], [], [])],
    ];
    for (const [label, call] of calls) {
      const parsed = await expectRevert(call(), impl, "NotAClone").catch((e: Error) => {
        throw new Error(`${label}: ${e.message}`);
      });
      expect(parsed.name).toBe("NotAClone");
    }
    // A claim reverts too: NotAClone, or InvalidProof if the root is read first (the implementation has none).
    const claimError = await expectRevert(impl.claim(f.payers[0].address, 1n, []), impl, "NotAClone").catch(() =>
      expectRevert(impl.claim(f.payers[0].address, 1n, []), impl, "InvalidProof"),
    );
    expect(["NotAClone", "InvalidProof"]).toContain(claimError.name);
  });
});

describe("settle", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await freshStack();
  });

  it("the initial facilitator settles: tokens move payer -> splitter and PaymentSettled carries exactly the payment", async () => {
    const [payer] = f.payers;
    const outputId = E.id("output:1");
    const attributionRoot = E.id("record:1");
    const signed = await signAuthorization(payer, f.domain, { to: f.splitterAddress, value: 12_345n }, await now(f));
    const item = settlementOf(signed, outputId, attributionRoot);
    const payerBefore = await f.token.balanceOf(payer.address);
    const receivedBefore = await f.splitter.totalReceived();

    const receipt = await mined(f.splitter.connect(f.roles.facilitator).settle(item));

    expect(await f.token.balanceOf(payer.address)).toBe(payerBefore - 12_345n);
    expect(await f.token.balanceOf(f.splitterAddress)).toBe(receivedBefore + 12_345n);
    expect(await f.token.balanceOf(f.roles.facilitator.address)).toBe(0n);
    expect(await f.splitter.totalReceived()).toBe(receivedBefore + 12_345n);
    expect(await f.token.authorizationState(payer.address, signed.auth.nonce)).toBe(true);

    const settled = eventsOf(receipt, f.splitter, "PaymentSettled");
    expect(settled).toHaveLength(1);
    expect(settled[0].args.outputId).toBe(outputId);
    expect(settled[0].args.payer).toBe(payer.address);
    expect(settled[0].args.amount).toBe(12_345n);
    expect(settled[0].args.nonce).toBe(signed.auth.nonce);
    expect(settled[0].args.attributionRoot).toBe(attributionRoot);
    // Indexed topics, for log filters by output and payer.
    const log = receipt.logs.find((l) => l.address === f.splitterAddress)!;
    expect(log.topics[1]).toBe(outputId);
    expect(log.topics[2]).toBe(E.zeroPadValue(payer.address, 32).toLowerCase());
    const [transfer] = eventsOf(receipt, f.token, "Transfer");
    expect([transfer.args.from, transfer.args.to, transfer.args.value]).toEqual([payer.address, f.splitterAddress, 12_345n]);
  });

  it("anyone who is not a facilitator is refused with NotFacilitator", async () => {
    const item = await payment(f, f.payers[0], 1n);
    for (const who of [f.roles.owner, f.roles.oracle, f.roles.guardian, f.roles.keeper, f.payers[0]]) {
      await expectRevert(f.splitter.connect(who).settle(item), f.splitter, "NotFacilitator");
      await expectRevert(f.splitter.connect(who).settleBatch([item]), f.splitter, "NotFacilitator");
    }
    expect(await f.token.authorizationState(f.payers[0].address, item.nonce)).toBe(false);
  });

  it("a failing authorization reverts settle with the token's own error", async () => {
    const facilitator = f.splitter.connect(f.roles.facilitator);
    const item = await payment(f, f.payers[1], 10n);
    await mined(facilitator.settle(item));
    await expectRevert(facilitator.settle(item), f.token, "AuthorizationUsedOrCanceled", [f.payers[1].address, item.nonce]);

    const t = await now(f);
    const expired = await payment(f, f.payers[1], 10n, { validBefore: t });
    await expectRevert(facilitator.settle(expired), f.token, "AuthorizationExpired", [t]);

    const early = await payment(f, f.payers[1], 10n, { validAfter: t + 1000n });
    await expectRevert(facilitator.settle(early), f.token, "AuthorizationNotYetValid", [t + 1000n]);
  });

  it("cannot redirect a payment: an authorization to another payee fails as InvalidSignature", async () => {
    const signed = await signAuthorization(f.payers[2], f.domain, { to: f.roles.facilitator.address, value: 99n }, await now(f));
    await expectRevert(f.splitter.connect(f.roles.facilitator).settle(settlementOf(signed)), f.token, "InvalidSignature");
    // The facilitator could of course submit it to the token directly, but then the payee is itself, not the splitter.
    expect(await f.token.authorizationState(f.payers[2].address, signed.auth.nonce)).toBe(false);
  });

  it("settles a payment from an ERC-1271 smart wallet", async () => {
    const keyHolder = f.others[0];
    const wallet = (await f.ethers.deployContract("ERC1271Wallet", [keyHolder.address])) as unknown as ERC1271Wallet;
    const walletAddress = await wallet.getAddress();
    await mined(f.token.mint(walletAddress, 500n));
    const signed = await signAuthorization(keyHolder, f.domain, { from: walletAddress, to: f.splitterAddress, value: 500n }, await now(f));
    const before = await f.splitter.totalReceived();
    const receipt = await mined(f.splitter.connect(f.roles.facilitator).settle(settlementOf(signed)));
    const [ev] = eventsOf(receipt, f.splitter, "PaymentSettled");
    expect(ev.args.payer).toBe(walletAddress);
    expect(ev.args.amount).toBe(500n);
    expect(await f.splitter.totalReceived()).toBe(before + 500n);
    expect(await f.token.balanceOf(walletAddress)).toBe(0n);
  });
});

describe("facilitators", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await freshStack();
  });

  it("the owner registers an extra facilitator, who may settle, and revokes it again", async () => {
    const extra = f.roles.keeper;
    const receipt = await mined(f.splitter.connect(f.roles.owner).setFacilitator(extra.address, true));
    const [ev] = eventsOf(receipt, f.splitter, "FacilitatorSet");
    expect([ev.args.facilitator, ev.args.allowed]).toEqual([extra.address, true]);
    expect(await f.splitter.isFacilitator(extra.address)).toBe(true);
    expect(await f.splitter.isFacilitator(f.roles.facilitator.address)).toBe(true);

    await mined(f.splitter.connect(extra).settle(await payment(f, f.payers[0], 5n)));
    expect(await f.splitter.totalReceived()).toBe(5n);

    const revoked = await mined(f.splitter.connect(f.roles.owner).setFacilitator(extra.address, false));
    const [rev] = eventsOf(revoked, f.splitter, "FacilitatorSet");
    expect([rev.args.facilitator, rev.args.allowed]).toEqual([extra.address, false]);
    expect(await f.splitter.isFacilitator(extra.address)).toBe(false);
    await expectRevert(f.splitter.connect(extra).settle(await payment(f, f.payers[0], 5n)), f.splitter, "NotFacilitator");
  });

  it("the owner can revoke the initial facilitator (then it is refused) and re-allow it", async () => {
    const initial = f.roles.facilitator;
    await mined(f.splitter.connect(f.roles.owner).setFacilitator(initial.address, false));
    expect(await f.splitter.isFacilitator(initial.address)).toBe(false);
    const item = await payment(f, f.payers[1], 7n);
    await expectRevert(f.splitter.connect(initial).settle(item), f.splitter, "NotFacilitator");
    await expectRevert(f.splitter.connect(initial).settleBatch([item]), f.splitter, "NotFacilitator");

    await mined(f.splitter.connect(f.roles.owner).setFacilitator(initial.address, true));
    expect(await f.splitter.isFacilitator(initial.address)).toBe(true);
    const before = await f.splitter.totalReceived();
    await mined(f.splitter.connect(initial).settle(item));
    expect(await f.splitter.totalReceived()).toBe(before + 7n);
  });

  it("nobody but the owner may set facilitators (NotOwner)", async () => {
    for (const who of [f.roles.facilitator, f.roles.guardian, f.roles.oracle, f.roles.keeper]) {
      await expectRevert(f.splitter.connect(who).setFacilitator(who.address, true), f.splitter, "NotOwner");
      await expectRevert(f.splitter.connect(who).setFacilitator(f.roles.facilitator.address, false), f.splitter, "NotOwner");
    }
    expect(await f.splitter.isFacilitator(f.roles.keeper.address)).toBe(false);
    expect(await f.splitter.isFacilitator(f.roles.facilitator.address)).toBe(true);
  });
});

describe("guardian pause", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await freshStack();
  });

  it("only the guardian may pause or resume (NotGuardian)", async () => {
    for (const who of [f.roles.owner, f.roles.facilitator, f.roles.oracle, f.roles.keeper]) {
      await expectRevert(f.splitter.connect(who).setSettlementPaused(true), f.splitter, "NotGuardian");
    }
    expect(await f.splitter.settlementPaused()).toBe(false);
  });

  it("pausing stops settle and settleBatch, but not plain transfers, epochs, claims or fee withdrawals", async () => {
    const [a, b] = f.payers;
    await settle(f, a, 1_000_000n);
    const receipt = await mined(f.splitter.connect(f.roles.guardian).setSettlementPaused(true));
    const [ev] = eventsOf(receipt, f.splitter, "SettlementPaused");
    expect(ev.args.paused).toBe(true);
    expect(await f.splitter.settlementPaused()).toBe(true);

    const item = await payment(f, b, 10n);
    await expectRevert(f.splitter.connect(f.roles.facilitator).settle(item), f.splitter, "SettlementIsPaused");
    await expectRevert(f.splitter.connect(f.roles.facilitator).settleBatch([item]), f.splitter, "SettlementIsPaused");
    expect(await f.token.authorizationState(b.address, item.nonce)).toBe(false);

    // A plain transfer into the splitter still counts.
    await mined(f.token.connect(b).transfer(f.splitterAddress, 1_000_000n));
    expect(await f.splitter.totalReceived()).toBe(2_000_000n);

    // The oracle can post, contributors can claim, fees can be withdrawn.
    const pool = await f.splitter.contributorPool();
    expect(pool).toBe(2_000_000n - 200_000n - 40_000n);
    const contributor = f.others[0].address;
    const tree = claimsTree([
      [contributor, pool],
      [f.others[1].address, 0n],
    ]);
    await postEpoch(f, 1, tree.root, pool);
    const { proof } = tree.proofOf(contributor);
    await mined(f.splitter.connect(f.roles.keeper).claim(contributor, pool, proof));
    expect(await f.token.balanceOf(contributor)).toBe(pool);
    await mined(f.splitter.connect(f.roles.keeper).withdrawOwnerFees());
    await mined(f.splitter.connect(f.roles.keeper).withdrawProtocolFees());
    expect(await f.token.balanceOf(f.roles.owner.address)).toBe(200_000n);
    expect(await f.token.balanceOf(f.roles.protocol.address)).toBe(40_000n);
    expect(await f.token.balanceOf(f.splitterAddress)).toBe(0n);

    const resumed = await mined(f.splitter.connect(f.roles.guardian).setSettlementPaused(false));
    expect(eventsOf(resumed, f.splitter, "SettlementPaused")[0].args.paused).toBe(false);
    await mined(f.splitter.connect(f.roles.facilitator).settle(item));
    expect(await f.splitter.totalReceived()).toBe(2_000_010n);
  });
});

describe("plain transfers count as revenue", () => {
  it("a transferWithAuthorization into the splitter by any relayer (no settle) is received and claimable after an epoch", async () => {
    const f = await freshStack();
    const [payer] = f.payers;
    const signed = await signAuthorization(payer, f.domain, { to: f.splitterAddress, value: 1_000_000n }, await now(f));
    const a = signed.auth;
    // Submitted by some third-party x402 facilitator straight to the token.
    const receipt = await mined(
      f.token.connect(f.others[2])[TWA_BYTES](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, signed.signature),
    );
    expect(eventsOf(receipt, f.splitter, "PaymentSettled")).toHaveLength(0);
    expect(await f.splitter.totalReceived()).toBe(1_000_000n);
    expect(await f.splitter.ownerAccrued()).toBe(100_000n);
    expect(await f.splitter.protocolAccrued()).toBe(20_000n);
    expect(await f.splitter.contributorPool()).toBe(880_000n);

    const [c1, c2] = [f.others[0].address, f.others[1].address];
    const tree = claimsTree([
      [c1, 500_000n],
      [c2, 380_000n],
    ]);
    await postEpoch(f, 1, tree.root, 880_000n);
    await mined(f.splitter.connect(f.roles.keeper).claim(c1, 500_000n, tree.proofOf(c1).proof));
    await mined(f.splitter.connect(f.roles.keeper).claim(c2, 380_000n, tree.proofOf(c2).proof));
    expect(await f.token.balanceOf(c1)).toBe(500_000n);
    expect(await f.token.balanceOf(c2)).toBe(380_000n);
    expect(await f.splitter.totalReceived()).toBe(1_000_000n);
    expect(await f.token.balanceOf(f.splitterAddress)).toBe(120_000n);
  });

  it("a plain ERC-20 transfer counts too, and adds to settled payments", async () => {
    const f = await freshStack();
    await settle(f, f.payers[0], 300n);
    await mined(f.token.connect(f.payers[1]).transfer(f.splitterAddress, 700n));
    expect(await f.splitter.totalReceived()).toBe(1_000n);
  });
});

describe("settleBatch", () => {
  let f: Fixture;
  beforeAll(async () => {
    f = await freshStack({}, { payers: 4, fundEach: 1_000_000n });
  });

  it("settles the good items, skips a used nonce, expired, not-yet-valid, short balance, bad signatures, in-batch duplicate", async () => {
    const [p0, p1, p2, p3] = f.payers;
    const facilitator = f.splitter.connect(f.roles.facilitator);

    // An authorization already used before the batch.
    const used = await payment(f, p1, 100n);
    await mined(facilitator.settle(used));

    const t = await now(f);
    const good1 = await payment(f, p0, 250_000n);
    const expired = await payment(f, p2, 10n, { validBefore: t });
    const short = await payment(f, p3, 1_000_001n);
    const forged = settlementOf(await signAuthorization(p2, f.domain, { from: p1.address, to: f.splitterAddress, value: 10n }, t));
    const good2 = await payment(f, p1, 333_333n);
    const duplicate = { ...good2, outputId: E.id("dup") };
    const early = await payment(f, p2, 10n, { validAfter: t + 10_000n });
    const otherPayee = settlementOf(await signAuthorization(p2, f.domain, { to: f.roles.keeper.address, value: 10n }, t));
    const items = [good1, used, expired, short, forged, good2, duplicate, early, otherPayee];

    const balancesBefore = await Promise.all([p0, p1, p2, p3].map((p) => f.token.balanceOf(p.address)));
    const receivedBefore = await f.splitter.totalReceived();

    expect(await facilitator.settleBatch.staticCall(items)).toBe(2n);
    const receipt = await mined(facilitator.settleBatch(items));

    // Events: one per item, in order, settled or skipped.
    const names = receipt.logs.filter((l) => l.address === f.splitterAddress).map((l) => f.splitter.interface.parseLog(l)!.name);
    expect(names).toEqual([
      "PaymentSettled",
      "PaymentSkipped",
      "PaymentSkipped",
      "PaymentSkipped",
      "PaymentSkipped",
      "PaymentSettled",
      "PaymentSkipped",
      "PaymentSkipped",
      "PaymentSkipped",
    ]);

    const settled = eventsOf(receipt, f.splitter, "PaymentSettled");
    expect(settled.map((e) => [e.args.outputId, e.args.payer, e.args.amount, e.args.nonce, e.args.attributionRoot])).toEqual([
      [good1.outputId, p0.address, 250_000n, good1.nonce, good1.attributionRoot],
      [good2.outputId, p1.address, 333_333n, good2.nonce, good2.attributionRoot],
    ]);

    const skipped = eventsOf(receipt, f.splitter, "PaymentSkipped");
    const skippedItems = [used, expired, short, forged, duplicate, early, otherPayee];
    expect(skipped.map((e) => [e.args.outputId, e.args.payer, e.args.nonce])).toEqual(
      skippedItems.map((i) => [i.outputId, i.from, i.nonce]),
    );
    const reasons = skipped.map((e) => {
      const err = decodeError(e.args.reason, f.token);
      return [err.name, ...err.args];
    });
    expect(reasons).toEqual([
      ["AuthorizationUsedOrCanceled", p1.address, used.nonce],
      ["AuthorizationExpired", t],
      ["ERC20InsufficientBalance", p3.address, 1_000_000n, 1_000_001n],
      ["InvalidSignature"],
      ["AuthorizationUsedOrCanceled", p1.address, good2.nonce],
      ["AuthorizationNotYetValid", t + 10_000n],
      ["InvalidSignature"],
    ]);

    const balancesAfter = await Promise.all([p0, p1, p2, p3].map((p) => f.token.balanceOf(p.address)));
    expect(balancesAfter).toEqual([balancesBefore[0] - 250_000n, balancesBefore[1] - 333_333n, balancesBefore[2], balancesBefore[3]]);
    expect(await f.splitter.totalReceived()).toBe(receivedBefore + 583_333n);
    expect(await f.token.balanceOf(f.splitterAddress)).toBe(receivedBefore + 583_333n);

    // Skipped items left their nonces unused (except the one used before), so they can still be settled if fixed.
    for (const i of [expired, short, forged, early, otherPayee]) {
      expect(await f.token.authorizationState(i.from, i.nonce)).toBe(false);
    }
  });

  it("a batch in which every item fails settles nothing, returns 0 and does not revert", async () => {
    const t = await now(f);
    const items = [await payment(f, f.payers[2], 1n, { validBefore: t }), await payment(f, f.payers[2], 1n, { validBefore: t })];
    const before = await f.splitter.totalReceived();
    expect(await f.splitter.connect(f.roles.facilitator).settleBatch.staticCall(items)).toBe(0n);
    const receipt = await mined(f.splitter.connect(f.roles.facilitator).settleBatch(items));
    expect(eventsOf(receipt, f.splitter, "PaymentSettled")).toHaveLength(0);
    expect(eventsOf(receipt, f.splitter, "PaymentSkipped")).toHaveLength(2);
    expect(await f.splitter.totalReceived()).toBe(before);
  });

  it("a batch of many good items settles them all", async () => {
    const items = [];
    for (let i = 0; i < 12; i++) items.push(await payment(f, f.payers[i % 3], BigInt(1_000 + i)));
    const before = await f.splitter.totalReceived();
    const receipt = await mined(f.splitter.connect(f.roles.facilitator).settleBatch(items));
    expect(eventsOf(receipt, f.splitter, "PaymentSettled").map((e) => e.args.amount)).toEqual(items.map((i) => i.value));
    expect(await f.splitter.totalReceived()).toBe(before + items.reduce((sum, i) => sum + i.value, 0n));
  });

  it("an empty batch reverts with EmptyBatch", async () => {
    await expectRevert(f.splitter.connect(f.roles.facilitator).settleBatch([]), f.splitter, "EmptyBatch");
  });
});
