//! `compare`: sluice side by side with a direct connection and PgBouncer, on this machine, in
//! one run. Writes a markdown report (default `docs/benchmarks.md`) whose tables are the
//! README's figures: regenerate, never hand-type.
//!
//! - PostgreSQL, `pgbench -S` (select-only) at 1, 8 and 32 clients in `-M simple`, `extended`
//!   and `prepared`, and the default TPC-B-like script at 8 clients; for each: direct,
//!   PgBouncer (session pooling), sluice passthrough (no rules), sluice full (rules, masks,
//!   detectors, async audit) and sluice full with sync audit. TPS is pgbench's (without
//!   connection time); latency is pgbench's average. sluice's CPU per statement is its
//!   utime+stime from `/proc` over the statements the run made.
//! - MySQL (MariaDB), `sysbench oltp_point_select` and `oltp_read_only` at 1 and 8 threads:
//!   direct, sluice passthrough and sluice full.
//! - A large result: 100,000 rows × 10 columns, 3 of them masked, fetched with `psql`,
//!   tokio-postgres (streamed, binary rows) and the `mariadb` CLI: wall time direct, through
//!   sluice passthrough, and masked. Peak RSS while streaming 1,000,000 rows is `stream-rss`'s.
//!
//! Every figure is the median of `--reps` runs (default 3), configurations interleaved.
//! PgBouncer and sysbench come from Debian packages (`pgbouncer`, `sysbench`). When one is
//! missing, compare installs it with apt-get if it runs as root; otherwise it reports it and
//! leaves its rows out. Build sluice first: `cargo build --release -p sluice`.
//!
//! Usage: `compare [--duration S] [--reps N] [--scale N] [--out FILE] [--only pg|mysql|large]
//! [--serve]`. `--serve` starts the PostgreSQL side (servers, PgBouncer, the three sluices),
//! prints where each listens and waits, for profiling.

#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use sluice::launcher::{MariaDbOptions, MariaDbServer, PgOptions, PgServer};
use sluice_benches::{sluice_bin, Proto, Sluice, Upstream, PASSWORD, USER};

const AUDIT_KEY_ENV: &str = "SLUICE_BENCH_AUDIT_KEY";

struct Args {
    duration: u32,
    reps: usize,
    scale: u32,
    out: PathBuf,
    only: Option<String>,
    /// Start the PostgreSQL servers and sluices, print where they listen, and wait (for
    /// profiling with perf or callgrind against a steady workload).
    serve: bool,
}

fn args() -> Result<Args> {
    let mut a = Args {
        duration: 5,
        reps: 3,
        scale: 10,
        out: PathBuf::from("docs/benchmarks.md"),
        only: None,
        serve: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--duration" => a.duration = value()?.parse()?,
            "--reps" => a.reps = value()?.parse()?,
            "--scale" => a.scale = value()?.parse()?,
            "--out" => a.out = PathBuf::from(value()?),
            "--only" => a.only = Some(value()?),
            "--serve" => a.serve = true,
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// CPU time (user + system) of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| f.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    ticks / hz
}

/// The sluice configurations compared.
fn full_config(mode: Option<&str>, proto: Proto) -> String {
    let (schema, table, col) = match proto {
        // Not `abalance`: TPC-B's `SET abalance = abalance + …` would (rightly) be refused as
        // copying a masked value into a table.
        Proto::Postgres => ("public", "pgbench_accounts", "filler"),
        Proto::Mysql => ("sbtest", "sbtest1", "c"),
    };
    let mut c = format!(
        r#"
[[rules]]
name = "no-drop"
when = {{ statements = ["drop", "truncate"] }}
action = "block"

[[rules]]
name = "unbounded-writes"
when = {{ statements = ["update", "delete"], without_where = true }}
action = "block"

[[masks]]
columns = ["{schema}.{table}.{col}"]
function = "redact"
except_groups = ["dba"]

[[detectors]]
kinds = ["credit_card", "email", "us_ssn"]
function = "redact"
"#
    );
    if let Some(mode) = mode {
        c += &format!(
            "\n[audit]\ndir = \"audit\"\nmode = \"{mode}\"\nflush_interval = \"10ms\"\nkey_env = \"{AUDIT_KEY_ENV}\"\n"
        );
    }
    c
}

/// Where a benchmark client connects.
struct Endpoint {
    name: &'static str,
    port: u16,
    user: String,
    password: String,
    /// sluice's process, for its CPU time.
    pid: Option<u32>,
}

struct PgBouncer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Installs Debian package `package` unless `present()` already holds; only as root, and
/// never asking (the harness may run without a terminal).
fn install_if_missing(package: &str, present: impl Fn() -> bool) {
    if present() {
        return;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        return;
    }
    eprintln!("compare: installing {package} (apt-get)");
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-q", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status();
}

fn start_pgbouncer(pg: &PgServer) -> Result<PgBouncer> {
    let candidates = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"];
    install_if_missing("pgbouncer", || {
        candidates.iter().any(|p| std::path::Path::new(p).exists())
    });
    let bin = candidates
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .context("pgbouncer is not installed (apt-get install pgbouncer)")?;
    let dir = tempfile::tempdir()?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
    let port = sluice::launcher::free_port()?;
    let o = &pg.opts;
    std::fs::write(
        dir.path().join("userlist.txt"),
        format!("\"{}\" \"{}\"\n", o.user, o.password),
    )?;
    let ini = dir.path().join("pgbouncer.ini");
    std::fs::write(
        &ini,
        format!(
            "[databases]\n{db} = host=127.0.0.1 port={pgport} dbname={db} user={user} password={pw}\n\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {auth}\npool_mode = session\nmax_client_conn = 500\n\
             default_pool_size = 64\nlogfile = {log}\npidfile = {pid}\n",
            db = o.database,
            pgport = pg.port,
            user = o.user,
            pw = o.password,
            auth = dir.path().join("userlist.txt").display(),
            log = dir.path().join("pgbouncer.log").display(),
            pid = dir.path().join("pgbouncer.pid").display(),
        ),
    )?;
    for f in ["userlist.txt", "pgbouncer.ini"] {
        std::fs::set_permissions(dir.path().join(f), std::fs::Permissions::from_mode(0o644))?;
    }
    // PgBouncer will not run as root.
    let root = Command::new("id").arg("-u").output()?.stdout == b"0\n";
    let mut cmd = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", bin]);
        c
    } else {
        Command::new(bin)
    };
    let child = cmd
        .arg(&ini)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting pgbouncer")?;
    let b = PgBouncer {
        child,
        port,
        _dir: dir,
    };
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("pgbouncer did not listen within 10 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(b)
}

/// One pgbench run: (tps, average latency in ms, transactions).
fn pgbench(e: &Endpoint, db: &str, args: &[&str], duration: u32) -> Result<(f64, f64, f64)> {
    let out = Command::new("pgbench")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &e.port.to_string(),
            "-U",
            &e.user,
            "-n",
        ])
        .args(["-T", &duration.to_string()])
        .args(args)
        .arg(db)
        .env("PGPASSWORD", &e.password)
        .output()
        .context("running pgbench")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let find = |prefix: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    };
    match (
        find("tps = "),
        find("latency average = "),
        find("number of transactions actually processed: "),
    ) {
        (Some(t), Some(l), Some(n)) => Ok((t, l, n)),
        _ => bail!(
            "pgbench via {} failed: {}{}",
            e.name,
            text,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// One sysbench run: (transactions/s, average latency ms, queries).
fn sysbench(
    e: &Endpoint,
    test: &str,
    threads: u32,
    duration: u32,
    db: &str,
) -> Result<(f64, f64, f64)> {
    let out = Command::new("sysbench")
        .arg(test)
        .args(sysbench_conn(e, db))
        .args([
            format!("--threads={threads}"),
            format!("--time={duration}"),
            "--tables=1".into(),
            "--table-size=10000".into(),
        ])
        .arg("run")
        .output()
        .context("running sysbench")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let per_sec = |label: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split('(').nth(1)?.split_whitespace().next()?.parse().ok())
    };
    let count = |label: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split(':').nth(1)?.split_whitespace().next()?.parse().ok())
    };
    let avg = text
        .lines()
        .find(|l| l.trim_start().starts_with("avg:"))
        .and_then(|l| l.split(':').nth(1)?.trim().parse().ok());
    match (per_sec("transactions:"), avg, count("queries:")) {
        (Some(t), Some(a), Some(q)) => Ok((t, a, q)),
        _ => bail!(
            "sysbench via {} failed: {text}{}",
            e.name,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn sysbench_conn(e: &Endpoint, db: &str) -> Vec<String> {
    vec![
        "--db-driver=mysql".into(),
        "--mysql-host=127.0.0.1".into(),
        format!("--mysql-port={}", e.port),
        format!("--mysql-user={}", e.user),
        format!("--mysql-password={}", e.password),
        format!("--mysql-db={db}"),
        "--mysql-ssl=off".into(),
    ]
}

/// The issue's targets as rows of a markdown table: measure, target, measured, met.
#[derive(Default)]
struct Targets(Vec<String>);

impl Targets {
    /// A ratio that should be at least (`at_least`) or at most `bound`; `runs` are the same
    /// ratio within each run, whose spread shows how far one run can be trusted.
    fn ratio(
        &mut self,
        measure: &str,
        value: Option<f64>,
        runs: &[f64],
        bound: f64,
        at_least: bool,
    ) {
        let target = format!("{} {bound:.2}×", if at_least { "≥" } else { "≤" });
        self.row(
            measure,
            &target,
            value.map(|v| {
                (
                    format!("{v:.2}×"),
                    if at_least { v >= bound } else { v <= bound },
                )
            }),
            range(runs, |v| format!("{v:.2}×")),
        );
    }

    fn row(
        &mut self,
        measure: &str,
        target: &str,
        measured: Option<(String, bool)>,
        range: String,
    ) {
        let (value, met) = match measured {
            Some((v, true)) => (v, "met"),
            Some((v, false)) => (v, "**not met**"),
            None => ("–".into(), "not measured"),
        };
        self.0.push(format!(
            "| {measure} | {target} | {value} | {range} | {met} |"
        ));
    }

    fn table(&self) -> String {
        format!(
            "\n## Against the targets\n\nSame-run medians from the tables below. Each run measures every configuration back to back; the range is the lowest and the highest of the measure taken within one run, which shows how much this machine's noise moves it.\n\n| measure | target | measured | range over runs | |\n|---|---|---|---|---|\n{}\n",
            self.0.join("\n")
        )
    }
}

/// The median of one figure (0 value, 1 latency) of `workload` via `endpoint`.
fn median_of(samples: &Samples, workload: &str, endpoint: &str, figure: usize) -> Option<f64> {
    let v = samples.get(workload)?.get(endpoint)?;
    Some(median(
        v.iter()
            .map(|s| if figure == 0 { s.0 } else { s.1 })
            .collect(),
    ))
}

/// The lowest and highest of `runs`, formatted; "–" without runs.
fn range(runs: &[f64], fmt: impl Fn(f64) -> String) -> String {
    if runs.is_empty() {
        return "–".into();
    }
    let lo = runs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = runs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{}–{}", fmt(lo), fmt(hi))
}

/// `f` of each run's pair of samples: samples are kept in run order (the configurations take
/// turns within each run), so the i-th of `x` and of `y` belong together.
fn per_run<T>(x: Option<&Vec<T>>, y: Option<&Vec<T>>, f: impl Fn(&T, &T) -> f64) -> Vec<f64> {
    match (x, y) {
        (Some(x), Some(y)) => x.iter().zip(y).map(|(x, y)| f(x, y)).collect(),
        _ => Vec::new(),
    }
}

/// `a / b` within each run.
fn run_ratios(samples: &Samples, workload: &str, a: &str, b: &str) -> Vec<f64> {
    let by = samples.get(workload);
    per_run(
        by.and_then(|by| by.get(a)),
        by.and_then(|by| by.get(b)),
        |x, y| x.0 / y.0,
    )
    .into_iter()
    .filter(|r| r.is_finite())
    .collect()
}

fn ratio_of(samples: &Samples, workload: &str, a: &str, b: &str) -> Option<f64> {
    let (x, y) = (
        median_of(samples, workload, a, 0)?,
        median_of(samples, workload, b, 0)?,
    );
    (y > 0.0).then(|| x / y)
}

/// Results: workload → configuration → samples (value, latency, cpu µs per statement).
type Samples = BTreeMap<String, BTreeMap<&'static str, Vec<(f64, f64, Option<f64>)>>>;

/// Keeps one run's figures, and says them on stderr as the run goes.
fn add_sample(
    samples: &mut Samples,
    rep: usize,
    workload: &str,
    e: &Endpoint,
    sample: (f64, f64, Option<f64>),
) {
    eprintln!(
        "compare: rep {rep} {workload} via {}: {:.0} tps, {:.3} ms",
        e.name, sample.0, sample.1
    );
    samples
        .entry(workload.to_string())
        .or_default()
        .entry(e.name)
        .or_default()
        .push(sample);
}

fn cpu_per_statement(pid: Option<u32>, before: f64, statements: f64) -> Option<f64> {
    pid.map(|p| (cpu_seconds(p) - before) * 1e6 / statements.max(1.0))
}

fn table(samples: &Samples, order: &[&'static str], reference: &str, unit: &str) -> String {
    let mut out = format!("| workload | {} | sluice full / {reference} | sluice passthrough / {reference} | sluice CPU µs/statement (pass, full) |\n|---|", order.join(" | "));
    out += &"---|".repeat(order.len() + 3);
    out.push('\n');
    for (workload, by) in samples {
        let m = |name: &str, i: usize| -> Option<f64> {
            by.get(name).map(|v| {
                median(
                    v.iter()
                        .filter_map(|s| match i {
                            0 => Some(s.0),
                            1 => Some(s.1),
                            _ => s.2,
                        })
                        .collect(),
                )
            })
        };
        let cells: Vec<String> = order
            .iter()
            .map(|c| match (m(c, 0), m(c, 1)) {
                (Some(v), Some(l)) => format!("{v:.0} {unit} ({l:.3} ms)"),
                _ => "–".into(),
            })
            .collect();
        let ratio = |a: &str| match (m(a, 0), m(reference, 0)) {
            (Some(x), Some(y)) if y > 0.0 => format!("{:.2}×", x / y),
            _ => "–".into(),
        };
        let cpu = |c: &str| {
            m(c, 2)
                .filter(|v| v.is_finite())
                .map_or("–".into(), |v| format!("{v:.1}"))
        };
        out += &format!(
            "| {workload} | {} | {} | {} | {}, {} |\n",
            cells.join(" | "),
            ratio("sluice full"),
            ratio("sluice passthrough"),
            cpu("sluice passthrough"),
            cpu("sluice full")
        );
    }
    out
}

/// How sluice reaches database `db` of a throwaway MariaDB.
fn mysql_upstream(my: &MariaDbServer, db: &'static str) -> Upstream {
    Upstream {
        proto: Proto::Mysql,
        addr: format!("127.0.0.1:{}", my.port),
        user: my.opts.user.clone(),
        password: my.opts.password.clone(),
        database: db.into(),
        port: my.port,
        schema: db,
    }
}

/// How sluice reaches a throwaway PostgreSQL.
fn pg_upstream(pg: &PgServer) -> Upstream {
    Upstream {
        proto: Proto::Postgres,
        addr: format!("127.0.0.1:{}", pg.port),
        user: pg.opts.user.clone(),
        password: pg.opts.password.clone(),
        database: pg.opts.database.clone(),
        port: pg.port,
        schema: "public",
    }
}

fn postgres(
    a: &Args,
    bin: &std::path::Path,
    report: &mut String,
    targets: &mut Targets,
) -> Result<()> {
    std::env::set_var(AUDIT_KEY_ENV, "compare-bench-key");
    let pg = PgServer::start(PgOptions::default())?;
    let o = pg.opts.clone();
    let direct = Endpoint {
        name: "direct",
        port: pg.port,
        user: o.user.clone(),
        password: o.password.clone(),
        pid: None,
    };
    let init = Command::new("pgbench")
        .args([
            "-i",
            "-q",
            "-s",
            &a.scale.to_string(),
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port.to_string(),
            "-U",
            &o.user,
            &o.database,
        ])
        .env("PGPASSWORD", &o.password)
        .output()?;
    if !init.status.success() {
        bail!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    let up = pg_upstream(&pg);
    let env = [(AUDIT_KEY_ENV, "compare-bench-key")];
    let pass = Sluice::start(bin, &up, "", &env)?;
    let full = Sluice::start(bin, &up, &full_config(Some("async"), Proto::Postgres), &env)?;
    let sync = Sluice::start(bin, &up, &full_config(Some("sync"), Proto::Postgres), &env)?;
    let bouncer = match start_pgbouncer(&pg) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("compare: no PgBouncer rows: {e:#}");
            None
        }
    };
    let via = |name: &'static str, s: &Sluice| Endpoint {
        name,
        port: s.port,
        user: USER.into(),
        password: PASSWORD.into(),
        pid: Some(s.pid()),
    };
    let mut endpoints = vec![direct];
    if let Some(b) = &bouncer {
        endpoints.push(Endpoint {
            name: "PgBouncer",
            port: b.port,
            user: o.user.clone(),
            password: o.password.clone(),
            pid: None,
        });
    }
    endpoints.push(via("sluice passthrough", &pass));
    endpoints.push(via("sluice full", &full));
    endpoints.push(via("sluice full, sync audit", &sync));
    if a.serve {
        for e in &endpoints {
            println!(
                "{}: port {} user {} password {} pid {:?} database {}",
                e.name, e.port, e.user, e.password, e.pid, o.database
            );
        }
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    let mut workloads: Vec<(String, Vec<String>, f64)> = Vec::new();
    for clients in [1u32, 8, 32] {
        for mode in ["simple", "extended", "prepared"] {
            let jobs = clients.min(2).to_string();
            workloads.push((
                format!(
                    "select-only, {clients} client{}, {mode}",
                    if clients == 1 { "" } else { "s" }
                ),
                vec![
                    "-S".into(),
                    "-M".into(),
                    mode.into(),
                    "-c".into(),
                    clients.to_string(),
                    "-j".into(),
                    jobs,
                ],
                1.0,
            ));
        }
    }
    workloads.push((
        "TPC-B-like, 8 clients, simple".into(),
        vec!["-c".into(), "8".into(), "-j".into(), "2".into()],
        7.0,
    ));
    let mut samples: Samples = BTreeMap::new();
    for rep in 0..a.reps {
        for (name, args, per_txn) in &workloads {
            for e in &endpoints {
                let before = e.pid.map(cpu_seconds).unwrap_or(0.0);
                let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                let (tps, lat, txns) = pgbench(e, &o.database, &argv, a.duration)?;
                let cpu = cpu_per_statement(e.pid, before, txns * per_txn);
                add_sample(&mut samples, rep, name, e, (tps, lat, cpu));
            }
        }
    }
    let simple8 = "select-only, 8 clients, simple";
    targets.ratio(
        &format!("{simple8}: full / PgBouncer"),
        ratio_of(&samples, simple8, "sluice full", "PgBouncer"),
        &run_ratios(&samples, simple8, "sluice full", "PgBouncer"),
        1.0,
        true,
    );
    targets.ratio(
        &format!("{simple8}: full / direct"),
        ratio_of(&samples, simple8, "sluice full", "direct"),
        &run_ratios(&samples, simple8, "sluice full", "direct"),
        0.75,
        true,
    );
    targets.ratio(
        &format!(
            "{simple8}: passthrough / direct (PgBouncer / direct: {})",
            ratio_of(&samples, simple8, "PgBouncer", "direct")
                .map_or("–".into(), |r| format!("{r:.2}×"))
        ),
        ratio_of(&samples, simple8, "sluice passthrough", "direct"),
        &run_ratios(&samples, simple8, "sluice passthrough", "direct"),
        0.85,
        true,
    );
    let prepared8 = "select-only, 8 clients, prepared";
    targets.ratio(
        &format!("{prepared8}: full / direct"),
        ratio_of(&samples, prepared8, "sluice full", "direct"),
        &run_ratios(&samples, prepared8, "sluice full", "direct"),
        0.8,
        true,
    );
    let simple1 = "select-only, 1 client, simple";
    let added = median_of(&samples, simple1, "sluice full", 1)
        .zip(median_of(&samples, simple1, "direct", 1))
        .map(|(f, d)| (f - d) * 1000.0);
    let by = samples.get(simple1);
    let added_runs = per_run(
        by.and_then(|by| by.get("sluice full")),
        by.and_then(|by| by.get("direct")),
        |f, d| (f.1 - d.1) * 1000.0,
    );
    targets.row(
        &format!("{simple1}: latency full adds (pgbench's average)"),
        "≤ 40 µs",
        added.map(|us| (format!("{us:.0} µs"), us <= 40.0)),
        range(&added_runs, |us| format!("{us:.0} µs")),
    );
    let tpcb = "TPC-B-like, 8 clients, simple";
    targets.ratio(
        &format!("{tpcb}: sync / async audit"),
        ratio_of(&samples, tpcb, "sluice full, sync audit", "sluice full"),
        &run_ratios(&samples, tpcb, "sluice full, sync audit", "sluice full"),
        0.6,
        true,
    );
    let order: Vec<&'static str> = endpoints.iter().map(|e| e.name).collect();
    *report += &format!("\n## PostgreSQL: pgbench (scale {}, {} s per run, median of {})\n\nTPS (average latency). `sluice full` = rules, a mask on `pgbench_accounts.filler` (planned for every result; pgbench never selects it, so no value is rewritten), detectors and the async audit log. The large-result table below measures row masking.\n\n", a.scale, a.duration, a.reps);
    *report += &table(&samples, &order, "direct", "tps");
    if bouncer.is_some() {
        *report += "\nsluice full / PgBouncer:\n\n| workload | ratio |\n|---|---|\n";
        for (w, by) in &samples {
            let m = |n: &str| by.get(n).map(|v| median(v.iter().map(|s| s.0).collect()));
            if let (Some(f), Some(b)) = (m("sluice full"), m("PgBouncer")) {
                *report += &format!("| {w} | {:.2}× |\n", f / b);
            }
        }
    }
    Ok(())
}

fn mysql(
    a: &Args,
    bin: &std::path::Path,
    report: &mut String,
    targets: &mut Targets,
) -> Result<()> {
    let sysbench_present = || Command::new("sysbench").arg("--version").output().is_ok();
    install_if_missing("sysbench", sysbench_present);
    if !sysbench_present() {
        eprintln!("compare: sysbench is not installed (apt-get install sysbench): no MySQL rows");
        return Ok(());
    }
    let my = MariaDbServer::start(MariaDbOptions::default())?;
    let o = my.opts.clone();
    my.sql_root(None, &format!("CREATE DATABASE IF NOT EXISTS sbtest; GRANT ALL ON sbtest.* TO '{}'@'127.0.0.1', '{}'@'localhost';", o.user, o.user))?;
    let direct = Endpoint {
        name: "direct",
        port: my.port,
        user: o.user.clone(),
        password: o.password.clone(),
        pid: None,
    };
    let prep = Command::new("sysbench")
        .arg("oltp_read_only")
        .args(sysbench_conn(&direct, "sbtest"))
        .args(["--tables=1", "--table-size=10000", "prepare"])
        .output()?;
    if !prep.status.success() {
        bail!(
            "sysbench prepare failed: {}",
            String::from_utf8_lossy(&prep.stderr)
        );
    }
    let up = mysql_upstream(&my, "sbtest");
    let env = [(AUDIT_KEY_ENV, "compare-bench-key")];
    let pass = Sluice::start(bin, &up, "", &env)?;
    let full = Sluice::start(bin, &up, &full_config(Some("async"), Proto::Mysql), &env)?;
    let via = |name: &'static str, s: &Sluice| Endpoint {
        name,
        port: s.port,
        user: USER.into(),
        password: PASSWORD.into(),
        pid: Some(s.pid()),
    };
    let endpoints = [
        direct,
        via("sluice passthrough", &pass),
        via("sluice full", &full),
    ];
    let mut samples: Samples = BTreeMap::new();
    for rep in 0..a.reps {
        for test in ["oltp_point_select", "oltp_read_only"] {
            for threads in [1u32, 8] {
                let name = format!(
                    "{test}, {threads} thread{}",
                    if threads == 1 { "" } else { "s" }
                );
                for e in &endpoints {
                    let before = e.pid.map(cpu_seconds).unwrap_or(0.0);
                    let (tps, lat, queries) = sysbench(e, test, threads, a.duration, "sbtest")?;
                    let cpu = cpu_per_statement(e.pid, before, queries);
                    add_sample(&mut samples, rep, &name, e, (tps, lat, cpu));
                }
            }
        }
    }
    let order: Vec<&'static str> = endpoints.iter().map(|e| e.name).collect();
    *report += &format!("\n## MySQL (MariaDB): sysbench ({} s per run, median of {})\n\nTransactions/s (average latency). `sluice full` = rules, a mask on `sbtest1.c`, detectors and the async audit log.\n\n", a.duration, a.reps);
    *report += &table(&samples, &order, "direct", "tps");
    let point8 = "oltp_point_select, 8 threads";
    targets.ratio(
        &format!("MySQL {point8}: full / direct"),
        ratio_of(&samples, point8, "sluice full", "direct"),
        &run_ratios(&samples, point8, "sluice full", "direct"),
        0.75,
        true,
    );
    Ok(())
}

/// Runs `program` with `args` (and `env`), output discarded; its wall time in seconds.
fn timed(program: &str, args: &[&str], env: (&str, &str)) -> Result<f64> {
    let started = Instant::now();
    let out = Command::new(program)
        .args(args)
        .env(env.0, env.1)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!("{program} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Every row of `sql` through tokio-postgres (extended protocol, binary rows, streamed); its
/// wall time, connection included, and the row count.
fn tokio_postgres_fetch(
    port: u16,
    user: &str,
    password: &str,
    db: &str,
    sql: &str,
) -> Result<(f64, u64)> {
    use futures_util::TryStreamExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let started = Instant::now();
        let (client, conn) = tokio_postgres::connect(
            &format!("host=127.0.0.1 port={port} user={user} password={password} dbname={db}"),
            tokio_postgres::NoTls,
        )
        .await?;
        let conn = tokio::spawn(conn);
        let rows = client.query_raw(sql, std::iter::empty::<i32>()).await?;
        futures_util::pin_mut!(rows);
        let mut n = 0u64;
        while rows.try_next().await?.is_some() {
            n += 1;
        }
        drop(client);
        let _ = conn.await;
        Ok((started.elapsed().as_secs_f64(), n))
    })
}

/// Large-result samples: client → configuration → wall times.
type LargeSamples = BTreeMap<&'static str, BTreeMap<&'static str, Vec<f64>>>;

fn add_large(t: &mut LargeSamples, client: &'static str, config: &'static str, seconds: f64) {
    t.entry(client)
        .or_default()
        .entry(config)
        .or_default()
        .push(seconds);
}

/// The large result's three masked columns of `schema.wide`.
fn wide_masks(schema: &str) -> String {
    format!("[[masks]]\ncolumns = [\"{schema}.wide.c1\", \"{schema}.wide.c2\"]\nfunction = \"redact\"\n\n[[masks]]\ncolumns = [\"{schema}.wide.n1\"]\nfunction = \"null\"\n")
}

fn large_table(t: &LargeSamples, samples: usize) -> String {
    let mut out = format!(
        "\n## Large result: 100,000 rows × 10 columns (3 masked) (median of {samples})\n\nWall time of the whole client run, connection included.\n\n| client | direct | sluice passthrough | sluice masked | passthrough / direct | masked / direct |\n|---|---|---|---|---|---|\n"
    );
    for (client, by) in t {
        let m = |k: &str| median(by.get(k).cloned().unwrap_or_default());
        out += &format!(
            "| {client} | {:.3} s | {:.3} s | {:.3} s | {:.2}× | {:.2}× |\n",
            m("direct"),
            m("passthrough"),
            m("masked"),
            m("passthrough") / m("direct"),
            m("masked") / m("direct"),
        );
    }
    out
}

/// 100,000 rows × 10 columns, 3 masked, through `psql`, tokio-postgres and the `mariadb` CLI.
/// Each sample is short (a fraction of a second), so there are at least nine of them.
fn large(
    a: &Args,
    bin: &std::path::Path,
    report: &mut String,
    targets: &mut Targets,
) -> Result<()> {
    let samples = (a.reps * 3).max(9);
    let mut t: LargeSamples = BTreeMap::new();
    let sql = "SELECT * FROM wide";
    {
        let pg = PgServer::start(PgOptions::default())?;
        let o = pg.opts.clone();
        let psql = |port: u16, user: &str, pw: &str, sql: &str| -> Result<f64> {
            let port = port.to_string();
            timed(
                "psql",
                &[
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port,
                    "-U",
                    user,
                    "-d",
                    &o.database,
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-c",
                    sql,
                ],
                ("PGPASSWORD", pw),
            )
        };
        let create = "CREATE TABLE wide AS SELECT g AS id, md5(g::text) AS c1, md5((g+1)::text) AS c2, md5((g+2)::text) AS c3, g * 2 AS n1, g * 3 AS n4, now() AS t1, 'text ' || g AS c5, g % 7 AS n5, md5((g+3)::text) AS c6 FROM generate_series(1, 100000) g";
        psql(pg.port, &o.user, &o.password, create)?;
        let up = pg_upstream(&pg);
        let pass = Sluice::start(bin, &up, "", &[])?;
        let masked = Sluice::start(bin, &up, &wide_masks("public"), &[])?;
        let configs = [
            ("direct", pg.port, o.user.as_str(), o.password.as_str()),
            ("passthrough", pass.port, USER, PASSWORD),
            ("masked", masked.port, USER, PASSWORD),
        ];
        for _ in 0..samples {
            for (name, port, user, pw) in configs {
                let s = psql(port, user, pw, sql)?;
                add_large(&mut t, "psql", name, s);
                let (s, rows) = tokio_postgres_fetch(port, user, pw, &o.database, sql)?;
                if rows != 100_000 {
                    bail!("tokio-postgres through {name} read {rows} rows, not 100000");
                }
                add_large(&mut t, "tokio-postgres", name, s);
            }
        }
    }
    match MariaDbServer::start(MariaDbOptions::default()) {
        Err(e) => eprintln!("compare: no mariadb CLI rows: {e:#}"),
        Ok(my) => {
            let o = my.opts.clone();
            my.sql_root(None, &format!("CREATE DATABASE IF NOT EXISTS wide; GRANT ALL ON wide.* TO '{}'@'127.0.0.1', '{}'@'localhost'; CREATE TABLE wide.wide AS SELECT seq AS id, md5(seq) AS c1, md5(seq + 1) AS c2, md5(seq + 2) AS c3, seq * 2 AS n1, seq * 3 AS n4, now() AS t1, concat('text ', seq) AS c5, seq % 7 AS n5, md5(seq + 3) AS c6 FROM wide.seq_1_to_100000", o.user, o.user))?;
            let up = mysql_upstream(&my, "wide");
            let pass = Sluice::start(bin, &up, "", &[])?;
            let masked = Sluice::start(bin, &up, &wide_masks("wide"), &[])?;
            let configs = [
                ("direct", my.port, o.user.as_str(), o.password.as_str()),
                ("passthrough", pass.port, USER, PASSWORD),
                ("masked", masked.port, USER, PASSWORD),
            ];
            for _ in 0..samples {
                for (name, port, user, pw) in configs {
                    let port = port.to_string();
                    let s = timed(
                        "mariadb",
                        &[
                            "-h",
                            "127.0.0.1",
                            "-P",
                            &port,
                            "-u",
                            user,
                            "--skip-ssl",
                            "-B",
                            "-N",
                            "wide",
                            "-e",
                            sql,
                        ],
                        ("MYSQL_PWD", pw),
                    )?;
                    add_large(&mut t, "mariadb CLI", name, s);
                }
            }
        }
    }
    *report += &large_table(&t, samples);
    for (client, by) in &t {
        let m = |k: &str| by.get(k).map(|v| median(v.clone()));
        let vs = |k: &str| m(k).zip(m("direct")).map(|(x, d)| x / d);
        let runs = |k: &str| per_run(by.get(k), by.get("direct"), |x, d| x / d);
        targets.ratio(
            &format!("100,000 rows × 10 columns via {client}: passthrough / direct"),
            vs("passthrough"),
            &runs("passthrough"),
            1.1,
            false,
        );
        targets.ratio(
            &format!("100,000 rows × 10 columns via {client}: masked / direct"),
            vs("masked"),
            &runs("masked"),
            1.3,
            false,
        );
    }
    Ok(())
}

fn run() -> Result<()> {
    let a = args()?;
    let bin = sluice_bin()?;
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut report = format!(
        "# sluice benchmarks\n\nGenerated by `cargo run --release -p sluice-benches --bin compare -- --duration {} --reps {}` on {cpus} CPUs ({machine}). Client, proxy and servers share the machine; every figure is a same-run median.\n",
        a.duration, a.reps
    );
    let only = a.only.as_deref();
    let mut targets = Targets::default();
    let mut tables = String::new();
    if only.is_none_or(|o| o == "pg") {
        postgres(&a, &bin, &mut tables, &mut targets)?;
    }
    if only.is_none_or(|o| o == "mysql") {
        mysql(&a, &bin, &mut tables, &mut targets)?;
    }
    if only.is_none_or(|o| o == "large") {
        large(&a, &bin, &mut tables, &mut targets)?;
    }
    let headline = targets.table();
    report += &headline;
    report += &tables;
    if only.is_none() {
        update_readme(&headline)?;
    }
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.out, &report).with_context(|| format!("writing {}", a.out.display()))?;
    println!("{report}");
    Ok(())
}

const README_START: &str = "<!-- compare: targets -->";
const README_END: &str = "<!-- /compare: targets -->";

/// Rewrites the README's targets table (between its markers) with this run's.
fn update_readme(headline: &str) -> Result<()> {
    let path = std::path::Path::new("README.md");
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let (Some(start), Some(end)) = (text.find(README_START), text.find(README_END)) else {
        eprintln!("compare: README.md has no {README_START} markers: not updated");
        return Ok(());
    };
    let table: String = headline
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| format!("{l}\n"))
        .collect();
    let updated = format!("{}{README_START}\n{table}{}", &text[..start], &text[end..]);
    std::fs::write(path, updated).context("writing README.md")
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare: {e:#}");
            ExitCode::FAILURE
        }
    }
}
