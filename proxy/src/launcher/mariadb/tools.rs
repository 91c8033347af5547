//! Process plumbing for the MariaDB launcher: finding the binaries,
//! isolating them from the caller's environment, running and stopping them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::super::{current_euid, lookup_os_user, run, PgOsUser};
use super::SERVER_TIMEOUT;

/// Clean shutdown: SIGTERM makes mariadbd shut down like `mariadb-admin
/// shutdown`, without that tool's one-second pid-file polling.
pub(super) fn terminate(child: &mut Child) -> Result<()> {
    if let Some(status) = child.try_wait().context("polling mariadbd")? {
        bail!("mariadbd had already exited ({status})");
    }
    run(
        Command::new("kill").args(["-TERM", &child.id().to_string()]),
        "kill -TERM mariadbd",
    )?;
    let deadline = Instant::now() + SERVER_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().context("waiting for mariadbd")? {
            if !status.success() {
                bail!("mariadbd shut down with {status}");
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "mariadbd ignored SIGTERM for {}s; killed",
                SERVER_TIMEOUT.as_secs()
            );
        }
        sleep(Duration::from_millis(20));
    }
}

/// Starts `sh -c script` in its own session (when `setsid` exists), so it
/// outlives us and escapes signals sent to our process group.
pub(super) fn spawn_detached_sh(script: &str) -> std::io::Result<Child> {
    let setsid = Path::new("/usr/bin/setsid");
    let mut cmd = if setsid.exists() {
        let mut c = Command::new(setsid);
        c.arg("sh");
        c
    } else {
        Command::new("sh")
    };
    cmd.arg("-c")
        .arg(script)
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// Runs `cmd` (stdin as configured), failing with its stderr if it exits non-zero.
pub(super) fn checked_output(cmd: &mut Command, what: &str) -> Result<Output> {
    let out = cmd
        .output()
        .with_context(|| format!("{what}: failed to spawn {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

/// Quotes a MariaDB identifier with backticks.
pub(super) fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// Quotes a MariaDB string literal; backslash is an escape character there.
pub(super) fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// Where the MariaDB programs are and who the server must run as.
#[derive(Clone, Debug)]
pub(super) struct MariaDbTools {
    pub(super) mariadbd: PathBuf,
    pub(super) install_db: PathBuf,
    pub(super) client: PathBuf,
    /// Set when we are root: mariadbd refuses to run as root unless told
    /// `--user`, so it drops to this user and must own the data.
    pub(super) run_as: Option<PgOsUser>,
}

impl MariaDbTools {
    /// Discovers binaries and the OS user once per process.
    pub(super) fn get() -> Result<MariaDbTools> {
        static TOOLS: OnceLock<MariaDbTools> = OnceLock::new();
        if let Some(t) = TOOLS.get() {
            return Ok(t.clone());
        }
        let tools = MariaDbTools {
            mariadbd: find_program(&["mariadbd", "mysqld"])?,
            install_db: find_program(&["mariadb-install-db", "mysql_install_db"])?,
            client: find_program(&["mariadb", "mysql"])?,
            run_as: if current_euid()? == 0 {
                Some(lookup_os_user("mysql")?)
            } else {
                None
            },
        };
        Ok(TOOLS.get_or_init(|| tools).clone())
    }

    /// `--user=mysql` when root, else nothing (non-root may not pass it).
    pub(super) fn user_arg(&self) -> Vec<String> {
        self.run_as
            .iter()
            .map(|u| format!("--user={}", u.name))
            .collect()
    }

    /// A command for `program` with `--no-defaults` (it must come first) so
    /// no my.cnf (e.g. /etc/mysql, ~/.my.cnf) can redirect or reconfigure it.
    pub(super) fn cmd(&self, program: &Path, cwd: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("--no-defaults");
        // MYSQL_PWD/MYSQL_HOST/MYSQL_TCP_PORT/MYSQL_UNIX_PORT (and MariaDB
        // 11's MARIADB_*) from the caller's shell would silently change
        // where and how our tools connect; UMASK* change file modes.
        for (key, _) in std::env::vars_os() {
            let k = key.to_string_lossy();
            if ["MYSQL", "MARIADB", "LIBMYSQL", "UMASK"]
                .iter()
                .any(|p| k.starts_with(p))
            {
                cmd.env_remove(&key);
            }
        }
        // The mysql user may not be able to enter the caller's cwd.
        cmd.current_dir(cwd);
        cmd
    }

    /// The `mariadb` CLI, run as ourselves.
    pub(super) fn client_cmd(&self, cwd: &Path) -> Command {
        self.cmd(&self.client, cwd)
    }

    /// Gives `path` to the mysql OS user (no-op when not root).
    pub(super) fn give(&self, path: &Path) -> Result<()> {
        if let Some(user) = &self.run_as {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                .with_context(|| format!("chown {} to {}", path.display(), user.name))?;
        }
        Ok(())
    }
}

/// Finds the first of `names` in `SLUICE_MARIADB_BINDIR`, `PATH`, then the
/// sbin/libexec directories that a non-root `PATH` often lacks.
fn find_program(names: &[&str]) -> Result<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    dirs.extend(std::env::var_os("SLUICE_MARIADB_BINDIR").map(PathBuf::from));
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/usr/libexec", "/usr/bin"].map(PathBuf::from));
    names
        .iter()
        .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow!("none of {names:?} found (set SLUICE_MARIADB_BINDIR); is MariaDB installed?")
        })
}
