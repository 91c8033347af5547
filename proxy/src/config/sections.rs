//! Config sections other than server, users and targets. Statement rules are the policy crate's
//! own types. Every section is parsed strictly (so typos are caught); `[jwt]` is not enforced
//! by this build yet, and `sluice serve` refuses a file that uses it (fail closed: a DBA who
//! writes a setting must never believe it is in force when it is not); `sluice check` accepts it.

use serde::Deserialize;

use super::{ConfigError, HumanDuration};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    pub dir: String,
    pub mode: Option<AuditMode>,
    pub flush_interval: Option<HumanDuration>,
    pub record_rows: Option<i64>,
    pub record_exempt_clear: Option<bool>,
    pub query_literals: Option<QueryLiterals>,
    pub key_env: Option<String>,
    pub key_file: Option<String>,
    pub retention: Option<HumanDuration>,
    /// *Extension*: the name this instance's records carry in central sinks (default
    /// `<hostname>/<admin address>`).
    pub instance: Option<String>,
    /// *Extension*: `[[audit.sinks]]`, where the log is shipped.
    #[serde(default)]
    pub sinks: Vec<super::SinkConfig>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuditMode {
    Async,
    Sync,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum QueryLiterals {
    Mask,
    Redact,
    Keep,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub jwks_file: Option<String>,
    pub jwks_url: Option<String>,
    pub user_claim: Option<String>,
    pub groups_claim: Option<String>,
    /// *Extension*: how long a session may outlive its token (default `5m`).
    pub session_grace: Option<HumanDuration>,
    /// *Extension*: when set, a token-signed session ends this long after sign-in instead.
    pub max_session: Option<HumanDuration>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskConfig {
    pub columns: Vec<String>,
    pub function: String,
    pub keep_first: Option<u32>,
    pub keep_last: Option<u32>,
    pub fill: Option<String>,
    pub step: Option<f64>,
    pub pattern: Option<String>,
    pub replacement: Option<String>,
    pub value: Option<String>,
    pub key_env: Option<String>,
    /// *Extension*, `generalize` of timestamps: `"year"` (default, as dates) or `"day"`.
    pub precision: Option<String>,
    #[serde(default)]
    pub except_groups: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorConfig {
    pub kinds: Vec<String>,
    pub function: String,
    pub targets: Option<Vec<String>>,
    #[serde(default)]
    pub except_groups: Vec<String>,
    /// *Extension*: more regular expressions to find.
    #[serde(default)]
    pub patterns: Vec<String>,
    /// *Extension*: words to find (case-insensitive, whole words).
    #[serde(default)]
    pub dictionary: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskingConfig {
    pub on_derived: Option<String>,
    pub on_predicate: Option<String>,
    pub on_unknown_column: Option<String>,
    pub on_opaque: Option<String>,
}

pub use policy::{RuleAction, RuleConfig, RuleMatch, RuleMode};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// What happens to statements sqlparser cannot parse (default: block).
    pub on_parse_error: Option<RuleAction>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalsConfig {
    pub mode: Option<ApprovalMode>,
    pub timeout: Option<HumanDuration>,
    pub ticket_ttl: Option<HumanDuration>,
    pub required: Option<u32>,
    #[serde(default)]
    pub approver_groups: Vec<String>,
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// *Extension*: where requests, tickets and the webhook outbox are kept (redb), relative
    /// to the config file; default `data/approvals`.
    pub dir: Option<String>,
    /// *Extension*: the admin listener's address as approvers reach it, for the links in
    /// webhooks; default `http://<server.admin_listen>`.
    pub public_url: Option<String>,
}

/// `hold`: the client waits; `ticket`: the client gets an error with a ticket id.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    Hold,
    Ticket,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    pub secret_env: Option<String>,
    pub secret_file: Option<String>,
    /// *Extension*: `"json"` (default, the contract's body) or `"slack"` (a Slack message
    /// with the links; the signature header is sent all the same).
    pub format: Option<WebhookFormat>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    Json,
    Slack,
}

/// *Extension*: `[login]`, how sluice treats clients before their session starts: the
/// back-off after failed logins (per client address and per user name, PostgreSQL, MySQL,
/// tokens and the admin API's basic auth alike) and the handshake and idle timeouts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    /// The delay after a first failed login; it doubles with each further one. `"0s"` turns
    /// throttling off.
    #[serde(default = "default_failure_delay")]
    pub failure_delay: HumanDuration,
    /// The most a failed login is delayed, however many came before it.
    #[serde(default = "default_max_failure_delay")]
    pub max_failure_delay: HumanDuration,
    /// How long an address or user name is remembered after its last failed login.
    #[serde(default = "default_forget_failures_after")]
    pub forget_failures_after: HumanDuration,
    /// How many addresses and user names are remembered at most (the oldest go first).
    #[serde(default = "default_max_tracked")]
    pub max_tracked: usize,
    /// How long a client may take from connecting to a ready session (TLS, startup,
    /// authentication, the upstream login); a client still in its handshake then is dropped.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout: HumanDuration,
    /// Ends a session once no bytes have moved between client, sluice and database for this
    /// long. Off by default.
    pub idle_timeout: Option<HumanDuration>,
}

impl Default for LoginConfig {
    fn default() -> Self {
        LoginConfig {
            failure_delay: default_failure_delay(),
            max_failure_delay: default_max_failure_delay(),
            forget_failures_after: default_forget_failures_after(),
            max_tracked: default_max_tracked(),
            handshake_timeout: default_handshake_timeout(),
            idle_timeout: None,
        }
    }
}

fn default_failure_delay() -> HumanDuration {
    HumanDuration(std::time::Duration::from_millis(250))
}
fn default_max_failure_delay() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(15))
}
fn default_forget_failures_after() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(15 * 60))
}
fn default_max_tracked() -> usize {
    10_000
}
// PostgreSQL's own `authentication_timeout` defaults to 60 s too.
fn default_handshake_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(60))
}

impl LoginConfig {
    /// Checks the settings against each other: a delay the handshake timeout would cut short
    /// would drop a client before it hears why.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.handshake_timeout.0.is_zero() {
            return Err(ConfigError::Invalid(
                "login.handshake_timeout must be more than 0".into(),
            ));
        }
        if self.max_failure_delay.0 >= self.handshake_timeout.0 {
            return Err(ConfigError::Invalid(
                "login.max_failure_delay must be shorter than login.handshake_timeout".into(),
            ));
        }
        if self.failure_delay > self.max_failure_delay {
            return Err(ConfigError::Invalid(
                "login.failure_delay must not exceed login.max_failure_delay".into(),
            ));
        }
        if self.max_tracked == 0 && !self.failure_delay.0.is_zero() {
            return Err(ConfigError::Invalid(
                "login.max_tracked must be at least 1 (or failure_delay \"0s\")".into(),
            ));
        }
        if self.idle_timeout.is_some_and(|t| t.0.is_zero()) {
            return Err(ConfigError::Invalid(
                "login.idle_timeout must be more than 0 (leave it out for none)".into(),
            ));
        }
        Ok(())
    }
}

/// *Extension*: `[cluster]`, several sluice instances sharing approvals, tickets and the
/// webhook outbox through one control PostgreSQL (docs/scale-out.md). Without it, each
/// instance keeps them in its own redb file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// `postgres://user@host:port/database`; the password comes from `password_env` or
    /// `password_file`, never from the URL.
    pub control: String,
    pub password_env: Option<String>,
    pub password_file: Option<std::path::PathBuf>,
    /// libpq's `sslmode` meanings, as a target's `upstream_tls` (default `prefer`).
    #[serde(default)]
    pub tls: super::UpstreamTls,
    /// The CA that signs the control server's certificate (`verify-ca`, `verify-full`).
    pub ca_file: Option<std::path::PathBuf>,
    /// This instance's name in the cluster; default `<hostname>/<admin listen address>`.
    pub instance: Option<String>,
    /// How often this instance tells the others it is alive (default `5s`).
    pub heartbeat_interval: Option<HumanDuration>,
    /// An instance silent this long is dead: its held requests are marked abandoned
    /// (default `30s`).
    pub instance_timeout: Option<HumanDuration>,
}

impl ClusterConfig {
    pub fn heartbeat(&self) -> std::time::Duration {
        self.heartbeat_interval
            .as_ref()
            .map_or(std::time::Duration::from_secs(5), |d| d.0)
    }

    pub fn timeout(&self) -> std::time::Duration {
        self.instance_timeout
            .as_ref()
            .map_or(std::time::Duration::from_secs(30), |d| d.0)
    }

    /// What can be checked without connecting or reading the password.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.control;
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(ConfigError::Invalid(format!(
                "[cluster] control {url:?} must be a postgres://user@host:port/database URL"
            )));
        }
        let parsed: tokio_postgres::Config = url
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("[cluster] control {url:?}: {e}")))?;
        if parsed.get_password().is_some() {
            return Err(
                ConfigError::Invalid(
                    "[cluster] control: put the password in password_env or password_file, not in the URL"
                        .into(),
                ),
            );
        }
        if url.contains("sslmode=") {
            return Err(ConfigError::Invalid(
                "[cluster] control: set TLS with [cluster] tls, not sslmode=".into(),
            ));
        }
        if parsed.get_user().is_none() {
            return Err(ConfigError::Invalid(format!(
                "[cluster] control {url:?} names no user"
            )));
        }
        if parsed.get_dbname().is_none() {
            return Err(ConfigError::Invalid(format!(
                "[cluster] control {url:?} names no database"
            )));
        }
        match parsed.get_hosts() {
            [tokio_postgres::config::Host::Tcp(_)] => {}
            _ => {
                return Err(ConfigError::Invalid(format!(
                    "[cluster] control {url:?} must name exactly one TCP host"
                )))
            }
        }
        super::identities::check_password_source(
            "[cluster]",
            self.password_env.as_deref(),
            self.password_file.as_deref(),
        )?;
        if matches!(
            self.tls,
            super::UpstreamTls::VerifyCa | super::UpstreamTls::VerifyFull
        ) && self.ca_file.is_none()
        {
            return Err(ConfigError::Invalid(format!(
                "[cluster] tls = {:?} needs ca_file",
                self.tls
            )));
        }
        if self
            .instance
            .as_deref()
            .is_some_and(|n| n.trim().is_empty())
        {
            return Err(ConfigError::Invalid(
                "[cluster] instance must not be empty".into(),
            ));
        }
        if self.heartbeat().is_zero() {
            return Err(ConfigError::Invalid(
                "[cluster] heartbeat_interval must be longer than 0s".into(),
            ));
        }
        if self.timeout() <= self.heartbeat() {
            return Err(ConfigError::Invalid(
                "[cluster] instance_timeout must be longer than heartbeat_interval, or live instances would be declared dead"
                    .into(),
            ));
        }
        Ok(())
    }
}
