//! Entry points for coverage-guided fuzzing (the `fuzz/` directory) and for the tests that replay
//! its corpus (`proxy/tests/fuzz_corpus.rs`). Each takes arbitrary bytes and must never panic,
//! hang, or allocate in proportion to a length the bytes claim but do not carry. Not an API.
//!
//! The session entry points run the real relays over in-memory pipes, with a statement gate
//! holding rules and masks, so that every decoder a hostile client or database reaches is
//! reached here the same way.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use crate::auth::scram::{self, ChannelBinding, ScramVerifier};
use crate::auth::UserDirectory;
use crate::config::{Config, UpstreamTls};
use crate::live::{Live, LiveParts};
use crate::masks::MaskPolicy;
use crate::metrics::TargetMetrics;
use crate::session::SessionHooks;
use crate::statement_gate::{StatementGate, StatementPolicy};
use crate::upstream::UpstreamTarget;

/// Rules and masks the gate of a fuzzed session holds: something of every kind, so that
/// refusals, rewrites and masked rows are all reached.
const GATE_CONFIG: &str = r#"
[[masks]]
columns = ["*.*.ssn"]
function = "partial"
keep_last = 4

[[masks]]
columns = ["*.*.email"]
function = "email"

[[detectors]]
kinds = ["credit_card", "email", "us_ssn"]
function = "redact"

[[rules]]
name = "no-drop"
when = { statements = ["drop", "truncate"] }
action = "block"
message = "no"

[[rules]]
name = "no-unbounded"
when = { statements = ["update", "delete"], without_where = true }
action = "block"
"#;

/// A single-threaded runtime per fuzzing thread: building one costs more than most inputs.
fn runtime() -> &'static tokio::runtime::Runtime {
    thread_local! {
        static RT: &'static tokio::runtime::Runtime = Box::leak(Box::new(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds"),
        ));
    }
    RT.with(|rt| *rt)
}

/// The gate's configuration, parsed once.
fn gate_live() -> Arc<Live> {
    static LIVE: std::sync::OnceLock<Arc<Live>> = std::sync::OnceLock::new();
    Arc::clone(LIVE.get_or_init(|| {
        let mut config =
            Config::parse(GATE_CONFIG, Default::default()).expect("GATE_CONFIG parses");
        config.users.push(crate::config::UserConfig {
            name: "alice".into(),
            password_hash: Some(crate::auth::hash_password("alice")),
            groups: vec!["analysts".into()],
        });
        Live::new(LiveParts {
            users: UserDirectory::from_config(&config.users).expect("GATE_CONFIG users"),
            policy: Some(StatementPolicy::new(
                config.rule_set().expect("GATE_CONFIG rules"),
            )),
            masks: MaskPolicy::compile(&config).expect("GATE_CONFIG masks"),
        })
    }))
}

/// An upstream nothing listens on: a catalog lookup fails at once, as with a database that is
/// down, and the session goes on with columns of unknown origin.
fn nowhere() -> Arc<UpstreamTarget> {
    Arc::new(UpstreamTarget {
        name: "fuzz".into(),
        host: "127.0.0.1".into(),
        port: 1,
        user: "u".into(),
        password: None,
        database: None,
        tls_mode: UpstreamTls::Disable,
        tls_config: None,
        connect_timeout: Duration::from_millis(50),
        identities: Default::default(),
    })
}

fn gate(dialect: policy::Dialect) -> Box<dyn SessionHooks> {
    Box::new(StatementGate::new(
        gate_live(),
        dialect,
        "alice",
        &["analysts".to_string()],
        "fuzz",
        Default::default(),
    ))
}

/// One step of a session script: bytes from the client or from the database.
enum Step<'a> {
    Client(&'a [u8]),
    Upstream(&'a [u8]),
}

/// Splits `data` into steps: a header byte (low bit: 0 client, 1 database; the other seven
/// bits: the length), then that many bytes. Many short steps interleave the two sides.
fn steps(mut data: &[u8]) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    while let Some((&head, rest)) = data.split_first() {
        let (chunk, tail) = rest.split_at(usize::from(head >> 1).min(rest.len()));
        out.push(match head & 1 {
            0 => Step::Client(chunk),
            _ => Step::Upstream(chunk),
        });
        data = tail;
    }
    out
}

/// Encodes `(from_upstream, bytes)` pairs as a script for the session entry points (seeds).
pub fn script(parts: &[(bool, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (up, bytes) in parts {
        for chunk in bytes.chunks(127) {
            out.push(((chunk.len() as u8) << 1) | u8::from(*up));
            out.extend_from_slice(chunk);
        }
    }
    out
}

/// Reads whatever the relay writes, so that it never waits on a full pipe.
async fn drain(mut r: tokio::io::ReadHalf<DuplexStream>) {
    let mut buf = vec![0u8; 64 * 1024];
    while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// Plays a script against a relay: the client and the database write their steps in order,
/// each followed by a few turns of the scheduler; then the database hangs up, which ends
/// every session. A relay still running after that is a hang.
async fn play<F>(data: &[u8], relay: impl FnOnce(DuplexStream, DuplexStream) -> F)
where
    F: std::future::Future + Send + 'static,
    F::Output: Send,
{
    let (client, client_side) = tokio::io::duplex(1 << 16);
    let (upstream, upstream_side) = tokio::io::duplex(1 << 16);
    let session = tokio::spawn(relay(client_side, upstream_side));
    let (client_rd, mut client_wr) = tokio::io::split(client);
    let (upstream_rd, mut upstream_wr) = tokio::io::split(upstream);
    let drains = (
        tokio::spawn(drain(client_rd)),
        tokio::spawn(drain(upstream_rd)),
    );
    for step in steps(data) {
        let written = match step {
            Step::Client(b) => client_wr.write_all(b).await,
            Step::Upstream(b) => upstream_wr.write_all(b).await,
        };
        if written.is_err() {
            break;
        }
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
    }
    let _ = upstream_wr.shutdown().await;
    drop(upstream_wr);
    let ended = tokio::time::timeout(Duration::from_secs(10), session).await;
    assert!(
        ended.is_ok(),
        "the relay did not end after the database hung up"
    );
    drop(client_wr);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = drains.0.await;
        let _ = drains.1.await;
    })
    .await;
}

/// A PostgreSQL session after login: client frontend messages and database responses, in the
/// order the script gives, through [`crate::pg::relay::run`] with a gate. The first step's
/// bytes, when from the database, are the startup ParameterStatus frames the relay starts from.
pub fn pg_session(data: &[u8]) {
    let (greeting, data) = match steps(data).first() {
        Some(Step::Upstream(g)) => (g.to_vec(), &data[1 + g.len()..]),
        _ => (Vec::new(), data),
    };
    runtime().block_on(play(data, move |client, upstream| {
        let opts = crate::pg::relay::RelayOptions {
            target: "fuzz".into(),
            max_client_message: 1 << 20,
            catalog: crate::pg::catalog::PgCatalog::new(nowhere(), "app"),
            metrics: Arc::new(TargetMetrics::default()),
            lexing: crate::pg::lexing::LexTracker::new(&greeting),
        };
        let (_tx, shutdown) = tokio::sync::watch::channel(false);
        async move {
            let end = crate::pg::relay::run(
                Box::new(client),
                Box::new(upstream),
                opts,
                Some(gate(policy::Dialect::Postgres)),
                shutdown,
            )
            .await;
            drop(_tx);
            end
        }
    }));
}

/// A MySQL session after login: client commands (split packets too) and database responses,
/// through [`crate::mysql::relay::run`] with a gate. The first byte picks DEPRECATE_EOF (1),
/// LOCAL INFILE (2) and MariaDB's extended metadata (4).
pub fn mysql_session(data: &[u8]) {
    let Some((&flags, data)) = data.split_first() else {
        return;
    };
    runtime().block_on(play(data, move |client, upstream| {
        let ctx = crate::mysql::relay::RelayContext {
            target: "fuzz".into(),
            connection_id: 7,
            user: "alice".into(),
            groups: vec!["analysts".into()],
            allow_local_infile: flags & 2 != 0,
            deprecate_eof: flags & 1 != 0,
            max_command: 1 << 20,
            sessions: Default::default(),
            live: gate_live(),
            scramble: [b'a'; 20],
            catalog: Arc::new(crate::mysql::catalog::MysqlCatalog::new(nowhere())),
            tls: false,
            database: Some("shop".into()),
            approvals: None,
            deadline: None,
            login_status: 2,
            login_reading: Default::default(),
            server: Some(policy::MysqlServer {
                version_id: 101119,
                mariadb: true,
            }),
            metrics: Arc::new(TargetMetrics::default()),
            settings: Vec::new(),
            extended_metadata: flags & 4 != 0,
        };
        let (_tx, shutdown) = tokio::sync::watch::channel(false);
        async move {
            let end = crate::mysql::relay::run(
                Box::new(client),
                Box::new(upstream),
                ctx,
                Some(gate(policy::Dialect::MySql)),
                shutdown,
            )
            .await;
            drop(_tx);
            end
        }
    }));
}

/// PostgreSQL connection start: the untagged packets before a session (StartupMessage,
/// SSLRequest, GSSENCRequest, CancelRequest), read and classified as the listener does.
pub fn pg_startup(data: &[u8]) {
    runtime().block_on(async {
        let mut rest = data;
        while let Ok(body) = crate::pg::frame::read_startup_packet(&mut rest).await {
            let _ = crate::pg::client::classify(&body);
        }
    });
}

/// A SCRAM-SHA-256(-PLUS) exchange: the script's first step is the SASLInitialResponse body
/// (mechanism and client-first), the second the client-final message, in which `@NONCE@`
/// stands for the nonce the server made up (which is random, so no input could hold it).
pub fn scram_client(data: &[u8]) {
    let parts = steps(data);
    let bytes = |i: usize| match parts.get(i) {
        Some(Step::Client(b) | Step::Upstream(b)) => *b,
        None => &[][..],
    };
    let (initial, final_msg) = (bytes(0), bytes(1));
    let binding = match data.first().map(|b| b & 1) {
        Some(1) => ChannelBinding::TlsServerEndPoint(vec![7; 32]),
        _ => ChannelBinding::Unavailable,
    };
    let verifier = ScramVerifier::mock("alice", b"secret");
    let mut r = crate::pg::frame::Reader(initial);
    let (Some(mechanism), Some(_len)) = (r.cstr(), r.i32()) else {
        return;
    };
    let Ok((state, server_first)) = scram::begin(&verifier, mechanism, r.rest(), &binding) else {
        return;
    };
    let nonce = server_first
        .split(',')
        .find_map(|a| a.strip_prefix("r="))
        .unwrap_or_default();
    let final_msg = String::from_utf8_lossy(final_msg).replace("@NONCE@", nonce);
    let _ = state.verify(final_msg.as_bytes());
}

/// The MySQL handshake from sluice's greeting to the end of authentication: the client's
/// HandshakeResponse41, auth switch responses and full authentication, through
/// [`crate::mysql::client::handshake`].
pub fn mysql_handshake(data: &[u8]) {
    let users = gate_live().users();
    runtime().block_on(async {
        let (client, server_side) = tokio::io::duplex(1 << 16);
        let (client_rd, mut client_wr) = tokio::io::split(client);
        let drain = tokio::spawn(drain(client_rd));
        let greeting = crate::mysql::client::Greeting {
            server_version: "10.11.19-MariaDB-sluice",
            connection_id: 7,
            capabilities: crate::mysql::client::relayable_capabilities(),
            collation: 45,
            auth_plugin: crate::mysql::client::CACHING_SHA2,
            mariadb_capabilities: crate::mysql::client::relayable_mariadb_capabilities(),
        };
        let _ = client_wr.write_all(data).await;
        // The end of input: shutting the write half down is what the other end reads as EOF.
        let _ = client_wr.shutdown().await;
        let shaken = tokio::time::timeout(
            Duration::from_secs(10),
            crate::mysql::client::handshake(
                Box::new(server_side),
                &greeting,
                None,
                &users,
                None,
                std::net::Ipv4Addr::LOCALHOST.into(),
            ),
        )
        .await;
        assert!(shaken.is_ok(), "the handshake did not end at end of input");
        drop(shaken);
        let _ = drain.await;
    });
}

/// An admin API request, as raw HTTP, to a running sluice's admin listener (with `[audit]`
/// and `[approvals]`, so that every route is there). When the first byte is odd, alice's
/// valid basic credentials are added as the request's first header, so that the fuzzer
/// reaches what lies behind authentication.
pub fn admin_request(data: &[u8]) {
    let Some((&flags, request)) = data.split_first() else {
        return;
    };
    let admin = admin_addr();
    let mut bytes = Vec::with_capacity(request.len() + 64);
    match request.iter().position(|&b| b == b'\n') {
        Some(eol) if flags & 1 == 1 => {
            bytes.extend_from_slice(&request[..=eol]);
            bytes.extend_from_slice(b"Authorization: Basic YWxpY2U6YWxpY2U=\r\n");
            bytes.extend_from_slice(&request[eol + 1..]);
        }
        _ => bytes.extend_from_slice(request),
    }
    runtime().block_on(async {
        let Ok(mut s) = tokio::net::TcpStream::connect(admin).await else {
            return;
        };
        let _ = s.write_all(&bytes).await;
        let _ = s.shutdown().await;
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer));
        assert!(
            read.await.is_ok(),
            "the admin API did not answer within 10 s"
        );
    });
}

/// A sluice with its admin listener on a free port, started once on the fuzzing thread's
/// runtime (whose tasks run while an input is being run).
fn admin_addr() -> std::net::SocketAddr {
    static ADDR: std::sync::OnceLock<std::net::SocketAddr> = std::sync::OnceLock::new();
    *ADDR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sluice-fuzz-admin-{}", std::process::id()));
        let text = format!(
            "[server]\nadmin_listen = \"127.0.0.1:0\"\nadmin_groups = [\"analysts\"]\n\
             [[users]]\nname = \"alice\"\npassword_hash = \"{}\"\ngroups = [\"analysts\"]\n\
             [[targets]]\nname = \"fuzz\"\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:0\"\n\
             upstream = \"127.0.0.1:1\"\nuser = \"u\"\nupstream_tls = \"disable\"\n\
             [audit]\ndir = {:?}\nkey_env = \"SLUICE_FUZZ_AUDIT_KEY\"\n\
             [approvals]\nmode = \"ticket\"\napprover_groups = [\"analysts\"]\n\
             [login]\nfailure_delay = \"0s\"\n{GATE_CONFIG}",
            crate::auth::hash_password("alice"),
            dir.join("audit"),
        );
        std::env::set_var("SLUICE_FUZZ_AUDIT_KEY", "fuzz");
        let config = Config::parse(&text, dir).expect("the admin fuzzing config parses");
        let server = runtime()
            .block_on(crate::server::start(&config))
            .expect("sluice starts for the admin target");
        let addr = server.admin_addr();
        // The server lives as long as the process.
        std::mem::forget(server);
        addr
    })
}

/// The TOML configuration loader, and `sluice check`'s validation after it.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text, std::env::temp_dir()) {
        let _ = config.rule_set();
        let _ = MaskPolicy::compile(&config);
        let _ = UserDirectory::from_config(&config.users);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_round_trips_through_steps() {
        let long = vec![b'x'; 300];
        let s = script(&[(false, b"Q"), (true, &long)]);
        let got: Vec<(bool, usize)> = steps(&s)
            .iter()
            .map(|s| match s {
                Step::Client(b) => (false, b.len()),
                Step::Upstream(b) => (true, b.len()),
            })
            .collect();
        assert_eq!(got, vec![(false, 1), (true, 127), (true, 127), (true, 46)]);
    }
}
