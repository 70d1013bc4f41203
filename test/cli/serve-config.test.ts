// `royalty402 serve --config <file>` as an operator runs it, each command in its own process: a
// bad configuration exits 2 with one line naming the field; a good one on a JSON-RPC chain
// (`royalty402 chain`) serves, and its admin epoch close posts on the first attempt (the
// server's provider has no response cache, so the EpochPosted event it just caused is visible);
// busy ports are refused in one sentence; SIGINT stops everything cleanly.
import { execFile, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, startCli, stopCli } from "../support/cli.ts";

const work = mkdtempSync(join(tmpdir(), "r402-serve-config-"));
const chainFile = join(work, "chain.json");
const ADMIN = "serve-config-admin-token-0123456";
const OWNER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const children: ChildProcess[] = [];
let chainPort = 0;
let chainInfo: { rpcUrl: string; token: string; factory: string };

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: work, env: { ...process.env, ROYALTY402_ADMIN_TOKEN: "", ...env }, timeout: 90_000 },
      (error, stdout, stderr) => done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

const start = (args: string[], ready: RegExp, env: NodeJS.ProcessEnv = {}) => startCli(args, ready, { cwd: work, children, env });

function configFile(config: unknown): string {
  const file = join(work, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

beforeAll(async () => {
  const chain = await start(
    ["chain", "--port", "0", "--out", chainFile, "--fund", "50"],
    /local chain 31337 at http:\/\/127\.0\.0\.1:(\d+)[\s\S]*Ctrl\+C/,
  );
  chainPort = Number(chain.match[1]);
  chainInfo = JSON.parse(readFileSync(chainFile, "utf8"));
}, 120_000);

afterAll(async () => {
  const codes = await Promise.all(children.reverse().map(stopCli));
  rmSync(work, { recursive: true, force: true });
  expect(codes.every((c) => c === 0)).toBe(true);
});

describe("royalty402 serve --config", () => {
  it("exits 2 with a one-line message naming the bad field", async () => {
    const file = configFile({
      chain: { rpcUrl: "in-process" },
      datanets: [{ id: "d" }],
      models: [{ id: "m", backend: "infinigram", datanet: "d", pricePerRequest: "10", owner: "0xnope" }],
    });
    const run = await cli(["serve", "--config", file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('royalty402: config: models[0].owner: must be a 0x-prefixed 20-byte address, got "0xnope".\n');
  });

  it("refuses a busy port in one sentence (chain and serve)", async () => {
    const busy = await cli(["chain", "--port", String(chainPort), "--out", join(work, "other.json")]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toBe(
      `royalty402: port ${chainPort} on 127.0.0.1 is already in use (choose another with --port, or --port 0 for any free port).\n`,
    );
  });

  it("serves on a JSON-RPC chain; an admin epoch close posts on its first attempt", async () => {
    const file = configFile({
      server: { port: 0 },
      chain: { rpcUrl: chainInfo.rpcUrl, chainId: 31337, token: chainInfo.token, factory: chainInfo.factory },
      dataDir: join(work, "data"),
      epochs: { enabled: false },
      datanets: [{ id: "corpus-brown", seed: { corpus: "brown", documents: 4, contributors: 3 } }],
      models: [
        { id: "brown-ngram", backend: "infinigram", datanet: "corpus-brown", pricePerRequest: "1000", owner: OWNER, challengePeriod: 1 },
      ],
    });
    const serve = await start(["serve", "--config", file], /model host at (http:\/\/127\.0\.0\.1:\d+)\n/, {
      ROYALTY402_ADMIN_TOKEN: ADMIN,
    });
    const url = serve.match[1];
    expect(serve.output()).not.toMatch(/"reqId"/); // request logs are off by default: the banner stays visible
    expect(await (await fetch(`${url}/`)).text()).toContain("<title>"); // the dashboard, on the same port
    const paid = await cli(["pay", url, "--prompt", "The jury said", "--max-tokens", "8"]);
    expect(paid.code, paid.stderr).toBe(0);
    const closed = await cli(["epoch", "close", "--server", url], { ROYALTY402_ADMIN_TOKEN: ADMIN });
    expect(closed.code, closed.stderr).toBe(0);
    expect(closed.stdout).toMatch(/^brown-ngram: epoch 1 posted: 1 output, [\d.]+ USDC allocated \(cumulative\), tx 0x[0-9a-f]{64}\n$/);
    expect(serve.output()).not.toMatch(/"level":50/);
    expect(await stopCli(serve.child)).toBe(0);
  });
});
