// A local development chain with the payment token and the splitter factory deployed:
//   - in this process (fast; nothing outside the process can reach it), or
//   - exposed as a JSON-RPC server (`royalty402 chain`), so other processes — a server, an
//     agent, a keeper — can share it.
// Roles are the public Hardhat dev accounts (accounts.ts): local chains only.
import { Contract, ContractFactory, type JsonRpcApiProvider, type Provider, type Wallet } from "ethers";
import { DEV_ROLES, LOCAL_MIN_CHALLENGE_PERIOD, devRoles, devWallet, type DevRole } from "./accounts.ts";
import { ensureCompiled, projectHardhat, readArtifact } from "./hardhat.ts";
import { connectRpcProvider } from "./rpc.ts";
import { installX402Contracts, type RpcSender } from "./x402/install.ts";

export interface LocalChain {
  provider: Provider;
  /** JSON-RPC URL when exposed, null when the chain lives in this process only. */
  rpcUrl: string | null;
  chainId: bigint;
  roles: Record<DevRole, Wallet>;
  /** TestUSDC (6 decimals, EIP-3009); the deployer mints it. */
  token: string;
  factory: string;
  /** Mints TestUSDC to `to` (atomic units). */
  mint(to: string, amount: bigint): Promise<void>;
  /** Gives `address` 100 ETH for gas (keys from the environment on a fresh chain). */
  fundGas(address: string): Promise<void>;
  /** A further funded dev account (ETH only), e.g. an extra agent: index ≥ 8. */
  account(index: number): Wallet;
  close(): Promise<void>;
}

export interface LocalChainOptions {
  /** Expose over JSON-RPC at host:port (port 0: any free port). Omit: in-process only. */
  rpc?: { host: string; port: number } | null;
  /** Deploy TestUSDC and the factory (default true); false: a bare chain. */
  deploy?: boolean;
}

const MINT_ABI = ["function mint(address to, uint256 amount)"];
const HUNDRED_ETH = "0x56BC75E2D63100000";

export async function startLocalChain(options: LocalChainOptions = {}): Promise<LocalChain> {
  const hre = await projectHardhat();
  await ensureCompiled(hre);
  let provider: Provider;
  let rpcUrl: string | null = null;
  let shutdown: () => Promise<void>;
  if (options.rpc) {
    const server = await hre.network.createServer("default", options.rpc.host, options.rpc.port);
    const { address, port } = await server.listen();
    rpcUrl = `http://${address.includes(":") ? `[${address}]` : address}:${port}`;
    const rpcProvider = (await connectRpcProvider(rpcUrl, 31337)).provider;
    provider = rpcProvider;
    shutdown = async () => {
      rpcProvider.destroy();
      await server.close();
    };
  } else {
    const connection = await hre.network.connect();
    provider = connection.ethers.provider as unknown as Provider;
    shutdown = () => connection.close();
  }
  const chainId = (await provider.getNetwork()).chainId;
  await keepClockMoving(provider);
  const roles = devRoles(provider);

  let token = "";
  let factory = "";
  if (options.deploy !== false) {
    const deploy = async (name: string, ...args: unknown[]) => {
      const artifact = await readArtifact(hre, name);
      const contract = await new ContractFactory(artifact.abi as never, artifact.bytecode, roles.deployer).deploy(...args);
      await contract.waitForDeployment();
      return contract.getAddress();
    };
    token = await deploy("TestUSDC");
    factory = await deploy("SplitterFactory", LOCAL_MIN_CHALLENGE_PERIOD);
    await installX402Contracts(provider as unknown as RpcSender);
  }
  const minter = new Contract(token || "0x0000000000000000000000000000000000000000", MINT_ABI, roles.deployer);

  return {
    provider,
    rpcUrl,
    chainId,
    roles,
    token,
    factory,
    async mint(to, amount) {
      if (!token) throw new Error("no TestUSDC on this chain");
      await (await minter.getFunction("mint")(to, amount)).wait();
    },
    async fundGas(address) {
      await (provider as unknown as JsonRpcApiProvider).send("hardhat_setBalance", [address, HUNDRED_ETH]);
    },
    account(index) {
      if (index <= Math.max(...Object.values(DEV_ROLES))) throw new Error(`dev account ${index} is a role account`);
      return devWallet(index, provider);
    },
    close: shutdown,
  };
}

/**
 * Mines an empty block every second besides the automined ones: views run at the latest block's time,
 * so on an idle chain an epoch's one-second challenge period would otherwise never be seen to end.
 */
export async function keepClockMoving(provider: Provider | { send(method: string, params: unknown[]): Promise<unknown> }): Promise<void> {
  const send = (provider as { send?: (method: string, params: unknown[]) => Promise<unknown> }).send;
  if (typeof send === "function") await send.call(provider, "evm_setIntervalMining", [LOCAL_MIN_CHALLENGE_PERIOD * 1000]);
}
