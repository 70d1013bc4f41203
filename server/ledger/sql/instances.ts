// Instance heartbeats. Each ledger object stores its instance id with the reservations it
// makes; a reservation whose instance stopped beating (the process died with a request in
// flight) is released, so the payer's unused authorization can be presented again. A live
// instance beats every few seconds, so its in-flight reservations are never touched.
import * as norm from "../normalize.ts";
import type { Db } from "./db.ts";

export async function heartbeat(db: Db): Promise<void> {
  const now = db.now();
  await db.exec.write(
    (tx) =>
      tx.query(
        `INSERT INTO instances (instance_id, heartbeat_at, started_at) VALUES ($instance, $now, $now)
         ON CONFLICT (instance_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
        { instance: db.instanceId, now },
      ),
    false,
  );
}

export async function releaseDeadReservations(db: Db, staleMs: number): Promise<number> {
  const now = db.now();
  const cutoff = now - norm.uint("staleMs", staleMs);
  const { changes } = await db.exec.write(
    (tx) =>
      tx.query(
        `UPDATE payments SET status = 'released', error_reason = 'instance_stopped', updated_at = ${db.d.greatest(
          "updated_at",
          "CAST($now AS BIGINT)",
        )}
         WHERE status = 'reserved' AND instance_id <> $instance
           AND instance_id IN (SELECT instance_id FROM instances WHERE heartbeat_at < $cutoff)`,
        { now, cutoff, instance: db.instanceId },
      ),
    false,
  );
  return changes;
}
