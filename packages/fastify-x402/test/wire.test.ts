// PAYMENT-RESPONSE is encoded here without the SDK's byte-by-byte btoa: the header must stay byte for byte
// what @x402/core's encodePaymentResponseHeader gives (which drops extensionResponses from the buyer's copy).
import { encodePaymentResponseHeader } from "@x402/core/http";
import type { SettleResponse } from "@x402/core/types";
import { expect, it } from "vitest";
import { encodeSettlement } from "../src/wire.ts";

it("encodes PAYMENT-RESPONSE exactly as the reference SDK does", () => {
  const responses = [
    { success: true, transaction: "0xab", network: "eip155:31337", payer: "0x01", amount: "1080" },
    {
      success: true,
      transaction: "",
      network: "eip155:8453",
      amount: "",
      extra: { chargedAmount: "1080", note: "naïve – ✓ 🧾", lone: "\ud800" },
      extensionResponses: { internal: { secret: 1 } },
    },
    { success: false, errorReason: "invalid_batch_settlement_evm_voucher_signature", transaction: "", network: "eip155:1" },
  ] as unknown as SettleResponse[];
  for (const r of responses) expect(encodeSettlement(r)).toBe(encodePaymentResponseHeader(r));
});
