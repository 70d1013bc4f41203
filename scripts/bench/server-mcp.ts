// The MCP row of bench:server: paid MCP tool calls per second against paid HTTP requests for the
// same model, on one `royalty402 serve` process (∞-gram model with attribution, embedded
// facilitator, SQLite ledger) on its own Hardhat node, the load generator in its own process.
// Every call carries its own authorization, signed before the measured window (HTTP: in
// PAYMENT-SIGNATURE; MCP: a stateless tools/call with it in _meta["x402/payment"]). Rounds
// alternate HTTP, MCP, MCP, HTTP; a call counts when it was paid and answered (HTTP 200; MCP: a
// result carrying a successful settlement), and the splitter must hold exactly what they paid.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload } from "@x402/core/types";
import { Wallet } from "ethers";
import { deployOnNode, freePort, startHardhatNode, startServer } from "../shared/processes.ts";
import { benchServeConfig, signPayloads } from "../shared/paid-load.ts";

const env = process.env;
const CONNECTIONS = Number(env.BENCH_MCP_CONNECTIONS ?? 64);
const REQUESTS = Number(env.BENCH_MCP_REQUESTS ?? 600);
const ROUNDS = Number(env.BENCH_MCP_ROUNDS ?? 4); // ABBA blocks of HTTP and MCP: an even number
const WARMUP = 200;
const PAYERS = 64;
const MODEL = "bench-ngram";
const PROMPT = "The jury said it did find that many of";
const MAX_TOKENS = 16;
const SETTLED = '"x402/payment-response":{"success":true';

interface LoadResult {
  requests: number;
  statusCodes: Record<string, number>;
  seconds: number;
  latencyMs: { p50: number; p90: number; p99: number; mean: number };
  bodyMatches?: number;
}
type Drive = (job: { url: string; connections: number; amount: number; [field: string]: unknown }) => Promise<LoadResult>;

const toolCall = (payment: PaymentPayload, id: number) =>
  JSON.stringify({
    jsonrpc: "2.0",
    id,
    method: "tools/call",
    params: { name: MODEL, arguments: { prompt: PROMPT, max_tokens: MAX_TOKENS }, _meta: { "x402/payment": payment } },
  });

function serverConfig(dir: string, port: number, deployed: Awaited<ReturnType<typeof deployOnNode>>, nodeUrl: string) {
  const target = { port, nodeUrl, token: deployed.tokenAddress, factory: deployed.factoryAddress, dataDir: join(dir, "data") };
  return benchServeConfig(MODEL, target, {
    logLevel: "error",
    database: { sqlitePath: join(dir, "ledger.sqlite") },
    epochs: { enabled: false },
  });
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** CPU seconds a process used so far (Linux /proc; USER_HZ 100): the server's cost per call, less sensitive to other tenants. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Paid MCP tool calls/s and paid HTTP requests/s for the same model, side by side. */
export async function mcpRow(drive: Drive) {
  const dir = mkdtempSync(join(tmpdir(), "r402-bench-mcp-"));
  const node = await startHardhatNode();
  let server: ReturnType<typeof startServer> | null = null;
  try {
    const deployed = await deployOnNode(node);
    const payers = Array.from({ length: PAYERS }, () => new Wallet(Wallet.createRandom().privateKey));
    for (const p of payers) await deployed.mint(p.address, 10n ** 13n);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const configFile = join(dir, "royalty402.json");
    writeFileSync(configFile, JSON.stringify(serverConfig(dir, port, deployed, node.url)));
    const keys = { ROYALTY402_RELAYER_KEY: deployed.relayerKey, ROYALTY402_ORACLE_KEY: deployed.oracleKey };
    server = startServer(configFile, keys, base, () => {});
    await server.ready;
    const body = JSON.stringify({ model: MODEL, prompt: PROMPT, max_tokens: MAX_TOKENS });
    const post = { method: "POST", headers: { "content-type": "application/json" } };
    const challenge = await fetch(`${base}/v1/completions`, { ...post, body });
    const accepted = decodePaymentRequiredHeader(challenge.headers.get("payment-required")!).accepts[0];
    const balance = async (): Promise<bigint> => (deployed.token.getFunction("balanceOf") as any)(accepted.payTo);

    const spare = 2 * CONNECTIONS + 8;
    const files = (name: string, payments: PaymentPayload[], line: (p: PaymentPayload, i: number) => string) => {
      const file = join(dir, `${name}.txt`);
      writeFileSync(file, payments.map(line).join("\n"));
      return file;
    };
    console.log(`mcp row: signing ${2 * (WARMUP + ROUNDS * REQUESTS) + (2 + 2 * ROUNDS) * spare} authorizations`);
    const jobs: Record<"http" | "mcp", Array<Parameters<Drive>[0]>> = { http: [], mcp: [] };
    for (let i = 0; i <= ROUNDS; i++) {
      const amount = i === 0 ? WARMUP : REQUESTS;
      const http = signPayloads(payers, accepted, amount + spare);
      const mcp = signPayloads(payers, accepted, amount + spare);
      jobs.http.push({
        ...post,
        url: `${base}/v1/completions`,
        body,
        connections: CONNECTIONS,
        amount,
        headersFile: files(`h${i}`, http, encodePaymentSignatureHeader),
      });
      jobs.mcp.push({
        ...post,
        url: `${base}/mcp`,
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        connections: CONNECTIONS,
        amount,
        bodiesFile: files(`m${i}`, mcp, toolCall),
        countBody: SETTLED,
      });
    }
    const settle = () => new Promise((r) => setTimeout(r, 1500));
    console.log(`mcp row: warm-up, ${WARMUP} paid HTTP requests and ${WARMUP} paid MCP tool calls`);
    await drive(jobs.http[0]);
    await drive(jobs.mcp[0]);
    await settle();

    const runs: Array<{
      serverCpuMsPerCall: number;
      transport: "http" | "mcp";
      ok: number;
      okPerSecond: number;
      seconds: number;
      latencyMs: LoadResult["latencyMs"];
      paidOnChain: string;
    }> = [];
    for (let i = 1; i <= ROUNDS; i++) {
      const order = i % 2 === 1 ? (["http", "mcp"] as const) : (["mcp", "http"] as const);
      for (const transport of order) {
        const before = await balance();
        const cpu0 = cpuSeconds(server.child.pid!);
        const r = await drive(jobs[transport][i]);
        const serverCpuMsPerCall = round2(((cpuSeconds(server.child.pid!) - cpu0) * 1000) / Math.max(1, r.requests));
        const ok = transport === "http" ? (r.statusCodes["200"] ?? 0) : (r.bodyMatches ?? 0);
        await settle();
        const paidOnChain = ((await balance()) - before) / BigInt(accepted.amount);
        runs.push({
          transport,
          ok,
          okPerSecond: round2(ok / r.seconds),
          seconds: round2(r.seconds),
          latencyMs: r.latencyMs,
          serverCpuMsPerCall,
          paidOnChain: paidOnChain.toString(),
        });
        console.log(runs.at(-1));
      }
    }
    const rate = (t: "http" | "mcp") => runs.filter((r) => r.transport === t).map((r) => r.okPerSecond);
    const cpu = (t: "http" | "mcp") => runs.filter((r) => r.transport === t).map((r) => r.serverCpuMsPerCall);
    const pairRatios = rate("mcp").map((m, i) => round2(m / rate("http")[i]));
    return {
      stack: "royalty402 serve (∞-gram model with attribution, embedded facilitator, SQLite) on its own hardhat node (automine)",
      model: MODEL,
      price: accepted.amount,
      connections: CONNECTIONS,
      requestsPerRound: REQUESTS,
      order: "rounds alternate HTTP, MCP, MCP, HTTP after a warm-up of each",
      runs,
      meanPerSecond: {
        http: round2(rate("http").reduce((a, b) => a + b, 0) / ROUNDS),
        mcp: round2(rate("mcp").reduce((a, b) => a + b, 0) / ROUNDS),
      },
      pairRatios,
      ratio: round2(median(pairRatios)),
      serverCpuMsPerCall: { http: median(cpu("http")), mcp: median(cpu("mcp")), ratio: round2(median(cpu("http")) / median(cpu("mcp"))) },
      target: ">= 0.8",
      everyAnswerPaidOnChain: runs.every((r) => r.paidOnChain === String(r.ok)),
    };
  } finally {
    await server?.terminate();
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
