//! Connections to a central PostgreSQL (the audit sink, `sluice audit … --store`): the URL's
//! settings, the password from an environment variable, and TLS as a target's `upstream_tls`
//! (rustls; `verify-ca`/`verify-full` against a CA file).

use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, NoTls};

use super::ShipperError;
use crate::config::UpstreamTls;

/// Where a central store is and how to reach it.
#[derive(Clone, Debug)]
pub struct PgStore {
    pub config: tokio_postgres::Config,
    pub tls: UpstreamTls,
    pub ca_file: Option<PathBuf>,
}

impl PgStore {
    /// From a `postgres://` URL; the password from `password_env` when given. TLS follows
    /// `tls`, or else the URL's `sslmode` (`disable`, `prefer`, `require`).
    pub fn new(
        url: &str,
        password_env: Option<&str>,
        tls: Option<UpstreamTls>,
        ca_file: Option<PathBuf>,
    ) -> Result<PgStore, ShipperError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|source| ShipperError::BadUrl {
                url: redact(url),
                source,
            })?;
        if let Some(env) = password_env {
            let pw = std::env::var(env)
                .ok()
                .filter(|p| !p.is_empty())
                .ok_or_else(|| ShipperError::PasswordEnvNotSet(env.to_string()))?;
            config.password(pw);
        }
        let tls = tls.unwrap_or(match config.get_ssl_mode() {
            SslMode::Disable => UpstreamTls::Disable,
            SslMode::Require => UpstreamTls::Require,
            _ => UpstreamTls::Prefer,
        });
        config.ssl_mode(match tls {
            UpstreamTls::Disable => SslMode::Disable,
            UpstreamTls::Prefer => SslMode::Prefer,
            _ => SslMode::Require,
        });
        config.connect_timeout(Duration::from_secs(5));
        config.application_name("sluice-audit");
        Ok(PgStore {
            config,
            tls,
            ca_file,
        })
    }

    /// Connects; the connection runs on a task of its own.
    pub async fn connect(&self) -> Result<Client, ShipperError> {
        crate::tls::install_provider();
        let what = ShipperError::Connect;
        if self.tls == UpstreamTls::Disable {
            let (client, conn) = self.config.connect(NoTls).await.map_err(what)?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "central store connection closed");
                }
            });
            return Ok(client);
        }
        let rustls = crate::tls::upstream_client_config(self.tls, self.ca_file.as_deref())?;
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new((*rustls).clone());
        let (client, conn) = self.config.connect(tls).await.map_err(what)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "central store connection closed");
            }
        });
        Ok(client)
    }
}

/// An error with its causes (tokio-postgres keeps "connection refused" in the source).
pub fn with_sources(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        src = inner.source();
    }
    s
}

/// A URL for messages: any password in it replaced.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_kept_out_of_messages() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("postgres://h/db"), "postgres://h/db");
    }
}
