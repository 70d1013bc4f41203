// Bad upto payments against the reference upto facilitator over the facilitator HTTP API: each is
// refused with the reference reason code and moves no token.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { referenceFacilitator, serveFacilitator, signUpto, uptoRequirements, uptoStack, type UptoStack } from "./support.ts";

const MAX = 500_000n;
const OTHER = "0x000000000000000000000000000000000000dEaD";

let s: UptoStack;
let url: string;
let requirements: PaymentRequirements;
let close: () => Promise<unknown>;

beforeAll(async () => {
  s = await uptoStack();
  const ref = await referenceFacilitator(s);
  const served = await serveFacilitator(ref.client);
  url = served.url;
  close = served.close;
  requirements = uptoRequirements(s, ref.address, MAX);
});

afterAll(async () => close?.());

async function post(path: "verify" | "settle", paymentPayload: PaymentPayload, paymentRequirements = requirements) {
  const res = await fetch(`${url}/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ x402Version: 2, paymentPayload, paymentRequirements }),
  });
  return (await res.json()) as {
    isValid?: boolean;
    invalidReason?: string;
    success?: boolean;
    errorReason?: string;
    amount?: string;
    transaction?: string;
  };
}

describe("bad upto payments are refused with a reason code and charge nothing", () => {
  const cases: Array<[string, string, (w: Awaited<ReturnType<UptoStack["payer"]>>) => Promise<PaymentPayload>]> = [
    ["a Permit2 signature for another spender", "invalid_permit2_spender", (w) => signUpto(w, requirements, { spender: OTHER })],
    [
      "a witness naming another recipient",
      "invalid_permit2_recipient_mismatch",
      (w) => signUpto(w, requirements, { witness: { to: OTHER } }),
    ],
    [
      "a witness naming another facilitator",
      "upto_facilitator_mismatch",
      (w) => signUpto(w, requirements, { witness: { facilitator: OTHER } }),
    ],
    ["another token", "permit2_token_mismatch", (w) => signUpto(w, requirements, { permitted: { token: OTHER } })],
    [
      "a passed deadline",
      "permit2_deadline_expired",
      (w) => signUpto(w, requirements, { deadline: String(Math.floor(Date.now() / 1000) - 1) }),
    ],
    ["a signature over another nonce", "invalid_permit2_signature", (w) => signUpto(w, requirements, { nonce: "1" }, { nonce: "2" })],
  ];

  for (const [what, reason, build] of cases) {
    it(`${what}: ${reason}`, async () => {
      const wallet = await s.payer(MAX);
      const payload = await build(wallet);
      expect(await post("verify", payload)).toMatchObject({ isValid: false, invalidReason: reason });
      expect(await post("settle", payload, { ...requirements, amount: "1000" })).toMatchObject({ success: false, errorReason: reason });
      expect(await s.balanceOf(wallet.account.address)).toBe(MAX);
    });
  }

  it("a maximum other than the offer's: permit2_amount_mismatch at verify (before the work is done)", async () => {
    // At settle time the requirements carry the metered amount, checked against the signed maximum instead.
    const wallet = await s.payer(MAX);
    const payload = await signUpto(wallet, requirements, { permitted: { amount: (MAX - 1n).toString() } });
    expect(await post("verify", payload)).toMatchObject({ isValid: false, invalidReason: "permit2_amount_mismatch" });
  });

  it("a settle amount above the signed maximum: invalid_upto_evm_payload_settlement_exceeds_amount", async () => {
    const wallet = await s.payer(MAX * 2n);
    const payload = await signUpto(wallet, requirements);
    expect(await post("verify", payload)).toMatchObject({ isValid: true });
    const result = await post("settle", payload, { ...requirements, amount: (MAX + 1n).toString() });
    expect(result).toMatchObject({ success: false, errorReason: "invalid_upto_evm_payload_settlement_exceeds_amount" });
    expect(await s.balanceOf(wallet.account.address)).toBe(MAX * 2n);
  });

  it("a reused Permit2 nonce: the second payment fails simulation and moves nothing", async () => {
    const wallet = await s.payer(MAX * 2n);
    const first = await signUpto(wallet, requirements, { nonce: "77" });
    expect(await post("settle", first, { ...requirements, amount: "1234" })).toMatchObject({ success: true, amount: "1234" });
    const again = await signUpto(wallet, requirements, { nonce: "77" });
    expect(await post("verify", again)).toMatchObject({ isValid: false, invalidReason: "permit2_simulation_failed" });
    expect(await post("settle", again, { ...requirements, amount: "1000" })).toMatchObject({
      success: false,
      errorReason: "permit2_simulation_failed",
    });
    expect(await s.balanceOf(wallet.account.address)).toBe(MAX * 2n - 1234n);
  });

  it("a payer without the balance: permit2_insufficient_balance (diagnosed through Multicall3)", async () => {
    const wallet = await s.payer(MAX - 1n);
    expect(await post("verify", await signUpto(wallet, requirements))).toMatchObject({
      isValid: false,
      invalidReason: "permit2_insufficient_balance",
    });
  });

  it("a zero settlement needs no transaction and moves nothing", async () => {
    const wallet = await s.payer(MAX);
    expect(await post("settle", await signUpto(wallet, requirements), { ...requirements, amount: "0" })).toMatchObject({
      success: true,
      amount: "0",
      transaction: "",
    });
    expect(await s.balanceOf(wallet.account.address)).toBe(MAX);
  });
});
