// The in-memory PaymentStore keeps the store contract the plugin relies on.
import { expect, it } from "vitest";
import { MemoryPaymentStore, type NewPayment } from "@royalty402/fastify-x402";

const payment = (nonce: string): NewPayment => ({
  network: "eip155:1",
  asset: "0xa",
  payer: "0xb",
  nonce,
  payTo: "0xc",
  amount: "10",
  resource: "weather",
  outputId: null,
  payload: "{}",
});

it("reserves a key once, even for concurrent callers", async () => {
  const store = new MemoryPaymentStore();
  const results = await Promise.all(Array.from({ length: 8 }, () => store.reserve(payment("0x1"))));
  expect(results.filter((r) => r.reserved)).toHaveLength(1);
  expect(results.filter((r) => !r.reserved).map((r) => !r.reserved && r.existing.status)).toEqual(Array(7).fill("reserved"));
});

it("moves a payment by compare-and-set along the state machine only", async () => {
  const store = new MemoryPaymentStore();
  const p = payment("0x2");
  await store.reserve(p);
  expect(await store.transition(p, ["settling"], "settled")).toBeNull();
  expect((await store.transition(p, ["reserved"], "settling", { txHash: "0xt" }))?.txHash).toBe("0xt");
  expect((await store.transition(p, ["reserved", "settling"], "settled", { errorReason: null }))?.status).toBe("settled");
  await expect(store.transition(p, ["settled"], "released")).rejects.toThrow("settled -> released is not allowed");
  expect((await store.get(p))?.status).toBe("settled");
});

it("holds one output per payment and returns it with the payment's current record", async () => {
  const store = new MemoryPaymentStore();
  const p = payment("0x3");
  const held = {
    ...p,
    outputId: "out-3",
    tokenHash: "ab",
    statusCode: 200,
    contentType: "application/json",
    body: new Uint8Array([1]),
    createdAt: 1,
  };
  await expect(store.holdOutput(held)).rejects.toThrow("unknown payment");
  await store.reserve(p);
  await store.holdOutput(held);
  await store.holdOutput(held); // the same output again: a no-op
  await expect(store.holdOutput({ ...held, outputId: "other" })).rejects.toThrow("already holds an output");
  await store.transition(p, ["reserved"], "settled");
  expect(await store.getHeldOutput("out-3")).toMatchObject({ output: { outputId: "out-3" }, payment: { status: "settled" } });
  expect(await store.getHeldOutput("missing")).toBeNull();
});

it("binds a payment identifier to its first claim; later claims read that one", async () => {
  const store = new MemoryPaymentStore();
  const claim = { paymentId: "pay_0123456789abcdef", requestHash: "a".repeat(64), key: payment("0x4") };
  const results = await Promise.all([store.claimPaymentId(claim), store.claimPaymentId({ ...claim, requestHash: "b".repeat(64) })]);
  expect(results[0]).toEqual({ claimed: true });
  expect(results[1]).toEqual({ claimed: false, existing: claim });
  expect(await store.getPaymentId(claim.paymentId)).toEqual(claim);
  expect(await store.getPaymentId("pay_unknown_000000")).toBeNull();
});
