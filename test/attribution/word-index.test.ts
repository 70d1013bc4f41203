import { describe, expect, it } from "vitest";
import { attribute } from "../../server/attribution/attribute.ts";
import { buildIndex, buildIndexParallel } from "../../server/attribution/build.ts";
import { matchKeys } from "../../server/attribution/match-words.ts";
import { serializeRecord } from "../../server/attribution/record.ts";
import { tokenizeWithWords } from "../../server/attribution/tokenize-pool.ts";
import { detokenize } from "../../server/attribution/tokenizer.ts";
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

  it("built alongside the token view (its suffix array in a worker) gives the same index and the same view", async () => {
    const plain = buildIndex(datanet()).index;
    const one = wordIndexOf(plain);
    const { index, stats } = await buildIndexParallel(datanet(), { threads: 2, minOverlapTokens: 0 });
    expect(stats.wordViewWaitMs).toBeGreaterThanOrEqual(0); // the overlapped path ran
    expect(index.indexRoot).toBe(plain.indexRoot);
    expect(index.sa.subarray(0)).toEqual(plain.sa.subarray(0));
    const many = await prepareWordIndex(index); // the view built with the index, not a new one
    expect(wordIndexOf(index)).toBe(many);
    expect([...many.vocabulary]).toEqual([...one.vocabulary]);
    expect(many.words.subarray(0)).toEqual(one.words.subarray(0));
    expect(many.sa.subarray(0)).toEqual(one.sa.subarray(0));
    expect(many.offsets).toEqual(one.offsets);
    expect(many.bucketStart).toEqual(one.bucketStart);
    const out = `${passage(brownDocs()[25].text, 300, 120)} and then ${passage(brownDocs()[10].text, 50, 80).toUpperCase()}`;
    expect(serializeRecord(attribute(index, out))).toBe(serializeRecord(attribute(plain, out)));
  });

  it("keyed while tokenizing (word keys from the texts in the tokenizing workers) is the same view", async () => {
    const plain = buildIndex(datanet()).index;
    const one = wordIndexOf(plain);
    const options = { threads: 2, minOverlapTokens: 0, minParallelChars: 0, chunkChars: 20_000 };
    const { index } = await buildIndexParallel(datanet(), options);
    expect(index.indexRoot).toBe(plain.indexRoot);
    const many = await prepareWordIndex(index);
    expect([...many.vocabulary]).toEqual([...one.vocabulary]);
    expect(many.words.subarray(0)).toEqual(one.words.subarray(0));
    expect(many.sa.subarray(0)).toEqual(one.sa.subarray(0));
    expect(many.offsets).toEqual(one.offsets);
  });

  it("keys a text as its tokens decode, also with special-token strings, combining marks and a lone surrogate", async () => {
    const texts = [
      brownDocs()[1].text,
      "<|endoftext|> is Plain text, CAFE\u0301 na\u0131\u0308ve \u{1F600}\u{1F469}\u200D\u{1F4BB} x",
      "a lone \uD800 surrogate and \uDC00 another\u00A0non-breaking\u2003em space",
      "\uFB01ne ligature \u2460 circled \uFF21 fullwidth",
    ];
    const { tokens, wordIds } = await tokenizeWithWords(texts, { threads: 2, chunkChars: 1, minParallelChars: 0 });
    const vocabulary = new Map<string, number>();
    const id = (k: string) => vocabulary.get(k) ?? (vocabulary.set(k, vocabulary.size), vocabulary.size - 1);
    const expected = tokens.map((t) => matchKeys(detokenize(t), new Map()).map(id));
    expect(wordIds).not.toBeNull();
    expect([...(wordIds?.vocabulary ?? [])]).toEqual([...vocabulary]);
    expect(wordIds?.perContribution.map((ids) => [...ids])).toEqual(expected);
  });

  it("leaves a small datanet's word view to first use", async () => {
    const { stats } = await buildIndexParallel(datanet(), { threads: 2 });
    expect(stats.wordViewWaitMs).toBeUndefined();
  });

  it("packs word ids and suffix-array entries to the bits they need", () => {
    const wi = wordIndexOf(buildIndex(datanet()).index);
    expect(wi.words.width).toBe(Math.ceil(Math.log2(wi.separator + 1)));
    expect(wi.sa.width).toBe(Math.ceil(Math.log2(wi.words.length)));
    expect(wi.byteLength / wi.words.length).toBeLessThan(((wi.words.width + wi.sa.width) / 8) * 1.05 + 1);
  });
});
