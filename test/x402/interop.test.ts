// Interoperability with the real reference SDK (@x402 2.27):
//  1. the reference client (@x402/fetch + @x402/evm exact client, a viem account) pays a route
//     served by our fastify plugin;
//  2. the reference server middleware (@x402/express) settles through our facilitator's HTTP API.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import express from "express";
import Fastify from "fastify";
import { decodePaymentResponseHeader, wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { privateKeyToAccount } from "viem/accounts";
import { facilitatorRoutes } from "../../server/facilitator/index.ts";
import { splitterInterface } from "../../server/facilitator/abi.ts";
import { paidApp } from "./support/app.ts";
import { fundedWallet, x402Stack, type X402Stack } from "./support/stack.ts";

let s: X402Stack;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  s = await x402Stack();
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

async function referenceClient() {
  const wallet = await fundedWallet(s, 1_000_000n);
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: privateKeyToAccount(wallet.privateKey as `0x${string}`) });
  client.setSpendControls({ allowedAssets: [{ network: s.network as `${string}:${string}`, asset: s.asset }] });
  return { wallet, fetchWithPayment: wrapFetchWithPayment(fetch, client) };
}

describe("reference SDK interop", () => {
  it("the reference client pays a route served by our plugin; the token lands in the splitter", async () => {
    const h = await paidApp(s);
    closers.push(
      () => h.ledger.close(),
      () => h.app.close(),
    );
    await h.app.listen({ host: "127.0.0.1", port: 0 });
    const port = (h.app.server.address() as AddressInfo).port;
    const { wallet, fetchWithPayment } = await referenceClient();
    const before = await s.token.balanceOf(s.payTo);

    const res = await fetchWithPayment(`http://127.0.0.1:${port}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", prompt: "hi", max_tokens: 3 }),
    });
    expect(res.status).toBe(200);
    const settlement = decodePaymentResponseHeader(res.headers.get("PAYMENT-RESPONSE")!);
    const { outputId } = (await res.json()) as { outputId: string };
    expect(settlement).toMatchObject({ success: true, network: s.network, payer: wallet.address, extra: { outputId } });
    expect(await s.token.balanceOf(s.payTo)).toBe(before + 300n);
    const receipt = await s.ethers.provider.getTransactionReceipt(settlement.transaction);
    const settled = receipt!.logs.map((l) => splitterInterface.parseLog(l)).find((e) => e?.name === "PaymentSettled");
    expect(settled?.args.outputId).toBe(outputId);
  });

  it("the reference @x402/express middleware settles through our /facilitator API", async () => {
    const api = Fastify();
    await api.register(facilitatorRoutes, { prefix: "/facilitator", facilitator: s.facilitator });
    await api.listen({ host: "127.0.0.1", port: 0 });
    closers.push(() => api.close());
    const facilitatorUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}/facilitator`;

    const resourceServer = new x402ResourceServer(new HTTPFacilitatorClient({ url: facilitatorUrl })).register(
      s.network as `${string}:${string}`,
      new ExactEvmScheme(),
    );
    const app = express();
    app.use(
      paymentMiddleware(
        {
          "GET /weather": {
            accepts: {
              scheme: "exact",
              network: s.network as `${string}:${string}`,
              payTo: s.payTo,
              price: { amount: "1234", asset: s.asset, extra: { name: "USD Coin", version: "2" } },
            },
            description: "weather",
          },
        },
        resourceServer,
      ),
    );
    app.get("/weather", (_req, res) => void res.json({ weather: "sunny" }));
    const server: Server = await new Promise((resolve) => {
      const srv = app.listen(0, "127.0.0.1", () => resolve(srv));
    });
    closers.push(() => new Promise((r) => server.close(r)));
    const port = (server.address() as AddressInfo).port;

    const { wallet, fetchWithPayment } = await referenceClient();
    const before = await s.token.balanceOf(s.payTo);
    const res = await fetchWithPayment(`http://127.0.0.1:${port}/weather`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ weather: "sunny" });
    const settlement = decodePaymentResponseHeader(res.headers.get("PAYMENT-RESPONSE")!);
    expect(settlement).toMatchObject({ success: true, network: s.network, payer: wallet.address });
    expect(await s.token.balanceOf(s.payTo)).toBe(before + 1234n);
    expect(await s.token.balanceOf(wallet.address)).toBe(1_000_000n - 1234n);
  });
});
