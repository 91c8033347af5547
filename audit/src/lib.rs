//! # sluice-audit: the tamper-evident audit log
//!
//! Every session sluice relays is recorded here: session start, authentication, each
//! statement (masked by the caller) with its policy decision, each result (masked rows up to
//! `record_rows`, row count, bytes, duration), errors, approval events and the session end.
//!
//! ## Writing
//! [`AuditLog::open`] starts a dedicated writer thread fed by a bounded queue, which wakes it
//! only for what it must act on at once. Callers submit [`Draft`]s with
//! [`AuditLog::record`]; the writer assigns the seq, chains and signs each record
//! (`hash = HMAC-SHA-256(key, prev || canonical JSON)`) and group-commits everything queued in
//! one durable write.
//!
//! * [`Mode::Async`]: a record is acknowledged when submitted and made durable within
//!   `flush_interval`; a crash loses at most the last interval.
//! * [`Mode::Sync`]: [`Ticket::wait`] returns once the record is durable.
//! * In both modes a batch is made durable in the *journal* (one direct block write per
//!   batch) and goes into a segment every second; see below. A record submitted with
//!   [`AuditLog::record_trailing`] (one nothing waits on) is not written on its own but with the
//!   next record that is, or within `flush_interval`.
//! * A full queue blocks `record` (back-pressure); nothing is dropped.
//! * A failing commit makes [`AuditLog::health`] `Failing`: new statement records are refused
//!   with [`AuditError::Unavailable`], queued records stay in memory and are retried every
//!   `flush_interval` until a commit succeeds.
//!
//! Nothing here uses an async runtime: from tokio, call the blocking waits
//! ([`Ticket::wait`], [`AuditLog::flush`], a full queue in `record`) through `spawn_blocking`
//! or `block_in_place`.
//!
//! ## Storage
//! redb files `segment-<first_seq:020>.redb` in the directory, tables `records`
//! (seq → stored JSON) and `meta`. The writer rotates to a new segment past
//! `segment_max_bytes` or `segment_max_age`. Segments are opened in redb's `SingleWriter`
//! concurrency mode, so other processes (the `sluice audit` CLI) can read every segment —
//! closed ones and the one being written — while the proxy runs. A segment left by a crashed
//! writer is read from a repaired temporary copy. Retention ([`AuditLog::prune`], also run
//! hourly by the writer when `retention` is set) deletes whole old segments after committing
//! a [`RecordBody::Checkpoint`] naming the last pruned record and its hash, so the chain still
//! verifies.
//!
//! The file `sync-journal` holds the records that are durable and not yet in a segment: a
//! redb commit that other processes can follow costs two `fsync`s and a write of each page the
//! batch touched, a journal append one direct write, on blocks written ahead. Readers take the
//! journal's records after the segments' last, and the writer puts them into a segment on its
//! next start after a crash, refusing a journal whose records do not continue the chain.
//!
//! ## Reading
//! [`AuditReader`] streams records; [`verify`] checks the chain and names the first bad
//! record; [`export_jsonl`] writes the contract's JSON lines; [`sessions`] lists sessions;
//! [`replay`] prints a transcript.
//!
//! ```
//! use audit::{AuditConfig, AuditLog, AuditReader, Draft, Filter, RecordBody};
//! let dir = tempfile::tempdir().unwrap();
//! let log = AuditLog::open(AuditConfig::new(dir.path(), b"secret".to_vec())).unwrap();
//! let mut d = Draft::new(1, "app-pg", "alice", RecordBody::SessionStart {
//!     tls: true, application_name: Some("psql".into()), database: Some("app".into()),
//!     upstream_user: Some("app_ro".into()) });
//! d.client_addr = "10.0.0.1:5555".into();
//! log.record(d).unwrap();
//! log.close().unwrap();
//!
//! assert_eq!(audit::verify(dir.path(), b"secret").unwrap().last_seq, Some(1));
//! let reader = AuditReader::open(dir.path()).unwrap();
//! let mut out = Vec::new();
//! audit::export_jsonl(&reader, &Filter::default(), &mut out).unwrap();
//! let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
//! assert_eq!(line["kind"], "session_start");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod chain;
mod encode;
mod export;
#[doc(hidden)]
pub mod fuzzing;
mod journal;
mod queue;
mod reader;
mod record;
mod replay;
mod segment;
mod store;
mod time;
mod verify;
mod worker;
mod writer;

use std::fmt;

pub use chain::{chain_hash, expected_hash, ChainHead};
pub use export::{export_jsonl, sessions, ExportReport, SessionSummary};
pub use reader::{AuditReader, Entries, Entry, Filter, ReadIssue, Records};
pub use record::{Draft, Record, RecordBody, ResultColumn};
pub use replay::{replay, replay_records};
pub use segment::{list_segments, segment_name, SegmentFile};
pub use store::TestHooks;
pub use time::{format_rfc3339_micros, now_micros, parse_rfc3339};
pub use verify::{verify, VerifyError, VerifyReport};
pub use writer::{AuditConfig, AuditLog, Durable, Health, Mode, PruneReport, Stats, Ticket};

/// Errors of the audit log.
#[derive(Debug)]
pub enum AuditError {
    /// A file system error.
    Io(std::io::Error),
    /// The storage engine failed (commit, open).
    Storage(String),
    /// Existing files do not verify (wrong key or tampering): the log will not continue them.
    Corrupt(String),
    /// The log cannot accept the record now (writes are failing); refuse the statement.
    Unavailable(String),
    /// The log was closed.
    Closed,
    /// Nothing found (e.g. no such session).
    NotFound(String),
    /// Invalid configuration.
    Config(String),
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::Io(e) => write!(f, "audit log i/o error: {e}"),
            AuditError::Storage(e) => write!(f, "audit storage error: {e}"),
            AuditError::Corrupt(e) => write!(f, "audit log corrupt: {e}"),
            AuditError::Unavailable(e) => write!(f, "audit log unavailable: {e}"),
            AuditError::Closed => write!(f, "audit log closed"),
            AuditError::NotFound(e) => write!(f, "not found in the audit log: {e}"),
            AuditError::Config(e) => write!(f, "audit configuration: {e}"),
        }
    }
}

impl std::error::Error for AuditError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AuditError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for AuditError {
    fn from(e: std::io::Error) -> Self {
        AuditError::Io(e)
    }
}
