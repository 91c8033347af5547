//! Why a config file was not loaded. The Display text is what the operator reads (stderr at
//! start, the log and the admin API on a reload), word for word as before these were types.

use std::path::PathBuf;

/// A config that could not be read, parsed or validated.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Parsing or validating the text of the file at `path` failed.
    #[error("config {}: {source}", path.display())]
    InFile {
        path: PathBuf,
        source: Box<ConfigError>,
    },
    /// Not TOML, or a key unknown or of the wrong type.
    #[error("{0}")]
    Syntax(#[from] toml::de::Error),
    /// `[[rules]]` do not compile (the policy crate's message).
    #[error("[[rules]]: {0}")]
    Rules(String),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsSetupError),
    /// A target's upstream TLS settings cannot be used.
    #[error("target {target:?}: {source}")]
    TargetTls {
        target: String,
        source: crate::tls::TlsSetupError,
    },
    /// A value the config may not hold; the message names the section, the entry and the key.
    #[error("{0}")]
    Invalid(String),
}

/// An upstream password (a target's, an identity's, a sink's) that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("{owner}: environment variable {var} (password_env) is not set")]
    EnvNotSet { owner: String, var: String },
    #[error("{owner}: password_file {}: {source}", path.display())]
    File {
        owner: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A duration string (`"250ms"`, `"10s"`, …) that is not one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DurationError {
    #[error("duration {0:?} has no unit (use ms, s, m, h or d)")]
    NoUnit(String),
    #[error("duration {0:?} must start with a whole number")]
    NotWhole(String),
    #[error("duration {text:?}: unknown unit {unit:?} (use ms, s, m, h or d)")]
    UnknownUnit { text: String, unit: String },
    #[error("duration {0:?} is too large")]
    TooLarge(String),
}
