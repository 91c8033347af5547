//! What both protocol adapters share about reaching a target's database: its address and
//! credentials, the TCP connection, the TLS client handshake, and the `connect_timeout` that
//! bounds the whole way in (connect, TLS, greeting, login, session set-up). A database whose
//! accept queue overflowed takes the TCP connection and never greets: without a bound on the
//! rest, a session would wait for its client's `handshake_timeout`, long after the client gave
//! up.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
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
    /// `connect_timeout` passed before the database was ready for the session.
    #[error("{addr}: no answer within connect_timeout ({limit:?}) while waiting for {step}")]
    TimedOut {
        addr: String,
        step: Step,
        limit: Duration,
    },
}

/// A step of the way into a database session, for saying which one `connect_timeout` cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Step {
    /// The TCP connection.
    Connect = 0,
    /// TLS: the request for it, and the handshake.
    Tls = 1,
    /// The server's first words (MySQL's greeting).
    Greeting = 2,
    /// Authentication, until the database says the session is ready.
    Login = 3,
    /// What sluice asks of a new session before relaying (settings, `sql_mode`).
    Setup = 4,
}

impl Step {
    /// The step's name in the `sluice::login` timings.
    fn label(self) -> &'static str {
        match self {
            Step::Connect => "upstream.connect",
            Step::Tls => "upstream.tls",
            Step::Greeting => "upstream.greeting",
            Step::Login => "upstream.login",
            Step::Setup => "upstream.setup",
        }
    }

    fn from_u8(n: u8) -> Step {
        match n {
            1 => Step::Tls,
            2 => Step::Greeting,
            3 => Step::Login,
            4 => Step::Setup,
            _ => Step::Connect,
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Connect => "the TCP connection",
            Step::Tls => "the TLS handshake",
            Step::Greeting => "the database's greeting",
            Step::Login => "the database to accept the login",
            Step::Setup => "the answers to sluice's session set-up",
        })
    }
}

/// Where a connection attempt is, readable after its future was dropped by the timeout.
#[derive(Debug, Default)]
pub struct Progress(AtomicU8);

impl Progress {
    /// The attempt has reached `step`.
    pub fn at(&self, step: Step) {
        self.0.store(step as u8, Ordering::Relaxed);
        crate::login_clock::mark(step.label());
    }

    pub fn step(&self) -> Step {
        Step::from_u8(self.0.load(Ordering::Relaxed))
    }
}

/// Runs `attempt` (which marks its steps in `progress`) within the target's `connect_timeout`;
/// past it, the error names the address and the step that was waiting.
pub async fn bounded<T, E>(
    target: &UpstreamTarget,
    progress: &Progress,
    attempt: impl Future<Output = Result<T, E>>,
) -> Result<T, E>
where
    E: From<ConnectError>,
{
    crate::login_clock::mark(Step::Connect.label());
    match tokio::time::timeout(target.connect_timeout, attempt).await {
        Ok(done) => done,
        Err(_) => Err(ConnectError::TimedOut {
            addr: format!("{}:{}", target.host, target.port),
            step: progress.step(),
            limit: target.connect_timeout,
        }
        .into()),
    }
}

/// Connects to the target's address (the caller bounds it, see [`bounded`]).
pub async fn tcp(target: &UpstreamTarget) -> Result<TcpStream, ConnectError> {
    let addr = format!("{}:{}", target.host, target.port);
    let tcp = TcpStream::connect(&addr)
        .await
        .map_err(|e| ConnectError::Unreachable {
            addr: addr.clone(),
            reason: e.to_string(),
        })?;
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
    let name = tls::server_name(&target.host).map_err(|e| ConnectError::Tls(e.to_string()))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn target(limit: Duration) -> UpstreamTarget {
        UpstreamTarget {
            name: "t".into(),
            host: "db.internal".into(),
            port: 3306,
            user: "u".into(),
            password: None,
            database: None,
            tls_mode: UpstreamTls::Disable,
            tls_config: None,
            connect_timeout: limit,
            identities: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_step_that_never_ends_is_cut_at_connect_timeout_and_named() {
        let target = target(Duration::from_millis(50));
        let progress = Progress::default();
        let attempt = async {
            progress.at(Step::Greeting);
            std::future::pending::<Result<(), ConnectError>>().await
        };
        let started = std::time::Instant::now();
        let err = bounded(&target, &progress, attempt).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            err.to_string(),
            "db.internal:3306: no answer within connect_timeout (50ms) while waiting for the database's greeting"
        );
    }

    #[tokio::test]
    async fn an_attempt_within_the_limit_keeps_its_own_result() {
        let target = target(Duration::from_secs(5));
        let progress = Progress::default();
        let done = bounded(&target, &progress, async { Ok::<_, ConnectError>(7) }).await;
        assert_eq!(done.unwrap(), 7);
        let failed = bounded(&target, &progress, async {
            Err::<(), _>(ConnectError::Tls("bad certificate".into()))
        })
        .await;
        assert_eq!(failed.unwrap_err().to_string(), "bad certificate");
    }
}
