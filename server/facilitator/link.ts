// Front-run authorizations. Anyone may submit a payer's EIP-3009 authorization straight to the token
// before our settleBatch lands: the money reaches the splitter, but no PaymentSettled links it to the
// output it bought, and settlement reports the nonce as used. linkFrontRun checks on-chain that the
// authorization was executed by a transaction whose Transfer from the payer reached the splitter and
// that carried no PaymentSettled for it, then has the relayer call the splitter's linkPayment, which
// emits the missing PaymentSettled (once per authorization). The embedded facilitator's settle calls
// it when the front-run landed between verify and settle (the live request is then answered settled);
// the reconciler calls it for an open payment whose authorization it finds used, and records the
// payment settled when it answers "linked" or "already_linked".
import { Interface, ZeroHash } from "ethers";
import { SPLITTER_ABI } from "../chain/abi.ts";
import { splitterInterface, tokenInterface } from "./abi.ts";
import { getLightReceipt, onChain, rawSend, type LightReceipt } from "./chain.ts";
import { TransactionRevertedError, type Relayer } from "./relayer.ts";

export interface FrontRunPayment {
  asset: string;
  splitter: string;
  payer: string;
  nonce: string; // bytes32
  value: bigint; // the authorized amount, as settle would have emitted it
  outputId: string; // bytes32
  attributionRoot: string; // bytes32
  /** First block to search for the token's AuthorizationUsed event (default 0). */
  fromBlock?: number;
}

export type LinkOutcome =
  /** linkPayment was mined: PaymentSettled now links the payment to its output. */
  | { status: "linked"; txHash: string; usedIn: string }
  /** An earlier linkPayment already emitted the link. */
  | { status: "already_linked"; usedIn: string }
  /** Our own settlement carried it: nothing to link (the payment is settled). */
  | { status: "settled_by_us"; usedIn: string }
  /** The token does not report the authorization used: it was never executed (or the token is not EIP-3009). */
  | { status: "not_used" }
  /** Used, but not by a transfer from the payer into the splitter (e.g. cancelled, or another recipient). */
  | { status: "not_to_splitter"; usedIn: string | null };

const authorizationEvents = new Interface([
  "event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)",
  "event Transfer(address indexed from, address indexed to, uint256 value)",
]);
const AUTHORIZATION_USED = authorizationEvents.getEvent("AuthorizationUsed")!.topicHash;
const TRANSFER = authorizationEvents.getEvent("Transfer")!.topicHash;
const splitterAbi = new Interface(SPLITTER_ABI);
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
const topicAddress = (topic: string | undefined) => `0x${(topic ?? "").slice(26)}`;

/** Emits the missing PaymentSettled link for a front-run authorization, after checking the chain. */
export async function linkFrontRun(relayer: Relayer, p: FrontRunPayment): Promise<LinkOutcome> {
  const provider = relayer.provider;
  const used = await onChain("authorizationState", () =>
    provider.call({ to: p.asset, data: tokenInterface.encodeFunctionData("authorizationState", [p.payer, p.nonce]) }),
  );
  if (!tokenInterface.decodeFunctionResult("authorizationState", used)[0]) return { status: "not_used" };

  const receipt = await usedIn(relayer, p);
  if (!receipt) return { status: "not_to_splitter", usedIn: null };
  if (carriesOurSettlement(receipt, p)) return { status: "settled_by_us", usedIn: receipt.hash };
  if (!transfersToSplitter(receipt, p)) return { status: "not_to_splitter", usedIn: receipt.hash };

  const data = splitterAbi.encodeFunctionData("linkPayment", [
    p.outputId || ZeroHash,
    p.attributionRoot || ZeroHash,
    p.payer,
    p.value,
    p.nonce,
  ]);
  try {
    const sent = await relayer.send(p.splitter, data);
    const mined = await waitForReceipt(relayer, sent.hash);
    if (mined.status === 1) return { status: "linked", txHash: mined.hash, usedIn: receipt.hash };
    // Reverted on-chain although the estimate passed: a concurrent link won the race.
    if (await alreadyLinked(relayer, p)) return { status: "already_linked", usedIn: receipt.hash };
    throw new Error(`linkPayment ${mined.hash} reverted`);
  } catch (error) {
    if (error instanceof TransactionRevertedError && error.data && splitterAbi.parseError(error.data)?.name === "AlreadyLinked") {
      return { status: "already_linked", usedIn: receipt.hash };
    }
    throw error;
  }
}

/** The receipt of the transaction in which the token emitted AuthorizationUsed(payer, nonce). */
async function usedIn(relayer: Relayer, p: FrontRunPayment): Promise<LightReceipt | null> {
  const send = rawSend(relayer.provider);
  const filter = {
    address: p.asset,
    topics: [AUTHORIZATION_USED, `0x${p.payer.slice(2).toLowerCase().padStart(64, "0")}`, p.nonce.toLowerCase()],
    fromBlock: `0x${(p.fromBlock ?? 0).toString(16)}`,
    toBlock: "latest",
  };
  const logs = (await onChain("getLogs", () =>
    send ? send("eth_getLogs", [filter]) : relayer.provider.getLogs({ ...filter, fromBlock: p.fromBlock ?? 0 }),
  )) as Array<{ transactionHash: string }>;
  if (logs.length === 0) return null;
  return getLightReceipt(relayer.provider, logs[logs.length - 1].transactionHash);
}

function carriesOurSettlement(receipt: LightReceipt, p: FrontRunPayment): boolean {
  return receipt.logs.some((log) => {
    if (!same(log.address, p.splitter)) return false;
    const parsed = parse(splitterInterface, log);
    return parsed?.name === "PaymentSettled" && same(parsed.args.payer as string, p.payer) && same(parsed.args.nonce as string, p.nonce);
  });
}

/** A Transfer of the token from the payer to the splitter (a fee-on-transfer token may credit less than value). */
function transfersToSplitter(receipt: LightReceipt, p: FrontRunPayment): boolean {
  return receipt.logs.some(
    (log) =>
      same(log.address, p.asset) &&
      log.topics[0]?.toLowerCase() === TRANSFER &&
      same(topicAddress(log.topics[1]), p.payer) &&
      same(topicAddress(log.topics[2]), p.splitter),
  );
}

async function alreadyLinked(relayer: Relayer, p: FrontRunPayment): Promise<boolean> {
  try {
    await relayer.provider.call({
      from: relayer.address,
      to: p.splitter,
      data: splitterAbi.encodeFunctionData("linkPayment", [ZeroHash, ZeroHash, p.payer, p.value, p.nonce]),
    });
    return false;
  } catch (error) {
    const data = (error as { data?: string }).data;
    return typeof data === "string" && splitterAbi.parseError(data)?.name === "AlreadyLinked";
  }
}

async function waitForReceipt(relayer: Relayer, hash: string, timeoutMs = 30_000): Promise<LightReceipt> {
  const started = Date.now();
  for (;;) {
    const receipt = await relayer.receipt(hash);
    if (receipt) return receipt;
    if (Date.now() - started > timeoutMs) throw new Error(`linkPayment ${hash} not mined within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function parse(iface: Interface, log: { topics: string[]; data: string }) {
  try {
    return iface.parseLog(log);
  } catch {
    return null;
  }
}
