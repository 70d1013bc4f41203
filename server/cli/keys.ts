// Keys for the commands that sign (pay, claim): from the environment only, never from flags or
// files. On a local chain (id 31337) the public Hardhat dev account of the role is used when
// the variable is unset, so the local walkthrough needs no setup.
import { Wallet } from "ethers";
import { DEV_ROLES, devWallet, type DevRole } from "../chain/accounts.ts";
import { CliError } from "./errors.ts";

export function signingKey(variable: string, role: DevRole, purpose: string, localChain: boolean): { privateKey: string; dev: boolean } {
  const value = process.env[variable];
  if (value) {
    const key = value.startsWith("0x") ? value : `0x${value}`;
    if (!/^0x[0-9a-fA-F]{64}$/.test(key)) throw new CliError(`${variable} is not a private key (0x followed by 64 hex digits).`);
    try {
      new Wallet(key);
    } catch {
      throw new CliError(`${variable} is not a valid secp256k1 private key.`);
    }
    return { privateKey: key, dev: false };
  }
  if (localChain) return { privateKey: devWallet(DEV_ROLES[role]).privateKey, dev: true };
  throw new CliError(`set ${variable} to the private key of the account that ${purpose}.`);
}
