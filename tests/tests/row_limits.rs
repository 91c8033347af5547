//! `rows_over`: a write that changes more rows than a rule allows is undone and refused,
//! whatever its WHERE looks like, in both protocols.
//!
//! The WHERE clauses here hold for every row only by the data or by a schema the user shaped
//! (`id IS DISTINCT FROM NULL`, `id > 0`, a view's constant column): no reading of the text can
//! tell, so only the database's own count can. Each refused attempt is checked afterwards on a
//! direct connection: the table still has every row, unchanged. Writes within the limit run
//! and stay, in and out of transactions, by simple queries and prepared statements.

use mysql_async::prelude::*;
use sluice_tests::*;

const RULES: &str = r#"
[[rules]]
name = "big-writes"
when = { statements = ["update", "delete"], rows_over = 2 }
action = "block"
message = "ask a DBA"
"#;

fn opts() -> ProxyOpts {
    ProxyOpts {
        extra_config: RULES.into(),
        ..ProxyOpts::default()
    }
}

/// What a refusal by `big-writes` says.
fn refused_by_the_rule(message: &str) -> bool {
    message.contains("big-writes") && message.contains("ask a DBA")
}

async fn pg_table(direct: &tokio_postgres::Client, t: &str) {
    direct
        .batch_execute(&format!(
            "CREATE TABLE {t} (id int PRIMARY KEY, n int NOT NULL, note text);
             INSERT INTO {t} SELECT g, g * 10, 'row ' || g FROM generate_series(1, 5) g;
             CREATE VIEW {t}_v AS SELECT 1 AS one, * FROM {t};
             CREATE TABLE {t}_p (id int PRIMARY KEY); INSERT INTO {t}_p VALUES (10)"
        ))
        .await
        .unwrap();
}

async fn pg_rows(direct: &tokio_postgres::Client, t: &str) -> Vec<(i32, i32, Option<String>)> {
    direct
        .query(&format!("SELECT id, n, note FROM {t} ORDER BY id"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn pg_error(e: &tokio_postgres::Error) -> String {
    e.as_db_error()
        .map(|d| format!("{} {}", d.code().code(), d.message()))
        .unwrap_or_else(|| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_over_the_limit_are_undone_and_refused() {
    let upstream = pg_scram();
    let proxy = Proxy::start(upstream, opts()).await;
    let direct = pg_direct(upstream).await;
    let t = unique("rl");
    pg_table(&direct, &t).await;
    let before = pg_rows(&direct, &t).await;
    let c = proxy.connect().await;
    let mut holes = Vec::new();

    let simple = [
        format!("DELETE FROM {t} WHERE id IS DISTINCT FROM NULL"),
        format!("UPDATE {t} SET note = 'gone' WHERE id > 0"),
        format!("DELETE FROM {t}_v WHERE one = 1"),
        format!("DELETE FROM {t} WHERE id > 0 RETURNING *"),
        format!("UPDATE {t} SET note = NULL WHERE n >= 30"),
        // Decided before they run: their count cannot be seen whole.
        format!("WITH d AS (DELETE FROM {t} WHERE id > 0 RETURNING 1) SELECT count(*) FROM d"),
        format!("EXPLAIN ANALYZE DELETE FROM {t} WHERE id > 0"),
        format!("ALTER TABLE {t} ADD FOREIGN KEY (n) REFERENCES {t}_p (id) ON DELETE CASCADE"),
        format!("SELECT 1; DELETE FROM {t} WHERE id = 1"),
    ];
    for sql in &simple {
        match c.simple_query(sql).await {
            Ok(_) => holes.push(format!("ran: {sql}")),
            Err(e) if !refused_by_the_rule(&pg_error(&e)) => holes.push(format!(
                "{sql}: refused, but not by the rule: {}",
                pg_error(&e)
            )),
            Err(_) => {}
        }
        if let Err(e) = c.simple_query("SELECT 1").await {
            holes.push(format!("after {sql}: the session is broken: {e}"));
        }
    }
    // Prepared, with parameters (Parse/Bind/Execute/Sync).
    for (sql, param) in [
        (format!("DELETE FROM {t} WHERE id > $1"), 0i32),
        (format!("UPDATE {t} SET note = 'p' WHERE n <> $1"), 0),
    ] {
        match c.execute(&sql, &[&param]).await {
            Ok(n) => holes.push(format!("ran ({n} rows): {sql}")),
            Err(e) if !refused_by_the_rule(&pg_error(&e)) => {
                holes.push(format!("{sql}: not refused by the rule: {}", pg_error(&e)))
            }
            Err(_) => {}
        }
    }
    // In a transaction block: the refusal aborts it, as a failed statement does.
    let mut c2 = proxy.connect().await;
    let tx = c2.transaction().await.unwrap();
    tx.execute(&format!("UPDATE {t} SET note = 'in tx' WHERE id = 1"), &[])
        .await
        .unwrap();
    match tx
        .execute(&format!("DELETE FROM {t} WHERE id >= 0"), &[])
        .await
    {
        Ok(n) => holes.push(format!("ran in a transaction ({n} rows)")),
        Err(e) => assert!(refused_by_the_rule(&pg_error(&e)), "{}", pg_error(&e)),
    }
    if tx.commit().await.is_ok() {
        // COMMIT of an aborted transaction rolls back; either way nothing may have stayed.
    }
    assert_eq!(
        pg_rows(&direct, &t).await,
        before,
        "holes so far: {holes:?}"
    );
    assert!(
        holes.is_empty(),
        "{} hole(s):\n  {}",
        holes.len(),
        holes.join("\n  ")
    );

    // Within the limit: simple, prepared and in a transaction, the writes stay.
    c.simple_query(&format!("DELETE FROM {t} WHERE id = 5"))
        .await
        .expect("one row");
    let n = c
        .execute(
            &format!("UPDATE {t} SET note = $1 WHERE id <= $2"),
            &[&"two", &2i32],
        )
        .await
        .expect("two rows");
    assert_eq!(n, 2);
    let rows = c
        .simple_query(&format!(
            "UPDATE {t} SET n = n + 1 WHERE id = 3 RETURNING id"
        ))
        .await
        .expect("returning within the limit");
    assert!(rows
        .iter()
        .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_))));
    let tx = c2.transaction().await.unwrap();
    tx.execute(&format!("UPDATE {t} SET note = 'tx' WHERE id = 4"), &[])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        pg_rows(&direct, &t).await,
        vec![
            (1, 10, Some("two".into())),
            (2, 20, Some("two".into())),
            (3, 31, Some("row 3".into())),
            (4, 40, Some("tx".into())),
        ]
    );
}

async fn my_rows(direct: &mut mysql_async::Conn, t: &str) -> Vec<(i32, i32, Option<String>)> {
    direct
        .query(format!("SELECT id, n, note FROM {t} ORDER BY id"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_writes_over_the_limit_are_undone_and_refused() {
    let upstream = mariadb_native();
    let proxy = Proxy::start_mysql(upstream, opts()).await;
    let mut direct = mysql_direct(upstream).await;
    let t = unique("rl");
    direct
        .query_drop(format!(
            "CREATE TABLE shop.{t} (id int PRIMARY KEY, n int NOT NULL, note text) ENGINE=InnoDB;
             INSERT INTO shop.{t} VALUES (1,10,'row 1'),(2,20,'row 2'),(3,30,'row 3'),(4,40,'row 4'),(5,50,'row 5');
             CREATE VIEW shop.{t}_v AS SELECT 1 AS one, id, n, note FROM shop.{t};
             CREATE TABLE shop.{t}_m (id int PRIMARY KEY) ENGINE=MyISAM;
             INSERT INTO shop.{t}_m VALUES (1),(2),(3)"
        ))
        .await
        .unwrap();
    let t = format!("shop.{t}");
    let before = my_rows(&mut direct, &t).await;
    let mut c = proxy.mysql().await;
    let mut holes = Vec::new();
    let refused = |e: &mysql_async::Error| refused_by_the_rule(&e.to_string());
    for sql in [
        format!("DELETE FROM {t} WHERE id IS NOT NULL"),
        format!("UPDATE {t} SET note = 'gone' WHERE id > 0"),
        format!("DELETE FROM {t} WHERE n >= 30"),
        format!("DELETE FROM {t}_v WHERE one = 1"),
        format!("DELETE FROM {t} WHERE id > 0 RETURNING id"),
        // Decided before they run.
        format!("ALTER TABLE {t} ADD FOREIGN KEY (n) REFERENCES {t}_m (id) ON DELETE CASCADE"),
        format!("SELECT 1; DELETE FROM {t} WHERE id = 1"),
        format!("DELETE FROM {t}_m WHERE id > 0"),
    ] {
        match c.query_drop(&sql).await {
            Ok(()) => holes.push(format!("ran: {sql}")),
            Err(e) if !refused(&e) => holes.push(format!("{sql}: not refused by the rule: {e}")),
            Err(_) => {}
        }
        if let Err(e) = c.query_drop("SELECT 1").await {
            holes.push(format!("after {sql}: the session is broken: {e}"));
        }
    }
    // Prepared (COM_STMT_EXECUTE).
    match c
        .exec_drop(format!("UPDATE {t} SET note = ? WHERE id > ?"), ("p", 0))
        .await
    {
        Ok(()) => holes.push("ran: prepared UPDATE".into()),
        Err(e) if !refused(&e) => holes.push(format!("prepared UPDATE: {e}")),
        Err(_) => {}
    }
    // In a transaction: the refused write alone is undone, the transaction goes on.
    c.query_drop("START TRANSACTION").await.unwrap();
    c.query_drop(format!("UPDATE {t} SET note = 'in tx' WHERE id = 1"))
        .await
        .unwrap();
    match c.query_drop(format!("DELETE FROM {t} WHERE id >= 0")).await {
        Ok(()) => holes.push("ran in a transaction".into()),
        Err(e) => assert!(refused(&e), "{e}"),
    }
    c.query_drop("ROLLBACK").await.unwrap();
    // With autocommit off.
    c.query_drop("SET autocommit = 0").await.unwrap();
    if c.query_drop(format!("DELETE FROM {t} WHERE id > 0"))
        .await
        .is_ok()
    {
        holes.push("ran with autocommit = 0".into());
    }
    c.query_drop("COMMIT").await.unwrap();
    c.query_drop("SET autocommit = 1").await.unwrap();
    assert_eq!(
        my_rows(&mut direct, &t).await,
        before,
        "holes so far: {holes:?}"
    );
    let myisam: Vec<i32> = direct
        .query(format!("SELECT id FROM {t}_m ORDER BY id"))
        .await
        .unwrap();
    assert_eq!(
        myisam,
        vec![1, 2, 3],
        "a MyISAM table cannot be rolled back"
    );
    assert!(
        holes.is_empty(),
        "{} hole(s):\n  {}",
        holes.len(),
        holes.join("\n  ")
    );

    // Within the limit the writes stay; the client's idea of its transaction stays right.
    c.query_drop(format!("DELETE FROM {t} WHERE id = 5"))
        .await
        .expect("one row");
    assert_eq!(c.affected_rows(), 1);
    c.exec_drop(format!("UPDATE {t} SET note = ? WHERE id <= ?"), ("two", 2))
        .await
        .expect("two rows, prepared");
    assert_eq!(c.affected_rows(), 2);
    let in_tx: Vec<i32> = c.query("SELECT @@in_transaction").await.unwrap();
    assert_eq!(in_tx, vec![0], "autocommit: the write was committed");
    c.query_drop("START TRANSACTION").await.unwrap();
    c.query_drop(format!("UPDATE {t} SET n = n + 1 WHERE id = 3"))
        .await
        .unwrap();
    c.query_drop(format!("UPDATE {t} SET note = 'tx' WHERE id = 4"))
        .await
        .unwrap();
    c.query_drop("COMMIT").await.unwrap();
    assert_eq!(
        my_rows(&mut direct, &t).await,
        vec![
            (1, 10, Some("two".into())),
            (2, 20, Some("two".into())),
            (3, 31, Some("row 3".into())),
            (4, 40, Some("tx".into())),
        ]
    );
}

/// Reads until ReadyForQuery; the messages before it.
async fn until_ready(s: &mut tokio::net::TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut got = Vec::new();
    loop {
        let m = tokio::time::timeout(std::time::Duration::from_secs(20), raw_pg::read_msg(s))
            .await
            .expect("an answer within 20 s")
            .expect("the session stays up");
        if m.0 == b'Z' {
            return got;
        }
        got.push(m);
    }
}

/// Found by the black-box round: ways to run a held write that sluice did not hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_held_writes_cannot_be_run_by_other_names() {
    use bytes::BytesMut;
    use postgres_protocol::message::frontend;
    use tokio::io::AsyncWriteExt;

    let upstream = pg_scram();
    let proxy = Proxy::start(upstream, opts()).await;
    let direct = pg_direct(upstream).await;
    let t = unique("rn");
    pg_table(&direct, &t).await;
    let before = pg_rows(&direct, &t).await;
    let mut c = proxy.connect().await;

    let r = c
        .simple_query(&format!("EXPLAIN (ANALYSE) DELETE FROM {t}"))
        .await;
    assert!(r.is_err(), "EXPLAIN (ANALYSE) ran");
    // A portal bound without Execute, run by SQL's FETCH.
    let tx = c.transaction().await.unwrap();
    let returning = tx
        .prepare(&format!("DELETE FROM {t} WHERE id > $1 RETURNING id"))
        .await
        .unwrap();
    let _portal = tx.bind(&returning, &[&0i32]).await.unwrap();
    for n in 0..4 {
        if tx
            .simple_query(&format!("FETCH ALL FROM p{n}"))
            .await
            .is_err()
        {
            break;
        }
    }
    let _ = tx.commit().await;
    assert_eq!(pg_rows(&direct, &t).await, before);

    // The unnamed statement a refused simple query went through is not left to Bind again.
    let (mut s, key) = raw_pg::raw_login_as(proxy.addr, USER, PASSWORD).await;
    key.expect("raw login");
    let mut buf = BytesMut::new();
    frontend::query(&format!("UPDATE {t} SET n = 0 WHERE id > 0"), &mut buf).unwrap();
    s.write_all(&buf).await.unwrap();
    let got = until_ready(&mut s).await;
    assert!(got.iter().any(|m| m.0 == b'E'), "refused: {got:?}");
    buf.clear();
    // Bind of the unnamed statement to the unnamed portal, no parameters.
    buf.extend_from_slice(&[b'B', 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]);
    frontend::execute("", 0, &mut buf).unwrap();
    frontend::sync(&mut buf);
    s.write_all(&buf).await.unwrap();
    let got = until_ready(&mut s).await;
    assert!(
        !got.iter().any(|m| m.0 == b'C'),
        "the unnamed statement ran again: {got:?}"
    );

    // A statement prepared by the protocol, executed by SQL's EXECUTE (and EXPLAIN ANALYZE).
    buf.clear();
    frontend::parse(
        "held1",
        &format!("DELETE FROM {t} WHERE id > $1"),
        [23],
        &mut buf,
    )
    .unwrap();
    frontend::sync(&mut buf);
    s.write_all(&buf).await.unwrap();
    let got = until_ready(&mut s).await;
    assert!(got.iter().any(|m| m.0 == b'1'), "prepared: {got:?}");
    for sql in ["EXECUTE held1(0)", "EXPLAIN ANALYZE EXECUTE held1(0)"] {
        buf.clear();
        frontend::query(sql, &mut buf).unwrap();
        s.write_all(&buf).await.unwrap();
        let got = until_ready(&mut s).await;
        assert!(got.iter().any(|m| m.0 == b'E'), "{sql}: {got:?}");
    }

    // FunctionCall: only large-object functions (lo_export, pg_read_file are refused).
    for oid in [765i32, 3826] {
        buf.clear();
        buf.extend_from_slice(b"F");
        let body_at = buf.len();
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&oid.to_be_bytes());
        buf.extend_from_slice(&0i16.to_be_bytes());
        buf.extend_from_slice(&0i16.to_be_bytes());
        buf.extend_from_slice(&0i16.to_be_bytes());
        let len = (buf.len() - body_at) as u32;
        buf[body_at..body_at + 4].copy_from_slice(&len.to_be_bytes());
        s.write_all(&buf).await.unwrap();
        let got = until_ready(&mut s).await;
        let refused = got
            .iter()
            .any(|m| m.0 == b'E' && raw_pg::sqlstate(&m.1) == "42501");
        assert!(refused, "FunctionCall {oid}: {got:?}");
    }
    assert_eq!(pg_rows(&direct, &t).await, before);

    // Startup settings that load code or turn off safeguards are refused.
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(proxy.port())
        .user(USER)
        .password(PASSWORD)
        .dbname("app")
        .options("-c session_preload_libraries=/tmp/nothing.so");
    let err = config.connect(tokio_postgres::NoTls).await.err();
    assert!(
        err.as_ref().is_some_and(|e| pg_error(e)
            .contains("42501 sluice refuses the startup setting \"session_preload_libraries\"")),
        "{err:?}"
    );
    c.simple_query("SELECT 1")
        .await
        .expect("the first session goes on");
}

/// Found by the black-box round in MySQL: a failed statement's implicit commit, completion
/// types, built-in procedures, catalog writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_held_writes_survive_session_state_tricks() {
    let upstream = mariadb_native();
    let proxy = Proxy::start_mysql(upstream, opts()).await;
    let mut direct = mysql_direct(upstream).await;
    let name = unique("rm");
    direct
        .query_drop(format!(
            "CREATE TABLE shop.{name} (id int PRIMARY KEY, n int NOT NULL, note text) ENGINE=InnoDB;
             INSERT INTO shop.{name} VALUES (1,10,'row 1'),(2,20,'row 2'),(3,30,'row 3'),(4,40,'row 4'),(5,50,'row 5')"
        ))
        .await
        .unwrap();
    let t = format!("shop.{name}");
    let before = my_rows(&mut direct, &t).await;
    let mut c = proxy.mysql().await;

    // A failed CREATE TABLE inside BEGIN still commits implicitly: the next write is not in a
    // transaction, whatever the last status flags said.
    c.query_drop("BEGIN").await.unwrap();
    assert!(c
        .query_drop(format!("CREATE TABLE {t} (x int)"))
        .await
        .is_err());
    let r = c.query_drop(format!("DELETE FROM {t} WHERE id > 0")).await;
    assert!(
        r.as_ref()
            .is_err_and(|e| refused_by_the_rule(&e.to_string())),
        "{r:?}"
    );
    assert_eq!(my_rows(&mut direct, &t).await, before);

    // Code by another name: built-in procedures, the routine catalog.
    for sql in [
        format!("CALL sys.execute_prepared_stmt('DELETE FROM {t} WHERE id > 0')"),
        "INSERT INTO mysql.proc (db, name, type, specific_name, body) VALUES ('shop', 'evil', 'PROCEDURE', 'evil', 'DELETE FROM x')".to_string(),
    ] {
        assert!(c.query_drop(&sql).await.is_err(), "{sql} ran");
    }
    assert_eq!(my_rows(&mut direct, &t).await, before);

    // completion_type must not chain or release after sluice's own COMMIT.
    for mode in ["CHAIN", "RELEASE"] {
        c.query_drop(format!("SET completion_type = '{mode}'"))
            .await
            .unwrap();
        c.query_drop(format!("UPDATE {t} SET n = n + 1 WHERE id = 1"))
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        let in_tx: Vec<i32> = c
            .query("SELECT @@in_transaction")
            .await
            .unwrap_or_else(|e| panic!("{mode}: the session is gone: {e}"));
        assert_eq!(in_tx, vec![0], "{mode}: left in a transaction");
    }
    let rows = my_rows(&mut direct, &t).await;
    assert_eq!(rows[0], (1, 12, Some("row 1".into())));
}
