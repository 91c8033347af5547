//! The writer's segment files: one redb database per segment, `segment-<first_seq:020>.redb`.
//!
//! Every segment has two tables: `records` (`u64` seq → stored JSON of the record, hash
//! included) and `meta` (`&str` → `u64`: `format`, `first_seq`). Only the newest segment is open
//! for writing. Segments are opened in redb's [`ConcurrencyMode::SingleWriter`], so other
//! processes can open any segment read-only, the open one included, while the writer runs.
//!
//! The writer first makes records durable in the [journal](crate::journal) and commits them
//! into the open segment later ([`Store::index`]), in one transaction with whatever it commits
//! next.

use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition, TableError};

use crate::chain::{expected_hash, ChainHead, ChainKey};
use crate::journal::{self, Journal, Signed};
use crate::record::{Draft, Record, RecordBody};
use crate::segment::{builder, guarded, list_segments, open_read_only, segment_name, OpenError};
use crate::AuditError;

/// `seq → stored record JSON`.
pub(crate) const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");
/// `name → value`: `format` (1) and `first_seq`.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const FORMAT: u64 = 1;

/// Fault injection and slow-down hooks for tests.
#[doc(hidden)]
#[derive(Clone, Debug, Default)]
pub struct TestHooks {
    /// While set, every commit fails as a full disk would.
    pub fail_commits: Option<Arc<AtomicBool>>,
    /// Sleep this long before each commit.
    pub commit_delay: Option<Duration>,
}

struct Current {
    db: Database,
    path: PathBuf,
    opened: Instant,
}

/// The writer's side: the open segment and the committed chain head.
pub(crate) struct Store {
    dir: PathBuf,
    key: Vec<u8>,
    /// `key`, ready to sign with.
    signer: ChainKey,
    max_bytes: u64,
    max_age: Duration,
    hooks: TestHooks,
    current: Option<Current>,
    /// The last durable record: in a segment, or in the sync journal.
    head: ChainHead,
    /// Records durable in the journal and not yet in a segment, oldest first.
    staged: Vec<Signed>,
    journal: Option<Journal>,
}

fn storage(e: impl std::fmt::Display) -> AuditError {
    AuditError::Storage(e.to_string())
}

impl Store {
    /// Opens the directory, recovers and checks the chain head, opens the newest segment if
    /// it is small enough to go on with, and indexes what the sync journal holds beyond it.
    pub(crate) fn open(
        dir: &Path,
        key: &[u8],
        max_bytes: u64,
        max_age: Duration,
        hooks: TestHooks,
    ) -> Result<Store, AuditError> {
        let mut store = Store::open_segments(dir, key, max_bytes, max_age, hooks)?;
        store.recover_journal()?;
        Ok(store)
    }

    fn open_segments(
        dir: &Path,
        key: &[u8],
        max_bytes: u64,
        max_age: Duration,
        hooks: TestHooks,
    ) -> Result<Store, AuditError> {
        fs::create_dir_all(dir)?;
        let segments = list_segments(dir)?;
        let mut store = Store {
            dir: dir.to_path_buf(),
            key: key.to_vec(),
            signer: ChainKey::new(key),
            max_bytes,
            max_age,
            hooks,
            current: None,
            head: ChainHead::genesis(),
            staged: Vec::new(),
            journal: None,
        };
        let Some(newest) = segments.last() else {
            return Ok(store);
        };
        let db = open_writable(&newest.path)?;
        let tail = guarded("open", || last_of(&db)).map_err(storage)?;
        let small = fs::metadata(&newest.path)?.len() < max_bytes;
        match tail {
            Some(r) => store.head = checked_head(key, &r, &newest.name)?,
            None => {
                // An empty newest segment (crash before its first commit): the head is in the
                // one before, and this one must start right after it.
                if let Some(prev) = segments.len().checked_sub(2).map(|i| &segments[i]) {
                    let seg = open_read_only(&prev.path).map_err(|e| match e {
                        OpenError::Locked => {
                            AuditError::Storage(format!("{} is locked", prev.name))
                        }
                        OpenError::Other(s) => AuditError::Storage(s),
                    })?;
                    if let Some(r) = seg.last().map_err(storage)? {
                        store.head = checked_head(key, &r, &prev.name)?;
                    }
                }
                if newest.first_seq != store.head.seq + 1 {
                    drop(db);
                    fs::remove_file(&newest.path)?;
                    return Ok(store);
                }
            }
        }
        if small {
            store.current = Some(Current {
                db,
                path: newest.path.clone(),
                opened: Instant::now(),
            });
        }
        Ok(store)
    }

    /// The committed head.
    pub(crate) fn head(&self) -> ChainHead {
        self.head
    }

    /// The path of the segment open for writing, if any.
    pub(crate) fn current_path(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.path.as_path())
    }

    /// Records of the journal beyond the segments (left by a crash) go into a segment now.
    fn recover_journal(&mut self) -> Result<(), AuditError> {
        let (found, head) = journal::beyond(&self.dir, &self.key, self.head)?;
        if found.is_empty() {
            return Ok(());
        }
        tracing::info!(
            records = found.len(),
            "audit: indexing records the sync journal held beyond the segments"
        );
        self.staged = found;
        self.head = head;
        self.index().map(|_| ())
    }

    /// Signs `drafts` as the records after the head: their seqs and stored bytes, and the head
    /// after them.
    fn sign(&self, drafts: &[Draft]) -> (Vec<Signed>, ChainHead) {
        let mut head = self.head;
        let signed = drafts
            .iter()
            .map(|d| {
                let seq = head.seq + 1;
                let (bytes, hash) = d.sign(&self.signer, seq, &head.hash);
                head = ChainHead { seq, hash };
                (seq, bytes)
            })
            .collect();
        (signed, head)
    }

    fn injected_fault(&self) -> Result<(), AuditError> {
        if self.hooks.commit_delay.is_some() || self.hooks.fail_commits.is_some() {
            if let Some(d) = self.hooks.commit_delay {
                std::thread::sleep(d);
            }
            let failing = self
                .hooks
                .fail_commits
                .as_ref()
                .is_some_and(|f| f.load(Ordering::SeqCst));
            if failing {
                return Err(AuditError::Storage(
                    "injected fault: no space left on device".into(),
                ));
            }
        }
        Ok(())
    }

    /// Chains, signs and commits `drafts` in one durable transaction, after whatever the
    /// journal holds that is not yet in a segment. On success returns the seq of the first
    /// draft; on failure nothing is written and the segment is reopened on the next attempt.
    pub(crate) fn append(&mut self, drafts: &[Draft]) -> Result<u64, AuditError> {
        let first = self.head.seq + 1;
        if drafts.is_empty() && self.staged.is_empty() {
            return Ok(first);
        }
        let (signed, head) = self.sign(drafts);
        let staged = std::mem::take(&mut self.staged);
        let r = guarded("commit", || {
            self.try_write(&staged, &signed).map_err(|e| e.to_string())
        });
        match r {
            Ok(()) => {
                self.head = head;
                if let Some(j) = self.journal.as_mut() {
                    j.restart();
                }
                self.maybe_rotate();
                Ok(first)
            }
            Err(e) => {
                self.staged = staged;
                self.current = None;
                // Records go into the journal only while segments can be written too:
                // the next journal write indexes first, and fails while this does.
                self.journal = None;
                Err(AuditError::Storage(e))
            }
        }
    }

    /// Makes `drafts` durable in the sync journal (one write, one `fdatasync`); they go into a
    /// segment at the next [`index`](Store::index). Returns the seq of the first.
    pub(crate) fn journal(&mut self, drafts: &[Draft]) -> Result<u64, AuditError> {
        let first = self.head.seq + 1;
        if drafts.is_empty() {
            return Ok(first);
        }
        self.injected_fault()?;
        let (signed, head) = self.sign(drafts);
        let size = signed
            .iter()
            .map(|(_, b)| Journal::frame_len(b.len()))
            .sum::<usize>();
        // The journal is written from its start only once what it holds is in a segment.
        let full = self
            .journal
            .as_ref()
            .is_none_or(|j| !j.fits(size) && !j.is_empty());
        if full {
            self.index()?;
        }
        let journal = match self.journal.as_mut() {
            Some(j) => j,
            None => self.journal.insert(Journal::create(&self.dir)?),
        };
        if let Err(e) = journal.append(&signed) {
            // Where a failed sync left the file is unknown: take it over afresh, after the
            // next index.
            self.journal = None;
            return Err(e.into());
        }
        self.head = head;
        self.staged.extend(signed);
        Ok(first)
    }

    /// Whether the journal holds records not yet in a segment.
    pub(crate) fn has_staged(&self) -> bool {
        !self.staged.is_empty()
    }

    /// Commits the journaled records into the open segment and returns how many; the journal
    /// then starts again.
    pub(crate) fn index(&mut self) -> Result<usize, AuditError> {
        let n = self.staged.len();
        if n == 0 {
            return Ok(0);
        }
        let head = self.head;
        self.append(&[])?;
        debug_assert_eq!(head, self.head);
        Ok(n)
    }

    /// Writes signed records (`a`, then `b`) in one durable transaction.
    fn try_write(&mut self, a: &[Signed], b: &[Signed]) -> Result<(), AuditError> {
        self.injected_fault()?;
        let Some(first_seq) = a.first().or(b.first()).map(|(seq, _)| *seq) else {
            return Ok(());
        };
        let fresh = self.current.is_none();
        if fresh {
            fs::create_dir_all(&self.dir)?;
            let path = self.dir.join(segment_name(first_seq));
            // A segment is named by its first record, so one named after the next record holds
            // nothing committed: it is what a failed attempt (a full disk) left half-made.
            if path.exists() {
                fs::remove_file(&path)?;
            }
            let db = open_writable(&path)?;
            self.current = Some(Current {
                db,
                path,
                opened: Instant::now(),
            });
        }
        let Some(cur) = self.current.as_ref() else {
            return Err(AuditError::Storage("no open segment".into()));
        };
        let txn = cur.db.begin_write().map_err(storage)?;
        {
            let mut table = txn.open_table(RECORDS).map_err(storage)?;
            for (seq, bytes) in a.iter().chain(b) {
                table.insert(*seq, bytes.as_slice()).map_err(storage)?;
            }
            let mut meta = txn.open_table(META).map_err(storage)?;
            if meta.get("format").map_err(storage)?.is_none() {
                meta.insert("format", FORMAT).map_err(storage)?;
                meta.insert("first_seq", first_seq).map_err(storage)?;
            }
        }
        txn.commit().map_err(storage)?;
        Ok(())
    }

    fn maybe_rotate(&mut self) {
        let Some(cur) = &self.current else { return };
        let big = fs::metadata(&cur.path).is_ok_and(|m| m.len() >= self.max_bytes);
        if big || cur.opened.elapsed() >= self.max_age {
            self.current = None;
        }
    }

    /// Deletes the oldest closed segments whose newest record is older than `cutoff_micros`,
    /// after committing a checkpoint that names the last pruned record. Returns the number of
    /// segments removed and the last pruned seq.
    pub(crate) fn prune(&mut self, cutoff_micros: i64) -> Result<(usize, Option<u64>), AuditError> {
        let segments = list_segments(&self.dir)?;
        let newest = segments.last().map(|s| s.path.clone());
        let mut doomed = Vec::new();
        let mut last: Option<Record> = None;
        for seg in &segments {
            if Some(&seg.path) == newest.as_ref() || Some(seg.path.as_path()) == self.current_path()
            {
                break;
            }
            let Ok(read) = open_read_only(&seg.path) else {
                break;
            };
            match read.last() {
                Ok(Some(r)) if r.ts_micros < cutoff_micros => {
                    last = Some(r);
                    doomed.push(seg.path.clone());
                }
                _ => break,
            }
        }
        let Some(last) = last else {
            return Ok((0, None));
        };
        let checkpoint = Draft::new(
            0,
            "",
            "sluice",
            RecordBody::Checkpoint {
                pruned_through_seq: last.seq,
                chain_hash: last.hash,
            },
        );
        self.append(&[checkpoint])?;
        for p in &doomed {
            fs::remove_file(p)?;
        }
        Ok((doomed.len(), Some(last.seq)))
    }
}

fn open_writable(path: &Path) -> Result<Database, AuditError> {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let mut b = builder();
        b.set_check_integrity_on_open(path.exists());
        b.create(path)
    }));
    match r {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(DatabaseError::DatabaseAlreadyOpen)) => Err(AuditError::Storage(format!(
            "{} is in use by another process (is another sluice writing to this audit dir?)",
            path.display()
        ))),
        Ok(Err(e)) => Err(AuditError::Storage(format!("{}: {e}", path.display()))),
        Err(_) => Err(AuditError::Storage(format!(
            "{}: the storage engine panicked (corrupt file?)",
            path.display()
        ))),
    }
}

fn last_of(db: &Database) -> Result<Option<Record>, String> {
    let txn = db.begin_read().map_err(|e| e.to_string())?;
    let table = match txn.open_table(RECORDS) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let last = table.last().map_err(|e| e.to_string())?;
    let r = match last {
        Some((_, v)) => Record::from_stored(v.value()).map(Some),
        None => Ok(None),
    };
    r
}

fn checked_head(key: &[u8], r: &Record, segment: &str) -> Result<ChainHead, AuditError> {
    if expected_hash(key, r) != r.hash {
        return Err(AuditError::Corrupt(format!(
            "the last record (seq {}) of {segment} does not verify: wrong audit key, or the log was tampered with",
            r.seq
        )));
    }
    Ok(ChainHead {
        seq: r.seq,
        hash: r.hash,
    })
}
