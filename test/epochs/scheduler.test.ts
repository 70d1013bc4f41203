// Epoch closing with several server instances on one ledger (two SQLite connections to one
// file; two PostgreSQL pools on one schema) and a real splitter on the in-process chain:
// concurrent closes post each epoch once; an instance that died after claiming an epoch is
// finished by the next one; retries are no-ops; challenge periods and vetoes are respected.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { attribute, buildIndex, hashRecord, serializeRecord, type SuffixIndex } from "../../server/attribution/index.ts";
import { Datanet, loadBrownCorpus } from "../../server/datanets/index.ts";
import { EpochDocuments, closeEpoch, refreshEpochs, type CloseContext } from "../../server/epochs/index.ts";
import { SerialQueue } from "../../server/util/serial.ts";
import { PAYMENT_SETTLED_TOPIC } from "../../server/facilitator/abi.ts";
import type { Ledger } from "../../server/ledger/index.ts";
import { PostgresLedger } from "../../server/ledger/postgres.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import type { ServedModel } from "../../server/models/index.ts";
import {
  connectChain,
  deployStack,
  settlementOf,
  signAuthorization,
  tokenDomain,
  type Chain,
  type Stack,
} from "../../scripts/shared/stack.ts";
import { passage } from "../fixtures/attribution/helpers.ts";

let chain: Chain;
let index: SuffixIndex;
const docs = loadBrownCorpus(6);
const dir = mkdtempSync(join(tmpdir(), "r402-epochs-"));
const pgUrl = inject("postgresUrl");
const admin = new pg.Pool({ connectionString: pgUrl, max: 2 });
const opened: Ledger[] = [];

beforeAll(async () => {
  chain = await connectChain();
  const d = new Datanet();
  docs.forEach((doc, i) => d.add({ contributor: `0x${(0xa0 + (i % 4)).toString(16).padStart(40, "0")}`, text: doc.text }));
  index = buildIndex(d).index;
});
afterAll(async () => {
  await Promise.all(opened.map((l) => l.close()));
  await admin.end();
  rmSync(dir, { recursive: true, force: true });
});

type Backend = { name: string; pair: () => Promise<[Ledger, Ledger]> };
const backends: Backend[] = [
  {
    name: "SQLite (two connections, one file)",
    pair: async () => {
      const path = join(dir, `${Math.random().toString(36).slice(2)}.sqlite`);
      const a = new SqliteLedger({ path });
      await a.migrate();
      const b = new SqliteLedger({ path });
      await b.migrate();
      opened.push(a, b);
      return [a, b];
    },
  },
  {
    name: "PostgreSQL (two pools, one schema)",
    pair: async () => {
      const schema = `e_${Math.random().toString(36).slice(2, 10)}`;
      const a = new PostgresLedger({ connectionString: pgUrl, schema, poolSize: 3 });
      await a.migrate();
      const b = new PostgresLedger({ connectionString: pgUrl, schema, poolSize: 3 });
      await b.migrate();
      opened.push(a, b);
      return [a, b];
    },
  },
];

function modelOf(stack: Stack, id: string): ServedModel {
  return {
    id,
    splitter: stack.splitter.target as string,
    splitterConfig: stack.config,
    salt: null,
    deployed: true,
  } as unknown as ServedModel;
}

function instance(ledger: Ledger, stack: Stack, oracle: boolean = true): CloseContext {
  return {
    ledger,
    provider: chain.ethers.provider,
    oracle: oracle ? stack.roles.oracle : null,
    oracleQueue: new SerialQueue(),
    chainId: chain.chainId,
    startBlock: 0,
    docs: new EpochDocuments(ledger),
    texts: null,
    uriFor: (s, e) => `http://host.test/epochs/${s}/${e}`,
    ensureDeployed: async () => undefined,
    now: () => Date.now(),
    latestKnown: new Map(),
  };
}

let outputCounter = 0;
/** Settles `n` payments on-chain (settleBatch) and records them, with their outputs, in the ledger. */
async function settle(stack: Stack, ledger: Ledger, modelId: string, n: number): Promise<string[]> {
  const payer = stack.payers[0];
  const domain = await tokenDomain(stack.token, stack.chainId);
  const splitter = stack.splitter.target as string;
  const items = [];
  const rows = [];
  for (let i = 0; i < n; i++) {
    const k = outputCounter++;
    const text = `${passage(docs[k % docs.length].text, 50 + 13 * k, 40)} and then some words of our own.`;
    const record = attribute(index, text, null);
    const outputId = `0x${(k + 1).toString(16).padStart(64, "0")}`;
    const signed = await signAuthorization(payer, domain, { to: splitter, value: BigInt(1000 + 17 * k) });
    items.push(settlementOf(signed, outputId, hashRecord(record)));
    rows.push({ signed, record, outputId });
  }
  const receipt = await (await stack.splitter.connect(stack.roles.facilitator).settleBatch(items)).wait();
  for (const { signed, record, outputId } of rows) {
    const key = {
      network: `eip155:${chain.chainId}`,
      asset: (stack.token.target as string).toLowerCase(),
      payer: payer.address.toLowerCase(),
      nonce: signed.auth.nonce.toLowerCase(),
    };
    await ledger.reserve({
      ...key,
      payTo: splitter.toLowerCase(),
      amount: signed.auth.value.toString(),
      modelId,
      outputId: null,
      payload: "{}",
    });
    await ledger.transition(key, ["reserved"], "settled", { outputId, txHash: receipt!.hash });
    await ledger.putOutput({
      outputId,
      modelId,
      paymentKey: key,
      record: serializeRecord(record),
      recordHash: hashRecord(record),
      epoch: null,
      createdAt: Date.now(),
    });
  }
  return rows.map((r) => r.outputId);
}

/** Mines one block: a local splitter's one-second challenge period is over for views at "latest". */
async function passChallengePeriod() {
  await chain.connection.networkHelpers.mine();
}

async function postedEvents(stack: Stack, epoch: number) {
  return stack.splitter.queryFilter(stack.splitter.filters.EpochPosted(epoch));
}

describe.each(backends)("epoch closing across instances: $name", ({ pair }) => {
  it("each close reads PaymentSettled logs only after the blocks the previous close read", async () => {
    const [a] = await pair();
    const stack = await deployStack(chain, {}, { payers: 1 });
    const model = modelOf(stack, "m0");
    // Each close's eth_getLogs slices of PaymentSettled, as [fromBlock, toBlock].
    const scans: Array<Array<[number, number]>> = [[], []];
    let closing = 0;
    const provider = new Proxy(chain.ethers.provider, {
      get(target, key) {
        if (key === "send")
          return (method: string, params: any[]) => {
            const filter = params[0] as { topics?: Array<string | string[]>; fromBlock: string; toBlock: string };
            if (method === "eth_getLogs" && [filter.topics?.[0]].flat().includes(PAYMENT_SETTLED_TOPIC))
              scans[closing].push([Number(filter.fromBlock), Number(filter.toBlock)]);
            return target.send(method, params);
          };
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const ctx = { ...instance(a, stack), provider };
    await settle(stack, a, "m0", 3);
    expect(await closeEpoch(ctx, model)).toMatchObject({ status: "closed", epoch: 1, outputs: 3 });
    const afterFirst = await chain.ethers.provider.getBlockNumber();
    await passChallengePeriod();
    await settle(stack, a, "m0", 2);
    closing = 1;
    expect(await closeEpoch(ctx, model)).toMatchObject({ status: "closed", epoch: 2, outputs: 2 });
    // The first close reads from block 0, the second from the first one's end on; each in contiguous slices.
    expect(scans[0][0][0]).toBe(0);
    expect(scans[1][0][0]).toBe(scans[0].at(-1)![1] + 1);
    expect(scans[1][0][0]).toBeGreaterThan(afterFirst - 1);
    for (const slices of scans) slices.slice(1).forEach(([from], i) => expect(from).toBe(slices[i][1] + 1));
    // Still exact: everything received is allocated.
    expect(BigInt((await a.getEpoch(model.splitter, 2))!.cumulativeAllocated)).toBe(await stack.splitter.contributorPool());
  });

  it("concurrent closes post the epoch once and assign every output once", async () => {
    const [a, b] = await pair();
    const stack = await deployStack(chain, {}, { payers: 1 });
    const model = modelOf(stack, "m1");
    const ids = await settle(stack, a, "m1", 5);

    const results = await Promise.all([closeEpoch(instance(a, stack), model), closeEpoch(instance(b, stack), model)]);
    expect(results.some((r) => r.status === "closed")).toBe(true);
    for (const r of results)
      expect(r.status === "closed" || (r.status === "skipped" && r.reason === "closed_by_another_instance")).toBe(true);
    expect(await postedEvents(stack, 1)).toHaveLength(1);
    await passChallengePeriod(); // the factory's one-second minimum on local chains
    await refreshEpochs(instance(b, stack), model);
    const epochs = await b.listEpochs(model.splitter);
    expect(epochs.map((e) => [e.epoch, e.status])).toEqual([[1, "active"]]);
    const [, claimsRoot, allocated] = await stack.splitter.activeEpoch();
    expect(claimsRoot).toBe(epochs[0].claimsRoot);
    expect(allocated).toBe(await stack.splitter.contributorPool()); // everything received is allocated
    expect((await a.listEpochOutputs("m1", 1)).map((o) => o.outputId).sort()).toEqual([...ids].sort());

    // A retry has nothing to do and sends nothing.
    expect(await closeEpoch(instance(b, stack), model)).toEqual({ status: "skipped", model: "m1", reason: "nothing_to_close" });
    expect(await postedEvents(stack, 2)).toHaveLength(0);
  });

  it("a cached epoch document costs a read of the epoch's columns, not of its stored document; its status moves on", async () => {
    const [a] = await pair();
    const stack = await deployStack(chain, {}, { payers: 1 });
    const model = modelOf(stack, "m5");
    const ctx = instance(a, stack);
    await settle(stack, a, "m5", 3);
    expect(await closeEpoch(ctx, model)).toMatchObject({ status: "closed", epoch: 1 });
    let storedReads = 0;
    const counting = new Proxy(a, {
      get(target, key) {
        const value = Reflect.get(target, key, target);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (key === "getEpoch") storedReads++;
          return value.apply(target, args);
        };
      },
    });
    const docs = new EpochDocuments(counting);
    const first = await docs.get(model.splitter, 1);
    expect(await docs.get(model.splitter, 1)).toBe(first);
    expect(storedReads).toBe(1);
    expect(first!.record).not.toHaveProperty("document"); // the cache keeps the expanded form only
    await passChallengePeriod();
    await refreshEpochs(ctx, model);
    expect((await docs.get(model.splitter, 1))!.record.status).toBe("active");
    expect(storedReads).toBe(1);
    expect(await docs.get(model.splitter, 2)).toBeNull();
    await docs.close();
  });

  it("an instance that died after claiming an epoch is finished by the next one, which then closes its own", async () => {
    const [a, b] = await pair();
    const stack = await deployStack(chain, {}, { payers: 1 });
    const model = modelOf(stack, "m2");
    const first = await settle(stack, a, "m2", 3);
    // Instance A claims epoch 1 in the ledger and assigns its outputs, but cannot post (it "dies").
    const died = await closeEpoch(instance(a, stack, false), model).then(
      () => null,
      (e: Error) => e,
    );
    expect(died?.message).toMatch(/epoch 1 of m2 is built but this instance has no oracle key/);
    const claimed = await b.getEpoch(model.splitter, 1);
    expect(claimed).toMatchObject({ status: "posted", txHash: null });
    expect(await postedEvents(stack, 1)).toHaveLength(0);

    const second = await settle(stack, b, "m2", 2);
    // B posts A's epoch 1; epoch 2 waits for its (one-second) challenge period.
    expect(await closeEpoch(instance(b, stack), model)).toMatchObject({ status: "waiting", reason: "epoch_pending", epoch: 1 });
    await passChallengePeriod();
    const result = await closeEpoch(instance(b, stack), model);
    // B posted A's epoch 1 exactly as A built it, then closed epoch 2 with the newer outputs.
    expect(result).toMatchObject({ status: "closed", epoch: 2, outputs: 2 });
    const [e1] = await postedEvents(stack, 1);
    expect(e1.args.claimsRoot).toBe(claimed!.claimsRoot);
    expect((await b.getEpoch(model.splitter, 1))!.status).toBe("active");
    expect((await b.listEpochOutputs("m2", 1)).map((o) => o.outputId).sort()).toEqual([...first].sort());
    expect((await b.listEpochOutputs("m2", 2)).map((o) => o.outputId).sort()).toEqual([...second].sort());
    // Cumulative: epoch 2 allocates everything received over both epochs.
    await passChallengePeriod();
    expect((await stack.splitter.activeEpoch())[2]).toBe(await stack.splitter.contributorPool());
  });
});

describe("epoch closing with a challenge period", () => {
  it("waits for the pending epoch, then closes the next one; a vetoed epoch halts the model", async () => {
    const ledger = new SqliteLedger({ path: join(dir, "challenge.sqlite") });
    await ledger.migrate();
    opened.push(ledger);
    const stack = await deployStack(chain, { challengePeriod: 3600 }, { payers: 1 });
    const model = modelOf(stack, "m3");
    const ctx = instance(ledger, stack);

    await settle(stack, ledger, "m3", 2);
    expect(await closeEpoch(ctx, model)).toMatchObject({ status: "closed", epoch: 1 });
    expect((await ledger.getEpoch(model.splitter, 1))!.status).toBe("posted"); // in its challenge period
    await settle(stack, ledger, "m3", 2);
    expect(await closeEpoch(ctx, model)).toMatchObject({ status: "waiting", reason: "epoch_pending", epoch: 1 });

    await chain.connection.provider.request({ method: "evm_increaseTime", params: [3601] });
    await chain.connection.provider.request({ method: "evm_mine", params: [] });
    expect(await refreshEpochs(ctx, model)).toMatchObject({ epoch: 1, status: "active" });
    expect(await closeEpoch(ctx, model)).toMatchObject({ status: "closed", epoch: 2, outputs: 2 });

    // The guardian vetoes epoch 2 during its challenge period: closing stops for this model.
    await (await stack.splitter.connect(stack.roles.guardian).vetoEpoch(2)).wait();
    await settle(stack, ledger, "m3", 1);
    expect(await refreshEpochs(ctx, model)).toMatchObject({ epoch: 2, status: "vetoed" });
    expect(await closeEpoch(ctx, model)).toEqual({ status: "halted", model: "m3", reason: "epoch_vetoed", epoch: 2 });
    expect(await postedEvents(stack, 3)).toHaveLength(0);
  });

  it("a previous epoch whose challenge period ends during a close is recorded active, not left posted", async () => {
    const ledger = new SqliteLedger({ path: join(dir, "challenge-race.sqlite") });
    await ledger.migrate();
    opened.push(ledger);
    const stack = await deployStack(chain, { challengePeriod: 3600 }, { payers: 1 });
    const model = modelOf(stack, "m4");
    await settle(stack, ledger, "m4", 2);
    expect(await closeEpoch(instance(ledger, stack), model)).toMatchObject({ status: "closed", epoch: 1 });
    await settle(stack, ledger, "m4", 2);

    // The close reads epoch 1 as pending, then the period ends before it reads the splitter's pending epoch.
    const ctx = instance(ledger, stack);
    ctx.ensureDeployed = async () => {
      await chain.connection.provider.request({ method: "evm_increaseTime", params: [3601] });
      await chain.connection.provider.request({ method: "evm_mine", params: [] });
    };
    expect(await closeEpoch(ctx, model)).toMatchObject({ status: "closed", epoch: 2, outputs: 2 });
    expect((await ledger.getEpoch(model.splitter, 1))!.status).toBe("active");
  });
});
