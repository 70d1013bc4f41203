// Chain/RPC outage with the model host's own provider (chain.rpcUrl, keys from
// the environment, as in production) reaching the in-process chain through a JSON-RPC gateway
// the test breaks:
// - the RPC goes away mid-load and comes back: paid calls answer 503 + Retry-After while it is
//   gone, nothing is charged for them, service resumes by itself, and every payment that did
//   reach the chain ends "settled" in the ledger (none lost, none doubled);
// - the answer to a settlement broadcast is lost and the RPC goes away at that moment: the call
//   answers settlement_pending (not a false "nothing charged"), and the payment is recorded as
//   settled, with its output, once the chain is back;
// - the RPC hangs (accepts, never answers): paid calls still get an answer (503) in bounded time.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePaymentResponseHeader } from "@x402/core/http";
import type { PaymentRequirements } from "@x402/core/types";
import type { Wallet } from "ethers";
import type { PaymentRecord } from "../../server/ledger/index.ts";
import { ChainGateway } from "./support/chain-gateway.ts";
import { recordResults } from "../../scripts/shared/results.ts";
import {
  completionBody,
  deployChain,
  fundedPayer,
  nonceOf,
  requirementsFor,
  settledEvents,
  signedHeader,
  startHost,
  type DeployedChain,
  type Host,
} from "./support/host.ts";

const CONFIRM_TIMEOUT_MS = 3000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `condition` holds, or after `ms` (the assertions that follow then say what was missing). */
async function until(condition: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await sleep(50);
}

let d: DeployedChain;
let gateway: ChainGateway;
let host: Host;
let req: PaymentRequirements;
let asset: string;
const results: Record<string, unknown> = {};

beforeAll(async () => {
  d = await deployChain();
  gateway = new ChainGateway(d.chain.connection.provider as never);
  await gateway.start();
  host = await startHost(d, { rpcUrl: gateway.url, facilitator: { maxWaitMs: 10, confirmTimeoutMs: CONFIRM_TIMEOUT_MS } });
  req = await requirementsFor(host);
  asset = (await d.token.getAddress()).toLowerCase();
});

afterAll(async () => {
  await gateway?.restore();
  await host?.close();
  await gateway?.close();
  await recordResults("chainOutage", results);
});

type Outcome = {
  phase: string;
  status: number;
  code: string | null;
  retryAfter: string | undefined;
  payer: Wallet;
  nonce: string;
  tx: string | null;
  outputUrl: string | null;
};

async function paidCall(payer: Wallet, phase: () => string): Promise<Outcome> {
  const { payment, header } = await signedHeader(payer, req);
  const at = phase();
  const res = await host.app.inject({
    method: "POST",
    url: "/v1/completions",
    payload: completionBody(),
    headers: { "payment-signature": header },
  });
  let code: string | null = null;
  try {
    const error = res.statusCode === 200 ? null : JSON.parse(res.body).error;
    code = typeof error === "string" ? error : (error?.code ?? null);
  } catch {
    code = "<not json>";
  }
  const settlement = res.headers["payment-response"] ? decodePaymentResponseHeader(res.headers["payment-response"] as string) : null;
  const outputUrl = (settlement?.extra as { outputUrl?: string } | undefined)?.outputUrl ?? null;
  return {
    phase: at,
    status: res.statusCode,
    code,
    retryAfter: res.headers["retry-after"] as string | undefined,
    payer,
    nonce: nonceOf(payment),
    tx: settlement?.transaction || null,
    outputUrl,
  };
}

function tallyAnswers(outcomes: Outcome[]): Record<string, number> {
  const tally: Record<string, number> = {};
  for (const o of outcomes) {
    const answer = `${o.status}${o.code ? ` ${o.code}` : ""}`;
    tally[answer] = (tally[answer] ?? 0) + 1;
  }
  return tally;
}

const keyOf = (o: { payer: Wallet; nonce: string }) => ({
  network: "eip155:31337",
  asset,
  payer: o.payer.address.toLowerCase(),
  nonce: o.nonce,
});

async function authorizationUsed(payer: string, nonce: string): Promise<boolean> {
  return (d.token.getFunction("authorizationState") as any)(payer, nonce);
}

/** Waits until no payment is reserved or pending (the chain is back: reconciliation finishes them). */
async function settledDown(ms = 30_000): Promise<PaymentRecord[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const open = await host.ledger.listPayments({ status: ["reserved", "settling", "pending"], limit: 10_000 });
    if (open.length === 0 || Date.now() > deadline) return open;
    await sleep(200);
  }
}

/** Ledger "settled" rows and on-chain PaymentSettled events are the same set, each once. */
async function expectLedgerMatchesChain() {
  const events = await settledEvents(d.ethers.provider, host.payTo);
  const nonces = events.map((e) => `${e.payer}:${e.nonce}`);
  expect(new Set(nonces).size).toBe(nonces.length);
  const settled = await host.ledger.listPayments({ status: ["settled"], limit: 10_000 });
  expect(settled.map((r) => `${r.payer}:${r.nonce}`).sort()).toEqual([...nonces].sort());
  for (const row of settled) {
    const event = events.find((e) => e.nonce === row.nonce && e.payer === row.payer)!;
    expect(row.txHash).toBe(event.txHash);
    expect(row.outputId).toBe(event.outputId);
    const output = await host.ledger.getOutput(row.outputId!);
    expect(output?.recordHash.toLowerCase()).toBe(event.attributionRoot);
  }
  return { events: events.length, settled: settled.length };
}

describe("chain outage", () => {
  it("RPC gone mid-load: 503 + Retry-After while down, nothing charged for them, automatic recovery, nothing lost", async () => {
    const payers = await Promise.all(Array.from({ length: 6 }, () => fundedPayer(d)));
    let phase = "before";
    let stop = false;
    const outcomes: Outcome[] = [];
    const workers = payers.map(async (payer) => {
      while (!stop) outcomes.push(await paidCall(payer, () => phase));
    });
    // Phases end on what was observed, not on the clock (a loaded machine may be slow).
    const count = (phaseName: string, status: number) => outcomes.filter((o) => o.phase === phaseName && o.status === status).length;
    await until(() => count("before", 200) >= 10, 30_000);
    phase = "down";
    await gateway.cut();
    await until(() => count("down", 503) >= 10, 30_000);
    phase = "after";
    await gateway.restore();
    await until(() => count("after", 200) >= 10, 30_000);
    stop = true;
    await Promise.all(workers);
    expect(await settledDown()).toEqual([]);

    const unexpected = outcomes.filter(
      (o) =>
        !(
          o.status === 200 ||
          (o.status === 503 && o.code === "chain_unavailable") ||
          (o.status === 202 && o.code === "settlement_pending")
        ),
    );
    expect(unexpected.map((o) => `${o.phase} ${o.status} ${o.code}`)).toEqual([]);
    const unavailable = outcomes.filter((o) => o.status === 503);
    console.log(
      "reliability-outage:",
      JSON.stringify(Object.fromEntries(["before", "down", "after"].map((p) => [p, tallyAnswers(outcomes.filter((o) => o.phase === p))]))),
    );
    expect(unavailable.length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => o.phase === "after" && o.status === 200).length).toBeGreaterThan(0);
    for (const o of unavailable) {
      expect(o.retryAfter).toMatch(/^\d+$/);
      // Nothing charged: the authorization was never used, the ledger holds no live payment for it.
      expect(await authorizationUsed(o.payer.address, o.nonce)).toBe(false);
      const row = await host.ledger.getPayment(keyOf(o));
      expect(row === null || row.status === "released").toBe(true);
    }
    for (const o of outcomes.filter((x) => x.status === 200)) {
      expect((await host.ledger.getPayment(keyOf(o)))?.status).toBe("settled");
    }
    // A call answered "pending" ends settled (and on-chain) or failed (and not on-chain).
    const pending = outcomes.filter((o) => o.status === 202);
    for (const o of pending) {
      const row = (await host.ledger.getPayment(keyOf(o)))!;
      expect(["settled", "failed"]).toContain(row.status);
      expect(await authorizationUsed(o.payer.address, o.nonce)).toBe(row.status === "settled");
    }
    const { events, settled } = await expectLedgerMatchesChain();
    results.rpcDownMidLoad = {
      calls: outcomes.length,
      byPhase: Object.fromEntries(["before", "down", "after"].map((p) => [p, tallyAnswers(outcomes.filter((o) => o.phase === p))])),
      answered503: unavailable.length,
      chargedFor503: 0,
      answeredPendingThenSettled: pending.length,
      settledOnChain: events,
      settledInLedger: settled,
      paymentsLost: 0,
      paymentsDoubled: 0,
    };
  });

  it("the answer to a settlement broadcast is lost as the RPC goes away: pending, then settled once the chain is back", async () => {
    const payer = await fundedPayer(d);
    gateway.loseNextSendAnswer({ thenCut: true });
    let o: Outcome;
    try {
      const call = paidCall(payer, () => "lost answer");
      // The broadcast reached the chain; the RPC is gone for longer than the confirmation wait.
      while (gateway.lostAnswers.length === 0) await sleep(5);
      await sleep(CONFIRM_TIMEOUT_MS + 1000);
      o = await call;
    } finally {
      await gateway.restore();
    }
    expect(await authorizationUsed(payer.address, o.nonce)).toBe(true); // it was charged...
    expect([o.status, o.code]).toEqual([202, "settlement_pending"]); // ...so the answer must not say "nothing charged"
    expect(o.tx).toMatch(/^0x[0-9a-f]{64}$/);
    expect(await settledDown()).toEqual([]);
    const row = (await host.ledger.getPayment(keyOf(o)))!;
    expect(row).toMatchObject({ status: "settled", txHash: o.tx });
    const events = (await settledEvents(d.ethers.provider, host.payTo)).filter((e) => e.nonce === o.nonce);
    expect(events).toHaveLength(1);
    // The output the payment bought is served once settled: to its payer (retrieval URL) and its record to all.
    expect(o.outputUrl).toBeTruthy();
    const held = await host.app.inject({ method: "GET", url: new URL(o.outputUrl!).pathname + new URL(o.outputUrl!).search });
    expect(held.statusCode).toBe(200);
    expect(held.json().attribution.outputId).toBe(row.outputId);
    const record = await host.app.inject({ method: "GET", url: `/attributions/${row.outputId}` });
    expect(record.statusCode).toBe(200);
    await expectLedgerMatchesChain();
    results.lostBroadcastAnswer = {
      answered: `${o.status} ${o.code}`,
      finalLedgerStatus: row.status,
      settlementsOnChain: events.length,
      outputServedAfterSettlement: held.statusCode === 200,
    };
  });

  it("a hung RPC (connections accepted, never answered): a paid call still gets 503 in bounded time, nothing charged", async () => {
    const payer = await fundedPayer(d);
    gateway.blackhole();
    const started = Date.now();
    let o: Outcome | "no answer";
    try {
      o = await Promise.race([paidCall(payer, () => "hung"), sleep(30_000).then(() => "no answer" as const)]);
    } finally {
      gateway.release();
    }
    const seconds = (Date.now() - started) / 1000;
    results.hungRpc = {
      answered: o === "no answer" ? "no answer within 30 s" : `${o.status} ${o.code}`,
      seconds: Math.round(seconds * 10) / 10,
    };
    expect(o).not.toBe("no answer");
    const answer = o as Outcome;
    expect([answer.status, answer.code]).toEqual([503, "chain_unavailable"]);
    expect(await authorizationUsed(payer.address, answer.nonce)).toBe(false);
    // And it serves again once the RPC answers.
    const again = await paidCall(payer, () => "after hang");
    expect(again.status).toBe(200);
    expect(await settledDown()).toEqual([]);
    await expectLedgerMatchesChain();
  });
});
