//! The audit log end to end, both protocols: a scripted session through sluice, then the log is
//! replayed, exported and verified; the clear sensitive values of the sample data appear
//! nowhere in its files; and a log that cannot write refuses new statements until it can.

use mysql_async::prelude::*;
use sluice_tests::*;

const KEY_ENV: &str = "SLUICE_TEST_AUDIT_KEY";
const KEY: &str = "audit-test-key";
const CLEAR: [&str; 5] = [
    "123-45-6789",
    "alice.smith@example.com",
    "4111111111111111",
    "587-65-4321",
    "bob.jones@example.org",
];

fn config(schema: &str, extra: &str) -> String {
    std::env::set_var(KEY_ENV, KEY);
    format!(
        r#"
{audit}{extra}

[[masks]]
columns = ["{schema}.customers.ssn"]
function = "partial"
keep_last = 4

[[masks]]
columns = ["{schema}.customers.email"]
function = "email"

[[masks]]
columns = ["{schema}.customers.card_number"]
function = "redact"

[[detectors]]
kinds = ["email", "us_ssn", "credit_card"]
function = "redact"

[[rules]]
name = "no-drop"
when = {{ statements = ["drop"] }}
action = "block"
message = "ask a DBA"
"#,
        audit = audit_section(KEY_ENV)
    )
}

/// Every file under `dir`, concatenated.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_file() {
            out.extend(std::fs::read(&p).unwrap());
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// The exported records of the log, parsed.
fn export(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let reader = audit::AuditReader::open(dir).unwrap();
    let mut out = Vec::new();
    audit::export_jsonl(&reader, &audit::Filter::default(), &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn kinds_of(records: &[serde_json::Value], session: u64) -> Vec<String> {
    records
        .iter()
        .filter(|r| r["session"].as_u64() == Some(session))
        .map(|r| r["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_session_is_recorded_replayable_verifiable_and_free_of_clear_values() {
    let upstream = pg_scram();
    let s = unique("aud");
    let (direct, conn) = tokio_postgres::connect(&direct_conn_str(upstream), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    direct
        .batch_execute(&format!(
            "CREATE SCHEMA {s}; CREATE TABLE {s}.customers (id int PRIMARY KEY, name text, ssn text, email text, card_number text);
             INSERT INTO {s}.customers VALUES (1, 'Alice Smith', '123-45-6789', 'alice.smith@example.com', '4111111111111111'),
                                              (2, 'Bob Jones', '587-65-4321', 'bob.jones@example.org', '4111111111111111');"
        ))
        .await
        .unwrap();
    let mut proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: config(&s, ""),
            ..ProxyOpts::default()
        },
    )
    .await;
    let dir = proxy.dir.path().join("audit");
    assert!(proxy.try_connect(USER, "wrong-password").await.is_err());
    let client = proxy.connect().await;
    // 1. A select of masked columns; 2. a literal bound to a masked column; 3. a prepared
    // statement with a parameter; 4. a blocked statement; 5. a failing one; 6. COPY.
    client
        .simple_query(&format!(
            "SELECT id, ssn, email FROM {s}.customers ORDER BY id"
        ))
        .await
        .unwrap();
    client
        .simple_query(&format!(
            "SELECT name FROM {s}.customers WHERE ssn = '123-45-6789'"
        ))
        .await
        .unwrap();
    // The same shape again, another value: masked by the plan the first one made.
    client
        .simple_query(&format!(
            "SELECT name FROM {s}.customers WHERE ssn = '587-65-4321'"
        ))
        .await
        .unwrap();
    let by_id = client
        .prepare(&format!(
            "SELECT name, card_number FROM {s}.customers WHERE id = $1"
        ))
        .await
        .unwrap();
    let row = client.query_one(&by_id, &[&2i32]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "Bob Jones");
    let by_ssn = client
        .query_one(
            &format!("SELECT name FROM {s}.customers WHERE ssn = $1"),
            &[&"123-45-6789"],
        )
        .await
        .unwrap();
    assert_eq!(by_ssn.get::<_, String>(0), "Alice Smith");
    let blocked = client
        .simple_query(&format!("DROP TABLE {s}.customers"))
        .await;
    assert!(blocked.is_err());
    let failed = client
        .simple_query("SELECT * FROM no_such_table_here")
        .await;
    assert!(failed.is_err());
    let copied = client
        .copy_out(&format!(
            "COPY (SELECT id, ssn FROM {s}.customers ORDER BY id) TO STDOUT"
        ))
        .await
        .unwrap();
    let chunks: Vec<bytes::Bytes> = futures_util::TryStreamExt::try_collect(copied)
        .await
        .unwrap();
    assert_eq!(chunks.concat(), b"1\t*******6789\n2\t*******4321\n");
    drop(client);
    proxy.shutdown().await;

    // verify passes.
    let report = audit::verify(&dir, KEY.as_bytes()).unwrap_or_else(|e| panic!("verify: {e}"));
    assert!(report.records >= 12, "{report:?}");
    // The clear values are nowhere in the files.
    let bytes = all_bytes(&dir);
    assert!(!bytes.is_empty());
    for v in CLEAR {
        assert!(!contains(&bytes, v), "{v} is in the audit files in clear");
    }
    // export: valid JSON lines with the contract's fields, in order.
    let records = export(&dir);
    for r in &records {
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
            assert!(r.get(field).is_some(), "{field} missing in {r}");
        }
    }
    let failed_login = records
        .iter()
        .find(|r| r["kind"] == "auth" && r["ok"] == false)
        .expect("the failed login is recorded");
    assert_eq!(failed_login["user"], USER);
    let session = records
        .iter()
        .find(|r| r["kind"] == "session_start")
        .and_then(|r| r["session"].as_u64())
        .unwrap();
    let kinds = kinds_of(&records, session);
    assert_eq!(kinds.first().map(String::as_str), Some("session_start"));
    assert_eq!(kinds.last().map(String::as_str), Some("session_end"));
    let statements: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["session"].as_u64() == Some(session) && r["kind"] == "statement")
        .collect();
    let texts: Vec<&str> = statements
        .iter()
        .filter_map(|r| r["text"].as_str())
        .collect();
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.ends_with("WHERE ssn = '***'"))
            .count(),
        2,
        "{texts:?}"
    );
    // Executions of prepared statements are recorded with their parameters, masked where
    // they are bound to a masked column.
    let executions: Vec<(&str, &serde_json::Value)> = statements
        .iter()
        .filter(|r| r["params"].as_array().is_some_and(|p| !p.is_empty()))
        .map(|r| (r["text"].as_str().unwrap_or_default(), &r["params"]))
        .collect();
    assert!(
        executions
            .iter()
            .any(|(t, p)| t.contains("WHERE id = $1") && p[0] == "\\x00000002"),
        "{executions:?}"
    );
    assert!(
        executions
            .iter()
            .any(|(t, p)| t.contains("WHERE ssn = $1") && p[0] == "***"),
        "{executions:?}"
    );
    let drop = statements
        .iter()
        .find(|r| r["text"].as_str().is_some_and(|t| t.starts_with("DROP")))
        .expect("the blocked statement is recorded");
    assert_eq!(drop["decision"], "block");
    assert_eq!(drop["rule"], "no-drop");
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "error" && r["code"] == "42P01"),
        "the failing statement's error is recorded"
    );
    let first_result = records
        .iter()
        .find(|r| {
            r["session"].as_u64() == Some(session) && r["kind"] == "result" && r["row_count"] == 2
        })
        .expect("the first select's result");
    assert_eq!(
        first_result["rows"][0][1], "*******6789",
        "rows are recorded as the client saw them"
    );
    // Columns are recorded with their origin and the database's name for their type.
    let column = |i: usize| {
        let c = &first_result["columns"][i];
        (
            c["name"].clone(),
            c["origin"].clone(),
            c["type_name"].clone(),
        )
    };
    assert_eq!(
        column(0),
        (
            "id".into(),
            format!("{s}.customers.id").into(),
            "int4".into()
        )
    );
    assert_eq!(
        column(1),
        (
            "ssn".into(),
            format!("{s}.customers.ssn").into(),
            "text".into()
        )
    );
    // replay: a readable transcript in order.
    let reader = audit::AuditReader::open(&dir).unwrap();
    let mut out = Vec::new();
    audit::replay(&reader, session, None, &mut out).unwrap();
    let transcript = String::from_utf8_lossy(&out).to_string();
    let at = |needle: &str| {
        transcript
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} not in the replay:\n{transcript}"))
    };
    assert!(at("SELECT id, ssn, email") < at("*******6789"));
    assert!(at("*******6789") < at("WHERE ssn = '***'"));
    assert!(at("DROP TABLE") < at("no_such_table_here"));
    assert!(at("no_such_table_here") < at("COPY"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_session_is_recorded_and_verifiable() {
    let upstream = mariadb_native();
    let t = unique("audc");
    let mut direct = mysql_direct(upstream).await;
    direct
        .query_drop(format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, name TEXT, ssn VARCHAR(11), email VARCHAR(64), card_number VARCHAR(19));
             INSERT INTO {t} VALUES (1, 'Alice Smith', '123-45-6789', 'alice.smith@example.com', '4111111111111111')"
        ))
        .await
        .unwrap();
    let mut proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: config("shop", "").replace("shop.customers.", &format!("shop.{t}.")),
            ..ProxyOpts::default()
        },
    )
    .await;
    let dir = proxy.dir.path().join("audit");
    let mut conn = proxy.mysql().await;
    let ssn: Option<String> = conn
        .query_first(format!("SELECT ssn FROM {t}"))
        .await
        .unwrap();
    assert_eq!(ssn.as_deref(), Some("*******6789"));
    let email: Option<String> = conn
        .exec_first(
            format!("SELECT email FROM {t} WHERE ssn = ?"),
            ("123-45-6789",),
        )
        .await
        .unwrap();
    assert_eq!(email.as_deref(), Some("a***@example.com"));
    let by_id: Option<String> = conn
        .exec_first(format!("SELECT name FROM {t} WHERE id = ?"), (1,))
        .await
        .unwrap();
    assert_eq!(by_id.as_deref(), Some("Alice Smith"));
    assert!(conn.query_drop(format!("DROP TABLE {t}")).await.is_err());
    assert!(conn
        .query_drop("SELECT * FROM no_such_table_here")
        .await
        .is_err());
    conn.disconnect().await.unwrap();
    proxy.shutdown().await;

    audit::verify(&dir, KEY.as_bytes()).unwrap_or_else(|e| panic!("verify: {e}"));
    let bytes = all_bytes(&dir);
    for v in ["123-45-6789", "alice.smith@example.com", "4111111111111111"] {
        assert!(!contains(&bytes, v), "{v} is in the audit files in clear");
    }
    let records = export(&dir);
    let session = records
        .iter()
        .find(|r| r["kind"] == "session_start")
        .and_then(|r| r["session"].as_u64())
        .unwrap();
    let kinds = kinds_of(&records, session);
    for k in [
        "session_start",
        "statement",
        "result",
        "error",
        "session_end",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    assert!(records
        .iter()
        .any(|r| r["kind"] == "statement" && r["decision"] == "block"));
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "error" && r["code"] == "1146"),
        "the failing statement's error"
    );
    let params: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["kind"] == "statement")
        .map(|r| &r["params"])
        .filter(|p| p.as_array().is_some_and(|a| !a.is_empty()))
        .collect();
    assert!(params.iter().any(|p| p[0] == "***"), "{params:?}");
    assert!(params.iter().any(|p| p[0] == "1"), "{params:?}");
    // Result columns carry MySQL's names for their types, text and binary protocol alike.
    let type_names: Vec<(String, String)> = records
        .iter()
        .filter(|r| r["kind"] == "result")
        .flat_map(|r| r["columns"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            (
                name,
                c["type_name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for want in [("ssn", "varchar"), ("email", "varchar"), ("name", "text")] {
        assert!(
            type_names.iter().any(|(n, t)| n == want.0 && t == want.1),
            "{want:?} not in {type_names:?}"
        );
    }
}

/// A small filesystem of its own for the log (tmpfs; needs root, as CI and the build machine
/// run). `None` where it cannot be mounted.
struct SmallDisk {
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { path, _dir: dir })
    }

    /// Fills what is left of the disk; returns the filler's path.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path.join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_statements_and_service_resumes_when_space_returns() {
    let Some(disk) = SmallDisk::mount(16) else {
        panic!("this test needs to mount a tmpfs (run as root, as CI does)");
    };
    let upstream = pg_scram();
    let t = unique("disk");
    let (direct, conn) = tokio_postgres::connect(&direct_conn_str(upstream), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    direct
        .batch_execute(&format!("CREATE TABLE {t} (n int)"))
        .await
        .unwrap();
    std::env::set_var(KEY_ENV, KEY);
    let mut proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: format!(
                "[audit]\ndir = {:?}\nflush_interval = \"10ms\"\nkey_env = \"{KEY_ENV}\"\n",
                disk.path.join("audit")
            ),
            ..ProxyOpts::default()
        },
    )
    .await;
    let client = proxy.connect().await;
    client
        .batch_execute(&format!("INSERT INTO {t} VALUES (0)"))
        .await
        .unwrap();
    let insert = client
        .prepare(&format!("INSERT INTO {t} VALUES ($1)"))
        .await
        .unwrap();
    let filler = disk.fill();
    // Big statements fill what redb has left; soon the log cannot commit and refuses.
    let padding = "x".repeat(256 * 1024);
    let mut refused = None;
    for n in 1..200 {
        let sql = format!("INSERT INTO {t} VALUES ({n}) /* {padding} */");
        match client.batch_execute(&sql).await {
            Ok(()) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            Err(e) => {
                refused = Some((n, e));
                break;
            }
        }
    }
    let (n, err) = refused.expect("a full disk must make sluice refuse statements");
    let msg = err
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("audit log"), "{msg}");
    // The refused statement did not run.
    let ran: i64 = direct
        .query_one(&format!("SELECT count(*) FROM {t} WHERE n = {n}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ran, 0, "a statement the log could not record ran anyway");
    // An execution of a statement prepared earlier is refused the same way.
    let err = client.execute(&insert, &[&5000i32]).await.unwrap_err();
    let msg = err
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(msg.contains("audit log"), "{msg}");
    let ran: i64 = direct
        .query_one(&format!("SELECT count(*) FROM {t} WHERE n = 5000"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(ran, 0, "an execution the log could not record ran anyway");
    // Space returns: the log catches up and statements run again.
    std::fs::remove_file(&filler).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match client
            .batch_execute(&format!("INSERT INTO {t} VALUES (1000)"))
            .await
        {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "service did not resume: {:?}",
                    e.as_db_error().map(|d| d.message().to_string())
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    drop(client);
    proxy.shutdown().await;
    audit::verify(&disk.path.join("audit"), KEY.as_bytes())
        .unwrap_or_else(|e| panic!("verify after the full disk: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_call_results_are_recorded() {
    // A CALL answers with one result per SELECT inside the procedure, then the CALL's own OK
    // (issue 23: none of them reached the log). Each result is recorded with its rows, for an
    // exempt user whose statements sluice lets through.
    let upstream = mariadb_native();
    let (t, p) = (unique("audcall_t"), unique("audcall_p"));
    let mut direct = mysql_direct(upstream).await;
    direct
        .query_drop(format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, note VARCHAR(20));
             INSERT INTO {t} VALUES (1, 'first-note'), (2, 'second-note');
             CREATE PROCEDURE {p}() BEGIN
                 SELECT id, note FROM {t} ORDER BY id;
                 SELECT COUNT(*) AS how_many FROM {t};
             END"
        ))
        .await
        .unwrap();
    std::env::set_var(KEY_ENV, KEY);
    let extra = format!(
        "{}\n[[masks]]\ncolumns = [\"shop.{t}.note\"]\nfunction = \"redact\"\nexcept_groups = [\"dba\"]\n",
        audit_section(KEY_ENV)
    );
    let mut proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: extra,
            ..ProxyOpts::default()
        },
    )
    .await;
    let dir = proxy.dir.path().join("audit");
    let mut conn = proxy.mysql_as(OTHER_USER, OTHER_PASSWORD).await;
    let mut results = conn.query_iter(format!("CALL {p}()")).await.unwrap();
    let first: Vec<(i32, String)> = results.collect().await.unwrap();
    let second: Vec<i64> = results.collect().await.unwrap();
    drop(results);
    assert_eq!(
        (first.len(), first[0].1.as_str(), second),
        (2, "first-note", vec![2])
    );
    conn.disconnect().await.unwrap();
    proxy.shutdown().await;

    audit::verify(&dir, KEY.as_bytes()).unwrap_or_else(|e| panic!("verify: {e}"));
    let records = export(&dir);
    let call_results: Vec<&serde_json::Value> =
        records.iter().filter(|r| r["kind"] == "result").collect();
    let columns = |r: &serde_json::Value| -> Vec<String> {
        r["columns"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let rows = call_results
        .iter()
        .find(|r| columns(r) == ["id", "note"])
        .unwrap_or_else(|| panic!("no result of the CALL's first SELECT in {records:#?}"));
    assert_eq!(rows["row_count"], 2, "{rows}");
    assert!(
        call_results.iter().any(|r| columns(r) == ["how_many"]),
        "no result of the CALL's second SELECT in {records:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_multi_statement_results_are_each_recorded() {
    // Two SELECTs in one COM_QUERY answer with two result sets: each is its own result record
    // (the black-box attacker found only the last one in the log, with both row counts added).
    let upstream = mariadb_native();
    let t = unique("audmulti_t");
    let mut direct = mysql_direct(upstream).await;
    direct
        .query_drop(format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, note VARCHAR(20));
             INSERT INTO {t} VALUES (1, 'first-note'), (2, 'second-note'), (3, 'third-note');"
        ))
        .await
        .unwrap();
    std::env::set_var(KEY_ENV, KEY);
    let mut proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: audit_section(KEY_ENV),
            ..ProxyOpts::default()
        },
    )
    .await;
    let dir = proxy.dir.path().join("audit");
    let mut conn = proxy.mysql().await;
    let mut results = conn
        .query_iter(format!(
            "SELECT id, note FROM {t} WHERE id = 1; SELECT COUNT(*) AS how_many FROM {t}"
        ))
        .await
        .unwrap();
    let first: Vec<(i32, String)> = results.collect().await.unwrap();
    let second: Vec<i64> = results.collect().await.unwrap();
    drop(results);
    assert_eq!((first.len(), second), (1, vec![3]));
    conn.disconnect().await.unwrap();
    proxy.shutdown().await;

    let records = export(&dir);
    let results: Vec<(Vec<String>, serde_json::Value)> = records
        .iter()
        .filter(|r| r["kind"] == "result")
        .map(|r| {
            let columns = r["columns"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| c["name"].as_str().unwrap_or_default().to_string())
                .collect();
            (columns, r["row_count"].clone())
        })
        // The driver's own session query at connect.
        .filter(|(columns, _): &(Vec<String>, _)| !columns.iter().any(|c| c.starts_with("@@")))
        .collect();
    assert_eq!(
        results,
        [
            (vec!["id".to_string(), "note".to_string()], 1.into()),
            (vec!["how_many".to_string()], 1.into())
        ],
        "{records:#?}"
    );
}

/// A schema `<prefix>_…` with one customer, readable by sluice's upstream login, and a sluice
/// that masks its customers' columns and records to an audit log.
async fn pg_masked_customers(prefix: &str) -> (Proxy, String) {
    let upstream = pg_scram();
    let s = unique(prefix);
    pg_direct(upstream)
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {s}; CREATE TABLE {s}.customers (id int PRIMARY KEY, name text, ssn text, email text, card_number text);
             INSERT INTO {s}.customers VALUES (1, 'Alice Smith', '123-45-6789', 'alice.smith@example.com', '4111111111111111');
             GRANT ALL ON SCHEMA {s} TO PUBLIC; GRANT ALL ON ALL TABLES IN SCHEMA {s} TO PUBLIC;"
        ))
        .await
        .unwrap();
    let opts = ProxyOpts {
        extra_config: config(&s, ""),
        ..ProxyOpts::default()
    };
    (Proxy::start(upstream, opts).await, s)
}

/// The MySQL twin: a customers table `<prefix>_…` holding customer `id`.
async fn mysql_masked_customers(prefix: &str, id: i32) -> (Proxy, String) {
    let upstream = mariadb_native();
    let t = unique(prefix);
    mysql_direct(upstream)
        .await
        .query_drop(format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, name TEXT, ssn VARCHAR(20), email VARCHAR(64), card_number VARCHAR(19));
             INSERT INTO {t} VALUES ({id}, 'Alice Smith', '123-45-6789', 'alice.smith@example.com', '4111111111111111')"
        ))
        .await
        .unwrap();
    let opts = ProxyOpts {
        extra_config: config("shop", "").replace("shop.customers.", &format!("shop.{t}.")),
        ..ProxyOpts::default()
    };
    (Proxy::start_mysql(upstream, opts).await, t)
}

/// Values a masked user writes to or compares with a masked column stay out of the log however
/// the statement spells them: computed, in a subquery, in a VALUES list or CTE joined in, in an
/// INSERT's SELECT (black-box finding: `query_literals = "mask"` only masked bare literals).
/// Each value is one no detector would recognise, so only the literal masking can hide it.
/// `ZQFAILCLOSED` goes through references the masker cannot resolve (black-box findings F2-F4:
/// alias column lists, derived tables, CTEs, LATERAL, set operations, NATURAL/USING joins,
/// whole rows, ONLY, MATCH, SQL EXECUTE … USING, a SQL-prepared statement bound by protocol).
const SMUGGLED: [&str; 7] = [
    "QQSPLITA",
    "QQSPLITB",
    "QQVALUES",
    "QQCTEROW",
    "QQSUBSEL",
    "QQINSSEL",
    "ZQFAILCLOSED",
];

/// Statements that compare `ZQFAILCLOSED` with PostgreSQL table `c`'s masked `ssn` through
/// references the masker cannot resolve to a column with certainty.
fn postgres_unresolved_spellings(c: &str) -> Vec<String> {
    const Z: &str = "ZQFAILCLOSED";
    vec![
        format!("SELECT id FROM {c} c(i, n, x) WHERE x = '{Z}'"),
        format!("SELECT id FROM (SELECT id, ssn AS z FROM {c}) q WHERE z = '{Z}'"),
        format!("SELECT a FROM (SELECT id, ssn FROM {c}) q(a, b) WHERE b = '{Z}'"),
        format!("SELECT id FROM (SELECT * FROM {c}) q WHERE q.ssn = '{Z}'"),
        format!("WITH q AS (SELECT id, ssn AS z FROM {c}) SELECT id FROM q WHERE z = '{Z}'"),
        format!("SELECT c.id FROM {c} c, LATERAL (SELECT c.ssn AS z) l WHERE z = '{Z}'"),
        format!("SELECT id FROM {c} NATURAL JOIN (SELECT '{Z}'::text AS ssn) x"),
        format!("SELECT id FROM {c} JOIN (SELECT '{Z}'::text AS ssn) x USING (ssn)"),
        format!("SELECT ssn FROM {c} UNION SELECT '{Z}'"),
        format!("SELECT id FROM {c} WHERE to_jsonb(customers)->>'ssn' = '{Z}'"),
        format!("SELECT id FROM {c} WHERE customers::text LIKE '%{Z}%'"),
        format!("UPDATE ONLY {c} SET ssn = '{Z}' WHERE id = 99999"),
        format!("DELETE FROM ONLY {c} WHERE ssn = '{Z}'"),
        format!("SELECT id FROM ONLY {c} WHERE ssn = '{Z}'"),
    ]
}

/// The MySQL twin of [`postgres_unresolved_spellings`], for table `t`.
fn mysql_unresolved_spellings(t: &str) -> Vec<String> {
    const Z: &str = "ZQFAILCLOSED";
    vec![
        format!("SELECT id FROM (SELECT id, ssn AS z FROM {t}) q WHERE z = '{Z}'"),
        format!("WITH q AS (SELECT id, ssn AS z FROM {t}) SELECT id FROM q WHERE z = '{Z}'"),
        format!("SELECT id FROM {t} NATURAL JOIN (SELECT '{Z}' AS ssn) x"),
        format!("SELECT id FROM {t} JOIN (SELECT '{Z}' AS ssn) x USING (ssn)"),
        format!("SELECT ssn FROM {t} UNION SELECT '{Z}'"),
        format!("SELECT id FROM {t} WHERE MATCH(ssn) AGAINST ('{Z}')"),
        format!("SELECT ssn AS s FROM {t} HAVING s = '{Z}'"),
    ]
}

fn assert_nothing_smuggled(dir: &std::path::Path, texts_with_stars: usize) {
    audit::verify(dir, KEY.as_bytes()).unwrap_or_else(|e| panic!("verify: {e}"));
    let records = export(dir);
    let texts: Vec<&str> = records
        .iter()
        .filter(|r| r["kind"] == "statement")
        .filter_map(|r| r["text"].as_str())
        .collect();
    // The statements are there, with their values masked (not missing from the log).
    assert!(
        texts.iter().filter(|t| t.contains("'***'")).count() >= texts_with_stars,
        "{texts:#?}"
    );
    let bytes = all_bytes(dir);
    for v in SMUGGLED {
        assert!(
            !contains(&bytes, v) && texts.iter().all(|t| !t.contains(v)),
            "{v} reached the audit log in clear: {texts:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_values_bound_to_masked_columns_are_masked_however_spelt() {
    let (mut proxy, s) = pg_masked_customers("audsm").await;
    let dir = proxy.dir.path().join("audit");
    let client = proxy.connect().await;
    let statements = [
        format!("UPDATE {s}.customers SET ssn = 'QQSPLITA' || 'QQSPLITB' WHERE id = 1"),
        format!("SELECT c.id FROM {s}.customers c JOIN (VALUES ('QQVALUES')) v(x) ON c.ssn = v.x"),
        format!("WITH v(x) AS (VALUES ('QQCTEROW')) UPDATE {s}.customers SET ssn = (SELECT x FROM v) WHERE id = 1"),
        format!("SELECT id FROM {s}.customers WHERE ssn IN (SELECT 'QQSUBSEL')"),
        format!("INSERT INTO {s}.customers (id, name, ssn) SELECT 2, 'Bob', 'QQINSSEL'"),
    ];
    let statements = [
        statements.to_vec(),
        postgres_unresolved_spellings(&format!("{s}.customers")),
    ]
    .concat();
    for sql in &statements {
        // Whether sluice lets each one run does not matter here: run or refused, it is recorded.
        let _ = client.simple_query(sql).await;
    }
    // The same spellings with the value bound as a parameter (extended protocol).
    for sql in postgres_unresolved_spellings(&format!("{s}.customers")) {
        let sql = sql
            .replace("'ZQFAILCLOSED'", "$1::text")
            .replace("'%ZQFAILCLOSED%'", "'%' || $1::text || '%'");
        let _ = client.query(&sql, &[&"ZQFAILCLOSED"]).await;
    }
    drop(client);
    sql_prepared_then_bound_by_protocol(proxy.addr, &s).await;
    proxy.shutdown().await;
    assert_nothing_smuggled(&dir, statements.len());
}

/// Finding F4: `PREPARE q1(text) AS INSERT …` by SQL, then a protocol Bind/Execute of `q1`
/// (what libpq's `PQsendQueryPrepared` does): the bound value must not be logged in clear.
async fn sql_prepared_then_bound_by_protocol(addr: std::net::SocketAddr, s: &str) {
    use postgres_protocol::message::frontend;
    use tokio::io::AsyncWriteExt;
    let (mut sock, key) = raw_pg::raw_login_as(addr, USER, PASSWORD).await;
    key.unwrap_or_else(|e| panic!("login: {}", String::from_utf8_lossy(&e)));
    let mut buf = bytes::BytesMut::new();
    let prepare = format!(
        "PREPARE q1(text) AS INSERT INTO {s}.customers (id, name, ssn) VALUES (5, 'n', $1)"
    );
    frontend::query(&prepare, &mut buf).unwrap();
    frontend::bind(
        "",
        "q1",
        [0],
        ["ZQFAILCLOSED"],
        |v, out| {
            out.extend_from_slice(v.as_bytes());
            Ok(postgres_protocol::IsNull::No)
        },
        [0],
        &mut buf,
    )
    .unwrap_or_else(|_| panic!("bind"));
    frontend::execute("", 0, &mut buf).unwrap();
    frontend::sync(&mut buf);
    sock.write_all(&buf).await.unwrap();
    // Two ReadyForQuery: the Query's and the Sync's.
    let mut ready = 0;
    while ready < 2 {
        let (tag, _) = raw_pg::read_msg(&mut sock).await.unwrap();
        ready += usize::from(tag == b'Z');
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_values_bound_to_masked_columns_are_masked_however_spelt() {
    let (mut proxy, t) = mysql_masked_customers("audsm", 1).await;
    let dir = proxy.dir.path().join("audit");
    let mut conn = proxy.mysql().await;
    let statements = [
        format!("UPDATE {t} SET ssn = CONCAT('QQSPLITA', 'QQSPLITB') WHERE id = 1"),
        format!("SELECT c.id FROM {t} c JOIN (SELECT 'QQVALUES' AS x) v ON c.ssn = v.x"),
        format!("WITH v AS (SELECT 'QQCTEROW' AS x) SELECT id FROM {t}, v WHERE ssn = v.x"),
        format!("SELECT id FROM {t} WHERE ssn IN (SELECT 'QQSUBSEL')"),
        format!("INSERT INTO {t} (id, name, ssn) SELECT 2, 'Bob', 'QQINSSEL'"),
    ];
    let statements = [
        statements.to_vec(),
        mysql_unresolved_spellings(&t),
        // Finding F3: SQL-level prepared statements' arguments.
        vec![
            "EXECUTE s1 USING 'ZQFAILCLOSED'".to_string(),
            "EXECUTE s2 USING 'ZQFAILCLOSED'".to_string(),
            format!("EXECUTE IMMEDIATE 'SELECT id FROM {t} WHERE ssn = ?' USING 'ZQFAILCLOSED'"),
        ],
    ]
    .concat();
    let _ = conn
        .query_drop(format!(
            "PREPARE s1 FROM 'SELECT id FROM {t} WHERE ssn = ?'"
        ))
        .await;
    let _ = conn
        .query_drop(format!(
            "PREPARE s2 FROM 'INSERT INTO {t} (id, name, ssn) VALUES (6, ''n'', ?)'"
        ))
        .await;
    for sql in &statements {
        let _ = conn.query_drop(sql).await;
    }
    // The same spellings with the value bound by COM_STMT_EXECUTE.
    for sql in mysql_unresolved_spellings(&t) {
        let _ = conn
            .exec_drop(sql.replace("'ZQFAILCLOSED'", "?"), ("ZQFAILCLOSED",))
            .await;
    }
    conn.disconnect().await.unwrap();
    proxy.shutdown().await;
    assert_nothing_smuggled(&dir, statements.len());
}

/// What the server says back about a statement gives its masked literals away too: PostgreSQL's
/// EXPLAIN prints them in the plan, MySQL names an unaliased column by its text. The record of
/// the result hides them as the statement's record does (black-box round 3, F5 and F6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_do_not_give_back_the_literals_a_statement_record_masked() {
    let (mut proxy, s) = pg_masked_customers("audecho").await;
    let pg_dir = proxy.dir.path().join("audit");
    let client = proxy.connect().await;
    let plan = client
        .simple_query(&format!(
            "EXPLAIN SELECT id FROM {s}.customers WHERE ssn = 'QQEXPLAIN'"
        ))
        .await
        .unwrap();
    // The client sees its own literal in the plan; the log must not.
    assert!(format!("{plan:?}").contains("QQEXPLAIN"));
    let by_param = client
        .query(
            &format!("EXPLAIN SELECT id FROM {s}.customers WHERE ssn = $1"),
            &[&"QQPARAMEXPLAIN"],
        )
        .await;
    drop(by_param);
    // The plan prints constants as the server folded them, not as they were typed (black-box
    // round 4): `upper('qqfolded')` is `'QQFOLDED'::text` there, `E'\x51Q…'` is `QQ…`.
    for sql in [
        format!("EXPLAIN SELECT id FROM {s}.customers WHERE ssn = upper('qqfolded')"),
        format!("EXPLAIN (FORMAT JSON) SELECT id FROM {s}.customers WHERE ssn = E'\\x51QESCAPED'"),
    ] {
        client.simple_query(&sql).await.unwrap();
    }
    // The session's own earlier statement texts, as the server keeps them (round 4, F2/F3).
    client
        .batch_execute(&format!(
            "PREPARE pp AS SELECT id FROM {s}.customers WHERE ssn = 'QQPREPTEXT'"
        ))
        .await
        .unwrap();
    for view in ["pg_prepared_statements", "pg_cursors"] {
        let _ = client
            .simple_query(&format!("SELECT statement FROM {view}"))
            .await;
    }
    let _ = client
        .batch_execute(&format!(
            "BEGIN; DECLARE qc CURSOR FOR SELECT id FROM {s}.customers WHERE ssn = 'QQCURSORTEXT'; SELECT statement FROM pg_cursors; COMMIT"
        ))
        .await;
    let folded = client
        .query(
            &format!("EXPLAIN SELECT id FROM {s}.customers WHERE ssn = upper($1)"),
            &[&"qqfoldparam"],
        )
        .await;
    drop(folded);
    drop(client);
    proxy.shutdown().await;

    let (mut proxy, t) = mysql_masked_customers("audecho", 2).await;
    let my_dir = proxy.dir.path().join("audit");
    let mut conn = proxy.mysql().await;
    let _: Vec<mysql_async::Row> = conn
        .query(format!("SELECT ssn = 'QQCOLNAME' FROM {t} WHERE id = 2"))
        .await
        .unwrap();
    let _: Vec<mysql_async::Row> = conn
        .query(format!(
            "SELECT ssn LIKE 'QQLIKENAME%' FROM {t} WHERE id = 2"
        ))
        .await
        .unwrap();
    conn.disconnect().await.unwrap();
    proxy.shutdown().await;

    for (dir, values) in [
        (
            &pg_dir,
            &[
                "QQEXPLAIN",
                "QQPARAMEXPLAIN",
                "QQFOLDED",
                "QQESCAPED",
                "QQFOLDPARAM",
                "QQPREPTEXT",
                "QQCURSORTEXT",
            ][..],
        ),
        (&my_dir, &["QQCOLNAME", "QQLIKENAME"][..]),
    ] {
        audit::verify(dir, KEY.as_bytes()).unwrap_or_else(|e| panic!("verify: {e}"));
        let records = export(dir);
        let results: Vec<&serde_json::Value> =
            records.iter().filter(|r| r["kind"] == "result").collect();
        assert!(!results.is_empty(), "{records:#?}");
        let bytes = all_bytes(dir);
        for v in values {
            assert!(
                !contains(&bytes, v) && records.iter().all(|r| !r.to_string().contains(v)),
                "{v} reached the audit log in clear: {records:#?}"
            );
        }
    }
}

/// An exempt user (a DBA the masks do not apply to) reading statement texts or statistics the
/// server keeps: the rows quote literals the log masked when each statement was recorded, and
/// values of masked columns. The log records rows as a user subject to every mask would get
/// them, and such a user may not read these at all: they are recorded masked whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exempt_users_reads_of_statement_texts_are_recorded_masked() {
    let upstream = pg_scram();
    let s = unique("audexempt");
    pg_direct(upstream)
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {s}; CREATE TABLE {s}.customers (id int PRIMARY KEY, name text, ssn text, email text, card_number text);
             INSERT INTO {s}.customers SELECT g, 'n', 'QQSTATVALUE', 'e', 'c' FROM generate_series(1, 50) g;
             ANALYZE {s}.customers;
             GRANT ALL ON SCHEMA {s} TO PUBLIC; GRANT ALL ON ALL TABLES IN SCHEMA {s} TO PUBLIC;"
        ))
        .await
        .unwrap();
    // Every mask and detector spares the DBAs.
    let exempt =
        config(&s, "").replace("\nfunction = ", "\nexcept_groups = [\"dba\"]\nfunction = ");
    let mut proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: exempt,
            ..ProxyOpts::default()
        },
    )
    .await;
    let dir = proxy.dir.path().join("audit");
    let dba = proxy.try_connect(OTHER_USER, OTHER_PASSWORD).await.unwrap();
    dba.batch_execute(&format!(
        "PREPARE pp AS SELECT id FROM {s}.customers WHERE ssn = 'QQEXEMPTPREP'"
    ))
    .await
    .unwrap();
    let texts = dba
        .simple_query("SELECT statement FROM pg_prepared_statements")
        .await
        .unwrap();
    assert!(
        format!("{texts:?}").contains("QQEXEMPTPREP"),
        "the DBA sees the text: {texts:?}"
    );
    let stats = dba
        .simple_query(&format!(
            "SELECT most_common_vals::text FROM pg_stats WHERE schemaname = '{s}' AND attname = 'ssn'"
        ))
        .await
        .unwrap();
    assert!(
        format!("{stats:?}").contains("QQSTATVALUE"),
        "the DBA sees the statistics: {stats:?}"
    );
    drop(dba);
    proxy.shutdown().await;
    audit::verify(&dir, KEY.as_bytes()).unwrap_or_else(|e| panic!("verify: {e}"));
    let records = export(&dir);
    assert!(
        records
            .iter()
            .any(|r| r["kind"] == "result" && r["rows"].to_string().contains("***")),
        "{records:#?}"
    );
    let bytes = all_bytes(&dir);
    for v in ["QQEXEMPTPREP", "QQSTATVALUE"] {
        assert!(
            !contains(&bytes, v) && records.iter().all(|r| !r.to_string().contains(v)),
            "{v} reached the audit log in clear: {records:#?}"
        );
    }
}
