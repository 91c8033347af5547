//! Webhook deliveries: the contract's JSON body (or a Slack message), signed with
//! `Sluice-Signature: t=<unix>,v1=<hex HMAC-SHA-256 of "t.body">`, sent from the durable outbox
//! until a 2xx or the request's expiry, with exponential backoff. A delivery leaves the outbox
//! the moment it is acknowledged, so none is sent twice after a 2xx, and one owed at a restart
//! is sent after it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::store::Delivery;
use super::{ApprovalRequest, Approvals, Settings, WebhookFormat};

/// First retry after this; doubled per attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The `Sluice-Signature` header value for `body` at unix time `t`.
///
/// A receiver recomputes `hex(HMAC-SHA-256(secret, "<t>.<body>"))`, compares it with `v1` in
/// constant time, and rejects old `t` values to stop replays.
pub fn signature(secret: &[u8], t: u64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The delivery body for request `r`, whose links carry `token`.
pub fn body(
    settings: &Settings,
    format: WebhookFormat,
    r: &ApprovalRequest,
    token: &str,
) -> String {
    let base = &settings.public_url;
    let approve_url = format!("{base}/approvals/{}/approve?token={token}", r.id);
    let deny_url = format!("{base}/approvals/{}/deny?token={token}", r.id);
    let page_url = format!("{base}/approvals");
    let t = audit::format_rfc3339_micros;
    match format {
        WebhookFormat::Json => serde_json::json!({
            "id": r.id,
            "target": r.target,
            "user": r.user,
            "groups": r.groups,
            "client_addr": r.client_addr,
            "statement": r.statement,
            "rule": r.rule,
            "reason": r.reason,
            "created_at": t(r.created_at),
            "expires_at": t(r.expires_at),
            "approve_url": approve_url,
            "deny_url": deny_url,
            "page_url": page_url,
        })
        .to_string(),
        WebhookFormat::Slack => {
            let why = r
                .reason
                .as_deref()
                .map(|m| format!(" — {m}"))
                .unwrap_or_default();
            let text = format!(
                "sluice: {} on {} needs approval (rule {}{why})",
                r.user, r.target, r.rule
            );
            serde_json::json!({
                "text": text,
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": format!(
                        "*{}* on *{}* from `{}` needs approval under rule *{}*{why}\n```{}```\nExpires {}",
                        slack_escape(&r.user), slack_escape(&r.target), slack_escape(&r.client_addr),
                        slack_escape(&r.rule), r.statement.replace("```", "'''"), t(r.expires_at))}},
                    {"type": "actions", "elements": [
                        {"type": "button", "style": "primary", "text": {"type": "plain_text", "text": "Approve"}, "url": approve_url},
                        {"type": "button", "style": "danger", "text": {"type": "plain_text", "text": "Deny"}, "url": deny_url},
                        {"type": "button", "text": {"type": "plain_text", "text": "All pending"}, "url": page_url}
                    ]}
                ]
            })
            .to_string()
        }
    }
}

/// Slack's mrkdwn control characters.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn backoff(attempts: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(16)))
        .min(MAX_BACKOFF)
}

/// Delivers the outbox until `shutdown`.
pub fn spawn_worker(
    approvals: &Arc<Approvals>,
    tracker: &tokio_util::task::TaskTracker,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let a = Arc::clone(approvals);
    tracker.spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook client could not be built; deliveries stay queued");
                return;
            }
        };
        loop {
            let next = deliver_due(&a, &client).await;
            let sleep = next.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(1));
            tokio::select! {
                _ = a.outbox.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
    });
}

/// Sends every delivery that is due; returns how long until the next one is.
async fn deliver_due(a: &Arc<Approvals>, client: &reqwest::Client) -> Option<Duration> {
    let owed = match a.outbox_due().await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "webhook outbox unreadable");
            return None;
        }
    };
    let mut next: Option<i64> = None;
    for mut d in owed {
        let now = audit::now_micros();
        if now >= d.expires_at {
            tracing::warn!(id = %d.request_id, url = %url_of(a, &d), attempts = d.attempts, "webhook never acknowledged before the request expired; given up");
            settle(a, &d, Some("expired")).await;
            continue;
        }
        // With `[cluster]` the claim has already closed the deliveries of decided requests.
        if a.control().is_none()
            && a.get(&d.request_id)
                .is_none_or(|r| r.state != super::RequestState::Pending)
        {
            // Decided (or withdrawn) before it could be announced: nothing left to approve.
            tracing::info!(id = %d.request_id, "webhook dropped: the request is no longer pending");
            settle(a, &d, Some("dropped")).await;
            continue;
        }
        if d.next_at > now {
            next = Some(next.map_or(d.next_at, |n| n.min(d.next_at)));
            continue;
        }
        let settings = a.settings();
        let Some(hook) = settings.webhooks.get(d.webhook) else {
            // The config no longer has this webhook (a restart with fewer): nothing to send to.
            settle(a, &d, Some("dropped")).await;
            continue;
        };
        let t = u64::try_from(now / 1_000_000).unwrap_or(0);
        let sent = client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("sluice-signature", signature(&hook.secret, t, &d.body))
            .header("sluice-delivery", d.key())
            .body(d.body.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => {
                a.metrics.webhook_deliveries.fetch_add(1, Ordering::Relaxed);
                tracing::info!(id = %d.request_id, url = %hook.url, attempts = d.attempts + 1, "webhook delivered");
                d.attempts += 1;
                settle(a, &d, Some("delivered")).await;
            }
            other => {
                a.metrics.webhook_failures.fetch_add(1, Ordering::Relaxed);
                let why = match other {
                    Ok(resp) => format!("HTTP {}", resp.status()),
                    Err(e) => e.to_string(),
                };
                d.attempts += 1;
                d.next_at =
                    now + i64::try_from(backoff(d.attempts).as_micros()).unwrap_or(i64::MAX);
                tracing::warn!(id = %d.request_id, url = %hook.url, attempts = d.attempts, error = %why, "webhook delivery failed; will retry");
                next = Some(next.map_or(d.next_at, |n| n.min(d.next_at)));
                settle(a, &d, None).await;
            }
        }
    }
    next.map(|n| Duration::from_micros(u64::try_from(n - audit::now_micros()).unwrap_or(0)))
}

/// Records what became of a delivery; a failure is logged (the delivery stays owed, or its
/// lease runs out and it is sent again: at least once).
async fn settle(a: &Arc<Approvals>, d: &Delivery, outcome: Option<&'static str>) {
    if let Err(e) = a.outbox_settle(d, outcome).await {
        tracing::error!(id = %d.request_id, error = %e, "the webhook outbox could not record a delivery's outcome");
    }
}

fn url_of(a: &Approvals, d: &Delivery) -> String {
    a.settings()
        .webhooks
        .get(d.webhook)
        .map_or_else(|| "?".into(), |w| w.url.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_of_time_dot_body() {
        let s = signature(b"k", 1700000000, "{}");
        assert!(s.starts_with("t=1700000000,v1="));
        assert_eq!(s.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(s, signature(b"k", 1700000000, "{ }"));
        assert_ne!(s, signature(b"other", 1700000000, "{}"));
    }

    #[test]
    fn slack_messages_carry_the_links_and_escape_user_text() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            mode: super::super::ApprovalMode::Hold,
            timeout: Duration::from_secs(60),
            ticket_ttl: Duration::from_secs(60),
            required: 1,
            approver_groups: vec!["dba".into()],
            webhooks: Vec::new(),
            dir: dir.path().to_path_buf(),
            public_url: "https://sluice.example.com".into(),
        };
        let a = Approvals::open(settings, None).unwrap();
        let r = a
            .request(super::super::NewRequest {
                target: "pg",
                user: "<ann>",
                groups: &[],
                client_addr: "10.0.0.1:5000",
                session: 1,
                dialect: policy::Dialect::Postgres,
                sql: "DELETE FROM t",
                params: &[],
                masked: "DELETE FROM t".into(),
                rule: "unbounded",
                reason: None,
                hold_key: None,
            })
            .unwrap();
        let body = body(&a.settings(), WebhookFormat::Slack, &r, "tok");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["text"].as_str().unwrap().contains("needs approval"));
        let section = v["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(section.contains("&lt;ann&gt;") && section.contains("DELETE FROM t"));
        let urls: Vec<&str> = v["blocks"][1]["elements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["url"].as_str().unwrap())
            .collect();
        assert_eq!(
            urls,
            [
                format!(
                    "https://sluice.example.com/approvals/{}/approve?token=tok",
                    r.id
                ),
                format!(
                    "https://sluice.example.com/approvals/{}/deny?token=tok",
                    r.id
                ),
                "https://sluice.example.com/approvals".to_string(),
            ]
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(2));
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
