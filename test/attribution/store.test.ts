import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildIndex } from "../../server/attribution/build.ts";
import { buildSuffixArray } from "../../server/attribution/sais.ts";
import { loadIndex, saveIndex } from "../../server/attribution/store.ts";
import { INDEX_ALPHABET, tokenize } from "../../server/attribution/tokenizer.ts";
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
    expect(index.tokens.width).toBe(18);
    saveIndex(index, dir);
    const tokens = Uint32Array.from(d.contributions.flatMap((c) => [...tokenize(c.text), 0x3ffff]));
    expect(u32("tokens.u32")).toEqual(tokens);
    expect(u32("sa.u32")).toEqual(new Uint32Array(buildSuffixArray(tokens, INDEX_ALPHABET).buffer));
    const loaded = loadIndex(dir);
    expect(loaded.indexRoot).toBe(index.indexRoot);
    expect(loaded.sa.subarray(0)).toEqual(index.sa.subarray(0));
  });
});
