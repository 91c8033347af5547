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
    let mut bob = proxy.mysql_as(OTHER_USER, OTHER_PASSWORD).await;
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

/// Every row of `sql` as its columns and values, in the text protocol and in the binary one.
async fn rows_both_ways(
    conn: &mut mysql_async::Conn,
    sql: &str,
) -> (
    Vec<Vec<mysql_async::Column>>,
    Vec<Vec<Value>>,
    Vec<Vec<Value>>,
) {
    let text: Vec<Row> = conn.query(sql).await.unwrap();
    let binary: Vec<Row> = conn.exec(sql, ()).await.unwrap();
    assert_eq!(text.len(), binary.len(), "{sql}");
    let columns = text
        .iter()
        .chain(&binary)
        .map(|r| r.columns_ref().to_vec())
        .collect();
    let values = |rows: Vec<Row>| rows.into_iter().map(Row::unwrap).collect();
    (columns, values(text), values(binary))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_common_column_type_is_identical_direct_and_through_sluice() {
    let server = mariadb_native();
    let proxy = Proxy::start_mysql(server, ProxyOpts::default()).await;
    let mut direct = mysql_direct(server).await;
    let mut through = proxy.mysql().await;
    let table = unique("types");
    direct
        .query_drop(format!(
            "CREATE TABLE {table} (id INT PRIMARY KEY, \
             ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, \
             mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, \
             bi BIGINT, biu BIGINT UNSIGNED, f FLOAT, d DOUBLE, dc DECIMAL(20,6), y YEAR, \
             dt DATE, tm TIME, tm6 TIME(6), dt6 DATETIME(6), ts TIMESTAMP NULL DEFAULT NULL, \
             ts6 TIMESTAMP(6) NULL DEFAULT NULL, c CHAR(10), vc VARCHAR(100), tx TEXT, \
             bl BLOB, vb VARBINARY(50), e ENUM('a','b','c'), st SET('x','y','z'), b BIT(10), \
             j JSON) CHARACTER SET utf8mb4"
        ))
        .await
        .unwrap();
    direct
        .query_drop(format!(
            "INSERT INTO {table} VALUES \
             (1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, \
              -3.40282e38, -1.7976931348623157e308, -99999999999999.999999, 1901, '1000-01-01', \
              '-838:59:59', '-838:59:59.000000', '1000-01-01 00:00:00.000000', \
              '2000-01-01 00:00:00', '2000-01-01 00:00:00.000001', '', '', '', '', '', 'a', '', \
              b'0', '[]'), \
             (2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, \
              9223372036854775807, 18446744073709551615, 3.40282e38, 1.7976931348623157e308, \
              99999999999999.999999, 2155, '9999-12-31', '838:59:59', '838:59:59.000000', \
              '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07', '2038-01-19 03:14:07.999999', \
              'abcdefghij', 'ünïcødé 🚀 \\'quoted\\' \\\\ back', REPEAT('long text ', 1000), \
              X'00FF00FF7F80', X'DEADBEEF', 'c', 'x,y,z', b'1111111111', \
              '{{\"a\": [1, 2.5, \"ü\", null, true], \"b\": {{}}}}'), \
             (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
              NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
              NULL, NULL), \
             (4, 0, 1, -1, 1, 0, 1, 0, 1, -1, 1, 0.1, 0.3333333333333333, 0.000001, 2000, \
              '2024-02-29', '00:00:00', '12:34:56.789012', '2024-02-29 13:14:15.123456', \
              '2024-02-29 13:14:15', '2024-02-29 13:14:15.5', 'x', ' padded ', 'tab\\there', \
              '', X'00', 'b', '', b'1010101010', 'null')"
        ))
        .await
        .unwrap();

    // The binary protocol's typed parameters: one row inserted directly, the same one through
    // sluice.
    let params = |id: i32| -> Vec<Value> {
        vec![
            id.into(),
            Value::Int(-5),
            Value::UInt(200),
            Value::Int(-300),
            Value::UInt(60000),
            Value::Int(-70000),
            Value::UInt(70000),
            Value::Int(-5),
            Value::UInt(4_000_000_000),
            Value::Int(i64::MIN + 1),
            Value::UInt(u64::MAX),
            Value::Float(1.5),
            Value::Double(-2.25),
            Value::Bytes(b"123.456".to_vec()),
            Value::Int(1999),
            Value::Date(2024, 2, 29, 0, 0, 0, 0),
            Value::Time(true, 1, 2, 3, 4, 0),
            Value::Time(false, 0, 12, 34, 56, 789_000),
            Value::Date(2024, 2, 29, 13, 14, 15, 123_456),
            Value::Date(2020, 1, 2, 3, 4, 5, 0),
            Value::Date(2020, 1, 2, 3, 4, 5, 6),
            "x".into(),
            "ünï".into(),
            "t".into(),
            vec![0u8, 1, 2].into(),
            vec![255u8].into(),
            "b".into(),
            "x,z".into(),
            Value::Bytes(vec![0b10, 0b1]),
            r#"{"k": 1}"#.into(),
        ]
    };
    let insert = format!("INSERT INTO {table} VALUES ({})", vec!["?"; 30].join(", "));
    direct.exec_drop(&insert, params(10)).await.unwrap();
    through.exec_drop(&insert, params(11)).await.unwrap();

    let all = format!("SELECT * FROM {table} ORDER BY id");
    let (d_cols, d_text, d_bin) = rows_both_ways(&mut direct, &all).await;
    let (t_cols, t_text, t_bin) = rows_both_ways(&mut through, &all).await;
    assert_eq!(d_text.len(), 6);
    for (d, t) in d_text.iter().zip(&t_text) {
        assert_eq!(d, t, "text protocol row differs through sluice");
    }
    for (d, t) in d_bin.iter().zip(&t_bin) {
        assert_eq!(d, t, "binary protocol row differs through sluice");
    }
    assert_eq!(d_cols, t_cols, "column definitions differ through sluice");

    // The rows are what they should be, not merely equal.
    assert_eq!(
        d_bin[4][1..],
        d_bin[5][1..],
        "the typed insert through sluice stored what the direct one did"
    );
    assert!(d_text[2][1..].iter().all(|v| *v == Value::NULL));
    assert!(d_bin[2][1..].iter().all(|v| *v == Value::NULL));
    assert_eq!(d_bin[1][10], Value::UInt(u64::MAX));
    assert_eq!(d_bin[0][9], Value::Int(i64::MIN));
    assert_eq!(d_bin[0][16], Value::Time(true, 34, 22, 59, 59, 0));
    assert_eq!(
        d_text[1][10],
        Value::Bytes(b"18446744073709551615".to_vec())
    );
    assert_eq!(d_bin[1][18], Value::Date(9999, 12, 31, 23, 59, 59, 999_999));

    // Parameters in a WHERE clause select the same rows both ways.
    let by_param = format!("SELECT * FROM {table} WHERE biu = ? OR dt6 = ? ORDER BY id");
    let key = (u64::MAX, Value::Date(2024, 2, 29, 13, 14, 15, 123_456));
    let d: Vec<Row> = direct.exec(&by_param, key.clone()).await.unwrap();
    let t: Vec<Row> = through.exec(&by_param, key).await.unwrap();
    let (d, t): (Vec<Vec<Value>>, Vec<Vec<Value>>) = (
        d.into_iter().map(Row::unwrap).collect(),
        t.into_iter().map(Row::unwrap).collect(),
    );
    assert_eq!(d.len(), 4, "rows 2, 4, 10 and 11");
    assert_eq!(d, t);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_is_never_offered_and_compressing_clients_work_uncompressed() {
    use sluice_tests::mysql_wire::*;
    let proxy = Proxy::start_mysql(mariadb_native(), ProxyOpts::default()).await;

    // sluice's greeting does not offer CLIENT_COMPRESS; a client that sets it anyway is
    // refused with a clear error.
    let mut raw = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let (_, greeting) = read_packet(&mut raw).await.unwrap();
    assert_eq!(
        greeting_caps(&greeting) & CLIENT_COMPRESS,
        0,
        "no compression offered"
    );
    let response = handshake_response(
        BASE_CAPS | CLIENT_COMPRESS,
        USER,
        &[0; 20],
        "shop",
        "mysql_native_password",
    );
    write_packet(&mut raw, 1, &response).await.unwrap();
    let (seq, err) = read_packet(&mut raw).await.unwrap();
    assert_eq!((seq, &err[..3]), (2, &[0xFF, 0x13, 0x04][..]), "ERR 1043");
    assert!(
        String::from_utf8_lossy(&err).contains("compression is not supported through sluice"),
        "{}",
        String::from_utf8_lossy(&err)
    );

    // mysql_async asking for compression negotiates none and works.
    let mut conn = mysql_async::Conn::new(
        mysql_opts(proxy.port(), USER, PASSWORD, Some("shop"))
            .compression(mysql_async::Compression::default()),
    )
    .await
    .unwrap();
    let status: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Compression'")
        .await
        .unwrap();
    assert_eq!(status, Some(("Compression".into(), "OFF".into())));
    let big: Option<i64> = conn
        .query_first(format!("SELECT LENGTH('{}')", "z".repeat(100_000)))
        .await
        .unwrap();
    assert_eq!(big, Some(100_000));

    // So does the mariadb CLI with --compress.
    let out = mariadb_cli(
        proxy.port(),
        USER,
        PASSWORD,
        &["--compress", "-N", "--batch"],
        "SHOW SESSION STATUS LIKE 'Compression'; SELECT 6 * 7",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Compression\tOFF\n42\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_sha2_full_authentication_over_tls_and_the_auth_switch() {
    use sluice_tests::mysql_wire::*;
    let opts = ProxyOpts {
        client_tls: Some(false),
        mysql_plugin: Some("caching_sha2_password"),
        ..ProxyOpts::default()
    };
    let proxy = Proxy::start_mysql(mariadb_native(), opts).await;

    // A fast-path scramble that does not verify: sluice asks for the password over TLS, and
    // the right one logs in to a working session.
    let (answer, mut tls) = full_auth_login(&proxy, USER, PASSWORD).await;
    assert_eq!(answer[0], 0x00, "OK: {}", String::from_utf8_lossy(&answer));
    write_packet(
        &mut tls,
        0,
        b"\x03SELECT CURRENT_USER() IS NOT NULL, 'full'",
    )
    .await
    .unwrap();
    let rows = read_text_rows(&mut tls).await;
    assert_eq!(rows, vec![vec![Some("1".into()), Some("full".into())]]);
    // A wrong one gets 1045.
    let (answer, _) = full_auth_login(&proxy, USER, "wrong").await;
    assert_eq!(&answer[..3], &[0xFF, 0x15, 0x04], "ERR 1045");
    assert!(String::from_utf8_lossy(&answer).contains("#28000"));
    // mysql_async with a wrong password takes the same path (it answers 0x04 with the
    // cleartext password, over TLS) and gets 1045.
    let ssl = mysql_async::SslOpts::default().with_root_certs(vec![proxy.ca_file().into()]);
    let err = mysql_async::Conn::new(
        mysql_opts(proxy.port(), USER, "wrong", Some("shop")).ssl_opts(Some(ssl)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, mysql_async::Error::Server(e) if e.code == 1045),
        "{err}"
    );

    // Without TLS there is no full authentication: a scramble that does not verify is 1045
    // straight away, and the password is never asked for in clear.
    let mut raw = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    read_packet(&mut raw).await.unwrap();
    let response = handshake_response(
        BASE_CAPS,
        USER,
        &[0x5A; 32],
        "shop",
        "caching_sha2_password",
    );
    write_packet(&mut raw, 1, &response).await.unwrap();
    let (_, err) = read_packet(&mut raw).await.unwrap();
    assert_eq!(
        &err[..3],
        &[0xFF, 0x15, 0x04],
        "ERR 1045, not a password request"
    );

    // The auth switch on the wire: a client starting with client_ed25519 gets an
    // AuthSwitchRequest for caching_sha2_password with a fresh scramble, and its answer to that
    // is verified (here through full authentication, over TLS).
    let mut tls = tls_handshake(&proxy, USER, &[7; 64], "client_ed25519").await;
    let (seq, switch) = read_packet(&mut tls).await.unwrap();
    assert_eq!(seq, 3);
    assert_eq!(switch[0], 0xFE, "AuthSwitchRequest");
    let name_end = switch.iter().position(|&b| b == 0).unwrap();
    assert_eq!(&switch[1..name_end], b"caching_sha2_password");
    assert_eq!(
        switch.len() - name_end - 1,
        21,
        "a 20-byte scramble and its NUL"
    );
    write_packet(&mut tls, 4, &[0x5A; 32]).await.unwrap();
    let (seq, more) = read_packet(&mut tls).await.unwrap();
    assert_eq!((seq, more.as_slice()), (5, &[0x01, 0x04][..]));
    write_packet(&mut tls, 6, format!("{PASSWORD}\0").as_bytes())
        .await
        .unwrap();
    let (seq, ok) = read_packet(&mut tls).await.unwrap();
    assert_eq!((seq, ok[0]), (7, 0x00), "{}", String::from_utf8_lossy(&ok));
    write_packet(&mut tls, 0, b"\x03SELECT 'after a switch'")
        .await
        .unwrap();
    assert_eq!(
        read_text_rows(&mut tls).await,
        vec![vec![Some("after a switch".into())]]
    );

    // A client starting with a plugin sluice does not verify (client_ed25519) is switched to
    // caching_sha2_password, in plaintext and over TLS; wrong passwords still fail.
    let ca_arg = format!("--ssl-ca={}", proxy.ca_file().display());
    for extra in [&[][..], &["--ssl", &ca_arg, "--ssl-verify-server-cert"][..]] {
        let args: Vec<&str> = [&["-N", "--default-auth=client_ed25519"][..], extra].concat();
        let out = mariadb_cli(proxy.port(), USER, PASSWORD, &args, "SELECT 'switched'");
        assert!(
            out.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "switched");
        let out = mariadb_cli(proxy.port(), USER, "wrong", &args, "SELECT 1");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("ERROR 1045 (28000)"),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // And to mysql_native_password when that is what the greeting proposes.
    let native = Proxy::start_mysql(mariadb_native(), ProxyOpts::default()).await;
    let out = mariadb_cli(
        native.port(),
        USER,
        PASSWORD,
        &["-N", "--default-auth=client_ed25519"],
        "SELECT 'native'",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "native");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_connection_ends_your_own_sessions() {
    let server = mariadb_native();
    let proxy = Proxy::start_mysql(server, ProxyOpts::default()).await;
    let mut direct = mysql_direct(server).await;
    let mut a = proxy.mysql().await;
    let mut b = proxy.mysql().await;
    // The upstream threads behind the two sessions.
    let thread_a: u64 = a
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    let thread_b: u64 = b
        .query_first("SELECT CONNECTION_ID()")
        .await
        .unwrap()
        .unwrap();
    let alive = |thread: u64| {
        format!("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {thread}")
    };
    async fn gone(direct: &mut mysql_async::Conn, thread: u64) -> bool {
        let sql =
            format!("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {thread}");
        for _ in 0..50 {
            let n: Option<i64> = direct.query_first(&sql).await.unwrap();
            if n == Some(0) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
    let n: Option<i64> = direct.query_first(alive(thread_b)).await.unwrap();
    assert_eq!(n, Some(1));

    // One of your sessions kills another by its sluice connection id.
    a.query_drop(format!("KILL CONNECTION {}", b.id()))
        .await
        .unwrap();
    assert!(
        gone(&mut direct, thread_b).await,
        "the upstream thread ended"
    );
    assert!(
        b.query_drop("SELECT 1").await.is_err(),
        "the killed session is over"
    );
    let one: Option<i64> = a.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1), "the killer is unharmed");

    // A session kills itself.
    let own = a.query_drop(format!("KILL CONNECTION {}", a.id())).await;
    if let Err(e) = &own {
        assert!(
            e.to_string().contains("1927") || e.to_string().contains("killed"),
            "{e}"
        );
    }
    assert!(
        gone(&mut direct, thread_a).await,
        "its upstream thread ended"
    );
    assert!(
        a.query_drop("SELECT 1").await.is_err(),
        "the session is over"
    );

    // sluice still serves.
    let mut c = proxy.mysql().await;
    let two: Option<i64> = c.query_first("SELECT 2").await.unwrap();
    assert_eq!(two, Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_data_local_works_when_allowed_and_use_sends_com_init_db() {
    let proxy = Proxy::start_mysql(
        mariadb_native(),
        ProxyOpts {
            allow_local_infile: true,
            ..ProxyOpts::default()
        },
    )
    .await;
    let port = proxy.port();
    let table = unique("ld_ok");
    let out = mariadb_cli(
        port,
        USER,
        PASSWORD,
        &[],
        &format!("CREATE TABLE {table} (v TEXT)"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "one\ntwo\nthree\nünï\n").unwrap();
    let sql = format!(
        "LOAD DATA LOCAL INFILE '{}' INTO TABLE {table} CHARACTER SET utf8mb4; \
         SELECT COUNT(*), GROUP_CONCAT(v ORDER BY v SEPARATOR ',') FROM {table}",
        file.path().display()
    );
    let out = mariadb_cli(
        port,
        USER,
        PASSWORD,
        &["--local-infile=1", "-N", "--batch"],
        &sql,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "4\tone,three,two,ünï\n"
    );
    // The session goes on after the file transfer.
    let mut conn = proxy.mysql().await;
    let n: Option<i64> = conn
        .query_first(format!("SELECT COUNT(*) FROM {table}"))
        .await
        .unwrap();
    assert_eq!(n, Some(4));

    // The CLI's `use` is COM_INIT_DB.
    let out = mariadb_cli(
        port,
        USER,
        PASSWORD,
        &["-N", "--batch"],
        "use information_schema; SELECT DATABASE(); use shop; SELECT DATABASE()",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "information_schema\nshop\n"
    );
    let out = mariadb_cli(port, USER, PASSWORD, &["-N"], "use no_such_db_at_all");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ERROR 1049") || err.contains("ERROR 1044"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn com_stmt_fetch_reads_a_cursor_in_batches() {
    use sluice_tests::mysql_wire::*;
    let proxy = Proxy::start_mysql(
        mariadb_native(),
        ProxyOpts {
            client_tls: Some(false),
            ..ProxyOpts::default()
        },
    )
    .await;
    let table = unique("cur");
    let mut conn = proxy.mysql().await;
    conn.query_drop(format!(
        "CREATE TABLE {table} (id INT PRIMARY KEY, label VARCHAR(20))"
    ))
    .await
    .unwrap();
    for i in 1..=10 {
        conn.exec_drop(
            format!("INSERT INTO {table} VALUES (?, ?)"),
            (i, format!("row-{i}")),
        )
        .await
        .unwrap();
    }

    // mysql_async never opens a cursor, so this client speaks the protocol itself.
    let (answer, mut s) = full_auth_login(&proxy, USER, PASSWORD).await;
    assert_eq!(answer[0], 0x00);
    let mut prepare = vec![0x16];
    prepare.extend_from_slice(format!("SELECT id, label FROM {table} ORDER BY id").as_bytes());
    write_packet(&mut s, 0, &prepare).await.unwrap();
    let (_, ok) = read_packet(&mut s).await.unwrap();
    assert_eq!(ok[0], 0x00, "{}", String::from_utf8_lossy(&ok));
    let id = ok[1..5].to_vec();
    assert_eq!(
        (&ok[5..7], &ok[7..9]),
        (&[2, 0][..], &[0, 0][..]),
        "2 columns, no params"
    );
    for _ in 0..2 {
        read_packet(&mut s).await.unwrap();
    }
    assert_eq!(read_packet(&mut s).await.unwrap().1[0], 0xFE);

    // COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY: metadata only, and a cursor exists.
    let mut execute = vec![0x17];
    execute.extend_from_slice(&id);
    execute.push(0x01);
    execute.extend_from_slice(&1u32.to_le_bytes());
    write_packet(&mut s, 0, &execute).await.unwrap();
    assert_eq!(read_packet(&mut s).await.unwrap().1, vec![2]);
    for _ in 0..2 {
        read_packet(&mut s).await.unwrap();
    }
    let (_, eof) = read_packet(&mut s).await.unwrap();
    assert_eq!(eof[0], 0xFE);
    let status = u16::from_le_bytes([eof[3], eof[4]]);
    assert!(
        status & 0x40 != 0,
        "SERVER_STATUS_CURSOR_EXISTS: {status:#x}"
    );

    // COM_STMT_FETCH, three rows at a time, until the last row is sent.
    let mut rows = Vec::new();
    let mut fetches = 0;
    let read_all = async {
        loop {
            fetches += 1;
            let mut fetch = vec![0x1C];
            fetch.extend_from_slice(&id);
            fetch.extend_from_slice(&3u32.to_le_bytes());
            write_packet(&mut s, 0, &fetch).await.unwrap();
            let mut batch = 0;
            loop {
                let (_, p) = read_packet(&mut s).await.unwrap();
                match p[0] {
                    0x00 => {
                        // Binary row: header, NULL bitmap, INT, length-prefixed VARCHAR.
                        let n = i32::from_le_bytes(p[2..6].try_into().unwrap());
                        let len = usize::from(p[6]);
                        let label = String::from_utf8(p[7..7 + len].to_vec()).unwrap();
                        rows.push((n, label));
                        batch += 1;
                    }
                    0xFE => {
                        assert!(batch <= 3, "a fetch returns at most what it asked for");
                        let status = u16::from_le_bytes([p[3], p[4]]);
                        if status & 0x80 != 0 {
                            return; // SERVER_STATUS_LAST_ROW_SENT
                        }
                        break;
                    }
                    _ => panic!("unexpected packet: {}", String::from_utf8_lossy(&p)),
                }
            }
            assert!(fetches < 20, "the cursor never ended");
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .expect("the fetches completed");
    let expected: Vec<(i32, String)> = (1..=10).map(|i| (i, format!("row-{i}"))).collect();
    assert_eq!(rows, expected);
    assert!(
        fetches >= 4,
        "the rows came in batches of three: {fetches} fetches"
    );

    // COM_STMT_CLOSE (no answer), then the session is still in step.
    let mut close = vec![0x19];
    close.extend_from_slice(&id);
    write_packet(&mut s, 0, &close).await.unwrap();
    write_packet(&mut s, 0, b"\x03SELECT 'after the cursor'")
        .await
        .unwrap();
    assert_eq!(
        read_text_rows(&mut s).await,
        vec![vec![Some("after the cursor".into())]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_over_16_mib_go_as_com_stmt_send_long_data() {
    let server = mariadb_native();
    let proxy = Proxy::start_mysql(server, ProxyOpts::default()).await;
    let mut direct = mysql_direct(server).await;
    let mut conn = proxy.mysql().await;
    // The upstream session's own counter, read through sluice.
    let counter = "SHOW SESSION STATUS LIKE 'Com_stmt_send_long_data'";
    let before: (String, u64) = conn.query_first(counter).await.unwrap().unwrap();
    // mysql_async sends parameters whose total exceeds one packet as COM_STMT_SEND_LONG_DATA.
    let value: Vec<u8> = (0..(16u32 << 20) + 7).map(|i| (i % 251) as u8).collect();
    let got: Option<(i64, String)> = conn
        .exec_first("SELECT LENGTH(?), MD5(?)", (value.clone(), value.clone()))
        .await
        .unwrap();
    let after: (String, u64) = conn.query_first(counter).await.unwrap().unwrap();
    assert!(
        after.1 > before.1,
        "the database received long data: {before:?} → {after:?}"
    );
    let (len, md5) = got.unwrap();
    assert_eq!(len, value.len() as i64);
    let direct_md5: Option<String> = direct.exec_first("SELECT MD5(?)", (value,)).await.unwrap();
    assert_eq!(Some(md5), direct_md5, "the value arrived intact");
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1), "the session is in step afterwards");
}
