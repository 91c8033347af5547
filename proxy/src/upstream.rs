//! What both protocol adapters share about reaching a target's database: its address and
//! credentials, the TCP connection with its timeout, and the TLS client handshake.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::config::UpstreamTls;
use crate::tls::{self, BoxStream};

/// Everything needed to open a session on a target's database.
#[derive(Clone)]
pub struct UpstreamTarget {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    /// When set, the only database reachable through the target.
    pub database: Option<String>,
    pub tls_mode: UpstreamTls,
    pub tls_config: Option<Arc<rustls::ClientConfig>>,
    pub connect_timeout: Duration,
    /// `[[targets.identities]]`: the login each session gets instead of `user`.
    pub identities: crate::identities::Identities,
}

impl UpstreamTarget {
    /// The target's own login: `user` and its password, no settings (catalog reads, `check
    /// --live`, and sessions no identity matches).
    pub fn own_credentials(&self) -> crate::identities::Credentials {
        crate::identities::Credentials {
            user: self.user.clone(),
            password: self.password.clone(),
            password_from_token: false,
            settings: Vec::new(),
        }
    }

    /// The upstream login of a session of `user` in `groups` for `database`, who signed in with
    /// `token` (if any): the first identity that fits, or the target's own user.
    pub fn session_login(
        &self,
        user: &str,
        groups: &[String],
        database: Option<&str>,
        token: Option<&str>,
    ) -> Result<crate::identities::Credentials, crate::identities::LoginRefused> {
        let chosen = self.identities.choose(&self.name, groups, database)?;
        Ok(self.credentials(chosen).for_session(user, token)?)
    }

    /// The login for a session: the chosen identity's, or the target's own.
    pub fn credentials(
        &self,
        chosen: crate::identities::Chosen<'_>,
    ) -> crate::identities::Credentials {
        match chosen {
            crate::identities::Chosen::Identity(c) => c.clone(),
            crate::identities::Chosen::TargetUser => self.own_credentials(),
        }
    }
}

/// Why the database could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("{0}")]
    Tls(String),
}

/// Connects to the target's address within its `connect_timeout`.
pub async fn tcp(target: &UpstreamTarget) -> Result<TcpStream, ConnectError> {
    let addr = format!("{}:{}", target.host, target.port);
    let unreachable = |reason: String| ConnectError::Unreachable {
        addr: addr.clone(),
        reason,
    };
    let tcp = tokio::time::timeout(target.connect_timeout, TcpStream::connect(&addr))
        .await
        .map_err(|_| unreachable(format!("no answer within {:?}", target.connect_timeout)))?
        .map_err(|e| unreachable(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// Runs the TLS client handshake per `upstream_tls`; returns the stream and the server
/// certificate's `tls-server-end-point` hash (for SCRAM channel binding).
pub async fn tls(
    target: &UpstreamTarget,
    tcp: TcpStream,
) -> Result<(BoxStream, Option<Vec<u8>>), ConnectError> {
    let config = target
        .tls_config
        .clone()
        .ok_or_else(|| ConnectError::Tls("no TLS config".into()))?;
    let name = tls::server_name(&target.host).map_err(ConnectError::Tls)?;
    let conn = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| ConnectError::Tls(format!("TLS to the database failed: {e}")))?;
    let end_point = conn
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(tls::end_point_hash);
    Ok((Box::new(conn), end_point))
}
