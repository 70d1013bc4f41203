import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { attribute } from "../../server/attribution/attribute.ts";
import { buildIndex } from "../../server/attribution/build.ts";
import { serializeRecord } from "../../server/attribution/record.ts";
import { buildSuffixArray } from "../../server/attribution/sais.ts";
import { loadIndex, saveIndex } from "../../server/attribution/store.ts";
import { INDEX_ALPHABET, tokenize } from "../../server/attribution/tokenizer.ts";
import { heldWordIndex, type WordIndex, wordIndexOf } from "../../server/attribution/word-index.ts";
import { Datanet } from "../../server/datanets/datanet.ts";
import { addressOf, brownDocs } from "../fixtures/attribution/helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "attr-store-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const u32 = (name: string) => {
  const b = readFileSync(join(dir, name));
  return new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

describe("index files of a bit-packed index", () => {
  it("are 32-bit little-endian words: the tokens and their suffix array as an unpacked build would write them", () => {
    const d = new Datanet();
    for (let i = 0; i < 6; i++) d.add({ contributor: addressOf(i), text: brownDocs()[i].text });
    const { index } = buildIndex(d);
    expect(index.tokens.width).toBeLessThan(18); // dense codes of the ids in use, not 18-bit ids
    saveIndex(index, dir);
    const tokens = Uint32Array.from(d.contributions.flatMap((c) => [...tokenize(c.text), 0x3ffff]));
    expect(u32("tokens.u32")).toEqual(tokens);
    expect(u32("sa.u32")).toEqual(new Uint32Array(buildSuffixArray(tokens, INDEX_ALPHABET).buffer));
    const loaded = loadIndex(dir);
    expect(loaded.indexRoot).toBe(index.indexRoot);
    expect(loaded.sa.subarray(0)).toEqual(index.sa.subarray(0));
  });
});

describe("the saved word view", () => {
  const viewDir = join(dir, "with-words");
  const datanet = () => {
    const d = new Datanet();
    for (let i = 0; i < 8; i++) d.add({ contributor: addressOf(i % 3), text: brownDocs()[i + 3].text });
    d.add({ contributor: addressOf(7), text: `CAPS: ${brownDocs()[4].text.slice(0, 2000).toUpperCase()} \u00e9t\u00e9 caf\u00e9` });
    return d;
  };

  it("loads with the index and equals the view derived again from its tokens", () => {
    const { index } = buildIndex(datanet());
    wordIndexOf(index);
    saveIndex(index, viewDir);
    const loaded = loadIndex(viewDir);
    const held = heldWordIndex(loaded);
    expect(held).toBeDefined();
    const rebuilt = wordIndexOf(buildIndex(datanet()).index);
    expect([...(held as WordIndex).vocabulary]).toEqual([...rebuilt.vocabulary]);
    expect((held as WordIndex).words.subarray(0)).toEqual(rebuilt.words.subarray(0));
    expect((held as WordIndex).sa.subarray(0)).toEqual(rebuilt.sa.subarray(0));
    expect((held as WordIndex).offsets).toEqual(rebuilt.offsets);
    expect((held as WordIndex).bucketStart).toEqual(rebuilt.bucketStart);
    const out = `${brownDocs()[5].text.slice(200, 900)} and then ${brownDocs()[4].text.slice(100, 500).toUpperCase()}`;
    expect(serializeRecord(attribute(loaded, out))).toBe(serializeRecord(attribute(buildIndex(datanet()).index, out)));
  });

  it("is left out of a load that asks for the token view only, and a damaged file is refused", () => {
    expect(heldWordIndex(loadIndex(viewDir, { words: false }))).toBeUndefined();
    const name = join(viewDir, "word-sa.u32");
    const bytes = readFileSync(name);
    bytes[5] ^= 1;
    writeFileSync(name, bytes);
    expect(() => loadIndex(viewDir)).toThrow(/word-sa.u32 does not match its sha256/);
  });

  it("is not written for an index without one (it is derived on first use after loading)", () => {
    const { index } = buildIndex(datanet());
    const plain = join(dir, "without-words");
    saveIndex(index, plain);
    const loaded = loadIndex(plain);
    expect(heldWordIndex(loaded)).toBeUndefined();
    expect(loaded.indexRoot).toBe(index.indexRoot);
  });
});
