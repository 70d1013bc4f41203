// One behavioural contract for every Ledger backend. test/ledger/sqlite.test.ts and
// test/ledger/postgres.test.ts run it against a real SQLite file and a real PostgreSQL.
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { isLedgerError, type LedgerErrorCode } from "../../server/ledger/errors.ts";
import type { Migration } from "../../server/ledger/migrations.ts";
import { unpackRecord } from "../../server/ledger/record-codec.ts";
import type {
  ChannelState,
  EpochRecord,
  HeldOutput,
  Ledger,
  OutputRecord,
  PaymentKey,
  PaymentRecord,
  PaymentStatus,
} from "../../server/ledger/types.ts";

export type TestLedger = Ledger & { appliedMigrations(): Promise<Array<{ version: number; name: string }>> };

export interface LedgerBackend {
  /** The dialect's real migration list. */
  migrations: readonly Migration[];
  /** An instance on database `db` (same name = same database), not yet migrated. */
  open(db: string, options?: { migrations?: readonly Migration[]; now?: () => number }): Promise<TestLedger>;
  /** Removes the database after the test (instances are closed first). */
  drop(db: string): Promise<void>;
  /** A migration that creates table `table` (dialect-specific SQL). */
  extraMigration(version: number, table: string): Migration;
}

export const hex = (bytes: number) => "0x" + randomBytes(bytes).toString("hex");
export const address = () => hex(20);
export const NETWORK = "eip155:31337";

export function paymentInput(over: Partial<PaymentRecord> = {}) {
  return {
    network: NETWORK,
    asset: address(),
    payer: address(),
    nonce: hex(32),
    payTo: address(),
    amount: "1000",
    modelId: "model-a",
    outputId: null,
    payload: JSON.stringify({ x402Version: 2 }),
    ...over,
  };
}

export const BIG = 10n ** 30n; // beyond 64-bit integers

/** A channel as the ledger stores it: fresh addresses, a balance beyond 64-bit integers. */
export function channelState(over: Partial<ChannelState> = {}): ChannelState {
  const config = {
    payer: address() as `0x${string}`,
    payerAuthorizer: address() as `0x${string}`,
    receiver: address() as `0x${string}`,
    receiverAuthorizer: address() as `0x${string}`,
    token: address() as `0x${string}`,
    withdrawDelay: 900,
    salt: hex(32) as `0x${string}`,
  };
  return {
    channelId: hex(32),
    config,
    balance: BIG,
    totalClaimed: 0n,
    refundNonce: 0n,
    withdrawRequestedAt: 0,
    charged: 0n,
    signedMax: 0n,
    signature: null,
    stuck: null,
    ...over,
  };
}

export const keyOf = (p: PaymentKey): PaymentKey => ({ network: p.network, asset: p.asset, payer: p.payer, nonce: p.nonce });

export async function expectLedgerError(p: Promise<unknown>, code: LedgerErrorCode): Promise<void> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected LedgerError ${code}`).not.toBeNull();
  expect(isLedgerError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
}

/** A deterministic clock: every call is 1 ms later, so orderings never tie. */
export function steppingClock(start = 1_700_000_000_000) {
  let t = start;
  return () => ++t;
}

export function ledgerContract(name: string, backend: LedgerBackend): void {
  describe(`Ledger contract: ${name}`, () => {
    const opened: TestLedger[] = [];
    const databases = new Set<string>();
    let clock = steppingClock();

    afterEach(async () => {
      await Promise.all(opened.splice(0).map((l) => l.close()));
      for (const db of databases) await backend.drop(db);
      databases.clear();
      clock = steppingClock();
    });

    function newDb(): string {
      const db = `t_${randomBytes(6).toString("hex")}`;
      databases.add(db);
      return db;
    }

    async function open(db: string, options: { migrations?: readonly Migration[]; migrate?: boolean } = {}): Promise<TestLedger> {
      const l = await backend.open(db, { migrations: options.migrations, now: () => clock() });
      opened.push(l);
      if (options.migrate !== false) await l.migrate();
      return l;
    }

    const fresh = () => open(newDb());

    async function settledPayment(l: Ledger, over: Partial<PaymentRecord> = {}) {
      const r = await l.reserve(paymentInput(over));
      if (!r.reserved) throw new Error("fixture: expected a fresh reservation");
      const settled = await l.transition(keyOf(r.payment), ["reserved"], "settled", { txHash: hex(32) });
      return settled!;
    }

    function outputFor(p: PaymentKey | null, over: Partial<OutputRecord> = {}): OutputRecord {
      const record = JSON.stringify({ id: randomBytes(4).toString("hex") });
      return {
        outputId: `out-${randomBytes(6).toString("hex")}`,
        modelId: "model-a",
        paymentKey: p,
        record,
        recordHash: hex(32),
        epoch: null,
        createdAt: clock(),
        ...over,
      };
    }

    describe("reserve", () => {
      it("reserves a new authorization, normalised to lower case", async () => {
        const l = await fresh();
        const input = paymentInput({ amount: "000123" });
        const upper = {
          ...input,
          asset: input.asset.toUpperCase().replace("0X", "0x"),
          payer: input.payer.toUpperCase().replace("0X", "0x"),
          nonce: input.nonce.toUpperCase().replace("0X", "0x"),
        };
        const r = await l.reserve(upper);
        expect(r.reserved).toBe(true);
        if (!r.reserved) return;
        expect(r.payment).toMatchObject({
          ...keyOf(input),
          payTo: input.payTo,
          amount: "123",
          status: "reserved",
          txHash: null,
          errorReason: null,
          modelId: "model-a",
          payload: input.payload,
        });
        expect(r.payment.createdAt).toBe(r.payment.updatedAt);
        expect(await l.getPayment(keyOf(input))).toEqual(r.payment);
      });

      it("a duplicate (a replay) gets the existing row, unchanged", async () => {
        const l = await fresh();
        const input = paymentInput();
        const first = await l.reserve(input);
        const again = await l.reserve({ ...input, amount: "999999", payload: "{}" });
        expect(again.reserved).toBe(false);
        if (again.reserved || !first.reserved) return;
        expect(again.existing).toEqual(first.payment);
      });

      it("100 concurrent reserves of one key: exactly one wins, all see the winner", async () => {
        const l = await fresh();
        const input = paymentInput();
        const results = await Promise.all(Array.from({ length: 100 }, (_, i) => l.reserve({ ...input, payload: `{"attempt":${i}}` })));
        const winners = results.filter((r) => r.reserved);
        expect(winners).toHaveLength(1);
        const winner = winners[0].reserved ? winners[0].payment : null;
        for (const r of results) if (!r.reserved) expect(r.existing).toEqual(winner);
        expect(await l.listPayments({})).toHaveLength(1);
      });

      it("each part of the key makes a different payment", async () => {
        const l = await fresh();
        const base = paymentInput();
        const variants = [
          base,
          { ...base, nonce: hex(32) },
          { ...base, payer: address() },
          { ...base, asset: address() },
          { ...base, network: "eip155:84532" },
        ];
        const results = await Promise.all(variants.map((v) => l.reserve(v)));
        expect(results.every((r) => r.reserved)).toBe(true);
        expect(await l.listPayments({})).toHaveLength(5);
      });

      it("keeps amounts exact up to uint256 and refuses anything that is not an unsigned integer string", async () => {
        const l = await fresh();
        const max = ((1n << 256n) - 1n).toString();
        const r = await l.reserve(paymentInput({ amount: max }));
        expect(r.reserved && r.payment.amount).toBe(max);
        for (const amount of ["1.5", "-1", "1e6", "", " 1", (1n << 256n).toString(), 5 as unknown as string]) {
          await expectLedgerError(l.reserve(paymentInput({ amount })), "invalid_input");
        }
        for (const over of [
          { payer: "0x1234" },
          { nonce: hex(31) },
          { asset: "not-an-address" },
          { network: "base" },
          { payTo: hex(21) },
        ]) {
          await expectLedgerError(l.reserve(paymentInput(over)), "invalid_input");
        }
        expect(await l.listPayments({})).toHaveLength(1);
      });
    });

    describe("transition (compare-and-set)", () => {
      it("follows reserved -> settling -> settled and records the transaction", async () => {
        const l = await fresh();
        const r = await l.reserve(paymentInput());
        if (!r.reserved) throw new Error("not reserved");
        const key = keyOf(r.payment);
        const settling = await l.transition(key, ["reserved"], "settling", { outputId: "out-1" });
        expect(settling).toMatchObject({ status: "settling", outputId: "out-1", txHash: null });
        expect(settling!.updatedAt).toBeGreaterThan(r.payment.updatedAt);
        const tx = hex(32);
        const settled = await l.transition(key, ["settling", "pending"], "settled", { txHash: tx.toUpperCase().replace("0X", "0x") });
        expect(settled).toMatchObject({ status: "settled", txHash: tx, outputId: "out-1" });
        expect(settled!.createdAt).toBe(r.payment.createdAt);
        expect(await l.getPayment(key)).toEqual(settled);
      });

      it("a metered (upto) settlement records the settled amount; totals and epoch inputs use it", async () => {
        const l = await fresh();
        const r = await l.reserve(paymentInput({ amount: "2000000", modelId: "model-a" }));
        if (!r.reserved) throw new Error("not reserved");
        const key = keyOf(r.payment);
        await expectLedgerError(l.transition(key, ["reserved"], "settling", { amount: "-1" }), "invalid_input");
        expect(await l.transition(key, ["reserved"], "settling", { outputId: "out-m", amount: "0087" })).toMatchObject({ amount: "87" });
        expect(await l.transition(key, ["settling"], "settled", { txHash: hex(32) })).toMatchObject({ status: "settled", amount: "87" });
        await l.putOutput(outputFor(key, { outputId: "out-m" }));
        expect((await l.listUnassignedSettledOutputs("model-a")).map((o) => o.amount)).toEqual(["87"]);
        expect(await l.modelTotals()).toEqual([{ modelId: "model-a", payments: 1, revenue: "87" }]);
      });

      it("refuses when the payment is not in an allowed state, and changes nothing", async () => {
        const l = await fresh();
        const r = await l.reserve(paymentInput());
        if (!r.reserved) throw new Error("not reserved");
        const key = keyOf(r.payment);
        expect(await l.transition(key, ["settling", "pending"], "settled")).toBeNull();
        expect(await l.getPayment(key)).toEqual(r.payment);
        expect(await l.transition(keyOf(paymentInput()), ["reserved"], "released")).toBeNull(); // unknown payment
      });

      it("20 concurrent transitions from reserved: exactly one succeeds", async () => {
        const l = await fresh();
        const r = await l.reserve(paymentInput());
        if (!r.reserved) throw new Error("not reserved");
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => l.transition(keyOf(r.payment), ["reserved"], i % 2 ? "settling" : "released")),
        );
        const winners = results.filter((x) => x !== null);
        expect(winners).toHaveLength(1);
        expect((await l.getPayment(keyOf(r.payment)))!.status).toBe(winners[0]!.status);
      });

      it("rejects edges outside the state machine, whatever the current state", async () => {
        const l = await fresh();
        const p = await settledPayment(l);
        await expectLedgerError(l.transition(keyOf(p), ["settled"], "released"), "invalid_transition");
        await expectLedgerError(l.transition(keyOf(p), ["settled"], "reserved"), "invalid_transition");
        await expectLedgerError(l.transition(keyOf(p), ["reserved", "settled"], "failed"), "invalid_transition");
        await expectLedgerError(l.transition(keyOf(p), [], "settled"), "invalid_input");
        await expectLedgerError(l.transition(keyOf(p), ["reserved"], "done" as PaymentStatus), "invalid_input");
        expect((await l.getPayment(keyOf(p)))!.status).toBe("settled");
      });

      it("fields: undefined keeps, null clears; pending can record a replacement tx; failed can become settled", async () => {
        const l = await fresh();
        const r = await l.reserve(paymentInput());
        if (!r.reserved) throw new Error("not reserved");
        const key = keyOf(r.payment);
        const tx1 = hex(32);
        const tx2 = hex(32);
        await l.transition(key, ["reserved"], "settling", { outputId: "out-9" });
        expect(await l.transition(key, ["settling"], "pending", { txHash: tx1, errorReason: "slow" })).toMatchObject({
          txHash: tx1,
          errorReason: "slow",
          outputId: "out-9",
        });
        expect(await l.transition(key, ["pending"], "pending", { txHash: tx2 })).toMatchObject({ txHash: tx2, errorReason: "slow" });
        expect(await l.transition(key, ["pending"], "failed", { errorReason: "transaction_failed" })).toMatchObject({
          status: "failed",
          txHash: tx2,
          errorReason: "transaction_failed",
        });
        expect(await l.transition(key, ["failed"], "settled", { errorReason: null })).toMatchObject({
          status: "settled",
          txHash: tx2,
          errorReason: null,
          outputId: "out-9",
        });
        await expectLedgerError(l.transition(key, ["settled"], "settled", { txHash: "0x12" }), "invalid_transition");
      });
    });

    describe("retry and re-signing edges", () => {
      it("a released payment can be reserved again, by exactly one of 20 concurrent retries", async () => {
        const l = await fresh();
        const r = await l.reserve(paymentInput());
        if (!r.reserved) throw new Error("not reserved");
        const key = keyOf(r.payment);
        await l.transition(key, ["reserved"], "released", { errorReason: "handler_status_500" });
        const tries = await Promise.all(
          Array.from({ length: 20 }, () => l.transition(key, ["released"], "reserved", { errorReason: null })),
        );
        expect(tries.filter((t) => t !== null)).toHaveLength(1);
        expect(tries.find((t) => t !== null)).toMatchObject({ status: "reserved", errorReason: null });
        expect((await l.getPayment(key))!.status).toBe("reserved");
        // a settled or failed payment never goes back
        await l.transition(key, ["reserved"], "settled", { txHash: hex(32) });
        await expectLedgerError(l.transition(key, ["settled"], "reserved"), "invalid_transition");
        await expectLedgerError(l.transition(key, ["failed"], "reserved"), "invalid_transition");
      });

      it("settling records a re-signed transaction's hash, and gives the reservation back if nothing was sent", async () => {
        const l = await fresh();
        const r = await l.reserve(paymentInput());
        if (!r.reserved) throw new Error("not reserved");
        const key = keyOf(r.payment);
        const [tx1, tx2] = [hex(32), hex(32)];
        expect(await l.transition(key, ["reserved"], "settling", { txHash: tx1 })).toMatchObject({ status: "settling", txHash: tx1 });
        expect(await l.transition(key, ["reserved", "settling"], "settling", { txHash: tx2 })).toMatchObject({
          status: "settling",
          txHash: tx2,
        });
        expect(
          await l.transition(key, ["reserved", "settling"], "released", { txHash: null, errorReason: "chain_unavailable" }),
        ).toMatchObject({ status: "released", txHash: null });
        expect(await l.transition(key, ["released"], "reserved")).toMatchObject({ status: "reserved" });
      });
    });

    describe("held outputs", () => {
      const held = (key: PaymentKey, over: Partial<HeldOutput> = {}): HeldOutput => ({
        ...key,
        outputId: `out-${hex(4)}`,
        tokenHash: randomBytes(32).toString("hex"),
        statusCode: 200,
        contentType: "application/json; charset=utf-8",
        body: new Uint8Array(Buffer.from(JSON.stringify({ text: "a paid output ✓" }))),
        createdAt: 1_700_000_000_123,
        ...over,
      });

      it("keeps a pending payment's output with its bytes, and reads it back with the payment's current state", async () => {
        const l = await fresh();
        const r = await l.reserve(paymentInput());
        if (!r.reserved) throw new Error("not reserved");
        const key = keyOf(r.payment);
        await l.transition(key, ["reserved"], "pending", { txHash: hex(32), errorReason: "settlement_pending" });
        const h = held(key, { body: new Uint8Array([0, 255, 1, 254, ...Buffer.from("bytes")]) });
        await l.holdOutput(h);
        await l.holdOutput({ ...h, createdAt: h.createdAt + 1 }); // same output again: a no-op
        const got = await l.getHeldOutput(h.outputId);
        expect(got?.output).toEqual(h);
        expect(got?.payment).toMatchObject({ ...key, status: "pending" });
        await l.transition(key, ["pending"], "settled");
        expect((await l.getHeldOutput(h.outputId))?.payment.status).toBe("settled");
        expect(await l.getHeldOutput("missing")).toBeNull();
      });

      it("refuses a second output for one payment, an output id held for another payment, and an unknown payment", async () => {
        const l = await fresh();
        const [a, b] = [await l.reserve(paymentInput()), await l.reserve(paymentInput())];
        if (!a.reserved || !b.reserved) throw new Error("not reserved");
        const h = held(keyOf(a.payment));
        await l.holdOutput(h);
        await expectLedgerError(l.holdOutput(held(keyOf(a.payment))), "output_conflict");
        await expectLedgerError(l.holdOutput(held(keyOf(b.payment), { outputId: h.outputId })), "output_conflict");
        await expectLedgerError(l.holdOutput(held(keyOf(paymentInput()))), "unknown_payment");
        await expectLedgerError(l.holdOutput(held(keyOf(b.payment), { statusCode: 500 })), "invalid_input");
        await expectLedgerError(l.holdOutput(held(keyOf(b.payment), { tokenHash: "plain-token" })), "invalid_input");
        expect((await l.getHeldOutput(h.outputId))?.output).toEqual(h);
      });
    });

    describe("settling in fewer writes", () => {
      const heldFor = (key: PaymentKey, outputId = `out-${hex(4)}`): HeldOutput => ({
        ...key,
        outputId,
        tokenHash: randomBytes(32).toString("hex"),
        statusCode: 200,
        contentType: null,
        body: new Uint8Array(Buffer.from("paid")),
        createdAt: 1_700_000_000_000,
      });

      it("holdAndTransition keeps the output and moves the payment; a refused move or a conflicting output says so", async () => {
        const l = await fresh();
        const [a, b] = [await l.reserve(paymentInput()), await l.reserve(paymentInput())];
        if (!a.reserved || !b.reserved) throw new Error("not reserved");
        const h = heldFor(keyOf(a.payment));
        const first = await l.holdAndTransition(h, ["reserved"], "settling", { outputId: h.outputId });
        expect([first.row?.status, first.row?.outputId, first.held, first.holdError]).toEqual(["settling", h.outputId, true, undefined]);
        expect(await l.getHeldOutput(h.outputId)).toMatchObject({ output: h, payment: { status: "settling" } });
        // Again (a replay): the move is refused; the output held stays.
        expect((await l.holdAndTransition(h, ["reserved"], "settling")).row).toBeNull();
        const retried = await l.holdAndTransition(h, ["settling"], "settling", { txHash: hex(32) }); // the same output: kept
        expect([retried.row?.status, retried.held]).toEqual(["settling", true]);
        // Another payment naming the same output id: it moves, the output is not kept.
        const clash = await l.holdAndTransition(heldFor(keyOf(b.payment), h.outputId), ["reserved"], "settling");
        expect([clash.row?.status, clash.held, (clash.holdError as { code?: string }).code]).toEqual([
          "settling",
          false,
          "output_conflict",
        ]);
        const unknown = await l.holdAndTransition(heldFor(keyOf(paymentInput())), ["reserved"], "settling");
        expect([unknown.row, unknown.held, (unknown.holdError as { code?: string }).code]).toEqual([null, false, "unknown_payment"]);
      });

      it("journalBroadcast writes the hashes asked for in one turn, each answered by its own compare-and-set", async () => {
        const l = await fresh();
        const keys: PaymentKey[] = [];
        for (let i = 0; i < 4; i++) {
          const r = await l.reserve(paymentInput());
          if (!r.reserved) throw new Error("not reserved");
          keys.push(keyOf(r.payment));
        }
        for (const k of keys.slice(0, 3)) await l.transition(k, ["reserved"], "settling");
        const [tx, replaced] = [hex(32), hex(32)];
        const answers = await Promise.all([
          ...keys.map((k) => l.journalBroadcast(k, tx)),
          l.journalBroadcast(keys[2], replaced), // the same payment again in this turn: written after
        ]);
        expect(answers).toEqual([true, true, true, false, true]);
        const rows = await Promise.all(keys.map((k) => l.getPayment(k)));
        expect(rows.map((r) => [r?.status, r?.txHash])).toEqual([
          ["settling", tx],
          ["settling", tx],
          ["settling", replaced],
          ["reserved", null],
        ]);
        await expectLedgerError(
          Promise.resolve().then(() => l.journalBroadcast(keys[0], "0x12")),
          "invalid_input",
        );
      });
    });

    describe("payment identifiers", () => {
      const claimOf = (paymentId: string) => ({
        paymentId,
        requestHash: randomBytes(32).toString("hex"),
        key: keyOf(paymentInput()),
      });

      it("the first claim of an id wins; later claims read it back; unknown and malformed ids read as null", async () => {
        const l = await fresh();
        const first = claimOf("pay_0123456789abcdef");
        expect(await l.claimPaymentId(first)).toEqual({ claimed: true });
        expect(await l.getPaymentId(first.paymentId)).toEqual(first);
        expect(await l.claimPaymentId(claimOf(first.paymentId))).toEqual({ claimed: false, existing: first });
        expect(await l.getPaymentId("pay_unknown_0000000000")).toBeNull();
        expect(await l.getPaymentId("short")).toBeNull();
        await expectLedgerError(l.claimPaymentId(claimOf("bad id with spaces!")), "invalid_input");
      });

      it("20 concurrent claims of one id: exactly one wins, all see the winner", async () => {
        const l = await fresh();
        const claims = Array.from({ length: 20 }, () => claimOf("pay_concurrent_claims_1"));
        const results = await Promise.all(claims.map((c) => l.claimPaymentId(c)));
        const winners = results.flatMap((r, i) => (r.claimed ? [claims[i]] : []));
        expect(winners).toHaveLength(1);
        for (const r of results) if (!r.claimed) expect(r.existing).toEqual(winners[0]);
      });
    });

    describe("listPayments", () => {
      it("filters by status, model and updatedAt, orders and limits", async () => {
        const l = await fresh();
        const a = await l.reserve(paymentInput({ modelId: "model-a" }));
        const b = await l.reserve(paymentInput({ modelId: "model-b" }));
        const c = await l.reserve(paymentInput({ modelId: "model-a" }));
        if (!a.reserved || !b.reserved || !c.reserved) throw new Error("not reserved");
        const settledA = (await l.transition(keyOf(a.payment), ["reserved"], "settled", { txHash: hex(32) }))!;
        await l.transition(keyOf(b.payment), ["reserved"], "released");

        const nonces = (ps: PaymentRecord[]) => ps.map((p) => p.nonce);
        const [na, nb, nc] = [a.payment.nonce, b.payment.nonce, c.payment.nonce];
        // updatedAt order: c (reserved), a (settled), b (released)
        expect(nonces(await l.listPayments({}))).toEqual([nc, na, nb]);
        expect(nonces(await l.listPayments({ order: "desc" }))).toEqual([nb, na, nc]);
        expect(nonces(await l.listPayments({ status: ["settled"] }))).toEqual([na]);
        expect(nonces(await l.listPayments({ status: ["reserved", "released"] }))).toEqual([nc, nb]);
        expect(await l.listPayments({ status: [] })).toEqual([]);
        expect(nonces(await l.listPayments({ modelId: "model-a" }))).toEqual([nc, na]);
        expect(nonces(await l.listPayments({ modelId: "model-a", status: ["reserved"] }))).toEqual([nc]);
        expect(nonces(await l.listPayments({ modelId: "model-c" }))).toEqual([]);
        expect(nonces(await l.listPayments({ afterUpdatedAt: c.payment.updatedAt }))).toEqual([na, nb]);
        expect(nonces(await l.listPayments({ afterUpdatedAt: settledA.updatedAt }))).toEqual([nb]);
        expect(nonces(await l.listPayments({ limit: 2 }))).toEqual([nc, na]);
        expect(nonces(await l.listPayments({ limit: 1, order: "desc", modelId: "model-a" }))).toEqual([na]);
        expect(
          nonces(await l.listPayments({ afterUpdatedAt: c.payment.updatedAt, status: ["released"], modelId: "model-b", order: "desc" })),
        ).toEqual([nb]);
        await expectLedgerError(l.listPayments({ status: ["nope" as PaymentStatus] }), "invalid_input");
      });
    });

    describe("outputs", () => {
      it("stores, reads back, and treats a retried put as a no-op", async () => {
        const l = await fresh();
        const p = await settledPayment(l);
        const o = outputFor(keyOf(p));
        await l.putOutput(o);
        expect(await l.getOutput(o.outputId)).toEqual(o);
        await l.putOutput({ ...o, createdAt: o.createdAt + 5 });
        expect(await l.getOutput(o.outputId)).toEqual(o);
        expect(await l.getOutput("missing")).toBeNull();
        const free = outputFor(null, { modelId: "model-b" });
        await l.putOutput(free);
        expect(await l.getOutput(free.outputId)).toEqual(free);
      });

      it("refuses a changed record, an unknown payment, and a second output for one payment", async () => {
        const l = await fresh();
        const p = await settledPayment(l);
        const o = outputFor(keyOf(p));
        await l.putOutput(o);
        await expectLedgerError(l.putOutput({ ...o, recordHash: hex(32) }), "output_conflict");
        await expectLedgerError(l.putOutput({ ...o, record: "{}" }), "output_conflict");
        await expectLedgerError(l.putOutput(outputFor(keyOf(paymentInput()))), "unknown_payment");
        await expectLedgerError(l.putOutput(outputFor(keyOf(p))), "payment_has_output");
        await expectLedgerError(l.putOutput({ ...o, outputId: "x", recordHash: "0x1234" }), "invalid_input");
        expect(await l.getOutput(o.outputId)).toEqual(o);
      });

      it("lists unassigned outputs of settled payments per model, oldest first, with amounts", async () => {
        const l = await fresh();
        const p1 = await settledPayment(l, { amount: "100" });
        const p2 = await settledPayment(l, { amount: "250" });
        const pOther = await settledPayment(l, { modelId: "model-b" });
        const reserved = await l.reserve(paymentInput());
        if (!reserved.reserved) throw new Error("not reserved");
        const o2 = outputFor(keyOf(p2));
        const o1 = outputFor(keyOf(p1));
        const oReserved = outputFor(keyOf(reserved.payment));
        const oOther = outputFor(keyOf(pOther), { modelId: "model-b" });
        for (const o of [o2, o1, oReserved, oOther]) await l.putOutput(o);

        const listed = await l.listUnassignedSettledOutputs("model-a");
        expect(listed).toEqual([
          { ...o2, amount: "250" },
          { ...o1, amount: "100" },
        ]);
        expect(await l.listUnassignedSettledOutputs("model-a", 1)).toEqual([{ ...o2, amount: "250" }]);
        expect((await l.listUnassignedSettledOutputs("model-b")).map((o) => o.outputId)).toEqual([oOther.outputId]);

        // Once its payment settles, the reserved one appears too.
        await l.transition(keyOf(reserved.payment), ["reserved"], "settled", { txHash: hex(32) });
        expect((await l.listUnassignedSettledOutputs("model-a")).map((o) => o.outputId)).toEqual([
          o2.outputId,
          o1.outputId,
          oReserved.outputId,
        ]);
      });

      it("lists epoch candidates with their records as stored, and looks up many outputs' epochs at once", async () => {
        const l = await fresh();
        const outs: OutputRecord[] = [];
        for (const amount of ["5", "6", "7"]) {
          const o = outputFor(keyOf(await settledPayment(l, { amount })));
          await l.putOutput(o);
          outs.push(o);
        }
        const listed = await l.listUnassignedSettledOutputs("model-a");
        const candidates = await l.listEpochCandidates("model-a", 10);
        // The same outputs, in the same order, with the same amounts; records packed, unpacking to the same text.
        expect(candidates.map((c) => [c.outputId, c.amount])).toEqual(listed.map((o) => [o.outputId, o.amount]));
        expect(candidates.map((c) => (typeof c.record === "string" ? c.record : unpackRecord(c.record)))).toEqual(
          listed.map((o) => o.record),
        );
        expect(candidates.every((c) => c.record instanceof Uint8Array)).toBe(true);
        expect((await l.listEpochCandidates("model-a", 2)).length).toBe(2);

        await l.assignOutputsToEpoch([outs[0].outputId], 1);
        const epochs = await l.outputEpochs([outs[0].outputId, outs[1].outputId, hex(32)]);
        expect(epochs).toEqual(
          new Map([
            [outs[0].outputId, 1],
            [outs[1].outputId, null],
          ]),
        );
        expect((await l.listEpochCandidates("model-a", 10)).map((c) => c.outputId)).toEqual([outs[1].outputId, outs[2].outputId]);
        // More ids than one statement takes.
        const many = [...Array.from({ length: 2500 }, () => hex(32)), outs[2].outputId];
        expect(await l.outputEpochs(many)).toEqual(new Map([[outs[2].outputId, null]]));
      });

      it("lists and assigns more outputs than one statement takes: same order across pages (ties too), still all-or-nothing", async () => {
        const l = await fresh();
        const ids: string[] = [];
        for (let i = 0; i < 1010; i++) {
          // Seven outputs per millisecond: pages end in the middle of a tie.
          const o = outputFor(keyOf(await settledPayment(l)), { createdAt: 1_000_000 + Math.floor(i / 7) });
          await l.putOutput(o);
          ids.push(o.outputId);
        }
        const listed = (await l.listUnassignedSettledOutputs("model-a")).map((o) => o.outputId);
        expect(listed).toHaveLength(1010);
        expect((await l.listEpochCandidates("model-a", 5000)).map((c) => c.outputId)).toEqual(listed);
        expect((await l.listEpochCandidates("model-a", 1005)).map((c) => c.outputId)).toEqual(listed.slice(0, 1005));
        // The unknown id is in the last statement: the ones before it are undone.
        await expectLedgerError(l.assignOutputsToEpoch([...ids, "missing"], 1), "output_not_assignable");
        expect(await l.listUnassignedSettledOutputs("model-a")).toHaveLength(1010);
        await l.assignOutputsToEpoch(ids, 1);
        expect(await l.listEpochCandidates("model-a", 5000)).toEqual([]);
        expect(await l.listEpochOutputs("model-a", 1)).toHaveLength(1010);
      });

      it("a failed assignment leaves none of the epoch's outputs assigned (an interrupted attempt's too); a retry finishes", async () => {
        const l = await fresh();
        const ids: string[] = [];
        for (let i = 0; i < 600; i++) {
          const o = outputFor(keyOf(await settledPayment(l)));
          await l.putOutput(o);
          ids.push(o.outputId);
        }
        // A crash part-way through epoch 1's assignment left its first 300 outputs assigned.
        await l.assignOutputsToEpoch(ids.slice(0, 300), 1);
        // The unknown id is in the last statement: the ones before it and the earlier attempt are undone.
        await expectLedgerError(l.assignOutputsToEpoch([...ids, "missing"], 1), "output_not_assignable");
        expect(await l.listUnassignedSettledOutputs("model-a")).toHaveLength(600);
        expect(await l.listEpochOutputs("model-a", 1)).toEqual([]);
        // Interrupted again, then finished by the next attempt (the closer's resume).
        await l.assignOutputsToEpoch(ids.slice(0, 300), 1);
        await l.assignOutputsToEpoch(ids, 1);
        expect(await l.listEpochOutputs("model-a", 1)).toHaveLength(600);
        expect(await l.listUnassignedSettledOutputs("model-a")).toEqual([]);
        // Outputs of another epoch are never taken out of it by a failed one.
        await expectLedgerError(l.assignOutputsToEpoch([ids[599], ...ids.slice(0, 10)], 2), "output_not_assignable");
        expect(await l.listEpochOutputs("model-a", 1)).toHaveLength(600);
      });

      it("assigns outputs to an epoch all-or-nothing", async () => {
        const l = await fresh();
        const outs: OutputRecord[] = [];
        for (let i = 0; i < 3; i++) {
          const o = outputFor(keyOf(await settledPayment(l, { amount: String(10 + i) })));
          await l.putOutput(o);
          outs.push(o);
        }
        const unsettled = await l.reserve(paymentInput());
        if (!unsettled.reserved) throw new Error("not reserved");
        const oUnsettled = outputFor(keyOf(unsettled.payment));
        await l.putOutput(oUnsettled);

        await l.assignOutputsToEpoch([outs[0].outputId, outs[1].outputId, outs[0].outputId], 1);
        expect((await l.listUnassignedSettledOutputs("model-a")).map((o) => o.outputId)).toEqual([outs[2].outputId]);
        expect(await l.listEpochOutputs("model-a", 1)).toEqual([
          { ...outs[0], epoch: 1, amount: "10" },
          { ...outs[1], epoch: 1, amount: "11" },
        ]);
        expect((await l.getOutput(outs[0].outputId))!.epoch).toBe(1);
        await l.assignOutputsToEpoch([outs[0].outputId], 1); // same epoch again: no-op

        // One bad id (already in epoch 1 / unknown / unsettled) and nothing moves.
        for (const bad of [outs[0].outputId, "missing", oUnsettled.outputId]) {
          await expectLedgerError(l.assignOutputsToEpoch([outs[2].outputId, bad], 2), "output_not_assignable");
          expect((await l.getOutput(outs[2].outputId))!.epoch).toBeNull();
        }
        expect(await l.listEpochOutputs("model-a", 2)).toEqual([]);
        await l.assignOutputsToEpoch([], 2);
        await l.assignOutputsToEpoch([outs[2].outputId], 2);
        expect((await l.listEpochOutputs("model-a", 2)).map((o) => o.outputId)).toEqual([outs[2].outputId]);
        expect(await l.listUnassignedSettledOutputs("model-a")).toEqual([]);
      });

      it("lists the outputs a transaction settled (a channel link's), with amounts and epochs; pending ones are left out", async () => {
        const l = await fresh();
        const link = hex(32);
        const linked: OutputRecord[] = [];
        for (const amount of ["7", "9"]) {
          const r = await l.reserve(paymentInput({ amount }));
          if (!r.reserved) throw new Error("not reserved");
          const o = outputFor(keyOf(r.payment));
          await l.putOutput(o);
          await l.transition(keyOf(r.payment), ["reserved"], "pending", { txHash: null });
          linked.push(o);
        }
        expect(await l.listOutputsPaidIn(link)).toEqual([]); // pending: not settled by the link yet
        await l.transition(keyOf(linked[0].paymentKey!), ["pending"], "settled", { txHash: link });
        await l.transition(keyOf(linked[1].paymentKey!), ["pending"], "settled", { txHash: link.toUpperCase().replace("0X", "0x") });
        const other = outputFor(keyOf(await settledPayment(l)));
        await l.putOutput(other);
        await l.assignOutputsToEpoch([linked[0].outputId], 1);
        const listed = await l.listOutputsPaidIn(link.toUpperCase().replace("0X", "0x"));
        expect(listed.sort((a, b) => Number(a.amount) - Number(b.amount))).toEqual([
          { outputId: linked[0].outputId, amount: "7", epoch: 1 },
          { outputId: linked[1].outputId, amount: "9", epoch: null },
        ]);
      });

      it("two instances closing an epoch at once: one assigns, the other is refused", async () => {
        const db = newDb();
        const [l1, l2] = [await open(db), await open(db)];
        const ids: string[] = [];
        for (let i = 0; i < 10; i++) {
          const o = outputFor(keyOf(await settledPayment(l1)));
          await l1.putOutput(o);
          ids.push(o.outputId);
        }
        const results = await Promise.allSettled([l1.assignOutputsToEpoch(ids, 1), l2.assignOutputsToEpoch([...ids].reverse(), 2)]);
        expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
        const rejected = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
        expect(isLedgerError(rejected.reason, "output_not_assignable")).toBe(true);
        const epochs = new Set((await Promise.all(ids.map((id) => l2.getOutput(id)))).map((o) => o!.epoch));
        expect(epochs.size).toBe(1);
      });
    });

    describe("epochs", () => {
      const splitter = address();
      const epochRecord = (epoch: number, over: Partial<EpochRecord> = {}): EpochRecord => ({
        splitter,
        epoch,
        claimsRoot: hex(32),
        recordsRoot: hex(32),
        cumulativeAllocated: "1000000",
        uri: `ipfs://epoch-${epoch}`,
        txHash: null,
        status: "built",
        document: JSON.stringify({ epoch }),
        createdAt: 1_700_000_000_000 + epoch,
        ...over,
      });

      it("stores, updates while built, and lists per splitter in order", async () => {
        const l = await fresh();
        const other = address();
        const e2 = epochRecord(2);
        await l.putEpoch(e2);
        await l.putEpoch({ ...epochRecord(1), splitter: splitter.toUpperCase().replace("0X", "0x") });
        await l.putEpoch(epochRecord(1, { splitter: other }));
        expect(await l.getEpoch(splitter, 2)).toEqual(e2);
        expect(await l.getEpoch(splitter, 3)).toBeNull();
        expect((await l.listEpochs(splitter)).map((e) => e.epoch)).toEqual([1, 2]);
        expect(await l.listEpochs()).toHaveLength(3);
        expect((await l.listEpochs(other)).map((e) => [e.splitter, e.epoch])).toEqual([[other, 1]]);

        const rebuilt = { ...e2, claimsRoot: hex(32), cumulativeAllocated: "2000000", createdAt: e2.createdAt + 99 };
        await l.putEpoch(rebuilt);
        expect(await l.getEpoch(splitter, 2)).toEqual({ ...rebuilt, createdAt: e2.createdAt });
      });

      it("once posted, status and tx may change but the roots may not", async () => {
        const l = await fresh();
        const e = epochRecord(1);
        await l.putEpoch(e);
        const posted = { ...e, status: "posted" as const, txHash: hex(32) };
        await l.putEpoch(posted);
        await l.putEpoch({ ...posted, status: "active" });
        expect((await l.getEpoch(splitter, 1))!.status).toBe("active");
        await expectLedgerError(l.putEpoch({ ...posted, claimsRoot: hex(32) }), "epoch_conflict");
        await expectLedgerError(l.putEpoch({ ...posted, cumulativeAllocated: "1000001" }), "epoch_conflict");
        await expectLedgerError(l.putEpoch({ ...posted, status: "done" as EpochRecord["status"] }), "invalid_input");
        expect(await l.getEpoch(splitter, 1)).toEqual({ ...posted, status: "active" });
      });
    });

    describe("contributions", () => {
      it("numbers contributions 0, 1, 2… per datanet in registration order", async () => {
        const l = await fresh();
        const alice = address();
        const c0 = await l.addContribution({
          datanetId: "dn-1",
          contributor: alice.toUpperCase().replace("0X", "0x"),
          contentHash: hex(32),
          text: "first",
        });
        const d0 = await l.addContribution({ datanetId: "dn-2", contributor: address(), contentHash: hex(32), text: "other" });
        const c1 = await l.addContribution({ datanetId: "dn-1", contributor: address(), contentHash: hex(32), text: "second" });
        expect([c0.seq, c1.seq, d0.seq]).toEqual([0, 1, 0]);
        expect(c0.contributor).toBe(alice);
        expect(c1.createdAt).toBeGreaterThan(c0.createdAt);
        expect(await l.listContributions("dn-1")).toEqual([c0, c1]);
        expect(await l.listContributions("dn-1", 1)).toEqual([c1]); // the new ones only (a delta index)
        expect(await l.listContributions("dn-3")).toEqual([]);
        await expectLedgerError(
          l.addContribution({ datanetId: "dn-1", contributor: "0x1", contentHash: hex(32), text: "x" }),
          "invalid_input",
        );
        expect(await l.listContributions("dn-1")).toHaveLength(2);
      });

      it("two instances adding at once get distinct, gapless seq numbers", async () => {
        const db = newDb();
        const [l1, l2] = [await open(db), await open(db)];
        const added = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            (i % 2 ? l1 : l2).addContribution({ datanetId: "dn", contributor: address(), contentHash: hex(32), text: `t${i}` }),
          ),
        );
        expect(added.map((c) => c.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
        expect((await l1.listContributions("dn")).map((c) => c.seq)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      });
    });

    describe("migrations", () => {
      it("are idempotent and keep the data", async () => {
        const db = newDb();
        const l = await open(db);
        const r = await l.reserve(paymentInput());
        await l.migrate();
        await l.migrate();
        const again = await open(db);
        expect(await again.appliedMigrations()).toEqual(backend.migrations.map((m) => ({ version: m.version, name: m.name })));
        expect(await again.getPayment(keyOf(r.reserved ? r.payment : r.existing))).not.toBeNull();
      });

      it("apply only the new ones, in order, and refuse a rewritten history", async () => {
        const db = newDb();
        await open(db);
        const extended = [...backend.migrations, backend.extraMigration(1000, "extra_a"), backend.extraMigration(1001, "extra_b")];
        const l = await open(db, { migrations: extended });
        expect((await l.appliedMigrations()).map((m) => m.version)).toEqual(extended.map((m) => m.version));
        await l.migrate(); // would fail with "table exists" if anything ran twice
        const rewritten = backend.migrations.map((m) => ({ ...m, name: `${m.name}_changed` }));
        const wrong = await open(db, { migrations: rewritten, migrate: false });
        await expectLedgerError(wrong.migrate(), "migration_mismatch");
      });

      it("a column added by a newer instance does not break an older one mid-flight", async () => {
        const db = newDb();
        const old = await open(db);
        const first = await old.reserve(paymentInput());
        const key = keyOf(first.reserved ? first.payment : first.existing);
        // Prepare the statements on `old`'s (idle, reused) connection.
        await old.getPayment(key);
        await old.listPayments({ status: ["reserved"] });
        const addColumn: Migration = { version: 1000, name: "payments_note", sql: "ALTER TABLE payments ADD COLUMN note TEXT" };
        await open(db, { migrations: [...backend.migrations, addColumn] });
        expect(await old.getPayment(key)).not.toBeNull();
        expect((await old.reserve(paymentInput())).reserved).toBe(true);
        expect(await old.listPayments({ status: ["reserved"] })).toHaveLength(2);
      });

      it("two instances starting at once on an empty database both succeed", async () => {
        const db = newDb();
        const [l1, l2] = [await open(db, { migrate: false }), await open(db, { migrate: false })];
        await Promise.all([l1.migrate(), l2.migrate()]);
        expect(await l1.appliedMigrations()).toEqual(await l2.appliedMigrations());
        expect((await l1.appliedMigrations()).length).toBe(backend.migrations.length);
      });
    });

    describe("several instances on one database", () => {
      it("race reserve on the same keys: one winner per key", async () => {
        const db = newDb();
        const instances = [await open(db), await open(db)];
        const inputs = Array.from({ length: 25 }, () => paymentInput());
        const results = await Promise.all(
          inputs.flatMap((input) => [0, 1, 0, 1].map((i) => instances[i].reserve(input).then((r) => ({ nonce: input.nonce, r })))),
        );
        for (const input of inputs) {
          const mine = results.filter((x) => x.nonce === input.nonce);
          expect(mine.filter((x) => x.r.reserved)).toHaveLength(1);
        }
        expect(await instances[1].listPayments({})).toHaveLength(25);
      });

      it("see each other's writes", async () => {
        const db = newDb();
        const [l1, l2] = [await open(db), await open(db)];
        const p = await settledPayment(l1);
        expect(await l2.getPayment(keyOf(p))).toEqual(p);
        expect(await l2.transition(keyOf(p), ["reserved"], "settling")).toBeNull();
      });
    });

    it("refuses use after close", async () => {
      const l = await fresh();
      await l.close();
      await l.close(); // idempotent
      await expectLedgerError(l.getPayment(keyOf(paymentInput())), "ledger_closed");
    });
  });
}
