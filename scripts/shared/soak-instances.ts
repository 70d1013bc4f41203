// The model hosts a soak runs: `royalty402 serve --config` processes on one chain and one ledger,
// each with its own data folder and relayer (a second instance's relayer is made a facilitator of
// the model's splitter by its owner, as an operator scaling out would), and the check that their
// aggregates agree with each other and with the chain.
import { appendFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Contract, Wallet } from "ethers";
import { devWallet } from "../../server/chain/accounts.ts";
import { benchServeConfig } from "./paid-load.ts";
import { freePort, startServer, type HardhatNode, type ServerProcess, type deployOnNode } from "./processes.ts";
import type { SoakDatabase } from "./soak-database.ts";

export const SOAK_MODEL = "brown-ngram";
/** The model's owner in benchServeConfig: Hardhat's dev account 1, whose key is public. */
const OWNER_ACCOUNT = 1;
const HUNDRED_ETH = "0x56BC75E2D63100000";

export interface SoakSetup {
  dir: string;
  node: HardhatNode;
  deployed: Awaited<ReturnType<typeof deployOnNode>>;
  db: SoakDatabase;
  adminToken: string;
  /** Extra environment of every server (e.g. NODE_OPTIONS for a CPU profile). */
  env: Record<string, string>;
}

export interface Instance {
  name: string;
  base: string;
  server: ServerProcess;
  /** The last 8,000 characters the server wrote. */
  log(): string;
}

/** Starts (or starts again: same data folder) instance `name` with the given relayer key and epochs section. */
export async function startInstance(
  s: SoakSetup,
  name: string,
  options: { relayerKey: string; epochs: Record<string, unknown>; splitter?: string },
): Promise<Instance> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const configFile = join(s.dir, `${name}.json`);
  const target = {
    port,
    nodeUrl: s.node.url,
    token: s.deployed.tokenAddress,
    factory: s.deployed.factoryAddress,
    dataDir: join(s.dir, name),
  };
  const config = benchServeConfig(SOAK_MODEL, target, { logLevel: "warn", database: s.db.config, epochs: options.epochs });
  // Another relayer predicts another splitter (the facilitator is part of its address): name the first one's.
  if (options.splitter) Object.assign(config.models[0], { splitter: options.splitter });
  writeFileSync(configFile, JSON.stringify(config));
  let output = "";
  const env = {
    ROYALTY402_RELAYER_KEY: options.relayerKey,
    ROYALTY402_ORACLE_KEY: s.deployed.oracleKey,
    ROYALTY402_ADMIN_TOKEN: s.adminToken,
    ...s.db.env,
    ...s.env,
  };
  const logFile = process.env.BENCH_SOAK_SERVER_LOGS ? join(process.env.BENCH_SOAK_SERVER_LOGS, `${name}.log`) : null;
  const server = startServer(configFile, env, base, (chunk) => {
    output = (output + chunk).slice(-8000);
    if (logFile) appendFileSync(logFile, chunk);
  });
  await server.ready.catch((e) => {
    throw new Error(`instance ${name}: ${(e as Error).message}\n${output}`);
  });
  return { name, base, server, log: () => output };
}

/** A new relayer key with gas, made a facilitator of `splitter` by the model's owner. */
export async function extraRelayer(node: HardhatNode, splitter: string): Promise<string> {
  if ((await node.provider.getCode(splitter)) === "0x") throw new Error(`the splitter ${splitter} is not deployed yet`);
  const key = Wallet.createRandom().privateKey;
  const address = new Wallet(key).address;
  await node.provider.send("hardhat_setBalance", [address, HUNDRED_ETH]);
  const owner = devWallet(OWNER_ACCOUNT, node.provider);
  const contract = new Contract(splitter, ["function setFacilitator(address facilitator, bool allowed)"], owner);
  await (await contract.getFunction("setFacilitator")(address, true)).wait();
  return key;
}

interface Summary {
  totals: { payments: number; revenue: string; contributorsCredited: number; epochs: number };
  models: Array<{ id: string; payments: number; revenue: string }>;
  contributors: Array<{ address: string; outputs: number; earned: string }>;
}

/**
 * Each instance's aggregates (dashboard summary: totals, per model, top contributors; and the top
 * contributor's /contributors totals), whether they are identical across instances, and whether
 * the payment count and revenue equal what the chain settled into the splitter.
 */
export async function compareAggregates(instances: Instance[], onChain: { payments: number; revenue: bigint }) {
  await new Promise((r) => setTimeout(r, 600)); // past the summary's 500 ms cache
  const views = await Promise.all(
    instances.map(async (i) => {
      const s = (await (await fetch(`${i.base}/dashboard/api/summary`)).json()) as Summary;
      const top = s.contributors[0]?.address;
      const contributor = top ? ((await (await fetch(`${i.base}/contributors/${top}`)).json()) as { totals: unknown }).totals : null;
      return {
        totals: s.totals,
        models: s.models.map((m) => ({ id: m.id, payments: m.payments, revenue: m.revenue })),
        contributors: s.contributors.map((c) => ({ address: c.address, outputs: c.outputs, earned: c.earned })),
        topContributor: contributor,
      };
    }),
  );
  const same = views.every((v) => JSON.stringify(v) === JSON.stringify(views[0]));
  const first = views[0].totals;
  const matchChain = first.payments === onChain.payments && BigInt(first.revenue) === onChain.revenue;
  return {
    instances: instances.length,
    identicalAcrossInstances: same,
    equalToChain: matchChain,
    onChain: { payments: onChain.payments, revenue: onChain.revenue.toString() },
    views: Object.fromEntries(instances.map((i, k) => [i.name, views[k]])),
  };
}
