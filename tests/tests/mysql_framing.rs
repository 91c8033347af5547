//! MySQL response framing through sluice, found by running MariaDB's own `mysql-test` suite
//! directly and through sluice (issue 23): the `mariadb` CLI (no `CLIENT_DEPRECATE_EOF`, so
//! every result has an EOF after its column definitions) gets byte-identical answers, and the
//! session goes on, after stored-program results, multi-statement strings and statements sluice
//! reads for its own purposes.

use std::io::Write;
use std::process::{Command, Stdio};

use mysql_async::prelude::*;
use sluice_tests::*;

/// Runs `script` through the `mariadb` CLI (batch mode, stdin), killed after 30 s so that a hung
/// session fails the test instead of stalling it. Returns (exit status, stdout then stderr).
fn cli(port: u16, user: &str, password: &str, script: &str) -> (Option<i32>, String) {
    let mut child = Command::new("timeout")
        .args(["30", "mariadb", "--no-defaults", "-h127.0.0.1"])
        .args([
            &format!("-P{port}"),
            &format!("-u{user}"),
            &format!("-p{password}"),
            "--batch",
            "--raw",
            "shop",
        ])
        .env_remove("MYSQL_PWD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// The same script directly and through sluice: both must succeed with the same output.
fn same_output(proxy: &Proxy, script: &str) -> String {
    let server = mariadb_native();
    let (code, direct) = cli(
        server.port,
        &server.opts.user,
        &server.opts.password,
        script,
    );
    assert_eq!(code, Some(0), "directly: {direct}");
    let (code, proxied) = cli(proxy.port(), USER, PASSWORD, script);
    assert_eq!(
        (code, proxied.as_str()),
        (Some(0), direct.as_str()),
        "through sluice (exit 124: the session hung)"
    );
    direct
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_sent_from_inside_a_cursor_loop_keep_their_rows() {
    // A stored program's cursor (here a FOR loop's) sets "cursor exists" on the EOF after the
    // column definitions of every result the loop sends. sluice took it for a cursor the
    // client had opened, as if the rows were held back for COM_STMT_FETCH, and ended the
    // response there; the probe it sends after `SET NAMES` then took the loop's rows for its
    // own answer and passed its answer to the client ("Received malformed packet", or a NULL
    // first column read as a LOCAL INFILE request).
    let proxy = Proxy::start_mysql(mariadb_native(), ProxyOpts::default()).await;
    let script = "DELIMITER $$\n\
        FOR rec IN (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3)\n\
        DO\n\
          SET NAMES utf8mb4;\n\
          SELECT NULL AS nothing, rec.n AS n, REPEAT('x', rec.n) AS xs;\n\
        END FOR\n\
        $$\n\
        DELIMITER ;\n\
        SELECT 'after' AS still;\n";
    let out = tokio::task::block_in_place(|| same_output(&proxy, script));
    assert_eq!(out.matches("NULL\t").count(), 3, "{out}");
    assert!(
        out.contains("NULL\t3\txxx\n") && out.ends_with("still\nafter\n"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_then_a_delete_in_one_string_answers_both() {
    // Without DEPRECATE_EOF, the EOF after a CALL result's columns carries "more results":
    // that flag is about what follows the rows, and taking it for the end of the result hung
    // the session (or read the row `NULL, 1` as a LOCAL INFILE request).
    let server = mariadb_native();
    let (table, proc) = (unique("framing_t"), unique("framing_p"));
    let mut direct = mysql_direct(server).await;
    for sql in [
        format!("CREATE TABLE {table} (id INT, note VARCHAR(20))"),
        format!("CREATE PROCEDURE {proc}() SELECT note, id FROM {table} ORDER BY id"),
    ] {
        direct.query_drop(sql).await.unwrap();
    }
    let proxy = Proxy::start_mysql(server, ProxyOpts::default()).await;
    // One COM_QUERY with both statements (the CLI splits at `;` only outside DELIMITER).
    let script = format!(
        "INSERT INTO {table} VALUES (1, NULL), (2, 'two');\n\
         DELIMITER $$\n\
         CALL {proc}(); DELETE FROM {table}$$\n\
         DELIMITER ;\n\
         SELECT COUNT(*) AS left_over FROM {table};\n"
    );
    let out = tokio::task::block_in_place(|| same_output(&proxy, &script));
    assert!(
        out.contains("note\tid\nNULL\t1\ntwo\t2\n") && out.ends_with("left_over\n0\n"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_whose_first_punctuation_is_not_ascii_keeps_the_session() {
    // sluice reads the first words of each statement (for KILL and LOAD DATA LOCAL); a
    // multi-byte character where punctuation may stand was cut inside, which panicked and
    // dropped the connection (`CREATE DATABASE имя_базы`, `CREATE TABLE ÄÖÜ (…)`).
    let proxy = Proxy::start_mysql(mariadb_native(), ProxyOpts::default()).await;
    let mut conn = proxy.mysql().await;
    for (sql, want) in [
        ("SELECT 1 AS имя", 1),
        ("SELECT 2 AS ÄÖÜ", 2),
        ("SELECT 3", 3),
    ] {
        let got: Option<i64> = conn.query_first(sql).await.unwrap();
        assert_eq!(got, Some(want), "{sql}");
    }
}

/// Polls a `COUNT(*)` query for up to 10 s until it gives `want`.
async fn reaches(conn: &mut mysql_async::Conn, count: &str, want: i64) -> bool {
    for _ in 0..50 {
        let n: Option<i64> = conn.query_first(count).await.unwrap();
        if n == Some(want) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_dies_mid_statement_stops_it_as_directly() {
    // A client killed while its statement waits: directly, the server sees the connection
    // close and stops the statement. sluice sent COM_QUIT first, which the server only reads
    // once the statement is over, so `GET_LOCK(…, 60)` went on waiting for a minute (and a
    // lock it got would be held for nobody): mysql-test's `dirty_close` timed out.
    let server = mariadb_native();
    let proxy = Proxy::start_mysql(server, ProxyOpts::default()).await;
    let lock = unique("framing_lock");
    let mut holder = mysql_direct(server).await;
    let got: Option<i64> = holder
        .query_first(format!("SELECT GET_LOCK('{lock}', 0)"))
        .await
        .unwrap();
    assert_eq!(got, Some(1));
    let mut waiter = Command::new("mariadb")
        .args(["--no-defaults", "-h127.0.0.1"])
        .args([
            &format!("-P{}", proxy.port()),
            &format!("-u{USER}"),
            &format!("-p{PASSWORD}"),
            "shop",
            "-e",
            &format!("SELECT GET_LOCK('{lock}', 60)"),
        ])
        .env_remove("MYSQL_PWD")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let waiting = format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
         WHERE STATE = 'User lock' AND INFO LIKE '%{lock}%'"
    );
    assert!(
        reaches(&mut holder, &waiting, 1).await,
        "the statement waits for the lock"
    );
    waiter.kill().unwrap();
    waiter.wait().unwrap();
    assert!(
        reaches(&mut holder, &waiting, 0).await,
        "the server stopped the dead client's statement within 10 s"
    );
    let _: Option<i64> = holder
        .query_first(format!("SELECT RELEASE_LOCK('{lock}')"))
        .await
        .unwrap();
}
