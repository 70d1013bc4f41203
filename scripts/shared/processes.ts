// Real processes for benchmarks and crash tests (both import this; benchmarks import no test
// code): a Hardhat node on a loopback port (the chain outlives the server), TestUSDC and the
// factory deployed on it, and the model host as a child process (royalty402 serve --config) that
// can be killed with SIGKILL and started again.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { ContractFactory, JsonRpcProvider, NonceManager, Wallet, type Contract } from "ethers";
import { devWallet } from "../../server/chain/accounts.ts";
import { keepClockMoving } from "../../server/chain/local.ts";

const ROOT = new URL("../../", import.meta.url);
const HUNDRED_ETH = "0x56BC75E2D63100000";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface HardhatNode {
  url: string;
  /** The node's process id (its process group: CPU accounting). */
  pid: number;
  provider: JsonRpcProvider;
  stop(): Promise<void>;
}

/** `hardhat node` (the local binary, not npx: npx inside `npx -c` inherits its flags) in its own process group. */
export async function startHardhatNode(): Promise<HardhatNode> {
  const port = await freePort();
  const child = spawn(
    fileURLToPath(new URL("node_modules/.bin/hardhat", ROOT)),
    ["node", "--port", String(port), "--hostname", "127.0.0.1"],
    { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout!.on("data", (d) => (output = (output + d).slice(-4000)));
  child.stderr!.on("data", (d) => (output = (output + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const provider = new JsonRpcProvider(url, 31337, { staticNetwork: true });
  const stop = async () => {
    provider.destroy();
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      return; // already gone
    }
    await Promise.race([exited, sleep(5000)]);
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // gone
    }
  };
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      await provider.send("eth_chainId", []);
      await provider.send("hardhat_setLoggingEnabled", [false]); // per-call traces are most of the node's cost
      await keepClockMoving(provider); // as a live chain: an epoch's challenge period ends on an idle node too
      return { url, pid: child.pid!, provider, stop };
    } catch {
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`hardhat node did not start:\n${output}`);
      }
      await sleep(300);
    }
  }
}

const artifact = (file: string, name: string) =>
  JSON.parse(readFileSync(new URL(`artifacts/contracts/${file}/${name}.json`, ROOT), "utf8"));

/** TestUSDC and the factory on the node; fresh funded relayer and oracle keys. */
export async function deployOnNode(node: HardhatNode) {
  // One signer sends everything here: it counts its own nonces (the node's count lags a cache).
  const deployer = new NonceManager(devWallet(0, node.provider));
  const usdc = artifact("TestUSDC.sol", "TestUSDC");
  const token = (await new ContractFactory(usdc.abi, usdc.bytecode, deployer).deploy()) as Contract;
  await token.waitForDeployment();
  const fac = artifact("SplitterFactory.sol", "SplitterFactory");
  const factory = (await new ContractFactory(fac.abi, fac.bytecode, deployer).deploy(1)) as Contract;
  await factory.waitForDeployment();
  const relayerKey = Wallet.createRandom().privateKey;
  const oracleKey = Wallet.createRandom().privateKey;
  for (const key of [relayerKey, oracleKey]) await node.provider.send("hardhat_setBalance", [new Wallet(key).address, HUNDRED_ETH]);
  const mint = async (to: string, amount: bigint) => (await (token.getFunction("mint") as any)(to, amount)).wait();
  return {
    deployer,
    token,
    factory,
    tokenAddress: await token.getAddress(),
    factoryAddress: await factory.getAddress(),
    relayerKey,
    oracleKey,
    mint,
  };
}

export interface ServerProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Resolves when /healthz answers. */
  ready: Promise<void>;
  kill9(): Promise<void>;
  terminate(): Promise<number | null>;
}

/**
 * `royalty402 serve --config <file>` run by node itself (bin/royalty402.js), so that
 * SIGKILL hits the server process and not a wrapper. stdout/stderr go to `onOutput`.
 */
export function startServer(
  configFile: string,
  env: Record<string, string>,
  baseUrl: string,
  onOutput: (chunk: string) => void,
): ServerProcess {
  const child = spawn(process.execPath, ["--disable-warning=ExperimentalWarning", "bin/royalty402.js", "serve", "--config", configFile], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (d) => onOutput(String(d)));
  child.stderr!.on("data", (d) => onOutput(String(d)));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  const ready = (async () => {
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (gone) throw new Error("the server exited before it was ready");
      try {
        const res = await fetch(`${baseUrl}/healthz`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error("the server did not become ready within 120 s");
      await sleep(100);
    }
  })();
  return {
    child,
    exited,
    ready,
    async kill9() {
      child.kill("SIGKILL");
      await exited;
    },
    async terminate() {
      child.kill("SIGTERM");
      const code = await Promise.race([exited, sleep(20_000).then(() => "timeout" as const)]);
      if (code === "timeout") {
        child.kill("SIGKILL");
        return exited;
      }
      return code;
    },
  };
}
