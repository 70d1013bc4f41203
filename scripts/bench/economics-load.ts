// Paid requests/s through batch-settlement channels against the same route served unpaid (bench:economics).
// Process layout, the same for both: a Hardhat node, the server process, and this process as the load
// generator. Paid: `royalty402 serve --config` with channels (the reference client deposits once per
// payer, then every request carries a cumulative voucher signed beforehand with the reference client's
// signVoucher). Unpaid: economics-unpaid.ts, the same completion route from the same configuration
// without the payment plugin. Each connection is one payer's channel, so its vouchers go in order.
// Rounds alternate (unpaid, paid, unpaid, paid); afterwards the channels are swept and every 200 is
// checked against the ChannelOutputsPaid links on-chain.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodePaymentRequiredHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import { toClientEvmSigner } from "@x402/evm";
import { BatchSettlementEvmScheme, computeChannelId, signVoucher } from "@x402/evm/batch-settlement/client";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { Wallet, ethers as E } from "ethers";
import { createWalletClient, defineChain, http as viemHttp, publicActions, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { installX402Contracts, type RpcSender } from "../../server/chain/x402/install.ts";
import { benchServeConfig } from "../shared/paid-load.ts";
import { deployOnNode, freePort, startHardhatNode, startServer, type HardhatNode } from "../shared/processes.ts";

const env = process.env;
const CONNECTIONS = Number(env.BENCH_ECONOMICS_CONNECTIONS ?? 32);
const ROUND_SECONDS = Number(env.BENCH_ECONOMICS_ROUND_SECONDS ?? 15);
const ROUNDS = Number(env.BENCH_ECONOMICS_ROUNDS ?? 2);
const VOUCHERS_PER_CHANNEL = Number(env.BENCH_ECONOMICS_VOUCHERS ?? 1000);
const PROFILE_DIR = env.BENCH_ECONOMICS_PROFILE; // a folder: the servers write .cpuprofile files in its paid/ and unpaid/
const WARMUP_SECONDS = 3;
const MODEL = "brown-ngram";
const BODY = JSON.stringify({ model: MODEL, prompt: "The jury said", max_tokens: 8 });
const NETWORK = "eip155:31337";
const ADMIN_TOKEN = E.hexlify(E.randomBytes(24)).slice(2);
const HUNDRED_ETH = "0x56BC75E2D63100000";
const LINK_TOPIC = E.id("ChannelOutputsPaid(bytes32,uint256,uint256)");

interface Round {
  kind: "unpaid" | "paid";
  seconds: number;
  ok: number;
  failed: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU the server process used in the round, per answered request: steadier than req/s on a shared machine. */
  serverCpuMsPerRequest: number;
  statuses: Record<string, number>;
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0;

/** CPU seconds a process (all its threads) has used so far (Linux /proc). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, USER_HZ ticks
}

/** One connection per loop; each loop sends its requests one after another for `seconds`. */
async function load(
  target: { url: string; pid: number },
  seconds: number,
  headersOf: (loop: number) => Record<string, string> | null,
  kind: Round["kind"],
): Promise<Round> {
  const { url } = target;
  const cpuBefore = cpuSeconds(target.pid);
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  const loop = async (i: number) => {
    while (performance.now() < end) {
      const headers = headersOf(i);
      if (!headers) return; // this channel's vouchers are used up
      const t0 = performance.now();
      const status = await post(url, agent, headers);
      latencies.push(performance.now() - t0);
      statuses[status] = (statuses[status] ?? 0) + 1;
      if (status !== 200 && kind === "paid") return; // a refused voucher breaks its channel's cumulative sequence
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => loop(i)));
  const elapsed = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(target.pid) - cpuBefore;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const ok = statuses["200"] ?? 0;
  return {
    kind,
    seconds: round1(elapsed),
    ok,
    failed: latencies.length - ok,
    perSecond: round1(ok / elapsed),
    p50Ms: round1(percentile(latencies, 50)),
    p99Ms: round1(percentile(latencies, 99)),
    serverCpuMsPerRequest: round1((cpu * 1000) / Math.max(1, latencies.length)),
    statuses,
  };
}

function post(url: string, agent: http.Agent, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent, headers: { "content-type": "application/json", ...headers } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(BODY);
  });
}

/** NODE_OPTIONS that make a server write its CPU profiles into PROFILE_DIR/name when it exits. */
function profileOptions(name: string): Record<string, string> {
  return { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${join(PROFILE_DIR!, name)}` };
}

/** The unpaid twin (economics-unpaid.ts) as a child process, ready when /healthz answers. */
async function startUnpaid(configFile: string, keys: Record<string, string>, base: string) {
  const child = spawn(process.execPath, ["--import", "tsx", new URL("./economics-unpaid.ts", import.meta.url).pathname, configFile], {
    env: { ...process.env, ...keys },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  for (const deadline = Date.now() + 120_000; Date.now() < deadline; ) {
    if (child.exitCode !== null) throw new Error("the unpaid server exited before it was ready");
    const up = await fetch(`${base}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { pid: child.pid!, stop: async () => (child.kill("SIGTERM"), await exited) };
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGKILL");
  throw new Error("the unpaid server did not start within 120 s");
}

interface Channel {
  headers: string[];
  next: number;
}

/** Each payer's first paid request through the reference client (its deposit), then its vouchers signed ahead. */
async function openChannels(node: HardhatNode, url: string, offer: PaymentRequirements, payerKeys: Hex[]): Promise<Channel[]> {
  const chain = defineChain({
    id: 31337,
    name: "hardhat",
    nativeCurrency: { name: "ETH", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [node.url] } },
  });
  const price = BigInt(offer.amount);
  const depositMultiplier = VOUCHERS_PER_CHANNEL + 1;
  return Promise.all(
    payerKeys.map(async (key) => {
      const account = privateKeyToAccount(key);
      const wallet = createWalletClient({ account, chain, transport: viemHttp(node.url) }).extend(publicActions);
      const scheme = new BatchSettlementEvmScheme(toClientEvmSigner(account, wallet), { depositPolicy: { depositMultiplier } });
      const client = new x402Client().register(NETWORK, scheme);
      client.setSpendControls({ allowedAssets: [{ network: NETWORK, asset: offer.asset }] });
      const paidFetch = wrapFetchWithPayment(fetch, client);
      const first = await paidFetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: BODY });
      if (first.status !== 200) throw new Error(`the deposit request of ${account.address} got ${first.status}: ${await first.text()}`);
      const config = scheme.buildChannelConfig(offer);
      const channelId = computeChannelId(config, NETWORK);
      const signer = toClientEvmSigner(account);
      const headers: string[] = [];
      for (let k = 2; k <= VOUCHERS_PER_CHANNEL + 1; k++) {
        const voucher = await signVoucher(signer, channelId, String(price * BigInt(k)), NETWORK);
        headers.push(
          encodePaymentSignatureHeader({ x402Version: 2, accepted: offer, payload: { type: "voucher", channelConfig: config, voucher } }),
        );
      }
      return { headers, next: 0 };
    }),
  );
}

export async function channelThroughput() {
  const dir = mkdtempSync(join(tmpdir(), "r402-bench-economics-"));
  const node = await startHardhatNode();
  const closers: Array<() => Promise<unknown>> = [() => node.stop()];
  try {
    await installX402Contracts(node.provider as unknown as RpcSender);
    const deployed = await deployOnNode(node);
    const payerKeys = Array.from({ length: CONNECTIONS }, () => Wallet.createRandom().privateKey as Hex);
    for (const k of payerKeys) await deployed.mint(new Wallet(k).address, 10n ** 10n);
    const twinKeys = { ROYALTY402_RELAYER_KEY: Wallet.createRandom().privateKey, ROYALTY402_ORACLE_KEY: Wallet.createRandom().privateKey };
    for (const k of Object.values(twinKeys)) await node.provider.send("hardhat_setBalance", [new Wallet(k).address, HUNDRED_ETH]);

    const server = async (name: string) => {
      const port = await freePort();
      const target = { port, nodeUrl: node.url, token: deployed.tokenAddress, factory: deployed.factoryAddress, dataDir: join(dir, name) };
      const epochs = { paymentCount: 1_000_000, checkIntervalSeconds: 3600 }; // no epoch inside the measured window
      const config = benchServeConfig(MODEL, target, { logLevel: "warn", database: { sqlitePath: join(dir, `${name}.sqlite`) }, epochs });
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(config));
      return { file, base: `http://127.0.0.1:${port}` };
    };
    const paid = await server("paid");
    const unpaid = await server("unpaid");
    let log = "";
    const paidKeys: Record<string, string> = {
      ROYALTY402_RELAYER_KEY: deployed.relayerKey,
      ROYALTY402_ORACLE_KEY: deployed.oracleKey,
      ROYALTY402_ADMIN_TOKEN: ADMIN_TOKEN,
    };
    if (PROFILE_DIR) Object.assign(paidKeys, profileOptions("paid"));
    if (PROFILE_DIR) Object.assign(twinKeys, profileOptions("unpaid"));
    const paidServer = startServer(paid.file, paidKeys, paid.base, (chunk) => (log = (log + chunk).slice(-8000)));
    closers.push(() => paidServer.terminate());
    await paidServer.ready.catch((e) => {
      throw new Error(`${(e as Error).message}\n${log}`);
    });
    const twin = await startUnpaid(unpaid.file, twinKeys, unpaid.base);
    closers.push(() => twin.stop());

    const challenge = await fetch(`${paid.base}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: BODY,
    });
    const offer = decodePaymentRequiredHeader(challenge.headers.get("payment-required")!).accepts.find(
      (a) => a.scheme === "batch-settlement",
    );
    if (!offer) throw new Error("the paid server does not offer batch-settlement");
    const fromBlock = await node.provider.getBlockNumber();
    console.log(`opening ${CONNECTIONS} channels (one deposit each) and signing ${VOUCHERS_PER_CHANNEL} vouchers per channel`);
    const channels = await openChannels(node, `${paid.base}/v1/completions`, offer, payerKeys);
    const voucherOf = (i: number) => {
      const c = channels[i];
      return c.next < c.headers.length ? { "payment-signature": c.headers[c.next++] } : null;
    };
    const unpaidUrl = { url: `${unpaid.base}/v1/completions`, pid: twin.pid };
    const paidUrl = { url: `${paid.base}/v1/completions`, pid: paidServer.child.pid! };
    await load(unpaidUrl, WARMUP_SECONDS, () => ({}), "unpaid");
    const paidWarmup = await load(paidUrl, WARMUP_SECONDS, voucherOf, "paid");
    const rounds: Round[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      rounds.push(await load(unpaidUrl, ROUND_SECONDS, () => ({}), "unpaid"));
      rounds.push(await load(paidUrl, ROUND_SECONDS, voucherOf, "paid"));
      console.log(JSON.stringify(rounds.slice(-2)));
    }
    const ranOut = channels.filter((c) => c.next >= c.headers.length).length;
    // Every paid 200 (the deposit requests, the warm-up, the rounds) must be linked on-chain after the sweep.
    const paidOk = CONNECTIONS + paidWarmup.ok + rounds.filter((x) => x.kind === "paid").reduce((a, x) => a + x.ok, 0);
    const linked = await checkLinks(node, paid.base, offer.payTo, fromBlock);
    const sum = (kind: Round["kind"]) => rounds.filter((x) => x.kind === kind).reduce((a, x) => a + x.perSecond, 0);
    const ratio = sum("paid") / sum("unpaid");
    const pairs = rounds
      .filter((x) => x.kind === "paid")
      .map((x, i) => x.perSecond / rounds.filter((u) => u.kind === "unpaid")[i].perSecond);
    const cpu = (kind: Round["kind"]) => rounds.filter((x) => x.kind === kind).reduce((a, x) => a + x.serverCpuMsPerRequest, 0) / ROUNDS;
    return {
      connections: CONNECTIONS,
      roundSeconds: ROUND_SECONDS,
      body: JSON.parse(BODY),
      price: offer.amount,
      rounds,
      paidPerSecond: round1(sum("paid") / ROUNDS),
      unpaidPerSecond: round1(sum("unpaid") / ROUNDS),
      ratio: Math.round(ratio * 100) / 100,
      pairRatios: pairs.map((x) => Math.round(x * 100) / 100),
      serverCpuMsPerRequest: { paid: round1(cpu("paid")), unpaid: round1(cpu("unpaid")) },
      channelsOutOfVouchers: ranOut,
      paidAnswers: paidOk,
      linkedOnChain: linked,
      everyPaidAnswerLinked: linked.outputs === paidOk && BigInt(linked.amount) === BigInt(paidOk) * BigInt(offer.amount),
    };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  }
}

/** Sweeps now (admin route) and sums the outputs the splitter's ChannelOutputsPaid events link. */
async function checkLinks(node: HardhatNode, base: string, splitter: string, fromBlock: number) {
  const res = await fetch(`${base}/admin/channels/settle`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (!res.ok) throw new Error(`POST /admin/channels/settle answered ${res.status}: ${await res.text()}`);
  const logs = await node.provider.getLogs({ address: splitter, topics: [LINK_TOPIC], fromBlock: fromBlock + 1, toBlock: "latest" });
  const coder = E.AbiCoder.defaultAbiCoder();
  let outputs = 0n;
  let amount = 0n;
  for (const log of logs) {
    const [count, total] = coder.decode(["uint256", "uint256"], log.data);
    outputs += count as bigint;
    amount += total as bigint;
  }
  return { links: logs.length, outputs: Number(outputs), amount: amount.toString() };
}
