// The splitter side of epochs: posting an epoch document's roots, and reading back what was
// posted (EpochPosted / EpochVetoed events, activeEpoch(), pendingEpoch()) for verification.
import { Contract, type ContractRunner, type Provider, type TransactionReceipt } from "ethers";
import { SPLITTER_ABI } from "../chain/abi.ts";
import { AttributionError } from "../attribution/errors.ts";
import type { EpochDocument } from "./build.ts";

export function splitterContract(address: string, runner: ContractRunner): Contract {
  return new Contract(address, SPLITTER_ABI, runner);
}

/** Posts the document's epoch to the splitter (the runner must be the splitter's oracle). */
export function postEpoch(splitter: Contract, doc: EpochDocument, uri = ""): Promise<TransactionReceipt> {
  const { epoch, cumulativeAllocated } = doc;
  return postEpochRoots(splitter, { epoch, claimsRoot: doc.claims.root, recordsRoot: doc.records.root, cumulativeAllocated, uri });
}

/** Posts an epoch's roots (an epoch row of the ledger holds them all). */
export async function postEpochRoots(
  splitter: Contract,
  e: { epoch: number; claimsRoot: string; recordsRoot: string; cumulativeAllocated: string; uri: string },
): Promise<TransactionReceipt> {
  const tx = await splitter.getFunction("postEpoch")(e.epoch, e.claimsRoot, BigInt(e.cumulativeAllocated), e.recordsRoot, e.uri);
  const receipt = await tx.wait();
  if (receipt === null || receipt.status !== 1) throw new AttributionError("invalid_epoch_input", `postEpoch transaction failed`);
  return receipt;
}

type PostedEpochStatus = "active" | "pending" | "vetoed" | "superseded";

export interface PostedEpoch {
  epoch: number;
  claimsRoot: string;
  cumulativeAllocated: bigint;
  recordsRoot: string;
  uri: string;
  activeAt: bigint;
  blockNumber: number;
  transactionHash: string;
  status: PostedEpochStatus;
}

/** The latest posting of `epoch` on the splitter and its current status. */
export async function readPostedEpoch(provider: Provider, splitterAddress: string, epoch: number, fromBlock = 0): Promise<PostedEpoch> {
  const splitter = splitterContract(splitterAddress, provider);
  const posted = await splitter.queryFilter(splitter.filters.EpochPosted(epoch), fromBlock);
  if (posted.length === 0) throw new AttributionError("epoch_not_found", `no EpochPosted event for epoch ${epoch} on ${splitterAddress}`);
  const last = posted[posted.length - 1];
  if (!("args" in last)) throw new AttributionError("epoch_not_found", "cannot decode EpochPosted");
  const vetoes = await splitter.queryFilter(splitter.filters.EpochVetoed(epoch), last.blockNumber);
  const vetoed = vetoes.some((v) => v.blockNumber > last.blockNumber || (v.blockNumber === last.blockNumber && v.index > last.index));
  const [activeNumber, activeRoot] = await splitter.getFunction("activeEpoch")();
  const [pendingNumber, pendingRoot] = await splitter.getFunction("pendingEpoch")();
  const claimsRoot: string = last.args.claimsRoot;
  let status: PostedEpochStatus;
  if (vetoed) status = "vetoed";
  else if (BigInt(activeNumber) === BigInt(epoch) && activeRoot === claimsRoot) status = "active";
  else if (BigInt(pendingNumber) === BigInt(epoch) && pendingRoot === claimsRoot) status = "pending";
  else status = "superseded";
  return {
    epoch,
    claimsRoot,
    cumulativeAllocated: last.args.cumulativeAllocated,
    recordsRoot: last.args.recordsRoot,
    uri: last.args.uri,
    activeAt: last.args.activeAt,
    blockNumber: last.blockNumber,
    transactionHash: last.transactionHash,
    status,
  };
}
