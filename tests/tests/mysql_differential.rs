//! Differential tests for MySQL: a 300-statement corpus through the `mariadb` CLI (`--batch
//! --raw` and `--table`) and 130 value expressions through mysql_async (text and prepared
//! statements) give identical results directly and through sluice.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mysql_async::prelude::*;
use mysql_async::{Row, Value};
use sluice_tests::*;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name)
}

fn reset(server: &MariaDbServer) {
    let user = &server.opts.user;
    let sql = format!(
        "DROP DATABASE IF EXISTS diff; CREATE DATABASE diff CHARACTER SET utf8mb4; \
         GRANT ALL ON diff.* TO '{user}'@'127.0.0.1', '{user}'@'localhost';"
    );
    server.sql_root(None, &sql).unwrap();
}

/// Runs the CLI with the corpus on stdin; stdout and stderr interleaved as a user sees them.
fn run_cli(port: u16, user: &str, password: &str, mode: &[&str]) -> String {
    let out = tempfile::NamedTempFile::new().unwrap();
    let file = out.reopen().unwrap();
    let input = std::fs::File::open(corpus("mysql_differential.sql")).unwrap();
    let status = Command::new("mariadb")
        .args([
            "--no-defaults",
            "-h127.0.0.1",
            &format!("-P{port}"),
            &format!("-u{user}"),
            &format!("-p{password}"),
        ])
        .args(["--database=diff", "--force"])
        .args(mode)
        .env_remove("MYSQL_PWD")
        .stdin(Stdio::from(input))
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "--force keeps the CLI going: exit {status}"
    );
    std::fs::read_to_string(out.path()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_gives_identical_cli_output_direct_and_through_sluice() {
    let server = MariaDbServer::start(MariaDbOptions::default()).unwrap();
    let proxy = Proxy::start_mysql(&server, ProxyOpts::default()).await;
    for mode in [&["--batch", "--raw"][..], &["--table"][..]] {
        reset(&server);
        let (user, pw) = (server.opts.user.clone(), server.opts.password.clone());
        let direct = tokio::task::block_in_place(|| run_cli(server.port, &user, &pw, mode));
        assert!(
            direct.contains("ERROR 1062"),
            "the corpus ran as intended ({mode:?})"
        );
        assert!(direct.len() > 1_000_000, "large values are in the output");
        reset(&server);
        let proxied = tokio::task::block_in_place(|| run_cli(proxy.port(), USER, PASSWORD, mode));
        if proxied != direct {
            let line = direct
                .lines()
                .zip(proxied.lines())
                .position(|(a, b)| a != b);
            let pick = |s: &str| {
                line.and_then(|i| s.lines().nth(i))
                    .unwrap_or("<length differs>")
                    .chars()
                    .take(300)
                    .collect::<String>()
            };
            panic!(
                "{mode:?}: output differs at line {:?}\n direct: {}\n sluice: {}",
                line.map(|i| i + 1),
                pick(&direct),
                pick(&proxied)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_value_round_trips_identically_in_text_and_binary_protocols() {
    let server = mariadb_native();
    let proxy = Proxy::start_mysql(server, ProxyOpts::default()).await;
    let mut direct = mysql_direct(server).await;
    let mut through = proxy.mysql().await;
    let exprs = std::fs::read_to_string(corpus("mysql_values.txt")).unwrap();
    let mut checked = 0;
    for expr in exprs.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let sql = format!("SELECT {expr}");
        let text_direct: Option<Row> = direct.query_first(&sql).await.unwrap();
        let text_through: Option<Row> = through.query_first(&sql).await.unwrap();
        let bin_direct: Option<Row> = direct.exec_first(&sql, ()).await.unwrap();
        let bin_through: Option<Row> = through.exec_first(&sql, ()).await.unwrap();
        let values = |r: Option<Row>| -> Vec<Value> { r.map(Row::unwrap).unwrap_or_default() };
        let (td, tt, bd, bt) = (
            values(text_direct),
            values(text_through),
            values(bin_direct),
            values(bin_through),
        );
        assert!(!td.is_empty(), "{expr}: no row");
        assert_eq!(td, tt, "text protocol differs for {expr}");
        assert_eq!(bd, bt, "binary protocol differs for {expr}");
        checked += 1;
    }
    assert!(checked >= 80, "only {checked} expressions");
}
