//! The end-to-end harness: throwaway PostgreSQL servers (shared by the tests of one test binary),
//! a sluice instance per test in front of them, and client helpers for `tokio-postgres` and
//! `psql`. Nothing here talks to the machine's shared database servers.

#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use sluice::config::Config;
use sluice::launcher::certs::TestPki;
pub use sluice::launcher::{
    MariaDbAuth, MariaDbOptions, MariaDbServer, PgAuth, PgOptions, PgServer,
};
use sluice::server::RunningServer;
use tempfile::TempDir;
use tokio_postgres::{Client, NoTls};

/// The sluice user every test logs in as.
pub const USER: &str = "alice";
pub const PASSWORD: &str = "alice-pw";
/// A second sluice user, to tell sessions apart.
pub const OTHER_USER: &str = "bob";
pub const OTHER_PASSWORD: &str = "bob-pw";

/// The shared upstream of this test binary for `auth`/`tls`, started on first use.
pub fn pg(auth: PgAuth, tls: bool) -> &'static PgServer {
    static SCRAM: OnceLock<PgServer> = OnceLock::new();
    static MD5: OnceLock<PgServer> = OnceLock::new();
    static SCRAM_TLS: OnceLock<PgServer> = OnceLock::new();
    let cell = match (auth, tls) {
        (PgAuth::Md5, _) => &MD5,
        (_, true) => &SCRAM_TLS,
        _ => &SCRAM,
    };
    cell.get_or_init(|| {
        let opts = PgOptions {
            auth,
            tls,
            ..PgOptions::default()
        };
        PgServer::start(opts)
            .unwrap_or_else(|e| panic!("cannot start a throwaway PostgreSQL: {e:#}"))
    })
}

/// The shared MariaDB of this test binary for `auth`/`tls`, started on first use.
pub fn mariadb(auth: MariaDbAuth, tls: bool) -> &'static MariaDbServer {
    static NATIVE: OnceLock<MariaDbServer> = OnceLock::new();
    static ED25519: OnceLock<MariaDbServer> = OnceLock::new();
    static NATIVE_TLS: OnceLock<MariaDbServer> = OnceLock::new();
    let cell = match (auth, tls) {
        (MariaDbAuth::Ed25519, _) => &ED25519,
        (_, true) => &NATIVE_TLS,
        _ => &NATIVE,
    };
    cell.get_or_init(|| {
        let opts = MariaDbOptions {
            auth,
            tls,
            ..MariaDbOptions::default()
        };
        MariaDbServer::start(opts)
            .unwrap_or_else(|e| panic!("cannot start a throwaway MariaDB: {e:#}"))
    })
}

/// The default MySQL upstream: MariaDB, mysql_native_password, no TLS.
pub fn mariadb_native() -> &'static MariaDbServer {
    mariadb(MariaDbAuth::NativePassword, false)
}

/// What sluice needs to know about an upstream, whichever the protocol.
pub struct UpstreamSpec {
    pub protocol: &'static str,
    pub addr: String,
    pub user: String,
    pub password: String,
    pub database: String,
    pub ca: Option<PathBuf>,
}

impl From<&PgServer> for UpstreamSpec {
    fn from(s: &PgServer) -> Self {
        UpstreamSpec {
            protocol: "postgres",
            addr: s.addr(),
            user: s.opts.user.clone(),
            password: s.opts.password.clone(),
            database: s.opts.database.clone(),
            ca: s.pki.as_ref().map(|p| p.ca_cert.clone()),
        }
    }
}

impl From<&MariaDbServer> for UpstreamSpec {
    fn from(s: &MariaDbServer) -> Self {
        UpstreamSpec {
            protocol: "mysql",
            addr: s.addr(),
            user: s.opts.user.clone(),
            password: s.opts.password.clone(),
            database: s.opts.database.clone(),
            ca: s.pki.as_ref().map(|p| p.ca_cert.clone()),
        }
    }
}

/// The default upstream: SCRAM, no TLS.
pub fn pg_scram() -> &'static PgServer {
    pg(PgAuth::Scram, false)
}

/// How a test wants its sluice.
#[derive(Clone, Debug)]
pub struct ProxyOpts {
    /// `None`: no `[server.tls]`; `Some(require)`: TLS offered, and maybe required.
    pub client_tls: Option<bool>,
    /// `upstream_tls` value.
    pub upstream_tls: &'static str,
    /// Point `upstream_ca_file` at the upstream's CA (or at an unrelated CA when false).
    pub upstream_ca_matches: bool,
    pub max_connections: usize,
    pub database: Option<String>,
    pub shutdown_grace: &'static str,
    pub max_message_bytes: u32,
    /// MySQL: the plugin sluice's greeting proposes.
    pub mysql_plugin: Option<&'static str>,
    pub allow_local_infile: bool,
    /// More TOML appended to the config (rules, `[policy]`).
    pub extra_config: String,
    /// More keys of `[server]`.
    pub server_extra: String,
}

impl Default for ProxyOpts {
    fn default() -> Self {
        ProxyOpts {
            client_tls: None,
            upstream_tls: "disable",
            upstream_ca_matches: true,
            max_connections: 100,
            database: None,
            shutdown_grace: "10s",
            max_message_bytes: 256 << 20,
            mysql_plugin: None,
            allow_local_infile: false,
            extra_config: String::new(),
            server_extra: String::new(),
        }
    }
}

/// A running sluice with one target named `pg` (PostgreSQL) or `my` (MySQL).
pub struct Proxy {
    pub server: Option<RunningServer>,
    pub addr: SocketAddr,
    pub dir: TempDir,
    /// sluice's client-facing PKI when `client_tls` is set.
    pub pki: Option<TestPki>,
    pub config: Config,
}

impl Proxy {
    pub async fn start(upstream: &PgServer, opts: ProxyOpts) -> Proxy {
        Self::try_start(upstream.into(), opts)
            .await
            .unwrap_or_else(|e| panic!("sluice did not start: {e}"))
    }

    pub async fn start_mysql(upstream: &MariaDbServer, opts: ProxyOpts) -> Proxy {
        Self::try_start(upstream.into(), opts)
            .await
            .unwrap_or_else(|e| panic!("sluice did not start: {e}"))
    }

    pub async fn try_start(upstream: UpstreamSpec, opts: ProxyOpts) -> Result<Proxy, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::fs::write(
            dir.path().join("upstream.pw"),
            format!("{}\n", upstream.password),
        )
        .map_err(|e| e.to_string())?;
        let mut text = format!(
            "[server]\nadmin_listen = \"127.0.0.1:0\"\nshutdown_grace = \"{}\"\nmax_message_bytes = {}\n{}\n",
            opts.shutdown_grace, opts.max_message_bytes, opts.server_extra
        );
        let pki = match opts.client_tls {
            Some(require) => {
                let pki = TestPki::generate(&dir.path().join("pki"), &["localhost", "127.0.0.1"])
                    .map_err(|e| e.to_string())?;
                text += &format!(
                    "[server.tls]\ncert_file = {:?}\nkey_file = {:?}\nrequire = {require}\n",
                    pki.server_cert, pki.server_key
                );
                Some(pki)
            }
            None => None,
        };
        for (name, pw, group) in [
            (USER, PASSWORD, "analysts"),
            (OTHER_USER, OTHER_PASSWORD, "dba"),
        ] {
            text += &format!(
                "[[users]]\nname = \"{name}\"\npassword_hash = \"{}\"\ngroups = [\"{group}\"]\n",
                sluice::auth::hash_password(pw)
            );
        }
        let name = if upstream.protocol == "mysql" {
            "my"
        } else {
            "pg"
        };
        text += &format!(
            "[[targets]]\nname = \"{name}\"\nprotocol = \"{}\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{}\"\nuser = \"{}\"\npassword_file = \"upstream.pw\"\nupstream_tls = \"{}\"\nmax_connections = {}\nconnect_timeout = \"2s\"\n",
            upstream.protocol,
            upstream.addr,
            upstream.user,
            opts.upstream_tls,
            opts.max_connections
        );
        if let Some(plugin) = opts.mysql_plugin {
            text += &format!("client_auth_plugin = \"{plugin}\"\n");
        }
        if opts.allow_local_infile {
            text += "allow_local_infile = true\n";
        }
        if let Some(db) = &opts.database {
            text += &format!("database = \"{db}\"\n");
        }
        if opts.upstream_tls.starts_with("verify") {
            let ca = if opts.upstream_ca_matches {
                upstream.ca.clone().ok_or("upstream has no TLS")?
            } else {
                TestPki::generate(&dir.path().join("other-ca"), &["localhost"])
                    .map_err(|e| e.to_string())?
                    .ca_cert
            };
            text += &format!("upstream_ca_file = {ca:?}\n");
        }
        text += "\n";
        text += &opts.extra_config;
        std::fs::write(dir.path().join("sluice.toml"), &text).map_err(|e| e.to_string())?;
        let config = Config::load(&dir.path().join("sluice.toml")).map_err(|e| e.to_string())?;
        let server = sluice::server::start(&config)
            .await
            .map_err(|e| e.to_string())?;
        let addr = server.addr(name).ok_or("no target")?;
        Ok(Proxy {
            server: Some(server),
            addr,
            dir,
            pki,
            config,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// sluice's CA certificate, for clients that verify it.
    pub fn ca_file(&self) -> PathBuf {
        self.pki
            .as_ref()
            .map(|p| p.ca_cert.clone())
            .unwrap_or_default()
    }

    /// A libpq-style connection string to sluice for `user`.
    pub fn conn_str(&self, user: &str, password: &str, extra: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} password={password} dbname=app {extra}",
            self.port()
        )
    }

    /// Logs in as alice over plaintext.
    pub async fn connect(&self) -> Client {
        self.try_connect(USER, PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("connect through sluice: {e}"))
    }

    pub async fn try_connect(
        &self,
        user: &str,
        password: &str,
    ) -> Result<Client, tokio_postgres::Error> {
        let (client, conn) =
            tokio_postgres::connect(&self.conn_str(user, password, ""), NoTls).await?;
        tokio::spawn(conn);
        Ok(client)
    }

    /// Logs in as alice over TLS, verifying sluice's certificate.
    pub async fn connect_tls(&self) -> Client {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(client_tls_config(&self.ca_file()));
        let (client, conn) =
            tokio_postgres::connect(&self.conn_str(USER, PASSWORD, "sslmode=require"), tls)
                .await
                .unwrap_or_else(|e| panic!("TLS connect through sluice: {e}"));
        tokio::spawn(conn);
        client
    }

    /// Stops sluice (if running) and starts it again from the same config and directory, as
    /// an operator's restart would; listeners get new ports.
    pub async fn restart(&mut self) {
        self.shutdown().await;
        let server = sluice::server::start(&self.config)
            .await
            .unwrap_or_else(|e| panic!("sluice did not restart: {e}"));
        let name = if self.config.targets[0].protocol == sluice::config::Protocol::Mysql {
            "my"
        } else {
            "pg"
        };
        self.addr = server.addr(name).expect("the target listens again");
        self.server = Some(server);
    }

    /// Stops sluice gracefully; returns the sessions left open after the grace period.
    pub async fn shutdown(&mut self) -> usize {
        match self.server.take() {
            Some(s) => s.shutdown().await,
            None => 0,
        }
    }
}

/// A rustls client config trusting `ca_file`.
pub fn client_tls_config(ca_file: &Path) -> rustls::ClientConfig {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca_file).expect("CA file") {
        roots.add(cert.expect("CA cert")).expect("CA accepted");
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// Runs `psql` with `conn` and extra arguments; stdin is empty.
pub fn psql(conn: &str, args: &[&str]) -> Output {
    Command::new("psql")
        .arg("-X")
        .arg(conn)
        .args(args)
        .env_remove("PGPASSWORD")
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("psql runs")
}

/// A direct (not through sluice) connection string to the upstream as its app user.
pub fn direct_conn_str(upstream: &PgServer) -> String {
    format!(
        "host=127.0.0.1 port={} user={} password={} dbname={}",
        upstream.port, upstream.opts.user, upstream.opts.password, upstream.opts.database
    )
}

/// A direct `tokio-postgres` connection to the upstream as its app user (to set up and check
/// data behind sluice's back).
pub async fn pg_direct(upstream: &PgServer) -> Client {
    let (client, conn) = tokio_postgres::connect(&direct_conn_str(upstream), NoTls)
        .await
        .unwrap_or_else(|e| panic!("direct connection to PostgreSQL: {e}"));
    tokio::spawn(conn);
    client
}

/// A per-test name, so tests sharing a server do not collide.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The `[audit]` section most tests use: async with a short flush, 100 rows per result,
/// literals masked, the chain's key in the environment variable `key_env`.
pub fn audit_section(key_env: &str) -> String {
    format!(
        "[audit]\ndir = \"audit\"\nmode = \"async\"\nflush_interval = \"10ms\"\nrecord_rows = 100\nquery_literals = \"mask\"\nkey_env = \"{key_env}\"\n"
    )
}

/// mysql_async options for a sluice MySQL target (or any MySQL address).
pub fn mysql_opts(
    port: u16,
    user: &str,
    password: &str,
    db: Option<&str>,
) -> mysql_async::OptsBuilder {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .db_name(db)
        .prefer_socket(false)
}

impl Proxy {
    /// Every byte of the audit log under `<dir>/audit`, as text (for scans for clear values).
    pub fn audit_text(&self) -> String {
        let mut out = Vec::new();
        let mut pending = vec![self.dir.path().join("audit")];
        while let Some(d) = pending.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.extend(bytes);
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A mysql_async connection through sluice as alice, to database `shop`.
    pub async fn mysql(&self) -> mysql_async::Conn {
        self.mysql_as(USER, PASSWORD).await
    }

    /// A mysql_async connection through sluice as `user`, to database `shop`.
    pub async fn mysql_as(&self, user: &str, password: &str) -> mysql_async::Conn {
        mysql_async::Conn::new(mysql_opts(self.port(), user, password, Some("shop")))
            .await
            .unwrap_or_else(|e| panic!("mysql connect through sluice as {user}: {e}"))
    }
}

/// mysql_async options for a direct connection to a MariaDB as its app user.
pub fn mysql_direct_opts(server: &MariaDbServer) -> mysql_async::OptsBuilder {
    mysql_opts(
        server.port,
        &server.opts.user,
        &server.opts.password,
        Some(&server.opts.database),
    )
}

/// A direct mysql_async connection to a MariaDB as its app user.
pub async fn mysql_direct(server: &MariaDbServer) -> mysql_async::Conn {
    mysql_async::Conn::new(mysql_direct_opts(server))
        .await
        .unwrap_or_else(|e| panic!("direct mysql connect: {e}"))
}

/// Raw MySQL packets, for tests that speak the protocol byte by byte (malformed input, cursors,
/// authentication exchanges no driver makes on purpose).
pub mod raw_pg;

/// The fidelity harness: the databases' own regression suites, directly and through sluice.
pub mod fidelity;

pub mod mysql_wire {
    use std::sync::Arc;

    use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio_rustls::client::TlsStream;

    use super::Proxy;

    pub const CLIENT_LONG_PASSWORD: u32 = 0x1;
    pub const CLIENT_CONNECT_WITH_DB: u32 = 0x8;
    pub const CLIENT_COMPRESS: u32 = 0x20;
    pub const CLIENT_PROTOCOL_41: u32 = 0x200;
    pub const CLIENT_SSL: u32 = 0x800;
    pub const CLIENT_TRANSACTIONS: u32 = 0x2000;
    pub const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
    pub const CLIENT_MULTI_RESULTS: u32 = 0x20000;
    pub const CLIENT_PLUGIN_AUTH: u32 = 0x80000;
    pub const CLIENT_PLUGIN_AUTH_LENENC: u32 = 0x200000;

    /// What the raw client announces: protocol 4.1 with plugin auth, no DEPRECATE_EOF.
    pub const BASE_CAPS: u32 = CLIENT_LONG_PASSWORD
        | CLIENT_CONNECT_WITH_DB
        | CLIENT_PROTOCOL_41
        | CLIENT_TRANSACTIONS
        | CLIENT_SECURE_CONNECTION
        | CLIENT_MULTI_RESULTS
        | CLIENT_PLUGIN_AUTH
        | CLIENT_PLUGIN_AUTH_LENENC;

    /// Reads one packet: (seq, payload).
    pub async fn read_packet<S: AsyncRead + Unpin>(s: &mut S) -> std::io::Result<(u8, Vec<u8>)> {
        let mut header = [0u8; 4];
        s.read_exact(&mut header).await?;
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        let mut payload = vec![0u8; len];
        s.read_exact(&mut payload).await?;
        Ok((header[3], payload))
    }

    /// One packet, header included.
    pub fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = (payload.len() as u32).to_le_bytes()[..3].to_vec();
        p.push(seq);
        p.extend_from_slice(payload);
        p
    }

    pub async fn write_packet<S: AsyncWrite + Unpin>(
        s: &mut S,
        seq: u8,
        payload: &[u8],
    ) -> std::io::Result<()> {
        s.write_all(&packet(seq, payload)).await?;
        s.flush().await
    }

    /// The capability flags of a HandshakeV10.
    pub fn greeting_caps(greeting: &[u8]) -> u32 {
        assert_eq!(greeting[0], 10, "HandshakeV10");
        let version_end = 1 + greeting[1..].iter().position(|&b| b == 0).unwrap();
        let at = version_end + 1 + 4 + 8 + 1;
        let low = u32::from(u16::from_le_bytes([greeting[at], greeting[at + 1]]));
        let high = u32::from(u16::from_le_bytes([greeting[at + 5], greeting[at + 6]]));
        low | high << 16
    }

    /// A HandshakeResponse41.
    pub fn handshake_response(
        caps: u32,
        user: &str,
        auth: &[u8],
        db: &str,
        plugin: &str,
    ) -> Vec<u8> {
        let mut p = caps.to_le_bytes().to_vec();
        p.extend_from_slice(&(16u32 << 20).to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[0u8; 23]);
        p.extend_from_slice(user.as_bytes());
        p.push(0);
        p.push(auth.len() as u8);
        p.extend_from_slice(auth);
        p.extend_from_slice(db.as_bytes());
        p.push(0);
        p.extend_from_slice(plugin.as_bytes());
        p.push(0);
        p
    }

    /// Connects to sluice, asks for TLS and sends a HandshakeResponse41 for `plugin` with `auth`
    /// inside it (seq 2). The caller reads sluice's answer.
    pub async fn tls_handshake(
        proxy: &Proxy,
        user: &str,
        auth: &[u8],
        plugin: &str,
    ) -> TlsStream<TcpStream> {
        let mut tcp = TcpStream::connect(proxy.addr).await.unwrap();
        let (seq, greeting) = read_packet(&mut tcp).await.unwrap();
        assert_eq!(seq, 0);
        assert!(greeting_caps(&greeting) & CLIENT_SSL != 0, "TLS offered");
        let caps = BASE_CAPS | CLIENT_SSL;
        let mut ssl_request = caps.to_le_bytes().to_vec();
        ssl_request.extend_from_slice(&(16u32 << 20).to_le_bytes());
        ssl_request.push(45);
        ssl_request.extend_from_slice(&[0u8; 23]);
        write_packet(&mut tcp, 1, &ssl_request).await.unwrap();
        let connector =
            tokio_rustls::TlsConnector::from(Arc::new(super::client_tls_config(&proxy.ca_file())));
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let response = handshake_response(caps, user, auth, "shop", plugin);
        write_packet(&mut tls, 2, &response).await.unwrap();
        tls
    }

    /// Logs in over TLS through `caching_sha2_password` full authentication: a fast-path
    /// response that does not verify, then the password itself when sluice asks for it.
    /// Returns the answer to the password (OK or ERR) and the stream.
    pub async fn full_auth_login(
        proxy: &Proxy,
        user: &str,
        password: &str,
    ) -> (Vec<u8>, TlsStream<TcpStream>) {
        let mut tls = tls_handshake(proxy, user, &[0x5A; 32], "caching_sha2_password").await;
        let (seq, more) = read_packet(&mut tls).await.unwrap();
        assert_eq!(
            (seq, more.as_slice()),
            (3, &[0x01, 0x04][..]),
            "perform_full_authentication"
        );
        let mut pw = password.as_bytes().to_vec();
        pw.push(0);
        write_packet(&mut tls, 4, &pw).await.unwrap();
        let (seq, answer) = read_packet(&mut tls).await.unwrap();
        assert_eq!(seq, 5);
        (answer, tls)
    }

    /// Reads a text result set of a client without DEPRECATE_EOF: the rows' values.
    pub async fn read_text_rows<S: AsyncRead + Unpin>(s: &mut S) -> Vec<Vec<Option<String>>> {
        let (_, count) = read_packet(s).await.unwrap();
        assert_ne!(
            count[0],
            0xFF,
            "an error: {}",
            String::from_utf8_lossy(&count)
        );
        let columns = usize::from(count[0]);
        for _ in 0..columns {
            read_packet(s).await.unwrap();
        }
        let (_, eof) = read_packet(s).await.unwrap();
        assert_eq!(eof[0], 0xFE, "EOF after the column definitions");
        let mut rows = Vec::new();
        loop {
            let (_, p) = read_packet(s).await.unwrap();
            if p[0] == 0xFE && p.len() < 9 {
                return rows;
            }
            let mut row = Vec::new();
            let mut at = 0;
            for _ in 0..columns {
                if p[at] == 0xFB {
                    row.push(None);
                    at += 1;
                } else {
                    let n = usize::from(p[at]);
                    assert!(n < 0xFB, "short values only");
                    row.push(Some(
                        String::from_utf8_lossy(&p[at + 1..at + 1 + n]).into_owned(),
                    ));
                    at += 1 + n;
                }
            }
            rows.push(row);
        }
    }
}

/// Collects every log line of this test binary (sluice runs in-process here). Installs the
/// global tracing subscriber on first use.
pub fn captured_logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    use std::sync::{Arc, Mutex, OnceLock};
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
    .clone()
}
pub mod chaos;
