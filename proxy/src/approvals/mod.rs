//! Approvals (`[approvals]`): a statement a rule sends to `review` runs only once enough
//! approvers have said yes.
//!
//! - In `hold` mode the client's statement waits (off the async threads) until it is decided,
//!   expires or the client cancels it; in `ticket` mode the client gets an error carrying a
//!   ticket id at once, and the identical statement (same user, target, canonical text and
//!   parameters) runs exactly once after approval, within `ticket_ttl`.
//! - Requests live in a redb file next to a webhook outbox, so tickets and undelivered
//!   webhooks survive a restart; every state change is an audit record. With `[cluster]` they
//!   live in the control PostgreSQL instead (`cluster`), shared by every instance; this
//!   instance keeps a view of them in memory, refreshed by `LISTEN/NOTIFY` and polling.
//! - Approvers are sluice users in `approver_groups`; a requester never approves their own
//!   request, and one person's approval counts once.
//!
//! Protocol-neutral: the statement gate calls it; the admin routes (`routes`) and the webhook
//! worker (`webhook`) drive it from outside.

pub mod cluster;
mod error;
mod metrics;
mod page;
mod request;
pub mod routes;
mod settings;
mod store;
pub mod webhook;

use std::collections::HashMap;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::auth::Identity;
pub use crate::config::{ApprovalMode, WebhookFormat};
use crate::recorder::Auditor;
pub use error::{ApprovalsError, StoreError};
pub use metrics::{render_metrics, ApprovalMetrics};
pub use request::{
    refusal, Approval, ApprovalRequest, DecideError, NewRequest, Redeemed, RequestState,
};
pub use settings::{Settings, Webhook};
use store::{Delivery, Store};

/// Decided requests are kept this long (for the page and the API), then forgotten.
const KEEP_DECIDED: Duration = Duration::from_secs(7 * 24 * 3600);

/// Where requests are kept.
enum Backend {
    /// This instance's redb file.
    Local(Store),
    /// The control PostgreSQL shared by the cluster.
    Cluster(Arc<cluster::ControlStore>),
}

/// Runs a control-database operation from synchronous code: on a blocking-pool thread as it
/// is, on an async worker after handing that worker's other tasks to another thread.
fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// Whether `new` (read from the control database) is at least as far along as `old`, so a
/// late read never rolls this instance's view back.
fn not_older(new: &ApprovalRequest, old: &ApprovalRequest) -> bool {
    let rank = |r: &ApprovalRequest| match r.state {
        RequestState::Pending => 0,
        RequestState::Approved => 1,
        _ => 2,
    };
    rank(new) >= rank(old)
        && new.approvals.len() >= old.approvals.len()
        && (new.link_used || !old.link_used)
}

/// The approvals of a running proxy.
pub struct Approvals {
    settings: std::sync::RwLock<Arc<Settings>>,
    backend: Backend,
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

/// What makes two statements "identical" for a ticket. The rule is part of it: a statement
/// judged under another rule (a reload, or text that reads differently) is not the one approved.
fn fingerprint(r: &NewRequest<'_>) -> String {
    let mut h = Sha256::new();
    for part in [
        r.user,
        r.target,
        r.rule,
        &policy::canonical_text(r.dialect, r.sql),
    ] {
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
    ) -> Result<Arc<Approvals>, ApprovalsError> {
        let store = Store::open(&settings.dir)?;
        let settings = std::sync::RwLock::new(Arc::new(settings));
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
            backend: Backend::Local(store),
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

    /// Opens the shared store of `[cluster]`: connects, migrates, registers this instance, and
    /// cancels the held requests this instance left pending when it last stopped.
    pub async fn open_cluster(
        settings: Settings,
        cluster: crate::cluster::ClusterSettings,
        auditor: Option<Arc<Auditor>>,
    ) -> Result<Arc<Approvals>, ApprovalsError> {
        if tokio::runtime::Handle::current().runtime_flavor()
            != tokio::runtime::RuntimeFlavor::MultiThread
        {
            // `block` hands a worker's tasks to another thread, which needs several.
            return Err(crate::cluster::ClusterError::Other(
                "[cluster] needs the multi-threaded runtime".into(),
            )
            .into());
        }
        let store = Arc::new(cluster::ControlStore::open(cluster).await?);
        cluster::prune(&store).await;
        let mut map = HashMap::new();
        for r in store.load(now() - micros(KEEP_DECIDED)).await? {
            map.insert(r.id.clone(), r);
        }
        let orphans = store.held_by(Some(store.instance())).await?;
        let a = Arc::new(Approvals {
            settings: std::sync::RwLock::new(Arc::new(settings)),
            backend: Backend::Cluster(store),
            requests: Mutex::new(map),
            changed: Condvar::new(),
            auditor,
            metrics: ApprovalMetrics::default(),
            outbox: tokio::sync::Notify::new(),
        });
        let b = Arc::clone(&a);
        tokio::task::spawn_blocking(move || {
            for id in orphans {
                if let Err(e) = b.finish(
                    &id,
                    RequestState::Cancelled,
                    None,
                    Some("sluice restarted while the statement was held; its client connection is gone"),
                ) {
                    tracing::error!(%id, error = %e, "could not cancel a request left held by this instance");
                }
            }
        })
        .await
        .map_err(|e| crate::cluster::ClusterError::Other(e.to_string()))?;
        Ok(a)
    }

    /// The control store, with `[cluster]`.
    pub fn control(&self) -> Option<&Arc<cluster::ControlStore>> {
        match &self.backend {
            Backend::Cluster(c) => Some(c),
            Backend::Local(_) => None,
        }
    }

    /// Takes a request as the control database has it into this instance's view.
    pub fn cache(&self, r: ApprovalRequest) {
        let mut map = self.lock();
        if map.get(&r.id).is_none_or(|old| not_older(&r, old)) {
            map.insert(r.id.clone(), r);
            self.changed.notify_all();
        }
    }

    /// Changes request `id` atomically (under the map's lock locally, under its row lock in
    /// the control database): `f` says whether it changed anything, and its error aborts the
    /// change. `None` when there is no such request.
    fn change(
        &self,
        id: &str,
        f: impl FnOnce(&mut ApprovalRequest) -> Result<bool, ApprovalsError>,
    ) -> Result<Option<ApprovalRequest>, ApprovalsError> {
        match &self.backend {
            Backend::Local(store) => {
                let mut map = self.lock();
                let Some(mut r) = map.get(id).cloned() else {
                    return Ok(None);
                };
                if f(&mut r)? {
                    store.put(&r, &[])?;
                    map.insert(r.id.clone(), r.clone());
                    self.changed.notify_all();
                }
                Ok(Some(r))
            }
            Backend::Cluster(c) => {
                let r = block(c.change(id, f))?;
                if let Some(r) = &r {
                    // As committed just now: the newest there is, even where it goes back
                    // (a link released after a refused decision).
                    self.lock().insert(r.id.clone(), r.clone());
                    self.changed.notify_all();
                }
                Ok(r)
            }
        }
    }

    /// The settings in force (a reload may replace them).
    pub fn settings(&self) -> Arc<Settings> {
        Arc::clone(&self.settings.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Swaps in reloaded settings. New requests follow them; pending ones keep their expiry
    /// and the approvals they need. The store's directory cannot change while running.
    pub fn replace_settings(&self, settings: Settings) -> Result<(), ApprovalsError> {
        if settings.dir != self.settings().dir {
            return Err(ApprovalsError::DirChanged);
        }
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        Ok(())
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
    ) -> Result<(), ApprovalsError> {
        let Some(auditor) = &self.auditor else {
            return Ok(());
        };
        let mut d = audit::Draft::new(
            r.session,
            r.target.as_str(),
            r.user.as_str(),
            audit::RecordBody::Approval {
                approval_id: r.id.clone(),
                event: event.into(),
                by: by.map(str::to_string),
                reason: reason.map(str::to_string),
            },
        );
        d.groups = r.groups.as_slice().into();
        d.client_addr = r.client_addr.as_str().into();
        auditor.log().record(d)?;
        Ok(())
    }

    /// Stores a new request `r` with its deliveries and makes it visible.
    fn save(&self, r: ApprovalRequest, deliveries: &[Delivery]) -> Result<(), ApprovalsError> {
        match &self.backend {
            Backend::Local(store) => {
                let mut map = self.lock();
                store.put(&r, deliveries)?;
                map.insert(r.id.clone(), r);
                self.changed.notify_all();
            }
            Backend::Cluster(c) => {
                block(c.insert(&r, deliveries))?;
                self.cache(r);
            }
        }
        Ok(())
    }

    /// A session's cancel handle, made unique across the cluster (session ids are not).
    fn hold_key(&self, key: &str) -> String {
        match &self.backend {
            Backend::Local(_) => key.to_string(),
            Backend::Cluster(c) => format!("{}/{key}", c.instance()),
        }
    }

    /// Asks for approval: the request is stored, recorded and its webhooks queued before this
    /// returns. `Err` (the statement must then not run) when any of that fails.
    pub fn request(&self, n: NewRequest<'_>) -> Result<ApprovalRequest, ApprovalsError> {
        let created = now();
        let token = random_hex(24);
        let r = ApprovalRequest {
            id: format!("apr_{}", random_hex(8)),
            mode: self.settings().mode,
            state: RequestState::Pending,
            target: n.target.into(),
            user: n.user.into(),
            groups: n.groups.to_vec(),
            client_addr: n.client_addr.into(),
            statement: n.masked.clone(),
            rule: n.rule.into(),
            reason: n.reason.map(str::to_string),
            created_at: created,
            expires_at: created.saturating_add(micros(self.settings().timeout)),
            required: self.settings().required,
            approvals: Vec::new(),
            decided_by: None,
            decision_reason: None,
            decided_at: None,
            ticket_expires_at: None,
            session: n.session,
            fingerprint: fingerprint(&n),
            link_token_sha256: sha256_hex(token.as_bytes()),
            link_used: false,
            hold_key: n.hold_key.as_deref().map(|k| self.hold_key(k)),
        };
        let deliveries: Vec<Delivery> = self
            .settings()
            .webhooks
            .iter()
            .enumerate()
            .map(|(i, w)| Delivery {
                request_id: r.id.clone(),
                webhook: i,
                body: webhook::body(&self.settings(), w.format, &r, &token),
                attempts: 0,
                next_at: created,
                expires_at: r.expires_at,
            })
            .collect();
        self.record(&r, "requested", None, r.reason.as_deref())?;
        self.save(r.clone(), &deliveries)?;
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
    ) -> Result<Option<ApprovalRequest>, ApprovalsError> {
        let at = now();
        let mut moved = false;
        let r = self.change(id, |r| {
            if r.state != RequestState::Pending {
                return Ok(false);
            }
            r.state = state;
            r.decided_by = by.map(str::to_string);
            r.decision_reason = reason.map(str::to_string);
            r.decided_at = Some(at);
            self.record(r, state.as_str(), by, reason)?;
            moved = true;
            Ok(true)
        })?;
        let Some(r) = r.filter(|_| moved) else {
            return Ok(None);
        };
        self.count(&r, at);
        tracing::info!(%id, state = state.as_str(), by = by.unwrap_or("-"), "approval request decided");
        Ok(Some(r))
    }

    /// The metrics of a request that has just reached its final state.
    fn count(&self, r: &ApprovalRequest, at: i64) {
        let m = &self.metrics;
        let counter = match r.state {
            RequestState::Approved => &m.approved,
            RequestState::Denied => &m.denied,
            RequestState::Expired => &m.expired,
            RequestState::Abandoned => &m.abandoned,
            _ => &m.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if matches!(r.state, RequestState::Approved | RequestState::Denied) {
            m.decisions.fetch_add(1, Ordering::Relaxed);
            m.decision_micros_sum.fetch_add(
                u64::try_from(at - r.created_at).unwrap_or(0),
                Ordering::Relaxed,
            );
        }
    }

    /// Whether `who` may act on approvals at all.
    pub fn is_approver(&self, who: &Identity) -> bool {
        who.groups
            .iter()
            .any(|g| self.settings().approver_groups.contains(g))
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
                who.user,
                self.settings().approver_groups
            )));
        }
        let at = now();
        let ticket_ttl = micros(self.settings().ticket_ttl);
        let mut verdict = Err(DecideError::NotFound);
        let r = self
            .change(id, |r| {
                let (changed, v) = self.apply_decision(r, who, approve, reason, at, ticket_ttl)?;
                verdict = v;
                Ok(changed)
            })
            .map_err(|e| DecideError::Unavailable(e.to_string()))?
            .ok_or(DecideError::NotFound)?;
        let state = verdict?;
        if state != RequestState::Pending {
            self.count(&r, at);
            tracing::info!(%id, state = state.as_str(), by = %who.user, "approval request decided");
        }
        Ok(r)
    }

    /// `who`'s decision on `r` at `at`, with its audit record: whether `r` changed, and the
    /// state it is in now or why the decision was refused.
    fn apply_decision(
        &self,
        r: &mut ApprovalRequest,
        who: &Identity,
        approve: bool,
        reason: Option<&str>,
        at: i64,
        ticket_ttl: i64,
    ) -> Result<(bool, Result<RequestState, DecideError>), ApprovalsError> {
        let id = r.id.clone();
        if r.state == RequestState::Pending && at >= r.expires_at {
            let why = "no decision before the approval timeout";
            self.settle(r, RequestState::Expired, None, Some(why), at)?;
            let no = DecideError::Conflict(format!("request {id} is expired, not pending"));
            return Ok((true, Err(no)));
        }
        if r.state != RequestState::Pending {
            let no = format!("request {id} is {}, not pending", r.state.as_str());
            return Ok((false, Err(DecideError::Conflict(no))));
        }
        if r.user == who.user {
            let no = "a requester cannot approve or deny their own request";
            return Ok((false, Err(DecideError::Forbidden(no.into()))));
        }
        if !approve {
            let Some(reason) = reason else {
                let no = "a denial needs a reason: the client is told it";
                return Ok((false, Err(DecideError::BadRequest(no.into()))));
            };
            self.settle(r, RequestState::Denied, Some(&who.user), Some(reason), at)?;
            return Ok((true, Ok(RequestState::Denied)));
        }
        if r.approvals.iter().any(|a| a.by == who.user) {
            let no = format!(
                "{} already approved {id} ({} of {} approvals)",
                who.user,
                r.approvals.len(),
                r.required
            );
            return Ok((false, Err(DecideError::Conflict(no))));
        }
        r.approvals.push(Approval {
            by: who.user.clone(),
            at,
        });
        if r.approvals.len() < r.required {
            self.record(r, "approval", Some(&who.user), reason)?;
            return Ok((true, Ok(RequestState::Pending)));
        }
        if r.mode == ApprovalMode::Ticket {
            r.ticket_expires_at = Some(at.saturating_add(ticket_ttl));
        }
        self.settle(r, RequestState::Approved, Some(&who.user), reason, at)?;
        Ok((true, Ok(RequestState::Approved)))
    }

    /// Puts `r` in its final `state`, with the audit record.
    fn settle(
        &self,
        r: &mut ApprovalRequest,
        state: RequestState,
        by: Option<&str>,
        reason: Option<&str>,
        at: i64,
    ) -> Result<(), ApprovalsError> {
        r.state = state;
        r.decided_by = by.map(str::to_string);
        r.decision_reason = reason.map(str::to_string);
        r.decided_at = Some(at);
        self.record(r, state.as_str(), by, reason)
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
        let unavailable = |e: ApprovalsError| DecideError::Unavailable(e.to_string());
        // The link is taken before the decision, atomically, so that two people using it at
        // the same moment (on two instances) cannot both decide with it.
        let mut taken = false;
        self.change(id, |r| {
            taken = !r.link_used;
            r.link_used = true;
            Ok(taken)
        })
        .map_err(unavailable)?;
        if !taken {
            return Err(DecideError::Forbidden(
                "this link has been used already; use the approvals page".into(),
            ));
        }
        self.decide(id, who, approve, reason).inspect_err(|_| {
            // Not decided: the link stays good, as if it had not been tried.
            let released = self.change(id, |r| {
                r.link_used = false;
                Ok(true)
            });
            if let Err(e) = released {
                tracing::warn!(%id, error = %e, "a webhook link stays marked used after a refused decision");
            }
        })
    }

    /// Whether a link's token is good for request `id` now.
    pub fn check_link(&self, id: &str, token: &str) -> Result<ApprovalRequest, DecideError> {
        let r = self.fresh(id)?.ok_or(DecideError::NotFound)?;
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

    /// Request `id` as stored now: with `[cluster]` read from the control database (another
    /// instance may have used a link a moment ago), else this instance's view.
    fn fresh(&self, id: &str) -> Result<Option<ApprovalRequest>, DecideError> {
        let Backend::Cluster(c) = &self.backend else {
            return Ok(self.get(id));
        };
        let r = block(c.fetch(id)).map_err(|e| DecideError::Unavailable(e.to_string()))?;
        if let Some(r) = &r {
            self.cache(r.clone());
        }
        Ok(r)
    }

    /// Request `id`; with `[cluster]`, one this instance has not heard of yet is read from
    /// the control database.
    pub fn get(&self, id: &str) -> Option<ApprovalRequest> {
        if let Some(r) = self.lock().get(id).cloned() {
            return Some(r);
        }
        let Backend::Cluster(c) = &self.backend else {
            return None;
        };
        match block(c.fetch(id)) {
            Ok(Some(r)) => {
                self.cache(r.clone());
                Some(r)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(%id, error = %e, "approval request unreadable from the control database");
                None
            }
        }
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
        self.withdraw_held_because(hold_key, "the client cancelled the statement")
    }

    /// The session `hold_key`'s held request (if any) is withdrawn, `why` recorded with it.
    pub fn withdraw_held_because(&self, hold_key: &str, why: &str) -> bool {
        let hold_key = self.hold_key(hold_key);
        self.withdraw_where(|key| key == hold_key, why)
    }

    /// Every statement this instance holds is withdrawn: sluice is stopping, and a wait for a
    /// person must not keep it from stopping (nor run a statement while it stops).
    pub fn withdraw_all_held(&self, why: &str) -> bool {
        let mine = self.hold_key("");
        self.withdraw_where(|key| key.starts_with(&mine), why)
    }

    fn withdraw_where(&self, held_by: impl Fn(&str) -> bool, why: &str) -> bool {
        let ids: Vec<String> = self
            .lock()
            .values()
            // A ticket is not held by a session: it outlives the session and the process.
            .filter(|r| r.mode == ApprovalMode::Hold && r.state == RequestState::Pending)
            .filter(|r| r.hold_key.as_deref().is_some_and(&held_by))
            .map(|r| r.id.clone())
            .collect();
        let mut any = false;
        for id in ids {
            match self.finish(&id, RequestState::Cancelled, None, Some(why)) {
                Ok(r) => any |= r.is_some(),
                Err(e) => {
                    tracing::error!(%id, error = %e, "could not withdraw an approval request")
                }
            }
        }
        any
    }

    /// Ticket mode: redeems an approved ticket for this very statement, once (across the
    /// cluster, with `[cluster]`).
    pub fn redeem(&self, n: &NewRequest<'_>) -> Result<Redeemed, ApprovalsError> {
        let fp = fingerprint(n);
        let t = now();
        let Backend::Local(store) = &self.backend else {
            return self.redeem_shared(&fp, t);
        };
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
            store.put(&r, &[])?;
            map.insert(r.id.clone(), r.clone());
            self.changed.notify_all();
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

    /// `redeem` against the control database: a conditional update there lets exactly one
    /// instance run the ticket.
    fn redeem_shared(&self, fp: &str, t: i64) -> Result<Redeemed, ApprovalsError> {
        let Backend::Cluster(c) = &self.backend else {
            return Ok(Redeemed::None);
        };
        let out = block(c.redeem(fp, t, |r| self.record(r, "used", None, None)))?;
        match &out {
            Redeemed::Run(r) => {
                self.cache(r.clone());
                self.metrics
                    .tickets_redeemed
                    .fetch_add(1, Ordering::Relaxed);
            }
            Redeemed::Pending(r) => self.cache(r.clone()),
            Redeemed::None => {}
        }
        Ok(out)
    }

    /// Deliveries to attempt now: locally every one still owed; with `[cluster]` those this
    /// instance has just claimed.
    pub async fn outbox_due(self: &Arc<Self>) -> Result<Vec<Delivery>, ApprovalsError> {
        match &self.backend {
            Backend::Local(_) => {
                let a = Arc::clone(self);
                tokio::task::spawn_blocking(move || a.pending_deliveries())
                    .await
                    .unwrap_or_else(|e| {
                        Err(crate::cluster::ClusterError::Other(e.to_string()).into())
                    })
            }
            Backend::Cluster(c) => c.claim(now()).await,
        }
    }

    /// A delivery is done (`outcome`: delivered, expired, dropped) or, with `None`, to be
    /// retried at `d.next_at`.
    pub async fn outbox_settle(
        self: &Arc<Self>,
        d: &Delivery,
        outcome: Option<&'static str>,
    ) -> Result<(), ApprovalsError> {
        match &self.backend {
            Backend::Local(_) => {
                let (a, d) = (Arc::clone(self), d.clone());
                tokio::task::spawn_blocking(move || {
                    let Backend::Local(store) = &a.backend else {
                        return Ok(());
                    };
                    Ok(match outcome {
                        Some(_) => store.remove_delivery(&d.key()),
                        None => store.update_delivery(&d),
                    }?)
                })
                .await
                .unwrap_or_else(|e| Err(crate::cluster::ClusterError::Other(e.to_string()).into()))
            }
            Backend::Cluster(c) => c.settle(d, outcome).await,
        }
    }

    /// Every delivery still owed (this instance's redb outbox).
    pub fn pending_deliveries(&self) -> Result<Vec<Delivery>, ApprovalsError> {
        match &self.backend {
            Backend::Local(store) => Ok(store.deliveries()?),
            Backend::Cluster(_) => Ok(Vec::new()),
        }
    }

    /// A held request whose instance stopped answering: marked abandoned.
    pub fn abandon(&self, id: &str) {
        let why = "the sluice instance holding the statement stopped answering; its client connection is gone";
        if let Err(e) = self.finish(id, RequestState::Abandoned, None, Some(why)) {
            tracing::error!(%id, error = %e, "could not mark an approval request abandoned");
        }
    }
}

/// Runs the expiry sweeper (and with `[cluster]` the listener, poller and heartbeat) until
/// the process ends.
pub fn spawn_sweeper(
    approvals: &Arc<Approvals>,
    tracker: &tokio_util::task::TaskTracker,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    if approvals.control().is_some() {
        cluster::spawn_tasks(approvals, tracker, shutdown.clone());
    }
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
