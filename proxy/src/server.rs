//! Runs every target of a config, and shuts them down gracefully.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::admin::{self, AdminState};
use crate::auth::UserDirectory;
use crate::config::{split_host_port, Config, ConfigError, Protocol, TargetConfig, UpstreamTls};
use crate::listeners::Listeners;
use crate::live::{Live, LiveParts};
use crate::masks::MaskPolicy;
use crate::mysql::{self, sessions::SessionRegistry, MysqlShared};
use crate::pg::{self, cancel::CancelRegistry, PgShared};
use crate::recorder::Auditor;
use crate::statement_gate::StatementPolicy;
use crate::tls::{self, ServerTls};
use crate::upstream::UpstreamTarget;

/// A running proxy: its listeners and sessions.
pub struct RunningServer {
    auditor: Option<Arc<Auditor>>,
    reloader: Arc<Reloader>,
    listeners: Arc<Listeners>,
    admin_addr: SocketAddr,
    admin: Arc<AdminState>,
    shutdown: watch::Sender<bool>,
    tracker: TaskTracker,
    grace: std::time::Duration,
}

/// Why [`start`] started nothing. The text is what `sluice serve` prints before it exits.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] tls::TlsSetupError),
    #[error(transparent)]
    Shipper(#[from] crate::shipper::ShipperError),
    #[error(transparent)]
    Approvals(#[from] crate::approvals::ApprovalsError),
    #[error("[cluster]: {0}")]
    ClusterApprovals(crate::approvals::ApprovalsError),
    #[error("server.admin_listen: cannot listen on {addr}: {source}")]
    AdminListen {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    AdminAddr(std::io::Error),
    /// A part whose errors are still text (users, [jwt], [[masks]], [audit], [approvals]
    /// settings, listeners), until it has a type of its own.
    #[error("{0}")]
    Text(String),
}

/// Binds every target's listener and starts accepting. Errors name what is wrong (a missing
/// password variable, an unreadable certificate, an address in use) and nothing is started.
pub async fn start(config: &Config) -> Result<RunningServer, StartError> {
    tls::install_provider();
    let reloader = Arc::new(Reloader::new(config).map_err(StartError::Text)?);
    reloader.live.login().configure((&config.login).into());
    let auditor = Auditor::open(config).map_err(StartError::Text)?;
    let admin_listener = TcpListener::bind(&config.server.admin_listen)
        .await
        .map_err(|source| StartError::AdminListen {
            addr: config.server.admin_listen.clone(),
            source,
        })?;
    let admin_addr = admin_listener.local_addr().map_err(StartError::AdminAddr)?;
    let cluster = crate::cluster::ClusterSettings::load(config, admin_addr)?;
    let approvals = match (
        crate::approvals::Settings::load(config, admin_addr).map_err(StartError::Text)?,
        cluster,
    ) {
        (Some(s), Some(c)) => Some(
            crate::approvals::Approvals::open_cluster(s, c, auditor.clone())
                .await
                .map_err(StartError::ClusterApprovals)?,
        ),
        (Some(s), None) => Some(crate::approvals::Approvals::open(s, auditor.clone())?),
        (None, _) => None,
    };
    let analyses = Arc::new(policy::AnalysisCache::new(4096));
    let server_tls = match &config.server.tls {
        Some(t) => Some(ServerTls::load(
            &config.path(&t.cert_file),
            &config.path(&t.key_file),
            t.require,
        )?),
        None => None,
    };
    let pg_shared = Arc::new(PgShared {
        live: Arc::clone(&reloader.live),
        tls: server_tls.clone(),
        cancels: Arc::new(CancelRegistry::default()),
        max_client_message: config.server.max_message_bytes,
        audit: auditor.clone(),
        analyses: Arc::clone(&analyses),
        approvals: approvals.clone(),
    });
    let mysql_shared = Arc::new(MysqlShared {
        live: Arc::clone(&reloader.live),
        tls: server_tls,
        sessions: Arc::new(SessionRegistry::default()),
        max_command: config.server.max_message_bytes as usize,
        audit: auditor.clone(),
        analyses,
        approvals: approvals.clone(),
    });
    let (shutdown, shutdown_rx) = watch::channel(false);
    let tracker = TaskTracker::new();
    if let Some(a) = &approvals {
        crate::approvals::spawn_sweeper(a, &tracker, shutdown_rx.clone());
        crate::approvals::webhook::spawn_worker(a, &tracker, shutdown_rx.clone());
    }
    // Before the listeners: a sink whose settings cannot be used (a missing password
    // variable) stops the start while nothing accepts yet.
    let shipper = match &auditor {
        Some(a) => {
            crate::shipper::Shipper::start(config, a, admin_addr, &tracker, shutdown_rx.clone())?
        }
        None => None,
    };
    // Bind everything first: a config whose second listener cannot bind starts nothing.
    let listeners = Arc::new(Listeners::new(
        Arc::clone(&pg_shared),
        Arc::clone(&mysql_shared),
        tracker.clone(),
        shutdown_rx.clone(),
    ));
    listeners.apply(config).await.map_err(StartError::Text)?;
    reloader.attach(
        Arc::clone(&listeners),
        auditor.clone(),
        (approvals.clone(), admin_addr),
    );
    // Every listener is bound and accepting: ready.
    let admin = Arc::new(AdminState {
        shipper,
        metrics: Arc::clone(&listeners.metrics),
        ready: AtomicBool::new(true),
        reloader: Arc::clone(&reloader),
        audit: auditor.clone(),
        approvals,
        listeners: Some(Arc::clone(&listeners)),
        admin_groups: config.server.admin_groups.clone(),
        admin_public: config.server.admin_public.clone(),
    });
    tracing::info!(addr = %admin_addr, "admin API listening");
    tracker.spawn(admin::serve(
        admin_listener,
        Arc::clone(&admin),
        shutdown_rx.clone(),
    ));
    Ok(RunningServer {
        auditor,
        reloader,
        listeners,
        admin_addr,
        admin,
        shutdown,
        tracker,
        grace: config.server.shutdown_grace.0,
    })
}

/// Re-reads the config file and swaps in what changed: users, rules, masks, detectors, JWT
/// settings and the targets' listeners.
pub struct Reloader {
    path: Option<std::path::PathBuf>,
    pub live: Arc<Live>,
    listeners: std::sync::OnceLock<Arc<Listeners>>,
    auditor: std::sync::OnceLock<Arc<Auditor>>,
    /// `[approvals]` and the admin address its links default to.
    approvals: std::sync::OnceLock<(Option<Arc<crate::approvals::Approvals>>, SocketAddr)>,
    /// `server.worker_threads` as started: the runtime is built once.
    worker_threads: Option<usize>,
    /// `[cluster]` as started: the control store is opened once.
    cluster: Option<crate::config::ClusterConfig>,
}

impl Reloader {
    fn new(config: &Config) -> Result<Reloader, String> {
        Ok(Reloader {
            path: config.source.clone(),
            live: Live::new(live_parts(config)?),
            listeners: Default::default(),
            auditor: Default::default(),
            approvals: Default::default(),
            worker_threads: config.server.worker_threads,
            cluster: config.cluster.clone(),
        })
    }

    fn attach(
        &self,
        listeners: Arc<Listeners>,
        auditor: Option<Arc<Auditor>>,
        approvals: (Option<Arc<crate::approvals::Approvals>>, SocketAddr),
    ) {
        let _ = self.listeners.set(listeners);
        let _ = self.approvals.set(approvals);
        if let Some(a) = auditor {
            let _ = self.auditor.set(a);
        }
    }

    /// Loads the file again; on any error the running configuration stays as it was. `by`
    /// names who asked (an admin user, `SIGHUP`); each reload is an audit record with the
    /// file's SHA-256.
    pub async fn reload(&self, by: &str) -> Result<String, String> {
        let result = self.try_reload().await;
        let hash = match &result {
            Ok((_, hash)) => Some(hash.clone()),
            Err(_) => None,
        };
        if let (Some(a), Some(hash)) = (self.auditor.get(), &hash) {
            a.reload(by, hash);
        }
        match result {
            Ok((summary, _)) => Ok(summary),
            Err(e) => {
                tracing::error!(error = %e, %by, "reload rejected; the running configuration is unchanged");
                Err(e)
            }
        }
    }

    async fn try_reload(&self) -> Result<(String, String), String> {
        let path = self
            .path
            .as_deref()
            .ok_or("this server was not started from a file")?;
        let bytes = std::fs::read(path).map_err(|e| format!("config {}: {e}", path.display()))?;
        let hash = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(&bytes))
        };
        let config = Config::load(path).map_err(|e| e.to_string())?;
        let parts = live_parts(&config)?;
        if config.cluster != self.cluster {
            return Err("[cluster] changed: that needs a restart".into());
        }
        if config.server.worker_threads != self.worker_threads {
            tracing::warn!(
                running = ?self.worker_threads,
                configured = ?config.server.worker_threads,
                "server.worker_threads changed: that takes effect at the next start"
            );
        }
        let approvals = match self.approvals.get() {
            Some((running, admin_addr)) => {
                match (
                    running,
                    crate::approvals::Settings::load(&config, *admin_addr)?,
                ) {
                    (Some(a), Some(s)) if s.dir != a.settings().dir => {
                        return Err("[approvals] dir changed: that needs a restart".into())
                    }
                    (Some(a), Some(s)) => Some((Arc::clone(a), s)),
                    (None, None) => None,
                    (Some(_), None) => {
                        return Err("[approvals] was removed: that needs a restart".into())
                    }
                    (None, Some(_)) => {
                        return Err("[approvals] was added: that needs a restart".into())
                    }
                }
            }
            None => None,
        };
        let changes = match self.listeners.get() {
            Some(l) => l.apply(&config).await?,
            None => Default::default(),
        };
        let mut summary = format!(
            "{} users, {} rules, {} masks, {} detectors",
            config.users.len(),
            config.rules.len(),
            config.masks.len(),
            config.detectors.len()
        );
        if !changes.is_empty() {
            summary += &format!(
                "; targets added {:?}, removed {:?}, restarted {:?}",
                changes.added, changes.removed, changes.restarted
            );
        }
        for (target, n) in &changes.identities {
            let s = if *n == 1 { "" } else { "s" };
            summary += &format!(
                "; identities: {n} mapping{s} for target {target:?}; open sessions keep theirs"
            );
        }
        self.live.replace(parts);
        self.live.login().configure((&config.login).into());
        if let Some((a, s)) = approvals {
            a.replace_settings(s).map_err(|e| e.to_string())?;
        }
        tracing::info!(path = %path.display(), %summary, sha256 = %hash, "configuration reloaded");
        Ok((summary, hash))
    }
}

/// The reloadable parts of a config.
fn live_parts(config: &Config) -> Result<LiveParts, String> {
    Ok(LiveParts {
        users: UserDirectory::from_config(&config.users)?
            .with_jwt(crate::auth::jwt::JwtVerifier::load(config)?),
        policy: match config.has_statement_policy() {
            true => Some(StatementPolicy::new(
                config.rule_set().map_err(|e| e.to_string())?,
            )),
            false => None,
        },
        masks: MaskPolicy::compile(config)?,
    })
}

impl RunningServer {
    /// Reloads the config file (as `POST /api/reload` and SIGHUP do).
    pub async fn reload(&self) -> Result<String, String> {
        self.reloader.reload("api").await
    }

    /// What SIGHUP calls.
    pub fn reloader(&self) -> Arc<Reloader> {
        Arc::clone(&self.reloader)
    }

    /// The admin API's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The address a target listens on (useful with port 0).
    pub fn addr(&self, target: &str) -> Option<SocketAddr> {
        self.listeners.addr(target)
    }

    /// Stops accepting, lets sessions finish their running statements (idle ones are closed at
    /// once) for up to `server.shutdown_grace`, then returns. Returns the number of sessions
    /// still open when the grace period ran out.
    pub async fn shutdown(self) -> usize {
        self.admin.ready.store(false, Ordering::Relaxed);
        let _ = self.shutdown.send(true);
        self.tracker.close();
        // A statement held for an approver waits for a person, on a blocking thread the
        // runtime cannot stop: it is refused now, and its session can end within the grace.
        if let Some(a) = self.admin.approvals.clone() {
            let _ =
                tokio::task::spawn_blocking(move || a.withdraw_all_held("sluice is shutting down"))
                    .await;
        }
        let left = match tokio::time::timeout(self.grace, self.tracker.wait()).await {
            Ok(()) => 0,
            Err(_) => self.tracker.len(),
        };
        // What the sessions recorded is made durable before sluice stops.
        if let Some(a) = &self.auditor {
            let log = a.log().clone();
            let closed = tokio::task::spawn_blocking(move || log.close()).await;
            if let Ok(Err(e)) = closed {
                tracing::error!(error = %e, "the audit log could not be closed cleanly");
            }
        }
        left
    }

    /// The audit log, with `[audit]`.
    pub fn auditor(&self) -> Option<&Arc<Auditor>> {
        self.auditor.as_ref()
    }
}

/// The run-time view of a target: address, credentials and TLS config resolved.
pub(crate) fn upstream_target(
    config: &Config,
    t: &TargetConfig,
) -> Result<UpstreamTarget, ConfigError> {
    let (host, port) = split_host_port(&t.upstream)
        .ok_or_else(|| ConfigError::Invalid(format!("target {:?}: bad upstream", t.name)))?;
    let tls_config = match t.upstream_tls {
        UpstreamTls::Disable => None,
        mode => Some(
            tls::upstream_client_config(
                mode,
                t.upstream_ca_file
                    .as_deref()
                    .map(|p| config.path(p))
                    .as_deref(),
            )
            .map_err(|source| ConfigError::TargetTls {
                target: t.name.clone(),
                source,
            })?,
        ),
    };
    Ok(UpstreamTarget {
        name: t.name.clone(),
        host: host.to_string(),
        port,
        user: t.user.clone(),
        password: t.upstream_password(&config.base_dir)?,
        database: t.database.clone(),
        tls_mode: t.upstream_tls,
        tls_config,
        connect_timeout: t.connect_timeout.0,
        identities: crate::identities::Identities::from_config(config, t)?,
    })
}

/// `sluice check --live`: logs in to every upstream with the target's credentials, and when
/// the config has `[[masks]]`, lists every target's columns and names each mask column pattern
/// that matches none of them (a typo would otherwise leave the data in clear).
/// Returns one line a target (and one a pattern that matches nothing); `Err` when any failed.
pub async fn check_upstreams(config: &Config) -> Result<Vec<String>, Vec<String>> {
    tls::install_provider();
    let want_columns = !config.masks.is_empty();
    let mut lines = Vec::new();
    let mut failed = false;
    let mut columns = Vec::new();
    // Targets whose columns are not known: the masks cannot be judged without them.
    let mut unlisted = Vec::new();
    for t in &config.targets {
        let result = match (upstream_target(config, t), t.protocol) {
            (Ok(u), Protocol::Postgres) => {
                let database = t.database.clone().unwrap_or_else(|| t.user.clone());
                match pg::upstream::connect(&u, &[], &database).await {
                    Ok(mut up) => Ok(match want_columns {
                        true => Some(with_list_timeout(pg_columns(&mut up.stream)).await),
                        false => None,
                    }),
                    Err(e) => Err(e.to_string()),
                }
            }
            (Ok(u), Protocol::Mysql) => {
                let client = mysql::client::ClientResponse::for_check();
                match mysql::upstream::connect(&u, &client, t.database.as_deref(), false).await {
                    Ok(_) => Ok(match want_columns {
                        true => Some(with_list_timeout(mysql_columns(&u)).await),
                        false => None,
                    }),
                    Err(e) => Err(e.to_string()),
                }
            }
            (Err(e), _) => Err(e.to_string()),
        };
        match result {
            Ok(listed) => {
                lines.push(format!(
                    "target {:?}: logged in to {} as {:?}",
                    t.name, t.upstream, t.user
                ));
                let own = match listed {
                    Some(Ok(found)) => found,
                    Some(Err(e)) => {
                        failed = true;
                        unlisted.push(format!("{:?}", t.name));
                        lines.push(format!(
                            "target {:?}: FAILED: cannot list its columns to check [[masks]]: {e}",
                            t.name
                        ));
                        Vec::new()
                    }
                    None => Vec::new(),
                };
                if let Ok(u) = upstream_target(config, t) {
                    let (more, bad) =
                        crate::identity_check::check_target(config, t, &u, &own).await;
                    lines.extend(more);
                    failed |= bad;
                }
                columns.extend(own);
            }
            Err(e) => {
                failed = true;
                unlisted.push(format!("{:?}", t.name));
                lines.push(format!("target {:?}: FAILED: {e}", t.name));
            }
        }
    }
    match crate::cluster::check_live(config).await {
        Some(Ok(line)) => lines.push(line),
        Some(Err(line)) => {
            failed = true;
            lines.push(line);
        }
        None => {}
    }
    if want_columns {
        if !unlisted.is_empty() {
            lines.push(format!(
                "[[masks]]: not checked against the live schemas: the columns of target {} could not be listed",
                unlisted.join(", ")
            ));
        } else {
            let unmatched = crate::masks::check::unmatched_mask_columns(config, &columns);
            if unmatched.is_empty() {
                lines.push(format!(
                    "[[masks]]: every column pattern matches a column ({} columns listed)",
                    columns.len()
                ));
            } else {
                failed = true;
                lines.extend(unmatched);
            }
        }
    }
    if failed {
        Err(lines)
    } else {
        Ok(lines)
    }
}

/// A `(schema, table, column)` of a live schema.
type ColumnTriple = (String, String, String);

const LIST_COLUMNS_SQL: &str =
    "SELECT table_schema, table_name, column_name FROM information_schema.columns";
/// How long listing one target's columns may take.
const LIST_COLUMNS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

async fn with_list_timeout(
    list: impl std::future::Future<Output = Result<Vec<ColumnTriple>, String>>,
) -> Result<Vec<ColumnTriple>, String> {
    tokio::time::timeout(LIST_COLUMNS_TIMEOUT, list)
        .await
        .unwrap_or_else(|_| Err(format!("timed out after {LIST_COLUMNS_TIMEOUT:?}")))
}

fn column_triples(rows: Vec<Vec<Option<String>>>) -> Vec<ColumnTriple> {
    rows.into_iter()
        .filter_map(|row| {
            let mut row = row.into_iter();
            Some((row.next()??, row.next()??, row.next()??))
        })
        .collect()
}

/// Every column of the database `stream` is logged in to.
async fn pg_columns(stream: &mut crate::tls::BoxStream) -> Result<Vec<ColumnTriple>, String> {
    pg::catalog::simple_query(stream, LIST_COLUMNS_SQL)
        .await
        .map(column_triples)
}

/// Every column of every schema the target's user can see, over a connection like the one
/// the MySQL catalog uses.
async fn mysql_columns(u: &UpstreamTarget) -> Result<Vec<ColumnTriple>, String> {
    let mut client = mysql::client::ClientResponse::for_check();
    client
        .capabilities
        .remove(mysql_common::constants::CapabilityFlags::CLIENT_NO_SCHEMA);
    let up = mysql::upstream::connect(u, &client, Some("information_schema"), false)
        .await
        .map_err(|e| e.to_string())?;
    let mut conn = mysql::catalog::Conn {
        deprecate_eof: up
            .capabilities
            .contains(mysql_common::constants::CapabilityFlags::CLIENT_DEPRECATE_EOF),
        stream: up.stream,
    };
    mysql::catalog::text_query(&mut conn, LIST_COLUMNS_SQL)
        .await
        .map(column_triples)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
