// Search (BM25 over passages of the served index) and the access-v1 records of paid data access:
// ranking, determinism, the record's shares, recomputation from the query, and bad queries.
import { describe, expect, it } from "vitest";
import { buildIndex } from "../../server/attribution/build.ts";
import { textHash } from "../../server/attribution/canonical.ts";
import { hashRecord, validateRecord } from "../../server/attribution/record.ts";
import { Datanet } from "../../server/datanets/datanet.ts";
import {
  ACCESS_ALGORITHM,
  MAX_QUERY_CHARS,
  catalog,
  checkQuery,
  documentAccess,
  findDocument,
  recomputeAccess,
  searchAccess,
} from "../../server/datanets/access.ts";
import { PassageIndex, SEARCH_PARAMS } from "../../server/datanets/search.ts";
import { addressOf, brownDocs } from "../fixtures/attribution/helpers.ts";

const LIGHTHOUSE =
  "Lighthouse keepers on the northern islands logged every passing ship in green ledgers.\n" +
  "The ledgers noted the weather, the hour and the colour of each sail.";
const HARBOUR = "The harbour council bound the ledgers each winter and kept them in the town hall.";
const BAKER = "A baker on the quay sold rye bread to the fishermen before dawn.";

function smallIndex() {
  const d = Datanet.from([
    { contributor: addressOf(1), text: LIGHTHOUSE },
    { contributor: addressOf(2), text: HARBOUR },
    { contributor: addressOf(3), text: BAKER },
  ]);
  return buildIndex(d, { minCopyTokens: 8 }).index;
}

describe("passage search", () => {
  const index = smallIndex();

  it("ranks the passage with the rarer and more frequent query words first, and ignores unknown words", () => {
    const { body } = searchAccess(index, "lighthouse ledgers zeppelin", 5);
    expect(body.results.map((r) => r.contributor)).toEqual([addressOf(1), addressOf(2)]);
    expect(body.results[0].scoreMicros).toBeGreaterThan(body.results[1].scoreMicros);
    expect(body.results[0]).toMatchObject({ rank: 1, text: expect.stringContaining("Lighthouse keepers"), passage: { wordStart: 0 } });
  });

  it("is case-insensitive, honours the limit and answers nothing for words not in the datanet", () => {
    expect(searchAccess(index, "LEDGERS", 1).body.results).toHaveLength(1);
    expect(searchAccess(index, "zeppelin", 5).body.results).toEqual([]);
  });

  it("cuts long contributions into passages of passageWords words, each with its own text", () => {
    const long = brownDocs()[0].text;
    const p = new PassageIndex(buildIndex(Datanet.from([{ contributor: addressOf(1), text: long }]), { minCopyTokens: 8 }).index);
    const words = long.match(/[\p{L}\p{N}]+/gu)!.length;
    expect(p.passages).toHaveLength(Math.ceil(words / SEARCH_PARAMS.passageWords));
    expect(p.passages[1]).toMatchObject({ wordStart: SEARCH_PARAMS.passageWords });
    expect(long).toContain(p.passages[1].text);
  });
});

describe("access records", () => {
  const index = smallIndex();

  it("a search credits the returned passages' contributors by score, and anyone with the index recomputes it from the query", () => {
    const { record, output, prompt } = searchAccess(index, "ledgers lighthouse", 5);
    expect(validateRecord(record)).toBe(record);
    expect(record).toMatchObject({ algorithm: ACCESS_ALGORITHM, indexRoot: index.indexRoot, unattributedPpm: 0, outputTokens: 2 });
    expect(record.outputHash).toBe(textHash(output));
    expect(record.promptHash).toBe(textHash(prompt));
    const [first, second] = record.contributors.sort((a, b) => b.ppm - a.ppm);
    expect(first.address).toBe(addressOf(1));
    expect(first.ppm).toBeGreaterThan(second.ppm);
    expect(first.ppm + second.ppm).toBe(1_000_000);
    expect(hashRecord(recomputeAccess(index, record, prompt))).toBe(hashRecord(record));
    // Another query does not recompute to this record.
    expect(hashRecord(recomputeAccess(index, record, "ledgers"))).not.toBe(hashRecord(record));
  });

  it("a document credits its author with everything; its text is the contribution, byte for byte", () => {
    const c = findDocument(index, textHash(HARBOUR).toUpperCase().replace("0X", "0x"));
    expect(c).toBe(1);
    const { body, record, prompt } = documentAccess(index, c);
    expect(body.text).toBe(HARBOUR);
    expect(record.outputHash).toBe(index.contributions[1].contentHash);
    expect(record.contributors).toEqual([
      { address: addressOf(2), ppm: 1_000_000, weight: index.contributions[1].tokens, tokens: index.contributions[1].tokens },
    ]);
    expect(hashRecord(recomputeAccess(index, record, prompt))).toBe(hashRecord(record));
    expect(() => recomputeAccess(index, record, textHash("not there"))).toThrow(/no contribution/);
    expect(findDocument(index, textHash("not there"))).toBe(-1);
  });

  it("the free catalog has every document's hash, author, title (first line) and sizes", () => {
    const docs = catalog(index);
    expect(docs).toHaveLength(3);
    expect(docs[0]).toMatchObject({
      contentHash: textHash(LIGHTHOUSE),
      contributor: addressOf(1),
      title: "Lighthouse keepers on the northern islands logged every passing ship in green…",
      characters: LIGHTHOUSE.length,
    });
    expect(docs[2].title).toBe(BAKER);
  });
});

describe("bad queries", () => {
  const refused = (q: unknown) => {
    try {
      checkQuery(q);
    } catch (e) {
      return { status: (e as { status: number }).status, code: (e as { code: string }).code };
    }
    return null;
  };

  it("refuses a missing, empty, wordless, huge or binary query with 400 and a reason code", () => {
    expect(refused(undefined)).toEqual({ status: 400, code: "missing_query" });
    expect(refused(["a", "b"])).toEqual({ status: 400, code: "missing_query" });
    expect(refused("")).toEqual({ status: 400, code: "empty_query" });
    expect(refused("  ?! --  ")).toEqual({ status: 400, code: "empty_query" });
    expect(refused("w".repeat(MAX_QUERY_CHARS + 1))).toEqual({ status: 400, code: "query_too_long" });
    expect(refused(Array.from({ length: 40 }, (_, i) => `w${i}`).join(" "))).toEqual({ status: 400, code: "query_too_long" });
    expect(refused("ledger\u0000\u0001\u0002")).toEqual({ status: 400, code: "binary_query" });
    expect(refused("ledger \uFFFD")).toEqual({ status: 400, code: "binary_query" });
    expect(refused("ledger \uD800")).toEqual({ status: 400, code: "binary_query" });
  });

  it("accepts words with tabs and line breaks, NFC-normalised and trimmed", () => {
    expect(checkQuery("  cafe\u0301\tledgers\n")).toBe("café\tledgers");
  });
});
