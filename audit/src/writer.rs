//! The writer: a dedicated thread fed by a bounded queue, group-committing into the store.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crate::queue::Queue;
use crate::record::{Draft, RecordBody};
use crate::store::{Store, TestHooks};
use crate::AuditError;

/// When a submitted record counts as acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Acknowledged at submission; committed within `flush_interval`. A crash loses at most
    /// the records of the last interval.
    #[default]
    Async,
    /// [`Ticket::wait`] returns only once the record is durable. A record from
    /// [`AuditLog::record`] is written at once; one from [`AuditLog::record_trailing`] rides
    /// with the next such record, or is written within `flush_interval`.
    Sync,
}

/// Configuration of an [`AuditLog`].
///
/// ```
/// let cfg = audit::AuditConfig::new("/var/lib/sluice/audit", b"secret".to_vec());
/// assert_eq!(cfg.queue, 8192);
/// assert_eq!(cfg.segment_max_bytes, 64 * 1024 * 1024);
/// ```
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// Directory of the segment files.
    pub dir: PathBuf,
    /// Async or sync acknowledgement.
    pub mode: Mode,
    /// Longest time a record waits before its commit (async), and the retry period while
    /// commits fail.
    pub flush_interval: Duration,
    /// HMAC key of the hash chain.
    pub key: Vec<u8>,
    /// Records older than this are pruned (whole segments), `None` keeps everything.
    pub retention: Option<Duration>,
    /// Capacity of the bounded submission queue; `record` blocks when it is full.
    pub queue: usize,
    /// Rotate to a new segment once the open one is at least this large.
    pub segment_max_bytes: u64,
    /// Rotate to a new segment once the open one has been written for this long.
    pub segment_max_age: Duration,
    /// Test-only fault injection.
    #[doc(hidden)]
    pub hooks: TestHooks,
}

impl AuditConfig {
    /// Defaults: async, 10 ms flush interval, no retention, queue 8192, 64 MiB or 1 day
    /// segments.
    pub fn new(dir: impl Into<PathBuf>, key: Vec<u8>) -> AuditConfig {
        AuditConfig {
            dir: dir.into(),
            mode: Mode::Async,
            flush_interval: Duration::from_millis(10),
            key,
            retention: None,
            queue: 8192,
            segment_max_bytes: 64 * 1024 * 1024,
            segment_max_age: Duration::from_secs(86_400),
            hooks: TestHooks::default(),
        }
    }
}

/// Whether commits currently succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// The last commit succeeded.
    Ok,
    /// Commits fail since `since`; new statements are refused until a retry succeeds.
    Failing {
        /// When the first failing commit happened.
        since: SystemTime,
        /// The error.
        reason: String,
    },
}

/// Counters for metrics.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Stats {
    /// Records committed since open.
    pub records_written: u64,
    /// Successful commits since open.
    pub commits: u64,
    /// Time spent in those commits, in microseconds.
    pub commit_micros: u64,
    /// Records submitted and not yet durable.
    pub queue_len: u64,
    /// Whether commits are failing.
    pub failing: bool,
    /// The most recent commit error, if any.
    pub last_error: Option<String>,
    /// The seq of the last committed record.
    pub head_seq: u64,
}

/// What [`AuditLog::prune`] removed.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PruneReport {
    /// Segment files deleted.
    pub segments_removed: usize,
    /// The last removed seq (named by the checkpoint record).
    pub pruned_through_seq: Option<u64>,
}

pub(crate) type PruneReply = mpsc::Sender<Result<PruneReport, AuditError>>;

#[derive(Clone, Debug)]
pub(crate) enum TicketState {
    Pending,
    Durable(u64),
    Failed(String),
}

pub(crate) struct TicketInner {
    state: Mutex<TicketState>,
    cv: Condvar,
    /// Threads blocked in [`TicketInner::wait`], counted under `state`'s lock. A condvar's
    /// notify is a system call even when nobody waits, and most tickets (async mode, trailing
    /// records) are never waited on: the writer notifies only when this is non-zero.
    sleepers: AtomicUsize,
    /// The task awaiting [`Ticket::durable`], woken when the state settles.
    waker: Mutex<Option<std::task::Waker>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl TicketInner {
    fn new() -> Arc<TicketInner> {
        Arc::new(TicketInner {
            state: Mutex::new(TicketState::Pending),
            cv: Condvar::new(),
            sleepers: AtomicUsize::new(0),
            waker: Mutex::new(None),
        })
    }

    pub(crate) fn set(&self, s: TicketState) {
        let sleepers = {
            let mut g = lock(&self.state);
            *g = s;
            // Read under the lock: a waiter counts itself before it releases the lock to
            // sleep, so a zero here means no waiter has yet looked at the old state.
            self.sleepers.load(Ordering::SeqCst)
        };
        if sleepers > 0 {
            self.cv.notify_all();
        }
        if let Some(w) = lock(&self.waker).take() {
            w.wake();
        }
    }

    fn wait(&self) -> Result<u64, AuditError> {
        let mut g = lock(&self.state);
        loop {
            match &*g {
                TicketState::Pending => {
                    self.sleepers.fetch_add(1, Ordering::SeqCst);
                    g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
                    self.sleepers.fetch_sub(1, Ordering::SeqCst);
                }
                TicketState::Durable(seq) => return Ok(*seq),
                TicketState::Failed(e) => return Err(AuditError::Unavailable(e.clone())),
            }
        }
    }
}

/// A submitted record's receipt.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let log = audit::AuditLog::open(audit::AuditConfig::new(dir.path(), b"k".to_vec())).unwrap();
/// let t = log.record(audit::Draft::new(1, "t", "u", audit::RecordBody::SessionEnd { reason: "x".into() })).unwrap();
/// assert_eq!(t.wait_durable().unwrap(), 1);
/// assert!(t.is_durable());
/// ```
pub struct Ticket {
    inner: Arc<TicketInner>,
    mode: Mode,
}

impl Ticket {
    /// Waits as the log's mode asks: in sync mode until the record is durable (or its commit
    /// failed: the record is then still queued and retried, but the caller must not proceed as
    /// if it were durable); in async mode it returns at once. Blocking: call it from
    /// `spawn_blocking` in async code.
    pub fn wait(&self) -> Result<(), AuditError> {
        match self.mode {
            Mode::Async => Ok(()),
            Mode::Sync => self.inner.wait().map(|_| ()),
        }
    }

    /// [`Ticket::wait`] for async code: a future that settles when the ticket does (at once in
    /// async mode), without blocking a thread.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let mut cfg = audit::AuditConfig::new(dir.path(), b"k".to_vec());
    /// # cfg.mode = audit::Mode::Sync;
    /// # let log = audit::AuditLog::open(cfg).unwrap();
    /// let t = log.record(audit::Draft::new(1, "t", "u", audit::RecordBody::SessionEnd { reason: "x".into() })).unwrap();
    /// # let waker = std::task::Waker::noop();
    /// # let mut cx = std::task::Context::from_waker(&waker);
    /// let mut durable = std::pin::pin!(t.durable());
    /// # let ready = loop { if let std::task::Poll::Ready(r) = durable.as_mut().poll(&mut cx) { break r; } std::thread::yield_now(); };
    /// # use std::future::Future;
    /// assert!(ready.is_ok() && t.is_durable());
    /// ```
    pub fn durable(&self) -> Durable<'_> {
        Durable { ticket: self }
    }

    /// Waits until the record is durable whatever the mode, and returns its seq; an error if
    /// the commit attempt failed.
    pub fn wait_durable(&self) -> Result<u64, AuditError> {
        self.inner.wait()
    }

    /// Whether the record is durable, without blocking.
    pub fn is_durable(&self) -> bool {
        self.seq().is_some()
    }

    /// The record's seq once it is durable.
    pub fn seq(&self) -> Option<u64> {
        match &*lock(&self.inner.state) {
            TicketState::Durable(s) => Some(*s),
            _ => None,
        }
    }
}

/// The future of [`Ticket::durable`].
pub struct Durable<'t> {
    ticket: &'t Ticket,
}

impl std::future::Future for Durable<'_> {
    type Output = Result<(), AuditError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let inner = &self.ticket.inner;
        let settled = |state: &TicketState| match state {
            TicketState::Pending => None,
            TicketState::Durable(_) => Some(Ok(())),
            TicketState::Failed(e) => Some(Err(AuditError::Unavailable(e.clone()))),
        };
        if self.ticket.mode == Mode::Async {
            return Poll::Ready(Ok(()));
        }
        if let Some(r) = settled(&lock(&inner.state)) {
            return Poll::Ready(r);
        }
        // Register, then look again: a `set` in between has either seen the waker or left a
        // state this second look sees.
        *lock(&inner.waker) = Some(cx.waker().clone());
        match settled(&lock(&inner.state)) {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

// Records dominate the traffic; boxing them would cost an allocation each.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Msg {
    /// A record, its ticket unless the submitter will not wait, and whether it is written at
    /// once in sync mode (not trailing).
    Record(Draft, Option<Arc<TicketInner>>, bool),
    Flush(Arc<TicketInner>),
    Prune(i64, PruneReply),
    Close,
}

#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) health: Mutex<Option<(SystemTime, String)>>,
    pub(crate) failing: AtomicBool,
    pub(crate) submitted: AtomicU64,
    pub(crate) written: AtomicU64,
    pub(crate) commits: AtomicU64,
    pub(crate) commit_micros: AtomicU64,
    pub(crate) head: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

struct Inner {
    queue: Arc<Queue>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<Result<(), AuditError>>>>,
    closed: AtomicBool,
    mode: Mode,
}

impl Inner {
    fn shutdown(&self) -> Result<(), AuditError> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let _ = self.queue.send(Msg::Close, true);
        match lock(&self.thread).take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(AuditError::Storage("audit writer panicked".into()))),
            None => Ok(()),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The audit log: submit records, and a writer thread chains and commits them.
///
/// Cloning is cheap (an `Arc`); all clones feed the same writer. Dropping the last clone
/// flushes and stops the writer.
///
/// ```
/// use audit::{AuditConfig, AuditLog, Draft, Health, RecordBody};
/// let dir = tempfile::tempdir().unwrap();
/// let log = AuditLog::open(AuditConfig::new(dir.path(), b"key".to_vec())).unwrap();
/// log.record(Draft::new(1, "app-pg", "alice", RecordBody::SessionEnd { reason: "bye".into() })).unwrap();
/// log.flush().unwrap();
/// assert_eq!(log.stats().records_written, 1);
/// assert_eq!(log.health(), Health::Ok);
/// log.close().unwrap();
/// assert_eq!(audit::verify(dir.path(), b"key").unwrap().records, 1);
/// ```
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

impl AuditLog {
    /// Opens (or creates) the log in `config.dir`, recovers the chain head from the newest
    /// segment (checking the last record's hash) and starts the writer thread.
    pub fn open(config: AuditConfig) -> Result<AuditLog, AuditError> {
        if config.key.is_empty() {
            return Err(AuditError::Config("the audit key is empty".into()));
        }
        let store = Store::open(
            &config.dir,
            &config.key,
            config.segment_max_bytes,
            config.segment_max_age,
            config.hooks.clone(),
        )?;
        let shared = Arc::new(Shared::default());
        shared.head.store(store.head().seq, Ordering::SeqCst);
        let queue = Arc::new(Queue::new(config.queue));
        let mode = config.mode;
        let sh = shared.clone();
        let q = queue.clone();
        let handle = std::thread::Builder::new()
            .name("sluice-audit-writer".into())
            .spawn(move || crate::worker::Writer::new(store, q, sh, config).run())?;
        Ok(AuditLog {
            inner: Arc::new(Inner {
                queue,
                shared,
                thread: Mutex::new(Some(handle)),
                closed: AtomicBool::new(false),
                mode,
            }),
        })
    }

    /// Submits a record. Blocks while the queue is full (back-pressure, never drops). While
    /// commits fail, a new `Statement` record is refused at once with
    /// [`AuditError::Unavailable`] so the caller refuses the statement; other records are queued
    /// and kept until a retry succeeds.
    pub fn record(&self, draft: Draft) -> Result<Ticket, AuditError> {
        self.submit(draft, true)
    }

    /// [`AuditLog::record`] for a record nothing waits on, such as a statement's result: in
    /// sync mode it is not written on its own but with the next record that is, or within
    /// `flush_interval`, whichever comes first. Order is kept: its seq is still assigned in
    /// submission order. In async mode it is the same as [`AuditLog::record`].
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let mut cfg = audit::AuditConfig::new(dir.path(), b"k".to_vec());
    /// # cfg.mode = audit::Mode::Sync;
    /// # let log = audit::AuditLog::open(cfg).unwrap();
    /// let end = audit::RecordBody::SessionEnd { reason: "bye".into() };
    /// let t = log.record_trailing(audit::Draft::new(1, "t", "u", end)).unwrap();
    /// assert_eq!(t.wait_durable().unwrap(), 1); // within flush_interval
    /// ```
    pub fn record_trailing(&self, draft: Draft) -> Result<Ticket, AuditError> {
        self.submit(draft, false)
    }

    /// [`AuditLog::record`], or with `trailing` [`AuditLog::record_trailing`], for a caller
    /// that will not wait on the record: no ticket is made (it would cost an allocation per
    /// record, freed on the writer's thread). Errors are those of `record`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let log = audit::AuditLog::open(audit::AuditConfig::new(dir.path(), b"k".to_vec())).unwrap();
    /// let end = audit::RecordBody::SessionEnd { reason: "bye".into() };
    /// log.record_detached(audit::Draft::new(1, "t", "u", end), true).unwrap();
    /// log.flush().unwrap();
    /// assert_eq!(log.stats().records_written, 1);
    /// ```
    pub fn record_detached(&self, draft: Draft, trailing: bool) -> Result<(), AuditError> {
        self.send(draft, None, !trailing)
    }

    fn submit(&self, draft: Draft, prompt: bool) -> Result<Ticket, AuditError> {
        let t = TicketInner::new();
        self.send(draft, Some(Arc::clone(&t)), prompt)?;
        Ok(Ticket {
            inner: t,
            mode: self.inner.mode,
        })
    }

    fn send(
        &self,
        draft: Draft,
        ticket: Option<Arc<TicketInner>>,
        prompt: bool,
    ) -> Result<(), AuditError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(AuditError::Closed);
        }
        if matches!(draft.body, RecordBody::Statement { .. }) {
            if let Health::Failing { reason, .. } = self.health() {
                return Err(AuditError::Unavailable(reason));
            }
        }
        self.inner.shared.submitted.fetch_add(1, Ordering::SeqCst);
        // Only a record written at once in sync mode needs the writer now.
        let urgent = prompt && self.inner.mode == Mode::Sync;
        if self
            .inner
            .queue
            .send(Msg::Record(draft, ticket, prompt), urgent)
            .is_err()
        {
            self.inner.shared.submitted.fetch_sub(1, Ordering::SeqCst);
            return Err(AuditError::Closed);
        }
        Ok(())
    }

    /// Waits until everything submitted before the call is durable; an error if a commit
    /// failed meanwhile (the records stay queued).
    pub fn flush(&self) -> Result<(), AuditError> {
        let t = TicketInner::new();
        self.inner
            .queue
            .send(Msg::Flush(t.clone()), true)
            .map_err(|_| AuditError::Closed)?;
        t.wait().map(|_| ())
    }

    /// Removes whole segments whose newest record is older than `retention` before
    /// `now_micros`, after committing a checkpoint record. Without retention, does nothing.
    pub fn prune(&self, now_micros: i64) -> Result<PruneReport, AuditError> {
        let (tx, rx) = mpsc::channel();
        self.inner
            .queue
            .send(Msg::Prune(now_micros, tx), true)
            .map_err(|_| AuditError::Closed)?;
        rx.recv().unwrap_or(Err(AuditError::Closed))
    }

    /// Whether commits succeed.
    pub fn health(&self) -> Health {
        match &*lock(&self.inner.shared.health) {
            None => Health::Ok,
            Some((since, reason)) => Health::Failing {
                since: *since,
                reason: reason.clone(),
            },
        }
    }

    /// Counters for metrics.
    pub fn stats(&self) -> Stats {
        let s = &self.inner.shared;
        let written = s.written.load(Ordering::SeqCst);
        Stats {
            records_written: written,
            commits: s.commits.load(Ordering::SeqCst),
            commit_micros: s.commit_micros.load(Ordering::SeqCst),
            queue_len: s.submitted.load(Ordering::SeqCst).saturating_sub(written),
            failing: s.failing.load(Ordering::SeqCst),
            last_error: lock(&s.last_error).clone(),
            head_seq: s.head.load(Ordering::SeqCst),
        }
    }

    /// The acknowledgement mode.
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// Flushes and stops the writer. Later calls of `record` return [`AuditError::Closed`].
    /// Returns an error if queued records could not be committed.
    pub fn close(&self) -> Result<(), AuditError> {
        self.inner.shutdown()
    }
}
