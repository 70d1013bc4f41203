// npm run bench:soak — does the model host stay healthy as its history grows? Pays
// BENCH_SOAK_REQUESTS (default 10,000: about 5 minutes on a shared 2-core machine; the full
// run is 100,000) through `royalty402 serve --config` (the entry a user runs: embedded
// facilitator, SQLite ledger or BENCH_SOAK_DATABASE=postgres, ∞-gram model with attribution, epochs closing every 1,000 outputs) at
// 64 connections on a Hardhat node, each request with its own pre-signed x402 payment. Records:
//  - 10-second samples: paid requests/s, p50/p99, the server's event-loop lag (max), RSS and heap
//    (its /metrics), ledger bytes;
//  - read endpoints (dashboard summary, /epochs, an epoch document, /contributors/:top,
//    /attributions/:id, /metrics) after the first 1,000 outputs and at the end;
//  - an epoch of 10,000 outputs (the run's own records) built in this thread against the epoch
//    worker: how long it takes and the longest event-loop stall while the worker builds it;
//  - ledger bytes per paid output; lost, doubled and non-200 answers (every answer checked against
//    the chain and the ledger).
// Writes scripts/bench/results/soak.json. BENCH_SOAK_CONNECTIONS (64), BENCH_SOAK_EPOCH_PAYMENTS (1000).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { decodePaymentRequiredHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { Wallet, hexlify, randomBytes } from "ethers";
import { EpochWorker } from "../../server/epochs/worker-client.ts";
import { buildTask, type BuildTask } from "../../server/epochs/worker-tasks.ts";
import { benchServeConfig, drive, settledOnChain, signPayments, type Signed } from "../shared/paid-load.ts";
import { soakDatabase, type SoakDatabase } from "../shared/soak-database.ts";
import { deployOnNode, freePort, startHardhatNode, startServer, type HardhatNode } from "../shared/processes.ts";

const REQUESTS = Number(process.env.BENCH_SOAK_REQUESTS ?? 10_000);
const CONNECTIONS = Number(process.env.BENCH_SOAK_CONNECTIONS ?? 64);
const EPOCH_PAYMENTS = Number(process.env.BENCH_SOAK_EPOCH_PAYMENTS ?? 1000);
const DATABASE = process.env.BENCH_SOAK_DATABASE ?? "sqlite";
const FIRST_READS_AT = 1000;
const SAMPLE_MS = 10_000;
const CLOSE_OUTPUTS = 10_000;
const MODEL = "brown-ngram";
const BODY = JSON.stringify({ model: MODEL, prompt: "The jury said", max_tokens: 8 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** One value of the server's Prometheus text (the first series of that name). */
function metric(text: string, name: string): number | null {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : null;
}

/** Samples every 10 s: answers in the window, their latency, and the server's own figures. */
class Sampler {
  readonly samples: Array<Record<string, number | null>> = [];
  private window: number[] = [];
  private readonly started = performance.now();
  private timer: NodeJS.Timeout | null = null;
  private cpuSeconds = 0;

  constructor(
    private readonly base: string,
    private readonly db: SoakDatabase,
  ) {}

  answer(ms: number): void {
    this.window.push(ms);
  }

  async start(): Promise<void> {
    this.cpuSeconds = metric(await (await fetch(`${this.base}/metrics`)).text(), "royalty402_process_cpu_seconds_total") ?? 0;
    this.timer = setInterval(() => void this.sample(), SAMPLE_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    const latencies = this.window.sort((a, b) => a - b);
    this.window = [];
    const text = await (await fetch(`${this.base}/metrics`)).text();
    const lag = metric(text, "royalty402_nodejs_eventloop_lag_max_seconds");
    // CPU the server spent per answer: unlike latency, hardly moved by other jobs on the machine.
    const cpu = metric(text, "royalty402_process_cpu_seconds_total") ?? 0;
    const cpuMs = (cpu - this.cpuSeconds) * 1000;
    this.cpuSeconds = cpu;
    const s = {
      atSeconds: round((performance.now() - this.started) / 1000),
      requestsPerSecond: round(latencies.length / (SAMPLE_MS / 1000)),
      p50Ms: round(percentile(latencies, 50)),
      p99Ms: round(percentile(latencies, 99)),
      eventLoopLagMaxMs: lag === null ? null : round(lag * 1000),
      serverCpuMsPerRequest: latencies.length === 0 ? null : round(cpuMs / latencies.length, 2),
      rssMB: round((metric(text, "royalty402_process_resident_memory_bytes") ?? 0) / 2 ** 20),
      heapUsedMB: round((metric(text, "royalty402_nodejs_heap_size_used_bytes") ?? 0) / 2 ** 20),
      ledgerMB: round((await this.db.bytes()) / 2 ** 20, 2),
    };
    this.samples.push(s);
    console.log(JSON.stringify(s));
  }
}

/** The server's CPU per answer over the given windows (weighted by their answers). */
function cpuPerRequest(samples: Array<Record<string, number | null>>): number | null {
  const counted = samples.filter((s) => s.serverCpuMsPerRequest != null && s.requestsPerSecond);
  const answers = counted.reduce((n, s) => n + (s.requestsPerSecond ?? 0), 0);
  const cpu = counted.reduce((n, s) => n + (s.serverCpuMsPerRequest ?? 0) * (s.requestsPerSecond ?? 0), 0);
  return answers === 0 ? null : round(cpu / answers, 2);
}

/** Median and first time (ms) of 5 sequential GETs of each read endpoint. */
async function readTimings(base: string): Promise<Record<string, { firstMs: number; medianMs: number; status: number }>> {
  const epochs = ((await (await fetch(`${base}/epochs`)).json()) as { epochs: Array<{ splitter: string; epoch: number }> }).epochs;
  const last = epochs.at(-1);
  const doc = last ? ((await (await fetch(`${base}/epochs/${last.splitter}/${last.epoch}`)).json()) as any) : null;
  const top = doc?.allocations?.slice().sort((a: any, b: any) => (BigInt(b.amount) > BigInt(a.amount) ? 1 : -1))[0]?.account;
  const paths: Record<string, string | null> = {
    dashboardSummary: "/dashboard/api/summary",
    epochList: "/epochs",
    epochDocument: last ? `/epochs/${last.splitter}/${last.epoch}` : null,
    topContributor: top ? `/contributors/${top}` : null,
    attribution: doc ? `/attributions/${doc.payments[0].outputId}` : null,
    metrics: "/metrics",
  };
  const out: Record<string, { firstMs: number; medianMs: number; status: number }> = {};
  for (const [name, path] of Object.entries(paths)) {
    if (!path) continue;
    const times: number[] = [];
    let status = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const res = await fetch(`${base}${path}`);
      await res.arrayBuffer();
      times.push(performance.now() - t0);
      status = res.status;
    }
    out[name] = { firstMs: round(times[0]), medianMs: round(times.slice().sort((a, b) => a - b)[2]), status };
  }
  return out;
}

/** Waits (up to 60 s) for the first epoch to be listed, so the first reads include an epoch document. */
async function firstEpoch(base: string): Promise<void> {
  for (let i = 0; i < 120; i++) {
    const { epochs } = (await (await fetch(`${base}/epochs`)).json()) as { epochs: unknown[] };
    if (epochs.length > 0) return;
    await sleep(500);
  }
}

/** Every answer against the chain and the ledger: 200s settled once with an output, nothing charged for a refusal. */
async function checkAnswers(
  node: HardhatNode,
  req: PaymentRequirements,
  fromBlock: number,
  db: SoakDatabase,
  payments: Signed[],
  statuses: Map<number, number>,
) {
  const onChain = await settledOnChain(node.provider, req.payTo, fromBlock);
  const ledger = db.openLedger();
  await ledger.migrate();
  let lost = 0;
  let doubled = 0;
  let chargedForRefusal = 0;
  for (const [i, status] of statuses) {
    const { payer, nonce } = payments[i];
    const events = onChain.get(`${payer}:${nonce}`) ?? 0;
    if (events > 1) doubled++;
    if (status !== 200) {
      if (events > 0) chargedForRefusal++;
      continue;
    }
    const row = await ledger.getPayment({ network: "eip155:31337", asset: req.asset.toLowerCase(), payer, nonce });
    if (events !== 1 || row?.status !== "settled" || !(await ledger.getOutput(row.outputId ?? ""))) lost++;
  }
  const records = await ledger.listUnassignedSettledOutputs(MODEL, CLOSE_OUTPUTS);
  const assigned = await ledger.listEpochOutputs(MODEL, 1);
  await ledger.close();
  return { lost, doubled, chargedForRefusal, settledOnChain: onChain.size, sampleRecords: [...assigned, ...records].map((o) => o.record) };
}

/**
 * Live bytes of the ledger per settled output, by table and index, now and past the retention
 * period (held outputs pruned, settled payloads emptied: the ledger's own prune).
 */
async function bytesPerOutput(db: SoakDatabase, outputs: number) {
  const measure = async () => {
    const { total, byName } = await db.liveBytes();
    const perOutput = Object.entries(byName)
      .map(([name, bytes]) => [name, Math.round(bytes / outputs)] as const)
      .filter(([, v]) => v >= 5)
      .sort((a, b) => b[1] - a[1]);
    return { total: Math.round(total / outputs), byTable: Object.fromEntries(perOutput) };
  };
  const withinRetention = await measure();
  const ledger = db.openLedger();
  await ledger.pruneHeldOutputs(Date.now() + 1);
  await ledger.close();
  return { withinRetention, pastRetention: await measure() };
}

/**
 * An epoch of 10,000 outputs (this run's records, repeated under new ids): built in this thread
 * (what blocked the event loop before) and in the epoch worker, with the longest event-loop stall
 * seen by a 1 ms timer meanwhile.
 */
async function closeCost(records: string[]) {
  const task: BuildTask = {
    epoch: 1,
    ownerBps: 500,
    protocolBps: 100,
    modelOwner: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    payments: Array.from({ length: CLOSE_OUTPUTS }, (_, i) => ({
      outputId: hexlify(randomBytes(32)),
      amount: 1000n,
      record: records[i % records.length],
    })),
  };
  const stalls = async (work: () => Promise<unknown>) => {
    let last = performance.now();
    let worst = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }, 1);
    const t0 = performance.now();
    await work();
    const ms = performance.now() - t0;
    await sleep(5);
    clearInterval(timer);
    return { ms: round(ms), longestStallMs: round(worst) };
  };
  const worker = new EpochWorker();
  await worker.run({ op: "outputIds", stored: JSON.stringify({ payments: [] }) }); // started and loaded
  const inThread = await stalls(async () => buildTask(task));
  const inWorker = await stalls(() => worker.run({ op: "build", task }));
  await worker.close();
  return { outputs: CLOSE_OUTPUTS, inThisThread: inThread, inTheEpochWorker: inWorker };
}

/** BENCH_SOAK_CPU_PROF=dir: the server writes a V8 CPU profile there when it stops (read it for long tasks). */
function profiling(): Record<string, string> {
  const dir = process.env.BENCH_SOAK_CPU_PROF;
  return dir ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --cpu-prof --cpu-prof-dir=${dir}`.trim() } : {};
}

/** soak.json: the SQLite run at the top level, a PostgreSQL run under `postgres` (each run replaces its own part). */
function writeResults(results: Record<string, unknown>): void {
  const file = new URL("./results/soak.json", import.meta.url);
  const previous = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>) : {};
  const next = DATABASE === "sqlite" ? { ...results, postgres: previous.postgres } : { ...previous, [DATABASE]: results };
  writeFileSync(file, `${JSON.stringify(next, null, 2)}\n`);
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "r402-bench-soak-"));
  const db = await soakDatabase(DATABASE, dir);
  console.log("starting hardhat node");
  const node = await startHardhatNode();
  let server: ReturnType<typeof startServer> | null = null;
  try {
    const deployed = await deployOnNode(node);
    const payers = Array.from({ length: CONNECTIONS }, () => new Wallet(Wallet.createRandom().privateKey));
    for (const p of payers) await deployed.mint(p.address, 10n ** 13n);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const configFile = join(dir, "royalty402.json");
    const target = { port, nodeUrl: node.url, token: deployed.tokenAddress, factory: deployed.factoryAddress, dataDir: join(dir, "data") };
    const epochs = { paymentCount: EPOCH_PAYMENTS, checkIntervalSeconds: 2 };
    writeFileSync(configFile, JSON.stringify(benchServeConfig(MODEL, target, { logLevel: "warn", database: db.config, epochs })));
    console.log("starting the model host (royalty402 serve --config)");
    let serverLog = "";
    const keys = { ROYALTY402_RELAYER_KEY: deployed.relayerKey, ROYALTY402_ORACLE_KEY: deployed.oracleKey, ...db.env, ...profiling() };
    server = startServer(configFile, keys, base, (chunk) => {
      serverLog = (serverLog + chunk).slice(-8000);
    });
    await server.ready.catch((e) => {
      throw new Error(`${(e as Error).message}\n${serverLog}`);
    });
    const challenge = await fetch(`${base}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: BODY,
    });
    const req = decodePaymentRequiredHeader(challenge.headers.get("payment-required")!).accepts[0];
    console.log(`signing ${REQUESTS} payments`);
    const payments = signPayments(payers, req, REQUESTS + 2 * CONNECTIONS);
    const fromBlock = await node.provider.getBlockNumber();
    const sampler = new Sampler(base, db);
    const statuses = new Map<number, number>();
    const onAnswer = (i: number, status: number, ms: number) => {
      statuses.set(i, status);
      sampler.answer(ms);
    };
    const url = `${base}/v1/completions`;
    await sampler.start();
    const t0 = performance.now();

    // The first 1,000, the reads then, the rest (each phase waits for its last answer).
    console.log(`paying ${REQUESTS} requests at ${CONNECTIONS} connections, an epoch every ${EPOCH_PAYMENTS} outputs`);
    const first = Math.min(FIRST_READS_AT, REQUESTS);
    await drive(url, BODY, payments.slice(0, first), { connections: CONNECTIONS, amount: first, onAnswer });
    await firstEpoch(base);
    const readsAtFirst = await readTimings(base);
    console.log("reads at ~1k:", JSON.stringify(readsAtFirst));
    const rest = payments.slice(first);
    await drive(url, BODY, rest, {
      connections: CONNECTIONS,
      amount: REQUESTS - first,
      onAnswer: (i, status, ms) => onAnswer(first + i, status, ms),
    });
    const seconds = (performance.now() - t0) / 1000;
    sampler.stop();
    await sleep(4000); // the last batches and an epoch close
    const readsAtEnd = await readTimings(base);
    console.log("reads at the end:", JSON.stringify(readsAtEnd));
    const exitCode = await server.terminate();
    server = null;

    const check = await checkAnswers(node, req, fromBlock, db, payments, statuses);
    const ok = [...statuses.values()].filter((s) => s === 200).length;
    const close = await closeCost(check.sampleRecords);
    console.log("10,000-output epoch:", JSON.stringify(close));
    const steady = sampler.samples.slice(1);
    const results = {
      command: DATABASE === "sqlite" ? "npm run bench:soak" : `BENCH_SOAK_DATABASE=${DATABASE} npm run bench:soak`,
      database: DATABASE,
      requests: REQUESTS,
      connections: CONNECTIONS,
      epochEveryOutputs: EPOCH_PAYMENTS,
      seconds: round(seconds),
      requestsPerSecond: round(ok / seconds),
      ok,
      non200: statuses.size - ok,
      notAnswered: REQUESTS - statuses.size,
      paymentsLost: check.lost,
      paymentsDoubled: check.doubled,
      chargedForARefusal: check.chargedForRefusal,
      settledOnChain: check.settledOnChain,
      worstWindow: {
        p99Ms: Math.max(...steady.map((s) => s.p99Ms ?? 0)),
        eventLoopLagMaxMs: Math.max(...steady.map((s) => s.eventLoopLagMaxMs ?? 0)),
        rssMB: Math.max(...steady.map((s) => s.rssMB ?? 0)),
      },
      serverCpuMsPerRequest: cpuPerRequest(steady),
      ledgerBytesPerOutput: await bytesPerOutput(db, ok),
      reads: { atFirst1000: readsAtFirst, atEnd: readsAtEnd },
      epochClose: close,
      samples: sampler.samples,
      serverExitCode: exitCode,
      loadAverageAtEnd: loadavg().map((x) => round(x, 2)),
      measuredAt: new Date().toISOString(),
    };
    mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
    writeResults(results);
    const { samples: _, ...summary } = results;
    console.log(JSON.stringify(summary, null, 2));
    const failed = results.paymentsLost + results.paymentsDoubled + results.chargedForARefusal + results.non200 > 0 || exitCode !== 0;
    return failed ? 1 : 0;
  } finally {
    if (server) await server.terminate();
    await node.stop();
    await db.stop();
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
