// The local Permit2 and upto proxy stand-ins at their canonical addresses, called directly through the
// reference SDK's proxy ABI: the checks the reference facilitator relies on the contracts to enforce.
import { beforeAll, describe, expect, it } from "vitest";
import { hashDomain, serializeCompactSignature, parseSignature, signatureToCompactSignature, type Hex } from "viem";
import { x402UptoPermit2ProxyABI } from "@x402/evm";
import type { PaymentRequirements } from "@x402/core/types";
import { installX402Contracts } from "../../server/chain/x402/install.ts";
import { PERMIT2_ADDRESS, X402_UPTO_PROXY_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { revertOf, signUpto, uptoRequirements, uptoStack, type UptoAuthorization, type UptoStack } from "./support.ts";

const MAX = 1_000n;
let s: UptoStack;
let facilitator: Awaited<ReturnType<UptoStack["walletClient"]>>;
let requirements: PaymentRequirements;

beforeAll(async () => {
  s = await uptoStack();
  facilitator = await s.walletClient();
  requirements = uptoRequirements(s, facilitator.account.address, MAX);
});

function settleArgs(auth: UptoAuthorization, amount: bigint, signature: Hex) {
  return [
    {
      permitted: { token: auth.permitted.token, amount: BigInt(auth.permitted.amount) },
      nonce: BigInt(auth.nonce),
      deadline: BigInt(auth.deadline),
    },
    amount,
    auth.from,
    { to: auth.witness.to, facilitator: auth.witness.facilitator, validAfter: BigInt(auth.witness.validAfter) },
    signature,
  ] as const;
}

async function signed(overrides: Parameters<typeof signUpto>[2] = {}) {
  const wallet = await s.payer(MAX);
  const payload = await signUpto(wallet, requirements, overrides);
  const { signature, permit2Authorization } = payload.payload as { signature: Hex; permit2Authorization: UptoAuthorization };
  return { wallet, auth: permit2Authorization, signature };
}

async function settle(by: typeof facilitator, args: ReturnType<typeof settleArgs>) {
  const hash = await by.writeContract({ address: X402_UPTO_PROXY_ADDRESS, abi: x402UptoPermit2ProxyABI, functionName: "settle", args });
  return by.waitForTransactionReceipt({ hash });
}

const permit2Abi = [
  { type: "function", name: "DOMAIN_SEPARATOR", inputs: [], outputs: [{ type: "bytes32" }], stateMutability: "view" },
  {
    type: "function",
    name: "nonceBitmap",
    inputs: [{ type: "address" }, { type: "uint256" }],
    outputs: [{ type: "uint256" }],
    stateMutability: "view",
  },
  {
    type: "function",
    name: "invalidateUnorderedNonces",
    inputs: [{ type: "uint256" }, { type: "uint256" }],
    outputs: [],
    stateMutability: "nonpayable",
  },
] as const;

describe("Permit2 and upto proxy stand-ins", () => {
  it("are installed at the canonical addresses; installing again changes nothing", async () => {
    const code = await facilitator.getCode({ address: PERMIT2_ADDRESS });
    expect(code?.length).toBeGreaterThan(2);
    await installX402Contracts(s.ethers.provider);
    expect(await facilitator.getCode({ address: PERMIT2_ADDRESS })).toBe(code);
    const read = (functionName: "PERMIT2" | "WITNESS_TYPE_STRING") =>
      facilitator.readContract({ address: X402_UPTO_PROXY_ADDRESS, abi: x402UptoPermit2ProxyABI, functionName });
    expect(await read("PERMIT2")).toBe(PERMIT2_ADDRESS);
    expect(await read("WITNESS_TYPE_STRING")).toBe(
      "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)",
    );
  });

  it("Permit2's domain separator is computed for the address it runs at", async () => {
    const onChain = await facilitator.readContract({ address: PERMIT2_ADDRESS, abi: permit2Abi, functionName: "DOMAIN_SEPARATOR" });
    const EIP712Domain = [
      { name: "name", type: "string" },
      { name: "chainId", type: "uint256" },
      { name: "verifyingContract", type: "address" },
    ] as const;
    expect(onChain).toBe(
      hashDomain({ domain: { name: "Permit2", chainId: s.chainId, verifyingContract: PERMIT2_ADDRESS }, types: { EIP712Domain } }),
    );
  });

  it("settles any amount up to the maximum to the witness's recipient and marks the nonce used", async () => {
    const { auth, signature } = await signed({ nonce: String(3n * 256n + 5n) });
    const before = await s.balanceOf(s.payTo);
    await settle(facilitator, settleArgs(auth, 250n, signature));
    expect(await s.balanceOf(s.payTo)).toBe(before + 250n);
    expect(await s.balanceOf(auth.from)).toBe(MAX - 250n);
    expect(
      await facilitator.readContract({ address: PERMIT2_ADDRESS, abi: permit2Abi, functionName: "nonceBitmap", args: [auth.from, 3n] }),
    ).toBe(1n << 5n);
    expect(await revertOf(settle(facilitator, settleArgs(auth, 1n, signature)))).toMatch(/InvalidNonce/);
  });

  it("refuses a caller other than the witness's facilitator, an amount above the maximum, a changed recipient", async () => {
    const { auth, signature } = await signed();
    const stranger = await s.walletClient();
    expect(await revertOf(settle(stranger, settleArgs(auth, 1n, signature)))).toMatch(/UnauthorizedFacilitator/);
    expect(await revertOf(settle(facilitator, settleArgs(auth, MAX + 1n, signature)))).toMatch(/AmountExceedsPermitted/);
    const redirected = settleArgs({ ...auth, witness: { ...auth.witness, to: stranger.account.address } }, 1n, signature);
    expect(await revertOf(settle(facilitator, redirected))).toMatch(/InvalidSigner/);
    expect(await s.balanceOf(auth.from)).toBe(MAX);
  });

  it("refuses an expired permit and a nonce the payer invalidated; accepts an EIP-2098 compact signature", async () => {
    const expired = await signed({ deadline: String(Math.floor(Date.now() / 1000) - 10) });
    expect(await revertOf(settle(facilitator, settleArgs(expired.auth, 1n, expired.signature)))).toMatch(/SignatureExpired/);

    const { wallet, auth, signature } = await signed({ nonce: "9" });
    const hash = await wallet.writeContract({
      address: PERMIT2_ADDRESS,
      abi: permit2Abi,
      functionName: "invalidateUnorderedNonces",
      args: [0n, 1n << 9n],
    });
    await wallet.waitForTransactionReceipt({ hash });
    expect(await revertOf(settle(facilitator, settleArgs(auth, 1n, signature)))).toMatch(/InvalidNonce/);

    const compact = await signed();
    const short = serializeCompactSignature(signatureToCompactSignature(parseSignature(compact.signature)));
    expect((short.length - 2) / 2).toBe(64);
    await settle(facilitator, settleArgs(compact.auth, 7n, short));
    expect(await s.balanceOf(compact.auth.from)).toBe(MAX - 7n);
  });
});
