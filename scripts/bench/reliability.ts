// npm run bench:reliability — paid load on the whole model host (nothing lost, nothing doubled): autocannon at
// 64 connections for 30 s of paid requests, each with its own pre-signed x402 payment, against
// royalty402 serve --config (embedded facilitator, SQLite ledger, ∞-gram model with attribution, epoch
// scheduler) on a Hardhat node, all as separate processes on this machine. Then every answer is
// checked against the chain and the ledger: zero errors, zero non-2xx, every 200 settled on-chain
// exactly once and recorded as settled with its output, no refused request charged.
// Writes requests/s and latency to scripts/bench/results/reliability.json ("load") and exits 1
// if any payment was lost or doubled or any request failed.
//   BENCH_RELIABILITY_SECONDS (30), BENCH_RELIABILITY_CONNECTIONS (64),
//   BENCH_RELIABILITY_EPOCH_PAYMENTS (2000: an epoch closes every 2000 settled payments; 0: off)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { decodePaymentRequiredHeader } from "@x402/core/http";
import { Wallet } from "ethers";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import { benchServeConfig, drive, settledOnChain, signPayments } from "../shared/paid-load.ts";
import { deployOnNode, freePort, startHardhatNode, startServer } from "../shared/processes.ts";
import { recordResults } from "../shared/results.ts";

const SECONDS = Number(process.env.BENCH_RELIABILITY_SECONDS ?? 30);
const CONNECTIONS = Number(process.env.BENCH_RELIABILITY_CONNECTIONS ?? 64);
const EPOCH_PAYMENTS = Number(process.env.BENCH_RELIABILITY_EPOCH_PAYMENTS ?? 2000); // 0: epochs off
const PAYERS = 64;
const MODEL = "brown-ngram";
const BODY = JSON.stringify({ model: MODEL, prompt: "The jury said", max_tokens: 8 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "r402-bench-rel-"));
  console.log("starting hardhat node");
  const node = await startHardhatNode();
  let server: ReturnType<typeof startServer> | null = null;
  try {
    const deployed = await deployOnNode(node);
    const payers = Array.from({ length: PAYERS }, () => new Wallet(Wallet.createRandom().privateKey));
    for (const p of payers) await deployed.mint(p.address, 10n ** 13n);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const dbPath = join(dir, "ledger.sqlite");
    const configFile = join(dir, "royalty402.json");
    const target = { port, nodeUrl: node.url, token: deployed.tokenAddress, factory: deployed.factoryAddress, dataDir: join(dir, "data") };
    const epochs = EPOCH_PAYMENTS > 0 ? { paymentCount: EPOCH_PAYMENTS, checkIntervalSeconds: 2 } : { enabled: false };
    const database = { sqlitePath: dbPath };
    writeFileSync(configFile, JSON.stringify(benchServeConfig(MODEL, target, { logLevel: "info", database, epochs })));
    console.log("starting the model host (royalty402 serve --config)");
    let serverLog = "";
    server = startServer(
      configFile,
      { ROYALTY402_RELAYER_KEY: deployed.relayerKey, ROYALTY402_ORACLE_KEY: deployed.oracleKey },
      base,
      (chunk) => {
        if (/"level":(50|60)/.test(chunk)) serverLog = (serverLog + chunk).slice(-8000); // errors only
      },
    );
    await server.ready;
    const challenge = await fetch(`${base}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: BODY,
    });
    const req = decodePaymentRequiredHeader(challenge.headers.get("payment-required")!).accepts[0];
    const url = `${base}/v1/completions`;

    // Warm-up, which also sizes the pre-signed supply: the measured run must never run dry.
    const warmupCount = 1000;
    const warm = await drive(url, BODY, signPayments(payers, req, warmupCount + 2 * CONNECTIONS), {
      connections: CONNECTIONS,
      amount: warmupCount,
    });
    const warmRate = warm.result.requests.total / warm.seconds;
    const supply = Math.ceil(warmRate * SECONDS * 2) + 4 * CONNECTIONS + 2000;
    console.log(`warm-up: ${warmRate.toFixed(0)} paid requests/s; signing ${supply} payments for the ${SECONDS} s run`);
    const payments = signPayments(payers, req, supply);
    const fromBlock = await node.provider.getBlockNumber();
    await sleep(1000);

    console.log(`measured run: ${CONNECTIONS} connections, ${SECONDS} s`);
    const run = await drive(url, BODY, payments, { connections: CONNECTIONS, duration: SECONDS });
    const r = run.result;
    const ok = [...run.statuses.values()].filter((s) => s === 200).length;
    const answers = [...run.statuses.values()].reduce((m, s) => m.set(s, (m.get(s) ?? 0) + 1), new Map<number, number>());
    console.log(`answers: ${JSON.stringify(Object.fromEntries(answers))}, errors ${r.errors}, timeouts ${r.timeouts}`);

    // Let the last batches and the ledger writes land, then stop the server cleanly.
    await sleep(3000);
    const exitCode = await server.terminate();
    server = null;

    // ---- every answer against the chain and the ledger ----
    const onChain = await settledOnChain(node.provider, req.payTo, fromBlock);
    const ledger = new SqliteLedger({ path: dbPath });
    await ledger.migrate();
    const asset = req.asset.toLowerCase();
    let lost = 0; // answered 200 but not settled once (chain and ledger), or charged but not recorded
    let doubled = 0;
    let chargedForRefusal = 0;
    let withoutOutput = 0;
    for (let i = 0; i < run.issued; i++) {
      const { payer, nonce } = payments[i];
      const events = onChain.get(`${payer}:${nonce}`) ?? 0;
      const row = await ledger.getPayment({ network: "eip155:31337", asset, payer, nonce });
      const status = run.statuses.get(i);
      if (events > 1) doubled++;
      if (status === 200) {
        if (events !== 1 || row?.status !== "settled") lost++;
        else if (!(await ledger.getOutput(row.outputId ?? ""))) withoutOutput++;
      } else if (status !== undefined) {
        if (events > 0) chargedForRefusal++;
      } else if (events === 1 && row?.status !== "settled") lost++; // in flight at the end: the books must still agree
    }
    await ledger.close();

    const nonOk = run.statuses.size - ok;
    const results = {
      command: "npm run bench:reliability",
      stack:
        "royalty402 serve --config (fastify, x402 plugin, embedded facilitator settleBatch ≤32/25 ms, SQLite ledger " +
        "synchronous=FULL, ∞-gram model + attribution per output, " +
        "epoch scheduler) on a hardhat node (automine); autocannon in " +
        "the bench process; three processes on this machine",
      connections: CONNECTIONS,
      epochEveryPayments: EPOCH_PAYMENTS || null,
      seconds: Math.round(run.seconds * 10) / 10,
      requests: r.requests.total,
      ok,
      non2xx: nonOk,
      errors: r.errors,
      timeouts: r.timeouts,
      requestsPerSecond: Math.round((ok / run.seconds) * 10) / 10,
      latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
      settledOnChain: onChain.size,
      inFlightAtEnd: run.issued - run.statuses.size,
      paymentsLost: lost,
      chargedForARefusal: chargedForRefusal,
      paymentsDoubled: doubled,
      paidWithoutStoredOutput: withoutOutput,
      serverExitCode: exitCode,
      loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100),
    };
    console.log(JSON.stringify(results, null, 2));
    await recordResults("load", results);
    await recordContractsSections();
    const failures = [
      r.errors > 0 && `${r.errors} connection errors`,
      r.timeouts > 0 && `${r.timeouts} timeouts`,
      nonOk > 0 && `${nonOk} non-200 answers`,
      lost > 0 && `${lost} answered 200 but not settled once on-chain and in the ledger`,
      chargedForRefusal > 0 && `${chargedForRefusal} charged although refused`,
      doubled > 0 && `${doubled} settled twice`,
      withoutOutput > 0 && `${withoutOutput} paid without a stored output`,
      run.seconds < SECONDS - 1 && `the run lasted ${run.seconds} s`,
      exitCode !== 0 && `the server exited with ${exitCode}`,
    ].filter(Boolean);
    if (failures.length) {
      console.error(`bench:reliability FAILED: ${failures.join("; ")}\n${serverLog}`);
      return 1;
    }
    console.log("bench:reliability: zero errors, zero lost or doubled payments");
    return 0;
  } finally {
    if (server) await server.terminate();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);

/** griefing, roles and frontRun as `npm run bench:gas` measured them (contracts-reliability.json), each its own section. */
async function recordContractsSections(): Promise<void> {
  let measured: Record<string, unknown>;
  try {
    measured = JSON.parse(readFileSync(new URL("./results/contracts-reliability.json", import.meta.url), "utf8"));
  } catch {
    return; // bench:gas has not run here
  }
  for (const section of ["griefing", "roles", "frontRun"]) {
    const data = measured[section];
    if (!data || typeof data !== "object") continue;
    await recordResults(section, { ...(data as Record<string, unknown>), measuredBy: measured.command, measuredAt: measured.date });
  }
}
