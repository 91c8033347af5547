//! The journal: where records become durable, in either [`Mode`](crate::Mode).
//!
//! A redb commit in `SingleWriter` mode (which lets other processes read while sluice writes)
//! costs two `fsync`s and a write of every page the batch touched. A statement in sync mode
//! waits for its record to be durable, so that cost sat on every statement; in async mode it
//! was a fifth of the writer's CPU. The journal is a preallocated file,
//! `sync-journal`, in the audit directory: a batch of signed records is one direct
//! (`O_DIRECT | O_DSYNC`) write of whole blocks that already exist, so no metadata is journaled
//! by the file system (a plain write and `fdatasync` where direct I/O is not available). The
//! writer indexes journaled records into the segments every second, on a flush and when the
//! journal fills, and then writes the journal from its start again.
//!
//! Each frame is `len: u32 LE`, `seq: u64 LE`, then `len` bytes of the record's stored JSON.
//! A reader takes frames from the start while each is whole, parses, holds the record its
//! header names, and follows the one before it (`seq + 1`). Frames left from an earlier round
//! hold older seqs, and a torn or half-written frame does not parse, so both end the scan.
//! Stored JSON never holds a byte below 0x20, so no header can be forged inside a record.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::chain::{expected_hash, ChainHead};
use crate::record::Record;
use crate::AuditError;

/// The journal's file name in the audit directory.
pub(crate) const JOURNAL_FILE: &str = "sync-journal";
/// Space written ahead of use, so that appends overwrite allocated blocks.
const PREALLOCATED: u64 = 4 * 1024 * 1024;
const HEADER: usize = 12;

/// One record found in the journal: its seq and stored bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) seq: u64,
    pub(crate) bytes: Vec<u8>,
}

/// The journal's path in `dir`.
pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join(JOURNAL_FILE)
}

/// The frames of the journal file at `path`, from its start, while they are whole and follow
/// one another. A missing file has none.
pub(crate) fn scan(path: &Path) -> std::io::Result<Vec<Frame>> {
    let mut data = Vec::new();
    match File::open(path) {
        Ok(mut f) => f.read_to_end(&mut data)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(frames(&data))
}

/// A signed record: its seq and stored bytes.
pub(crate) type Signed = (u64, Vec<u8>);

/// The journal's records after `head` (seq, stored bytes), checked to continue the chain
/// under `key`, and the head after them.
pub(crate) fn beyond(
    dir: &Path,
    key: &[u8],
    mut head: ChainHead,
) -> Result<(Vec<Signed>, ChainHead), AuditError> {
    let mut found = Vec::new();
    for f in scan(&path(dir))? {
        if f.seq <= head.seq {
            continue;
        }
        let r = Record::from_stored(&f.bytes).map_err(AuditError::Corrupt)?;
        if r.seq != head.seq + 1 || r.prev != head.hash || expected_hash(key, &r) != r.hash {
            return Err(AuditError::Corrupt(format!(
                "{JOURNAL_FILE}: record {} does not continue the chain after seq {}: wrong audit key, or the log was tampered with",
                r.seq, head.seq
            )));
        }
        head = ChainHead {
            seq: r.seq,
            hash: r.hash,
        };
        found.push((f.seq, f.bytes));
    }
    Ok((found, head))
}

fn frames(data: &[u8]) -> Vec<Frame> {
    let mut out: Vec<Frame> = Vec::new();
    let mut at = 0usize;
    while let Some(header) = data.get(at..at + HEADER) {
        let mut len = [0u8; 4];
        let mut seq = [0u8; 8];
        len.copy_from_slice(&header[..4]);
        seq.copy_from_slice(&header[4..]);
        let (len, seq) = (u32::from_le_bytes(len) as usize, u64::from_le_bytes(seq));
        if len == 0
            || out
                .last()
                .is_some_and(|f| f.seq.checked_add(1) != Some(seq))
        {
            break;
        }
        let Some(bytes) = data.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if !Record::from_stored(bytes).is_ok_and(|r| r.seq == seq) {
            break;
        }
        out.push(Frame {
            seq,
            bytes: bytes.to_vec(),
        });
        at += HEADER + len;
    }
    out
}

/// Direct writes go in whole blocks of this size, from buffers aligned to it.
const BLOCK: usize = 4096;

/// The writer's handle: the file and where the next frame goes.
pub(crate) struct Journal {
    file: File,
    /// Whether `file` was opened `O_DIRECT | O_DSYNC`: each write is durable when it returns,
    /// without the page cache's writeback (a third less CPU per sync than `fdatasync`). File
    /// systems without direct I/O (tmpfs) get a plain handle and `fdatasync`.
    direct: bool,
    end: u64,
    /// The bytes of the block `end` is in, up to `end`: a direct write rewrites them (the
    /// same bytes, so a torn write cannot change them) with the frames after them.
    tail: Vec<u8>,
    /// Reused write buffer, over-allocated so that an aligned window fits.
    buf: Vec<u8>,
}

impl Journal {
    /// Creates (or takes over) the journal in `dir`, writing from its start. Its previous
    /// frames must already be indexed.
    pub(crate) fn create(dir: &Path) -> std::io::Result<Journal> {
        Journal::open(dir, true)
    }

    fn open(dir: &Path, try_direct: bool) -> std::io::Result<Journal> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path(dir))?;
        let len = file.metadata()?.len();
        if len < PREALLOCATED {
            // Zeros, written and synced once: later syncs then only flush data blocks.
            let zeros = vec![0u8; (PREALLOCATED - len) as usize];
            file.write_all_at(&zeros, len)?;
            file.sync_all()?;
        }
        let mut journal = Journal {
            file,
            direct: false,
            end: 0,
            tail: Vec::new(),
            buf: Vec::new(),
        };
        if try_direct {
            let direct = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT | libc::O_DSYNC)
                .open(path(dir));
            if let Ok(f) = direct {
                // One block, as every append writes: the file system takes direct writes of
                // this size and alignment, or the plain handle stays.
                let plain = std::mem::replace(&mut journal.file, f);
                journal.direct = true;
                if journal.write_direct(&[0; 1], 0).is_err() {
                    journal.file = plain;
                    journal.direct = false;
                }
            }
        }
        Ok(journal)
    }

    /// Whether `bytes` more fit in the preallocated space.
    pub(crate) fn fits(&self, bytes: usize) -> bool {
        self.end + bytes as u64 <= PREALLOCATED
    }

    /// Whether nothing was written since the journal was (re)started.
    pub(crate) fn is_empty(&self) -> bool {
        self.end == 0
    }

    /// Writes `records` (seq, stored bytes) as frames after the last ones and makes them
    /// durable.
    pub(crate) fn append(&mut self, records: &[Signed]) -> std::io::Result<()> {
        if records.iter().any(|(_, b)| u32::try_from(b.len()).is_err()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "record over 4 GiB",
            ));
        }
        let mut frames = std::mem::take(&mut self.tail);
        let from = self.end - frames.len() as u64;
        for (seq, bytes) in records {
            let len = bytes.len() as u32;
            frames.extend_from_slice(&len.to_le_bytes());
            frames.extend_from_slice(&seq.to_le_bytes());
            frames.extend_from_slice(bytes);
        }
        let written = if self.direct {
            self.write_direct(&frames, from)
        } else {
            self.file
                .write_all_at(&frames, from)
                .and_then(|()| self.file.sync_data())
        };
        let end = from + frames.len() as u64;
        if written.is_ok() {
            let keep = (end % BLOCK as u64) as usize;
            frames.drain(..frames.len() - keep);
            self.end = end;
        } else {
            // The caller takes the journal over afresh after a failure; until then the tail
            // stays what it was.
            frames.truncate((self.end - from) as usize);
        }
        self.tail = frames;
        written
    }

    /// Writes `frames` at `from` (a block boundary) in whole, zero-padded blocks.
    fn write_direct(&mut self, frames: &[u8], from: u64) -> std::io::Result<()> {
        let len = frames.len().div_ceil(BLOCK) * BLOCK;
        // The buffer is reused as it is: only the padding after the frames needs zeros, not
        // the whole batch's worth of bytes that the frames overwrite anyway.
        if self.buf.len() < len + BLOCK {
            self.buf.resize(len + BLOCK, 0);
        }
        let at = self.buf.as_ptr().align_offset(BLOCK).min(BLOCK);
        let window = &mut self.buf[at..at + len];
        let (data, padding) = window.split_at_mut(frames.len());
        data.copy_from_slice(frames);
        padding.fill(0);
        self.file.write_all_at(window, from)
    }

    /// Starts again from the beginning (everything journaled is indexed).
    pub(crate) fn restart(&mut self) {
        self.end = 0;
        self.tail.clear();
    }

    /// Frame size of a record of `len` stored bytes.
    pub(crate) fn frame_len(len: usize) -> usize {
        HEADER + len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Draft, RecordBody};

    fn signed(seq: u64) -> (u64, Vec<u8>) {
        let d = Draft::new(1, "t", "u", RecordBody::SessionEnd { reason: "x".into() });
        (
            seq,
            d.sign(&crate::chain::ChainKey::new(b"k"), seq, &[0; 32]).0,
        )
    }

    #[test]
    fn frames_follow_until_a_round_boundary_or_a_torn_frame() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::create(dir.path()).unwrap();
        j.append(&[signed(1), signed(2), signed(3)]).unwrap();
        let seqs = |v: Vec<Frame>| v.into_iter().map(|f| f.seq).collect::<Vec<_>>();
        assert_eq!(seqs(scan(&path(dir.path())).unwrap()), [1, 2, 3]);

        // A new round overwrites the start; the older frames after it end the scan.
        j.restart();
        j.append(&[signed(4)]).unwrap();
        assert_eq!(seqs(scan(&path(dir.path())).unwrap()), [4]);

        // A frame whose body was only partly written ends the scan too.
        j.append(&[signed(5)]).unwrap();
        let mut data = std::fs::read(path(dir.path())).unwrap();
        let second = HEADER + signed(4).1.len();
        data[second + HEADER + 3] = b'#';
        assert_eq!(seqs(frames(&data)), [4]);
        // And a header that names another record than its body holds.
        let mut data = std::fs::read(path(dir.path())).unwrap();
        data[4] = 7;
        assert!(frames(&data).is_empty());
    }

    #[test]
    fn batches_across_blocks_read_back_whole_in_either_write_mode() {
        for direct in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let mut j = Journal::open(dir.path(), direct).unwrap();
            let mut seq = 0;
            for batch in 1..=40u64 {
                // Batches grow and shrink, so a smaller one follows a larger one.
                let records: Vec<_> = (0..batch % 7 + 1)
                    .map(|_| {
                        seq += 1;
                        signed(seq)
                    })
                    .collect();
                j.append(&records).unwrap();
            }
            let frames = scan(&path(dir.path())).unwrap();
            assert_eq!(frames.len() as u64, seq);
            assert!(frames.iter().zip(1..).all(|(f, s)| f.seq == s));
            assert!(j.end > 3 * BLOCK as u64, "{}", j.end);
            // Past the last frame there are only zeros: each write's padding included, though
            // the write buffer is reused from batch to batch.
            let data = std::fs::read(path(dir.path())).unwrap();
            assert!(data[j.end as usize..].iter().all(|b| *b == 0));
        }
    }

    #[test]
    fn a_missing_or_empty_journal_has_no_frames() {
        let dir = tempfile::tempdir().unwrap();
        assert!(scan(&path(dir.path())).unwrap().is_empty());
        Journal::create(dir.path()).unwrap();
        assert!(scan(&path(dir.path())).unwrap().is_empty());
    }
}
