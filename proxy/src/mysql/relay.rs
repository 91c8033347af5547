//! The steady state of a MySQL session, on the same design as the PostgreSQL relay: one task owns
//! both connections and both outbound buffers, reads are bounded by high-water marks, and
//! packets are forwarded raw. Commands are classified on the way in so the response tracker
//! knows what comes back; `KILL`, `LOAD DATA LOCAL` and `COM_CHANGE_USER` are handled here.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio_util::codec::{Decoder, FramedRead};

use super::catalog::MysqlCatalog;
use super::command::{com, expected_response, response_kind, special, ResponseKind, Special};
use super::mode_probe::ModeProbe;
use super::packet::{
    err_payload, ok_payload, write_packets, Packet, PacketCodec, Reader, CONNECTION_FAILURE,
    TARGET_LOST,
};
use super::response::{column_def, ResponseTracker, Role, MAX_RESULT_COLUMNS};
use super::row_limit::{self, Ending, RowHold, Stage};
use super::rows::{
    decode_binary_row, decode_params, decode_text_row, encode_binary_row, encode_text_row,
    statement_id, Prepared, PreparedStatements, Statement,
};
use super::session_settings::SettingsReplay;
use super::sessions::SessionRegistry;
use crate::client_reader::{withdraw_hold, ClientReader, Waited};
use crate::live::Live;
use crate::metrics::TargetMetrics;
use crate::net::{close, pump};
use crate::session::{
    ColumnDesc, LexReport, Relations, ResultEnd, ResultOf, SessionHooks, StatementDecision,
};
use crate::tls::BoxStream;

const HIGH_WATER: usize = 256 * 1024;
/// The most column definitions of one result kept to inspect its rows by (masking, the audit
/// log's columns): 65,535, what a prepared statement can describe (COM_STMT_PREPARE_OK counts
/// them in 2 bytes) and 16 times MariaDB's 4,096 columns of a table. A wider result in a session
/// whose rows sluice inspects is refused, as a row it cannot inspect is.
pub const MAX_INSPECTED_COLUMNS: usize = 65_535;
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
const COM_QUIT: [u8; 5] = [1, 0, 0, 0, com::QUIT];

pub use crate::pg::relay::SessionEnd;

mod settings;
use settings::Inline;

/// What the relay needs to know about its session.
pub struct RelayContext {
    pub target: String,
    pub connection_id: u32,
    pub user: String,
    pub groups: Vec<String>,
    pub allow_local_infile: bool,
    pub deprecate_eof: bool,
    /// MariaDB extended metadata is on: column definitions carry a type name/format block.
    pub extended_metadata: bool,
    /// Largest command sluice assembles to inspect (COM_QUERY, COM_STMT_PREPARE).
    pub max_command: usize,
    pub sessions: Arc<SessionRegistry>,
    pub live: Arc<Live>,
    /// The scramble the client authenticated with; COM_CHANGE_USER answers are made with it.
    pub scramble: [u8; 20],
    pub catalog: Arc<MysqlCatalog>,
    /// For the audit log's session record.
    pub tls: bool,
    pub database: Option<String>,
    /// A `KILL` of a session whose statement is held for approval withdraws the request.
    pub approvals: Option<Arc<crate::approvals::Approvals>>,
    /// A token-signed session ends at its first statement after this.
    pub deadline: Option<i64>,
    /// The status flags of the upstream login's OK packet.
    pub login_status: u16,
    /// How the upstream session read statements right after login.
    pub login_reading: super::upstream::SessionReading,
    /// The server, from its greeting's version (for version-conditional comments).
    pub server: Option<policy::MysqlServer>,
    /// The target's counters (bytes each way).
    pub metrics: Arc<crate::metrics::TargetMetrics>,
    /// The upstream identity's `session_settings`, sent again after a reset.
    pub settings: Vec<(String, crate::config::SettingValue)>,
}

/// A response owed to the client, in order.
enum Owed {
    /// The database answers, about this statement.
    Upstream(ResponseKind, Statement),
    /// sluice answers itself (an ERR it decided on).
    Local(BytesMut),
}

/// What a packet's role in a response made sluice do with it.
enum Handled {
    /// Nothing: it goes to the client as it is.
    Forward,
    /// Already sent (masked).
    Sent,
    /// The session ends; the client was told why.
    End(SessionEnd),
}

/// What packets with a sequence id other than 0 the client may send now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Continuation {
    None,
    /// The rest of a command longer than one packet, being streamed.
    LongCommand,
    /// A file the database asked for (allowed LOAD DATA LOCAL), up to its empty packet.
    LocalInfile,
}

/// The client's packets, with those read ahead while a statement waited.
type ClientPackets = ClientReader<tokio::io::ReadHalf<BoxStream>, PacketCodec>;

struct Relay {
    client: ClientPackets,
    /// The client went away while a statement waited at its barrier: the session ends so.
    gone_while_waiting: Option<SessionEnd>,
    client_continues: Continuation,
    ctx: RelayContext,
    hooks: Option<Box<dyn SessionHooks>>,
    to_client: BytesMut,
    to_upstream: BytesMut,
    owed: VecDeque<Owed>,
    tracker: ResponseTracker,
    /// A multi-packet command being assembled: command byte, payload, raw packets.
    assembling: Option<(Vec<u8>, BytesMut)>,
    columns: Vec<ColumnDesc>,
    /// The columns of the result streaming, when its rows are inspected.
    result_columns: Vec<ColumnDesc>,
    inspect_rows: bool,
    last_seq_to_client: u8,
    /// What the response in flight is about.
    current: Statement,
    /// Rows and bytes of the response in flight.
    counted: ResultEnd,
    prepared: PreparedStatements,
    /// What the gate was last told of `NO_BACKSLASH_ESCAPES`.
    lex_reported: LexReport,
    /// Asking the server for `sql_mode` after what may have changed it.
    mode_probe: ModeProbe,
    /// A write held to a row limit, from sluice's opening statement to its closing one: the
    /// client's next command waits.
    row_hold: Option<RowHold>,
    /// The last answer carried status flags (an ERR carries none).
    status_known: bool,
    /// The identity's settings, owed again after `COM_RESET_CONNECTION`.
    settings: SettingsReplay,
}

/// The audit record must be durable first (sync mode), or an approval hold must end. A client
/// that goes away meanwhile has its statement refused (it never runs) and its hold withdrawn;
/// `gone` says how the session ends.
async fn run_barrier(
    h: &mut dyn SessionHooks,
    client: &mut ClientPackets,
    gone: &mut Option<SessionEnd>,
) -> Option<String> {
    let barrier = h.take_barrier()?;
    let says_quit = |p: &Packet| p.seq == 0 && p.payload() == [com::QUIT];
    match client.wait(barrier, says_quit, |p| p.bytes.len()).await {
        Waited::Done(refusal) => refusal,
        Waited::ClientEnded(broken) => {
            withdraw_hold(h).await;
            *gone = Some(broken.map_or(SessionEnd::ClientClosed, |e| {
                SessionEnd::ClientProtocol(e.to_string())
            }));
            Some("sluice: the client went away while the statement waited; it was not run".into())
        }
    }
}

/// (code, message) of an ERR packet payload.
fn err_fields(payload: &[u8]) -> (String, String) {
    let mut r = Reader(payload.get(1..).unwrap_or_default());
    let code = r.u16().unwrap_or(0).to_string();
    let rest = r.rest();
    let message = match rest.first() {
        Some(b'#') => rest.get(6..).unwrap_or_default(),
        _ => rest,
    };
    (code, String::from_utf8_lossy(message).into_owned())
}

/// Relays until either side ends.
pub async fn run(
    client: BoxStream,
    upstream: BoxStream,
    ctx: RelayContext,
    hooks: Option<Box<dyn SessionHooks>>,
    mut shutdown: watch::Receiver<bool>,
) -> SessionEnd {
    let (client_rd, mut client_wr) = tokio::io::split(client);
    let (upstream_rd, mut upstream_wr) = tokio::io::split(upstream);
    let mut upstream_rd = FramedRead::with_capacity(upstream_rd, PacketCodec, 64 * 1024);
    let client_rd = FramedRead::with_capacity(client_rd, PacketCodec, 16 * 1024);
    let mut r = Relay::new(ClientReader::new(client_rd), ctx, hooks);
    let login = r.ctx.login_reading;
    r.report_reading(Some(login));
    if let (Some(h), Some(server)) = (r.hooks.as_deref_mut(), r.ctx.server) {
        h.on_lexing(LexReport::MysqlServer(server));
    }
    let (mut client_dirty, mut upstream_dirty) = (false, false);
    let mut draining = *shutdown.borrow();
    // One future for the whole session: a fresh `changed()` per loop turn would register
    // and deregister a waiter (a lock each) for every message.
    let shutdown_signal = async move {
        let _ = shutdown.changed().await;
    };
    tokio::pin!(shutdown_signal);
    let end = 'relay: loop {
        if draining && r.idle() {
            r.local_err(
                1053,
                "08S01",
                "Server shutdown in progress: sluice is shutting down",
            );
            r.to_upstream.extend_from_slice(&COM_QUIT);
            break SessionEnd::Shutdown;
        }
        tokio::select! {
            biased;
            _ = &mut shutdown_signal, if !draining => draining = true,
            packet = r.client.next(), if r.to_upstream.len() < HIGH_WATER && !r.mode_probe.in_flight() && r.row_hold.is_none() && !r.settings.holds_client() => match packet {
                None => {
                    r.client_gone();
                    break SessionEnd::ClientClosed;
                }
                Some(Err(e)) => {
                    r.client_gone();
                    break SessionEnd::ClientProtocol(e.to_string());
                }
                Some(Ok(p)) => {
                    if let Some(end) = r.on_client_packet(p, &mut upstream_rd, &mut upstream_wr).await {
                        break end;
                    }
                    if let Some(end) = r.gone_while_waiting.take() {
                        r.client_gone();
                        break end;
                    }
                }
            },
            packet = upstream_rd.next(), if r.to_client.len() < HIGH_WATER => match packet {
                None => break r.upstream_lost("the database closed the connection"),
                Some(Err(e)) => break r.upstream_lost(&e.to_string()),
                Some(Ok(p)) => {
                    // Packets the last read already brought (a result is several) are handled
                    // in this turn rather than one per turn of the select.
                    let mut next = Some(p);
                    while let Some(p) = next.take() {
                        if let Some(end) = r.on_upstream_packet(p) {
                            break 'relay end;
                        }
                        if r.to_client.len() < HIGH_WATER {
                            next = PacketCodec.decode(upstream_rd.read_buffer_mut()).ok().flatten();
                        }
                    }
                }
            },
            pumped = pump(&mut client_wr, &r.to_client), if client_dirty || !r.to_client.is_empty() => match pumped {
                Ok(Some(n)) if n > 0 => { r.to_client.advance(n); client_dirty = true; TargetMetrics::add(&r.ctx.metrics.bytes_to_clients, n as u64); }
                Ok(None) => client_dirty = false,
                _ => {
                    r.to_client.clear();
                    r.client_gone();
                    break SessionEnd::ClientClosed;
                }
            },
            pumped = pump(&mut upstream_wr, &r.to_upstream), if upstream_dirty || !r.to_upstream.is_empty() => match pumped {
                Ok(Some(n)) if n > 0 => { r.to_upstream.advance(n); upstream_dirty = true; TargetMetrics::add(&r.ctx.metrics.bytes_to_upstream, n as u64); }
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
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        tokio::join!(
            close(&mut upstream_wr, &r.to_upstream),
            close(&mut client_wr, &r.to_client)
        )
    })
    .await;
    end
}

type UpstreamReader = FramedRead<tokio::io::ReadHalf<BoxStream>, PacketCodec>;
type UpstreamWriter = tokio::io::WriteHalf<BoxStream>;

impl Relay {
    fn new(
        client: ClientPackets,
        ctx: RelayContext,
        hooks: Option<Box<dyn SessionHooks>>,
    ) -> Relay {
        let settings = SettingsReplay::new(ctx.settings.clone());
        Relay {
            client,
            gone_while_waiting: None,
            client_continues: Continuation::None,
            tracker: ResponseTracker::new(ctx.deprecate_eof).with_status(ctx.login_status),
            ctx,
            hooks,
            to_client: BytesMut::with_capacity(64 * 1024),
            to_upstream: BytesMut::with_capacity(16 * 1024),
            owed: VecDeque::new(),
            assembling: None,
            columns: Vec::new(),
            result_columns: Vec::new(),
            inspect_rows: false,
            current: Statement::None,
            counted: ResultEnd::default(),
            prepared: PreparedStatements::new(),
            last_seq_to_client: 0,
            lex_reported: LexReport::Backslash(true),
            mode_probe: ModeProbe::default(),
            row_hold: None,
            status_known: true,
            settings,
        }
    }

    fn idle(&self) -> bool {
        self.tracker.is_idle()
            && self.owed.is_empty()
            && self.assembling.is_none()
            && self.row_hold.is_none()
    }

    /// Queues an ERR from sluice as the answer to the command just read.
    fn local_err(&mut self, code: u16, state: &str, message: &str) {
        let mut out = BytesMut::new();
        write_packets(
            &mut out,
            self.last_seq_to_client,
            &err_payload(code, state, message),
        );
        self.owed.push_back(Owed::Local(out));
        self.drain_local();
    }

    /// Emits sluice's own answers that are next in line.
    fn drain_local(&mut self) {
        while self.tracker.is_idle() {
            match self.owed.front() {
                Some(Owed::Local(_)) => {
                    if let Some(Owed::Local(bytes)) = self.owed.pop_front() {
                        self.to_client.extend_from_slice(&bytes);
                    }
                }
                _ => break,
            }
        }
    }

    /// The client went away (or broke the protocol). With nothing in flight the session ends
    /// with COM_QUIT. With a statement running, the connection just closes, as the client's own
    /// would have: the server notices a closed connection while the statement waits (a lock,
    /// `SLEEP`) and stops it, where a COM_QUIT waiting in its buffer keeps it running to the end,
    /// holding its locks, for nobody.
    fn client_gone(&mut self) {
        if self.idle() {
            self.to_upstream.extend_from_slice(&COM_QUIT);
        }
    }

    fn upstream_lost(&mut self, why: &str) -> SessionEnd {
        if !self.idle() {
            let msg = format!(
                "Lost connection to the database of target \"{}\": {why}",
                self.ctx.target
            );
            write_packets(
                &mut self.to_client,
                self.last_seq_to_client.wrapping_add(1),
                &err_payload(
                    super::packet::TARGET_LOST,
                    super::packet::CONNECTION_FAILURE,
                    &msg,
                ),
            );
        }
        SessionEnd::UpstreamLost(why.to_string())
    }

    async fn on_client_packet(
        &mut self,
        p: Packet,
        upstream_rd: &mut UpstreamReader,
        upstream_wr: &mut UpstreamWriter,
    ) -> Option<SessionEnd> {
        if let Some((payload, raw)) = &mut self.assembling {
            payload.extend_from_slice(p.payload());
            raw.extend_from_slice(&p.bytes);
            if payload.len() > self.ctx.max_command {
                let msg = format!("command longer than {} bytes", self.ctx.max_command);
                self.last_seq_to_client = p.seq.wrapping_add(1);
                write_packets(
                    &mut self.to_client,
                    self.last_seq_to_client,
                    &err_payload(1153, "08S01", &msg),
                );
                self.to_upstream.extend_from_slice(&COM_QUIT);
                return Some(SessionEnd::ClientProtocol(msg));
            }
            if p.continues() {
                return None;
            }
            let (payload, raw) = self.assembling.take().unwrap_or_default();
            return self
                .command(&payload, raw, p.seq, upstream_rd, upstream_wr)
                .await;
        }
        if p.seq != 0 {
            // Only LOCAL INFILE data or the rest of a long command already forwarded may come
            // with a sequence id: anything else would reach the database unexamined.
            match self.client_continues {
                Continuation::None => {
                    let msg = "Got packets out of order";
                    write_packets(
                        &mut self.to_client,
                        p.seq.wrapping_add(1),
                        &err_payload(1156, "08S01", msg),
                    );
                    self.to_upstream.extend_from_slice(&COM_QUIT);
                    return Some(SessionEnd::ClientProtocol(format!(
                        "{msg}: a packet with sequence id {} outside a command",
                        p.seq
                    )));
                }
                Continuation::LongCommand if !p.continues() => {
                    self.client_continues = Continuation::None;
                }
                Continuation::LocalInfile if p.payload().is_empty() => {
                    self.client_continues = Continuation::None;
                }
                _ => {}
            }
            self.to_upstream.extend_from_slice(&p.bytes);
            return None;
        }
        let first = p.first();
        if p.continues() && matches!(first, Some(com::QUERY | com::STMT_PREPARE)) {
            self.assembling = Some((p.payload().to_vec(), p.bytes));
            return None;
        }
        if p.continues() {
            // A long command sluice need not read (COM_STMT_EXECUTE, SEND_LONG_DATA): stream it.
            if let Some(kind) = expected_response(p.payload()) {
                if kind != ResponseKind::Nothing {
                    let stmt = match first {
                        Some(com::STMT_EXECUTE) => {
                            statement_id(p.payload()).map_or(Statement::None, Statement::Execute)
                        }
                        _ => Statement::None,
                    };
                    let changes_mode = self.executes_mode_change(&stmt);
                    self.owed.push_back(Owed::Upstream(kind, stmt));
                    if changes_mode {
                        self.mode_may_change();
                    }
                }
            }
            self.client_continues = Continuation::LongCommand;
            self.to_upstream.extend_from_slice(&p.bytes);
            return None;
        }
        let payload = p.payload().to_vec();
        self.command(&payload, p.bytes, p.seq, upstream_rd, upstream_wr)
            .await
    }

    /// One whole command from the client.
    async fn command(
        &mut self,
        payload: &[u8],
        raw: BytesMut,
        last_seq: u8,
        upstream_rd: &mut UpstreamReader,
        upstream_wr: &mut UpstreamWriter,
    ) -> Option<SessionEnd> {
        self.last_seq_to_client = last_seq.wrapping_add(1);
        let Some(&cmd) = payload.first() else {
            self.local_err(1047, "08S01", "Unknown command");
            return None;
        };
        if matches!(cmd, com::QUERY | com::STMT_PREPARE | com::STMT_EXECUTE) {
            if let Some(why) = self.hooks.as_deref_mut().and_then(|h| h.session_over()) {
                self.local_err(1045, "28000", &why);
                self.to_upstream.extend_from_slice(&COM_QUIT);
                return Some(SessionEnd::Expired(why));
            }
        }
        match cmd {
            com::QUIT => {
                self.to_upstream.extend_from_slice(&raw);
                return Some(SessionEnd::ClientClosed);
            }
            com::QUERY => self.query(payload, raw).await,
            com::PROCESS_KILL => {
                let id = Reader(&payload[1..]).u32().unwrap_or(0);
                match self.translate_kill(id) {
                    Ok(thread) => {
                        let mut p = vec![com::PROCESS_KILL];
                        p.extend_from_slice(&thread.to_le_bytes());
                        write_packets(&mut self.to_upstream, 0, &p);
                        self.owed
                            .push_back(Owed::Upstream(ResponseKind::Single, Statement::None));
                    }
                    Err(()) => self.local_err(1094, "HY000", &format!("Unknown thread id: {id}")),
                }
            }
            com::STMT_PREPARE => {
                let sql = String::from_utf8_lossy(&payload[1..]);
                self.catalog_for(&sql).await;
                if let Some(message) = self.refused_prepare(&sql).await {
                    self.local_err(1142, "42000", &message);
                    return None;
                }
                let sql = Statement::Prepare(Arc::from(sql.as_ref()));
                self.forward_for(raw, ResponseKind::Prepare, sql);
            }
            com::STMT_EXECUTE | com::STMT_FETCH => self.execute(cmd, payload, raw).await,
            com::STMT_CLOSE => {
                if let Some(id) = statement_id(payload) {
                    self.prepared.remove(&id);
                }
                self.forward(raw, ResponseKind::Nothing);
            }
            com::CHANGE_USER => {
                let end = self.change_user(payload, upstream_rd, upstream_wr).await;
                if end.is_none() {
                    // The session was reset upstream: its sql_mode is the server's default.
                    self.mode_may_change();
                    self.send_mode_probe();
                }
                return end;
            }
            com::RESET_CONNECTION => {
                self.forward(raw, ResponseKind::Single);
                self.settings.reset_forwarded();
                self.mode_may_change();
            }
            other => match response_kind(other) {
                Some(kind) => self.forward(raw, kind),
                None => self.local_err(
                    1047,
                    "08S01",
                    "Unknown command: sluice does not relay this command",
                ),
            },
        }
        None
    }

    /// COM_QUERY: judged, then forwarded (held to a row limit when a rule says so), or
    /// answered by sluice (a refusal, a KILL of another user's session, a refused local file).
    async fn query(&mut self, payload: &[u8], raw: BytesMut) {
        let sql = String::from_utf8_lossy(&payload[1..]);
        self.catalog_for(&sql).await;
        if let Some(message) = self.refused(&sql).await {
            self.local_err(1142, "42000", &message);
            return;
        }
        match special(&sql) {
            Some(Special::LoadDataLocal) if !self.ctx.allow_local_infile => {
                self.local_err(1148, "42000", "LOAD DATA LOCAL INFILE is refused by sluice (the target's allow_local_infile is off)");
            }
            Some(Special::Kill(kill)) => match self.translate_kill(kill.id) {
                Ok(thread) => {
                    let text = format!("{} {thread}", kill.prefix.join(" "));
                    let mut p = vec![com::QUERY];
                    p.extend_from_slice(text.as_bytes());
                    write_packets(&mut self.to_upstream, 0, &p);
                    self.owed
                        .push_back(Owed::Upstream(ResponseKind::TextResults, Statement::None));
                }
                Err(()) => {
                    self.local_err(1094, "HY000", &format!("Unknown thread id: {}", kill.id))
                }
            },
            Some(Special::KillOther) => {
                self.local_err(1095, "HY000", "sluice allows only KILL [QUERY|CONNECTION] <connection id> of your own sessions");
            }
            _ => {
                let changes_mode = policy::may_change_reading(&sql);
                let hold = self.hooks.as_deref_mut().and_then(|h| h.row_limit(&sql));
                let sql = Statement::Text(Arc::from(sql.as_ref()));
                self.forward_held(raw, ResponseKind::TextResults, sql, hold);
                if changes_mode {
                    self.mode_may_change();
                }
            }
        }
    }

    /// COM_STMT_EXECUTE (judged with its parameters) or COM_STMT_FETCH (a cursor's rows).
    async fn execute(&mut self, cmd: u8, payload: &[u8], raw: BytesMut) {
        let id = statement_id(payload);
        if cmd == com::STMT_EXECUTE {
            if let Some(message) = self.bind_hook(id, payload).await {
                self.local_err(1142, "42000", &message);
                return;
            }
        }
        if let Some(message) = self.cursor_over_a_write(cmd, id, payload) {
            self.local_err(1295, "HY000", &message);
            return;
        }
        let stmt = match (cmd, id) {
            (com::STMT_EXECUTE, Some(id)) => Statement::Execute(id),
            (_, Some(id)) => Statement::Fetch(id),
            _ => Statement::None,
        };
        let kind = expected_response(payload).unwrap_or(ResponseKind::Single);
        let changes_mode = self.executes_mode_change(&stmt);
        let hold = match (&stmt, self.hooks.as_deref_mut()) {
            (Statement::Execute(id), Some(h)) => {
                self.prepared.get(id).and_then(|p| h.row_limit(&p.sql))
            }
            _ => None,
        };
        self.forward_held(raw, kind, stmt, hold);
        if changes_mode {
            self.mode_may_change();
        }
    }

    /// A cursor asked for over a statement that is not a query (`DELETE … RETURNING`): MariaDB
    /// 10.11 crashes on it, taking every session with it, so it is refused.
    fn cursor_over_a_write(&self, cmd: u8, id: Option<u32>, payload: &[u8]) -> Option<String> {
        let cursor = cmd == com::STMT_EXECUTE && payload.get(5).is_some_and(|f| f & 0x0F != 0);
        let sql = &self.prepared.get(&id?)?.sql;
        let query = policy::classify(policy::Dialect::MySql, sql)
            .iter()
            .all(|k| *k == policy::StatementKind::Select);
        (cursor && !query).then(|| {
            "sluice refuses a cursor over a statement that is not a query; execute it without one"
                .to_string()
        })
    }

    /// COM_STMT_EXECUTE → the hook: the statement's text and its parameters. `Some(message)`
    /// when the execution must not run.
    async fn bind_hook(&mut self, id: Option<u32>, payload: &[u8]) -> Option<String> {
        let h = self.hooks.as_deref_mut().filter(|h| h.wants_binds())?;
        let prepared = id.and_then(|id| self.prepared.get_mut(&id));
        let (sql, params) = match prepared {
            Some(p) => {
                let params = decode_params(payload, p.params, &mut p.param_types)
                    .unwrap_or_else(|| vec![Some("(parameters not decoded)".into())]);
                (Some(Arc::clone(&p.sql)), params)
            }
            None => (None, Vec::new()),
        };
        if let StatementDecision::Refuse { message } = h.on_bind(sql.as_deref(), &params) {
            return Some(message);
        }
        run_barrier(h, &mut self.client, &mut self.gone_while_waiting).await
    }

    /// Hands the hook the catalog it needs to judge `sql`'s results (when it masks anything),
    /// after forgetting what DDL may have changed.
    async fn catalog_for(&mut self, sql: &str) {
        let Some(h) = self.hooks.as_deref_mut() else {
            return;
        };
        if may_change_catalog(sql) {
            self.ctx.catalog.invalidate_for(sql);
        }
        if h.wants_relations() {
            // Without the catalog no column definition can be taken at its word (its table may
            // be a derived table's alias or a view): every result is judged by lineage.
            let r = self.ctx.catalog.relations().await.unwrap_or_else(|| {
                Arc::new(Relations {
                    tables: Some(Default::default()),
                    ..Relations::default()
                })
            });
            h.on_relations(r);
        }
    }

    /// Tells the gate how the server will read the statement about to be judged: by the last
    /// status flags, unless commands ahead of it are still unanswered.
    fn report_lexing(&mut self) {
        let report = if self.tracker.is_idle() && self.owed.is_empty() {
            LexReport::Backslash(!self.tracker.no_backslash_escapes())
        } else {
            LexReport::Unsettled
        };
        if report != self.lex_reported {
            self.lex_reported = report;
            if let Some(h) = self.hooks.as_deref_mut() {
                h.on_lexing(report);
            }
        }
    }

    /// A command just forwarded may have changed `sql_mode` or the client character set (or
    /// reset the session): the gate takes both as unknown until sluice's probe has the
    /// server's answer.
    fn mode_may_change(&mut self) {
        self.mode_probe.changed();
        self.report_reading(None);
    }

    /// Tells the gate how the session reads statements (`None`: unknown).
    fn report_reading(&mut self, reading: Option<super::upstream::SessionReading>) {
        if let Some(h) = self.hooks.as_deref_mut() {
            h.on_lexing(LexReport::AnsiQuotes(reading.map(|r| r.ansi_quotes)));
            h.on_lexing(LexReport::Multibyte(reading.map(|r| r.multibyte)));
            h.on_lexing(LexReport::PipesAsConcat(reading.map(|r| r.pipes_as_concat)));
        }
    }

    /// Whether executing `stmt` may change `sql_mode` (its prepared text says so, or is unknown).
    fn executes_mode_change(&self, stmt: &Statement) -> bool {
        match stmt {
            Statement::Execute(id) => self
                .prepared
                .get(id)
                .is_none_or(|p| policy::may_change_reading(&p.sql)),
            _ => false,
        }
    }

    /// Sends the owed settings, then the owed `sql_mode` probe, once nothing else is in flight.
    fn send_mode_probe(&mut self) {
        let no_backslash = self.tracker.no_backslash_escapes();
        let sent = self
            .settings
            .send_if_owed(self.idle(), no_backslash, &mut self.to_upstream);
        for _ in 0..sent {
            self.owed.push_back(Owed::Upstream(
                ResponseKind::Single,
                Statement::SessionSetting,
            ));
        }
        if self
            .mode_probe
            .send_if_owed(self.idle(), &mut self.to_upstream)
        {
            self.owed.push_back(Owed::Upstream(
                ResponseKind::TextResults,
                Statement::ModeProbe,
            ));
        }
    }

    /// A packet of the probe's answer: only sluice sees it.
    fn mode_probe_packet(&mut self, p: &Packet) {
        if let Role::Row { .. } = self.tracker.on_packet(p) {
            self.mode_probe.on_row(p);
        }
        if !self.tracker.is_idle() {
            return;
        }
        self.current = Statement::None;
        if let Some(reading) = self.mode_probe.answered() {
            self.report_reading(Some(reading));
        }
        self.drain_local();
        self.send_mode_probe();
    }

    /// The statement hook's verdict: `Some(message)` when the statement must not run.
    async fn refused(&mut self, sql: &str) -> Option<String> {
        self.report_lexing();
        let h = self.hooks.as_deref_mut()?;
        match h.on_statement(sql) {
            StatementDecision::Forward => {}
            StatementDecision::Refuse { message } => return Some(message),
        }
        run_barrier(h, &mut self.client, &mut self.gone_while_waiting).await
    }

    /// Like [`Relay::refused`], for a statement being prepared.
    async fn refused_prepare(&mut self, sql: &str) -> Option<String> {
        self.report_lexing();
        let h = self.hooks.as_deref_mut()?;
        match h.on_prepare(sql) {
            StatementDecision::Forward => {}
            StatementDecision::Refuse { message } => return Some(message),
        }
        run_barrier(h, &mut self.client, &mut self.gone_while_waiting).await
    }

    fn forward(&mut self, raw: BytesMut, kind: ResponseKind) {
        self.forward_for(raw, kind, Statement::None);
    }

    fn forward_for(&mut self, raw: BytesMut, kind: ResponseKind, stmt: Statement) {
        self.to_upstream.extend_from_slice(&raw);
        if kind != ResponseKind::Nothing {
            self.owed.push_back(Owed::Upstream(kind, stmt));
        }
    }

    /// The statement text a result of the response in flight comes from.
    fn result_of(&self) -> Option<(Arc<str>, usize)> {
        match &self.current {
            Statement::Text(sql) => Some((Arc::clone(sql), self.tracker.statement_index())),
            Statement::Execute(id) | Statement::Fetch(id) => {
                self.prepared.get(id).map(|p| (Arc::clone(&p.sql), 0))
            }
            _ => None,
        }
    }

    /// An ERR from the database → the hook, which may withhold its message (a masked session
    /// must not learn values from `Truncated incorrect DOUBLE value: '…'`); code and SQLSTATE
    /// stay.
    fn diagnostic(&mut self, p: Packet) -> Packet {
        let (code, message) = err_fields(p.payload());
        let of = self.result_of();
        let of_ref = of
            .as_ref()
            .map(|(sql, index)| ResultOf { sql, index: *index });
        let Some(text) = self
            .hooks
            .as_deref_mut()
            .and_then(|h| h.diagnostic(of_ref, &code, &message))
        else {
            return p;
        };
        let payload = p.payload();
        let sqlstate = match payload.get(3) {
            Some(b'#') => {
                String::from_utf8_lossy(payload.get(4..9).unwrap_or(b"HY000")).into_owned()
            }
            _ => "HY000".into(),
        };
        let code = Reader(&payload[1..]).u16().unwrap_or(0);
        let mut bytes = BytesMut::new();
        write_packets(&mut bytes, p.seq, &err_payload(code, &sqlstate, &text));
        Packet { seq: p.seq, bytes }
    }

    /// A result's columns are complete: the hook decides whether its rows are inspected.
    fn columns_known(&mut self, columns: Vec<ColumnDesc>) {
        let of = self.result_of();
        self.inspect_rows = self.hooks.as_deref_mut().is_some_and(|h| {
            h.on_columns(
                of.as_ref()
                    .map(|(sql, index)| ResultOf { sql, index: *index }),
                &columns,
            )
        });
        if let Statement::Execute(id) = self.current {
            if let Some(p) = self.prepared.get_mut(&id) {
                p.columns = columns.clone();
            }
        }
        self.result_columns = columns;
    }

    /// A sluice connection id of this user's → the upstream thread id.
    fn translate_kill(&self, id: u32) -> Result<u32, ()> {
        let thread = self.ctx.sessions.thread_of(id, &self.ctx.user).ok_or(())?;
        if let Some(a) = &self.ctx.approvals {
            // Quick (one small commit), and a KILL is rare: done in place.
            a.withdraw_held(&format!("mysql:{id}"));
        }
        Ok(thread)
    }

    fn on_upstream_packet(&mut self, p: Packet) -> Option<SessionEnd> {
        if self.tracker.is_idle() {
            self.begin_next_response();
        }
        if matches!(self.current, Statement::ModeProbe) {
            self.mode_probe_packet(&p);
            return None;
        }
        if matches!(self.current, Statement::RowLimit) {
            self.row_limit_packet(p);
            return None;
        }
        if matches!(self.current, Statement::SessionSetting) {
            return self.session_setting_packet(&p);
        }
        self.last_seq_to_client = p.seq;
        if self.tracker.awaiting_prepare_ok() && p.first() == Some(0x00) {
            self.note_prepared(&p);
        }
        let p = match p.first() {
            Some(0xFF) if !self.tracker.continues() => self.diagnostic(p),
            _ => p,
        };
        // An OK as a statement's whole answer completes it: what it defined now exists.
        let completed = match p.first() == Some(0x00) && self.tracker.awaiting_result_head() {
            true => self.result_of(),
            false => None,
        };
        let results_done = self.tracker.statement_index();
        let role = self.tracker.on_packet(&p);
        if self.tracker.is_idle() {
            self.status_known = p.first() != Some(0xFF);
        }
        self.report_packet(&role, &p, completed, results_done);
        match self.by_role(role, &p) {
            Handled::Forward => {}
            Handled::Sent => return None,
            Handled::End(end) => return Some(end),
        }
        if self.tracker.is_idle()
            && matches!(&self.row_hold, Some(h) if matches!(h.stage, Stage::Running))
        {
            self.close_held(p);
            return None;
        }
        self.to_client.extend_from_slice(&p.bytes);
        self.after_upstream_packet();
        None
    }

    /// The database starts its next answer: sluice's own answers queued before it go first,
    /// and the response owed next is tracked. With none owed at all, the packet is unsolicited
    /// (the server closing the connection says why).
    fn begin_next_response(&mut self) {
        while let Some(owed) = self.owed.pop_front() {
            match owed {
                Owed::Local(bytes) => self.to_client.extend_from_slice(&bytes),
                Owed::Upstream(kind, stmt) => {
                    self.tracker.begin(kind);
                    self.current = stmt;
                    // A cursor's rows come without column definitions: those of the
                    // statement's execution apply.
                    if let Statement::Fetch(id) = self.current {
                        if self.hooks.as_deref().is_some_and(|h| h.wants_columns()) {
                            let columns = self
                                .prepared
                                .get(&id)
                                .map(|p| p.columns.clone())
                                .unwrap_or_default();
                            self.columns_known(columns);
                        }
                    }
                    break;
                }
            }
        }
    }

    /// COM_STMT_PREPARE_OK: the statement id, its columns and parameters, remembered for its
    /// executions.
    fn note_prepared(&mut self, p: &Packet) {
        if let (Statement::Prepare(sql), Some(id)) = (&self.current, statement_id(p.payload())) {
            let params = Reader(p.payload().get(7..).unwrap_or_default())
                .u16()
                .unwrap_or(0);
            self.prepared.insert(
                id,
                Prepared {
                    sql: Arc::clone(sql),
                    columns: Vec::new(),
                    params,
                    param_types: Vec::new(),
                },
            );
        }
    }

    /// Rows and bytes counted; a statement completed, an error, or one result of several
    /// reported to the hook.
    fn report_packet(
        &mut self,
        role: &Role,
        p: &Packet,
        completed: Option<(Arc<str>, usize)>,
        results_done: usize,
    ) {
        let Some(h) = self.hooks.as_deref_mut() else {
            return;
        };
        if let Some((sql, index)) = completed.as_ref() {
            h.on_completed(ResultOf { sql, index: *index });
        }
        match (role, p.first()) {
            (Role::Row { .. }, _) => {
                self.counted.rows += 1;
                self.counted.bytes += p.bytes.len() as u64;
            }
            (Role::Other, Some(0xFF)) => {
                self.counted = ResultEnd::default();
                let (code, message) = err_fields(p.payload());
                h.on_error(&code, &message);
            }
            (Role::Other, Some(0x00)) if self.counted.rows == 0 => {
                self.counted.rows_affected = Reader(&p.payload()[1..]).lenenc();
            }
            _ => {}
        }
        if !self.tracker.is_idle() && self.tracker.statement_index() > results_done {
            // One result of several (a CALL's SELECTs, a multi-statement string) is complete
            // and more follow: it is recorded on its own, with its own counts.
            h.on_result_part_end(&std::mem::take(&mut self.counted));
        }
    }

    /// What the packet's place in the response asks of sluice: a local file, column
    /// definitions to keep, a row to mask, or nothing (it is forwarded).
    fn by_role(&mut self, role: Role, p: &Packet) -> Handled {
        match role {
            Role::LocalInfile if !self.ctx.allow_local_infile => {
                let msg = "the database asked for a local file, which sluice refuses";
                write_packets(&mut self.to_client, p.seq, &err_payload(1148, "42000", msg));
                Handled::End(SessionEnd::UpstreamLost(msg.into()))
            }
            Role::LocalInfile => {
                self.client_continues = Continuation::LocalInfile;
                Handled::Forward
            }
            Role::TooManyColumns(n) => {
                let msg = format!(
                    "sluice: the database of target \"{}\" announced a result of {n} columns, more than any server returns ({MAX_RESULT_COLUMNS}); the session to it was ended",
                    self.ctx.target
                );
                let err = err_payload(TARGET_LOST, CONNECTION_FAILURE, &msg);
                write_packets(&mut self.to_client, p.seq, &err);
                Handled::End(SessionEnd::UpstreamLost(msg))
            }
            Role::ColumnDef | Role::LastColumnDef
                if self.hooks.as_deref().is_some_and(|h| h.wants_columns()) =>
            {
                self.column_def(role == Role::LastColumnDef, p)
            }
            Role::Row { binary }
                if self.inspect_rows && self.hooks.as_deref().is_some_and(|h| h.wants_rows()) =>
            {
                if p.continues() || !self.masked_row(p, binary) {
                    // A row sluice must inspect and cannot (split over packets, or not matching
                    // its columns) is refused, never passed.
                    let msg = "sluice cannot inspect a row of this result, so it was not sent";
                    write_packets(&mut self.to_client, p.seq, &err_payload(1105, "HY000", msg));
                    return Handled::End(SessionEnd::UpstreamLost(msg.into()));
                }
                self.after_upstream_packet();
                Handled::Sent
            }
            _ => Handled::Forward,
        }
    }

    /// A column definition kept to judge the result's rows by; the last one hands them all to
    /// the hook.
    fn column_def(&mut self, last: bool, p: &Packet) -> Handled {
        if self.columns.len() >= MAX_INSPECTED_COLUMNS {
            // Definitions kept to inspect rows by: a database that never ends them must not
            // grow them without bound.
            let msg = format!("sluice cannot inspect a result of more than {MAX_INSPECTED_COLUMNS} columns, so it was not sent");
            write_packets(
                &mut self.to_client,
                p.seq,
                &err_payload(1105, "HY000", &msg),
            );
            return Handled::End(SessionEnd::UpstreamLost(msg));
        }
        let binary = matches!(self.current, Statement::Execute(_) | Statement::Fetch(_));
        if let Some(c) = column_def(p.payload(), binary, self.ctx.extended_metadata) {
            self.columns.push(c);
        }
        if last {
            let cols = std::mem::take(&mut self.columns);
            self.columns_known(cols);
        }
        Handled::Forward
    }

    /// Forwards a command, held to a row limit when `hold` says so: sluice's opening statement
    /// goes first, and the command once it is answered (see [`row_limit`]).
    fn forward_held(
        &mut self,
        raw: BytesMut,
        kind: ResponseKind,
        stmt: Statement,
        hold: Option<crate::session::RowLimitHold>,
    ) {
        let Some(hold) = hold else {
            return self.forward_for(raw, kind, stmt);
        };
        if !self.idle() {
            let message = format!(
                "sluice: a write held to at most {} changed rows by rule \"{}\" must wait for the answers to earlier commands; send it on its own",
                hold.limit, hold.rule
            );
            return self.local_err(1142, "42000", &message);
        }
        let status = self.status_known.then(|| self.tracker.status());
        let held = RowHold::new(hold, status, raw, kind, stmt);
        self.send_own(held.first());
        self.row_hold = Some(held);
    }

    /// Sends a statement of sluice's own whose answer only sluice sees.
    fn send_own(&mut self, sql: &str) {
        let mut payload = vec![com::QUERY];
        payload.extend_from_slice(sql.as_bytes());
        write_packets(&mut self.to_upstream, 0, &payload);
        self.owed
            .push_back(Owed::Upstream(ResponseKind::Single, Statement::RowLimit));
    }

    /// The answer to sluice's opening or closing statement of a held write.
    fn row_limit_packet(&mut self, p: Packet) {
        self.tracker.on_packet(&p);
        if !self.tracker.is_idle() {
            return;
        }
        self.current = Statement::None;
        let Some(mut held) = self.row_hold.take() else {
            return;
        };
        let failed = p.first() == Some(0xFF);
        self.status_known = !failed;
        if let (Stage::Asking { .. }, false) = (&held.stage, failed) {
            held.knowing(self.tracker.status());
            self.send_own(held.first());
            self.row_hold = Some(held);
            return;
        }
        match held.stage {
            Stage::Opening {
                command,
                kind,
                stmt,
            } if !failed => {
                self.row_hold = Some(RowHold {
                    stage: Stage::Running,
                    ..held
                });
                self.forward_for(command, kind, stmt);
            }
            Stage::Asking { .. } | Stage::Opening { .. } => {
                let (_, message) = err_fields(p.payload());
                let message = format!("sluice could not open a way back for a write held to a row limit, so it did not run: {message}");
                write_packets(
                    &mut self.to_client,
                    self.last_seq_to_client,
                    &err_payload(1105, "HY000", &message),
                );
            }
            Stage::Closing {
                last,
                patch_status,
                refusal,
            } => self.closed(&p, last, patch_status, refusal),
            Stage::Running => self.row_hold = Some(held),
        }
        if self.row_hold.is_none() {
            self.drain_local();
            self.send_mode_probe();
        }
    }

    /// sluice's closing statement answered (`p`): the client's last packet goes out.
    fn closed(
        &mut self,
        p: &Packet,
        mut last: Packet,
        patch_status: bool,
        refusal: Option<String>,
    ) {
        let failed = p.first() == Some(0xFF);
        match (failed, refusal) {
            // The closing COMMIT of a write within its limit failed: that is the outcome.
            (true, None) if patch_status => {
                write_packets(&mut self.to_client, last.seq, p.payload());
            }
            // A rollback that left something behind (a table of a non-transactional engine)
            // must not be reported as a clean undo.
            (false, Some(refusal)) if row_limit::warnings_of(p.payload()) > 0 => {
                tracing::error!(target = %self.ctx.target, user = %self.ctx.user, "a write over its row limit could not be rolled back in every table");
                let message = format!("{refusal}. But the database could not roll back every table it changed (a non-transactional engine): rows may be lost");
                write_packets(
                    &mut self.to_client,
                    last.seq,
                    &err_payload(1142, "42000", &message),
                );
            }
            _ => {
                if let (true, false, Some(status)) =
                    (patch_status, failed, row_limit::status_of(p.payload()))
                {
                    row_limit::set_status(&mut last, status);
                }
                self.to_client.extend_from_slice(&last.bytes);
            }
        }
    }

    /// The last packet of a held write's answer: the count decides how sluice closes.
    fn close_held(&mut self, p: Packet) {
        let Some(held) = self.row_hold.take() else {
            return;
        };
        let ending = match p.first() {
            Some(0xFF) => Ending::Failed,
            _ if self.counted.rows > 0 => Ending::Changed(Some(self.counted.rows)),
            _ => Ending::Changed(row_limit::affected_rows(p.payload())),
        };
        let (closing, over) = held.closing(&ending);
        let mut refusal = None;
        let last = match over {
            true => {
                let rows = match ending {
                    Ending::Changed(rows) => rows,
                    Ending::Failed => None,
                };
                let message = held.hold.refusal(rows);
                if let Some(h) = self.hooks.as_deref_mut() {
                    h.row_limit_exceeded(&message);
                }
                refusal = Some(message.clone());
                self.counted = ResultEnd::default();
                self.current = Statement::None;
                let mut bytes = BytesMut::new();
                write_packets(&mut bytes, p.seq, &err_payload(1142, "42000", &message));
                Packet { seq: p.seq, bytes }
            }
            false => p,
        };
        match closing {
            Some(sql) => {
                self.send_own(sql);
                self.row_hold = Some(RowHold {
                    stage: Stage::Closing {
                        last,
                        patch_status: !over && ending != Ending::Failed,
                        refusal,
                    },
                    ..held
                });
            }
            None => self.to_client.extend_from_slice(&last.bytes),
        }
        self.after_upstream_packet();
    }

    fn after_upstream_packet(&mut self) {
        if self.tracker.is_idle() {
            // The catalog was re-read while the statement was judged, before it ran: what
            // DDL made or replaced is only there now (a table made in the session read as of
            // unknown origin, a replaced view by its old definition, for the snapshot's life).
            let ran = match &self.current {
                Statement::Text(sql) => Some(sql),
                Statement::Execute(id) => self.prepared.get(id).map(|p| &p.sql),
                _ => None,
            };
            if let Some(sql) = ran.filter(|sql| may_change_catalog(sql)) {
                self.ctx.catalog.invalidate_for(sql);
            }
            let counted = std::mem::take(&mut self.counted);
            let ended_well = !matches!(self.current, Statement::None | Statement::Prepare(_));
            if let Some(h) = self.hooks.as_deref_mut().filter(|_| ended_well) {
                h.on_result_end(&counted);
            }
            self.inspect_rows = false;
            self.columns.clear();
            self.result_columns.clear();
            self.drain_local();
            self.send_mode_probe();
        }
    }

    /// Masks one row; false when it could not be decoded.
    fn masked_row(&mut self, p: &Packet, binary: bool) -> bool {
        let fields = match binary {
            true => decode_binary_row(p.payload(), &self.result_columns),
            false => Some(decode_text_row(p.payload())),
        };
        let (Some(mut fields), Some(h)) = (fields, self.hooks.as_deref_mut()) else {
            return false;
        };
        h.on_row(&mut fields);
        let mut payload = Vec::with_capacity(p.payload().len());
        match binary {
            true => encode_binary_row(&fields, &self.result_columns, &mut payload),
            false => encode_text_row(&fields, &mut payload),
        }
        write_packets(&mut self.to_client, p.seq, &payload);
        true
    }

    /// COM_CHANGE_USER: the new user authenticates to sluice; upstream, the session is reset
    /// (sluice's own credentials stay), and the database is switched if one was named.
    async fn change_user(
        &mut self,
        payload: &[u8],
        upstream_rd: &mut UpstreamReader,
        upstream_wr: &mut UpstreamWriter,
    ) -> Option<SessionEnd> {
        let mut r = Reader(&payload[1..]);
        let user = r
            .cstr()
            .map(|u| String::from_utf8_lossy(u).into_owned())
            .unwrap_or_default();
        let auth = r
            .u8()
            .and_then(|n| r.bytes(usize::from(n)))
            .unwrap_or_default()
            .to_vec();
        let database = r
            .cstr()
            .map(|d| String::from_utf8_lossy(d).into_owned())
            .filter(|d| !d.is_empty());
        let _charset = r.u16();
        let plugin = r.cstr().map(|p| String::from_utf8_lossy(p).into_owned());
        let ok = match (self.ctx.live.users().mysql(&user), plugin.as_deref()) {
            (Some((v, _)), Some(super::client::CACHING_SHA2)) => {
                v.check_sha2_fast(&self.ctx.scramble, &auth)
            }
            (Some((v, _)), _) => v.check_native(&self.ctx.scramble, &auth),
            (None, _) => false,
        };
        if !self.idle() || !ok {
            tracing::warn!(target = %self.ctx.target, %user, "COM_CHANGE_USER refused");
            let msg = format!("Access denied for user '{user}' (using password: YES)");
            write_packets(
                &mut self.to_client,
                self.last_seq_to_client,
                &err_payload(1045, "28000", &msg),
            );
            self.to_upstream.extend_from_slice(&COM_QUIT);
            return Some(SessionEnd::ClientProtocol("COM_CHANGE_USER refused".into()));
        }
        // Nothing else is in flight (checked above), so the exchange can run inline: the reset,
        // the identity's settings again (quoted as the reset session reads), the database.
        let status = match self
            .inline(&[com::RESET_CONNECTION], upstream_rd, upstream_wr)
            .await
        {
            Inline::Ok(status) => status,
            Inline::Refused(p) => return self.inline_refused(&p),
            Inline::Lost(end) => return Some(end),
        };
        if let Some(end) = self.settings_inline(status, upstream_rd, upstream_wr).await {
            return Some(end);
        }
        if let Some(db) = &database {
            let mut step = vec![com::INIT_DB];
            step.extend_from_slice(db.as_bytes());
            match self.inline(&step, upstream_rd, upstream_wr).await {
                Inline::Ok(_) => {}
                Inline::Refused(p) => return self.inline_refused(&p),
                Inline::Lost(end) => return Some(end),
            }
        }
        self.ctx.sessions.rename(self.ctx.connection_id, &user);
        let groups = self
            .ctx
            .live
            .users()
            .mysql(&user)
            .map(|(_, e)| e.groups.clone())
            .unwrap_or_default();
        if let Some(h) = self.hooks.as_deref_mut() {
            h.on_identity(&user, &groups);
        }
        self.ctx.groups = groups;
        tracing::info!(target = %self.ctx.target, from = %self.ctx.user, to = %user, "COM_CHANGE_USER");
        self.ctx.user = user;
        write_packets(&mut self.to_client, self.last_seq_to_client, &ok_payload(2));
        None
    }
}

/// Whether `sql` may define, change or drop a relation, wherever the word stands: after a
/// comment, inside an executable comment, as the second statement of a string. Reading the
/// catalog again after a false alarm costs one query; missing a view would leave it judged by
/// an old definition.
fn may_change_catalog(sql: &str) -> bool {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| {
            ["create", "alter", "drop", "rename"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k))
        })
}

#[cfg(test)]
mod catalog_tests {
    use super::may_change_catalog;

    #[test]
    fn ddl_is_seen_however_it_is_written() {
        for sql in [
            "CREATE VIEW v AS SELECT 1",
            "/* why */ create or replace view v as select ssn from t",
            "/*!50001 CREATE VIEW v AS SELECT 1 */",
            "SELECT 1; ALTER VIEW v AS SELECT ssn FROM t",
            "RENAME TABLE a TO b",
        ] {
            assert!(may_change_catalog(sql), "{sql}");
        }
        for sql in [
            "SELECT created_at FROM t",
            "UPDATE t SET dropped = 1 WHERE id = 2",
        ] {
            assert!(!may_change_catalog(sql), "{sql}");
        }
    }
}
