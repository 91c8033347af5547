//! The protocol-neutral seams of a session. Protocol adapters (`pg`, later `mysql`) call these
//! at the three moments that policy, masking and audit care about: a statement is about to run,
//! a result's columns are about to stream, a row is about to be sent. The core behind them never
//! learns which protocol it serves.
//!
//! A session without hooks (`None`) is a pure relay: no frame is decoded beyond its header.

/// Where a result column comes from, as far as the wire says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ColumnOrigin {
    /// Computed, or the protocol does not say.
    Unknown,
    /// PostgreSQL: the table's OID and the attribute number (resolved through the catalog).
    PgAttribute { table_oid: u32, attnum: i16 },
    /// The original schema, table and column names (not aliases): MySQL says them, PostgreSQL's
    /// are resolved through the catalog.
    Named {
        schema: String,
        table: String,
        column: String,
    },
    /// A column of a view: its value comes from `sources` (the view definition's lineage, as
    /// resolved through the catalog).
    View {
        schema: String,
        table: String,
        column: String,
        sources: std::sync::Arc<Vec<policy::Source>>,
    },
}

/// One column of a result, protocol-neutral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDesc {
    /// The name the client sees (possibly an alias).
    pub name: String,
    pub origin: ColumnOrigin,
    /// The protocol's type code (PostgreSQL type OID, MySQL column type).
    pub type_code: u32,
    /// The database's name for the type, where the adapter knows it (for the audit log).
    pub type_name: Option<&'static str>,
    /// Whether values are in the protocol's binary format.
    pub binary: bool,
    /// The type and wire encoding, as masking needs it.
    pub value_type: masking::ColumnType,
}

/// What the database's catalog says about the relation names statements may use: which are
/// views (and what each view column is computed from), and which are base tables. Masking needs
/// it to follow a column through a view, or to tell a MySQL derived-table alias from a table.
#[derive(Debug, Default)]
pub struct Relations {
    /// (schema, view) → its columns, lowercased.
    pub views: std::collections::HashMap<(String, String), std::sync::Arc<ViewColumns>>,
    /// The base tables, when the adapter knows them: a result column attributed to any other
    /// relation is judged by the statement's lineage instead.
    pub tables: Option<std::collections::HashSet<(String, String)>>,
    /// MySQL: the base tables whose engine can roll a write back (InnoDB, …), when known. A
    /// write held to a row limit must be undoable: one to any other table is refused.
    pub transactional: Option<std::collections::HashSet<(String, String)>>,
}

/// One view: each column's sources, in order, and all of them together.
#[derive(Debug, Default)]
pub struct ViewColumns {
    pub columns: Vec<ViewColumn>,
    pub all: Vec<policy::Source>,
}

/// One column of a view, as its definition computes it.
#[derive(Debug)]
pub struct ViewColumn {
    pub name: Option<String>,
    pub sources: Vec<policy::Source>,
    /// The column passes one source column through unchanged (so a shape-keeping mask may
    /// apply); otherwise it is derived and gets a constant.
    pub direct: bool,
}

impl ViewColumns {
    /// From the lineage of the view's definition (its first statement).
    pub fn from_definition(dialect: policy::Dialect, definition: &str) -> ViewColumns {
        let lineage = policy::lineage(dialect, definition);
        match lineage.into_iter().next() {
            Some(l) => ViewColumns {
                columns: l
                    .columns
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| ViewColumn {
                        name: c.name,
                        sources: c.sources,
                        direct: c.direct,
                    })
                    .collect(),
                all: l.all_outputs,
            },
            None => ViewColumns {
                columns: Vec::new(),
                all: vec![policy::Source::Opaque],
            },
        }
    }
}

/// Which statement a result comes from: the statement text sent (a simple query, a COM_QUERY
/// or a prepared statement's text) and the statement's position in it, for multi-statement
/// strings.
#[derive(Clone, Copy, Debug)]
pub struct ResultOf<'a> {
    pub sql: &'a str,
    pub index: usize,
}

/// A decoded row: one entry per column, `None` for SQL NULL.
pub type RowFields = Vec<Option<Vec<u8>>>;

/// How a statement's result ended, as the adapter counted it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResultEnd {
    /// Rows sent to the client.
    pub rows: u64,
    /// Bytes of those rows on the wire.
    pub bytes: u64,
    /// Rows inserted, updated or deleted, when the database said.
    pub rows_affected: Option<u64>,
}

/// Work to finish before a statement may be forwarded: the audit log making its record durable
/// (sync mode), or an approval hold. `Err` refuses the statement.
pub enum Barrier {
    /// Blocking work (an approval hold), run off the async threads.
    Blocking(Box<dyn FnOnce() -> Result<(), String> + Send>),
    /// The statement's audit record must be durable: awaited, no thread blocks.
    Durable(audit::Ticket),
}

impl Barrier {
    /// Waits for the barrier from async code.
    pub async fn wait(self) -> Result<(), String> {
        match self {
            Barrier::Blocking(work) => match tokio::task::spawn_blocking(work).await {
                Ok(done) => done,
                Err(_) => {
                    Err("sluice: the statement's hold did not complete; it was not run".into())
                }
            },
            Barrier::Durable(ticket) => ticket.durable().await.map_err(not_durable),
        }
    }

    /// Waits for the barrier on a thread that may block.
    pub fn wait_blocking(self) -> Result<(), String> {
        match self {
            Barrier::Blocking(work) => work(),
            Barrier::Durable(ticket) => ticket.wait().map_err(not_durable),
        }
    }
}

fn not_durable(e: audit::AuditError) -> String {
    format!("sluice: the audit log could not make this statement's record durable ({e}); it was not run")
}

/// What happens to a statement that is about to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatementDecision {
    /// Send it to the database.
    Forward,
    /// Never send it; the client gets a permission error with this message, and the session
    /// behaves as if the database had refused it (transaction semantics included).
    Refuse { message: String },
}

/// A write that runs held to a `rows_over` rule: when the database says it changed more than
/// `limit` rows, the adapter undoes it and the client gets `refusal` instead of its result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowLimitHold {
    pub limit: u64,
    pub rule: String,
    pub message: Option<String>,
}

impl RowLimitHold {
    /// The client's error: `rows` as the database counted them, `None` when it gave no count
    /// sluice could read (which is refused too).
    pub fn refusal(&self, rows: Option<u64>) -> String {
        let counted = match rows {
            Some(n) => format!("it changed {n} rows, more than the {} allowed", self.limit),
            None => format!(
                "sluice could not count the rows it changed (at most {} are allowed)",
                self.limit
            ),
        };
        let why = self
            .message
            .as_deref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        format!(
            "sluice: statement blocked by rule \"{}\": {counted}; it was undone{why}",
            self.rule
        )
    }
}

/// What an adapter learned about how the server will lex the next statement's quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LexReport {
    /// Backslashes escape in plain strings (PostgreSQL `standard_conforming_strings = off`;
    /// MySQL without `NO_BACKSLASH_ESCAPES`), or not.
    Backslash(bool),
    /// Statements still in flight may change that before the server reads the next one.
    Unsettled,
    /// MySQL: the session's `sql_mode` has `ANSI_QUOTES` (or not), as the server said when
    /// asked; `None` after something may have changed it, until the server says again.
    AnsiQuotes(Option<bool>),
    /// The client's character set or encoding may end a two-byte character in a byte that
    /// reads as `\` or `` ` `` on its own (GBK, Big5, SJIS, …), or not; `None` while unknown.
    Multibyte(Option<bool>),
    /// MySQL: `sql_mode` makes `||` string concatenation (or not); `None` while unknown.
    PipesAsConcat(Option<bool>),
    /// MySQL: the server's version, which decides which `/*!NNNNN … */` comments run.
    MysqlServer(policy::MysqlServer),
}

/// Observation and control points of one client session.
pub trait SessionHooks: Send {
    /// A statement (simple query text, or the text of a statement being prepared) is about to be
    /// sent to the database.
    fn on_statement(&mut self, sql: &str) -> StatementDecision;

    /// The text of `sql` as the server reads it, where sluice judged it in another spelling
    /// (a setting that changes where strings end, `U&"…"` names): what the adapter derives
    /// from a statement (a COPY's query) must come from this spelling.
    fn as_read(&self, sql: &str) -> Option<String> {
        let _ = sql;
        None
    }

    /// A notification's payload (PostgreSQL NOTIFY, sent by whatever session or trigger):
    /// `Some(text)` replaces it.
    fn notification(&mut self, payload: &str) -> Option<String> {
        let _ = payload;
        None
    }

    /// A statement is about to be prepared (PostgreSQL Parse, MySQL COM_STMT_PREPARE): nothing
    /// of it runs yet. Hooks that judge executions (an approval needs the parameters) may let
    /// it through and decide in [`SessionHooks::on_bind`].
    fn on_prepare(&mut self, sql: &str) -> StatementDecision {
        self.on_statement(sql)
    }

    /// Whether [`SessionHooks::on_columns`] wants to be called at all; `false` spares decoding
    /// column descriptions for hooks that only look at statements.
    fn wants_columns(&self) -> bool {
        true
    }

    /// A result's columns are about to stream. Return `true` to see (and possibly rewrite) each
    /// of its rows; `false` lets rows pass as raw bytes. `of` is `None` when the adapter cannot
    /// tell which statement the result belongs to; the hook must then fail closed.
    fn on_columns(&mut self, of: Option<ResultOf<'_>>, columns: &[ColumnDesc]) -> bool;

    /// A row is about to be sent to the client; fields may be rewritten in place.
    fn on_row(&mut self, fields: &mut RowFields);

    /// Whether [`SessionHooks::on_relations`] is wanted before a statement is judged (it costs
    /// reading the catalog).
    fn wants_relations(&self) -> bool {
        self.wants_columns()
    }

    /// Whether the rows of the current result still need to be seen (after `on_columns`
    /// returned `true`); `false` lets the rest pass raw.
    fn wants_rows(&self) -> bool {
        true
    }

    /// What must finish before the statement just accepted by `on_statement` is forwarded.
    fn take_barrier(&mut self) -> Option<Barrier> {
        None
    }

    /// The client went away while a statement waited at its barrier: withdraw what the
    /// session holds for an approver (blocking work, for the adapter to await).
    fn withdraw_hold(&mut self) -> Option<Barrier> {
        None
    }

    /// Whether [`SessionHooks::on_bind`] wants to be called (it costs decoding parameters).
    fn wants_binds(&self) -> bool {
        false
    }

    /// A prepared statement (`sql`, when known) is about to run with these parameters
    /// (text, or `\x`-hex for binary values). A refusal means it must not run; a barrier
    /// ([`SessionHooks::take_barrier`]) must finish before it is forwarded.
    fn on_bind(&mut self, _sql: Option<&str>, _params: &[Option<String>]) -> StatementDecision {
        StatementDecision::Forward
    }

    /// The database completed statement `of` (its CommandComplete): what it defined now
    /// exists. Called before [`SessionHooks::on_result_end`].
    fn on_completed(&mut self, _of: ResultOf<'_>) {}

    /// A statement's result (rows, or a command's completion) has been sent.
    fn on_result_end(&mut self, _end: &ResultEnd) {}

    /// One result of a response that holds more (MySQL: each SELECT of a CALL, each
    /// statement of a multi-statement string) is complete; the response goes on, so nothing
    /// about the statement as a whole is over yet.
    fn on_result_part_end(&mut self, _end: &ResultEnd) {}

    /// The database's error or notice about statement `of` (`None`: sluice cannot tell which)
    /// is about to reach the client: `Some(text)` replaces its message (the code stays), when
    /// the message may carry values the session must not see.
    fn diagnostic(
        &mut self,
        _of: Option<ResultOf<'_>>,
        _code: &str,
        _message: &str,
    ) -> Option<String> {
        None
    }

    /// The client received an error.
    fn on_error(&mut self, _code: &str, _message: &str) {}

    /// Whether any write may run held to a row limit (some rule has `rows_over`).
    fn holds_writes(&self) -> bool {
        false
    }

    /// The row limit `sql` must run under (a `rows_over` rule), if any. Asked just before a
    /// simple query or an execution is forwarded.
    fn row_limit(&mut self, _sql: &str) -> Option<RowLimitHold> {
        None
    }

    /// A PostgreSQL FunctionCall message (function `oid` called outside SQL) is about to be
    /// sent. sluice cannot judge it like a statement.
    fn on_function_call(&mut self, _oid: u32) -> StatementDecision {
        StatementDecision::Forward
    }

    /// A held write went over its limit and was undone; the client gets `message`.
    fn row_limit_exceeded(&mut self, message: &str) {
        self.on_error("42501", message);
    }

    /// The session is over.
    fn on_end(&mut self, _reason: &str) {}

    /// The catalog's view of relation names, fresh enough for the statement about to run.
    /// Adapters fetch it only while [`SessionHooks::wants_columns`] is true.
    fn on_relations(&mut self, _relations: std::sync::Arc<Relations>) {}

    /// Asked when a new statement begins: `Some(why)` ends the session here, cleanly (a
    /// token-signed session past its deadline). Work already running is never cut short.
    fn session_over(&mut self) -> Option<String> {
        None
    }

    /// The session now acts for another user (MySQL COM_CHANGE_USER).
    fn on_identity(&mut self, _user: &str, _groups: &[String]) {}

    /// How the server will lex what comes next changed (or became uncertain). Adapters call
    /// it only on a change.
    fn on_lexing(&mut self, _report: LexReport) {}
}
