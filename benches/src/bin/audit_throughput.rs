//! `audit-throughput`: end-to-end statement throughput through sluice with the audit log off,
//! in `async` mode and in `sync` mode, and directly against the database for reference.
//!
//! For PostgreSQL and MySQL (MariaDB), a throwaway database gets an `accounts` table of 10,000
//! rows (`id` primary key, `balance`, `name`). N concurrent clients (default 8) each repeat a
//! short OLTP mix: three point `SELECT`s by primary key, then one single-row `UPDATE … WHERE
//! id = …`, on random ids. Every statement's result is checked (one row read, one row changed).
//! Each configuration runs for a warm-up (default 1 s) and then a measured window (default 5 s);
//! the statements/s and the p50/p99 latency are those of the window.
//!
//! Two query styles are run:
//!
//! - `simple`: the text of each statement carries its literal (PostgreSQL simple query, MySQL
//!   `COM_QUERY`). Every statement passes sluice's statement gate, so in `sync` mode every one
//!   waits for its record to be durable before it is forwarded.
//! - `prepared`: each client prepares the two statements once and executes them with a bound id
//!   (PostgreSQL Parse once, then Bind/Execute; MySQL `COM_STMT_PREPARE`, then
//!   `COM_STMT_EXECUTE`). Each execution is recorded as a statement with its parameters.
//!
//! sluice runs as its own process (`target/release/sluice serve`, next to this binary, or
//! `SLUICE_BIN`), a fresh one per run, with an `[audit]` section (`dir`, `mode`,
//! `flush_interval = "10ms"`, `key_env`, the key in sluice's environment) for the audited
//! routes. After each audited run sluice is stopped with SIGTERM (a graceful shutdown closes
//! the log) and the log is checked with `audit::verify`: it must verify, and it must hold at
//! least one record, and one statement record, per statement the clients issued (warm-up
//! included). Each configuration runs `--reps` times (default 3), interleaved, and the table
//! shows the medians. The program prints a markdown table and exits 1 if a check fails.
//!
//! Usage: `audit-throughput [--clients N] [--warmup S] [--duration S] [--reps N] [--rows N]
//! [--proto pg|mysql|both] [--style simple|prepared|both]`.
//! Build sluice first: `cargo build --release -p sluice`.

#![forbid(unsafe_code)]

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mysql_async::prelude::Queryable;
use sluice::launcher::{MariaDbOptions, MariaDbServer, PgOptions, PgServer};
use sluice_benches::{grouped, sluice_bin, Proto, Sluice, Upstream, PASSWORD, USER};
use tokio_postgres::{NoTls, SimpleQueryMessage};

/// The environment variable that carries the audit key to sluice.
const KEY_ENV: &str = "SLUICE_BENCH_AUDIT_KEY";
const KEY: &str = "audit-throughput-bench-key";
const SELECT_PG: &str = "SELECT id, balance, name FROM accounts WHERE id = $1";
const UPDATE_PG: &str = "UPDATE accounts SET balance = balance + 1 WHERE id = $1";
const SELECT_MY: &str = "SELECT id, balance, name FROM accounts WHERE id = ?";
const UPDATE_MY: &str = "UPDATE accounts SET balance = balance + 1 WHERE id = ?";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Simple,
    Prepared,
}

impl Style {
    fn name(self, proto: Proto) -> &'static str {
        match (proto, self) {
            (Proto::Postgres, Style::Simple) => "simple query",
            (Proto::Postgres, Style::Prepared) => "prepared (extended query)",
            (Proto::Mysql, Style::Simple) => "COM_QUERY",
            (Proto::Mysql, Style::Prepared) => "prepared (COM_STMT_EXECUTE)",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Route {
    Direct,
    AuditOff,
    Async,
    Sync,
}

impl Route {
    const ALL: [Route; 4] = [Route::Direct, Route::AuditOff, Route::Async, Route::Sync];

    fn name(self) -> &'static str {
        match self {
            Route::Direct => "direct to the database",
            Route::AuditOff => "sluice, audit off",
            Route::Async => "sluice, audit `async`",
            Route::Sync => "sluice, audit `sync`",
        }
    }

    fn mode(self) -> Option<&'static str> {
        match self {
            Route::Async => Some("async"),
            Route::Sync => Some("sync"),
            _ => None,
        }
    }
}

struct Opts {
    clients: usize,
    warmup: Duration,
    duration: Duration,
    reps: usize,
    rows: u32,
    protos: Vec<Proto>,
    styles: Vec<Style>,
}

/// One run of one configuration.
struct Run {
    /// Statements that started in the measured window.
    measured: u64,
    /// Statements issued in all (warm-up and window).
    issued: u64,
    /// Latencies of the measured statements, sorted (µs).
    latencies: Vec<u32>,
    /// Records in the audit log, and statement records among them (audited routes).
    records: Option<(u64, u64)>,
}

/// What one client did.
#[derive(Default)]
struct ClientOut {
    measured: u64,
    issued: u64,
    latencies: Vec<u32>,
}

/// The phases of a run, shared by its clients.
#[derive(Clone, Copy)]
struct Window {
    warm_until: Instant,
    end: Instant,
}

impl ClientOut {
    fn add(&mut self, began: Instant, w: &Window) {
        self.issued += 1;
        if began >= w.warm_until {
            self.measured += 1;
            let us = began.elapsed().as_micros();
            self.latencies.push(u32::try_from(us).unwrap_or(u32::MAX));
        }
    }
}

/// xorshift64*: ids without a dependency.
struct Ids(u64, u32);

impl Ids {
    fn new(seed: u64, rows: u32) -> Ids {
        Ids(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1, rows)
    }
    fn next(&mut self) -> i32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let r = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (r % u64::from(self.1)) as i32 + 1
    }
}

/// Where a client connects, and as whom.
#[derive(Clone)]
struct Endpoint {
    port: u16,
    user: String,
    password: String,
    database: String,
}

async fn pg_client(
    client: tokio_postgres::Client,
    style: Style,
    mut ids: Ids,
    w: Window,
) -> Result<ClientOut> {
    let prepared = match style {
        Style::Prepared => Some((
            client.prepare(SELECT_PG).await.context("prepare SELECT")?,
            client.prepare(UPDATE_PG).await.context("prepare UPDATE")?,
        )),
        Style::Simple => None,
    };
    let mut out = ClientOut::default();
    let mut i = 0u64;
    while Instant::now() < w.end {
        let id = ids.next();
        let update = i % 4 == 3;
        i += 1;
        let began = Instant::now();
        let n = match (&prepared, update) {
            (Some((sel, _)), false) => {
                client.query(sel, &[&id]).await.context("SELECT")?.len() as u64
            }
            (Some((_, upd)), true) => client.execute(upd, &[&id]).await.context("UPDATE")?,
            (None, false) => {
                let msgs = client
                    .simple_query(&format!(
                        "SELECT id, balance, name FROM accounts WHERE id = {id}"
                    ))
                    .await
                    .context("SELECT")?;
                msgs.iter()
                    .filter(|m| matches!(m, SimpleQueryMessage::Row(_)))
                    .count() as u64
            }
            (None, true) => {
                let msgs = client
                    .simple_query(&format!(
                        "UPDATE accounts SET balance = balance + 1 WHERE id = {id}"
                    ))
                    .await
                    .context("UPDATE")?;
                msgs.iter()
                    .find_map(|m| match m {
                        SimpleQueryMessage::CommandComplete(n) => Some(*n),
                        _ => None,
                    })
                    .unwrap_or(0)
            }
        };
        if n != 1 {
            bail!(
                "{} of id {id}: {n} rows, expected 1",
                if update { "UPDATE" } else { "SELECT" }
            );
        }
        out.add(began, &w);
    }
    Ok(out)
}

async fn pg_connect(ep: &Endpoint) -> Result<tokio_postgres::Client> {
    let conn_str = format!(
        "host=127.0.0.1 port={} user={} password={} dbname={}",
        ep.port, ep.user, ep.password, ep.database
    );
    let (client, conn) = tokio_postgres::connect(&conn_str, NoTls)
        .await
        .context("PostgreSQL connect")?;
    tokio::spawn(conn);
    Ok(client)
}

async fn mysql_client(
    mut conn: mysql_async::Conn,
    style: Style,
    mut ids: Ids,
    w: Window,
) -> Result<ClientOut> {
    type Account = (i32, i64, String);
    let prepared = match style {
        Style::Prepared => Some((
            conn.prep(SELECT_MY).await.context("prepare SELECT")?,
            conn.prep(UPDATE_MY).await.context("prepare UPDATE")?,
        )),
        Style::Simple => None,
    };
    let mut out = ClientOut::default();
    let mut i = 0u64;
    while Instant::now() < w.end {
        let id = ids.next();
        let update = i % 4 == 3;
        i += 1;
        let began = Instant::now();
        let n = match (&prepared, update) {
            (Some((sel, _)), false) => {
                let row: Option<Account> = conn.exec_first(sel, (id,)).await.context("SELECT")?;
                u64::from(row.is_some_and(|r| r.0 == id))
            }
            (Some((_, upd)), true) => {
                conn.exec_drop(upd, (id,)).await.context("UPDATE")?;
                conn.affected_rows()
            }
            (None, false) => {
                let row: Option<Account> = conn
                    .query_first(format!(
                        "SELECT id, balance, name FROM accounts WHERE id = {id}"
                    ))
                    .await
                    .context("SELECT")?;
                u64::from(row.is_some_and(|r| r.0 == id))
            }
            (None, true) => {
                conn.query_drop(format!(
                    "UPDATE accounts SET balance = balance + 1 WHERE id = {id}"
                ))
                .await
                .context("UPDATE")?;
                conn.affected_rows()
            }
        };
        if n != 1 {
            bail!(
                "{} of id {id}: {n} rows, expected 1",
                if update { "UPDATE" } else { "SELECT" }
            );
        }
        out.add(began, &w);
    }
    if let Some((sel, upd)) = prepared {
        conn.close(sel).await.context("closing a statement")?;
        conn.close(upd).await.context("closing a statement")?;
    }
    conn.disconnect().await.context("disconnect")?;
    Ok(out)
}

async fn mysql_connect(ep: &Endpoint) -> Result<mysql_async::Conn> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(ep.port)
        .user(Some(&ep.user))
        .pass(Some(&ep.password))
        .db_name(Some(&ep.database))
        .prefer_socket(false);
    mysql_async::Conn::new(opts).await.context("MySQL connect")
}

/// Connects every client, then runs the workload on all of them at once.
async fn workload(
    proto: Proto,
    style: Style,
    ep: &Endpoint,
    opts: &Opts,
    seed: u64,
) -> Result<Run> {
    let mut tasks = Vec::with_capacity(opts.clients);
    match proto {
        Proto::Postgres => {
            let mut clients = Vec::with_capacity(opts.clients);
            for _ in 0..opts.clients {
                clients.push(pg_connect(ep).await?);
            }
            let w = window(opts);
            for (i, c) in clients.into_iter().enumerate() {
                let ids = Ids::new(seed * 1000 + i as u64, opts.rows);
                tasks.push(tokio::spawn(pg_client(c, style, ids, w)));
            }
        }
        Proto::Mysql => {
            let mut conns = Vec::with_capacity(opts.clients);
            for _ in 0..opts.clients {
                conns.push(mysql_connect(ep).await?);
            }
            let w = window(opts);
            for (i, c) in conns.into_iter().enumerate() {
                let ids = Ids::new(seed * 1000 + i as u64, opts.rows);
                tasks.push(tokio::spawn(mysql_client(c, style, ids, w)));
            }
        }
    }
    let mut run = Run {
        measured: 0,
        issued: 0,
        latencies: Vec::new(),
        records: None,
    };
    for t in tasks {
        let out = t.await.context("client task")??;
        run.measured += out.measured;
        run.issued += out.issued;
        run.latencies.extend(out.latencies);
    }
    run.latencies.sort_unstable();
    Ok(run)
}

fn window(opts: &Opts) -> Window {
    let start = Instant::now();
    Window {
        warm_until: start + opts.warmup,
        end: start + opts.warmup + opts.duration,
    }
}

fn pg_upstream(rows: u32) -> Result<(PgServer, Upstream)> {
    let pg = PgServer::start(PgOptions::default()).context("starting PostgreSQL")?;
    // SET ROLE: the app user owns the table.
    let sql = format!(
        "SET ROLE {user};\n\
         CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL, name text NOT NULL);\n\
         INSERT INTO accounts SELECT g, 1000, 'Customer ' || g FROM generate_series(1, {rows}) g;\n\
         VACUUM ANALYZE accounts;\n",
        user = pg.opts.user
    );
    pg.psql_superuser(&pg.opts.database, &sql)
        .context("loading accounts")?;
    let up = Upstream {
        proto: Proto::Postgres,
        addr: pg.addr(),
        user: pg.opts.user.clone(),
        password: pg.opts.password.clone(),
        database: pg.opts.database.clone(),
        port: pg.port,
        schema: "public",
    };
    Ok((pg, up))
}

fn mysql_upstream(rows: u32) -> Result<(MariaDbServer, Upstream)> {
    let my = MariaDbServer::start(MariaDbOptions::default()).context("starting MariaDB")?;
    // seq_1_to_N is MariaDB's Sequence engine (built in since 10.1).
    let sql = format!(
        "CREATE TABLE accounts (id int PRIMARY KEY, balance bigint NOT NULL,\n\
           name varchar(64) NOT NULL);\n\
         INSERT INTO accounts SELECT seq, 1000, CONCAT('Customer ', seq) FROM seq_1_to_{rows};\n\
         ANALYZE TABLE accounts;\n"
    );
    my.sql_root(Some(&my.opts.database), &sql)
        .context("loading accounts")?;
    let up = Upstream {
        proto: Proto::Mysql,
        addr: my.addr(),
        user: my.opts.user.clone(),
        password: my.opts.password.clone(),
        database: my.opts.database.clone(),
        port: my.port,
        schema: "shop",
    };
    Ok((my, up))
}

/// Verifies the log and counts its records, and its statement records.
fn check_log(dir: &Path) -> Result<(u64, u64)> {
    let report = audit::verify(dir, KEY.as_bytes())
        .map_err(|e| anyhow::anyhow!("the audit log does not verify: {e}"))?;
    if report.incomplete {
        bail!("the audit log verified only in part (its newest segment could not be opened)");
    }
    let reader = audit::AuditReader::open(dir).context("opening the audit log")?;
    let filter = audit::Filter::default();
    let mut statements = 0u64;
    for r in reader.records(&filter) {
        let r = r.map_err(|i| anyhow::anyhow!("reading the audit log: {}", i.reason))?;
        if matches!(r.body, audit::RecordBody::Statement { .. }) {
            statements += 1;
        }
    }
    Ok((report.records, statements))
}

/// One run of one configuration, with a fresh sluice for the sluice routes.
async fn run_once(
    bin: &Path,
    up: &Upstream,
    style: Style,
    route: Route,
    opts: &Opts,
    seed: u64,
) -> Result<Run> {
    let mut sluice = match route {
        Route::Direct => None,
        _ => {
            let extra = match route.mode() {
                Some(mode) => format!(
                    "[audit]\ndir = \"audit\"\nmode = \"{mode}\"\nflush_interval = \"10ms\"\n\
                     key_env = \"{KEY_ENV}\"\n"
                ),
                None => String::new(),
            };
            Some(Sluice::start(bin, up, &extra, &[(KEY_ENV, KEY)])?)
        }
    };
    let ep = match &sluice {
        None => Endpoint {
            port: up.port,
            user: up.user.clone(),
            password: up.password.clone(),
            database: up.database.clone(),
        },
        Some(s) => Endpoint {
            port: s.port,
            user: USER.into(),
            password: PASSWORD.into(),
            database: up.database.clone(),
        },
    };
    let result = workload(up.proto, style, &ep, opts, seed).await;
    let mut run = match (result, &sluice) {
        (Ok(run), _) => run,
        (Err(e), Some(s)) => return Err(e.context(format!("sluice's log:\n{}", s.log()))),
        (Err(e), None) => return Err(e),
    };
    if let Some(s) = sluice.as_mut() {
        let status = s.stop()?;
        if !status.success() {
            bail!("sluice exited with {status} on SIGTERM:\n{}", s.log());
        }
        if route.mode().is_some() {
            run.records = Some(check_log(&s.dir().join("audit"))?);
        } else if s.dir().join("audit").exists() {
            bail!("sluice wrote an audit log with no [audit] section");
        }
    }
    drop(sluice);
    Ok(run)
}

fn median_f(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    f64::from(sorted[idx])
}

struct Config {
    proto: Proto,
    style: Style,
    route: Route,
    runs: Vec<Run>,
}

impl Config {
    fn rate(&self, opts: &Opts) -> f64 {
        median_f(
            self.runs
                .iter()
                .map(|r| r.measured as f64 / opts.duration.as_secs_f64())
                .collect(),
        )
    }
    fn latency_ms(&self, p: f64) -> f64 {
        median_f(
            self.runs
                .iter()
                .map(|r| percentile(&r.latencies, p) / 1000.0)
                .collect(),
        )
    }
    fn issued(&self) -> u64 {
        median_f(self.runs.iter().map(|r| r.issued as f64).collect()) as u64
    }
    fn records(&self) -> Option<(u64, u64)> {
        if self.runs.iter().any(|r| r.records.is_none()) {
            return None;
        }
        let all = self.runs.iter().filter_map(|r| r.records);
        let records = median_f(all.clone().map(|r| r.0 as f64).collect()) as u64;
        let statements = median_f(all.map(|r| r.1 as f64).collect()) as u64;
        Some((records, statements))
    }
}

async fn bench(opts: Opts) -> Result<bool> {
    let bin = sluice_bin()?;
    eprintln!("sluice binary: {}", bin.display());
    let mut configs: Vec<Config> = Vec::new();
    let mut problems = Vec::new();
    let mut seed = 1u64;
    for &proto in &opts.protos {
        let began = Instant::now();
        eprintln!(
            "{}: starting and loading {} rows…",
            proto.name(),
            grouped(opts.rows.into())
        );
        // Keep the server alive for this protocol's runs.
        let (_pg, _my, up) = match proto {
            Proto::Postgres => {
                let (pg, up) = pg_upstream(opts.rows)?;
                (Some(pg), None, up)
            }
            Proto::Mysql => {
                let (my, up) = mysql_upstream(opts.rows)?;
                (None, Some(my), up)
            }
        };
        eprintln!("  loaded in {:.1} s", began.elapsed().as_secs_f64());
        for &style in &opts.styles {
            let first = configs.len();
            for route in Route::ALL {
                configs.push(Config {
                    proto,
                    style,
                    route,
                    runs: Vec::new(),
                });
            }
            // Interleaved, so that drift on the machine spreads over all configurations.
            for rep in 0..opts.reps {
                for (k, route) in Route::ALL.into_iter().enumerate() {
                    seed += 1;
                    let what = format!(
                        "{} / {} / {}",
                        proto.name(),
                        style.name(proto),
                        route.name()
                    );
                    let run = run_once(&bin, &up, style, route, &opts, seed)
                        .await
                        .with_context(|| format!("{what}, run {}", rep + 1))?;
                    let rate = run.measured as f64 / opts.duration.as_secs_f64();
                    eprintln!(
                        "  {what}, run {}: {} statements/s, p50 {:.2} ms, p99 {:.2} ms{}",
                        rep + 1,
                        grouped(rate as u64),
                        percentile(&run.latencies, 0.50) / 1000.0,
                        percentile(&run.latencies, 0.99) / 1000.0,
                        match run.records {
                            Some((all, st)) => format!(
                                ", {} statements issued, audit log verified: {} records ({} statements)",
                                grouped(run.issued),
                                grouped(all),
                                grouped(st)
                            ),
                            None => String::new(),
                        }
                    );
                    if let Some((all, st)) = run.records {
                        if all < run.issued || st < run.issued {
                            problems.push(format!(
                                "{what}, run {}: {} statements issued, but the log holds {} records ({} statements)",
                                rep + 1,
                                run.issued,
                                all,
                                st
                            ));
                        }
                    }
                    if run.measured == 0 {
                        problems.push(format!("{what}, run {}: no statement completed", rep + 1));
                    }
                    configs[first + k].runs.push(run);
                }
            }
        }
    }

    println!(
        "{} clients, {} s warm-up + {} s measured per run, median of {} runs:\n",
        opts.clients,
        opts.warmup.as_secs_f64(),
        opts.duration.as_secs_f64(),
        opts.reps
    );
    println!(
        "| protocol | query style | route | statements/s | vs direct | p50 (ms) | p99 (ms) | statements per run | audit records per run (statements) |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for c in &configs {
        let direct = configs
            .iter()
            .find(|d| d.proto == c.proto && d.style == c.style && d.route == Route::Direct)
            .map_or(0.0, |d| d.rate(&opts));
        let rate = c.rate(&opts);
        println!(
            "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {} | {} |",
            c.proto.name(),
            c.style.name(c.proto),
            c.route.name(),
            grouped(rate as u64),
            if c.route == Route::Direct || direct == 0.0 {
                "–".to_string()
            } else {
                format!("{:.0} %", 100.0 * rate / direct)
            },
            c.latency_ms(0.50),
            c.latency_ms(0.99),
            grouped(c.issued()),
            match c.records() {
                Some((all, st)) => format!("{} ({})", grouped(all), grouped(st)),
                None => "–".into(),
            }
        );
    }
    for p in &problems {
        eprintln!("FAIL: {p}");
    }
    if problems.is_empty() {
        eprintln!(
            "OK: every result checked; every audited run's log verified and holds a statement record per statement issued"
        );
    }
    Ok(problems.is_empty())
}

const USAGE: &str = "usage: audit-throughput [--clients N] [--warmup S] [--duration S] [--reps N] \
                     [--rows N] [--proto pg|mysql|both] [--style simple|prepared|both]";

fn args() -> Result<Opts> {
    let mut o = Opts {
        clients: 8,
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs(5),
        reps: 3,
        rows: 10_000,
        protos: vec![Proto::Postgres, Proto::Mysql],
        styles: vec![Style::Simple, Style::Prepared],
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<String> {
            it.next().with_context(|| format!("{name} needs a value"))
        };
        let number = |name: &str, v: String| -> Result<f64> {
            v.replace('_', "")
                .parse::<f64>()
                .ok()
                .filter(|n| *n > 0.0)
                .with_context(|| format!("{name} needs a positive number"))
        };
        match a.as_str() {
            "--clients" => o.clients = number(&a, value(&a)?)? as usize,
            "--warmup" => o.warmup = Duration::from_secs_f64(number(&a, value(&a)?)?),
            "--duration" => o.duration = Duration::from_secs_f64(number(&a, value(&a)?)?),
            "--reps" => o.reps = number(&a, value(&a)?)? as usize,
            "--rows" => o.rows = number(&a, value(&a)?)? as u32,
            "--proto" => {
                o.protos = match value(&a)?.as_str() {
                    "pg" | "postgres" => vec![Proto::Postgres],
                    "mysql" => vec![Proto::Mysql],
                    "both" => vec![Proto::Postgres, Proto::Mysql],
                    other => bail!("--proto {other:?}: pg, mysql or both"),
                }
            }
            "--style" => {
                o.styles = match value(&a)?.as_str() {
                    "simple" => vec![Style::Simple],
                    "prepared" => vec![Style::Prepared],
                    "both" => vec![Style::Simple, Style::Prepared],
                    other => bail!("--style {other:?}: simple, prepared or both"),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} ({USAGE})"),
        }
    }
    if o.clients == 0 || o.reps == 0 || o.rows == 0 {
        bail!("--clients, --reps and --rows must be at least 1");
    }
    Ok(o)
}

fn main() -> ExitCode {
    let opts = match args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("audit-throughput: {e:#}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("audit-throughput: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(bench(opts)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("audit-throughput: {e:#}");
            ExitCode::FAILURE
        }
    }
}
