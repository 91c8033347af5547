//! Segment files on the reading side: their names, listing them, and opening one read-only
//! (through a repaired copy when a writer died mid-commit), while a writer may have the
//! newest one open.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use redb::{
    ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase, ReadableDatabase, ReadableTable,
    TableError,
};

use crate::record::Record;
use crate::store::RECORDS;

const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// A segment file found in the audit directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentFile {
    /// Full path.
    pub path: PathBuf,
    /// File name, e.g. `segment-00000000000000000001.redb`.
    pub name: String,
    /// The seq of the segment's first record, from the name.
    pub first_seq: u64,
}

/// The file name of the segment starting at `first_seq`.
///
/// ```
/// assert_eq!(audit::segment_name(42), "segment-00000000000000000042.redb");
/// ```
pub fn segment_name(first_seq: u64) -> String {
    format!("segment-{first_seq:020}.redb")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("segment-")?.strip_suffix(".redb")?;
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// The segments of `dir`, oldest first. A missing directory has none.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// assert!(audit::list_segments(dir.path()).unwrap().is_empty());
/// ```
pub fn list_segments(dir: &Path) -> std::io::Result<Vec<SegmentFile>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(first_seq) = parse_segment_name(&name) {
            out.push(SegmentFile {
                path: entry.path(),
                name,
                first_seq,
            });
        }
    }
    out.sort_by_key(|s| s.first_seq);
    Ok(out)
}

pub(crate) fn builder() -> redb::Builder {
    let mut b = Database::builder();
    b.set_concurrency_mode(ConcurrencyMode::SingleWriter);
    b.set_cache_size(CACHE_BYTES);
    b
}

/// Why a segment could not be opened for reading.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// Another process holds it exclusively.
    Locked,
    /// Anything else: unreadable, corrupt, not a redb file.
    Other(String),
}

/// Runs redb code that may panic on a corrupt file (debug assertions) and turns the panic into
/// an error.
pub(crate) fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{what}: the storage engine panicked (corrupt file?)"
        )),
    }
}

/// Opens a segment read-only. A file left by a crashed writer needs a repair that a read-only
/// open refuses; it is then read from a repaired temporary copy.
pub(crate) fn open_read_only(path: &Path) -> Result<ReadSegment, OpenError> {
    let attempt = catch_unwind(AssertUnwindSafe(|| builder().open_read_only(path)));
    match attempt {
        Ok(Ok(db)) => Ok(ReadSegment::Direct(db)),
        Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => Err(OpenError::Locked),
        Ok(Err(DatabaseError::RepairAborted)) => repaired_copy(path),
        Ok(Err(e)) => Err(OpenError::Other(e.to_string())),
        Err(_) => Err(OpenError::Other(
            "the storage engine panicked (corrupt file?)".into(),
        )),
    }
}

fn repaired_copy(path: &Path) -> Result<ReadSegment, OpenError> {
    let tmp = tempfile_path(path);
    let r = guarded("repair", || {
        fs::copy(path, &tmp).map_err(|e| format!("copy for repair: {e}"))?;
        let db = builder()
            .create(&tmp)
            .map_err(|e| format!("repair of a copy: {e}"))?;
        Ok(db)
    });
    match r {
        Ok(db) => Ok(ReadSegment::Repaired { db, tmp }),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(OpenError::Other(e))
        }
    }
}

fn tempfile_path(path: &Path) -> PathBuf {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::env::temp_dir().join(format!(
        "sluice-audit-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A segment open for reading.
pub(crate) enum ReadSegment {
    /// Opened in place.
    Direct(ReadOnlyDatabase),
    /// Opened from a repaired temporary copy, removed on drop.
    Repaired { db: Database, tmp: PathBuf },
}

impl ReadSegment {
    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction, String> {
        match self {
            ReadSegment::Direct(db) => db.begin_read(),
            ReadSegment::Repaired { db, .. } => db.begin_read(),
        }
        .map_err(|e| e.to_string())
    }

    /// The segment's records table; `None` for a segment without one (never committed).
    pub(crate) fn records(
        &self,
    ) -> Result<Option<redb::ReadOnlyTable<u64, &'static [u8]>>, String> {
        let txn = self.begin_read()?;
        match txn.open_table(RECORDS) {
            Ok(t) => Ok(Some(t)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The last record of the segment, parsed.
    pub(crate) fn last(&self) -> Result<Option<Record>, String> {
        guarded("read", || {
            let Some(t) = self.records()? else {
                return Ok(None);
            };
            let last = t.last().map_err(|e| e.to_string())?;
            let r = match last {
                Some((_, v)) => Record::from_stored(v.value()).map(Some),
                None => Ok(None),
            };
            r
        })
    }
}

impl Drop for ReadSegment {
    fn drop(&mut self) {
        if let ReadSegment::Repaired { tmp, .. } = self {
            let _ = fs::remove_file(tmp);
        }
    }
}
