// Development accounts of a local chain: Hardhat's well-known test mnemonic, which every local
// Hardhat chain funds with 10,000 ETH. Public keys for local use only — never on a real chain.
import { HDNodeWallet, Mnemonic, Wallet, type Provider } from "ethers";

const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/** Account index of each role (0 deploys and mints TestUSDC). */
export const DEV_ROLES = {
  deployer: 0,
  owner: 1,
  relayer: 2,
  oracle: 3,
  guardian: 4,
  protocol: 5,
  keeper: 6,
  payer: 7,
} as const;

export type DevRole = keyof typeof DEV_ROLES;

export function devWallet(index: number, provider?: Provider | null): Wallet {
  const node = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/0'/0/${index}`);
  return new Wallet(node.privateKey, provider ?? null);
}

export function devRoles(provider?: Provider | null): Record<DevRole, Wallet> {
  return Object.fromEntries(Object.entries(DEV_ROLES).map(([role, i]) => [role, devWallet(i, provider)])) as Record<DevRole, Wallet>;
}

/**
 * The SplitterFactory's minimum challenge period on local chains (seconds). Public deployments set
 * their own (ignition/parameters); one second keeps a local epoch claimable from the next block.
 */
export const LOCAL_MIN_CHALLENGE_PERIOD = 1;

/** Local chains only: the dev accounts are public knowledge. */
export const LOCAL_CHAIN_ID = 31337n;
