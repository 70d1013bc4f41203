// Every verify path of the embedded facilitator, in the reference order, against real
// contracts on the in-process chain and real EIP-712 signatures.
import { beforeAll, describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import { Reason } from "../../server/facilitator/index.ts";
import { signatureStats } from "../../server/facilitator/signature.ts";
import { fundedWallet, pay, x402Stack, type X402Stack } from "../x402/support/stack.ts";

let s: X402Stack;
let payer: E.Wallet;

beforeAll(async () => {
  s = await x402Stack();
  payer = await fundedWallet(s);
});

const now = () => BigInt(Math.floor(Date.now() / 1000));

describe("facilitator verify", () => {
  it("accepts a well-formed payment and names the payer", async () => {
    const req = s.requirements();
    const result = await s.facilitator.verify(await pay(payer, req), req);
    expect(result).toMatchObject({ isValid: true, payer: payer.address });
  });

  it("refuses a malformed payload with invalid_payload", async () => {
    const req = s.requirements();
    const payment = await pay(payer, req);
    (payment.payload.authorization as Record<string, unknown>).value = "12.5";
    expect((await s.facilitator.verify(payment, req)).invalidReason).toBe(Reason.invalidPayload);
    expect((await s.facilitator.verify({ x402Version: 2 } as never, req)).invalidReason).toBe(Reason.invalidPayload);
  });

  it("checks scheme, domain and network before the signature", async () => {
    const req = s.requirements();
    const payment = await pay(payer, req, { accepted: { scheme: "upto" } });
    expect((await s.facilitator.verify(payment, req)).invalidReason).toBe(Reason.scheme);
    const noDomain = s.requirements({ extra: {} });
    expect((await s.facilitator.verify(await pay(payer, req), noDomain)).invalidReason).toBe(Reason.missingDomain);
    const otherNet = await pay(payer, req, { accepted: { network: "eip155:8453" } });
    expect((await s.facilitator.verify(otherNet, req)).invalidReason).toBe(Reason.networkMismatch);
    const base = s.requirements({ network: "eip155:8453" });
    expect((await s.facilitator.verify(await pay(payer, base), base)).invalidReason).toBe(Reason.networkMismatch);
  });

  it("spends no JS signature recovery on the happy path: the simulation checks the signature on-chain", async () => {
    const req = s.requirements();
    const payments = await Promise.all([0, 1, 2].map(async () => pay(await fundedWallet(s, 100_000n), req)));
    const before = signatureStats.recoveries;
    const verdicts = await Promise.all(payments.map((p) => s.facilitator.verify(p, req)));
    expect(verdicts.every((v) => v.isValid)).toBe(true);
    // settle trusts what the simulation vouched for, and the batch settles every one.
    const settled = await Promise.all(payments.map((p) => s.facilitator.settle(p, req)));
    expect(settled.every((r) => r.success)).toBe(true);
    expect(signatureStats.recoveries - before).toBe(0);
    // settle took each vouch out (they are not kept once used): settled again, the same payment is
    // checked in JS, then answered from the batch's recorded outcome.
    expect((await s.facilitator.settle(payments[0], req)).success).toBe(true);
    expect(signatureStats.recoveries - before).toBe(1);
    // A payment settle has not seen verified is still checked in JS before anything is sent.
    const unverified = await pay(await fundedWallet(s, 100_000n), req);
    expect((await s.facilitator.settle(unverified, req)).success).toBe(true);
    expect(signatureStats.recoveries - before).toBe(2);
  });

  it("names a bad signature before any later failure, as the reference orders them", async () => {
    const req = s.requirements();
    const stranger = E.Wallet.createRandom();
    // forged AND expiring AND underpaying: the reference reports the signature first
    const forged = await pay(stranger, req, { from: payer.address, validBefore: now() + 2n, value: 1n });
    expect((await s.facilitator.verify(forged, req)).invalidReason).toBe(Reason.signature);
    // forged AND sent elsewhere
    const elsewhere = await pay(stranger, req, { from: payer.address, to: s.roles.keeper.address });
    expect((await s.facilitator.verify(elsewhere, req)).invalidReason).toBe(Reason.signature);
    // a forged payment that would otherwise pass the cheap checks fails the simulation, then is named
    expect((await s.facilitator.verify(await pay(stranger, req, { from: payer.address }), req)).invalidReason).toBe(Reason.signature);
  });

  it("refuses a signature by anyone but `from`, and a tampered one", async () => {
    const req = s.requirements();
    const stranger = E.Wallet.createRandom();
    const forged = await pay(stranger, req, { from: payer.address });
    expect((await s.facilitator.verify(forged, req)).invalidReason).toBe(Reason.signature);
    const tampered = await pay(payer, req);
    (tampered.payload.authorization as Record<string, string>).value = "10001";
    expect((await s.facilitator.verify(tampered, s.requirements({ amount: "10001" }))).invalidReason).toBe(Reason.signature);
  });

  it("checks recipient, time window and value, in that order", async () => {
    const req = s.requirements();
    const elsewhere = await pay(payer, req, { to: s.roles.keeper.address });
    expect((await s.facilitator.verify(elsewhere, req)).invalidReason).toBe(Reason.recipientMismatch);
    const expiring = await pay(payer, req, { validBefore: now() + 3n });
    expect((await s.facilitator.verify(expiring, req)).invalidReason).toBe(Reason.validBefore);
    const future = await pay(payer, req, { validAfter: now() + 600n });
    expect((await s.facilitator.verify(future, req)).invalidReason).toBe(Reason.validAfter);
    const cheap = await pay(payer, req, { value: 9999n });
    expect((await s.facilitator.verify(cheap, req)).invalidReason).toBe(Reason.valueMismatch);
  });

  it("reads nonce state and balance on-chain", async () => {
    const req = s.requirements();
    const payment = await pay(payer, req);
    const settled = await s.facilitator.settle(payment, req);
    expect(settled.success).toBe(true);
    expect((await s.facilitator.verify(payment, req)).invalidReason).toBe(Reason.nonceUsed);
    const broke = E.Wallet.createRandom();
    expect((await s.facilitator.verify(await pay(broke, req), req)).invalidReason).toBe(Reason.insufficientBalance);
  });

  it("compares the requirements' EIP-712 domain with the token's", async () => {
    const wrongName = s.requirements({ extra: { name: "USDC", version: "2" } });
    expect((await s.facilitator.verify(await pay(payer, wrongName), wrongName)).invalidReason).toBe(Reason.tokenNameMismatch);
    const wrongVersion = s.requirements({ extra: { name: "USD Coin", version: "1" } });
    expect((await s.facilitator.verify(await pay(payer, wrongVersion), wrongVersion)).invalidReason).toBe(Reason.tokenVersionMismatch);
  });

  it("refuses an asset without EIP-3009", async () => {
    const req = s.requirements({ asset: await s.factory.getAddress() });
    expect((await s.facilitator.verify(await pay(payer, req), req)).invalidReason).toBe(Reason.eip3009NotSupported);
  });

  it("simulates the settlement: a paused splitter fails simulation", async () => {
    const req = s.requirements();
    await (await s.splitter.connect(s.roles.guardian).setSettlementPaused(true)).wait();
    try {
      expect((await s.facilitator.verify(await pay(payer, req), req)).invalidReason).toBe(Reason.simulationFailed);
    } finally {
      await (await s.splitter.connect(s.roles.guardian).setSettlementPaused(false)).wait();
    }
    expect((await s.facilitator.verify(await pay(payer, req), req)).isValid).toBe(true);
  });

  it("accepts an ERC-1271 contract wallet's signature and refuses a wrong one", async () => {
    const owner = E.Wallet.createRandom();
    const wallet = await s.ethers.deployContract("ERC1271Wallet", [owner.address]);
    const walletAddress = await wallet.getAddress();
    await (await s.token.mint(walletAddress, 1_000_000n)).wait();
    const req = s.requirements();
    const asWallet = { address: walletAddress, signTypedData: owner.signTypedData.bind(owner) };
    expect(await s.facilitator.verify(await pay(asWallet, req), req)).toMatchObject({ isValid: true, payer: walletAddress });
    const intruder = E.Wallet.createRandom();
    const bad = { address: walletAddress, signTypedData: intruder.signTypedData.bind(intruder) };
    expect((await s.facilitator.verify(await pay(bad, req), req)).invalidReason).toBe(Reason.signature);
  });

  it("combines concurrent simulations into one eth_call, and still names the one bad payment", async () => {
    const req = s.requirements();
    const payers = await Promise.all(Array.from({ length: 12 }, () => fundedWallet(s, 20_000n)));
    const payments = await Promise.all(payers.map((p) => pay(p, req)));
    const calls = s.facilitator.simulator.calls;
    const results = await Promise.all(payments.map((p) => s.facilitator.verify(p, req)));
    expect(results.every((r) => r.isValid)).toBe(true);
    expect(s.facilitator.simulator.calls - calls).toBeLessThanOrEqual(2);
    const broke = await fundedWallet(s, 1n);
    const mixed = await Promise.all([...payments.slice(0, 5), await pay(broke, req)].map((p) => s.facilitator.verify(p, req)));
    expect(mixed.map((r) => r.invalidReason ?? "ok")).toEqual(["ok", "ok", "ok", "ok", "ok", Reason.insufficientBalance]);
  });

  it("advertises its kind and relayer", async () => {
    expect(await s.facilitator.getSupported()).toEqual({
      kinds: [
        { x402Version: 2, scheme: "exact", network: s.network },
        { x402Version: 2, scheme: "upto", network: s.network },
      ],
      extensions: ["eip2612GasSponsoring", "bazaar", "payment-identifier"],
      signers: { "eip155:*": [s.relayer.address] },
    });
  });
});
