//! `stream-rss`: streams a 1,000,000-row masked result through sluice and checks that sluice's
//! memory stays flat.
//!
//! For PostgreSQL and MySQL (MariaDB), in text and binary formats, the same `SELECT` of every
//! row of a `people` table (id, name, ssn, email, birth_date) runs three ways:
//!
//! - `direct`: straight to the database, for comparison;
//! - `raw`: through sluice with no `[[masks]]`, so rows are forwarded as frames;
//! - `masked`: through sluice with `ssn` (`partial`, `keep_last = 4`), `email` (`email`) and
//!   `birth_date` (`generalize`) masked, so every row is decoded and re-encoded.
//!
//! sluice runs as a separate process (`target/release/sluice serve`, next to this binary, or
//! `SLUICE_BIN`), a fresh one per run, so its `VmHWM` (peak RSS, from `/proc/<pid>/status`) is
//! the peak of that run alone. Every row is counted and checked (masked, or not). The program
//! prints a markdown table and exits 1 if a check fails or a peak RSS exceeds the limit.
//!
//! Usage: `stream-rss [--rows N] [--limit-mb MB]` (defaults: 1,000,000 rows, 100 MB).
//! Build sluice first: `cargo build --release -p sluice`.

#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::{pin_mut, TryStreamExt};
use mysql_async::prelude::Queryable;
use mysql_async::Value;
use sluice::launcher::{MariaDbOptions, MariaDbServer, PgOptions, PgServer};
use sluice_benches::{grouped, sluice_bin, Proto, Sluice, Upstream, PASSWORD, USER};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{NoTls, SimpleQueryMessage};

const SQL: &str = "SELECT id, name, ssn, email, birth_date FROM people";
/// How many RSS samples to take during a run (besides idle and peak).
const SAMPLES: u64 = 10;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Text,
    Binary,
}

impl Format {
    fn name(self, proto: Proto) -> &'static str {
        match (proto, self) {
            (Proto::Postgres, Format::Text) => "text (simple query)",
            (Proto::Postgres, Format::Binary) => "binary (extended query)",
            (Proto::Mysql, Format::Text) => "text (COM_QUERY)",
            (Proto::Mysql, Format::Binary) => "binary (prepared)",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Route {
    Direct,
    Raw,
    Masked,
}

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Direct => "direct to the database",
            Route::Raw => "sluice, no masks",
            Route::Masked => "sluice, 3 columns masked",
        }
    }
}

/// What the client saw, and sluice's memory along the way.
#[derive(Default)]
struct Outcome {
    rows: u64,
    /// Rows whose masked columns were not as expected for the run.
    bad_rows: u64,
    first_bad: Option<String>,
    elapsed: Duration,
    /// sluice's VmRSS after login, before the query (kB).
    idle_kb: u64,
    /// sluice's largest VmRSS sampled during the run (kB).
    sampled_max_kb: u64,
    /// sluice's VmHWM after the run (kB).
    peak_kb: u64,
}

struct Row3<'a> {
    ssn: &'a str,
    email: &'a str,
    /// `(month, day)` of birth_date.
    birth_md: (u32, u32),
}

impl Outcome {
    fn check(&mut self, masked: bool, row: Row3<'_>) {
        let ok = if masked {
            row.ssn.len() == 11
                && row.ssn.starts_with("*******")
                && row.email.starts_with("u***@")
                && row.birth_md == (1, 1)
        } else {
            row.ssn.len() == 11 && row.ssn.as_bytes()[3] == b'-' && row.email.starts_with("user")
        };
        if !ok {
            self.bad_rows += 1;
            if self.first_bad.is_none() {
                self.first_bad = Some(format!(
                    "ssn={:?} email={:?} birth (month, day)={:?}",
                    row.ssn, row.email, row.birth_md
                ));
            }
        }
    }
}

/// Samples a process's memory from `/proc/<pid>/status`.
#[derive(Clone, Copy)]
struct Probe(Option<u32>);

impl Probe {
    fn field_kb(self, field: &str) -> u64 {
        let Some(pid) = self.0 else { return 0 };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
    fn rss_kb(self) -> u64 {
        self.field_kb("VmRSS:")
    }
    fn hwm_kb(self) -> u64 {
        self.field_kb("VmHWM:")
    }
}

/// Takes [`SAMPLES`] RSS samples, evenly spread over the expected rows.
struct Sampler {
    probe: Probe,
    every: u64,
    max_kb: u64,
}

impl Sampler {
    fn new(probe: Probe, expected_rows: u64) -> Sampler {
        Sampler {
            probe,
            every: (expected_rows / SAMPLES).max(1),
            max_kb: 0,
        }
    }
    fn row(&mut self, n: u64) {
        if n % self.every == 0 {
            self.max_kb = self.max_kb.max(self.probe.rss_kb());
        }
    }
}

/// A `DATE` in binary, as days since 2000-01-01 (tokio-postgres has no date type of its own).
struct PgDate(i32);

impl<'a> FromSql<'a> for PgDate {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgDate(i32::from_be_bytes(raw.try_into()?)))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::DATE
    }
}

/// `(month, day)` of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
fn month_day(days_since_1970: i64) -> (u32, u32) {
    let z = days_since_1970 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (m, d)
}

/// `(month, day)` of a `YYYY-MM-DD` text date.
fn text_month_day(s: &str) -> (u32, u32) {
    let mut parts = s.split('-').skip(1).map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// Where a client connects, and as whom.
struct Endpoint {
    port: u16,
    user: String,
    password: String,
    database: String,
}

async fn run_pg(
    ep: &Endpoint,
    format: Format,
    masked: bool,
    probe: Probe,
    expected: u64,
) -> Result<Outcome> {
    let conn_str = format!(
        "host=127.0.0.1 port={} user={} password={} dbname={}",
        ep.port, ep.user, ep.password, ep.database
    );
    let (client, conn) = tokio_postgres::connect(&conn_str, NoTls)
        .await
        .context("PostgreSQL connect")?;
    let conn_task = tokio::spawn(conn);
    let stmt = match format {
        Format::Binary => Some(client.prepare(SQL).await.context("prepare")?),
        Format::Text => None,
    };
    let mut out = Outcome {
        idle_kb: probe.rss_kb(),
        ..Outcome::default()
    };
    let mut sampler = Sampler::new(probe, expected);
    let began = Instant::now();
    match &stmt {
        None => {
            let stream = client.simple_query_raw(SQL).await.context("simple query")?;
            pin_mut!(stream);
            while let Some(msg) = stream.try_next().await.context("reading rows")? {
                if let SimpleQueryMessage::Row(row) = msg {
                    out.rows += 1;
                    sampler.row(out.rows);
                    out.check(
                        masked,
                        Row3 {
                            ssn: row.get(2).unwrap_or(""),
                            email: row.get(3).unwrap_or(""),
                            birth_md: text_month_day(row.get(4).unwrap_or("")),
                        },
                    );
                }
            }
        }
        Some(stmt) => {
            let stream = client
                .query_raw(stmt, std::iter::empty::<i32>())
                .await
                .context("execute")?;
            pin_mut!(stream);
            while let Some(row) = stream.try_next().await.context("reading rows")? {
                out.rows += 1;
                sampler.row(out.rows);
                let date: PgDate = row.try_get(4).context("birth_date")?;
                out.check(
                    masked,
                    Row3 {
                        ssn: row.try_get(2).context("ssn")?,
                        email: row.try_get(3).context("email")?,
                        // PostgreSQL's epoch is 2000-01-01, 10,957 days after 1970-01-01.
                        birth_md: month_day(i64::from(date.0) + 10_957),
                    },
                );
            }
        }
    }
    out.elapsed = began.elapsed();
    out.sampled_max_kb = sampler.max_kb;
    out.peak_kb = probe.hwm_kb();
    drop(stmt);
    drop(client);
    let _ = conn_task.await;
    Ok(out)
}

fn mysql_str(v: Option<&Value>) -> &str {
    match v {
        Some(Value::Bytes(b)) => std::str::from_utf8(b).unwrap_or(""),
        _ => "",
    }
}

fn mysql_month_day(v: Option<&Value>) -> (u32, u32) {
    match v {
        Some(Value::Date(_, m, d, ..)) => (u32::from(*m), u32::from(*d)),
        other => text_month_day(mysql_str(other)),
    }
}

/// Reads and checks every row of a text or binary result.
async fn drain_mysql<P: mysql_async::prelude::Protocol>(
    mut result: mysql_async::QueryResult<'_, '_, P>,
    masked: bool,
    out: &mut Outcome,
    sampler: &mut Sampler,
) -> Result<()> {
    while let Some(row) = result.next().await.context("reading rows")? {
        out.rows += 1;
        sampler.row(out.rows);
        out.check(
            masked,
            Row3 {
                ssn: mysql_str(row.as_ref(2)),
                email: mysql_str(row.as_ref(3)),
                birth_md: mysql_month_day(row.as_ref(4)),
            },
        );
    }
    Ok(())
}

async fn run_mysql(
    ep: &Endpoint,
    format: Format,
    masked: bool,
    probe: Probe,
    expected: u64,
) -> Result<Outcome> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(ep.port)
        .user(Some(&ep.user))
        .pass(Some(&ep.password))
        .db_name(Some(&ep.database))
        .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .context("MySQL connect")?;
    let stmt = match format {
        Format::Binary => Some(conn.prep(SQL).await.context("prepare")?),
        Format::Text => None,
    };
    let mut out = Outcome {
        idle_kb: probe.rss_kb(),
        ..Outcome::default()
    };
    let mut sampler = Sampler::new(probe, expected);
    let began = Instant::now();
    match &stmt {
        None => {
            let result = conn.query_iter(SQL).await.context("query")?;
            drain_mysql(result, masked, &mut out, &mut sampler).await?;
        }
        Some(stmt) => {
            let result = conn.exec_iter(stmt, ()).await.context("execute")?;
            drain_mysql(result, masked, &mut out, &mut sampler).await?;
        }
    }
    out.elapsed = began.elapsed();
    out.sampled_max_kb = sampler.max_kb;
    out.peak_kb = probe.hwm_kb();
    if let Some(stmt) = stmt {
        conn.close(stmt).await.context("closing the statement")?;
    }
    conn.disconnect().await.context("disconnect")?;
    Ok(out)
}

fn pg_upstream(rows: u64) -> Result<(PgServer, Upstream)> {
    let pg = PgServer::start(PgOptions::default()).context("starting PostgreSQL")?;
    // SET ROLE: the app user owns the table.
    let sql = format!(
        "SET ROLE {user};\n\
         CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL, ssn text NOT NULL,\n\
           email text NOT NULL, birth_date date NOT NULL);\n\
         INSERT INTO people\n\
           SELECT g, 'Customer ' || g,\n\
             lpad(((g * 7) % 1000)::text, 3, '0') || '-' || lpad((g % 100)::text, 2, '0')\n\
               || '-' || lpad((g % 10000)::text, 4, '0'),\n\
             'user' || g || '@example.com', date '1950-01-01' + (g % 20000)\n\
           FROM generate_series(1, {rows}) g;\n\
         VACUUM ANALYZE people;\n",
        user = pg.opts.user
    );
    pg.psql_superuser(&pg.opts.database, &sql)
        .context("loading people")?;
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

fn mysql_upstream(rows: u64) -> Result<(MariaDbServer, Upstream)> {
    let my = MariaDbServer::start(MariaDbOptions::default()).context("starting MariaDB")?;
    // seq_1_to_N is MariaDB's Sequence engine (built in since 10.1).
    let sql = format!(
        "CREATE TABLE people (id int PRIMARY KEY, name varchar(64) NOT NULL,\n\
           ssn varchar(11) NOT NULL, email varchar(64) NOT NULL, birth_date date NOT NULL);\n\
         INSERT INTO people\n\
           SELECT seq, CONCAT('Customer ', seq),\n\
             CONCAT(LPAD((seq * 7) % 1000, 3, '0'), '-', LPAD(seq % 100, 2, '0'), '-',\n\
               LPAD(seq % 10000, 4, '0')),\n\
             CONCAT('user', seq, '@example.com'), DATE '1950-01-01' + INTERVAL (seq % 20000) DAY\n\
           FROM seq_1_to_{rows};\n\
         ANALYZE TABLE people;\n"
    );
    my.sql_root(Some(&my.opts.database), &sql)
        .context("loading people")?;
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

/// The `[[masks]]` of the `masked` route: `ssn`, `email` and `birth_date` of `people`.
fn masks_config(up: &Upstream) -> String {
    let s = up.schema;
    format!(
        "[[masks]]\ncolumns = [\"{s}.people.ssn\"]\nfunction = \"partial\"\nkeep_last = 4\n\n\
         [[masks]]\ncolumns = [\"{s}.people.email\"]\nfunction = \"email\"\n\n\
         [[masks]]\ncolumns = [\"{s}.people.birth_date\"]\nfunction = \"generalize\"\n"
    )
}

struct Record {
    proto: Proto,
    format: Format,
    path: Route,
    out: Outcome,
}

fn mb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

fn args() -> Result<(u64, u64)> {
    let mut rows = 1_000_000u64;
    let mut limit_mb = 100u64;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<u64> {
            it.next()
                .with_context(|| format!("{name} needs a value"))?
                .replace('_', "")
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match a.as_str() {
            "--rows" => rows = value("--rows")?,
            "--limit-mb" => limit_mb = value("--limit-mb")?,
            "-h" | "--help" => {
                println!("usage: stream-rss [--rows N] [--limit-mb MB]");
                std::process::exit(0);
            }
            other => {
                bail!("unknown argument {other:?} (usage: stream-rss [--rows N] [--limit-mb MB])")
            }
        }
    }
    Ok((rows, limit_mb))
}

async fn bench(rows: u64, limit_mb: u64) -> Result<bool> {
    let bin = sluice_bin()?;
    eprintln!("sluice binary: {}", bin.display());
    let mut records = Vec::new();
    for proto in [Proto::Postgres, Proto::Mysql] {
        let began = Instant::now();
        eprintln!(
            "{}: starting and loading {} rows…",
            proto.name(),
            grouped(rows)
        );
        // Keep the server alive for this protocol's runs.
        let (_pg, _my, up) = match proto {
            Proto::Postgres => {
                let (pg, up) = pg_upstream(rows)?;
                (Some(pg), None, up)
            }
            Proto::Mysql => {
                let (my, up) = mysql_upstream(rows)?;
                (None, Some(my), up)
            }
        };
        eprintln!("  loaded in {:.1} s", began.elapsed().as_secs_f64());
        for format in [Format::Text, Format::Binary] {
            for path in [Route::Direct, Route::Raw, Route::Masked] {
                let sluice = match path {
                    Route::Direct => None,
                    Route::Raw => Some(Sluice::start(&bin, &up, "", &[])?),
                    Route::Masked => Some(Sluice::start(&bin, &up, &masks_config(&up), &[])?),
                };
                let (ep, probe) = match &sluice {
                    None => (
                        Endpoint {
                            port: up.port,
                            user: up.user.clone(),
                            password: up.password.clone(),
                            database: up.database.clone(),
                        },
                        Probe(None),
                    ),
                    Some(s) => (
                        Endpoint {
                            port: s.port,
                            user: USER.into(),
                            password: PASSWORD.into(),
                            database: up.database.clone(),
                        },
                        Probe(Some(s.pid())),
                    ),
                };
                let masked = path == Route::Masked;
                let out = match proto {
                    Proto::Postgres => run_pg(&ep, format, masked, probe, rows).await,
                    Proto::Mysql => run_mysql(&ep, format, masked, probe, rows).await,
                }
                .with_context(|| {
                    format!("{} {} {}", proto.name(), format.name(proto), path.name())
                })?;
                eprintln!(
                    "  {} / {} / {}: {} rows in {:.2} s, sluice peak RSS {} MB",
                    proto.name(),
                    format.name(proto),
                    path.name(),
                    grouped(out.rows),
                    out.elapsed.as_secs_f64(),
                    if sluice.is_some() {
                        mb(out.peak_kb)
                    } else {
                        "-".into()
                    },
                );
                drop(sluice);
                records.push(Record {
                    proto,
                    format,
                    path,
                    out,
                });
            }
        }
    }

    let mut ok = true;
    let mut problems = Vec::new();
    println!(
        "| protocol | format | path | rows | elapsed (s) | rows/s | sluice RSS idle (MB) | sluice RSS max sampled (MB) | sluice peak RSS, VmHWM (MB) |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|---:|");
    for r in &records {
        let o = &r.out;
        let through = r.path != Route::Direct;
        let cell = |kb: u64| if through { mb(kb) } else { "–".into() };
        println!(
            "| {} | {} | {} | {} | {:.2} | {} | {} | {} | {} |",
            r.proto.name(),
            r.format.name(r.proto),
            r.path.name(),
            grouped(o.rows),
            o.elapsed.as_secs_f64(),
            grouped((o.rows as f64 / o.elapsed.as_secs_f64().max(1e-9)) as u64),
            cell(o.idle_kb),
            cell(o.sampled_max_kb),
            cell(o.peak_kb),
        );
        let what = format!(
            "{} {} {}",
            r.proto.name(),
            r.format.name(r.proto),
            r.path.name()
        );
        if o.rows != rows {
            problems.push(format!("{what}: {} rows, expected {rows}", o.rows));
        }
        if o.bad_rows > 0 {
            problems.push(format!(
                "{what}: {} rows not {} as expected, first: {}",
                o.bad_rows,
                if r.path == Route::Masked {
                    "masked"
                } else {
                    "clear"
                },
                o.first_bad.as_deref().unwrap_or("")
            ));
        }
        if through && o.peak_kb > limit_mb * 1024 {
            problems.push(format!(
                "{what}: sluice peak RSS {} MB exceeds {limit_mb} MB",
                mb(o.peak_kb)
            ));
        }
        if through && o.peak_kb == 0 {
            problems.push(format!("{what}: could not read sluice's VmHWM"));
        }
    }
    for p in &problems {
        eprintln!("FAIL: {p}");
        ok = false;
    }
    if ok {
        eprintln!(
            "OK: every row checked; sluice's peak RSS stayed under {limit_mb} MB in every run"
        );
    }
    Ok(ok)
}

fn main() -> ExitCode {
    let (rows, limit_mb) = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("stream-rss: {e:#}");
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
            eprintln!("stream-rss: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(bench(rows, limit_mb)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("stream-rss: {e:#}");
            ExitCode::FAILURE
        }
    }
}
