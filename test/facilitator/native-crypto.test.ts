// The paid path's own crypto against the field's, byte for byte: the WebAssembly keccak against viem's
// (noble), the hand-laid EIP-3009 digest against ethers' EIP-712 encoder, and the relayer's natively
// signed transactions against a viem account's.
import { randomBytes } from "node:crypto";
import { TypedDataEncoder, getAddress } from "ethers";
import { keccak256, recoverTransactionAddress, type Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { beforeAll, describe, expect, it } from "vitest";
import { keccak256Bytes, keccak256Hex, wasmKeccakReady } from "../../server/chain/keccak.ts";
import { TRANSFER_WITH_AUTHORIZATION_TYPES } from "../../server/facilitator/abi.ts";
import { authorizationDigest } from "../../server/facilitator/signature.ts";
import { TransactionSigner } from "../../server/facilitator/transaction-signer.ts";

const hex = (bytes: number) => `0x${randomBytes(bytes).toString("hex")}` as Hex;

beforeAll(() => wasmKeccakReady);

describe("keccak256 (WebAssembly)", () => {
  it("equals viem's keccak256 for inputs of 0 to 3,000 bytes, across the 136-byte block boundaries", () => {
    for (const length of [0, 1, 31, 32, 135, 136, 137, 271, 272, 273, 1000, 3000]) {
      for (let i = 0; i < 5; i++) {
        const data = randomBytes(length);
        expect(keccak256Hex(data)).toBe(keccak256(data));
        expect(Buffer.from(keccak256Bytes(data)).toString("hex")).toBe(keccak256(data).slice(2));
      }
    }
  });
});

describe("TransactionSigner", () => {
  it("signs EIP-1559 transactions to the same bytes as a viem account (small and batch-sized calldata)", async () => {
    for (let i = 0; i < 20; i++) {
      const key = generatePrivateKey();
      const transaction = {
        chainId: [1, 8453, 84532, 31337][i % 4],
        nonce: i * 7,
        to: hex(20),
        data: hex(i % 2 ? 4 : 12_000),
        gas: 100_000n + BigInt(i),
        maxFeePerGas: 1_000_000_000n * BigInt(i + 1),
        maxPriorityFeePerGas: BigInt(i),
        value: 0n,
      };
      const raw = new TransactionSigner(key).sign(transaction);
      expect(raw).toBe(await privateKeyToAccount(key).signTransaction({ type: "eip1559", ...transaction }));
      expect(await recoverTransactionAddress({ serializedTransaction: raw as `0x02${string}` })).toBe(privateKeyToAccount(key).address);
    }
  });

  it("refuses a key outside the curve's range", () => {
    expect(() => new TransactionSigner(`0x${"0".repeat(64)}`)).toThrow(/private key/);
    expect(() => new TransactionSigner(`0x${"f".repeat(64)}`)).toThrow(/private key/);
  });
});

describe("authorizationDigest", () => {
  it("equals ethers' EIP-712 hash of TransferWithAuthorization for 100 authorizations and domains", () => {
    for (let i = 0; i < 100; i++) {
      const domain = {
        name: i % 2 ? "USD Coin" : "TestUSDC",
        version: String(1 + (i % 3)),
        chainId: BigInt([1, 8453, 31337][i % 3]),
        verifyingContract: getAddress(hex(20)),
      };
      const auth = {
        from: getAddress(hex(20)),
        to: getAddress(hex(20)),
        value: i === 0 ? 2n ** 256n - 1n : BigInt(hex(1 + (i % 32))),
        validAfter: BigInt(i),
        validBefore: BigInt(Math.floor(Date.now() / 1000) + i),
        nonce: hex(32),
      };
      expect(authorizationDigest(domain, auth)).toBe(TypedDataEncoder.hash(domain, TRANSFER_WITH_AUTHORIZATION_TYPES, auth));
    }
  });

  it("refuses a value outside uint256 and a malformed address or nonce", () => {
    const domain = { name: "USD Coin", version: "2", chainId: 1n, verifyingContract: getAddress(hex(20)) };
    const auth = { from: getAddress(hex(20)), to: getAddress(hex(20)), value: 1n, validAfter: 0n, validBefore: 1n, nonce: hex(32) };
    expect(() => authorizationDigest(domain, { ...auth, value: 2n ** 256n })).toThrow(/uint256/);
    expect(() => authorizationDigest(domain, { ...auth, value: -1n })).toThrow(/uint256/);
    expect(() => authorizationDigest(domain, { ...auth, from: hex(19) })).toThrow(/20 bytes/);
    expect(() => authorizationDigest(domain, { ...auth, nonce: hex(31) })).toThrow(/32 bytes/);
  });
});
