// The channel journal: every accepted voucher (with the output it paid for) and every claim, written
// durably before the paid answer leaves, so a restarted server knows every voucher it holds and resumes
// claiming. One JSON line per entry; the file is fsynced after each append.
import { type FileHandle, mkdir, open, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { ChannelConfig } from "@royalty402/fastify-x402";
import type { Hex } from "viem";
import type { ChannelBook, PaidOutput } from "./book.ts";

export type JournalEntry =
  | {
      kind: "voucher";
      channelId: Hex;
      config: ChannelConfig;
      signedMax: string;
      signature: Hex;
      charged: string;
      balance: string;
      totalClaimed: string;
      output: { outputId: Hex; amount: string; attributionRoot: Hex };
    }
  | { kind: "claimed"; channelId: Hex; totalClaimed: string; outputs: number }
  /** The claimed outputs of these channels are linked (ChannelOutputsPaid) and recorded by the host. */
  | { kind: "linked"; channelIds: Hex[]; transaction: Hex }
  | { kind: "refunded"; channelId: Hex; balance: string; refundNonce: string };

export interface ChannelJournal {
  append(entry: JournalEntry): Promise<void>;
  entries(): Promise<JournalEntry[]>;
}

export class MemoryChannelJournal implements ChannelJournal {
  readonly log: JournalEntry[] = [];
  async append(entry: JournalEntry): Promise<void> {
    this.log.push(structuredClone(entry));
  }
  async entries(): Promise<JournalEntry[]> {
    return structuredClone(this.log);
  }
}

export class FileChannelJournal implements ChannelJournal {
  private queue: Promise<void> = Promise.resolve();
  private tailChecked = false;
  constructor(private readonly path: string) {}

  /** Appends are serialized, so lines never interleave and each is on disk when its promise resolves. */
  append(entry: JournalEntry): Promise<void> {
    const write = async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const file = await open(this.path, "a+");
      try {
        // A line torn by a crash is ended first, so the next entry is not glued to it.
        const torn = !this.tailChecked && (await endsTorn(file));
        this.tailChecked = true;
        await file.write(`${torn ? "\n" : ""}${JSON.stringify(entry)}\n`);
        await file.datasync();
      } finally {
        await file.close();
      }
    };
    const next = this.queue.then(write);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async entries(): Promise<JournalEntry[]> {
    const text = await readFile(this.path, "utf8").catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return "";
      throw error;
    });
    // A torn last line (a crash mid-write) was never acknowledged: skip it.
    return text
      .split("\n")
      .filter((line) => line.trim() !== "")
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as JournalEntry];
        } catch {
          return [];
        }
      });
  }
}

async function endsTorn(file: FileHandle): Promise<boolean> {
  const { size } = await file.stat();
  if (size === 0) return false;
  const last = Buffer.alloc(1);
  await file.read(last, 0, 1, size - 1);
  return last[0] !== 0x0a;
}

/** Rebuilds the book from the journal (at start, before any request). */
export function replayJournal(book: ChannelBook, entries: readonly JournalEntry[]): void {
  for (const entry of entries) {
    const record = entry.kind === "linked" ? undefined : book.get(entry.channelId);
    if (entry.kind === "voucher") {
      const output: PaidOutput = { ...entry.output, amount: BigInt(entry.output.amount) };
      const base = record ?? {
        channelId: entry.channelId.toLowerCase() as Hex,
        config: entry.config,
        refundNonce: 0n,
        withdrawRequestedAt: 0,
        unclaimed: [],
        unlinked: [],
        busy: false,
      };
      book.put({
        ...base,
        balance: BigInt(entry.balance),
        totalClaimed: BigInt(entry.totalClaimed),
        charged: BigInt(entry.charged),
        signedMax: BigInt(entry.signedMax),
        signature: entry.signature,
        unclaimed: [...base.unclaimed, output],
      });
    } else if (record && entry.kind === "claimed") {
      record.totalClaimed = BigInt(entry.totalClaimed);
      record.unlinked = [...record.unlinked, ...record.unclaimed.slice(0, entry.outputs)];
      record.unclaimed = record.unclaimed.slice(entry.outputs);
    } else if (entry.kind === "linked") {
      for (const id of entry.channelIds) {
        const linked = book.get(id);
        if (linked) linked.unlinked = [];
      }
    } else if (record && entry.kind === "refunded") {
      record.balance = BigInt(entry.balance);
      record.refundNonce = BigInt(entry.refundNonce);
    }
  }
}
