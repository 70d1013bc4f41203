// Where a splitter's settlement scan stands: the last block read, the PaymentSettled amounts of
// outputs and the ChannelOutputsPaid amounts of link transactions not yet seen in an epoch.
// Derived from the chain alone, so any instance may advance it; a write never moves the position
// backwards (the further scan wins).
import { LedgerError } from "../errors.ts";
import * as norm from "../normalize.ts";
import type { SettlementScan } from "../types.ts";
import type { Db } from "./db.ts";

const AMOUNT = /^[0-9]{1,78}$/;
const BYTES32 = /^0x[0-9a-f]{64}$/;

/** Output ids or transaction hashes (bytes32) to amounts, as JSON. */
function encode(field: string, amounts: Map<string, bigint>): string {
  const entries: Record<string, string> = {};
  for (const [key, amount] of amounts) {
    const id = key.toLowerCase();
    if (!BYTES32.test(id) || amount < 0n)
      throw new LedgerError("invalid_input", `${field} entry ${key} is not a bytes32 with an amount ≥ 0`);
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
  const { rows } = await db.exec.query("SELECT scanned_block, settled, links FROM settlement_scans WHERE splitter = $splitter", {
    splitter: key,
  });
  if (rows.length === 0) return null;
  const row = rows[0];
  return { scannedBlock: Number(row.scanned_block), settled: decode(String(row.settled)), links: decode(String(row.links)) };
}

/** Stores the scan unless the ledger already holds one that reached a later block. */
export async function putSettlementScan(db: Db, splitter: string, scan: SettlementScan): Promise<void> {
  const key = norm.address("splitter", splitter);
  const params = {
    splitter: key,
    block: norm.uint("scannedBlock", scan.scannedBlock),
    settled: encode("settled", scan.settled),
    links: encode("links", scan.links),
    now: db.now(),
  };
  await db.exec.write(
    (tx) =>
      tx.query(
        `INSERT INTO settlement_scans (splitter, scanned_block, settled, links, updated_at)
         VALUES ($splitter, $block, $settled, $links, $now)
         ON CONFLICT (splitter) DO UPDATE
           SET scanned_block = excluded.scanned_block, settled = excluded.settled, links = excluded.links, updated_at = excluded.updated_at
         WHERE excluded.scanned_block >= settlement_scans.scanned_block`,
        params,
      ),
    false,
  );
}
