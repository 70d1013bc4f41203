// The channel part of epoch verification. A sweep's ChannelOutputsPaid(outputsRoot, count, amount) commits to
// the outputs its vouchers paid for: a Merkle root (OpenZeppelin StandardMerkleTree) over (outputId, amount,
// recordHash). The epoch document publishes each link's leaves; the verifier checks that those of the epoch's
// outputs are its payments (same amount, same record hash), then recomputes the root from the leaves and
// compares root, count and amount with the event the splitter emitted in the link's transaction.
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { Provider } from "ethers";
import { decodeEventLog, type Hex } from "viem";
import { CHANNEL_OUTPUTS_PAID_TOPIC, channelLinkEvent } from "../facilitator/batch-settlement/abi.ts";
import type { ChannelLinkLeaves, EpochDocument } from "./build.ts";

const LINK_LEAF_ENCODING = ["bytes32", "uint256", "bytes32"];

/** What is wrong with the links' leaves against the document's payments (empty: nothing). */
export function checkLinkLeaves(doc: EpochDocument): string[] {
  const payments = new Map(doc.payments.map((p) => [p.outputId.toLowerCase(), p]));
  const problems: string[] = [];
  for (const link of doc.channelLinks ?? []) {
    let inEpoch = 0;
    for (const leaf of link.leaves) {
      const paid = payments.get(leaf.outputId.toLowerCase());
      if (!paid) continue;
      inEpoch++;
      if (paid.amount !== leaf.amount || paid.recordHash.toLowerCase() !== leaf.recordHash.toLowerCase())
        problems.push(`${leaf.outputId}: link ${link.transaction} has amount ${leaf.amount}, record ${leaf.recordHash}`);
    }
    if (inEpoch === 0) problems.push(`link ${link.transaction} pays for none of this epoch's outputs`);
  }
  return problems;
}

/** The root a link's leaves hash to (what ChannelOutputsPaid must carry). */
function linkRoot(link: ChannelLinkLeaves): string {
  return StandardMerkleTree.of(
    link.leaves.map((l) => [l.outputId, l.amount, l.recordHash]),
    LINK_LEAF_ENCODING,
  ).root;
}

/** Compares each link with the ChannelOutputsPaid its transaction emitted from the splitter. */
export async function checkLinksOnChain(doc: EpochDocument, provider: Provider, splitter: string | null): Promise<string[]> {
  if (!splitter) return ["no splitter address to read the links from"];
  const problems: string[] = [];
  for (const link of doc.channelLinks ?? []) {
    const receipt = await provider.getTransactionReceipt(link.transaction);
    const emitted = (receipt?.logs ?? [])
      .filter((log) => log.address.toLowerCase() === splitter.toLowerCase() && log.topics[0]?.toLowerCase() === CHANNEL_OUTPUTS_PAID_TOPIC)
      .map((log) => decodeEventLog({ abi: channelLinkEvent, data: log.data as Hex, topics: log.topics as [Hex, ...Hex[]] }).args);
    const root = linkRoot(link);
    const amount = link.leaves.reduce((sum, l) => sum + BigInt(l.amount), 0n);
    const event = emitted.find((e) => e.outputsRoot.toLowerCase() === root.toLowerCase());
    if (!event) problems.push(`link ${link.transaction}: no ChannelOutputsPaid with the recomputed root ${root}`);
    else if (event.count !== BigInt(link.leaves.length) || event.amount !== amount)
      problems.push(
        `link ${link.transaction}: the event says ${event.count} outputs, ${event.amount}; the leaves ${link.leaves.length}, ${amount}`,
      );
  }
  return problems;
}
