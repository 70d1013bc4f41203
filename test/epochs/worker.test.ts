// The epoch worker's pieces: proofs read in one pass, the stored (compact) document and its
// expansion back to the published one, and the worker thread itself (tsx-loaded, errors kept).
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { getAddress, hexlify, randomBytes } from "ethers";
import { buildEpoch, type EpochPayment } from "../../server/epochs/build.ts";
import { allProofs } from "../../server/epochs/proofs.ts";
import { expandStored, missingRecords, storedOutputIds, toStored } from "../../server/epochs/stored.ts";
import { blockTransfers, buildTask, paymentBlock } from "../../server/epochs/worker-tasks.ts";
import { packRecord } from "../../server/ledger/record-codec.ts";
import { EpochWorker } from "../../server/epochs/worker-client.ts";
import { PPM, serializeRecord, type AttributionRecord } from "../../server/attribution/record.ts";
import { verifyEpoch } from "../../server/epochs/verify.ts";

const OWNER = getAddress("0x00000000000000000000000000000000000000aa");
const account = (i: number) => getAddress(`0x${(i + 1).toString(16).padStart(40, "0")}`);
const outputId = (i: number) => `0x${(i + 1).toString(16).padStart(64, "0")}`;

function record(i: number): AttributionRecord {
  const contributors = [account(i % 7), account(7 + (i % 5))]
    .map((address, k) => ({ address, ppm: 300_000 + k * 100_000, weight: 1 + k, tokens: 1 }))
    .sort((a, b) => (a.address.toLowerCase() < b.address.toLowerCase() ? -1 : 1));
  return {
    algorithm: "royalty402/verbatim-span-surprisal/v1",
    params: { minSpanTokens: 8, maxContributions: 32, tokenizer: "test", weighting: "surprisal-millibits" },
    indexRoot: `0x${"11".repeat(32)}`,
    outputHash: `0x${i.toString(16).padStart(64, "0")}`,
    promptHash: null,
    outputTokens: 10,
    totalWeight: PPM,
    contributors,
    unattributedPpm: PPM - 700_000,
    unattributedWeight: PPM - 700_000,
    unattributedTokens: 0,
    masked: [],
    spans: [],
  };
}

const payments = (n: number): EpochPayment[] =>
  Array.from({ length: n }, (_, i) => ({ outputId: outputId(i), amount: 1000n + BigInt(i), record: record(i) }));
const input = (n: number) => ({
  epoch: 1,
  ownerBps: 500,
  protocolBps: 100,
  modelOwner: OWNER,
  payments: payments(n),
  chainId: 31337n,
  splitter: account(99),
});

describe("proofs in one pass", () => {
  it("equal OpenZeppelin's getProof for every leaf of trees of 1 to 70 leaves", () => {
    for (let n = 1; n <= 70; n++) {
      const values = Array.from({ length: n }, () => [hexlify(randomBytes(32)), hexlify(randomBytes(32))]);
      const tree = StandardMerkleTree.of(values, ["bytes32", "bytes32"]);
      expect(allProofs(tree)).toEqual(values.map((_, i) => tree.getProof(i)));
    }
  });
});

describe("stored epoch documents", () => {
  const doc = buildEpoch(input(40));
  const records = Object.fromEntries(doc.payments.map((p) => [p.outputId, serializeRecord(p.record)]));

  it("expand back to the published document (proofs and records included), at a fraction of its size", async () => {
    const stored = toStored(doc);
    expect(stored.length).toBeLessThan(JSON.stringify(doc).length / 3);
    expect(missingRecords(stored).sort()).toEqual(doc.payments.map((p) => p.outputId).sort());
    expect(storedOutputIds(stored)).toEqual(doc.payments.map((p) => p.outputId));
    const expanded = expandStored(stored, records);
    expect(JSON.parse(expanded.json)).toEqual(JSON.parse(JSON.stringify(doc)));
    expect((await verifyEpoch(JSON.parse(expanded.json))).ok).toBe(true);
  });

  it("an older row holding the whole published document expands the same, without the outputs table", () => {
    const full = JSON.stringify(doc);
    expect(missingRecords(full)).toEqual([]);
    expect(JSON.parse(expandStored(full, {}).json)).toEqual(JSON.parse(expandStored(toStored(doc), records).json));
  });

  it("refuses leaves that do not hash to the stored root, and a missing record", () => {
    const tampered = JSON.parse(toStored(doc));
    tampered.claims.leaves[0].cumulativeAmount = "1";
    expect(() => expandStored(JSON.stringify(tampered), records)).toThrow(/not the root/);
    const { [doc.payments[3].outputId]: _, ...fewer } = records;
    expect(() => expandStored(toStored(doc), fewer)).toThrow(/record of output .* is missing/);
  });
});

describe("the epoch worker thread", () => {
  const worker = new EpochWorker();
  afterAll(() => worker.close());
  const task = () => ({ ...input(25), payments: payments(25).map((p) => ({ ...p, record: serializeRecord(p.record) })) });

  it("builds the same epoch as the same task run in this thread", async () => {
    const built = await worker.run({ op: "build", task: task() });
    expect(built).toEqual(buildTask(task()));
    expect(built.claimsRoot).toBe(buildEpoch(input(25)).claims.root);
  });

  it("takes the payments as one transferred block, records packed or as JSON, and builds the same epoch", async () => {
    const stored = task().payments.map((p, i) => ({
      outputId: p.outputId,
      amount: p.amount.toString(),
      record: i % 3 === 0 ? p.record : packRecord(p.record), // older rows hold the JSON itself
    }));
    const block = paymentBlock(stored);
    const transfers = blockTransfers(block);
    const built = await worker.run({ op: "build", task: { ...task(), payments: block } }, transfers);
    expect(block.records.byteLength).toBe(0); // moved to the worker, not copied
    expect(built).toEqual(buildTask(task()));
  });

  it("keeps an attribution error's reason code, and starts again after close()", async () => {
    const t = task();
    t.payments.push({ ...t.payments[0] });
    await expect(worker.run({ op: "build", task: t })).rejects.toMatchObject({ name: "AttributionError", code: "duplicate_output" });
    await worker.close();
    const ids = await worker.run({ op: "outputIds", stored: toStored(buildEpoch(input(3))) });
    expect(ids).toEqual([outputId(0), outputId(1), outputId(2)]);
  });
});

describe("the epoch worker's CPU priority", () => {
  // Field 19 of /proc/<pid>/task/<tid>/stat (the 17th after the command's closing parenthesis).
  const nice = (tid: string) => Number(readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1].split(" ")[16]);

  it.runIf(process.platform === "linux")("runs below the event loop's thread, which keeps its own", async () => {
    const self = readlinkSync("/proc/thread-self").split("/").pop()!;
    const before = nice(self);
    const worker = new EpochWorker();
    try {
      await worker.run({ op: "outputIds", stored: JSON.stringify({ payments: [] }) });
      const lowered = readdirSync("/proc/self/task").filter((tid) => nice(tid) === 10);
      expect(lowered.length).toBeGreaterThan(0);
      expect(lowered).not.toContain(self);
      expect(nice(self)).toBe(before);
    } finally {
      await worker.close();
    }
  });
});
