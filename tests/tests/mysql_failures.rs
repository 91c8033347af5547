//! MySQL failure handling through sluice: wrong credentials, a database that goes away and
//! comes back, malformed packets, connection limits, graceful shutdown.

use std::time::Duration;

use mysql_async::prelude::*;
use sluice_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads one packet: (seq, payload).
async fn read_packet(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 4];
    s.read_exact(&mut header).await?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await?;
    Ok((header[3], payload))
}

fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(payload);
    p
}

async fn still_serves(proxy: &Proxy) {
    let mut conn = proxy.mysql().await;
    let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
}

fn server_message(e: &mysql_async::Error) -> Option<String> {
    match e {
        mysql_async::Error::Server(s) => Some(s.message.clone()),
        _ => None,
    }
}

fn error_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_user_get_1045() {
    let proxy = Proxy::start_mysql(mariadb_native(), ProxyOpts::default()).await;
    for (user, pw) in [(USER, "wrong"), ("mallory", "x")] {
        let err = mysql_async::Conn::new(mysql_opts(proxy.port(), user, pw, Some("shop")))
            .await
            .unwrap_err();
        assert_eq!(error_code(&err), Some(1045), "{err}");
        // Word for word the server's text, host part included (mysql-test compares it).
        let direct = mysql_async::Conn::new(
            mysql_direct_opts(mariadb_native())
                .user(Some(user))
                .pass(Some(pw)),
        )
        .await
        .unwrap_err();
        assert_eq!(
            server_message(&err),
            Some(format!(
                "Access denied for user '{user}'@'127.0.0.1' (using password: YES)"
            )),
            "{err}"
        );
        assert_eq!(server_message(&err), server_message(&direct), "{direct}");
    }
    still_serves(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_then_back() {
    let mut upstream = MariaDbServer::start(MariaDbOptions::default()).unwrap();
    let proxy = Proxy::start_mysql(&upstream, ProxyOpts::default()).await;
    let mut before = proxy.mysql().await;
    let _: Option<i64> = before.query_first("SELECT 1").await.unwrap();
    upstream.stop().unwrap();

    let err = mysql_async::Conn::new(mysql_opts(proxy.port(), USER, PASSWORD, Some("shop")))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("1429") && text.contains("\"my\""), "{text}");
    // libmariadb (the `mariadb` CLI, mysqlclient, …) reads an ERR with a client-range code
    // (2000–2999) as a malformed packet: it must print sluice's own message.
    let cli = std::process::Command::new("mariadb")
        .args([
            "--no-defaults",
            "-h127.0.0.1",
            &format!("-P{}", proxy.port()),
        ])
        .args([
            format!("-u{USER}"),
            format!("-p{PASSWORD}"),
            "shop".into(),
            "-e".into(),
            "SELECT 1".into(),
        ])
        .output()
        .expect("the mariadb client runs");
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(
        stderr.contains("ERROR 1429") && stderr.contains("target \"my\" is unavailable"),
        "{stderr}"
    );
    let dead = tokio::time::timeout(
        Duration::from_secs(10),
        before.query_first::<i64, _>("SELECT 1"),
    )
    .await;
    assert!(
        matches!(dead, Ok(Err(_))),
        "a session on the dead server errors promptly"
    );

    // Sessions on another target are unaffected meanwhile.
    let other = Proxy::start_mysql(mariadb_native(), ProxyOpts::default()).await;
    still_serves(&other).await;

    upstream.restart().unwrap();
    still_serves(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_handshakes_close_only_that_connection() {
    let proxy = Proxy::start_mysql(mariadb_native(), ProxyOpts::default()).await;

    // A response with an out-of-order sequence id.
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let (seq, greeting) = read_packet(&mut s).await.unwrap();
    assert_eq!((seq, greeting[0]), (0, 10), "HandshakeV10");
    assert!(String::from_utf8_lossy(&greeting[1..40]).contains("-sluice"));
    s.write_all(&packet(5, &[0u8; 40])).await.unwrap();
    let (_, err) = read_packet(&mut s).await.unwrap();
    assert_eq!(
        &err[..3],
        &[0xFF, 0x84, 0x04],
        "ERR 1156 packets out of order"
    );

    // A truncated response.
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    read_packet(&mut s).await.unwrap();
    s.write_all(&packet(1, &[0x00, 0x02, 0x00, 0x00, 1]))
        .await
        .unwrap();
    let (_, err) = read_packet(&mut s).await.unwrap();
    assert_eq!(err[0], 0xFF);

    // A length header promising more than is sent, then EOF.
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    read_packet(&mut s).await.unwrap();
    s.write_all(&[0xFF, 0xFF, 0xFF, 1, 1, 2, 3]).await.unwrap();
    s.shutdown().await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "sluice closes the connection");

    // A 16 MiB+ split packet during the handshake is refused without a panic.
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    read_packet(&mut s).await.unwrap();
    let big = vec![0x41u8; 0xFF_FFFF];
    let _ = s.write_all(&packet(1, &big)).await;
    let _ = s.write_all(&packet(2, b"tail")).await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "sluice closes the connection");

    still_serves(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_command_packet_in_session_is_relayed() {
    let proxy = Proxy::start_mysql(mariadb_native(), ProxyOpts::default()).await;
    let mut conn = proxy.mysql().await;
    // A COM_QUERY of exactly one maximal packet plus a remainder.
    let pad = "x".repeat(0xFF_FFFF + 10 - "SELECT LENGTH('')".len() - 1);
    let len: Option<i64> = conn
        .query_first(format!("SELECT LENGTH('{pad}')"))
        .await
        .unwrap();
    assert_eq!(len, Some(pad.len() as i64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_gives_1040() {
    let proxy = Proxy::start_mysql(
        mariadb_native(),
        ProxyOpts {
            max_connections: 2,
            ..ProxyOpts::default()
        },
    )
    .await;
    let a = proxy.mysql().await;
    let _b = proxy.mysql().await;
    let err = mysql_async::Conn::new(mysql_opts(proxy.port(), USER, PASSWORD, Some("shop")))
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), Some(1040), "{err}");
    a.disconnect().await.unwrap();
    let mut ok = false;
    for _ in 0..20 {
        if mysql_async::Conn::new(mysql_opts(proxy.port(), USER, PASSWORD, Some("shop")))
            .await
            .is_ok()
        {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "a slot frees up when a client leaves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_a_running_statement_finish() {
    let mut proxy = Proxy::start_mysql(
        mariadb_native(),
        ProxyOpts {
            shutdown_grace: "5s",
            ..ProxyOpts::default()
        },
    )
    .await;
    let mut idle = proxy.mysql().await;
    let mut busy = proxy.mysql().await;
    let running =
        tokio::spawn(async move { busy.query_first::<i64, _>("SELECT SLEEP(1) + 41").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let left = proxy.shutdown().await;
    assert_eq!(left, 0);
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(running.await.unwrap().unwrap(), Some(41));
    assert!(
        idle.query_first::<i64, _>("SELECT 1").await.is_err(),
        "idle sessions are closed"
    );
    assert!(
        TcpStream::connect(proxy.addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_restriction_is_enforced() {
    let proxy = Proxy::start_mysql(
        mariadb_native(),
        ProxyOpts {
            database: Some("shop".into()),
            ..ProxyOpts::default()
        },
    )
    .await;
    let err = mysql_async::Conn::new(mysql_opts(proxy.port(), USER, PASSWORD, Some("mysql")))
        .await
        .unwrap_err();
    assert_eq!(error_code(&err), Some(1044), "{err}");
    let mut conn = mysql_async::Conn::new(mysql_opts(proxy.port(), USER, PASSWORD, None))
        .await
        .unwrap();
    let db: Option<String> = conn.query_first("SELECT DATABASE()").await.unwrap();
    assert_eq!(
        db.as_deref(),
        Some("shop"),
        "no database asked: the target's"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_packets_after_login_end_only_that_session() {
    use sluice_tests::mysql_wire::{
        full_auth_login, read_packet as read_any, read_text_rows, write_packet,
    };
    let proxy = Proxy::start_mysql(
        mariadb_native(),
        ProxyOpts {
            client_tls: Some(false),
            ..ProxyOpts::default()
        },
    )
    .await;
    let mut bystander = proxy.mysql().await;
    bystander.query_drop("SET @mark = 7").await.unwrap();
    async fn bystander_ok(conn: &mut mysql_async::Conn) {
        let mark: Option<i64> = conn.query_first("SELECT @mark").await.unwrap();
        assert_eq!(mark, Some(7), "the bystander's session is intact");
    }
    /// Waits for sluice to end the connection; whatever it sent first is returned.
    async fn ended<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "sluice closes the connection");
        rest
    }

    // An unknown command byte is answered with an error, and the session goes on.
    let (ok, mut s) = full_auth_login(&proxy, USER, PASSWORD).await;
    assert_eq!(ok[0], 0x00);
    write_packet(&mut s, 0, &[0xEE, 1, 2, 3]).await.unwrap();
    let (_, err) = read_any(&mut s).await.unwrap();
    assert_eq!(&err[..3], &[0xFF, 0x17, 0x04], "ERR 1047 unknown command");
    write_packet(&mut s, 0, b"\x03SELECT 'still here'")
        .await
        .unwrap();
    assert_eq!(
        read_text_rows(&mut s).await,
        vec![vec![Some("still here".into())]]
    );
    bystander_ok(&mut bystander).await;

    // A COM_QUERY whose length header promises more than is sent, then the client closes.
    let (_, mut s) = full_auth_login(&proxy, USER, PASSWORD).await;
    s.write_all(&[100, 0, 0, 0, 0x03, b'S', b'E', b'L'])
        .await
        .unwrap();
    s.flush().await.unwrap();
    s.shutdown().await.unwrap();
    ended(&mut s).await;
    bystander_ok(&mut bystander).await;

    // A command packet with an out-of-order sequence id: the database's "packets out of
    // order" error, then the end of that session; never an answer as if it were a command.
    let (_, mut s) = full_auth_login(&proxy, USER, PASSWORD).await;
    write_packet(&mut s, 5, b"\x03SELECT 'out of order'")
        .await
        .unwrap();
    let (_, err) = tokio::time::timeout(Duration::from_secs(5), read_any(&mut s))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    assert_eq!(
        &err[..3],
        &[0xFF, 0x84, 0x04],
        "ERR 1156: {}",
        String::from_utf8_lossy(&err)
    );
    ended(&mut s).await;
    bystander_ok(&mut bystander).await;

    // Garbage straight after the handshake: a length of 16 MiB - 1 and random bytes, then EOF.
    let (_, mut s) = full_auth_login(&proxy, USER, PASSWORD).await;
    let garbage: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    s.write_all(&[0xFF, 0xFF, 0xFF, 0]).await.unwrap();
    s.write_all(&garbage).await.unwrap();
    s.flush().await.unwrap();
    s.shutdown().await.unwrap();
    ended(&mut s).await;

    bystander_ok(&mut bystander).await;
    let two: Option<i64> = bystander.query_first("SELECT 2").await.unwrap();
    assert_eq!(two, Some(2));
    still_serves(&proxy).await;
}
