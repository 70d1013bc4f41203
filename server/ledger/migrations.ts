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
];

/** Checks a migration list is strictly increasing (a programming error otherwise). */
export function assertOrdered(list: readonly Migration[]): void {
  for (let i = 1; i < list.length; i++) {
    if (list[i].version <= list[i - 1].version) throw new Error(`migrations out of order at version ${list[i].version}`);
  }
}
