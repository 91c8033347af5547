//! Reading the central PostgreSQL store (`sluice audit … --store postgres://…`): sessions,
//! export and replay across every instance, and verification of each instance's hash chain.
//!
//! Verification checks each row as the local `verify` checks a record (canonical form, the
//! HMAC under the key, `prev` = the previous record's hash, seqs contiguous from 1 or from a
//! retention checkpoint) and also that the row's queryable columns (`statement`, `user_name`,
//! …) say what the signed record says, so an `UPDATE` of any column is found and named, and
//! that each chain reaches the newest record its instance shipped (`sluice_audit_instances`),
//! so rows deleted from the end are found too. `export --follow --store` follows that table.

use std::io::Write;

use audit::{Filter, Record, RecordBody, SessionSummary};
use futures_util::{pin_mut, TryStreamExt};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};

use super::pg_sink::{statement_column, text_column};

/// `ts` as microseconds since the epoch, exactly.
const TS_MICROS: &str = "(extract(epoch from date_trunc('second', ts))::int8 * 1000000 \
                         + extract(microseconds from ts)::int8 % 1000000)";

type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// `WHERE …` for `filter` (and `instance`), with its parameters.
fn where_clause(filter: &Filter, instance: Option<&str>, times: bool) -> (String, Params) {
    let mut conds = Vec::new();
    let mut params: Params = Vec::new();
    let mut add = |cond: &str, p: Box<dyn ToSql + Sync + Send>| {
        params.push(p);
        conds.push(cond.replace('?', &format!("${}", params.len())));
    };
    if let Some(u) = &filter.user {
        add("user_name = ?", Box::new(u.clone()));
    }
    if let Some(t) = &filter.target {
        add("target = ?", Box::new(t.clone()));
    }
    if let Some(s) = filter.session {
        add("session = ?", Box::new(s as i64));
    }
    if let Some(i) = instance {
        add("instance = ?", Box::new(i.to_string()));
    }
    if times {
        if let Some(s) = filter.since {
            add(&format!("{TS_MICROS} >= ?"), Box::new(s));
        }
        if let Some(u) = filter.until {
            add(&format!("{TS_MICROS} <= ?"), Box::new(u));
        }
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    (clause, params)
}

fn refs(params: &Params) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Why reading the central store failed; the text is what `sluice audit --store` prints.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("central store: {}", sql_message(.0))]
    Sql(#[from] tokio_postgres::Error),
    /// A stored record that does not parse (the audit crate's reason).
    #[error("central store: {0}")]
    BadRecord(String),
    #[error("central store: a row of {instance}: {reason}")]
    BadRow { instance: String, reason: String },
    #[error("session {session} exists on several instances ({}): choose one with --instance", instances.join(", "))]
    AmbiguousSession {
        session: u64,
        instances: Vec<String>,
    },
    /// The export's output could not be written.
    #[error("{0}")]
    Output(#[from] std::io::Error),
}

/// A database error's own message and SQLSTATE, else the client library's text.
fn sql_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("{} ({})", d.message(), d.code().code()),
        None => e.to_string(),
    }
}

/// Sessions of every instance: `(instance, summary)`, ordered by start time. `since`/`until`
/// select by start time, as locally.
pub async fn sessions(
    client: &Client,
    filter: &Filter,
) -> Result<Vec<(String, SessionSummary)>, StoreError> {
    let (clause, mut params) = where_clause(filter, None, false);
    let clause = if clause.is_empty() {
        "WHERE session <> 0".to_string()
    } else {
        format!("{clause} AND session <> 0")
    };
    let mut having = Vec::new();
    for (op, t) in [(">=", filter.since), ("<=", filter.until)] {
        if let Some(t) = t {
            params.push(Box::new(t));
            having.push(format!("min({TS_MICROS}) {op} ${}", params.len()));
        }
    }
    let having = if having.is_empty() {
        String::new()
    } else {
        format!("HAVING {}", having.join(" AND "))
    };
    let sql = format!(
        "SELECT instance, session, min(target), coalesce(min(nullif(user_name, '')), ''),
                min(client_addr), min({TS_MICROS}),
                max({TS_MICROS}) FILTER (WHERE kind = 'session_end'),
                count(*) FILTER (WHERE kind = 'statement'),
                count(*) FILTER (WHERE kind = 'statement' AND decision IN ('block', 'refused')),
                count(*) FILTER (WHERE kind = 'error')
         FROM sluice_audit_records {clause}
         GROUP BY instance, session {having}
         ORDER BY 6, 1, 2"
    );
    let rows = client.query(&sql, &refs(&params)).await?;
    Ok(rows.iter().map(session_row).collect())
}

fn session_row(row: &Row) -> (String, SessionSummary) {
    let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
    (
        row.get(0),
        SessionSummary {
            session: row.get::<_, i64>(1) as u64,
            target: row.get(2),
            user: row.get(3),
            client_addr: row.get(4),
            started: row.get(5),
            ended: row.get(6),
            statements: count(7),
            blocked: count(8),
            errors: count(9),
        },
    )
}

/// Writes the selected records of every instance as export lines with `instance` in front,
/// in time order. Returns the number of lines.
pub async fn export(
    client: &Client,
    filter: &Filter,
    out: &mut dyn Write,
) -> Result<u64, StoreError> {
    let (clause, params) = where_clause(filter, None, true);
    let sql = format!(
        "SELECT instance, record FROM sluice_audit_records {clause} ORDER BY ts, instance, seq"
    );
    let rows = client.query_raw(&sql, refs(&params)).await?;
    pin_mut!(rows);
    let mut n = 0;
    while let Some(row) = rows.try_next().await? {
        let instance: String = row.get(0);
        let stored: String = row.get(1);
        let r = Record::from_stored(stored.as_bytes()).map_err(|reason| StoreError::BadRow {
            instance: instance.clone(),
            reason,
        })?;
        let line = r.export_line();
        let rest = line.strip_prefix('{').unwrap_or(&line);
        let instance = serde_json::Value::String(instance);
        writeln!(out, "{{\"instance\":{instance},{rest}")?;
        n += 1;
    }
    Ok(n)
}

/// The records of `session` (of `instance`, which must be given when two instances have a
/// session with that id).
pub async fn session_records(
    client: &Client,
    session: u64,
    instance: Option<&str>,
) -> Result<Vec<Record>, StoreError> {
    let filter = Filter {
        session: Some(session),
        ..Filter::default()
    };
    let (clause, params) = where_clause(&filter, instance, false);
    let sql = format!(
        "SELECT instance, record FROM sluice_audit_records {clause} ORDER BY instance, seq"
    );
    let rows = client.query(&sql, &refs(&params)).await?;
    let mut instances: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    instances.dedup();
    if instances.len() > 1 {
        return Err(StoreError::AmbiguousSession { session, instances });
    }
    rows.iter()
        .map(|row| {
            let stored: String = row.get(1);
            Record::from_stored(stored.as_bytes()).map_err(StoreError::BadRecord)
        })
        .collect()
}

/// One instance's verification.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InstanceReport {
    pub instance: String,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub head_hash: [u8; 32],
    pub checkpoint_seq: Option<u64>,
    /// The first bad record and what is wrong with it.
    pub failure: Option<(u64, String)>,
}

/// A row as read for verification.
struct StoredRow {
    instance: String,
    seq: i64,
    ts: i64,
    session: i64,
    kind: String,
    target: String,
    user: String,
    client_addr: String,
    statement: Option<String>,
    decision: Option<String>,
    record: String,
    prev: Vec<u8>,
    hash: Vec<u8>,
}

impl StoredRow {
    fn of(row: &Row) -> StoredRow {
        StoredRow {
            instance: row.get(0),
            seq: row.get(1),
            ts: row.get(2),
            session: row.get(3),
            kind: row.get(4),
            target: row.get(5),
            user: row.get(6),
            client_addr: row.get(7),
            statement: row.get(8),
            decision: row.get(9),
            record: row.get(10),
            prev: row.get(11),
            hash: row.get(12),
        }
    }

    /// The first column that does not say what the signed record says.
    fn mismatch(&self, r: &Record) -> Option<&'static str> {
        let (statement, decision) = statement_column(r);
        [
            ("seq", self.seq == r.seq as i64),
            ("ts", self.ts == r.ts_micros),
            ("session", self.session == r.session as i64),
            ("kind", self.kind == r.body.kind()),
            ("target", self.target == text_column(&r.target)),
            ("user_name", self.user == text_column(&r.user)),
            (
                "client_addr",
                self.client_addr == text_column(&r.client_addr),
            ),
            ("statement", self.statement == statement),
            ("decision", self.decision == decision),
            ("prev", self.prev == r.prev),
            ("hash", self.hash == r.hash),
        ]
        .into_iter()
        .find(|(_, ok)| !ok)
        .map(|(name, _)| name)
    }
}

/// Verifies the chain of every instance in the store (or of `instance`) with `key`.
pub async fn verify(
    client: &Client,
    key: &[u8],
    instance: Option<&str>,
) -> Result<Vec<InstanceReport>, StoreError> {
    let (clause, params) = where_clause(&Filter::default(), instance, false);
    let sql = format!(
        "SELECT instance, seq, {TS_MICROS}, session, kind, target, user_name, client_addr,
                statement, decision, record, prev, hash
         FROM sluice_audit_records {clause} ORDER BY instance, seq, ts"
    );
    let rows = client.query_raw(&sql, refs(&params)).await?;
    pin_mut!(rows);
    let mut reports = Vec::new();
    let mut chain = Chain::default();
    while let Some(row) = rows.try_next().await? {
        let row = StoredRow::of(&row);
        if !chain.started || chain.report.instance != row.instance {
            let done = std::mem::replace(&mut chain, Chain::new(&row.instance));
            if done.started {
                reports.push(done.finish());
            }
        }
        if chain.report.failure.is_none() {
            if let Err(reason) = chain.check(key, &row) {
                chain.report.failure = Some((row.seq as u64, reason.to_string()));
            }
        }
    }
    if chain.started {
        reports.push(chain.finish());
    }
    check_marks(client, instance, &mut reports).await?;
    Ok(reports)
}

/// Each instance's newest shipped record (`sluice_audit_instances`), by instance; empty on a
/// store older than that table.
async fn marks(
    client: &Client,
    instance: Option<&str>,
) -> Result<Vec<(String, i64, Vec<u8>)>, StoreError> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('sluice_audit_instances') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if !exists {
        return Ok(Vec::new());
    }
    let rows = client
        .query(
            "SELECT instance, last_seq, last_hash FROM sluice_audit_instances
             WHERE $1::text IS NULL OR instance = $1 ORDER BY instance",
            &[&instance],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Rows deleted from the end of a chain leave it shorter than what was shipped: the marks
/// say how far each instance got.
async fn check_marks(
    client: &Client,
    instance: Option<&str>,
    reports: &mut Vec<InstanceReport>,
) -> Result<(), StoreError> {
    for (name, last_seq, last_hash) in marks(client, instance).await? {
        let last_seq = last_seq as u64;
        let Some(r) = reports.iter_mut().find(|r| r.instance == name) else {
            reports.push(InstanceReport {
                instance: name,
                failure: Some((
                    1,
                    format!("no rows, but the instance shipped through seq {last_seq} (records 1..={last_seq} missing)"),
                )),
                ..InstanceReport::default()
            });
            continue;
        };
        if r.failure.is_some() {
            continue;
        }
        let have = r.last_seq.unwrap_or(0);
        if have < last_seq {
            r.failure = Some((
                have + 1,
                format!(
                    "the rows end at seq {have}, but the instance shipped through seq {last_seq} (records {}..={last_seq} missing: deleted from the end)",
                    have + 1
                ),
            ));
        } else if have == last_seq && r.head_hash.as_slice() != last_hash.as_slice() {
            r.failure = Some((
                have,
                "the last row's hash is not the one shipped (replaced)".into(),
            ));
        }
    }
    reports.sort_by(|a, b| a.instance.cmp(&b.instance));
    Ok(())
}

/// `export --follow --store`: the selected records of every instance, then each instance's
/// new records as they arrive (per instance in seq order), until the output closes.
pub async fn follow(
    client: &Client,
    filter: &Filter,
    out: &mut dyn Write,
    poll: std::time::Duration,
) -> Result<(), FollowError> {
    let mut seen: std::collections::HashMap<String, i64> = Default::default();
    loop {
        for (instance, last, _) in marks(client, None).await.map_err(FollowError::Store)? {
            let from = seen.get(&instance).copied().unwrap_or(0);
            if last <= from {
                continue;
            }
            let rows = client
                .query(
                    "SELECT record FROM sluice_audit_records
                     WHERE instance = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
                    &[&instance, &from, &last],
                )
                .await
                .map_err(|e| FollowError::Store(e.into()))?;
            let name = serde_json::Value::String(instance.clone());
            for row in rows {
                let stored: String = row.get(0);
                let Ok(r) = Record::from_stored(stored.as_bytes()) else {
                    continue;
                };
                if filter.matches(&r) {
                    let line = r.export_line();
                    let rest = line.strip_prefix('{').unwrap_or(&line);
                    writeln!(out, "{{\"instance\":{name},{rest}").map_err(FollowError::Output)?;
                }
            }
            seen.insert(instance, last);
        }
        out.flush().map_err(FollowError::Output)?;
        tokio::time::sleep(poll).await;
    }
}

/// Why `follow` stopped.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// Why a stored row breaks its instance's chain: the failure `verify` reports.
#[derive(Debug, thiserror::Error)]
enum ChainBreak {
    #[error("the record column is not a record ({0})")]
    NotARecord(String),
    #[error("the record column is not in canonical form (edited)")]
    NotCanonical,
    #[error("hash does not match its content (edited, or a different key)")]
    Hash,
    #[error("column {0} does not match the signed record (edited)")]
    Column(&'static str),
    #[error("seq {0} is stored twice")]
    Twice(u64),
    #[error("gap: expected seq {}, found {found} (records {}..={} missing)", after + 1, after + 1, found.saturating_sub(1))]
    Gap { after: u64, found: u64 },
    #[error("prev does not match the hash of record {0} (reordered or replaced)")]
    Prev(u64),
    #[error("the first record's prev is not zero")]
    FirstPrev,
}

/// The chain state of the instance being verified.
#[derive(Default)]
struct Chain {
    started: bool,
    report: InstanceReport,
    last: Option<(u64, [u8; 32])>,
    /// The checkpoint needed when the chain does not start at seq 1.
    needed: Option<(u64, [u8; 32])>,
}

impl Chain {
    fn new(instance: &str) -> Chain {
        Chain {
            started: true,
            report: InstanceReport {
                instance: instance.to_string(),
                ..InstanceReport::default()
            },
            ..Chain::default()
        }
    }

    fn finish(mut self) -> InstanceReport {
        if self.report.failure.is_none() {
            if let Some((s, _)) = self.needed {
                self.report.failure = Some((
                    s + 1,
                    format!("the chain starts at seq {} and no checkpoint covers records 1..={s} (missing from the start)", s + 1),
                ));
            }
        }
        self.report
    }

    fn check(&mut self, key: &[u8], row: &StoredRow) -> Result<(), ChainBreak> {
        let r = Record::from_stored(row.record.as_bytes()).map_err(ChainBreak::NotARecord)?;
        if r.stored_bytes() != row.record.as_bytes() {
            return Err(ChainBreak::NotCanonical);
        }
        if audit::expected_hash(key, &r) != r.hash {
            return Err(ChainBreak::Hash);
        }
        if let Some(column) = row.mismatch(&r) {
            return Err(ChainBreak::Column(column));
        }
        self.link(&r)?;
        if let RecordBody::Checkpoint {
            pruned_through_seq,
            chain_hash,
        } = &r.body
        {
            if self.needed == Some((*pruned_through_seq, *chain_hash)) {
                self.needed = None;
                self.report.checkpoint_seq = Some(*pruned_through_seq);
            }
        }
        self.last = Some((r.seq, r.hash));
        self.report.records += 1;
        self.report.last_seq = Some(r.seq);
        self.report.head_hash = r.hash;
        Ok(())
    }

    /// `r` continues the chain.
    fn link(&mut self, r: &Record) -> Result<(), ChainBreak> {
        match self.last {
            Some((seq, _)) if r.seq == seq => Err(ChainBreak::Twice(seq)),
            Some((seq, _)) if r.seq != seq + 1 => Err(ChainBreak::Gap {
                after: seq,
                found: r.seq,
            }),
            Some((seq, hash)) if r.prev != hash => Err(ChainBreak::Prev(seq)),
            Some(_) => Ok(()),
            None => {
                self.report.first_seq = Some(r.seq);
                if r.seq == 1 && r.prev != [0; 32] {
                    return Err(ChainBreak::FirstPrev);
                }
                if r.seq > 1 {
                    self.needed = Some((r.seq - 1, r.prev));
                }
                Ok(())
            }
        }
    }
}
