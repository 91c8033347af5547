//! The targets' listeners, started at launch and changed by a reload: a new target starts
//! listening, a removed one stops accepting (its open sessions run on), a changed one is
//! restarted with its new settings (open sessions keep the old ones). Binding is all or nothing:
//! when a new listener cannot bind, nothing changes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

use crate::config::{Config, Protocol, TargetConfig};
use crate::metrics::Metrics;
use crate::mysql::{self, MysqlShared, MysqlTarget};
use crate::pg::{self, PgShared, PgTarget};

struct Running {
    /// What it was built from; a different value means the target changed.
    spec: String,
    /// Its `[[targets.identities]]` and `require_identity`, to tell when the mappings changed.
    identities: String,
    listen: String,
    /// The database's `host:port`.
    upstream: String,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Every target's listener.
pub struct Listeners {
    pg: Arc<PgShared>,
    mysql: Arc<MysqlShared>,
    pub metrics: Arc<Metrics>,
    tracker: TaskTracker,
    shutdown: watch::Receiver<bool>,
    running: Mutex<HashMap<String, Running>>,
    /// One reload at a time.
    applying: tokio::sync::Mutex<()>,
}

/// What a reload changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListenerChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub restarted: Vec<String>,
    /// Targets started or restarted with other identity mappings than before: name, and how
    /// many mappings new sessions now get (open sessions keep the login they have).
    pub identities: Vec<(String, usize)>,
}

impl ListenerChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.restarted.is_empty()
    }
}

fn spec(t: &TargetConfig) -> String {
    format!("{t:?}")
}

fn identities_spec(t: &TargetConfig) -> String {
    format!("{:?} {:?}", t.identities, t.require_identity)
}

/// Whether `listen` names a fixed port (port 0 never clashes).
fn fixed_port(listen: &str) -> bool {
    listen.parse::<SocketAddr>().is_ok_and(|a| a.port() != 0)
}

/// Connections the kernel may hold for a listener before sluice accepts them (capped by
/// `net.core.somaxconn`). The standard library's 128 overflowed when a couple of thousand
/// clients connected at once (the soak run): Linux then drops the handshake's last ACK, and a
/// client that already counts itself connected waits for a greeting that never comes.
const LISTEN_BACKLOG: u32 = 4096;

async fn bind(t: &TargetConfig) -> Result<TcpListener, String> {
    let fail =
        |e: std::io::Error| format!("target {:?}: cannot listen on {}: {e}", t.name, t.listen);
    // `listen` was checked to be an address when the config was loaded.
    let addr: SocketAddr = t.listen.parse().map_err(|_| {
        format!(
            "target {:?}: listen {:?} is not an address",
            t.name, t.listen
        )
    })?;
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
    }
    .map_err(fail)?;
    // As the standard library's bind does: a restarted sluice can listen again at once.
    socket.set_reuseaddr(true).map_err(fail)?;
    socket.bind(addr).map_err(fail)?;
    socket.listen(LISTEN_BACKLOG).map_err(fail)
}

impl Listeners {
    pub fn new(
        pg: Arc<PgShared>,
        mysql: Arc<MysqlShared>,
        tracker: TaskTracker,
        shutdown: watch::Receiver<bool>,
    ) -> Listeners {
        Listeners {
            pg,
            mysql,
            metrics: Arc::new(Metrics::default()),
            tracker,
            shutdown,
            running: Mutex::new(HashMap::new()),
            applying: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where target `name` listens.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.lock().get(name).map(|r| r.addr)
    }

    /// Every target's name and upstream `host:port`.
    pub fn upstreams(&self) -> Vec<(String, String)> {
        self.lock()
            .iter()
            .map(|(n, r)| (n.clone(), r.upstream.clone()))
            .collect()
    }

    /// Every target's address.
    pub fn addrs(&self) -> HashMap<String, SocketAddr> {
        self.lock()
            .iter()
            .map(|(n, r)| (n.clone(), r.addr))
            .collect()
    }

    /// Makes the listeners those of `config`.
    pub async fn apply(&self, config: &Config) -> Result<ListenerChanges, String> {
        let _one = self.applying.lock().await;
        let mut changes = ListenerChanges::default();
        let (current, listens, mappings) = {
            let running = self.lock();
            let mappings: HashMap<String, String> = running
                .iter()
                .map(|(n, r)| (n.clone(), r.identities.clone()))
                .collect();
            (
                running
                    .iter()
                    .map(|(n, r)| (n.clone(), r.spec.clone()))
                    .collect::<HashMap<String, String>>(),
                running
                    .iter()
                    .map(|(n, r)| (n.clone(), r.listen.clone()))
                    .collect::<HashMap<String, String>>(),
                mappings,
            )
        };
        let wanted: HashMap<&str, &TargetConfig> = config
            .targets
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        for name in current.keys() {
            if !wanted.contains_key(name.as_str()) {
                changes.removed.push(name.clone());
            }
        }
        let mut starting = Vec::new();
        for t in &config.targets {
            let was = mappings.get(&t.name);
            if was.is_some_and(|m| *m != identities_spec(t))
                || (was.is_none() && !t.identities.is_empty())
            {
                changes
                    .identities
                    .push((t.name.clone(), t.identities.len()));
            }
            match current.get(&t.name) {
                Some(s) if *s == spec(t) => {}
                Some(_) => {
                    changes.restarted.push(t.name.clone());
                    starting.push(t);
                }
                None => {
                    changes.added.push(t.name.clone());
                    starting.push(t);
                }
            }
        }
        // Everything that can be checked or bound before anything stops.
        let leaving: Vec<&String> = changes.removed.iter().chain(&changes.restarted).collect();
        let mut ready = Vec::new();
        let mut later = Vec::new();
        for t in starting {
            let upstream =
                Arc::new(crate::server::upstream_target(config, t).map_err(|e| e.to_string())?);
            let taken = fixed_port(&t.listen)
                && leaving
                    .iter()
                    .any(|n| listens.get(*n).is_some_and(|l| *l == t.listen));
            if taken {
                later.push((t, upstream));
            } else {
                ready.push((bind(t).await?, t, upstream));
            }
        }
        // Stop what leaves (its sessions go on), then take over freed addresses.
        for name in &leaving {
            let gone = self.lock().remove(*name);
            if let Some(r) = gone {
                let _ = r.stop.send(true);
                let _ = r.task.await;
                tracing::info!(target = %name, "listener stopped");
            }
        }
        for (t, upstream) in later {
            match bind(t).await {
                Ok(l) => ready.push((l, t, upstream)),
                Err(e) => {
                    tracing::error!(error = %e, "a restarted target could not listen again");
                    return Err(e);
                }
            }
        }
        for (listener, t, upstream) in ready {
            self.spawn(listener, t, upstream)?;
        }
        Ok(changes)
    }

    fn spawn(
        &self,
        listener: TcpListener,
        t: &TargetConfig,
        upstream: Arc<crate::upstream::UpstreamTarget>,
    ) -> Result<(), String> {
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let protocol = match t.protocol {
            Protocol::Postgres => "postgres",
            Protocol::Mysql => "mysql",
        };
        let metrics = self.metrics.target(&t.name, protocol);
        tracing::info!(target = %t.name, protocol = ?t.protocol, %addr, "listening");
        let slots = Arc::new(Semaphore::new(t.max_connections));
        let (stop, stop_rx) = watch::channel(false);
        let (rx, tracker) = (self.shutdown.clone(), self.tracker.clone());
        let task = match t.protocol {
            Protocol::Postgres => {
                let target = Arc::new(PgTarget {
                    allowed_groups: t.allowed_groups.clone(),
                    upstream,
                    slots,
                    max_connections: t.max_connections,
                    metrics,
                    catalogs: Default::default(),
                });
                self.tracker.spawn(pg::run_listener(
                    listener,
                    target,
                    Arc::clone(&self.pg),
                    rx,
                    stop_rx,
                    tracker,
                ))
            }
            Protocol::Mysql => {
                let catalog = Arc::new(mysql::catalog::MysqlCatalog::new(Arc::clone(&upstream)));
                let target = Arc::new(MysqlTarget {
                    allowed_groups: t.allowed_groups.clone(),
                    upstream,
                    slots,
                    max_connections: t.max_connections,
                    allow_local_infile: t.allow_local_infile,
                    client_auth_plugin: match t.client_auth_plugin.as_deref() {
                        Some("caching_sha2_password") => mysql::client::CACHING_SHA2,
                        _ => mysql::client::NATIVE,
                    },
                    server: Mutex::new(None),
                    metrics,
                    catalog,
                });
                self.tracker.spawn(mysql::run_listener(
                    listener,
                    target,
                    Arc::clone(&self.mysql),
                    rx,
                    stop_rx,
                    tracker,
                ))
            }
        };
        self.lock().insert(
            t.name.clone(),
            Running {
                spec: spec(t),
                identities: identities_spec(t),
                listen: t.listen.clone(),
                upstream: t.upstream.clone(),
                addr,
                stop,
                task,
            },
        );
        Ok(())
    }
}
