//! Why an audit sink or a central store could not be set up or used. The Display text is what
//! start-up, `sluice check` and `sluice audit --store` print, and what the log says.

use std::path::PathBuf;

/// A sink's or a central store's settings that cannot be used, or a connection that failed.
#[derive(Debug, thiserror::Error)]
pub enum ShipperError {
    /// A setting of the sink named `sink`, as `[[audit.sinks]] "name": …`.
    #[error("[[audit.sinks]] {sink:?}: {source}")]
    Sink {
        sink: String,
        source: Box<ShipperError>,
    },
    /// `url` with any password redacted.
    #[error("{url}: {source}")]
    BadUrl {
        url: String,
        source: tokio_postgres::Error,
    },
    #[error("password_env {0:?} is not set")]
    PasswordEnvNotSet(String),
    #[error("cannot connect to the central store: {}", super::pg_conn::with_sources(.0))]
    Connect(tokio_postgres::Error),
    /// A query of the probe failed (with its causes).
    #[error("{}", super::pg_conn::with_sources(.0))]
    Probe(tokio_postgres::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsSetupError),
    #[error("ca_file {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("header_env {0:?} is not set")]
    HeaderEnvNotSet(String),
    #[error("header_env {0:?} must hold `Name: value`")]
    HeaderFormat(String),
    #[error("header_env {env:?}: bad header name {name:?}")]
    HeaderName { env: String, name: String },
    #[error("header_env {0:?}: the value is not a valid header value")]
    HeaderValue(String),
    /// The HTTP client could not be built.
    #[error("{0}")]
    HttpClient(reqwest::Error),
    #[error("{}: not a seq: {text:?}", path.display())]
    CursorNotSeq { path: PathBuf, text: String },
    #[error("{}: {source}", path.display())]
    Cursor {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Why a sink's loop could not read the local audit log or save its cursor (logged, and shown
/// as the sink's last error).
#[derive(Debug, thiserror::Error)]
pub enum LocalLogError {
    #[error("{0}")]
    Open(#[from] audit::AuditError),
    #[error("{segment}: {reason}")]
    Entry { segment: String, reason: String },
    #[error("record {seq} in {segment}: {reason}")]
    Record {
        seq: u64,
        segment: String,
        reason: String,
    },
    #[error("record {0} is not UTF-8")]
    NotUtf8(u64),
    /// The blocking task reading or saving did not finish.
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Cursor(#[from] std::io::Error),
}

impl ShipperError {
    /// This error as a setting of the sink `sink`.
    pub fn of_sink(self, sink: &str) -> ShipperError {
        ShipperError::Sink {
            sink: sink.to_string(),
            source: Box::new(self),
        }
    }
}
