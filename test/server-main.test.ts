// The process entry (server/main.ts): a bad configuration exits 2 with one line naming the
// field; a good one (in-process chain) serves, answers health and 402 challenges, and shuts
// down cleanly on SIGTERM.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const dir = mkdtempSync(join(tmpdir(), "r402-main-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(config: unknown, env: Record<string, string> = {}) {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(config));
  // node itself (not npx), so that SIGTERM reaches the server process.
  const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", "--import", "tsx", "server/main.ts", "serve", "--config", file], { cwd: process.cwd(), env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

const OWNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

describe("server/main.ts", () => {
  it("exits 2 with a one-line message naming the bad field", async () => {
    const p = run({ chain: { rpcUrl: "in-process" }, datanets: [{ id: "d" }], models: [{ id: "m", backend: "infinigram", datanet: "d", pricePerRequest: "10", owner: "0xnope" }] });
    expect(await p.exited).toBe(2);
    const lines = p.err().split("\n").filter((l) => l.startsWith("config:"));
    expect(lines).toEqual(['config: models[0].owner: must be a 0x-prefixed 20-byte address, got "0xnope"']);
  });

  it("serves with an in-process chain and stops cleanly on SIGTERM", async () => {
    const p = run(
      {
        server: { port: 0 },
        chain: { rpcUrl: "in-process" },
        dataDir: join(dir, "data"),
        epochs: { paymentCount: 10 },
        datanets: [{ id: "corpus-brown", seed: { corpus: "brown", documents: 4, contributors: 3 } }],
        models: [{ id: "brown-ngram", backend: "infinigram", datanet: "corpus-brown", pricePerRequest: "1000", owner: OWNER }],
      },
      { ROYALTY402_LOG_LEVEL: "info" },
    );
    let url: string | null = null;
    const deadline = Date.now() + 60_000;
    while (!url && Date.now() < deadline) {
      const line = p.out().split("\n").find((l) => l.includes("royalty402 model host listening"));
      if (line) url = JSON.parse(line).url;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(url, p.err()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = (await (await fetch(`${url}/healthz`)).json()) as any;
    expect(health.status).toBe("ok");
    const models = (await (await fetch(`${url}/v1/models`)).json()) as any;
    expect(models.data[0]).toMatchObject({ id: "brown-ngram", network: "eip155:31337", splitterDeployed: true });
    const unpaid = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "brown-ngram", prompt: "The" }) });
    expect(unpaid.status).toBe(402);
    expect(unpaid.headers.get("payment-required")).toBeTruthy();
    p.child.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(p.out()).toContain("shutting down");
  });
});
