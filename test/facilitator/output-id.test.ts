// The output id of a payment (hashPaymentKey, laid out by hand) is keccak256 of the ABI coder's
// abi.encode(string network, address asset, address payer, bytes32 nonce), for any network name.
import { randomBytes } from "node:crypto";
import { encodeAbiParameters, keccak256, parseAbiParameters, type Hex } from "viem";
import { describe, expect, it } from "vitest";
import { hashPaymentKey } from "../../server/facilitator/abi.ts";

const hex = (bytes: number) => `0x${randomBytes(bytes).toString("hex")}` as Hex;
const parameters = parseAbiParameters("string, address, address, bytes32");
const NETWORKS = ["eip155:31337", "eip155:8453", "", "x".repeat(31), "y".repeat(32), "z".repeat(33), "réseau:ü€😀", "a".repeat(200)];

describe("hashPaymentKey", () => {
  it("equals keccak256 of the ABI coder's encoding for 400 keys (network lengths across word boundaries, UTF-8)", () => {
    for (let i = 0; i < 400; i++) {
      const network = NETWORKS[i % NETWORKS.length];
      const [asset, payer, nonce] = [hex(20), hex(20), hex(32)];
      const expected = keccak256(encodeAbiParameters(parameters, [network, asset, payer, nonce]));
      expect(hashPaymentKey(network, asset, payer, nonce)).toBe(expected);
      expect(hashPaymentKey(network, asset.toUpperCase().replace("0X", "0x"), payer, nonce)).toBe(expected);
    }
  });

  it("refuses keys that are not addresses and a 32-byte nonce", () => {
    expect(() => hashPaymentKey("eip155:1", hex(19), hex(20), hex(32))).toThrow(/20-byte addresses/);
    expect(() => hashPaymentKey("eip155:1", hex(20), "0xzz" + "0".repeat(38), hex(32))).toThrow(/20-byte addresses/);
    expect(() => hashPaymentKey("eip155:1", hex(20), hex(20), hex(31))).toThrow(/32-byte nonce/);
  });
});
