//! The PostgreSQL sink: records go into `sluice_audit_records`, a table partitioned by day of
//! record time, keyed by `(instance, seq, ts)` and written with `ON CONFLICT DO NOTHING`, so a
//! re-sent batch is a no-op. Each row carries the record exactly as stored locally (`record`,
//! its canonical JSON with the hash) and its chain hashes (`prev`, `hash`), so each instance's
//! chain can be verified centrally ([`super::store`]).
//!
//! sluice applies its own schema: versioned migrations in `sluice_audit_schema`, each applied
//! once, in one transaction under an advisory lock, so instances starting together apply them
//! exactly once. Day partitions are created when a batch needs them, under another advisory
//! lock.

use std::collections::BTreeSet;

use tokio_postgres::Client;

use super::pg_conn::PgStore;
use super::{Batch, Delivery, ShipperError};
use crate::config::{Config, SinkConfig};
use crate::pg_schema::Schema;

/// Advisory lock keys: migrations, partition creation.
const MIGRATION_LOCK: i64 = 0x5_1c3a_0001;
const PARTITION_LOCK: i64 = 0x5_1c3a_0002;
const DAY_MICROS: i64 = 86_400_000_000;

/// The migrations, `(version, SQL)` in order. Never edit one that shipped: add the next.
pub const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE sluice_audit_records (
    instance    text        NOT NULL,
    seq         bigint      NOT NULL,
    ts          timestamptz NOT NULL,
    session     bigint      NOT NULL,
    kind        text        NOT NULL,
    target      text        NOT NULL,
    user_name   text        NOT NULL,
    client_addr text        NOT NULL,
    statement   text,
    decision    text,
    record      text        NOT NULL,
    prev        bytea       NOT NULL,
    hash        bytea       NOT NULL,
    shipped_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance, seq, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX sluice_audit_records_session ON sluice_audit_records (instance, session);
CREATE INDEX sluice_audit_records_ts ON sluice_audit_records (ts);
"#,
    ),
    (
        2,
        r#"
CREATE TABLE sluice_audit_instances (
    instance   text        PRIMARY KEY,
    last_seq   bigint      NOT NULL,
    last_hash  bytea       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO sluice_audit_instances (instance, last_seq, last_hash)
    SELECT DISTINCT ON (instance) instance, seq, hash
    FROM sluice_audit_records ORDER BY instance, seq DESC;
"#,
    ),
];

/// The central audit store's schema.
const SCHEMA: Schema = Schema {
    store: "central audit",
    table: "sluice_audit_schema",
    lock_key: MIGRATION_LOCK,
    migrations: MIGRATIONS,
};

/// Each instance's newest shipped record, written with every batch: `verify --store` finds
/// rows deleted from the end with it, and `export --follow --store` what is new.
const MARK: &str = "INSERT INTO sluice_audit_instances (instance, last_seq, last_hash)
  VALUES ($1, $2, $3)
  ON CONFLICT (instance) DO UPDATE SET
    last_seq = EXCLUDED.last_seq, last_hash = EXCLUDED.last_hash, updated_at = now()
  WHERE sluice_audit_instances.last_seq <= EXCLUDED.last_seq";

/// Applies the migrations not yet applied. Safe to run from several instances at once.
pub async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    SCHEMA.migrate(client).await.map(|_| ())
}

/// `YYYY-MM-DD` of the UTC day `day` (days since the epoch).
fn day_name(day: i64) -> String {
    let ts = audit::format_rfc3339_micros(day.saturating_mul(DAY_MICROS));
    ts.get(..10).unwrap_or("1970-01-01").to_string()
}

/// Creates the day partitions `days` (days since the epoch) that do not exist yet.
pub async fn ensure_partitions(
    client: &mut Client,
    days: &BTreeSet<i64>,
) -> Result<(), tokio_postgres::Error> {
    let txn = client.transaction().await?;
    txn.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])
        .await?;
    for &day in days {
        let from = day_name(day);
        let to = day_name(day + 1);
        let table = format!("sluice_audit_records_{}", from.replace('-', ""));
        txn.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table} PARTITION OF sluice_audit_records \
             FOR VALUES FROM ('{from} 00:00:00+00') TO ('{to} 00:00:00+00')"
        ))
        .await?;
    }
    txn.commit().await
}

/// The statement text a row shows (NUL, which PostgreSQL text cannot hold, as U+FFFD).
pub fn statement_column(r: &audit::Record) -> (Option<String>, Option<String>) {
    match &r.body {
        audit::RecordBody::Statement { text, decision, .. } => (
            Some(text.replace('\0', "\u{fffd}")),
            Some(decision.replace('\0', "\u{fffd}")),
        ),
        _ => (None, None),
    }
}

/// Text for a text column.
pub fn text_column(s: &str) -> String {
    s.replace('\0', "\u{fffd}")
}

const INSERT: &str = "INSERT INTO sluice_audit_records
    (instance, seq, ts, session, kind, target, user_name, client_addr, statement, decision, record, prev, hash)
  SELECT $1, s, timestamptz 'epoch' + t * interval '1 microsecond', se, k, tg, u, ca, st, d, r, p, h
  FROM unnest($2::int8[], $3::int8[], $4::int8[], $5::text[], $6::text[], $7::text[], $8::text[],
              $9::text[], $10::text[], $11::text[], $12::bytea[], $13::bytea[])
       AS x(s, t, se, k, tg, u, ca, st, d, r, p, h)
  ON CONFLICT DO NOTHING";

/// Columns of a batch, as arrays.
#[derive(Default)]
struct Columns {
    seq: Vec<i64>,
    ts: Vec<i64>,
    session: Vec<i64>,
    kind: Vec<String>,
    target: Vec<String>,
    user: Vec<String>,
    client_addr: Vec<String>,
    statement: Vec<Option<String>>,
    decision: Vec<Option<String>>,
    record: Vec<String>,
    prev: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

impl Columns {
    fn of(batch: &Batch) -> Columns {
        let mut c = Columns::default();
        for s in &batch.items {
            let r = &s.record;
            // seq and session ids stay far below 2^63; the cast is the store's encoding.
            c.seq.push(r.seq as i64);
            c.ts.push(r.ts_micros);
            c.session.push(r.session as i64);
            c.kind.push(r.body.kind().to_string());
            c.target.push(text_column(&r.target));
            c.user.push(text_column(&r.user));
            c.client_addr.push(text_column(&r.client_addr));
            let (st, d) = statement_column(r);
            c.statement.push(st);
            c.decision.push(d);
            c.record.push(s.stored.clone());
            c.prev.push(r.prev.to_vec());
            c.hash.push(r.hash.to_vec());
        }
        c
    }
}

/// A PostgreSQL sink and its connection (made, and the schema migrated, on first use and
/// after any failure).
pub struct PgSink {
    store: PgStore,
    timeout: std::time::Duration,
    client: Option<Client>,
    partitions: BTreeSet<i64>,
}

impl PgSink {
    pub fn new(config: &Config, sc: &SinkConfig) -> Result<PgSink, ShipperError> {
        let store = PgStore::new(
            &sc.url,
            sc.password_env.as_deref(),
            Some(sc.tls.unwrap_or_default()),
            sc.ca_file.as_ref().map(|p| config.path(p)),
        )
        .map_err(|e| e.of_sink(&sc.name))?;
        Ok(PgSink {
            store,
            timeout: sc.timeout(),
            client: None,
            partitions: BTreeSet::new(),
        })
    }

    /// Connects and asks for nothing (`sluice check --live`).
    pub async fn probe(&self) -> Result<(), ShipperError> {
        let client = self.store.connect().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(ShipperError::Probe)?;
        Ok(())
    }

    pub async fn deliver(&mut self, batch: &Batch) -> Delivery {
        match tokio::time::timeout(self.timeout, self.try_deliver(batch)).await {
            Ok(Ok(())) => Delivery::Done,
            Ok(Err(e)) => {
                self.client = None;
                let state = e.as_db_error().map(|d| d.code().clone());
                // A record the store cannot take (a data exception) would fail forever.
                if state.as_ref().is_some_and(|s| s.code().starts_with("22")) {
                    Delivery::Rejected {
                        records: batch.items.len() as u64,
                        reason: e.to_string(),
                    }
                } else {
                    Delivery::Retry(describe(&e))
                }
            }
            Err(_) => {
                self.client = None;
                Delivery::Retry(format!("no answer within {:?}", self.timeout))
            }
        }
    }

    async fn try_deliver(&mut self, batch: &Batch) -> Result<(), PgSinkError> {
        let client = match self.client.as_mut() {
            Some(c) if !c.is_closed() => c,
            _ => {
                let mut c = self.store.connect().await.map_err(PgSinkError::Connect)?;
                migrate(&mut c).await?;
                self.partitions.clear();
                self.client.insert(c)
            }
        };
        let days: BTreeSet<i64> = batch
            .items
            .iter()
            .map(|s| s.record.ts_micros.div_euclid(DAY_MICROS))
            .filter(|d| !self.partitions.contains(d))
            .collect();
        if !days.is_empty() {
            ensure_partitions(client, &days).await?;
            self.partitions.extend(days);
        }
        let c = Columns::of(batch);
        let instance = batch.instance.to_string();
        let txn = client.transaction().await?;
        txn.execute(
            INSERT,
            &[
                &instance,
                &c.seq,
                &c.ts,
                &c.session,
                &c.kind,
                &c.target,
                &c.user,
                &c.client_addr,
                &c.statement,
                &c.decision,
                &c.record,
                &c.prev,
                &c.hash,
            ],
        )
        .await?;
        if let Some(last) = batch.items.last() {
            let seq = last.record.seq as i64;
            let hash = last.record.hash.to_vec();
            txn.execute(MARK, &[&instance, &seq, &hash]).await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

/// Why a delivery to PostgreSQL failed.
#[derive(Debug, thiserror::Error)]
enum PgSinkError {
    #[error("{0}")]
    Connect(ShipperError),
    #[error(transparent)]
    Sql(#[from] tokio_postgres::Error),
}

impl PgSinkError {
    fn as_db_error(&self) -> Option<&tokio_postgres::error::DbError> {
        match self {
            PgSinkError::Sql(e) => e.as_db_error(),
            PgSinkError::Connect(_) => None,
        }
    }
}

fn describe(e: &PgSinkError) -> String {
    match e.as_db_error() {
        Some(d) => {
            format!("{} ({})", d.message(), d.code().code())
        }
        _ => match e {
            PgSinkError::Sql(e) => super::pg_conn::with_sources(e),
            other => other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_named_in_utc() {
        assert_eq!(super::day_name(0), "1970-01-01");
        assert_eq!(super::day_name(20_429), "2025-12-07");
    }
}
