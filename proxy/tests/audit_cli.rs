//! `sluice audit …` on a log written by the audit crate, and the admin API's audit routes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use audit::{AuditConfig, AuditLog, Draft, RecordBody, ResultColumn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");
const KEY: &[u8] = b"cli-test-audit-key";
const KEY_ENV: &str = "SLUICE_TEST_AUDIT_KEY";

fn draft(session: u64, user: &str, target: &str, body: RecordBody) -> Draft {
    let mut d = Draft::new(session, target, user, body);
    d.groups = vec![format!("{user}-group")].into();
    d.client_addr = format!("10.0.0.{session}:5000{session}").into();
    d
}

fn statement(id: u64, text: &str, kind: &str, decision: &str, rule: Option<&str>) -> RecordBody {
    RecordBody::Statement {
        statement_id: id,
        text: text.into(),
        params: vec![],
        statement_kind: kind.into(),
        tables: vec!["public.customers".into()],
        rule: rule.map(str::to_string),
        decision: decision.into(),
    }
}

/// Session 1 (alice on app-pg): records 1..=6, flushed into the first segment. Session 2 (bob
/// on app-my): records 7..=10, in a second segment (every flush closes a segment).
fn write_log(dir: &Path, key: &[u8]) {
    let mut config = AuditConfig::new(dir, key.to_vec());
    // Commits only on flush and close, so segments split exactly there.
    config.flush_interval = Duration::from_secs(60);
    config.segment_max_bytes = 1;
    let log = AuditLog::open(config).unwrap();
    let alice = |body| draft(1, "alice", "app-pg", body);
    log.record(alice(RecordBody::SessionStart {
        tls: true,
        application_name: Some("psql".into()),
        database: Some("app".into()),
        upstream_user: None,
    }))
    .unwrap();
    log.record(alice(statement(
        1,
        "SELECT id, email FROM customers",
        "select",
        "allow",
        None,
    )))
    .unwrap();
    log.record(alice(RecordBody::Result {
        statement_id: 1,
        columns: vec![
            ResultColumn {
                name: "id".into(),
                origin: Some("public.customers.id".into()),
                type_name: "int4".into(),
            },
            ResultColumn {
                name: "email".into(),
                origin: Some("public.customers.email".into()),
                type_name: "text".into(),
            },
        ],
        rows: vec![
            vec![Some("1".into()), Some("a***@example.com".into())],
            vec![Some("2".into()), None],
        ],
        row_count: 2,
        bytes: 96,
        duration_micros: 1250,
        rows_affected: None,
        truncated: false,
    }))
    .unwrap();
    log.record(alice(statement(
        2,
        "DELETE FROM customers",
        "delete",
        "block",
        Some("no-delete"),
    )))
    .unwrap();
    log.record(alice(RecordBody::Error {
        statement_id: Some(2),
        code: "42501".into(),
        message: "blocked by rule no-delete".into(),
    }))
    .unwrap();
    log.record(alice(RecordBody::SessionEnd {
        reason: "client closed".into(),
    }))
    .unwrap();
    log.flush().unwrap();

    let bob = |body| draft(2, "bob", "app-my", body);
    log.record(bob(RecordBody::SessionStart {
        tls: false,
        application_name: None,
        database: Some("shop".into()),
        upstream_user: None,
    }))
    .unwrap();
    log.record(bob(statement(1, "SELECT 1", "select", "allow", None)))
        .unwrap();
    log.record(bob(RecordBody::Error {
        statement_id: Some(1),
        code: "1064".into(),
        message: "syntax error".into(),
    }))
    .unwrap();
    log.record(bob(RecordBody::SessionEnd {
        reason: "upstream closed".into(),
    }))
    .unwrap();
    log.close().unwrap();
}

struct Fixture {
    _tmp: tempfile::TempDir,
    config: PathBuf,
    audit_dir: PathBuf,
}

/// A log in `<tmp>/data/audit` and `<tmp>/sluice.toml` naming it relative to itself.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let audit_dir = tmp.path().join("data/audit");
    write_log(&audit_dir, KEY);
    let config = tmp.path().join("sluice.toml");
    std::fs::write(
        &config,
        format!("[audit]\ndir = \"data/audit\"\nkey_env = \"{KEY_ENV}\"\n"),
    )
    .unwrap();
    Fixture {
        _tmp: tmp,
        config,
        audit_dir,
    }
}

fn run(fx: &Fixture, args: &[&str]) -> Output {
    // Run from elsewhere: the audit dir must resolve against the config file's directory.
    Command::new(SLUICE)
        .arg("audit")
        .args(args)
        .arg("--config")
        .arg(&fx.config)
        .env(KEY_ENV, KEY_STR)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap()
}

const KEY_STR: &str = "cli-test-audit-key";

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn sessions_lists_both_sessions() {
    let fx = fixture();
    let out = run(&fx, &["sessions"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "session",
            "target",
            "user",
            "client",
            "started",
            "ended",
            "statements",
            "blocked",
            "errors"
        ]
    );
    let alice: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(alice[..4], ["1", "app-pg", "alice", "10.0.0.1:50001"]);
    assert_eq!(alice[6..], ["2", "1", "1"]);
    assert!(alice[4].ends_with('Z') && alice[5].ends_with('Z'), "{text}");
    let bob: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(bob[..3], ["2", "app-my", "bob"]);
    assert_eq!(bob[6..], ["1", "0", "1"]);
    // Columns are aligned: every "target" value starts where its header does.
    let col = lines[0].find("target").unwrap();
    assert!(lines[1..].iter().all(|l| l[col..].starts_with("app-")));

    let out = run(&fx, &["sessions", "--json", "--user", "bob"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{text}");
    assert_eq!(rows[0]["session"], 2);
    assert_eq!(rows[0]["target"], "app-my");
    assert_eq!(rows[0]["statements"], 1);
    assert!(rows[0]["started"].is_i64());
    assert!(rows[0]["started_at"].as_str().unwrap().ends_with('Z'));

    // Times: a duration ago, RFC 3339, and nonsense.
    assert_eq!(
        stdout(&run(&fx, &["sessions", "--since", "1h"]))
            .lines()
            .count(),
        3
    );
    let future = run(&fx, &["sessions", "--since", "2999-01-01T00:00:00Z"]);
    assert_eq!(stdout(&future).lines().count(), 1);
    let until = run(&fx, &["sessions", "--json", "--until", "2000-01-01"]);
    assert_eq!(stdout(&until), "");
    let bad = run(&fx, &["sessions", "--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--since"), "{}", stderr(&bad));
    let target = run(&fx, &["sessions", "--json", "--target", "app-pg"]);
    assert_eq!(stdout(&target).lines().count(), 1);
}

#[test]
fn replay_shows_statements_decisions_and_masked_rows() {
    let fx = fixture();
    let out = run(&fx, &["replay", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let select = text.find("[1] select -> allow").expect(&text);
    let table = text.find("| a***@example.com |").expect(&text);
    let delete = text
        .find("[2] delete -> block, rule no-delete")
        .expect(&text);
    let error = text
        .find("[2] error 42501: blocked by rule no-delete")
        .expect(&text);
    let end = text.find("session end: client closed").expect(&text);
    assert!(
        select < table && table < delete && delete < error && error < end,
        "{text}"
    );
    assert!(text.contains("SELECT id, email FROM customers"), "{text}");
    assert!(text.contains("[1] result: 2 rows"), "{text}");
    assert!(text.contains("| 2  | NULL             |"), "{text}");
    assert!(
        text.starts_with("session 1  target app-pg  user alice"),
        "{text}"
    );
    assert!(!text.contains("bob"), "{text}");

    let paced = run(&fx, &["replay", "2", "--speed", "1000"]);
    assert_eq!(paced.status.code(), Some(0), "{}", stderr(&paced));
    assert!(stdout(&paced).contains("session end: upstream closed"));

    let missing = run(&fx, &["replay", "99"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("session 99"),
        "{}",
        stderr(&missing)
    );
    let bad_speed = run(&fx, &["replay", "1", "--speed", "0"]);
    assert_eq!(bad_speed.status.code(), Some(2));
}

#[test]
fn export_writes_contract_json_lines() {
    let fx = fixture();
    let out = run(&fx, &["export"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10);
    for (i, l) in lines.iter().enumerate() {
        for field in [
            "seq",
            "session",
            "ts",
            "kind",
            "target",
            "user",
            "groups",
            "client_addr",
            "prev",
            "hash",
        ] {
            assert!(l.get(field).is_some(), "{field} missing in {l}");
        }
        assert_eq!(l["seq"], i as u64 + 1);
    }
    assert_eq!(lines[0]["kind"], "session_start");
    assert_eq!(lines[1]["decision"], "allow");
    assert_eq!(lines[2]["kind"], "result");
    assert_eq!(lines[2]["rows"][0][1], "a***@example.com");
    assert_eq!(lines[3]["rule"], "no-delete");
    assert_eq!(lines[6]["prev"], lines[5]["hash"]);
    assert!(lines[0]["ts"].as_str().unwrap().ends_with('Z'));

    let bob = run(&fx, &["export", "--user", "bob", "--format", "jsonl"]);
    let bob: Vec<serde_json::Value> = stdout(&bob)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(bob.len(), 4);
    assert!(bob.iter().all(|l| l["user"] == "bob" && l["session"] == 2));

    let one = run(&fx, &["export", "--session", "1", "--since", "1d"]);
    assert_eq!(stdout(&one).lines().count(), 6);

    let csv = run(&fx, &["export", "--format", "csv"]);
    assert_eq!(csv.status.code(), Some(2));
    assert!(stderr(&csv).contains("csv"), "{}", stderr(&csv));
}

#[test]
fn verify_passes_then_names_the_forged_record() {
    let fx = fixture();
    let out = run(&fx, &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = stdout(&out);
    assert!(
        line.starts_with("audit log verified: 10 records in 2 segments (seq 1..10), head hash "),
        "{line}"
    );

    // --dir with the key from --key-env works without a config file.
    let by_dir = Command::new(SLUICE)
        .args(["audit", "verify", "--dir"])
        .arg(&fx.audit_dir)
        .args(["--key-env", KEY_ENV])
        .env(KEY_ENV, KEY_STR)
        .output()
        .unwrap();
    assert_eq!(by_dir.status.code(), Some(0), "{}", stderr(&by_dir));
    // The wrong key fails at the first record.
    let wrong = Command::new(SLUICE)
        .args(["audit", "verify", "--dir"])
        .arg(&fx.audit_dir)
        .env("SLUICE_AUDIT_KEY", "another key")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        stdout(&wrong).starts_with("audit log verification FAILED at record 1 (segment "),
        "{}",
        stdout(&wrong)
    );

    // Forge the second segment: the same records, signed with another key.
    let forged = tempfile::tempdir().unwrap();
    write_log(forged.path(), b"an attacker's key");
    let name = audit::segment_name(7);
    std::fs::copy(forged.path().join(&name), fx.audit_dir.join(&name)).unwrap();
    let out = run(&fx, &["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let line = stdout(&out);
    assert!(
        line.starts_with(&format!(
            "audit log verification FAILED at record 7 (segment {name}): "
        )),
        "{line}"
    );
    // Reading still works on the forged log.
    assert_eq!(stdout(&run(&fx, &["export"])).lines().count(), 10);
}

#[test]
fn configuration_errors_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let no_audit = tmp.path().join("none.toml");
    std::fs::write(&no_audit, "[server]\nadmin_listen = \"127.0.0.1:0\"\n").unwrap();
    let out = Command::new(SLUICE)
        .args(["audit", "sessions", "--config"])
        .arg(&no_audit)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no [audit] section"),
        "{}",
        stderr(&out)
    );

    // The directory does not exist.
    let missing = tmp.path().join("missing.toml");
    std::fs::write(
        &missing,
        format!("[audit]\ndir = \"nowhere\"\nkey_env = \"{KEY_ENV}\"\n"),
    )
    .unwrap();
    let out = Command::new(SLUICE)
        .args(["audit", "export", "--config"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read the audit directory"),
        "{}",
        stderr(&out)
    );

    // The key is missing.
    let fx = fixture();
    let out = Command::new(SLUICE)
        .args(["audit", "verify", "--config"])
        .arg(&fx.config)
        .env_remove(KEY_ENV)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains(KEY_ENV), "{}", stderr(&out));

    // No config file at all (the default sluice.toml in an empty directory).
    let out = Command::new(SLUICE)
        .args(["audit", "sessions"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("sluice.toml"), "{}", stderr(&out));
}

/// A plain HTTP/1.1 GET; returns (status, content type, body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: sluice\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_string)
        })
        .unwrap_or_default();
    (status, content_type, body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_serve_sessions_and_events() {
    let fx = fixture();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = sluice::admin_audit::routes(fx.audit_dir.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let (status, ctype, body) = get(addr, "/api/sessions").await;
    assert_eq!(
        (status, ctype.as_str()),
        (200, "application/json"),
        "{body}"
    );
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["session"], 1);
    assert_eq!(list[0]["user"], "alice");
    assert_eq!(list[0]["blocked"], 1);
    assert_eq!(list[1]["session"], 2);

    let (status, _, body) = get(addr, "/api/sessions?user=bob&since=1h").await;
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["user"], "bob");

    let (status, _, body) = get(addr, "/api/sessions?since=2999-01-01T00%3A00%3A00Z").await;
    assert_eq!((status, body.as_str()), (200, "[]"));

    let (status, ctype, body) = get(addr, "/api/sessions?since=whenever").await;
    assert_eq!((status, ctype.as_str()), (400, "application/json"));
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(err["error"].as_str().unwrap().contains("since"), "{body}");

    let (status, _, body) = get(addr, "/api/sessions/1/events").await;
    assert_eq!(status, 200, "{body}");
    let events: serde_json::Value = serde_json::from_str(&body).unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 6);
    assert_eq!(events[0]["kind"], "session_start");
    assert_eq!(events[3]["decision"], "block");
    assert_eq!(events[5]["kind"], "session_end");
    assert!(events
        .iter()
        .all(|e| e["session"] == 1 && e["hash"].is_string()));

    let (status, ctype, body) = get(addr, "/api/sessions/99/events").await;
    assert_eq!((status, ctype.as_str()), (404, "application/json"));
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(err["error"].as_str().unwrap().contains("99"), "{body}");

    let (status, _, _) = get(addr, "/api/sessions/abc/events").await;
    assert_eq!(status, 400);
}

#[test]
fn export_follow_prints_the_log_and_keeps_running() {
    use std::io::BufRead;
    let fx = fixture();
    let mut child = Command::new(SLUICE)
        .args(["audit", "export", "--follow", "--config"])
        .arg(&fx.config)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let seqs: Vec<u64> = (0..10)
        .map(|_| {
            let line = lines.next().unwrap().unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            v["seq"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<u64>>());
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "follow keeps running");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn store_options_are_checked_before_anything_is_read() {
    let fx = fixture();
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "export",
                "--follow",
                "--store",
                "postgres://a@127.0.0.1:1/db",
            ],
            "cannot connect to the central store",
        ),
        (&["sessions", "--instance", "a"], "--store"),
        (
            &["verify", "--store", "postgres://nobody@127.0.0.1:1/db"],
            "cannot connect to the central store",
        ),
    ];
    for (args, want) in cases {
        let out = Command::new(SLUICE)
            .arg("audit")
            .args(args)
            .env(KEY_ENV, KEY_STR)
            .args(["--key-env", KEY_ENV])
            .current_dir(fx.config.parent().unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
}
