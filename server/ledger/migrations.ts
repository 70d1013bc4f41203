// Numbered schema migrations, one list per dialect with the same versions and names.
// Applied in order inside one transaction under a lock (SQLite: BEGIN IMMEDIATE;
// PostgreSQL: advisory lock) and recorded in schema_migrations. Never edit a released
// migration: append a new one. Keep them additive so older instances keep working while a
// rolling deploy is in progress.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const PAYMENT_STATUSES = "('reserved', 'settling', 'pending', 'settled', 'failed', 'released')";
const EPOCH_STATUSES = "('built', 'posted', 'active', 'vetoed')";

/**
 * Channels shared by the instances (x402 batch-settlement): each channel's state, every accepted voucher
 * with the output it paid for (claimed by `claim_tx`, linked by `link_root`), the links decided before
 * they are sent, and the one-row sweep lease. `amount`/`int` are the dialect's column types.
 */
const channelTables = (amount: string, int: string, strict: string) => `
  CREATE TABLE channels (
    channel_id            TEXT PRIMARY KEY,
    config                TEXT NOT NULL,
    balance               ${amount} NOT NULL,
    total_claimed         ${amount} NOT NULL,
    refund_nonce          ${amount} NOT NULL,
    withdraw_requested_at ${int} NOT NULL,
    charged               ${amount} NOT NULL,
    signed_max            ${amount} NOT NULL,
    signature             TEXT,
    stuck                 TEXT,
    updated_at            ${int} NOT NULL
  )${strict};
  CREATE TABLE channel_vouchers (
    channel_id       TEXT NOT NULL REFERENCES channels (channel_id),
    charged          ${amount} NOT NULL,
    receiver         TEXT NOT NULL,
    output_id        TEXT NOT NULL,
    amount           ${amount} NOT NULL,
    attribution_root TEXT NOT NULL,
    claim_tx         TEXT,
    link_root        TEXT,
    created_at       ${int} NOT NULL,
    PRIMARY KEY (channel_id, charged)
  )${strict};
  CREATE INDEX channel_vouchers_output ON channel_vouchers (output_id);
  CREATE INDEX channel_vouchers_unclaimed ON channel_vouchers (created_at) WHERE claim_tx IS NULL;
  CREATE INDEX channel_vouchers_unlinked ON channel_vouchers (receiver) WHERE claim_tx IS NOT NULL AND link_root IS NULL;
  CREATE INDEX channel_vouchers_link ON channel_vouchers (link_root) WHERE link_root IS NOT NULL;
  CREATE TABLE channel_links (
    root       TEXT PRIMARY KEY,
    receiver   TEXT NOT NULL,
    amount     ${amount} NOT NULL,
    tx_hash    TEXT,
    recorded   ${int} NOT NULL,
    created_at ${int} NOT NULL
  )${strict};
  CREATE INDEX channel_links_open ON channel_links (created_at) WHERE recorded = 0;
  CREATE TABLE channel_sweep (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    holder   TEXT,
    taken_at ${int} NOT NULL
  )${strict};
  INSERT INTO channel_sweep (id, holder, taken_at) VALUES (1, NULL, 0);
`;

/**
 * No query reads payments by updated_at alone or by model: the reconciler, the dashboard feed and the
 * retention walk (status, updated_at) or the kept payloads. Every status change moved an entry in both,
 * two of the pages a paid request wrote to the WAL.
 */
const FEWER_PAYMENT_INDEXES: Migration = {
  version: 10,
  name: "fewer_payment_indexes",
  sql: "DROP INDEX payments_updated; DROP INDEX payments_model_updated;",
};

export const sqliteMigrations: readonly Migration[] = [
  {
    version: 1,
    name: "initial",
    // STRICT tables: an amount can only ever be stored as TEXT, never coerced to a float.
    sql: `
      CREATE TABLE payments (
        network      TEXT NOT NULL,
        asset        TEXT NOT NULL,
        payer        TEXT NOT NULL,
        nonce        TEXT NOT NULL,
        pay_to       TEXT NOT NULL,
        amount       TEXT NOT NULL,
        model_id     TEXT,
        output_id    TEXT,
        status       TEXT NOT NULL CHECK (status IN ${PAYMENT_STATUSES}),
        tx_hash      TEXT,
        error_reason TEXT,
        payload      TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        PRIMARY KEY (network, asset, payer, nonce)
      ) STRICT;
      CREATE INDEX payments_status_updated ON payments (status, updated_at);
      CREATE INDEX payments_updated ON payments (updated_at);
      CREATE INDEX payments_model_updated ON payments (model_id, updated_at);

      CREATE TABLE outputs (
        output_id   TEXT PRIMARY KEY,
        model_id    TEXT NOT NULL,
        network     TEXT,
        asset       TEXT,
        payer       TEXT,
        nonce       TEXT,
        record      TEXT NOT NULL,
        record_hash TEXT NOT NULL,
        epoch       INTEGER,
        created_at  INTEGER NOT NULL,
        CHECK ((network IS NULL) = (nonce IS NULL) AND (asset IS NULL) = (nonce IS NULL) AND (payer IS NULL) = (nonce IS NULL)),
        FOREIGN KEY (network, asset, payer, nonce) REFERENCES payments (network, asset, payer, nonce)
      ) STRICT;
      CREATE UNIQUE INDEX outputs_payment ON outputs (network, asset, payer, nonce);
      CREATE INDEX outputs_unassigned ON outputs (model_id, created_at, output_id) WHERE epoch IS NULL;
      CREATE INDEX outputs_model_epoch ON outputs (model_id, epoch, created_at);

      CREATE TABLE epochs (
        splitter             TEXT NOT NULL,
        epoch                INTEGER NOT NULL,
        claims_root          TEXT NOT NULL,
        records_root         TEXT NOT NULL,
        cumulative_allocated TEXT NOT NULL,
        uri                  TEXT NOT NULL,
        tx_hash              TEXT,
        status               TEXT NOT NULL CHECK (status IN ${EPOCH_STATUSES}),
        document             TEXT NOT NULL,
        created_at           INTEGER NOT NULL,
        PRIMARY KEY (splitter, epoch)
      ) STRICT;
      CREATE INDEX epochs_status ON epochs (status);

      CREATE TABLE datanet_seq (
        datanet_id TEXT PRIMARY KEY,
        next_seq   INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE contributions (
        datanet_id   TEXT NOT NULL,
        seq          INTEGER NOT NULL,
        contributor  TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        text         TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        PRIMARY KEY (datanet_id, seq)
      ) STRICT;
      CREATE INDEX contributions_contributor ON contributions (contributor);
    `,
  },
  {
    version: 2,
    name: "held_outputs",
    sql: `
      CREATE TABLE held_outputs (
        network      TEXT NOT NULL,
        asset        TEXT NOT NULL,
        payer        TEXT NOT NULL,
        nonce        TEXT NOT NULL,
        output_id    TEXT NOT NULL UNIQUE,
        token_hash   TEXT NOT NULL,
        status_code  INTEGER NOT NULL,
        content_type TEXT,
        body         BLOB NOT NULL,
        created_at   INTEGER NOT NULL,
        PRIMARY KEY (network, asset, payer, nonce),
        FOREIGN KEY (network, asset, payer, nonce) REFERENCES payments (network, asset, payer, nonce)
      ) STRICT;
    `,
  },
  {
    version: 3,
    name: "read_models",
    // Epoch list columns (so lists never read documents: in a table of their own, since SQLite
    // walks a large document's overflow pages to reach the columns stored after it), claim
    // leaves, running totals, instance heartbeats, and an index to prune held outputs by age.
    // Backfilled from the rows.
    sql: `
      ALTER TABLE payments ADD COLUMN instance_id TEXT;
      CREATE TABLE instances (
        instance_id  TEXT PRIMARY KEY,
        heartbeat_at INTEGER NOT NULL,
        started_at   INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX held_outputs_created ON held_outputs (created_at);

      CREATE TABLE epoch_summaries (
        splitter            TEXT NOT NULL,
        epoch               INTEGER NOT NULL,
        created_at          INTEGER NOT NULL,
        outputs             INTEGER NOT NULL,
        claimants           INTEGER NOT NULL,
        cumulative_received TEXT,
        epoch_pool          TEXT,
        PRIMARY KEY (splitter, epoch),
        FOREIGN KEY (splitter, epoch) REFERENCES epochs (splitter, epoch)
      ) STRICT;
      INSERT INTO epoch_summaries (splitter, epoch, created_at, outputs, claimants, cumulative_received, epoch_pool)
        SELECT splitter, epoch, created_at,
          CASE WHEN json_valid(document) THEN COALESCE(json_array_length(document, '$.payments'), 0) ELSE 0 END,
          CASE WHEN json_valid(document) THEN COALESCE(json_array_length(document, '$.claims.leaves'), 0) ELSE 0 END,
          CASE WHEN json_valid(document) THEN json_extract(document, '$.cumulativeReceived') END,
          CASE WHEN json_valid(document) THEN json_extract(document, '$.epochPool') END
        FROM epochs;
      CREATE TABLE epoch_claims (
        splitter          TEXT NOT NULL,
        epoch             INTEGER NOT NULL,
        account           TEXT NOT NULL,
        cumulative_amount TEXT NOT NULL,
        PRIMARY KEY (splitter, epoch, account),
        FOREIGN KEY (splitter, epoch) REFERENCES epochs (splitter, epoch)
      ) STRICT;
      INSERT INTO epoch_claims (splitter, epoch, account, cumulative_amount)
        SELECT e.splitter, e.epoch, lower(json_extract(l.value, '$.account')), json_extract(l.value, '$.cumulativeAmount')
        FROM epochs e, json_each(CASE WHEN json_valid(e.document) THEN e.document ELSE '{}' END, '$.claims.leaves') l;

      CREATE TABLE model_totals (
        model_id TEXT PRIMARY KEY,
        payments INTEGER NOT NULL,
        revenue  TEXT NOT NULL
      ) STRICT;
      INSERT INTO model_totals (model_id, payments, revenue)
        SELECT model_id, COUNT(*), u256_sum(amount) FROM payments WHERE status = 'settled' AND model_id IS NOT NULL GROUP BY model_id;
      CREATE TABLE contributor_totals (
        contributor TEXT PRIMARY KEY,
        outputs     INTEGER NOT NULL
      ) STRICT;
      INSERT INTO contributor_totals (contributor, outputs)
        SELECT lower(json_extract(c.value, '$.address')), COUNT(DISTINCT o.output_id)
        FROM outputs o JOIN payments p ON p.network = o.network AND p.asset = o.asset AND p.payer = o.payer AND p.nonce = o.nonce,
             json_each(CASE WHEN json_valid(o.record) THEN o.record ELSE '{}' END, '$.contributors') c
        WHERE p.status = 'settled' AND json_extract(c.value, '$.address') IS NOT NULL
        GROUP BY 1;
    `,
  },
  {
    version: 4,
    name: "payment_ids",
    // The x402 payment-identifier extension: a client's idempotency id bound to the first request
    // (its payment key and a fingerprint of what it bought). Claimed before the payment is
    // reserved, so no foreign key to payments.
    sql: `
      CREATE TABLE payment_ids (
        payment_id   TEXT PRIMARY KEY,
        request_hash TEXT NOT NULL,
        network      TEXT NOT NULL,
        asset        TEXT NOT NULL,
        payer        TEXT NOT NULL,
        nonce        TEXT NOT NULL,
        created_at   INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 5,
    name: "retention",
    // Settled payments whose payload is still kept (emptied past the retention period: only
    // settling again or re-delivering by payload needs it), and published output texts.
    sql: `
      CREATE INDEX payments_payload_kept ON payments (updated_at) WHERE payload <> '';
      CREATE TABLE output_texts (
        output_id TEXT PRIMARY KEY,
        output    TEXT NOT NULL,
        prompt    TEXT
      ) STRICT;
    `,
  },
  {
    version: 6,
    name: "payments_by_transaction",
    // Channel-paid outputs are settled by their link transaction (ChannelOutputsPaid): epochs look them up by it.
    sql: `CREATE INDEX payments_tx_hash ON payments (tx_hash) WHERE tx_hash IS NOT NULL;`,
  },
  {
    version: 7,
    name: "settlement_scans",
    // The PaymentSettled scan position per splitter, so a restart continues where the last close stopped.
    sql: `
      CREATE TABLE settlement_scans (
        splitter      TEXT PRIMARY KEY,
        scanned_block INTEGER NOT NULL,
        settled       TEXT NOT NULL,
        links         TEXT NOT NULL,
        updated_at    INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 8,
    name: "packed_records",
    // Attribution records packed (server/ledger/record-codec.ts); new rows leave `record` empty.
    sql: `ALTER TABLE outputs ADD COLUMN record_z BLOB;`,
  },
  { version: 9, name: "channels", sql: channelTables("TEXT", "INTEGER", " STRICT") },
  FEWER_PAYMENT_INDEXES,
];

export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    name: "initial",
    // NUMERIC(78,0) holds any uint256; pg returns it as a string, never a float.
    sql: `
      CREATE TABLE payments (
        network      TEXT NOT NULL,
        asset        TEXT NOT NULL,
        payer        TEXT NOT NULL,
        nonce        TEXT NOT NULL,
        pay_to       TEXT NOT NULL,
        amount       NUMERIC(78, 0) NOT NULL CHECK (amount >= 0),
        model_id     TEXT,
        output_id    TEXT,
        status       TEXT NOT NULL CHECK (status IN ${PAYMENT_STATUSES}),
        tx_hash      TEXT,
        error_reason TEXT,
        payload      TEXT NOT NULL,
        created_at   BIGINT NOT NULL,
        updated_at   BIGINT NOT NULL,
        PRIMARY KEY (network, asset, payer, nonce)
      );
      CREATE INDEX payments_status_updated ON payments (status, updated_at);
      CREATE INDEX payments_updated ON payments (updated_at);
      CREATE INDEX payments_model_updated ON payments (model_id, updated_at);

      CREATE TABLE outputs (
        output_id   TEXT PRIMARY KEY,
        model_id    TEXT NOT NULL,
        network     TEXT,
        asset       TEXT,
        payer       TEXT,
        nonce       TEXT,
        record      TEXT NOT NULL,
        record_hash TEXT NOT NULL,
        epoch       BIGINT,
        created_at  BIGINT NOT NULL,
        CHECK ((network IS NULL) = (nonce IS NULL) AND (asset IS NULL) = (nonce IS NULL) AND (payer IS NULL) = (nonce IS NULL)),
        CONSTRAINT outputs_payment_fk FOREIGN KEY (network, asset, payer, nonce) REFERENCES payments (network, asset, payer, nonce)
      );
      CREATE UNIQUE INDEX outputs_payment ON outputs (network, asset, payer, nonce);
      CREATE INDEX outputs_unassigned ON outputs (model_id, created_at, output_id) WHERE epoch IS NULL;
      CREATE INDEX outputs_model_epoch ON outputs (model_id, epoch, created_at);

      CREATE TABLE epochs (
        splitter             TEXT NOT NULL,
        epoch                BIGINT NOT NULL,
        claims_root          TEXT NOT NULL,
        records_root         TEXT NOT NULL,
        cumulative_allocated NUMERIC(78, 0) NOT NULL CHECK (cumulative_allocated >= 0),
        uri                  TEXT NOT NULL,
        tx_hash              TEXT,
        status               TEXT NOT NULL CHECK (status IN ${EPOCH_STATUSES}),
        document             TEXT NOT NULL,
        created_at           BIGINT NOT NULL,
        PRIMARY KEY (splitter, epoch)
      );
      CREATE INDEX epochs_status ON epochs (status);

      CREATE TABLE datanet_seq (
        datanet_id TEXT PRIMARY KEY,
        next_seq   BIGINT NOT NULL
      );
      CREATE TABLE contributions (
        datanet_id   TEXT NOT NULL,
        seq          BIGINT NOT NULL,
        contributor  TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        text         TEXT NOT NULL,
        created_at   BIGINT NOT NULL,
        PRIMARY KEY (datanet_id, seq)
      );
      CREATE INDEX contributions_contributor ON contributions (contributor);
    `,
  },
  {
    version: 2,
    name: "held_outputs",
    sql: `
      CREATE TABLE held_outputs (
        network      TEXT NOT NULL,
        asset        TEXT NOT NULL,
        payer        TEXT NOT NULL,
        nonce        TEXT NOT NULL,
        output_id    TEXT NOT NULL UNIQUE,
        token_hash   TEXT NOT NULL,
        status_code  INTEGER NOT NULL,
        content_type TEXT,
        body         BYTEA NOT NULL,
        created_at   BIGINT NOT NULL,
        PRIMARY KEY (network, asset, payer, nonce),
        CONSTRAINT held_outputs_payment_fk FOREIGN KEY (network, asset, payer, nonce) REFERENCES payments (network, asset, payer, nonce)
      );
    `,
  },
  {
    version: 3,
    name: "read_models",
    // Epoch list columns (so lists never read documents; same layout as SQLite's), claim
    // leaves, running totals, instance heartbeats, and an index to prune held outputs by age.
    // Backfilled from the rows.
    sql: `
      ALTER TABLE payments ADD COLUMN instance_id TEXT;
      CREATE TABLE instances (
        instance_id  TEXT PRIMARY KEY,
        heartbeat_at BIGINT NOT NULL,
        started_at   BIGINT NOT NULL
      );
      CREATE INDEX held_outputs_created ON held_outputs (created_at);

      CREATE TABLE epoch_summaries (
        splitter            TEXT NOT NULL,
        epoch               BIGINT NOT NULL,
        created_at          BIGINT NOT NULL,
        outputs             BIGINT NOT NULL,
        claimants           BIGINT NOT NULL,
        cumulative_received NUMERIC(78, 0),
        epoch_pool          NUMERIC(78, 0),
        PRIMARY KEY (splitter, epoch),
        CONSTRAINT epoch_summaries_epoch_fk FOREIGN KEY (splitter, epoch) REFERENCES epochs (splitter, epoch)
      );
      INSERT INTO epoch_summaries (splitter, epoch, created_at, outputs, claimants, cumulative_received, epoch_pool)
        SELECT splitter, epoch, created_at,
          COALESCE(jsonb_array_length(document::jsonb -> 'payments'), 0),
          COALESCE(jsonb_array_length(document::jsonb -> 'claims' -> 'leaves'), 0),
          (document::jsonb ->> 'cumulativeReceived')::numeric,
          (document::jsonb ->> 'epochPool')::numeric
        FROM epochs;
      CREATE TABLE epoch_claims (
        splitter          TEXT NOT NULL,
        epoch             BIGINT NOT NULL,
        account           TEXT NOT NULL,
        cumulative_amount TEXT NOT NULL,
        PRIMARY KEY (splitter, epoch, account),
        CONSTRAINT epoch_claims_epoch_fk FOREIGN KEY (splitter, epoch) REFERENCES epochs (splitter, epoch)
      );
      INSERT INTO epoch_claims (splitter, epoch, account, cumulative_amount)
        SELECT e.splitter, e.epoch, lower(l ->> 'account'), l ->> 'cumulativeAmount'
        FROM epochs e, jsonb_array_elements(COALESCE(e.document::jsonb -> 'claims' -> 'leaves', '[]'::jsonb)) l;

      CREATE TABLE model_totals (
        model_id TEXT PRIMARY KEY,
        payments BIGINT NOT NULL,
        revenue  NUMERIC(78, 0) NOT NULL
      );
      INSERT INTO model_totals (model_id, payments, revenue)
        SELECT model_id, COUNT(*), SUM(amount) FROM payments WHERE status = 'settled' AND model_id IS NOT NULL GROUP BY model_id;
      CREATE TABLE contributor_totals (
        contributor TEXT PRIMARY KEY,
        outputs     BIGINT NOT NULL
      );
      INSERT INTO contributor_totals (contributor, outputs)
        SELECT lower(c ->> 'address'), COUNT(DISTINCT o.output_id)
        FROM outputs o JOIN payments p ON p.network = o.network AND p.asset = o.asset AND p.payer = o.payer AND p.nonce = o.nonce,
             jsonb_array_elements(COALESCE(o.record::jsonb -> 'contributors', '[]'::jsonb)) c
        WHERE p.status = 'settled' AND c ->> 'address' IS NOT NULL
        GROUP BY 1;
    `,
  },
  {
    version: 4,
    name: "payment_ids",
    // The x402 payment-identifier extension: a client's idempotency id bound to the first request
    // (its payment key and a fingerprint of what it bought). Claimed before the payment is
    // reserved, so no foreign key to payments.
    sql: `
      CREATE TABLE payment_ids (
        payment_id   TEXT PRIMARY KEY,
        request_hash TEXT NOT NULL,
        network      TEXT NOT NULL,
        asset        TEXT NOT NULL,
        payer        TEXT NOT NULL,
        nonce        TEXT NOT NULL,
        created_at   BIGINT NOT NULL
      );
    `,
  },
  {
    version: 5,
    name: "retention",
    sql: `
      CREATE INDEX payments_payload_kept ON payments (updated_at) WHERE payload <> '';
      CREATE TABLE output_texts (
        output_id TEXT PRIMARY KEY,
        output    TEXT NOT NULL,
        prompt    TEXT
      );
    `,
  },
  {
    version: 6,
    name: "payments_by_transaction",
    // Channel-paid outputs are settled by their link transaction (ChannelOutputsPaid): epochs look them up by it.
    sql: `CREATE INDEX payments_tx_hash ON payments (tx_hash) WHERE tx_hash IS NOT NULL;`,
  },
  {
    version: 7,
    name: "settlement_scans",
    sql: `
      CREATE TABLE settlement_scans (
        splitter      TEXT PRIMARY KEY,
        scanned_block BIGINT NOT NULL,
        settled       TEXT NOT NULL,
        links         TEXT NOT NULL,
        updated_at    BIGINT NOT NULL
      );
    `,
  },
  {
    version: 8,
    name: "packed_records",
    sql: `ALTER TABLE outputs ADD COLUMN record_z BYTEA;`,
  },
  { version: 9, name: "channels", sql: channelTables("NUMERIC(78, 0)", "BIGINT", "") },
  FEWER_PAYMENT_INDEXES,
];

/** Checks a migration list is strictly increasing (a programming error otherwise). */
export function assertOrdered(list: readonly Migration[]): void {
  for (let i = 1; i < list.length; i++) {
    if (list[i].version <= list[i - 1].version) throw new Error(`migrations out of order at version ${list[i].version}`);
  }
}
