// Registering a contribution on a running datanet (real SQLite ledger, the real merge worker):
// once addContributions returns, a paid output's record (recordOutput, the paid routes' last step)
// credits the new contributor without any rebuild; the record is byte-identical to the one an
// outsider derives from the export in one pass, and to the one made after the background merge
// swapped in a new main index.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attribute } from "../../server/attribution/attribute.ts";
import { serializeRecord } from "../../server/attribution/record.ts";
import { SegmentedIndex } from "../../server/attribution/segmented.ts";
import { legacyIndexRoot } from "../../server/attribution/store.ts";
import { createMetrics } from "../../server/api/metrics.ts";
import type { DatanetConfig } from "../../server/config/index.ts";
import { indexFromExport } from "../../server/datanets/export.ts";
import { DatanetService, seedContributor } from "../../server/datanets/service.ts";
import { recordOutput, type PaidInference } from "../../server/inference.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import { addressOf, brownDocs, passage } from "../fixtures/attribution/helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "r402-delta-"));
const quiet = { info: () => {}, warn: () => {} };
const docs = brownDocs();
const ID = "growing";
const config = {
  id: ID,
  description: ID,
  seed: { offset: 0, documents: 10, contributors: 4 },
  contributionsFile: null,
  minCopyTokens: 50,
  access: null,
};

let ledger: SqliteLedger;
let service: DatanetService;

beforeAll(async () => {
  ledger = new SqliteLedger({ path: join(dir, "ledger.sqlite") });
  await ledger.migrate();
  service = new DatanetService(ledger, join(dir, "data"), quiet);
  await service.open(config as unknown as DatanetConfig);
});

afterAll(async () => {
  service.close();
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A paid request as the x402 route hands it on: its payment reserved in the ledger first. */
async function paid(n: number, prompt: string | null): Promise<PaidInference> {
  const model = { id: "m", config: { datanet: ID }, backend: { kind: "proxy" } };
  const nonce = `0x${n.toString(16).padStart(64, "0")}`;
  const key = { network: "eip155:31337", asset: `0x${"a".repeat(40)}`, payer: `0x${"b".repeat(40)}`, nonce };
  const reserved = await ledger.reserve({
    ...key,
    payTo: `0x${"c".repeat(40)}`,
    amount: "1000",
    modelId: "m",
    outputId: null,
    payload: "{}",
  });
  expect(reserved.reserved).toBe(true);
  return {
    model,
    request: { prompt },
    payment: { outputId: nonce, key },
    signal: new AbortController().signal,
  } as unknown as PaidInference;
}

describe("a contribution registered on a running datanet", () => {
  const newcomer = addressOf(40);
  const copier = addressOf(41);
  const output = passage(docs[130].text, 300, 90);
  let during = "";

  it("is credited by the next paid output's record, with no rebuild", async () => {
    const mainRoot = service.info(ID)!.indexRoot;
    const added = await service.addContributions(ID, [
      { contributor: newcomer, text: docs[130].text },
      { contributor: copier, text: `${passage(docs[131].text, 0, 60)} ${passage(docs[3].text, 400, 80)}` },
    ]);
    expect(added.map((c) => c.seq)).toEqual([10, 11]);
    const info = service.info(ID)!;
    expect(info.delta).toMatchObject({ contributions: 2 });
    expect(info.contributions).toBe(12);
    expect(info.indexRoot).not.toBe(mainRoot);
    expect(service.attributionIndex(ID)).toBeInstanceOf(SegmentedIndex);

    const services = { ledger, datanets: service, texts: null, metrics: createMetrics() };
    const { record } = await recordOutput(services, await paid(1, "Tell me a story."), {
      text: output,
      finishReason: "stop",
      promptTokens: 4,
      completionTokens: 90,
      fingerprint: "test",
    });
    expect(record.indexRoot).toBe(info.indexRoot);
    expect(record.contributors.map((c) => c.address)).toEqual([newcomer]);
    expect(record.contributors[0].ppm).toBeGreaterThan(900_000);
    // the copier's embedded passage of contribution 3 still pays its author (first registered wins)
    const copied = attribute(service.attributionIndex(ID), passage(docs[3].text, 400, 80));
    expect(copied.contributors.map((c) => c.address)).toEqual([seedContributor(ID, 3)]);
    during = serializeRecord(record);

    // an outsider rebuilding from the export in one pass derives the same root and the same record
    const exported = await service.exportOf(ID, info.indexRoot);
    expect(exported.contributions).toBe(12);
    const rebuilt = indexFromExport(exported.body, "export", 50);
    expect(rebuilt.indexRoot).toBe(info.indexRoot);
    expect(serializeRecord(attribute(rebuilt, output, "Tell me a story."))).toBe(during);
  });

  it("is merged into a new main index in the background; records stay byte-identical", async () => {
    await service.merged(ID);
    const info = service.info(ID)!;
    expect(info.delta).toBeNull();
    expect(service.index(ID).contributions.length).toBe(12);
    expect(service.attributionIndex(ID)).toBe(service.index(ID));
    expect(service.index(ID).indexRoot).toBe(info.indexRoot);
    // every file of the merged index (built from main's tokens and the new texts) is the one-pass build's
    const rebuilt = indexFromExport((await service.exportOf(ID)).body, "export", 50);
    expect(legacyIndexRoot(service.index(ID))).toBe(legacyIndexRoot(rebuilt));
    expect(serializeRecord(attribute(service.attributionIndex(ID), output, "Tell me a story."))).toBe(during);
    const described = await service.describe(ID);
    expect(described).toMatchObject({ contributions: 12, unindexedContributions: 0 });
  });

  it("keeps every registration attributable while merges run, and ends with one main index of them all", async () => {
    const writers = [addressOf(50), addressOf(51), addressOf(52)];
    const outputs = writers.map((_, i) => passage(docs[140 + i].text, 200, 80));
    const records: string[] = [];
    for (const [i, contributor] of writers.entries()) {
      await service.addContributions(ID, [{ contributor, text: docs[140 + i].text }]); // no wait for the merge in between
      const r = attribute(service.attributionIndex(ID), outputs[i]);
      expect(r.contributors.map((c) => c.address)).toEqual([contributor]);
      records.push(serializeRecord(r));
    }
    await service.merged(ID);
    expect(service.info(ID)).toMatchObject({ contributions: 15, delta: null });
    const rebuilt = indexFromExport((await service.exportOf(ID)).body, "export", 50);
    expect(legacyIndexRoot(service.index(ID))).toBe(legacyIndexRoot(rebuilt));
    // the last record was made against all 15; the merged index gives it again, byte for byte
    expect(serializeRecord(attribute(service.attributionIndex(ID), outputs[2]))).toBe(records[2]);
  });

  it("refuses an invalid contribution with a reason and adds nothing", async () => {
    const before = service.info(ID)!.indexRoot;
    await expect(
      service.addContributions(ID, [
        { contributor: newcomer, text: "fine text" },
        { contributor: "0x12", text: "x" },
      ]),
    ).rejects.toMatchObject({ status: 400, code: "invalid_contribution" });
    expect(service.info(ID)!.indexRoot).toBe(before);
    expect((await ledger.listContributions(ID)).length).toBe(15);
  });
});
