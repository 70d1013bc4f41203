// Channel payments in the ledger: a voucher accepted by the channel facilitator leaves its payment
// "pending" (the payer was answered, the money is still in the escrow); the sweep's link
// (ChannelOutputsPaid on the splitter) settles it, with the link's transaction; a channel the escrow
// refused to claim (the payer withdrew first) fails its payments: nothing was charged.
import type { ChannelLink } from "../facilitator/batch-settlement/sweeper.ts";
import type { PaidOutput } from "../facilitator/batch-settlement/book.ts";
import type { Ledger } from "../ledger/index.ts";

/** Outputs moved concurrently (bounded for PostgreSQL's pool). */
const MOVES_AT_ONCE = 64;

/** Errors to report when the ledger is reached (a sweep never waits on it). */
export function channelLedger(ledger: Ledger) {
  /**
   * Compare-and-set from the open states: the request may not have recorded "pending" yet. A chunk's
   * moves are issued together, so the ledger records them together (settlements in one batch transaction,
   * failures in one group commit) instead of one commit per output; each move stays its own compare-and-set.
   */
  const move = async (
    outputs: readonly PaidOutput[],
    to: "settled" | "failed",
    fields: { txHash?: string; errorReason: string | null },
  ) => {
    for (let i = 0; i < outputs.length; i += MOVES_AT_ONCE) {
      const keys = await ledger.getOutputPaymentKeys(outputs.slice(i, i + MOVES_AT_ONCE).map((o) => o.outputId));
      await Promise.all(Object.values(keys).map((key) => ledger.transition(key, ["settling", "pending"], to, fields)));
    }
  };
  return {
    linked: (link: ChannelLink) => move(link.outputs, "settled", { txHash: link.transaction, errorReason: null }),
    stuck: (outputs: PaidOutput[]) => move(outputs, "failed", { errorReason: "channel_withdrawn_before_claim" }),
  };
}
