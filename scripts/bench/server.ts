// npm run bench:server — paid requests/s of this server (fastify plugin + embedded facilitator,
// settleBatch batching) against @x402/express + the reference facilitator (@x402/core
// x402Facilitator with @x402/evm's exact scheme), on one local Hardhat node, same token, same
// splitter as payTo, same route; plus the 402 challenge against a plain fastify route returning
// the same bytes; and the upto rows (server-upto.ts). Writes scripts/bench/results/server.json.
//
// Fairness: the load generator (autocannon) is its own process (scripts/bench/load.ts) and so
// is the Hardhat node; every paid request carries its own authorization, signed before the
// measured window; both sides are warmed up; the reference is measured at several connection
// counts and its best is the basis of the ratio. Both sides share one chain configuration:
// automine by default (the reference's best case: its settle waits for a receipt per payment),
// or interval mining with BENCH_BLOCK_MS (e.g. 2000, a Base-like block time).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { Session } from "node:inspector/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import express from "express";
import Fastify from "fastify";
import { ContractFactory, JsonRpcProvider, Wallet, ethers as E } from "ethers";
import { encodePaymentSignatureHeader, decodePaymentRequiredHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { x402Facilitator } from "@x402/core/facilitator";
import { registerExactEvmScheme as registerFacilitatorScheme } from "@x402/evm/exact/facilitator";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { createWalletClient, http, publicActions, defineChain } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { devWallet } from "../../server/chain/accounts.ts";
import { EmbeddedFacilitator } from "../../server/facilitator/index.ts";
import { TRANSFER_WITH_AUTHORIZATION_TYPES } from "../../server/facilitator/abi.ts";
import { openLedger } from "../../server/ledger/index.ts";
import { x402Payments } from "../../server/x402/index.ts";
import { startHardhatNode } from "../shared/processes.ts";
import { uptoRows } from "./server-upto.ts";
import { mcpRow } from "./server-mcp.ts";

const env = process.env;
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 64);
const OURS_REQUESTS = Number(env.BENCH_OURS_REQUESTS ?? 4000);
const WARMUP_REQUESTS = Number(env.BENCH_WARMUP_REQUESTS ?? 256);
const REF_CONNECTIONS = (env.BENCH_REF_CONNECTIONS ?? "1,2,4,8,64").split(",").map(Number);
const REF_REQUESTS = Number(env.BENCH_REF_REQUESTS ?? 200);
const PAID_ROUNDS = Number(env.BENCH_PAID_ROUNDS ?? 2);
const REF_POLLING_MS = Number(env.BENCH_REF_POLLING_MS ?? 50); // viem's receipt polling for the reference (viem's default for HTTP is 4 s)
const CHALLENGE_ROUNDS = Number(env.BENCH_CHALLENGE_ROUNDS ?? 12);
const CHALLENGE_SECONDS = Number(env.BENCH_CHALLENGE_SECONDS ?? 2);
const LEDGER_SYNC = (env.BENCH_LEDGER_SYNC ?? "FULL") as "FULL" | "NORMAL";
const LEDGER_FULL_NOTE =
  " (the default: every commit is fsynced); payment writes of one event-loop turn share one transaction (group commit)";
const LEDGER_OFF_NOTE = ", NOT the default: commits are not fsynced (survives kill -9, not power loss)";
const BLOCK_MS = Number(env.BENCH_BLOCK_MS ?? 0); // 0: automine
const PROFILE = env.BENCH_PROFILE; // write a .cpuprofile of this process during our paid run
const SIMULATION_WAIT_MS = Number(env.BENCH_SIMULATION_WAIT_MS ?? 2);
const ONLY_MCP = env.BENCH_ROWS === "mcp"; // only the MCP row, merged into the last results
const PAYERS = 64;
const PRICE = "1000";
const RESPONSE = { result: "a model output", tokens: 42 };

const artifact = (file: string, name: string) =>
  JSON.parse(readFileSync(new URL(`../../artifacts/contracts/${file}/${name}.json`, import.meta.url), "utf8"));
const key = (i: number) => devWallet(i).privateKey;
const workdir = mkdtempSync(join(tmpdir(), "bench-x402-"));

async function signPayments(payers: Wallet[], accepted: PaymentRequirements, count: number): Promise<string> {
  const domain = { name: "USD Coin", version: "2", chainId: 31337n, verifyingContract: accepted.asset };
  const validBefore = BigInt(Math.floor(Date.now() / 1000) + 3600);
  const headers: string[] = [];
  for (let i = 0; i < count; i++) {
    const payer = payers[i % payers.length];
    const authorization = {
      from: payer.address,
      to: accepted.payTo,
      value: BigInt(accepted.amount),
      validAfter: 0n,
      validBefore,
      nonce: E.hexlify(E.randomBytes(32)),
    };
    const signature = await payer.signTypedData(domain, TRANSFER_WITH_AUTHORIZATION_TYPES, authorization);
    const payload: PaymentPayload = {
      x402Version: 2,
      accepted,
      payload: {
        signature,
        authorization: { ...authorization, value: authorization.value.toString(), validAfter: "0", validBefore: validBefore.toString() },
      },
    };
    headers.push(encodePaymentSignatureHeader(payload));
  }
  const file = join(workdir, `payments-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(file, headers.join("\n"));
  return file;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** CPU seconds used so far by every process in a process group (Linux /proc). */
function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) === pgid) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process is gone
    }
  }
  return ticks / CLOCK_TICKS;
}

const ownCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

interface LoadResult {
  requests: number;
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  seconds: number;
  latencyMs: { p50: number; p90: number; p99: number; mean: number };
  cpuSeconds: number;
}

/** Runs scripts/bench/load.ts in its own process (its other job fields: method, body, headers, bodiesFile, countBody). */
function drive(job: {
  url: string;
  connections: number;
  amount?: number;
  duration?: number;
  headersFile?: string;
  [field: string]: unknown;
}): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", new URL("./load.ts", import.meta.url).pathname], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk) => (out += chunk));
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator exited with ${code}`))));
    child.stdin.end(JSON.stringify(job));
  });
}

function summary(r: LoadResult, okStatus: number) {
  const ok = r.statusCodes[String(okStatus)] ?? 0;
  return {
    requests: r.requests,
    ok,
    failed: r.requests - ok + r.errors + r.timeouts,
    seconds: Math.round(r.seconds * 1000) / 1000,
    okPerSecond: Math.round((ok / r.seconds) * 10) / 10,
    statusCodes: r.statusCodes,
    latencyMs: r.latencyMs,
  };
}
type Summary = ReturnType<typeof summary>;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round2 = (x: number) => Math.round(x * 100) / 100;

/** `BENCH_ROWS=mcp npm run bench:server`: the MCP row alone, written into the existing results. */
async function mcpOnly() {
  const out = new URL(`./results/${env.BENCH_RESULTS ?? "server.json"}`, import.meta.url);
  const results = JSON.parse(readFileSync(out, "utf8"));
  results.mcp = { date: new Date().toISOString(), ...(await mcpRow(drive)) };
  results.ratios.mcpToolCallsVsHttp = results.mcp.ratio;
  results.targets.mcpToolCallsVsHttp = ">= 0.8";
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results.mcp, null, 2));
}

async function main() {
  if (ONLY_MCP) return mcpOnly();
  const node = await startHardhatNode();
  const rpcUrl = node.url;
  console.log(`hardhat node at ${rpcUrl}`);
  const closers: Array<() => Promise<unknown> | unknown> = [() => node.stop()];
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
    const factory = (await new ContractFactory(factoryArtifact.abi, factoryArtifact.bytecode, deployer).deploy(1, {
      nonce: nonce++,
    })) as E.Contract;
    await factory.waitForDeployment();
    const asset = await token.getAddress();
    const config = {
      token: asset,
      owner: deployer.address,
      facilitator: ourRelayer.address,
      oracle: deployer.address,
      guardian: new Wallet(refRelayer).address,
      protocolRecipient: deployer.address,
      ownerBps: 1000,
      protocolBps: 200,
      challengePeriod: 1,
    };
    const salt = E.id("model:bench");
    const payTo: string = await factory.predictSplitter(config, salt);
    await send(factory.createSplitter(config, salt, { nonce: nonce++ }));
    const payers = Array.from({ length: PAYERS }, () => new Wallet(E.Wallet.createRandom().privateKey, provider));
    await Promise.all(payers.map((p) => send(token.mint(p.address, 10n ** 12n, { nonce: nonce++ }))));
    console.log(`token ${asset}, splitter ${payTo}, ${PAYERS} funded payers`);
    if (BLOCK_MS > 0) {
      await provider.send("evm_setAutomine", [false]);
      await provider.send("evm_setIntervalMining", [BLOCK_MS]);
    }
    const chainDescription =
      BLOCK_MS > 0
        ? `hardhat node (EDR), interval mining every ${BLOCK_MS} ms`
        : "hardhat node (EDR), automine: every transaction mined on arrival";

    // --- ours: fastify + x402 plugin + embedded facilitator (settleBatch batching), SQLite ledger
    const ledger = await openLedger({ sqlitePath: join(workdir, "ledger.sqlite"), sqlite: { synchronous: LEDGER_SYNC } });
    const facilitator = await EmbeddedFacilitator.create({ provider, relayer: ourRelayer, simulation: { maxWaitMs: SIMULATION_WAIT_MS } });
    const ours = Fastify({ logger: false });
    await ours.register(x402Payments, {
      ledger,
      facilitator,
      network: "eip155:31337",
      asset: { address: asset, name: "USD Coin", version: "2" },
      payTo: () => payTo,
      provider,
    });
    ours.get("/paid", { config: { x402: { resource: "bench", price: PRICE } } }, async () => RESPONSE);
    // The plain route returns exactly the challenge's bytes (status, headers, body), captured below.
    const plain = { headers: {} as Record<string, string>, body: "" };
    ours.get("/plain", async (_req, reply) => reply.code(402).headers(plain.headers).send(plain.body));
    await ours.listen({ host: "127.0.0.1", port: 0 });
    closers.push(
      () => ours.close(),
      () => ledger.close(),
      () => facilitator.close(),
    );
    const oursUrl = `http://127.0.0.1:${(ours.server.address() as AddressInfo).port}`;
    const oursChallenge = await fetch(`${oursUrl}/paid`);
    const oursAccepted = decodePaymentRequiredHeader(oursChallenge.headers.get("payment-required")!).accepts[0];
    plain.body = await oursChallenge.text();
    plain.headers = {
      "payment-required": oursChallenge.headers.get("payment-required")!,
      "cache-control": "no-store",
      "content-type": oursChallenge.headers.get("content-type")!,
    };

    // --- reference: @x402/express + x402Facilitator with @x402/evm exact (viem), in-process
    const chain = defineChain({
      id: 31337,
      name: "hardhat",
      nativeCurrency: { name: "ETH", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [rpcUrl] } },
    });
    const account = privateKeyToAccount(refRelayer as `0x${string}`);
    const viemClient = createWalletClient({ account, chain, transport: http(rpcUrl), pollingInterval: REF_POLLING_MS }).extend(
      publicActions,
    );
    const refFacilitator = new x402Facilitator();
    registerFacilitatorScheme(refFacilitator, {
      signer: toFacilitatorEvmSigner({ ...viemClient, address: account.address } as never),
      networks: "eip155:31337",
    });
    const resourceServer = new x402ResourceServer(refFacilitator as never).register("eip155:31337", new ExactEvmScheme());
    const ref = express();
    ref.use(
      paymentMiddleware(
        {
          "GET /paid": {
            accepts: {
              scheme: "exact",
              network: "eip155:31337",
              payTo,
              price: { amount: PRICE, asset, extra: { name: "USD Coin", version: "2" } },
            },
          },
        },
        resourceServer,
      ),
    );
    ref.get("/paid", (_req, res) => void res.json(RESPONSE));
    const refServer: Server = await new Promise((resolve) => {
      const srv = ref.listen(0, "127.0.0.1", () => resolve(srv));
    });
    closers.push(() => new Promise((r) => refServer.close(r)));
    const refUrl = `http://127.0.0.1:${(refServer.address() as AddressInfo).port}`;
    const refAccepted = decodePaymentRequiredHeader((await fetch(`${refUrl}/paid`)).headers.get("payment-required")!).accepts[0];

    // autocannon prepares one request per connection ahead of sending: sign spares.
    const spare = (connections: number) => 2 * connections + 8;
    console.log("signing authorizations (outside every measured window)");
    const oursWarmup = await signPayments(payers, oursAccepted, WARMUP_REQUESTS + spare(CONNECTIONS));
    const oursPayments: string[] = [];
    for (let round = 0; round < PAID_ROUNDS; round++)
      oursPayments.push(await signPayments(payers, oursAccepted, OURS_REQUESTS + spare(CONNECTIONS)));
    const refWarmup = await signPayments(payers, refAccepted, 20 + spare(1));
    const refSerialPayments: string[] = [];
    for (let round = 0; round < PAID_ROUNDS; round++)
      refSerialPayments.push(await signPayments(payers, refAccepted, REF_REQUESTS + spare(1)));
    const refPayments = new Map<number, string>();
    for (const c of REF_CONNECTIONS.filter((c) => c !== 1))
      refPayments.set(c, await signPayments(payers, refAccepted, REF_REQUESTS + spare(c)));
    const balance = async () => (await token.balanceOf(payTo)) as bigint;
    const settle = () => new Promise((r) => setTimeout(r, BLOCK_MS + 500));

    console.log(`warm-up: ours ${WARMUP_REQUESTS} paid requests, reference 20`);
    await drive({ url: `${oursUrl}/paid`, connections: CONNECTIONS, amount: WARMUP_REQUESTS, headersFile: oursWarmup });
    await drive({ url: `${refUrl}/paid`, connections: 1, amount: 20, headersFile: refWarmup });
    await settle();

    // The reference facilitator has no relayer nonce management: concurrent settlements collide.
    // Its best configuration is searched over connection counts; one connection (its usual
    // best) is measured in every round, next to ours, so both see the same machine.
    type RefRun = Summary & { connections: number; settledOnChain: string };
    const refRuns: RefRun[] = [];
    const runReference = async (connections: number, headersFile: string) => {
      console.log(`reference: ${REF_REQUESTS} paid requests, ${connections} connection(s)`);
      const before = await balance();
      const run = summary(await drive({ url: `${refUrl}/paid`, connections, amount: REF_REQUESTS, headersFile }), 200);
      await settle();
      refRuns.push({ connections, ...run, settledOnChain: ((await balance()) - before) / BigInt(PRICE) + "" });
      console.log(refRuns.at(-1));
    };

    type OursRun = Summary & {
      settledOnChain: string;
      settledInLedger: number;
      settlementTransactions: number;
      simulationCalls: number;
      ledgerCommits: number;
      cpuSecondsDuringRun: Record<string, number>;
    };
    const oursRuns: OursRun[] = [];
    const commits = () => (ledger as { stats?: { commits: number } }).stats?.commits ?? 0;
    for (let round = 0; round < PAID_ROUNDS; round++) {
      await runReference(1, refSerialPayments[round]);
      const settledBefore = (await ledger.listPayments({ status: ["settled"], limit: 10_000 })).length;
      const before = {
        sent: facilitator.relayer.sent,
        simulations: facilitator.simulator.calls,
        commits: commits(),
        received: await balance(),
      };
      console.log(`ours: ${OURS_REQUESTS} paid requests, ${CONNECTIONS} connections, ledger synchronous=${LEDGER_SYNC}`);
      const session = PROFILE && round === 0 ? new Session() : null;
      if (session) {
        session.connect();
        await session.post("Profiler.enable");
        await session.post("Profiler.start");
      }
      const cpu0 = { server: ownCpuSeconds(), node: groupCpuSeconds(node.pid!) };
      const load = await drive({
        url: `${oursUrl}/paid`,
        connections: CONNECTIONS,
        amount: OURS_REQUESTS,
        headersFile: oursPayments[round],
      });
      const cpu = {
        serverProcess: round2(ownCpuSeconds() - cpu0.server),
        hardhatNode: round2(groupCpuSeconds(node.pid!) - cpu0.node),
        loadGenerator: round2(load.cpuSeconds),
        wallSeconds: round2(load.seconds),
      };
      if (session) {
        const { profile } = await session.post("Profiler.stop");
        writeFileSync(PROFILE!, JSON.stringify(profile));
        session.disconnect();
        console.log(`profile written to ${PROFILE}`);
      }
      await settle();
      oursRuns.push({
        ...summary(load, 200),
        settledOnChain: (((await balance()) - before.received) / BigInt(PRICE)).toString(),
        settledInLedger: (await ledger.listPayments({ status: ["settled"], limit: 10_000 })).length - settledBefore,
        settlementTransactions: facilitator.relayer.sent - before.sent,
        simulationCalls: facilitator.simulator.calls - before.simulations,
        ledgerCommits: commits() - before.commits,
        cpuSecondsDuringRun: cpu,
      });
      console.log(oursRuns.at(-1));
    }
    for (const c of REF_CONNECTIONS.filter((c) => c !== 1)) await runReference(c, refPayments.get(c)!);
    const refBest = [...refRuns].sort((a, b) => b.okPerSecond - a.okPerSecond)[0];
    const oursMean = round2(oursRuns.reduce((sum, r) => sum + r.okPerSecond, 0) / oursRuns.length);

    // 402 challenge vs the plain route: alternating order (ABBA), warm-up first, medians.
    console.log(`challenge vs plain route: ${CHALLENGE_ROUNDS} rounds of ${CHALLENGE_SECONDS}s each, alternating`);
    await drive({ url: `${oursUrl}/paid`, connections: CONNECTIONS, duration: 1 });
    await drive({ url: `${oursUrl}/plain`, connections: CONNECTIONS, duration: 1 });
    const challengeRounds: Summary[] = [];
    const plainRounds: Summary[] = [];
    // Besides requests/s, the server's CPU time per answer: less sensitive to what else the
    // shared machine runs, it shows what a challenge costs next to a static route.
    const cpuPerRequest: Record<"paid" | "plain", number[]> = { paid: [], plain: [] };
    for (let round = 0; round < CHALLENGE_ROUNDS; round++) {
      const order = round % 4 === 0 || round % 4 === 3 ? (["paid", "plain"] as const) : (["plain", "paid"] as const);
      for (const which of order) {
        const cpuBefore = ownCpuSeconds();
        const run = summary(await drive({ url: `${oursUrl}/${which}`, connections: CONNECTIONS, duration: CHALLENGE_SECONDS }), 402);
        cpuPerRequest[which].push((ownCpuSeconds() - cpuBefore) / Math.max(run.requests, 1));
        (which === "paid" ? challengeRounds : plainRounds).push(run);
      }
    }
    const roundRatios = challengeRounds.map((c, i) => round2(c.okPerSecond / plainRounds[i].okPerSecond));
    const cpuRatios = cpuPerRequest.paid.map((c, i) => round2(cpuPerRequest.plain[i] / c));
    const oursPerSecond = challengeRounds.map((r) => r.okPerSecond);
    const plainPerSecond = plainRounds.map((r) => r.okPerSecond);

    console.log("paid MCP tool calls vs paid HTTP requests, same model (its own node and server process)");
    const mcp = await mcpRow(drive);
    console.log("upto rows: upto against exact, streamed first token against the upstream, a 40-token answer's charge");
    const upto = await uptoRows();
    const results = {
      date: new Date().toISOString(),
      command: "npm run bench:server",
      upto,
      chain: chainDescription,
      machine: { cpus: cpus().length, model: cpus()[0]?.model, loadAverageAtEnd: loadavg().map(round2) },
      processes: "hardhat node, load generator (autocannon) and the servers run as three separate processes on the same machine",
      connections: CONNECTIONS,
      price: PRICE,
      ours: {
        stack:
          `fastify 5 + royalty402 x402 plugin + embedded facilitator ` +
          `(settleBatch, maxBatchSize 32, maxWait 25 ms, simulation ` +
          `window ${SIMULATION_WAIT_MS} ms), SQLite ledger (WAL, synchronous=${LEDGER_SYNC}, group commit)`,
        connections: CONNECTIONS,
        warmupRequests: WARMUP_REQUESTS,
        meanOkPerSecond: oursMean,
        runs: oursRuns,
      },
      reference: {
        stack:
          `express 5 + @x402/express 2.27 + in-process x402Facilitator ` +
          `with @x402/evm 2.27 exact (viem, pollingInterval ` +
          `${REF_POLLING_MS} ms)`,
        warmupRequests: 20,
        runs: refRuns,
        best: { connections: refBest.connections, okPerSecond: refBest.okPerSecond, latencyMs: refBest.latencyMs },
      },
      challenge: {
        rounds: CHALLENGE_ROUNDS,
        secondsPerRound: CHALLENGE_SECONDS,
        order: "ABBA alternation after a 1 s warm-up of each",
        oursPerSecond,
        plainRoutePerSecond: plainPerSecond,
        roundRatios,
        median: { ours: median(oursPerSecond), plainRoute: median(plainPerSecond), ratio: median(roundRatios) },
        spread: { minRatio: Math.min(...roundRatios), maxRatio: Math.max(...roundRatios) },
        serverCpuMicrosecondsPerAnswer: {
          ours: round2(median(cpuPerRequest.paid) * 1e6),
          plainRoute: round2(median(cpuPerRequest.plain) * 1e6),
          ratioPerRound: cpuRatios,
          medianRatio: median(cpuRatios),
        },
        medianLatencyMs: {
          ours: { p50: median(challengeRounds.map((r) => r.latencyMs.p50)), p99: median(challengeRounds.map((r) => r.latencyMs.p99)) },
          plainRoute: { p50: median(plainRounds.map((r) => r.latencyMs.p50)), p99: median(plainRounds.map((r) => r.latencyMs.p99)) },
        },
      },
      ratios: {
        paidRequestsPerSecond: round2(oursMean / Math.max(refBest.okPerSecond, 0.1)),
        paidRequestsPerSecondBasis:
          `ours: mean of ${PAID_ROUNDS} runs at ${CONNECTIONS} ` +
          `connections; reference: its best run over every connection count ` +
          `and round (${refBest.connections} connection(s))`,
        challengeVsPlain: median(roundRatios),
        mcpToolCallsVsHttp: mcp.ratio,
      },
      targets: { paidRequestsPerSecond: ">= 10", challengeVsPlain: ">= 0.8", mcpToolCallsVsHttp: ">= 0.8" },
      mcp,
      notes: [
        `The ledger runs with synchronous=${LEDGER_SYNC}${LEDGER_SYNC === "FULL" ? LEDGER_FULL_NOTE : LEDGER_OFF_NOTE}.`,
        "Every paid request carries its own authorization, signed " +
          "before the measured window; the reference's best configuration " +
          "is searched over connection counts and both rounds.",
        "The machine is shared with other workloads (see loadAverageAtEnd): " +
          "absolute figures vary from run to run; the ratio is " +
          "measured side by side in one run.",
      ],
    };
    const out = new URL(`./results/${env.BENCH_RESULTS ?? "server.json"}`, import.meta.url);
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
