//! Throwaway database servers for end-to-end tests and `sluice demo`.
//!
//! [`PgServer`] runs a private PostgreSQL cluster in a temp directory on a
//! free localhost port; [`certs::TestPki`] makes a CA + server certificate.

pub mod certs;
pub mod mariadb;
pub mod pg;

pub use mariadb::{MariaDbAuth, MariaDbOptions, MariaDbServer};
pub use pg::{PgAuth, PgOptions, PgServer};

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
///
/// The port is released before returning, so another process may grab it;
/// callers that bind later should be prepared to retry.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener
        .local_addr()
        .context("reading local address of probe socket")?
        .port())
}

/// OS identity that PostgreSQL processes must run as, when it differs from ours.
#[derive(Clone, Debug)]
pub(crate) struct PgOsUser {
    pub(crate) name: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

/// How to invoke the PostgreSQL server binaries on this machine.
#[derive(Clone, Debug)]
pub(crate) struct PgTools {
    /// Directory with `initdb`/`pg_ctl`; `None` means rely on `PATH`.
    pub(crate) bindir: Option<PathBuf>,
    /// Set when we are root: initdb refuses to run as root, so server-side
    /// tools are run through `runuser` as this user.
    pub(crate) run_as: Option<PgOsUser>,
}

impl PgTools {
    /// Discovers binaries and the OS user once per process.
    pub(crate) fn get() -> Result<PgTools> {
        static TOOLS: OnceLock<PgTools> = OnceLock::new();
        if let Some(t) = TOOLS.get() {
            return Ok(t.clone());
        }
        let tools = PgTools {
            bindir: find_bindir(),
            run_as: if current_euid()? == 0 {
                Some(lookup_os_user("postgres")?)
            } else {
                None
            },
        };
        Ok(TOOLS.get_or_init(|| tools).clone())
    }

    /// Full path (or bare name for `PATH` lookup) of a PostgreSQL program.
    pub(crate) fn program(&self, name: &str) -> PathBuf {
        match &self.bindir {
            Some(dir) if dir.join(name).exists() => dir.join(name),
            _ => PathBuf::from(name),
        }
    }

    /// A command for a server-side tool, run as the PostgreSQL OS user if needed.
    pub(crate) fn server_cmd(&self, name: &str, cwd: &Path) -> Command {
        let prog = self.program(name);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", &user.name, "--"]).arg(prog);
                c
            }
            None => Command::new(prog),
        };
        sanitize(&mut cmd, cwd);
        cmd
    }

    /// A client command (e.g. `psql`), always run as ourselves.
    pub(crate) fn client_cmd(&self, name: &str, cwd: &Path) -> Command {
        let mut cmd = Command::new(self.program(name));
        sanitize(&mut cmd, cwd);
        cmd
    }

    /// Gives `path` to the PostgreSQL OS user (no-op when not root).
    pub(crate) fn give(&self, path: &Path) -> Result<()> {
        if let Some(user) = &self.run_as {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                .with_context(|| format!("chown {} to {}", path.display(), user.name))?;
        }
        Ok(())
    }

    /// The shell command that stops a cluster; used by the watchdog script.
    pub(crate) fn shell_stop_cmd(&self, data_dir: &Path) -> String {
        let pg_ctl = sh_quote(self.program("pg_ctl").as_os_str());
        let prefix = match &self.run_as {
            Some(user) => format!("runuser -u {} -- ", sh_quote(OsStr::new(&user.name))),
            None => String::new(),
        };
        format!(
            "{prefix}{pg_ctl} -D {} -m immediate -w stop",
            sh_quote(data_dir.as_os_str())
        )
    }
}

/// Isolates a child from the caller's libpq environment and working directory.
fn sanitize(cmd: &mut Command, cwd: &Path) {
    // PGHOST/PGPORT/PGSSLMODE/... from the developer's shell must not
    // redirect our tools to the shared server or change their behaviour.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(&key);
        }
    }
    // The postgres user may not be able to enter the caller's cwd.
    cmd.current_dir(cwd);
}

/// Runs `cmd` to completion, failing with its stderr/stdout if it exits non-zero.
pub(crate) fn run(cmd: &mut Command, what: &str) -> Result<Output> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("{what}: failed to spawn {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(out)
}

/// Quotes a string for `sh` using single quotes.
pub(crate) fn sh_quote(s: &OsStr) -> String {
    format!("'{}'", s.to_string_lossy().replace('\'', r"'\''"))
}

fn current_euid() -> Result<u32> {
    let out = run(Command::new("id").arg("-u"), "id -u")?;
    parse_id(&out.stdout)
}

fn lookup_os_user(name: &str) -> Result<PgOsUser> {
    let id = |flag: &str| -> Result<u32> {
        let out = run(Command::new("id").args([flag, name]), "id")
            .with_context(|| format!("running as root needs an OS user named {name:?}"))?;
        parse_id(&out.stdout)
    };
    Ok(PgOsUser {
        name: name.to_string(),
        uid: id("-u")?,
        gid: id("-g")?,
    })
}

fn parse_id(stdout: &[u8]) -> Result<u32> {
    let s = String::from_utf8_lossy(stdout);
    s.trim()
        .parse()
        .with_context(|| format!("unexpected `id` output {s:?}"))
}

/// `SLUICE_PG_BINDIR`, else the newest `/usr/lib/postgresql/*/bin` with initdb.
fn find_bindir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SLUICE_PG_BINDIR") {
        return Some(PathBuf::from(dir));
    }
    let entries = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            // Compare versions numerically so "10" beats "9.6".
            let version: Vec<u32> = name
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// Appends `text` to an existing file, keeping its owner and mode.
pub(crate) fn append(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("appending to {}", path.display()))
}

/// Distinguishes temp files made by concurrent calls in one process.
pub(crate) fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Quotes an SQL identifier.
pub(crate) fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quotes an SQL (or postgresql.conf) string literal.
pub(crate) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
