// Payment identifiers (the x402 payment-identifier extension): the first request to claim an id
// keeps it (the primary key picks one winner); later requests read what it was bound to.
import { LedgerError } from "../errors.ts";
import * as norm from "../normalize.ts";
import type { PaymentIdClaim } from "../types.ts";
import type { Db } from "./db.ts";

const ID = /^[a-zA-Z0-9_-]{16,128}$/;
const HASH = /^[0-9a-f]{64}$/;

function claimInput(c: PaymentIdClaim): PaymentIdClaim {
  if (typeof c?.paymentId !== "string" || !ID.test(c.paymentId))
    throw new LedgerError("invalid_input", "paymentId must be 16 to 128 letters, digits, - or _");
  if (typeof c.requestHash !== "string" || !HASH.test(c.requestHash))
    throw new LedgerError("invalid_input", "requestHash must be 64 lower-case hex digits");
  return { paymentId: c.paymentId, requestHash: c.requestHash, key: norm.paymentKey(c.key) };
}

const toClaim = (row: Record<string, unknown>): PaymentIdClaim => ({
  paymentId: String(row.payment_id),
  requestHash: String(row.request_hash),
  key: { network: String(row.network), asset: String(row.asset), payer: String(row.payer), nonce: String(row.nonce) },
});

const COLUMNS = "payment_id, request_hash, network, asset, payer, nonce";

export async function claimPaymentId(
  db: Db,
  input: PaymentIdClaim,
): Promise<{ claimed: true } | { claimed: false; existing: PaymentIdClaim }> {
  const c = claimInput(input);
  return db.exec.write(async (tx) => {
    const { rows } = await tx.query(
      `INSERT INTO payment_ids (${COLUMNS}, created_at) VALUES ($id, $hash, $network, $asset, $payer, $nonce, $now)
       ON CONFLICT (payment_id) DO NOTHING RETURNING payment_id`,
      { id: c.paymentId, hash: c.requestHash, ...c.key, now: db.now() },
    );
    if (rows.length === 1) return { claimed: true as const };
    // Claims are never deleted, so the winner's row is there.
    const existing = await tx.query(`SELECT ${COLUMNS} FROM payment_ids WHERE payment_id = $id`, { id: c.paymentId });
    return { claimed: false as const, existing: toClaim(existing.rows[0]) };
  }, false);
}

export async function getPaymentId(db: Db, paymentId: string): Promise<PaymentIdClaim | null> {
  if (typeof paymentId !== "string" || !ID.test(paymentId)) return null;
  const { rows } = await db.exec.query(`SELECT ${COLUMNS} FROM payment_ids WHERE payment_id = $id`, { id: paymentId });
  return rows.length === 1 ? toClaim(rows[0]) : null;
}
