//! Central audit: ships each instance's local audit log to the sinks of `[[audit.sinks]]`
//! (issue 28).
//!
//! The local redb log stays the source of truth and the buffer. One task per sink reads the
//! records after its *cursor* (the last seq the sink confirmed, in `ship-<sink>.cursor` next to
//! the log's segments), delivers them in batches, and advances and persists the cursor only
//! after the sink confirms. A crash between delivery and the cursor write re-sends the batch:
//! delivery is at least once, and every record carries the idempotent id
//! `<instance>:<seq>` (the PostgreSQL sink's key is `(instance, seq, ts)` with
//! `ON CONFLICT DO NOTHING`, Elasticsearch's `_id` is the id), so a re-send changes nothing.
//!
//! Statements never wait on a sink: the shipper runs on its own tasks and only reads the log.
//! A sink that fails is retried with exponential backoff (100 ms doubling to 30 s); what it
//! has not confirmed is its lag, in records and in the age of the oldest record it lacks,
//! exposed as metrics and, past the sink's `max_lag`, as a `/readyz` failure.

mod cursor;
mod error;
pub mod http_sink;
pub mod pg_conn;
pub mod pg_sink;
pub mod store;

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit::Record;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

pub use error::{LocalLogError, ShipperError};

use crate::config::{Config, SinkConfig, SinkKind};
use crate::recorder::Auditor;

/// How often a sink that is caught up looks for new records.
const POLL: Duration = Duration::from_millis(200);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// One record on its way to a sink.
#[derive(Clone, Debug)]
pub struct Shipped {
    pub record: Record,
    /// The record exactly as stored locally (its canonical JSON with `hash`).
    pub stored: String,
}

/// Records of one instance, in seq order.
#[derive(Clone, Debug)]
pub struct Batch {
    pub instance: Arc<str>,
    pub items: Vec<Shipped>,
}

impl Batch {
    /// The idempotent id of a record: `<instance>:<seq>`.
    pub fn id(&self, seq: u64) -> String {
        record_id(&self.instance, seq)
    }
}

/// The idempotent id of record `seq` of `instance`.
///
/// ```
/// assert_eq!(sluice::shipper::record_id("db-proxy-1", 42), "db-proxy-1:42");
/// ```
pub fn record_id(instance: &str, seq: u64) -> String {
    format!("{instance}:{seq}")
}

/// What a sink made of a batch.
#[derive(Debug)]
pub enum Delivery {
    /// Stored (or already there).
    Done,
    /// Refused for good (an HTTP 4xx, a record the store cannot take): counted and logged,
    /// and the cursor moves on, since sending it again would fail again.
    Rejected { records: u64, reason: String },
    /// Not delivered (unreachable, 5xx, timeout): try again later.
    Retry(String),
}

/// A sink's state as metrics and readiness see it.
#[derive(Debug, Default)]
pub struct SinkStatus {
    pub name: String,
    pub max_lag: Option<Duration>,
    /// Records the log holds that the sink has not confirmed.
    pub lag_records: AtomicU64,
    /// Time (µs since the epoch) of the oldest record the sink has not confirmed; 0 when it
    /// is caught up. The lag in seconds is its age, computed when asked.
    pub pending_since: AtomicI64,
    pub shipped: AtomicU64,
    pub rejected: AtomicU64,
    pub failures: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl SinkStatus {
    /// Age of the oldest record the sink has not confirmed (zero when caught up).
    pub fn lag(&self) -> Duration {
        match self.pending_since.load(Ordering::Relaxed) {
            0 => Duration::ZERO,
            since => Duration::from_micros(
                u64::try_from(audit::now_micros().saturating_sub(since)).unwrap_or(0),
            ),
        }
    }

    fn set_error(&self, e: Option<String>) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = e;
        }
    }

    fn error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|g| g.clone())
    }
}

/// The running shipper: one task per sink.
pub struct Shipper {
    pub instance: Arc<str>,
    pub sinks: Vec<Arc<SinkStatus>>,
}

/// The instance name: `[audit] instance`, or `<hostname>/<admin address>`.
pub fn instance_name(config: &Config, admin_addr: std::net::SocketAddr) -> String {
    if let Some(i) = config.audit.as_ref().and_then(|a| a.instance.clone()) {
        return i;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}/{admin_addr}")
}

impl Shipper {
    /// Starts a task per configured sink; `None` without sinks. Fails (and nothing starts)
    /// when a sink's settings cannot be used: a missing password or header variable, an
    /// unreadable CA file.
    pub fn start(
        config: &Config,
        auditor: &Arc<Auditor>,
        admin_addr: std::net::SocketAddr,
        tracker: &TaskTracker,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Option<Arc<Shipper>>, ShipperError> {
        let Some(a) = &config.audit else {
            return Ok(None);
        };
        if a.sinks.is_empty() {
            return Ok(None);
        }
        let instance: Arc<str> = instance_name(config, admin_addr).into();
        if a.instance.is_none() {
            tracing::warn!(%instance, "[audit] instance is not set: the default changes with the host name and admin address, and central records and ids depend on it");
        }
        let mut statuses = Vec::new();
        let mut runs = Vec::new();
        for sc in &a.sinks {
            let sink = Sink::open(config, sc)?;
            let status = Arc::new(SinkStatus {
                name: sc.name.clone(),
                max_lag: sc.max_lag.map(|d| d.0),
                ..SinkStatus::default()
            });
            statuses.push(Arc::clone(&status));
            runs.push(Run {
                sink,
                status,
                auditor: Arc::clone(auditor),
                dir: auditor.dir().to_path_buf(),
                instance: Arc::clone(&instance),
                batch_records: sc.batch_records(),
                batch_bytes: sc.batch_bytes(),
            });
        }
        for run in runs {
            tracker.spawn(run.run(shutdown.clone()));
        }
        tracing::info!(%instance, sinks = statuses.len(), "audit shipping started");
        Ok(Some(Arc::new(Shipper {
            instance,
            sinks: statuses,
        })))
    }

    /// Why `/readyz` should fail: a sink lagging beyond its `max_lag`.
    pub fn not_ready(&self) -> Option<String> {
        let late: Vec<String> = self
            .sinks
            .iter()
            .filter_map(|s| {
                let max = s.max_lag?;
                let lag = s.lag();
                (lag > max).then(|| {
                    let why = s.error().map(|e| format!(": {e}")).unwrap_or_default();
                    format!(
                        "audit sink \"{}\" lags {} s behind (max_lag {} s){why}",
                        s.name,
                        lag.as_secs(),
                        max.as_secs()
                    )
                })
            })
            .collect();
        (!late.is_empty()).then(|| late.join("; "))
    }

    /// The sinks' gauges and counters, in the Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let mut out = String::new();
        type Pick = fn(&SinkStatus) -> String;
        let families: [(&str, &str, &str, Pick); 5] = [
            (
                "sluice_audit_sink_lag_records",
                "gauge",
                "Audit records the sink has not confirmed.",
                |s| s.lag_records.load(Ordering::Relaxed).to_string(),
            ),
            (
                "sluice_audit_sink_lag_seconds",
                "gauge",
                "Age of the oldest audit record the sink has not confirmed (0: caught up).",
                |s| format!("{:.3}", s.lag().as_secs_f64()),
            ),
            (
                "sluice_audit_sink_shipped_records_total",
                "counter",
                "Audit records the sink confirmed.",
                |s| s.shipped.load(Ordering::Relaxed).to_string(),
            ),
            (
                "sluice_audit_sink_rejected_records_total",
                "counter",
                "Audit records the sink refused for good (HTTP 4xx), skipped.",
                |s| s.rejected.load(Ordering::Relaxed).to_string(),
            ),
            (
                "sluice_audit_sink_failures_total",
                "counter",
                "Failed deliveries to the sink (retried).",
                |s| s.failures.load(Ordering::Relaxed).to_string(),
            ),
        ];
        for (name, kind, help, pick) in families {
            out += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
            for s in &self.sinks {
                out += &format!("{name}{{sink=\"{}\"}} {}\n", s.name, pick(s));
            }
        }
        out
    }
}

/// `sluice check --live`: each sink's settings can be used (variables set, CA files
/// readable) and each PostgreSQL sink answers. HTTP sinks are not contacted: any request would
/// be a delivery. Lines to print, and whether all is well.
pub async fn check_sinks(config: &Config) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut ok = true;
    for sc in config.audit.iter().flat_map(|a| &a.sinks) {
        let what = format!("audit sink {:?}", sc.name);
        let result = match Sink::open(config, sc) {
            Ok(Sink::Postgres(s)) => s.probe().await.map(|()| "reachable".to_string()),
            Ok(Sink::Http(_)) => Ok("settings usable (not contacted)".to_string()),
            Err(e) => Err(e),
        };
        match result {
            Ok(m) => lines.push(format!("{what}: ok, {m}")),
            Err(e) => {
                ok = false;
                lines.push(format!("{what}: FAILED: {e}"));
            }
        }
    }
    (lines, ok)
}

/// A sink's connection.
pub enum Sink {
    Postgres(Box<pg_sink::PgSink>),
    Http(http_sink::HttpSink),
}

impl Sink {
    fn open(config: &Config, sc: &SinkConfig) -> Result<Sink, ShipperError> {
        Ok(match sc.kind {
            SinkKind::Postgres => Sink::Postgres(Box::new(pg_sink::PgSink::new(config, sc)?)),
            SinkKind::Http => Sink::Http(http_sink::HttpSink::new(config, sc)?),
        })
    }

    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        match self {
            Sink::Postgres(s) => s.deliver(batch).await,
            Sink::Http(s) => s.deliver(batch).await,
        }
    }
}

/// One sink's shipping loop.
struct Run {
    sink: Sink,
    status: Arc<SinkStatus>,
    auditor: Arc<Auditor>,
    dir: PathBuf,
    instance: Arc<str>,
    batch_records: usize,
    batch_bytes: usize,
}

impl Run {
    async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let name = self.status.name.clone();
        let mut shipped = match cursor::load(&self.dir, &name) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(sink = %name, error = %e, "audit sink cursor unreadable: shipping from the start (re-sent records are no-ops)");
                0
            }
        };
        let head = self.auditor.log().stats().head_seq;
        if shipped > head {
            // Never written by sluice (it saves only what the sink confirmed): an edit, or a
            // log replaced under it. Trusting it would ship nothing, silently.
            tracing::warn!(sink = %name, cursor = shipped, head, "audit sink cursor is past the end of the local log: shipping from the start (re-sent records are no-ops)");
            shipped = 0;
        }
        let mut backoff = BACKOFF_MIN;
        while !*shutdown.borrow() {
            // Nothing new (the usual case): no need to open the log.
            if self.auditor.log().stats().head_seq <= shipped {
                self.update_lag(shipped, None);
                if pause(&mut shutdown, POLL).await {
                    break;
                }
                continue;
            }
            let batch = match self.read(shipped).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(sink = %name, error = %e, "audit shipping: cannot read the local log");
                    self.status.set_error(Some(e.to_string()));
                    if pause(&mut shutdown, BACKOFF_MAX.min(backoff * 4)).await {
                        break;
                    }
                    continue;
                }
            };
            self.update_lag(shipped, batch.items.first());
            let Some(last) = batch.items.last().map(|s| s.record.seq) else {
                if pause(&mut shutdown, POLL).await {
                    break;
                }
                continue;
            };
            if batch.items[0].record.seq > shipped + 1 {
                tracing::warn!(sink = %name, from = shipped + 1, to = batch.items[0].record.seq - 1,
                    "audit shipping: records were pruned locally before they were shipped");
            }
            // A delivery in flight is abandoned at shutdown: its records go again next time.
            let delivery = tokio::select! {
                d = self.sink.deliver(&batch) => d,
                _ = shutdown.wait_for(|s| *s) => break,
            };
            if let Err(e) = self.settle(&batch, delivery) {
                tracing::warn!(sink = %name, error = %e, retry_in_ms = backoff.as_millis() as u64,
                    "audit sink delivery failed; retrying");
                self.status.set_error(Some(e));
                if pause(&mut shutdown, backoff).await {
                    break;
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
            backoff = BACKOFF_MIN;
            self.status.set_error(None);
            shipped = last;
            self.update_lag(shipped, None);
            if let Err(e) = self.save(last).await {
                tracing::error!(sink = %name, error = %e, "audit sink cursor cannot be saved (records will be re-sent after a restart)");
            }
        }
    }

    /// Counts what the sink made of `batch`; `Err` when it is to be sent again.
    fn settle(&self, batch: &Batch, delivery: Delivery) -> Result<(), String> {
        let n = batch.items.len() as u64;
        match delivery {
            Delivery::Done => {
                self.status.shipped.fetch_add(n, Ordering::Relaxed);
                Ok(())
            }
            Delivery::Rejected { records, reason } => {
                let first = batch.items.first().map_or(0, |s| s.record.seq);
                let last = batch.items.last().map_or(0, |s| s.record.seq);
                tracing::error!(sink = %self.status.name, records, %reason, first, last,
                    "audit sink refused records for good; they are skipped (the local log keeps them)");
                self.status.rejected.fetch_add(records, Ordering::Relaxed);
                self.status
                    .shipped
                    .fetch_add(n.saturating_sub(records), Ordering::Relaxed);
                Ok(())
            }
            Delivery::Retry(e) => {
                self.status.failures.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Lag: records of the log after the cursor, and the age of the first of them.
    fn update_lag(&self, shipped: u64, first_pending: Option<&Shipped>) {
        let head = self.auditor.log().stats().head_seq;
        let lag = head.saturating_sub(shipped);
        self.status.lag_records.store(lag, Ordering::Relaxed);
        let since = match first_pending {
            // 0 stands for "caught up"; a record stamped at or before the epoch is just old.
            Some(s) if lag > 0 => s.record.ts_micros.max(1),
            _ => 0,
        };
        self.status.pending_since.store(since, Ordering::Relaxed);
    }

    async fn read(&self, shipped: u64) -> Result<Batch, LocalLogError> {
        let dir = self.dir.clone();
        let (records, bytes) = (self.batch_records, self.batch_bytes);
        let items =
            tokio::task::spawn_blocking(move || read_batch(&dir, shipped + 1, records, bytes))
                .await??;
        Ok(Batch {
            instance: Arc::clone(&self.instance),
            items,
        })
    }

    async fn save(&self, seq: u64) -> Result<(), LocalLogError> {
        let dir = self.dir.clone();
        let name = self.status.name.clone();
        Ok(tokio::task::spawn_blocking(move || cursor::save(&dir, &name, seq)).await??)
    }
}

/// Waits `d`; true (stop) when sluice shuts down, or the server that started the shipper is
/// gone.
async fn pause(shutdown: &mut watch::Receiver<bool>, d: Duration) -> bool {
    // Ok: the wait ended before the timeout, with shutdown or with the sender gone.
    tokio::time::timeout(d, shutdown.wait_for(|s| *s))
        .await
        .is_ok()
}

/// Up to `max_records` records (and about `max_bytes` of them; always at least one) from seq
/// `from` on.
pub fn read_batch(
    dir: &std::path::Path,
    from: u64,
    max_records: usize,
    max_bytes: usize,
) -> Result<Vec<Shipped>, LocalLogError> {
    let reader = audit::AuditReader::open(dir)?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for entry in reader.entries_from(from) {
        let entry = entry.map_err(|i| LocalLogError::Entry {
            segment: i.segment,
            reason: i.reason,
        })?;
        if !out.is_empty() && (out.len() >= max_records || bytes + entry.bytes.len() > max_bytes) {
            break;
        }
        let record = Record::from_stored(&entry.bytes).map_err(|reason| LocalLogError::Record {
            seq: entry.seq,
            segment: entry.segment.clone(),
            reason,
        })?;
        let stored =
            String::from_utf8(entry.bytes).map_err(|_| LocalLogError::NotUtf8(entry.seq))?;
        bytes += stored.len();
        out.push(Shipped { record, stored });
    }
    Ok(out)
}
