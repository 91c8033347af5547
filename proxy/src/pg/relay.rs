//! The steady state of a PostgreSQL session: frames flow both ways, raw, through one task.
//!
//! One task owns both connections and both outbound buffers, so there are no locks and no
//! channels on the hot path. Reads are bounded by high-water marks on the opposite buffer, which
//! gives back-pressure in both directions and means a result is streamed, never held whole.
//! Reading and writing are separate `select!` branches (all cancel-safe), so a peer that is slow
//! to read can never deadlock a peer that is busy writing.

use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio_util::codec::{Decoder, FramedRead};

use std::sync::Arc;

use crate::client_reader::{withdraw_hold, ClientReader, Waited};
use crate::metrics::TargetMetrics;

use super::catalog::PgCatalog;
use super::charset::Charset;
use super::copy::CopyRows;
use super::frame::{Frame, FrameCodec, FrameError, Reader};
use super::messages::{self, Severity};
use super::results::{Answer, ResultTracker};
use super::row_limit::{Earlier, Outcome, RowLimits};
use crate::net::{close, pump};
use crate::session::{
    ColumnDesc, ColumnOrigin, ResultEnd, ResultOf, SessionHooks, StatementDecision,
};
use crate::tls::BoxStream;

/// Stop reading from one side while this much is waiting to be written to the other.
const HIGH_WATER: usize = 256 * 1024;
/// How long a closing session may take to deliver its last bytes.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The database is trusted, but not to send a message beyond the protocol's own limit.
const MAX_UPSTREAM_MESSAGE: u32 = 1 << 30;

/// Frontend message types a client may send once the session is up.
const CLIENT_TAGS: &[u8] = b"QPBDECSHFXdcf";

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// The client sent Terminate or closed its connection.
    ClientClosed,
    /// The client broke the protocol; it was told why.
    ClientProtocol(String),
    /// The database closed or failed; the client was told.
    UpstreamLost(String),
    /// sluice is shutting down and the session was idle.
    Shutdown,
    /// The session's sign-in expired; it ended at a statement boundary.
    Expired(String),
}

/// Per-session settings for the relay.
pub struct RelayOptions {
    pub target: String,
    pub max_client_message: u32,
    /// Where column origins are resolved (for masking).
    pub catalog: Arc<PgCatalog>,
    /// The target's counters (bytes each way).
    pub metrics: Arc<crate::metrics::TargetMetrics>,
    /// `standard_conforming_strings`, as the server reported it at startup.
    pub lexing: super::lexing::LexTracker,
}

/// A session's state between its two connections: what is in flight, what is being judged and
/// masked, and the bytes owed to each side. One task owns it; see the module's comment.
struct Relay {
    opts: RelayOptions,
    hooks: Option<Box<dyn SessionHooks>>,
    to_client: BytesMut,
    to_upstream: BytesMut,
    /// Sync points (Query, Sync, FunctionCall) sent upstream and not yet answered by
    /// ReadyForQuery.
    in_flight: usize,
    /// The rows of the result streaming go through the hook.
    inspect_rows: bool,
    /// The database already told the client why it is going away (a FATAL error).
    upstream_said_fatal: bool,
    refusals: Refusals,
    results: ResultTracker,
    /// A write held to a row limit whose count is not in yet: the client waits.
    limits: RowLimits,
    /// The COPY out whose rows are being masked.
    copy_rows: Option<CopyRows>,
    /// Whether the session's reported client_encoding is the one a COPY starting now uses.
    encoding_settled: bool,
    /// The result streaming: rows and bytes sent so far.
    counted: ResultEnd,
}

/// The client's frames, with those read ahead while a statement waited.
type ClientFrames = ClientReader<tokio::io::ReadHalf<BoxStream>, FrameCodec>;
type UpstreamFrames = FramedRead<tokio::io::ReadHalf<BoxStream>, FrameCodec>;

/// Relays until either side ends. `shutdown` turning true ends the session at the next moment
/// it is idle (no statement in flight).
pub async fn run(
    client: BoxStream,
    upstream: BoxStream,
    opts: RelayOptions,
    hooks: Option<Box<dyn SessionHooks>>,
    mut shutdown: watch::Receiver<bool>,
) -> SessionEnd {
    let (client_rd, mut client_wr) = tokio::io::split(client);
    let (upstream_rd, mut upstream_wr) = tokio::io::split(upstream);
    let client_codec = FrameCodec {
        max_len: opts.max_client_message,
    };
    let mut client_rd = ClientReader::new(FramedRead::with_capacity(
        client_rd,
        client_codec,
        16 * 1024,
    ));
    let upstream_codec = FrameCodec {
        max_len: MAX_UPSTREAM_MESSAGE,
    };
    let mut upstream_rd = FramedRead::with_capacity(upstream_rd, upstream_codec, 64 * 1024);
    let mut r = Relay::new(opts, hooks);
    let (mut client_dirty, mut upstream_dirty) = (false, false);
    let mut draining = *shutdown.borrow();
    // One future for the whole session: a fresh `changed()` per loop turn would register
    // and deregister a waiter (a lock each) for every message.
    let shutdown_signal = async move {
        let _ = shutdown.changed().await;
    };
    tokio::pin!(shutdown_signal);
    let end = loop {
        if draining && r.in_flight == 0 {
            break r.shut_down();
        }
        tokio::select! {
            biased;
            _ = &mut shutdown_signal, if !draining => draining = true,
            frame = client_rd.next(), if r.reads_client() => match frame {
                None => break client_ended(None, &mut r.to_client, &mut r.to_upstream),
                Some(Err(e)) => break client_ended(Some(e), &mut r.to_client, &mut r.to_upstream),
                Some(Ok(frame)) => {
                    if let Some(end) = r.on_client_frames(frame, &mut client_rd).await {
                        break end;
                    }
                }
            },
            frame = upstream_rd.next(), if r.to_client.len() < HIGH_WATER => match frame {
                None => break r.upstream_lost("the database closed the connection"),
                Some(Err(e)) => break r.upstream_lost(&e.to_string()),
                Some(Ok(frame)) => r.on_upstream_frames(frame, &mut upstream_rd).await,
            },
            pumped = pump(&mut client_wr, &r.to_client), if client_dirty || !r.to_client.is_empty() => match pumped {
                Ok(Some(n)) if n > 0 => { r.to_client.advance(n); client_dirty = true; TargetMetrics::add(&r.opts.metrics.bytes_to_clients, n as u64); }
                Ok(None) => client_dirty = false,
                _ => {
                    r.to_upstream.extend_from_slice(&messages::TERMINATE);
                    r.to_client.clear();
                    break SessionEnd::ClientClosed;
                }
            },
            pumped = pump(&mut upstream_wr, &r.to_upstream), if upstream_dirty || !r.to_upstream.is_empty() => match pumped {
                Ok(Some(n)) if n > 0 => { r.to_upstream.advance(n); upstream_dirty = true; TargetMetrics::add(&r.opts.metrics.bytes_to_upstream, n as u64); }
                Ok(None) => upstream_dirty = false,
                _ => {
                    r.to_upstream.clear();
                    break r.upstream_lost("writing to the database failed");
                }
            },
        }
    };
    if let Some(h) = r.hooks.as_deref_mut() {
        h.on_end(&format!("{end:?}"));
    }
    // Deliver what is owed to each side, then close both; a peer that will not read does not
    // hold the session open.
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        tokio::join!(
            close(&mut upstream_wr, &r.to_upstream),
            close(&mut client_wr, &r.to_client)
        )
    })
    .await;
    end
}

impl Relay {
    fn new(opts: RelayOptions, hooks: Option<Box<dyn SessionHooks>>) -> Relay {
        Relay {
            opts,
            hooks,
            to_client: BytesMut::with_capacity(64 * 1024),
            to_upstream: BytesMut::with_capacity(16 * 1024),
            in_flight: 0,
            inspect_rows: false,
            upstream_said_fatal: false,
            refusals: Refusals::new(),
            results: ResultTracker::default(),
            limits: RowLimits::default(),
            copy_rows: None,
            encoding_settled: true,
            counted: ResultEnd::default(),
        }
    }

    /// Whether the client may be read: the database is not behind on what it was sent, and no
    /// write held to a row limit is waiting for its count.
    fn reads_client(&self) -> bool {
        self.to_upstream.len() < HIGH_WATER && !self.limits.holding()
    }

    /// sluice is stopping and the session is idle: the client is told, the database let go.
    fn shut_down(&mut self) -> SessionEnd {
        messages::error_response(
            &mut self.to_client,
            Severity::Fatal,
            "57P01",
            "terminating connection due to administrator command: sluice is shutting down",
        );
        self.to_upstream.extend_from_slice(&messages::TERMINATE);
        SessionEnd::Shutdown
    }

    fn upstream_lost(&mut self, why: &str) -> SessionEnd {
        upstream_lost(
            &mut self.to_client,
            &self.opts.target,
            self.upstream_said_fatal,
            why,
        )
    }

    /// A frame from the client, then those the same read already brought (handled in this turn
    /// rather than one per turn of the select).
    async fn on_client_frames(
        &mut self,
        frame: Frame,
        client_rd: &mut ClientFrames,
    ) -> Option<SessionEnd> {
        let mut next = Some(frame);
        while let Some(frame) = next.take() {
            if let Some(end) = self.on_client_frame(frame, client_rd).await {
                return Some(end);
            }
            if self.reads_client() {
                let max_len = self.opts.max_client_message;
                next = client_rd.ready(|rd| buffered_frame(rd, max_len));
            }
        }
        None
    }

    /// One frame from the client: judged, then forwarded, or replaced by a refusal the
    /// database itself fails.
    async fn on_client_frame(
        &mut self,
        frame: Frame,
        client_rd: &mut ClientFrames,
    ) -> Option<SessionEnd> {
        if !CLIENT_TAGS.contains(&frame.tag) {
            let why = format!("invalid frontend message type {}", frame.tag);
            messages::error_response(&mut self.to_client, Severity::Fatal, "08P01", &why);
            self.to_upstream.extend_from_slice(&messages::TERMINATE);
            return Some(SessionEnd::ClientProtocol(why));
        }
        if matches!(frame.tag, b'Q' | b'P' | b'F') {
            if let Some(why) = self.hooks.as_deref_mut().and_then(|h| h.session_over()) {
                messages::error_response(&mut self.to_client, Severity::Fatal, "28000", &why);
                self.to_upstream.extend_from_slice(&messages::TERMINATE);
                return Some(SessionEnd::Expired(why));
            }
        }
        if matches!(frame.tag, b'Q' | b'S' | b'F') {
            self.in_flight += 1;
        }
        let refused = match self.judge(&frame, client_rd).await {
            Ok(refused) => refused,
            Err(end) => return Some(end),
        };
        if let Some(h) = self.hooks.as_deref() {
            // Only an Execute needs to know (it costs a lock to ask).
            let describe = frame.tag == b'E' && h.wants_columns();
            self.results
                .on_client(&frame, describe, &mut self.to_upstream);
        }
        match refused {
            // The database itself is made to fail the statement at this very position (see
            // `Refusals`), so pipelines, discard-until-Sync and transaction aborts behave
            // exactly as PostgreSQL's own errors do.
            Some(message) => self.refusals.inject(&frame, message, &mut self.to_upstream),
            None => {
                // Answers still owed for earlier messages come before the held write's.
                let earlier = Earlier {
                    syncs: self.in_flight - usize::from(frame.tag == b'Q'),
                    executes: self.results.executes_before_last(),
                };
                let (hooks, results) = (&mut self.hooks, &self.results);
                forward(
                    &frame,
                    hooks,
                    results,
                    &mut self.limits,
                    earlier,
                    &mut self.to_upstream,
                )
            }
        }
        (frame.tag == b'X').then_some(SessionEnd::ClientClosed)
    }

    /// The gate's verdict on a client frame: `Ok(Some(message))` refuses it. A statement that
    /// must wait (an approval, a durable audit record) waits here, watching the client: `Err`
    /// when the client went away meanwhile (its statement never runs).
    async fn judge(
        &mut self,
        frame: &Frame,
        client_rd: &mut ClientFrames,
    ) -> Result<Option<String>, SessionEnd> {
        if let Some(h) = self.hooks.as_deref_mut() {
            if matches!(frame.tag, b'Q' | b'P') {
                let others = self.in_flight > usize::from(frame.tag == b'Q');
                self.opts.lexing.before_statement(h, others);
            }
        }
        self.opts.lexing.on_client(frame.tag);
        let Some(h) = self.hooks.as_deref_mut() else {
            return Ok(None);
        };
        if matches!(frame.tag, b'Q' | b'P') && h.wants_columns() {
            if let Some(r) = self.opts.catalog.relations().await {
                h.on_relations(r);
            }
        }
        let mut refused = match frame.tag {
            b'F' => function_call_hook(h, frame),
            b'B' if h.wants_binds() => bind_hook(h, frame, &self.results),
            _ => statement_hook(h, frame),
        };
        if let Some(barrier) = h.take_barrier() {
            if refused.is_none() {
                match client_rd
                    .wait(barrier, |f| f.tag == b'X', |f| f.bytes.len())
                    .await
                {
                    Waited::Done(refusal) => refused = refusal,
                    Waited::ClientEnded(broken) => {
                        // Gone before its statement ran: it never will.
                        withdraw_hold(h).await;
                        let end = client_ended(broken, &mut self.to_client, &mut self.to_upstream);
                        return Err(end);
                    }
                }
            }
        }
        Ok(refused)
    }

    /// A frame from the database, then those the same read already brought.
    async fn on_upstream_frames(&mut self, frame: Frame, upstream_rd: &mut UpstreamFrames) {
        let mut next = Some(frame);
        while let Some(frame) = next.take() {
            self.on_upstream_frame(frame).await;
            if self.to_client.len() < HIGH_WATER {
                next = buffered_frame(upstream_rd, MAX_UPSTREAM_MESSAGE);
            }
        }
    }

    /// One frame from the database: checked against a held row limit, its diagnostics and
    /// notifications judged, the session's state followed, its result reported, and sent on
    /// (masked where the hook says so).
    async fn on_upstream_frame(&mut self, frame: Frame) {
        if !self.passes_row_limit(&frame) {
            return;
        }
        let frame = self.judge_message(frame);
        // The statement a CommandComplete completes, asked before the tracker moves on to the
        // next one.
        let completed = match (&self.hooks, frame.tag) {
            (Some(_), b'C') => self.results.current(),
            _ => None,
        };
        let answer = match self.hooks {
            Some(_) => {
                if frame.tag == b'Z' {
                    self.results.on_ready(frame.body().first().copied());
                }
                self.results.on_upstream(frame.tag)
            }
            None => Answer::Forward,
        };
        self.follow_session(&frame);
        self.follow_copy(&frame).await;
        self.report_result(&frame, completed);
        self.deliver(answer, frame).await;
    }

    /// A write held to a row limit sees the database's answers first: `false` when it took
    /// this frame (swallowed, or turned into the refusal).
    fn passes_row_limit(&mut self, frame: &Frame) -> bool {
        let refusals = &mut self.refusals;
        let outcome = self
            .limits
            .on_upstream(frame, &mut self.to_upstream, |m, out| {
                refusals.inject_failure(m, out)
            });
        match outcome {
            Outcome::Pass => true,
            Outcome::Swallow => false,
            Outcome::Refused(message) => {
                self.results.on_upstream(frame.tag);
                self.inspect_rows = false;
                self.counted = ResultEnd::default();
                if let Some(h) = self.hooks.as_deref_mut() {
                    h.row_limit_exceeded(&message);
                }
                false
            }
        }
    }

    /// Errors, notices and notifications → the hook, which may withhold or replace their text.
    fn judge_message(&mut self, frame: Frame) -> Frame {
        match self.hooks.as_deref_mut() {
            Some(h) if matches!(frame.tag, b'E' | b'N') && !self.refusals.is_refusal(&frame) => {
                diagnostic_hook(h, frame, &self.results)
            }
            Some(h) if frame.tag == b'A' => notification_hook(h, frame),
            _ => frame,
        }
    }

    /// What the frame says about the session: a sync point answered, a fatal error, a reported
    /// setting, a schema change, whether the client encoding may have moved.
    fn follow_session(&mut self, frame: &Frame) {
        match frame.tag {
            b'Z' => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if self.in_flight == 0 {
                    self.refusals.clear();
                }
            }
            b'E' => self.upstream_said_fatal |= is_fatal(frame),
            b'S' => self.opts.lexing.on_upstream(frame),
            b'C' if changes_schema(frame) => self.opts.catalog.invalidate(),
            _ => {}
        }
        match frame.tag {
            b'Z' => self.encoding_settled = true,
            b'C' if !begins_transaction(frame) => self.encoding_settled = false,
            _ => {}
        }
    }

    /// A COPY out starts (its rows may need masking) or ends.
    async fn follow_copy(&mut self, frame: &Frame) {
        match frame.tag {
            b'H' => {
                let encoding = SessionEncoding {
                    reported: self.opts.lexing.client_encoding(),
                    settled: self.encoding_settled,
                };
                self.copy_rows = match self.hooks.as_deref_mut() {
                    Some(h) if h.wants_columns() => {
                        let current = self.results.current();
                        copy_hook(h, frame, current, &self.opts.catalog, encoding).await
                    }
                    _ => None,
                };
            }
            b'c' | b'C' | b'E' => self.copy_rows = None,
            _ => {}
        }
    }

    /// Rows and bytes counted; a completed result, or an error, reported to the hook.
    fn report_result(&mut self, frame: &Frame, completed: Option<(Arc<str>, usize)>) {
        let Some(h) = self.hooks.as_deref_mut() else {
            return;
        };
        match frame.tag {
            b'D' | b'd' => {
                self.counted.rows += 1;
                self.counted.bytes += frame.bytes.len() as u64;
            }
            b'C' | b's' => {
                if let Some((sql, index)) = completed.as_ref() {
                    h.on_completed(ResultOf { sql, index: *index });
                }
                self.counted.rows_affected = rows_affected(frame);
                h.on_result_end(&std::mem::take(&mut self.counted));
            }
            b'E' if !self.refusals.is_refusal(frame) => {
                self.counted = ResultEnd::default();
                let (code, message) = messages::parse_error_fields(frame.body());
                h.on_error(&code, &message);
            }
            _ => {}
        }
    }

    /// The frame to the client: as it is, masked, rewritten (a refusal's error), or not at all.
    async fn deliver(&mut self, answer: Answer, frame: Frame) {
        match answer {
            Answer::Columns {
                sql,
                index,
                swallow,
            } => {
                self.inspect_rows = match self.hooks.as_deref_mut() {
                    Some(h) if h.wants_columns() => {
                        let of = sql.as_deref().map(|sql| ResultOf { sql, index });
                        columns_hook(h, &frame, of, &self.opts.catalog).await
                    }
                    _ => false,
                };
                if !swallow {
                    self.to_client.extend_from_slice(&frame.bytes);
                }
            }
            Answer::Swallow => {}
            Answer::EndOfResult | Answer::Forward if frame.tag == b'E' => {
                self.inspect_rows = false;
                if !self.refusals.rewrite(&frame, &mut self.to_client) {
                    self.to_client.extend_from_slice(&frame.bytes);
                }
            }
            Answer::EndOfResult => {
                self.inspect_rows = false;
                self.to_client.extend_from_slice(&frame.bytes);
            }
            Answer::Forward => self.forward_row(frame),
        }
    }

    /// A row (or anything else passing through): masked when its result is inspected.
    fn forward_row(&mut self, frame: Frame) {
        match self.hooks.as_deref_mut() {
            Some(h) if frame.tag == b'D' && self.inspect_rows && h.wants_rows() => {
                row_hook(h, &frame, &mut self.to_client)
            }
            Some(h) if frame.tag == b'd' => match self.copy_rows.as_mut() {
                Some(rows) => copy_row_hook(h, rows, &frame, &mut self.to_client),
                None => self.to_client.extend_from_slice(&frame.bytes),
            },
            _ => self.to_client.extend_from_slice(&frame.bytes),
        }
    }
}

/// The client closed its connection or said Terminate (`None`), or sent bytes that are not
/// the protocol: the database gets Terminate, a broken client is told why.
fn client_ended(
    broken: Option<FrameError>,
    to_client: &mut BytesMut,
    to_upstream: &mut BytesMut,
) -> SessionEnd {
    to_upstream.extend_from_slice(&messages::TERMINATE);
    let Some(e) = broken else {
        return SessionEnd::ClientClosed;
    };
    let why = e.to_string();
    let message = format!("invalid frontend message: {why}");
    messages::error_response(to_client, Severity::Fatal, "08P01", &message);
    SessionEnd::ClientProtocol(why)
}

/// The next whole frame already in `rd`'s buffer, if any. A malformed one is left there for the
/// stream itself to report on its next poll.
fn buffered_frame<R>(rd: &mut FramedRead<R, FrameCodec>, max_len: u32) -> Option<Frame> {
    FrameCodec { max_len }
        .decode(rd.read_buffer_mut())
        .ok()
        .flatten()
}

fn upstream_lost(
    to_client: &mut BytesMut,
    target: &str,
    already_told: bool,
    why: &str,
) -> SessionEnd {
    if !already_told {
        let msg =
            format!("sluice: lost the connection to the database of target \"{target}\": {why}");
        messages::error_response(to_client, Severity::Fatal, "08006", &msg);
    }
    SessionEnd::UpstreamLost(why.to_string())
}

fn is_fatal(frame: &Frame) -> bool {
    let mut r = Reader(frame.body());
    while let Some(field) = r.bytes(1) {
        let Some(value) = r.cstr() else { return false };
        if field[0] == b'V' || field[0] == b'S' {
            return matches!(value, "FATAL" | "PANIC");
        }
    }
    false
}

/// An ErrorResponse or NoticeResponse → the hook, which may withhold its message (a masked
/// session must not learn values from `invalid input syntax for type integer: "…"`).
fn diagnostic_hook(hooks: &mut dyn SessionHooks, frame: Frame, results: &ResultTracker) -> Frame {
    let (code, message) = messages::parse_error_fields(frame.body());
    let current = results.current();
    let of = current
        .as_ref()
        .map(|(sql, index)| ResultOf { sql, index: *index });
    match hooks.diagnostic(of, &code, &message) {
        None => frame,
        Some(text) => {
            let mut bytes = BytesMut::new();
            messages::withheld_diagnostic(&mut bytes, frame.tag, frame.body(), &text);
            Frame {
                tag: frame.tag,
                bytes,
            }
        }
    }
}

/// A NotificationResponse → the hook, which may replace its payload.
fn notification_hook(hooks: &mut dyn SessionHooks, frame: Frame) -> Frame {
    let mut r = Reader(frame.body());
    let payload = match (r.bytes(4), r.cbytes(), r.text()) {
        (Some(_), Some(_), Some(payload)) => payload,
        _ => return frame,
    };
    match hooks.notification(&payload) {
        None => frame,
        Some(text) => {
            let mut bytes = BytesMut::new();
            messages::notification_with_payload(&mut bytes, frame.body(), &text);
            Frame {
                tag: frame.tag,
                bytes,
            }
        }
    }
}

/// FunctionCall → the hook, with the function's OID; `Some(message)` when it must not run.
fn function_call_hook(hooks: &mut dyn SessionHooks, frame: &Frame) -> Option<String> {
    let oid = Reader(frame.body()).i32().unwrap_or(0) as u32;
    match hooks.on_function_call(oid) {
        StatementDecision::Forward => None,
        StatementDecision::Refuse { message } => Some(message),
    }
}

/// Query or Parse → the hook; `Some(message)` when the statement must not run.
fn statement_hook(hooks: &mut dyn SessionHooks, frame: &Frame) -> Option<String> {
    let mut r = Reader(frame.body());
    let sql = match frame.tag {
        b'Q' => r.text(),
        b'P' => r.cbytes().and_then(|_name| r.text()),
        _ => None,
    }?;
    let decision = match frame.tag {
        b'P' => hooks.on_prepare(&sql),
        _ => hooks.on_statement(&sql),
    };
    match decision {
        StatementDecision::Forward => None,
        StatementDecision::Refuse { message } => Some(message),
    }
}

/// Refused statements. Instead of the client's statement, the database gets one that fails at
/// parse time with an error naming a per-session marker (`SELECT "sluice_blocked_<nonce>_<n>"`,
/// SQLSTATE 42703); when that error comes back, sluice replaces it with its own 42501 and the
/// rule's message. The error thus arrives exactly where the database would have put it, an open
/// transaction is aborted by the database itself, and nothing of the statement ever ran.
struct Refusals {
    nonce: String,
    next: u64,
    pending: std::collections::HashMap<u64, String>,
}

impl Refusals {
    fn new() -> Self {
        let mut n = [0u8; 6];
        crate::auth::scram::fill_random(&mut n);
        Refusals {
            nonce: n.iter().map(|b| format!("{b:02x}")).collect(),
            next: 0,
            pending: Default::default(),
        }
    }

    fn marker(&self, n: u64) -> String {
        format!("sluice_blocked_{}_{n}", self.nonce)
    }

    /// Queues the failing stand-in for a refused Query or Parse.
    fn inject(&mut self, frame: &Frame, message: String, out: &mut BytesMut) {
        let n = self.next;
        self.next += 1;
        let sql = format!("SELECT \"{}\"", self.marker(n));
        self.pending.insert(n, message);
        let start = out.len();
        // A FunctionCall is answered like a query (ReadyForQuery follows): a failing query
        // stands in for it.
        out.put_u8(if frame.tag == b'F' { b'Q' } else { frame.tag });
        out.put_u32(0);
        if frame.tag == b'P' {
            let name = Reader(frame.body()).cbytes().unwrap_or_default();
            out.put_slice(name);
            out.put_u8(0);
            out.put_slice(sql.as_bytes());
            out.put_u8(0);
            out.put_i16(0);
        } else if frame.tag == b'B' {
            // A Bind of a statement that does not exist, named by the marker: the database
            // fails it ("prepared statement … does not exist") where the Bind would have run.
            let portal = Reader(frame.body()).cbytes().unwrap_or_default();
            out.put_slice(portal);
            out.put_u8(0);
            out.put_slice(self.marker(n).as_bytes());
            out.put_u8(0);
            out.put_i16(0);
            out.put_i16(0);
            out.put_i16(0);
        } else {
            out.put_slice(sql.as_bytes());
            out.put_u8(0);
        }
        let len = (out.len() - start - 1) as u32;
        out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
    }

    /// Queues a statement that fails, in place of nothing: a held write that went over its
    /// limit is rolled back by that failure. The Parse is named by its marker, so no statement
    /// of the client's is replaced.
    fn inject_failure(&mut self, message: String, out: &mut BytesMut) {
        let n = self.next;
        self.next += 1;
        let marker = self.marker(n);
        self.pending.insert(n, message);
        let start = out.len();
        out.put_u8(b'P');
        out.put_u32(0);
        out.put_slice(marker.as_bytes());
        out.put_u8(0);
        out.put_slice(format!("SELECT \"{marker}\"").as_bytes());
        out.put_u8(0);
        out.put_i16(0);
        let len = (out.len() - start - 1) as u32;
        out[start + 1..start + 5].copy_from_slice(&len.to_be_bytes());
    }

    /// Whether this ErrorResponse is the database failing one of sluice's stand-ins.
    fn is_refusal(&self, frame: &Frame) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        let (_, message) = messages::parse_error_fields(frame.body());
        message.contains(&format!("sluice_blocked_{}_", self.nonce))
    }

    /// Replaces the database's error for a stand-in with sluice's own; false for other errors.
    fn rewrite(&mut self, frame: &Frame, out: &mut BytesMut) -> bool {
        if self.pending.is_empty() {
            return false;
        }
        let (_, message) = messages::parse_error_fields(frame.body());
        let prefix = format!("sluice_blocked_{}_", self.nonce);
        let Some(n) = message.split_once(&prefix).and_then(|(_, rest)| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|d| d.parse::<u64>().ok())
        }) else {
            return false;
        };
        match self.pending.remove(&n) {
            Some(text) => {
                messages::error_response(out, Severity::Error, "42501", &text);
                true
            }
            None => false,
        }
    }

    /// Stand-ins the database skipped (after an earlier error) will never answer.
    fn clear(&mut self) {
        self.pending.clear();
    }
}

/// Forwards a client frame the hooks let through: a simple query or an execution held to a row
/// limit goes through [`RowLimits`], everything else as it is.
fn forward(
    frame: &Frame,
    hooks: &mut Option<Box<dyn SessionHooks>>,
    results: &ResultTracker,
    limits: &mut RowLimits,
    earlier: Earlier,
    out: &mut BytesMut,
) {
    let hold = match (frame.tag, hooks.as_deref_mut().filter(|h| h.holds_writes())) {
        // A query naming a prepared statement or portal whose write is held (`EXECUTE s`,
        // `FETCH ALL FROM p`, `EXPLAIN ANALYZE EXECUTE s`) runs held too: a count that is not
        // a write's (FETCH, EXPLAIN) is then no count, and refused.
        (b'Q', Some(h)) => Reader(frame.body()).text().and_then(|sql| {
            h.row_limit(&sql)
                .or_else(|| results.named_in(&sql).find_map(|text| h.row_limit(&text)))
        }),
        (b'E', Some(h)) => Reader(frame.body())
            .cbytes()
            .and_then(|portal| results.portal(portal))
            .and_then(|sql| h.row_limit(&sql)),
        _ => None,
    };
    match hold {
        Some(hold) if frame.tag == b'Q' => {
            let body = frame.body();
            let sql = body.strip_suffix(&[0]).unwrap_or(body);
            limits.hold_query(sql, hold, earlier, out);
        }
        Some(hold) => {
            out.extend_from_slice(&frame.bytes);
            limits.hold_execute(hold, earlier, out);
        }
        None => out.extend_from_slice(&frame.bytes),
    }
}

/// Rows a command changed, from its CommandComplete tag (`INSERT 0 5`, `UPDATE 3`, `COPY 2`).
fn rows_affected(frame: &Frame) -> Option<u64> {
    let tag = Reader(frame.body()).cstr()?;
    let mut words = tag.split(' ');
    match words.next()? {
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "COPY" => words.next_back()?.parse().ok(),
        _ => None,
    }
}

/// CommandComplete of a statement that may have renamed or redefined tables, columns or views:
/// the catalog's answers may be stale.
fn changes_schema(frame: &Frame) -> bool {
    let tag = frame.body();
    [&b"ALTER"[..], b"CREATE", b"DROP", b"COMMENT"]
        .iter()
        .any(|p| tag.starts_with(p))
}

/// RowDescription → origins resolved through the catalog → the hook; returns whether rows
/// should be inspected.
async fn columns_hook(
    hooks: &mut dyn SessionHooks,
    frame: &Frame,
    of: Option<ResultOf<'_>>,
    catalog: &PgCatalog,
) -> bool {
    let mut columns = messages::row_description(frame.body());
    let mut origins: Vec<&mut ColumnOrigin> = columns.iter_mut().map(|c| &mut c.origin).collect();
    catalog.resolve(&mut origins).await;
    hooks.on_columns(of, &columns)
}

/// A CommandComplete of `BEGIN` or `START TRANSACTION`, which change no setting (drivers send
/// one in the same pipeline as the statement after it).
fn begins_transaction(frame: &Frame) -> bool {
    let tag = frame.body();
    tag.starts_with(b"BEGIN\0") || tag.starts_with(b"START TRANSACTION\0")
}

/// What sluice knows of the encoding a COPY's rows come in, when it starts.
struct SessionEncoding<'a> {
    /// `client_encoding` as the server last reported it.
    reported: &'a str,
    /// No statement completed since the last ReadyForQuery: one that did (`SET
    /// client_encoding` earlier in the same query string or pipeline) may have changed the
    /// encoding without the server having reported it yet (it reports at ReadyForQuery).
    settled: bool,
}

/// CopyOutResponse of a session with masks: the rows of the COPY get the plan its query would
/// get as a SELECT (described on sluice's own connection, its names resolved as the session
/// would: see `PgCatalog::describe_copy`). `None`: rows pass as they are. When sluice cannot
/// tell where the columns come from, or how to split the rows (an encoding it does not know,
/// or one that may have changed unreported), every field is masked (fail closed).
async fn copy_hook(
    hooks: &mut dyn SessionHooks,
    frame: &Frame,
    current: Option<(Arc<str>, usize)>,
    catalog: &PgCatalog,
    encoding: SessionEncoding<'_>,
) -> Option<CopyRows> {
    let mut r = Reader(frame.body());
    let binary = r.bytes(1) == Some(&[1][..]);
    let count = r.i16().unwrap_or(0).max(0) as usize;
    let copy = current.as_ref().and_then(|(sql, index)| {
        let read = hooks.as_read(sql);
        policy::copy_out(policy::Dialect::Postgres, read.as_deref().unwrap_or(sql))
            .into_iter()
            .nth(*index)
            .flatten()
    });
    let charset = match copy.as_ref().and_then(|c| c.encoding.as_deref()) {
        Some(name) => Charset::from_name(name),
        None if encoding.settled => Charset::from_name(encoding.reported),
        None => None,
    };
    let columns = match &copy {
        // A description whose column count differs from the COPY's describes something else.
        Some(c) => catalog
            .describe_copy(&c.select)
            .await
            .filter(|cols| cols.len() == count),
        None => None,
    };
    let select = copy.as_ref().map_or("", |c| c.select.as_str());
    let of = match (&copy, &current) {
        _ if charset.is_none() => None,
        (Some(_), _) if columns.is_none() => None,
        (Some(_), _) => Some(ResultOf {
            sql: select,
            index: 0,
        }),
        // Without a description every field is of unknown origin, judged by the statement's
        // lineage (or masked outright when even the statement is unknown).
        (None, Some((sql, index))) => Some(ResultOf { sql, index: *index }),
        (None, None) => None,
    };
    let columns = match columns {
        Some(columns) if charset.is_some() => columns,
        _ => unknown_columns(count),
    };
    if !hooks.on_columns(of, &columns) {
        return None;
    }
    let format = match copy {
        Some(c) if !binary => c.format,
        // Binary COPY of masked data is refused before it runs; should one get here, its rows
        // are dropped rather than passed.
        _ if binary => policy::CopyFormat::Binary,
        _ => policy::CopyFormat::Text {
            delimiter: '\t',
            null: "\\N".into(),
        },
    };
    // Unknown: every field is masked whole, so where the rows split cannot leak.
    let rows = CopyRows::new(format, charset.unwrap_or(Charset::AsciiSafe));
    Some(rows.with_column_names(columns.iter().map(|c| c.name.as_str())))
}

/// `count` columns of unknown origin: masked unless the statement's lineage clears them.
fn unknown_columns(count: usize) -> Vec<ColumnDesc> {
    (0..count)
        .map(|i| ColumnDesc {
            name: format!("column{}", i + 1),
            origin: ColumnOrigin::Unknown,
            type_code: 25,
            type_name: Some("text"),
            binary: false,
            value_type: masking::ColumnType::pg(25, false),
        })
        .collect()
}

/// One CopyData row of a masked COPY → the hook → a rebuilt CopyData.
fn copy_row_hook(
    hooks: &mut dyn SessionHooks,
    rows: &mut CopyRows,
    frame: &Frame,
    out: &mut BytesMut,
) {
    if rows.take_header() {
        out.extend_from_slice(&frame.bytes);
        return;
    }
    let mut fields = rows.decode(frame.body());
    if rows.is_binary() {
        tracing::error!("a binary COPY of masked columns reached the relay; its rows are dropped");
        return;
    }
    hooks.on_row(&mut fields);
    let mut body = Vec::with_capacity(frame.body().len());
    rows.encode(&fields, &mut body);
    out.put_u8(b'd');
    out.put_u32((4 + body.len()) as u32);
    out.put_slice(&body);
}

/// Bind → the hook: the statement's text and its parameters; `Some(message)` when the
/// execution must not run.
fn bind_hook(
    hooks: &mut dyn SessionHooks,
    frame: &Frame,
    results: &ResultTracker,
) -> Option<String> {
    let mut r = Reader(frame.body());
    let (Some(_portal), Some(stmt)) = (r.cbytes(), r.cbytes()) else {
        return None;
    };
    let n_formats = r.i16().unwrap_or(0).max(0) as usize;
    let formats: Vec<i16> = (0..n_formats).filter_map(|_| r.i16()).collect();
    let n = r.i16().unwrap_or(0).max(0) as usize;
    // Each parameter takes at least its 4-byte length: no room for more than are there.
    let mut params = Vec::with_capacity(n.min(r.0.len() / 4));
    for i in 0..n {
        let len = r.i32().unwrap_or(-1);
        let value = usize::try_from(len).ok().and_then(|l| r.bytes(l));
        // One format code applies to all parameters; none means text.
        let binary = match formats.len() {
            0 => false,
            1 => formats[0] == 1,
            _ => formats.get(i) == Some(&1),
        };
        // Binary text values are their UTF-8 bytes: shown as text, so that the log's masking
        // and detectors see them; other binary values as hex.
        params.push(value.map(|v| match (binary, std::str::from_utf8(v)) {
            (false, _) => String::from_utf8_lossy(v).into_owned(),
            (true, Ok(t)) if !t.chars().any(char::is_control) => t.to_string(),
            (true, _) => format!("\\x{}", hex::encode(v)),
        }));
    }
    let sql = results.statement(stmt);
    match hooks.on_bind(sql.as_deref(), &params) {
        StatementDecision::Forward => None,
        StatementDecision::Refuse { message } => Some(message),
    }
}

/// DataRow → the hook → a rebuilt DataRow.
fn row_hook(hooks: &mut dyn SessionHooks, frame: &Frame, out: &mut BytesMut) {
    let mut fields = super::messages::data_row_fields(frame.body());
    hooks.on_row(&mut fields);
    out.put_u8(b'D');
    let at = out.len();
    out.put_u32(0);
    out.put_i16(fields.len() as i16);
    for f in &fields {
        match f {
            Some(v) => {
                out.put_i32(v.len() as i32);
                out.put_slice(v);
            }
            None => out.put_i32(-1),
        }
    }
    let len = (out.len() - at) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}
