// A voucher's signature must have the one form the escrow's OpenZeppelin ECDSA recovery accepts
// (65 bytes, v 27 or 28, low s): viem's recovery also takes the other forms of the same signature,
// which the claim would then revert on. Checked in process, before anything is served.
import { describe, expect, it } from "vitest";
import { BatchSettlementReason as R } from "@royalty402/fastify-x402";
import { toClientEvmSigner } from "@x402/evm";
import { computeChannelId, signVoucher } from "@x402/evm/batch-settlement/client";
import { BATCH_SETTLEMENT_ADDRESS, BATCH_SETTLEMENT_DOMAIN, voucherTypes } from "@x402/evm";
import { bytesToHex, hashTypedData, type Hex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { checkVoucherSignature, voucherDigest } from "../../server/facilitator/batch-settlement/verify.ts";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const CHAIN_ID = 31337;

async function signed(amount: bigint) {
  const account = privateKeyToAccount(generatePrivateKey());
  const config = {
    payer: account.address,
    payerAuthorizer: account.address,
    receiver: account.address,
    receiverAuthorizer: account.address,
    token: account.address,
    withdrawDelay: 900,
    salt: `0x${"11".repeat(32)}` as Hex,
  };
  const channelId = computeChannelId(config, CHAIN_ID);
  const { signature } = await signVoucher(toClientEvmSigner(account), channelId, amount.toString(), `eip155:${CHAIN_ID}`);
  const payload = (sig: string) => ({
    type: "voucher" as const,
    config,
    voucher: { channelId, maxClaimableAmount: amount, signature: sig as Hex },
  });
  const r = signature.slice(2, 66);
  const s = BigInt(`0x${signature.slice(66, 130)}`);
  const v = Number.parseInt(signature.slice(130), 16);
  return { payload, signature, r, s, v };
}

const hex64 = (x: bigint) => x.toString(16).padStart(64, "0");

describe("voucher signature form", () => {
  it("takes the reference client's signature", async () => {
    const { payload, signature } = await signed(1000n);
    expect(checkVoucherSignature(payload(signature), CHAIN_ID)).toBeNull();
  });

  it("refuses the same signature's other forms: high-s twin, v 0/1, 64-byte compact", async () => {
    for (let i = 0; i < 8; i++) {
      const { payload, r, s, v } = await signed(BigInt(1000 + i));
      const yParity = v - 27;
      const highS = `0x${r}${hex64(N - s)}${(v === 27 ? 28 : 27).toString(16)}`;
      const parityV = `0x${r}${hex64(s)}0${yParity}`;
      const compact = `0x${r}${hex64((BigInt(yParity) << 255n) | s)}`;
      for (const form of [highS, parityV, compact]) {
        expect(checkVoucherSignature(payload(form), CHAIN_ID)).toMatchObject({ reason: R.voucherSignature });
      }
    }
  });
});

describe("voucher digest", () => {
  it("is viem's EIP-712 hashTypedData of the voucher, on every chain and amount", () => {
    const amounts = [0n, 1n, 1080n, 2n ** 64n + 7n, (1n << 128n) - 1n];
    for (const chainId of [1, 8453, 31337])
      for (const [i, maxClaimableAmount] of amounts.entries()) {
        const channelId = `0x${(i + 1).toString(16).padStart(2, "0").repeat(32)}` as Hex;
        const expected = hashTypedData({
          domain: { ...BATCH_SETTLEMENT_DOMAIN, chainId, verifyingContract: BATCH_SETTLEMENT_ADDRESS },
          types: voucherTypes,
          primaryType: "Voucher",
          message: { channelId, maxClaimableAmount },
        });
        expect(bytesToHex(voucherDigest({ channelId, maxClaimableAmount }, chainId))).toBe(expected);
      }
  });

  it("refuses a valid signature over another amount, also after the same voucher was accepted", async () => {
    const { payload, signature } = await signed(1000n);
    expect(checkVoucherSignature(payload(signature), CHAIN_ID)).toBeNull();
    const other = { ...payload(signature), voucher: { ...payload(signature).voucher, maxClaimableAmount: 1001n } };
    expect(checkVoucherSignature(other, CHAIN_ID)).toMatchObject({ reason: R.voucherSignature });
    expect(checkVoucherSignature(payload(signature), 1)).toMatchObject({ reason: R.voucherSignature });
  });
});
