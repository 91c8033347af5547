//! The `sluice` command line: a thin layer over the `sluice` library.

#![forbid(unsafe_code)]

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use sluice::audit_cli::{self, CliError, FilterArgs, KeySource, LogSource};
use sluice::audit_store_cli::{self, StoreSource};
use sluice::config::{Config, LogFormat};
use sluice::shipper::pg_conn::PgStore;

/// Exit code for usage and configuration errors (CONTRACT.md).
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "A database wire-protocol proxy that blocks, masks and records"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the proxy for every target in the config file.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file; with --live also log in to every upstream.
    Check {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        live: bool,
    },
    /// Read a password (from the terminal, or one line of stdin) and print its SCRAM-SHA-256 hash
    /// for a [[users]] entry.
    Passwd {
        /// The user the password is for (only used in the prompt).
        user: Option<String>,
    },
    /// Start a throwaway PostgreSQL and MariaDB with sample data and sluice in front of them;
    /// Ctrl-C removes everything.
    Demo {
        /// Where sluice listens for PostgreSQL clients.
        #[arg(long, default_value = "127.0.0.1:6432")]
        listen: String,
        /// Where sluice listens for MySQL clients.
        #[arg(long, default_value = "127.0.0.1:6033")]
        mysql_listen: String,
        /// Where the admin API (approval page, metrics) listens; port 0 picks a free one.
        #[arg(long, default_value = "127.0.0.1:9480")]
        admin_listen: String,
    },
    /// Read the audit log: list sessions, replay one, export records, verify the hash chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Act on statements held for approval, through the admin API. The password comes from
    /// SLUICE_PASSWORD or the terminal.
    Approvals {
        /// The admin API (host:port or URL); default: the config's server.admin_listen.
        #[arg(long, global = true)]
        admin: Option<String>,
        /// The config file to read server.admin_listen from.
        #[arg(long, short, global = true, default_value = "sluice.toml")]
        config: PathBuf,
        /// The sluice user to act as (an approver to decide).
        #[arg(long, short, global = true, env = "SLUICE_USER")]
        user: Option<String>,
        #[command(subcommand)]
        command: ApprovalsCommand,
    },
}

#[derive(Subcommand)]
enum ApprovalsCommand {
    /// List requests (default: pending ones).
    List {
        /// pending, approved, denied, expired, cancelled, used or all.
        #[arg(long, default_value = "pending")]
        state: String,
        /// The API's JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Approve a request.
    Approve {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Deny a request; the client is told the reason.
    Deny {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// List recorded sessions.
    Sessions {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        filter: SelectArgs,
        /// One JSON object a line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a session as it happened: statements, decisions, masked result rows, timing.
    Replay {
        /// The session id (from `sluice audit sessions`).
        session: u64,
        /// Pace the events like the original: 1 = real time, 10 = ten times as fast.
        #[arg(long)]
        speed: Option<f64>,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Stream records for a SIEM, one JSON object a line.
    Export {
        #[command(flatten)]
        log: LogArgs,
        #[command(flatten)]
        filter: SelectArgs,
        /// Only this session.
        #[arg(long)]
        session: Option<u64>,
        /// Output format (jsonl is the only one).
        #[arg(long, default_value = "jsonl")]
        format: String,
        /// Keep printing new records as they are written (or, with --store, shipped).
        #[arg(long)]
        follow: bool,
    },
    /// Check the hash chain; exit 1 naming the first bad record.
    Verify {
        #[command(flatten)]
        log: LogArgs,
    },
}

/// Where the audit log is.
#[derive(Args)]
struct LogArgs {
    /// The config file whose [audit] section names the log directory and its key.
    #[arg(long, short, default_value = "sluice.toml")]
    config: PathBuf,
    /// Read this audit directory instead of the config's [audit] dir.
    #[arg(long, conflicts_with = "config")]
    dir: Option<PathBuf>,
    /// The environment variable holding the HMAC key (default with --dir: SLUICE_AUDIT_KEY;
    /// overrides the config's key).
    #[arg(long, value_name = "NAME")]
    key_env: Option<String>,
    /// Read the central store the instances ship to (postgres://user@host/db, sslmode in the
    /// URL) instead of a local log.
    #[arg(long, value_name = "URL", conflicts_with = "dir")]
    store: Option<String>,
    /// With --store: the environment variable holding the store's password.
    #[arg(long, value_name = "NAME", requires = "store")]
    store_password_env: Option<String>,
    /// With --store: only this instance (replay, verify).
    #[arg(long, value_name = "NAME", requires = "store")]
    instance: Option<String>,
}

/// Which records or sessions.
#[derive(Args)]
struct SelectArgs {
    /// From this time: RFC 3339 (2024-05-01T12:00:00Z) or a duration ago (1h, 7d).
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// Up to this time, like --since.
    #[arg(long, value_name = "T")]
    until: Option<String>,
    /// Only this sluice user.
    #[arg(long, value_name = "U")]
    user: Option<String>,
    /// Only this target.
    #[arg(long, value_name = "NAME")]
    target: Option<String>,
}

impl SelectArgs {
    fn into_filter(self, session: Option<u64>) -> FilterArgs {
        FilterArgs {
            since: self.since,
            until: self.until,
            user: self.user,
            target: self.target,
            session,
        }
    }
}

// glibc's allocator is slow at what sluice does all day: buffers allocated on the session
// threads and freed on the audit writer's thread. mimalloc's per-thread free lists handle it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Passwd { user } => passwd(user.as_deref()),
        Command::Check { config, live } => runtime().block_on(check(&config, live)),
        Command::Serve { config } => {
            let config = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => return usage_error(&e.to_string()),
            };
            init_logging(config.server.log_format);
            let rt = runtime_with(config.server.worker_threads);
            let code = rt.block_on(serve(config));
            // The log is closed by now; a blocking call still out (a control database that
            // does not answer) must not keep the process from exiting.
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
            code
        }
        Command::Demo {
            listen,
            mysql_listen,
            admin_listen,
        } => {
            init_logging(LogFormat::Text);
            runtime().block_on(sluice::demo::run(sluice::demo::Listen {
                pg: &listen,
                mysql: &mysql_listen,
                admin: &admin_listen,
            }))
        }
        Command::Audit { command } => audit(command),
        Command::Approvals {
            admin,
            config,
            user,
            command,
        } => runtime().block_on(approvals(admin, config, user, command)),
    }
}

async fn approvals(
    admin: Option<String>,
    config: PathBuf,
    user: Option<String>,
    command: ApprovalsCommand,
) -> ExitCode {
    use sluice::approvals_cli::{AdminClient, ApprovalsAction};
    let client = (|| {
        let user = user.ok_or_else(|| {
            CliError::usage("name the sluice user to act as with --user (or SLUICE_USER)")
        })?;
        Ok::<_, CliError>(AdminClient {
            base: AdminClient::base_url(admin.as_deref(), &config)?,
            password: AdminClient::password(&user)?,
            user,
        })
    })();
    let action = match command {
        ApprovalsCommand::List { state, json } => ApprovalsAction::List { state, json },
        ApprovalsCommand::Approve { id, reason } => ApprovalsAction::Decide {
            id,
            approve: true,
            reason,
        },
        ApprovalsCommand::Deny { id, reason } => ApprovalsAction::Decide {
            id,
            approve: false,
            reason: Some(reason),
        },
    };
    let mut out = std::io::stdout();
    let result = match client {
        Ok(c) => c.run(action, &mut out).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

fn log_source(log: &LogArgs) -> Result<LogSource, CliError> {
    match &log.dir {
        Some(dir) => Ok(LogSource::from_dir(dir, log.key_env.as_deref())),
        None => LogSource::from_config_file(&log.config, log.key_env.as_deref()),
    }
}

/// `--store`: the central store, and the key from `--key-env`, else the config's `[audit]`
/// key when the config file exists, else `SLUICE_AUDIT_KEY`.
fn store_source(log: &LogArgs) -> Result<Option<StoreSource>, CliError> {
    let Some(url) = &log.store else {
        return Ok(None);
    };
    let store = PgStore::new(url, log.store_password_env.as_deref(), None, None)
        .map_err(CliError::usage)?;
    let key = match &log.key_env {
        Some(env) => KeySource::Env(env.clone()),
        None if log.config.exists() => LogSource::from_config_file(&log.config, None)?.key,
        None => KeySource::Env(audit_cli::DEFAULT_KEY_ENV.to_string()),
    };
    Ok(Some(StoreSource {
        store,
        key,
        instance: log.instance.clone(),
    }))
}

fn audit(command: AuditCommand) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let store = match &command {
        AuditCommand::Sessions { log, .. }
        | AuditCommand::Replay { log, .. }
        | AuditCommand::Export { log, .. }
        | AuditCommand::Verify { log } => store_source(log),
    };
    let result = match store {
        Ok(Some(src)) => runtime().block_on(audit_store(&src, command, &mut out)),
        Ok(None) => audit_local(command, &mut out),
        Err(e) => Err(e),
    };
    // A closed pipe is not worth a message.
    let _ = std::io::Write::flush(&mut out);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("sluice: {}", e.message);
            }
            ExitCode::from(e.code)
        }
    }
}

/// A verify's exit code as the error the caller exits with (empty message: already printed).
fn exit_with(code: u8) -> Result<(), CliError> {
    match code {
        0 => Ok(()),
        code => Err(CliError {
            code,
            message: String::new(),
        }),
    }
}

fn audit_local(command: AuditCommand, out: &mut dyn std::io::Write) -> Result<(), CliError> {
    match command {
        AuditCommand::Sessions { log, filter, json } => log_source(&log)
            .and_then(|src| audit_cli::sessions(&src, &filter.into_filter(None), json, out)),
        AuditCommand::Replay {
            session,
            speed,
            log,
        } => log_source(&log).and_then(|src| audit_cli::replay(&src, session, speed, out)),
        AuditCommand::Export {
            log,
            filter,
            session,
            format,
            follow,
        } => log_source(&log).and_then(|src| {
            let filter = filter.into_filter(session);
            if follow {
                audit_store_cli::follow(&src, &filter, out)
            } else {
                audit_cli::export(&src, &filter, &format, out).map(drop)
            }
        }),
        AuditCommand::Verify { log } => {
            log_source(&log).and_then(|src| audit_cli::verify(&src, out).and_then(exit_with))
        }
    }
}

async fn audit_store(
    src: &StoreSource,
    command: AuditCommand,
    out: &mut dyn std::io::Write,
) -> Result<(), CliError> {
    match command {
        AuditCommand::Sessions { filter, json, .. } => {
            audit_store_cli::sessions(src, &filter.into_filter(None), json, out).await
        }
        AuditCommand::Replay { session, speed, .. } => {
            audit_store_cli::replay(src, session, speed, out).await
        }
        AuditCommand::Export {
            filter,
            session,
            format,
            follow,
            ..
        } => {
            let filter = filter.into_filter(session);
            if follow {
                audit_store_cli::follow_store(src, &filter, out).await
            } else {
                audit_store_cli::export(src, &filter, &format, out)
                    .await
                    .map(drop)
            }
        }
        AuditCommand::Verify { .. } => audit_store_cli::verify(src, out).await.and_then(exit_with),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    runtime_with(None)
}

/// The async runtime, with `worker_threads` session threads (default: one per CPU).
fn runtime_with(worker_threads: Option<usize>) -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = worker_threads {
        builder.worker_threads(n);
    }
    match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sluice: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("sluice: {message}");
    ExitCode::from(EXIT_USAGE)
}

/// The log filter: `SLUICE_LOG`'s directives (default `info`), except that the SQL parser's
/// debug events, which print statements' tokens, literals included (clear values the audit log
/// masks), are never on.
fn log_filter(spec: Option<&str>) -> tracing_subscriber::EnvFilter {
    let filter = spec
        .and_then(|s| tracing_subscriber::EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    match "sqlparser=off".parse() {
        Ok(quiet) => filter.add_directive(quiet),
        Err(_) => filter,
    }
}

fn init_logging(format: LogFormat) {
    let spec = std::env::var("SLUICE_LOG").ok();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(log_filter(spec.as_deref()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(config: Config) -> ExitCode {
    let server = match sluice::server::start(&config).await {
        Ok(s) => s,
        Err(e) => return usage_error(&e.to_string()),
    };
    let reloader = server.reloader();
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            // The outcome is logged by the reloader either way.
            let _ = reloader.reload("SIGHUP").await;
        }
    });
    sluice::server::stop_signal().await;
    tracing::info!(grace = ?config.server.shutdown_grace.0, "shutting down: no new connections, running statements may finish");
    tokio::select! {
        left = server.shutdown() => {
            if left > 0 {
                tracing::warn!(sessions = left, "grace period over; closing remaining sessions");
            }
        }
        _ = sluice::server::stop_signal() => tracing::warn!("second signal: exiting now"),
    }
    ExitCode::SUCCESS
}

async fn check(path: &Path, live: bool) -> ExitCode {
    let config = match Config::load(path) {
        Ok(c) => c,
        Err(e) => return usage_error(&e.to_string()),
    };
    println!(
        "{}: ok ({} targets, {} users)",
        path.display(),
        config.targets.len(),
        config.users.len()
    );
    if let Ok(rules) = config.rule_set() {
        for warning in rules.warnings() {
            println!("warning: [[rules]]: {warning}");
        }
    }
    if !live {
        return ExitCode::SUCCESS;
    }
    let upstreams = sluice::server::check_upstreams(&config).await;
    let upstreams_ok = upstreams.is_ok();
    upstreams
        .unwrap_or_else(|lines| lines)
        .iter()
        .for_each(|l| println!("{l}"));
    let (sinks, sinks_ok) = sluice::shipper::check_sinks(&config).await;
    sinks.iter().for_each(|l| println!("{l}"));
    if upstreams_ok && sinks_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn passwd(user: Option<&str>) -> ExitCode {
    let password = if std::io::stdin().is_terminal() {
        let prompt = match user {
            Some(u) => format!("Password for {u}: "),
            None => "Password: ".to_string(),
        };
        let first = rpassword::prompt_password(prompt);
        let again = rpassword::prompt_password("Again: ");
        match (first, again) {
            (Ok(a), Ok(b)) if a == b => a,
            (Ok(_), Ok(_)) => return usage_error("the passwords differ"),
            (Err(e), _) | (_, Err(e)) => {
                return usage_error(&format!("cannot read the password: {e}"))
            }
        }
    } else {
        let mut line = String::new();
        if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
            return usage_error(&format!("cannot read the password from stdin: {e}"));
        }
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        return usage_error("an empty password is not allowed");
    }
    println!("{}", sluice::auth::hash_password(&password));
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    /// `SLUICE_LOG=debug` logs sluice's debug events but never a statement's literals through
    /// the SQL parser's own debug output (black-box round 7: `'123-45-6789'` was in the log).
    #[test]
    fn debug_logging_never_prints_the_parsers_view_of_a_statement() {
        let written = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = Arc::clone(&written);
        let make_writer = move || Capture(Arc::clone(&sink));
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(super::log_filter(Some("debug")))
            .with_writer(make_writer)
            .finish();
        // Globally, as `init_logging` does: the parser logs through the `log` crate, which
        // only a global subscriber receives.
        tracing_subscriber::util::SubscriberInitExt::try_init(subscriber).unwrap();
        tracing::debug!("debug events are on");
        let _ = policy::analyze(
            policy::Dialect::Postgres,
            "SELECT * FROM customers WHERE ssn = '123-45-6789'",
        );
        let _ = policy::analyze(
            policy::Dialect::MySql,
            "DELETE FROM customers WHERE ssn = '123-45-6789'",
        );
        let text = String::from_utf8_lossy(&written.lock().unwrap()).into_owned();
        assert!(text.contains("debug events are on"), "{text}");
        assert!(!text.contains("6789"), "{text}");
    }

    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
