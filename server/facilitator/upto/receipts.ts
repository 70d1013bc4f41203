// Finding an upto settlement on-chain: the splitter's PaymentSettled for (payer, nonce), in the
// settlement's receipt or, for a payment settled earlier, in the splitter's logs.
import type { Provider } from "ethers";
import { decodeEventLog, decodeFunctionData, encodeEventTopics, pad, type Address, type Hex } from "viem";
import { getLightReceipt, onChain, rawSend, type LightReceipt } from "../chain.ts";
import { uptoSplitterAbi } from "./abi.ts";

export type UptoOutcome = { status: "settled"; amount: bigint } | { status: "failed" } | { status: "pending" };

const SETTLED_TOPIC = encodeEventTopics({ abi: uptoSplitterAbi, eventName: "PaymentSettled" })[0];

type Log = { address: string; topics: string[]; data: string; transactionHash?: string };

function settledAmount(log: Log, splitter: Address, payer: Address, nonce: Hex): bigint | null {
  if (log.address.toLowerCase() !== splitter.toLowerCase() || log.topics[0] !== SETTLED_TOPIC) return null;
  const { args } = decodeEventLog({
    abi: uptoSplitterAbi,
    eventName: "PaymentSettled",
    data: log.data as Hex,
    topics: log.topics as [Hex, ...Hex[]],
  });
  return args.payer.toLowerCase() === payer.toLowerCase() && args.nonce.toLowerCase() === nonce.toLowerCase() ? args.amount : null;
}

function outcomeOf(receipt: LightReceipt, splitter: Address, payer: Address, nonce: Hex): UptoOutcome {
  if (receipt.status !== 1) return { status: "failed" };
  for (const log of receipt.logs) {
    const amount = settledAmount(log, splitter, payer, nonce);
    if (amount !== null) return { status: "settled", amount };
  }
  return { status: "failed" };
}

/** Polls for the receipt of `hash` until `timeoutMs`; "pending" if it has not been mined by then. */
export async function waitForSettlement(
  provider: Provider,
  hash: string,
  splitter: Address,
  payer: Address,
  nonce: Hex,
  timeoutMs: number,
): Promise<UptoOutcome> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, 500)) {
    const receipt = await getLightReceipt(provider, hash);
    if (receipt) return outcomeOf(receipt, splitter, payer, nonce);
    if (Date.now() + delay > deadline) return { status: "pending" };
    await new Promise((resolve) => setTimeout(resolve, delay).unref());
  }
}

/**
 * The PaymentSettled of (payer, nonce) on `splitter` within the last `lookbackBlocks`, if the
 * transaction settled exactly `signature` (another authorization reusing the nonce is not this payment).
 */
export async function findSettlement(
  provider: Provider,
  splitter: Address,
  payer: Address,
  nonce: Hex,
  signature: Hex,
  lookbackBlocks: number,
): Promise<{ txHash: string; amount: bigint } | null> {
  const send = rawSend(provider);
  const latest = await onChain("blockNumber", () => provider.getBlockNumber());
  const filter = {
    address: splitter,
    topics: [SETTLED_TOPIC, null, pad(payer)],
    fromBlock: `0x${Math.max(0, latest - lookbackBlocks).toString(16)}`,
    toBlock: "latest",
  };
  const logs = (await onChain("getLogs", () =>
    send ? send("eth_getLogs", [filter]) : provider.getLogs({ ...filter, fromBlock: Math.max(0, latest - lookbackBlocks) }),
  )) as Log[];
  for (const log of logs) {
    const amount = settledAmount({ ...log, topics: [...log.topics].map(String) }, splitter, payer, nonce);
    if (amount === null) continue;
    const txHash = String(log.transactionHash);
    return (await settledSignatures(provider, txHash)).includes(signature.toLowerCase()) ? { txHash, amount } : null;
  }
  return null;
}

/** The signatures a settleUpto / settleUptoBatch transaction carried. */
async function settledSignatures(provider: Provider, txHash: string): Promise<string[]> {
  const tx = await onChain("getTransaction", () => provider.getTransaction(txHash));
  if (!tx) return [];
  try {
    const { functionName, args } = decodeFunctionData({ abi: uptoSplitterAbi, data: tx.data as Hex });
    if (functionName === "settleUpto") return [args[0].signature.toLowerCase()];
    if (functionName === "settleUptoBatch") return args[0].map((item) => item.signature.toLowerCase());
  } catch {
    // not an upto settlement
  }
  return [];
}
