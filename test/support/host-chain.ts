// The chain side of a model host (createApp) on the in-process Hardhat chain: TestUSDC, a SplitterFactory,
// a relayer key holding ETH, and signers for the owner, the oracle, the guardian and the protocol
// recipient; and payers on the reference clients (@x402/fetch with the exact scheme, or a viem wallet for
// the upto and batch-settlement clients).
import { x402Client } from "@x402/core/client";
import { wrapFetchWithPayment } from "@x402/fetch";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { type Contract, Wallet } from "ethers";
import { createWalletClient, custom, defineChain, erc20Abi, type Hex, maxUint256, publicActions } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { PERMIT2_ADDRESS } from "../../server/chain/x402/addresses.ts";
import { type Chain, connectChain } from "../../scripts/shared/stack.ts";

const HUNDRED_ETH = "0x56BC75E2D63100000";
const IN_PROCESS_NETWORK = "eip155:31337"; // the in-process Hardhat chain

/** `minChallengePeriod`: the factory's minimum challenge period, in seconds. `config` is the host's
 * `chain` configuration; `options` its `chain` option (provider, relayer, oracle). */
export async function hostChain(minChallengePeriod: number) {
  const chain = await connectChain();
  const { ethers, signers, connection } = chain;
  const [, owner, oracle, guardian, protocol] = signers;
  const token = (await ethers.deployContract("TestUSDC")) as unknown as Contract;
  const factory = (await ethers.deployContract("SplitterFactory", [minChallengePeriod])) as unknown as Contract;
  const relayer = new Wallet(Wallet.createRandom().privateKey, ethers.provider);
  await connection.provider.request({ method: "hardhat_setBalance", params: [relayer.address, HUNDRED_ETH] });
  const config = {
    rpcUrl: "in-process",
    token: await token.getAddress(),
    factory: await factory.getAddress(),
    guardian: guardian.address,
    protocolRecipient: protocol.address,
  };
  return { chain, token, factory, relayer, owner, config, options: { provider: ethers.provider, relayer, oracle } };
}

const mint = async (token: Contract, to: string, amount: bigint) => (await token.getFunction("mint")(to, amount)).wait();

/** A payer holding `funds` TestUSDC on the reference exact client (@x402/fetch), spending only that token. */
export async function exactPayer(token: Contract, funds: bigint) {
  const wallet = new Wallet(Wallet.createRandom().privateKey);
  await mint(token, wallet.address, funds);
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: privateKeyToAccount(wallet.privateKey as Hex) });
  client.setSpendControls({ allowedAssets: [{ network: IN_PROCESS_NETWORK, asset: await token.getAddress() }] });
  return { wallet, client, fetchWithPayment: wrapFetchWithPayment(fetch, client) };
}

/** A payer holding `funds` TestUSDC and ETH, as a viem wallet on the in-process chain (for the upto and
 * batch-settlement clients); `approvePermit2` approves Permit2 for everything, as upto payers do once. */
export async function viemPayer(chain: Chain, token: Contract, funds: bigint, options: { approvePermit2?: boolean } = {}) {
  const account = privateKeyToAccount(generatePrivateKey());
  const eip1193 = chain.connection.provider;
  await eip1193.request({ method: "hardhat_setBalance", params: [account.address, HUNDRED_ETH] });
  await mint(token, account.address, funds);
  const viemChain = defineChain({
    id: Number(chain.chainId),
    name: "hardhat",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [] } },
  });
  const transport = custom(eip1193 as never);
  const wallet = createWalletClient({ account, chain: viemChain, transport, pollingInterval: 50 }).extend(publicActions);
  if (options.approvePermit2) {
    const args = [PERMIT2_ADDRESS, maxUint256] as const;
    const hash = await wallet.writeContract({ address: (await token.getAddress()) as Hex, abi: erc20Abi, functionName: "approve", args });
    await wallet.waitForTransactionReceipt({ hash });
  }
  return wallet;
}
