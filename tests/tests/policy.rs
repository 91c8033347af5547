//! Statement policy end to end, both protocols: destructive statements are refused however they
//! are spelled or sent, the data is untouched (checked on a direct connection), the session
//! keeps working, group rules apply to their group only, dry-run rules allow, and a refusal
//! inside a PostgreSQL transaction aborts it as PostgreSQL would.

use futures_util::future::join3;
use mysql_async::prelude::*;
use sluice_tests::*;
use tokio_postgres::error::SqlState;

const RULES: &str = r#"
[[rules]]
name = "no-drop"
when = { statements = ["drop", "truncate"] }
action = "block"
message = "DROP and TRUNCATE are not allowed through sluice; ask a DBA."

[[rules]]
name = "unbounded-write"
when = { statements = ["update", "delete"], without_where = true }
action = "review"

[[rules]]
name = "analysts-keep-out-of-payroll"
when = { groups = ["analysts"], tables = ["*payroll*"], statements = ["write"] }
action = "block"
message = "analysts may not change payroll"

[[rules]]
name = "watch-reports"
when = { tables = ["*report*"] }
action = "block"
mode = "dry_run"

[policy]
on_parse_error = "block"
"#;

fn opts() -> ProxyOpts {
    ProxyOpts {
        extra_config: RULES.into(),
        ..ProxyOpts::default()
    }
}

/// Statements that must never reach the database, with the rule that stops each.
fn refused_statements(v: &str, mysql: bool) -> Vec<(String, &'static str)> {
    let mut list = vec![
        (format!("DROP TABLE {v}"), "no-drop"),
        (format!("TRUNCATE {v}"), "no-drop"),
        (format!("/* harmless */ DROP TABLE {v}"), "no-drop"),
        (format!("-- comment\nDrOp TaBlE {v}"), "no-drop"),
        (format!("SELECT 1; DROP TABLE {v}"), "no-drop"),
        (format!("DELETE FROM {v}"), "unbounded-write"),
        (format!("DELETE FROM {v} WHERE 1=1"), "unbounded-write"),
        (format!("UPDATE {v} SET n = 0"), "unbounded-write"),
        (
            format!("UPDATE {v} SET n = 0 WHERE true"),
            "unbounded-write",
        ),
        (
            format!("WITH x AS (SELECT 1) DELETE FROM {v}"),
            "unbounded-write",
        ),
        (
            format!("EXPLAIN ANALYZE DELETE FROM {v}"),
            "unbounded-write",
        ),
        ("SELEKT * FROM nowhere".to_string(), "on_parse_error"),
    ];
    if mysql {
        list.push((format!("/*! DROP TABLE {v} */"), "no-drop"));
        list.push((format!("/*!50001 DROP TABLE {v} */"), "no-drop"));
        list.retain(|(s, _)| !s.starts_with("EXPLAIN ANALYZE"));
        list.push((format!("DELETE {v} FROM {v}"), "unbounded-write"));
        // MariaDB's ANALYZE runs the statement it analyzes; sqlparser cannot parse it, so the
        // fallback classifier must see the DML (the rule named is not on_parse_error).
        list.push((format!("ANALYZE DELETE FROM {v}"), "unbounded-write"));
        list.push((
            format!("ANALYZE FORMAT=JSON UPDATE {v} SET n = 0"),
            "unbounded-write",
        ));
    } else {
        list.push((
            format!("WITH d AS (DELETE FROM {v} RETURNING *) SELECT * FROM d"),
            "unbounded-write",
        ));
        list.push((
            format!("DO $$ BEGIN EXECUTE 'DROP TABLE {v}'; END $$"),
            // The body's dynamic SQL is scanned: the DROP in it is what the rule names.
            "no-drop",
        ));
    }
    list
}

/// sluice in front of a SCRAM PostgreSQL, a direct client, and a fresh table (`n int`) of
/// three rows.
async fn pg_with_three_rows(name: &str) -> (Proxy, tokio_postgres::Client, String) {
    let upstream = pg_scram();
    let proxy = Proxy::start(upstream, opts()).await;
    let (direct, conn) = tokio_postgres::connect(&direct_conn_str(upstream), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let v = unique(name);
    direct
        .batch_execute(&format!(
            "CREATE TABLE {v} (n int); INSERT INTO {v} VALUES (1), (2), (3)"
        ))
        .await
        .unwrap();
    (proxy, direct, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_destructive_statements_however_they_are_sent() {
    let (proxy, direct, v) = pg_with_three_rows("victims").await;

    let client = proxy.connect().await;
    for (sql, rule) in refused_statements(&v, false) {
        let err = client.simple_query(&sql).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {err}"
        );
        let msg = err
            .as_db_error()
            .map(|e| e.message().to_string())
            .unwrap_or_default();
        assert!(msg.contains(rule), "{sql}: {msg}");
        let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
        assert_eq!(one, 1, "the session keeps working after {sql}");
    }
    // Extended protocol: refused at Parse; a pipeline around it is unharmed.
    let err = client
        .prepare(&format!("DELETE FROM {v}"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    let (a, b, c) = join3(
        client.query_one("SELECT 1::int4", &[]),
        client.prepare(&format!("DROP TABLE {v}")),
        client.query_one("SELECT 2::int4", &[]),
    )
    .await;
    assert_eq!(a.unwrap().get::<_, i32>(0), 1);
    assert_eq!(
        b.unwrap_err().code(),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE)
    );
    assert_eq!(c.unwrap().get::<_, i32>(0), 2);
    // A bounded delete is fine.
    client
        .execute(&format!("DELETE FROM {v} WHERE n = 3"), &[])
        .await
        .unwrap();

    // Nothing destructive reached the database.
    let n: i64 = direct
        .query_one(&format!("SELECT count(*) FROM {v}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);

    // Group rules apply to their group only; dry-run rules allow.
    let payroll = unique("payroll");
    let report = unique("report");
    direct
        .batch_execute(&format!(
            "CREATE TABLE {payroll} (n int); CREATE TABLE {report} (n int)"
        ))
        .await
        .unwrap();
    let err = client
        .execute(&format!("INSERT INTO {payroll} VALUES (1)"), &[])
        .await
        .unwrap_err();
    let msg = err
        .as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("analysts may not change payroll"),
        "{err}: {msg}"
    );
    let bob = proxy.try_connect(OTHER_USER, OTHER_PASSWORD).await.unwrap();
    bob.execute(&format!("INSERT INTO {payroll} VALUES (1)"), &[])
        .await
        .unwrap();
    client
        .query(&format!("SELECT * FROM {report}"), &[])
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_inside_a_transaction_aborts_it_as_postgres_would() {
    let upstream = pg_scram();
    let proxy = Proxy::start(upstream, opts()).await;
    let (direct, conn) = tokio_postgres::connect(&direct_conn_str(upstream), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let v = unique("txn");
    direct
        .batch_execute(&format!(
            "CREATE TABLE {v} (n int); INSERT INTO {v} VALUES (1)"
        ))
        .await
        .unwrap();

    let client = proxy.connect().await;
    client.batch_execute("BEGIN").await.unwrap();
    client
        .execute(&format!("INSERT INTO {v} VALUES (99)"), &[])
        .await
        .unwrap();
    let err = client
        .batch_execute(&format!("DROP TABLE {v}"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    let err = client.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    client.batch_execute("COMMIT").await.unwrap(); // reports ROLLBACK, as PostgreSQL does
    let rows: Vec<i32> = direct
        .query(&format!("SELECT n FROM {v} ORDER BY n"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        rows,
        vec![1],
        "the upstream transaction was rolled back, never half-applied"
    );

    // The same through psql.
    let script = format!("BEGIN;\nINSERT INTO {v} VALUES (7);\nTRUNCATE {v};\nSELECT 1;\nROLLBACK;\nSELECT count(*) AS n FROM {v};\n");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &script).unwrap();
    let out = psql(
        &proxy.conn_str(USER, PASSWORD, ""),
        &["-f", &file.path().display().to_string()],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERROR:  sluice: statement blocked by rule \"no-drop\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("current transaction is aborted"),
        "{stderr}"
    );
    let n: i64 = direct
        .query_one(&format!("SELECT count(*) FROM {v}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

/// sluice in front of a MariaDB, a direct connection, and a fresh table (`n INT`) of three rows.
async fn mysql_with_three_rows(name: &str) -> (Proxy, mysql_async::Conn, String) {
    let server = mariadb_native();
    let proxy = Proxy::start_mysql(server, opts()).await;
    let mut direct = mysql_direct(server).await;
    let v = unique(name);
    direct
        .query_drop(format!(
            "CREATE TABLE {v} (n INT); INSERT INTO {v} VALUES (1), (2), (3)"
        ))
        .await
        .unwrap();
    (proxy, direct, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_refuses_destructive_statements_however_they_are_sent() {
    let (proxy, mut direct, v) = mysql_with_three_rows("victims").await;

    let mut conn = proxy.mysql().await;
    for (sql, rule) in refused_statements(&v, true) {
        let err = conn.query_drop(&sql).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("1142") && text.contains(rule),
            "{sql}: {text}"
        );
        let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1), "the session keeps working after {sql}");
    }
    // Prepared statements are refused at COM_STMT_PREPARE.
    let err = conn.prep(format!("DELETE FROM {v}")).await.unwrap_err();
    assert!(err.to_string().contains("unbounded-write"), "{err}");
    conn.exec_drop(format!("DELETE FROM {v} WHERE n = ?"), (3,))
        .await
        .unwrap();
    let n: Option<i64> = direct
        .query_first(format!("SELECT COUNT(*) FROM {v}"))
        .await
        .unwrap();
    assert_eq!(n, Some(2), "nothing destructive reached the database");

    let payroll = unique("payroll");
    direct
        .query_drop(format!("CREATE TABLE {payroll} (n INT)"))
        .await
        .unwrap();
    let err = conn
        .query_drop(format!("INSERT INTO {payroll} VALUES (1)"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("analysts may not change payroll"),
        "{err}"
    );
    let mut bob = proxy.mysql_as(OTHER_USER, OTHER_PASSWORD).await;
    bob.query_drop(format!("INSERT INTO {payroll} VALUES (1)"))
        .await
        .unwrap();

    // The mariadb CLI shows the refusal like any server error.
    let out = std::process::Command::new("mariadb")
        .args([
            "--no-defaults",
            "-h127.0.0.1",
            &format!("-P{}", proxy.port()),
            &format!("-u{USER}"),
            &format!("-p{PASSWORD}"),
            "shop",
        ])
        .args(["-e", &format!("DROP TABLE {v}")])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERROR 1142 (42000)") && stderr.contains("no-drop"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_rules_allow_and_report() {
    let logs = captured_logs();
    let upstream = pg_scram();
    let proxy = Proxy::start(upstream, opts()).await;
    let (direct, conn) = tokio_postgres::connect(&direct_conn_str(upstream), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let report = unique("report");
    direct
        .batch_execute(&format!(
            "CREATE TABLE {report} (n int); INSERT INTO {report} VALUES (5)"
        ))
        .await
        .unwrap();
    let client = proxy.connect().await;
    let n: i32 = client
        .query_one(&format!("SELECT n FROM {report}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5, "a dry-run block allows the statement");
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    let line = text
        .lines()
        .find(|l| {
            l.contains("dry-run rule matched")
                && l.contains("watch-reports")
                && l.contains("target=pg")
        })
        .unwrap_or_else(|| panic!("no dry-run report in the log:\n{text}"));
    assert!(
        line.contains("would=block") && line.contains("user=alice"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_dry_run_rules_allow_and_report() {
    let logs = captured_logs();
    let server = mariadb_native();
    let proxy = Proxy::start_mysql(server, opts()).await;
    let mut direct = mysql_direct(server).await;
    let report = unique("report");
    direct
        .query_drop(format!(
            "CREATE TABLE {report} (n INT); INSERT INTO {report} VALUES (5)"
        ))
        .await
        .unwrap();
    let mut conn = proxy.mysql().await;
    let n: Option<i64> = conn
        .query_first(format!("SELECT n FROM {report}"))
        .await
        .unwrap();
    assert_eq!(n, Some(5), "a dry-run block allows the statement");
    // Prepared statements are judged (and reported) too, and still run.
    let n: Option<i64> = conn
        .exec_first(format!("SELECT n FROM {report} WHERE n = ?"), (5,))
        .await
        .unwrap();
    assert_eq!(n, Some(5));
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("dry-run rule matched")
                && l.contains("watch-reports")
                && l.contains("target=my")
        })
        .collect();
    assert!(
        lines.len() >= 2,
        "expected a dry-run report for the query and the prepared statement:\n{text}"
    );
    for line in lines {
        assert!(
            line.contains("would=block") && line.contains("user=alice"),
            "{line}"
        );
    }
}

/// Statements that differ only in literals share one analysis (the cache is keyed by shape),
/// except where the literals decide: a WHERE made of literals is judged by their values, each
/// time, whichever text of the shape came first.
const SAME_SHAPE: [(&str, bool); 8] = [
    ("DELETE FROM {v} WHERE n = 100", true),
    // A WHERE on no column of the table decides nothing per row: no WHERE at all.
    ("DELETE FROM {v} WHERE 1 = 2", false),
    ("DELETE FROM {v} WHERE 1 = 1", false),
    ("DELETE FROM {v} WHERE n = 101", true),
    ("DELETE FROM {v} WHERE 'a' = 'b'", false),
    ("DELETE FROM {v} WHERE 'a' = 'a'", false),
    ("DELETE FROM {v} WHERE n = 102 OR 2 = 3", true),
    ("DELETE FROM {v} WHERE n = 102 OR 3 = 3", false),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_of_one_shape_are_each_judged_by_their_literals() {
    let (proxy, direct, v) = pg_with_three_rows("shaped").await;
    let client = proxy.connect().await;
    // Twice over: the second round meets every shape already cached.
    for _ in 0..2 {
        for (sql, allowed) in SAME_SHAPE {
            let sql = sql.replace("{v}", &v);
            match client.simple_query(&sql).await {
                Ok(_) => assert!(allowed, "{sql} ran"),
                Err(e) => {
                    assert!(!allowed, "{sql} was refused: {e}");
                    assert_eq!(
                        e.code(),
                        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
                        "{sql}: {e}"
                    );
                }
            }
        }
    }
    let n: i64 = direct
        .query_one(&format!("SELECT count(*) FROM {v}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3, "no unbounded delete reached the database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_statements_of_one_shape_are_each_judged_by_their_literals() {
    let (proxy, mut direct, v) = mysql_with_three_rows("shaped").await;
    let mut conn = proxy.mysql().await;
    for _ in 0..2 {
        for (sql, allowed) in SAME_SHAPE {
            let sql = sql.replace("{v}", &v);
            match conn.query_drop(&sql).await {
                Ok(()) => assert!(allowed, "{sql} ran"),
                Err(e) => {
                    assert!(!allowed, "{sql} was refused: {e}");
                    assert!(e.to_string().contains("1142"), "{sql}: {e}");
                }
            }
        }
    }
    let n: Option<i64> = direct
        .query_first(format!("SELECT COUNT(*) FROM {v}"))
        .await
        .unwrap();
    assert_eq!(n, Some(3), "no unbounded delete reached the database");
}
