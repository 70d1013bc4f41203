// A local royalty402 stack on an in-process Hardhat chain: TestUSDC, the factory, one splitter,
// and signing helpers for x402 (EIP-3009) payments. Shared by contract, attribution and x402 tests.
import { network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import { ethers as E } from "ethers";
import { TRANSFER_WITH_AUTHORIZATION_TYPES } from "../../server/facilitator/abi.ts";
import { LOCAL_MIN_CHALLENGE_PERIOD } from "../../server/chain/accounts.ts";
import { installX402Contracts } from "../../server/chain/x402/install.ts";
import type { SplitterConfig } from "../../server/models/splitters.ts";
import type { TestUSDC, SplitterFactory, RoyaltySplitter } from "../../types/ethers-contracts/index.ts";

export type { SplitterConfig };

export type Authorization = {
  from: string;
  to: string;
  value: bigint;
  validAfter: bigint;
  validBefore: bigint;
  nonce: string;
};

export { TRANSFER_WITH_AUTHORIZATION_TYPES };

/** The in-process chain: Hardhat's default network, or a named one of hardhat.config.ts (e.g. "hardhatOp"). */
export async function connectChain(name?: string) {
  const connection = await network.connect(name ? { network: name } : undefined);
  const { ethers } = connection;
  const signers = await ethers.getSigners();
  const chainId = (await ethers.provider.getNetwork()).chainId;
  await installX402Contracts(ethers.provider);
  return { connection, ethers, signers, chainId };
}

export type Chain = Awaited<ReturnType<typeof connectChain>>;

/** Deploys TestUSDC, the factory and a splitter. Roles are distinct signers; payers are funded. */
export async function deployStack(
  chain?: Chain,
  overrides: Partial<SplitterConfig> = {},
  opts: { payers?: number; fundEach?: bigint } = {},
) {
  chain ??= await connectChain();
  const { ethers, signers, chainId } = chain;
  const [deployer, owner, facilitator, oracle, guardian, protocol, keeper, ...rest] = signers;
  const token = (await ethers.deployContract("TestUSDC")) as unknown as TestUSDC;
  const factory = (await ethers.deployContract("SplitterFactory", [LOCAL_MIN_CHALLENGE_PERIOD])) as unknown as SplitterFactory;
  const config: SplitterConfig = {
    token: await token.getAddress(),
    owner: owner.address,
    facilitator: facilitator.address,
    oracle: oracle.address,
    guardian: guardian.address,
    protocolRecipient: protocol.address,
    ownerBps: 1000,
    protocolBps: 200,
    challengePeriod: LOCAL_MIN_CHALLENGE_PERIOD,
    ...overrides,
  };
  const salt = E.id("model:default");
  const predicted = await factory.predictSplitter(config, salt);
  await (await factory.createSplitter(config, salt)).wait();
  const splitter = (await ethers.getContractAt("RoyaltySplitter", predicted)) as unknown as RoyaltySplitter;
  const payers = rest.slice(0, opts.payers ?? 4);
  for (const p of payers) await (await token.mint(p.address, opts.fundEach ?? 1_000_000_000n)).wait();
  return {
    ...chain,
    chainId,
    token,
    factory,
    splitter,
    config,
    salt,
    roles: { deployer, owner, facilitator, oracle, guardian, protocol, keeper },
    payers,
    others: rest.slice(payers.length),
  };
}

export type Stack = Awaited<ReturnType<typeof deployStack>>;

/** The token's EIP-712 domain, read from the chain the way an x402 client builds it. */
export async function tokenDomain(token: TestUSDC, chainId: bigint) {
  return { name: await token.name(), version: await token.version(), chainId, verifyingContract: await token.getAddress() };
}

/** Signs an EIP-3009 TransferWithAuthorization as the x402 `exact` scheme does (random 32-byte nonce). */
export async function signAuthorization(
  signer: HardhatEthersSigner | E.Wallet,
  domain: E.TypedDataDomain,
  a: Partial<Authorization> & { to: string; value: bigint },
  now?: bigint,
) {
  const t = now ?? BigInt(Math.floor(Date.now() / 1000));
  const auth: Authorization = {
    from: signer.address,
    validAfter: 0n,
    validBefore: t + 3600n,
    nonce: E.hexlify(E.randomBytes(32)),
    ...a,
  };
  const signature = await signer.signTypedData(domain, TRANSFER_WITH_AUTHORIZATION_TYPES, auth);
  return { auth, signature };
}

/** A splitter Settlement struct for a signed authorization. */
export function settlementOf(
  signed: { auth: Authorization; signature: string },
  outputId: string = E.hexlify(E.randomBytes(32)),
  attributionRoot: string = E.hexlify(E.randomBytes(32)),
) {
  const { auth, signature } = signed;
  return {
    outputId,
    attributionRoot,
    from: auth.from,
    value: auth.value,
    validAfter: auth.validAfter,
    validBefore: auth.validBefore,
    nonce: auth.nonce,
    signature,
  };
}

/** Splits a 65-byte signature for the (v, r, s) overloads. */
export function vrs(signature: string) {
  const s = E.Signature.from(signature);
  return { v: s.v, r: s.r, s: s.s };
}
