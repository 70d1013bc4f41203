// An open datanet's public export: the contributions (all, or the prefix an indexRoot was built
// from) as JSON Lines, addressed by their keccak256; rebuilding the index from it gives the same
// indexRoot; tampering is caught; a datanet selling access keeps its texts private. Then
// `royalty402 epoch verify --datanet-from <url>` re-derives every record of an epoch whose records
// name two different indexes, from the export alone (real SQLite ledger, real HTTP).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { attribute } from "../../server/attribution/attribute.ts";
import type { AppContext } from "../../server/api/context.ts";
import { installErrorHandling } from "../../server/api/errors.ts";
import { publicRoutes } from "../../server/api/public.ts";
import { main } from "../../server/cli/main.ts";
import type { DatanetConfig } from "../../server/config/index.ts";
import { exportHash, indexFromExport } from "../../server/datanets/export.ts";
import { DatanetService } from "../../server/datanets/service.ts";
import { buildEpoch } from "../../server/epochs/build.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import { addressOf, brownDocs, passage } from "../fixtures/attribution/helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "r402-export-"));
const quiet = { info: () => {}, warn: () => {} };
const docs = brownDocs();
const config = (id: string, extra: object = {}): DatanetConfig =>
  ({ id, description: id, seed: null, contributionsFile: null, minCopyTokens: 50, access: null, ...extra }) as DatanetConfig;

let ledger: SqliteLedger;
let service: DatanetService;
const app = Fastify();
let base = "";
let firstRoot = "";
let secondRoot = "";

beforeAll(async () => {
  ledger = new SqliteLedger({ path: join(dir, "ledger.sqlite") });
  await ledger.migrate();
  service = new DatanetService(ledger, join(dir, "data"), quiet);
  await service.open(config("open"));
  await service.addContributions(
    "open",
    [0, 1, 2].map((i) => ({ contributor: addressOf(i), text: docs[80 + i].text })),
  );
  firstRoot = (await service.rebuild("open"))!.indexRoot;
  await service.addContributions("open", [{ contributor: addressOf(3), text: docs[83].text }]);
  secondRoot = (await service.rebuild("open"))!.indexRoot;
  await service.open(config("sold", { access: { sellDocuments: true } }));
  installErrorHandling(app);
  const ctx = { datanets: service, models: { list: () => [] } } as unknown as AppContext;
  await app.register(publicRoutes, { ctx });
  await app.listen({ host: "127.0.0.1", port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app.close();
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("GET /datanets/:id/export", () => {
  it("serves every contribution in registration order, addressed by its keccak256, rebuilding the served index", async () => {
    const res = await fetch(`${base}/datanets/open/export`);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(res.headers.get("x-royalty402-export-hash")).toBe(exportHash(body));
    expect(res.headers.get("x-royalty402-index-root")).toBe(secondRoot);
    const lines = body
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.contributor)).toEqual([0, 1, 2, 3].map(addressOf));
    expect(lines[2].text).toBe(docs[82].text.normalize("NFC"));
    expect(indexFromExport(body, "export", 50).indexRoot).toBe(secondRoot);
  });

  it("serves the prefix an earlier index was built from (?root=), and refuses unknown or malformed roots", async () => {
    const res = await fetch(`${base}/datanets/open/export?root=${firstRoot}`);
    const body = await res.text();
    expect(body.trimEnd().split("\n")).toHaveLength(3);
    expect(indexFromExport(body, "export", 50).indexRoot).toBe(firstRoot);
    const unknown = await fetch(`${base}/datanets/open/export?root=0x${"ab".repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: "unknown_index_root" });
    const bad = await fetch(`${base}/datanets/open/export?root=latest`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: "invalid_index_root" });
  });

  it("keeps the texts of a datanet that sells access to them private", async () => {
    const res = await fetch(`${base}/datanets/sold/export`);
    expect(res.status).toBe(403);
    expect((await res.json()) as object).toMatchObject({ error: "texts_private", message: expect.stringMatching(/VERIFYING/) });
  });

  it("catches a tampered export: a text that does not match its contentHash", async () => {
    const body = await (await fetch(`${base}/datanets/open/export`)).text();
    const lines = body
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    lines[1].text = lines[1].text.replace(/the/, "a");
    const forged = lines.map((l) => JSON.stringify(l)).join("\n");
    expect(() => indexFromExport(forged, "forged", 50)).toThrowError(/contentHash does not match/);
  });
});

describe("royalty402 epoch verify --datanet-from", () => {
  async function verifyCli(args: string[]): Promise<{ code: number; stdout: string }> {
    let stdout = "";
    const log = vi.spyOn(console, "log").mockImplementation((...parts: unknown[]) => void (stdout += `${parts.join(" ")}\n`));
    const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
    try {
      return { code: await main(["epoch", "verify", ...args]), stdout };
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  }

  it("re-derives every record of an epoch whose records name two indexes, from the export alone", async () => {
    const oldIndex = indexFromExport((await service.exportOf("open", firstRoot)).body, "old", 50);
    const out1 = `Here. ${passage(docs[81].text, 300, 80)}`;
    const out2 = `And there. ${passage(docs[83].text, 500, 80)}`;
    const id = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;
    const r1 = attribute(oldIndex, out1);
    const r2 = attribute(service.index("open"), out2);
    expect([r1.indexRoot, r2.indexRoot]).toEqual([firstRoot, secondRoot]);
    expect(r2.contributors.map((c) => c.address)).toEqual([addressOf(3)]);
    const doc = (record2: typeof r2) =>
      buildEpoch({
        epoch: 1,
        ownerBps: 1000,
        protocolBps: 100,
        modelOwner: addressOf(90),
        payments: [
          { outputId: id(1), amount: 1_000_000n, record: r1 },
          { outputId: id(2), amount: 2_000_000n, record: record2 },
        ],
        texts: { [id(1)]: { output: out1 }, [id(2)]: { output: out2 } },
      });
    const good = join(dir, "epoch.json");
    writeFileSync(good, JSON.stringify(doc(r2)));
    const ok = await verifyCli(["--doc", good, "--datanet-from", `${base}/datanets/open/export`, "--require-records"]);
    expect(ok.stdout).toContain(`indexRoot ${firstRoot}`);
    expect(ok.stdout).toContain(`indexRoot ${secondRoot}`);
    expect(ok.stdout).toMatch(/ok {3}records recomputed: 2 of 2/);
    expect(ok.code).toBe(0);

    // A record that credits someone else for the same output (hash and arithmetic consistent) is caught.
    const forged = { ...r2, contributors: r2.contributors.map((c) => ({ ...c, address: addressOf(0) })) };
    const bad = join(dir, "forged.json");
    writeFileSync(bad, JSON.stringify(doc(forged)));
    const caught = await verifyCli(["--doc", bad, "--datanet-from", `${base}/datanets/open/export`]);
    expect(caught.stdout).toMatch(/FAIL records recomputed: .*recomputed record differs/);
    expect(caught.code).not.toBe(0);
  });
});
