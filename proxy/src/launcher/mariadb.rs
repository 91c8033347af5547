//! A private, disposable MariaDB server on a free localhost port.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;

use super::certs::TestPki;
use super::{free_port, run, sh_quote, unique_suffix};
use tools::{
    checked_output, quote_ident, quote_literal, spawn_detached_sh, terminate, MariaDbTools,
};

mod tools;

/// Demo schema: `customers` (with PII-looking columns), `orders`, `employees`.
///
/// The same rows as the PostgreSQL sample schema; safe to re-run (drops the
/// tables first). Load it with [`MariaDbServer::load_sample_schema`].
pub const SAMPLE_SCHEMA: &str = include_str!("mariadb_schema.sql");

/// How long a starting or stopping server may take before we give up.
const SERVER_TIMEOUT: Duration = Duration::from_secs(60);

/// Small, never-syncing InnoDB: durability is pointless for a throwaway
/// server, and fsyncs made startup take seconds on a busy disk.
const SPEED_ARGS: [&str; 5] = [
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=16M",
    "--innodb-flush-log-at-trx-commit=0",
    "--innodb-flush-method=nosync",
    "--skip-innodb-doublewrite",
];

/// How the application user is identified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MariaDbAuth {
    /// `mysql_native_password` (SHA-1 challenge/response).
    NativePassword,
    /// `ed25519` from the `auth_ed25519` plugin (installed on demand).
    Ed25519,
}

impl MariaDbAuth {
    fn plugin(self) -> &'static str {
        match self {
            MariaDbAuth::NativePassword => "mysql_native_password",
            MariaDbAuth::Ed25519 => "ed25519",
        }
    }
}

/// What kind of server to launch and which application login to create.
#[derive(Clone, Debug)]
pub struct MariaDbOptions {
    /// Authentication plugin of the application user.
    pub auth: MariaDbAuth,
    /// Enable server-side TLS with a freshly generated [`TestPki`].
    pub tls: bool,
    /// Application user, created for hosts `127.0.0.1` and `localhost`.
    pub user: String,
    /// Password of the application user.
    pub password: String,
    /// Application database; the user gets ALL on it (plus global PROCESS).
    pub database: String,
    /// More `mariadbd` options, last on its command line (the soak raises `back_log` and
    /// `thread_cache_size`, which only a start sets, for its thousands of connections).
    pub server_args: Vec<String>,
}

impl Default for MariaDbOptions {
    fn default() -> Self {
        MariaDbOptions {
            auth: MariaDbAuth::NativePassword,
            tls: false,
            user: "app".into(),
            password: "app-secret".into(),
            database: "shop".into(),
            server_args: Vec::new(),
        }
    }
}

/// A running throwaway MariaDB server; stopped and deleted on drop.
///
/// A detached watchdog also removes it if this process dies without
/// dropping it (e.g. when held in a `static`).
pub struct MariaDbServer {
    /// Always `127.0.0.1`.
    pub host: String,
    /// TCP port the server listens on.
    pub port: u16,
    /// The options it was started with.
    pub opts: MariaDbOptions,
    /// Certificates in use when `opts.tls` is set.
    pub pki: Option<TestPki>,
    tempdir: Option<TempDir>,
    root: PathBuf,
    data_dir: PathBuf,
    /// Private `--tmpdir`: with a shared /tmp, concurrent installs were seen
    /// to lose their `#sql-temptable-*` files and abort.
    tmp_dir: PathBuf,
    socket: PathBuf,
    pid_file: PathBuf,
    log_file: PathBuf,
    /// stdout/stderr of mariadbd: only errors before `--log-error` opens land here.
    out_file: PathBuf,
    tools: MariaDbTools,
    child: Option<Child>,
    watchdog: Option<Child>,
}

impl MariaDbServer {
    /// Initializes a data directory, starts `mariadbd` on it, then creates
    /// the app user and database. Blocks until the server accepts connections.
    pub fn start(opts: MariaDbOptions) -> Result<MariaDbServer> {
        let began = Instant::now();
        let tools = MariaDbTools::get()?;
        let tempdir = tempfile::Builder::new()
            .prefix("sluice-mariadb-")
            .tempdir()
            .context("creating temp dir for MariaDB")?;
        let root = tempdir.path().to_path_buf();
        // mariadbd (as the mysql user) creates its socket, pid and log here.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod {}", root.display()))?;
        tools.give(&root)?;

        let mut server = MariaDbServer {
            host: "127.0.0.1".into(),
            port: 0,
            opts,
            pki: None,
            data_dir: root.join("data"),
            tmp_dir: root.join("tmp"),
            socket: root.join("mysqld.sock"),
            pid_file: root.join("mysqld.pid"),
            log_file: root.join("mysqld.log"),
            out_file: root.join("mariadbd.out"),
            root,
            tempdir: Some(tempdir),
            tools,
            child: None,
            watchdog: None,
        };
        // Spawn first so cleanup is guaranteed even if we die mid-setup;
        // on error, Drop of `server` cleans up too.
        server.spawn_watchdog()?;
        server.install_db()?;
        if server.opts.tls {
            let pki = TestPki::generate(&server.root.join("pki"), &["localhost", "127.0.0.1"])?;
            for path in [&pki.dir, &pki.server_cert, &pki.server_key, &pki.ca_cert] {
                server.tools.give(path)?;
            }
            server.pki = Some(pki);
        }
        server.start_on_free_port()?;
        server.create_app_login().map_err(|e| server.with_log(e))?;
        tracing::debug!(
            port = server.port,
            elapsed_ms = began.elapsed().as_millis() as u64,
            "throwaway MariaDB started"
        );
        Ok(server)
    }

    /// Shuts the server down cleanly (SIGTERM, then waits), keeping its
    /// data. Idempotent.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        terminate(&mut child).map_err(|e| self.with_log(e))
    }

    /// Starts a stopped (or running) server again on the same port and data.
    pub fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.launch().map_err(|e| self.with_log(e))
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The server's Unix socket; root can log in there without a password.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The server error log, handy when a test fails.
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// Runs `sql` as root over the Unix socket with `mariadb --batch --raw -N`
    /// (tab-separated, no column names) and returns stdout. Stops at the
    /// first error, whose message (from stderr) is in the returned error.
    pub fn sql_root(&self, database: Option<&str>, sql: &str) -> Result<String> {
        // A file on stdin (not -e) so long multi-statement scripts run as in
        // an interactive session, with no argv length limits.
        let script = self.root.join(format!("sql-{}.sql", unique_suffix()));
        fs::write(&script, sql).with_context(|| format!("writing {}", script.display()))?;
        let result = fs::File::open(&script)
            .with_context(|| format!("opening {}", script.display()))
            .and_then(|input| {
                let mut cmd = self.tools.client_cmd(&self.root);
                cmd.args(["-uroot", "--batch", "--raw", "-N"])
                    .arg("--default-character-set=utf8mb4")
                    .arg(format!("--socket={}", self.socket.display()));
                if let Some(db) = database {
                    // --database= so a name starting with '-' is not an option.
                    cmd.arg(format!("--database={db}"));
                }
                checked_output(cmd.stdin(input), "mariadb (as root)")
            });
        // Best effort: the temp dir is removed at the end anyway.
        let _ = fs::remove_file(&script);
        Ok(String::from_utf8_lossy(&result?.stdout).into_owned())
    }

    /// Loads [`SAMPLE_SCHEMA`] into the app database and grants the app
    /// user ALL on that database.
    pub fn load_sample_schema(&self) -> Result<()> {
        let sql = format!("{}{SAMPLE_SCHEMA}", self.grant_sql());
        self.sql_root(Some(&self.opts.database), &sql)
            .context("loading sample schema")?;
        Ok(())
    }

    fn install_db(&self) -> Result<()> {
        for dir in [&self.data_dir, &self.tmp_dir] {
            fs::create_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .with_context(|| format!("chmod {}", dir.display()))?;
            self.tools.give(dir)?;
        }
        let mut cmd = self.tools.cmd(&self.tools.install_db, &self.root);
        // `normal`: passwordless root, reachable only through our socket
        // and 127.0.0.1. Name resolution off so no root@<hostname> appears.
        cmd.args([
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ])
        .arg(format!("--datadir={}", self.data_dir.display()))
        .arg(format!("--tmpdir={}", self.tmp_dir.display()))
        .args(self.tools.user_arg())
        // Passed through to the bootstrap mariadbd.
        .args(SPEED_ARGS);
        run(&mut cmd, "mariadb-install-db").map(|_| ())
    }

    /// Starts on a fresh free port, retrying if another process grabbed it
    /// between our probe and the server's bind.
    fn start_on_free_port(&mut self) -> Result<()> {
        let mut last_err = None;
        for _ in 0..5 {
            self.port = free_port()?;
            match self.launch() {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let e = self.with_log(e);
                    if !format!("{e:#}").contains("Address already in use") {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("could not find a free port")))
    }

    /// Spawns mariadbd in the background and waits until it answers.
    fn launch(&mut self) -> Result<()> {
        // Truncate so log tails in errors describe this attempt only.
        for path in [&self.log_file, &self.out_file] {
            fs::write(path, "").with_context(|| format!("resetting {}", path.display()))?;
            self.tools.give(path)?;
        }
        let out = fs::File::create(&self.out_file)
            .with_context(|| format!("creating {}", self.out_file.display()))?;
        let mut cmd = self.tools.cmd(&self.tools.mariadbd, &self.root);
        cmd.args(self.server_args())
            // A file, not a pipe: nobody drains a pipe while the server runs.
            .stdout(Stdio::from(out.try_clone().context("dup mariadbd output")?))
            .stderr(Stdio::from(out))
            .stdin(Stdio::null());
        let child = cmd.spawn().with_context(|| format!("spawning {cmd:?}"))?;
        self.child = Some(child);
        if let Err(e) = self.wait_ready() {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            return Err(e);
        }
        Ok(())
    }

    fn server_args(&self) -> Vec<String> {
        let mut args: Vec<String> = self.tools.user_arg();
        args.extend(SPEED_ARGS.map(String::from));
        args.extend([
            format!("--datadir={}", self.data_dir.display()),
            format!("--tmpdir={}", self.tmp_dir.display()),
            format!("--socket={}", self.socket.display()),
            format!("--port={}", self.port),
            "--bind-address=127.0.0.1".into(),
            format!("--pid-file={}", self.pid_file.display()),
            format!("--log-error={}", self.log_file.display()),
            // Users are created for 127.0.0.1 and localhost; never wait on DNS.
            "--skip-name-resolve".into(),
            "--skip-log-bin".into(),
            // Tests push values over 16 MiB (multi-packet payloads).
            "--max-allowed-packet=64M".into(),
            "--character-set-server=utf8mb4".into(),
            "--collation-server=utf8mb4_general_ci".into(),
            "--require-secure-transport=OFF".into(),
        ]);
        match &self.pki {
            Some(pki) => args.extend([
                format!("--ssl-cert={}", pki.server_cert.display()),
                format!("--ssl-key={}", pki.server_key.display()),
                format!("--ssl-ca={}", pki.ca_cert.display()),
            ]),
            // Explicit, so versions that auto-generate certificates (11.4+)
            // still give a plaintext-only server.
            None => args.push("--skip-ssl".into()),
        }
        args.extend(self.opts.server_args.iter().cloned());
        args
    }

    /// Polls the socket with the CLI until a query works or mariadbd exits.
    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + SERVER_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().context("polling mariadbd")? {
                    self.child = None;
                    bail!("mariadbd exited during startup ({status})");
                }
            }
            let mut cmd = self.tools.client_cmd(&self.root);
            cmd.args(["-uroot", "--connect-timeout=2", "-e", "SELECT 1"])
                .arg(format!("--socket={}", self.socket.display()));
            if checked_output(&mut cmd, "mariadb readiness probe").is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("mariadbd not ready after {}s", SERVER_TIMEOUT.as_secs());
            }
            sleep(Duration::from_millis(50));
        }
    }

    fn create_app_login(&self) -> Result<()> {
        let o = &self.opts;
        let mut sql = String::new();
        if o.auth == MariaDbAuth::Ed25519 {
            // Not loaded by default; registered in mysql.plugin, so it
            // survives restarts.
            sql.push_str("INSTALL SONAME 'auth_ed25519';\n");
        }
        sql.push_str(&format!(
            "CREATE DATABASE {} CHARACTER SET utf8mb4;\n",
            quote_ident(&o.database)
        ));
        for account in self.accounts() {
            sql.push_str(&format!(
                "CREATE USER {account} IDENTIFIED VIA {} USING PASSWORD({});\n",
                o.auth.plugin(),
                quote_literal(&o.password)
            ));
        }
        // PROCESS lets tests watch SHOW PROCESSLIST; KILL QUERY on one's own
        // threads needs no privilege.
        sql.push_str(&self.grant_sql());
        self.sql_root(None, &sql)
            .context("creating app user and database")?;
        Ok(())
    }

    /// `'user'@'127.0.0.1'` (TCP) and `'user'@'localhost'` (Unix socket).
    fn accounts(&self) -> [String; 2] {
        let user = quote_literal(&self.opts.user);
        [format!("{user}@'127.0.0.1'"), format!("{user}@'localhost'")]
    }

    fn grant_sql(&self) -> String {
        let db = quote_ident(&self.opts.database);
        self.accounts()
            .iter()
            .map(|a| format!("GRANT ALL ON {db}.* TO {a};\nGRANT PROCESS ON *.* TO {a};\n"))
            .collect()
    }

    /// Watches our pid from its own session and wipes the server once we are gone.
    fn spawn_watchdog(&mut self) -> Result<()> {
        // SIGKILL via the pid file: it follows restarts, and the data is
        // about to be deleted anyway.
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             if [ -f {pidf} ]; then kill -9 \"$(cat {pidf})\"; sleep 1; fi; rm -rf {root}",
            pid = std::process::id(),
            pidf = sh_quote(self.pid_file.as_os_str()),
            root = sh_quote(self.root.as_os_str()),
        );
        self.watchdog = Some(spawn_detached_sh(&script).context("spawning cleanup watchdog")?);
        Ok(())
    }

    /// Attaches the last lines of the server log (and stray output) to an error.
    fn with_log(&self, err: anyhow::Error) -> anyhow::Error {
        let mut msg = format!("{err:#}");
        for path in [&self.log_file, &self.out_file] {
            let text = fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let tail = lines[lines.len().saturating_sub(30)..].join("\n");
                msg.push_str(&format!("\n--- tail of {} ---\n{tail}", path.display()));
            }
        }
        anyhow!(msg)
    }
}

impl Drop for MariaDbServer {
    fn drop(&mut self) {
        // SIGKILL: a clean shutdown is wasted on data we delete next.
        if let Some(mut child) = self.child.take() {
            if let Err(e) = child.kill().and_then(|_| child.wait()) {
                tracing::warn!(error = %e, "killing throwaway MariaDB");
            }
        }
        if let Some(dir) = self.tempdir.take() {
            if let Err(e) = dir.close() {
                tracing::warn!(error = %e, "removing throwaway MariaDB dir");
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
