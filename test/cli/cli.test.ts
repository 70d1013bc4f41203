// The royalty402 command line: --help on every command, refusals as one sentence with a non-zero
// exit code, and an offline datanet build whose indexRoot is the same every time. The binary
// itself (bin/royalty402.js in a child process) is run for a few cases; the rest go through the
// same entry point, main(argv), in this process (one module load instead of one per case).
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { main } from "../../server/cli/main.ts";

const BIN = resolve(import.meta.dirname, "../../bin/royalty402.js");
const work = mkdtempSync(join(tmpdir(), "r402-cli-"));

afterAll(() => rmSync(work, { recursive: true, force: true }));

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: work, env: { ...process.env, ROYALTY402_URL: "", ROYALTY402_ADMIN_TOKEN: "", ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        done({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

/** main(argv) in this process, with its stdout and stderr captured. */
async function inProcess(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const saved = { ...process.env };
  Object.assign(process.env, { ROYALTY402_URL: "", ROYALTY402_ADMIN_TOKEN: "", ...env });
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  // vitest routes console.* through its own reporter, not process.stdout: capture it as well.
  const log = vi.spyOn(console, "log").mockImplementation((...parts: unknown[]) => void (stdout += `${parts.join(" ")}\n`));
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
    log.mockRestore();
    process.env = saved;
  }
}

/** The refusal is exactly one line on stderr: "royalty402: <one sentence>." */
function expectOneSentence(r: { code: number; stdout: string; stderr: string }, pattern: RegExp) {
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^royalty402: [^\n]+\.$/);
  expect(lines[0]).toMatch(pattern);
  expect(lines[0]).not.toMatch(/\n| {4}at |Error:/); // no stack trace, no error class names
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

const COMMANDS = [
  [],
  ["demo"],
  ["serve"],
  ["chain"],
  ["datanet"],
  ["datanet", "add"],
  ["datanet", "build"],
  ["datanet", "inspect"],
  ["epoch"],
  ["epoch", "close"],
  ["epoch", "repost"],
  ["epoch", "verify"],
  ["earnings"],
  ["claim"],
  ["pay"],
];

describe("royalty402 --help", () => {
  it("the binary prints usage for the program and for a command, and exits 0", async () => {
    const [top, pay] = await Promise.all([cli(["--help"]), cli(["pay", "--help"])]);
    expect(top.code, top.stderr).toBe(0);
    expect(top.stdout.startsWith("Usage: royalty402 [options] [command]")).toBe(true);
    for (const name of ["demo", "serve", "chain", "datanet", "epoch", "earnings", "claim", "pay"])
      expect(top.stdout).toMatch(new RegExp(`\\n  ${name} `));
    expect(pay.code, pay.stderr).toBe(0);
    expect(pay.stdout).toMatch(/^Usage: royalty402 pay \[options\] \[url\]/);
    expect(pay.stdout).toMatch(/--mcp <url>\s+pay the model's tool on an MCP server/);
    expect(pay.stdout).toMatch(/--max-amount <usdc>\s+spending cap/);
  });

  it("every command and subcommand has --help", async () => {
    for (const command of COMMANDS) {
      const path = ["royalty402", ...command].join(" ");
      const r = await inProcess([...command, "--help"]);
      expect(r.code, `${path} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout.startsWith(`Usage: ${path} `), r.stdout.slice(0, 80)).toBe(true);
      expect(r.stdout).toMatch(/-h, --help/);
      expect(r.stderr).toBe("");
    }
    expect((await inProcess(["demo", "--help"])).stdout).toMatch(/--once\s+exit when the demo is done/);
  });
});

describe("refusals: one sentence, non-zero exit", () => {
  it("the binary: earnings of something that is not an address", async () => {
    const r = await cli(["earnings", "not-an-address"]);
    expectOneSentence(r, /"not-an-address" is not an Ethereum address/);
    expect(r.code).toBe(1);
  });

  it("usage errors from the parser, bad option values, bad URLs, an unreachable server", async () => {
    const port = await closedPort();
    const cases: Array<[string[], RegExp]> = [
      [["frobnicate"], /unknown command 'frobnicate'/],
      [["claim"], /missing required argument 'address'/],
      [["demo", "--port", "99999"], /--port must be a whole number from 0 to 65535, not "99999"/],
      [["demo", "--documents", "4", "--contributors", "9"], /--contributors \(9\) cannot exceed --documents \(4\)/],
      [["pay", "ftp://example.org"], /is not an http\(s\) URL/],
      [["pay"], /give either the server URL or --mcp <url>/],
      [["pay", "http://127.0.0.1:1", "--mcp", "http://127.0.0.1:1/mcp"], /give either the server URL or --mcp <url>/],
      [["pay", "http://127.0.0.1:1", "--max-amount", "lots"], /--max-amount "lots" is not an amount of USDC/],
      [["epoch", "verify", "brown-scholar", "first"], /"first" is not an epoch number/],
      [
        ["earnings", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "--server", `http://127.0.0.1:${port}`],
        new RegExp(`cannot reach the royalty402 server at http://127.0.0.1:${port}`),
      ],
      [["epoch", "close", "--server", `http://127.0.0.1:${port}`], /set ROYALTY402_ADMIN_TOKEN/],
      [
        ["datanet", "add", "--contributor", "0x00000000000000000000000000000000000c0ffe", "--text", "a text"],
        /^royalty402: set ROYALTY402_ADMIN_TOKEN to the server's admin token \(the demo prints one\)\.$/,
      ],
      [["serve", "--documents", "3", "--contributors", "5"], /--contributors \(5\) cannot exceed --documents \(3\)/],
      [["claim", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "--server", "not a url"], /"not a url" is not a server URL/],
    ];
    for (const [args, pattern] of cases) expectOneSentence(await inProcess(args), pattern);
  });
});

describe("datanet build/inspect offline", () => {
  it("builds an index from Brown corpus documents, the same indexRoot every time, and inspects it", async () => {
    const a = join(work, "index-a");
    const b = join(work, "index-b");
    const first = await inProcess(["datanet", "build", "--from", "brown:4:3", "--out", a]);
    const second = await inProcess(["datanet", "build", "--from", "brown:4:3", "--out", b]);
    expect(first.code, first.stderr).toBe(0);
    expect(second.code, second.stderr).toBe(0);
    const root = /indexRoot (0x[0-9a-f]{64})/.exec(first.stdout)?.[1];
    expect(root).toBeDefined();
    expect(first.stdout).toMatch(/indexed 4 contributions, [\d,]+ tokens/);
    expect(second.stdout).toContain(`indexRoot ${root}`);

    const inspected = await inProcess(["datanet", "inspect", a]);
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(inspected.stdout).toContain(`indexRoot      ${root}`);
    expect(inspected.stdout).toMatch(/contributions {2}4\n/);

    expectOneSentence(await inProcess(["datanet", "build", "--from", "brown:4"]), /needs both --from <source> and --out <dir>/);
    expectOneSentence(
      await inProcess(["datanet", "build", "--from", join(work, "missing.json"), "--out", join(work, "x")]),
      /cannot read .*missing\.json \(ENOENT\)/,
    );
    expectOneSentence(await inProcess(["datanet", "inspect", work]), /is not an index folder/);
  });
});
