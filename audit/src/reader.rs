//! Reading an audit directory: all segments, oldest first, streamed in small chunks.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use redb::ReadOnlyTable;

use crate::journal;
use crate::record::Record;
use crate::segment::{guarded, list_segments, open_read_only, OpenError, ReadSegment, SegmentFile};
use crate::AuditError;

const CHUNK: usize = 256;

/// Read access to an audit directory, usable while a writer runs.
///
/// Segments are opened read-only one at a time as iteration reaches them. A segment that
/// cannot be opened (held exclusively by another process, unreadable) is skipped and the
/// reader is marked [`incomplete`](AuditReader::incomplete).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let reader = audit::AuditReader::open(dir.path()).unwrap();
/// assert_eq!(reader.records(&audit::Filter::default()).count(), 0);
/// assert!(!reader.incomplete());
/// ```
pub struct AuditReader {
    dir: PathBuf,
    segments: Vec<SegmentFile>,
    incomplete: AtomicBool,
}

/// A segment that could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadIssue {
    /// The segment's file name.
    pub segment: String,
    /// The record's seq, when the problem is one record.
    pub seq: Option<u64>,
    /// Whether the segment is locked by another process (rather than broken).
    pub locked: bool,
    /// What went wrong.
    pub reason: String,
}

/// One stored record, undecoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The segment's file name.
    pub segment: String,
    /// Index of the segment in [`AuditReader::segments`].
    pub segment_index: usize,
    /// The key it is stored under.
    pub seq: u64,
    /// The stored bytes.
    pub bytes: Vec<u8>,
}

/// Which records to read. Empty fields match everything; `since` and `until` are inclusive
/// microseconds since the epoch.
///
/// ```
/// let f = audit::Filter { user: Some("alice".into()), ..Default::default() };
/// assert!(f.user.is_some());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Earliest event time.
    pub since: Option<i64>,
    /// Latest event time.
    pub until: Option<i64>,
    /// Only this user.
    pub user: Option<String>,
    /// Only this target.
    pub target: Option<String>,
    /// Only this session.
    pub session: Option<u64>,
}

impl Filter {
    /// Whether `r` passes.
    pub fn matches(&self, r: &Record) -> bool {
        self.since.is_none_or(|s| r.ts_micros >= s)
            && self.until.is_none_or(|u| r.ts_micros <= u)
            && self.user.as_ref().is_none_or(|u| *u == r.user)
            && self.target.as_ref().is_none_or(|t| *t == r.target)
            && self.session.is_none_or(|s| s == r.session)
    }
}

impl AuditReader {
    /// Lists the segments of `dir` (a missing directory has none).
    pub fn open(dir: impl AsRef<Path>) -> Result<AuditReader, AuditError> {
        let dir = dir.as_ref().to_path_buf();
        let segments = list_segments(&dir)?;
        Ok(AuditReader {
            dir,
            segments,
            incomplete: AtomicBool::new(false),
        })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment files, oldest first.
    pub fn segments(&self) -> &[SegmentFile] {
        &self.segments
    }

    /// Whether an iteration so far had to skip a segment or a record.
    pub fn incomplete(&self) -> bool {
        self.incomplete.load(Ordering::SeqCst)
    }

    /// All stored entries in seq order, raw.
    pub fn entries(&self) -> Entries<'_> {
        self.entries_from(0)
    }

    /// The stored entries from seq `from` on, in seq order, raw: segments that end before it
    /// are not opened (a shipper's cursor reads only what is new).
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let reader = audit::AuditReader::open(dir.path()).unwrap();
    /// assert_eq!(reader.entries_from(5).count(), 0);
    /// ```
    pub fn entries_from(&self, from: u64) -> Entries<'_> {
        // The segment holding `from` is the last one starting at or before it.
        let idx = self
            .segments
            .iter()
            .rposition(|s| s.first_seq <= from)
            .unwrap_or(0);
        Entries {
            reader: self,
            idx,
            cur: None,
            buf: VecDeque::new(),
            last_seq: from.checked_sub(1).filter(|s| *s > 0),
            journal_read: false,
            from,
        }
    }

    /// Decoded records passing `filter`, in seq order. Undecodable records and unreadable
    /// segments are yielded as errors (and mark the reader incomplete).
    pub fn records<'a>(&'a self, filter: &'a Filter) -> Records<'a> {
        Records {
            entries: self.entries(),
            filter,
        }
    }
}

struct Open {
    _seg: ReadSegment,
    table: ReadOnlyTable<u64, &'static [u8]>,
    next: Option<u64>,
}

/// Iterator over raw entries; see [`AuditReader::entries`].
pub struct Entries<'a> {
    reader: &'a AuditReader,
    idx: usize,
    cur: Option<Open>,
    buf: VecDeque<Entry>,
    /// The seq of the last entry yielded.
    last_seq: Option<u64>,
    /// Whether the sync journal's records beyond the segments were taken.
    journal_read: bool,
    /// The first seq wanted.
    from: u64,
}

impl Entries<'_> {
    fn issue(&mut self, seq: Option<u64>, locked: bool, reason: String) -> ReadIssue {
        self.reader.incomplete.store(true, Ordering::SeqCst);
        let segment = self
            .reader
            .segments
            .get(self.idx)
            .map_or_else(|| journal::JOURNAL_FILE.to_string(), |s| s.name.clone());
        ReadIssue {
            segment,
            seq,
            locked,
            reason,
        }
    }

    /// Queues the records a sync-mode writer made durable in its journal and has not yet
    /// put into a segment: those that continue the segments' last record.
    fn journal_tail(&mut self) -> Result<(), String> {
        let path = journal::path(&self.reader.dir);
        let frames = journal::scan(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let after = self.last_seq.unwrap_or(0);
        let mut tail = frames.into_iter().filter(|f| f.seq > after).peekable();
        // Frames that do not start right after the segments were indexed (into a segment this
        // reader listed too late to see) since it read them.
        if self.last_seq.is_some() && tail.peek().is_some_and(|f| f.seq != after + 1) {
            return Ok(());
        }
        let segment_index = self.reader.segments.len();
        for f in tail {
            self.buf.push_back(Entry {
                segment: journal::JOURNAL_FILE.to_string(),
                segment_index,
                seq: f.seq,
                bytes: f.bytes,
            });
        }
        Ok(())
    }

    fn fill(&mut self) -> Result<(), String> {
        let Some(open) = self.cur.as_mut() else {
            return Ok(());
        };
        let Some(from) = open.next else {
            self.cur = None;
            return Ok(());
        };
        let name = self.reader.segments.get(self.idx).map(|s| s.name.clone());
        let idx = self.idx;
        let got = guarded("read", || {
            let mut out = Vec::with_capacity(CHUNK);
            for item in open.table.range(from..).map_err(|e| e.to_string())? {
                let (k, v) = item.map_err(|e| e.to_string())?;
                out.push((k.value(), v.value().to_vec()));
                if out.len() == CHUNK {
                    break;
                }
            }
            Ok(out)
        });
        let got = match got {
            Ok(g) => g,
            Err(e) => {
                self.cur = None;
                return Err(e);
            }
        };
        match got.last() {
            None => self.cur = None,
            Some((k, _)) => open.next = k.checked_add(1),
        }
        for (seq, bytes) in got {
            self.buf.push_back(Entry {
                segment: name.clone().unwrap_or_default(),
                segment_index: idx,
                seq,
                bytes,
            });
        }
        Ok(())
    }
}

impl Iterator for Entries<'_> {
    type Item = Result<Entry, ReadIssue>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.buf.pop_front() {
                self.last_seq = Some(e.seq);
                return Some(Ok(e));
            }
            if self.cur.is_some() {
                if let Err(e) = self.fill() {
                    let issue = self.issue(None, false, e);
                    self.idx += 1;
                    return Some(Err(issue));
                }
                if self.cur.is_none() && self.buf.is_empty() {
                    self.idx += 1;
                }
                continue;
            }
            let Some(seg) = self.reader.segments.get(self.idx) else {
                if self.journal_read {
                    return None;
                }
                self.journal_read = true;
                if let Err(e) = self.journal_tail() {
                    return Some(Err(self.issue(None, false, e)));
                }
                continue;
            };
            match open_read_only(&seg.path) {
                Err(OpenError::Locked) => {
                    let issue = self.issue(None, true, "locked by another process".into());
                    self.idx += 1;
                    return Some(Err(issue));
                }
                Err(OpenError::Other(e)) => {
                    let issue = self.issue(None, false, e);
                    self.idx += 1;
                    return Some(Err(issue));
                }
                Ok(read) => match guarded("read", || read.records()) {
                    Ok(Some(table)) => {
                        self.cur = Some(Open {
                            _seg: read,
                            table,
                            next: Some(self.from),
                        })
                    }
                    Ok(None) => self.idx += 1,
                    Err(e) => {
                        let issue = self.issue(None, false, e);
                        self.idx += 1;
                        return Some(Err(issue));
                    }
                },
            }
        }
    }
}

/// Iterator over decoded, filtered records; see [`AuditReader::records`].
pub struct Records<'a> {
    entries: Entries<'a>,
    filter: &'a Filter,
}

impl Iterator for Records<'_> {
    type Item = Result<Record, ReadIssue>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let e = match self.entries.next()? {
                Ok(e) => e,
                Err(i) => return Some(Err(i)),
            };
            match Record::from_stored(&e.bytes) {
                Ok(r) if self.filter.matches(&r) => return Some(Ok(r)),
                Ok(_) => {}
                Err(reason) => {
                    self.entries.reader.incomplete.store(true, Ordering::SeqCst);
                    return Some(Err(ReadIssue {
                        segment: e.segment,
                        seq: Some(e.seq),
                        locked: false,
                        reason,
                    }));
                }
            }
        }
    }
}
