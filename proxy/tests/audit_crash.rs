//! The audit log survives `kill -9` of sluice under concurrent load. In sync mode every
//! statement the database executed has its record; in async mode the log reopens, verifies and
//! goes on with its chain.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice::launcher::{PgOptions, PgServer};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");
const KEY: &str = "crash-test-key";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

struct Setup {
    pg: PgServer,
    dir: tempfile::TempDir,
    port: u16,
}

fn setup(mode: &str) -> Setup {
    let pg = PgServer::start(PgOptions::default()).unwrap();
    pg.psql_superuser(
        &pg.opts.database,
        &format!(
            "CREATE TABLE crash (n int PRIMARY KEY); GRANT ALL ON crash TO {};",
            pg.opts.user
        ),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pg.pw"), &pg.opts.password).unwrap();
    let port = free_port();
    let config = format!(
        "[server]\nadmin_listen = \"127.0.0.1:0\"\n\n[audit]\ndir = \"audit\"\nmode = \"{mode}\"\nflush_interval = \"20ms\"\nkey_env = \"SLUICE_CRASH_KEY\"\n\n[[users]]\nname = \"alice\"\npassword_hash = \"{}\"\ngroups = []\n\n[[targets]]\nname = \"pg\"\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:{port}\"\nupstream = \"{}\"\ndatabase = \"{}\"\nuser = \"{}\"\npassword_file = \"pg.pw\"\nupstream_tls = \"disable\"\n",
        sluice::auth::hash_password("alice-pw"),
        pg.addr(),
        pg.opts.database,
        pg.opts.user
    );
    std::fs::write(dir.path().join("sluice.toml"), config).unwrap();
    Setup { pg, dir, port }
}

fn serve(s: &Setup) -> Child {
    let child = Command::new(SLUICE)
        .args(["serve", "--config"])
        .arg(s.dir.path().join("sluice.toml"))
        .env("SLUICE_CRASH_KEY", KEY)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", s.port)).is_err() {
        assert!(Instant::now() < deadline, "sluice did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// psql clients inserting distinct values through sluice, one statement at a time.
fn load(s: &Setup, clients: u32) -> Vec<Child> {
    (0..clients)
        .map(|c| {
            let script: String = (0..20_000)
                .map(|i| format!("INSERT INTO crash VALUES ({});\n", c * 1_000_000 + i))
                .collect();
            let path = s.dir.path().join(format!("load{c}.sql"));
            std::fs::write(&path, script).unwrap();
            Command::new("psql")
                .args(["-X", "-q", "-f"])
                .arg(&path)
                .arg(format!(
                    "host=127.0.0.1 port={} user=alice password=alice-pw dbname={}",
                    s.port, s.pg.opts.database
                ))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

fn executed(s: &Setup) -> Vec<i64> {
    s.pg.psql_superuser(&s.pg.opts.database, "SELECT n FROM crash ORDER BY n")
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// The values of the INSERT statements the log recorded as allowed.
fn recorded(s: &Setup) -> std::collections::HashSet<i64> {
    let reader = audit::AuditReader::open(s.dir.path().join("audit")).unwrap();
    let mut out = Vec::new();
    audit::export_jsonl(&reader, &audit::Filter::default(), &mut out).unwrap();
    String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["kind"] == "statement" && r["decision"] == "allow")
        .filter_map(|r| {
            let text = r["text"].as_str()?.to_string();
            // Recorded as sent (psql sends the `;`).
            let n = text
                .strip_prefix("INSERT INTO crash VALUES (")?
                .trim_end_matches(';')
                .strip_suffix(")")?;
            n.parse().ok()
        })
        .collect()
}

fn crash_under_load(mode: &str) -> Setup {
    let s = setup(mode);
    let mut sluice = serve(&s);
    let mut clients = load(&s, 3);
    // Let the load run, then kill -9 in the middle of it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while executed(&s).len() < 200 {
        assert!(Instant::now() < deadline, "the load did not get going");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The kill must come after the log has written something (an async batch is written a
    // flush interval after it fills): a log killed before its first write proves nothing.
    while recorded(&s).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the log recorded nothing under load"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    sluice.kill().unwrap();
    sluice.wait().unwrap();
    for c in &mut clients {
        let _ = c.wait();
    }
    s
}

#[test]
fn sync_mode_every_executed_statement_has_its_record_after_kill_9() {
    let s = crash_under_load("sync");
    let executed = executed(&s);
    assert!(executed.len() >= 200, "{} rows", executed.len());
    let report = audit::verify(&s.dir.path().join("audit"), KEY.as_bytes())
        .unwrap_or_else(|e| panic!("the log does not verify after kill -9: {e}"));
    assert!(report.records > 0);
    let recorded = recorded(&s);
    let missing: Vec<&i64> = executed.iter().filter(|n| !recorded.contains(n)).collect();
    assert!(
        missing.is_empty(),
        "{} executed statements have no record, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

#[test]
fn async_mode_log_reopens_verifies_and_continues_after_kill_9() {
    let s = crash_under_load("async");
    let dir = s.dir.path().join("audit");
    let first = audit::verify(&dir, KEY.as_bytes())
        .unwrap_or_else(|e| panic!("the log does not verify after kill -9: {e}"));
    assert!(first.records > 0);
    // A crash loses only the newest records, never one in the middle: each client's recorded
    // statements are an unbroken run from its first, and at most one (recorded, killed before
    // it ran) beyond what the database executed.
    let executed = executed(&s);
    let recorded = recorded(&s);
    for c in 0..3i64 {
        let ran = executed.iter().filter(|n| **n / 1_000_000 == c).count() as i64;
        let mut mine: Vec<i64> = recorded
            .iter()
            .filter(|n| **n / 1_000_000 == c)
            .map(|n| n % 1_000_000)
            .collect();
        mine.sort();
        assert!(
            mine.iter().enumerate().all(|(i, n)| *n == i as i64),
            "client {c}: the recorded statements have a hole"
        );
        assert!(
            mine.len() as i64 <= ran + 1,
            "client {c}: records of statements that never ran"
        );
    }
    assert!(!recorded.is_empty());
    // Restarted, sluice opens the log and continues its chain.
    let mut sluice = serve(&s);
    let out = Command::new("psql")
        .args(["-X", "-At", "-c", "SELECT count(*) FROM crash"])
        .arg(format!(
            "host=127.0.0.1 port={} user=alice password=alice-pw dbname={}",
            s.port, s.pg.opts.database
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Command::new("kill")
        .args(["-TERM", &sluice.id().to_string()])
        .status()
        .unwrap();
    sluice.wait().unwrap();
    let second = audit::verify(&dir, KEY.as_bytes())
        .unwrap_or_else(|e| panic!("the log does not verify after the restart: {e}"));
    assert!(second.records > first.records, "{first:?} then {second:?}");
}
