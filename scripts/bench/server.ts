// npm run bench:server — paid requests/s of this server (fastify plugin + embedded facilitator,
// settleBatch batching) against @x402/express + the reference facilitator (@x402/core
// x402Facilitator with @x402/evm's exact scheme), on one local Hardhat node (automine), same
// token, same splitter as payTo, same route; plus the 402 challenge against a plain fastify
// route returning the same bytes. Every paid request carries its own pre-signed authorization.
// Writes scripts/bench/results/server.json.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import express from "express";
import Fastify from "fastify";
import { ContractFactory, HDNodeWallet, JsonRpcProvider, Mnemonic, Wallet, ethers as E } from "ethers";
import { encodePaymentSignatureHeader, decodePaymentRequiredHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { x402Facilitator } from "@x402/core/facilitator";
import { registerExactEvmScheme as registerFacilitatorScheme } from "@x402/evm/exact/facilitator";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { createWalletClient, http, publicActions, defineChain } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { EmbeddedFacilitator } from "../../server/facilitator/index.ts";
import { TRANSFER_WITH_AUTHORIZATION_TYPES } from "../../server/facilitator/abi.ts";
import { openLedger } from "../../server/ledger/index.ts";
import { x402Payments } from "../../server/x402/index.ts";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const OURS_REQUESTS = Number(process.env.BENCH_OURS_REQUESTS ?? 2000);
const REF_REQUESTS = Number(process.env.BENCH_REF_REQUESTS ?? 300);
const REF_SERIAL_REQUESTS = Number(process.env.BENCH_REF_SERIAL_REQUESTS ?? 40);
const CHALLENGE_SECONDS = Number(process.env.BENCH_CHALLENGE_SECONDS ?? 5);
const LEDGER_SYNC = (process.env.BENCH_LEDGER_SYNC ?? "NORMAL") as "FULL" | "NORMAL";
const SIMULATE = process.env.BENCH_SIMULATE !== "0";
const PAYERS = 64;
const PRICE = "1000";
const RESPONSE = { result: "a model output", tokens: 42 };
const MNEMONIC = "test test test test test test test test test test test junk";

const artifact = (file: string, name: string) => JSON.parse(readFileSync(new URL(`../../artifacts/contracts/${file}/${name}.json`, import.meta.url), "utf8"));
const key = (i: number) => HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(MNEMONIC), `m/44'/60'/0'/0/${i}`).privateKey;

async function startNode(port: number): Promise<ChildProcess> {
  // Its own process group, so the node (behind npx) is stopped with it.
  const child = spawn("npx", ["hardhat", "node", "--port", String(port)], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.resume();
  child.stderr!.resume();
  const provider = new JsonRpcProvider(`http://127.0.0.1:${port}`, 31337, { staticNetwork: true });
  for (let i = 0; i < 240; i++) {
    try {
      await provider.send("eth_chainId", []);
      // The node logs every call (with traces) by default: that is most of its per-call cost.
      await provider.send("hardhat_setLoggingEnabled", [false]);
      provider.destroy();
      return child;
    } catch {
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new Error("hardhat node did not start");
}

async function signPayments(payers: Wallet[], accepted: PaymentRequirements, count: number): Promise<string[]> {
  const domain = { name: "USD Coin", version: "2", chainId: 31337n, verifyingContract: accepted.asset };
  const validBefore = BigInt(Math.floor(Date.now() / 1000) + 3600);
  const headers: string[] = [];
  for (let i = 0; i < count; i++) {
    const payer = payers[i % payers.length];
    const authorization = { from: payer.address, to: accepted.payTo, value: BigInt(accepted.amount), validAfter: 0n, validBefore, nonce: E.hexlify(E.randomBytes(32)) };
    const signature = await payer.signTypedData(domain, TRANSFER_WITH_AUTHORIZATION_TYPES, authorization);
    const payload: PaymentPayload = {
      x402Version: 2,
      accepted,
      payload: { signature, authorization: { ...authorization, value: authorization.value.toString(), validAfter: "0", validBefore: validBefore.toString() } },
    };
    headers.push(encodePaymentSignatureHeader(payload));
  }
  return headers;
}

function drive(url: string, options: { headers?: string[]; amount?: number; duration?: number; connections?: number }) {
  let next = 0;
  return new Promise<autocannon.Result>((resolve, reject) => {
    autocannon(
      {
        url,
        connections: Math.min(options.connections ?? CONNECTIONS, options.amount ?? CONNECTIONS),
        ...(options.amount ? { amount: options.amount } : { duration: options.duration }),
        timeout: 60,
        requests: [
          {
            method: "GET",
            setupRequest: (req: any) => (options.headers ? { ...req, headers: { ...req.headers, "payment-signature": options.headers[next++] } } : req),
          },
        ],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

const summary = (r: autocannon.Result, okStatus: number) => {
  const ok = okStatus === 200 ? r["2xx"] : r.non2xx;
  return {
    requests: r.requests.total,
    ok,
    errors: r.errors + r.timeouts + (okStatus === 200 ? r.non2xx : r["2xx"]),
    durationSeconds: r.duration,
    okPerSecond: Math.round((ok / r.duration) * 10) / 10,
    statusCodes: Object.fromEntries(Object.entries((r as unknown as { statusCodeStats: Record<string, { count: number }> }).statusCodeStats ?? {}).map(([code, v]) => [code, v.count])),
    latencyMs: { p50: r.latency.p50, p99: r.latency.p99, mean: Math.round(r.latency.average * 10) / 10 },
  };
};

async function main() {
  const port = 20000 + Math.floor(Math.random() * 20000);
  console.log(`starting hardhat node on :${port} (automine)`);
  const node = await startNode(port);
  const rpcUrl = `http://127.0.0.1:${port}`;
  const closers: Array<() => Promise<unknown> | unknown> = [() => process.kill(-node.pid!, "SIGTERM")];
  try {
    const provider = new JsonRpcProvider(rpcUrl, 31337, { staticNetwork: true, batchStallTime: 1 });
    const deployer = new Wallet(key(0), provider);
    const ourRelayer = new Wallet(key(1), provider);
    const refRelayer = key(2);
    let nonce = await provider.getTransactionCount(deployer.address);
    const send = async (p: Promise<E.ContractTransactionResponse>) => (await p).wait();

    const usdcArtifact = artifact("TestUSDC.sol", "TestUSDC");
    const token = (await new ContractFactory(usdcArtifact.abi, usdcArtifact.bytecode, deployer).deploy({ nonce: nonce++ })) as E.Contract;
    await token.waitForDeployment();
    const factoryArtifact = artifact("SplitterFactory.sol", "SplitterFactory");
    const factory = (await new ContractFactory(factoryArtifact.abi, factoryArtifact.bytecode, deployer).deploy({ nonce: nonce++ })) as E.Contract;
    await factory.waitForDeployment();
    const asset = await token.getAddress();
    const config = { token: asset, owner: deployer.address, facilitator: ourRelayer.address, oracle: deployer.address, guardian: deployer.address, protocolRecipient: deployer.address, ownerBps: 1000, protocolBps: 200, challengePeriod: 0 };
    const salt = E.id("model:bench");
    const payTo: string = await factory.predictSplitter(config, salt);
    await send(factory.createSplitter(config, salt, { nonce: nonce++ }));
    const payers = Array.from({ length: PAYERS }, () => new Wallet(E.Wallet.createRandom().privateKey, provider));
    await Promise.all(payers.map((p) => send(token.mint(p.address, 10n ** 12n, { nonce: nonce++ }))));
    console.log(`token ${asset}, splitter ${payTo}, ${PAYERS} funded payers`);

    // --- ours: fastify + x402 plugin + embedded facilitator (settleBatch batching), SQLite ledger
    const ledger = await openLedger({ sqlitePath: join(mkdtempSync(join(tmpdir(), "bench-x402-")), "ledger.sqlite"), sqlite: { synchronous: LEDGER_SYNC } });
    const facilitator = await EmbeddedFacilitator.create({ provider, relayer: ourRelayer, simulate: SIMULATE });
    const ours = Fastify({ logger: false });
    await ours.register(x402Payments, { ledger, facilitator, network: "eip155:31337", asset: { address: asset, name: "USD Coin", version: "2" }, payTo: () => payTo });
    const refusals: Record<string, number> = {};
    ours.addHook("onSend", async (_request, reply, payload) => {
      if (reply.statusCode >= 400 && (reply.statusCode !== 402 || _request.headers["payment-signature"])) {
        const reason = `${reply.statusCode} ${(() => { try { return JSON.parse(String(payload)).error; } catch { return "?"; } })()}`;
        refusals[reason] = (refusals[reason] ?? 0) + 1;
      }
      return payload;
    });
    ours.get("/paid", { config: { x402: { model: "bench", price: PRICE } } }, async () => RESPONSE);
    // The plain route returns exactly the challenge's bytes (status, headers, body), captured below.
    const plain = { headers: {} as Record<string, string>, body: "" };
    ours.get("/plain", async (_req, reply) => reply.code(402).headers(plain.headers).send(plain.body));
    await ours.listen({ host: "127.0.0.1", port: 0 });
    closers.push(() => ours.close(), () => ledger.close(), () => facilitator.close());
    const oursUrl = `http://127.0.0.1:${(ours.server.address() as AddressInfo).port}`;
    const oursChallenge = await fetch(`${oursUrl}/paid`);
    const oursAccepted = decodePaymentRequiredHeader(oursChallenge.headers.get("payment-required")!).accepts[0];
    plain.body = await oursChallenge.text();
    plain.headers = { "payment-required": oursChallenge.headers.get("payment-required")!, "cache-control": "no-store", "content-type": oursChallenge.headers.get("content-type")! };

    // --- reference: @x402/express + x402Facilitator with @x402/evm exact (viem), in-process
    const chain = defineChain({ id: 31337, name: "hardhat", nativeCurrency: { name: "ETH", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [rpcUrl] } } });
    const account = privateKeyToAccount(refRelayer as `0x${string}`);
    const viemClient = createWalletClient({ account, chain, transport: http(rpcUrl), pollingInterval: 50 }).extend(publicActions);
    const refFacilitator = new x402Facilitator();
    registerFacilitatorScheme(refFacilitator, { signer: toFacilitatorEvmSigner({ ...viemClient, address: account.address } as never), networks: "eip155:31337" });
    const resourceServer = new x402ResourceServer(refFacilitator as never).register("eip155:31337", new ExactEvmScheme());
    const ref = express();
    ref.use(paymentMiddleware({ "GET /paid": { accepts: { scheme: "exact", network: "eip155:31337", payTo, price: { amount: PRICE, asset, extra: { name: "USD Coin", version: "2" } } } } }, resourceServer));
    ref.get("/paid", (_req, res) => void res.json(RESPONSE));
    const refServer: Server = await new Promise((resolve) => {
      const srv = ref.listen(0, "127.0.0.1", () => resolve(srv));
    });
    closers.push(() => new Promise((r) => refServer.close(r)));
    const refUrl = `http://127.0.0.1:${(refServer.address() as AddressInfo).port}`;
    const refAccepted = decodePaymentRequiredHeader((await fetch(`${refUrl}/paid`)).headers.get("payment-required")!).accepts[0];

    console.log(`signing ${OURS_REQUESTS} + ${REF_REQUESTS} distinct authorizations`);
    // autocannon prepares a request per connection ahead of sending: sign a few spare payments.
    const oursPayments = await signPayments(payers, oursAccepted, OURS_REQUESTS + 2 * CONNECTIONS);
    const refPayments = await signPayments(payers, refAccepted, REF_REQUESTS + REF_SERIAL_REQUESTS + 4 * CONNECTIONS);
    const received0 = (await token.balanceOf(payTo)) as bigint;

    console.log(`ours: ${OURS_REQUESTS} paid requests, ${CONNECTIONS} connections`);
    const oursRun = summary(await drive(`${oursUrl}/paid`, { headers: oursPayments, amount: OURS_REQUESTS }), 200);
    console.log(oursRun);
    const received1 = (await token.balanceOf(payTo)) as bigint;
    console.log(`reference: ${REF_REQUESTS} paid requests, ${CONNECTIONS} connections`);
    const refRun = summary(await drive(`${refUrl}/paid`, { headers: refPayments.slice(0, REF_REQUESTS), amount: REF_REQUESTS }), 200);
    console.log(refRun);
    // The reference facilitator has no relayer nonce management: concurrent settlements collide.
    // Its best case is one request at a time, which the ratio uses if it is faster.
    console.log(`reference: ${REF_SERIAL_REQUESTS} paid requests, 1 connection`);
    const refSerialRun = summary(await drive(`${refUrl}/paid`, { headers: refPayments.slice(REF_REQUESTS + 2 * CONNECTIONS), amount: REF_SERIAL_REQUESTS, connections: 1 }), 200);
    console.log(refSerialRun);
    const refBest = refSerialRun.okPerSecond > refRun.okPerSecond ? refSerialRun : refRun;
    await new Promise((r) => setTimeout(r, 1000));
    const received2 = (await token.balanceOf(payTo)) as bigint;

    // Alternating rounds, medians: the machine is shared, so single runs are noisy.
    console.log(`challenge vs plain route: 3 alternating rounds of ${CHALLENGE_SECONDS}s each`);
    const challengeRounds: ReturnType<typeof summary>[] = [];
    const plainRounds: ReturnType<typeof summary>[] = [];
    for (let round = 0; round < 3; round++) {
      plainRounds.push(summary(await drive(`${oursUrl}/plain`, { duration: CHALLENGE_SECONDS }), 402));
      challengeRounds.push(summary(await drive(`${oursUrl}/paid`, { duration: CHALLENGE_SECONDS }), 402));
    }
    const median = (runs: ReturnType<typeof summary>[]) => [...runs].sort((a, b) => a.okPerSecond - b.okPerSecond)[1];
    const challengeRun = median(challengeRounds);
    const plainRun = median(plainRounds);
    const settledOurs = await ledger.listPayments({ status: ["settled"], limit: 1_000_000 });
    const results = {
      date: new Date().toISOString(),
      chain: "hardhat node (EDR), automine: every transaction mined on arrival",
      machine: { cpus: (await import("node:os")).cpus().length },
      connections: CONNECTIONS,
      price: PRICE,
      ours: {
        stack: `fastify 5 + royalty402 x402 plugin + embedded facilitator (verify simulation ${SIMULATE ? "on" : "off"}, settleBatch, maxBatchSize 32, maxWait 25 ms), SQLite ledger (WAL, synchronous=${LEDGER_SYNC})`,
        ...oursRun,
        settledOnChain: ((received1 - received0) / BigInt(PRICE)).toString(),
        settledInLedger: settledOurs.length,
        settlementTransactions: facilitator.relayer.sent,
        refusals,
      },
      reference: {
        stack: "express 5 + @x402/express 2.27 + in-process x402Facilitator with @x402/evm 2.27 exact (viem, pollingInterval 50 ms)",
        concurrent: refRun,
        serial: refSerialRun,
        settledOnChain: ((received2 - received1) / BigInt(PRICE)).toString(),
      },
      challenge: { ours: challengeRun, plainRoute: plainRun, roundsPerSecond: { ours: challengeRounds.map((r) => r.okPerSecond), plainRoute: plainRounds.map((r) => r.okPerSecond) } },
      ratios: {
        paidRequestsPerSecond: Math.round((oursRun.okPerSecond / Math.max(refBest.okPerSecond, 0.1)) * 10) / 10,
        paidRequestsPerSecondBasis: refBest === refRun ? `reference at ${CONNECTIONS} connections` : "reference at 1 connection (its best)",
        challengeVsPlain: Math.round((challengeRun.okPerSecond / plainRun.okPerSecond) * 100) / 100,
      },
      targets: { paidRequestsPerSecond: ">= 10", challengeVsPlain: ">= 0.8" },
    };
    const out = new URL("./results/server.json", import.meta.url);
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    console.log(JSON.stringify(results, null, 2));
  } finally {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch {
        // best effort
      }
    }
  }
}

try {
  await main();
  process.exit(0);
} catch (error) {
  console.error(error);
  process.exit(1);
}
