import { describe, expect, it } from "vitest";
import type { TokenizeResult, WorkerTask } from "../../server/attribution/attribution-worker.ts";
import { chunkRanges, runInWorkers } from "../../server/attribution/worker-pool.ts";

describe("attribution worker pool", () => {
  it("returns results by task index and fails the call when a worker throws", async () => {
    const tasks: WorkerTask[] = ["one", "two words", "three more words"].map((t) => ({ kind: "tokenize", texts: [t] }));
    const ok = await runInWorkers<TokenizeResult>(tasks, 2);
    expect(ok.map((r) => r.lengths[0])).toEqual([1, 2, 3]);
    const bad = [...tasks, { kind: "tokenize", texts: [42 as unknown as string] } as WorkerTask];
    await expect(runInWorkers(bad, 2)).rejects.toThrow();
    expect(await runInWorkers([], 2)).toEqual([]);
  });

  it("passes each result to inOrder in task order, whichever worker finishes first", async () => {
    // a long first task: the short ones after it finish before it on the other worker
    const texts = ["word ".repeat(200_000), "a", "b c", "d e f", "g h i j"];
    const tasks: WorkerTask[] = texts.map((t) => ({ kind: "tokenize", texts: [t] }));
    const seen: number[] = [];
    const all = await runInWorkers<TokenizeResult>(tasks, 2, (r) => seen.push(r.lengths[0]));
    expect(seen).toEqual(all.map((r) => r.lengths[0]));
    expect(seen.slice(1)).toEqual([1, 2, 3, 4]);
    await expect(
      runInWorkers<TokenizeResult>(tasks, 2, () => {
        throw new Error("refused");
      }),
    ).rejects.toThrow("refused");
  });

  it("cuts contiguous chunks of about the given size", () => {
    const sizes = [5, 1, 1, 8, 2, 2, 2, 9];
    // a chunk closes once it holds at least 6; the last one takes what is left
    expect(chunkRanges(sizes.length, (i) => sizes[i], 6)).toEqual([
      [0, 2],
      [2, 4],
      [4, 7],
      [7, 8],
    ]);
    expect(chunkRanges(0, () => 1, 6)).toEqual([]);
  });
});
