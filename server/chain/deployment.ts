// The file `royalty402 chain` writes so that other commands (serve, claim) find the local chain:
// its JSON-RPC URL and the deployed TestUSDC and SplitterFactory. No keys: the local chain's
// accounts are Hardhat's public dev accounts (accounts.ts).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { getAddress, isAddress } from "ethers";

export const DEFAULT_DEPLOYMENT_FILE = ".data/local-chain.json";
const DEPLOYMENT_FORMAT = "royalty402-local-chain/v1";

export interface LocalDeployment {
  format: typeof DEPLOYMENT_FORMAT;
  rpcUrl: string;
  chainId: number;
  token: string;
  factory: string;
  /** ms since epoch: identifies this chain's life (a restarted chain starts from genesis again). */
  startedAt: number;
}

export function writeDeployment(file: string, d: Omit<LocalDeployment, "format">): string {
  const path = resolve(file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify({ format: DEPLOYMENT_FORMAT, ...d }, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  return path;
}

/** The deployment in `file`, or null if there is none; throws with the reason if it is malformed. */
export function readDeployment(file: string): LocalDeployment | null {
  const path = resolve(file);
  if (!existsSync(path)) return null;
  let raw: Partial<LocalDeployment>;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`${path} is not valid JSON (${(e as Error).message})`);
  }
  if (
    raw.format !== DEPLOYMENT_FORMAT ||
    typeof raw.rpcUrl !== "string" ||
    !isAddress(raw.token ?? "") ||
    !isAddress(raw.factory ?? "") ||
    typeof raw.chainId !== "number"
  ) {
    throw new Error(`${path} is not a royalty402 local chain file`);
  }
  return {
    format: DEPLOYMENT_FORMAT,
    rpcUrl: raw.rpcUrl,
    chainId: raw.chainId,
    token: getAddress(raw.token!),
    factory: getAddress(raw.factory!),
    startedAt: Number(raw.startedAt ?? 0),
  };
}

export function removeDeployment(file: string): void {
  rmSync(resolve(file), { force: true });
}
