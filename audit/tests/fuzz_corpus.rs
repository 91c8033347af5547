//! Replays the fuzzing corpus and past crashes (`fuzz/corpus`, `fuzz/regressions`) through the
//! audit fuzz targets, so that every CI run checks them without a fuzzing engine.

mod common;

#[path = "../../fuzz/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn audit_record() {
    replay("audit_record", audit::fuzzing::record);
}

#[test]
fn audit_files() {
    replay("audit_files", audit::fuzzing::files);
}

/// Writes the seeds of the audit targets from a real log: a closed segment, a sync journal and
/// its records: `cargo test -p sluice-audit --test fuzz_corpus -- --ignored`.
#[test]
#[ignore = "writes seed files; run by hand when the record format changes"]
fn write_seeds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.mode = audit::Mode::Sync;
    let log = audit::AuditLog::open(config).unwrap();
    log.record(common::start(1)).unwrap().wait().unwrap();
    log.record(common::stmt(1, 1, "SELECT ssn FROM customers", "allow"))
        .unwrap()
        .wait()
        .unwrap();
    log.record(common::result(1, 1)).unwrap().wait().unwrap();
    let journal = std::fs::read(dir.path().join("sync-journal")).unwrap();
    log.close().unwrap();
    let end = journal.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let files = root.join("audit_files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(
        files.join("seed-journal"),
        [&[1u8][..], &journal[..end]].concat(),
    )
    .unwrap();
    let segment = audit::list_segments(dir.path()).unwrap().remove(0);
    let bytes = std::fs::read(&segment.path).unwrap();
    std::fs::write(
        files.join("seed-segment"),
        [&[0u8][..], &bytes[..]].concat(),
    )
    .unwrap();
    let reader = audit::AuditReader::open(dir.path()).unwrap();
    let records = root.join("audit_record");
    std::fs::create_dir_all(&records).unwrap();
    for (i, r) in reader.records(&audit::Filter::default()).enumerate() {
        std::fs::write(records.join(format!("seed-{i}")), r.unwrap().stored_bytes()).unwrap();
    }
}
