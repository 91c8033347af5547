//! SQL-level prepared statements as a masked user (issue 24): `PREPARE … AS` / `EXECUTE`
//! (PostgreSQL) and `PREPARE … FROM '…'` / `EXECUTE` (MySQL) are judged by the text they
//! prepare, like that statement run directly: computed columns and plain columns (of a table
//! the session just made, too) come back as they are, masked columns masked; MySQL dynamic SQL
//! sluice cannot read (`FROM @variable`) or that is not a plain read stays refused.

use mysql_async::prelude::*;
use sluice_tests::*;
use tokio_postgres::SimpleQueryMessage;

fn masks(prefix: &str) -> String {
    format!(
        r#"
[[masks]]
columns = ["{prefix}.ssn"]
function = "partial"
except_groups = ["dba"]
"#
    )
}

const SSN: &str = "123-45-6789";

/// Every value of every row `sql` returns, as text, `|`-separated.
async fn pg_text(client: &tokio_postgres::Client, sql: &str) -> String {
    let mut text = String::new();
    for m in client.simple_query(sql).await.unwrap() {
        if let SimpleQueryMessage::Row(row) = m {
            for i in 0..row.len() {
                text += row.get(i).unwrap_or("NULL");
                text += "|";
            }
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_execute_returns_what_its_prepare_selects() {
    let upstream = pg_scram();
    let s = unique("prep");
    let direct = pg_direct(upstream).await;
    direct
        .batch_execute(&format!(
            "CREATE SCHEMA {s}; CREATE TABLE {s}.secrets (id int, ssn text);
             INSERT INTO {s}.secrets VALUES (1, '{SSN}');"
        ))
        .await
        .unwrap();
    let proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: masks(&format!("{s}.secrets")),
            ..ProxyOpts::default()
        },
    )
    .await;
    let alice = proxy.connect().await;
    let today = pg_text(&direct, "SELECT now()::date").await;
    let got = pg_text(
        &alice,
        "PREPARE q AS SELECT 'hello'::text t, 1+1 i, now()::date d, format_type(23,-1) ft; EXECUTE q;",
    )
    .await;
    assert_eq!(got, format!("hello|2|{today}integer|"));

    alice
        .batch_execute(&format!(
            "CREATE TABLE {s}.made (id int, note text); INSERT INTO {s}.made VALUES (1, 'fresh');"
        ))
        .await
        .unwrap();
    let got = pg_text(
        &alice,
        &format!("PREPARE r(int) AS SELECT id, note FROM {s}.made WHERE id = $1; EXECUTE r(1);"),
    )
    .await;
    assert_eq!(got, "1|fresh|", "a table just made");
    let got = pg_text(
        &alice,
        &format!("PREPARE m AS SELECT id, ssn FROM {s}.secrets; EXECUTE m;"),
    )
    .await;
    assert!(
        got.starts_with("1|") && !got.contains("6789"),
        "masked: {got}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_execute_returns_what_its_prepare_from_selects() {
    let upstream = mariadb_native();
    let n = unique("prep");
    let mut direct = mysql_direct(upstream).await;
    direct
        .query_drop(format!(
            "CREATE TABLE {n}_secrets (id INT, ssn CHAR(11));
             INSERT INTO {n}_secrets VALUES (1, '{SSN}');"
        ))
        .await
        .unwrap();
    let proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: masks(&format!("shop.{n}_secrets")),
            ..ProxyOpts::default()
        },
    )
    .await;
    let mut alice = proxy.mysql().await;
    let today: Option<String> = direct.query_first("SELECT CURDATE()").await.unwrap();
    alice
        .query_drop("PREPARE q FROM 'SELECT ''hello'' t, 1+1 i, CURDATE() d, CAST(23 AS CHAR) ft'")
        .await
        .unwrap();
    let got: Vec<(String, String, String, String)> = alice.query("EXECUTE q").await.unwrap();
    let today = today.unwrap();
    assert_eq!(got, [("hello".into(), "2".into(), today, "23".into())]);

    // A table just made, with a parameter.
    alice
        .query_drop(format!(
            "CREATE TABLE {n}_made (id INT, note VARCHAR(20));
             INSERT INTO {n}_made VALUES (1, 'fresh'), (2, 'other');"
        ))
        .await
        .unwrap();
    alice
        .query_drop(format!(
            "PREPARE r FROM 'SELECT id, note FROM {n}_made WHERE id = ?'; SET @id = 1"
        ))
        .await
        .unwrap();
    let got: Vec<(i64, String)> = alice.query("EXECUTE r USING @id").await.unwrap();
    assert_eq!(got, [(1, "fresh".to_string())], "a table just made");

    // A masked column through EXECUTE is masked.
    alice
        .query_drop(format!("PREPARE m FROM 'SELECT id, ssn FROM {n}_secrets'"))
        .await
        .unwrap();
    let got: Vec<(i64, String)> = alice.query("EXECUTE m").await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(!got[0].1.contains("6789"), "masked: {got:?}");

    // What sluice cannot read, or what is not a plain read, stays refused.
    for sql in [
        format!("SET @s = 'SELECT ssn FROM {n}_secrets'; PREPARE v FROM @s"),
        format!("PREPARE w FROM 'DELETE FROM {n}_made WHERE id = 2'"),
        format!("PREPARE x FROM 'SELECT ssn FROM {n}_secrets INTO OUTFILE ''/tmp/x'''"),
        // Read differently with and without NO_BACKSLASH_ESCAPES.
        format!("PREPARE y FROM 'SELECT id, ''a\\\\b'' FROM {n}_made'"),
    ] {
        let err = alice.query_drop(&sql).await.expect_err(&sql);
        assert!(err.to_string().contains("refused"), "{sql}: {err}");
    }
    let left: Option<i64> = direct
        .query_first(format!("SELECT count(*) FROM {n}_made"))
        .await
        .unwrap();
    assert_eq!(left, Some(2));
}
