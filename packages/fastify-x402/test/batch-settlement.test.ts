// The batch-settlement scheme module on its own: the offer, the accepted-offer checks with the
// reference SDK's reason codes, and how a payload names its payer and voucher (shape checks only;
// signatures and balances are the facilitator's).
import { describe, expect, it } from "vitest";
import { BatchSettlementReason as R, batchSettlementEvmScheme, parseChannelPayload } from "@royalty402/fastify-x402";
import { ASSET, AUTHORIZER, PAY_TO, PAYER, WITHDRAW_DELAY, channelPayload } from "./support/channel-payload.ts";

const scheme = batchSettlementEvmScheme({ receiverAuthorizer: () => AUTHORIZER, withdrawDelay: WITHDRAW_DELAY });
const offer = scheme.requirements({
  network: "eip155:8453",
  asset: { address: ASSET, name: "USD Coin", version: "2" },
  payTo: PAY_TO,
  amount: 1000n,
  maxTimeoutSeconds: 300,
});

const payload = (voucher: Record<string, unknown> = {}, config: Record<string, unknown> = {}, type = "voucher") =>
  channelPayload(offer, voucher, config, type);

describe("batchSettlementEvmScheme", () => {
  it("offers the channel terms the reference client builds its channel from", () => {
    expect(offer).toEqual({
      scheme: "batch-settlement",
      network: "eip155:8453",
      asset: ASSET,
      amount: "1000",
      payTo: PAY_TO,
      maxTimeoutSeconds: 300,
      extra: { receiverAuthorizer: AUTHORIZER, withdrawDelay: 3600, name: "USD Coin", version: "2" },
    });
  });

  it("refuses a withdrawal delay outside the specification's bounds", () => {
    expect(() => batchSettlementEvmScheme({ receiverAuthorizer: () => AUTHORIZER, withdrawDelay: 899 })).toThrow(/withdrawDelay/);
    expect(() => batchSettlementEvmScheme({ receiverAuthorizer: () => AUTHORIZER, withdrawDelay: 2_592_001 })).toThrow(/withdrawDelay/);
  });

  it.each([
    ["network", { network: "eip155:1" }, R.networkMismatch],
    ["asset", { asset: PAY_TO }, R.tokenMismatch],
    ["payTo", { payTo: ASSET }, R.receiverMismatch],
    ["amount", { amount: "999" }, R.amountMismatch],
    ["receiverAuthorizer", { extra: { ...offer.extra, receiverAuthorizer: PAY_TO } }, R.receiverAuthorizerMismatch],
    ["withdrawDelay", { extra: { ...offer.extra, withdrawDelay: 900 } }, R.withdrawDelayMismatch],
  ])("refuses an accepted offer with another %s", (_field, change, reason) => {
    expect(scheme.checkAccepted({ ...offer, ...change }, offer)?.reason).toBe(reason);
  });

  it("accepts the offer as given", () => {
    expect(scheme.checkAccepted({ ...offer }, offer)).toBeNull();
  });

  it("names a voucher by (channel, cumulative amount): a replay is the same payment, the next voucher a new one", () => {
    const first = scheme.identify(payload());
    expect(first).toEqual({ payer: PAYER.toLowerCase(), nonce: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    expect(scheme.identify(payload())).toEqual(first);
    expect(scheme.identify(payload({ maxClaimableAmount: "6000" }))).not.toEqual(first);
  });

  it.each([
    ["an amount over uint128", payload({ maxClaimableAmount: (1n << 128n).toString() }), "maxClaimableAmount"],
    ["a negative amount", payload({ maxClaimableAmount: "-1" }), "maxClaimableAmount"],
    ["a short signature", payload({ signature: "0x1234" }), "signature"],
    ["a channel id that is not bytes32", payload({ channelId: "0x12" }), "channelId"],
    ["a fractional withdrawal delay", payload({}, { withdrawDelay: 900.5 }), "withdrawDelay"],
    ["a receiver that is not an address", payload({}, { receiver: "nobody" }), "receiver"],
    ["an unknown payload type", payload({}, {}, "claim"), "payload.type"],
    ["a deposit without its authorization", payload({}, {}, "deposit"), "erc3009Authorization"],
  ])("refuses %s, naming the field", (_case, bad, field) => {
    const result = scheme.identify(bad);
    expect(result).toEqual({ error: expect.stringContaining(field) });
  });

  it("parses a deposit with its ERC-3009 authorization", () => {
    const p = payload({}, {}, "deposit");
    const deposit = {
      amount: "100000",
      authorization: {
        erc3009Authorization: {
          validAfter: "0",
          validBefore: "1770000000",
          salt: `0x${"01".repeat(32)}`,
          signature: `0x${"ef".repeat(65)}`,
        },
      },
    };
    (p.payload as Record<string, unknown>).deposit = deposit;
    const parsed = parseChannelPayload(p);
    expect(parsed).toMatchObject({ type: "deposit", deposit: { method: "eip3009", amount: 100000n, validBefore: 1770000000n } });
  });

  it("parses a Permit2 deposit; one whose permitted amount is not the deposit's is refused", () => {
    const p = payload({}, {}, "deposit");
    const permit2Authorization = {
      from: PAYER,
      permitted: { token: ASSET, amount: "100000" },
      spender: AUTHORIZER,
      nonce: "123456789012345678901234567890",
      deadline: "1770000000",
      witness: { channelId: `0x${"ab".repeat(32)}` },
      signature: `0x${"ef".repeat(65)}`,
    };
    (p.payload as Record<string, unknown>).deposit = { amount: "100000", authorization: { permit2Authorization } };
    expect(parseChannelPayload(p)).toMatchObject({
      deposit: { method: "permit2", amount: 100000n, nonce: 123456789012345678901234567890n, channelId: `0x${"ab".repeat(32)}` },
    });
    (p.payload as Record<string, unknown>).deposit = { amount: "100001", authorization: { permit2Authorization } };
    expect(parseChannelPayload(p)).toEqual({ error: expect.stringContaining("permitted.amount") });
  });

  it("parses a refund (zero-charge voucher, optional amount) and names it apart from the voucher it repeats", () => {
    const full = payload({}, {}, "refund");
    expect(parseChannelPayload(full)).toMatchObject({ type: "refund" });
    expect(parseChannelPayload(full)).not.toHaveProperty("refundAmount");
    expect(scheme.isOperation?.(full)).toBe(true);
    expect(scheme.isOperation?.(payload())).toBe(false);
    expect(scheme.identify(full)).not.toEqual(scheme.identify(payload()));
    const partial = payload({}, {}, "refund");
    (partial.payload as Record<string, unknown>).amount = "1500";
    expect(parseChannelPayload(partial)).toMatchObject({ type: "refund", refundAmount: 1500n });
    (partial.payload as Record<string, unknown>).amount = "0";
    expect(parseChannelPayload(partial)).toEqual({ error: expect.stringContaining("refund amount") });
  });

  it("corrects the offer of a stale voucher's refusal with the facilitator's channel snapshot, and no other", () => {
    const extra = { channelState: { chargedCumulativeAmount: "3000" }, voucherState: { signedMaxClaimable: "3000", signature: "0x01" } };
    const corrected = scheme.correctiveRequirements!(offer, { isValid: false, invalidReason: R.cumulativeMismatch, extra });
    expect(corrected.extra).toMatchObject({ ...offer.extra, ...extra });
    expect(scheme.correctiveRequirements!(offer, { isValid: false, invalidReason: R.voucherSignature, extra })).toBe(offer);
  });
});
