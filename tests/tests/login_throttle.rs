//! `[login]` end to end, in both protocols and on the admin API: failed logins are answered
//! later and later up to the cap, another user from another address is not slowed, a success
//! resets, and the metrics and the audit log say so; a client that never finishes its
//! handshake is dropped after `handshake_timeout`, and a silent session after `idle_timeout`.
//!
//! "Another address" is 127.0.0.2: on Linux the whole of 127/8 is the loopback interface, so a
//! client socket bound there reaches sluice on 127.0.0.1 from a different source address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use sluice_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const KEY_ENV: &str = "SLUICE_TEST_THROTTLE_KEY";
/// The first failure's delay and the cap: far enough apart that a delay that doubled past the
/// cap, or a login slowed by someone else's failures, cannot pass for an unslowed one.
const FIRST: Duration = Duration::from_millis(500);
const CAP: Duration = Duration::from_secs(4);
/// Expected delays of five failures in a row: 0.5, 1, 2, 4, 4 s.
const EXPECTED: [Duration; 5] = [
    FIRST,
    Duration::from_secs(1),
    Duration::from_secs(2),
    CAP,
    CAP,
];
/// What a loaded machine may add to a login on top of its delay.
const SLACK: Duration = Duration::from_millis(1900);

fn attacker() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}
fn bystander() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))
}

fn opts(login: &str) -> ProxyOpts {
    std::env::set_var(KEY_ENV, "throttle-test-key");
    ProxyOpts {
        extra_config: format!(
            "{}[login]\nfailure_delay = \"500ms\"\nmax_failure_delay = \"4s\"\n{login}",
            audit_section(KEY_ENV)
        ),
        ..ProxyOpts::default()
    }
}

/// A TCP connection to `to` from `from`.
async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// Logs in through sluice as `user` from `from` with tokio-postgres; whether it worked, and how
/// long the answer took.
async fn pg_login(proxy: &Proxy, from: IpAddr, user: &str, password: &str) -> (bool, Duration) {
    let config: tokio_postgres::Config = proxy.conn_str(user, password, "").parse().unwrap();
    let started = Instant::now();
    let stream = connect_from(from, proxy.addr).await;
    let result = config.connect_raw(stream, tokio_postgres::NoTls).await;
    let took = started.elapsed();
    if let Err(e) = &result {
        let code = e.code().map(|c| c.code().to_string());
        assert_eq!(code.as_deref(), Some("28P01"), "{e}");
    }
    (result.is_ok(), took)
}

/// The same through mysql_async from 127.0.0.1 (it cannot choose its source address), by hand
/// (`mysql_native_password`) from elsewhere; a refusal must be 1045.
async fn mysql_login(proxy: &Proxy, from: IpAddr, user: &str, password: &str) -> (bool, Duration) {
    if from != attacker() {
        return raw_mysql_login(proxy, from, user, password).await;
    }
    let opts = mysql_opts(proxy.port(), user, password, Some("shop"));
    let started = Instant::now();
    let result = mysql_async::Conn::new(opts).await;
    let took = started.elapsed();
    let ok = match result {
        Ok(conn) => {
            let _ = conn.disconnect().await;
            true
        }
        Err(mysql_async::Error::Server(e)) => {
            assert_eq!(e.code, 1045, "{e}");
            false
        }
        Err(e) => panic!("unexpected error: {e}"),
    };
    (ok, took)
}

/// `mysql_native_password`'s answer to `scramble`: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))).
fn native_scramble(password: &str, scramble: &[u8]) -> Vec<u8> {
    use ring::digest::{digest, Context, SHA1_FOR_LEGACY_USE_ONLY as SHA1};
    let stage1 = digest(&SHA1, password.as_bytes());
    let stage2 = digest(&SHA1, stage1.as_ref());
    let mut ctx = Context::new(&SHA1);
    ctx.update(scramble);
    ctx.update(stage2.as_ref());
    let mix = ctx.finish();
    stage1
        .as_ref()
        .iter()
        .zip(mix.as_ref())
        .map(|(a, b)| a ^ b)
        .collect()
}

/// A MySQL login by hand from `from`: greeting, HandshakeResponse41 with the native answer,
/// then sluice's OK or ERR.
async fn raw_mysql_login(proxy: &Proxy, from: IpAddr, user: &str, pw: &str) -> (bool, Duration) {
    use mysql_wire::*;
    let started = Instant::now();
    let mut tcp = connect_from(from, proxy.addr).await;
    let (_, greeting) = read_packet(&mut tcp).await.unwrap();
    // HandshakeV10: version, connection id, 8 scramble bytes, filler, caps, collation,
    // status, caps, auth data length, 10 reserved, the other 12 scramble bytes.
    let at = 1 + greeting[1..].iter().position(|&b| b == 0).unwrap() + 1 + 4;
    let mut scramble = greeting[at..at + 8].to_vec();
    let rest = at + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
    scramble.extend_from_slice(&greeting[rest..rest + 12]);
    let auth = native_scramble(pw, &scramble);
    let response = handshake_response(BASE_CAPS, user, &auth, "shop", "mysql_native_password");
    write_packet(&mut tcp, 1, &response).await.unwrap();
    let (_, answer) = read_packet(&mut tcp).await.unwrap();
    let took = started.elapsed();
    match answer[0] {
        0x00 => (true, took),
        0xFF => {
            assert_eq!(u16::from_le_bytes([answer[1], answer[2]]), 1045);
            (false, took)
        }
        other => panic!("unexpected answer 0x{other:02x} to the login"),
    }
}

/// A metric's value in sluice's `/metrics`, by its full series name.
async fn metric(proxy: &Proxy, series: &str) -> u64 {
    let admin = proxy.server.as_ref().unwrap().admin_addr();
    let body = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{body}"))
}

/// The reasons of the failed-login records in the audit log, in order, once there are `n`.
async fn failed_login_reasons(proxy: &Proxy, n: usize) -> Vec<String> {
    let mut reasons = Vec::new();
    for _ in 0..100 {
        let reader = audit::AuditReader::open(proxy.dir.path().join("audit")).expect("log");
        let mut out = Vec::new();
        audit::export_jsonl(&reader, &audit::Filter::default(), &mut out).expect("export");
        reasons = String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["kind"] == "auth" && r["ok"] == false)
            .map(|r| r["reason"].as_str().unwrap_or_default().to_string())
            .collect();
        if reasons.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reasons
}

/// The scenario both protocols share: `login(from, user, password)` logs in once.
async fn throttling_scenario<F, Fut>(proxy: &Proxy, login: F, series: &str)
where
    F: Fn(IpAddr, &'static str, &'static str) -> Fut,
    Fut: std::future::Future<Output = (bool, Duration)>,
{
    // Wrong passwords from one address: each answer later than the one before, up to the cap.
    for (i, expected) in EXPECTED.iter().enumerate() {
        let (ok, took) = login(attacker(), USER, "wrong").await;
        assert!(!ok, "a wrong password logged in");
        assert!(
            took >= *expected && took < *expected + SLACK,
            "failure {}: answered after {took:?}, expected {expected:?}",
            i + 1
        );
    }
    // Another user from another address: not slowed, right or wrong password.
    let (ok, took) = login(bystander(), OTHER_USER, OTHER_PASSWORD).await;
    assert!(ok, "bob could not log in");
    assert!(took < CAP, "bob's login waited {took:?}");
    let (ok, took) = login(bystander(), OTHER_USER, "wrong").await;
    assert!(!ok);
    assert!(
        took >= FIRST && took < FIRST + SLACK,
        "bob's first failure took {took:?}, as if alice's counted"
    );
    // The right password still works, and resets: the next failure costs the first delay.
    let (ok, _) = login(attacker(), USER, PASSWORD).await;
    assert!(ok, "alice's right password was refused");
    let (ok, took) = login(attacker(), USER, "wrong").await;
    assert!(!ok);
    assert!(
        took >= FIRST && took < FIRST + SLACK,
        "after a success a failure took {took:?}"
    );
    // Metrics: every failure was slowed; the successful logins were not.
    assert_eq!(metric(proxy, series).await, 7);
    // The audit log: each failed login says how long its answer was held.
    let reasons = failed_login_reasons(proxy, 7).await;
    assert_eq!(reasons.len(), 7, "{reasons:?}");
    let held = ["500", "1000", "2000", "4000", "4000", "500", "500"];
    for (reason, ms) in reasons.iter().zip(held) {
        assert!(
            reason.contains(&format!("throttled: answered after {ms} ms")),
            "{reason}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_failed_logins_are_throttled_per_address_and_user() {
    let proxy = Proxy::start(pg_scram(), opts("")).await;
    let login = |from, user, pw| pg_login(&proxy, from, user, pw);
    throttling_scenario(
        &proxy,
        login,
        "sluice_login_throttled_total{target=\"pg\",protocol=\"postgres\"}",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_failed_logins_are_throttled_per_address_and_user() {
    let proxy = Proxy::start_mysql(mariadb_native(), opts("")).await;
    let login = |from, user, pw| mysql_login(&proxy, from, user, pw);
    throttling_scenario(
        &proxy,
        login,
        "sluice_login_throttled_total{target=\"my\",protocol=\"mysql\"}",
    )
    .await;
}

/// Parallel guesses do not go faster than one at a time: a guess started while the address is
/// in its delay waits for the rest of it before its password is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guess_during_the_delay_waits_for_its_turn() {
    let proxy = Proxy::start(pg_scram(), opts("")).await;
    for _ in 0..3 {
        pg_login(&proxy, attacker(), USER, "wrong").await;
    }
    // The third failure set a 2 s delay, just served; the fourth holds the address for 4 s.
    let fourth = pg_login(&proxy, attacker(), USER, "wrong");
    let parallel = async {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        // Another name from the same address, with the right password: it waits its turn.
        pg_login(&proxy, attacker(), OTHER_USER, OTHER_PASSWORD).await
    };
    let ((ok4, _), (ok, took)) = tokio::join!(fourth, parallel);
    assert!(!ok4);
    assert!(ok, "bob's right password was refused");
    assert!(
        took >= Duration::from_millis(2500),
        "a login during the address's delay took only {took:?}"
    );
}

/// Reads until the peer closes; how long that took (`None`: still open after `limit`).
async fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let read_all = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_all)
        .await
        .ok()
        .map(|()| started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_is_dropped_after_the_handshake_timeout() {
    let timeout = "[login]\nhandshake_timeout = \"2s\"\nmax_failure_delay = \"1s\"\n";
    let pg = Proxy::start(
        pg_scram(),
        ProxyOpts {
            extra_config: timeout.into(),
            ..ProxyOpts::default()
        },
    )
    .await;
    let my = Proxy::start_mysql(
        mariadb_native(),
        ProxyOpts {
            extra_config: timeout.into(),
            ..ProxyOpts::default()
        },
    )
    .await;
    // PostgreSQL: silent after connecting; and a slowloris startup, one byte every 300 ms.
    let mut silent = TcpStream::connect(pg.addr).await.unwrap();
    let mut slow = TcpStream::connect(pg.addr).await.unwrap();
    let slowloris = async {
        let startup = b"\0\0\0\x28\0\x03\0\0user\0alice\0database\0app\0\0\0\0\0\0\0";
        for b in startup {
            if slow.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        closed_within(&mut slow, Duration::from_secs(20)).await
    };
    // MySQL: reads the greeting, then says nothing.
    let mut mysql_silent = TcpStream::connect(my.addr).await.unwrap();
    let (silent_closed, slow_closed, mysql_closed) = tokio::join!(
        closed_within(&mut silent, Duration::from_secs(20)),
        slowloris,
        closed_within(&mut mysql_silent, Duration::from_secs(20)),
    );
    for (what, closed) in [
        ("silent PostgreSQL client", silent_closed),
        ("MySQL client after the greeting", mysql_closed),
    ] {
        let took = closed.unwrap_or_else(|| panic!("{what}: still open after 20 s"));
        assert!(
            took >= Duration::from_millis(1900),
            "{what}: closed after {took:?}"
        );
    }
    // The slowloris client was cut mid-startup (its 40 bytes would take 12 s).
    assert!(
        slow_closed.is_some(),
        "the slowloris client was not dropped"
    );
    // Sessions that do finish their handshake are unaffected.
    pg.connect().await.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_session_ends_after_the_idle_timeout_and_a_busy_one_does_not() {
    let proxy = Proxy::start(
        pg_scram(),
        ProxyOpts {
            extra_config: "[login]\nidle_timeout = \"2s\"\n".into(),
            ..ProxyOpts::default()
        },
    )
    .await;
    let idle = proxy.connect().await;
    let busy = proxy.connect().await;
    idle.simple_query("SELECT 1").await.unwrap();
    for _ in 0..6 {
        busy.simple_query("SELECT 1").await.unwrap();
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // 4.2 s have passed: the busy session still answers, the idle one is gone.
    busy.simple_query("SELECT 1").await.unwrap();
    assert!(
        idle.simple_query("SELECT 1").await.is_err(),
        "the idle session is still open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_basic_auth_is_throttled() {
    let proxy = Proxy::start(pg_scram(), opts("")).await;
    let admin = proxy.server.as_ref().unwrap().admin_addr();
    let http = reqwest::Client::new();
    let elsewhere = reqwest::Client::builder()
        .local_address(bystander())
        .build()
        .unwrap();
    let call = |http: &reqwest::Client, user: &'static str, password: &'static str| {
        let req = http
            .post(format!("http://{admin}/api/reload"))
            .basic_auth(user, Some(password));
        async move {
            let started = Instant::now();
            let status = req.send().await.unwrap().status().as_u16();
            (status, started.elapsed())
        }
    };
    for expected in &EXPECTED[..3] {
        let (status, took) = call(&http, USER, "wrong").await;
        assert_eq!(status, 401);
        assert!(
            took >= *expected && took < *expected + SLACK,
            "a wrong admin password answered after {took:?}, expected {expected:?}"
        );
    }
    // bob's right password (he is no admin: 403) is not slowed by alice's failures.
    let (status, took) = call(&elsewhere, OTHER_USER, OTHER_PASSWORD).await;
    assert_eq!(status, 403);
    assert!(took < FIRST, "bob waited {took:?}");
    assert_eq!(
        metric(&proxy, "sluice_login_throttled_total{listener=\"admin\"}").await,
        3
    );
}
