//! Cursors: what a `FETCH` returns is what its `DECLARE … CURSOR FOR <query>` selects, so the
//! proxy judges a FETCH's result by the declared query.

use sqlparser::ast::{CloseCursor, Statement};

use crate::analysis::normalize_ident;
use crate::Dialect;

/// A statement that declares, fetches from or closes a cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CursorStatement {
    /// `DECLARE name CURSOR FOR query`.
    Declare {
        /// The cursor's name (lowercased unless quoted).
        name: String,
        /// The query it runs.
        query: String,
    },
    /// `FETCH … FROM name` (and `MOVE`, which returns no rows).
    Fetch {
        /// The cursor's name.
        name: String,
    },
    /// `CLOSE name`, or `CLOSE ALL` (`name: None`).
    Close {
        /// The cursor's name; `None` for all.
        name: Option<String>,
    },
}

/// For each statement of `sql`, the cursor it declares, fetches from or closes (`None` for
/// other statements); empty when the text does not parse.
///
/// ```
/// use policy::{cursors, CursorStatement, Dialect};
/// let c = cursors(Dialect::Postgres, "DECLARE c CURSOR FOR SELECT ssn FROM t; FETCH 10 FROM c");
/// assert_eq!(c[0], Some(CursorStatement::Declare { name: "c".into(), query: "SELECT ssn FROM t".into() }));
/// assert_eq!(c[1], Some(CursorStatement::Fetch { name: "c".into() }));
/// ```
pub fn cursors(dialect: Dialect, sql: &str) -> Vec<Option<CursorStatement>> {
    let Ok(statements) = crate::analysis::parse_statements(dialect, sql) else {
        return Vec::new();
    };
    statements
        .iter()
        .map(|s| match s {
            Statement::Declare { stmts } => stmts.first().and_then(|d| {
                Some(CursorStatement::Declare {
                    name: normalize_ident(d.names.first()?),
                    query: d.for_query.as_ref()?.to_string(),
                })
            }),
            Statement::Fetch { name, .. } => Some(CursorStatement::Fetch {
                name: normalize_ident(name),
            }),
            Statement::Close { cursor } => Some(CursorStatement::Close {
                name: match cursor {
                    CloseCursor::All => None,
                    CloseCursor::Specific { name } => Some(normalize_ident(name)),
                },
            }),
            _ => None,
        })
        .collect()
}
