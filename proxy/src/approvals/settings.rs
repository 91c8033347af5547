//! `[approvals]` as the running proxy uses it: checked, defaults filled in, secrets read.

use std::path::PathBuf;
use std::time::Duration;

use super::{ApprovalMode, WebhookFormat};
use crate::config::{ApprovalsConfig, Config};

/// `[approvals]`, checked and with its secrets read.
pub struct Settings {
    pub mode: ApprovalMode,
    pub timeout: Duration,
    pub ticket_ttl: Duration,
    pub required: usize,
    pub approver_groups: Vec<String>,
    pub webhooks: Vec<Webhook>,
    pub dir: PathBuf,
    /// Base of the links in webhooks, without a trailing slash.
    pub public_url: String,
}

/// One `[[approvals.webhooks]]`.
pub struct Webhook {
    pub url: String,
    pub secret: Vec<u8>,
    pub format: WebhookFormat,
}

impl Settings {
    /// What can be checked without reading secrets (for `sluice check` and config loading).
    pub fn validate(a: &ApprovalsConfig) -> Result<(), String> {
        if a.required == Some(0) {
            return Err("[approvals] required must be at least 1".into());
        }
        if a.approver_groups.is_empty() {
            return Err(
                "[approvals] approver_groups must name at least one group: nobody could approve"
                    .into(),
            );
        }
        for (what, d) in [("timeout", &a.timeout), ("ticket_ttl", &a.ticket_ttl)] {
            if d.as_ref().is_some_and(|d| d.0.is_zero()) {
                return Err(format!("[approvals] {what} must be longer than 0s"));
            }
        }
        for w in &a.webhooks {
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err(format!(
                    "[[approvals.webhooks]] url {:?} must be an http:// or https:// URL",
                    w.url
                ));
            }
            match (&w.secret_env, &w.secret_file) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(format!(
                        "[[approvals.webhooks]] {:?}: set exactly one of secret_env and secret_file (every delivery is signed)",
                        w.url
                    ))
                }
            }
        }
        if let Some(u) = &a.public_url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(format!(
                    "[approvals] public_url {u:?} must be an http:// or https:// URL"
                ));
            }
        }
        Ok(())
    }

    /// The settings of `config`, with webhook secrets read; `None` without `[approvals]`.
    /// Links default to the admin listener's bound address.
    pub fn load(
        config: &Config,
        admin_addr: std::net::SocketAddr,
    ) -> Result<Option<Settings>, String> {
        let Some(a) = &config.approvals else {
            return Ok(None);
        };
        Self::validate(a)?;
        let mut webhooks = Vec::new();
        for w in &a.webhooks {
            let secret = match (&w.secret_env, &w.secret_file) {
                (Some(env), _) => std::env::var(env).map_err(|_| {
                    format!(
                        "[[approvals.webhooks]] {:?}: secret_env {env:?} is not set",
                        w.url
                    )
                })?,
                (None, Some(file)) => {
                    let path = config.path(std::path::Path::new(file));
                    std::fs::read_to_string(&path)
                        .map_err(|e| {
                            format!(
                                "[[approvals.webhooks]] {:?}: cannot read secret_file {}: {e}",
                                w.url,
                                path.display()
                            )
                        })?
                        .trim()
                        .to_string()
                }
                (None, None) => String::new(),
            };
            if secret.is_empty() {
                return Err(format!(
                    "[[approvals.webhooks]] {:?}: the signing secret is empty",
                    w.url
                ));
            }
            webhooks.push(Webhook {
                url: w.url.clone(),
                secret: secret.into_bytes(),
                format: w.format.unwrap_or(WebhookFormat::Json),
            });
        }
        Ok(Some(Settings {
            mode: a.mode.unwrap_or(ApprovalMode::Hold),
            timeout: a.timeout.as_ref().map_or(Duration::from_secs(600), |d| d.0),
            ticket_ttl: a
                .ticket_ttl
                .as_ref()
                .map_or(Duration::from_secs(3600), |d| d.0),
            required: a.required.unwrap_or(1) as usize,
            approver_groups: a.approver_groups.clone(),
            webhooks,
            dir: config.path(std::path::Path::new(
                a.dir.as_deref().unwrap_or("data/approvals"),
            )),
            public_url: a
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{admin_addr}"))
                .trim_end_matches('/')
                .to_string(),
        }))
    }
}
