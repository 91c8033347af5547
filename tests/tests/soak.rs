//! The soak run (`./sluice-dev soak [--minutes N] [--connections N]`; ignored by `cargo test`):
//! one sluice with a PostgreSQL and a MySQL target, and for the whole run
//!
//! - `SLUICE_SOAK_CONNECTIONS` (default 2,000) client connections at once: a quarter to
//!   PostgreSQL, the rest to MariaDB (a PostgreSQL backend costs megabytes; the throwaway
//!   servers share the machine). Most are idle and speak once every 20 to 40 s; 16 of them
//!   run statements back to back; after a failed login each backs off (1 to 16 s);
//! - pgbench (`-S`, 8 clients) through sluice, in rounds of at most a minute;
//! - clients that vanish mid-result (a reset with a large result half read), both protocols;
//! - a restart of the PostgreSQL server at a third and at two thirds of the run, and of the
//!   MariaDB server at half of it.
//!
//! Every statement of the checked clients (bob) is `SELECT <n> * 2 AS soak` and its answer is
//! checked. At the end: no statement went unanswered (an error while the database restarts is
//! an answer), every statement answered right has its audit record, sluice's descriptors come
//! back to where they started and its memory close to it, and the latency percentiles of the
//! checked statements are printed. sluice runs in this process: the figures are the process's.
//! To say where slow logins waited, it also prints sluice's login timings (the `sluice::login`
//! debug events), how late this process's timers fired, and the kernel's listen-queue overflows.
//! The throwaway MariaDB starts tuned for the connection count (`max_connections`, `back_log`,
//! `thread_cache_size`), as a deployment for that many clients would be.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_tests::chaos::{
    ask_large_result, fd_targets, mysql_login, pg_login, usage, vanish, ChaosConfig, Usage,
};
use sluice_tests::*;
use tokio::io::AsyncReadExt;

#[path = "support/soak_timings.rs"]
mod timings;

const KEY_ENV: &str = "SLUICE_SOAK_AUDIT_KEY";
/// A statement with no answer after this long is unanswered.
const ANSWER_LIMIT: Duration = Duration::from_secs(30);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The checked clients' statements.
#[derive(Default)]
struct Stats {
    ok: AtomicU64,
    /// Answered with an error (the database restarting under the session).
    errors: AtomicU64,
    unanswered: AtomicU64,
    wrong: AtomicU64,
    /// Connections that could not log in (while the database restarts).
    login_errors: AtomicU64,
    /// Connections that got no answer at all within `ANSWER_LIMIT`.
    stalled_connects: AtomicU64,
    /// Microseconds, of the busy clients' statements.
    latencies: Mutex<Vec<u32>>,
    /// Why logins failed: the error's kind ([`kind_of`]), and how often.
    login_failures: Mutex<std::collections::BTreeMap<String, u64>>,
    /// The same for statements answered with an error, with when (10 s steps from `started`).
    statement_errors: Mutex<std::collections::BTreeMap<(u64, String), u64>>,
    started: std::sync::OnceLock<Instant>,
}

/// An error's text with its numbers (ports, addresses, ids) blanked, to count it by kind.
fn kind_of(error: &str) -> String {
    error
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .take(160)
        .collect()
}

impl Stats {
    /// Counts a failed login under its error's kind.
    fn login_failed(&self, error: &str) {
        let kind = kind_of(error);
        *self.login_failures.lock().unwrap().entry(kind).or_default() += 1;
    }
    fn answered(&self, result: Option<Result<i64, String>>, n: i64, took: Option<Duration>) {
        match result {
            None => self.unanswered.fetch_add(1, Ordering::Relaxed),
            Some(Ok(v)) if v == n * 2 => self.ok.fetch_add(1, Ordering::Relaxed),
            Some(Ok(_)) => self.wrong.fetch_add(1, Ordering::Relaxed),
            Some(Err(e)) => {
                let at = self
                    .started
                    .get()
                    .map_or(0, |t| t.elapsed().as_secs() / 10 * 10);
                let mut errors = self.statement_errors.lock().unwrap();
                *errors.entry((at, kind_of(&e))).or_default() += 1;
                self.errors.fetch_add(1, Ordering::Relaxed)
            }
        };
        if let Some(t) = took {
            let micros = u32::try_from(t.as_micros()).unwrap_or(u32::MAX);
            self.latencies.lock().unwrap().push(micros);
        }
    }
}

/// One checked statement over PostgreSQL: `None` when unanswered.
async fn pg_statement(client: &tokio_postgres::Client, n: i64) -> Option<Result<i64, String>> {
    let text = format!("SELECT {n} * 2 AS soak");
    let q = client.simple_query(&text);
    let rows = tokio::time::timeout(ANSWER_LIMIT, q).await.ok()?;
    Some(rows.map_err(|e| e.to_string()).and_then(|rows| {
        rows.iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0)?.parse().ok(),
                _ => None,
            })
            .ok_or_else(|| "no row".to_string())
    }))
}

async fn my_statement(conn: &mut mysql_async::Conn, n: i64) -> Option<Result<i64, String>> {
    use mysql_async::prelude::Queryable;
    let q = conn.query_first::<i64, _>(format!("SELECT {n} * 2 AS soak"));
    let row = tokio::time::timeout(ANSWER_LIMIT, q).await.ok()?;
    Some(
        row.map_err(|e| e.to_string())
            .and_then(|r| r.ok_or("no row".into())),
    )
}

async fn pg_connect(proxy_addr: std::net::SocketAddr, s: &Stats) -> Option<tokio_postgres::Client> {
    let conn = format!(
        "host=127.0.0.1 port={} user={OTHER_USER} password={OTHER_PASSWORD} dbname=app",
        proxy_addr.port()
    );
    let connect = tokio_postgres::connect(&conn, tokio_postgres::NoTls);
    let Ok(connected) = tokio::time::timeout(ANSWER_LIMIT, connect).await else {
        s.stalled_connects.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    // tokio-postgres shows a server's error as "db error"; its code and message say why.
    let why = |e: tokio_postgres::Error| match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    let (client, connection) = connected.map_err(|e| s.login_failed(&why(e))).ok()?;
    tokio::spawn(connection);
    Some(client)
}

async fn my_connect(port: u16, s: &Stats) -> Option<mysql_async::Conn> {
    let opts = mysql_opts(port, OTHER_USER, OTHER_PASSWORD, Some("shop"));
    // mysql_async has no connect timeout of its own.
    let Ok(connected) = tokio::time::timeout(ANSWER_LIMIT, mysql_async::Conn::new(opts)).await
    else {
        s.stalled_connects.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    connected.map_err(|e| s.login_failed(&e.to_string())).ok()
}

/// A checked client: back to back when `busy`, else once every 20 to 40 s; reconnects after
/// an error. Runs until `stop`.
async fn checked_pg(
    addr: std::net::SocketAddr,
    busy: bool,
    seed: u64,
    stop: Arc<AtomicBool>,
    s: Arc<Stats>,
) {
    let mut n = (seed as i64) << 32;
    let mut client = None;
    let mut failed_logins = 0;
    while !stop.load(Ordering::Relaxed) {
        let Some(c) = (match client.take() {
            Some(c) => Some(c),
            None => pg_connect(addr, &s).await,
        }) else {
            s.login_errors.fetch_add(1, Ordering::Relaxed);
            back_off(&mut failed_logins, &stop).await;
            continue;
        };
        failed_logins = 0;
        pause(busy, seed, n, &stop).await;
        n += 1;
        let started = Instant::now();
        let r = pg_statement(&c, n).await;
        let keep = matches!(r, Some(Ok(_)));
        s.answered(r, n, busy.then(|| started.elapsed()));
        if keep {
            client = Some(c);
        }
    }
}

async fn checked_my(port: u16, busy: bool, seed: u64, stop: Arc<AtomicBool>, s: Arc<Stats>) {
    let mut n = (seed as i64) << 32;
    let mut conn = None;
    let mut failed_logins = 0;
    while !stop.load(Ordering::Relaxed) {
        let Some(mut c) = (match conn.take() {
            Some(c) => Some(c),
            None => my_connect(port, &s).await,
        }) else {
            s.login_errors.fetch_add(1, Ordering::Relaxed);
            back_off(&mut failed_logins, &stop).await;
            continue;
        };
        failed_logins = 0;
        pause(busy, seed, n, &stop).await;
        n += 1;
        let started = Instant::now();
        let r = my_statement(&mut c, n).await;
        let keep = matches!(r, Some(Ok(_)));
        s.answered(r, n, busy.then(|| started.elapsed()));
        if keep {
            conn = Some(c);
        } else {
            let _ = c.disconnect().await;
        }
    }
    if let Some(c) = conn {
        let _ = c.disconnect().await;
    }
}

/// After a failed login, a wait that doubles with each failure in a row (1, 2, 4, 8, 16 s,
/// then 16 s), cut short by `stop`, as a connection pool backs off. Retrying every second
/// instead turns a database slower than `connect_timeout` into a storm of logins (each a
/// SCRAM exchange on both sides of sluice, in this process) that starves every session.
async fn back_off(failed_logins: &mut u32, stop: &AtomicBool) {
    let until = Instant::now() + Duration::from_secs(1 << (*failed_logins).min(4));
    *failed_logins += 1;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An idle client's pause: 20 to 40 s, cut short by `stop`.
async fn pause(busy: bool, seed: u64, n: i64, stop: &AtomicBool) {
    if busy {
        return;
    }
    let secs = 20 + (seed.wrapping_mul(31).wrapping_add(n as u64) % 21);
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// pgbench -S through sluice in rounds until `stop`; transactions done.
fn pgbench_rounds(port: u16, stop: Arc<AtomicBool>, deadline: Instant) -> (u64, u64) {
    let (mut done, mut failed_rounds) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_secs()
            .min(60);
        if left < 2 {
            break;
        }
        let out = std::process::Command::new("pgbench")
            .args(["-n", "-S", "-c", "8", "-j", "1", "-T", &left.to_string()])
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                USER,
                "app",
            ])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .expect("pgbench runs");
        let text = String::from_utf8_lossy(&out.stdout);
        done += text
            .lines()
            .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
            .and_then(|v| v.split('/').next()?.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if !out.status.success() {
            failed_rounds += 1;
        }
    }
    (done, failed_rounds)
}

/// Clients that log in, ask for a large result, read a little and reset; sessions done.
async fn vanishers(c: ChaosConfig, stop: Arc<AtomicBool>) -> u64 {
    let mut done = 0;
    while !stop.load(Ordering::Relaxed) {
        for (addr, pg) in [(c.pg, true), (c.mysql, false)] {
            let Some(addr) = addr else { continue };
            let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
                continue;
            };
            let logged_in = match pg {
                true => pg_login(&mut s, &c).await.unwrap_or(false),
                false => mysql_login(&mut s, &c).await.unwrap_or(false),
            };
            if logged_in {
                ask_large_result(&mut s, pg).await;
                let mut some = vec![0u8; 32 * 1024];
                let _ = tokio::time::timeout(Duration::from_secs(5), s.read(&mut some)).await;
                done += 1;
            }
            vanish(s);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    done
}

/// Statement records of the checked clients in an audit directory.
fn audited(dir: &std::path::Path) -> u64 {
    let reader = audit::AuditReader::open(dir).expect("the audit log opens");
    let mut out = Vec::new();
    audit::export_jsonl(&reader, &audit::Filter::default(), &mut out).expect("export");
    String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["kind"] == "statement" && r["user"] == OTHER_USER)
        .filter(|r| r["text"].as_str().is_some_and(|t| t.contains("AS soak")))
        .count() as u64
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

async fn start_servers(connections: u64) -> (Arc<Mutex<PgServer>>, MariaDbServer, Proxy, Proxy) {
    let pg = tokio::task::spawn_blocking(move || {
        let pg = PgServer::start(PgOptions::default()).expect("PostgreSQL starts");
        let max = connections / 4 + 100;
        pg.psql_superuser("app", &format!("ALTER SYSTEM SET max_connections = {max}"))
            .expect("max_connections");
        let mut pg = pg;
        pg.restart().expect("PostgreSQL restarts");
        pg
    })
    .await
    .unwrap();
    // Tuned as a deployment for this many clients would be: `back_log` (its listen queue,
    // 80 by default) and `thread_cache_size` are read only at start.
    let my = tokio::task::spawn_blocking(move || {
        MariaDbServer::start(MariaDbOptions {
            server_args: vec![
                format!("--max-connections={}", connections + 200),
                format!("--back-log={}", connections.max(80)),
                format!("--thread-cache-size={}", connections.min(16384)),
            ],
            ..MariaDbOptions::default()
        })
        .expect("MariaDB starts")
    })
    .await
    .unwrap();
    let bench = std::process::Command::new("pgbench")
        .args([
            "-i",
            "-s",
            "1",
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port.to_string(),
        ])
        .args(["-U", &pg.opts.user, &pg.opts.database])
        .env("PGPASSWORD", &pg.opts.password)
        .output()
        .expect("pgbench -i runs");
    assert!(
        bench.status.success(),
        "{}",
        String::from_utf8_lossy(&bench.stderr)
    );
    std::env::set_var(KEY_ENV, "soak-key");
    let opts = ProxyOpts {
        max_connections: connections as usize + 100,
        extra_config: audit_section(KEY_ENV),
        ..ProxyOpts::default()
    };
    let pg_proxy = Proxy::start(&pg, opts.clone()).await;
    let my_proxy = Proxy::start_mysql(&my, opts).await;
    (Arc::new(Mutex::new(pg)), my, pg_proxy, my_proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a long run: ./sluice-dev soak"]
async fn soak() {
    let minutes = env_or("SLUICE_SOAK_MINUTES", 10);
    let connections = env_or("SLUICE_SOAK_CONNECTIONS", 2000);
    let duration = Duration::from_secs(minutes * 60);
    let captured = timings::capture();
    let (pg, my, pg_proxy, my_proxy) = start_servers(connections).await;
    let my = Arc::new(Mutex::new(my));
    let pid = std::process::id();
    warm_up(&pg_proxy, &my_proxy).await;
    let before = usage(pid);
    let before_fds = fd_targets(pid);
    println!("soak: {minutes} min, {connections} connections; before: {before:?}");
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Stats::default());
    let _ = stats.started.set(Instant::now());
    let lag = tokio::spawn(timings::runtime_lag(Arc::clone(&stop)));
    let overflows = timings::listen_overflows();
    let deadline = Instant::now() + duration;
    let mut clients = Vec::new();
    let pg_share = connections / 4;
    for i in 0..connections {
        let (stop, s) = (Arc::clone(&stop), Arc::clone(&stats));
        let busy = (i % (connections / 16).max(1)) == 0;
        clients.push(match i < pg_share {
            true => tokio::spawn(checked_pg(pg_proxy.addr, busy, i, stop, s)),
            false => tokio::spawn(checked_my(my_proxy.port(), busy, i, stop, s)),
        });
        if i % 50 == 49 {
            // Ramp up in steps, as a pool would.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let bench = {
        let (port, stop) = (pg_proxy.port(), Arc::clone(&stop));
        tokio::task::spawn_blocking(move || pgbench_rounds(port, stop, deadline))
    };
    let chaos = ChaosConfig {
        pg: Some(pg_proxy.addr),
        mysql: Some(my_proxy.addr),
        user: USER.into(),
        password: PASSWORD.into(),
        good_user: OTHER_USER.into(),
        good_password: OTHER_PASSWORD.into(),
        good_from: None,
        duration,
        workers: 0,
        seed: 0,
        pid,
    };
    let vanish_task = tokio::spawn(vanishers(chaos, Arc::clone(&stop)));
    // The servers live until the clients have ended: their last statements need them.
    let (peak, load) = run_until(deadline, duration, pid, &pg, &my).await;
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let (transactions, failed_rounds) = bench.await.unwrap();
    let vanished = vanish_task.await.unwrap();
    timings::print_lag(&lag.await.unwrap());
    let (o, d) = timings::listen_overflows();
    println!(
        "soak: load average (1 min) {:.1} to {:.1}; listen queue overflows {}, drops {}",
        load.0,
        load.1,
        o - overflows.0,
        d - overflows.1
    );
    timings::print_logins(&captured);
    let after = report(
        &stats,
        &pg_proxy,
        &my_proxy,
        before,
        peak,
        (transactions, failed_rounds, vanished),
    )
    .await;
    let after_fds = fd_targets(pid);
    assert!(
        after.fds <= before.fds,
        "descriptors did not come back: before {before_fds:?}, after {after_fds:?}"
    );
}

/// Until `deadline`: samples the process's usage and the load average every 5 s, restarts
/// PostgreSQL at a third and at two thirds of the run and MariaDB at half of it. The peak
/// usage and the load's range.
async fn run_until(
    deadline: Instant,
    duration: Duration,
    pid: u32,
    pg: &Arc<Mutex<PgServer>>,
    my: &Arc<Mutex<MariaDbServer>>,
) -> (Usage, (f64, f64)) {
    let mut peak = usage(pid);
    let mut load = (f64::MAX, 0.0f64);
    let (mut restarts, mut my_restarted) = (0, false);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(5)).await;
        peak = larger(peak, usage(pid));
        let l = timings::load();
        load = (load.0.min(l), load.1.max(l));
        let elapsed = duration.saturating_sub(deadline.saturating_duration_since(Instant::now()));
        if restarts < 2 && elapsed >= duration * (restarts + 1) / 3 {
            let pg = Arc::clone(pg);
            tokio::task::spawn_blocking(move || pg.lock().unwrap().restart().expect("restart"))
                .await
                .unwrap();
            restarts += 1;
            println!("soak: PostgreSQL restarted at {elapsed:?}");
        }
        if !my_restarted && elapsed >= duration / 2 {
            let my = Arc::clone(my);
            tokio::task::spawn_blocking(move || my.lock().unwrap().restart().expect("restart"))
                .await
                .unwrap();
            my_restarted = true;
            println!("soak: MariaDB restarted at {elapsed:?}");
        }
    }
    (peak, load)
}

/// A first session through each target: what sluice opens once (its catalog connections, the
/// audit log's files) is open before the baseline is taken.
async fn warm_up(pg_proxy: &Proxy, my_proxy: &Proxy) {
    let stats = Stats::default();
    let c = pg_connect(pg_proxy.addr, &stats)
        .await
        .expect("a first PostgreSQL session");
    stats.answered(pg_statement(&c, 1).await, 1, None);
    let mut m = my_connect(my_proxy.port(), &stats)
        .await
        .expect("a first MySQL session");
    stats.answered(my_statement(&mut m, 1).await, 1, None);
    let _ = m.disconnect().await;
    drop(c);
    assert_eq!(
        stats.ok.load(Ordering::Relaxed),
        2,
        "the first statements were not answered"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// The larger of two usages, field by field.
fn larger(a: Usage, b: Usage) -> Usage {
    Usage {
        rss_kib: a.rss_kib.max(b.rss_kib),
        fds: a.fds.max(b.fds),
    }
}

async fn report(
    stats: &Stats,
    pg_proxy: &Proxy,
    my_proxy: &Proxy,
    before: Usage,
    peak: Usage,
    (transactions, failed_rounds, vanished): (u64, u64, u64),
) -> Usage {
    // Let sessions end and the audit writer catch up.
    let settle = Instant::now();
    let mut after = usage(std::process::id());
    while after.fds > before.fds && settle.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = usage(std::process::id());
    }
    let settled = settle.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let records =
        audited(&pg_proxy.dir.path().join("audit")) + audited(&my_proxy.dir.path().join("audit"));
    let mut lat = stats.latencies.lock().unwrap().clone();
    lat.sort_unstable();
    let (ok, errors) = (
        stats.ok.load(Ordering::Relaxed),
        stats.errors.load(Ordering::Relaxed),
    );
    let unanswered = stats.unanswered.load(Ordering::Relaxed);
    let wrong = stats.wrong.load(Ordering::Relaxed);
    let stalled = stats.stalled_connects.load(Ordering::Relaxed);
    println!(
        "soak: checked statements: {ok} answered right, {errors} answered with an error, {wrong} wrong, {unanswered} unanswered; logins refused: {}, of which connections never answered: {stalled}",
        stats.login_errors.load(Ordering::Relaxed)
    );
    for (kind, n) in stats.login_failures.lock().unwrap().iter() {
        println!("soak: login failed {n} times: {kind}");
    }
    for ((at, kind), n) in stats.statement_errors.lock().unwrap().iter() {
        println!("soak: at {at} s, statements answered with an error {n} times: {kind}");
    }
    println!("soak: audit statement records of the checked clients: {records}");
    println!("soak: pgbench -S transactions: {transactions} ({failed_rounds} rounds cut short); vanishing clients: {vanished}");
    println!(
        "soak: busy statements latency ms: p50 {:.2}, p95 {:.2}, p99 {:.2}, max {:.2} (n = {})",
        percentile(&lat, 0.5),
        percentile(&lat, 0.95),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        lat.len()
    );
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "soak: RSS MiB before {:.1}, peak {:.1}, after {:.1}; descriptors before {}, peak {}, after {} (settled in {:.1} s)",
        mib(before.rss_kib), mib(peak.rss_kib), mib(after.rss_kib), before.fds, peak.fds, after.fds,
        settled.as_secs_f64()
    );
    assert_eq!(unanswered, 0, "statements went unanswered");
    assert_eq!(wrong, 0, "statements answered wrong");
    assert_eq!(
        stalled, 0,
        "connections got no greeting within {ANSWER_LIMIT:?}"
    );
    assert!(ok > 0);
    assert!(
        records >= ok,
        "audit records lost: {records} records for {ok} statements answered"
    );
    assert!(
        records <= ok + errors,
        "more records than statements sent: {records}"
    );
    after
}
