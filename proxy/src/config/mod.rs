//! The TOML configuration of `sluice.example.toml` (at the repository root).
//!
//! Parsing is strict: an unknown or misspelled key is an error that names the key and its line,
//! because a silently ignored `requre = true` is a security bug. Relative file paths are resolved
//! against the directory of the config file, so a config can be moved with its certificates.

mod duration;
mod error;
mod identities;
mod sections;
mod sinks;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use duration::HumanDuration;
pub use error::{ConfigError, DurationError, PasswordError};
pub use identities::{read_password, IdentityConfig, PasswordFrom, SessionSettings, SettingValue};
pub use sections::*;
pub use sinks::*;

use crate::auth::PasswordHash;

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    pub audit: Option<AuditConfig>,
    #[serde(default)]
    pub users: Vec<UserConfig>,
    pub jwt: Option<JwtConfig>,
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
    #[serde(default)]
    pub masks: Vec<MaskConfig>,
    #[serde(default)]
    pub detectors: Vec<DetectorConfig>,
    pub masking: Option<MaskingConfig>,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    pub policy: Option<PolicyConfig>,
    pub approvals: Option<ApprovalsConfig>,
    /// *Extension*: several instances sharing approvals through a control PostgreSQL.
    pub cluster: Option<ClusterConfig>,
    /// *Extension*: login throttling and the handshake and idle timeouts.
    #[serde(default)]
    pub login: LoginConfig,
    /// Directory of the config file; relative paths in it are resolved against this.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file it was loaded from, for reloads.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_admin_listen")]
    pub admin_listen: String,
    #[serde(default)]
    pub log_format: LogFormat,
    pub tls: Option<ServerTlsConfig>,
    /// How long running statements may take to finish after SIGTERM / Ctrl-C.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: HumanDuration,
    /// Largest client protocol message accepted, in bytes; larger ones close the connection.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u32,
    /// *Extension*: groups whose members may call the admin API's operational routes
    /// (reload, audit reads). Default `["admin"]`.
    #[serde(default = "default_admin_groups")]
    pub admin_groups: Vec<String>,
    /// *Extension*: admin paths served without authentication. Default `/healthz`, `/readyz`,
    /// `/metrics`; `[]` protects them too.
    #[serde(default = "default_admin_public")]
    pub admin_public: Vec<String>,
    /// *Extension*: threads that run sessions; default one per CPU. On a machine shared with
    /// the database and its clients, fewer threads than CPUs cost less CPU per statement
    /// (fewer cross-thread wake-ups). Read at start; a reload does not change it.
    #[serde(default)]
    pub worker_threads: Option<usize>,
}

/// More session threads than any machine sluice runs on has cores.
const MAX_WORKER_THREADS: usize = 1024;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            admin_listen: default_admin_listen(),
            log_format: LogFormat::default(),
            tls: None,
            shutdown_grace: default_shutdown_grace(),
            max_message_bytes: default_max_message_bytes(),
            admin_groups: default_admin_groups(),
            admin_public: default_admin_public(),
            worker_threads: None,
        }
    }
}

fn default_admin_groups() -> Vec<String> {
    vec!["admin".into()]
}
fn default_admin_public() -> Vec<String> {
    ["/healthz", "/readyz", "/metrics"]
        .map(String::from)
        .to_vec()
}

fn default_admin_listen() -> String {
    "127.0.0.1:9480".into()
}
fn default_shutdown_grace() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}
fn default_max_message_bytes() -> u32 {
    256 << 20
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    #[serde(default)]
    pub require: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub password_hash: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    Postgres,
    Mysql,
}

/// libpq's `sslmode` meanings for the connection from sluice to the database.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamTls {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub name: String,
    pub protocol: Protocol,
    pub listen: String,
    pub upstream: String,
    pub database: Option<String>,
    pub user: String,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub upstream_tls: UpstreamTls,
    pub upstream_ca_file: Option<PathBuf>,
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// MySQL: allow `LOAD DATA LOCAL INFILE` (off: refused with a clear error).
    #[serde(default)]
    pub allow_local_infile: bool,
    /// *Extension*: when not empty, only members of these groups may use the target.
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    /// MySQL: the plugin sluice's greeting proposes (`mysql_native_password` or
    /// `caching_sha2_password`); clients may answer with either.
    pub client_auth_plugin: Option<String>,
    /// *Extension*: `[[targets.identities]]`, the database roles groups log in upstream as;
    /// the first entry that matches a session decides.
    #[serde(default)]
    pub identities: Vec<IdentityConfig>,
    /// *Extension*: a session no identity matches is refused instead of logging in upstream as
    /// the target's own `user`.
    #[serde(default)]
    pub require_identity: bool,
}

fn default_max_connections() -> usize {
    100
}
fn default_connect_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(5))
}

impl TargetConfig {
    /// The upstream password, read from `password_env` or `password_file` (trailing newline
    /// stripped). `None` when neither is configured (trust auth upstream).
    pub fn upstream_password(&self, base_dir: &Path) -> Result<Option<String>, PasswordError> {
        read_password(
            &format!("target {:?}", self.name),
            self.password_env.as_deref(),
            self.password_file.as_deref(),
            base_dir,
        )
    }
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut config = Config::parse(&text, base_dir).map_err(|e| ConfigError::InFile {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses and validates config text; `base_dir` anchors relative paths.
    pub fn parse(text: &str, base_dir: PathBuf) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text)?;
        config.base_dir = base_dir;
        config.validate()?;
        Ok(config)
    }

    /// Resolves a path from the config against the config file's directory.
    pub fn path(&self, p: &Path) -> PathBuf {
        self.base_dir.join(p)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for user in &self.users {
            if !names.insert(user.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "[[users]] {:?} is defined twice",
                    user.name
                )));
            }
            if let Some(hash) = &user.password_hash {
                hash.parse::<PasswordHash>().map_err(|e| {
                    ConfigError::Invalid(format!("[[users]] {:?}: password_hash: {e}", user.name))
                })?;
            }
        }
        let mut targets = HashSet::new();
        let mut listens = HashSet::new();
        for t in &self.targets {
            if !targets.insert(t.name.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "[[targets]] {:?} is defined twice",
                    t.name
                )));
            }
            let addr: SocketAddr = t.listen.parse().map_err(|_| {
                ConfigError::Invalid(format!(
                    "target {:?}: listen {:?} is not an address like 127.0.0.1:6432",
                    t.name, t.listen
                ))
            })?;
            // Port 0 asks the OS for a free port: never a clash.
            if addr.port() != 0 && !listens.insert(addr) {
                return Err(ConfigError::Invalid(format!(
                    "target {:?}: listen {addr} is used by another target",
                    t.name
                )));
            }
            if split_host_port(&t.upstream).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "target {:?}: upstream {:?} must be host:port",
                    t.name, t.upstream
                )));
            }
            if matches!(
                t.upstream_tls,
                UpstreamTls::VerifyCa | UpstreamTls::VerifyFull
            ) && t.upstream_ca_file.is_none()
            {
                return Err(ConfigError::Invalid(format!(
                    "target {:?}: upstream_tls = {:?} needs upstream_ca_file",
                    t.name, t.upstream_tls
                )));
            }
            identities::check_password_source(
                &format!("target {:?}", t.name),
                t.password_env.as_deref(),
                t.password_file.as_deref(),
            )?;
            identities::validate(t, self.jwt.is_some())?;
            if let Some(p) = &t.client_auth_plugin {
                if t.protocol != Protocol::Mysql
                    || !matches!(
                        p.as_str(),
                        "mysql_native_password" | "caching_sha2_password"
                    )
                {
                    return Err(ConfigError::Invalid(format!(
                        "target {:?}: client_auth_plugin must be mysql_native_password or caching_sha2_password, on a mysql target",
                        t.name
                    )));
                }
            }
            if t.allow_local_infile && t.protocol != Protocol::Mysql {
                return Err(ConfigError::Invalid(format!(
                    "target {:?}: allow_local_infile applies to mysql targets only",
                    t.name
                )));
            }
            if t.max_connections == 0 {
                return Err(ConfigError::Invalid(format!(
                    "target {:?}: max_connections must be at least 1",
                    t.name
                )));
            }
        }
        self.rule_set()?;
        crate::masks::MaskPolicy::validate(self).map_err(ConfigError::Invalid)?;
        if let Some(j) = &self.jwt {
            crate::auth::jwt::JwtVerifier::validate(j).map_err(ConfigError::Invalid)?;
        }
        if let Some(a) = &self.approvals {
            crate::approvals::Settings::validate(a).map_err(ConfigError::Invalid)?;
        }
        if let Some(c) = &self.cluster {
            c.validate()?;
        }
        self.login.validate()?;
        if let Some(a) = &self.audit {
            validate_sinks(a.instance.as_deref(), &a.sinks)?;
        }
        if self.server.max_message_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "server.max_message_bytes must be at least 1024".into(),
            ));
        }
        if let Some(n) = self.server.worker_threads {
            if !(1..=MAX_WORKER_THREADS).contains(&n) {
                return Err(ConfigError::Invalid(format!(
                    "server.worker_threads must be between 1 and {MAX_WORKER_THREADS}, not {n}"
                )));
            }
        }
        Ok(())
    }

    /// The compiled `[[rules]]` with `[policy] on_parse_error` (default: block, fail closed).
    pub fn rule_set(&self) -> Result<policy::RuleSet, ConfigError> {
        let on_parse_error = self
            .policy
            .as_ref()
            .and_then(|p| p.on_parse_error)
            .unwrap_or(RuleAction::Block);
        policy::RuleSet::compile(&self.rules, on_parse_error).map_err(ConfigError::Rules)
    }

    /// Whether statements go through the rules at all: with no `[[rules]]` and no `[policy]`
    /// section, sessions are pure relays.
    pub fn has_statement_policy(&self) -> bool {
        !self.rules.is_empty() || self.policy.is_some()
    }
}

/// Splits `host:port` (with `[v6]:port` allowed).
pub fn split_host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host, port))
}

#[cfg(test)]
mod tests;
