// The plugin with the in-memory store and the reference facilitator over HTTP on an in-process
// chain: options checked at registration, malformed payments, oversized headers, retrieval
// tokens and the re-delivery window, hooks and the outcome event.
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Fastify, { type FastifyInstance } from "fastify";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { FacilitatorClient } from "@x402/core/server";
import type { PaymentPayload } from "@x402/core/types";
import { MemoryPaymentStore, clientErrorHandler, fastifyX402, type PaymentOutcome, type X402Options } from "@royalty402/fastify-x402";
import { testChain, type TestChain } from "./support/chain.ts";

let chain: TestChain;
beforeAll(async () => {
  chain = await testChain();
});
afterAll(() => chain.close());

function options(overrides: Partial<X402Options> = {}): X402Options {
  return {
    store: new MemoryPaymentStore(),
    facilitator: new HTTPFacilitatorClient({ url: chain.facilitatorUrl }),
    network: chain.network,
    asset: { address: chain.asset, name: "USD Coin", version: "2" },
    payTo: (resource) => (resource === "weather" ? chain.payTo : undefined),
    publicUrl: "http://api.test",
    ...overrides,
  };
}

async function paidApp(overrides: Partial<X402Options> = {}) {
  const app = Fastify({ logger: false, clientErrorHandler });
  const outcomes: PaymentOutcome["status"][] = [];
  const runs: string[] = [];
  const charged: Array<string | undefined> = [];
  const onOutcome = (o: PaymentOutcome) => {
    outcomes.push(o.status);
    if (o.status === "settled") charged.push(o.amount);
  };
  await app.register(fastifyX402, options({ hooks: { onOutcome }, ...overrides }));
  app.post("/weather", { config: { x402: { resource: "weather", price: 1000n } } }, async (request, reply) => {
    runs.push(request.x402!.payer);
    if ((request.body as { fail?: boolean } | undefined)?.fail) return reply.code(500).send({ error: "backend_failed" });
    return { sunny: true, outputId: request.x402!.outputId };
  });
  await app.ready();
  return { app, outcomes, runs, charged };
}

async function signedPayment(app: FastifyInstance): Promise<PaymentPayload> {
  const challenge = await app.inject({ method: "POST", url: "/weather", payload: {} });
  const payer = await chain.payer();
  return payer.client.createPaymentPayload(decodePaymentRequiredHeader(challenge.headers["payment-required"] as string));
}

const send = (app: FastifyInstance, header: string, payload: object = {}) =>
  app.inject({ method: "POST", url: "/weather", payload, headers: { "payment-signature": header } });

describe("registration", () => {
  const register = async (overrides: Partial<X402Options>) => {
    const app = Fastify({ logger: false });
    try {
      await app.register(fastifyX402, options(overrides));
      await app.ready();
      return "ok";
    } catch (error) {
      return (error as Error).message;
    } finally {
      await app.close();
    }
  };

  it("refuses wrong options with one line naming the option", async () => {
    expect(await register({ network: "base" })).toBe('fastify-x402: network must be a CAIP-2 id such as "eip155:8453"');
    expect(await register({ store: { reserve: async () => null } as never })).toBe(
      "fastify-x402: store must implement PaymentStore (transition is missing)",
    );
    expect(await register({ facilitator: {} as FacilitatorClient })).toBe(
      "fastify-x402: facilitator must be an x402 FacilitatorClient (verify is missing)",
    );
    expect(await register({ retrievalSecret: "short" })).toBe("fastify-x402: retrievalSecret must be at least 32 bytes");
    expect(await register({ maxTimeoutSeconds: 0 })).toBe("fastify-x402: maxTimeoutSeconds must be a positive integer");
    expect(await register({})).toBe("ok");
  });

  it("refuses a paid route naming a scheme that is not registered", async () => {
    const app = Fastify({ logger: false });
    await app.register(fastifyX402, options());
    const error = await app
      .after()
      .then(() => app.get("/metered", { config: { x402: { resource: "weather", price: 1n, scheme: "upto" } } }, async () => ({})))
      .then(
        () => null,
        (e: Error) => e.message,
      );
    expect(error).toBe('fastify-x402: route /metered: config.x402.scheme "upto" is not registered');
    await app.close();
  });
});

describe("payments", () => {
  let h: Awaited<ReturnType<typeof paidApp>>;
  beforeAll(async () => {
    h = await paidApp();
  });
  afterAll(() => h.app.close());

  it("answers `accepted` sent as a JSON array with 400 invalid_payload", async () => {
    const payment = await signedPayment(h.app);
    const res = await send(h.app, encodePaymentSignatureHeader({ ...payment, accepted: [payment.accepted] } as never));
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: "invalid_payload" });
    expect(h.runs).toHaveLength(0);
  });

  it("pays, gives a signed retrieval URL, re-delivers to the same payload and serves the URL; a wrong token is 404", async () => {
    const payment = await signedPayment(h.app);
    const header = encodePaymentSignatureHeader(payment);
    const paid = await send(h.app, header);
    expect(paid.statusCode).toBe(200);
    const settlement = decodePaymentResponseHeader(paid.headers["payment-response"] as string);
    expect(settlement).toMatchObject({ success: true, amount: "1000", extra: { outputId: paid.json().outputId } });
    const outputUrl = new URL(settlement.extra!.outputUrl as string);
    expect(outputUrl.searchParams.get("token")).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const again = await send(h.app, header);
    expect([again.statusCode, again.headers["x-payment-redelivered"], again.body]).toEqual([200, "true", paid.body]);
    const fetched = await h.app.inject({ method: "GET", url: `${outputUrl.pathname}${outputUrl.search}` });
    expect([fetched.statusCode, fetched.body]).toEqual([200, paid.body]);
    const forged = await h.app.inject({ method: "GET", url: `${outputUrl.pathname}?token=${"A".repeat(43)}` });
    expect([forged.statusCode, forged.json().error]).toEqual([404, "unknown_output"]);
    expect(h.runs).toHaveLength(1);
    expect(h.outcomes.slice(-2)).toEqual(["settled", "redelivered"]);
    expect(h.charged).toEqual(["1000"]);
  });

  it("releases the reservation when the handler fails (nothing charged), and emits the outcomes", async () => {
    const before = await chain.balanceOf(chain.payTo);
    const payment = await signedPayment(h.app);
    const res = await send(h.app, encodePaymentSignatureHeader(payment), { fail: true });
    expect(res.statusCode).toBe(500);
    expect(res.headers["payment-response"]).toBeUndefined();
    expect(await chain.balanceOf(chain.payTo)).toBe(before);
    expect(h.outcomes.slice(-2)).toEqual(["challenged", "released"]);
  });

  it("answers a header block over node's 16 KiB limit with 431 and a reason code", async () => {
    await h.app.listen({ host: "127.0.0.1", port: 0 });
    const { port } = h.app.server.address() as AddressInfo;
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.write(`POST /weather HTTP/1.1\r\nHost: x\r\npayment-signature: ${"A".repeat(17 * 1024)}\r\ncontent-length: 2\r\n\r\n{}`);
      });
      let text = "";
      socket.on("data", (chunk) => (text += chunk.toString()));
      socket.on("end", () => resolve(text));
      socket.on("error", reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toEqual({
      error: "header_too_large",
      message: "the request headers exceed the size limit",
    });
  });
});

describe("after the re-delivery window", () => {
  it("refuses the public payload (409) while the retrieval token still serves the output", async () => {
    const h = await paidApp({ redeliveryWindowSeconds: 1 });
    try {
      const payment = await signedPayment(h.app);
      const header = encodePaymentSignatureHeader(payment);
      const paid = await send(h.app, header);
      expect(paid.statusCode).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const replay = await send(h.app, header);
      expect([replay.statusCode, replay.json().error]).toEqual([409, "payment_replayed"]);
      const outputUrl = new URL(decodePaymentResponseHeader(paid.headers["payment-response"] as string).extra!.outputUrl as string);
      const fetched = await h.app.inject({ method: "GET", url: `${outputUrl.pathname}${outputUrl.search}` });
      expect([fetched.statusCode, fetched.body]).toEqual([200, paid.body]);
    } finally {
      await h.app.close();
    }
  });
});

describe("hooks", () => {
  it("hands the host's extensions to the facilitator (replacing the client's) and adds fields to PAYMENT-RESPONSE", async () => {
    const inner = new HTTPFacilitatorClient({ url: chain.facilitatorUrl });
    const settled: PaymentPayload[] = [];
    const facilitator: FacilitatorClient = {
      verify: (payload, requirements) => inner.verify(payload, requirements),
      settle: (payload, requirements) => (settled.push(payload), inner.settle(payload, requirements)),
      getSupported: () => inner.getSupported(),
    };
    const h = await paidApp({
      facilitator,
      hooks: {
        enrichSettlementPayload: ({ payment }) => ({ receipt: { outputId: payment.outputId } }),
        enrichSettlementResponse: ({ outputId }) => ({ receiptUrl: `/receipts/${outputId}` }),
      },
    });
    try {
      const payment = await signedPayment(h.app);
      const res = await send(h.app, encodePaymentSignatureHeader({ ...payment, extensions: { receipt: { outputId: "forged" } } }));
      expect(res.statusCode).toBe(200);
      const { outputId } = res.json();
      expect(settled[0].extensions).toEqual({ receipt: { outputId } });
      expect(decodePaymentResponseHeader(res.headers["payment-response"] as string).extra).toMatchObject({
        outputId,
        receiptUrl: `/receipts/${outputId}`,
      });
    } finally {
      await h.app.close();
    }
  });
});
