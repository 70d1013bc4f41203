// RoyaltySplitter under adversarial inputs: a gas-burning ERC-1271 payer inside a batch, revenue
// beyond uint128, a claims leaf for the splitter itself, and a front-run settlement.
import { describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import { signAuthorization, settlementOf } from "../../scripts/shared/stack.ts";
import type { GasBurningWallet, RoyaltySplitter } from "../../types/ethers-contracts/index.ts";
import { claimsTree, eventsOf, expectRevert, mined, now } from "./support.ts";
import { freshStack, payment, postEpoch } from "./fixtures.ts";

const TWA_BYTES = "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)";

describe("settleBatch with a gas-burning ERC-1271 payer", () => {
  it("skips the burner and settles the rest within a generous gas limit (spec: one bad item never reverts the batch)", async () => {
    const f = await freshStack();
    const keyHolder = f.others[0];
    const wallet = (await f.ethers.deployContract("GasBurningWallet", [keyHolder.address])) as unknown as GasBurningWallet;
    const walletAddress = await wallet.getAddress();
    await mined(f.token.mint(walletAddress, 1_000n));
    const facilitator = f.splitter.connect(f.roles.facilitator);

    // The wallet's authorization verifies (as a facilitator would simulate it) ...
    const signed = await signAuthorization(
      keyHolder,
      f.domain,
      { from: walletAddress, to: f.splitterAddress, value: 1_000n },
      await now(f),
    );
    const burner = settlementOf(signed);
    await facilitator.settle.staticCall(burner);
    // ... then the payer arms its wallet before the batch lands.
    await mined(wallet.arm(true));

    const good = [];
    for (let i = 0; i < 6; i++) good.push(await payment(f, f.payers[i % 4], 10_000n));
    // Reference: the same number of good items settles in a fraction of the limit used below.
    const reference = [];
    for (let i = 0; i < 7; i++) reference.push(await payment(f, f.payers[i % 4], 1n));
    const referenceGas = (await mined(facilitator.settleBatch(reference))).gasUsed;
    const gasLimit = 1_500_000n;
    expect(referenceGas * 3n < gasLimit).toBe(true);

    const receivedBefore = await f.splitter.totalReceived();
    const receipt = await mined(facilitator.settleBatch([burner, ...good], { gasLimit }));
    expect(eventsOf(receipt, f.splitter, "PaymentSettled")).toHaveLength(6);
    const skipped = eventsOf(receipt, f.splitter, "PaymentSkipped");
    expect(skipped.map((e) => e.args.payer)).toEqual([walletAddress]);
    expect(await f.splitter.totalReceived()).toBe(receivedBefore + 60_000n);
  });
});

describe("amounts beyond uint128", () => {
  it("withdrawOwnerFees never pays the owner more than its cut, however large the revenue", async () => {
    const f = await freshStack({ ownerBps: 5000, protocolBps: 0, protocolRecipient: E.ZeroAddress });
    const revenue = 2n ** 130n; // absurd for USDC, but TestUSDC (and any 18-decimals token) allows it
    await mined(f.token.mint(f.splitterAddress, revenue));
    expect(await f.splitter.ownerAccrued()).toBe(revenue / 2n);
    // Withdraw twice (a revert is acceptable; overpaying is not).
    for (let i = 0; i < 2; i++)
      await f.splitter
        .withdrawOwnerFees()
        .then((tx) => tx.wait())
        .catch(() => undefined);
    const ownerGot = await f.token.balanceOf(f.roles.owner.address);
    expect(ownerGot <= revenue / 2n).toBe(true);
    // The contributors' half is still there.
    expect((await f.token.balanceOf(f.splitterAddress)) >= revenue / 2n).toBe(true);
  });

  it("postEpoch never records an allocation other than the one posted", async () => {
    const f = await freshStack({ ownerBps: 0, protocolBps: 0, protocolRecipient: E.ZeroAddress });
    await mined(f.token.mint(f.splitterAddress, 2n ** 129n));
    const allocation = 2n ** 128n + 5n;
    const posted = await f.splitter
      .connect(f.roles.oracle)
      .postEpoch(1, E.id("claims"), allocation, E.id("records"), "")
      .then((tx) => tx.wait())
      .then(() => true)
      .catch(() => false);
    // Refusing is acceptable; recording a truncated allocation (5) is not.
    if (posted) expect((await f.splitter.activeEpoch()).cumulativeAllocated).toBe(allocation);
    else expect((await f.splitter.activeEpoch()).epoch).toBe(0n);
  });
});

describe("a claims leaf for the splitter's own address", () => {
  it("cannot turn allocated money into phantom revenue (totalReceived stays what payers paid)", async () => {
    const f = await freshStack();
    await mined(f.token.mint(f.splitterAddress, 1_000_000n));
    const contributor = f.others[0].address;
    const tree = claimsTree([
      [f.splitterAddress, 880_000n],
      [contributor, 0n],
    ]);
    await postEpoch(f, 1, tree.root, 880_000n);
    // Refusing the claim is acceptable; paying the splitter itself must not count as money received.
    await f.splitter
      .claim(f.splitterAddress, 880_000n, tree.proofOf(f.splitterAddress).proof)
      .then((tx) => tx.wait())
      .catch(() => undefined);
    expect(await f.token.balanceOf(f.splitterAddress)).toBe(1_000_000n);
    expect(await f.splitter.totalReceived()).toBe(1_000_000n);
    expect(await f.splitter.ownerAccrued()).toBe(100_000n);
    expect(await f.splitter.protocolAccrued()).toBe(20_000n);
  });
});

describe("front-running a settlement", () => {
  it("if someone submits the authorization to the token first, settle reverts but the payment still counts", async () => {
    const f = await freshStack();
    const item = await payment(f, f.payers[0], 4_242n);
    await mined(
      f.token
        .connect(f.others[3])
        [TWA_BYTES](item.from, f.splitterAddress, item.value, item.validAfter, item.validBefore, item.nonce, item.signature),
    );
    await expectRevert(f.splitter.connect(f.roles.facilitator).settle(item), f.token, "AuthorizationUsedOrCanceled", [
      item.from,
      item.nonce,
    ]);
    expect(await f.splitter.totalReceived()).toBe(4_242n);
    const splitter: RoyaltySplitter = f.splitter;
    expect(await splitter.contributorPool()).toBe(4_242n - 509n); // cuts: floor(4_242 * 12%) = 509
  });
});

describe("settleBatch under a tight gas limit", () => {
  it("settleBatch never starts an item without its whole allowance: short of gas it reverts (BatchOutOfGas), moving nothing", async () => {
    const f = await freshStack();
    const facilitator = f.splitter.connect(f.roles.facilitator);
    const good = await payment(f, f.payers[0], 5_000n);
    await expectRevert(facilitator.settleBatch([good], { gasLimit: 150_000n }), f.splitter, "BatchOutOfGas", [0n]);
    expect(await f.token.authorizationState(good.from, good.nonce)).toBe(false);
    // The node's estimate covers every item's allowance, so callers that estimate never see it.
    expect(eventsOf(await mined(facilitator.settleBatch([good])), f.splitter, "PaymentSettled")).toHaveLength(1);
  });

  it("settleBatchWithGas caps each item at the relayer's choice and defers what the gas limit cannot cover", async () => {
    const f = await freshStack();
    const facilitator = f.splitter.connect(f.roles.facilitator);
    await expectRevert(facilitator.settleBatchWithGas([await payment(f, f.payers[0], 1n)], 79_999n), f.splitter, "ItemGasTooLow", [
      79_999n,
      80_000n,
    ]);

    const keyHolder = f.others[0];
    const wallet = (await f.ethers.deployContract("GasBurningWallet", [keyHolder.address])) as unknown as GasBurningWallet;
    const walletAddress = await wallet.getAddress();
    await mined(f.token.mint(walletAddress, 1_000n));
    await mined(wallet.arm(true));
    const signed = await signAuthorization(
      keyHolder,
      f.domain,
      { from: walletAddress, to: f.splitterAddress, value: 1_000n },
      await now(f),
    );
    const burner = settlementOf(signed);
    const next = await payment(f, f.payers[1], 5_000n);
    const last = await payment(f, f.payers[2], 6_000n);

    // 100k per item: the burner burns exactly its cap and is skipped; the honest items settle.
    const ok = await mined(facilitator.settleBatchWithGas([burner, next], 100_000n, { gasLimit: 400_000n }));
    expect(ok.gasUsed < 300_000n).toBe(true);
    expect(eventsOf(ok, f.splitter, "PaymentSkipped").map((e) => e.args.payer)).toEqual([walletAddress]);
    expect(eventsOf(ok, f.splitter, "PaymentSettled").map((e) => e.args.payer)).toEqual([next.from]);

    // A limit that covers one item: the transaction succeeds, the rest is deferred (not skipped, not reverted).
    const again = await payment(f, f.payers[3], 7_000n);
    const partial = await mined(facilitator.settleBatchWithGas([again, last], 100_000n, { gasLimit: 200_000n }));
    expect(eventsOf(partial, f.splitter, "PaymentSettled").map((e) => e.args.payer)).toEqual([again.from]);
    expect(eventsOf(partial, f.splitter, "PaymentsDeferred").map((e) => [...e.args])).toEqual([[1n, 1n]]);
    expect(await f.token.authorizationState(last.from, last.nonce)).toBe(false); // intact: it can be settled later
  });
});
