//! A database that misbehaves after a valid login: malformed, oversized, out-of-order, endless
//! and missing answers (the fakes of `support/hostile.rs`). sluice must end only the session
//! that met the misbehaviour, with the error a client of that protocol expects for a lost
//! database (PostgreSQL 08006, MySQL 1927), or let it go once its client leaves; never panic;
//! keep its memory bounded; serve every other session; and record each session's end.
//!
//! And a database that takes the TCP connection and never answers (an overflowed accept
//! queue): the session's way in is bounded by the target's `connect_timeout` (2 s here), not
//! the client's `handshake_timeout` (60 s), and the error names the target and the step.

#[path = "support/hostile.rs"]
mod hostile;

use std::time::Duration;

use futures_util::StreamExt;
use hostile::{Fake, Misbehaviour, HOLD};
use sluice_tests::mysql_wire::{full_auth_login, read_packet, write_packet};
use sluice_tests::*;
use tokio::time::timeout;
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, SimpleQueryMessage};

const KEY_ENV: &str = "SLUICE_TEST_HOSTILE_AUDIT_KEY";

/// The memory checks measure this process, which runs sluice: one scenario at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How much more resident memory than at the start a scenario may leave sluice with. A
/// session's buffers are bounded by their high-water marks (256 KiB each way) and frame
/// reservations by 1 MiB; an unbounded buffer of an endless answer grows by gigabytes.
const RSS_SLACK_KIB: u64 = 128 * 1024;

/// This process's resident set, in KiB, from /proc.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn assert_bounded(baseline: u64, when: &str) {
    let now = rss_kib();
    assert!(
        now < baseline + RSS_SLACK_KIB,
        "{when}: resident memory grew from {baseline} KiB to {now} KiB"
    );
}

async fn proxy_for(fake: &Fake, protocol: &'static str) -> Proxy {
    std::env::set_var(KEY_ENV, "hostile-upstream-audit-key");
    let spec = UpstreamSpec {
        protocol,
        addr: fake.addr.to_string(),
        user: "app".into(),
        password: "app".into(),
        database: "app".into(),
        ca: None,
    };
    let opts = ProxyOpts {
        // The raw MySQL client logs in with full authentication, which needs TLS.
        client_tls: (protocol == "mysql").then_some(false),
        extra_config: audit_section(KEY_ENV),
        ..ProxyOpts::default()
    };
    Proxy::try_start(spec, opts)
        .await
        .unwrap_or_else(|e| panic!("sluice did not start: {e}"))
}

/// Every audit record, by session, in session order.
fn audit_sessions(proxy: &Proxy) -> std::collections::BTreeMap<u64, Vec<serde_json::Value>> {
    let reader = audit::AuditReader::open(proxy.dir.path().join("audit")).expect("the log opens");
    let mut out = Vec::new();
    audit::export_jsonl(&reader, &audit::Filter::default(), &mut out).expect("export");
    let mut sessions = std::collections::BTreeMap::<u64, Vec<serde_json::Value>>::new();
    for line in String::from_utf8_lossy(&out).lines() {
        let r: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        if let Some(session) = r["session"].as_u64() {
            sessions.entry(session).or_default().push(r);
        }
    }
    sessions
}

/// The `reason` of each session's `session_end`, in session order (`None`: still open), once
/// `ended` of them have one or 5 s have passed.
async fn end_reasons(proxy: &Proxy, ended: usize) -> Vec<Option<String>> {
    let mut reasons = Vec::new();
    for _ in 0..100 {
        reasons = audit_sessions(proxy)
            .into_values()
            .filter(|records| records.iter().any(|r| r["kind"] == "session_start"))
            .map(|records| {
                let last = records.last().filter(|r| r["kind"] == "session_end")?;
                Some(last["reason"].as_str().unwrap_or_default().to_string())
            })
            .collect();
        if reasons.iter().flatten().count() >= ended {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reasons
}

/// Whether a session's recorded end blames what ended it: the database for a misbehaviour
/// sluice detects, the client (which closed, reset the connection with rows unread, or left
/// TLS without close_notify) for the others.
fn end_fits(m: Misbehaviour, detected: &[Misbehaviour], reason: &str) -> bool {
    match detected.contains(&m) {
        true => reason.starts_with("UpstreamLost"),
        false => reason.starts_with("ClientClosed") || reason.starts_with("ClientProtocol"),
    }
}

/// The bystander (the first session) is still open and each victim's end is recorded, with
/// the cause expected of its misbehaviour.
async fn assert_ends_recorded(proxy: &Proxy, detected: &[Misbehaviour]) {
    let reasons = end_reasons(proxy, Misbehaviour::ALL.len()).await;
    assert_eq!(reasons.len(), 1 + Misbehaviour::ALL.len(), "{reasons:?}");
    assert_eq!(reasons[0], None, "the bystander's session is still open");
    for (m, reason) in Misbehaviour::ALL.into_iter().zip(&reasons[1..]) {
        let reason = reason.as_deref().unwrap_or("no session_end record");
        assert!(
            end_fits(m, detected, reason),
            "{m:?}: session ended with {reason}"
        );
    }
}

/// The `connect_timeout` of the test targets (see `tests/src/lib.rs`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How late after `connect_timeout` a client may hear of it: sluice's own work, on a busy
/// machine. Far below the 60 s `handshake_timeout` that applied before.
const TIMEOUT_SLACK: Duration = Duration::from_secs(4);

fn assert_in_time(started: std::time::Instant, what: &str) {
    let took = started.elapsed();
    assert!(
        took >= CONNECT_TIMEOUT && took < CONNECT_TIMEOUT + TIMEOUT_SLACK,
        "{what}: the client heard after {took:?}, connect_timeout is {CONNECT_TIMEOUT:?}"
    );
}

/// The last session's recorded end, which must say the database timed out at `step`.
async fn assert_timeout_recorded(proxy: &Proxy, step: &str) {
    let reasons = end_reasons(proxy, 1).await;
    let last = reasons.last().cloned().flatten().unwrap_or_default();
    assert!(
        last.starts_with("UpstreamUnavailable") && last.contains("connect_timeout"),
        "{last}"
    );
    assert!(last.contains(step), "{last}");
}

// ---------------------------------------------------------------- PostgreSQL

/// A tokio-postgres session as alice, named `name`; aborting the handle drops its socket.
async fn pg_session(
    proxy: &Proxy,
    name: &str,
) -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
    let conn_str = proxy.conn_str(USER, PASSWORD, &format!("application_name={name}"));
    let (client, conn) = tokio_postgres::connect(&conn_str, NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect through sluice: {e}"));
    let task = tokio::spawn(async move {
        let _ = conn.await;
    });
    (client, task)
}

async fn assert_pg_serves(client: &tokio_postgres::Client, after: Misbehaviour) {
    let rows = timeout(Duration::from_secs(5), client.simple_query("SELECT 1"))
        .await
        .unwrap_or_else(|_| panic!("after {after:?}: the bystander's query hangs"))
        .unwrap_or_else(|e| panic!("after {after:?}: the bystander's query fails: {e}"));
    let value = rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(value.as_deref(), Some("1"), "after {after:?}");
}

/// The error a misbehaviour that sluice detects (or that ends the upstream connection) gives.
async fn pg_lost(client: &tokio_postgres::Client, m: Misbehaviour, limit: Duration) {
    let sql = format!("SELECT '{}'", m.word());
    let err = timeout(limit, client.simple_query(&sql))
        .await
        .unwrap_or_else(|_| panic!("{m:?}: no answer within {limit:?}"))
        .expect_err("the statement fails");
    assert_eq!(
        err.code(),
        Some(&SqlState::CONNECTION_FAILURE),
        "{m:?}: {err}"
    );
    let message = err.as_db_error().map(|e| e.message()).unwrap_or_default();
    assert!(
        message.contains("lost the connection to the database of target \"pg\""),
        "{m:?}: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_postgres_upstream_ends_only_its_own_session() {
    let _serial = SERIAL.lock().await;
    let fake = Fake::pg().await;
    let proxy = proxy_for(&fake, "postgres").await;
    let (bystander, _bystander_conn) = pg_session(&proxy, "bystander").await;
    assert_pg_serves(&bystander, Misbehaviour::Silent).await;
    let baseline = rss_kib();
    let mut closed = 0;
    for m in Misbehaviour::ALL {
        let (victim, conn) = pg_session(&proxy, m.word()).await;
        let sql = format!("SELECT '{}'", m.word());
        match m {
            Misbehaviour::Malformed | Misbehaviour::Oversized => {
                pg_lost(&victim, m, Duration::from_secs(5)).await;
                closed += 1;
            }
            Misbehaviour::Gigabyte => {
                let during = async {
                    tokio::time::sleep(HOLD / 2).await;
                    assert_bounded(baseline, "a 1 GiB message announced, 64 KiB sent");
                };
                let (_, ()) = tokio::join!(pg_lost(&victim, m, HOLD * 3), during);
            }
            Misbehaviour::OutOfOrder => {
                let answer = timeout(Duration::from_secs(5), victim.simple_query(&sql)).await;
                let answer = answer.expect("an answer, not a hang");
                assert!(
                    answer.is_err(),
                    "out-of-order messages cannot make a result"
                );
                // The client gives up on the connection; sluice lets go of the database.
                conn.abort();
                closed += 1;
            }
            Misbehaviour::Endless => {
                let stream = victim
                    .simple_query_raw(&sql)
                    .await
                    .expect("the query starts");
                let rows = stream.take(5_000).count().await;
                assert_eq!(rows, 5_000, "rows stream before the answer ends");
                // The client stops reading: back-pressure, not buffering, holds the rest.
                tokio::time::sleep(Duration::from_secs(1)).await;
                assert_bounded(baseline, "an endless result the client stopped reading");
                conn.abort();
                closed += 1;
            }
            Misbehaviour::Silent => {
                let waited = timeout(Duration::from_secs(1), victim.simple_query(&sql)).await;
                assert!(
                    waited.is_err(),
                    "sluice made up an answer the database never gave"
                );
                conn.abort();
                closed += 1;
            }
        }
        assert!(
            fake.wait_closed(closed, Duration::from_secs(10)).await,
            "after {m:?}: sluice still holds the database connection ({} of {closed} closed)",
            fake.closed_by_sluice()
        );
        assert_pg_serves(&bystander, m).await;
        assert_bounded(baseline, &format!("after {m:?}"));
    }
    let detected = [
        Misbehaviour::Malformed,
        Misbehaviour::Oversized,
        Misbehaviour::Gigabyte,
    ];
    assert_ends_recorded(&proxy, &detected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_upstream_that_never_answers_the_login_is_cut_at_connect_timeout() {
    let _serial = SERIAL.lock().await;
    let fake = Fake::pg().await;
    fake.set_mute(true);
    let proxy = proxy_for(&fake, "postgres").await;
    let started = std::time::Instant::now();
    let conn_str = proxy.conn_str(USER, PASSWORD, "");
    let err = match timeout(
        Duration::from_secs(30),
        tokio_postgres::connect(&conn_str, NoTls),
    )
    .await
    .expect("an answer before the client gives up")
    {
        Ok(_) => panic!("a database that never answers cannot make a session"),
        Err(e) => e,
    };
    assert_in_time(started, "PostgreSQL login");
    assert_eq!(err.code(), Some(&SqlState::CONNECTION_FAILURE), "{err}");
    let message = err.as_db_error().map(|e| e.message()).unwrap_or_default();
    for part in [
        "target \"pg\" is unavailable",
        &fake.addr.to_string(),
        "connect_timeout (2s)",
        "the database to accept the login",
    ] {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
    assert!(
        fake.wait_closed(1, Duration::from_secs(5)).await,
        "sluice still holds the connection to the mute database"
    );
    assert_timeout_recorded(&proxy, "the database to accept the login").await;
    // The same database answering again serves at once: the timeout left nothing behind.
    fake.set_mute(false);
    let (client, _conn) = pg_session(&proxy, "after").await;
    assert_pg_serves(&client, Misbehaviour::Silent).await;
}

// ---------------------------------------------------------------- MySQL

/// A raw MySQL session as alice over TLS, logged in.
async fn mysql_session(proxy: &Proxy) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let (answer, tls) = full_auth_login(proxy, USER, PASSWORD).await;
    assert_eq!(answer.first(), Some(&0x00), "logged in: {answer:?}");
    tls
}

/// What a raw client saw of its query: how many packets came back, the last of them, and
/// whether sluice closed the connection within the time allowed.
struct Exchange {
    packets: usize,
    last: Vec<u8>,
    closed: bool,
}

impl Exchange {
    /// The (code, message) of the last packet when it is an ERR packet.
    fn error(&self) -> Option<(u16, String)> {
        let p = Some(&self.last).filter(|p| p.first() == Some(&0xFF) && p.len() >= 3)?;
        let code = u16::from_le_bytes([p[1], p[2]]);
        let text = &p[3..];
        let text = match text.first() {
            Some(b'#') => text.get(6..).unwrap_or_default(),
            _ => text,
        };
        Some((code, String::from_utf8_lossy(text).into_owned()))
    }
}

/// Sends COM_QUERY `sql` and reads what comes back until sluice closes the connection or
/// `limit` passes. Packets are counted, not kept: an endless answer must not fill the test.
async fn mysql_exchange<S>(s: &mut S, sql: &str, limit: Duration) -> Exchange
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut command = vec![0x03];
    command.extend_from_slice(sql.as_bytes());
    write_packet(s, 0, &command).await.expect("send the query");
    let (mut packets, mut last) = (0, Vec::new());
    let closed = timeout(limit, async {
        while let Ok((_, p)) = read_packet(s).await {
            packets += 1;
            last = p;
        }
    })
    .await
    .is_ok();
    Exchange {
        packets,
        last,
        closed,
    }
}

async fn assert_mysql_serves<S>(s: &mut S, after: Misbehaviour)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    write_packet(s, 0, b"\x03SELECT 1").await.expect("send");
    let rows = timeout(Duration::from_secs(5), mysql_wire::read_text_rows(s))
        .await
        .unwrap_or_else(|_| panic!("after {after:?}: the bystander's query hangs"));
    assert_eq!(rows, vec![vec![Some("1".to_string())]], "after {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_mysql_upstream_ends_only_its_own_session() {
    let _serial = SERIAL.lock().await;
    let fake = Fake::mysql().await;
    let proxy = proxy_for(&fake, "mysql").await;
    let mut bystander = mysql_session(&proxy).await;
    assert_mysql_serves(&mut bystander, Misbehaviour::Silent).await;
    let baseline = rss_kib();
    let mut closed = 0;
    for m in Misbehaviour::ALL {
        let mut victim = mysql_session(&proxy).await;
        let sql = format!("SELECT '{}'", m.word());
        match m {
            Misbehaviour::Malformed => {
                // More columns than any server can announce: sluice ends the session.
                let seen = mysql_exchange(&mut victim, &sql, Duration::from_secs(5)).await;
                assert!(seen.closed, "{m:?}: sluice ends the session");
                let (code, message) = seen.error().expect("an ERR packet last");
                assert_eq!(code, 1927, "{m:?}: {message}");
                for part in ["target \"my\"", "18446744073709551615 columns"] {
                    assert!(message.contains(part), "{m:?}: {message}");
                }
                closed += 1;
            }
            Misbehaviour::Gigabyte => {
                let during = async {
                    tokio::time::sleep(HOLD / 2).await;
                    assert_bounded(baseline, "2^30 columns announced, 64 defined");
                };
                let (seen, ()) = tokio::join!(mysql_exchange(&mut victim, &sql, HOLD * 3), during);
                assert!(
                    seen.closed,
                    "{m:?}: sluice ends the session when the database hangs up"
                );
                let (code, message) = seen.error().expect("an ERR packet last");
                assert_eq!(code, 1927, "{m:?}: {message}");
                assert!(message.contains("target \"my\""), "{m:?}: {message}");
            }
            _ => {
                // The rest, sluice cannot tell from a slow or a long answer: the client
                // gives up, and sluice lets go of the database.
                let seen = mysql_exchange(&mut victim, &sql, Duration::from_secs(1)).await;
                assert!(
                    !seen.closed || seen.error().is_some(),
                    "{m:?}: sluice closed the session without saying why"
                );
                if m == Misbehaviour::Endless {
                    assert!(seen.packets > 100, "{m:?}: rows stream");
                    assert_bounded(baseline, "an endless result streamed for a second");
                }
                drop(victim);
                closed += 1;
            }
        }
        assert!(
            fake.wait_closed(closed, Duration::from_secs(10)).await,
            "after {m:?}: sluice still holds the database connection ({} of {closed} closed)",
            fake.closed_by_sluice()
        );
        assert_mysql_serves(&mut bystander, m).await;
        assert_bounded(baseline, &format!("after {m:?}"));
    }
    assert_ends_recorded(&proxy, &[Misbehaviour::Malformed, Misbehaviour::Gigabyte]).await;

    // Column definitions without end, in a session whose columns sluice keeps (the audit log
    // records them): it stops keeping them at its limit and ends the session.
    let mut victim = mysql_session(&proxy).await;
    let sql = format!("SELECT '{}'", hostile::COLUMNS_FOREVER);
    let seen = mysql_exchange(&mut victim, &sql, Duration::from_secs(20)).await;
    assert!(seen.closed, "sluice ends a session of endless columns");
    let (code, message) = seen.error().expect("an ERR packet last");
    assert_eq!(code, 1105, "{message}");
    assert!(message.contains("more than 65535 columns"), "{message}");
    assert!(
        (65_535..70_000).contains(&seen.packets),
        "the client got {} packets",
        seen.packets
    );
    assert_bounded(baseline, "endless column definitions");
    assert_mysql_serves(&mut bystander, Misbehaviour::Endless).await;
}

/// The ERR packet of a MySQL exchange: (code, message).
fn mysql_err(p: &[u8]) -> (u16, String) {
    let seen = Exchange {
        packets: 1,
        last: p.to_vec(),
        closed: true,
    };
    seen.error()
        .unwrap_or_else(|| panic!("an ERR packet, got {p:?}"))
}

fn assert_mysql_timed_out(p: &[u8], fake: &Fake, step: &str) {
    let (code, message) = mysql_err(p);
    assert_eq!(code, 1429, "{message}");
    for part in [
        "target \"my\" is unavailable",
        &fake.addr.to_string(),
        "connect_timeout (2s)",
        step,
    ] {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_upstream_that_never_greets_is_cut_at_connect_timeout() {
    let _serial = SERIAL.lock().await;
    let fake = Fake::mysql().await;
    fake.set_mute(true);
    let proxy = proxy_for(&fake, "mysql").await;

    // sluice knows nothing of the server yet: it asks for a greeting before it greets.
    let started = std::time::Instant::now();
    let mut raw = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    let (_, first) = timeout(Duration::from_secs(30), read_packet(&mut raw))
        .await
        .expect("an answer before the client gives up")
        .expect("a packet");
    assert_in_time(started, "MySQL greeting");
    assert_mysql_timed_out(&first, &fake, "the database's greeting");

    // Once a session has taught sluice the server's greeting, a client is greeted at once and
    // the upstream login is what waits.
    fake.set_mute(false);
    let mut bystander = mysql_session(&proxy).await;
    assert_mysql_serves(&mut bystander, Misbehaviour::Silent).await;
    fake.set_mute(true);
    let started = std::time::Instant::now();
    let (answer, _tls) = timeout(
        Duration::from_secs(30),
        full_auth_login(&proxy, USER, PASSWORD),
    )
    .await
    .expect("an answer before the client gives up");
    assert_in_time(started, "MySQL login");
    assert_mysql_timed_out(&answer, &fake, "the database's greeting");
    assert!(
        fake.wait_closed(2, Duration::from_secs(5)).await,
        "sluice still holds a connection to the mute database ({} closed)",
        fake.closed_by_sluice()
    );
    assert_timeout_recorded(&proxy, "the database's greeting").await;
    assert_mysql_serves(&mut bystander, Misbehaviour::Silent).await;
}
