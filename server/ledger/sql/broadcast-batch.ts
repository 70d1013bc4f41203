// The transaction hash of payments being settled, journalled before the broadcast: the facilitator
// asks for every payment of a batch transaction in the same turn, so the hashes asked for in one
// turn are written by one UPDATE (one round trip on PostgreSQL instead of one per payment). Each
// caller still gets its own compare-and-set answer: true if its payment was still settling.
import { keyId } from "@royalty402/fastify-x402";
import type { Dialect } from "../dialect.ts";
import * as norm from "../normalize.ts";
import type { PaymentKey } from "../types.ts";
import type { Db } from "./db.ts";

interface Journal {
  key: PaymentKey;
  txHash: string;
  resolve: (journalled: boolean) => void;
  reject: (error: unknown) => void;
}

/** Per ledger, the hashes asked for in this turn (written at its end). */
const open = new WeakMap<Db, Map<string, Journal>>();

export function journalSoon(db: Db, key: PaymentKey, txHash: string): Promise<boolean> {
  const k = norm.paymentKey(key);
  const hash = norm.txHash("txHash", txHash);
  return new Promise((resolve, reject) => {
    let batch = open.get(db);
    // The same payment twice in one turn: the later hash goes into the next batch, written after.
    if (!batch || batch.has(keyId(k))) batch = startBatch(db);
    batch.set(keyId(k), { key: k, txHash: hash, resolve, reject });
  });
}

function startBatch(db: Db): Map<string, Journal> {
  const batch = new Map<string, Journal>();
  open.set(db, batch);
  // Written once the turn's callers have asked (the facilitator calls them all in one turn).
  Promise.resolve()
    .then(() => {
      if (open.get(db) === batch) open.delete(db);
      return writeAll(db, [...batch.values()]);
    })
    .then(
      (journalled) => {
        for (const [id, j] of batch) j.resolve(journalled.has(id));
      },
      (error: unknown) => {
        for (const j of batch.values()) j.reject(error);
      },
    );
  return batch;
}

/** settling → settling with the new hash, for every payment of the batch still settling; their key ids. */
async function writeAll(db: Db, batch: Journal[]): Promise<Set<string>> {
  // In key order: two instances journalling overlapping payments lock their rows in the same order.
  const ordered = [...batch].sort((a, b) => (keyId(a.key) < keyId(b.key) ? -1 : 1));
  const tuples = ordered.map(({ key: k, txHash }) => [k.network, k.asset, k.payer, k.nonce, "settling", txHash]);
  const { rows } = await db.exec.write((tx) => tx.query(journalStatement(db.d), { journal: JSON.stringify(tuples), now: db.now() }), false);
  return new Set(rows.map((r) => keyId(r as unknown as PaymentKey)));
}

/**
 * The journalling UPDATE. The expected status comes with each tuple, not as a constant: with
 * `status = 'settling'` SQLite's planner walked every settling payment (by the status index) and
 * scanned the whole batch for each; tied to the tuple, it looks each payment up by its key.
 */
export function journalStatement(d: Dialect): string {
  const columns = ["v_network", "v_asset", "v_payer", "v_nonce", "v_status", "v_tx_hash"];
  return `UPDATE payments SET tx_hash = v.v_tx_hash, updated_at = ${d.greatest("updated_at", "CAST($now AS BIGINT)")}
     FROM (${d.tupleRows("$journal", columns)}) v
     WHERE network = v.v_network AND asset = v.v_asset AND payer = v.v_payer AND nonce = v.v_nonce AND status = v.v_status
     RETURNING payments.network, payments.asset, payments.payer, payments.nonce`;
}
