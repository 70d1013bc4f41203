// The app with the other wiring choices: an external facilitator reached by URL (the standard
// facilitator API, served here by a separate fastify), a PostgreSQL ledger, a model whose
// splitter is only predicted (paid by plain transfer, created before its first epoch), and a
// proxy whose upstream is down (502, nothing charged).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { Contract, Wallet } from "ethers";
import pg from "pg";
import { createApp, type RoyaltyServer } from "../server/app.ts";
import { EmbeddedFacilitator, facilitatorRoutes } from "../server/facilitator/index.ts";
import { PostgresLedger } from "../server/ledger/postgres.ts";
import { connectChain, type Chain } from "../scripts/shared/stack.ts";
import { pay } from "./x402/support/stack.ts";

const pgUrl = inject("postgresUrl");
const schema = `app_${Math.random().toString(36).slice(2, 10)}`;
const dataDir = mkdtempSync(join(tmpdir(), "r402-app-"));
const facilitatorApi = Fastify();
let chain: Chain;
let server: RoyaltyServer;
let ledger: PostgresLedger;
let embedded: EmbeddedFacilitator;
let token: Contract;
let base = "";

beforeAll(async () => {
  chain = await connectChain();
  const { ethers, signers, connection } = chain;
  const [, owner, oracle] = signers;
  token = (await ethers.deployContract("TestUSDC")) as unknown as Contract;
  const factory = await ethers.deployContract("SplitterFactory", [1]);
  const relayer = new Wallet(Wallet.createRandom().privateKey, ethers.provider);
  await connection.provider.request({ method: "hardhat_setBalance", params: [relayer.address, "0x56BC75E2D63100000"] });
  embedded = await EmbeddedFacilitator.create({ provider: ethers.provider, relayer });
  await facilitatorApi.register(facilitatorRoutes, { prefix: "/facilitator", facilitator: embedded });
  await facilitatorApi.listen({ host: "127.0.0.1", port: 0 });
  ledger = new PostgresLedger({ connectionString: pgUrl, schema, poolSize: 4 });
  await ledger.migrate();

  server = await createApp({
    config: {
      server: { port: 0 },
      chain: { rpcUrl: "in-process", token: await token.getAddress(), factory: await factory.getAddress() },
      facilitator: {
        mode: "url",
        url: `http://127.0.0.1:${(facilitatorApi.server.address() as AddressInfo).port}/facilitator`,
        address: relayer.address,
      },
      dataDir,
      epochs: { enabled: false },
      datanets: [{ id: "brown", seed: { corpus: "brown", documents: 6, contributors: 4 } }],
      models: [
        { id: "late", backend: "infinigram", datanet: "brown", pricePerRequest: "777", owner: owner.address, createSplitter: false },
        {
          id: "down",
          backend: "proxy",
          datanet: "brown",
          pricePerRequest: "500",
          owner: owner.address,
          upstream: { url: "http://127.0.0.1:9/v1", model: "gone", timeoutMs: 2000 },
        },
      ],
    },
    env: { ROYALTY402_ADMIN_TOKEN: "app-test-admin-token-0123" },
    chain: { provider: ethers.provider, oracle },
    ledger,
    logger: false,
  });
  base = await server.listen({ port: 0 });
});

afterAll(async () => {
  await server?.close();
  await ledger?.close();
  await facilitatorApi.close();
  embedded?.close();
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  rmSync(dataDir, { recursive: true, force: true });
});

async function payFor(model: string, body: Record<string, unknown>) {
  const payer = new Wallet(Wallet.createRandom().privateKey);
  await (await (token.getFunction("mint") as any)(payer.address, 100_000n)).wait();
  const path = "/v1/completions";
  const init = (headers: Record<string, string> = {}) => ({
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ model, ...body }),
  });
  const challenge = await fetch(`${base}${path}`, init());
  expect(challenge.status).toBe(402);
  const requirements = decodePaymentRequiredHeader(challenge.headers.get("payment-required")!).accepts[0] as PaymentRequirements;
  const res = await fetch(`${base}${path}`, init({ "payment-signature": encodePaymentSignatureHeader(await pay(payer, requirements)) }));
  return { res, payer, requirements };
}

describe("app wiring: URL facilitator, PostgreSQL ledger, predicted splitter, failing upstream", () => {
  it("pays a predicted splitter through the external facilitator, then creates it and posts the first epoch", async () => {
    const listed = (await (await fetch(`${base}/v1/models/late`)).json()) as any;
    expect(listed.splitterDeployed).toBe(false);
    expect(await chain.ethers.provider.getCode(listed.payTo)).toBe("0x");

    const { res, requirements } = await payFor("late", { prompt: "The jury said", max_tokens: 20, temperature: 0 });
    expect(res.status).toBe(200);
    expect(requirements.payTo).toBe(listed.payTo);
    const settlement = decodePaymentResponseHeader(res.headers.get("payment-response")!);
    expect(settlement.success).toBe(true);
    const body = (await res.json()) as any;
    expect(body.attribution.contributors.length).toBeGreaterThan(0);
    expect(await (token.getFunction("balanceOf") as any)(listed.payTo)).toBe(777n);
    const payments = await ledger.listPayments({ modelId: "late" });
    expect(payments).toMatchObject([{ status: "settled", outputId: body.attribution.outputId, txHash: settlement.transaction }]);

    const close = await fetch(`${base}/admin/epochs/close`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer app-test-admin-token-0123" },
      body: JSON.stringify({ model: "late" }),
    });
    expect((await close.json()) as any).toMatchObject({ results: [{ status: "closed", model: "late", epoch: 1, outputs: 1 }] });
    expect(await chain.ethers.provider.getCode(listed.payTo)).not.toBe("0x");
    const splitter = new Contract(
      listed.payTo,
      ["function totalReceived() view returns (uint256)", "function activeEpoch() view returns (uint256, bytes32, uint256)"],
      chain.ethers.provider,
    );
    expect(await splitter.totalReceived()).toBe(777n);
    await chain.connection.networkHelpers.mine(); // past the one-second challenge period
    const [epoch, , allocated] = await splitter.activeEpoch();
    expect(epoch).toBe(1n);
    expect(allocated).toBe(777n - 77n); // ownerBps 1000: 77 to the owner, the rest allocated
    expect(((await (await fetch(`${base}/v1/models/late`)).json()) as any).splitterDeployed).toBe(true);
  });

  it("pages /epochs and keeps the dashboard summary to the newest epochs, earnings from the newest not vetoed", async () => {
    const splitter = ((await (await fetch(`${base}/v1/models/down`)).json()) as any).payTo.toLowerCase();
    const [kept, vetoed] = [Wallet.createRandom().address.toLowerCase(), Wallet.createRandom().address.toLowerCase()];
    const start = Date.now() + 60_000; // newer than the epoch the test above closed
    for (let n = 1; n <= 24; n++) {
      const status = n === 24 ? "vetoed" : "active";
      const leaves = [{ account: n === 24 ? vetoed : kept, cumulativeAmount: String(10n ** 15n + BigInt(n)) }];
      await ledger.putEpoch({
        splitter,
        epoch: n,
        claimsRoot: `0x${n.toString(16).padStart(64, "0")}`,
        recordsRoot: `0x${n.toString(16).padStart(64, "1")}`,
        cumulativeAllocated: leaves[0].cumulativeAmount,
        uri: `u${n}`,
        txHash: `0x${n.toString(16).padStart(64, "2")}`,
        status,
        document: JSON.stringify({ payments: [], claims: { leaves } }),
        createdAt: start + n,
      });
    }
    const get = async (path: string) => (await (await fetch(`${base}${path}`)).json()) as any;
    const page = await get("/epochs?model=down&limit=5");
    expect([page.epochs.map((e: any) => e.epoch), page.total, page.next]).toEqual([
      [20, 21, 22, 23, 24],
      24,
      `${page.epochs[0].splitter}:20`,
    ]);
    const older = await get(`/epochs?model=down&limit=5&before=${page.next}`);
    expect(older.epochs.map((e: any) => e.epoch)).toEqual([15, 16, 17, 18, 19]);
    expect((await get("/epochs?limit=1000")).total).toBe(25); // and the "late" model's first

    const summary = await get("/dashboard/api/summary");
    expect(summary.totals.epochs).toBe(25);
    expect(summary.epochs.map((e: any) => `${e.model}:${e.epoch}`)).toEqual(Array.from({ length: 20 }, (_, i) => `down:${i + 5}`));
    // Ranked by the newest epoch not vetoed (23): its account first; the vetoed epoch's account is no one's.
    const ranked = summary.contributors.map((c: any) => c.address.toLowerCase());
    expect(ranked[0]).toBe(kept);
    expect(ranked).not.toContain(vetoed);
    expect(summary.contributors[0].earned).toBe(String(10n ** 15n + 23n));
  });

  it("a failing upstream answers 502 and charges nothing", async () => {
    const { res, payer } = await payFor("down", { prompt: "hello" });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({ error: { code: "upstream_unreachable", type: "upstream_error" } });
    expect(await (token.getFunction("balanceOf") as any)(payer.address)).toBe(100_000n);
    const released = await ledger.listPayments({ modelId: "down" });
    expect(released.map((p) => p.status)).toEqual(["released"]);
  });
});
