import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { keccak256, toUtf8Bytes } from "ethers";
import { buildIndex } from "../../server/attribution/build.ts";
import { Datanet, loadDatanet, saveDatanet } from "../../server/datanets/datanet.ts";
import { loadIndex, saveIndex } from "../../server/attribution/store.ts";
import { attribute } from "../../server/attribution/attribute.ts";
import { serializeRecord } from "../../server/attribution/record.ts";
import type { SuffixIndex } from "../../server/attribution/suffix-index.ts";
import { tokenize } from "../../server/attribution/tokenizer.ts";
import { addressOf, brownDocs, passage } from "../fixtures/attribution/helpers.ts";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "attr-index-"));
  dirs.push(d);
  return d;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Position in the corpus of the first occurrence of `needle` (tokens) inside contribution i. */
function locate(index: SuffixIndex, i: number, needle: Uint32Array): number {
  const hay = index.contributionTokens(i);
  outer: for (let s = 0; s + needle.length <= hay.length; s++) {
    for (let k = 0; k < needle.length; k++) if (hay[s + k] !== needle[k]) continue outer;
    return index.offsets[i] + s;
  }
  throw new Error("needle not found");
}

function ownersOf(index: SuffixIndex, start: number, length: number): number[] {
  return Array.from({ length }, (_, k) => index.contributions[index.owner(start + k).contribution].seq);
}

describe("datanet store", () => {
  it("validates contributions with reason codes", () => {
    const d = new Datanet();
    expect(() => d.add({ contributor: "0x123", text: "hi" })).toThrowError(/invalid_address/);
    expect(() => d.add({ contributor: addressOf(1), text: "" })).toThrowError(/invalid_contribution/);
    expect(() => d.add({ contributor: addressOf(1), text: "bad \uD800 surrogate" })).toThrowError(/invalid_contribution/);
    expect(() => d.add({ contributor: addressOf(1), text: 42 as unknown as string })).toThrowError(/invalid_contribution/);
    d.add({ contributor: addressOf(1), text: "first", seq: 5 });
    expect(() => d.add({ contributor: addressOf(2), text: "again", seq: 5 })).toThrowError(/duplicate_seq/);
    expect(() => d.add({ contributor: addressOf(2), text: "neg", seq: -1 })).toThrowError(/invalid_contribution/);
    expect(d.add({ contributor: addressOf(2).toLowerCase(), text: "next" }).seq).toBe(6);
    expect(d.get(6)!.contributor).toBe(addressOf(2)); // checksummed
  });

  it("hashes the NFC UTF-8 text (composed and decomposed forms are one contribution)", () => {
    const d = new Datanet();
    const a = d.add({ contributor: addressOf(1), text: "caf\u00e9 au lait" });
    const b = d.add({ contributor: addressOf(2), text: "cafe\u0301 au lait" });
    expect(a.contentHash).toBe(keccak256(toUtf8Bytes("caf\u00e9 au lait")));
    expect(b.contentHash).toBe(a.contentHash);
    expect(d.isExactDuplicate(b)).toBe(true);
    expect(d.isExactDuplicate(a)).toBe(false);
  });

  it("saves and loads as JSON Lines, checking every content hash", () => {
    const d = Datanet.from([
      { contributor: addressOf(1), text: "line one\nwith a newline", seq: 2 },
      { contributor: addressOf(2), text: "caf\u00e9", seq: 7 },
    ]);
    const file = join(tempDir(), "datanet.jsonl");
    saveDatanet(d, file);
    const back = loadDatanet(file);
    expect(back.contributions).toEqual(d.contributions);
    writeFileSync(file, readFileSync(file, "utf8").replace("line one", "line 1"));
    expect(() => loadDatanet(file)).toThrowError(/invalid_contribution/);
  });

  it("orders contributions by registration seq, not insertion", () => {
    const d = Datanet.from([
      { contributor: addressOf(1), text: "later", seq: 10 },
      { contributor: addressOf(2), text: "earlier", seq: 3 },
    ]);
    expect(d.contributions.map((c) => c.seq)).toEqual([3, 10]);
  });
});

describe("owner map: first registered wins", () => {
  const docs = brownDocs();
  const A = docs[0].text;
  const longCopy = passage(A, 300, 90); // >= 50 tokens
  const shortCopy = passage(A, 900, 30); // < 50 tokens
  const tinyOriginal = "Short note: the harbor opens at dawn.";
  const d = new Datanet();
  d.add({ contributor: addressOf(0), text: A }); // seq 0
  d.add({ contributor: addressOf(1), text: docs[1].text }); // seq 1
  d.add({ contributor: addressOf(2), text: `${docs[2].text.slice(0, 400)} ${longCopy} ${docs[2].text.slice(400, 800)}` }); // seq 2 copies A
  // seq 3 short copy
  d.add({ contributor: addressOf(3), text: `${docs[3].text.slice(0, 400)} ${shortCopy} ${docs[3].text.slice(400, 800)}` });
  d.add({ contributor: addressOf(4), text: tinyOriginal }); // seq 4
  d.add({ contributor: addressOf(5), text: tinyOriginal }); // seq 5 exact duplicate (short)
  // seq 6 copies seq 2's copy of A plus seq 2's own words: A's part -> A, the rest -> seq 2
  const seq2 = d.get(2)!.text;
  const fromSeq2 = seq2.slice(seq2.indexOf(longCopy) + 40, seq2.indexOf(longCopy) + longCopy.length + 300);
  d.add({ contributor: addressOf(6), text: `Quoting a friend: ${fromSeq2} End of quote.` });
  d.add({ contributor: addressOf(7), text: docs[1].text }); // seq 7 exact duplicate (long) of seq 1
  const { index, stats } = buildIndex(d);

  it("credits a copy of >= 50 tokens to the earlier contribution", () => {
    expect(tokenize(longCopy).length).toBeGreaterThanOrEqual(80);
    const inner = tokenize(` ${longCopy}`).subarray(0, -1); // it follows a space in context; its end may merge
    const at = locate(index, 2, inner);
    expect(new Set(ownersOf(index, at, inner.length))).toEqual(new Set([0]));
    const own = locate(index, 2, tokenize(docs[2].text.slice(0, 300)).subarray(1, 40));
    expect(new Set(ownersOf(index, own, 39))).toEqual(new Set([2]));
    // the owner offset points at the same tokens in A
    const ref = index.owner(at + 5);
    const aTokens = index.contributionTokens(0);
    expect(aTokens.subarray(ref.offset, ref.offset + 10)).toEqual(index.tokens.subarray(at + 5, at + 15));
    expect(stats.copiedTokens).toBeGreaterThan(inner.length);
  });

  it("does not redirect a copy shorter than 50 tokens", () => {
    const inner = tokenize(` ${shortCopy}`).subarray(0, -1);
    expect(inner.length).toBeLessThan(50);
    const at = locate(index, 3, inner);
    expect(new Set(ownersOf(index, at, inner.length))).toEqual(new Set([3]));
  });

  it("credits an exact duplicate to the first registrant, short or long", () => {
    const n = index.contributions[5].tokens;
    expect(n).toBeLessThan(50);
    expect(new Set(ownersOf(index, index.offsets[5], n))).toEqual(new Set([4]));
    const owners7 = ownersOf(index, index.offsets[7], index.contributions[7].tokens);
    expect(new Set(owners7)).toEqual(new Set([1]));
    expect(index.owner(index.offsets[7] + 17)).toEqual({ contribution: 1, offset: 17 });
  });

  it("follows copies of copies to the original and keeps the copier's own words with the copier", () => {
    const aPart = tokenize(longCopy.slice(60)).subarray(2, 40);
    const atA = locate(index, 6, aPart);
    expect(new Set(ownersOf(index, atA, aPart.length))).toEqual(new Set([0]));
    const seq2Own = tokenize(docs[2].text.slice(400, 700)).subarray(2, 52);
    const atOwn = locate(index, 6, seq2Own);
    expect(new Set(ownersOf(index, atOwn, seq2Own.length))).toEqual(new Set([2]));
  });

  it("pays the first registrant when an output quotes a copied passage", () => {
    const rec = attribute(index, `As someone wrote: ${longCopy.slice(20)}`);
    expect(rec.contributors.map((c) => c.address)).toEqual([addressOf(0)]);
    expect(rec.contributors[0].ppm).toBeGreaterThan(800_000);
    expect(rec.spans.flatMap((s) => s.segments.map((g) => g.contribution))).not.toContain(2);
  });
});

describe("index files", () => {
  const docs = brownDocs();
  const make = (order: number[]) => {
    const d = new Datanet();
    for (const i of order) d.add({ contributor: addressOf(i % 7), text: docs[10 + i].text, seq: i });
    return buildIndex(d).index;
  };

  it("gives identical bytes and indexRoot for identical contributions, built twice in different dirs", () => {
    const a = make([0, 1, 2, 3, 4, 5]);
    const b = make([5, 3, 1, 0, 2, 4]); // same seqs, registered in another insertion order
    const da = tempDir();
    const db = tempDir();
    const ma = saveIndex(a, da);
    const mb = saveIndex(b, db);
    expect(ma.indexRoot).toBe(a.indexRoot);
    expect(mb.indexRoot).toBe(ma.indexRoot);
    const files = readdirSync(da).sort();
    expect(files).toEqual(readdirSync(db).sort());
    expect(files).toEqual([
      "contributions.json",
      "manifest.json",
      "offsets.u32",
      "owner-runs.u32",
      "sa.u32",
      "surprisal.u32",
      "tokens.u32",
      "unigram.u32",
    ]);
    for (const f of files) expect(readFileSync(join(da, f)).equals(readFileSync(join(db, f)))).toBe(true);
  });

  it("changes the root when a contribution changes", () => {
    const a = make([0, 1, 2]);
    const b = make([0, 1, 3]);
    expect(a.indexRoot).not.toBe(b.indexRoot);
  });

  it("round-trips through files: same arrays, same records", () => {
    const a = make([0, 1, 2, 3]);
    const dir = tempDir();
    saveIndex(a, dir);
    const b = loadIndex(dir);
    expect(b.indexRoot).toBe(a.indexRoot);
    expect(b.tokens).toEqual(a.tokens);
    expect(b.sa).toEqual(a.sa);
    expect(b.contributions).toEqual(a.contributions);
    const out = passage(docs[12].text, 500, 120);
    expect(serializeRecord(attribute(b, out))).toBe(serializeRecord(attribute(a, out)));
    // query-time arrays that grow with the corpus: 8 bytes per token plus per-contribution/run data
    const perToken = (b.tokens.byteLength + b.sa.byteLength + b.offsets.byteLength + b.runStarts.byteLength * 3) / b.tokens.length;
    expect(perToken).toBeLessThan(8.1);
  });

  it("refuses corrupted or foreign index files with a reason code", () => {
    const a = make([0, 1]);
    const dir = tempDir();
    saveIndex(a, dir);
    const sa = readFileSync(join(dir, "sa.u32"));
    sa[100] ^= 1;
    writeFileSync(join(dir, "sa.u32"), sa);
    expect(() => loadIndex(dir)).toThrowError(/index_corrupt/);
    const dir2 = tempDir();
    saveIndex(a, dir2);
    const manifest = JSON.parse(readFileSync(join(dir2, "manifest.json"), "utf8"));
    manifest.params.tokenizer = "other-tokenizer";
    writeFileSync(join(dir2, "manifest.json"), JSON.stringify(manifest));
    expect(() => loadIndex(dir2)).toThrowError(/index_mismatch/);
    const dir3 = tempDir();
    saveIndex(a, dir3);
    const m3 = JSON.parse(readFileSync(join(dir3, "manifest.json"), "utf8"));
    m3.indexRoot = "0x" + "00".repeat(32);
    writeFileSync(join(dir3, "manifest.json"), JSON.stringify(m3));
    expect(() => loadIndex(dir3)).toThrowError(/index_corrupt/);
  });

  it("rejects an empty datanet", () => {
    expect(() => buildIndex(new Datanet())).toThrowError(/empty_datanet/);
  });
});
