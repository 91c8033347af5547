//! Files: tamper detection, rotation, reopen, retention, export, replay, concurrent reading.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use audit::{AuditLog, AuditReader, Filter, RecordBody};
use common::*;
use redb::{ReadableTable, TableDefinition};

const RECORDS: TableDefinition<u64, &[u8]> = TableDefinition::new("records");

/// Writes `n` statement records (session 1) in one segment and closes the log.
fn write_n(dir: &Path, n: u64) {
    let log = AuditLog::open(config(dir)).unwrap();
    for i in 1..=n {
        log.record(stmt(1, i, &format!("SELECT {i}"), "allow"))
            .unwrap();
    }
    log.close().unwrap();
}

fn only_segment(dir: &Path) -> PathBuf {
    let segs = audit::list_segments(dir).unwrap();
    assert_eq!(segs.len(), 1);
    segs[0].path.clone()
}

fn edit(path: &Path, f: impl FnOnce(&mut redb::Table<u64, &[u8]>)) {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(RECORDS).unwrap();
        f(&mut t);
    }
    txn.commit().unwrap();
}

fn get(t: &redb::Table<u64, &[u8]>, seq: u64) -> Vec<u8> {
    t.get(seq).unwrap().unwrap().value().to_vec()
}

#[test]
fn chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 10);
    let r = audit::verify(dir.path(), KEY).unwrap();
    assert_eq!(
        (r.records, r.segments, r.first_seq, r.last_seq),
        (10, 1, Some(1), Some(10))
    );
    assert!(!r.incomplete);
    let e = audit::verify(dir.path(), b"wrong key").unwrap_err();
    assert_eq!(e.seq, Some(1));
}

#[test]
fn flipped_byte_is_named() {
    // A byte inside a string value, and a structural byte.
    for which in ["value", "structure"] {
        let dir = tempfile::tempdir().unwrap();
        write_n(dir.path(), 10);
        edit(&only_segment(dir.path()), |t| {
            let mut v = get(t, 5);
            let at = match which {
                "value" => v.windows(8).position(|w| w == b"SELECT 5").unwrap() + 7,
                _ => 0,
            };
            v[at] ^= 0x01;
            t.insert(5, v.as_slice()).unwrap();
        });
        let e = audit::verify(dir.path(), KEY).unwrap_err();
        assert_eq!(e.seq, Some(5), "{which}: {e}");
        assert!(e.segment.starts_with("segment-"), "{e}");
    }
}

#[test]
fn deleted_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 10);
    edit(&only_segment(dir.path()), |t| {
        t.remove(5).unwrap();
    });
    let e = audit::verify(dir.path(), KEY).unwrap_err();
    assert_eq!(e.seq, Some(6), "{e}");
    assert!(e.reason.contains("gap"), "{e}");
}

#[test]
fn deleted_first_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 10);
    edit(&only_segment(dir.path()), |t| {
        t.remove(1).unwrap();
    });
    let e = audit::verify(dir.path(), KEY).unwrap_err();
    assert_eq!(e.seq, Some(2), "{e}");
}

#[test]
fn swapped_records_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 10);
    edit(&only_segment(dir.path()), |t| {
        let (a, b) = (get(t, 4), get(t, 5));
        t.insert(4, b.as_slice()).unwrap();
        t.insert(5, a.as_slice()).unwrap();
    });
    let e = audit::verify(dir.path(), KEY).unwrap_err();
    assert_eq!(e.seq, Some(4), "{e}");
    // Renumbering the swapped records is caught by the hash, still at seq 4.
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 10);
    edit(&only_segment(dir.path()), |t| {
        let a = String::from_utf8(get(t, 4))
            .unwrap()
            .replace("\"seq\":4,", "\"seq\":5,");
        let b = String::from_utf8(get(t, 5))
            .unwrap()
            .replace("\"seq\":5,", "\"seq\":4,");
        t.insert(4, b.as_bytes()).unwrap();
        t.insert(5, a.as_bytes()).unwrap();
    });
    let e = audit::verify(dir.path(), KEY).unwrap_err();
    assert_eq!(e.seq, Some(4), "{e}");
}

#[test]
fn garbage_file_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 3);
    std::fs::write(
        dir.path().join(audit::segment_name(4)),
        b"not a redb file at all",
    )
    .unwrap();
    let e = audit::verify(dir.path(), KEY).unwrap_err();
    assert_eq!(e.segment, audit::segment_name(4));
    assert!(AuditLog::open(config(dir.path())).is_err());
}

fn rotating(dir: &Path) -> audit::AuditConfig {
    let mut c = config(dir);
    c.segment_max_bytes = 1; // every commit closes its segment
    c
}

#[test]
fn rotation_and_reopen_continue_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(rotating(dir.path())).unwrap();
    for batch in 0..4u64 {
        for i in 0..10 {
            log.record(stmt(1, batch * 10 + i, "SELECT 1", "allow"))
                .unwrap();
        }
        log.flush().unwrap();
    }
    log.close().unwrap();
    let names: Vec<String> = audit::list_segments(dir.path())
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, [1, 11, 21, 31].map(audit::segment_name));
    let r = audit::verify(dir.path(), KEY).unwrap();
    assert_eq!((r.records, r.segments, r.last_seq), (40, 4, Some(40)));
    let head = r.head_hash;

    // Restart: the chain goes on at 41 after the old head, in the newest segment, which is
    // small enough under the default limit.
    let log = AuditLog::open(config(dir.path())).unwrap();
    assert_eq!(log.stats().head_seq, 40);
    assert_eq!(log.record(end(1)).unwrap().wait_durable().unwrap(), 41);
    log.close().unwrap();
    let reader = AuditReader::open(dir.path()).unwrap();
    let last = reader.records(&Filter::default()).last().unwrap().unwrap();
    assert_eq!((last.seq, last.prev), (41, head));
    let r = audit::verify(dir.path(), KEY).unwrap();
    assert_eq!((r.records, r.segments), (41, 4));

    // Under the tiny limit the newest segment is "large": a restart starts a new one.
    let log = AuditLog::open(rotating(dir.path())).unwrap();
    log.record(end(2)).unwrap();
    log.close().unwrap();
    let segs = audit::list_segments(dir.path()).unwrap();
    assert_eq!(segs.last().unwrap().name, audit::segment_name(42));
    let r = audit::verify(dir.path(), KEY).unwrap();
    assert_eq!((r.records, r.segments), (42, 5));
}

#[test]
fn reopen_refuses_a_tampered_tail() {
    let dir = tempfile::tempdir().unwrap();
    write_n(dir.path(), 3);
    edit(&only_segment(dir.path()), |t| {
        let v = String::from_utf8(get(t, 3))
            .unwrap()
            .replace("SELECT 3", "SELECT 4");
        t.insert(3, v.as_bytes()).unwrap();
    });
    match AuditLog::open(config(dir.path())) {
        Err(audit::AuditError::Corrupt(m)) => assert!(m.contains("seq 3"), "{m}"),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened a tampered log"),
    }
}

#[test]
fn retention_prunes_with_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = rotating(dir.path());
    cfg.retention = Some(Duration::from_secs(3600));
    let log = AuditLog::open(cfg.clone()).unwrap();
    let old = audit::now_micros() - 2 * 3600 * 1_000_000;
    for batch in 0..5u64 {
        for i in 0..10 {
            let mut d = stmt(1, batch * 10 + i, "SELECT 1", "allow");
            if batch < 3 {
                d.ts_micros = old;
            }
            log.record(d).unwrap();
        }
        log.flush().unwrap();
    }
    let rep = log.prune(audit::now_micros()).unwrap();
    assert_eq!(rep.segments_removed, 3);
    assert_eq!(rep.pruned_through_seq, Some(30));
    // Nothing more to prune.
    assert_eq!(log.prune(audit::now_micros()).unwrap().segments_removed, 0);
    log.close().unwrap();

    let r = audit::verify(dir.path(), KEY).unwrap();
    assert_eq!(
        (r.first_seq, r.last_seq, r.checkpoint_seq),
        (Some(31), Some(51), Some(30))
    );
    let reader = AuditReader::open(dir.path()).unwrap();
    let last = reader.records(&Filter::default()).last().unwrap().unwrap();
    match last.body {
        RecordBody::Checkpoint {
            pruned_through_seq, ..
        } => assert_eq!(pruned_through_seq, 30),
        b => panic!("expected a checkpoint, got {b:?}"),
    }
    // Deleting the next old segment by hand is not covered by the checkpoint.
    std::fs::remove_file(dir.path().join(audit::segment_name(31))).unwrap();
    let e = audit::verify(dir.path(), KEY).unwrap_err();
    assert_eq!(e.seq, Some(41), "{e}");
}

fn scripted_session(dir: &Path) {
    let log = AuditLog::open(config(dir)).unwrap();
    let t0 = audit::now_micros();
    let mut drafts = vec![
        start(7),
        base(
            7,
            RecordBody::Auth {
                ok: true,
                method: "scram-sha-256".into(),
                reason: None,
            },
        ),
        stmt(7, 1, "SELECT id, email FROM customers", "allow"),
        result(7, 1),
        stmt(7, 2, "DELETE FROM customers", "block"),
        base(
            7,
            RecordBody::Error {
                statement_id: Some(2),
                code: "42501".into(),
                message: "blocked by rule no-delete".into(),
            },
        ),
        end(7),
    ];
    let mut other = start(8);
    other.user = "dora".into();
    other.target = "app-mysql".into();
    drafts.push(other);
    for (i, mut d) in drafts.into_iter().enumerate() {
        d.ts_micros = t0 + i as i64 * 20_000;
        log.record(d).unwrap();
    }
    log.close().unwrap();
}

#[test]
fn export_lines_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    scripted_session(dir.path());
    let reader = AuditReader::open(dir.path()).unwrap();
    let mut out = Vec::new();
    let rep = audit::export_jsonl(&reader, &Filter::default(), &mut out).unwrap();
    assert_eq!(rep.records, 8);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8);
    let order = [
        "\"seq\":",
        "\"session\":",
        "\"ts\":",
        "\"kind\":",
        "\"target\":",
        "\"user\":",
        "\"groups\":",
        "\"client_addr\":",
        "\"prev\":",
        "\"hash\":",
    ];
    for (i, line) in lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["seq"], i as u64 + 1);
        let pos: Vec<usize> = order.iter().map(|k| line.find(k).unwrap()).collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "field order in {line}");
        let ts = v["ts"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 27, "{ts}");
        assert_eq!(v["hash"].as_str().unwrap().len(), 64);
    }
    let stmt: serde_json::Value = serde_json::from_str(lines[4]).unwrap();
    assert_eq!(stmt["kind"], "statement");
    assert_eq!(stmt["decision"], "block");
    assert_eq!(stmt["rule"], "no-delete");
    assert_eq!(stmt["text"], "DELETE FROM customers");
    assert_eq!(stmt["tables"][0], "public.customers");
    assert_eq!(stmt["groups"][0], "analysts");
    let res: serde_json::Value = serde_json::from_str(lines[3]).unwrap();
    assert_eq!(res["rows"][0][1], "a***@example.com");
    assert_eq!(res["row_count"], 2);
    assert_eq!(res["columns"][1]["name"], "email");
    // prev links the lines.
    let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let second: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(first["prev"], "0".repeat(64));
    assert_eq!(second["prev"], first["hash"]);

    let count = |f: Filter| {
        let mut out = Vec::new();
        audit::export_jsonl(&reader, &f, &mut out).unwrap().records
    };
    assert_eq!(
        count(Filter {
            user: Some("dora".into()),
            ..Default::default()
        }),
        1
    );
    assert_eq!(
        count(Filter {
            target: Some("app-pg".into()),
            ..Default::default()
        }),
        7
    );
    assert_eq!(
        count(Filter {
            session: Some(7),
            ..Default::default()
        }),
        7
    );
    let t = first["ts"].as_str().and_then(audit::parse_rfc3339).unwrap();
    assert_eq!(
        count(Filter {
            since: Some(t + 70_000),
            ..Default::default()
        }),
        4
    );
    assert_eq!(
        count(Filter {
            until: Some(t + 10_000),
            ..Default::default()
        }),
        1
    );

    let s = audit::sessions(&reader, &Filter::default()).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[0].session, s[0].statements, s[0].blocked, s[0].errors),
        (7, 2, 1, 1)
    );
    assert_eq!(s[0].ended, Some(t + 6 * 20_000));
    assert_eq!(
        (s[1].session, s[1].user.as_str(), s[1].ended),
        (8, "dora", None)
    );
    let s = audit::sessions(
        &reader,
        &Filter {
            user: Some("dora".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(s.len(), 1);
}

#[test]
fn replay_prints_a_transcript() {
    let dir = tempfile::tempdir().unwrap();
    scripted_session(dir.path());
    let reader = AuditReader::open(dir.path()).unwrap();
    let mut out = Vec::new();
    let began = Instant::now();
    assert_eq!(audit::replay(&reader, 7, Some(4.0), &mut out).unwrap(), 7);
    // 6 gaps of 20 ms at 4x speed.
    assert!(
        began.elapsed() >= Duration::from_millis(25),
        "{:?}",
        began.elapsed()
    );
    let text = String::from_utf8(out).unwrap();
    let expect = [
        "session 7  target app-pg  user alice (analysts)  from 10.0.0.7:50123",
        "+0.000s  session start: user alice from 10.0.0.7:50123, tls, application psql, database app",
        "+0.020s  auth ok (scram-sha-256)",
        "+0.040s  [1] select -> allow",
        "          SELECT id, email FROM customers",
        "+0.060s  [1] result: 2 rows, 120 bytes, 1.500 ms",
        "          | id | email            |",
        "          |----+------------------|",
        "          | 1  | a***@example.com |",
        "          | 22 | NULL             |",
        "+0.080s  [2] select -> block, rule no-delete",
        "          DELETE FROM customers",
        "+0.100s  [2] error 42501: blocked by rule no-delete",
        "+0.120s  session end: client closed",
    ];
    let mut at = 0;
    for e in expect {
        let found = text[at..]
            .find(e)
            .unwrap_or_else(|| panic!("missing {e:?} after {at} in\n{text}"));
        at += found + e.len();
    }
    assert!(matches!(
        audit::replay(&reader, 99, None, &mut Vec::new()),
        Err(audit::AuditError::NotFound(_))
    ));
}

#[test]
fn open_segment_is_readable_while_writing() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(dir.path())).unwrap();
    for i in 0..5 {
        log.record(stmt(1, i, "SELECT 1", "allow")).unwrap();
    }
    log.flush().unwrap();
    // Same process, another handle on the segment the writer holds open.
    let r = audit::verify(dir.path(), KEY).unwrap();
    assert_eq!((r.records, r.incomplete), (5, false));
    // Another process.
    assert_eq!(child_verify(dir.path()), "records 5 incomplete false");
    log.record(end(1)).unwrap();
    log.flush().unwrap();
    assert_eq!(child_verify(dir.path()), "records 6 incomplete false");
    log.close().unwrap();

    // Closed segments of a running writer, plus the one it has open.
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(rotating(dir.path())).unwrap();
    for _ in 0..3 {
        log.record(end(1)).unwrap();
        log.flush().unwrap();
    }
    let mut cfg = config(dir.path());
    cfg.segment_max_bytes = u64::MAX;
    drop(log);
    let log = AuditLog::open(cfg).unwrap();
    log.record(end(2)).unwrap();
    log.flush().unwrap();
    // Two closed segments, and the third continued by the new writer.
    assert_eq!(audit::list_segments(dir.path()).unwrap().len(), 3);
    assert_eq!(child_verify(dir.path()), "records 4 incomplete false");
    log.close().unwrap();
}

fn child_verify(dir: &Path) -> String {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "verify_child", "--nocapture", "--test-threads=1"])
        .env("AUDIT_VERIFY_CHILD_DIR", dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.split_once("CHILD: ").map(|(_, rest)| rest))
        .unwrap_or_else(|| {
            panic!(
                "child said {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .to_string()
}

/// Runs only when re-invoked by `child_verify`.
#[test]
fn verify_child() {
    let Some(dir) = std::env::var_os("AUDIT_VERIFY_CHILD_DIR") else {
        return;
    };
    match audit::verify(Path::new(&dir), KEY) {
        Ok(r) => println!("CHILD: records {} incomplete {}", r.records, r.incomplete),
        Err(e) => println!("CHILD: error {e}"),
    }
}

/// A shipper's read from its cursor: every record from the seq asked for, across rotated
/// segments and the sync journal, and nothing before it.
#[test]
fn entries_from_reads_exactly_what_follows_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::config(dir.path());
    c.segment_max_bytes = 1; // every commit closes its segment
    let log = AuditLog::open(c).unwrap();
    for i in 0..120 {
        log.record(common::stmt(1, i, &format!("SELECT {i}"), "allow"))
            .unwrap();
        if i % 25 == 24 {
            log.flush().unwrap();
        }
    }
    log.flush().unwrap();
    let reader = AuditReader::open(dir.path()).unwrap();
    assert!(reader.segments().len() > 2, "the log rotated");
    for from in [0, 1, 2, 57, 119, 120, 121, 500] {
        let seqs: Vec<u64> = reader.entries_from(from).map(|e| e.unwrap().seq).collect();
        let want: Vec<u64> = (from.max(1)..=120).collect();
        assert_eq!(seqs, want, "from {from}");
    }
    // Records durable in the sync journal and not yet in a segment come after them.
    let mut last = None;
    for i in 120..125 {
        last = Some(log.record(common::stmt(1, i, "SELECT 1", "allow")).unwrap());
    }
    last.unwrap().wait_durable().unwrap();
    let reader = AuditReader::open(dir.path()).unwrap();
    let seqs: Vec<u64> = reader.entries_from(118).map(|e| e.unwrap().seq).collect();
    assert_eq!(seqs, (118..=125).collect::<Vec<u64>>());
    log.close().unwrap();
}
