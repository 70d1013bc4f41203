// The facilitator's view of the contracts: ethers interfaces over the shared ABI in
// server/chain/abi.ts, EIP-3009 typed data and calldata helpers. The per-batch hot path (settleBatch
// calldata, settlement events) goes through viem's coder, which is several times faster than
// ethers' for these (32 items: 0.7 ms instead of 6 ms on the bench machine); both coders
// produce the same bytes.
import { Interface } from "ethers";
import { SETTLEMENT_TUPLE, SPLITTER_ABI, TOKEN_ABI } from "../chain/abi.ts";
import { decodeEventLog, encodeFunctionData, hexToBytes, parseAbi, type Hex } from "viem";
import { keccak256Hex } from "../chain/keccak.ts";
import { checksumAddress } from "../chain/address.ts";

export const splitterInterface = new Interface(SPLITTER_ABI);
export const tokenInterface = new Interface(TOKEN_ABI);

export const erc1271Interface = new Interface([
  "function isValidSignature(bytes32 hash, bytes signature) view returns (bytes4 magicValue)",
]);
export const ERC1271_MAGIC = "0x1626ba7e";

/** EIP-3009 typed data, as the reference client signs it. */
export const TRANSFER_WITH_AUTHORIZATION_TYPES = {
  TransferWithAuthorization: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "nonce", type: "bytes32" },
  ],
};

/** Calldata for the token's transferWithAuthorization: (v,r,s) for 65-byte signatures, bytes otherwise. */
export function encodeTransferWithAuthorization(
  a: { from: string; to: string; value: bigint; validAfter: bigint; validBefore: bigint; nonce: string },
  signature: string,
): string {
  const args = [a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce];
  if (signature.length === 132) {
    return tokenInterface.encodeFunctionData(
      "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)",
      [...args, Number.parseInt(signature.slice(130), 16), `0x${signature.slice(2, 66)}`, `0x${signature.slice(66, 130)}`],
    );
  }
  return tokenInterface.encodeFunctionData("transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)", [
    ...args,
    signature,
  ]);
}

const splitterViemAbi = parseAbi([
  `function settleBatch(${SETTLEMENT_TUPLE.replace(/^tuple\(/, "(")}[] items) returns (uint256 settled)`,
  `function settleBatchWithGas(${SETTLEMENT_TUPLE.replace(/^tuple\(/, "(")}[] items, uint256 itemGas) returns (uint256 settled)`,
  "event PaymentSettled(bytes32 indexed outputId, address indexed payer, uint256 amount, bytes32 nonce, bytes32 attributionRoot)",
  "event PaymentSkipped(bytes32 indexed outputId, address indexed payer, bytes32 nonce, bytes reason)",
]);

export interface SettlementItem {
  outputId: string;
  attributionRoot: string;
  from: string;
  value: bigint;
  validAfter: bigint;
  validBefore: bigint;
  nonce: string;
  signature: string;
}

/** Calldata of settleBatch(items), or of settleBatchWithGas(items, itemGas) when a per-item cap is given. */
export function encodeSettleBatch(items: readonly SettlementItem[], itemGas?: bigint): string {
  const tuples = items.map((i) => ({
    outputId: i.outputId as Hex,
    attributionRoot: i.attributionRoot as Hex,
    from: i.from as Hex,
    value: i.value,
    validAfter: i.validAfter,
    validBefore: i.validBefore,
    nonce: i.nonce as Hex,
    signature: i.signature as Hex,
  }));
  if (itemGas !== undefined)
    return encodeFunctionData({ abi: splitterViemAbi, functionName: "settleBatchWithGas", args: [tuples, itemGas] });
  return encodeFunctionData({ abi: splitterViemAbi, functionName: "settleBatch", args: [tuples] });
}

export const PAYMENT_SETTLED_TOPIC = splitterInterface.getEvent("PaymentSettled")!.topicHash;
const PAYMENT_SKIPPED_TOPIC = splitterInterface.getEvent("PaymentSkipped")!.topicHash;
export const PAYMENTS_DEFERRED_TOPIC = splitterInterface.getEvent("PaymentsDeferred")!.topicHash;

export type SettlementEvent =
  | { name: "PaymentSettled"; outputId: string; payer: string; amount: bigint; nonce: string; attributionRoot: string }
  | { name: "PaymentSkipped"; outputId: string; payer: string; nonce: string; reason: string };

/** Decodes a splitter log into a settlement event; null for any other log. */
export function decodeSettlementLog(log: { topics: readonly string[]; data: string }): SettlementEvent | null {
  const topic = log.topics[0]?.toLowerCase();
  if (topic !== PAYMENT_SETTLED_TOPIC && topic !== PAYMENT_SKIPPED_TOPIC) return null;
  const settled = topic === PAYMENT_SETTLED_TOPIC ? paymentSettled(log) : null;
  if (settled) return settled;
  try {
    const { eventName, args } = decodeEventLog({ abi: splitterViemAbi, data: log.data as Hex, topics: log.topics as [Hex, ...Hex[]] });
    if (eventName === "PaymentSettled") return { name: eventName, ...args, nonce: args.nonce.toLowerCase() };
    return { name: eventName, ...args, nonce: args.nonce.toLowerCase() };
  } catch {
    return null;
  }
}

/**
 * PaymentSettled(bytes32 indexed outputId, address indexed payer, uint256 amount, bytes32 nonce,
 * bytes32 attributionRoot)'s output and amount, read straight from topic 1 and the first data word
 * (the generic decoder costs several times more per log, and a scan reads thousands); null for any other log.
 */
export function paymentSettledAmount(log: { topics: readonly string[]; data: string }): { outputId: string; amount: bigint } | null {
  if (log.topics.length !== 3 || log.topics[0]?.toLowerCase() !== PAYMENT_SETTLED_TOPIC || log.data.length !== 2 + 3 * 64) return null;
  return { outputId: log.topics[1].toLowerCase(), amount: BigInt(`0x${log.data.slice(2, 66)}`) };
}

/**
 * A well-formed PaymentSettled log read by position (one per settled payment in every batch receipt; the
 * generic decoder cost several times more): outputId and the payer in the topics, then amount, nonce and
 * attributionRoot as data words. Null if the log is not laid out so (the generic decoder then judges it).
 */
function paymentSettled(log: { topics: readonly string[]; data: string }): SettlementEvent | null {
  const [, outputId, payerTopic] = log.topics;
  if (log.topics.length !== 3 || !WORD_HEX.test(outputId) || !ADDRESS_WORD.test(payerTopic) || !SETTLED_DATA.test(log.data)) return null;
  const payer = checksumAddress(`0x${payerTopic.slice(26)}`);
  if (!payer) return null;
  const word = (i: number) => `0x${log.data.slice(2 + 64 * i, 66 + 64 * i)}`;
  return { name: "PaymentSettled", outputId, payer, amount: BigInt(word(0)), nonce: word(1).toLowerCase(), attributionRoot: word(2) };
}

const WORD_HEX = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS_WORD = /^0x0{24}[0-9a-fA-F]{40}$/;
const SETTLED_DATA = /^0x[0-9a-fA-F]{192}$/;
const ADDRESS_HEX = /^0x[0-9a-fA-F]{40}$/;
const BYTES32_HEX = /^0x[0-9a-fA-F]{64}$/;
const utf8 = new TextEncoder();

/**
 * keccak256(abi.encode(string, address, address, bytes32)), laid out by hand (it names every paid output, and
 * the generic ABI coder cost more than the hash): four head words (the string's offset 0x80, the two
 * addresses, the nonce), then the string's length and its bytes padded to whole words.
 */
export function hashPaymentKey(network: string, asset: string, payer: string, nonce: string): string {
  if (!ADDRESS_HEX.test(asset) || !ADDRESS_HEX.test(payer) || !BYTES32_HEX.test(nonce))
    throw new Error("a payment key needs 20-byte addresses and a 32-byte nonce");
  const text = utf8.encode(network);
  const encoded = new Uint8Array(160 + Math.ceil(text.length / 32) * 32);
  encoded[31] = 0x80;
  encoded.set(hexToBytes(asset as Hex), 44);
  encoded.set(hexToBytes(payer as Hex), 76);
  encoded.set(hexToBytes(nonce as Hex), 96);
  new DataView(encoded.buffer).setUint32(156, text.length);
  encoded.set(text, 160);
  return keccak256Hex(encoded);
}
