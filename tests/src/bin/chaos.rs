//! `chaos`: network chaos against a running sluice (see `sluice_tests::chaos`).
//!
//! ```text
//! cargo run -p sluice-tests --release --bin chaos -- --pid PID [--pg HOST:PORT] [--mysql HOST:PORT]
//!     [--user U --password P] [--good-user U --good-password P] [--good-from IP]
//!     [--seconds N] [--workers N] [--seed N]
//! ```
//!
//! Exits 1 when a well-behaved statement failed, sluice died, or its descriptors did not come
//! back to where they started.

use std::time::Duration;

use sluice_tests::chaos::{run, usage, ChaosConfig};

const USAGE: &str =
    "usage: chaos --pid PID [--pg HOST:PORT] [--mysql HOST:PORT] [--user U] [--password P] \
[--good-user U] [--good-password P] [--good-from IP] [--seconds N] [--workers N] [--seed N]";

fn parse(args: &[String]) -> Result<ChaosConfig, String> {
    let mut c = ChaosConfig {
        pg: None,
        mysql: None,
        user: "alice".into(),
        password: "alice-pw".into(),
        good_user: "bob".into(),
        good_password: "bob-pw".into(),
        good_from: None,
        duration: Duration::from_secs(60),
        workers: 16,
        seed: 1,
        pid: 0,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--pg" => c.pg = Some(value.parse().map_err(|e| bad(&e))?),
            "--mysql" => c.mysql = Some(value.parse().map_err(|e| bad(&e))?),
            "--user" => c.user = value.clone(),
            "--password" => c.password = value.clone(),
            "--good-user" => c.good_user = value.clone(),
            "--good-password" => c.good_password = value.clone(),
            "--good-from" => c.good_from = Some(value.parse().map_err(|e| bad(&e))?),
            "--seconds" => c.duration = Duration::from_secs(value.parse().map_err(|e| bad(&e))?),
            "--workers" => c.workers = value.parse().map_err(|e| bad(&e))?,
            "--seed" => c.seed = value.parse().map_err(|e| bad(&e))?,
            "--pid" => c.pid = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if c.pid == 0 || (c.pg.is_none() && c.mysql.is_none()) {
        return Err("--pid and at least one of --pg, --mysql are needed".into());
    }
    Ok(c)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chaos: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let pid = config.pid;
    let report = run(config).await;
    println!("{report}");
    let alive = usage(pid).fds > 0;
    let fds_back = report.after.fds <= report.before.fds;
    if !report.good_errors.is_empty() || !alive || !fds_back {
        eprintln!("chaos: FAILED (alive: {alive}, descriptors back: {fds_back})");
        std::process::exit(1);
    }
}
