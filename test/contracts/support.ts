// Assertion and signing helpers shared by the contract tests (vitest has no chai revert matchers).
import { isDeepStrictEqual } from "node:util";
import { ethers as E } from "ethers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { Chain } from "../../scripts/shared/stack.ts";

type HasInterface = { interface: E.Interface };
type Signer = HardhatEthersSigner | E.Wallet;

/** The revert data carried by an error from hardhat-ethers / EDR / ethers, whatever its shape. */
function revertData(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  let e: any = error;
  while (e && typeof e === "object" && !seen.has(e)) {
    seen.add(e);
    if (typeof e.data === "string" && e.data.startsWith("0x")) return e.data;
    if (e.data && typeof e.data.data === "string") return e.data.data;
    e = e.error ?? e.info?.error ?? e.cause;
  }
  return undefined;
}

/** Decodes revert data (or PaymentSkipped reason bytes) as one of `contracts`' custom errors. */
export function decodeError(data: string, ...contracts: HasInterface[]) {
  for (const c of contracts) {
    const parsed = c.interface.parseError(data);
    if (parsed) return parsed;
  }
  throw new Error(`revert data ${data} is none of the expected contracts' custom errors`);
}

/**
 * Awaits `action` (a transaction or call), expects it to revert with custom error `name` declared by
 * one of `contracts`, and, if given, with exactly `args`.
 */
export async function expectRevert(action: Promise<unknown>, contracts: HasInterface | HasInterface[], name: string, args?: unknown[]) {
  let error: unknown;
  try {
    const result: any = await action;
    if (result && typeof result.wait === "function") await result.wait();
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error(`expected a revert with ${name}, but it succeeded`);
  const data = revertData(error);
  if (data === undefined) throw new Error(`expected ${name}, got an error without revert data: ${String(error)}`);
  const parsed = decodeError(data, ...(Array.isArray(contracts) ? contracts : [contracts]));
  if (parsed.name !== name) throw new Error(`expected a revert with ${name}, got ${parsed.name}(${parsed.args.join(", ")})`);
  if (args && !isDeepStrictEqual(normalize([...parsed.args]), normalize(args))) {
    throw new Error(`expected ${name}(${args.join(", ")}), got ${name}(${parsed.args.join(", ")})`);
  }
  return parsed;
}

/** Lower-cases hex strings (addresses) so checksummed and plain forms compare equal. */
function normalize(values: unknown[]): unknown[] {
  return values.map((v) => (typeof v === "string" ? v.toLowerCase() : typeof v === "number" ? BigInt(v) : v));
}

/** Sends a transaction and returns its mined receipt. */
export async function mined(tx: Promise<E.ContractTransactionResponse>) {
  const receipt = await (await tx).wait();
  if (!receipt) throw new Error("no receipt");
  return receipt;
}

/** The parsed logs named `name` that `contract` emitted in `receipt`, in order. */
export function eventsOf(receipt: E.TransactionReceipt, contract: HasInterface & { target: unknown }, name: string) {
  const address = String(contract.target).toLowerCase();
  const out: E.LogDescription[] = [];
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== address) continue;
    const parsed = contract.interface.parseLog(log);
    if (parsed && parsed.name === name) out.push(parsed);
  }
  return out;
}

/** The timestamp of the latest block. */
export async function now(chain: Chain) {
  const block = await chain.ethers.provider.getBlock("latest");
  return BigInt(block!.timestamp);
}

/** Moves the chain's clock: the next block gets exactly `timestamp`. */
export async function setNextTimestamp(chain: Chain, timestamp: bigint) {
  await chain.connection.networkHelpers.time.setNextBlockTimestamp(timestamp);
}

/** Mines one block at exactly `timestamp` (so views see that time). */
export async function mineAt(chain: Chain, timestamp: bigint) {
  await chain.connection.networkHelpers.time.increaseTo(timestamp);
}

/** A claims tree of (account, cumulativeAmount) leaves, as the attribution service builds it. */
export function claimsTree(entries: Array<[string, bigint]>) {
  const tree = StandardMerkleTree.of(entries, ["address", "uint256"]);
  const proofOf = (account: string) => {
    for (const [i, [a, amount]] of tree.entries()) {
      if (a.toLowerCase() === account.toLowerCase()) return { amount: BigInt(amount), proof: tree.getProof(i) };
    }
    throw new Error(`${account} has no leaf`);
  };
  return { tree, root: tree.root, proofOf };
}

export const RECEIVE_WITH_AUTHORIZATION_TYPES = {
  ReceiveWithAuthorization: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "nonce", type: "bytes32" },
  ],
};

export const CANCEL_AUTHORIZATION_TYPES = {
  CancelAuthorization: [
    { name: "authorizer", type: "address" },
    { name: "nonce", type: "bytes32" },
  ],
};

export const PERMIT_TYPES = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

export async function signCancel(signer: Signer, domain: E.TypedDataDomain, authorizer: string, nonce: string) {
  return signer.signTypedData(domain, CANCEL_AUTHORIZATION_TYPES, { authorizer, nonce });
}

export async function signPermit(
  signer: Signer,
  domain: E.TypedDataDomain,
  p: { owner: string; spender: string; value: bigint; nonce: bigint; deadline: bigint },
) {
  return signer.signTypedData(domain, PERMIT_TYPES, p);
}

export const randomNonce = () => E.hexlify(E.randomBytes(32));
