//! Failure handling through sluice: bad credentials, a database that goes away and comes back,
//! malformed and hostile traffic, TLS policy, forged cancels, connection limits, shutdown and
//! database restrictions. Each failure must hit only the connection that caused it.

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use sluice_tests::raw_pg::{raw_login_as, read_msg, sqlstate};
use sluice_tests::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

/// Reads messages until sluice closes the connection (EOF or reset); fails after `limit`.
async fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Vec<(u8, Vec<u8>)> {
    let mut got = Vec::new();
    timeout(limit, async {
        while let Ok(m) = read_msg(s).await {
            got.push(m);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("connection still open after {limit:?}; got {got:?}"));
    got
}

/// Asserts the messages are exactly one ErrorResponse with `code`.
fn assert_single_error(msgs: &[(u8, Vec<u8>)], code: &str) {
    assert_eq!(msgs.len(), 1, "expected one ErrorResponse, got {msgs:?}");
    assert_eq!(msgs[0].0, b'E', "{msgs:?}");
    assert_eq!(
        sqlstate(&msgs[0].1),
        code,
        "{:?}",
        String::from_utf8_lossy(&msgs[0].1)
    );
}

/// Logs in as alice on a raw socket, SCRAM done by hand; returns the socket, ready for a query,
/// and the BackendKeyData (pid, secret) sluice issued.
async fn raw_login(addr: SocketAddr) -> (TcpStream, (i32, i32)) {
    let (s, key) = raw_login_as(addr, USER, PASSWORD).await;
    match key {
        Ok(key) => (s, key),
        Err(body) => panic!("login failed: {}", String::from_utf8_lossy(&body)),
    }
}

/// Sends a simple Query on a raw session.
async fn send_query(s: &mut TcpStream, sql: &str) {
    let mut buf = BytesMut::new();
    frontend::query(sql, &mut buf).unwrap();
    s.write_all(&buf).await.unwrap();
}

/// Reads a raw session's messages up to and including ReadyForQuery.
async fn read_until_ready(s: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut msgs: Vec<(u8, Vec<u8>)> = Vec::new();
    while msgs.last().is_none_or(|(tag, _)| *tag != b'Z') {
        msgs.push(read_msg(s).await.unwrap());
    }
    msgs
}

/// Runs `psql -At -c 'select 1'` with `conn`; its stdout when it succeeded, else its stderr.
fn psql_select_1(conn: &str) -> Result<String, String> {
    let out = psql(conn, &["-At", "-c", "select 1"]);
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    match out.status.success() {
        true => Ok(text(&out.stdout)),
        false => Err(text(&out.stderr)),
    }
}

/// Sends a CancelRequest for (pid, secret) to `addr`; waits until sluice closes the connection.
async fn send_cancel(addr: SocketAddr, pid: i32, secret: i32) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = BytesMut::new();
    frontend::cancel_request(pid, secret, &mut buf);
    s.write_all(&buf).await.unwrap();
    let msgs = read_until_closed(&mut s, Duration::from_secs(10)).await;
    assert!(msgs.is_empty(), "a cancel gets no answer: {msgs:?}");
}

/// A normal tokio-postgres login and query through `proxy` works.
async fn assert_serves(proxy: &Proxy) {
    let client = proxy.connect().await;
    let n: i32 = client.query_one("SELECT 41 + 1", &[]).await.unwrap().get(0);
    assert_eq!(n, 42);
}

/// The SQLSTATE and message of a failed tokio-postgres connection.
fn db_error(e: &tokio_postgres::Error) -> (SqlState, String) {
    let db = e
        .as_db_error()
        .unwrap_or_else(|| panic!("not a server error: {e:?}"));
    (db.code().clone(), db.message().to_string())
}

/// Panics raised outside the test code (that is, in sluice's tasks), recorded from first use.
fn foreign_panics() -> &'static Mutex<Vec<String>> {
    static PANICS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    PANICS.get_or_init(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let loc = info
                .location()
                .map(|l| l.file().to_string())
                .unwrap_or_default();
            if !loc.starts_with("tests/") {
                if let Some(p) = PANICS.get() {
                    p.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(format!("{info}"));
                }
            }
            default(info)
        }));
        Mutex::new(Vec::new())
    })
}

fn random_u32() -> u32 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_28p01_and_the_proxy_keeps_serving() {
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    let err = proxy
        .try_connect(USER, "not-the-password")
        .await
        .unwrap_err();
    let (code, msg) = db_error(&err);
    assert_eq!(code, SqlState::INVALID_PASSWORD, "{msg}");
    assert_eq!(
        msg,
        format!("password authentication failed for user \"{USER}\"")
    );
    assert_serves(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_looks_exactly_like_a_wrong_password() {
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    let err = proxy.try_connect("mallory", "whatever").await.unwrap_err();
    let (code, msg) = db_error(&err);
    assert_eq!(code, SqlState::INVALID_PASSWORD, "{msg}");
    assert_eq!(msg, "password authentication failed for user \"mallory\"");
    assert_serves(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_then_back() {
    let mut server = tokio::task::block_in_place(|| PgServer::start(PgOptions::default()))
        .unwrap_or_else(|e| panic!("cannot start a throwaway PostgreSQL: {e:#}"));
    let proxy = Proxy::start(&server, ProxyOpts::default()).await;
    let a = proxy.connect().await;
    a.simple_query("SELECT 1").await.unwrap();

    tokio::task::block_in_place(|| server.stop()).unwrap();
    let err = proxy.try_connect(USER, PASSWORD).await.unwrap_err();
    let (code, msg) = db_error(&err);
    assert_eq!(code, SqlState::CONNECTION_FAILURE, "{msg}");
    assert!(
        msg.contains("\"pg\""),
        "the message names the target: {msg}"
    );
    let next = timeout(Duration::from_secs(10), a.simple_query("SELECT 1"))
        .await
        .expect("a query on a session whose database died must not hang");
    assert!(next.is_err(), "a session whose database died cannot answer");

    // Other targets do not care.
    let other = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    assert_serves(&other).await;

    tokio::task::block_in_place(|| server.restart()).unwrap();
    assert_serves(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_startup_packets_are_refused() {
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;

    // A length below the minimum: closed without a session.
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    s.write_all(&[0, 0, 0, 3]).await.unwrap();
    let msgs = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(msgs.iter().all(|(tag, _)| *tag == b'E'), "{msgs:?}");

    // Protocol 9.9: told why, then closed.
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let mut packet = 8u32.to_be_bytes().to_vec();
    packet.extend_from_slice(&((9u32 << 16) | 9).to_be_bytes());
    s.write_all(&packet).await.unwrap();
    let msgs = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert_single_error(&msgs, "0A000");

    assert_serves(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_huge_and_unknown_messages_end_only_that_session() {
    let panics = foreign_panics();
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    let bystander = proxy.connect().await;

    // (a) A Query claiming 100 bytes, 10 sent, then EOF.
    let (mut s, _) = raw_login(proxy.addr).await;
    let mut msg = vec![b'Q'];
    msg.extend_from_slice(&100u32.to_be_bytes());
    msg.extend_from_slice(b"SELECT 1;\0");
    s.write_all(&msg).await.unwrap();
    s.shutdown().await.unwrap();
    let msgs = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(msgs.iter().all(|(tag, _)| *tag == b'E'), "{msgs:?}");
    assert_serves(&proxy).await;

    // (b) A claimed 1 GiB message is refused at once, without waiting for it.
    let (mut s, _) = raw_login(proxy.addr).await;
    s.write_all(&[b'Q', 0x40, 0, 0, 0]).await.unwrap();
    let msgs = read_until_closed(&mut s, Duration::from_secs(2)).await;
    assert_single_error(&msgs, "08P01");
    assert_serves(&proxy).await;

    // (c) An unknown message type.
    let (mut s, _) = raw_login(proxy.addr).await;
    s.write_all(&[b'!', 0, 0, 0, 4]).await.unwrap();
    let msgs = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert_single_error(&msgs, "08P01");
    assert_serves(&proxy).await;

    let n: i32 = bystander.query_one("SELECT 7", &[]).await.unwrap().get(0);
    assert_eq!(n, 7, "the other session was not disturbed");
    let panics = panics.lock().unwrap().clone();
    assert!(panics.is_empty(), "sluice panicked: {panics:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_is_refused_when_tls_is_required() {
    let proxy = Proxy::start(
        pg_scram(),
        ProxyOpts {
            client_tls: Some(true),
            ..ProxyOpts::default()
        },
    )
    .await;
    let err = proxy.try_connect(USER, PASSWORD).await.unwrap_err();
    let (code, msg) = db_error(&err);
    assert_eq!(code, SqlState::INVALID_AUTHORIZATION_SPECIFICATION, "{msg}");
    assert!(msg.contains("TLS"), "{msg}");
    let n: i32 = proxy
        .connect_tls()
        .await
        .query_one("SELECT 3", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);

    let stderr = psql_select_1(&proxy.conn_str(USER, PASSWORD, "sslmode=disable"))
        .expect_err("psql without TLS got in");
    assert!(stderr.contains("TLS"), "{stderr}");
    let tls = proxy.conn_str(USER, PASSWORD, "sslmode=require");
    assert_eq!(psql_select_1(&tls).as_deref(), Ok("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_cancel_key_cancels_nothing() {
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    let (mut s, (pid, secret)) = raw_login(proxy.addr).await;

    let started = Instant::now();
    send_query(&mut s, "SELECT pg_sleep(2)").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    send_cancel(proxy.addr, pid, secret ^ 0x5a5a_5a5a).await;
    send_cancel(proxy.addr, random_u32() as i32, random_u32() as i32).await;
    let msgs = read_until_ready(&mut s).await;
    assert!(
        msgs.iter().all(|(tag, _)| *tag != b'E'),
        "the statement was disturbed: {msgs:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );

    // The control: the real key does cancel, so the forged ones were well-formed requests.
    send_query(&mut s, "SELECT pg_sleep(20)").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    send_cancel(proxy.addr, pid, secret).await;
    let msgs = timeout(Duration::from_secs(5), read_until_ready(&mut s))
        .await
        .expect("the real key cancels");
    let err = msgs.iter().find(|(tag, _)| *tag == b'E').expect("an error");
    assert_eq!(sqlstate(&err.1), "57014");
    send_query(&mut s, "SELECT 1").await;
    assert_eq!(
        read_until_ready(&mut s).await[0].0,
        b'T',
        "the session lives on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_is_enforced_and_freed() {
    let proxy = Proxy::start(
        pg_scram(),
        ProxyOpts {
            max_connections: 2,
            ..ProxyOpts::default()
        },
    )
    .await;
    let first = proxy.connect().await;
    let second = proxy.connect().await;
    let err = proxy.try_connect(USER, PASSWORD).await.unwrap_err();
    let (code, msg) = db_error(&err);
    assert_eq!(code, SqlState::TOO_MANY_CONNECTIONS, "{msg}");

    drop(first);
    let deadline = Instant::now() + Duration::from_secs(2);
    let third = loop {
        match proxy.try_connect(USER, PASSWORD).await {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(db_error(&e).0, SqlState::TOO_MANY_CONNECTIONS);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the slot was not freed within 2 s: {e}"),
        }
    };
    for c in [&second, &third] {
        c.simple_query("SELECT 1").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_running_statements_and_closes_idle_ones() {
    let mut proxy = Proxy::start(
        pg_scram(),
        ProxyOpts {
            shutdown_grace: "5s",
            ..ProxyOpts::default()
        },
    )
    .await;
    let idle = proxy.connect().await;
    let busy = proxy.connect().await;
    let running = tokio::spawn(async move {
        busy.query_one("SELECT pg_sleep(1)::text || 'slept'", &[])
            .await
            .map(|r| r.get::<_, String>(0))
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let began = Instant::now();
    let left = proxy.shutdown().await;
    assert_eq!(left, 0, "sessions left after shutdown");
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        began.elapsed()
    );
    assert_eq!(running.await.unwrap().unwrap(), "slept");
    let err = idle.simple_query("SELECT 1").await.unwrap_err();
    assert!(err.is_closed() || err.code().is_some(), "{err:?}");
    assert!(
        TcpStream::connect(proxy.addr).await.is_err(),
        "the listener is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_restriction_is_enforced() {
    let proxy = Proxy::start(
        pg_scram(),
        ProxyOpts {
            database: Some("app".into()),
            ..ProxyOpts::default()
        },
    )
    .await;
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(proxy.port())
        .user(USER)
        .password(PASSWORD);
    let err = config
        .clone()
        .dbname("postgres")
        .connect(NoTls)
        .await
        .err()
        .expect("dbname=postgres refused");
    let (code, msg) = db_error(&err);
    assert_eq!(code, SqlState::INVALID_CATALOG_NAME, "{msg}");
    let (client, conn) = config.dbname("app").connect(NoTls).await.unwrap();
    tokio::spawn(conn);
    let db: String = client
        .query_one("SELECT current_database()::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(db, "app");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_tls_policy_failures_are_08006() {
    let untrusted = Proxy::start(
        pg(PgAuth::Scram, true),
        ProxyOpts {
            upstream_tls: "verify-full",
            upstream_ca_matches: false,
            ..ProxyOpts::default()
        },
    )
    .await;
    let err = untrusted.try_connect(USER, PASSWORD).await.unwrap_err();
    let (code, msg) = db_error(&err);
    assert_eq!(code, SqlState::CONNECTION_FAILURE, "{msg}");
    assert!(msg.contains("\"pg\""), "{msg}");

    let no_tls = Proxy::start(
        pg_scram(),
        ProxyOpts {
            upstream_tls: "require",
            ..ProxyOpts::default()
        },
    )
    .await;
    let err = no_tls.try_connect(USER, PASSWORD).await.unwrap_err();
    let (code, msg) = db_error(&err);
    assert_eq!(code, SqlState::CONNECTION_FAILURE, "{msg}");
    assert!(msg.contains("TLS"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_binding_needs_tls() {
    let proxy = Proxy::start(
        pg_scram(),
        ProxyOpts {
            client_tls: Some(false),
            ..ProxyOpts::default()
        },
    )
    .await;
    let bound = proxy.conn_str(USER, PASSWORD, "sslmode=require channel_binding=require");
    assert_eq!(psql_select_1(&bound).as_deref(), Ok("1"));
    let plain = proxy.conn_str(USER, PASSWORD, "sslmode=disable channel_binding=require");
    let stderr = psql_select_1(&plain).expect_err("channel binding without TLS cannot succeed");
    assert!(stderr.contains("channel binding"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_the_listener_before_returning() {
    // With no sessions, shutdown() returns at once; the port must be closed by then. Repeated,
    // because a listener that lingers does so only for a moment.
    for round in 0..20 {
        let mut proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
        assert_eq!(proxy.shutdown().await, 0);
        // A connect to a closed port in the ephemeral range can meet itself (TCP simultaneous
        // open, the kernel picking that very port as the source): that is no listener.
        let accepted = TcpStream::connect(proxy.addr)
            .await
            .is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok());
        assert!(
            !accepted,
            "round {round}: a connection was accepted after shutdown() returned"
        );
    }
}

/// One frontend message: tag, length, body.
fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Parse + Bind + Execute + Sync for `sql`, with no parameters and text results.
fn extended_group(statement: &str, portal: &str, sql: Option<&str>) -> Vec<u8> {
    let cstr = |s: &str| [s.as_bytes(), b"\0"].concat();
    let mut out = Vec::new();
    if let Some(sql) = sql {
        out.extend(frame(
            b'P',
            &[cstr(statement), cstr(sql), 0u16.to_be_bytes().to_vec()].concat(),
        ));
    }
    // Bind: no parameter formats, no parameters, no result formats.
    out.extend(frame(
        b'B',
        &[cstr(portal), cstr(statement), vec![0; 6]].concat(),
    ));
    out.extend(frame(
        b'E',
        &[cstr(portal), 0u32.to_be_bytes().to_vec()].concat(),
    ));
    out.extend(frame(b'S', &[]));
    out
}

/// The message field `code` (`M` message, `C` SQLSTATE…) of an ErrorResponse body.
fn error_field(body: &[u8], code: u8) -> String {
    body.split(|&b| b == 0)
        .find(|f| f.first() == Some(&code))
        .map(|f| String::from_utf8_lossy(&f[1..]).into_owned())
        .unwrap_or_default()
}

/// The first column of a DataRow body, as text.
fn first_cell(body: &[u8]) -> String {
    let len = i32::from_be_bytes(body[2..6].try_into().unwrap()) as usize;
    String::from_utf8_lossy(&body[6..6 + len]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_parse_discards_its_sync_group_and_the_session_lives_on() {
    let upstream = pg_scram();
    let proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: "[[rules]]\nname = \"no-drop\"\nwhen = { statements = [\"drop\"] }\naction = \"block\"\nmessage = \"no drops\"\n".into(),
            ..ProxyOpts::default()
        },
    )
    .await;
    let (direct, conn) = tokio_postgres::connect(&direct_conn_str(upstream), NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let v = unique("parse_victim");
    direct
        .batch_execute(&format!(
            "CREATE TABLE {v} (n int); INSERT INTO {v} VALUES (1), (2), (3)"
        ))
        .await
        .unwrap();

    let (mut s, _) = raw_login(proxy.addr).await;
    // Three Sync groups in one write: the refused one (named statement and portal), a working
    // one, and one that binds the refused statement's name, which must not exist upstream.
    let mut pipeline = extended_group("s1", "p1", Some(&format!("DROP TABLE {v}")));
    pipeline.extend(extended_group("", "", Some("SELECT 41 + 1")));
    pipeline.extend(extended_group("s1", "p2", None));
    s.write_all(&pipeline).await.unwrap();

    let refused = timeout(Duration::from_secs(10), read_until_ready(&mut s))
        .await
        .expect("the refused group is answered");
    let tags: Vec<char> = refused.iter().map(|(t, _)| char::from(*t)).collect();
    assert_eq!(
        tags,
        ['E', 'Z'],
        "one error, then the rest of the group is discarded: {refused:?}"
    );
    assert_eq!(sqlstate(&refused[0].1), "42501");
    assert!(
        error_field(&refused[0].1, b'M').contains("no-drop"),
        "{:?}",
        String::from_utf8_lossy(&refused[0].1)
    );
    assert_eq!(refused[1].1, b"I", "not in a transaction");

    let working = read_until_ready(&mut s).await;
    let tags: Vec<char> = working.iter().map(|(t, _)| char::from(*t)).collect();
    assert_eq!(tags, ['1', '2', 'D', 'C', 'Z'], "{working:?}");
    assert_eq!(first_cell(&working[2].1), "42");

    let missing = read_until_ready(&mut s).await;
    let tags: Vec<char> = missing.iter().map(|(t, _)| char::from(*t)).collect();
    assert_eq!(tags, ['E', 'Z'], "{missing:?}");
    assert_eq!(
        sqlstate(&missing[0].1),
        "26000",
        "the refused statement was never prepared: {:?}",
        String::from_utf8_lossy(&missing[0].1)
    );

    send_query(&mut s, &format!("SELECT count(*) FROM {v}")).await;
    let rows = read_until_ready(&mut s).await;
    let tags: Vec<char> = rows.iter().map(|(t, _)| char::from(*t)).collect();
    assert_eq!(tags, ['T', 'D', 'C', 'Z'], "{rows:?}");
    assert_eq!(first_cell(&rows[1].1), "3", "the table is untouched");
    let n: i64 = direct
        .query_one(&format!("SELECT count(*) FROM {v}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_key_the_client_sees_is_sluices_own() {
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let (mut s, (pid, _secret)) = raw_login(proxy.addr).await;
        send_query(&mut s, "SELECT pg_backend_pid()").await;
        let msgs = read_until_ready(&mut s).await;
        let row = msgs
            .iter()
            .find(|(tag, _)| *tag == b'D')
            .unwrap_or_else(|| panic!("no row: {msgs:?}"));
        let upstream_pid: i32 = first_cell(&row.1).parse().unwrap();
        seen.push((pid, upstream_pid, s));
    }
    let upstream_pids: Vec<i32> = seen.iter().map(|(_, u, _)| *u).collect();
    for (pid, upstream_pid, _) in &seen {
        assert!(
            !upstream_pids.contains(pid),
            "BackendKeyData pid {pid} is an upstream backend pid (this session's is {upstream_pid})"
        );
    }
    let mut pids: Vec<i32> = seen.iter().map(|(p, _, _)| *p).collect();
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 3, "each session gets its own key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_login_is_logged_with_the_peer_address_and_the_reason() {
    let logs = captured_logs();
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    for (user, password, reason) in [
        (USER, "not-the-password", "password authentication failed"),
        // An unknown user is run through a mock verifier, so the log gives the same reason.
        ("mallory", "whatever", "password authentication failed"),
    ] {
        let (s, result) = raw_login_as(proxy.addr, user, password).await;
        let body = result.expect_err("the login must fail");
        assert_eq!(sqlstate(&body), "28P01");
        // The client is told nothing more than 28P01; the log says why.
        assert_eq!(
            error_field(&body, b'M'),
            format!("password authentication failed for user \"{user}\"")
        );
        let peer = s.local_addr().unwrap();
        let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
        let line = text
            .lines()
            // Other tests log failed logins too, and ports are reused: the newest line for this
            // peer and user is this login's.
            .rev()
            .find(|l| {
                l.contains("authentication failed")
                    && l.contains(&format!("peer={peer} "))
                    && l.contains(&format!("user={user} "))
            })
            .unwrap_or_else(|| panic!("no log line for the failed login from {peer}:\n{text}"));
        assert!(
            line.contains("WARN")
                && line.contains(&format!("user={user} "))
                && line.contains(&format!("reason={reason}"))
                && line.contains("target=pg"),
            "{line}"
        );
    }
    assert_serves(&proxy).await;
}
