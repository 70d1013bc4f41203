// What the epoch worker thread does (build-worker.ts runs these; tests call them directly):
// everything proportional to an epoch's size — record parsing and hashing, both trees, every
// proof, document serialization and parsing — so the server's event loop never waits on it.
import { parseRecord } from "../attribution/record.ts";
import { unpackRecord } from "../ledger/record-codec.ts";
import type { StoredRecord } from "../ledger/types.ts";
import { buildEpoch, type EpochInput } from "./build.ts";
import { expandStored, missingRecords, storedOutputIds, toStored, type ExpandedEpoch } from "./stored.ts";

/** An epoch's input with each payment's record as the ledger holds it (packed, or canonical JSON), unpacked and parsed in the worker. */
export interface BuildTask extends Omit<EpochInput, "payments"> {
  payments: Array<{ outputId: string; amount: bigint; record: StoredRecord }>;
}

export interface BuiltEpoch {
  /** The document in its stored form (stored.ts). */
  stored: string;
  claimsRoot: string;
  recordsRoot: string;
  cumulativeAllocated: string;
  cumulativeReceived: string;
  outputIds: string[];
}

export function buildTask(task: BuildTask): BuiltEpoch {
  const payments = task.payments.map((p) => ({
    outputId: p.outputId,
    amount: p.amount,
    record: parseRecord(typeof p.record === "string" ? p.record : unpackRecord(p.record)),
  }));
  const doc = buildEpoch({ ...task, payments });
  return {
    stored: toStored(doc),
    claimsRoot: doc.claims.root,
    recordsRoot: doc.records.root,
    cumulativeAllocated: doc.cumulativeAllocated,
    cumulativeReceived: doc.cumulativeReceived,
    outputIds: doc.payments.map((p) => p.outputId),
  };
}

export type WorkerRequest =
  | { op: "build"; task: BuildTask }
  | { op: "expand"; stored: string; records: Record<string, string> }
  | { op: "outputIds"; stored: string }
  | { op: "missingRecords"; stored: string };

export type WorkerResult<R extends WorkerRequest> = R extends { op: "build" }
  ? BuiltEpoch
  : R extends { op: "expand" }
    ? ExpandedEpoch
    : string[];

export function runTask(request: WorkerRequest): BuiltEpoch | ExpandedEpoch | string[] {
  switch (request.op) {
    case "build":
      return buildTask(request.task);
    case "expand":
      return expandStored(request.stored, request.records);
    case "outputIds":
      return storedOutputIds(request.stored);
    case "missingRecords":
      return missingRecords(request.stored);
  }
}
