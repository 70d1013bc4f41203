import { describe, expect, it } from "vitest";
import { attribute } from "../../server/attribution/attribute.ts";
import { buildIndex } from "../../server/attribution/build.ts";
import { serializeRecord } from "../../server/attribution/record.ts";
import { prepareWordIndex, wordIndexOf } from "../../server/attribution/word-index.ts";
import { Datanet } from "../../server/datanets/datanet.ts";
import { addressOf, brownDocs, passage } from "../fixtures/attribution/helpers.ts";

function datanet(): Datanet {
  const docs = brownDocs();
  const d = new Datanet();
  for (let i = 0; i < 24; i++) d.add({ contributor: addressOf(i % 5), text: docs[i * 5].text });
  d.add({ contributor: addressOf(9), text: `CAPS AND "Quotes": ${docs[10].text.slice(0, 3000).toUpperCase()} \u00e9t\u00e9 caf\u00e9` });
  return d;
}

describe("word view", () => {
  it("is the same, id for id, when its word keys are computed in worker threads", async () => {
    const one = wordIndexOf(buildIndex(datanet()).index);
    const index = buildIndex(datanet()).index;
    const many = await prepareWordIndex(index, { threads: 2, chunkTokens: 9_000, minParallelTokens: 0 });
    expect(wordIndexOf(index)).toBe(many); // kept for later use
    expect([...many.vocabulary]).toEqual([...one.vocabulary]);
    expect(many.words.subarray(0)).toEqual(one.words.subarray(0));
    expect(many.sa.subarray(0)).toEqual(one.sa.subarray(0));
    expect(many.offsets).toEqual(one.offsets);
    expect(many.bucketStart).toEqual(one.bucketStart);
    const out = `${passage(brownDocs()[25].text, 300, 120)} and then ${passage(brownDocs()[10].text, 50, 80).toUpperCase()}`;
    expect(serializeRecord(attribute(index, out))).toBe(serializeRecord(attribute(buildIndex(datanet()).index, out)));
  });

  it("packs word ids and suffix-array entries to the bits they need", () => {
    const wi = wordIndexOf(buildIndex(datanet()).index);
    expect(wi.words.width).toBe(Math.ceil(Math.log2(wi.separator + 1)));
    expect(wi.sa.width).toBe(Math.ceil(Math.log2(wi.words.length)));
    expect(wi.byteLength / wi.words.length).toBeLessThan(((wi.words.width + wi.sa.width) / 8) * 1.05 + 1);
  });
});
