//! Entry points for coverage-guided fuzzing (`fuzz/`) and for the test that replays its corpus
//! (`audit/tests/fuzz_corpus.rs`): corrupted records, journals and segment files through
//! everything that reads them. None may panic. Not an API.

use std::path::PathBuf;

use crate::{export_jsonl, sessions, verify, AuditReader, Filter, Record};

/// One stored record's bytes: decoded, exported and re-encoded.
pub fn record(data: &[u8]) {
    if let Ok(r) = Record::from_stored(data) {
        let _ = r.export_line();
        let _ = r.canonical_bytes();
        let _ = r.stored_bytes();
    }
}

/// An audit directory holding `data` as its only segment (first byte even) or as its sync
/// journal (odd), read by every reader: listing, export, sessions, replay and verify.
pub fn files(data: &[u8]) {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let dir = scratch_dir();
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let name = match which & 1 {
        0 => crate::segment_name(1),
        _ => crate::journal::JOURNAL_FILE.to_string(),
    };
    if std::fs::write(dir.join(name), bytes).is_err() {
        return;
    }
    if let Ok(reader) = AuditReader::open(&dir) {
        let filter = Filter::default();
        for r in reader.records(&filter) {
            drop(r);
        }
        let _ = export_jsonl(&reader, &filter, &mut std::io::sink());
        let _ = sessions(&reader, &filter);
        let _ = crate::replay(&reader, 1, None, &mut std::io::sink());
    }
    let _ = verify(&dir, b"fuzz-key");
}

/// A directory per process and thread, on a RAM disk where there is one.
fn scratch_dir() -> PathBuf {
    let base = match std::path::Path::new("/dev/shm").is_dir() {
        true => PathBuf::from("/dev/shm"),
        false => std::env::temp_dir(),
    };
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    base.join(format!("sluice-fuzz-audit-{}-{thread}", std::process::id()))
}
