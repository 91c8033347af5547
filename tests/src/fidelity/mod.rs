//! The fidelity harness (issue 23): a database's own regression files run once directly and once
//! through sluice, the outputs compared after normalising only what legitimately differs between
//! two connections (ports, server directories, connection ids). A file whose two direct runs
//! differ is not deterministic and is listed apart instead of being compared.
//!
//! The suites themselves live in [`pg`] (PostgreSQL's `src/test/regress`, run with `psql` as
//! `pg_regress` does) and [`mysql`] (MariaDB's `mysql-test` files, run with `mariadb-test` in
//! text, prepared-statement and cursor protocols). `tests/src/bin/fidelity.rs` is the command a
//! user runs (`./sluice-dev fidelity`); `tests/tests/fidelity.rs` runs a fixed subset in CI.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sluice::server::RunningServer;
use tempfile::TempDir;

pub mod mysql;
pub mod pg;

/// How a file came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Same output directly and through sluice.
    Identical,
    /// The suite skipped the file in both runs (a feature the server lacks); nothing compared.
    Skipped,
    /// Two direct runs differ: excluded from the comparison.
    Nondeterministic(String),
    /// Through sluice the output differs: the first differing line of each side.
    Differs(String),
}

/// One file's outcome.
#[derive(Clone, Debug)]
pub struct FileOutcome {
    pub name: String,
    pub verdict: Verdict,
}

/// The outcomes of one suite in one protocol.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub title: String,
    pub outcomes: Vec<FileOutcome>,
}

impl Report {
    /// Files whose outcome matches `pick`.
    pub fn count(&self, pick: impl Fn(&Verdict) -> bool) -> usize {
        self.outcomes.iter().filter(|o| pick(&o.verdict)).count()
    }

    pub fn identical(&self) -> usize {
        self.count(|v| *v == Verdict::Identical)
    }

    pub fn differing(&self) -> Vec<&FileOutcome> {
        self.outcomes
            .iter()
            .filter(|o| matches!(o.verdict, Verdict::Differs(_)))
            .collect()
    }

    /// Files that ran deterministically (identical or differing; not skipped).
    pub fn compared(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Identical | Verdict::Differs(_)))
    }

    /// A Markdown summary: the counts, then every differing and every excluded file.
    pub fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n", self.title);
        let _ = writeln!(
            out,
            "| files | compared | identical | differing | skipped by the suite | not deterministic |\n|---|---|---|---|---|---|\n| {} | {} | {} | {} | {} | {} |\n",
            self.outcomes.len(),
            self.compared(),
            self.identical(),
            self.differing().len(),
            self.count(|v| *v == Verdict::Skipped),
            self.count(|v| matches!(v, Verdict::Nondeterministic(_))),
        );
        for o in &self.outcomes {
            match &o.verdict {
                Verdict::Differs(d) => {
                    let _ = writeln!(out, "- differs: `{}`: {}", o.name, one_line(d));
                }
                Verdict::Nondeterministic(d) => {
                    let _ = writeln!(out, "- not deterministic: `{}`: {}", o.name, one_line(d));
                }
                _ => {}
            }
        }
        out
    }
}

/// `text` on one line, cut to 300 characters, for a table row.
fn one_line(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .take(300)
        .collect();
    flat.replace('`', "'")
}

/// The first line where `a` and `b` differ, as `line N: «a» vs «b»`; `None` when equal.
pub fn first_difference(a: &str, b: &str) -> Option<String> {
    if a == b {
        return None;
    }
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let n = la.iter().zip(&lb).take_while(|(x, y)| x == y).count();
    let show = |l: &[&str]| l.get(n).map_or("<end>".to_string(), |s| s.to_string());
    Some(format!(
        "line {}: «{}» vs «{}»",
        n + 1,
        show(&la),
        show(&lb)
    ))
}

/// Replaces each `(from, to)` in `text`, longest `from` first; a number (a port) only where it
/// stands alone, so that `5432` is not cut out of `54321`. Empty `from`s are ignored.
pub fn normalise(text: &str, pairs: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = pairs.iter().filter(|(f, _)| !f.is_empty()).collect();
    pairs.sort_by_key(|(f, _)| std::cmp::Reverse(f.len()));
    let mut out = text.to_string();
    for (from, to) in pairs {
        out = if from.bytes().all(|b| b.is_ascii_digit()) {
            replace_number(&out, from, to)
        } else {
            out.replace(from.as_str(), to)
        };
    }
    out
}

/// `text` with each `number` that no other digit touches replaced by `to`.
fn replace_number(text: &str, number: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(number) {
        let end = at + number.len();
        let before = rest[..at].bytes().next_back();
        let after = rest[end..].bytes().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(|b| b.is_ascii_digit()) || after.is_some_and(|b| b.is_ascii_digit()) {
            out.push_str(number);
        } else {
            out.push_str(to);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Decides a file's verdict from its normalised outputs.
pub fn judge(direct: &str, direct_again: Option<&str>, proxied: &str, skipped: bool) -> Verdict {
    if let Some(again) = direct_again {
        if let Some(d) = first_difference(direct, again) {
            return Verdict::Nondeterministic(d);
        }
    }
    match first_difference(direct, proxied) {
        Some(d) => Verdict::Differs(d),
        None if skipped => Verdict::Skipped,
        None => Verdict::Identical,
    }
}

/// A sluice in front of one upstream for a fidelity run: no rules, audit on, one mask the
/// login's group is exempt from (so statements are analysed as for an exempt user), and the
/// login named as the upstream user so the suites' outputs name the same user.
pub struct FidelityProxy {
    pub server: Option<RunningServer>,
    pub addr: SocketAddr,
    pub dir: TempDir,
}

/// How to reach the upstream and whom to let in.
pub struct ProxySpec<'a> {
    pub protocol: &'a str,
    pub upstream: String,
    pub upstream_user: &'a str,
    /// `None`: trust (no password upstream).
    pub upstream_password: Option<&'a str>,
    /// The sluice logins (name, password), all in the exempt group.
    pub logins: &'a [(&'a str, &'a str)],
}

const AUDIT_KEY_ENV: &str = "SLUICE_FIDELITY_AUDIT_KEY";

impl FidelityProxy {
    pub async fn start(spec: &ProxySpec<'_>) -> Result<FidelityProxy, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        std::env::set_var(AUDIT_KEY_ENV, "fidelity-audit-key");
        let mut text =
            String::from("[server]\nadmin_listen = \"127.0.0.1:0\"\nshutdown_grace = \"2s\"\n\n");
        for (name, pw) in spec.logins {
            let _ = write!(
                text,
                "[[users]]\nname = \"{name}\"\npassword_hash = \"{}\"\ngroups = [\"fidelity\"]\n\n",
                sluice::auth::hash_password(pw)
            );
        }
        let _ = write!(
            text,
            "[[targets]]\nname = \"t\"\nprotocol = \"{}\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{}\"\nuser = \"{}\"\nmax_connections = 200\nconnect_timeout = \"10s\"\n",
            spec.protocol, spec.upstream, spec.upstream_user
        );
        if let Some(pw) = spec.upstream_password {
            std::fs::write(dir.path().join("upstream.pw"), format!("{pw}\n"))
                .map_err(|e| e.to_string())?;
            text += "password_file = \"upstream.pw\"\n";
        }
        let _ = write!(
            text,
            "\n[audit]\ndir = \"audit\"\nmode = \"async\"\nflush_interval = \"50ms\"\nrecord_rows = 10\nquery_literals = \"mask\"\nkey_env = \"{AUDIT_KEY_ENV}\"\n\n[[masks]]\ncolumns = [\"*.*.sluice_fidelity_secret\"]\nfunction = \"redact\"\nexcept_groups = [\"fidelity\"]\n"
        );
        let path = dir.path().join("sluice.toml");
        std::fs::write(&path, &text).map_err(|e| e.to_string())?;
        let config = sluice::config::Config::load(&path).map_err(|e| e.to_string())?;
        let server = sluice::server::start(&config)
            .await
            .map_err(|e| e.to_string())?;
        let addr = server.addr("t").ok_or("no target")?;
        Ok(FidelityProxy {
            server: Some(server),
            addr,
            dir,
        })
    }

    pub async fn shutdown(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown().await;
        }
    }
}

/// Where a run keeps its outputs: `<out>/<name>/<side>/<file>.out`, for a user to diff.
pub fn save(out: Option<&Path>, side: &str, file: &str, text: &str) {
    if let Some(root) = out {
        let path: PathBuf = root
            .join(side)
            .join(format!("{}.out", file.replace('/', "_")));
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(path, text);
    }
}

/// The PostgreSQL files vendored for CI (tests/fidelity/pg: `sql/`, `data/`; see its README).
pub fn vendored_pg() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fidelity/pg")
}

/// The CI subset of PostgreSQL's regression files, in schedule order: `test_setup` (the tables
/// the others read), then COPY, MERGE, multi-statement and extended-protocol paths, cursors,
/// functions and procedures, notices and errors, JSON/XML and large values.
pub fn pg_subset() -> Vec<String> {
    read_list(&vendored_pg().join("subset"))
}

/// The CI subset of MariaDB's `main` suite: the six files that once differed, then stored
/// procedures, multi-results, prepared statements, cursors, warnings, XML/JSON, large values.
pub fn mysql_subset() -> Vec<String> {
    read_list(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fidelity/mysql-subset"))
}

/// A list file: one name per line, `#` comments.
fn read_list(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The files of the MySQL CI subset marked `# text`: run in the text protocol only.
pub fn mysql_text_only() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fidelity/mysql-subset");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("# text"))
        .filter_map(|l| l.split('#').next())
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}
