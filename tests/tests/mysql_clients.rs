//! mysql_async and the mariadb CLI through sluice against a throwaway MariaDB: text and binary
//! protocols, prepared statements, multiple result sets, transactions, values split across
//! 16 MiB packets, TLS on both legs, both client auth plugins, KILL and LOAD DATA LOCAL.

use std::process::Command;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use mysql_async::{Row, Value};
use sluice_tests::*;

async fn exercise(conn: &mut mysql_async::Conn) {
    let table = unique("t");
    conn.query_drop(format!(
        "CREATE TABLE {table} (id BIGINT PRIMARY KEY, name VARCHAR(100), data BLOB, score DOUBLE, ok BOOL, born DATE, at DATETIME(6), price DECIMAL(12,2))"
    ))
    .await
    .unwrap();
    // Binary protocol, one prepared statement reused.
    let insert = conn
        .prep(format!(
            "INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .await
        .unwrap();
    for i in 0..50i64 {
        let name = (i % 7 != 0).then(|| format!("name-{i}-ünïcødé-🚀"));
        let params: Vec<Value> = vec![
            i.into(),
            name.into(),
            vec![i as u8, 0, 255].into(),
            (i as f64 / 3.0).into(),
            (i % 2 == 0).into(),
            "2024-02-29".into(),
            "2024-02-29 13:14:15.123456".into(),
            "1234.50".into(),
        ];
        conn.exec_drop(&insert, params).await.unwrap();
    }
    // Text and binary results agree.
    let text: Vec<Row> = conn
        .query(format!("SELECT * FROM {table} ORDER BY id"))
        .await
        .unwrap();
    let binary: Vec<Row> = conn
        .exec(
            format!("SELECT * FROM {table} WHERE id >= ? ORDER BY id"),
            (0i64,),
        )
        .await
        .unwrap();
    assert_eq!(text.len(), 50);
    assert_eq!(binary.len(), 50);
    let t10: (i64, Option<String>, Vec<u8>, f64) = {
        let r = &text[10];
        (
            r.get(0).unwrap(),
            r.get(1).unwrap(),
            r.get(2).unwrap(),
            r.get(3).unwrap(),
        )
    };
    let b10: (i64, Option<String>, Vec<u8>, f64) = {
        let r = &binary[10];
        (
            r.get(0).unwrap(),
            r.get(1).unwrap(),
            r.get(2).unwrap(),
            r.get(3).unwrap(),
        )
    };
    assert_eq!(t10, b10);
    assert_eq!(t10.1.as_deref(), Some("name-10-ünïcødé-🚀"));
    assert_eq!(t10.2, vec![10u8, 0, 255]);
    let null_name: Option<Option<String>> = conn
        .exec_first(format!("SELECT name FROM {table} WHERE id = ?"), (7i64,))
        .await
        .unwrap();
    assert_eq!(null_name, Some(None));

    // Several result sets from one multi-statement string.
    let mut result = conn
        .query_iter(format!(
            "SELECT 1; SELECT 'a', 'b'; SELECT COUNT(*) FROM {table}"
        ))
        .await
        .unwrap();
    let first: Vec<i64> = result.collect().await.unwrap();
    let second: Vec<(String, String)> = result.collect().await.unwrap();
    let third: Vec<i64> = result.collect().await.unwrap();
    drop(result);
    assert_eq!(
        (first, second, third),
        (vec![1], vec![("a".into(), "b".into())], vec![50])
    );

    // Transactions.
    conn.query_drop("START TRANSACTION").await.unwrap();
    conn.query_drop(format!("DELETE FROM {table} WHERE id < 10"))
        .await
        .unwrap();
    conn.query_drop("ROLLBACK").await.unwrap();
    let n: Option<i64> = conn
        .query_first(format!("SELECT COUNT(*) FROM {table}"))
        .await
        .unwrap();
    assert_eq!(n, Some(50));
    conn.query_drop(format!(
        "START TRANSACTION; DELETE FROM {table} WHERE id >= 45; COMMIT"
    ))
    .await
    .unwrap();
    let n: Option<i64> = conn
        .query_first(format!("SELECT COUNT(*) FROM {table}"))
        .await
        .unwrap();
    assert_eq!(n, Some(45));

    // Errors leave the session usable.
    let err = conn
        .query_drop("SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1146"), "{err}");
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_plaintext_native_password() {
    let proxy = Proxy::start_mysql(mariadb_native(), ProxyOpts::default()).await;
    let mut conn = proxy.mysql().await;
    exercise(&mut conn).await;
    // sluice answers with its own connection id and says so in the version string.
    assert!(conn.server_version() >= (10, 0, 0));
    let version: Option<String> = conn.query_first("SELECT @@version").await.unwrap();
    assert!(version.unwrap().contains("MariaDB"));
    conn.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_async_caching_sha2_over_tls_with_an_ed25519_upstream() {
    let opts = ProxyOpts {
        client_tls: Some(true),
        mysql_plugin: Some("caching_sha2_password"),
        upstream_tls: "disable",
        ..ProxyOpts::default()
    };
    let proxy = Proxy::start_mysql(mariadb(MariaDbAuth::Ed25519, false), opts).await;
    let ssl = mysql_async::SslOpts::default().with_root_certs(vec![proxy.ca_file().into()]);
    let mut conn = mysql_async::Conn::new(
        mysql_opts(proxy.port(), USER, PASSWORD, Some("shop")).ssl_opts(Some(ssl)),
    )
    .await
    .unwrap();
    exercise(&mut conn).await;
    // Plaintext is refused on a listener that requires TLS.
    let err = mysql_async::Conn::new(mysql_opts(proxy.port(), USER, PASSWORD, Some("shop")))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("1045") || err.to_string().contains("TLS"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_tls_upstream() {
    let upstream = mariadb(MariaDbAuth::NativePassword, true);
    let opts = ProxyOpts {
        upstream_tls: "verify-full",
        ..ProxyOpts::default()
    };
    let proxy = Proxy::start_mysql(upstream, opts).await;
    let mut conn = proxy.mysql().await;
    let cipher: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .unwrap();
    assert!(
        !cipher.unwrap().1.is_empty(),
        "the upstream leg is encrypted"
    );
    exercise(&mut conn).await;

    let opts = ProxyOpts {
        upstream_tls: "verify-full",
        upstream_ca_matches: false,
        ..ProxyOpts::default()
    };
    let untrusted = Proxy::start_mysql(upstream, opts).await;
    let err = mysql_async::Conn::new(mysql_opts(untrusted.port(), USER, PASSWORD, Some("shop")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unavailable"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_over_16_mib_cross_split_packets_intact() {
    let proxy = Proxy::start_mysql(mariadb_native(), ProxyOpts::default()).await;
    let mut conn = proxy.mysql().await;
    let table = unique("big");
    conn.query_drop(format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, v LONGBLOB)"
    ))
    .await
    .unwrap();
    let value: Vec<u8> = (0..(17 << 20) + 123)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    conn.exec_drop(
        format!("INSERT INTO {table} VALUES (1, ?)"),
        (value.clone(),),
    )
    .await
    .unwrap();
    let text: Option<Vec<u8>> = conn
        .query_first(format!("SELECT v FROM {table}"))
        .await
        .unwrap();
    assert!(text.as_ref() == Some(&value), "text protocol value differs");
    let binary: Option<Vec<u8>> = conn
        .exec_first(format!("SELECT v FROM {table} WHERE id = ?"), (1,))
        .await
        .unwrap();
    assert!(
        binary.as_ref() == Some(&value),
        "binary protocol value differs"
    );
    // A > 16 MiB statement text (COM_QUERY split across packets) is assembled and relayed.
    let hex: String = value[..9 << 20]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let len: Option<i64> = conn
        .query_first(format!("SELECT LENGTH(X'{hex}')"))
        .await
        .unwrap();
    assert_eq!(len, Some(9 << 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_query_names_a_sluice_connection_id_and_only_your_own() {
    let proxy = Proxy::start_mysql(mariadb_native(), ProxyOpts::default()).await;
    let mut sleeper = proxy.mysql().await;
    let sleeper_id = sleeper.id();
    let started = tokio::spawn(async move {
        let t = Instant::now();
        let r: Result<Option<i64>, _> = sleeper.query_first("SELECT SLEEP(30)").await;
        (r.map_err(|e| e.to_string()), t.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Bob cannot kill alice's query.
    let mut bob = mysql_async::Conn::new(mysql_opts(
        proxy.port(),
        OTHER_USER,
        OTHER_PASSWORD,
        Some("shop"),
    ))
    .await
    .unwrap();
    let err = bob
        .query_drop(format!("KILL QUERY {sleeper_id}"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1094"), "{err}");
    // KILL USER would reach every session sluice holds upstream.
    let err = bob.query_drop("KILL USER app").await.unwrap_err();
    assert!(err.to_string().contains("1095"), "{err}");

    let mut killer = proxy.mysql().await;
    let at = Instant::now();
    killer
        .query_drop(format!("KILL QUERY {sleeper_id}"))
        .await
        .unwrap();
    let (result, _) = started.await.unwrap();
    assert!(
        at.elapsed() < Duration::from_secs(1),
        "KILL QUERY took {:?}",
        at.elapsed()
    );
    // MariaDB ends an interrupted SLEEP with 1 (or an "interrupted" error): either way, early.
    match result {
        Ok(v) => assert_eq!(v, Some(1)),
        Err(e) => assert!(e.contains("1317") || e.contains("interrupted"), "{e}"),
    }
    let alive: Option<i64> = killer.query_first("SELECT 2").await.unwrap();
    assert_eq!(alive, Some(2));
}

fn mariadb_cli(
    port: u16,
    user: &str,
    password: &str,
    extra: &[&str],
    sql: &str,
) -> std::process::Output {
    Command::new("mariadb")
        .args([
            "--no-defaults",
            "-h127.0.0.1",
            &format!("-P{port}"),
            &format!("-u{user}"),
            &format!("-p{password}"),
        ])
        .args(extra)
        .args(["shop", "-e", sql])
        .env_remove("MYSQL_PWD")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mariadb_cli_works_in_plaintext_and_tls_and_load_data_local_is_refused() {
    let proxy = Proxy::start_mysql(
        mariadb_native(),
        ProxyOpts {
            client_tls: Some(false),
            ..ProxyOpts::default()
        },
    )
    .await;
    let port = proxy.port();
    let out = mariadb_cli(
        port,
        USER,
        PASSWORD,
        &["--batch", "--raw"],
        "SELECT 1 AS a, NULL AS b, 'x\\ty' AS c",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "a\tb\tc\n1\tNULL\tx\ty\n"
    );

    let ca = proxy.ca_file();
    let ca_arg = format!("--ssl-ca={}", ca.display());
    let out = mariadb_cli(
        port,
        USER,
        PASSWORD,
        &["--ssl", &ca_arg, "--ssl-verify-server-cert", "-N"],
        "SELECT 42",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");

    let out = mariadb_cli(port, USER, "wrong", &[], "SELECT 1");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR 1045 (28000)"));

    let table = unique("ld");
    let out = mariadb_cli(
        port,
        USER,
        PASSWORD,
        &[],
        &format!("CREATE TABLE {table} (v TEXT)"),
    );
    assert!(out.status.success());
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "secret\n").unwrap();
    let sql = format!(
        "LOAD DATA LOCAL INFILE '{}' INTO TABLE {table}",
        file.path().display()
    );
    let out = mariadb_cli(port, USER, PASSWORD, &["--local-infile=1"], &sql);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1148") && err.contains("refused by sluice"),
        "{err}"
    );
    let out = mariadb_cli(
        port,
        USER,
        PASSWORD,
        &["-N"],
        &format!("SELECT COUNT(*) FROM {table}"),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "nothing was loaded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_reset_ping_and_admin_commands() {
    let proxy = Proxy::start_mysql(mariadb_native(), ProxyOpts::default()).await;
    let mut conn = proxy.mysql().await;
    conn.ping().await.unwrap();
    conn.query_drop("SET @marker = 42").await.unwrap();
    // COM_RESET_CONNECTION clears session state.
    conn.reset().await.unwrap();
    let marker: Option<Option<i64>> = conn.query_first("SELECT @marker").await.unwrap();
    assert_eq!(marker, Some(None));

    // COM_CHANGE_USER authenticates the new user against sluice; upstream stays sluice's login.
    let bob = mysql_async::ChangeUserOpts::default()
        .with_user(Some(OTHER_USER.into()))
        .with_pass(Some(OTHER_PASSWORD.into()))
        .with_db_name(Some("shop".into()));
    conn.change_user(bob).await.unwrap();
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(db.as_deref(), Some("shop"));
    // Bob now owns the session: alice can no longer KILL it.
    let id = conn.id();
    let mut alice = proxy.mysql().await;
    let err = alice
        .query_drop(format!("KILL QUERY {id}"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("1094"), "{err}");

    let wrong = mysql_async::ChangeUserOpts::default()
        .with_user(Some(USER.into()))
        .with_pass(Some("wrong".into()));
    assert!(conn.change_user(wrong).await.is_err());

    // COM_STATISTICS and COM_PING from mariadb-admin.
    let admin = |cmd: &str| {
        Command::new("mariadb-admin")
            .args([
                "--no-defaults",
                "-h127.0.0.1",
                &format!("-P{}", proxy.port()),
                &format!("-u{USER}"),
                &format!("-p{PASSWORD}"),
                cmd,
            ])
            .output()
            .unwrap()
    };
    let status = admin("status");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(String::from_utf8_lossy(&status.stdout).contains("Uptime"));
    let ping = admin("ping");
    assert!(String::from_utf8_lossy(&ping.stdout).contains("alive"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_sha2_in_plaintext_with_mysql_async_and_the_cli() {
    let opts = ProxyOpts {
        mysql_plugin: Some("caching_sha2_password"),
        ..ProxyOpts::default()
    };
    let proxy = Proxy::start_mysql(mariadb_native(), opts).await;
    let mut conn = proxy.mysql().await;
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    let out = mariadb_cli(
        proxy.port(),
        USER,
        PASSWORD,
        &["-N", "--default-auth=caching_sha2_password"],
        "SELECT 7",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "7");
    let out = mariadb_cli(
        proxy.port(),
        USER,
        "wrong",
        &["--default-auth=caching_sha2_password"],
        "SELECT 7",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("ERROR 1045"));
}
