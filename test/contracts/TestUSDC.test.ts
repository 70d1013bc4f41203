// TestUSDC: USDC's metadata and EIP-712 domain, deployer-only mint, EIP-3009 (both signature
// overloads, EOA and ERC-1271 signers, every failure) and EIP-2612 permit.
import { beforeAll, describe, expect, it } from "vitest";
import { ethers as E } from "ethers";
import { deployStack, signAuthorization, tokenDomain, vrs, type Stack } from "../../scripts/shared/stack.ts";
import type { ERC1271Wallet } from "../../types/ethers-contracts/index.ts";
import {
  RECEIVE_WITH_AUTHORIZATION_TYPES,
  eventsOf,
  expectRevert,
  mined,
  now,
  randomNonce,
  setNextTimestamp,
  signCancel,
  signPermit,
} from "./support.ts";

const TWA_VRS = "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)";
const TWA_BYTES = "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)";
const RWA_VRS = "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)";
const RWA_BYTES = "receiveWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)";
const CANCEL_VRS = "cancelAuthorization(address,bytes32,uint8,bytes32,bytes32)";
const CANCEL_BYTES = "cancelAuthorization(address,bytes32,bytes)";
const PERMIT_VRS = "permit(address,address,uint256,uint256,uint8,bytes32,bytes32)";
const PERMIT_BYTES = "permit(address,address,uint256,uint256,bytes)";

let s: Stack;
let domain: E.TypedDataDomain;
let payer: Stack["payers"][number];
let payee: Stack["payers"][number];
let relayer: Stack["roles"]["keeper"];
let stranger: Stack["payers"][number];

beforeAll(async () => {
  s = await deployStack();
  domain = await tokenDomain(s.token, s.chainId);
  [payer, payee, stranger] = s.payers;
  relayer = s.roles.keeper;
});

const balance = (a: string) => s.token.balanceOf(a);

/** A TransferWithAuthorization signed by `payer` for `value` to `to`, valid for an hour of chain time. */
async function signedTransfer(to: string, value: bigint, extra: Record<string, unknown> = {}, signer = payer) {
  return signAuthorization(signer, domain, { to, value, ...extra }, await now(s));
}

async function signReceive(
  signer: typeof payer,
  a: { from: string; to: string; value: bigint; validAfter: bigint; validBefore: bigint; nonce: string },
) {
  return signer.signTypedData(domain, RECEIVE_WITH_AUTHORIZATION_TYPES, a);
}

describe("metadata and EIP-712 domain", () => {
  it("looks like USDC: name, symbol, 6 decimals, version 2", async () => {
    expect(await s.token.name()).toBe("USD Coin");
    expect(await s.token.symbol()).toBe("USDC");
    expect(await s.token.decimals()).toBe(6n);
    expect(await s.token.version()).toBe("2");
  });

  it("DOMAIN_SEPARATOR is ethers' hashDomain of (USD Coin, 2, chainId, token)", async () => {
    const expected = E.TypedDataEncoder.hashDomain({
      name: "USD Coin",
      version: "2",
      chainId: s.chainId,
      verifyingContract: await s.token.getAddress(),
    });
    expect(await s.token.DOMAIN_SEPARATOR()).toBe(expected);
    const d = await s.token.eip712Domain();
    expect(d.name).toBe("USD Coin");
    expect(d.version).toBe("2");
    expect(d.chainId).toBe(s.chainId);
    expect(d.verifyingContract).toBe(await s.token.getAddress());
  });

  it("exposes the EIP-3009 / EIP-2612 type hashes", async () => {
    expect(await s.token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH()).toBe(
      E.id("TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"),
    );
    expect(await s.token.RECEIVE_WITH_AUTHORIZATION_TYPEHASH()).toBe(
      E.id("ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"),
    );
    expect(await s.token.CANCEL_AUTHORIZATION_TYPEHASH()).toBe(E.id("CancelAuthorization(address authorizer,bytes32 nonce)"));
    expect(await s.token.PERMIT_TYPEHASH()).toBe(
      E.id("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
    );
  });
});

describe("mint", () => {
  it("the deployer mints; supply and balance grow by exactly the amount", async () => {
    expect(await s.token.minter()).toBe(s.roles.deployer.address);
    const supply = await s.token.totalSupply();
    const before = await balance(stranger.address);
    const receipt = await mined(s.token.mint(stranger.address, 123_456n));
    expect(await balance(stranger.address)).toBe(before + 123_456n);
    expect(await s.token.totalSupply()).toBe(supply + 123_456n);
    const [t] = eventsOf(receipt, s.token, "Transfer");
    expect([t.args.from, t.args.to, t.args.value]).toEqual([E.ZeroAddress, stranger.address, 123_456n]);
  });

  it("anyone else is refused with NotMinter", async () => {
    await expectRevert(s.token.connect(s.roles.owner).mint(s.roles.owner.address, 1n), s.token, "NotMinter");
    await expectRevert(s.token.connect(payer).mint(payer.address, 1n), s.token, "NotMinter");
  });
});

describe("transferWithAuthorization", () => {
  it("(v,r,s) overload: a relayer submits, tokens move from payer to payee, nonce is used", async () => {
    const signed = await signedTransfer(payee.address, 1_500_000n);
    const { auth } = signed;
    const [fromBefore, toBefore, relayerBefore] = await Promise.all([
      balance(payer.address),
      balance(payee.address),
      balance(relayer.address),
    ]);
    expect(await s.token.authorizationState(payer.address, auth.nonce)).toBe(false);
    const { v, r, s: sig } = vrs(signed.signature);
    const receipt = await mined(
      s.token.connect(relayer)[TWA_VRS](auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce, v, r, sig),
    );
    expect(await balance(payer.address)).toBe(fromBefore - 1_500_000n);
    expect(await balance(payee.address)).toBe(toBefore + 1_500_000n);
    expect(await balance(relayer.address)).toBe(relayerBefore);
    expect(await s.token.authorizationState(payer.address, auth.nonce)).toBe(true);
    const [used] = eventsOf(receipt, s.token, "AuthorizationUsed");
    expect([used.args.authorizer, used.args.nonce]).toEqual([payer.address, auth.nonce]);
    const [t] = eventsOf(receipt, s.token, "Transfer");
    expect([t.args.from, t.args.to, t.args.value]).toEqual([payer.address, payee.address, 1_500_000n]);
  });

  it("bytes overload: same effect, and the nonce cannot be replayed on either overload", async () => {
    const signed = await signedTransfer(payee.address, 7n);
    const { auth, signature } = signed;
    const toBefore = await balance(payee.address);
    await mined(
      s.token.connect(relayer)[TWA_BYTES](auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce, signature),
    );
    expect(await balance(payee.address)).toBe(toBefore + 7n);
    expect(await s.token.authorizationState(payer.address, auth.nonce)).toBe(true);

    const args = [auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce] as const;
    await expectRevert(s.token.connect(relayer)[TWA_BYTES](...args, signature), s.token, "AuthorizationUsedOrCanceled", [
      payer.address,
      auth.nonce,
    ]);
    const { v, r, s: sig } = vrs(signature);
    await expectRevert(s.token.connect(relayer)[TWA_VRS](...args, v, r, sig), s.token, "AuthorizationUsedOrCanceled", [
      payer.address,
      auth.nonce,
    ]);
    expect(await balance(payee.address)).toBe(toBefore + 7n);
  });

  it("is not valid at validAfter itself, valid one second later", async () => {
    const t = (await now(s)) + 100n;
    const signed = await signedTransfer(payee.address, 5n, { validAfter: t, validBefore: t + 1000n });
    const { auth, signature } = signed;
    const args = [auth.from, auth.to, auth.value, auth.validAfter, auth.validBefore, auth.nonce, signature] as const;
    await setNextTimestamp(s, t);
    await expectRevert(s.token.connect(relayer)[TWA_BYTES](...args), s.token, "AuthorizationNotYetValid", [t]);
    expect(await s.token.authorizationState(payer.address, auth.nonce)).toBe(false);
    await setNextTimestamp(s, t + 1n);
    await mined(s.token.connect(relayer)[TWA_BYTES](...args));
    expect(await s.token.authorizationState(payer.address, auth.nonce)).toBe(true);
  });

  it("is expired at validBefore itself, valid one second before", async () => {
    const t = (await now(s)) + 100n;
    const late = await signedTransfer(payee.address, 5n, { validBefore: t });
    const a = late.auth;
    await setNextTimestamp(s, t);
    await expectRevert(
      s.token.connect(relayer)[TWA_BYTES](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, late.signature),
      s.token,
      "AuthorizationExpired",
      [t],
    );
    const onTime = await signedTransfer(payee.address, 5n, { validBefore: t + 2n });
    const b = onTime.auth;
    await setNextTimestamp(s, t + 1n);
    await mined(s.token.connect(relayer)[TWA_BYTES](b.from, b.to, b.value, b.validAfter, b.validBefore, b.nonce, onTime.signature));
    expect(await s.token.authorizationState(payer.address, b.nonce)).toBe(true);
  });

  it("rejects a signature by someone other than `from` (InvalidSignature), leaving the nonce unused", async () => {
    const forged = await signAuthorization(stranger, domain, { from: payer.address, to: stranger.address, value: 10n }, await now(s));
    const a = forged.auth;
    await expectRevert(
      s.token.connect(stranger)[TWA_BYTES](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, forged.signature),
      s.token,
      "InvalidSignature",
    );
    const { v, r, s: sig } = vrs(forged.signature);
    await expectRevert(
      s.token.connect(stranger)[TWA_VRS](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, v, r, sig),
      s.token,
      "InvalidSignature",
    );
    expect(await s.token.authorizationState(payer.address, a.nonce)).toBe(false);
  });

  it("rejects tampered fields, a foreign chain's domain, a ReceiveWithAuthorization signature and junk bytes", async () => {
    const signed = await signedTransfer(payee.address, 100n);
    const a = signed.auth;
    const send = (value: bigint, to: string, sig: string) =>
      s.token.connect(relayer)[TWA_BYTES](a.from, to, value, a.validAfter, a.validBefore, a.nonce, sig);
    await expectRevert(send(101n, a.to, signed.signature), s.token, "InvalidSignature");
    await expectRevert(send(100n, relayer.address, signed.signature), s.token, "InvalidSignature");

    const otherChain = await signAuthorization(
      payer,
      { ...domain, chainId: 1n },
      { to: payee.address, value: 100n, nonce: a.nonce, validBefore: a.validBefore },
    );
    await expectRevert(send(100n, a.to, otherChain.signature), s.token, "InvalidSignature");

    const receiveSig = await signReceive(payer, a);
    await expectRevert(send(100n, a.to, receiveSig), s.token, "InvalidSignature");

    await expectRevert(send(100n, a.to, E.hexlify(E.randomBytes(64))), s.token, "InvalidSignature");
    await expectRevert(send(100n, a.to, "0x"), s.token, "InvalidSignature");
    expect(await s.token.authorizationState(payer.address, a.nonce)).toBe(false);
    // The genuine signature still works afterwards.
    await mined(send(100n, a.to, signed.signature));
    expect(await s.token.authorizationState(payer.address, a.nonce)).toBe(true);
  });

  it("reverts on a short balance without consuming the nonce", async () => {
    const poor = s.others[0];
    const signed = await signAuthorization(poor, domain, { to: payee.address, value: 1n }, await now(s));
    const a = signed.auth;
    await expectRevert(
      s.token.connect(relayer)[TWA_BYTES](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, signed.signature),
      s.token,
      "ERC20InsufficientBalance",
      [poor.address, 0n, 1n],
    );
    expect(await s.token.authorizationState(poor.address, a.nonce)).toBe(false);
  });
});

describe("receiveWithAuthorization", () => {
  async function signedReceive(value: bigint) {
    const t = await now(s);
    const a = { from: payer.address, to: payee.address, value, validAfter: 0n, validBefore: t + 3600n, nonce: randomNonce() };
    return { a, signature: await signReceive(payer, a) };
  }

  it("(v,r,s) overload: the payee submits and receives", async () => {
    const { a, signature } = await signedReceive(250n);
    const before = await balance(payee.address);
    const { v, r, s: sig } = vrs(signature);
    const receipt = await mined(s.token.connect(payee)[RWA_VRS](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, v, r, sig));
    expect(await balance(payee.address)).toBe(before + 250n);
    expect(await s.token.authorizationState(payer.address, a.nonce)).toBe(true);
    expect(eventsOf(receipt, s.token, "AuthorizationUsed")).toHaveLength(1);
  });

  it("bytes overload: the payee submits and receives; a replay is refused", async () => {
    const { a, signature } = await signedReceive(251n);
    const before = await balance(payee.address);
    const args = [a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, signature] as const;
    await mined(s.token.connect(payee)[RWA_BYTES](...args));
    expect(await balance(payee.address)).toBe(before + 251n);
    await expectRevert(s.token.connect(payee)[RWA_BYTES](...args), s.token, "AuthorizationUsedOrCanceled", [payer.address, a.nonce]);
  });

  it("anyone but the payee is refused with CallerNotPayee, on both overloads", async () => {
    const { a, signature } = await signedReceive(9n);
    const args = [a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce] as const;
    await expectRevert(s.token.connect(relayer)[RWA_BYTES](...args, signature), s.token, "CallerNotPayee", [
      relayer.address,
      payee.address,
    ]);
    const { v, r, s: sig } = vrs(signature);
    await expectRevert(s.token.connect(payer)[RWA_VRS](...args, v, r, sig), s.token, "CallerNotPayee", [payer.address, payee.address]);
    expect(await s.token.authorizationState(payer.address, a.nonce)).toBe(false);
  });

  it("a TransferWithAuthorization signature is not a ReceiveWithAuthorization one", async () => {
    const signed = await signedTransfer(payee.address, 9n);
    const a = signed.auth;
    await expectRevert(
      s.token.connect(payee)[RWA_BYTES](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, signed.signature),
      s.token,
      "InvalidSignature",
    );
  });

  it("enforces the time window too", async () => {
    const t = await now(s);
    const a = { from: payer.address, to: payee.address, value: 1n, validAfter: 0n, validBefore: t, nonce: randomNonce() };
    const signature = await signReceive(payer, a);
    await expectRevert(
      s.token.connect(payee)[RWA_BYTES](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, signature),
      s.token,
      "AuthorizationExpired",
      [t],
    );
    const b = { ...a, validAfter: t + 1000n, validBefore: t + 2000n, nonce: randomNonce() };
    const sigB = await signReceive(payer, b);
    await expectRevert(
      s.token.connect(payee)[RWA_BYTES](b.from, b.to, b.value, b.validAfter, b.validBefore, b.nonce, sigB),
      s.token,
      "AuthorizationNotYetValid",
      [t + 1000n],
    );
  });
});

describe("cancelAuthorization", () => {
  it("(v,r,s) overload cancels a nonce; a transfer with it is then refused", async () => {
    const signed = await signedTransfer(payee.address, 3n);
    const a = signed.auth;
    const { v, r, s: sig } = vrs(await signCancel(payer, domain, payer.address, a.nonce));
    const receipt = await mined(s.token.connect(relayer)[CANCEL_VRS](payer.address, a.nonce, v, r, sig));
    const [c] = eventsOf(receipt, s.token, "AuthorizationCanceled");
    expect([c.args.authorizer, c.args.nonce]).toEqual([payer.address, a.nonce]);
    expect(await s.token.authorizationState(payer.address, a.nonce)).toBe(true);
    await expectRevert(
      s.token.connect(relayer)[TWA_BYTES](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, signed.signature),
      s.token,
      "AuthorizationUsedOrCanceled",
      [payer.address, a.nonce],
    );
  });

  it("bytes overload cancels; canceling twice or canceling a used nonce is refused", async () => {
    const nonce = randomNonce();
    const cancelSig = await signCancel(payer, domain, payer.address, nonce);
    await mined(s.token.connect(relayer)[CANCEL_BYTES](payer.address, nonce, cancelSig));
    expect(await s.token.authorizationState(payer.address, nonce)).toBe(true);
    await expectRevert(s.token.connect(relayer)[CANCEL_BYTES](payer.address, nonce, cancelSig), s.token, "AuthorizationUsedOrCanceled", [
      payer.address,
      nonce,
    ]);

    const used = await signedTransfer(payee.address, 1n);
    const u = used.auth;
    await mined(s.token.connect(relayer)[TWA_BYTES](u.from, u.to, u.value, u.validAfter, u.validBefore, u.nonce, used.signature));
    const lateCancel = await signCancel(payer, domain, payer.address, u.nonce);
    await expectRevert(s.token.connect(relayer)[CANCEL_BYTES](payer.address, u.nonce, lateCancel), s.token, "AuthorizationUsedOrCanceled", [
      payer.address,
      u.nonce,
    ]);
  });

  it("a cancel signed by someone else is refused and leaves the nonce usable", async () => {
    const signed = await signedTransfer(payee.address, 4n);
    const a = signed.auth;
    const forged = await signCancel(stranger, domain, payer.address, a.nonce);
    await expectRevert(s.token.connect(stranger)[CANCEL_BYTES](payer.address, a.nonce, forged), s.token, "InvalidSignature");
    const { v, r, s: sig } = vrs(forged);
    await expectRevert(s.token.connect(stranger)[CANCEL_VRS](payer.address, a.nonce, v, r, sig), s.token, "InvalidSignature");
    expect(await s.token.authorizationState(payer.address, a.nonce)).toBe(false);
    await mined(s.token.connect(relayer)[TWA_BYTES](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, signed.signature));
    expect(await s.token.authorizationState(payer.address, a.nonce)).toBe(true);
  });
});

describe("ERC-1271 signers", () => {
  let wallet: ERC1271Wallet;
  let walletAddress: string;
  const walletKeyHolder = () => s.others[1];

  beforeAll(async () => {
    wallet = (await s.ethers.deployContract("ERC1271Wallet", [walletKeyHolder().address])) as unknown as ERC1271Wallet;
    walletAddress = await wallet.getAddress();
    await mined(s.token.mint(walletAddress, 1_000_000n));
  });

  it("a wallet pays by transferWithAuthorization (both overloads) with its key holder's signature", async () => {
    const t = await now(s);
    const one = await signAuthorization(walletKeyHolder(), domain, { from: walletAddress, to: payee.address, value: 1_000n }, t);
    const a = one.auth;
    const before = await balance(payee.address);
    const receipt = await mined(
      s.token.connect(relayer)[TWA_BYTES](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, one.signature),
    );
    const [used] = eventsOf(receipt, s.token, "AuthorizationUsed");
    expect(used.args.authorizer).toBe(walletAddress);

    const two = await signAuthorization(walletKeyHolder(), domain, { from: walletAddress, to: payee.address, value: 2_000n }, t);
    const b = two.auth;
    const { v, r, s: sig } = vrs(two.signature);
    await mined(s.token.connect(relayer)[TWA_VRS](b.from, b.to, b.value, b.validAfter, b.validBefore, b.nonce, v, r, sig));
    expect(await balance(payee.address)).toBe(before + 3_000n);
    expect(await balance(walletAddress)).toBe(1_000_000n - 3_000n);
  });

  it("a signature by a key the wallet does not accept is refused", async () => {
    const forged = await signAuthorization(stranger, domain, { from: walletAddress, to: stranger.address, value: 1n }, await now(s));
    const a = forged.auth;
    await expectRevert(
      s.token.connect(stranger)[TWA_BYTES](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, forged.signature),
      s.token,
      "InvalidSignature",
    );
    expect(await wallet.isValidSignature(E.ZeroHash, forged.signature)).toBe("0xffffffff");
  });

  it("a wallet's receiveWithAuthorization and cancelAuthorization work with ERC-1271", async () => {
    const t = await now(s);
    const a = { from: walletAddress, to: payee.address, value: 5n, validAfter: 0n, validBefore: t + 3600n, nonce: randomNonce() };
    const signature = await signReceive(walletKeyHolder(), a);
    const before = await balance(payee.address);
    await mined(s.token.connect(payee)[RWA_BYTES](a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, signature));
    expect(await balance(payee.address)).toBe(before + 5n);

    const nonce = randomNonce();
    await mined(
      s.token.connect(relayer)[CANCEL_BYTES](walletAddress, nonce, await signCancel(walletKeyHolder(), domain, walletAddress, nonce)),
    );
    expect(await s.token.authorizationState(walletAddress, nonce)).toBe(true);
  });

  it("a wallet signs a permit (bytes overload)", async () => {
    const deadline = (await now(s)) + 3600n;
    const nonce = await s.token.nonces(walletAddress);
    const sig = await signPermit(walletKeyHolder(), domain, {
      owner: walletAddress,
      spender: relayer.address,
      value: 77n,
      nonce,
      deadline,
    });
    await mined(s.token.connect(relayer)[PERMIT_BYTES](walletAddress, relayer.address, 77n, deadline, sig));
    expect(await s.token.allowance(walletAddress, relayer.address)).toBe(77n);
    expect(await s.token.nonces(walletAddress)).toBe(nonce + 1n);
  });
});

describe("permit (EIP-2612)", () => {
  it("(v,r,s) overload sets the allowance, bumps the nonce and lets the spender pull", async () => {
    const deadline = (await now(s)) + 3600n;
    const nonce = await s.token.nonces(payer.address);
    const sig = await signPermit(payer, domain, { owner: payer.address, spender: relayer.address, value: 900n, nonce, deadline });
    const { v, r, s: ss } = vrs(sig);
    const receipt = await mined(s.token.connect(stranger)[PERMIT_VRS](payer.address, relayer.address, 900n, deadline, v, r, ss));
    const [approval] = eventsOf(receipt, s.token, "Approval");
    expect([approval.args.owner, approval.args.spender, approval.args.value]).toEqual([payer.address, relayer.address, 900n]);
    expect(await s.token.allowance(payer.address, relayer.address)).toBe(900n);
    expect(await s.token.nonces(payer.address)).toBe(nonce + 1n);
    const before = await balance(stranger.address);
    await mined(s.token.connect(relayer).transferFrom(payer.address, stranger.address, 400n));
    expect(await balance(stranger.address)).toBe(before + 400n);
    expect(await s.token.allowance(payer.address, relayer.address)).toBe(500n);
  });

  it("bytes overload works; replaying it (either overload) is refused", async () => {
    const deadline = (await now(s)) + 3600n;
    const nonce = await s.token.nonces(payer.address);
    const sig = await signPermit(payer, domain, { owner: payer.address, spender: stranger.address, value: 5n, nonce, deadline });
    await mined(s.token.connect(relayer)[PERMIT_BYTES](payer.address, stranger.address, 5n, deadline, sig));
    expect(await s.token.allowance(payer.address, stranger.address)).toBe(5n);
    await expectRevert(
      s.token.connect(relayer)[PERMIT_BYTES](payer.address, stranger.address, 5n, deadline, sig),
      s.token,
      "InvalidSignature",
    );
    const { v, r, s: ss } = vrs(sig);
    await expectRevert(
      s.token.connect(relayer)[PERMIT_VRS](payer.address, stranger.address, 5n, deadline, v, r, ss),
      s.token,
      "InvalidSignature",
    );
    expect(await s.token.nonces(payer.address)).toBe(nonce + 1n);
  });

  it("is accepted at the deadline itself and expired one second after it", async () => {
    const t = (await now(s)) + 50n;
    const nonce = await s.token.nonces(payer.address);
    const onTime = await signPermit(payer, domain, { owner: payer.address, spender: stranger.address, value: 6n, nonce, deadline: t });
    await setNextTimestamp(s, t);
    await mined(s.token.connect(relayer)[PERMIT_BYTES](payer.address, stranger.address, 6n, t, onTime));
    expect(await s.token.allowance(payer.address, stranger.address)).toBe(6n);

    const late = await signPermit(payer, domain, {
      owner: payer.address,
      spender: stranger.address,
      value: 8n,
      nonce: nonce + 1n,
      deadline: t,
    });
    await expectRevert(s.token.connect(relayer)[PERMIT_BYTES](payer.address, stranger.address, 8n, t, late), s.token, "PermitExpired", [t]);
    const { v, r, s: ss } = vrs(late);
    await expectRevert(s.token.connect(relayer)[PERMIT_VRS](payer.address, stranger.address, 8n, t, v, r, ss), s.token, "PermitExpired", [
      t,
    ]);
    expect(await s.token.nonces(payer.address)).toBe(nonce + 1n);
    expect(await s.token.allowance(payer.address, stranger.address)).toBe(6n);
  });

  it("a permit signed by someone other than the owner, or for other values, is refused", async () => {
    const deadline = (await now(s)) + 3600n;
    const nonce = await s.token.nonces(payer.address);
    const forged = await signPermit(stranger, domain, { owner: payer.address, spender: stranger.address, value: 1_000n, nonce, deadline });
    await expectRevert(
      s.token.connect(stranger)[PERMIT_BYTES](payer.address, stranger.address, 1_000n, deadline, forged),
      s.token,
      "InvalidSignature",
    );
    const { v, r, s: ss } = vrs(forged);
    await expectRevert(
      s.token.connect(stranger)[PERMIT_VRS](payer.address, stranger.address, 1_000n, deadline, v, r, ss),
      s.token,
      "InvalidSignature",
    );
    const genuine = await signPermit(payer, domain, { owner: payer.address, spender: stranger.address, value: 1_000n, nonce, deadline });
    await expectRevert(
      s.token.connect(stranger)[PERMIT_BYTES](payer.address, stranger.address, 1_001n, deadline, genuine),
      s.token,
      "InvalidSignature",
    );
    await expectRevert(
      s.token.connect(stranger)[PERMIT_BYTES](payer.address, stranger.address, 1_000n, deadline + 1n, genuine),
      s.token,
      "InvalidSignature",
    );
    expect(await s.token.nonces(payer.address)).toBe(nonce);
  });
});
