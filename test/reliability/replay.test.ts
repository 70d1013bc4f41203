// Replays and races: one signed payment sent 50 times at once and then again
// one by one runs the paid handler once, settles once on-chain, and every other copy gets a
// clear refusal (409 payment_replayed). The same holds with two server instances sharing one
// PostgreSQL ledger, each with its own relayer (both registered on the model's splitter), the
// copies spread over both over real HTTP.
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Wallet } from "ethers";
import { PostgresLedger } from "../../server/ledger/postgres.ts";
import { recordResults } from "../../scripts/shared/results.ts";
import {
  completionBody,
  deployChain,
  fundedPayer,
  nonceOf,
  priceFor,
  requirementsFor,
  settledEvents,
  signedHeader,
  startHost,
  type DeployedChain,
  type Host,
} from "./support/host.ts";

const COPIES = 50;
const SEQUENTIAL = 10;
let d: DeployedChain;
const hosts: Host[] = [];
const ledgers: PostgresLedger[] = [];
const summary = { copiesSent: 0, handlerRuns: 0, paymentsSigned: 0, settlementsOnChain: 0, paymentsDoubled: 0, paymentsLost: 0 };

beforeAll(async () => {
  d = await deployChain();
});

afterAll(async () => {
  for (const h of hosts.reverse()) await h.close();
  for (const l of ledgers) await l.close();
  await recordResults("replay", {
    ...summary,
    copiesPerPayment: COPIES,
    sequentialReplays: SEQUENTIAL,
    instances: "one (SQLite) and two sharing one PostgreSQL",
  });
});

type Answer = { status: number; code: string | undefined; redelivered?: true; text?: string };

async function answerOf(res: Response): Promise<Answer> {
  const text = await res.text();
  let code: string | undefined;
  try {
    code = JSON.parse(text)?.error?.code;
  } catch {
    code = undefined;
  }
  // A copy of a settled payment is given the original output again (marked), nothing more.
  if (res.headers.get("x-royalty402-redelivered") === "true") return { status: res.status, code, redelivered: true, text };
  return { status: res.status, code, ...(res.status === 200 ? { text } : {}) };
}

/**
 * Copies of one payment: one original 200; the others 409, or (while it is being settled) 202
 * settlement_pending, or (once settled) the same output re-delivered.
 */
function expectOneOriginal(copies: Answer[]) {
  const originals = copies.filter((a) => a.status === 200 && !a.redelivered);
  expect(originals).toHaveLength(1);
  for (const a of copies) {
    if (a === originals[0]) continue;
    if (a.redelivered && a.status === 202) expect(JSON.parse(a.text!).error).toBe("settlement_pending");
    else if (a.redelivered) expect([a.status, a.text]).toEqual([200, originals[0].text]);
    else expect(a).toEqual({ status: 409, code: "payment_replayed" });
  }
  return originals[0];
}

function post(base: string, header: string, body: unknown) {
  return fetch(`${base}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "payment-signature": header },
    body: JSON.stringify(body),
  }).then(answerOf);
}

/** Checks the chain and the ledgers for one payment: settled exactly once, charged exactly once. */
async function expectSettledOnce(payer: Wallet, nonce: string, payTo: string, balanceBefore: bigint, ledger: Host["ledger"]) {
  const events = (await settledEvents(d.ethers.provider, payTo)).filter((e) => e.nonce === nonce);
  expect(events).toHaveLength(1);
  expect(await (d.token.getFunction("balanceOf") as any)(payer.address)).toBe(balanceBefore - priceFor(8));
  const row = await ledger.getPayment({
    network: "eip155:31337",
    asset: (await d.token.getAddress()).toLowerCase(),
    payer: payer.address.toLowerCase(),
    nonce,
  });
  expect(row).toMatchObject({ status: "settled", txHash: events[0].txHash, outputId: events[0].outputId });
  summary.settlementsOnChain += events.length;
  summary.paymentsDoubled += Math.max(0, events.length - 1);
}

describe("replay and races", () => {
  it("one instance: 50 concurrent copies, 10 sequential: one handler run, one settlement, the rest refused or re-delivered", async () => {
    const host = await startHost(d, { facilitator: { maxWaitMs: 20 } });
    hosts.push(host);
    const base = await host.server.listen({ port: 0 });
    const req = await requirementsFor(host);
    const payer = await fundedPayer(d);
    const before = (await (d.token.getFunction("balanceOf") as any)(payer.address)) as bigint;
    const { payment, header } = await signedHeader(payer, req);
    summary.paymentsSigned++;

    const concurrent = await Promise.all(Array.from({ length: COPIES }, () => post(base, header, completionBody())));
    const sequential: Answer[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) sequential.push(await post(base, header, completionBody()));
    summary.copiesSent += COPIES + SEQUENTIAL;
    summary.handlerRuns += host.generations.count;

    const original = expectOneOriginal(concurrent);
    // Once settled, the same signed payment is given the same output again.
    expect(sequential).toEqual(Array(SEQUENTIAL).fill({ status: 200, code: undefined, redelivered: true, text: original.text }));
    expect(host.generations.count).toBe(1);
    await expectSettledOnce(payer, nonceOf(payment), host.payTo, before, host.ledger);
  });

  it("two instances sharing one PostgreSQL ledger: copies spread over both, still one run and one settlement per payment", async () => {
    const url = inject("postgresUrl");
    const schema = `replay_${Math.random().toString(36).slice(2, 10)}`;
    const ledgerA = new PostgresLedger({ connectionString: url, schema, poolSize: 8 });
    await ledgerA.migrate();
    const ledgerB = new PostgresLedger({ connectionString: url, schema, poolSize: 8 });
    await ledgerB.migrate();
    ledgers.push(ledgerA, ledgerB);

    const a = await startHost(d, { ledger: ledgerA, facilitator: { maxWaitMs: 20 } });
    hosts.push(a);
    // Instance B settles with its own relayer, registered on A's splitter by the model owner.
    const relayerB = Wallet.createRandom().privateKey;
    await d.fundGas(new Wallet(relayerB).address);
    const splitter = (await d.ethers.getContractAt("RoyaltySplitter", a.payTo)) as any;
    await (await splitter.connect(d.owner).setFacilitator(new Wallet(relayerB).address, true)).wait();
    const b = await startHost(d, {
      ledger: ledgerB,
      relayerKey: relayerB,
      splitter: a.payTo,
      noOracle: true,
      facilitator: { maxWaitMs: 20 },
    });
    hosts.push(b);
    expect(b.payTo).toBe(a.payTo);
    const bases = [await a.server.listen({ port: 0 }), await b.server.listen({ port: 0 })];
    const req = await requirementsFor(a);
    expect(await requirementsFor(b)).toEqual(req);

    // Three payments at once, 50 copies each, alternating between the instances.
    const payers = await Promise.all([0, 1, 2].map(() => fundedPayer(d)));
    const before = await Promise.all(payers.map(async (p) => (await (d.token.getFunction("balanceOf") as any)(p.address)) as bigint));
    const signed = await Promise.all(payers.map((p) => signedHeader(p, req)));
    summary.paymentsSigned += signed.length;
    const runsBefore = a.generations.count + b.generations.count;
    const answers = await Promise.all(
      signed.map(({ header }) => Promise.all(Array.from({ length: COPIES }, (_, i) => post(bases[i % 2], header, completionBody())))),
    );
    const sequential: Answer[] = [];
    for (const { header } of signed)
      for (let i = 0; i < SEQUENTIAL; i++) sequential.push(await post(bases[i % 2], header, completionBody()));
    summary.copiesSent += signed.length * (COPIES + SEQUENTIAL);
    const runs = a.generations.count + b.generations.count - runsBefore;
    summary.handlerRuns += runs;

    const originals = answers.map(expectOneOriginal);
    expect(sequential).toEqual(
      originals.flatMap((o) => Array(SEQUENTIAL).fill({ status: 200, code: undefined, redelivered: true, text: o.text })),
    );
    expect(runs).toBe(signed.length);
    for (const [i, { payment }] of signed.entries()) await expectSettledOnce(payers[i], nonceOf(payment), a.payTo, before[i], ledgerA);
    // Both ledger connections see the same single row per payment.
    const rowsA = await ledgerA.listPayments({});
    const rowsB = await ledgerB.listPayments({});
    expect(rowsA.map((r) => [r.nonce, r.status])).toEqual(rowsB.map((r) => [r.nonce, r.status]));
    expect(rowsA.filter((r) => r.status === "settled")).toHaveLength(signed.length);
  });
});
