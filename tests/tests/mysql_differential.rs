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

/// The corpus as the CLI splits it: statements end at the current delimiter (changed by
/// `DELIMITER` lines) outside quotes and comments; `--` and `#` comments are dropped.
fn split_corpus(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut delim = ";".to_string();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut block = false;
    for line in text.lines() {
        if quote.is_none() && !block && cur.trim().is_empty() {
            if let Some(d) = line.trim().strip_prefix("DELIMITER ") {
                delim = d.trim().to_string();
                continue;
            }
        }
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let rest: String = chars[i..].iter().collect();
            match (quote, block) {
                (Some(q), _) => {
                    cur.push(c);
                    if c == '\\' && q != '`' {
                        if let Some(&n) = chars.get(i + 1) {
                            cur.push(n);
                            i += 1;
                        }
                    } else if c == q {
                        quote = None;
                    }
                }
                (None, true) => {
                    cur.push(c);
                    if rest.starts_with("*/") {
                        cur.push('/');
                        i += 1;
                        block = false;
                    }
                }
                (None, false) if rest.starts_with("-- ") || rest == "--" || c == '#' => break,
                (None, false) if rest.starts_with("/*") => {
                    block = true;
                    cur.push_str("/*");
                    i += 1;
                }
                (None, false) if rest.starts_with(delim.as_str()) => {
                    if !cur.trim().is_empty() {
                        out.push(cur.trim().to_string());
                    }
                    cur.clear();
                    i += delim.chars().count();
                    continue;
                }
                (None, false) => {
                    if matches!(c, '\'' | '"' | '`') {
                        quote = Some(c);
                    }
                    cur.push(c);
                }
            }
            i += 1;
        }
        cur.push('\n');
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// What one statement gave: per result set, the column names and rows; or the server's error.
#[derive(Debug, PartialEq)]
enum Outcome {
    Results(Vec<(Vec<String>, Vec<Vec<Value>>, u64)>),
    Error(u16, String),
}

/// Runs `sql` as a prepared statement; what the server cannot prepare (error 1295) runs as
/// text instead, so that the corpus's state (procedures, variables) builds up the same way.
async fn run_prepared(conn: &mut mysql_async::Conn, sql: &str) -> (Outcome, bool) {
    async fn collect(
        mut r: mysql_async::QueryResult<'_, '_, impl mysql_async::prelude::Protocol>,
    ) -> Result<Vec<(Vec<String>, Vec<Vec<Value>>, u64)>, mysql_async::Error> {
        let mut sets = Vec::new();
        while !r.is_empty() {
            let columns: Vec<String> = r
                .columns_ref()
                .iter()
                .map(|c| c.name_str().to_string())
                .collect();
            let rows: Vec<Row> = r.collect().await?;
            let affected = r.affected_rows();
            sets.push((
                columns,
                rows.into_iter().map(Row::unwrap).collect(),
                affected,
            ));
        }
        Ok(sets)
    }
    let outcome = |r: Result<_, mysql_async::Error>| match r {
        Ok(sets) => Outcome::Results(sets),
        Err(mysql_async::Error::Server(e)) => Outcome::Error(e.code, e.message),
        Err(e) => Outcome::Error(0, e.to_string()),
    };
    let prepared = match conn.exec_iter(sql, ()).await {
        Ok(r) => collect(r).await,
        Err(e) => Err(e),
    };
    match prepared {
        Err(mysql_async::Error::Server(e)) if e.code == 1295 => {
            let text = match conn.query_iter(sql).await {
                Ok(r) => collect(r).await,
                Err(e) => Err(e),
            };
            (outcome(text), false)
        }
        other => (outcome(other), true),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_gives_identical_values_through_prepared_statements() {
    let server = MariaDbServer::start(MariaDbOptions::default()).unwrap();
    let proxy = Proxy::start_mysql(&server, ProxyOpts::default()).await;
    let text = std::fs::read_to_string(corpus("mysql_differential.sql")).unwrap();
    let statements = split_corpus(&text);
    assert!(statements.len() > 250, "{} statements", statements.len());
    let run_all = |port: u16, user: String, pw: String| {
        let statements = statements.clone();
        async move {
            let mut conn = mysql_async::Conn::new(mysql_opts(port, &user, &pw, Some("diff")))
                .await
                .unwrap();
            let mut outcomes = Vec::new();
            for sql in &statements {
                outcomes.push(run_prepared(&mut conn, sql).await);
            }
            outcomes
        }
    };
    reset(&server);
    let direct = run_all(
        server.port,
        server.opts.user.clone(),
        server.opts.password.clone(),
    )
    .await;
    reset(&server);
    let through = run_all(proxy.port(), USER.into(), PASSWORD.into()).await;
    let prepared = direct.iter().filter(|(_, p)| *p).count();
    assert!(prepared >= 100, "only {prepared} statements ran prepared");
    let errors = direct
        .iter()
        .filter(|(o, _)| matches!(o, Outcome::Error(..)))
        .count();
    assert!(errors > 5, "the corpus's error cases ran ({errors})");
    for ((sql, (d, dp)), (t, tp)) in statements.iter().zip(&direct).zip(&through) {
        assert_eq!(dp, tp, "{sql}: prepared on one side only");
        assert_eq!(d, t, "{sql}: differs through sluice");
    }
}
