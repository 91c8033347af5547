//! MariaDB's `mysql-test` files through sluice: each file runs with `mariadb-test` (mysqltest)
//! against a server of its own side, twice directly (to find the files that are not
//! deterministic) and once through sluice, in the text protocol, `--ps-protocol` or
//! `--cursor-protocol`. Every connection goes over TCP (`--protocol=tcp`, which mysqltest
//! applies to the files' own `connect` commands too), as root without a password: sluice knows
//! a login `root` with an empty password and logs in upstream as root, so both sides name the
//! same user. Before each file the `test` database is made afresh, as `mysql-test-run` leaves
//! it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{judge, normalise, save, FidelityProxy, FileOutcome, ProxySpec, Report};
use crate::{MariaDbOptions, MariaDbServer};

/// What mysqltest exits with when a file skips itself (a feature the server lacks).
const EXIT_SKIPPED: i32 = 62;

/// Which client protocol mysqltest speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Text,
    Ps,
    Cursor,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "text" => Some(Protocol::Text),
            "ps" => Some(Protocol::Ps),
            "cursor" => Some(Protocol::Cursor),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Text => "text",
            Protocol::Ps => "ps",
            Protocol::Cursor => "cursor",
        }
    }

    fn flag(self) -> Option<&'static str> {
        match self {
            Protocol::Text => None,
            Protocol::Ps => Some("--ps-protocol"),
            Protocol::Cursor => Some("--cursor-protocol"),
        }
    }
}

/// What to run.
pub struct Plan {
    /// The `mysql-test` directory (Debian: /usr/share/mysql/mysql-test).
    pub suite: PathBuf,
    /// Files as `main/name`, without `.test`, in order.
    pub tests: Vec<String>,
    pub protocol: Protocol,
    pub determinism: bool,
    pub out: Option<PathBuf>,
    pub timeout_secs: u32,
}

/// The installed `mysql-test` directory: $SLUICE_MYSQL_TEST_DIR, else Debian's.
pub fn suite_dir() -> PathBuf {
    std::env::var_os("SLUICE_MYSQL_TEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/mysql/mysql-test"))
}

/// The mysqltest program: `mariadb-test`, or `mysqltest` on older installs.
fn mysqltest() -> &'static str {
    let found = |name: &str| {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
            .unwrap_or(false)
    };
    if found("mariadb-test") {
        "mariadb-test"
    } else {
        "mysqltest"
    }
}

/// Every `.test` file of `main/`, sorted, as `main/name`.
pub fn main_suite(suite: &Path) -> Result<Vec<String>, String> {
    let dir = suite.join("main");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| {
            format!(
                "{}: {e} (install the Debian package mariadb-test)",
                dir.display()
            )
        })?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".test").map(|n| format!("main/{n}"))
        })
        .collect();
    names.sort();
    Ok(names)
}

/// One side: a server, and mysqltest's var directory.
struct Side {
    server: MariaDbServer,
    var: tempfile::TempDir,
}

fn start_side(suite: &Path) -> Result<Side, String> {
    let server = MariaDbServer::start(MariaDbOptions {
        database: "test".into(),
        ..MariaDbOptions::default()
    })
    .map_err(|e| format!("{e:#}"))?;
    let var = tempfile::tempdir().map_err(|e| e.to_string())?;
    for dir in ["tmp", "log"] {
        std::fs::create_dir(var.path().join(dir)).map_err(|e| e.to_string())?;
    }
    // mysql-test-run copies std_data into the var directory; files read it from there.
    std::os::unix::fs::symlink(suite.join("std_data"), var.path().join("std_data"))
        .map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    for dir in [var.path().to_path_buf(), var.path().join("tmp")] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
            .map_err(|e| e.to_string())?;
    }
    Ok(Side { server, var })
}

/// The client command a file may `exec` as `$MYSQL`, pointed at this side's endpoint.
fn client_line(prog: &str, port: u16) -> String {
    format!("{prog} --no-defaults -h127.0.0.1 -P{port} --protocol=tcp -uroot")
}

/// Runs one file against `port`; returns its record, mysqltest's own messages and its exit.
fn run_file(plan: &Plan, side: &Side, port: u16, test: &str) -> (String, bool) {
    // A fresh `test` database, as mysql-test-run leaves it between files.
    let _ = side
        .server
        .sql_root(None, "DROP DATABASE IF EXISTS test; CREATE DATABASE test;");
    let var = side.var.path();
    let result = var
        .join("log")
        .join(format!("{}.result", test.replace('/', "_")));
    let _ = std::fs::remove_file(&result);
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "5", &plan.timeout_secs.to_string(), mysqltest()])
        .args(["--no-defaults", "--protocol=tcp", "-h127.0.0.1", "-uroot"])
        .arg(format!("-P{port}"))
        .args([
            "--database=test",
            "--max-connect-retries=3",
            "--tail-lines=1000",
        ])
        .arg(format!("--basedir={}/", plan.suite.display()))
        .arg(format!("--tmpdir={}", var.join("tmp").display()))
        .arg(format!("--logdir={}", var.join("log").display()))
        .arg(format!(
            "--test-file={}.test",
            plan.suite.join(test).display()
        ))
        .arg(format!("--result-file={}", result.display()))
        .arg("--record")
        .args(plan.protocol.flag())
        .env("MYSQL_TEST_DIR", &plan.suite)
        .env("MYSQLTEST_VARDIR", var)
        .env("MYSQL_TMP_DIR", var.join("tmp"))
        .env("MASTER_MYPORT", port.to_string())
        .env("MYSQL", client_line("mariadb", port))
        .env("MYSQL_DUMP", client_line("mariadb-dump", port))
        .env("MYSQLADMIN", client_line("mariadb-admin", port))
        .env_remove("MYSQL_PWD")
        // `--require` files are named relative to the suite, as mysql-test-run runs it.
        .current_dir(&plan.suite)
        .stdin(Stdio::null());
    let out = match cmd.output() {
        Ok(o) => o,
        Err(e) => return (format!("<{} did not run: {e}>", mysqltest()), false),
    };
    let record = String::from_utf8_lossy(&std::fs::read(&result).unwrap_or_default()).into_owned();
    let code = out.status.code();
    let text = format!(
        "{record}\n--- mysqltest output ---\n{}{}\n--- exit {} ---\n",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        match code {
            Some(124) => "timed out".to_string(),
            Some(c) => c.to_string(),
            None => "signal".to_string(),
        }
    );
    (text, code == Some(EXIT_SKIPPED))
}

/// Runs every file of the plan on one side, normalising its ports and directories.
fn run_side(plan: &Plan, side: &Side, port: u16, name: &str) -> Vec<(String, bool)> {
    let root = side
        .server
        .socket_path()
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let pairs = vec![
        (port.to_string(), "PORT".to_string()),
        (side.server.port.to_string(), "PORT".to_string()),
        (root, "SERVERDIR".to_string()),
        (side.var.path().display().to_string(), "VARDIR".to_string()),
    ];
    plan.tests
        .iter()
        .map(|t| {
            let (text, skipped) = run_file(plan, side, port, t);
            let text = normalise(&text, &pairs);
            save(plan.out.as_deref(), name, t, &text);
            (text, skipped)
        })
        .collect()
}

/// Runs the plan: the direct side(s) and the sluice side at once, each on its own server.
pub async fn run(plan: Plan) -> Result<Report, String> {
    let plan = std::sync::Arc::new(plan);
    let suite = plan.suite.clone();
    let proxied_side = tokio::task::spawn_blocking(move || start_side(&suite))
        .await
        .map_err(|e| e.to_string())??;
    let mut proxy = FidelityProxy::start(&ProxySpec {
        protocol: "mysql",
        upstream: proxied_side.server.addr(),
        upstream_user: "root",
        upstream_password: None,
        logins: &[("root", "")],
    })
    .await?;
    let sluice_port = proxy.addr.port();
    let mut directs = Vec::new();
    for name in ["direct", "direct-again"]
        .iter()
        .take(if plan.determinism { 2 } else { 1 })
    {
        let plan = plan.clone();
        directs.push(tokio::task::spawn_blocking(move || {
            let side = start_side(&plan.suite)?;
            Ok::<_, String>(run_side(&plan, &side, side.server.port, name))
        }));
    }
    let through = {
        let plan = plan.clone();
        tokio::task::spawn_blocking(move || {
            let out = run_side(&plan, &proxied_side, sluice_port, "sluice");
            (out, proxied_side)
        })
    };
    let (proxied, _side) = through.await.map_err(|e| e.to_string())?;
    proxy.shutdown().await;
    let mut direct_runs = Vec::new();
    for d in directs {
        direct_runs.push(d.await.map_err(|e| e.to_string())??);
    }
    let outcomes = plan
        .tests
        .iter()
        .enumerate()
        .map(|(i, t)| FileOutcome {
            name: t.clone(),
            verdict: judge(
                &direct_runs[0][i].0,
                direct_runs.get(1).map(|r| r[i].0.as_str()),
                &proxied[i].0,
                direct_runs[0][i].1 && proxied[i].1,
            ),
        })
        .collect();
    Ok(Report {
        title: format!("MariaDB mysql-test ({} protocol)", plan.protocol.name()),
        outcomes,
    })
}
