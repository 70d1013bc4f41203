// Bazaar discovery on the model host: GET /discovery/resources in the reference response shape,
// read with the reference bazaar client (withBazaar over HTTPFacilitatorClient), every paid model
// listed with its offer (payTo = its splitter); the challenge declares bazaar as the reference
// server does (validated with the extension's own validator); /facilitator/supported lists the extensions.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader } from "@x402/core/http";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { BAZAAR, validateDiscoveryExtension, withBazaar, type DiscoveryExtension } from "@x402/extensions/bazaar";
import { PAYMENT_IDENTIFIER } from "@x402/extensions/payment-identifier";
import { Wallet } from "ethers";
import { createApp, type RoyaltyServer } from "../../server/app.ts";
import { connectChain } from "../../scripts/shared/stack.ts";

const dataDir = mkdtempSync(join(tmpdir(), "r402-discovery-"));
let server: RoyaltyServer;
let base = "";

beforeAll(async () => {
  const { ethers, signers, connection } = await connectChain();
  const [, owner, oracle] = signers;
  const token = await ethers.deployContract("TestUSDC");
  const factory = await ethers.deployContract("SplitterFactory", [1]);
  const relayer = new Wallet(Wallet.createRandom().privateKey, ethers.provider);
  await connection.provider.request({ method: "hardhat_setBalance", params: [relayer.address, "0x56BC75E2D63100000"] });
  server = await createApp({
    config: {
      server: { host: "127.0.0.1", port: 0 },
      chain: { rpcUrl: "in-process", chainId: 31337, token: await token.getAddress(), factory: await factory.getAddress() },
      facilitator: { mode: "embedded", expose: true },
      dataDir,
      epochs: { enabled: false },
      datanets: [
        { id: "brown", description: "Brown corpus", seed: { corpus: "brown", documents: 6, contributors: 4 } },
        {
          id: "shop",
          seed: { corpus: "brown", documents: 3, contributors: 2, offset: 6 },
          access: { owner: owner.address, pricePerSearch: "1234" },
        },
      ],
      models: [
        {
          id: "teller",
          backend: "infinigram",
          datanet: "brown",
          pricePerRequest: "1000",
          pricePerMaxToken: "10",
          defaultMaxTokens: 20,
          owner: owner.address,
        },
        { id: "scribe", backend: "infinigram", datanet: "brown", pricePerRequest: "500", owner: owner.address, description: "a scribe" },
      ],
    },
    env: { ROYALTY402_ADMIN_TOKEN: "discovery-admin-token-0123" },
    chain: { provider: ethers.provider, relayer, oracle },
    logger: false,
  });
  base = await server.listen({ port: 0 });
});

afterAll(async () => {
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("bazaar discovery", () => {
  it("lists every paid model on both completion routes, in the reference shape, through the reference bazaar client", async () => {
    const models = (await (await fetch(`${base}/v1/models`)).json()) as {
      data: Array<{ id: string; payTo: string; price: { default: string } }>;
    };
    const bazaar = withBazaar(new HTTPFacilitatorClient({ url: base })).extensions.bazaar;
    const listed = await bazaar.listResources({ type: "http" });
    expect(listed.x402Version).toBe(2);
    expect(listed.pagination).toEqual({ limit: 100, offset: 0, total: 5 });
    for (const path of ["/v1/chat/completions", "/v1/completions"]) {
      for (const model of models.data) {
        const item = listed.items.find((i) => i.resource.endsWith(path) && JSON.stringify(i.extensions).includes(`"model":"${model.id}"`));
        expect(item, `${model.id} on ${path}`).toBeDefined();
        expect(item).toMatchObject({ type: "http", x402Version: 2, mimeType: "application/json" });
        expect(item!.description).toContain(model.id);
        expect(item!.accepts.map((a) => a.scheme)).toContain("exact");
        for (const offer of item!.accepts)
          expect(offer).toMatchObject({ network: "eip155:31337", payTo: model.payTo, amount: model.price.default });
        expect(validateDiscoveryExtension(item!.extensions![BAZAAR.key] as DiscoveryExtension)).toEqual({ valid: true });
        expect((item!.extensions![BAZAAR.key] as DiscoveryExtension).info.input).toMatchObject({ method: "POST", bodyType: "json" });
      }
    }
    const page = await bazaar.listResources({ type: "http", limit: 1, offset: 3 });
    expect(page.items).toHaveLength(1);
    expect(page.pagination).toEqual({ limit: 1, offset: 3, total: 5 });
    expect((await bazaar.listResources({ type: "mcp" })).items).toEqual([]);
  });

  it("lists the search of a datanet that sells it, paid to the datanet's splitter, with a query example", async () => {
    const terms = (await (await fetch(`${base}/datanets/shop/documents`)).json()) as { payTo: string };
    const listed = await withBazaar(new HTTPFacilitatorClient({ url: base })).extensions.bazaar.listResources();
    const search = listed.items.filter((i) => i.resource.includes("/datanets/"));
    expect(search.map((i) => i.resource)).toEqual([`${base}/datanets/shop/search`]);
    expect(search[0].accepts[0]).toMatchObject({ scheme: "exact", amount: "1234", payTo: terms.payTo });
    const declared = search[0].extensions![BAZAAR.key] as DiscoveryExtension;
    expect(validateDiscoveryExtension(declared)).toEqual({ valid: true });
    expect(declared.info.input).toMatchObject({ type: "http", method: "GET", queryParams: { q: expect.any(String) } });
  });

  it("the challenge declares bazaar (method, example body) and payment-identifier", async () => {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "scribe", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(402);
    const required = decodePaymentRequiredHeader(res.headers.get("PAYMENT-REQUIRED")!);
    const declared = required.extensions?.[BAZAAR.key] as DiscoveryExtension;
    expect(validateDiscoveryExtension(declared)).toEqual({ valid: true });
    expect(declared.info.input).toMatchObject({ type: "http", method: "POST", bodyType: "json" });
    expect(required.extensions?.[PAYMENT_IDENTIFIER]).toMatchObject({ info: { required: false } });
  });

  it("/facilitator/supported lists the extensions", async () => {
    const supported = (await (await fetch(`${base}/facilitator/supported`)).json()) as { extensions: string[] };
    expect(supported.extensions).toEqual(expect.arrayContaining([BAZAAR.key, PAYMENT_IDENTIFIER, "eip2612GasSponsoring"]));
  });
});

// (The same host, for the one host-specific part of x402 v1: the OpenAI-shaped 402 body.)
describe("x402 v1 challenge on the OpenAI-compatible routes", () => {
  it("keeps OpenAI's error object and puts the v1 challenge (network hardhat) at the top level", async () => {
    const res = await fetch(`${base}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "scribe", prompt: "hi" }),
    });
    expect(res.status).toBe(402);
    const body = await res.json();
    const v2 = decodePaymentRequiredHeader(res.headers.get("PAYMENT-REQUIRED")!);
    expect(body.error).toMatchObject({ type: "payment_required_error", code: "payment_required" });
    expect(body.x402Version).toBe(1);
    expect(body.accepts).toEqual([
      expect.objectContaining({ scheme: "exact", network: "hardhat", maxAmountRequired: v2.accepts[0].amount, payTo: v2.accepts[0].payTo }),
    ]);
  });
});
