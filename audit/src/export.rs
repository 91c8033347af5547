//! JSONL export and session listing.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use crate::reader::{AuditReader, Filter};
use crate::record::RecordBody;
use crate::AuditError;

/// What [`export_jsonl`] wrote.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ExportReport {
    /// Lines written.
    pub records: u64,
    /// Whether a segment or record had to be skipped (locked or unreadable).
    pub incomplete: bool,
}

/// Streams the records passing `filter` to `out`, one JSON object a line, in the contract's
/// format (see [`Record::export_line`](crate::Record::export_line)). Records are read in
/// small chunks; nothing is loaded whole.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let reader = audit::AuditReader::open(dir.path()).unwrap();
/// let mut out = Vec::new();
/// let rep = audit::export_jsonl(&reader, &audit::Filter::default(), &mut out).unwrap();
/// assert_eq!(rep.records, 0);
/// ```
pub fn export_jsonl(
    reader: &AuditReader,
    filter: &Filter,
    out: &mut dyn Write,
) -> Result<ExportReport, AuditError> {
    let mut rep = ExportReport::default();
    for item in reader.records(filter) {
        match item {
            Ok(r) => {
                out.write_all(r.export_line().as_bytes())?;
                out.write_all(b"\n")?;
                rep.records += 1;
            }
            Err(_) => rep.incomplete = true,
        }
    }
    out.flush()?;
    Ok(rep)
}

/// One session as listed by [`sessions`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionSummary {
    /// Session id.
    pub session: u64,
    /// Target.
    pub target: String,
    /// User.
    pub user: String,
    /// Client address.
    pub client_addr: String,
    /// Time of its first record (µs since the epoch).
    pub started: i64,
    /// Time of its `session_end` record, if recorded.
    pub ended: Option<i64>,
    /// Statement records.
    pub statements: u64,
    /// Statements that were not allowed (`block`, `refused`).
    pub blocked: u64,
    /// Error records.
    pub errors: u64,
}

/// Summaries of the sessions in the log, ordered by start time. `filter.user`, `target` and
/// `session` select sessions; `since`/`until` select by start time. Reads the log once, keeping
/// one summary per session in memory.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let reader = audit::AuditReader::open(dir.path()).unwrap();
/// assert!(audit::sessions(&reader, &audit::Filter::default()).unwrap().is_empty());
/// ```
pub fn sessions(reader: &AuditReader, filter: &Filter) -> Result<Vec<SessionSummary>, AuditError> {
    let by_session = Filter {
        session: filter.session,
        user: filter.user.clone(),
        target: filter.target.clone(),
        ..Filter::default()
    };
    let mut map: BTreeMap<u64, SessionSummary> = BTreeMap::new();
    for r in reader.records(&by_session).flatten() {
        if r.session == 0 {
            continue;
        }
        let s = map.entry(r.session).or_insert_with(|| SessionSummary {
            session: r.session,
            target: r.target.clone(),
            user: r.user.clone(),
            client_addr: r.client_addr.clone(),
            started: r.ts_micros,
            ended: None,
            statements: 0,
            blocked: 0,
            errors: 0,
        });
        if s.user.is_empty() && !r.user.is_empty() {
            s.user = r.user.clone();
        }
        match &r.body {
            RecordBody::Statement { decision, .. } => {
                s.statements += 1;
                if decision == "block" || decision == "refused" {
                    s.blocked += 1;
                }
            }
            RecordBody::Error { .. } => s.errors += 1,
            RecordBody::SessionEnd { .. } => s.ended = Some(r.ts_micros),
            _ => {}
        }
    }
    let mut out: Vec<SessionSummary> = map
        .into_values()
        .filter(|s| {
            filter.since.is_none_or(|t| s.started >= t)
                && filter.until.is_none_or(|t| s.started <= t)
        })
        .collect();
    out.sort_by_key(|s| (s.started, s.session));
    Ok(out)
}
