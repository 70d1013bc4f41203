// Development: a Hardhat chain inside this process (chain.rpcUrl "in-process"). Deploys
// TestUSDC and the SplitterFactory unless the config names them, and gives the relayer and the
// oracle funded keys (from the environment if set, otherwise fresh random ones). The chain
// lives and dies with the process; nothing outside it can reach it except through this server.
import { Wallet, type Provider } from "ethers";
import type { Secrets, ServerConfig } from "./types.ts";
import { LOCAL_MIN_CHALLENGE_PERIOD } from "../chain/accounts.ts";

export interface InProcessChain {
  provider: Provider;
  relayer: Wallet;
  oracle: Wallet;
  token: string;
  factory: string;
  /** Mints TestUSDC (deployer is the minter) — for local agents and demos. */
  mint(to: string, amount: bigint): Promise<void>;
  close(): Promise<void>;
}

const HUNDRED_ETH = "0x56BC75E2D63100000";

export async function startInProcessChain(config: ServerConfig, secrets: Secrets): Promise<InProcessChain> {
  const { network } = await import("hardhat");
  const connection = await network.connect();
  const { ethers } = connection;
  const provider = ethers.provider as unknown as Provider;
  await connection.provider.request({ method: "evm_setIntervalMining", params: [LOCAL_MIN_CHALLENGE_PERIOD * 1000] }); // see keepClockMoving
  const tokenContract = config.chain.token ? await ethers.getContractAt("TestUSDC", config.chain.token) : await ethers.deployContract("TestUSDC");
  const token = await tokenContract.getAddress();
  const factory = config.chain.factory ?? (await (await ethers.deployContract("SplitterFactory", [LOCAL_MIN_CHALLENGE_PERIOD])).getAddress());
  const fund = async (key: string | null) => {
    const wallet = key ? new Wallet(key, provider) : new Wallet(Wallet.createRandom().privateKey, provider);
    await connection.provider.request({ method: "hardhat_setBalance", params: [wallet.address, HUNDRED_ETH] });
    return wallet;
  };
  const relayer = await fund(secrets.relayerKey);
  const oracle = await fund(secrets.oracleKey);
  return {
    provider,
    relayer,
    oracle,
    token,
    factory,
    async mint(to, amount) {
      await (await tokenContract.getFunction("mint")(to, amount)).wait();
    },
    async close() {
      await connection.close();
    },
  };
}
