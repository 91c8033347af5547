//! Network chaos against a running sluice, as a black box: sessions that send mutated,
//! truncated, reordered and slow (slowloris) bytes in both protocols, before and after
//! authentication, and clients that vanish mid-result, while well-behaved clients keep running
//! statements whose answers are checked. The outcome says whether every well-behaved statement
//! was answered right, and how sluice's resident memory and open descriptors (read from
//! `/proc/<pid>`) compare before and after.
//!
//! Used by `tests/tests/chaos.rs` (a short run in CI) and by the `chaos` binary
//! (`cargo run -p sluice-tests --release --bin chaos -- --help`) for long runs.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::mysql_wire::{handshake_response, read_packet, write_packet, BASE_CAPS};

/// What to run against, and for how long.
#[derive(Clone, Debug)]
pub struct ChaosConfig {
    /// A sluice PostgreSQL target (database `app`), if any.
    pub pg: Option<SocketAddr>,
    /// A sluice MySQL target (database `shop`), if any.
    pub mysql: Option<SocketAddr>,
    /// The user the chaos sessions log in as, and its password.
    pub user: String,
    pub password: String,
    /// The user the well-behaved clients log in as (another one, so failed chaos logins do not
    /// slow them), and its password.
    pub good_user: String,
    pub good_password: String,
    /// The source address of the well-behaved PostgreSQL client (another loopback address
    /// keeps it out of the chaos address's login throttling).
    pub good_from: Option<IpAddr>,
    pub duration: Duration,
    /// Chaos sessions at a time.
    pub workers: usize,
    pub seed: u64,
    /// sluice's process id, for its memory and descriptors.
    pub pid: u32,
}

/// Resident memory and open descriptors of a process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub rss_kib: u64,
    pub fds: u64,
}

/// Reads `/proc/<pid>`; zeros when it cannot (the process is gone).
pub fn usage(pid: u32) -> Usage {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    Usage { rss_kib, fds }
}

/// What each open descriptor of a process points at (sockets, files), for telling what a
/// count that did not come back holds.
pub fn fd_targets(pid: u32) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|t| t.display().to_string())
        .collect();
    out.sort();
    out
}

/// What a run saw.
#[derive(Debug, Default)]
pub struct ChaosReport {
    /// Chaos sessions run, by scenario.
    pub scenarios: std::collections::BTreeMap<&'static str, u64>,
    /// Well-behaved statements answered right.
    pub good_statements: u64,
    /// What went wrong for the well-behaved clients (empty is the goal).
    pub good_errors: Vec<String>,
    pub before: Usage,
    pub peak: Usage,
    pub after: Usage,
    /// Seconds from the end of the chaos until descriptors were back at the baseline (or the
    /// settling gave up).
    pub settled_secs: f64,
}

impl std::fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total: u64 = self.scenarios.values().sum();
        writeln!(f, "chaos sessions: {total}")?;
        for (name, n) in &self.scenarios {
            writeln!(f, "  {name:<22} {n}")?;
        }
        writeln!(
            f,
            "well-behaved statements answered right: {}, errors: {}",
            self.good_statements,
            self.good_errors.len()
        )?;
        for e in self.good_errors.iter().take(10) {
            writeln!(f, "  {e}")?;
        }
        let mib = |k: u64| k as f64 / 1024.0;
        writeln!(
            f,
            "sluice RSS MiB: before {:.1}, peak {:.1}, after {:.1}",
            mib(self.before.rss_kib),
            mib(self.peak.rss_kib),
            mib(self.after.rss_kib)
        )?;
        write!(
            f,
            "sluice open descriptors: before {}, peak {}, after {} (settled in {:.1} s)",
            self.before.fds, self.peak.fds, self.after.fds, self.settled_secs
        )
    }
}

/// A small deterministic generator (xorshift64*): runs are repeatable by seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
    /// `data` with a few bytes changed, cut short, or both.
    pub fn mutate(&mut self, mut data: Vec<u8>) -> Vec<u8> {
        match self.below(3) {
            0 => {
                for _ in 0..=self.below(4) {
                    let i = self.below(data.len());
                    if let Some(b) = data.get_mut(i) {
                        *b ^= 1 << self.below(8);
                    }
                }
            }
            1 => data.truncate(self.below(data.len())),
            _ => {
                let i = self.below(data.len());
                if let Some(b) = data.get_mut(i) {
                    *b = self.next_u64() as u8;
                }
                data.truncate(data.len() - self.below(data.len() / 2 + 1));
            }
        }
        data
    }
}

/// How long one chaos session may take before it is abandoned (and dropped).
const SESSION_LIMIT: Duration = Duration::from_secs(15);

/// Runs the chaos and the well-behaved clients for `config.duration`, then lets sluice settle
/// and measures it.
pub async fn run(config: ChaosConfig) -> ChaosReport {
    let config = Arc::new(config);
    let stop = Arc::new(AtomicBool::new(false));
    let good = Arc::new(GoodCounts::default());
    let scenarios = Arc::new(Mutex::new(std::collections::BTreeMap::new()));
    let mut good_tasks = Vec::new();
    if let Some(addr) = config.pg {
        good_tasks.push(tokio::spawn(good_pg(
            Arc::clone(&config),
            addr,
            Arc::clone(&stop),
            Arc::clone(&good),
        )));
    }
    if let Some(addr) = config.mysql {
        good_tasks.push(tokio::spawn(good_mysql(
            Arc::clone(&config),
            addr,
            Arc::clone(&stop),
            Arc::clone(&good),
        )));
    }
    // The well-behaved clients are connected, sluice is warm: the baseline.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = usage(config.pid);
    let peak = Arc::new(Mutex::new(before));
    let deadline = Instant::now() + config.duration;
    let workers: Vec<_> = (0..config.workers)
        .map(|i| {
            let (config, scenarios, peak) = (
                Arc::clone(&config),
                Arc::clone(&scenarios),
                Arc::clone(&peak),
            );
            tokio::spawn(async move {
                let mut rng = Rng::new(config.seed.wrapping_add(i as u64 * 7919));
                while Instant::now() < deadline {
                    let name = one_session(&config, &mut rng).await;
                    *scenarios.lock().unwrap().entry(name).or_insert(0u64) += 1;
                    let now = usage(config.pid);
                    let mut p = peak.lock().unwrap();
                    p.rss_kib = p.rss_kib.max(now.rss_kib);
                    p.fds = p.fds.max(now.fds);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let (after, settled_secs) = settle(config.pid, before).await;
    stop.store(true, Ordering::Relaxed);
    for t in good_tasks {
        let _ = t.await;
    }
    let scenarios = scenarios.lock().unwrap().clone();
    let peak = *peak.lock().unwrap();
    let good_errors = good.errors.lock().unwrap().clone();
    ChaosReport {
        scenarios,
        good_statements: good.ok.load(Ordering::Relaxed),
        good_errors,
        before,
        peak,
        after,
        settled_secs,
    }
}

/// Waits (up to 30 s) for sluice's descriptors to come back to the baseline; the usage then.
async fn settle(pid: u32, before: Usage) -> (Usage, f64) {
    let started = Instant::now();
    let mut now = usage(pid);
    while now.fds > before.fds && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        now = usage(pid);
    }
    (now, started.elapsed().as_secs_f64())
}

/// One chaos session, picked at random among the protocols configured; its scenario's name.
async fn one_session(config: &ChaosConfig, rng: &mut Rng) -> &'static str {
    let pg = config.pg.map(|a| (a, true));
    let my = config.mysql.map(|a| (a, false));
    let targets: Vec<(SocketAddr, bool)> = pg.into_iter().chain(my).collect();
    let (addr, is_pg) = targets[rng.below(targets.len())];
    let mut local = rng.clone();
    rng.next_u64();
    let name = if is_pg {
        PG_SCENARIOS[local.below(PG_SCENARIOS.len())]
    } else {
        MYSQL_SCENARIOS[local.below(MYSQL_SCENARIOS.len())]
    };
    let session = async {
        let Ok(s) = TcpStream::connect(addr).await else {
            return;
        };
        let _ = s.set_nodelay(true);
        let _ = match is_pg {
            true => pg_scenario(name, s, config, &mut local).await,
            false => mysql_scenario(name, s, config, &mut local).await,
        };
    };
    let _ = tokio::time::timeout(SESSION_LIMIT, session).await;
    name
}

type Io = std::io::Result<()>;

/// Drops the connection with a reset (SO_LINGER 0), as a client that crashed does. Dropping
/// with linger 0 does not block: it discards the unsent data and sends RST at once.
#[allow(deprecated)]
pub fn vanish(s: TcpStream) {
    let _ = s.set_linger(Some(Duration::ZERO));
    drop(s);
}

/// Asks a logged-in session for a large result (200,000 rows of about 200 bytes).
pub async fn ask_large_result(s: &mut TcpStream, pg: bool) {
    let _ = match pg {
        true => {
            let mut buf = BytesMut::new();
            let q = "SELECT g, repeat('x', 200) FROM generate_series(1, 200000) g";
            let _ = frontend::query(q, &mut buf);
            s.write_all(&buf).await
        }
        false => {
            let q = b"\x03SELECT seq, repeat('x', 200) FROM seq_1_to_200000";
            write_packet(s, 0, q).await
        }
    };
}

/// Reads whatever comes for up to `wait`, stopping at a close; nothing read is checked.
async fn drain(s: &mut TcpStream, wait: Duration) {
    let mut buf = vec![0u8; 16 * 1024];
    let _ = tokio::time::timeout(wait, async {
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Writes `data` a few bytes at a time with pauses, as a slowloris client does.
async fn dribble(s: &mut TcpStream, data: &[u8], rng: &mut Rng) -> Io {
    for chunk in data.chunks(1 + rng.below(3)) {
        s.write_all(chunk).await?;
        tokio::time::sleep(Duration::from_millis(50 + rng.below(400) as u64)).await;
    }
    Ok(())
}

// ---------------------------------------------------------------- PostgreSQL

const PG_SCENARIOS: [&str; 8] = [
    "pg garbage",
    "pg truncated startup",
    "pg mutated startup",
    "pg slowloris startup",
    "pg mutated sasl",
    "pg mutated session",
    "pg reordered session",
    "pg vanish mid-result",
];

fn pg_startup(user: &str) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let _ = frontend::startup_message([("user", user), ("database", "app")], &mut buf);
    buf.to_vec()
}

async fn pg_scenario(name: &str, mut s: TcpStream, c: &ChaosConfig, rng: &mut Rng) -> Io {
    let startup = pg_startup(&c.user);
    match name {
        "pg garbage" => {
            let n = 1 + rng.below(4096);
            s.write_all(&rng.bytes(n)).await?;
        }
        "pg truncated startup" => {
            let n = rng.below(startup.len());
            s.write_all(&startup[..n]).await?;
            tokio::time::sleep(Duration::from_millis(rng.below(1000) as u64)).await;
        }
        "pg mutated startup" => s.write_all(&rng.mutate(startup)).await?,
        "pg slowloris startup" => dribble(&mut s, &startup, rng).await?,
        "pg mutated sasl" => {
            s.write_all(&startup).await?;
            let mut buf = BytesMut::new();
            let scram = ScramSha256::new(c.password.as_bytes(), ChannelBinding::unsupported());
            let _ = frontend::sasl_initial_response("SCRAM-SHA-256", scram.message(), &mut buf);
            s.write_all(&rng.mutate(buf.to_vec())).await?;
        }
        "pg mutated session" | "pg reordered session" => {
            if pg_login(&mut s, c).await? {
                let messages = pg_messages(rng, name == "pg reordered session");
                s.write_all(&messages).await?;
            }
        }
        _ => {
            if pg_login(&mut s, c).await? {
                ask_large_result(&mut s, true).await;
                let mut some = vec![0u8; 1 + rng.below(64 * 1024)];
                let _ = s.read(&mut some).await;
                // Gone with the result half read: a reset, not a goodbye.
                vanish(s);
                return Ok(());
            }
        }
    }
    drain(&mut s, Duration::from_millis(500 + rng.below(1500) as u64)).await;
    Ok(())
}

/// A session's worth of frontend messages: valid ones, some mutated, in order or shuffled.
fn pg_messages(rng: &mut Rng, shuffle: bool) -> Vec<u8> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for _ in 0..1 + rng.below(8) {
        let mut buf = BytesMut::new();
        let _ = match rng.below(8) {
            0 => frontend::query("SELECT 1", &mut buf),
            1 => frontend::parse("s1", "SELECT $1::int", std::iter::empty::<u32>(), &mut buf),
            2 => frontend::bind(
                "",
                "s1",
                [1i16],
                [Some(b"7".as_slice())],
                |v, out| {
                    out.extend_from_slice(v.unwrap_or_default());
                    Ok(postgres_protocol::IsNull::No)
                },
                [1i16],
                &mut buf,
            )
            .map_err(|_| std::io::Error::other("bind")),
            3 => frontend::execute("", 0, &mut buf),
            4 => {
                frontend::sync(&mut buf);
                Ok(())
            }
            5 => frontend::describe(b'S', "s1", &mut buf),
            6 => {
                // CopyData outside COPY.
                buf.extend_from_slice(b"d\0\0\0\x081\t2\n");
                Ok(())
            }
            _ => {
                let n = 1 + rng.below(64);
                buf.extend_from_slice(&rng.bytes(n));
                Ok(())
            }
        };
        let mut part = buf.to_vec();
        if rng.below(3) == 0 {
            part = rng.mutate(part);
        }
        parts.push(part);
    }
    if shuffle {
        for i in (1..parts.len()).rev() {
            let j = rng.below(i + 1);
            parts.swap(i, j);
        }
    }
    parts.concat()
}

/// Logs in with SCRAM by hand; `false` when sluice said no (or closed).
pub async fn pg_login(s: &mut TcpStream, c: &ChaosConfig) -> std::io::Result<bool> {
    s.write_all(&pg_startup(&c.user)).await?;
    let mut scram = ScramSha256::new(c.password.as_bytes(), ChannelBinding::unsupported());
    loop {
        let tag = s.read_u8().await?;
        let len = s.read_u32().await?;
        if !(4..1 << 20).contains(&len) {
            return Ok(false);
        }
        let mut body = vec![0u8; len as usize - 4];
        s.read_exact(&mut body).await?;
        let mut out = BytesMut::new();
        let code = body
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        match (tag, code) {
            (b'R', Some(10)) => {
                frontend::sasl_initial_response("SCRAM-SHA-256", scram.message(), &mut out)?
            }
            (b'R', Some(11)) => {
                scram.update(&body[4..])?;
                frontend::sasl_response(scram.message(), &mut out)?;
            }
            (b'R', Some(12)) => scram.finish(&body[4..])?,
            (b'Z', _) => return Ok(true),
            (b'E', _) => return Ok(false),
            _ => {}
        }
        if !out.is_empty() {
            s.write_all(&out).await?;
        }
    }
}

// ---------------------------------------------------------------- MySQL

const MYSQL_SCENARIOS: [&str; 7] = [
    "mysql garbage",
    "mysql truncated login",
    "mysql mutated login",
    "mysql slowloris login",
    "mysql mutated session",
    "mysql reordered session",
    "mysql vanish mid-result",
];

/// `mysql_native_password`'s answer to `scramble`.
pub fn native_scramble(password: &str, scramble: &[u8]) -> Vec<u8> {
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

/// The 20 scramble bytes of a HandshakeV10; `None` when it is not one.
pub fn greeting_scramble(greeting: &[u8]) -> Option<Vec<u8>> {
    let version_end = 1 + greeting.get(1..)?.iter().position(|&b| b == 0)?;
    let at = version_end + 1 + 4;
    let mut scramble = greeting.get(at..at + 8)?.to_vec();
    let rest = at + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
    scramble.extend_from_slice(greeting.get(rest..rest + 12)?);
    Some(scramble)
}

/// The HandshakeResponse41 that logs `user` in, for the greeting read from `s`.
async fn mysql_response(s: &mut TcpStream, user: &str, password: &str) -> std::io::Result<Vec<u8>> {
    let (_, greeting) = read_packet(s).await?;
    let scramble =
        greeting_scramble(&greeting).ok_or_else(|| std::io::Error::other("no greeting"))?;
    let auth = native_scramble(password, &scramble);
    Ok(handshake_response(
        BASE_CAPS,
        user,
        &auth,
        "shop",
        "mysql_native_password",
    ))
}

/// Logs in by hand; `false` when sluice said no.
pub async fn mysql_login(s: &mut TcpStream, c: &ChaosConfig) -> std::io::Result<bool> {
    let response = mysql_response(s, &c.user, &c.password).await?;
    write_packet(s, 1, &response).await?;
    let (_, answer) = read_packet(s).await?;
    Ok(answer.first() == Some(&0))
}

async fn mysql_scenario(name: &str, mut s: TcpStream, c: &ChaosConfig, rng: &mut Rng) -> Io {
    match name {
        "mysql garbage" => {
            let _ = read_packet(&mut s).await?;
            let n = 1 + rng.below(4096);
            s.write_all(&rng.bytes(n)).await?;
        }
        "mysql truncated login" | "mysql mutated login" | "mysql slowloris login" => {
            let response = mysql_response(&mut s, &c.user, &c.password).await?;
            let mut packet = crate::mysql_wire::packet(1, &response);
            match name {
                "mysql truncated login" => packet.truncate(rng.below(packet.len())),
                "mysql mutated login" => packet = rng.mutate(packet),
                _ => {}
            }
            if name == "mysql slowloris login" {
                dribble(&mut s, &packet, rng).await?;
            } else {
                s.write_all(&packet).await?;
            }
        }
        "mysql mutated session" | "mysql reordered session" => {
            if mysql_login(&mut s, c).await? {
                let commands = mysql_commands(rng, name == "mysql reordered session");
                s.write_all(&commands).await?;
            }
        }
        _ => {
            if mysql_login(&mut s, c).await? {
                ask_large_result(&mut s, false).await;
                let mut some = vec![0u8; 1 + rng.below(64 * 1024)];
                let _ = s.read(&mut some).await;
                vanish(s);
                return Ok(());
            }
        }
    }
    drain(&mut s, Duration::from_millis(500 + rng.below(1500) as u64)).await;
    Ok(())
}

/// Command packets: valid ones, some mutated, some with wrong sequence ids, maybe shuffled.
fn mysql_commands(rng: &mut Rng, shuffle: bool) -> Vec<u8> {
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for _ in 0..1 + rng.below(8) {
        let payload: Vec<u8> = match rng.below(7) {
            0 => b"\x03SELECT 1".to_vec(),
            1 => b"\x16SELECT ?".to_vec(),
            2 => [
                &[0x17u8][..],
                &(1 + rng.below(3) as u32).to_le_bytes(),
                &[0, 1, 0, 0, 0],
            ]
            .concat(),
            3 => vec![0x0E],
            4 => [&[0x19u8][..], &7u32.to_le_bytes()].concat(),
            5 => vec![rng.next_u64() as u8],
            _ => {
                let n = 1 + rng.below(64);
                rng.bytes(n)
            }
        };
        let seq = if rng.below(4) == 0 {
            rng.next_u64() as u8
        } else {
            0
        };
        let mut part = crate::mysql_wire::packet(seq, &payload);
        if rng.below(3) == 0 {
            part = rng.mutate(part);
        }
        parts.push(part);
    }
    if shuffle {
        for i in (1..parts.len()).rev() {
            let j = rng.below(i + 1);
            parts.swap(i, j);
        }
    }
    parts.concat()
}

// ---------------------------------------------------------------- well-behaved clients

#[derive(Default)]
struct GoodCounts {
    ok: AtomicU64,
    errors: Mutex<Vec<String>>,
}

impl GoodCounts {
    fn error(&self, what: String) {
        self.errors.lock().unwrap().push(what);
    }
}

async fn tcp_from(from: Option<IpAddr>, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if to.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(from) = from {
        socket.bind(SocketAddr::new(from, 0))?;
    }
    socket.connect(to).await
}

/// A PostgreSQL client that checks every answer; it reconnects every 200 statements, so logins
/// are checked too.
async fn good_pg(c: Arc<ChaosConfig>, addr: SocketAddr, stop: Arc<AtomicBool>, n: Arc<GoodCounts>) {
    let mut i: i64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let config = tokio_postgres::Config::new()
            .user(&c.good_user)
            .password(&c.good_password)
            .dbname("app")
            .to_owned();
        let client = match tcp_from(c.good_from, addr).await {
            Ok(tcp) => match config.connect_raw(tcp, tokio_postgres::NoTls).await {
                Ok((client, conn)) => {
                    tokio::spawn(conn);
                    client
                }
                Err(e) => {
                    n.error(format!("pg login: {e}"));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            Err(e) => {
                n.error(format!("pg connect: {e}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for _ in 0..200 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            i += 1;
            match client.query_one("SELECT $1::bigint * 2", &[&i]).await {
                Ok(row) if row.get::<_, i64>(0) == i * 2 => n.ok.fetch_add(1, Ordering::Relaxed),
                Ok(row) => {
                    n.error(format!("pg: {i} * 2 = {}", row.get::<_, i64>(0)));
                    0
                }
                Err(e) => {
                    n.error(format!("pg statement: {e}"));
                    break;
                }
            };
        }
    }
}

/// The same over MySQL (mysql_async cannot pick its source address: it logs in as
/// `good_user`, whose name the chaos never uses).
async fn good_mysql(
    c: Arc<ChaosConfig>,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    n: Arc<GoodCounts>,
) {
    use mysql_async::prelude::Queryable;
    let mut i: i64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname(addr.ip().to_string())
            .tcp_port(addr.port())
            .user(Some(&c.good_user))
            .pass(Some(&c.good_password))
            .db_name(Some("shop"))
            .prefer_socket(false);
        let mut conn = match mysql_async::Conn::new(opts).await {
            Ok(conn) => conn,
            Err(e) => {
                n.error(format!("mysql login: {e}"));
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        for _ in 0..200 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            i += 1;
            match conn.exec_first::<i64, _, _>("SELECT ? * 2", (i,)).await {
                Ok(Some(v)) if v == i * 2 => n.ok.fetch_add(1, Ordering::Relaxed),
                Ok(other) => {
                    n.error(format!("mysql: {i} * 2 = {other:?}"));
                    0
                }
                Err(e) => {
                    n.error(format!("mysql statement: {e}"));
                    break;
                }
            };
        }
        let _ = conn.disconnect().await;
    }
}
