// The extension options with the in-memory store and the reference facilitator over HTTP:
// discovery lists a fixed-price route as is and leaves out a route that opts out, the challenge
// declares both extensions, the v1 challenge body appears only with a v1 network name, and
// wrong options are one-line registration errors.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import Fastify from "fastify";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { decodePaymentRequiredHeader } from "@x402/core/http";
import { MemoryPaymentStore, fastifyX402, type PaymentStore, type X402Options } from "@royalty402/fastify-x402";
import { testChain, type TestChain } from "./support/chain.ts";

let chain: TestChain;
beforeAll(async () => {
  chain = await testChain();
});
afterAll(() => chain.close());

const baseOptions = (): X402Options => ({
  store: new MemoryPaymentStore(),
  facilitator: new HTTPFacilitatorClient({ url: chain.facilitatorUrl }),
  network: chain.network,
  asset: { address: chain.asset, name: "USD Coin", version: "2" },
  payTo: (resource) => (resource === "weather" || resource === "hidden" ? chain.payTo : undefined),
  publicUrl: "http://api.test",
});

/** A store with only the five required methods (no payment identifiers). */
function bound(store: MemoryPaymentStore): PaymentStore {
  return {
    reserve: store.reserve.bind(store),
    transition: store.transition.bind(store),
    get: store.get.bind(store),
    holdOutput: store.holdOutput.bind(store),
    getHeldOutput: store.getHeldOutput.bind(store),
  };
}

async function app(overrides: Partial<X402Options> = {}) {
  const instance = Fastify({ logger: false });
  await instance.register(fastifyX402, { ...baseOptions(), ...overrides });
  const discovery = {
    input: { city: "Oslo" },
    inputSchema: { properties: { city: { type: "string" } } },
    output: { example: { sunny: true } },
  };
  instance.get(
    "/weather",
    { config: { x402: { resource: "weather", price: 1000n, description: "weather", discovery } } },
    async () => ({}),
  );
  instance.get("/hidden", { config: { x402: { resource: "hidden", price: 5n, discovery: false } } }, async () => ({}));
  await instance.ready();
  return instance;
}

describe("extensions", () => {
  it("lists the fixed-price route with its offer and bazaar declaration, leaves out the one that opts out", async () => {
    const a = await app({ discovery: true, paymentIdentifier: true });
    const listed = (await a.inject({ method: "GET", url: "/discovery/resources" })).json();
    expect(listed).toMatchObject({ x402Version: 2, pagination: { limit: 100, offset: 0, total: 1 } });
    expect(listed.items[0]).toMatchObject({
      resource: "http://api.test/weather",
      type: "http",
      x402Version: 2,
      description: "weather",
      accepts: [{ scheme: "exact", network: chain.network, amount: "1000" }],
      extensions: {
        bazaar: { info: { input: { type: "http", method: "GET", queryParams: { city: "Oslo" } }, output: { example: { sunny: true } } } },
      },
    });
    expect(listed.items[0].accepts[0].payTo.toLowerCase()).toBe(chain.payTo.toLowerCase());

    const challenge = await a.inject({ method: "GET", url: "/weather" });
    const required = decodePaymentRequiredHeader(challenge.headers["payment-required"] as string);
    expect(Object.keys(required.extensions ?? {}).sort()).toEqual(["bazaar", "payment-identifier"]);
    const hidden = decodePaymentRequiredHeader((await a.inject({ method: "GET", url: "/hidden" })).headers["payment-required"] as string);
    expect(Object.keys(hidden.extensions ?? {})).toEqual(["payment-identifier"]);
    await a.close();
  });

  it("off by default: no listing route, no declarations, and no v1 body on a network without a v1 name", async () => {
    const a = await app();
    expect((await a.inject({ method: "GET", url: "/discovery/resources" })).statusCode).toBe(404);
    const challenge = await a.inject({ method: "GET", url: "/weather" });
    expect(decodePaymentRequiredHeader(challenge.headers["payment-required"] as string).extensions).toBeUndefined();
    expect(challenge.json()).toEqual({ error: "Payment required" });
    await a.close();
  });

  it("with a v1 network name the 402 body is the v1 challenge", async () => {
    const a = await app({ v1Network: "localnet" });
    const body = (await a.inject({ method: "GET", url: "/weather" })).json();
    expect(body).toMatchObject({
      x402Version: 1,
      error: "Payment required",
      accepts: [{ scheme: "exact", network: "localnet", maxAmountRequired: "1000" }],
    });
    await a.close();
  });

  it("refuses wrong extension options at registration", async () => {
    const register = async (overrides: Partial<X402Options>) => {
      const a = Fastify({ logger: false });
      try {
        await a.register(fastifyX402, { ...baseOptions(), ...overrides });
        await a.ready();
        return "ok";
      } catch (error) {
        return (error as Error).message;
      } finally {
        await a.close();
      }
    };
    expect(await register({ store: bound(new MemoryPaymentStore()), paymentIdentifier: true })).toBe(
      "fastify-x402: paymentIdentifier needs a store implementing claimPaymentId and getPaymentId",
    );
    expect(await register({ paymentIdentifier: { waitSeconds: 0 } })).toBe(
      "fastify-x402: paymentIdentifier.waitSeconds must be a positive integer",
    );
    expect(await register({ discovery: { path: "nope" } })).toBe("fastify-x402: discovery.path must start with /");
    expect(await register({ v1Network: "Base Sepolia" })).toMatch(/^fastify-x402: v1Network must be a v1 network name/);
  });
});
