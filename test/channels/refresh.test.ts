// A deposit the server did not send (the payer called the escrow directly): a voucher over the server's
// mirror of the balance makes it read the channel again, and the voucher is accepted if the chain holds it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload } from "@x402/core/types";
import { toClientEvmSigner } from "@x402/evm";
import { computeChannelId, signVoucher } from "@x402/evm/batch-settlement/client";
import { encodeAbiParameters, keccak256, type Hex } from "viem";
import { BATCH_SETTLEMENT_ADDRESS, ERC3009_DEPOSIT_COLLECTOR_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { escrowAbi } from "../../server/facilitator/batch-settlement/abi.ts";
import { PRICE, channelOffer, channelStack, type ChannelStack } from "./support.ts";

let s: ChannelStack;
beforeAll(async () => {
  s = await channelStack();
});
afterAll(async () => s?.close());

const RECEIVE = {
  ReceiveWithAuthorization: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "nonce", type: "bytes32" },
  ],
} as const;

describe("a deposit made without the server", () => {
  it("is seen when a voucher needs it", async () => {
    const payer = await s.payer(100_000n, 3);
    expect((await payer.fetch(s.url, { method: "POST" })).status).toBe(200); // deposits 3 x PRICE
    const offer = channelOffer((await fetch(s.url, { method: "POST" })).headers.get("payment-required")!);
    const config = payer.scheme.buildChannelConfig(offer);
    const channelId = computeChannelId(config, s.network);

    // The payer tops up 5 x PRICE by calling the escrow itself.
    const amount = 5n * PRICE;
    const salt = 7n;
    const validBefore = BigInt(Math.floor(Date.now() / 1000) + 3600);
    const nonce = keccak256(encodeAbiParameters([{ type: "bytes32" }, { type: "uint256" }], [channelId, salt]));
    const message = {
      from: payer.address,
      to: ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
      value: amount,
      validAfter: 0n,
      validBefore,
      nonce,
    } as const;
    const domain = { name: "USD Coin", version: "2", chainId: Number(s.chainId), verifyingContract: s.asset as Hex };
    const signature = await payer.wallet.signTypedData({ domain, types: RECEIVE, primaryType: "ReceiveWithAuthorization", message });
    const data = encodeAbiParameters(
      [{ type: "uint256" }, { type: "uint256" }, { type: "uint256" }, { type: "bytes" }],
      [0n, validBefore, salt, signature],
    );
    const hash = await payer.wallet.writeContract({
      address: BATCH_SETTLEMENT_ADDRESS,
      abi: escrowAbi,
      functionName: "deposit",
      args: [config, amount, ERC3009_DEPOSIT_COLLECTOR_ADDRESS, data],
    });
    await payer.wallet.waitForTransactionReceipt({ hash });
    expect(s.channels.book.get(channelId)!.balance).toBe(3n * PRICE); // the mirror does not know yet

    // Vouchers for requests 2..5: the fourth and fifth are over the mirrored 3 x PRICE.
    const runs = s.runs.count;
    for (let n = 2n; n <= 5n; n++) {
      const voucher = await signVoucher(
        toClientEvmSigner(payer.wallet.account, payer.wallet),
        channelId,
        (n * PRICE).toString(),
        s.network,
      );
      const payload = {
        x402Version: 2,
        accepted: offer,
        payload: { type: "voucher", channelConfig: config, voucher },
      } as unknown as PaymentPayload;
      const res = await fetch(s.url, { method: "POST", headers: { "PAYMENT-SIGNATURE": encodePaymentSignatureHeader(payload) } });
      expect(res.status).toBe(200);
    }
    expect(s.runs.count).toBe(runs + 4);
    expect(s.channels.book.get(channelId)).toMatchObject({ balance: 8n * PRICE, charged: 5n * PRICE });
  });
});
