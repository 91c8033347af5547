//! Approvals (`[approvals]`): a statement a rule sends to `review` runs only once enough
//! approvers have said yes.
//!
//! - In `hold` mode the client's statement waits (off the async threads) until it is decided,
//!   expires or the client cancels it; in `ticket` mode the client gets an error carrying a
//!   ticket id at once, and the identical statement (same user, target, canonical text and
//!   parameters) runs exactly once after approval, within `ticket_ttl`.
//! - Requests live in a redb file next to a webhook outbox, so tickets and undelivered
//!   webhooks survive a restart; every state change is an audit record.
//! - Approvers are sluice users in `approver_groups`; a requester never approves their own
//!   request, and one person's approval counts once.
//!
//! Protocol-neutral: the statement gate calls it; the admin routes (`routes`) and the webhook
//! worker (`webhook`) drive it from outside.

mod page;
pub mod routes;
mod store;
pub mod webhook;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::Identity;
pub use crate::config::{ApprovalMode, WebhookFormat};
use crate::config::{ApprovalsConfig, Config};
use crate::recorder::Auditor;
use store::{Delivery, Store};

/// Decided requests are kept this long (for the page and the API), then forgotten.
const KEEP_DECIDED: Duration = Duration::from_secs(7 * 24 * 3600);

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

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Pending,
    Approved,
    Denied,
    Expired,
    /// The client withdrew it (a cancel, or its connection went away).
    Cancelled,
    /// A ticket that was approved and has been redeemed.
    Used,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Denied => "denied",
            RequestState::Expired => "expired",
            RequestState::Cancelled => "cancelled",
            RequestState::Used => "used",
        }
    }

    pub fn parse(s: &str) -> Option<RequestState> {
        [
            RequestState::Pending,
            RequestState::Approved,
            RequestState::Denied,
            RequestState::Expired,
            RequestState::Cancelled,
            RequestState::Used,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// One person's approval.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    pub at: i64,
}

/// A held statement and what has been decided about it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub id: String,
    pub mode: ApprovalMode,
    pub state: RequestState,
    pub target: String,
    pub user: String,
    pub groups: Vec<String>,
    pub client_addr: String,
    /// Masked as in the audit log: never a sensitive value in clear.
    pub statement: String,
    pub rule: String,
    /// The rule's message.
    pub reason: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    pub expires_at: i64,
    pub required: usize,
    pub approvals: Vec<Approval>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub decided_at: Option<i64>,
    /// Ticket mode: the approved statement may run until then.
    pub ticket_expires_at: Option<i64>,
    /// The requesting session, for its audit records.
    pub session: u64,
    /// What identifies "the identical statement" (user, target, canonical text, parameters).
    fingerprint: String,
    /// SHA-256 of the single-use token in the webhook's links.
    link_token_sha256: String,
    link_used: bool,
    /// The waiting session (hold mode), for cancels.
    hold_key: Option<String>,
}

impl ApprovalRequest {
    /// The API's view: times in RFC 3339, nothing secret.
    pub fn to_json(&self) -> serde_json::Value {
        let t = audit::format_rfc3339_micros;
        serde_json::json!({
            "id": self.id,
            "mode": self.mode,
            "state": self.state.as_str(),
            "target": self.target,
            "user": self.user,
            "groups": self.groups,
            "client_addr": self.client_addr,
            "statement": self.statement,
            "rule": self.rule,
            "reason": self.reason,
            "created_at": t(self.created_at),
            "expires_at": t(self.expires_at),
            "required": self.required,
            "approvals": self.approvals.iter().map(|a| serde_json::json!({"by": a.by, "at": t(a.at)})).collect::<Vec<_>>(),
            "decided_by": self.decided_by,
            "decision_reason": self.decision_reason,
            "decided_at": self.decided_at.map(t),
            "ticket_expires_at": self.ticket_expires_at.map(t),
        })
    }
}

/// What a session asks approval for.
pub struct NewRequest<'a> {
    pub target: &'a str,
    pub user: &'a str,
    pub groups: &'a [String],
    pub client_addr: &'a str,
    pub session: u64,
    pub dialect: policy::Dialect,
    /// The statement as sent (for the fingerprint only; never stored).
    pub sql: &'a str,
    pub params: &'a [Option<String>],
    /// The statement as the audit log shows it.
    pub masked: String,
    pub rule: &'a str,
    pub reason: Option<&'a str>,
    /// Hold mode: the session's cancel handle (`pg:<pid>`, `mysql:<connection id>`).
    pub hold_key: Option<String>,
}

/// Why a decision was not taken; the HTTP status it maps to.
#[derive(Debug, PartialEq, Eq)]
pub enum DecideError {
    NotFound,
    /// 403: not an approver, self-approval, a bad link.
    Forbidden(String),
    /// 409: no longer pending, or already approved by this person.
    Conflict(String),
    /// 400: a deny without a reason.
    BadRequest(String),
    /// 503: the store or the audit log could not take it.
    Unavailable(String),
}

impl std::fmt::Display for DecideError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecideError::NotFound => f.write_str("no such approval request"),
            DecideError::Forbidden(m)
            | DecideError::Conflict(m)
            | DecideError::BadRequest(m)
            | DecideError::Unavailable(m) => f.write_str(m),
        }
    }
}

/// A ticket-mode statement, looked up.
pub enum Redeemed {
    /// Approved and now used: run it.
    Run(ApprovalRequest),
    /// Already asked for and not decided yet.
    Pending(ApprovalRequest),
    /// Nothing usable: ask.
    None,
}

/// Counters for `GET /metrics`.
#[derive(Default)]
pub struct ApprovalMetrics {
    pub requested: AtomicU64,
    pub approved: AtomicU64,
    pub denied: AtomicU64,
    pub expired: AtomicU64,
    pub cancelled: AtomicU64,
    pub tickets_redeemed: AtomicU64,
    pub decision_micros_sum: AtomicU64,
    pub decisions: AtomicU64,
    pub webhook_deliveries: AtomicU64,
    pub webhook_failures: AtomicU64,
}

/// The approvals of a running proxy.
pub struct Approvals {
    pub settings: Settings,
    store: Store,
    requests: Mutex<HashMap<String, ApprovalRequest>>,
    changed: Condvar,
    auditor: Option<Arc<Auditor>>,
    pub metrics: ApprovalMetrics,
    /// Wakes the webhook worker when a delivery is queued.
    pub outbox: tokio::sync::Notify,
}

fn now() -> i64 {
    audit::now_micros()
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    crate::auth::scram::fill_random(&mut b);
    hex::encode(b)
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// What makes two statements "identical" for a ticket.
fn fingerprint(r: &NewRequest<'_>) -> String {
    let mut h = Sha256::new();
    for part in [r.user, r.target, &policy::canonical_text(r.dialect, r.sql)] {
        h.update(part.len().to_le_bytes());
        h.update(part.as_bytes());
    }
    for p in r.params {
        match p {
            Some(v) => {
                h.update([1]);
                h.update(v.len().to_le_bytes());
                h.update(v.as_bytes());
            }
            None => h.update([0]),
        }
    }
    hex::encode(h.finalize())
}

impl Approvals {
    /// Opens the store. Hold-mode requests left pending by an earlier run are cancelled (their
    /// clients are gone); anything past its expiry is expired.
    pub fn open(
        settings: Settings,
        auditor: Option<Arc<Auditor>>,
    ) -> Result<Arc<Approvals>, String> {
        let store = Store::open(&settings.dir)?;
        let mut map = HashMap::new();
        let mut forget = Vec::new();
        let horizon = now() - micros(KEEP_DECIDED);
        for r in store.requests()? {
            match r.decided_at {
                Some(at) if at < horizon && r.state != RequestState::Pending => {
                    forget.push(r.id.clone())
                }
                _ => {
                    map.insert(r.id.clone(), r);
                }
            }
        }
        if !forget.is_empty() {
            store.remove_requests(&forget)?;
        }
        let a = Arc::new(Approvals {
            settings,
            store,
            requests: Mutex::new(map),
            changed: Condvar::new(),
            auditor,
            metrics: ApprovalMetrics::default(),
            outbox: tokio::sync::Notify::new(),
        });
        let orphans: Vec<String> = a
            .lock()
            .values()
            .filter(|r| r.state == RequestState::Pending && r.mode == ApprovalMode::Hold)
            .map(|r| r.id.clone())
            .collect();
        for id in orphans {
            a.finish(
                &id,
                RequestState::Cancelled,
                None,
                Some(
                    "sluice restarted while the statement was held; its client connection is gone",
                ),
            )?;
        }
        a.expire_due();
        Ok(a)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, ApprovalRequest>> {
        self.requests.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An audit record for an event of `r`; `Err` when the log cannot take it.
    fn record(
        &self,
        r: &ApprovalRequest,
        event: &str,
        by: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), String> {
        let Some(auditor) = &self.auditor else {
            return Ok(());
        };
        let mut d = audit::Draft::new(
            r.session,
            &r.target,
            &r.user,
            audit::RecordBody::Approval {
                approval_id: r.id.clone(),
                event: event.into(),
                by: by.map(str::to_string),
                reason: reason.map(str::to_string),
            },
        );
        d.groups = r.groups.clone();
        d.client_addr = r.client_addr.clone();
        auditor
            .log()
            .record(d)
            .map(|_| ())
            .map_err(|e| format!("the audit log cannot record approvals right now ({e})"))
    }

    /// Stores `r` (and its deliveries) and makes it visible.
    fn save(
        &self,
        map: &mut HashMap<String, ApprovalRequest>,
        r: ApprovalRequest,
        deliveries: &[Delivery],
    ) -> Result<(), String> {
        self.store.put(&r, deliveries)?;
        map.insert(r.id.clone(), r);
        self.changed.notify_all();
        Ok(())
    }

    /// Asks for approval: the request is stored, recorded and its webhooks queued before this
    /// returns. `Err` (the statement must then not run) when any of that fails.
    pub fn request(&self, n: NewRequest<'_>) -> Result<ApprovalRequest, String> {
        let created = now();
        let token = random_hex(24);
        let r = ApprovalRequest {
            id: format!("apr_{}", random_hex(8)),
            mode: self.settings.mode,
            state: RequestState::Pending,
            target: n.target.into(),
            user: n.user.into(),
            groups: n.groups.to_vec(),
            client_addr: n.client_addr.into(),
            statement: n.masked.clone(),
            rule: n.rule.into(),
            reason: n.reason.map(str::to_string),
            created_at: created,
            expires_at: created.saturating_add(micros(self.settings.timeout)),
            required: self.settings.required,
            approvals: Vec::new(),
            decided_by: None,
            decision_reason: None,
            decided_at: None,
            ticket_expires_at: None,
            session: n.session,
            fingerprint: fingerprint(&n),
            link_token_sha256: sha256_hex(token.as_bytes()),
            link_used: false,
            hold_key: n.hold_key,
        };
        let deliveries: Vec<Delivery> = self
            .settings
            .webhooks
            .iter()
            .enumerate()
            .map(|(i, w)| Delivery {
                request_id: r.id.clone(),
                webhook: i,
                body: webhook::body(&self.settings, w.format, &r, &token),
                attempts: 0,
                next_at: created,
                expires_at: r.expires_at,
            })
            .collect();
        self.record(&r, "requested", None, r.reason.as_deref())?;
        {
            let mut map = self.lock();
            self.save(&mut map, r.clone(), &deliveries)?;
        }
        self.metrics.requested.fetch_add(1, Ordering::Relaxed);
        if !deliveries.is_empty() {
            self.outbox.notify_one();
        }
        tracing::info!(id = %r.id, target = %r.target, user = %r.user, rule = %r.rule, "statement held for approval");
        Ok(r)
    }

    /// Moves a pending request to a final state, with its audit record.
    fn finish(
        &self,
        id: &str,
        state: RequestState,
        by: Option<&str>,
        reason: Option<&str>,
    ) -> Result<Option<ApprovalRequest>, String> {
        let mut map = self.lock();
        let Some(mut r) = map.get(id).cloned() else {
            return Ok(None);
        };
        if r.state != RequestState::Pending {
            return Ok(None);
        }
        let at = now();
        r.state = state;
        r.decided_by = by.map(str::to_string);
        r.decision_reason = reason.map(str::to_string);
        r.decided_at = Some(at);
        let event = state.as_str();
        self.record(&r, event, by, reason)?;
        self.save(&mut map, r.clone(), &[])?;
        drop(map);
        let m = &self.metrics;
        let counter = match state {
            RequestState::Approved => &m.approved,
            RequestState::Denied => &m.denied,
            RequestState::Expired => &m.expired,
            _ => &m.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if matches!(state, RequestState::Approved | RequestState::Denied) {
            m.decisions.fetch_add(1, Ordering::Relaxed);
            m.decision_micros_sum.fetch_add(
                u64::try_from(at - r.created_at).unwrap_or(0),
                Ordering::Relaxed,
            );
        }
        tracing::info!(%id, state = event, by = by.unwrap_or("-"), "approval request decided");
        Ok(Some(r))
    }

    /// Whether `who` may act on approvals at all.
    pub fn is_approver(&self, who: &Identity) -> bool {
        who.groups
            .iter()
            .any(|g| self.settings.approver_groups.contains(g))
    }

    /// An approver approves or denies.
    pub fn decide(
        &self,
        id: &str,
        who: &Identity,
        approve: bool,
        reason: Option<&str>,
    ) -> Result<ApprovalRequest, DecideError> {
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if !self.is_approver(who) {
            return Err(DecideError::Forbidden(format!(
                "{} is not in approver_groups {:?}",
                who.user, self.settings.approver_groups
            )));
        }
        let r = self.get(id).ok_or(DecideError::NotFound)?;
        if r.state == RequestState::Pending && now() >= r.expires_at {
            self.expire(id);
        }
        let r = self.get(id).ok_or(DecideError::NotFound)?;
        if r.state != RequestState::Pending {
            return Err(DecideError::Conflict(format!(
                "request {id} is {}, not pending",
                r.state.as_str()
            )));
        }
        if r.user == who.user {
            return Err(DecideError::Forbidden(
                "a requester cannot approve or deny their own request".into(),
            ));
        }
        let unavailable = DecideError::Unavailable;
        if !approve {
            let Some(reason) = reason else {
                return Err(DecideError::BadRequest(
                    "a denial needs a reason: the client is told it".into(),
                ));
            };
            return self
                .finish(id, RequestState::Denied, Some(&who.user), Some(reason))
                .map_err(unavailable)?
                .ok_or_else(|| {
                    DecideError::Conflict(format!("request {id} is no longer pending"))
                });
        }
        let mut map = self.lock();
        let Some(mut r) = map
            .get(id)
            .cloned()
            .filter(|r| r.state == RequestState::Pending)
        else {
            return Err(DecideError::Conflict(format!(
                "request {id} is no longer pending"
            )));
        };
        if r.approvals.iter().any(|a| a.by == who.user) {
            return Err(DecideError::Conflict(format!(
                "{} already approved {id} ({} of {} approvals)",
                who.user,
                r.approvals.len(),
                r.required
            )));
        }
        r.approvals.push(Approval {
            by: who.user.clone(),
            at: now(),
        });
        if r.approvals.len() < r.required {
            self.record(&r, "approval", Some(&who.user), reason)
                .map_err(unavailable)?;
            self.save(&mut map, r.clone(), &[]).map_err(unavailable)?;
            return Ok(r);
        }
        if r.mode == ApprovalMode::Ticket {
            r.ticket_expires_at = Some(now().saturating_add(micros(self.settings.ticket_ttl)));
        }
        // The last approval decides: saved with the ticket's expiry, then moved to approved.
        self.save(&mut map, r, &[]).map_err(unavailable)?;
        drop(map);
        self.finish(id, RequestState::Approved, Some(&who.user), reason)
            .map_err(unavailable)?
            .ok_or_else(|| DecideError::Conflict(format!("request {id} is no longer pending")))
    }

    /// A decision through a webhook link: the link's token must match, be unused and the
    /// request not expired; the approver is still authenticated and checked as for the API.
    pub fn decide_by_link(
        &self,
        id: &str,
        token: &str,
        who: &Identity,
        approve: bool,
        reason: Option<&str>,
    ) -> Result<ApprovalRequest, DecideError> {
        self.check_link(id, token)?;
        let decided = self.decide(id, who, approve, reason)?;
        let mut map = self.lock();
        if let Some(mut r) = map.get(id).cloned() {
            r.link_used = true;
            self.save(&mut map, r, &[])
                .map_err(DecideError::Unavailable)?;
        }
        Ok(decided)
    }

    /// Whether a link's token is good for request `id` now.
    pub fn check_link(&self, id: &str, token: &str) -> Result<ApprovalRequest, DecideError> {
        let r = self.get(id).ok_or(DecideError::NotFound)?;
        let good = crate::auth::constant_time_eq(
            sha256_hex(token.as_bytes()).as_bytes(),
            r.link_token_sha256.as_bytes(),
        );
        if !good {
            return Err(DecideError::Forbidden("this link is not valid".into()));
        }
        if r.link_used {
            return Err(DecideError::Forbidden(
                "this link has been used already; use the approvals page".into(),
            ));
        }
        if now() >= r.expires_at || r.state == RequestState::Expired {
            return Err(DecideError::Forbidden("this link has expired".into()));
        }
        Ok(r)
    }

    pub fn get(&self, id: &str) -> Option<ApprovalRequest> {
        self.lock().get(id).cloned()
    }

    /// Requests, newest first, optionally in one state.
    pub fn list(&self, state: Option<RequestState>) -> Vec<ApprovalRequest> {
        let mut v: Vec<ApprovalRequest> = self
            .lock()
            .values()
            .filter(|r| state.is_none_or(|s| r.state == s))
            .cloned()
            .collect();
        v.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        v
    }

    pub fn pending_count(&self) -> usize {
        self.lock()
            .values()
            .filter(|r| r.state == RequestState::Pending)
            .count()
    }

    fn expire(&self, id: &str) {
        if let Err(e) = self.finish(
            id,
            RequestState::Expired,
            None,
            Some("no decision before the approval timeout"),
        ) {
            tracing::error!(%id, error = %e, "could not expire an approval request");
        }
    }

    /// Expires pending requests past their time (the sweeper calls this every second).
    pub fn expire_due(&self) {
        let t = now();
        let due: Vec<String> = self
            .lock()
            .values()
            .filter(|r| r.state == RequestState::Pending && t >= r.expires_at)
            .map(|r| r.id.clone())
            .collect();
        for id in due {
            self.expire(&id);
        }
    }

    /// Blocks until request `id` is decided: `Ok` when approved, `Err` with the message for
    /// the client otherwise. Runs on the blocking pool.
    pub fn wait(&self, id: &str) -> Result<(), String> {
        let mut map = self.lock();
        loop {
            let Some(r) = map.get(id) else {
                return Err(format!(
                    "sluice: approval request {id} vanished; the statement was not run"
                ));
            };
            let left = r.expires_at - now();
            match r.state {
                RequestState::Approved | RequestState::Used => return Ok(()),
                RequestState::Pending if left <= 0 => {
                    drop(map);
                    self.expire(id);
                    map = self.lock();
                    if map
                        .get(id)
                        .is_some_and(|r| r.state == RequestState::Pending)
                    {
                        // The log could not record the expiry: still refuse.
                        return Err(format!(
                            "sluice: approval request {id} timed out; the statement was not run"
                        ));
                    }
                }
                RequestState::Pending => {
                    let wait = Duration::from_micros(u64::try_from(left).unwrap_or(0))
                        .min(Duration::from_secs(1));
                    map = self
                        .changed
                        .wait_timeout(map, wait)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
                state => return Err(refusal(r, state)),
            }
        }
    }

    /// A cancel for the session `hold_key`: its held request (if any) is withdrawn.
    pub fn withdraw_held(&self, hold_key: &str) -> bool {
        let ids: Vec<String> = self
            .lock()
            .values()
            .filter(|r| r.state == RequestState::Pending && r.hold_key.as_deref() == Some(hold_key))
            .map(|r| r.id.clone())
            .collect();
        let mut any = false;
        for id in ids {
            match self.finish(
                &id,
                RequestState::Cancelled,
                None,
                Some("the client cancelled the statement"),
            ) {
                Ok(r) => any |= r.is_some(),
                Err(e) => {
                    tracing::error!(%id, error = %e, "could not withdraw an approval request")
                }
            }
        }
        any
    }

    /// Ticket mode: redeems an approved ticket for this very statement, once.
    pub fn redeem(&self, n: &NewRequest<'_>) -> Result<Redeemed, String> {
        let fp = fingerprint(n);
        let t = now();
        let mut map = self.lock();
        let mine = |r: &&ApprovalRequest| r.fingerprint == fp && r.mode == ApprovalMode::Ticket;
        let approved = map
            .values()
            .filter(mine)
            .find(|r| {
                r.state == RequestState::Approved && r.ticket_expires_at.is_some_and(|e| t < e)
            })
            .cloned();
        if let Some(mut r) = approved {
            r.state = RequestState::Used;
            self.record(&r, "used", None, None)?;
            self.save(&mut map, r.clone(), &[])?;
            self.metrics
                .tickets_redeemed
                .fetch_add(1, Ordering::Relaxed);
            return Ok(Redeemed::Run(r));
        }
        let pending = map
            .values()
            .filter(mine)
            .find(|r| r.state == RequestState::Pending && t < r.expires_at)
            .cloned();
        Ok(pending.map_or(Redeemed::None, Redeemed::Pending))
    }

    /// Whether the proxy can take approval requests (for readiness).
    pub fn pending_deliveries(&self) -> Result<Vec<Delivery>, String> {
        self.store.deliveries()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }
}

/// The client's error for a request that ended without approval.
pub fn refusal(r: &ApprovalRequest, state: RequestState) -> String {
    match state {
        RequestState::Denied => format!(
            "sluice: statement denied by {} (approval {}): {}",
            r.decided_by.as_deref().unwrap_or("an approver"),
            r.id,
            r.decision_reason.as_deref().unwrap_or("no reason given")
        ),
        RequestState::Expired => format!(
            "sluice: approval request {} timed out with no decision; the statement was not run",
            r.id
        ),
        RequestState::Cancelled => format!(
            "sluice: approval request {} was withdrawn ({}); the statement was not run",
            r.id,
            r.decision_reason.as_deref().unwrap_or("cancelled")
        ),
        _ => format!("sluice: approval request {} is {}", r.id, state.as_str()),
    }
}

/// The approvals' counters, in Prometheus text format.
pub fn render_metrics(a: &Approvals) -> String {
    let m = &a.metrics;
    let v = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let mut out = String::new();
    out += "# HELP sluice_approvals_pending Statements waiting for approval.\n# TYPE sluice_approvals_pending gauge\n";
    out += &format!("sluice_approvals_pending {}\n", a.pending_count());
    out += "# HELP sluice_approvals_requested_total Approval requests created.\n# TYPE sluice_approvals_requested_total counter\n";
    out += &format!("sluice_approvals_requested_total {}\n", v(&m.requested));
    out += "# HELP sluice_approvals_decided_total Approval requests by outcome.\n# TYPE sluice_approvals_decided_total counter\n";
    for (outcome, c) in [
        ("approved", &m.approved),
        ("denied", &m.denied),
        ("expired", &m.expired),
        ("cancelled", &m.cancelled),
    ] {
        out += &format!(
            "sluice_approvals_decided_total{{outcome=\"{outcome}\"}} {}\n",
            v(c)
        );
    }
    out += "# HELP sluice_approval_tickets_redeemed_total Approved tickets whose statement ran.\n# TYPE sluice_approval_tickets_redeemed_total counter\n";
    out += &format!(
        "sluice_approval_tickets_redeemed_total {}\n",
        v(&m.tickets_redeemed)
    );
    out += "# HELP sluice_approval_decision_seconds Time from request to approval or denial.\n# TYPE sluice_approval_decision_seconds summary\n";
    out += &format!(
        "sluice_approval_decision_seconds_sum {:.6}\nsluice_approval_decision_seconds_count {}\n",
        v(&m.decision_micros_sum) as f64 / 1e6,
        v(&m.decisions)
    );
    out += "# HELP sluice_approval_webhooks_total Webhook delivery attempts by result.\n# TYPE sluice_approval_webhooks_total counter\n";
    out += &format!(
        "sluice_approval_webhooks_total{{result=\"delivered\"}} {}\nsluice_approval_webhooks_total{{result=\"failed\"}} {}\n",
        v(&m.webhook_deliveries),
        v(&m.webhook_failures)
    );
    out
}

/// Runs the expiry sweeper until the process ends.
pub fn spawn_sweeper(
    approvals: &Arc<Approvals>,
    tracker: &tokio_util::task::TaskTracker,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let a = Arc::clone(approvals);
    tracker.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                changed = shutdown.changed() => if changed.is_err() { break },
            }
            if *shutdown.borrow() {
                break;
            }
            let a = Arc::clone(&a);
            let _ = tokio::task::spawn_blocking(move || a.expire_due()).await;
        }
    });
}

#[cfg(test)]
mod tests;
