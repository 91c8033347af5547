//! Follows the server's response to one command, packet by packet, so sluice knows which packets
//! are column definitions and rows (the seams masking plugs into) and when the response is over.

use super::command::ResponseKind;
use super::packet::{Packet, Reader, MAX_PAYLOAD};
use crate::session::{ColumnDesc, ColumnOrigin};

const SERVER_MORE_RESULTS_EXISTS: u16 = 0x0008;
const SERVER_STATUS_NO_BACKSLASH_ESCAPES: u16 = 0x0200;
const SERVER_STATUS_CURSOR_EXISTS: u16 = 0x0040;
/// Read together: a cursor the client opened exists (and no other result follows its columns).
const CLIENT_CURSOR: u16 = SERVER_STATUS_CURSOR_EXISTS | SERVER_MORE_RESULTS_EXISTS;

/// `MYSQL_TYPE_BIT`.
const MYSQL_TYPE_BIT: u8 = 16;

/// The most columns a server can announce for one result. MariaDB counts a result's columns in
/// a 32-bit `uint` (`List<Item>::elements`, written by `Protocol::send_result_set_metadata`),
/// and it does return far more than 65,535 in the text protocol: 10.11 answered `SELECT 1, 1,
/// …` with 3,000,000 columns (measured, docs/reliability.md). A count above this is no answer
/// any server gives.
pub const MAX_RESULT_COLUMNS: u64 = u32::MAX as u64;
/// What one packet of a response is.
#[derive(Debug, PartialEq, Eq)]
pub enum Role {
    ColumnDef,
    /// The last column definition of a result set: its columns are now known.
    LastColumnDef,
    Row {
        binary: bool,
    },
    /// A LOCAL INFILE request (0xFB): the server asks the client for a file.
    LocalInfile,
    /// Any other packet (OK, ERR, EOF, prepare header, parameter definitions, strings).
    Other,
    /// The rest of a logical packet longer than one physical packet.
    Continuation,
    /// A column count above [`MAX_RESULT_COLUMNS`]: not a server's answer; the session to the
    /// database must end.
    TooManyColumns(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for OK/ERR/LOCAL INFILE or a column count.
    First,
    Columns(u64),
    ColumnsEof,
    Rows,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Single,
    Results {
        binary: bool,
        phase: Phase,
    },
    FetchRows,
    /// Waiting for COM_STMT_PREPARE_OK.
    PrepareHeader,
    /// Parameter definitions left (then maybe an EOF), column definitions left (then maybe an EOF).
    Prepare {
        params: u16,
        params_eof: bool,
        columns: u16,
        columns_eof: bool,
    },
    FieldList,
}

/// The state of the response to the command in flight.
#[derive(Debug)]
pub struct ResponseTracker {
    state: State,
    deprecate_eof: bool,
    continuing: bool,
    /// Statements of a multi-statement COM_QUERY answered so far (OK or a whole result set).
    done: usize,
    /// `NO_BACKSLASH_ESCAPES`, as the last status flags the server sent say.
    no_backslash_escapes: bool,
    /// The command in flight asked for a cursor (COM_STMT_EXECUTE with a cursor type).
    cursor_asked: bool,
    /// The last status flags the server sent.
    status: u16,
}

impl ResponseTracker {
    pub fn new(deprecate_eof: bool) -> Self {
        ResponseTracker {
            state: State::Idle,
            deprecate_eof,
            continuing: false,
            done: 0,
            no_backslash_escapes: false,
            cursor_asked: false,
            status: 0,
        }
    }

    /// Starts from the status flags of the login's OK packet.
    pub fn with_status(mut self, status: u16) -> Self {
        self.no_backslash_escapes = status & SERVER_STATUS_NO_BACKSLASH_ESCAPES != 0;
        self.status = status;
        self
    }

    /// The last status flags the server sent (in a transaction, autocommit, …).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Whether the server's last status flags had `NO_BACKSLASH_ESCAPES` on.
    pub fn no_backslash_escapes(&self) -> bool {
        self.no_backslash_escapes
    }

    fn note_status(&mut self, status: Option<u16>) {
        if let Some(s) = status {
            self.no_backslash_escapes = s & SERVER_STATUS_NO_BACKSLASH_ESCAPES != 0;
            self.status = s;
        }
    }

    /// The position, in its COM_QUERY, of the statement whose result is streaming.
    pub fn statement_index(&self) -> usize {
        self.done
    }

    /// Waiting for the first packet of a statement's result (OK, ERR, LOCAL INFILE or a column
    /// count): an OK now completes the statement at [`Self::statement_index`].
    pub fn awaiting_result_head(&self) -> bool {
        matches!(
            self.state,
            State::Results {
                phase: Phase::First,
                ..
            }
        ) && !self.continuing
    }

    /// Waiting for the first packet of a COM_STMT_PREPARE answer.
    pub fn awaiting_prepare_ok(&self) -> bool {
        self.state == State::PrepareHeader && !self.continuing
    }

    /// The next packet is the rest of a logical packet longer than one physical packet.
    pub fn continues(&self) -> bool {
        self.continuing
    }

    /// No response is in flight.
    pub fn is_idle(&self) -> bool {
        self.state == State::Idle && !self.continuing
    }

    /// A command was sent; its response follows.
    pub fn begin(&mut self, kind: ResponseKind) {
        self.done = 0;
        self.cursor_asked = kind == ResponseKind::CursorResults;
        self.state = match kind {
            ResponseKind::Nothing => State::Idle,
            ResponseKind::Single => State::Single,
            ResponseKind::TextResults => State::Results {
                binary: false,
                phase: Phase::First,
            },
            ResponseKind::BinaryResults | ResponseKind::CursorResults => State::Results {
                binary: true,
                phase: Phase::First,
            },
            ResponseKind::FetchRows => State::FetchRows,
            ResponseKind::Prepare => State::PrepareHeader,
            ResponseKind::FieldList => State::FieldList,
        };
    }

    /// Classifies the next packet from the server and advances.
    pub fn on_packet(&mut self, packet: &Packet) -> Role {
        if self.continuing {
            self.continuing = packet.continues();
            return Role::Continuation;
        }
        self.continuing = packet.continues();
        let p = packet.payload();
        let first = p.first().copied();
        let is_err = first == Some(0xFF);
        // A text row can start with 0xFE only as an 8-byte length, i.e. a packet of 16 MiB.
        let is_terminator = first == Some(0xFE) && p.len() < MAX_PAYLOAD;
        let (next, role) = match self.state {
            State::Idle | State::Single => {
                // An OK (COM_RESET_CONNECTION's, COM_PING's …) carries the session's status too.
                if first == Some(0x00) {
                    let _ = self.after_ok(p, State::Idle);
                }
                (State::Idle, Role::Other)
            }
            State::Results { binary, phase } => {
                let ends = match phase {
                    Phase::First => first == Some(0x00),
                    Phase::Rows => is_terminator,
                    _ => false,
                };
                self.done += usize::from(ends);
                self.results(binary, phase, p, is_err, is_terminator)
            }
            State::FetchRows => match (is_err, is_terminator) {
                (true, _) => (State::Idle, Role::Other),
                (_, true) => (self.after_terminator(p, State::Idle), Role::Other),
                _ => (State::FetchRows, Role::Row { binary: true }),
            },
            State::PrepareHeader => {
                let mut r = Reader(p);
                match (r.u8(), r.u32(), r.u16(), r.u16()) {
                    (Some(0x00), Some(_), Some(columns), Some(params)) => {
                        let eof = !self.deprecate_eof;
                        let s = State::Prepare {
                            params,
                            params_eof: eof && params > 0,
                            columns,
                            columns_eof: eof && columns > 0,
                        };
                        (settle(s), Role::Other)
                    }
                    _ => (State::Idle, Role::Other),
                }
            }
            State::Prepare {
                params,
                params_eof,
                columns,
                columns_eof,
            } => {
                let (s, role) = if params > 0 {
                    (
                        State::Prepare {
                            params: params - 1,
                            params_eof,
                            columns,
                            columns_eof,
                        },
                        Role::Other,
                    )
                } else if params_eof {
                    (
                        State::Prepare {
                            params,
                            params_eof: false,
                            columns,
                            columns_eof,
                        },
                        Role::Other,
                    )
                } else if columns > 0 {
                    (
                        State::Prepare {
                            params,
                            params_eof,
                            columns: columns - 1,
                            columns_eof,
                        },
                        Role::ColumnDef,
                    )
                } else {
                    (State::Idle, Role::Other)
                };
                (settle(s), role)
            }
            State::FieldList => {
                if is_err || is_terminator {
                    (State::Idle, Role::Other)
                } else {
                    (State::FieldList, Role::ColumnDef)
                }
            }
        };
        self.state = next;
        role
    }

    fn results(
        &mut self,
        binary: bool,
        phase: Phase,
        p: &[u8],
        is_err: bool,
        is_terminator: bool,
    ) -> (State, Role) {
        let results = |phase| State::Results { binary, phase };
        match phase {
            Phase::First => match p.first() {
                Some(0xFF) => (State::Idle, Role::Other),
                Some(0x00) => (self.after_ok(p, results(Phase::First)), Role::Other),
                Some(0xFB) => (results(Phase::First), Role::LocalInfile),
                _ => match Reader(p).lenenc() {
                    Some(0) | None => (State::Idle, Role::Other),
                    Some(n) if n > MAX_RESULT_COLUMNS => (State::Idle, Role::TooManyColumns(n)),
                    Some(n) => (results(Phase::Columns(n)), Role::ColumnDef),
                },
            },
            Phase::Columns(n) if n > 1 => (results(Phase::Columns(n - 1)), Role::ColumnDef),
            Phase::Columns(_) => {
                let next = if self.deprecate_eof {
                    Phase::Rows
                } else {
                    Phase::ColumnsEof
                };
                (results(next), Role::LastColumnDef)
            }
            Phase::ColumnsEof => {
                if is_err {
                    (State::Idle, Role::Other)
                } else {
                    (self.after_columns_eof(p, results(Phase::Rows)), Role::Other)
                }
            }
            Phase::Rows if is_err => (State::Idle, Role::Other),
            Phase::Rows if is_terminator => (self.after_terminator(p, State::Idle), Role::Other),
            Phase::Rows => (results(Phase::Rows), Role::Row { binary }),
        }
    }

    /// After an OK packet: more results, or done.
    fn after_ok(&mut self, p: &[u8], more: State) -> State {
        let mut r = Reader(&p[1..]);
        let _ = (r.lenenc(), r.lenenc());
        let status = r.u16();
        self.note_status(status);
        match status {
            Some(status) if status & SERVER_MORE_RESULTS_EXISTS != 0 => more,
            _ => State::Idle,
        }
    }

    /// After the EOF that ends column definitions (without `CLIENT_DEPRECATE_EOF`): the rows
    /// follow, unless a cursor was opened (they come with COM_STMT_FETCH then). The EOF of a
    /// multi-statement string's result carries "more results" already; that flag is about
    /// what follows the rows, so it must not end this result here. "Cursor exists" means the
    /// client's cursor only when it asked for one and this is the statement's only result: a
    /// stored program's cursor (`FOR rec IN (SELECT …) DO SELECT …`) sets the flag on the
    /// results the program sends (with "more results", as every result of a CALL), and their
    /// rows still follow.
    fn after_columns_eof(&mut self, p: &[u8], rows: State) -> State {
        // Any packet may stand where the EOF belongs, an empty one too.
        let mut r = Reader(p.get(1..).unwrap_or_default());
        let _warnings = r.u16();
        let status = r.u16();
        self.note_status(status);
        match status {
            Some(s) if self.cursor_asked && s & CLIENT_CURSOR == SERVER_STATUS_CURSOR_EXISTS => {
                State::Idle
            }
            _ => rows,
        }
    }

    /// After an EOF (or OK-as-EOF) that ends rows.
    fn after_terminator(&mut self, p: &[u8], otherwise: State) -> State {
        let status = if self.deprecate_eof && p.len() > 5 {
            let mut r = Reader(&p[1..]);
            let _ = (r.lenenc(), r.lenenc());
            r.u16()
        } else {
            let mut r = Reader(&p[1..]);
            let _warnings = r.u16();
            r.u16()
        };
        self.note_status(status);
        match status {
            Some(s) if s & SERVER_MORE_RESULTS_EXISTS != 0 => match self.state {
                State::Results { binary, .. } => State::Results {
                    binary,
                    phase: Phase::First,
                },
                _ => otherwise,
            },
            _ => otherwise,
        }
    }
}

/// A prepare response with nothing left to come is over.
fn settle(s: State) -> State {
    match s {
        State::Prepare {
            params: 0,
            params_eof: false,
            columns: 0,
            columns_eof: false,
        } => State::Idle,
        other => other,
    }
}

/// MariaDB's extended metadata of a column: its type name (`uuid`, `inet6`, …) and format
/// (`json`), each absent when the server sent none.
#[derive(Debug, Default, PartialEq, Eq)]
struct Extended<'a> {
    type_name: Option<&'a [u8]>,
    format: Option<&'a [u8]>,
}

/// Parses the extended metadata block: entries of a one-byte key (0: type name, 1: format)
/// and a length-encoded value. `None` when malformed.
fn extended(block: &[u8]) -> Option<Extended<'_>> {
    let mut r = Reader(block);
    let mut ext = Extended::default();
    while !r.is_empty() {
        let key = r.u8()?;
        let value = r.lenenc_bytes()?;
        match key {
            0 => ext.type_name = Some(value),
            1 => ext.format = Some(value),
            _ => {} // a key newer than sluice: nothing masking needs
        }
    }
    Some(ext)
}

/// The column type masking works with, given the extended metadata: MariaDB sends JSON as
/// LONGTEXT and UUID/INET as strings, so only the metadata says what a valid value is.
fn with_extended(
    ty: masking::ColumnType,
    ext: &Extended<'_>,
) -> (masking::ColumnType, Option<&'static str>) {
    use masking::TypeKind;
    let (kind, name) = match (ext.format, ext.type_name) {
        (Some(b"json"), _) => (TypeKind::Json, "json"),
        (_, Some(b"uuid")) => (TypeKind::Uuid, "uuid"),
        // No valid masked address can be made up from a text mask: masks give NULL.
        (_, Some(b"inet4")) => (TypeKind::Other, "inet4"),
        (_, Some(b"inet6")) => (TypeKind::Other, "inet6"),
        _ => return (ty, None),
    };
    let ty = masking::ColumnType {
        kind,
        size: masking::Size::Any,
        ..ty
    };
    (ty, Some(name))
}

/// Decodes a column definition packet (protocol 4.1); with `extended` (MariaDB extended
/// metadata negotiated), one carrying the type name/format block after `org_name`.
pub fn column_def(payload: &[u8], binary: bool, extended_metadata: bool) -> Option<ColumnDesc> {
    let mut r = Reader(payload);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let _catalog = r.lenenc_bytes()?;
    let schema = text(r.lenenc_bytes()?);
    let _table = r.lenenc_bytes()?;
    let org_table = text(r.lenenc_bytes()?);
    let name = text(r.lenenc_bytes()?);
    let org_name = text(r.lenenc_bytes()?);
    let ext = match extended_metadata {
        true => extended(r.lenenc_bytes()?)?,
        false => Extended::default(),
    };
    r.lenenc()?;
    let charset = r.u16()?;
    let length = r.u32()?;
    let column_type = r.u8()?;
    // Absent in a truncated definition; masks then fit no declared size.
    let (flags, decimals) = (r.u16().unwrap_or(0), r.u8().unwrap_or(31));
    let origin = if org_table.is_empty() || org_name.is_empty() {
        ColumnOrigin::Unknown
    } else {
        ColumnOrigin::Named {
            schema,
            table: org_table,
            column: org_name,
        }
    };
    // Masked values fit the declared length (bytes of the result charset) and precision.
    let value_type = masking::ColumnType::mysql(column_type, charset, binary);
    // BIT's length counts bits.
    let value_type = match column_type {
        MYSQL_TYPE_BIT => value_type.with_bit_width(length),
        _ => value_type.with_mysql_length(length, decimals, flags, charset),
    };
    let (value_type, ext_name) = with_extended(value_type, &ext);
    Some(ColumnDesc {
        name,
        origin,
        type_code: u32::from(column_type),
        type_name: Some(ext_name.unwrap_or(masking::mysql_type_name(column_type, charset))),
        binary,
        value_type,
    })
}

#[cfg(test)]
mod tests;
