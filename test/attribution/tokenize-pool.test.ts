import { describe, expect, it } from "vitest";
import { buildIndex, buildIndexParallel } from "../../server/attribution/build.ts";
import { tokenizeTexts } from "../../server/attribution/tokenize-pool.ts";
import { tokenize } from "../../server/attribution/tokenizer.ts";
import { Datanet } from "../../server/datanets/datanet.ts";
import { addressOf, brownDocs } from "../fixtures/attribution/helpers.ts";

// Texts that stress the tokenizer: special-token strings as plain text, decomposed accents (NFC
// happens inside tokenize), emoji split across tokens, an empty text, real prose.
function mixedTexts(): string[] {
  const docs = brownDocs();
  const odd = ["<|endoftext|> is plain text here", "cafe\u0301 na\u0131\u0308ve \u{1F600}\u{1F469}\u200D\u{1F4BB}", "", "x"];
  return [...docs.slice(0, 40).map((d) => d.text), ...odd, ...docs.slice(40, 60).map((d) => d.text)];
}

describe("tokenizing in worker threads", () => {
  it("gives exactly tokenize() of every text, in order, whatever the chunking", async () => {
    const texts = mixedTexts();
    const expected = texts.map((t) => tokenize(t));
    for (const chunkChars of [1, 5_000, 60_000]) {
      const got = await tokenizeTexts(texts, { threads: 2, chunkChars, minParallelChars: 0 });
      expect(got.length).toBe(texts.length);
      for (let i = 0; i < texts.length; i++)
        expect(Array.from(got[i]), `text ${i}, chunks of ${chunkChars}`).toEqual(Array.from(expected[i]));
    }
  });

  it("builds the same index bytes and indexRoot as the one-thread build", async () => {
    const docs = brownDocs();
    const d = new Datanet();
    for (let i = 0; i < 30; i++) d.add({ contributor: addressOf(i % 7), text: docs[i * 3].text });
    d.add({ contributor: addressOf(50), text: `Copied: ${docs[3].text.slice(0, 4000)}` });
    const one = buildIndex(d).index;
    const many = (await buildIndexParallel(d, { threads: 3, chunkChars: 20_000, minParallelChars: 0 })).index;
    expect(many.indexRoot).toBe(one.indexRoot);
    expect(many.tokens.subarray(0)).toEqual(one.tokens.subarray(0));
    expect(many.sa.subarray(0)).toEqual(one.sa.subarray(0));
    expect(Array.from(many.runSources)).toEqual(Array.from(one.runSources));
  });

  it("tokenizes small input in this thread and handles no input", async () => {
    expect(await tokenizeTexts([])).toEqual([]);
    const [only] = await tokenizeTexts(["a short text"], { threads: 4 });
    expect(Array.from(only)).toEqual(Array.from(tokenize("a short text")));
  });
});
