// The x402 `upto` scheme with the reference SDK, unmodified, over real HTTP on the in-process chain:
// the reference client (@x402/fetch + @x402/evm/upto/client) signs a Permit2 maximum, the reference
// resource server middleware (@x402/express + @x402/evm/upto/server) meters the work and settles a
// smaller amount through the reference upto facilitator (@x402/evm/upto/facilitator, viem signer),
// served by our facilitator HTTP routes; Permit2 and the upto proxy are our local stand-ins.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import express from "express";
import { decodePaymentResponseHeader, wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { UptoEvmScheme as UptoClientScheme } from "@x402/evm/upto/client";
import { UptoEvmScheme as UptoServerScheme } from "@x402/evm/upto/server";
import { toClientEvmSigner } from "@x402/evm";
import { paymentMiddleware, setSettlementOverrides, x402ResourceServer } from "@x402/express";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { declareEip2612GasSponsoringExtension } from "@x402/extensions";
import { PERMIT2_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { referenceFacilitator, serveFacilitator, uptoStack, type UptoStack } from "./support.ts";

const MAX = 2_000_000n; // the signed maximum (2 USDC)
const METERED = 40n * 2n + 7n; // 40 output tokens at 2 units plus a base of 7

let s: UptoStack;
let facilitatorAddress: string;
let url: string;
let handlerRuns = 0;
const closers: Array<() => Promise<unknown>> = [];

async function listen(app: express.Express): Promise<string> {
  const server: Server = await new Promise((resolve) => {
    const srv = app.listen(0, "127.0.0.1", () => resolve(srv));
  });
  closers.push(() => new Promise((r) => server.close(r)));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  s = await uptoStack();
  const ref = await referenceFacilitator(s);
  facilitatorAddress = ref.address;
  const served = await serveFacilitator(ref.client);
  closers.push(served.close);
  const resourceServer = new x402ResourceServer(new HTTPFacilitatorClient({ url: served.url })).register(s.network, new UptoServerScheme());
  const price = { amount: MAX.toString(), asset: s.asset, extra: { name: "USD Coin", version: "2" } };
  const accepts = { scheme: "upto", network: s.network, payTo: s.payTo, price, maxTimeoutSeconds: 300 };
  const app = express();
  app.use(
    paymentMiddleware(
      {
        "POST /generate": { accepts, description: "metered generation" },
        "POST /generate-gasless": { accepts, description: "metered generation", extensions: declareEip2612GasSponsoringExtension() },
      },
      resourceServer,
    ),
  );
  const generate: express.RequestHandler = (_req, res) => {
    handlerRuns++;
    setSettlementOverrides(res, { amount: METERED.toString() });
    res.json({ text: "forty tokens", usage: { completion_tokens: 40 } });
  };
  app.post("/generate", generate);
  app.post("/generate-gasless", generate);
  url = await listen(app);
});

afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

function payingFetch(wallet: Awaited<ReturnType<UptoStack["payer"]>>) {
  const client = new x402Client();
  client.register(s.network, new UptoClientScheme(toClientEvmSigner(wallet.account, wallet)));
  client.setSpendControls({ allowedAssets: [{ network: s.network, asset: s.asset, maxAmountPerPayment: MAX.toString() }] });
  return wrapFetchWithPayment(fetch, client);
}

describe("upto with the reference client, middleware and facilitator", () => {
  it("the 402 offer carries the facilitator address the client binds into the witness", async () => {
    const res = await fetch(`${url}/generate`, { method: "POST" });
    expect(res.status).toBe(402);
    const required = JSON.parse(Buffer.from(res.headers.get("PAYMENT-REQUIRED")!, "base64").toString());
    expect(required.accepts[0]).toMatchObject({
      scheme: "upto",
      amount: MAX.toString(),
      payTo: s.payTo,
      extra: { facilitatorAddress, assetTransferMethod: "permit2" },
    });
  });

  it("charges the metered amount, not the signed maximum, in one transfer from the agent to payTo", async () => {
    const wallet = await s.payer(10_000_000n);
    const before = { payer: await s.balanceOf(wallet.account.address), payTo: await s.balanceOf(s.payTo) };
    const runs = handlerRuns;
    const res = await payingFetch(wallet)(`${url}/generate`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ usage: { completion_tokens: 40 } });
    const settlement = decodePaymentResponseHeader(res.headers.get("PAYMENT-RESPONSE")!);
    expect(settlement).toMatchObject({ success: true, network: s.network, payer: wallet.account.address, amount: METERED.toString() });
    expect(handlerRuns).toBe(runs + 1);
    expect(await s.balanceOf(wallet.account.address)).toBe(before.payer - METERED);
    expect(await s.balanceOf(s.payTo)).toBe(before.payTo + METERED);
    // One token transfer, agent -> payTo, in the settlement transaction.
    const receipt = await s.ethers.provider.getTransactionReceipt(settlement.transaction);
    const transferTopic = s.token.interface.getEvent("Transfer")!.topicHash;
    const transfers = receipt!.logs.filter((l) => l.topics[0] === transferTopic).map((l) => s.token.interface.parseLog(l)!.args);
    expect(transfers.map((t) => [t.from, t.to, t.value])).toEqual([[wallet.account.address, s.payTo, METERED]]);
  });

  it("with eip2612GasSponsoring the agent needs no approval transaction: it signs an EIP-2612 permit for Permit2", async () => {
    const wallet = await s.payer(10_000_000n, { approvePermit2: false });
    expect(await s.token.allowance(wallet.account.address, PERMIT2_ADDRESS)).toBe(0n);
    const nonceBefore = await wallet.getTransactionCount({ address: wallet.account.address });
    const res = await payingFetch(wallet)(`${url}/generate-gasless`, { method: "POST" });
    expect(res.status).toBe(200);
    const settlement = decodePaymentResponseHeader(res.headers.get("PAYMENT-RESPONSE")!);
    expect(settlement).toMatchObject({ success: true, amount: METERED.toString() });
    expect(await s.balanceOf(wallet.account.address)).toBe(10_000_000n - METERED);
    // The permit approved the signed maximum; the transfer used the metered part of it.
    expect(await s.token.allowance(wallet.account.address, PERMIT2_ADDRESS)).toBe(MAX - METERED);
    expect(await wallet.getTransactionCount({ address: wallet.account.address })).toBe(nonceBefore);
  });

  it("without a Permit2 approval (and no extension) the payment is refused, 412 permit2_allowance_required, and nothing runs", async () => {
    const wallet = await s.payer(10_000_000n, { approvePermit2: false });
    const runs = handlerRuns;
    const res = await payingFetch(wallet)(`${url}/generate`, { method: "POST" });
    expect(res.status).toBe(412);
    const required = JSON.parse(Buffer.from(res.headers.get("PAYMENT-REQUIRED")!, "base64").toString());
    expect(required.error).toBe("permit2_allowance_required");
    expect(handlerRuns).toBe(runs);
    expect(await s.balanceOf(wallet.account.address)).toBe(10_000_000n);
  });
});
