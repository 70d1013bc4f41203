import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { getAddress, hexlify, randomBytes, ZeroHash } from "ethers";
import { apportion } from "../../server/attribution/apportion.ts";
import { buildEpoch, contributorPool, epochInputOf, nextPreviousState, claimOf, type EpochPayment } from "../../server/epochs/build.ts";
import { hashRecord, PPM, type AttributionRecord } from "../../server/attribution/record.ts";
import { verifyEpoch } from "../../server/epochs/verify.ts";
import { addressOf } from "../fixtures/attribution/helpers.ts";

const OWNER = getAddress("0x00000000000000000000000000000000000000aa");
const byLower = (a: string, b: string) => (a.toLowerCase() < b.toLowerCase() ? -1 : 1);

/** A minimal valid record with the given ppm shares (the rest unattributed). */
function record(shares: Array<[string, number]>, salt = 0): AttributionRecord {
  const contributors = shares
    .map(([address, ppm]) => ({ address, ppm, weight: ppm, tokens: 1 }))
    .sort((a, b) => byLower(a.address, b.address));
  const used = contributors.reduce((a, c) => a + c.ppm, 0);
  return {
    algorithm: "royalty402/verbatim-span-surprisal/v1",
    params: { minSpanTokens: 8, maxContributions: 32, tokenizer: "test", weighting: "surprisal-millibits" },
    indexRoot: "0x" + "11".repeat(32),
    outputHash: "0x" + salt.toString(16).padStart(64, "0"),
    promptHash: null,
    outputTokens: 10,
    totalWeight: PPM,
    contributors,
    unattributedPpm: PPM - used,
    unattributedWeight: PPM - used,
    unattributedTokens: 0,
    masked: [],
    spans: [],
  };
}

const outputId = (i: number) => "0x" + (i + 1).toString(16).padStart(64, "0");

describe("largest-remainder apportionment", () => {
  it("adds up exactly, stays within one unit of the exact share, ignores input order", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 24n }),
        fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.bigInt({ min: 0n, max: 10n ** 18n })), {
          minLength: 1,
          maxLength: 20,
          selector: (t) => t[0],
        }),
        (total, raw) => {
          const items = raw.map(([k, w]) => ({ key: `k${k}`, weight: w }));
          const W = items.reduce((a, i) => a + i.weight, 0n);
          if (W === 0n) {
            if (total === 0n) expect([...apportion(total, items).values()].every((v) => v === 0n)).toBe(true);
            else expect(() => apportion(total, items)).toThrowError(/invalid_epoch_input/);
            return;
          }
          const out = apportion(total, items);
          expect([...out.values()].reduce((a, b) => a + b, 0n)).toBe(total);
          for (const i of items) {
            const floor = (total * i.weight) / W;
            expect(out.get(i.key)! - floor >= 0n && out.get(i.key)! - floor <= 1n).toBe(true);
          }
          const again = apportion(total, [...items].reverse());
          expect([...again.entries()].sort()).toEqual([...out.entries()].sort());
        },
      ),
      { numRuns: 300 },
    );
  });

  it("breaks ties by key", () => {
    const out = apportion(1n, [
      { key: "b", weight: 1n },
      { key: "a", weight: 1n },
    ]);
    expect(out.get("a")).toBe(1n);
    expect(out.get("b")).toBe(0n);
  });
});

describe("epoch aggregation", () => {
  const A = addressOf(1);
  const B = addressOf(2);

  it("splits the contributor pool by amount * ppm, unattributed to the model owner", () => {
    const doc = buildEpoch({
      epoch: 1,
      ownerBps: 1000,
      protocolBps: 200,
      modelOwner: OWNER,
      payments: [
        {
          outputId: outputId(0),
          amount: 1_000_000n,
          record: record([
            [A, 500_000],
            [B, 500_000],
          ]),
        },
        { outputId: outputId(1), amount: 3_000_000n, record: record([[A, 750_000]]) },
      ],
    });
    // pool = 4,000,000 - 400,000 - 80,000
    expect(doc.contributorPool).toBe("3520000");
    expect(doc.epochPool).toBe("3520000");
    // weights: A 0.5e12 + 2.25e12, B 0.5e12, owner 0.75e12 (of 4e12)
    const amounts = Object.fromEntries(doc.allocations.map((a) => [a.account, a.amount]));
    expect(amounts).toEqual({ [A]: "2420000", [B]: "440000", [OWNER]: "660000" });
    expect(doc.cumulativeAllocated).toBe("3520000");
    expect(doc.claims.leaves).toHaveLength(3);
    for (const l of doc.claims.leaves) {
      expect(StandardMerkleTree.verify(doc.claims.root, ["address", "uint256"], [l.account, l.cumulativeAmount], l.proof)).toBe(true);
    }
    for (const l of doc.records.leaves) {
      expect(StandardMerkleTree.verify(doc.records.root, ["bytes32", "bytes32"], [l.outputId, l.recordHash], l.proof)).toBe(true);
    }
    expect(doc.payments.map((p) => p.recordHash)).toEqual(doc.payments.map((p) => hashRecord(p.record)));
    expect(claimOf(doc, A.toLowerCase())?.cumulativeAmount).toBe("2420000");
  });

  it("accumulates across epochs and pays the pool growth only", () => {
    const e1 = buildEpoch({
      epoch: 1,
      ownerBps: 1000,
      protocolBps: 200,
      modelOwner: OWNER,
      payments: [{ outputId: outputId(0), amount: 999n, record: record([[A, PPM]]) }],
    });
    const e2 = buildEpoch({
      epoch: 2,
      ownerBps: 1000,
      protocolBps: 200,
      modelOwner: OWNER,
      previous: nextPreviousState(e1),
      payments: [{ outputId: outputId(1), amount: 1001n, record: record([[B, PPM]]) }],
    });
    // pool(999) = 999 - floor(999 * 12%) = 880; pool(2000) = 2000 - 240 = 1760
    expect(e1.cumulativeAllocated).toBe("880");
    expect(e2.epochPool).toBe(String(1760 - 880));
    expect(e2.cumulativeAllocated).toBe("1760");
    expect(claimOf(e2, A)?.cumulativeAmount).toBe("880"); // carried over without new payments
    expect(claimOf(e2, B)?.cumulativeAmount).toBe("880");
  });

  it("the pool never shrinks as revenue grows (both cuts floored together, as the contract does)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 30n }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 10_000 }),
        (r, o, p) => {
          fc.pre(o + p <= 10_000);
          return contributorPool(r + 1n, o, p) >= contributorPool(r, o, p);
        },
      ),
      { numRuns: 2000 },
    );
    // Two independent floors would give pool(3) = 3 and pool(4) = 2 here.
    expect(contributorPool(3n, 3000, 3000)).toBe(2n);
    expect(contributorPool(4n, 3000, 3000)).toBe(2n);
    const e1 = buildEpoch({
      epoch: 1,
      ownerBps: 3000,
      protocolBps: 3000,
      modelOwner: OWNER,
      payments: [{ outputId: outputId(0), amount: 3n, record: record([[A, PPM]]) }],
    });
    const e2 = buildEpoch({
      epoch: 2,
      ownerBps: 3000,
      protocolBps: 3000,
      modelOwner: OWNER,
      previous: nextPreviousState(e1),
      payments: [{ outputId: outputId(1), amount: 1n, record: record([[B, PPM]]) }],
    });
    expect(e1.cumulativeAllocated).toBe("2");
    expect(e2.epochPool).toBe("0");
    expect(e2.cumulativeAllocated).toBe("2");
  });

  it("merges the owner's unattributed share with its own contributions into one leaf", () => {
    const doc = buildEpoch({
      epoch: 1,
      ownerBps: 0,
      protocolBps: 0,
      modelOwner: OWNER,
      payments: [{ outputId: outputId(0), amount: 100n, record: record([[OWNER, 300_000]]) }],
    });
    expect(doc.claims.leaves).toEqual([expect.objectContaining({ account: OWNER, cumulativeAmount: "100" })]);
  });

  it("publishes empty trees as zero roots", () => {
    const doc = buildEpoch({ epoch: 1, ownerBps: 1000, protocolBps: 200, modelOwner: OWNER, payments: [] });
    expect(doc.claims.root).toBe(ZeroHash);
    expect(doc.records.root).toBe(ZeroHash);
    expect(doc.cumulativeAllocated).toBe("0");
  });

  it("refuses bad input with reason codes", () => {
    const base = { epoch: 1, ownerBps: 1000, protocolBps: 200, modelOwner: OWNER };
    const p = (over: Partial<EpochPayment>): EpochPayment => ({ outputId: outputId(0), amount: 10n, record: record([[A, PPM]]), ...over });
    expect(() => buildEpoch({ ...base, payments: [p({}), p({})] })).toThrowError(/duplicate_output/);
    expect(() => buildEpoch({ ...base, payments: [p({ amount: 0n })] })).toThrowError(/invalid_payment/);
    expect(() => buildEpoch({ ...base, payments: [p({ outputId: "0x12" })] })).toThrowError(/invalid_epoch_input/);
    expect(() => buildEpoch({ ...base, payments: [p({ record: { ...record([[A, PPM]]), unattributedPpm: 1 } })] })).toThrowError(
      /invalid_record/,
    );
    expect(() => buildEpoch({ ...base, payments: [p({ record: record([[A.toLowerCase(), PPM]]) })] })).toThrowError(/invalid_record/);
    expect(() => buildEpoch({ ...base, epoch: 2, payments: [] })).toThrowError(/invalid_epoch_input/);
    expect(() => buildEpoch({ ...base, ownerBps: 9000, protocolBps: 2000, payments: [p({})] })).toThrowError(/invalid_epoch_input/);
    expect(() => buildEpoch({ ...base, modelOwner: "nobody", payments: [] })).toThrowError(/invalid_address/);
  });

  it("property: no unit lost, allocations never exceed the on-chain pool, cumulative leaves never decrease", () => {
    const accounts = Array.from({ length: 6 }, (_, i) => addressOf(10 + i));
    const paymentArb = fc.tuple(
      fc.bigInt({ min: 1n, max: 10n ** 13n }),
      fc.array(fc.tuple(fc.nat(5), fc.integer({ min: 0, max: PPM })), { maxLength: 5 }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.array(fc.array(paymentArb, { maxLength: 8 }), { minLength: 1, maxLength: 3 }),
        (ownerBps, protocolBps, epochs) => {
          let previous = undefined as ReturnType<typeof nextPreviousState> | undefined;
          let id = 0;
          let received = 0n;
          for (let e = 0; e < epochs.length; e++) {
            const payments = epochs[e].map(([amount, rawShares]) => {
              // turn raw shares into a valid ppm split (sum <= 1e6, unique accounts)
              const shares = new Map<string, number>();
              let left = PPM;
              for (const [who, ppm] of rawShares) {
                const take = Math.min(ppm, left);
                left -= take;
                shares.set(accounts[who], (shares.get(accounts[who]) ?? 0) + take);
              }
              received += amount;
              return { outputId: outputId(id++), amount, record: record([...shares.entries()], id) };
            });
            const doc = buildEpoch({ epoch: e + 1, ownerBps, protocolBps, modelOwner: OWNER, payments, previous });
            const pool = contributorPool(received, ownerBps, protocolBps);
            const sum = doc.allocations.reduce((a, x) => a + BigInt(x.amount), 0n);
            expect(sum).toBe(BigInt(doc.epochPool));
            const leavesSum = doc.claims.leaves.reduce((a, l) => a + BigInt(l.cumulativeAmount), 0n);
            expect(leavesSum).toBe(BigInt(doc.cumulativeAllocated));
            // the pool formula is not monotone by one unit (both cuts round up together), and the
            // allocation never decreases: it stays within max(pool, previous allocation)
            const floor = previous ? previous.cumulativeAllocated : 0n;
            expect(BigInt(doc.cumulativeAllocated)).toBeLessThanOrEqual(pool > floor ? pool : floor);
            if (previous) {
              expect(BigInt(doc.cumulativeAllocated)).toBeGreaterThanOrEqual(previous.cumulativeAllocated);
              for (const [acct, v] of previous.totals) expect(BigInt(claimOf(doc, acct)!.cumulativeAmount)).toBeGreaterThanOrEqual(v);
            }
            previous = nextPreviousState(doc);
          }
        },
      ),
      { numRuns: 120 },
    );
  });
});

describe("epoch verification (off-chain)", () => {
  const A = addressOf(1);
  const B = addressOf(2);
  const doc = buildEpoch({
    epoch: 1,
    ownerBps: 1000,
    protocolBps: 200,
    modelOwner: OWNER,
    payments: Array.from({ length: 5 }, (_, i) => ({
      outputId: hexlify(randomBytes(32)),
      amount: BigInt(1000 + i),
      record: record(
        [
          [A, 100_000 * i],
          [B, 1000],
        ],
        i,
      ),
    })),
  });

  it("recomputes a published document (after a JSON round trip) and accepts it", async () => {
    const published = JSON.parse(JSON.stringify(doc));
    const v = await verifyEpoch(published);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.ok).toBe(true);
    expect(epochInputOf(published).payments).toHaveLength(5);
  });

  it("detects a tampered leaf, allocation or record", async () => {
    const t1 = JSON.parse(JSON.stringify(doc));
    t1.claims.leaves[0].cumulativeAmount = String(BigInt(t1.claims.leaves[0].cumulativeAmount) + 1n);
    const v1 = await verifyEpoch(t1);
    expect(v1.ok).toBe(false);
    expect(v1.checks.find((c) => c.name === "recomputed epoch")!.ok).toBe(false);
    expect(v1.checks.find((c) => c.name === "proofs")!.ok).toBe(false);

    const t2 = JSON.parse(JSON.stringify(doc));
    t2.payments[0].record.contributors[0].ppm -= 1;
    t2.payments[0].record.unattributedPpm += 1;
    const v2 = await verifyEpoch(t2);
    expect(v2.checks.find((c) => c.name === "record hashes")!.ok).toBe(false);

    const t3 = JSON.parse(JSON.stringify(doc));
    t3.claims.root = "0x" + "22".repeat(32);
    expect((await verifyEpoch(t3)).ok).toBe(false);
  });

  it("reports a malformed document as failing instead of crashing", async () => {
    for (const bad of [
      null,
      {},
      { ...JSON.parse(JSON.stringify(doc)), payments: 5 },
      { ...JSON.parse(JSON.stringify(doc)), format: "other" },
    ]) {
      const v = await verifyEpoch(bad as never);
      expect(v.ok).toBe(false);
      expect(v.checks[0]).toMatchObject({ name: "format", ok: false });
    }
  });
});
