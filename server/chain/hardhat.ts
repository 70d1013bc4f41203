// The project's Hardhat runtime, created from this repository's hardhat.config.ts whatever the
// working directory (the CLI may be run from anywhere), and the compiled contract artifacts it
// reads. Compiles the contracts once if their artifacts are missing (a fresh clone).
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CONFIG_PATH = join(PROJECT_ROOT, "hardhat.config.ts");

let hrePromise: Promise<HardhatRuntimeEnvironment> | null = null;

/** The Hardhat runtime of this project (created once per process). */
export function projectHardhat(): Promise<HardhatRuntimeEnvironment> {
  hrePromise ??= (async () => {
    const { createHardhatRuntimeEnvironment } = await import("hardhat/hre");
    const { default: config } = await import(CONFIG_PATH);
    return createHardhatRuntimeEnvironment(config, { config: CONFIG_PATH }, PROJECT_ROOT);
  })();
  return hrePromise;
}

const REQUIRED = ["TestUSDC", "SplitterFactory", "RoyaltySplitter"];

/** Compiles the contracts unless their artifacts are already there. */
export async function ensureCompiled(hre: HardhatRuntimeEnvironment): Promise<void> {
  const present = REQUIRED.every((name) => existsSync(join(PROJECT_ROOT, "artifacts", "contracts", `${name}.sol`, `${name}.json`)));
  if (present) return;
  await hre.tasks.getTask("build").run({ quiet: true, noTests: true });
}

export interface ContractArtifact {
  abi: readonly unknown[];
  bytecode: string;
}

export async function readArtifact(hre: HardhatRuntimeEnvironment, name: string): Promise<ContractArtifact> {
  const artifact = await hre.artifacts.readArtifact(name);
  return { abi: artifact.abi as readonly unknown[], bytecode: artifact.bytecode };
}
