// A batch-settlement scheme whose facilitator records vouchers in the plugin's store
// (facilitatorRecordsVouchers): the plugin reserves and holds the output, but neither journals
// "settling" before a plain voucher's settle nor moves the payment after it: the facilitator moved it
// with the voucher. A deposit (which reaches the chain) is still journalled first. The facilitator here
// is a stand-in playing that contract on the in-memory store (the server's embedded one does it in the
// ledger, tested in test/ledger/channels.test.ts and the channel interop tests).
import Fastify, { type FastifyInstance } from "fastify";
import type { FacilitatorClient } from "@x402/core/server";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { encodePaymentSignatureHeader, decodePaymentResponseHeader } from "@x402/core/http";
import { describe, expect, it } from "vitest";
import {
  MemoryPaymentStore,
  batchSettlementEvmScheme,
  fastifyX402,
  parseChannelPayload,
  voucherNonce,
  type ChannelPayload,
  type PaymentKey,
  type PaymentStatus,
} from "@royalty402/fastify-x402";

import { ASSET, AUTHORIZER, PAY_TO, PAYER, WITHDRAW_DELAY, channelPayload } from "./support/channel-payload.ts";

const NETWORK = "eip155:8453";

/** The store, noting every transition asked of it ("facilitator:" marks where the stand-in facilitator asks). */
class NotingStore extends MemoryPaymentStore {
  readonly moves: string[] = [];
  override async transition(key: PaymentKey, from: PaymentStatus[], to: PaymentStatus, fields?: Record<string, unknown>) {
    this.moves.push(to);
    return super.transition(key, from, to, fields);
  }
}

/** A facilitator sharing the store: settle moves the voucher's payment to pending itself. */
function sharingFacilitator(store: NotingStore): FacilitatorClient {
  const keyOf = (p: ChannelPayload, r: PaymentRequirements): PaymentKey => ({
    network: r.network,
    asset: r.asset.toLowerCase(),
    payer: p.config.payer.toLowerCase(),
    nonce: voucherNonce(p.voucher),
  });
  return {
    verify: async () => ({ isValid: true, payer: PAYER.toLowerCase() }),
    settle: async (payload: PaymentPayload, requirements: PaymentRequirements) => {
      const parsed = parseChannelPayload(payload) as ChannelPayload;
      store.moves.push("facilitator:");
      await store.transition(keyOf(parsed, requirements), ["reserved", "settling"], "pending", {});
      return { success: true, transaction: "", network: NETWORK, payer: PAYER.toLowerCase(), amount: "" };
    },
    getSupported: async () => ({ kinds: [], extensions: [], signers: {} }),
  };
}

async function app(records: boolean) {
  const store = new NotingStore();
  const scheme = batchSettlementEvmScheme({
    receiverAuthorizer: () => AUTHORIZER,
    withdrawDelay: WITHDRAW_DELAY,
    facilitatorRecordsVouchers: records,
  });
  const server = Fastify({ logger: false });
  await server.register(fastifyX402, {
    store,
    facilitator: sharingFacilitator(store),
    network: NETWORK,
    asset: { address: ASSET, name: "USD Coin", version: "2" },
    payTo: () => PAY_TO,
    publicUrl: "http://api.test",
    schemes: [scheme],
  });
  server.post("/answer", { config: { x402: { resource: "answer", price: 1000n } } }, async () => ({ answer: 42 }));
  await server.ready();
  const offer = scheme.requirements({
    network: NETWORK,
    asset: { address: ASSET, name: "USD Coin", version: "2" },
    payTo: PAY_TO,
    amount: 1000n,
    maxTimeoutSeconds: 300,
  });
  return { server, store, offer };
}

/** A voucher, or a deposit with its first voucher, as a PAYMENT-SIGNATURE header. */
function payment(offer: PaymentRequirements, type: "voucher" | "deposit"): string {
  const payload = channelPayload(offer, { maxClaimableAmount: "1000" }, {}, type);
  if (type === "deposit") {
    const erc3009Authorization = {
      validAfter: "0",
      validBefore: "9999999999",
      salt: `0x${"01".repeat(32)}`,
      signature: `0x${"ef".repeat(65)}`,
    };
    (payload.payload as Record<string, unknown>).deposit = { amount: "100000", authorization: { erc3009Authorization } };
  }
  return encodePaymentSignatureHeader(payload);
}

const pay = (server: FastifyInstance, offer: PaymentRequirements, type: "voucher" | "deposit") =>
  server.inject({ method: "POST", url: "/answer", headers: { "payment-signature": payment(offer, type) } });

describe("a settlement the facilitator records in the store", () => {
  it("a voucher: reserved and held by the plugin, moved to pending by the facilitator alone", async () => {
    const { server, store, offer } = await app(true);
    const res = await pay(server, offer, "voucher");
    expect(res.statusCode).toBe(200);
    const receipt = decodePaymentResponseHeader(res.headers["payment-response"] as string);
    expect(receipt.success).toBe(true);
    expect(store.moves).toEqual(["facilitator:", "pending"]);
    expect(await store.getHeldOutput(String(receipt.extra?.outputId))).toMatchObject({ payment: { status: "pending" } });
  });

  it("a deposit (it reaches the chain): journalled settling first, as any settlement", async () => {
    const { server, store, offer } = await app(true);
    const res = await pay(server, offer, "deposit");
    expect(res.statusCode).toBe(200);
    expect(store.moves).toEqual(["settling", "facilitator:", "pending", "pending"]);
  });

  it("without the option, the plugin journals and moves a voucher's payment itself", async () => {
    const { server, store, offer } = await app(false);
    const res = await pay(server, offer, "voucher");
    expect(res.statusCode).toBe(200);
    expect(store.moves).toEqual(["settling", "facilitator:", "pending", "pending"]);
  });
});
