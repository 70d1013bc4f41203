// Each model is paid into its own RoyaltySplitter, an ERC-1167 clone made by the SplitterFactory
// with CREATE2: its address (the x402 payTo) follows from its configuration and a salt, so it
// is known, and can be paid, before it is deployed.
import { FACTORY_ABI, SPLITTER_ABI } from "../chain/abi.ts";
import { Contract, getAddress, keccak256, toUtf8Bytes, type ContractRunner, type Provider } from "ethers";

export interface SplitterConfig {
  token: string;
  owner: string;
  facilitator: string;
  oracle: string;
  guardian: string;
  protocolRecipient: string;
  ownerBps: number;
  protocolBps: number;
  challengePeriod: number;
}

/** The default CREATE2 salt of a model: keccak256("royalty402:model:" + id). */
export function modelSalt(modelId: string): string {
  return keccak256(toUtf8Bytes(`royalty402:model:${modelId}`));
}

/** The default CREATE2 salt of a datanet's access splitter: keccak256("royalty402:datanet:" + id). */
export function datanetSalt(datanetId: string): string {
  return keccak256(toUtf8Bytes(`royalty402:datanet:${datanetId}`));
}

function configTuple(c: SplitterConfig) {
  return [
    c.token,
    c.owner,
    c.facilitator,
    c.oracle,
    c.guardian,
    c.protocolRecipient,
    c.ownerBps,
    c.protocolBps,
    c.challengePeriod,
  ] as const;
}

function factoryContract(address: string, runner: ContractRunner): Contract {
  return new Contract(address, FACTORY_ABI, runner);
}

export function splitterViews(address: string, runner: ContractRunner): Contract {
  return new Contract(address, SPLITTER_ABI, runner);
}

export async function predictSplitter(provider: Provider, factory: string, config: SplitterConfig, salt: string): Promise<string> {
  return getAddress(await factoryContract(factory, provider).getFunction("predictSplitter")(configTuple(config), salt));
}

export async function hasCode(provider: Provider, address: string): Promise<boolean> {
  return (await provider.getCode(address)) !== "0x";
}

/** Creates the splitter (idempotent: the factory returns an existing one) and returns its address. */
export async function createSplitter(
  signer: ContractRunner,
  provider: Provider,
  factory: string,
  config: SplitterConfig,
  salt: string,
): Promise<string> {
  const predicted = await predictSplitter(provider, factory, config, salt);
  if (await hasCode(provider, predicted)) return predicted;
  const tx = await factoryContract(factory, signer).getFunction("createSplitter")(configTuple(config), salt);
  const receipt = await tx.wait();
  if (receipt?.status !== 1) throw new Error(`createSplitter for ${predicted} failed`);
  return predicted;
}

/** The configuration a deployed splitter was created with, or null if there is no contract there. */
export async function readSplitterConfig(provider: Provider, address: string): Promise<SplitterConfig | null> {
  if (!(await hasCode(provider, address))) return null;
  const c = await splitterViews(address, provider).getFunction("config")();
  return {
    token: getAddress(c.token),
    owner: getAddress(c.owner),
    facilitator: getAddress(c.facilitator),
    oracle: getAddress(c.oracle),
    guardian: getAddress(c.guardian),
    protocolRecipient: getAddress(c.protocolRecipient),
    ownerBps: Number(c.ownerBps),
    protocolBps: Number(c.protocolBps),
    challengePeriod: Number(c.challengePeriod),
  };
}
