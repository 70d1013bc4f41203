// The delta index: a main index plus the contributions registered since, read as one. Records made
// against main + delta must be byte-identical to records made against the index built in one
// pass from the same ordered contributions (what the merge produces and what an outsider rebuilds
// from the export), whatever the split: same owners, surprisal, weights and indexRoot.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { attribute } from "../../server/attribution/attribute.ts";
import { buildIndex } from "../../server/attribution/build.ts";
import { withDelta } from "../../server/attribution/delta.ts";
import { serializeRecord } from "../../server/attribution/record.ts";
import { SegmentedIndex } from "../../server/attribution/segmented.ts";
import { milliBitsLog2Ratio, surprisalTable } from "../../server/attribution/surprisal.ts";
import { RETRIEVAL_ALGORITHM } from "../../server/attribution/retrieval.ts";
import { legacyIndexRoot } from "../../server/attribution/store.ts";
import { buildEpoch } from "../../server/epochs/build.ts";
import { verifyEpoch } from "../../server/epochs/verify.ts";
import { Datanet, type Contribution } from "../../server/datanets/datanet.ts";
import { seededRandom } from "../../scripts/shared/random.ts";
import { addressOf, brownDocs, passage } from "../fixtures/attribution/helpers.ts";

const docs = brownDocs();

/** 14 contributions: Brown documents, two of them later copies embedding an earlier passage. */
function contributions(): Contribution[] {
  const d = new Datanet();
  for (let i = 0; i < 12; i++) d.add({ contributor: addressOf(i % 9), text: docs[60 + i].text });
  const copied = passage(docs[62].text, 300, 60);
  d.add({ contributor: addressOf(20), text: `${passage(docs[90].text, 100, 80)} ${copied} ${passage(docs[91].text, 50, 80)}` });
  d.add({ contributor: addressOf(21), text: docs[65].text }); // an exact duplicate of contribution 5
  return d.contributions.slice();
}

const all = contributions();
const whole = buildIndex(all).index;

/** Outputs that draw on early, late and copied contributions, with edits, case and stock text around them. */
function outputs(): string[] {
  const rand = seededRandom(7);
  const out: string[] = [];
  for (const c of [0, 3, 5, 9, 11, 12, 13]) {
    const text = all[c].text;
    const from = Math.floor(rand() * 400);
    out.push(passage(text, from, 90));
    out.push(`${passage(all[(c + 4) % all.length].text, 200, 40)} and then ${passage(text, from + 50, 60).toUpperCase()}`);
  }
  out.push(passage(docs[62].text, 300, 60)); // the passage contribution 12 copied: its author is contribution 2's
  out.push("I hope this helps! Let me know if you have any other questions.");
  return out;
}

const texts = outputs();
// the property compares records that credit someone: most outputs draw on the datanet
const creditedByWhole = texts.filter((t) => attribute(whole, t).contributors.length > 0).length;

function split(at: readonly number[]): SegmentedIndex {
  const bounds = [0, ...at, all.length];
  return new SegmentedIndex(bounds.slice(1).map((end, s) => buildIndex(all.slice(bounds[s], end)).index));
}

describe("delta index", () => {
  it("gives the one-pass build's indexRoot, surprisal and records at random split points", () => {
    expect(creditedByWhole).toBeGreaterThanOrEqual(texts.length - 2);
    const cut = fc.uniqueArray(fc.integer({ min: 1, max: all.length - 1 }), { minLength: 1, maxLength: 3 });
    fc.assert(
      fc.property(cut, (points) => {
        const segmented = split([...points].sort((a, b) => a - b));
        expect(segmented.indexRoot).toBe(whole.indexRoot);
        expect(segmented.contributions).toEqual(whole.contributions);
        expect(Buffer.from(segmented.surprisal.buffer).equals(Buffer.from(whole.surprisal.buffer))).toBe(true);
        for (const text of texts) expect(serializeRecord(attribute(segmented, text))).toBe(serializeRecord(attribute(whole, text)));
      }),
      { numRuns: 12, seed: 15 },
    );
  });

  it("credits a new contribution at once, and a delta copy of main text to the main author", () => {
    const main = buildIndex(all.slice(0, 10)).index;
    const fresh = { seq: 10, contributor: addressOf(30), text: docs[120].text };
    const copier = { seq: 11, contributor: addressOf(31), text: `${passage(docs[121].text, 0, 80)} ${passage(all[4].text, 500, 70)}` };
    const added = Datanet.from([...all.slice(0, 10), fresh, copier]).contributions.slice(10);
    const { index, stats } = withDelta(main, added);
    expect(stats.contributions).toBe(2);
    const ofFresh = attribute(index, passage(docs[120].text, 400, 80));
    expect(ofFresh.contributors.map((c) => c.address)).toEqual([addressOf(30)]);
    const ofCopy = attribute(index, passage(all[4].text, 500, 70));
    expect(ofCopy.contributors.map((c) => c.address)).toEqual([all[4].contributor]);
    // before the delta, the fresh text earned nobody
    expect(attribute(main, passage(docs[120].text, 400, 80)).contributors).toEqual([]);
    const merged = buildIndex([...all.slice(0, 10), ...added]).index;
    expect(serializeRecord(ofFresh)).toBe(serializeRecord(attribute(merged, passage(docs[120].text, 400, 80))));
  });

  it("leaves an index without a delta as it is; retrieval records read the main index", () => {
    const main = buildIndex(all.slice(0, 8)).index;
    expect(withDelta(main, []).index).toBe(main);
    const { index } = withDelta(main, all.slice(8));
    const prompt = passage(all[3].text, 100, 30);
    const r = attribute(index, passage(all[3].text, 140, 60), prompt, { algorithm: RETRIEVAL_ALGORITHM });
    expect(r.indexRoot).toBe(main.indexRoot);
  });

  it("refuses segments out of registration order or built with other parameters", () => {
    const a = buildIndex(all.slice(0, 3)).index;
    const b = buildIndex(all.slice(3, 5)).index;
    expect(() => new SegmentedIndex([b, a])).toThrowError(/duplicate_seq/);
    expect(() => new SegmentedIndex([a, buildIndex(all.slice(3, 5), { minCopyTokens: 20 }).index])).toThrowError(/index_mismatch/);
  });
});

describe("records made before indexRoot named the contribution list", () => {
  it("still verify against an index rebuilt from the export, by the index's former (file) root", async () => {
    const id = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;
    const epoch = (records: Array<ReturnType<typeof attribute>>) =>
      buildEpoch({
        epoch: 1,
        ownerBps: 1000,
        protocolBps: 100,
        modelOwner: addressOf(90),
        payments: records.map((record, n) => ({ outputId: id(n + 1), amount: 1_000_000n, record })),
        texts: { [id(1)]: { output: texts[0] }, [id(2)]: { output: texts[2] } },
      });
    const old = [texts[0], texts[2]].map((t) => ({ ...attribute(whole, t), indexRoot: legacyIndexRoot(whole) }));
    expect(old[0].indexRoot).not.toBe(whole.indexRoot);
    const ok = await verifyEpoch(epoch(old), { index: whole, requireAllRecords: true });
    expect(ok.checks.find((c) => c.name === "records recomputed")).toMatchObject({ ok: true });
    expect(ok.recordsRecomputed).toBe(2);
    // a root that is neither the index's root nor its former one is refused
    const other = [{ ...old[0], indexRoot: `0x${"12".repeat(32)}` }, old[1]];
    const bad = await verifyEpoch(epoch(other), { index: whole });
    expect(bad.checks.find((c) => c.name === "records recomputed")?.ok).toBe(false);
  });
});

describe("surprisal table", () => {
  it("equals the exact BigInt computation for every count, including values on an integer boundary", () => {
    const rand = seededRandom(3);
    const counts = Uint32Array.from({ length: 2500 }, (_, i) => (i < 2000 ? Math.floor(rand() * 2 ** (1 + (i % 20))) : i - 2000));
    counts[0] = 0;
    counts[1] = 999_999; // (N + V) / (c + 1) = 2 exactly in the first table: the value is an integer
    for (const [n, v] of [
      [2_000_000 - 200_019, 200_019],
      [21_400_000, 200_019],
    ]) {
      const table = surprisalTable(counts, n, v);
      const S = BigInt(n + v);
      for (let t = 0; t < counts.length; t++) {
        if (counts[t] + 1 > n + v) continue;
        expect(table[t]).toBe(milliBitsLog2Ratio(S, BigInt(counts[t]) + 1n));
      }
    }
  });
});
