//! A private, disposable PostgreSQL cluster on a free localhost port.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use tempfile::TempDir;

use super::certs::TestPki;
use super::{append, free_port, quote_ident, quote_literal, run, sh_quote, unique_suffix, PgTools};

/// Demo schema: `customers` (with PII-looking columns), `orders`, `employees`.
///
/// Plain SQL, safe to re-run (drops the tables first). Run it via
/// [`PgServer::load_sample_schema`] so the tables end up owned by the app user.
pub const SAMPLE_SCHEMA: &str = include_str!("sample_schema.sql");

/// How the server authenticates TCP clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgAuth {
    /// `scram-sha-256` in pg_hba.conf, SCRAM verifier stored.
    Scram,
    /// `md5` in pg_hba.conf, MD5 hash stored.
    Md5,
    /// `trust`: no password asked.
    Trust,
}

impl PgAuth {
    fn hba_method(self) -> &'static str {
        match self {
            PgAuth::Scram => "scram-sha-256",
            PgAuth::Md5 => "md5",
            PgAuth::Trust => "trust",
        }
    }

    fn password_encryption(self) -> &'static str {
        match self {
            PgAuth::Md5 => "md5",
            PgAuth::Scram | PgAuth::Trust => "scram-sha-256",
        }
    }
}

/// What kind of server to launch and which application login to create.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// Authentication method for TCP connections.
    pub auth: PgAuth,
    /// Enable server-side TLS with a freshly generated [`TestPki`].
    pub tls: bool,
    /// Application role to create (LOGIN, owner of `database`).
    pub user: String,
    /// Password of the application role.
    pub password: String,
    /// Application database to create.
    pub database: String,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            auth: PgAuth::Scram,
            tls: false,
            user: "app".into(),
            password: "app-secret".into(),
            database: "app".into(),
        }
    }
}

/// A running throwaway PostgreSQL cluster; stopped and deleted on drop.
///
/// A detached watchdog also removes it if this process dies without
/// dropping it (e.g. when held in a `static`).
pub struct PgServer {
    /// Always `127.0.0.1`.
    pub host: String,
    /// TCP port the server listens on.
    pub port: u16,
    /// The options it was started with.
    pub opts: PgOptions,
    /// Certificates in use when `opts.tls` is set.
    pub pki: Option<TestPki>,
    tempdir: Option<TempDir>,
    root: PathBuf,
    data_dir: PathBuf,
    sock_dir: PathBuf,
    log_file: PathBuf,
    tools: PgTools,
    superuser: String,
    running: bool,
    watchdog: Option<Child>,
}

impl PgServer {
    /// Creates, configures and starts a cluster, then creates the app role
    /// and database. Blocks until the server accepts connections.
    pub fn start(opts: PgOptions) -> Result<PgServer> {
        let began = Instant::now();
        let tools = PgTools::get()?;
        let tempdir = tempfile::Builder::new()
            .prefix("sluice-pg-")
            .tempdir()
            .context("creating temp dir for PostgreSQL")?;
        let root = tempdir.path().to_path_buf();
        // The postgres OS user must be able to traverse and write here.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod {}", root.display()))?;
        tools.give(&root)?;

        let mut server = PgServer {
            host: "127.0.0.1".into(),
            port: 0,
            opts,
            pki: None,
            data_dir: root.join("data"),
            sock_dir: root.join("sock"),
            log_file: root.join("postgres.log"),
            root,
            tempdir: Some(tempdir),
            tools,
            superuser: "postgres".into(),
            running: false,
            watchdog: None,
        };
        // Spawn first so cleanup is guaranteed even if we die mid-setup;
        // on error, Drop of `server` cleans up too.
        server.spawn_watchdog()?;
        server.init_cluster()?;
        server.start_on_free_port()?;
        server.create_app_login().map_err(|e| server.with_log(e))?;
        tracing::debug!(
            port = server.port,
            elapsed_ms = began.elapsed().as_millis() as u64,
            "throwaway PostgreSQL started"
        );
        Ok(server)
    }

    /// Stops the server (`pg_ctl stop -m fast`), keeping its data. Idempotent.
    pub fn stop(&mut self) -> Result<()> {
        if !self.running {
            return Ok(());
        }
        self.pg_ctl_stop("fast").map_err(|e| self.with_log(e))?;
        self.running = false;
        Ok(())
    }

    /// Starts a stopped server again on the same port and data directory.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.pg_ctl_start().map_err(|e| self.with_log(e))
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Directory holding the server's Unix socket (use as `host` in libpq).
    pub fn socket_dir(&self) -> &Path {
        &self.sock_dir
    }

    /// The server log file, handy when a test fails.
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// Runs `sql` as the superuser over the Unix socket with `psql -At`
    /// (unaligned, tuples only) and returns stdout. Stops at the first error.
    pub fn psql_superuser(&self, database: &str, sql: &str) -> Result<String> {
        // A file (not -c) so multi-statement scripts run statement by
        // statement, which CREATE DATABASE and friends require.
        let script = self.root.join(format!("psql-{}.sql", unique_suffix()));
        fs::write(&script, sql).with_context(|| format!("writing {}", script.display()))?;
        let mut cmd = self.tools.client_cmd("psql", &self.root);
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(&self.sock_dir)
            .args(["-p", &self.port.to_string(), "-U", &self.superuser])
            .args(["-d", database, "-f"])
            .arg(&script);
        let result = run(&mut cmd, &format!("psql on database {database:?}"));
        // Best effort: the temp dir is removed at the end anyway.
        let _ = fs::remove_file(&script);
        let out = result?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Loads [`SAMPLE_SCHEMA`] into the app database, owned by the app user.
    pub fn load_sample_schema(&self) -> Result<()> {
        // SET ROLE makes the app user own everything created, so it has
        // full rights without a list of GRANTs to keep in sync.
        let sql = format!(
            "SET ROLE {};\n{SAMPLE_SCHEMA}",
            quote_ident(&self.opts.user)
        );
        self.psql_superuser(&self.opts.database, &sql)
            .context("loading sample schema")?;
        Ok(())
    }

    fn init_cluster(&mut self) -> Result<()> {
        let mut last_err = None;
        // C.UTF-8 gives sane text semantics, but not every system has it.
        for locale in ["C.UTF-8", "C"] {
            self.fresh_dir(&self.data_dir, 0o700)?;
            let mut cmd = self.tools.server_cmd("initdb", &self.root);
            cmd.arg("-D")
                .arg(&self.data_dir)
                .args(["-U", &self.superuser, "--auth=trust", "-E", "UTF8", "-N"])
                .arg(format!("--locale={locale}"));
            match run(&mut cmd, "initdb") {
                Ok(_) => return self.write_config(),
                Err(e) => {
                    tracing::debug!(locale, error = %e, "initdb failed");
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("initdb failed")))
    }

    fn write_config(&mut self) -> Result<()> {
        self.fresh_dir(&self.sock_dir, 0o755)?;
        let mut conf = String::from("\n# added by sluice launcher\n");
        let _ = writeln!(conf, "listen_addresses = '127.0.0.1'");
        let _ = writeln!(
            conf,
            "unix_socket_directories = {}",
            quote_literal(&self.sock_dir.to_string_lossy())
        );
        // Durability is pointless for a throwaway cluster; speed matters.
        conf.push_str("fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n");
        conf.push_str("max_connections = 200\nshared_buffers = '32MB'\n");
        let _ = writeln!(
            conf,
            "password_encryption = '{}'",
            self.opts.auth.password_encryption()
        );
        if self.opts.tls {
            let pki = TestPki::generate(&self.root.join("pki"), &["localhost", "127.0.0.1"])?;
            for path in [&pki.dir, &pki.server_cert, &pki.server_key, &pki.ca_cert] {
                self.tools.give(path)?;
            }
            let _ = writeln!(conf, "ssl = on");
            let _ = writeln!(
                conf,
                "ssl_cert_file = {}",
                quote_literal(&pki.server_cert.to_string_lossy())
            );
            let _ = writeln!(
                conf,
                "ssl_key_file = {}",
                quote_literal(&pki.server_key.to_string_lossy())
            );
            self.pki = Some(pki);
        }
        append(&self.data_dir.join("postgresql.conf"), &conf)?;

        let method = self.opts.auth.hba_method();
        let hba = format!(
            "local all all trust\nhost all all 127.0.0.1/32 {method}\nhost all all ::1/128 {method}\n"
        );
        let hba_path = self.data_dir.join("pg_hba.conf");
        fs::write(&hba_path, hba).with_context(|| format!("writing {}", hba_path.display()))
    }

    /// Starts on a fresh free port, retrying if another process grabbed it
    /// between our probe and the server's bind.
    fn start_on_free_port(&mut self) -> Result<()> {
        let mut last_err = None;
        for _ in 0..5 {
            self.port = free_port()?;
            // Later settings win, so appending is enough to change the port.
            append(
                &self.data_dir.join("postgresql.conf"),
                &format!("port = {}\n", self.port),
            )?;
            match self.pg_ctl_start() {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let e = self.with_log(e);
                    if !format!("{e:#}").contains("already in use") {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("could not find a free port")))
    }

    fn pg_ctl_start(&mut self) -> Result<()> {
        // Truncate so log tails in errors describe this attempt only.
        fs::write(&self.log_file, "")
            .with_context(|| format!("resetting {}", self.log_file.display()))?;
        self.tools.give(&self.log_file)?;
        let out_path = self.root.join("pg_ctl.out");
        let out = fs::File::create(&out_path)
            .with_context(|| format!("creating {}", out_path.display()))?;
        let mut cmd = self.tools.server_cmd("pg_ctl", &self.root);
        cmd.arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&self.log_file)
            .args(["-w", "-t", "60", "start"])
            // A file, not a pipe: the daemonized postmaster inherits these
            // and would hold a pipe open, making `output()` hang forever.
            .stdout(Stdio::from(out.try_clone().context("dup pg_ctl output")?))
            .stderr(Stdio::from(out));
        let status = cmd
            .stdin(Stdio::null())
            .status()
            .with_context(|| format!("spawning {cmd:?}"))?;
        if !status.success() {
            let msg = fs::read_to_string(&out_path).unwrap_or_default();
            return Err(anyhow!("pg_ctl start failed ({status}): {}", msg.trim()));
        }
        self.running = true;
        Ok(())
    }

    fn pg_ctl_stop(&self, mode: &str) -> Result<()> {
        let mut cmd = self.tools.server_cmd("pg_ctl", &self.root);
        cmd.arg("-D")
            .arg(&self.data_dir)
            .args(["-m", mode, "-w", "-t", "60", "stop"]);
        run(&mut cmd, "pg_ctl stop").map(|_| ())
    }

    fn create_app_login(&self) -> Result<()> {
        let o = &self.opts;
        let user = quote_ident(&o.user);
        // Session-level SET so an MD5 server really stores an md5 hash.
        let sql = format!(
            "SET password_encryption = '{}';\n\
             CREATE ROLE {user} LOGIN PASSWORD {};\n\
             CREATE DATABASE {} OWNER {user};\n",
            o.auth.password_encryption(),
            quote_literal(&o.password),
            quote_ident(&o.database),
        );
        self.psql_superuser("postgres", &sql)
            .context("creating app role and database")?;
        Ok(())
    }

    /// Watches our pid from its own session and wipes the cluster once we are gone.
    fn spawn_watchdog(&mut self) -> Result<()> {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {root}",
            pid = std::process::id(),
            stop = self.tools.shell_stop_cmd(&self.data_dir),
            root = sh_quote(self.root.as_os_str()),
        );
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
            .stderr(Stdio::null());
        self.watchdog = Some(cmd.spawn().context("spawning cleanup watchdog")?);
        Ok(())
    }

    fn fresh_dir(&self, dir: &Path, mode: u32) -> Result<()> {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .with_context(|| format!("chmod {}", dir.display()))?;
        self.tools.give(dir)
    }

    /// Attaches the last lines of the server log to an error.
    fn with_log(&self, err: anyhow::Error) -> anyhow::Error {
        let log = fs::read_to_string(&self.log_file).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        // Appended after the cause: `{:#}` would otherwise print it first.
        anyhow!(
            "{err:#}\n--- tail of {} ---\n{tail}",
            self.log_file.display()
        )
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.running {
            if let Err(e) = self.pg_ctl_stop("immediate") {
                tracing::warn!(error = %e, "stopping throwaway PostgreSQL");
            }
            self.running = false;
        }
        if let Some(dir) = self.tempdir.take() {
            if let Err(e) = dir.close() {
                tracing::warn!(error = %e, "removing throwaway PostgreSQL dir");
            }
        }
        // Nothing left to guard; don't leave a sleeping shell per server.
        if let Some(mut child) = self.watchdog.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests;
