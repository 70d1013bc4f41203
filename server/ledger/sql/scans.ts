// Where a splitter's PaymentSettled scan stands: the last block read and the settled amounts
// found of outputs not yet seen in an epoch. Derived from the chain alone, so any instance may
// advance it; a write never moves the position backwards (the further scan wins).
import { LedgerError } from "../errors.ts";
import * as norm from "../normalize.ts";
import type { SettlementScan } from "../types.ts";
import type { Db } from "./db.ts";

const AMOUNT = /^[0-9]{1,78}$/;
const OUTPUT_ID = /^0x[0-9a-f]{64}$/;

function encode(settled: Map<string, bigint>): string {
  const entries: Record<string, string> = {};
  for (const [outputId, amount] of settled) {
    const id = outputId.toLowerCase();
    if (!OUTPUT_ID.test(id) || amount < 0n)
      throw new LedgerError("invalid_input", `settled entry ${outputId} is not a bytes32 id with an amount ≥ 0`);
    entries[id] = amount.toString();
  }
  return JSON.stringify(entries);
}

function decode(json: string): Map<string, bigint> {
  const entries = JSON.parse(json) as Record<string, string>;
  const settled = new Map<string, bigint>();
  for (const [id, amount] of Object.entries(entries)) if (AMOUNT.test(amount)) settled.set(id, BigInt(amount));
  return settled;
}

export async function getSettlementScan(db: Db, splitter: string): Promise<SettlementScan | null> {
  const key = norm.address("splitter", splitter);
  const { rows } = await db.exec.query("SELECT scanned_block, settled FROM settlement_scans WHERE splitter = $splitter", { splitter: key });
  if (rows.length === 0) return null;
  return { scannedBlock: Number(rows[0].scanned_block), settled: decode(String(rows[0].settled)) };
}

/** Stores the scan unless the ledger already holds one that reached a later block. */
export async function putSettlementScan(db: Db, splitter: string, scan: SettlementScan): Promise<void> {
  const key = norm.address("splitter", splitter);
  const params = { splitter: key, block: norm.uint("scannedBlock", scan.scannedBlock), settled: encode(scan.settled), now: db.now() };
  await db.exec.write(
    (tx) =>
      tx.query(
        `INSERT INTO settlement_scans (splitter, scanned_block, settled, updated_at) VALUES ($splitter, $block, $settled, $now)
         ON CONFLICT (splitter) DO UPDATE
           SET scanned_block = excluded.scanned_block, settled = excluded.settled, updated_at = excluded.updated_at
         WHERE excluded.scanned_block >= settlement_scans.scanned_block`,
        params,
      ),
    false,
  );
}
