// Installs the local stand-ins of Permit2, the x402 upto proxy, Multicall3 and the x402 batch-settlement
// escrow with its ERC-3009 and Permit2 deposit collectors at their canonical
// addresses on a Hardhat chain (`hardhat_setCode`), so the reference upto client and facilitator,
// which hard-code those addresses, work against a local node. The runtime code comes from an
// `eth_call` of each creation code: immutables (the proxy's PERMIT2) are baked in, no transaction is
// sent, and no account nonce moves (addresses of contracts deployed afterwards stay the same).
// None needs storage set: Permit2's and the escrow's domain separators are computed at run time.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { AbiCoder } from "ethers";
import { PROJECT_ROOT } from "../hardhat.ts";
import {
  BATCH_SETTLEMENT_ADDRESS,
  ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
  MULTICALL3_ADDRESS,
  PERMIT2_ADDRESS,
  PERMIT2_DEPOSIT_COLLECTOR_ADDRESS,
  X402_UPTO_PROXY_ADDRESS,
} from "./addresses.ts";

/** The JSON-RPC the installer needs (an ethers provider's `send`). */
export interface RpcSender {
  send(method: string, params: unknown[]): Promise<unknown>;
}

interface StandIn {
  name: string;
  address: string;
  constructorArgs: string; // abi-encoded, "0x" for none
}

const STAND_INS: readonly StandIn[] = [
  { name: "Permit2", address: PERMIT2_ADDRESS, constructorArgs: "0x" },
  {
    name: "X402UptoPermit2Proxy",
    address: X402_UPTO_PROXY_ADDRESS,
    constructorArgs: AbiCoder.defaultAbiCoder().encode(["address"], [PERMIT2_ADDRESS]),
  },
  { name: "Multicall3", address: MULTICALL3_ADDRESS, constructorArgs: "0x" },
  { name: "X402BatchSettlement", address: BATCH_SETTLEMENT_ADDRESS, constructorArgs: "0x" },
  {
    name: "ERC3009DepositCollector",
    address: ERC3009_DEPOSIT_COLLECTOR_ADDRESS,
    constructorArgs: AbiCoder.defaultAbiCoder().encode(["address"], [BATCH_SETTLEMENT_ADDRESS]),
  },
  {
    name: "Permit2DepositCollector",
    address: PERMIT2_DEPOSIT_COLLECTOR_ADDRESS,
    constructorArgs: AbiCoder.defaultAbiCoder().encode(["address", "address"], [BATCH_SETTLEMENT_ADDRESS, PERMIT2_ADDRESS]),
  },
];

async function creationCode(name: string): Promise<string> {
  const path = join(PROJECT_ROOT, "artifacts", "contracts", "x402", `${name}.sol`, `${name}.json`);
  const artifact = JSON.parse(
    await readFile(path, "utf8").catch(() => {
      throw new Error(`${name} is not compiled (run \`npx hardhat build\`)`);
    }),
  ) as { bytecode: string };
  return artifact.bytecode;
}

async function runtimeCode(rpc: RpcSender, standIn: StandIn): Promise<string> {
  const data = (await creationCode(standIn.name)) + standIn.constructorArgs.slice(2);
  return String(await rpc.send("eth_call", [{ data }, "latest"]));
}

/** Puts the stand-ins at their canonical addresses unless the same code is there already. */
export async function installX402Contracts(rpc: RpcSender): Promise<void> {
  for (const standIn of STAND_INS) {
    const code = await runtimeCode(rpc, standIn);
    const present = String(await rpc.send("eth_getCode", [standIn.address, "latest"]));
    if (present.toLowerCase() !== code.toLowerCase()) await rpc.send("hardhat_setCode", [standIn.address, code]);
  }
}
