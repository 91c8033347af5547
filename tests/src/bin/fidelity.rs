//! `fidelity`: runs a database's own regression suite directly and through sluice and reports
//! which files give identical output (issue 23; `./sluice-dev fidelity` runs it). See
//! docs/fidelity.md for what is compared and the figures of the last full run.
//!
//! ```text
//! fidelity pg    [--full] [--files a,b] [--src DIR] [--out DIR] [--no-determinism] [--timeout S]
//! fidelity mysql [--full] [--sample N] [--files main/a,main/b] [--protocol text|ps|cursor]
//!                [--out DIR] [--no-determinism] [--timeout S]
//! ```
//!
//! Without `--full` it runs the CI subset (tests/fidelity/). Exit status 1 when any file
//! differs through sluice.

use std::path::PathBuf;
use std::process::ExitCode;

use sluice_tests::fidelity::{self, mysql, pg, Report};

/// Parsed command line.
struct Args {
    suite: String,
    full: bool,
    files: Option<Vec<String>>,
    sample: Option<usize>,
    protocol: mysql::Protocol,
    src: Option<PathBuf>,
    out: PathBuf,
    determinism: bool,
    timeout: u32,
}

fn usage() -> String {
    "usage: fidelity pg|mysql [--full] [--files a,b] [--sample N] [--protocol text|ps|cursor] \
     [--src DIR] [--out DIR] [--no-determinism] [--timeout SECONDS]"
        .into()
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let suite = argv.next().ok_or_else(usage)?;
    if suite != "pg" && suite != "mysql" {
        return Err(usage());
    }
    let mut a = Args {
        out: PathBuf::from(format!("target/fidelity/{suite}")),
        suite,
        full: false,
        files: None,
        sample: None,
        protocol: mysql::Protocol::Text,
        src: None,
        determinism: true,
        timeout: 300,
    };
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--full" => a.full = true,
            "--no-determinism" => a.determinism = false,
            "--files" => a.files = Some(value()?.split(',').map(str::to_string).collect()),
            "--sample" => a.sample = Some(value()?.parse().map_err(|_| usage())?),
            "--protocol" => {
                a.protocol = mysql::Protocol::parse(&value()?).ok_or_else(usage)?;
            }
            "--src" => a.src = Some(PathBuf::from(value()?)),
            "--out" => a.out = PathBuf::from(value()?),
            "--timeout" => a.timeout = value()?.parse().map_err(|_| usage())?,
            _ => return Err(usage()),
        }
    }
    Ok(a)
}

/// Every `step`-th file, from the first: a sample that is the same on every run.
fn sample(files: Vec<String>, n: Option<usize>) -> Vec<String> {
    match n {
        Some(n) if n > 0 && n < files.len() => {
            let step = files.len() as f64 / n as f64;
            (0..n)
                .map(|i| files[(i as f64 * step) as usize].clone())
                .collect()
        }
        _ => files,
    }
}

async fn run_pg(a: Args) -> Result<Report, String> {
    let src = match (&a.src, a.full) {
        (Some(dir), _) => dir.clone(),
        (None, true) => pg::fetch_source(&PathBuf::from("target/fidelity/pg-source"))?,
        (None, false) => fidelity::vendored_pg(),
    };
    let src = std::fs::canonicalize(&src).map_err(|e| format!("{}: {e}", src.display()))?;
    let tests = match a.files {
        Some(f) => f,
        None if a.full => pg::schedule(&src)?,
        None => fidelity::pg_subset(),
    };
    let libdir = pg::build_regress_lib(&src, &a.out.join("lib"));
    if libdir.is_none() {
        eprintln!(
            "fidelity: regress.so not built (needs regress.c, cc and postgresql-server-dev-15); \
             the suite's C test functions will be missing on both sides"
        );
    }
    let libdir = libdir.map(|d| std::fs::canonicalize(&d).unwrap_or(d));
    pg::run(pg::Plan {
        libdir,
        src,
        tests: sample(tests, a.sample),
        determinism: a.determinism,
        out: Some(a.out),
        timeout_secs: a.timeout,
    })
    .await
}

async fn run_mysql(a: Args) -> Result<Report, String> {
    let suite = a.src.clone().unwrap_or_else(mysql::suite_dir);
    let tests = match a.files {
        Some(f) => f,
        None if a.full => mysql::main_suite(&suite)?,
        None => fidelity::mysql_subset(),
    };
    mysql::run(mysql::Plan {
        suite,
        tests: sample(tests, a.sample),
        protocol: a.protocol,
        determinism: a.determinism,
        out: Some(a.out.join(a.protocol.name())),
        timeout_secs: a.timeout,
    })
    .await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let out = args.out.clone();
    let report = if args.suite == "pg" {
        run_pg(args).await
    } else {
        run_mysql(args).await
    };
    match report {
        Ok(r) => {
            let md = r.markdown();
            println!("{md}");
            let _ = std::fs::create_dir_all(&out);
            let _ = std::fs::write(out.join("report.md"), &md);
            eprintln!("outputs and report.md under {}", out.display());
            if r.differing().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("fidelity: {e}");
            ExitCode::from(2)
        }
    }
}
