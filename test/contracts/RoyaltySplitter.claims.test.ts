// Claims that must not hurt other claimants: a recipient the token refuses (a blacklisted USDC address) is
// skipped by claimMany, and a leaf lowered in a later epoch is covered by the allocation rule.
import { describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import type { RoyaltySplitter } from "../../types/ethers-contracts/index.ts";
import { claimsTree, eventsOf, expectRevert, mined } from "./support.ts";
import { freshStack, postEpoch } from "./fixtures.ts";

describe("claimMany with a recipient the token refuses", () => {
  it("pays the others, skips the blacklisted account with ClaimSkipped, and lets it claim once unlisted", async () => {
    const f = await freshStack();
    const token = await f.ethers.deployContract("BlacklistingToken");
    const config = { ...f.config, token: await token.getAddress() };
    const salt = E.id("blacklist");
    await mined(f.factory.createSplitter(config, salt));
    const splitter = (await f.ethers.getContractAt(
      "RoyaltySplitter",
      await f.factory.predictSplitter(config, salt),
    )) as unknown as RoyaltySplitter;
    await mined(token.getFunction("mint")(await splitter.getAddress(), 1_000_000n));
    const [A, B, C] = f.others.slice(0, 3).map((s) => s.address);
    const tree = claimsTree([
      [A, 100n],
      [B, 200n],
      [C, 300n],
    ]);
    await mined(splitter.connect(f.roles.oracle).postEpoch(1, tree.root, 600n, E.id("r"), ""));
    await f.connection.networkHelpers.mine();
    await mined(token.getFunction("blacklist")(B, true));

    const accounts = [A, B, C];
    const args = [accounts, accounts.map((a) => tree.proofOf(a).amount), accounts.map((a) => tree.proofOf(a).proof)] as const;
    const receipt = await mined(splitter.connect(f.roles.keeper).claimMany(...args));
    expect(eventsOf(receipt, splitter, "Claimed").map((e) => e.args.account)).toEqual([A, C]);
    expect(eventsOf(receipt, splitter, "ClaimSkipped").map((e) => [...e.args])).toEqual([[B, 200n]]);
    expect(await splitter.claimed(B)).toBe(0n);
    expect(await splitter.totalClaimed()).toBe(400n);
    expect(await token.getFunction("balanceOf")(C)).toBe(300n);

    await mined(token.getFunction("blacklist")(B, false));
    await mined(splitter.claim(B, 200n, tree.proofOf(B).proof));
    expect(await token.getFunction("balanceOf")(B)).toBe(200n);
  });
});

describe("a leaf lowered in a later epoch", () => {
  // The rule (README, on-chain part): an epoch's cumulativeAllocated counts, for every account, the larger of
  // its leaf and what it already claimed. The epoch builder never lowers a leaf (amounts only accumulate),
  // so there the two are equal; an oracle that lowers one must still allocate what was already paid.
  it("following the rule, the other claimants are paid in full; the account keeps what it claimed and gets nothing more", async () => {
    const f = await freshStack();
    await mined(f.token.mint(f.splitterAddress, 1_000_000n));
    const [A, B] = f.others.slice(0, 2).map((s) => s.address);
    const first = claimsTree([
      [A, 500n],
      [B, 100n],
    ]);
    await postEpoch(f, 1, first.root, 600n);
    await mined(f.splitter.claim(A, 500n, first.proofOf(A).proof));
    // Epoch 2 lowers A to 300 (already claimed 500) and raises B to 400: allocated = max(300, 500) + 400.
    const second = claimsTree([
      [A, 300n],
      [B, 400n],
    ]);
    await postEpoch(f, 2, second.root, 900n);
    await expectRevert(f.splitter.claim(A, 300n, second.proofOf(A).proof), f.splitter, "NothingToClaim");
    await mined(f.splitter.claim(B, 400n, second.proofOf(B).proof));
    expect(await f.token.balanceOf(B)).toBe(400n);
    expect(await f.token.balanceOf(A)).toBe(500n);
  });

  it("breaking the rule (allocated = sum of leaves) would push A's excess onto B: the contract refuses (OverClaimed)", async () => {
    const f = await freshStack();
    await mined(f.token.mint(f.splitterAddress, 1_000_000n));
    const [A, B] = f.others.slice(0, 2).map((s) => s.address);
    const first = claimsTree([
      [A, 500n],
      [B, 100n],
    ]);
    await postEpoch(f, 1, first.root, 600n);
    await mined(f.splitter.claim(A, 500n, first.proofOf(A).proof));
    const second = claimsTree([
      [A, 300n],
      [B, 400n],
    ]);
    await postEpoch(f, 2, second.root, 700n);
    await expectRevert(f.splitter.claim(B, 400n, second.proofOf(B).proof), f.splitter, "OverClaimed", [700n, 900n]);
  });
});
