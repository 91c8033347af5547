//! `[[audit.sinks]]`: where each instance ships its audit log (issue 28, central audit), and
//! `[audit] instance`, the name its records carry there. Parsed strictly like every section;
//! [`validate_sinks`] checks each sink's keys against its `kind`.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, HumanDuration, UpstreamTls};

/// One sink: `kind = "postgres"` (a central PostgreSQL table) or `kind = "http"` (a SIEM's
/// JSON-lines endpoint).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Names the sink in metrics, logs and its cursor file.
    pub name: String,
    pub kind: SinkKind,
    /// `postgres://user@host:port/db` or `http(s)://…`.
    pub url: String,
    /// postgres: the environment variable holding the password.
    pub password_env: Option<String>,
    /// postgres: TLS to the server, as a target's `upstream_tls` (default `prefer`).
    pub tls: Option<UpstreamTls>,
    /// postgres (`verify-ca`/`verify-full`) and http: a PEM file of CA certificates to trust.
    pub ca_file: Option<PathBuf>,
    /// http: the body format.
    pub format: Option<HttpFormat>,
    /// http: the environment variable holding one header line, `Name: value`.
    pub header_env: Option<String>,
    /// Records sent at most per batch (default 500).
    pub batch_records: Option<usize>,
    /// http: bytes of body at most per batch (default 1 MiB; one larger record goes alone).
    pub batch_bytes: Option<usize>,
    /// How long one delivery may take (default 10s).
    pub timeout: Option<HumanDuration>,
    /// `/readyz` fails while the oldest record not yet delivered is older than this.
    pub max_lag: Option<HumanDuration>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    Postgres,
    Http,
}

/// The HTTP sink's body formats.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum HttpFormat {
    /// Splunk HTTP Event Collector: event JSON objects, one after another.
    SplunkHec,
    /// Elasticsearch / OpenSearch `_bulk`: NDJSON, an `index` action line per record.
    ElasticsearchBulk,
    /// Grafana Loki push API: one stream per instance.
    Loki,
}

pub const DEFAULT_BATCH_RECORDS: usize = 500;
pub const DEFAULT_BATCH_BYTES: usize = 1 << 20;
pub const DEFAULT_SINK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl SinkConfig {
    pub fn batch_records(&self) -> usize {
        self.batch_records.unwrap_or(DEFAULT_BATCH_RECORDS)
    }

    pub fn batch_bytes(&self) -> usize {
        self.batch_bytes.unwrap_or(DEFAULT_BATCH_BYTES)
    }

    pub fn timeout(&self) -> std::time::Duration {
        self.timeout.map_or(DEFAULT_SINK_TIMEOUT, |t| t.0)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let what = format!("[[audit.sinks]] {:?}", self.name);
        let fail = |m: &str| Err(ConfigError::Invalid(format!("{what}: {m}")));
        if self.batch_records == Some(0) {
            return fail("batch_records must be at least 1");
        }
        if self.timeout.is_some_and(|t| t.0.is_zero()) {
            return fail("timeout must be more than 0");
        }
        if self.max_lag.is_some_and(|t| t.0.is_zero()) {
            return fail("max_lag must be more than 0 (leave it out for no bound)");
        }
        match self.kind {
            SinkKind::Postgres => self.check_postgres(&what),
            SinkKind::Http => self.check_http(&what),
        }
    }

    fn check_postgres(&self, what: &str) -> Result<(), ConfigError> {
        let not_here = [
            ("format", self.format.is_some()),
            ("header_env", self.header_env.is_some()),
            ("batch_bytes", self.batch_bytes.is_some()),
        ];
        if let Some((key, _)) = not_here.iter().find(|(_, set)| *set) {
            return Err(ConfigError::Invalid(format!(
                "{what}: {key} applies to http sinks only"
            )));
        }
        if !self.url.starts_with("postgres://") && !self.url.starts_with("postgresql://") {
            return Err(ConfigError::Invalid(format!(
                "{what}: url must be postgres://user@host:port/database"
            )));
        }
        self.url
            .parse::<tokio_postgres::Config>()
            .map_err(|e| ConfigError::Invalid(format!("{what}: url: {e}")))?;
        if matches!(
            self.tls,
            Some(UpstreamTls::VerifyCa | UpstreamTls::VerifyFull)
        ) && self.ca_file.is_none()
        {
            return Err(ConfigError::Invalid(format!(
                "{what}: tls = verify-ca/verify-full needs ca_file"
            )));
        }
        Ok(())
    }

    fn check_http(&self, what: &str) -> Result<(), ConfigError> {
        let not_here = [
            ("password_env", self.password_env.is_some()),
            ("tls", self.tls.is_some()),
        ];
        if let Some((key, _)) = not_here.iter().find(|(_, set)| *set) {
            return Err(ConfigError::Invalid(format!(
                "{what}: {key} applies to postgres sinks only (https:// urls use TLS)"
            )));
        }
        if self.format.is_none() {
            return Err(ConfigError::Invalid(format!(
                "{what}: format must be splunk_hec, elasticsearch_bulk or loki"
            )));
        }
        if !self.url.starts_with("http://") && !self.url.starts_with("https://") {
            return Err(ConfigError::Invalid(format!(
                "{what}: url must start with http:// or https://"
            )));
        }
        if self.batch_bytes.is_some_and(|b| b < 1024) {
            return Err(ConfigError::Invalid(format!(
                "{what}: batch_bytes must be at least 1024"
            )));
        }
        Ok(())
    }
}

/// A sink name goes into a file name and a metric label: keep it plain.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks `[audit] instance` and every `[[audit.sinks]]`.
pub fn validate_sinks(instance: Option<&str>, sinks: &[SinkConfig]) -> Result<(), ConfigError> {
    if let Some(i) = instance {
        if i.trim().is_empty() || i.len() > 200 || i.chars().any(char::is_control) {
            return Err(ConfigError::Invalid(format!(
                "[audit] instance {i:?} must be a non-empty name of printable characters (at most 200)"
            )));
        }
    }
    let mut names = HashSet::new();
    for s in sinks {
        if !plain_name(&s.name) {
            return Err(ConfigError::Invalid(format!(
                "[[audit.sinks]] name {:?} must be 1 to 64 letters, digits, - or _",
                s.name
            )));
        }
        if !names.insert(s.name.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "[[audit.sinks]] {:?} is defined twice",
                s.name
            )));
        }
        s.check()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn parse(sinks: &str) -> Result<Config, String> {
        let text =
            format!("[audit]\ndir = \"audit\"\nkey_env = \"K\"\ninstance = \"proxy-1\"\n{sinks}");
        Config::parse(&text, "/etc/sluice".into()).map_err(|e| e.to_string())
    }

    #[test]
    fn both_kinds_parse() {
        let c = parse(
            r#"
[[audit.sinks]]
name = "central"
kind = "postgres"
url = "postgres://sluice@db.internal:5432/audit"
password_env = "AUDIT_PG_PASSWORD"
tls = "verify-full"
ca_file = "ca.pem"
max_lag = "5m"

[[audit.sinks]]
name = "splunk"
kind = "http"
url = "https://splunk:8088/services/collector/event"
format = "splunk_hec"
header_env = "SPLUNK_AUTH"
batch_records = 100
batch_bytes = 65536
timeout = "5s"
"#,
        )
        .unwrap();
        let a = c.audit.unwrap();
        assert_eq!(a.sinks.len(), 2);
        assert_eq!(a.sinks[1].batch_records(), 100);
        assert_eq!(a.instance.as_deref(), Some("proxy-1"));
    }

    #[test]
    fn wrong_keys_for_the_kind_are_refused_by_name() {
        let cases = [
            ("kind = \"http\"\nurl = \"http://x\"", "format must be"),
            (
                "kind = \"http\"\nurl = \"ftp://x\"\nformat = \"loki\"",
                "http:// or https://",
            ),
            (
                "kind = \"http\"\nurl = \"http://x\"\nformat = \"loki\"\npassword_env = \"P\"",
                "password_env applies to postgres",
            ),
            (
                "kind = \"postgres\"\nurl = \"postgres://h/db\"\nformat = \"loki\"",
                "format applies to http",
            ),
            (
                "kind = \"postgres\"\nurl = \"http://h/db\"",
                "url must be postgres://",
            ),
            (
                "kind = \"postgres\"\nurl = \"postgres://h/db\"\ntls = \"verify-ca\"",
                "needs ca_file",
            ),
            (
                "kind = \"postgres\"\nurl = \"postgres://h/db\"\nbatch_records = 0",
                "at least 1",
            ),
            ("kind = \"kafka\"\nurl = \"x\"", "unknown variant"),
        ];
        for (body, want) in cases {
            let err = parse(&format!("[[audit.sinks]]\nname = \"s\"\n{body}\n")).unwrap_err();
            assert!(err.contains(want), "{body:?}: {err}");
        }
        let twice =
            "[[audit.sinks]]\nname = \"s\"\nkind = \"postgres\"\nurl = \"postgres://h/db\"\n";
        assert!(parse(&format!("{twice}{twice}"))
            .unwrap_err()
            .contains("defined twice"));
        let bad_name =
            "[[audit.sinks]]\nname = \"a b\"\nkind = \"postgres\"\nurl = \"postgres://h/db\"\n";
        assert!(parse(bad_name).unwrap_err().contains("letters, digits"));
    }
}
