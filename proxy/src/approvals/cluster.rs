//! The approvals' store in the control PostgreSQL (`[cluster]`), shared by every instance.
//!
//! Each request is one row: its JSON (`data`, the same shape as in redb) plus the columns the
//! queries select on. Every change runs in one transaction that locks the row
//! (`SELECT … FOR UPDATE`), applies the same Rust rules as the redb store, writes the row and
//! the decision rows (primary key request + approver: nobody's approval counts twice, on any
//! instance), and `NOTIFY sluice_approvals` with the id, so the instance holding the client
//! hears of it when the transaction commits.
//!
//! Webhook deliveries are claimed with `FOR UPDATE SKIP LOCKED` and a lease: one instance sends
//! a delivery at a time, and an instance that dies mid-delivery leaves a lease another takes
//! over when it runs out. A delivery is marked done in its own row once acknowledged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_postgres::{Client, Transaction};

use super::store::Delivery;
use super::{ApprovalMode, ApprovalRequest, ApprovalsError, RequestState};
use crate::cluster::{ClusterError, ClusterSettings};

/// The channel every change is announced on (payload: the request id).
pub const CHANNEL: &str = "sluice_approvals";
/// Nothing the control database is asked may take longer: past it, the caller fails closed.
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// A claimed delivery is this instance's for so long (longer than a webhook request may take).
pub const LEASE: Duration = Duration::from_secs(15);
/// How often each instance forgets long-decided requests (and at start).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Forgets requests decided more than `KEEP_DECIDED` ago, as the redb store does at start.
pub async fn prune(c: &ControlStore) {
    let horizon = super::now() - super::micros(super::KEEP_DECIDED);
    match c.prune(horizon).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(requests = n, "forgot long-decided approval requests"),
        Err(e) => tracing::warn!(error = %e, "could not prune the control database"),
    }
}

fn mode_str(m: ApprovalMode) -> &'static str {
    match m {
        ApprovalMode::Hold => "hold",
        ApprovalMode::Ticket => "ticket",
    }
}

fn parse(text: &str) -> Result<ApprovalRequest, ClusterError> {
    Ok(serde_json::from_str(text)?)
}

/// The control database as the approvals see it.
pub struct ControlStore {
    pub settings: ClusterSettings,
    /// The connection for changes (one transaction at a time); reopened when lost.
    client: tokio::sync::Mutex<Option<Client>>,
    /// Whether the `LISTEN` connection is up (else the poller runs every second).
    pub listening: AtomicBool,
}

impl ControlStore {
    /// Connects, applies the migrations and registers this instance.
    pub async fn open(settings: ClusterSettings) -> Result<ControlStore, ClusterError> {
        let mut client = settings.connect().await?;
        let applied = crate::cluster::migrate(&mut client).await?;
        if !applied.is_empty() {
            tracing::info!(versions = ?applied, "control database schema migrated");
        }
        crate::cluster::heartbeat(&client, &settings.instance).await?;
        Ok(ControlStore {
            settings,
            client: tokio::sync::Mutex::new(Some(client)),
            listening: AtomicBool::new(false),
        })
    }

    pub fn instance(&self) -> &str {
        &self.settings.instance
    }

    /// Runs `op` with the shared connection, within [`QUERY_TIMEOUT`]. A connection that
    /// timed out is dropped (the server rolls back what it was doing) and the next operation
    /// opens a new one.
    async fn with<T>(
        &self,
        op: impl AsyncFnOnce(&mut Client) -> Result<T, ApprovalsError>,
    ) -> Result<T, ApprovalsError> {
        let too_slow = || {
            ApprovalsError::from(ClusterError::Other(format!(
                "no answer within {}s",
                QUERY_TIMEOUT.as_secs()
            )))
        };
        let mut guard = tokio::time::timeout(QUERY_TIMEOUT, self.client.lock())
            .await
            .map_err(|_| too_slow())?;
        let work = async {
            if guard.as_ref().is_none_or(Client::is_closed) {
                *guard = Some(self.settings.connect().await?);
            }
            let Some(client) = guard.as_mut() else {
                return Err(ClusterError::Other("no connection".into()).into());
            };
            op(client).await
        };
        let out = tokio::time::timeout(QUERY_TIMEOUT, work).await;
        if out.is_err() || guard.as_ref().is_some_and(Client::is_closed) {
            *guard = None;
        }
        out.unwrap_or_else(|_| Err(too_slow()))
    }

    /// Stores a new request and the deliveries it owes.
    pub async fn insert(
        &self,
        r: &ApprovalRequest,
        deliveries: &[Delivery],
    ) -> Result<(), ApprovalsError> {
        let data = serde_json::to_string(r).map_err(ClusterError::from)?;
        let holder = (r.mode == ApprovalMode::Hold).then(|| self.instance().to_string());
        self.with(async |c| {
            let tx = c.transaction().await.map_err(ClusterError::from)?;
            tx.execute(
                "INSERT INTO sluice_approval_requests (id, state, mode, fingerprint, holding_instance, \
                 created_at, expires_at, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb)",
                &[&r.id, &r.state.as_str(), &mode_str(r.mode), &r.fingerprint, &holder,
                  &r.created_at, &r.expires_at, &data],
            )
            .await
            .map_err(ClusterError::from)?;
            for d in deliveries {
                let hook = i32::try_from(d.webhook).unwrap_or(i32::MAX);
                tx.execute(
                    "INSERT INTO sluice_webhook_outbox (request_id, webhook, body, next_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&d.request_id, &hook, &d.body, &d.next_at, &d.expires_at],
                )
                .await
                .map_err(ClusterError::from)?;
            }
            notify(&tx, &r.id).await?;
            tx.commit().await.map_err(ClusterError::from)?;
            Ok(())
        })
        .await
    }

    /// Changes request `id` under its row lock: `f` says whether it changed anything.
    /// `None` when there is no such request.
    pub async fn change(
        &self,
        id: &str,
        f: impl FnOnce(&mut ApprovalRequest) -> Result<bool, ApprovalsError>,
    ) -> Result<Option<ApprovalRequest>, ApprovalsError> {
        let instance = self.instance().to_string();
        self.with(async |c| {
            let tx = c.transaction().await.map_err(ClusterError::from)?;
            let Some(row) = tx
                .query_opt(
                    "SELECT data::text FROM sluice_approval_requests WHERE id = $1 FOR UPDATE",
                    &[&id],
                )
                .await
                .map_err(ClusterError::from)?
            else {
                return Ok(None);
            };
            let mut r = parse(row.get(0))?;
            let before = r.clone();
            if f(&mut r)? {
                write(&tx, &r).await?;
                record_decisions(&tx, &before, &r, &instance).await?;
                notify(&tx, &r.id).await?;
                tx.commit().await.map_err(ClusterError::from)?;
            }
            Ok(Some(r))
        })
        .await
    }

    /// The approved, unused ticket for `fingerprint`, marked used (once, across instances)
    /// after `used` (its audit record) succeeds; else a pending request for it, if any.
    pub async fn redeem(
        &self,
        fingerprint: &str,
        now: i64,
        used: impl FnOnce(&ApprovalRequest) -> Result<(), ApprovalsError>,
    ) -> Result<super::Redeemed, ApprovalsError> {
        self.with(async |c| {
            let tx = c.transaction().await.map_err(ClusterError::from)?;
            let approved = tx
                .query_opt(
                    "SELECT data::text FROM sluice_approval_requests WHERE fingerprint = $1 \
                     AND mode = 'ticket' AND state = 'approved' AND NOT redeemed \
                     AND ticket_expires_at > $2 ORDER BY created_at LIMIT 1 FOR UPDATE",
                    &[&fingerprint, &now],
                )
                .await
                .map_err(ClusterError::from)?;
            if let Some(row) = approved {
                let mut r = parse(row.get(0))?;
                r.state = RequestState::Used;
                used(&r)?;
                let data = serde_json::to_string(&r).map_err(ClusterError::from)?;
                let n = tx
                    .execute(
                        "UPDATE sluice_approval_requests SET state = 'used', redeemed = true, \
                         updated_at = clock_timestamp(), data = $2::text::jsonb \
                         WHERE id = $1 AND state = 'approved' AND NOT redeemed",
                        &[&r.id, &data],
                    )
                    .await
                    .map_err(ClusterError::from)?;
                if n == 1 {
                    notify(&tx, &r.id).await?;
                    tx.commit().await.map_err(ClusterError::from)?;
                    return Ok(super::Redeemed::Run(r));
                }
            }
            let pending = tx
                .query_opt(
                    "SELECT data::text FROM sluice_approval_requests WHERE fingerprint = $1 \
                     AND mode = 'ticket' AND state = 'pending' AND expires_at > $2 \
                     ORDER BY created_at LIMIT 1",
                    &[&fingerprint, &now],
                )
                .await
                .map_err(ClusterError::from)?;
            Ok(match pending {
                Some(row) => super::Redeemed::Pending(parse(row.get(0))?),
                None => super::Redeemed::None,
            })
        })
        .await
    }

    /// Requests created after `since` (microseconds), for this instance's view.
    pub async fn load(&self, since: i64) -> Result<Vec<ApprovalRequest>, ApprovalsError> {
        self.rows(
            "SELECT data::text FROM sluice_approval_requests WHERE created_at > $1",
            &[&since],
        )
        .await
    }

    /// Requests changed lately, and those of `ids` (the ones this instance waits on).
    pub async fn changed_lately(
        &self,
        ids: &[String],
    ) -> Result<Vec<ApprovalRequest>, ApprovalsError> {
        self.rows(
            "SELECT data::text FROM sluice_approval_requests \
             WHERE updated_at > now() - interval '10 seconds' OR id = ANY($1)",
            &[&ids],
        )
        .await
    }

    pub async fn fetch(&self, id: &str) -> Result<Option<ApprovalRequest>, ApprovalsError> {
        Ok(self
            .rows(
                "SELECT data::text FROM sluice_approval_requests WHERE id = $1",
                &[&id],
            )
            .await?
            .pop())
    }

    async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<ApprovalRequest>, ApprovalsError> {
        self.with(async |c| {
            let rows = c.query(sql, params).await.map_err(ClusterError::from)?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                match parse(row.get(0)) {
                    Ok(r) => out.push(r),
                    Err(e) => tracing::error!(error = %e, "unreadable approval request in the control database"),
                }
            }
            Ok(out)
        })
        .await
    }

    /// Pending `hold` requests held by `instance`, or (with `None`) by any instance silent
    /// for longer than `instance_timeout`.
    pub async fn held_by(&self, instance: Option<&str>) -> Result<Vec<String>, ApprovalsError> {
        let timeout = self.settings.instance_timeout.as_secs_f64();
        self.with(async |c| {
            let rows = match instance {
                Some(name) => {
                    c.query(
                        "SELECT id FROM sluice_approval_requests \
                         WHERE state = 'pending' AND mode = 'hold' AND holding_instance = $1",
                        &[&name],
                    )
                    .await
                }
                None => {
                    c.query(
                        "SELECT r.id FROM sluice_approval_requests r \
                         JOIN sluice_instances i ON i.name = r.holding_instance \
                         WHERE r.state = 'pending' AND r.mode = 'hold' \
                         AND i.last_seen < now() - $1 * interval '1 second'",
                        &[&timeout],
                    )
                    .await
                }
            }
            .map_err(ClusterError::from)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
        .await
    }

    /// Forgets requests decided before `horizon` (microseconds), with their decisions and
    /// deliveries; pending ones stay whatever their age. Returns how many went.
    pub async fn prune(&self, horizon: i64) -> Result<u64, ApprovalsError> {
        self.with(async |c| {
            Ok(c.execute(
                "DELETE FROM sluice_approval_requests WHERE state <> 'pending' \
                 AND updated_at < to_timestamp($1::float8 / 1000000)",
                &[&(horizon as f64)],
            )
            .await
            .map_err(ClusterError::from)?)
        })
        .await
    }

    pub async fn heartbeat(&self) -> Result<(), ApprovalsError> {
        let name = self.instance().to_string();
        self.with(async |c| Ok(crate::cluster::heartbeat(c, &name).await?))
            .await
    }

    /// Claims the deliveries that are due and not leased (or whose lease ran out) for
    /// [`LEASE`]. Deliveries of requests no longer pending, or past their expiry, are closed.
    pub async fn claim(&self, now: i64) -> Result<Vec<Delivery>, ApprovalsError> {
        let me = self.instance().to_string();
        let lease = LEASE.as_secs_f64();
        self.with(async |c| {
            let tx = c.transaction().await.map_err(ClusterError::from)?;
            tx.execute(
                "UPDATE sluice_webhook_outbox SET done_at = now(), outcome = \
                 CASE WHEN expires_at <= $1 THEN 'expired' ELSE 'dropped' END, claimed_by = NULL \
                 WHERE (request_id, webhook) IN (SELECT o.request_id, o.webhook \
                   FROM sluice_webhook_outbox o JOIN sluice_approval_requests r ON r.id = o.request_id \
                   WHERE o.done_at IS NULL AND (o.expires_at <= $1 OR r.state <> 'pending') \
                   AND (o.claimed_by IS NULL OR o.lease_until < now()) \
                   FOR UPDATE OF o SKIP LOCKED)",
                &[&now],
            )
            .await
            .map_err(ClusterError::from)?;
            let rows = tx
                .query(
                    "UPDATE sluice_webhook_outbox SET claimed_by = $1, \
                     lease_until = now() + $2 * interval '1 second' \
                     WHERE (request_id, webhook) IN (SELECT request_id, webhook FROM sluice_webhook_outbox \
                       WHERE done_at IS NULL AND next_at <= $3 \
                       AND (claimed_by IS NULL OR lease_until < now()) \
                       ORDER BY next_at LIMIT 20 FOR UPDATE SKIP LOCKED) \
                     RETURNING request_id, webhook, body, attempts, next_at, expires_at",
                    &[&me, &lease, &now],
                )
                .await
                .map_err(ClusterError::from)?;
            tx.commit().await.map_err(ClusterError::from)?;
            Ok(rows
                .iter()
                .map(|row| Delivery {
                    request_id: row.get(0),
                    webhook: usize::try_from(row.get::<_, i32>(1)).unwrap_or(usize::MAX),
                    body: row.get(2),
                    attempts: u32::try_from(row.get::<_, i32>(3)).unwrap_or(0),
                    next_at: row.get(4),
                    expires_at: row.get(5),
                })
                .collect())
        })
        .await
    }

    /// A claimed delivery was acknowledged (`outcome` "delivered"), given up, or is to be
    /// retried at `d.next_at` (`outcome` `None`). Only the claimant's claim counts.
    pub async fn settle(&self, d: &Delivery, outcome: Option<&str>) -> Result<(), ApprovalsError> {
        let me = self.instance().to_string();
        let hook = i32::try_from(d.webhook).unwrap_or(i32::MAX);
        let attempts = i32::try_from(d.attempts).unwrap_or(i32::MAX);
        self.with(async |c| {
            let n = match outcome {
                Some(outcome) => c
                    .execute(
                        "UPDATE sluice_webhook_outbox SET done_at = now(), outcome = $4, \
                         delivered_by = $3, attempts = $5, claimed_by = NULL \
                         WHERE request_id = $1 AND webhook = $2 AND claimed_by = $3 AND done_at IS NULL",
                        &[&d.request_id, &hook, &me, &outcome, &attempts],
                    )
                    .await,
                None => c
                    .execute(
                        "UPDATE sluice_webhook_outbox SET attempts = $4, next_at = $5, \
                         claimed_by = NULL, lease_until = NULL \
                         WHERE request_id = $1 AND webhook = $2 AND claimed_by = $3 AND done_at IS NULL",
                        &[&d.request_id, &hook, &me, &attempts, &d.next_at],
                    )
                    .await,
            }
            .map_err(ClusterError::from)?;
            if n == 0 {
                tracing::warn!(id = %d.request_id, "webhook delivery settled after its lease was taken over");
            }
            Ok(())
        })
        .await
    }
}

async fn notify(tx: &Transaction<'_>, id: &str) -> Result<(), ApprovalsError> {
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &id])
        .await
        .map_err(ClusterError::from)?;
    Ok(())
}

async fn write(tx: &Transaction<'_>, r: &ApprovalRequest) -> Result<(), ApprovalsError> {
    let data = serde_json::to_string(r).map_err(ClusterError::from)?;
    tx.execute(
        "UPDATE sluice_approval_requests SET state = $2, ticket_expires_at = $3, \
         redeemed = $4, updated_at = clock_timestamp(), data = $5::text::jsonb WHERE id = $1",
        &[
            &r.id,
            &r.state.as_str(),
            &r.ticket_expires_at,
            &(r.state == RequestState::Used),
            &data,
        ],
    )
    .await
    .map_err(ClusterError::from)?;
    Ok(())
}

/// The approvals and the denial `f` added, as rows keyed by request and approver: a second
/// approval by the same person fails the transaction whatever the instance.
async fn record_decisions(
    tx: &Transaction<'_>,
    before: &ApprovalRequest,
    after: &ApprovalRequest,
    instance: &str,
) -> Result<(), ApprovalsError> {
    let insert =
        "INSERT INTO sluice_approval_decisions (request_id, approver, approve, reason, instance) \
                  VALUES ($1, $2, $3, $4, $5)";
    for a in &after.approvals {
        if !before.approvals.iter().any(|b| b.by == a.by) {
            let reason = (after.state == RequestState::Approved
                && after.decided_by.as_deref() == Some(a.by.as_str()))
            .then_some(after.decision_reason.clone())
            .flatten();
            tx.execute(insert, &[&after.id, &a.by, &true, &reason, &instance])
                .await
                .map_err(ClusterError::from)?;
        }
    }
    if after.state == RequestState::Denied && before.state != RequestState::Denied {
        if let Some(by) = &after.decided_by {
            // One who approved earlier may still deny: the denial replaces their row.
            tx.execute(
                "INSERT INTO sluice_approval_decisions (request_id, approver, approve, reason, instance) \
                 VALUES ($1, $2, false, $3, $4) ON CONFLICT (request_id, approver) DO UPDATE \
                 SET approve = false, reason = $3, instance = $4, decided_at = now()",
                &[&after.id, by, &after.decision_reason, &instance],
            )
            .await
            .map_err(ClusterError::from)?;
        }
    }
    Ok(())
}

impl ControlStore {
    pub fn set_listening(&self, up: bool) {
        self.listening.store(up, Ordering::Relaxed);
    }
}

/// This instance's background work with `[cluster]`: the `LISTEN` connection that hears of
/// every change at once, the poller that catches up when it is down, and the heartbeat that
/// also marks requests held by dead instances abandoned.
pub fn spawn_tasks(
    approvals: &std::sync::Arc<super::Approvals>,
    tracker: &tokio_util::task::TaskTracker,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let a = std::sync::Arc::clone(approvals);
    let mut stop = shutdown.clone();
    tracker.spawn(async move {
        tokio::select! {
            _ = listen(&a) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    });
    let a = std::sync::Arc::clone(approvals);
    let mut stop = shutdown.clone();
    tracker.spawn(async move {
        tokio::select! {
            _ = poll(&a) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    });
    let a = std::sync::Arc::clone(approvals);
    let mut stop = shutdown;
    tracker.spawn(async move {
        tokio::select! {
            _ = beat(&a) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    });
}

/// Reads one changed request into this instance's view.
async fn refresh(a: &super::Approvals, c: &ControlStore, id: &str) {
    match c.fetch(id).await {
        Ok(Some(r)) => a.cache(r),
        Ok(None) => {}
        Err(e) => tracing::warn!(%id, error = %e, "could not read a changed approval request"),
    }
}

/// `LISTEN sluice_approvals`, reconnecting a second after the connection is lost.
async fn listen(a: &super::Approvals) {
    let Some(c) = a.control() else { return };
    loop {
        match c.settings.connect_listening().await {
            Ok((client, mut notes)) => {
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    Ok(()) => {
                        c.set_listening(true);
                        tracing::info!("listening for approval decisions from other instances");
                        // Changes made while nobody listened.
                        catch_up(a, c).await;
                        while let Some(n) = notes.recv().await {
                            refresh(a, c, n.payload()).await;
                        }
                        c.set_listening(false);
                        tracing::warn!("LISTEN connection to the control database lost; polling until it is back");
                    }
                    Err(e) => tracing::warn!(error = %e, "LISTEN failed"),
                }
            }
            Err(e) => {
                c.set_listening(false);
                tracing::warn!(error = %e, "cannot open the LISTEN connection to the control database");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Reads the requests changed lately and those this instance still shows pending.
async fn catch_up(a: &super::Approvals, c: &ControlStore) {
    let pending: Vec<String> = a
        .list(Some(RequestState::Pending))
        .into_iter()
        .map(|r| r.id)
        .collect();
    match c.changed_lately(&pending).await {
        Ok(rows) => rows.into_iter().for_each(|r| a.cache(r)),
        Err(e) => tracing::warn!(error = %e, "could not poll the control database"),
    }
}

/// Every second while `LISTEN` is down, and every 10 s regardless (a lost notification).
async fn poll(a: &super::Approvals) {
    let Some(c) = a.control() else { return };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        if !c.listening.load(Ordering::Relaxed) || n.is_multiple_of(10) {
            catch_up(a, c).await;
        }
    }
}

/// The heartbeat, and abandoning the held requests of instances silent past their timeout.
async fn beat(a: &std::sync::Arc<super::Approvals>) {
    let Some(c) = a.control() else { return };
    let mut tick = tokio::time::interval(c.settings.heartbeat);
    let mut pruned = std::time::Instant::now();
    loop {
        tick.tick().await;
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = std::time::Instant::now();
            prune(c).await;
        }
        if let Err(e) = c.heartbeat().await {
            tracing::warn!(error = %e, "control database heartbeat failed");
            continue;
        }
        match c.held_by(None).await {
            Ok(ids) if !ids.is_empty() => {
                let a = std::sync::Arc::clone(a);
                let _ =
                    tokio::task::spawn_blocking(move || ids.iter().for_each(|id| a.abandon(id)))
                        .await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not look for abandoned requests"),
        }
    }
}
