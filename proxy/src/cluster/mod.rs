//! `[cluster]`: the control PostgreSQL that several sluice instances share (docs/scale-out.md).
//!
//! This module knows how to reach it (password and TLS as for a target), applies sluice's own
//! schema migrations there, and keeps this instance registered with heartbeats. What is stored
//! in it belongs to its users: the approvals' store is `approvals::cluster`.

mod migrations;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_postgres::config::SslMode;
use tokio_postgres::{AsyncMessage, Client, NoTls, Notification};

use crate::config::{ClusterConfig, Config, ConfigError, UpstreamTls};

pub use migrations::migrate;

/// What can go wrong talking to the control database.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("control database: {}", with_causes(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("control database: {0}")]
    Json(#[from] serde_json::Error),
    #[error("control database: {0}")]
    Other(String),
}

/// An error and its causes: tokio-postgres says "error performing TLS handshake" and keeps
/// the why (an unknown issuer, a name mismatch) in its source.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

/// `[cluster]`, checked, with the password read and the TLS config built.
pub struct ClusterSettings {
    pub pg: tokio_postgres::Config,
    tls: Option<Arc<rustls::ClientConfig>>,
    /// This instance's name in `sluice_instances` and on the requests it holds.
    pub instance: String,
    pub heartbeat: Duration,
    pub instance_timeout: Duration,
}

/// The host's name, for the default instance name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl ClusterSettings {
    /// The settings of `config`; `None` without `[cluster]`. `admin_addr` is the bound admin
    /// address, part of the default instance name.
    pub fn load(
        config: &Config,
        admin_addr: std::net::SocketAddr,
    ) -> Result<Option<ClusterSettings>, ConfigError> {
        let Some(c) = &config.cluster else {
            return Ok(None);
        };
        c.validate()?;
        Ok(Some(Self::from_config(c, config, admin_addr)?))
    }

    fn from_config(
        c: &ClusterConfig,
        config: &Config,
        admin_addr: std::net::SocketAddr,
    ) -> Result<ClusterSettings, ConfigError> {
        let mut pg: tokio_postgres::Config = c
            .control
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("[cluster] control: {e}")))?;
        if let Some(p) = crate::config::read_password(
            "[cluster]",
            c.password_env.as_deref(),
            c.password_file.as_deref(),
            &config.base_dir,
        )? {
            pg.password(p);
        }
        let instance = c
            .instance
            .clone()
            .unwrap_or_else(|| format!("{}/{admin_addr}", hostname()));
        // Operators tell the instances' connections apart in pg_stat_activity.
        pg.application_name(format!("sluice {instance}"))
            .connect_timeout(Duration::from_secs(5))
            .ssl_mode(match c.tls {
                UpstreamTls::Disable => SslMode::Disable,
                UpstreamTls::Prefer => SslMode::Prefer,
                _ => SslMode::Require,
            });
        let tls = match c.tls {
            UpstreamTls::Disable => None,
            mode => Some(crate::tls::upstream_client_config(
                mode,
                c.ca_file.as_deref().map(|f| config.path(f)).as_deref(),
            )?),
        };
        Ok(ClusterSettings {
            pg,
            tls,
            instance,
            heartbeat: c.heartbeat(),
            instance_timeout: c.timeout(),
        })
    }

    /// A new connection, driven by a task of its own; the client reports `is_closed` once the
    /// connection is gone.
    pub async fn connect(&self) -> Result<Client, ClusterError> {
        Ok(self.connect_listening().await?.0)
    }

    /// A new connection and the notifications it receives; the receiver ends when the
    /// connection does.
    pub async fn connect_listening(
        &self,
    ) -> Result<(Client, mpsc::UnboundedReceiver<Notification>), ClusterError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let client = match &self.tls {
            None => {
                let (client, conn) = self.pg.connect(NoTls).await?;
                tokio::spawn(drive(conn, tx));
                client
            }
            Some(tls) => {
                let make = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                let (client, conn) = self.pg.connect(make).await?;
                tokio::spawn(drive(conn, tx));
                client
            }
        };
        Ok((client, rx))
    }
}

/// Runs a connection until it ends, passing its notifications on.
async fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notifications: mpsc::UnboundedSender<Notification>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(n))) => {
                // Nobody listening any more is fine: the connection still serves queries.
                let _ = notifications.send(n);
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::warn!(error = %e, "control database connection lost");
                break;
            }
            None => break,
        }
    }
}

/// Registers `instance` (or says it is alive again).
pub async fn heartbeat(client: &Client, instance: &str) -> Result<(), ClusterError> {
    client
        .execute(
            "INSERT INTO sluice_instances (name) VALUES ($1) \
             ON CONFLICT (name) DO UPDATE SET last_seen = now()",
            &[&instance],
        )
        .await?;
    Ok(())
}

/// `sluice check --live`: whether `[cluster]`'s control database answers, and its schema
/// version (read only: migrating is for `serve`). `None` without `[cluster]`; `Err` is the
/// failure line.
pub async fn check_live(config: &Config) -> Option<Result<String, String>> {
    let c = config.cluster.as_ref()?;
    let unspecified = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let admin = config.server.admin_listen.parse().unwrap_or(unspecified);
    let result = async {
        let settings = ClusterSettings::load(config, admin)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "no [cluster]".to_string())?;
        let client = settings.connect().await.map_err(|e| e.to_string())?;
        let version: Option<i32> = match client
            .query_one("SELECT max(version) FROM sluice_schema_migrations", &[])
            .await
        {
            Ok(row) => row.get(0),
            // Not migrated yet: the first instance to start does it.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => None,
            Err(e) => return Err(ClusterError::from(e).to_string()),
        };
        Ok(match version {
            Some(v) => format!("[cluster]: control database {} answers; schema version {v}", c.control),
            None => format!(
                "[cluster]: control database {} answers; no sluice schema yet (the first instance to start creates it)",
                c.control
            ),
        })
    }
    .await;
    Some(result.map_err(|e| format!("[cluster]: FAILED: {e}")))
}
