//! The writer: group commit, crash semantics, sync mode, back-pressure, failing disk.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use audit::{AuditError, AuditLog, AuditReader, Filter, Health, Mode};
use common::*;

#[test]
fn group_commit_batches_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(dir.path())).unwrap();
    let threads: Vec<_> = (0..4u64)
        .map(|s| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..250 {
                    log.record(typical(s + 1, i)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    log.flush().unwrap();
    let st = log.stats();
    assert_eq!(
        (st.records_written, st.queue_len, st.head_seq),
        (1000, 0, 1000)
    );
    assert!(st.commits < 1000, "no grouping: {} commits", st.commits);
    log.close().unwrap();
    let r = audit::verify(dir.path(), KEY).unwrap();
    assert_eq!(r.records, 1000);
    // Each session's records are in submission order.
    let reader = AuditReader::open(dir.path()).unwrap();
    for s in 1..=4 {
        let ids: Vec<u64> = reader
            .records(&Filter {
                session: Some(s),
                ..Default::default()
            })
            .map(|r| match r.unwrap().body {
                audit::RecordBody::Statement { statement_id, .. } => statement_id,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(ids, (0..250).collect::<Vec<_>>());
    }
}

#[test]
fn drop_flushes() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut cfg = config(dir.path());
        cfg.flush_interval = Duration::from_secs(60);
        let log = AuditLog::open(cfg).unwrap();
        for i in 0..10 {
            log.record(typical(1, i)).unwrap();
        }
    }
    assert_eq!(audit::verify(dir.path(), KEY).unwrap().records, 10);
}

#[test]
fn async_acknowledges_at_submission_and_commits_within_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.flush_interval = Duration::from_millis(50);
    let log = AuditLog::open(cfg).unwrap();
    let t = log.record(typical(1, 1)).unwrap();
    let began = Instant::now();
    t.wait().unwrap(); // async: immediate
    assert!(began.elapsed() < Duration::from_millis(20));
    assert!(!t.is_durable());
    assert_eq!(t.wait_durable().unwrap(), 1);
    assert!(began.elapsed() < Duration::from_millis(500));
    log.close().unwrap();
}

#[test]
fn sync_wait_returns_after_durability() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mode = Mode::Sync;
    cfg.flush_interval = Duration::from_secs(60); // sync commits do not wait for it
    let log = AuditLog::open(cfg).unwrap();
    for i in 1..=20u64 {
        let t = log.record(typical(1, i)).unwrap();
        t.wait().unwrap();
        assert_eq!(t.seq(), Some(i));
        assert!(log.stats().commits >= 1);
        // Visible to an independent reader as soon as wait returns.
        let reader = AuditReader::open(dir.path()).unwrap();
        let last = reader.records(&Filter::default()).last().unwrap().unwrap();
        assert_eq!(last.seq, i);
    }
    log.close().unwrap();
}

#[test]
fn sync_trailing_records_ride_with_the_next_prompt_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mode = Mode::Sync;
    cfg.flush_interval = Duration::from_millis(400);
    let log = AuditLog::open(cfg).unwrap();
    let result = log.record_trailing(typical(1, 1)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !result.is_durable(),
        "a trailing record got a write of its own"
    );
    let statement = log.record(typical(1, 2)).unwrap();
    statement.wait().unwrap();
    assert_eq!((result.seq(), statement.seq()), (Some(1), Some(2)));
    assert_eq!(log.stats().commits, 1, "both went in one write");
    // Alone, a trailing record is durable within flush_interval.
    let began = Instant::now();
    let end = log.record_trailing(typical(1, 3)).unwrap();
    assert_eq!(end.wait_durable().unwrap(), 3);
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let reader = AuditReader::open(dir.path()).unwrap();
    let seqs: Vec<u64> = reader
        .records(&Filter::default())
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    log.close().unwrap();
}

#[test]
fn back_pressure_blocks_and_never_drops() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.queue = 4;
    cfg.hooks.commit_delay = Some(Duration::from_millis(20));
    let log = AuditLog::open(cfg).unwrap();
    let threads: Vec<_> = (0..4u64)
        .map(|s| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut longest = Duration::ZERO;
                for i in 0..25 {
                    let began = Instant::now();
                    log.record(typical(s + 1, i)).unwrap();
                    longest = longest.max(began.elapsed());
                }
                longest
            })
        })
        .collect();
    let longest = threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .max()
        .unwrap();
    assert!(
        longest >= Duration::from_millis(10),
        "record never blocked: {longest:?}"
    );
    log.close().unwrap();
    let r = audit::verify(dir.path(), KEY).unwrap();
    assert_eq!(r.records, 100);
}

#[test]
fn detached_records_keep_their_place_among_tracked_ones() {
    for mode in [Mode::Async, Mode::Sync] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.mode = mode;
        let log = AuditLog::open(cfg).unwrap();
        log.record_detached(stmt(1, 1, "SELECT 1", "allow"), false)
            .unwrap();
        log.record_detached(result(1, 1), true).unwrap();
        let tracked = log.record(stmt(1, 2, "SELECT 2", "allow")).unwrap();
        log.record_detached(end(1), true).unwrap();
        // The tracked record's seq counts the detached ones before it.
        assert_eq!(tracked.wait_durable().unwrap(), 3, "{mode:?}");
        log.flush().unwrap();
        assert_eq!(log.stats().records_written, 4, "{mode:?}");
        log.close().unwrap();
        assert_eq!(audit::verify(dir.path(), KEY).unwrap().records, 4);
        let kinds: Vec<&str> = AuditReader::open(dir.path())
            .unwrap()
            .records(&Filter::default())
            .map(|r| r.unwrap().body.kind())
            .collect();
        assert_eq!(kinds, ["statement", "result", "statement", "session_end"]);
    }
}

#[test]
fn detached_statements_are_refused_while_the_disk_fails() {
    let dir = tempfile::tempdir().unwrap();
    let fault = Arc::new(AtomicBool::new(false));
    let mut cfg = config(dir.path());
    cfg.hooks.fail_commits = Some(fault.clone());
    let log = AuditLog::open(cfg).unwrap();
    fault.store(true, Ordering::SeqCst);
    log.record_detached(result(1, 1), true).unwrap();
    assert!(matches!(log.flush(), Err(AuditError::Unavailable(_))));
    match log.record_detached(stmt(1, 2, "SELECT 2", "allow"), false) {
        Err(AuditError::Unavailable(m)) => assert!(m.contains("no space left"), "{m}"),
        other => panic!("statement accepted while failing: {other:?}"),
    }
    // The queued detached record is kept and committed once the disk recovers.
    fault.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while log.health() != Health::Ok {
        assert!(Instant::now() < deadline, "did not recover");
        std::thread::sleep(Duration::from_millis(5));
    }
    log.flush().unwrap();
    log.close().unwrap();
    assert_eq!(audit::verify(dir.path(), KEY).unwrap().records, 1);
}

#[test]
fn failing_disk_refuses_statements_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let fault = Arc::new(AtomicBool::new(false));
    let mut cfg = config(dir.path());
    cfg.flush_interval = Duration::from_millis(20);
    cfg.hooks.fail_commits = Some(fault.clone());
    let log = AuditLog::open(cfg).unwrap();
    for i in 0..5 {
        log.record(stmt(1, i, "SELECT 1", "allow")).unwrap();
    }
    log.flush().unwrap();
    assert_eq!(log.health(), Health::Ok);

    fault.store(true, Ordering::SeqCst);
    let queued = log.record(result(1, 4)).unwrap();
    assert!(matches!(log.flush(), Err(AuditError::Unavailable(_))));
    match log.health() {
        Health::Failing { reason, .. } => {
            assert!(reason.contains("no space left on device"), "{reason}")
        }
        Health::Ok => panic!("health still ok"),
    }
    let st = log.stats();
    assert!(st.failing);
    assert!(st.last_error.unwrap().contains("no space left"));
    match log.record(stmt(1, 5, "SELECT 2", "allow")) {
        Err(AuditError::Unavailable(m)) => assert!(m.contains("no space left"), "{m}"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("statement accepted while failing"),
    }
    let queued2 = log.record(end(1)).unwrap();
    std::thread::sleep(Duration::from_millis(100)); // several failed retries
    assert!(!queued.is_durable() && !queued2.is_durable());
    assert_eq!(log.stats().queue_len, 2);

    fault.store(false, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while log.health() != Health::Ok {
        assert!(Instant::now() < deadline, "did not recover");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(queued.seq(), Some(6));
    assert_eq!(queued2.seq(), Some(7));
    log.record(stmt(1, 6, "SELECT 3", "allow"))
        .unwrap()
        .wait_durable()
        .unwrap();
    log.close().unwrap();
    let r = audit::verify(dir.path(), KEY).unwrap();
    assert_eq!(r.records, 8);
}

#[test]
fn vanished_directory_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("audit");
    let log = AuditLog::open(config(&sub)).unwrap();
    log.record(typical(1, 1)).unwrap();
    log.flush().unwrap();
    // Replace the directory by a file: commits must fail without panicking.
    std::fs::remove_dir_all(&sub).unwrap();
    std::fs::write(&sub, b"in the way").unwrap();
    let t = log.record(typical(1, 2)).unwrap();
    // The open handle may still write into the unlinked file; force a reopen by waiting for
    // either outcome, then restore the directory.
    let _ = log.flush();
    std::fs::remove_file(&sub).unwrap();
    let _ = log.flush();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !t.is_durable() {
        assert!(Instant::now() < deadline, "record lost");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(log.health(), Health::Ok);
    log.close().unwrap();
}

/// Child side of the crash test: writes continuously from two threads, printing the durable
/// head after each flush, until killed.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os("AUDIT_CRASH_CHILD_DIR") else {
        return;
    };
    let mut cfg = config(Path::new(&dir));
    let sync = std::env::var("AUDIT_CRASH_CHILD_MODE").is_ok_and(|m| m == "sync");
    if sync {
        cfg.mode = Mode::Sync;
        // Long enough that most records are only in the journal when the kill comes.
        cfg.flush_interval = Duration::from_millis(200);
    }
    let log = AuditLog::open(cfg).unwrap();
    let l2 = log.clone();
    std::thread::spawn(move || {
        for i in 0.. {
            let t = l2.record(typical(2, i)).unwrap();
            if sync {
                t.wait_durable().unwrap();
            }
        }
    });
    let mut out = std::io::stdout();
    for i in 0.. {
        let t = log.record(typical(1, i)).unwrap();
        if sync {
            // Each record, as a statement waits for it.
            let seq = t.wait_durable().unwrap();
            writeln!(out, "DURABLE {seq}").unwrap();
            out.flush().unwrap();
        } else if i % 50 == 0 {
            log.flush().unwrap();
            writeln!(out, "DURABLE {}", log.stats().head_seq).unwrap();
            out.flush().unwrap();
        }
    }
}

#[test]
fn kill_9_loses_nothing_durable() {
    kill_9_under_load("async");
}

#[test]
fn kill_9_in_sync_mode_loses_no_acknowledged_record() {
    let dir = kill_9_under_load("sync");
    // The journal's records went into a segment at the reopen: the segments alone hold the
    // whole chain now.
    std::fs::remove_file(dir.path().join("sync-journal")).unwrap();
    let r = audit::verify(dir.path(), KEY).unwrap();
    assert_eq!(r.first_seq, Some(1));
    assert!(r.records > 1);
}

fn kill_9_under_load(mode: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("AUDIT_CRASH_CHILD_DIR", dir.path())
        .env("AUDIT_CRASH_CHILD_MODE", mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line
                .split("DURABLE ")
                .nth(1)
                .and_then(|n| n.trim().parse::<u64>().ok())
            {
                let _ = tx.send(n);
            }
        }
    });
    // Wait for the first durable report, then let it run under load.
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("child never reported");
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let durable = rx.try_iter().fold(first, u64::max);
    assert!(durable > 0);

    // Readable before any writer repaired it (a read-only open refuses a file that needs
    // recovery; the reader then works on a repaired temporary copy).
    let before = audit::verify(dir.path(), KEY).unwrap();
    assert!(before.records >= durable, "{before:?} < {durable}");

    let log = AuditLog::open(config(dir.path())).unwrap();
    let head = log.stats().head_seq;
    assert_eq!(head, before.records);
    assert!(
        head >= durable,
        "lost durable records: head {head} < reported {durable}"
    );
    log.record(end(1)).unwrap();
    log.close().unwrap();
    let r = audit::verify(dir.path(), KEY).unwrap();
    assert_eq!(
        (r.first_seq, r.last_seq, r.records),
        (Some(1), Some(head + 1), head + 1)
    );
    eprintln!("crash test ({mode}): reported durable {durable}, recovered {head}");
    dir
}

/// Records 1 to `n` are readable and verify while no segment exists: the journal alone holds
/// them.
fn assert_only_journaled(dir: &Path, n: u64) {
    let segments = audit::list_segments(dir).unwrap();
    assert!(segments.is_empty(), "{segments:?}");
    let reader = AuditReader::open(dir).unwrap();
    let seqs: Vec<u64> = reader
        .records(&Filter::default())
        .map(|r| r.unwrap().seq)
        .collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
    assert_eq!(audit::verify(dir, KEY).unwrap().records, n);
}

#[test]
fn sync_records_are_durable_in_the_journal_then_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mode = Mode::Sync;
    cfg.flush_interval = Duration::from_secs(3600);
    let log = AuditLog::open(cfg.clone()).unwrap();
    for i in 1..=5u64 {
        assert_eq!(
            log.record(typical(1, i)).unwrap().wait_durable().unwrap(),
            i
        );
    }
    // Durable, and readable, before any segment holds them.
    assert_only_journaled(dir.path(), 5);

    // A flush puts them into a segment; the journal then starts again from its beginning.
    log.flush().unwrap();
    assert_eq!(audit::list_segments(dir.path()).unwrap().len(), 1);
    log.record(typical(1, 6)).unwrap().wait_durable().unwrap();
    let r = audit::verify(dir.path(), KEY).unwrap();
    assert_eq!((r.records, r.last_seq), (6, Some(6)));
    log.close().unwrap();

    // Closing indexed the last one too.
    std::fs::remove_file(dir.path().join("sync-journal")).unwrap();
    assert_eq!(audit::verify(dir.path(), KEY).unwrap().last_seq, Some(6));
}

#[test]
fn async_batches_are_durable_in_the_journal_before_a_segment_takes_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.flush_interval = Duration::from_secs(2);
    let log = AuditLog::open(cfg).unwrap();
    let tickets: Vec<_> = (1..=5u64)
        .map(|i| log.record(typical(1, i)).unwrap())
        .collect();
    assert_eq!(tickets[4].wait_durable().unwrap(), 5);
    assert!(tickets.iter().all(|t| t.is_durable()));
    assert_eq!(log.stats().commits, 1, "the batch went in one write");
    // Durable and readable while no segment holds them yet: the segment takes journaled
    // records a flush_interval (at least a second) after they were written.
    assert_only_journaled(dir.path(), 5);

    log.flush().unwrap();
    assert_eq!(audit::list_segments(dir.path()).unwrap().len(), 1);
    log.close().unwrap();
    // The segment alone holds them all.
    std::fs::remove_file(dir.path().join("sync-journal")).unwrap();
    assert_eq!(audit::verify(dir.path(), KEY).unwrap().last_seq, Some(5));
}

#[test]
fn reopen_refuses_an_edited_journal() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.mode = Mode::Sync;
    let log = AuditLog::open(cfg.clone()).unwrap();
    log.record(typical(1, 1)).unwrap().wait_durable().unwrap();
    log.flush().unwrap();
    let marker = "EDIT-ME-LATER";
    let mut d = typical(1, 2);
    d.client_addr = marker.into();
    log.record(d).unwrap().wait_durable().unwrap();
    // A journal as a crash would leave it: the second record not yet in a segment.
    let journal = std::fs::read(dir.path().join("sync-journal")).unwrap();
    log.close().unwrap();
    let at = journal
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .expect("the record is in the journal");
    let mut edited = journal.clone();
    edited[at] = b'X';
    let last_seg = audit::list_segments(dir.path()).unwrap().pop().unwrap();
    // Put the log back as it was before the close indexed record 2.
    let db = redb::Database::open(&last_seg.path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn
            .open_table(redb::TableDefinition::<u64, &[u8]>::new("records"))
            .unwrap();
        t.remove(2).unwrap();
    }
    txn.commit().unwrap();
    drop(db);
    std::fs::write(dir.path().join("sync-journal"), &edited).unwrap();
    match AuditLog::open(cfg.clone()) {
        Err(AuditError::Corrupt(m)) => assert!(m.contains("sync-journal"), "{m}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("an edited journal was taken"),
    }
    // Unedited, the record is recovered.
    std::fs::write(dir.path().join("sync-journal"), &journal).unwrap();
    let log = AuditLog::open(cfg).unwrap();
    assert_eq!(log.stats().head_seq, 2);
    log.close().unwrap();
    assert_eq!(audit::verify(dir.path(), KEY).unwrap().records, 2);
}
