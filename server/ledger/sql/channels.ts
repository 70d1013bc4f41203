// Channels shared by the instances (x402 batch-settlement). A voucher is stored with the channel's new
// charged total in one transaction whose update only matches if the total is still the one the instance
// checked against: of two instances taking the same cumulative amount, one stores it, the other is told.
// Claims and links run under a one-row lease, so one instance sweeps at a time; a link is decided
// (root and outputs stored) before its transaction is sent, so whoever sweeps next looks for that root.
import type { ChannelConfig } from "@royalty402/fastify-x402";
import type { Dialect } from "../dialect.ts";
import { LedgerError } from "../errors.ts";
import type { Params } from "../executor.ts";
import * as norm from "../normalize.ts";
import type { AcceptedVoucher, ChannelLinkRow, ChannelState, ChannelVoucher, ClaimableChannel, PaymentKey } from "../types.ts";
import { PAYMENT_KEY_MATCH, keyParams, type Db } from "./db.ts";
import { heartbeat } from "./instances.ts";

type Row = Record<string, unknown>;

const BYTES32 = /^0x[0-9a-f]{64}$/;
const CHANNEL_COLUMNS =
  "c.channel_id, c.config, c.balance, c.total_claimed, c.refund_nonce, c.withdraw_requested_at, c.charged, c.signed_max, " +
  "c.signature, c.stuck";
const VOUCHER_COLUMNS = "v.channel_id, v.charged AS v_charged, v.receiver, v.output_id, v.amount, v.attribution_root";

function bytes32(field: string, v: string): string {
  const id = v.toLowerCase();
  if (!BYTES32.test(id)) throw new LedgerError("invalid_input", `${field} must be a 0x-prefixed 32-byte hex string`);
  return id;
}

function amount(field: string, v: bigint): string {
  if (v < 0n) throw new LedgerError("invalid_input", `${field} must be ≥ 0`);
  return v.toString();
}

const toChannel = (r: Row): ChannelState => ({
  channelId: String(r.channel_id),
  config: JSON.parse(String(r.config)) as ChannelConfig,
  balance: BigInt(String(r.balance)),
  totalClaimed: BigInt(String(r.total_claimed)),
  refundNonce: BigInt(String(r.refund_nonce)),
  withdrawRequestedAt: Number(r.withdraw_requested_at),
  charged: BigInt(String(r.charged)),
  signedMax: BigInt(String(r.signed_max)),
  signature: r.signature === null ? null : String(r.signature),
  stuck: r.stuck === null ? null : String(r.stuck),
});

const toVoucher = (r: Row): ChannelVoucher => ({
  channelId: String(r.channel_id),
  charged: BigInt(String(r.v_charged)),
  receiver: String(r.receiver),
  outputId: String(r.output_id),
  amount: BigInt(String(r.amount)),
  attributionRoot: String(r.attribution_root),
});

const byCharged = (a: ChannelVoucher, b: ChannelVoucher) => (a.charged < b.charged ? -1 : a.charged > b.charged ? 1 : 0);

export async function getChannel(db: Db, channelId: string): Promise<ChannelState | null> {
  const { rows } = await db.exec.query(`SELECT ${CHANNEL_COLUMNS} FROM channels c WHERE c.channel_id = $id`, {
    id: bytes32("channelId", channelId),
  });
  return rows.length === 0 ? null : toChannel(rows[0]);
}

export async function openChannel(db: Db, s: ChannelState): Promise<ChannelState> {
  const id = bytes32("channelId", s.channelId);
  await db.exec.write(
    (tx) =>
      tx.query(
        `INSERT INTO channels (channel_id, config, balance, total_claimed, refund_nonce, withdraw_requested_at, charged, signed_max,
           signature, stuck, updated_at)
         VALUES ($id, $config, ${db.d.amountParam("$balance")}, ${db.d.amountParam("$claimed")}, ${db.d.amountParam("$refundNonce")},
           $withdrawAt, ${db.d.amountParam("$charged")}, ${db.d.amountParam("$signedMax")}, $signature, $stuck, $now)
         ON CONFLICT (channel_id) DO NOTHING`,
        {
          id,
          config: JSON.stringify(s.config),
          balance: amount("balance", s.balance),
          claimed: amount("totalClaimed", s.totalClaimed),
          refundNonce: amount("refundNonce", s.refundNonce),
          withdrawAt: s.withdrawRequestedAt,
          charged: amount("charged", s.charged),
          signedMax: amount("signedMax", s.signedMax),
          signature: s.signature,
          stuck: s.stuck,
          now: db.now(),
        },
      ),
    false,
  );
  return (await getChannel(db, id))!;
}

export async function acceptVoucher(db: Db, v: AcceptedVoucher): Promise<boolean> {
  if (v.charged <= v.from) throw new LedgerError("invalid_input", "a voucher must raise the channel's charged total");
  const params = {
    id: bytes32("channelId", v.channelId),
    from: amount("from", v.from),
    charged: amount("charged", v.charged),
    signedMax: amount("signedMax", v.signedMax),
    signature: v.signature,
    balance: amount("balance", v.balance),
    receiver: v.receiver.toLowerCase(),
    output: bytes32("outputId", v.output.outputId),
    amount: amount("amount", v.output.amount),
    root: bytes32("attributionRoot", v.output.attributionRoot),
    now: db.now(),
  };
  const a = db.d.amountParam;
  const move = `UPDATE channels SET charged = ${a("$charged")}, signed_max = ${a("$signedMax")}, signature = $signature,
      balance = ${a("$balance")}, updated_at = $now
    WHERE channel_id = $id AND charged = ${a("$from")} AND stuck IS NULL`;
  const columns = "channel_id, charged, receiver, output_id, amount, attribution_root, created_at";
  const values = `${a("$charged")}, $receiver, $output, ${a("$amount")}, $root, $now`;
  const { id, from, charged, signedMax, signature, balance, receiver, output, amount: paid, root, now } = params;
  const moveParams = { id, from, charged, signedMax, signature, balance, now };
  const insert = `INSERT INTO channel_vouchers (${columns}) VALUES ($id, ${values})`;
  const insertParams = { id, charged, receiver, output, amount: paid, root, now };
  if (v.payment) return acceptWithPayment(db, norm.paymentKey(v.payment), { move, moveParams, insert, insertParams });
  if (db.d.updateInWith) {
    // One statement (one round trip, its own transaction): the insert sees only the row the update moved.
    const sql = `WITH moved AS (${move} RETURNING channel_id) INSERT INTO channel_vouchers (${columns})
      SELECT channel_id, ${values} FROM moved RETURNING channel_id`;
    return (await db.exec.write((q) => q.query(sql, params), false)).rows.length === 1;
  }
  return db.exec.write(async (tx) => {
    const { changes } = await tx.query(move, moveParams);
    if (changes === 0) return false;
    await tx.query(insert, insertParams);
    return true;
  }, true);
}

/** Thrown inside a voucher's transaction to undo its payment's move when the channel's charged total moved first. */
class ChannelMovedFirst extends Error {}

/**
 * The voucher and its payment in one transaction: the payment (reserved, or settling for a deposit) moves to
 * pending with its output, then the channel's compare-and-set, then the voucher. The journal is the payment
 * store too, so no state exists where one is recorded without the other.
 */
async function acceptWithPayment(
  db: Db,
  key: PaymentKey,
  voucher: { move: string; moveParams: Params; insert: string; insertParams: Params & { output: string; now: number } },
): Promise<boolean> {
  const pending = `UPDATE payments SET status = 'pending', output_id = $output, error_reason = NULL,
      updated_at = ${db.d.greatest("updated_at", "CAST($now AS BIGINT)")}
    WHERE ${PAYMENT_KEY_MATCH} AND status IN ('reserved', 'settling')`;
  const { output, now } = voucher.insertParams;
  try {
    const taken = await db.exec.write(async (tx) => {
      if ((await tx.query(pending, { ...keyParams(key), output, now })).changes === 0) {
        // Held here but past reserved/settling: refused. Not held here: a payment of another host's (facilitator use).
        const { rows } = await tx.query(`SELECT status FROM payments WHERE ${PAYMENT_KEY_MATCH}`, keyParams(key));
        if (rows.length === 1) return false;
      }
      if ((await tx.query(voucher.move, voucher.moveParams)).changes === 0) throw new ChannelMovedFirst();
      await tx.query(voucher.insert, voucher.insertParams);
      return true;
    }, true);
    if (!taken) throw new LedgerError("payment_not_reserved", `the payment of output ${output} is no longer reserved or settling`);
    return true;
  } catch (e) {
    if (e instanceof ChannelMovedFirst) return false;
    throw e;
  }
}

export async function updateChannelFunds(
  db: Db,
  channelId: string,
  f: Pick<ChannelState, "balance" | "refundNonce" | "withdrawRequestedAt">,
): Promise<void> {
  await db.exec.write(
    (tx) =>
      tx.query(
        `UPDATE channels SET balance = ${db.d.amountParam("$balance")}, refund_nonce = ${db.d.amountParam("$refundNonce")},
           withdraw_requested_at = $withdrawAt, updated_at = $now
         WHERE channel_id = $id`,
        {
          id: bytes32("channelId", channelId),
          balance: amount("balance", f.balance),
          refundNonce: amount("refundNonce", f.refundNonce),
          withdrawAt: f.withdrawRequestedAt,
          now: db.now(),
        },
      ),
    false,
  );
}

/** One statement, so each channel's charged total and signature are those of its last voucher read. */
export async function claimableChannels(db: Db): Promise<ClaimableChannel[]> {
  const { rows } = await db.exec.query(
    `SELECT ${CHANNEL_COLUMNS}, ${VOUCHER_COLUMNS}
     FROM channel_vouchers v JOIN channels c ON c.channel_id = v.channel_id
     WHERE v.claim_tx IS NULL AND c.stuck IS NULL`,
  );
  const channels = new Map<string, ClaimableChannel>();
  for (const r of rows) {
    const id = String(r.channel_id);
    if (!channels.has(id)) channels.set(id, { channel: toChannel(r), vouchers: [] });
    channels.get(id)!.vouchers.push(toVoucher(r));
  }
  for (const c of channels.values()) c.vouchers.sort(byCharged);
  return [...channels.values()];
}

/**
 * Marks a claim's vouchers, found through the output_id index: the channel's own key range holds
 * every voucher it ever had, so a claim would read a long-lived channel's whole history.
 */
export function claimStatement(d: Dialect): string {
  return `UPDATE channel_vouchers SET claim_tx = $tx
    WHERE ${d.unindexed("channel_id")} = $id AND claim_tx IS NULL AND ${d.inList("output_id", "$outputs")}`;
}

export async function markChannelsClaimed(
  db: Db,
  claims: Array<{ channelId: string; totalClaimed: bigint; outputIds: string[] }>,
  txHash: string,
): Promise<void> {
  const tx = bytes32("txHash", txHash);
  const now = db.now();
  await db.exec.transaction(async (q) => {
    for (const c of claims) {
      const id = bytes32("channelId", c.channelId);
      await q.query(claimStatement(db.d), { tx, id, outputs: db.d.list(c.outputIds.map((o) => o.toLowerCase())) as string });
      await q.query(`UPDATE channels SET total_claimed = ${db.d.amountParam("$claimed")}, updated_at = $now WHERE channel_id = $id`, {
        id,
        claimed: amount("totalClaimed", c.totalClaimed),
        now,
      });
    }
  });
}

export async function markChannelStuck(db: Db, channelId: string, reason: string): Promise<ChannelVoucher[]> {
  const id = bytes32("channelId", channelId);
  return db.exec.transaction(async (q) => {
    await q.query("UPDATE channels SET stuck = $reason, updated_at = $now WHERE channel_id = $id", { id, reason, now: db.now() });
    const { rows } = await q.query(`SELECT ${VOUCHER_COLUMNS} FROM channel_vouchers v WHERE v.channel_id = $id AND v.claim_tx IS NULL`, {
      id,
    });
    return rows.map(toVoucher).sort(byCharged);
  });
}

export async function unlinkedVouchers(db: Db): Promise<ChannelVoucher[]> {
  const { rows } = await db.exec.query(
    `SELECT ${VOUCHER_COLUMNS} FROM channel_vouchers v WHERE v.claim_tx IS NOT NULL AND v.link_root IS NULL`,
  );
  return rows.map(toVoucher);
}

/** The link row and its outputs' link_root together: a link is decided for exactly these outputs. */
export async function openChannelLink(
  db: Db,
  link: { root: string; receiver: string; amount: bigint; outputIds: string[] },
): Promise<void> {
  const root = bytes32("root", link.root);
  await db.exec.transaction(async (q) => {
    await q.query(
      `INSERT INTO channel_links (root, receiver, amount, tx_hash, recorded, created_at)
       VALUES ($root, $receiver, ${db.d.amountParam("$amount")}, NULL, 0, $now)`,
      { root, receiver: link.receiver.toLowerCase(), amount: amount("amount", link.amount), now: db.now() },
    );
    const { changes } = await q.query(
      `UPDATE channel_vouchers SET link_root = $root
       WHERE claim_tx IS NOT NULL AND link_root IS NULL AND ${db.d.inList("output_id", "$outputs")}`,
      { root, outputs: db.d.list(link.outputIds.map((o) => o.toLowerCase())) as string },
    );
    if (changes !== link.outputIds.length)
      throw new LedgerError(
        "channel_link_conflict",
        `${link.outputIds.length - changes} of the link's outputs are unclaimed or already linked`,
      );
  });
}

export async function openChannelLinks(db: Db): Promise<ChannelLinkRow[]> {
  const { rows } = await db.exec.query(
    `SELECT l.root, l.receiver AS link_receiver, l.amount AS link_amount, l.tx_hash, ${VOUCHER_COLUMNS}
     FROM channel_links l JOIN channel_vouchers v ON v.link_root = l.root
     WHERE l.recorded = 0 ORDER BY l.created_at`,
  );
  const links = new Map<string, ChannelLinkRow>();
  for (const r of rows) {
    const root = String(r.root);
    if (!links.has(root))
      links.set(root, {
        root,
        receiver: String(r.link_receiver),
        amount: BigInt(String(r.link_amount)),
        txHash: r.tx_hash === null ? null : String(r.tx_hash),
        outputs: [],
      });
    links.get(root)!.outputs.push(toVoucher(r));
  }
  return [...links.values()];
}

export async function setChannelLinkTransaction(db: Db, root: string, txHash: string): Promise<void> {
  await db.exec.write(
    (q) =>
      q.query("UPDATE channel_links SET tx_hash = $tx WHERE root = $root", { root: bytes32("root", root), tx: bytes32("txHash", txHash) }),
    false,
  );
}

export async function markChannelLinkRecorded(db: Db, root: string): Promise<void> {
  await db.exec.write(
    (q) => q.query("UPDATE channel_links SET recorded = 1 WHERE root = $root AND tx_hash IS NOT NULL", { root: bytes32("root", root) }),
    false,
  );
}

/** Beats first, so the lease is never taken from under a live holder that has no maintenance timer. */
export async function takeChannelSweep(db: Db, staleMs: number): Promise<boolean> {
  await heartbeat(db);
  const now = db.now();
  const { changes } = await db.exec.write(
    (q) =>
      q.query(
        `UPDATE channel_sweep SET holder = $me, taken_at = $now
         WHERE id = 1 AND (holder IS NULL OR holder = $me
           OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.instance_id = channel_sweep.holder AND i.heartbeat_at >= $cutoff))`,
        { me: db.instanceId, now, cutoff: now - staleMs },
      ),
    false,
  );
  return changes === 1;
}

export async function releaseChannelSweep(db: Db): Promise<void> {
  await db.exec.write((q) => q.query("UPDATE channel_sweep SET holder = NULL WHERE id = 1 AND holder = $me", { me: db.instanceId }), false);
}

export async function oldestChannelWork(db: Db): Promise<number | null> {
  const { rows: waiting } = await db.exec.query(
    `SELECT CASE WHEN EXISTS (SELECT 1 FROM channel_vouchers v WHERE v.claim_tx IS NOT NULL AND v.link_root IS NULL)
       OR EXISTS (SELECT 1 FROM channel_links l WHERE l.recorded = 0) THEN 1 ELSE 0 END AS w`,
  );
  if (Number(waiting[0].w) === 1) return 0;
  const { rows } = await db.exec.query(
    `SELECT MIN(v.created_at) AS oldest FROM channel_vouchers v JOIN channels c ON c.channel_id = v.channel_id
     WHERE v.claim_tx IS NULL AND c.stuck IS NULL`,
  );
  return rows[0]?.oldest === null || rows[0]?.oldest === undefined ? null : Number(rows[0].oldest);
}
