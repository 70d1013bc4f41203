// The chain side of a model host (createApp) on the in-process Hardhat chain, as the epoch tests set
// it up: TestUSDC, a SplitterFactory, a relayer key holding ETH, and signers for the owner, the
// oracle, the guardian and the protocol recipient.
import { type Contract, Wallet } from "ethers";
import { connectChain } from "../../scripts/shared/stack.ts";

const HUNDRED_ETH = "0x56BC75E2D63100000";

/** `minChallengePeriod`: the factory's minimum challenge period, in seconds. `config` is the host's
 * `chain` configuration; `options` its `chain` option (provider, relayer, oracle). */
export async function hostChain(minChallengePeriod: number) {
  const chain = await connectChain();
  const { ethers, signers, connection } = chain;
  const [, owner, oracle, guardian, protocol] = signers;
  const token = (await ethers.deployContract("TestUSDC")) as unknown as Contract;
  const factory = await ethers.deployContract("SplitterFactory", [minChallengePeriod]);
  const relayer = new Wallet(Wallet.createRandom().privateKey, ethers.provider);
  await connection.provider.request({ method: "hardhat_setBalance", params: [relayer.address, HUNDRED_ETH] });
  const config = {
    rpcUrl: "in-process",
    token: await token.getAddress(),
    factory: await factory.getAddress(),
    guardian: guardian.address,
    protocolRecipient: protocol.address,
  };
  return { chain, token, relayer, owner, config, options: { provider: ethers.provider, relayer, oracle } };
}
