//! Config sections other than server, users and targets. Statement rules are the policy crate's
//! own types. Every section is parsed strictly (so typos are caught); `[jwt]` is not enforced
//! by this build yet, and `sluice serve` refuses a file that uses it (fail closed: a DBA who
//! writes a setting must never believe it is in force when it is not); `sluice check` accepts it.

use serde::Deserialize;

use super::HumanDuration;

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
