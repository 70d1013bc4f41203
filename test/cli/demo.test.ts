// `royalty402 demo --once` as a user runs it (the binary in a child process): a local chain, the
// server, an agent paying with the reference x402 client across two models, epochs posted and
// verified, claims, and the final table whose on-chain balances equal the entitlements to the
// unit. Then the same demo with one claim withheld: the table must show the mismatch and the
// command must fail.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const BIN = resolve(import.meta.dirname, "../../bin/royalty402.js");
const work = mkdtempSync(join(tmpdir(), "r402-cli-demo-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function demo(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, "demo", "--once", "--port", "0", ...args],
      { cwd: work, timeout: 110_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

interface Row {
  account: string;
  outputs: number;
  earned: bigint;
  onChain: bigint;
  mark: string;
}

const toUnits = (s: string) => BigInt(s.replace(".", ""));

/** The rows of the final table: address, attributed outputs, earned, claimed on-chain, mark. */
function tableRows(stdout: string): Row[] {
  const section = stdout.slice(stdout.indexOf("» Result"));
  return [...section.matchAll(/^ {2}(0x[0-9a-fA-F]{40}) +(\d+) +(\d+\.\d{6}) +(\d+\.\d{6}) +(.+)$/gm)].map((m) => ({
    account: m[1],
    outputs: Number(m[2]),
    earned: toUnits(m[3]),
    onChain: toUnits(m[4]),
    mark: m[5],
  }));
}

describe("royalty402 demo --once", () => {
  it("pays for inferences across two models, posts and verifies epochs, claims, and balances to the unit", async () => {
    const r = await demo(["--inferences", "48", "--epoch-every", "12", "--documents", "36", "--contributors", "30"]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const out = r.stdout;
    for (const step of ["» Local chain", "» Model host", "» Agent", "» Epochs", "» Claims", "» Result"]) expect(out).toContain(step);
    expect(out).toMatch(/48 outputs paid and attributed in [\d.]+ s/);
    expect(out).toMatch(/; 10 of them as MCP tool calls/); // k % 5 === 2 for k < 48: the storyteller's tool over MCP
    // A second agent pays 8 calls through a batch-settlement channel; one sweep links all 8 outputs.
    expect(out).toContain("» Agent on a channel");
    expect(out).toMatch(
      /8 vouchers, [\d.]+ USDC; swept in one claim-and-settle transaction \(0x[0-9a-f]{64}\), linked by ChannelOutputsPaid \(8 outputs/,
    );

    // Both models were paid, each into its own splitter, and each posted at least one verified epoch.
    for (const model of ["brown-storyteller", "brown-scholar"]) {
      expect(out).toMatch(new RegExp(`${model} +[\\d.]+ USDC a call → RoyaltySplitter 0x[0-9a-fA-F]{40}`));
      expect(out).toMatch(
        new RegExp(`${model} +epoch 1: \\d+ outputs, .* active, tx 0x[0-9a-f]{64} +verified ✓ \\(\\d+ records recomputed\\)`),
      );
    }
    expect(out).not.toMatch(/NOT VERIFIED|FAILED/);

    // The table: dozens of contributors, the model owner and the protocol; every balance equals its entitlement.
    const rows = tableRows(out);
    const contributors = rows.filter((row) => !/model owner|protocol/.test(row.mark));
    expect(contributors.length).toBeGreaterThanOrEqual(12);
    expect(rows.some((row) => /model owner/.test(row.mark))).toBe(true);
    expect(rows.some((row) => /protocol fee/.test(row.mark))).toBe(true);
    for (const row of rows) {
      expect(row.onChain, row.account).toBe(row.earned);
      expect(row.mark.startsWith("✓"), row.account).toBe(true);
    }
    for (const row of contributors) expect(row.outputs, row.account).toBeGreaterThan(0);

    // The summary line adds up (48 exact-paid outputs and 8 channel-paid ones): contributors + owner + protocol
    // + what is left = what the agents paid.
    const summary = new RegExp(
      /56 outputs paid (\d+\.\d{6}) USDC: (\d+) contributors earned (\d+\.\d{6}), model owner (\d+\.\d{6}) /.source +
        /\(fees \+ unattributed\), protocol (\d+\.\d{6}), left in the splitters (\d+\.\d{6})/.source,
    ).exec(out);
    expect(summary, out.slice(-1500)).not.toBeNull();
    const [, paid, n, toContributors, owner, protocol, left] = summary!;
    expect(Number(n)).toBe(contributors.length);
    expect(toUnits(toContributors)).toBe(contributors.reduce((s, row) => s + row.earned, 0n));
    expect(toUnits(toContributors) + toUnits(owner) + toUnits(protocol) + toUnits(left)).toBe(toUnits(paid));
    expect(out).toMatch(new RegExp(`✓ every on-chain balance equals its computed entitlement to the unit \\(${rows.length} accounts\\)`));
    expect(out).toMatch(/Demo finished in [\d.]+ s\./);
  });

  it("fails, naming the account, when a contributor's claim is withheld", async () => {
    const r = await demo(["--inferences", "24", "--documents", "24", "--contributors", "20", "--withhold-claim", "--no-progress"]);
    expect(r.code).toBe(1);
    const withheld = /withholding the claim of (0x[0-9a-fA-F]{40})/.exec(r.stdout)?.[1];
    expect(withheld).toBeDefined();
    const rows = tableRows(r.stdout);
    const bad = rows.filter((row) => row.mark.startsWith("✗"));
    expect(bad.map((row) => row.account)).toEqual([withheld]);
    expect(bad[0].onChain).toBe(0n);
    expect(bad[0].earned).toBeGreaterThan(0n);
    expect(r.stdout).toContain("✗ 1 account(s) differ from their entitlement");
    expect(r.stderr.trim()).toBe("royalty402: the demo failed: see the lines marked ✗ above.");
  });
});
