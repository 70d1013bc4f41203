// The SQLite ledger in a worker thread (server/ledger/thread.ts, database.sqliteThread): calls and
// answers cross the thread intact (bigints, Maps, the ledger's errors with their codes), it shares
// its file with another connection, and after close it answers nothing and holds the process open no
// longer. The ledger inside is SqliteLedger, which the ledger contract covers (sqlite.test.ts); the
// kill -9 durability test there runs through the thread as well.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createMetrics } from "../../server/api/metrics.ts";
import { isLedgerError, openLedger } from "../../server/ledger/index.ts";
import { SqliteLedger } from "../../server/ledger/sqlite.ts";
import { openSqliteThread } from "../../server/ledger/thread.ts";
import { BIG, channelState, expectLedgerError, hex, keyOf, paymentInput } from "../support/ledger-contract.ts";

const dir = mkdtempSync(join(tmpdir(), "royalty402-thread-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function open(name: string) {
  const ledger = await openSqliteThread({ path: join(dir, `${name}.sqlite`) });
  await ledger.migrate();
  return ledger;
}

describe("SQLite ledger in a worker thread", () => {
  it("answers payments, outputs and channels as the ledger does: bigints and Maps intact", async () => {
    const ledger = await open("round-trip");
    const input = paymentInput();
    const reserved = await ledger.reserve(input);
    expect(reserved).toMatchObject({ reserved: true, payment: { nonce: input.nonce, status: "reserved" } });
    const key = keyOf(input);
    const outputId = hex(32);
    await ledger.putOutput({ outputId, modelId: "model-a", paymentKey: key, record: "{}", recordHash: hex(32), epoch: null, createdAt: 1 });
    expect(await ledger.transition(key, ["reserved"], "settled", { outputId, txHash: hex(32) })).toMatchObject({ status: "settled" });
    const epochs = await ledger.outputEpochs([outputId]);
    expect(epochs).toBeInstanceOf(Map);
    expect(epochs.get(outputId)).toBeNull();

    const state = channelState(); // its balance beyond 2^64: a bigint, not a number
    expect(await ledger.openChannel(state)).toEqual(state);
    expect((await ledger.getChannel(state.channelId))?.balance).toBe(BIG);
    await ledger.close();
  });

  it("rejects with the ledger's errors, class and code kept", async () => {
    const ledger = await open("errors");
    const input = paymentInput();
    await ledger.reserve(input);
    const outputId = hex(32);
    const output = { outputId, modelId: "model-a", paymentKey: keyOf(input), record: "{}", recordHash: hex(32), epoch: null, createdAt: 1 };
    await ledger.putOutput(output);
    await expectLedgerError(ledger.putOutput({ ...output, recordHash: hex(32) }), "output_conflict");
    const bad = await ledger.transition(keyOf(input), ["reserved"], "bogus" as never).catch((e: unknown) => e);
    expect(isLedgerError(bad, "invalid_input")).toBe(true);
    expect((bad as Error).message).toMatch(/^invalid_input: .*bogus/);
    await ledger.close();
  });

  it("shares its file with a connection in another thread: one reserver per authorization", async () => {
    const threaded = await open("shared");
    const direct = new SqliteLedger({ path: join(dir, "shared.sqlite") });
    await direct.migrate();
    const inputs = Array.from({ length: 40 }, () => paymentInput());
    const results = await Promise.all(inputs.flatMap((input) => [threaded.reserve(input), direct.reserve(input)]));
    expect(results.filter((r) => r.reserved)).toHaveLength(40);
    expect((await direct.listPayments({ limit: 100 })).map((p) => p.nonce).sort()).toEqual(inputs.map((i) => i.nonce).sort());
    await Promise.all([threaded.close(), direct.close()]);
  });

  it("reports its slowest fsync to the metrics and counts its commits", async () => {
    const ledger = await open("metrics");
    await Promise.all(Array.from({ length: 8 }, () => ledger.reserve(paymentInput())));
    expect(await ledger.commits()).toBeGreaterThanOrEqual(1);
    const metrics = createMetrics(ledger);
    expect(await metrics.registry.getSingleMetricAsString("royalty402_ledger_fsync_max_seconds")).toMatch(
      /royalty402_ledger_fsync_max_seconds \d+(\.\d+)?(e-\d+)?\n?$/,
    );
    await ledger.close();
  });

  it("after close, answers every call with ledger_closed", async () => {
    const ledger = await open("closed");
    await ledger.close();
    await expectLedgerError(ledger.getPayment(keyOf(paymentInput())), "ledger_closed");
    await ledger.close(); // a second close is a no-op
  });

  it("explains a file it cannot open, and openLedger refuses options that cannot cross threads", async () => {
    const err = await openSqliteThread({ path: dir }).catch((e: Error) => e); // a folder, not a file
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/unable to open|database/i);
    await expect(openLedger({ sqlitePath: join(dir, "x.sqlite"), thread: true, sqlite: { now: () => 1 } })).rejects.toThrow(
      /takes no now, fsync or migrations option/,
    );
  });
});
