// Crash safety: the model host runs as a child process (royalty402 serve
// --config, SQLite ledger in a file, embedded facilitator, epoch scheduler) against a Hardhat
// node in its own process, so the chain survives the server. Under load from paying clients it
// is killed with SIGKILL at seeded random moments and started again, at least 5 times; clients
// whose request died retry the same signed payment once the server is back. After recovery:
// - every authorization used on-chain is in the ledger as settled, with its output and record
//   (the record hash is the attributionRoot of its PaymentSettled event);
// - every ledger settlement has its on-chain event, in the transaction the ledger names;
// - no authorization settled twice, and no payment answered 200 twice;
// - no contributor's entitlement changed: every posted epoch, recomputed from the chain's own
//   payment amounts and the ledger's records, gives the root the chain holds, each payment in
//   one epoch at most, and after a final close every settled payment is in one;
// - the logs of the whole run hold no private key, admin token, payment signature or header.
// RELIABILITY_CRASH_SEED=<n> replays the kill schedule; RELIABILITY_KILLS sets the count.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, encodePaymentSignatureHeader } from "@x402/core/http";
import type { PaymentPayload, PaymentRequirements } from "@x402/core/types";
import { Interface, Wallet, getAddress } from "ethers";
import { hashRecord, type AttributionRecord } from "../../server/attribution/index.ts";
import { buildEpoch, nextPreviousState, NO_PREVIOUS_EPOCH, type PreviousEpochState } from "../../server/epochs/index.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import {
  deployOnNode,
  freePort,
  startHardhatNode,
  startServer,
  type HardhatNode,
  type ServerProcess,
} from "../../scripts/shared/processes.ts";
import { recordResults } from "../../scripts/shared/results.ts";
import { pay } from "../x402/support/stack.ts";
import { seededRandom } from "../../scripts/shared/random.ts";

const KILLS = Number(process.env.RELIABILITY_KILLS ?? 6);
const SEED = Number(process.env.RELIABILITY_CRASH_SEED ?? Date.now() % 2 ** 31);
const CLIENTS = 8;
const MODEL = "brown-ngram";
const OWNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const ADMIN = "crash-admin-token-0123456789abcdef";
const OWNER_BPS = 1000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const splitterAbi = new Interface([
  "event PaymentSettled(bytes32 indexed outputId, address indexed payer, uint256 amount, bytes32 nonce, bytes32 attributionRoot)",
  "event EpochPosted(uint256 indexed epoch, bytes32 claimsRoot, " +
    "uint256 cumulativeAllocated, bytes32 recordsRoot, string uri, " +
    "uint64 activeAt)",
]);
const tokenAbi = new Interface(["event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)"]);

const dir = mkdtempSync(join(tmpdir(), "r402-crash-"));
const dbPath = join(dir, "ledger.sqlite");
const logs: string[] = [];
let node: HardhatNode;
let deployed: Awaited<ReturnType<typeof deployOnNode>>;
let server: ServerProcess | null = null;
let base = "";
let configFile = "";
let env: Record<string, string> = {};
const payers: Wallet[] = [];
const results: Record<string, unknown> = { seed: SEED };

beforeAll(async () => {
  node = await startHardhatNode();
  deployed = await deployOnNode(node);
  for (let i = 0; i < CLIENTS; i++) {
    const w = new Wallet(Wallet.createRandom().privateKey);
    await deployed.mint(w.address, 10n ** 12n);
    payers.push(w);
  }
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
      database: { sqlitePath: dbPath },
      epochs: { paymentCount: 20, checkIntervalSeconds: 1 },
      datanets: [{ id: "corpus-brown", seed: { corpus: "brown", documents: 6, contributors: 5 } }],
      models: [
        {
          id: MODEL,
          backend: "infinigram",
          datanet: "corpus-brown",
          pricePerRequest: "1000",
          pricePerMaxToken: "10",
          ownerBps: OWNER_BPS,
          owner: OWNER,
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
  await recordResults("crash", results);
});

function start(): ServerProcess {
  server = startServer(configFile, env, base, (chunk) => logs.push(chunk));
  return server;
}

/** Open payments by status, read from the ledger file (the server is dead at this point). */
function openRowsAtKill(): Record<string, number> {
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const rows = db.prepare("SELECT status, count(*) AS n FROM payments GROUP BY status").all() as Array<{ status: string; n: number }>;
    const epochs = db.prepare("SELECT status, count(*) AS n FROM epochs GROUP BY status").all() as Array<{ status: string; n: number }>;
    return {
      ...Object.fromEntries(rows.map((r) => [r.status, r.n])),
      ...Object.fromEntries(epochs.map((e) => [`epochs ${e.status}`, e.n])),
    };
  } finally {
    db.close();
  }
}

type Attempt = { status: number | "connection error"; code?: string };
type Sent = { payer: Wallet; payment: PaymentPayload; attempts: Attempt[] };

describe("crash safety: kill -9 under load, restart, nothing lost", () => {
  it(`survives ${KILLS} SIGKILLs at seeded random moments`, async () => {
    const rand = seededRandom(SEED);
    const plan = Array.from({ length: KILLS }, () => Math.round(100 + rand() * 2900));
    console.log(
      `reliability-crash: seed ${SEED} (RELIABILITY_CRASH_SEED=${SEED} replays it); load before each kill (ms): ${plan.join(", ")}`,
    );

    await start().ready;
    const challenge = await fetch(`${base}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, prompt: "The jury", max_tokens: 8 }),
    });
    const req: PaymentRequirements = decodePaymentRequiredHeader(challenge.headers.get("payment-required")!).accepts[0];
    const splitter = getAddress(req.payTo);

    // Clients: each sends paid requests one after another; a request that dies with the server
    // is retried with the same signed payment once the server is back.
    let up: Promise<void> = Promise.resolve();
    let stop = false;
    const sent: Sent[] = [];
    const client = async (payer: Wallet, index: number) => {
      for (let n = 0; !stop; n++) {
        const payment = await pay(payer, req);
        const entry: Sent = { payer, payment, attempts: [] };
        sent.push(entry);
        const body = JSON.stringify({
          model: MODEL,
          prompt: `The jury said ${index}.${n}`,
          max_tokens: 8,
          ...(n % 5 === 0 ? { stream: true } : {}),
        });
        for (let attempt = 0; attempt < 6; attempt++) {
          await up;
          try {
            const res = await fetch(`${base}/v1/completions`, {
              method: "POST",
              headers: { "content-type": "application/json", "payment-signature": encodePaymentSignatureHeader(payment) },
              body,
              signal: AbortSignal.timeout(90_000),
            });
            const text = await res.text();
            let code: string | undefined;
            try {
              const error = res.status === 200 ? undefined : JSON.parse(text).error;
              code = typeof error === "string" ? error : error?.code;
            } catch {
              code = undefined;
            }
            if (res.status === 200 && !res.headers.get("payment-response")) throw new Error("200 without PAYMENT-RESPONSE");
            if (res.status === 200) decodePaymentResponseHeader(res.headers.get("payment-response")!);
            entry.attempts.push({ status: res.status, ...(code ? { code } : {}) });
            if (res.status !== 503) break;
            await sleep(200);
          } catch (error) {
            if ((error as Error).message.includes("PAYMENT-RESPONSE")) throw error;
            entry.attempts.push({ status: "connection error" });
            await sleep(50);
          }
        }
      }
    };
    const clients = payers.map((p, i) => client(p, i));

    const kills: Array<{ afterMs: number; openAtKill: Record<string, number>; restartSeconds: number }> = [];
    for (const afterMs of plan) {
      await sleep(afterMs);
      let reopen!: () => void;
      up = new Promise<void>((r) => (reopen = r));
      await server!.kill9();
      const openAtKill = openRowsAtKill();
      const t0 = Date.now();
      await start().ready;
      kills.push({ afterMs, openAtKill, restartSeconds: (Date.now() - t0) / 1000 });
      reopen();
    }
    await sleep(1500);
    stop = true;
    await Promise.all(clients);
    console.log("reliability-crash: kills", JSON.stringify(kills));

    // ---- recovery: every authorization used on-chain ends settled in the ledger ----
    const usedOnChain = async () => {
      const logs = await node.provider.getLogs({
        address: deployed.tokenAddress,
        topics: [tokenAbi.getEvent("AuthorizationUsed")!.topicHash],
        fromBlock: 0,
        toBlock: "latest",
      });
      return logs
        .map((l) => tokenAbi.parseLog(l)!)
        .map((e) => `${(e.args.authorizer as string).toLowerCase()}:${(e.args.nonce as string).toLowerCase()}`);
    };
    const settledInLedger = () => {
      const db = new DatabaseSync(dbPath, { readOnly: true });
      try {
        return new Set(
          (db.prepare("SELECT payer, nonce FROM payments WHERE status = 'settled'").all() as Array<{ payer: string; nonce: string }>).map(
            (r) => `${r.payer}:${r.nonce}`,
          ),
        );
      } finally {
        db.close();
      }
    };
    const t0 = Date.now();
    let missing: string[] = [];
    for (;;) {
      const ledger = settledInLedger();
      missing = (await usedOnChain()).filter((k) => !ledger.has(k));
      if (missing.length === 0 || Date.now() - t0 > 150_000) break;
      await sleep(1000);
    }
    const recoverySeconds = (Date.now() - t0) / 1000;
    results.recoverySecondsAfterLastRestart = recoverySeconds;
    results.paymentsLost = missing.length;
    expect(missing, `authorizations used on-chain but not settled in the ledger ${recoverySeconds} s after the last restart`).toEqual([]);

    // A final epoch takes every settled output not yet in one.
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${base}/admin/epochs/close`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL }),
      });
      const body = (await res.json()) as { results?: Array<{ status: string }> };
      if (res.status === 200 && body.results?.every((r) => r.status === "closed" || r.status === "skipped")) break;
      await sleep(1000);
    }
    expect(await server!.terminate()).toBe(0);
    server = null;

    // ---- the ledger against the chain ----
    const ledger = new SqliteLedger({ path: dbPath });
    await ledger.migrate();
    try {
      const settledLogs = await node.provider.getLogs({
        address: splitter,
        topics: [splitterAbi.getEvent("PaymentSettled")!.topicHash],
        fromBlock: 0,
        toBlock: "latest",
      });
      const events = settledLogs.map((l) => ({ tx: l.transactionHash, args: splitterAbi.parseLog(l)!.args }));
      const byKey = new Map<string, (typeof events)[number]>();
      let doubled = 0;
      for (const e of events) {
        const key = `${(e.args.payer as string).toLowerCase()}:${(e.args.nonce as string).toLowerCase()}`;
        if (byKey.has(key)) doubled++;
        byKey.set(key, e);
      }
      const rows = await ledger.listPayments({ limit: 10_000 });
      const settled = rows.filter((r) => r.status === "settled");
      // Every on-chain settlement: settled in the ledger, same transaction, its output and record.
      for (const [key, e] of byKey) {
        const row = rows.find((r) => `${r.payer}:${r.nonce}` === key);
        expect(row, key).toBeDefined();
        expect(row!).toMatchObject({
          status: "settled",
          txHash: e.tx,
          outputId: (e.args.outputId as string).toLowerCase(),
          amount: (e.args.amount as bigint).toString(),
        });
        const output = await ledger.getOutput(row!.outputId!);
        expect(output, `output of ${key}`).not.toBeNull();
        expect(output!.recordHash).toBe((e.args.attributionRoot as string).toLowerCase());
        expect(hashRecord(JSON.parse(output!.record) as AttributionRecord)).toBe(output!.recordHash);
      }
      // Every ledger settlement: on-chain.
      for (const row of settled) expect(byKey.get(`${row.payer}:${row.nonce}`)?.tx, `${row.payer}:${row.nonce}`).toBe(row.txHash);
      expect(doubled).toBe(0);
      // No payment answered 200 twice; every 200 is a settlement.
      const ok = sent.filter((s) => s.attempts.filter((a) => a.status === 200).length > 0);
      const twice = sent.filter((s) => s.attempts.filter((a) => a.status === 200).length > 1);
      expect(twice).toHaveLength(0);
      for (const s of ok)
        expect(
          byKey.has(`${s.payer.address.toLowerCase()}:${(s.payment.payload.authorization as { nonce: string }).nonce.toLowerCase()}`),
        ).toBe(true);

      // ---- entitlements: posted epochs recomputed from chain amounts and ledger records ----
      const postedLogs = await node.provider.getLogs({
        address: splitter,
        topics: [splitterAbi.getEvent("EpochPosted")!.topicHash],
        fromBlock: 0,
        toBlock: "latest",
      });
      const posted = postedLogs
        .map((l) => splitterAbi.parseLog(l)!.args)
        .map((a) => ({ epoch: Number(a.epoch), claimsRoot: a.claimsRoot as string, cumulativeAllocated: a.cumulativeAllocated as bigint }));
      expect(posted.map((p) => p.epoch)).toEqual(posted.map((_, i) => i + 1)); // each number once, in order
      const amountOf = new Map([...byKey.values()].map((e) => [(e.args.outputId as string).toLowerCase(), e.args.amount as bigint]));
      const epochRows = (await ledger.listEpochs(splitter.toLowerCase())).sort((a, b) => a.epoch - b.epoch);
      let previous: PreviousEpochState = NO_PREVIOUS_EPOCH;
      const inEpoch = new Map<string, number>();
      for (const p of posted) {
        const row = epochRows.find((r) => r.epoch === p.epoch);
        expect(row, `epoch ${p.epoch} in the ledger`).toBeDefined();
        const doc = JSON.parse(row!.document) as { payments: Array<{ outputId: string }> };
        const payments = [];
        for (const { outputId } of doc.payments) {
          const id = outputId.toLowerCase();
          expect(inEpoch.has(id), `${id} in two epochs`).toBe(false);
          inEpoch.set(id, p.epoch);
          expect(amountOf.has(id), `${id} of epoch ${p.epoch} is a settled payment on-chain`).toBe(true);
          const output = (await ledger.getOutput(id))!;
          payments.push({ outputId: id, amount: amountOf.get(id)!, record: JSON.parse(output.record) as AttributionRecord });
        }
        const rebuilt = buildEpoch({
          epoch: p.epoch,
          ownerBps: OWNER_BPS,
          protocolBps: 0,
          modelOwner: OWNER,
          payments,
          previous,
          chainId: 31337n,
          splitter,
        });
        expect([p.epoch, rebuilt.claims.root]).toEqual([p.epoch, p.claimsRoot]);
        expect(BigInt(rebuilt.cumulativeAllocated)).toBe(p.cumulativeAllocated);
        previous = nextPreviousState(rebuilt);
      }
      // After the final close every settled payment's output is in exactly one posted epoch.
      const notInEpoch = [...amountOf.keys()].filter((id) => !inEpoch.has(id));
      expect(notInEpoch).toEqual([]);

      // ---- the logs of the whole run: no secrets ----
      const allLogs = logs.join("");
      const secrets = [deployed.relayerKey, deployed.oracleKey, ADMIN, ...payers.map((p) => p.privateKey)];
      const signatures = sent.map((s) => s.payment.payload.signature as string);
      const headers = sent.slice(0, 200).map((s) => encodePaymentSignatureHeader(s.payment));
      const leaks = [
        ...secrets,
        ...secrets.map((s) => s.replace(/^0x/, "")),
        ...signatures,
        ...signatures.map((s) => s.slice(2)),
        ...headers,
      ].filter((s) => allLogs.includes(s));
      expect(leaks.map((s) => s.slice(0, 12))).toEqual([]);

      // Charged, but the client never got its answer (its request died with the server and every
      // retry of the same payment was refused as a replay): recorded, see the report.
      const chargedUndelivered = sent.filter(
        (s) =>
          !s.attempts.some((a) => a.status === 200) &&
          byKey.has(`${s.payer.address.toLowerCase()}:${(s.payment.payload.authorization as { nonce: string }).nonce.toLowerCase()}`),
      );
      // Never charged, but every retry after the crash was refused as a replay (its reservation,
      // held by the dead process, is only released after the reconciler's abandon delay).
      const refusedUncharged = sent.filter(
        (s) =>
          !s.attempts.some((a) => a.status === 200) &&
          s.attempts.some((a) => a.status === 409) &&
          !byKey.has(`${s.payer.address.toLowerCase()}:${(s.payment.payload.authorization as { nonce: string }).nonce.toLowerCase()}`),
      );
      const attempts = sent.flatMap((s) => s.attempts);
      const tally: Record<string, number> = {};
      for (const a of attempts)
        tally[`${a.status}${a.code ? ` ${a.code}` : ""}`] = (tally[`${a.status}${a.code ? ` ${a.code}` : ""}`] ?? 0) + 1;
      Object.assign(results, {
        killsSurvived: kills.length,
        kills,
        paymentsSigned: sent.length,
        requestAttempts: attempts.length,
        answers: tally,
        settledOnChain: byKey.size,
        settledInLedger: settled.length,
        paymentsLost: missing.length,
        paymentsDoubled: doubled + twice.length,
        chargedButAnswerLostToTheCrash: chargedUndelivered.length,
        unchargedButRetriesRefused: refusedUncharged.length,
        epochsPosted: posted.length,
        epochsRecomputedFromChainAndLedger: posted.length,
        paymentsNotInAnEpochAfterFinalClose: notInEpoch.length,
        logBytesChecked: allLogs.length,
        secretsInLogs: leaks.length,
      });
      expect(kills.length).toBeGreaterThanOrEqual(5);
      expect(byKey.size).toBeGreaterThan(0);
    } finally {
      await ledger.close();
    }
  }, 600_000);
});
