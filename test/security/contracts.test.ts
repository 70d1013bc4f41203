// Hostile tokens against RoyaltySplitter (the known defects of payment splitters): a token that calls back into
// the splitter in the middle of a transfer (ERC-777-style hook) cannot re-enter claim, claimMany or the fee withdrawals, and
// cannot make the splitter pay twice; a token that keeps a fee on every transfer is never
// over-credited: totalReceived counts what arrived, the cuts and the pool follow it, an epoch
// allocating the nominal amounts is refused, and everything paid out never exceeds what arrived; the epoch
// builder, given what arrived, builds epochs the splitter accepts. Third-party money (no output) goes to
// the model owner as unattributed revenue at the next epoch.
import { beforeAll, describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import { connectChain, settlementOf, signAuthorization, type Chain } from "../../scripts/shared/stack.ts";
import { claimsTree, expectRevert, mined } from "../contracts/support.ts";
import { buildEpoch, type EpochPayment } from "../../server/epochs/build.ts";
import { PPM, type AttributionRecord } from "../../server/attribution/record.ts";

/** A minimal valid attribution record giving all of an output to `contributor`. */
function recordFor(contributor: string, salt: number): AttributionRecord {
  return {
    algorithm: "royalty402/verbatim-span-surprisal/v1",
    params: { minSpanTokens: 8, maxContributions: 32, tokenizer: "test", weighting: "surprisal-millibits" },
    indexRoot: "0x" + "11".repeat(32),
    outputHash: "0x" + salt.toString(16).padStart(64, "0"),
    promptHash: null,
    outputTokens: 10,
    totalWeight: PPM,
    contributors: [{ address: contributor, ppm: PPM, weight: PPM, tokens: 1 }],
    unattributedPpm: 0,
    unattributedWeight: 0,
    unattributedTokens: 0,
    masked: [],
    spans: [],
  };
}

let chain: Chain;
const OWNER_BPS = 1000;
const PROTOCOL_BPS = 200;
const REENTRANCY = "0x3ee5aeb5"; // ReentrancyGuardReentrantCall()

beforeAll(async () => {
  chain = await connectChain();
});

/** A splitter (factory clone) paid in `token`; roles are distinct signers. */
async function splitterFor(token: E.BaseContract, facilitator?: string) {
  const [, owner, oracle, guardian, protocol, relayer] = chain.signers;
  const factory = await chain.ethers.deployContract("SplitterFactory", [1]);
  const config = {
    token: await token.getAddress(),
    owner: owner.address,
    facilitator: facilitator ?? relayer.address,
    oracle: oracle.address,
    guardian: guardian.address,
    protocolRecipient: protocol.address,
    ownerBps: OWNER_BPS,
    protocolBps: PROTOCOL_BPS,
    challengePeriod: 1,
  };
  const salt = E.id(`security:${Math.random()}`);
  const address = await factory.predictSplitter(config, salt);
  await mined(factory.createSplitter(config, salt));
  const splitter = (await chain.ethers.getContractAt("RoyaltySplitter", address)) as any;
  return { splitter, address, config, roles: { owner, oracle, guardian, protocol, relayer } };
}

/** Posts epoch `n` with these cumulative leaves; returns the proofs. */
async function post(s: Awaited<ReturnType<typeof splitterFor>>, n: number, leaves: Array<[string, bigint]>) {
  const tree = claimsTree(leaves);
  const total = leaves.reduce((a, [, v]) => a + v, 0n);
  await mined(s.splitter.connect(s.roles.oracle).postEpoch(n, tree.root, total, E.id(`records:${n}`), ""));
  await chain.connection.networkHelpers.mine(); // past the one-second challenge period
  return tree;
}

/** The splitter's books: what it paid, what it holds, and that the two add up to what it received. */
async function books(s: Awaited<ReturnType<typeof splitterFor>>, token: any) {
  const [received, claimed, ownerWithdrawn, protocolWithdrawn, balance] = await Promise.all([
    s.splitter.totalReceived(),
    s.splitter.totalClaimed(),
    s.splitter.ownerWithdrawn(),
    s.splitter.protocolWithdrawn(),
    token.balanceOf(s.address),
  ]);
  expect(received).toBe(balance + claimed + ownerWithdrawn + protocolWithdrawn);
  return { received, claimed, ownerWithdrawn, protocolWithdrawn, balance, paidOut: claimed + ownerWithdrawn + protocolWithdrawn } as Record<
    string,
    bigint
  >;
}

describe("re-entrancy through a malicious token's transfer hook", () => {
  async function setup() {
    const token = (await chain.ethers.deployContract("ReentrantToken")) as any;
    const s = await splitterFor(token);
    const [alice, bob] = chain.signers.slice(8, 10);
    await mined(token.mint(s.address, 1_000_000n)); // a plain transfer in: revenue
    const tree = await post(s, 1, [
      [alice.address, 300_000n],
      [bob.address, 200_000n],
    ]);
    const claimData = (who: string) =>
      s.splitter.interface.encodeFunctionData("claim", [who, tree.proofOf(who).amount, tree.proofOf(who).proof]);
    return { token, s, alice, bob, tree, claimData };
  }

  async function expectBlocked(token: any) {
    expect(await token.attempts()).toBe(1n);
    expect(await token.lastSucceeded()).toBe(false);
    expect((await token.lastResult()).slice(0, 10)).toBe(REENTRANCY);
  }

  it("claim re-entering claim for the same account: refused; the account is paid once", async () => {
    const { token, s, alice, tree, claimData } = await setup();
    await mined(token.arm(s.address, true, false, s.address, claimData(alice.address), false));
    await mined(s.splitter.claim(alice.address, tree.proofOf(alice.address).amount, tree.proofOf(alice.address).proof));
    await expectBlocked(token);
    expect(await token.balanceOf(alice.address)).toBe(300_000n);
    expect(await s.splitter.claimed(alice.address)).toBe(300_000n);
    expect((await books(s, token)).claimed).toBe(300_000n);
  });

  it("re-entering claim (other account), claimMany or a fee withdrawal from claim or a withdrawal: all refused, books exact", async () => {
    const { token, s, alice, bob, tree, claimData } = await setup();
    const proof = (who: string) => tree.proofOf(who).proof;
    const claimManyBob = s.splitter.interface.encodeFunctionData("claimMany", [[bob.address], [200_000n], [proof(bob.address)]]);
    const withdrawOwner = s.splitter.interface.encodeFunctionData("withdrawOwnerFees");
    const withdrawProtocol = s.splitter.interface.encodeFunctionData("withdrawProtocolFees");
    // [outer call, the call its transfer makes into the splitter]
    const rounds: Array<[() => Promise<unknown>, string]> = [
      [() => mined(s.splitter.claim(alice.address, 300_000n, proof(alice.address))), claimData(bob.address)],
      [() => mined(s.splitter.withdrawOwnerFees()), claimManyBob],
      [() => mined(s.splitter.withdrawProtocolFees()), withdrawOwner],
      [() => mined(s.splitter.claim(bob.address, 200_000n, proof(bob.address))), withdrawProtocol],
    ];
    for (const [i, [outer, reentry]] of rounds.entries()) {
      await mined(token.arm(s.address, true, false, s.address, reentry, false));
      await outer();
      expect(await token.attempts()).toBe(BigInt(i + 1));
      expect(await token.lastSucceeded()).toBe(false);
      expect((await token.lastResult()).slice(0, 10)).toBe(REENTRANCY);
    }
    // Each was paid once, by its own call.
    expect(await token.balanceOf(alice.address)).toBe(300_000n);
    expect(await token.balanceOf(bob.address)).toBe(200_000n);
    const b = await books(s, token);
    expect(b.claimed).toBe(500_000n);
    expect(b.ownerWithdrawn).toBe((1_000_000n * BigInt(OWNER_BPS)) / 10_000n);
    expect(b.protocolWithdrawn).toBe((1_000_000n * BigInt(PROTOCOL_BPS)) / 10_000n);
    expect(b.balance).toBe(1_000_000n - 500_000n - 100_000n - 20_000n);
  });

  it("a fee withdrawal re-entering claim: refused", async () => {
    const { token, s, alice, claimData } = await setup();
    await mined(token.arm(s.address, true, false, s.address, claimData(alice.address), false));
    await mined(s.splitter.withdrawOwnerFees());
    await expectBlocked(token);
    expect(await s.splitter.claimed(alice.address)).toBe(0n);
    expect(await token.balanceOf(alice.address)).toBe(0n);
  });

  it("a token that bubbles the refused re-entry makes the outer claim revert: nothing paid, nothing recorded", async () => {
    const { token, s, alice, tree, claimData } = await setup();
    await mined(token.arm(s.address, true, false, s.address, claimData(alice.address), true));
    await expectRevert(
      s.splitter.claim(alice.address, tree.proofOf(alice.address).amount, tree.proofOf(alice.address).proof),
      s.splitter,
      "ReentrancyGuardReentrantCall",
    );
    expect(await s.splitter.claimed(alice.address)).toBe(0n);
    expect(await token.balanceOf(alice.address)).toBe(0n);
    expect((await books(s, token)).paidOut).toBe(0n);
  });

  it("a payment's transfer into the splitter calling claim mid-settlement cannot pay beyond the active allocation", async () => {
    const relayer = chain.signers[5];
    const token = (await chain.ethers.deployContract("ReentrantToken")) as any;
    const s = await splitterFor(token, relayer.address);
    const [payer, alice] = [chain.signers[10], chain.signers[11]];
    await mined(token.mint(s.address, 100_000n));
    const tree = await post(s, 1, [[alice.address, 80_000n]]);
    await mined(token.mint(payer.address, 50_000n));
    const domain = {
      name: await token.name(),
      version: await token.version(),
      chainId: chain.chainId,
      verifyingContract: await token.getAddress(),
    };
    const signed = await signAuthorization(payer, domain, { to: s.address, value: 50_000n });
    // Incoming hook: while the payment lands, claim Alice's leaf (and try to claim it again after).
    await mined(
      token.arm(
        s.address,
        false,
        true,
        s.address,
        s.splitter.interface.encodeFunctionData("claim", [alice.address, 80_000n, tree.proofOf(alice.address).proof]),
        false,
      ),
    );
    await mined(s.splitter.connect(relayer).settle(settlementOf(signed)));
    expect(await token.attempts()).toBe(1n);
    // Whether or not the hook's claim went through, Alice holds at most her leaf, paid at most once.
    const paid = await token.balanceOf(alice.address);
    expect(paid === 0n || paid === 80_000n).toBe(true);
    if (paid === 0n) await mined(s.splitter.claim(alice.address, 80_000n, tree.proofOf(alice.address).proof));
    await expectRevert(s.splitter.claim(alice.address, 80_000n, tree.proofOf(alice.address).proof), s.splitter, "NothingToClaim");
    expect(await token.balanceOf(alice.address)).toBe(80_000n);
    const b = await books(s, token);
    expect(b.received).toBe(150_000n);
    expect(b.claimed).toBe(80_000n);
  });
});

describe("fee-on-transfer token: never over-credited", () => {
  const FEE_BPS = 100n; // 1 %

  async function setup() {
    const sink = chain.signers[12];
    const token = (await chain.ethers.deployContract("FeeOnTransferToken", [FEE_BPS, sink.address])) as any;
    const relayer = chain.signers[5];
    const s = await splitterFor(token, relayer.address);
    const domain = {
      name: await token.name(),
      version: await token.version(),
      chainId: chain.chainId,
      verifyingContract: await token.getAddress(),
    };
    return { token, s, relayer, domain };
  }
  const arrived = (value: bigint) => value - (value * FEE_BPS) / 10_000n;

  it("settle, settleBatch and plain transfers: totalReceived, the cuts and the pool count what arrived", async () => {
    const { token, s, relayer, domain } = await setup();
    const payers = chain.signers.slice(13, 16);
    for (const p of payers) await mined(token.mint(p.address, 1_000_000n));
    const one = await signAuthorization(payers[0], domain, { to: s.address, value: 100_000n });
    const receipt = await mined(s.splitter.connect(relayer).settle(settlementOf(one)));
    // The event names the authorized value; the books take what the token delivered.
    const event = receipt.logs
      .map((l: E.Log) => s.splitter.interface.parseLog(l))
      .find((e: E.LogDescription | null) => e?.name === "PaymentSettled");
    expect(event.args.amount).toBe(100_000n);
    expect(await s.splitter.totalReceived()).toBe(arrived(100_000n));

    const batch = [
      await signAuthorization(payers[1], domain, { to: s.address, value: 250_000n }),
      await signAuthorization(payers[2], domain, { to: s.address, value: 333_333n }),
    ];
    await mined(s.splitter.connect(relayer).settleBatch(batch.map((b) => settlementOf(b))));
    await mined(token.connect(payers[0]).transfer(s.address, 10_001n)); // a plain transfer, also taxed
    const received = arrived(100_000n) + arrived(250_000n) + arrived(333_333n) + arrived(10_001n);
    const b = await books(s, token);
    expect(b.received).toBe(received);
    expect(b.balance).toBe(received);
    const fees = (received * BigInt(OWNER_BPS + PROTOCOL_BPS)) / 10_000n;
    expect(await s.splitter.ownerAccrued()).toBe((fees * BigInt(OWNER_BPS)) / BigInt(OWNER_BPS + PROTOCOL_BPS));
    expect(await s.splitter.contributorPool()).toBe(received - fees);
  });

  it("an epoch allocating the nominal (pre-fee) amounts is refused; one allocating what arrived pays out exactly, never more", async () => {
    const { token, s, relayer, domain } = await setup();
    const payer = chain.signers[16];
    await mined(token.mint(payer.address, 10_000_000n));
    const nominal = 1_000_000n;
    await mined(
      s.splitter.connect(relayer).settle(settlementOf(await signAuthorization(payer, domain, { to: s.address, value: nominal }))),
    );
    const [alice, bob] = chain.signers.slice(17, 19);
    const nominalPool = nominal - (nominal * BigInt(OWNER_BPS + PROTOCOL_BPS)) / 10_000n;
    const pool = await s.splitter.contributorPool();
    expect(pool).toBeLessThan(nominalPool);
    const greedy = claimsTree([
      [alice.address, nominalPool / 2n],
      [bob.address, nominalPool - nominalPool / 2n],
    ]);
    await expectRevert(
      s.splitter.connect(s.roles.oracle).postEpoch(1, greedy.root, nominalPool, E.id("records"), ""),
      s.splitter,
      "OverAllocated",
      [pool, nominalPool],
    );

    const tree = await post(s, 1, [
      [alice.address, pool / 2n],
      [bob.address, pool - pool / 2n],
    ]);
    await mined(
      s.splitter.claimMany(
        [alice.address, bob.address],
        [pool / 2n, pool - pool / 2n],
        [tree.proofOf(alice.address).proof, tree.proofOf(bob.address).proof],
      ),
    );
    await mined(s.splitter.withdrawOwnerFees());
    await mined(s.splitter.withdrawProtocolFees());
    const b = await books(s, token);
    // Everything that arrived went out, to the unit; nothing more.
    expect(b.paidOut).toBe(b.received);
    expect(b.balance).toBe(0n);
    expect(b.received).toBe(arrived(nominal));
    // The recipients bore the token's fee on the way out; the splitter never paid from others' money.
    expect(await token.balanceOf(alice.address)).toBe(arrived(pool / 2n));
  });

  it("the epoch builder given what arrived builds an epoch the splitter accepts (on the nominal amounts it is refused)", async () => {
    const { token, s, relayer, domain } = await setup();
    const payer = chain.signers[16];
    await mined(token.mint(payer.address, 10_000_000n));
    const contributor = chain.signers[17].address;
    const payments: EpochPayment[] = [];
    for (const [i, value] of [300_000n, 700_001n].entries()) {
      const item = settlementOf(await signAuthorization(payer, domain, { to: s.address, value }));
      await mined(s.splitter.connect(relayer).settle(item));
      payments.push({ outputId: item.outputId, amount: value, record: recordFor(contributor, i) });
    }
    const input = { epoch: 1, ownerBps: OWNER_BPS, protocolBps: PROTOCOL_BPS, modelOwner: s.roles.owner.address, payments };
    const nominal = buildEpoch(input);
    const oracle = s.splitter.connect(s.roles.oracle);
    await expectRevert(
      oracle.postEpoch(1, nominal.claims.root, nominal.cumulativeAllocated, nominal.records.root, ""),
      s.splitter,
      "OverAllocated",
    );
    const doc = buildEpoch({ ...input, received: await s.splitter.totalReceived() });
    expect(BigInt(doc.cumulativeAllocated)).toBe(await s.splitter.contributorPool());
    await mined(oracle.postEpoch(1, doc.claims.root, doc.cumulativeAllocated, doc.records.root, ""));
  });
});

describe("third-party payments (no output)", () => {
  it("money that reached the splitter without an output goes to the model owner as unattributed revenue at the next epoch", async () => {
    const token = await chain.ethers.deployContract("TestUSDC");
    const s = await splitterFor(token);
    const [payer, contributor] = chain.signers.slice(13, 15);
    await mined((token as any).mint(payer.address, 10_000_000n));
    const domain = { name: "USD Coin", version: "2", chainId: chain.chainId, verifyingContract: await token.getAddress() };
    const item = settlementOf(await signAuthorization(payer, domain, { to: s.address, value: 1_000_000n }));
    await mined(s.splitter.connect(s.roles.relayer).settle(item));
    // A stock x402 facilitator's plain transferWithAuthorization: no PaymentSettled, no output.
    const plain = await signAuthorization(payer, domain, { to: s.address, value: 500_000n });
    const a = plain.auth;
    await mined(
      (token as any)["transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)"](
        a.from,
        a.to,
        a.value,
        a.validAfter,
        a.validBefore,
        a.nonce,
        plain.signature,
      ),
    );

    const owner = s.roles.owner.address;
    const payments: EpochPayment[] = [{ outputId: item.outputId, amount: 1_000_000n, record: recordFor(contributor.address, 1) }];
    const doc = buildEpoch({
      epoch: 1,
      ownerBps: OWNER_BPS,
      protocolBps: PROTOCOL_BPS,
      modelOwner: owner,
      payments,
      received: await s.splitter.totalReceived(),
    });
    const pool = await s.splitter.contributorPool();
    expect(BigInt(doc.cumulativeAllocated)).toBe(pool); // nothing left unallocated
    const leaf = (account: string) =>
      BigInt(doc.claims.leaves.find((l) => l.account.toLowerCase() === account.toLowerCase())?.cumulativeAmount ?? "0");
    // Weighted 1_000_000 (the paid output's contributor) to 500_000 (the owner, for the plain transfer).
    expect(leaf(contributor.address)).toBe((pool * 2n + 2n) / 3n);
    expect(leaf(owner)).toBe(pool - leaf(contributor.address));
    await mined(s.splitter.connect(s.roles.oracle).postEpoch(1, doc.claims.root, doc.cumulativeAllocated, doc.records.root, ""));
  });
});
