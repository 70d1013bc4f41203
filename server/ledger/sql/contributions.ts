// Datanet contributions, numbered 0, 1, 2, … per datanet in registration order.
import * as norm from "../normalize.ts";
import { CONTRIBUTION_COLUMNS, toContribution } from "../rows.ts";
import type { ContributionRecord } from "../types.ts";
import type { Db } from "./db.ts";

export async function addContribution(db: Db, input: Omit<ContributionRecord, "seq" | "createdAt">): Promise<ContributionRecord> {
  const c = norm.contribution(input);
  // The counter row's lock orders concurrent adders until commit, and a failed insert rolls
  // the counter back with it, so seq has no gaps or duplicates.
  return db.exec.transaction(async (tx) => {
    const counter = await tx.query(
      `INSERT INTO datanet_seq (datanet_id, next_seq) VALUES ($datanetId, 1)
       ON CONFLICT (datanet_id) DO UPDATE SET next_seq = datanet_seq.next_seq + 1
       RETURNING next_seq - 1 AS seq`,
      { datanetId: c.datanetId },
    );
    const { rows } = await tx.query(
      `INSERT INTO contributions (datanet_id, seq, contributor, content_hash, text, created_at)
       VALUES ($datanetId, $seq, $contributor, $contentHash, $text, $now)
       RETURNING ${CONTRIBUTION_COLUMNS}`,
      {
        datanetId: c.datanetId,
        seq: Number(counter.rows[0].seq),
        contributor: c.contributor,
        contentHash: c.contentHash,
        text: c.text,
        now: db.now(),
      },
    );
    return toContribution(rows[0]);
  });
}

/** A datanet's contributions in registration order, from seq `fromSeq` on (a delta index reads only the new ones). */
export async function listContributions(db: Db, datanetId: string, fromSeq = 0): Promise<ContributionRecord[]> {
  const { rows } = await db.exec.query(
    `SELECT ${CONTRIBUTION_COLUMNS} FROM contributions WHERE datanet_id = $datanetId AND seq >= $fromSeq ORDER BY seq`,
    { datanetId: norm.id("datanetId", datanetId), fromSeq: norm.uint("fromSeq", fromSeq) },
  );
  return rows.map(toContribution);
}
