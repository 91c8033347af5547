//! Helpers shared by the benchmark programs: the database a benchmark reaches, and
//! `sluice serve` run as a separate process in front of it.

#![forbid(unsafe_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tempfile::TempDir;

/// The sluice user the benchmarks log in as.
pub const USER: &str = "alice";
/// Its password.
pub const PASSWORD: &str = "alice-pw";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Proto {
    Postgres,
    Mysql,
}

impl Proto {
    pub fn name(self) -> &'static str {
        match self {
            Proto::Postgres => "PostgreSQL",
            Proto::Mysql => "MySQL (MariaDB)",
        }
    }
}

/// A database, and how sluice reaches it.
pub struct Upstream {
    pub proto: Proto,
    pub addr: String,
    pub user: String,
    pub password: String,
    pub database: String,
    pub port: u16,
    /// The schema (PostgreSQL) or database (MySQL) part of column names.
    pub schema: &'static str,
}

/// `sluice serve` in its own process, killed on drop.
pub struct Sluice {
    child: Child,
    pub port: u16,
    dir: TempDir,
}

impl Sluice {
    /// Starts sluice with one target in front of `up`, one user ([`USER`]), `extra` appended
    /// to the config (e.g. `[[masks]]` or `[audit]`), and `env` added to its environment. Its
    /// config, log and anything relative to the config live in a fresh temporary directory
    /// ([`Sluice::dir`]). Returns once it listens.
    pub fn start(bin: &Path, up: &Upstream, extra: &str, env: &[(&str, &str)]) -> Result<Sluice> {
        let dir = tempfile::tempdir().context("temp dir for sluice")?;
        std::fs::write(dir.path().join("upstream.pw"), format!("{}\n", up.password))?;
        let port = sluice::launcher::free_port()?;
        let protocol = match up.proto {
            Proto::Postgres => "postgres",
            Proto::Mysql => "mysql",
        };
        let cfg = format!(
            "[server]\nadmin_listen = \"127.0.0.1:0\"\n\n\
             [[users]]\nname = \"{USER}\"\npassword_hash = \"{}\"\ngroups = [\"analysts\"]\n\n\
             [[targets]]\nname = \"bench\"\nprotocol = \"{protocol}\"\nlisten = \"127.0.0.1:{port}\"\n\
             upstream = \"{}\"\nuser = \"{}\"\npassword_file = \"upstream.pw\"\n\
             upstream_tls = \"disable\"\n\n{extra}",
            sluice::auth::hash_password(PASSWORD),
            up.addr,
            up.user,
        );
        let cfg_path = dir.path().join("sluice.toml");
        std::fs::write(&cfg_path, cfg)?;
        let log_path = dir.path().join("sluice.log");
        let log = std::fs::File::create(&log_path)?;
        let child = Command::new(bin)
            .arg("serve")
            .arg("--config")
            .arg(&cfg_path)
            .env("SLUICE_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let mut s = Sluice { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = s.child.try_wait()? {
                bail!("sluice exited ({status}) before listening:\n{}", s.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(s);
            }
            if Instant::now() > deadline {
                bail!("sluice did not listen on port {port} within 20 s");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The directory of the config file.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What sluice wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sluice.log")).unwrap_or_default()
    }

    /// Stops sluice as an operator would (SIGTERM: a graceful shutdown, which closes the audit
    /// log) and waits up to 30 s for it to exit.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .context("running kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {} failed ({status})", self.child.id());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("sluice did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Sluice {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sluice binary: `SLUICE_BIN`, else `sluice` next to the running program.
pub fn sluice_bin() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SLUICE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().context("locating this program")?;
    let bin = me.with_file_name("sluice");
    if !bin.exists() {
        bail!(
            "{} not found: run `cargo build --release -p sluice` first (same target dir), \
             or set SLUICE_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

/// Thousands separators.
pub fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
