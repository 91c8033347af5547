//! Chain verification.

use std::fmt;
use std::path::Path;

use crate::chain::expected_hash;
use crate::reader::AuditReader;
use crate::record::{Record, RecordBody};

/// What a successful [`verify`] checked.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// Segments read.
    pub segments: usize,
    /// First seq present (after pruning, the one after the checkpoint's cut).
    pub first_seq: Option<u64>,
    /// Last seq present.
    pub last_seq: Option<u64>,
    /// Hash of the last record: anchor it elsewhere to detect truncation of the tail.
    pub head_hash: [u8; 32],
    /// The retention checkpoint the chain starts from, if it does not start at seq 1.
    pub checkpoint_seq: Option<u64>,
    /// True when the newest segment could not be opened (held by another process): the
    /// records before it verified.
    pub incomplete: bool,
}

/// The first bad record found by [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// The seq of the first bad record (`None` when a whole segment is unreadable).
    pub seq: Option<u64>,
    /// The segment file it is in.
    pub segment: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seq {
            Some(s) => write!(f, "record {s} in {}: {}", self.segment, self.reason),
            None => write!(f, "{}: {}", self.segment, self.reason),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Recomputes every hash of the log in `dir` with `key`, and checks that seqs are contiguous,
/// that each `prev` is the previous record's hash, that each record is stored under its own seq
/// in canonical form, and that the chain starts at seq 1 from zeros or from a retention
/// checkpoint. Stops at the first bad record and names it.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let report = audit::verify(dir.path(), b"key").unwrap();
/// assert_eq!(report.records, 0);
/// ```
pub fn verify(dir: &Path, key: &[u8]) -> Result<VerifyReport, VerifyError> {
    let reader = AuditReader::open(dir).map_err(|e| VerifyError {
        seq: None,
        segment: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut report = VerifyReport::default();
    let mut last: Option<(u64, [u8; 32])> = None;
    // (seq, hash) the checkpoint must name when the chain does not start at seq 1.
    let mut needed: Option<(u64, [u8; 32], String)> = None;
    let mut seen_segment: Option<usize> = None;
    for item in reader.entries() {
        let entry = match item {
            Ok(e) => e,
            Err(issue) => {
                let is_last = reader
                    .segments()
                    .last()
                    .is_some_and(|s| s.name == issue.segment);
                if issue.locked && is_last {
                    report.incomplete = true;
                    continue;
                }
                return Err(VerifyError {
                    seq: issue.seq,
                    segment: issue.segment,
                    reason: format!("segment unreadable: {}", issue.reason),
                });
            }
        };
        if seen_segment != Some(entry.segment_index) {
            seen_segment = Some(entry.segment_index);
            report.segments += 1;
        }
        let bad = |reason: String| VerifyError {
            seq: Some(entry.seq),
            segment: entry.segment.clone(),
            reason,
        };
        let rec = Record::from_stored(&entry.bytes).map_err(bad)?;
        if rec.seq != entry.seq {
            return Err(bad(format!(
                "stored under seq {} but holds record {} (records moved or swapped)",
                entry.seq, rec.seq
            )));
        }
        if rec.stored_bytes() != entry.bytes {
            return Err(bad("not in canonical form (edited)".into()));
        }
        if expected_hash(key, &rec) != rec.hash {
            return Err(bad(
                "hash does not match its content (edited, or a different key)".into(),
            ));
        }
        match last {
            Some((seq, hash)) => {
                if rec.seq != seq + 1 {
                    return Err(bad(format!(
                        "gap: expected seq {}, found {} (records {}..={} missing)",
                        seq + 1,
                        rec.seq,
                        seq + 1,
                        rec.seq.saturating_sub(1)
                    )));
                }
                if rec.prev != hash {
                    return Err(bad(format!(
                        "prev does not match the hash of record {seq} (reordered or replaced)"
                    )));
                }
            }
            None => {
                report.first_seq = Some(rec.seq);
                if rec.seq == 1 {
                    if rec.prev != [0; 32] {
                        return Err(bad("the first record's prev is not zero".into()));
                    }
                } else {
                    needed = Some((rec.seq - 1, rec.prev, entry.segment.clone()));
                }
            }
        }
        if let RecordBody::Checkpoint {
            pruned_through_seq,
            chain_hash,
        } = &rec.body
        {
            if needed
                .as_ref()
                .is_some_and(|(s, h, _)| s == pruned_through_seq && h == chain_hash)
            {
                needed = None;
                report.checkpoint_seq = Some(*pruned_through_seq);
            }
        }
        last = Some((rec.seq, rec.hash));
        report.records += 1;
        report.last_seq = Some(rec.seq);
        report.head_hash = rec.hash;
    }
    if let Some((s, _, segment)) = needed {
        return Err(VerifyError {
            seq: Some(s + 1),
            segment,
            reason: format!(
                "the chain starts at seq {} and no checkpoint covers records 1..={s} (deleted from the start)",
                s + 1
            ),
        });
    }
    Ok(report)
}
