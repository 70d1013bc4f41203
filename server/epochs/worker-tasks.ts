// What the epoch worker thread does (build-worker.ts runs these; tests call them directly):
// everything proportional to an epoch's size — record parsing and hashing, both trees, every
// proof, document serialization and parsing — so the server's event loop never waits on it.
import { parseRecord } from "../attribution/record.ts";
import { unpackRecord } from "../ledger/record-codec.ts";
import type { StoredRecord } from "../ledger/types.ts";
import { buildEpoch, type EpochInput } from "./build.ts";
import { expandStored, missingRecords, storedOutputIds, toStored, type TreeIndex } from "./stored.ts";

interface StoredPayment {
  outputId: string;
  amount: bigint;
  record: StoredRecord;
}

/**
 * Payments as flat arrays and one block of bytes (each record as stored, back to back), so that
 * handing 10,000 of them to the worker copies a few buffers instead of cloning 10,000 objects.
 */
export interface PaymentBlock {
  outputIds: string[];
  amounts: string[];
  records: Uint8Array;
  /** Where each record ends in `records`. */
  ends: Uint32Array;
  /** 1 where the record is canonical JSON (a row written before packing), 0 where packed. */
  json: Uint8Array;
}

/** An epoch's input with each payment's record as the ledger holds it (packed, or canonical JSON), unpacked and parsed in the worker. */
export interface BuildTask extends Omit<EpochInput, "payments"> {
  payments: StoredPayment[] | PaymentBlock;
}

export function paymentBlock(payments: Array<{ outputId: string; amount: string; record: StoredRecord }>): PaymentBlock {
  const bytes = payments.map((p) => (typeof p.record === "string" ? Buffer.from(p.record, "utf8") : p.record));
  const ends = new Uint32Array(bytes.length);
  let end = 0;
  bytes.forEach((b, i) => {
    end += b.byteLength;
    ends[i] = end;
  });
  const records = new Uint8Array(end);
  bytes.forEach((b, i) => records.set(b, ends[i] - b.byteLength));
  return {
    outputIds: payments.map((p) => p.outputId),
    amounts: payments.map((p) => p.amount),
    records,
    ends,
    json: Uint8Array.from(payments, (p) => (typeof p.record === "string" ? 1 : 0)),
  };
}

/** The buffers to transfer (not copy) to the worker with a block. */
export const blockTransfers = (block: PaymentBlock): ArrayBuffer[] =>
  [block.records.buffer, block.ends.buffer, block.json.buffer] as ArrayBuffer[];

function recordsOf(payments: StoredPayment[] | PaymentBlock): Array<{ outputId: string; amount: bigint; record: string }> {
  if (Array.isArray(payments))
    return payments.map((p) => ({ ...p, record: typeof p.record === "string" ? p.record : unpackRecord(p.record) }));
  const { outputIds, amounts, records, ends, json } = payments;
  return outputIds.map((outputId, i) => {
    const bytes = records.subarray(i === 0 ? 0 : ends[i - 1], ends[i]);
    return { outputId, amount: BigInt(amounts[i]), record: json[i] ? Buffer.from(bytes).toString("utf8") : unpackRecord(bytes) };
  });
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
  const payments = recordsOf(task.payments).map((p) => ({ outputId: p.outputId, amount: p.amount, record: parseRecord(p.record) }));
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

/**
 * An expanded epoch as the event loop keeps it: the published JSON as UTF-8 bytes, encoded here and
 * moved out of the worker (never a string on the main thread's heap, never encoded per request), and
 * both trees.
 */
export interface PublishedEpoch {
  body: Uint8Array;
  claims: TreeIndex;
  records: TreeIndex;
}

export type WorkerRequest =
  | { op: "build"; task: BuildTask }
  | { op: "expand"; stored: string; records: Record<string, string> }
  | { op: "outputIds"; stored: string }
  | { op: "missingRecords"; stored: string };

export type WorkerResult<R extends WorkerRequest> = R extends { op: "build" }
  ? BuiltEpoch
  : R extends { op: "expand" }
    ? PublishedEpoch
    : string[];

export function runTask(request: WorkerRequest): BuiltEpoch | PublishedEpoch | string[] {
  switch (request.op) {
    case "build":
      return buildTask(request.task);
    case "expand": {
      const { json, claims, records } = expandStored(request.stored, request.records);
      return { body: new TextEncoder().encode(json), claims, records };
    }
    case "outputIds":
      return storedOutputIds(request.stored);
    case "missingRecords":
      return missingRecords(request.stored);
  }
}

/** The buffers a task's result moves to the main thread instead of copying (a published document's bytes). */
export function resultTransfer(result: ReturnType<typeof runTask>): ArrayBuffer[] {
  return "body" in result ? [result.body.buffer as ArrayBuffer] : [];
}
