// What a transaction costs: receipt gas, and on an OP-stack chain the L1 data fee its receipt states
// (l1Fee; absent on L1 chains, counted as 0). Sums of them divided by paid requests give per-inference figures.
import type { ContractTransactionResponse, TransactionResponse } from "ethers";

/** What these helpers need of a provider (an ethers JsonRpcProvider or Hardhat's). */
export interface RpcSender {
  send(method: string, params: unknown[]): Promise<any>;
}

export interface TxCost {
  gas: bigint;
  l1Fee: bigint;
}

export const NO_COST: TxCost = { gas: 0n, l1Fee: 0n };

export const addCosts = (...costs: TxCost[]): TxCost => costs.reduce((a, b) => ({ gas: a.gas + b.gas, l1Fee: a.l1Fee + b.l1Fee }), NO_COST);

/** Waits for the transaction and reads its receipt raw (ethers drops the OP-stack fields). */
export async function costOf(provider: RpcSender, tx: Promise<ContractTransactionResponse | TransactionResponse>): Promise<TxCost> {
  const sent = await tx;
  await sent.wait();
  const receipt = await provider.send("eth_getTransactionReceipt", [sent.hash]);
  return { gas: BigInt(receipt.gasUsed), l1Fee: receipt.l1Fee === undefined ? 0n : BigInt(receipt.l1Fee) };
}

/** A total over `requests` paid requests, per request (gas rounded down; fee in wei, rounded down). */
export function perRequest(total: TxCost, requests: number) {
  return { gas: Number(total.gas / BigInt(requests)), l1FeeWei: total.l1Fee / BigInt(requests) };
}
