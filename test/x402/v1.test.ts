// x402 version 1 clients over real HTTP: the reference v1 client (@x402/evm exact/v1/client in
// @x402/fetch) reads the v1 challenge from the 402 body, pays in X-PAYMENT and reads
// X-PAYMENT-RESPONSE; the payment is verified and settled into the splitter like a v2 one.
// The v1 reference client has no name for chain 31337: the host calls it "hardhat" (viem's name
// for that chain), and a v1 client maps it by adding it to the v1 network table, as done here.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AddressInfo } from "node:net";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { ExactEvmSchemeV1 } from "@x402/evm/exact/v1/client";
import { EVM_NETWORK_CHAIN_ID_MAP } from "@x402/evm/v1";
import { privateKeyToAccount } from "viem/accounts";
import { splitterInterface } from "../../server/facilitator/abi.ts";
import { LOCAL_V1_NETWORK } from "../../server/x402/payments.ts";
import { paidApp } from "./support/app.ts";
import { fundedWallet, x402Stack, type X402Stack } from "./support/stack.ts";

let s: X402Stack;
let h: Awaited<ReturnType<typeof paidApp>>;
let url: string;

beforeAll(async () => {
  s = await x402Stack();
  h = await paidApp(s);
  await h.app.listen({ host: "127.0.0.1", port: 0 });
  url = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}/v1/completions`;
  // How a v1 client learns the local chain's name (its table has base, base-sepolia… but no 31337).
  (EVM_NETWORK_CHAIN_ID_MAP as Record<string, number>)[LOCAL_V1_NETWORK] = 31337;
});

afterAll(async () => {
  await h?.app.close();
  await h?.ledger.close();
});

const BODY = { model: "tiny", prompt: "v1", max_tokens: 3 };
const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
const encode = (value: unknown) => Buffer.from(JSON.stringify(value), "utf8").toString("base64");

/** A v1-era client reads only the 402 body: the PAYMENT-REQUIRED header is hidden from @x402/fetch. */
async function v1OnlyFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const res = await fetch(input, init);
  if (res.status !== 402) return res;
  const headers = new Headers(res.headers);
  headers.delete("PAYMENT-REQUIRED");
  return new Response(await res.text(), { status: 402, headers });
}

async function v1Client() {
  const wallet = await fundedWallet(s, 1_000_000n);
  const client = new x402Client();
  client.registerV1(LOCAL_V1_NETWORK, new ExactEvmSchemeV1(privateKeyToAccount(wallet.privateKey as `0x${string}`)));
  client.setSpendControls(false);
  const sent: string[] = [];
  const recording = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const payment = request.headers.get("X-PAYMENT");
    if (payment) sent.push(payment);
    return v1OnlyFetch(request);
  };
  return { wallet, client, sent, fetchWithPayment: wrapFetchWithPayment(recording, client) };
}

describe("x402 v1 clients", () => {
  it("the 402 keeps the v2 header and carries the v1 challenge as its body", async () => {
    const res = await post(BODY);
    expect(res.status).toBe(402);
    const v2 = decodePaymentRequiredHeader(res.headers.get("PAYMENT-REQUIRED")!);
    expect(v2.x402Version).toBe(2);
    expect(await res.json()).toEqual({
      x402Version: 1,
      error: "Payment required",
      accepts: [
        {
          scheme: "exact",
          network: LOCAL_V1_NETWORK,
          maxAmountRequired: "300",
          resource: "http://models.test/v1/completions",
          description: "completion",
          mimeType: "application/json",
          payTo: v2.accepts[0].payTo,
          maxTimeoutSeconds: 300,
          asset: v2.accepts[0].asset,
          extra: { name: "USD Coin", version: "2" },
        },
      ],
    });
  });

  it("the reference v1 client pays; X-PAYMENT-RESPONSE names the v1 network; the splitter gets the token with the link", async () => {
    const { wallet, fetchWithPayment } = await v1Client();
    const before = await s.token.balanceOf(s.payTo);
    const res = await fetchWithPayment(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(BODY),
    });
    expect(res.status).toBe(200);
    const { outputId } = (await res.json()) as { outputId: string };
    const settlement = decodePaymentResponseHeader(res.headers.get("X-PAYMENT-RESPONSE")!);
    expect(settlement).toMatchObject({ success: true, network: LOCAL_V1_NETWORK, payer: wallet.address });
    expect(await s.token.balanceOf(s.payTo)).toBe(before + 300n);
    const receipt = await s.ethers.provider.getTransactionReceipt(settlement.transaction);
    const settled = receipt!.logs.map((l) => splitterInterface.parseLog(l)).find((e) => e?.name === "PaymentSettled");
    expect(settled?.args.outputId).toBe(outputId);
  });

  it("a replayed X-PAYMENT is re-delivered without a second run or charge; its authorization in another v2 payload is a 409", async () => {
    const { wallet, sent, fetchWithPayment } = await v1Client();
    const first = await fetchWithPayment(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(BODY),
    });
    expect(first.status).toBe(200);
    const firstBody = await first.json();
    const calls = h.calls.length;

    const replay = await post(BODY, { "X-PAYMENT": sent[0] });
    expect(replay.status).toBe(200);
    expect(replay.headers.get("X-Royalty402-Redelivered")).toBe("true");
    expect(await replay.json()).toEqual(firstBody);
    expect(decodePaymentResponseHeader(replay.headers.get("X-PAYMENT-RESPONSE")!).success).toBe(true);

    const v1 = JSON.parse(Buffer.from(sent[0], "base64").toString("utf8"));
    const v2 = decodePaymentRequiredHeader((await post(BODY)).headers.get("PAYMENT-REQUIRED")!);
    const asV2 = await post(BODY, {
      "PAYMENT-SIGNATURE": encodePaymentSignatureHeader({
        x402Version: 2,
        resource: v2.resource,
        accepted: v2.accepts[0],
        payload: v1.payload,
      }),
    });
    expect(asV2.status).toBe(409);
    expect(await asV2.json()).toMatchObject({ error: "payment_replayed" });
    expect(h.calls.length).toBe(calls);
    expect(await s.token.balanceOf(wallet.address)).toBe(1_000_000n - 300n);
  });

  it("bad v1 payments get a 4xx with a reason code; nothing runs or is charged", async () => {
    const { wallet, client } = await v1Client();
    const challenge = await (await post(BODY)).json();
    const good = await client.createPaymentPayload(challenge);
    const calls = h.calls.length;
    const cases: Array<[string, number, string]> = [
      ["%%% not base64 %%%", 400, "invalid_payload"],
      [encode([1, 2]), 400, "invalid_payload"],
      [encode({ ...good, x402Version: 3 }), 402, "invalid_x402_version"],
      [encode({ ...good, scheme: "upto" }), 402, "unsupported_scheme"],
      [encode({ ...good, network: "base" }), 402, "invalid_exact_evm_network_mismatch"],
      [encode({ ...good, payload: "nope" }), 400, "invalid_payload"],
      [encode({ ...good, payload: { ...good.payload, signature: 42 } }), 400, "invalid_payload"],
    ];
    for (const [header, status, reason] of cases) {
      const res = await post(BODY, { "X-PAYMENT": header });
      expect(res.status, reason).toBe(status);
      expect(await res.json(), reason).toMatchObject({ error: reason });
    }
    // Signed for another amount than the route's price: the facilitator refuses it.
    const auth = (good.payload as { authorization: Record<string, string> }).authorization;
    const tampered = await post(BODY, {
      "X-PAYMENT": encode({ ...good, payload: { ...good.payload, authorization: { ...auth, value: "1" } } }),
    });
    expect(tampered.status).toBe(402);
    expect((await tampered.json()).x402Version).toBe(1);
    expect(h.calls.length).toBe(calls);
    expect(await s.token.balanceOf(wallet.address)).toBe(1_000_000n);
  });
});
