// The channel links an epoch publishes: each sweep's ChannelOutputsPaid transaction that paid for some of
// the epoch's outputs, with every leaf of its Merkle root as the ledger recorded them (outputs the link
// settled, their amounts and record hashes). A link whose recorded amounts do not add up to what it
// emitted (its recording is late) is left out: its leaves could not reproduce its root.
import type { Ledger } from "../ledger/index.ts";
import type { ChannelLinkLeaves } from "./build.ts";

export async function channelLinksFor(
  ledger: Ledger,
  /** The settlement scan's links (transaction → amount emitted), as the close just stored them. */
  scanLinks: ReadonlyMap<string, bigint>,
  outputIds: readonly string[],
): Promise<ChannelLinkLeaves[]> {
  if (scanLinks.size === 0) return [];
  const inEpoch = new Set(outputIds.map((id) => id.toLowerCase()));
  const links: ChannelLinkLeaves[] = [];
  for (const [transaction, emitted] of scanLinks) {
    const paid = await ledger.listOutputsPaidIn(transaction);
    if (!paid.some((o) => inEpoch.has(o.outputId.toLowerCase()))) continue;
    if (paid.reduce((sum, o) => sum + BigInt(o.amount), 0n) !== emitted) continue;
    const leaves = await Promise.all(
      paid.map(async (o) => ({
        outputId: o.outputId,
        amount: o.amount,
        recordHash: (await ledger.getOutput(o.outputId))?.recordHash ?? "",
      })),
    );
    links.push({ transaction, leaves });
  }
  return links;
}
