// Reposting a vetoed epoch. A guardian's veto stops a model's epochs (nothing after epoch N can
// be posted while N is vetoed), so the operator decides: once the reason for the veto is
// resolved, the same document (same outputs, same roots: the ledger keeps it) is posted again
// under the same number and runs a new challenge period. Idempotent: if an earlier repost
// reached the chain but was not recorded (a crash), it is only recorded.
import type { EpochRecord } from "../ledger/index.ts";
import type { Payee } from "../models/index.ts";
import { postEpochRoots, splitterContract } from "./chain.ts";
import { EpochMismatchError, latestEpoch, postedOnChain, statusOf, type CloseContext } from "./closer.ts";

export type RepostRefusal = "no_vetoed_epoch" | "no_oracle" | "repost_refused";

export class RepostRefused extends Error {
  constructor(
    readonly code: RepostRefusal,
    message: string,
  ) {
    super(message);
    this.name = "RepostRefused";
  }
}

export interface RepostResult {
  status: "reposted";
  model: string;
  epoch: number;
  claimsRoot: string;
  txHash: string;
  /** Unix seconds the epoch becomes claimable unless vetoed again. */
  activeAt: number;
}

function revertReason(error: unknown): string {
  const e = error as { revert?: { name?: string }; shortMessage?: string; message?: string };
  return e.revert?.name ?? e.shortMessage ?? (e.message ?? String(error)).split("\n")[0];
}

export async function repostVetoedEpoch(ctx: CloseContext, model: Payee): Promise<RepostResult> {
  const latest = await latestEpoch(ctx, model.splitter);
  if (latest?.status !== "vetoed") {
    throw new RepostRefused(
      "no_vetoed_epoch",
      `the latest epoch of ${model.id} is ${latest ? `epoch ${latest.epoch}, ${latest.status}` : "none"}: nothing to repost`,
    );
  }
  let posted = await postedOnChain(ctx, model.splitter, latest.epoch);
  if (!posted || posted.status === "vetoed") {
    await post(ctx, model, latest);
    posted = await postedOnChain(ctx, model.splitter, latest.epoch);
    if (!posted) throw new Error(`epoch ${latest.epoch} of ${model.id} was reposted but no EpochPosted event is visible`);
  }
  if (posted.claimsRoot !== latest.claimsRoot || posted.recordsRoot !== latest.recordsRoot) {
    throw new EpochMismatchError(
      `epoch ${latest.epoch} of ${model.id}: the chain holds claimsRoot ${posted.claimsRoot}, the ledger ${latest.claimsRoot}`,
    );
  }
  const updated: EpochRecord = { ...latest, status: statusOf(posted), txHash: posted.transactionHash };
  await ctx.ledger.putEpoch(updated);
  return {
    status: "reposted",
    model: model.id,
    epoch: latest.epoch,
    claimsRoot: latest.claimsRoot,
    txHash: posted.transactionHash,
    activeAt: Number(posted.activeAt),
  };
}

async function post(ctx: CloseContext, model: Payee, record: EpochRecord): Promise<void> {
  const oracle = ctx.oracle;
  if (!oracle) throw new RepostRefused("no_oracle", `this server has no oracle key to repost epoch ${record.epoch} of ${model.id}`);
  await ctx.oracleQueue.run(async () => {
    try {
      await postEpochRoots(splitterContract(model.splitter, oracle), record);
    } catch (error) {
      throw new RepostRefused(
        "repost_refused",
        `the splitter refused to repost epoch ${record.epoch} of ${model.id} (${revertReason(error)})`,
      );
    }
  });
}
