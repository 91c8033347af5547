//! The protocol-neutral seams of a session. Protocol adapters (`pg`, later `mysql`) call these
//! at the three moments that policy, masking and audit care about: a statement is about to run,
//! a result's columns are about to stream, a row is about to be sent. The core behind them never
//! learns which protocol it serves.
//!
//! A session without hooks (`None`) is a pure relay: no frame is decoded beyond its header.

/// Where a result column comes from, as far as the wire says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDesc {
    /// The name the client sees (possibly an alias).
    pub name: String,
    /// Protocol-specific origin: for PostgreSQL the table OID and attribute number (0 when the
    /// column is computed).
    pub table_oid: u32,
    pub column_attnum: i16,
    pub type_oid: u32,
    /// 0 text, 1 binary.
    pub format: i16,
}

/// A decoded row: one entry per column, `None` for SQL NULL.
pub type RowFields = Vec<Option<Vec<u8>>>;

/// Observation and control points of one client session.
pub trait SessionHooks: Send {
    /// A statement (simple query text, or the text of a statement being prepared) is about to be
    /// sent to the database.
    fn on_statement(&mut self, sql: &str);

    /// A result's columns are about to stream. Return `true` to see (and possibly rewrite) each
    /// of its rows; `false` lets rows pass as raw bytes.
    fn on_columns(&mut self, columns: &[ColumnDesc]) -> bool;

    /// A row is about to be sent to the client; fields may be rewritten in place.
    fn on_row(&mut self, fields: &mut RowFields);
}
