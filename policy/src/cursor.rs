//! Cursors and SQL-level prepared statements: what a `FETCH` returns is what its `DECLARE …
//! CURSOR FOR <query>` selects, and what `EXECUTE name` returns is what its PostgreSQL
//! `PREPARE name AS <statement>` (or MySQL `PREPARE name FROM '<statement>'`) would, so the
//! proxy judges those results by the declared text.

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
    /// PostgreSQL `PREPARE name [(types)] AS statement`.
    Prepare {
        /// The prepared statement's name (lowercased unless quoted).
        name: String,
        /// The statement it runs.
        statement: String,
    },
    /// `EXECUTE name [(parameters)]`.
    Execute {
        /// The prepared statement's name.
        name: String,
    },
    /// `DEALLOCATE [PREPARE] name`, or `DEALLOCATE ALL` (`name: None`).
    Deallocate {
        /// The prepared statement's name; `None` for all.
        name: Option<String>,
    },
}

/// A cheap test before parsing: could `sql` declare, fetch from or close a cursor, or
/// prepare, execute, deallocate or discard a statement? One pass over the text, for callers
/// that look at every statement of a session.
///
/// ```
/// assert!(policy::mentions_named_statements("select 1; DEALLOCATE s1"));
/// assert!(!policy::mentions_named_statements("SELECT id FROM t WHERE id = 1"));
/// ```
pub fn mentions_named_statements(sql: &str) -> bool {
    let b = sql.as_bytes();
    (0..b.len()).any(|i| {
        let words: &[&[u8]] = match b[i] | 0x20 {
            b'd' => &[b"declare", b"deallocate", b"discard"],
            b'f' => &[b"fetch"],
            b'c' => &[b"close"],
            b'p' => &[b"prepare"],
            b'e' => &[b"execute"],
            _ => return false,
        };
        words.iter().any(|word| {
            b.get(i..i + word.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(word))
        })
    })
}

/// For each statement of `sql`, the cursor it declares, fetches from or closes (`None` for
/// other statements); empty when the text does not parse.
///
/// ```
/// use policy::{cursors, CursorStatement, Dialect};
/// let c = cursors(Dialect::Postgres, "DECLARE c CURSOR FOR SELECT ssn FROM t; FETCH 10 FROM c");
/// assert_eq!(c[0], Some(CursorStatement::Declare { name: "c".into(), query: "SELECT ssn FROM t".into() }));
/// assert_eq!(c[1], Some(CursorStatement::Fetch { name: "c".into() }));
/// let p = cursors(Dialect::Postgres, "PREPARE Q(int) AS SELECT ssn FROM t WHERE id = $1; EXECUTE q(1); DEALLOCATE ALL");
/// assert_eq!(p[0], Some(CursorStatement::Prepare { name: "q".into(), statement: "SELECT ssn FROM t WHERE id = $1".into() }));
/// assert_eq!(p[1], Some(CursorStatement::Execute { name: "q".into() }));
/// assert_eq!(p[2], Some(CursorStatement::Deallocate { name: None }));
/// ```
pub fn cursors(dialect: Dialect, sql: &str) -> Vec<Option<CursorStatement>> {
    if dialect == Dialect::MySql {
        return crate::lex::split_statements(dialect, sql)
            .into_iter()
            .map(mysql_named)
            .collect();
    }
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
            Statement::Prepare {
                name, statement, ..
            } if dialect == Dialect::Postgres => Some(CursorStatement::Prepare {
                name: normalize_ident(name),
                statement: statement.to_string(),
            }),
            Statement::Execute {
                name: Some(name),
                immediate: false,
                ..
            } if dialect == Dialect::Postgres => Some(CursorStatement::Execute {
                name: name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .map(normalize_ident)?,
            }),
            Statement::Deallocate { name, .. } if dialect == Dialect::Postgres => {
                Some(CursorStatement::Deallocate {
                    name: match name.quote_style {
                        None if name.value.eq_ignore_ascii_case("all") => None,
                        _ => Some(normalize_ident(name)),
                    },
                })
            }
            _ => None,
        })
        .collect()
}

/// One MySQL statement's part in SQL-level prepared statements, which sqlparser reads only in
/// part: `PREPARE s FROM '<sql>'` (its text is known only when it is one literal; from
/// anything else, or from a literal with a backslash, the name is forgotten, so what EXECUTE
/// returns is of unknown origin),
/// `EXECUTE s [USING @v, …]`, `{DEALLOCATE | DROP} PREPARE s`. Names are case-insensitive.
///
/// ```
/// use policy::{cursors, CursorStatement, Dialect};
/// let c = cursors(Dialect::MySql, "PREPARE Q FROM 'SELECT ''x'', ssn FROM t'; EXECUTE q USING @a; PREPARE r FROM @s");
/// assert_eq!(c[0], Some(CursorStatement::Prepare { name: "q".into(), statement: "SELECT 'x', ssn FROM t".into() }));
/// assert_eq!(c[1], Some(CursorStatement::Execute { name: "q".into() }));
/// assert_eq!(c[2], Some(CursorStatement::Deallocate { name: Some("r".into()) }));
/// ```
fn mysql_named(piece: &str) -> Option<CursorStatement> {
    use crate::lex::Token;
    let spans = crate::lex::tokenize_spanned(Dialect::MySql, piece);
    let spans: Vec<_> = spans
        .iter()
        .filter(|s| s.token != Token::Semicolon)
        .collect();
    let tokens: Vec<&Token> = spans.iter().map(|s| &s.token).collect();
    let name = |t: &Token| match t {
        Token::Word(w) | Token::QuotedIdent(w) => Some(w.to_lowercase()),
        _ => None,
    };
    match tokens.as_slice() {
        // A backslash is an escape or a character depending on the session's sql_mode
        // (NO_BACKSLASH_ESCAPES): such a text is not taken at sluice's reading of it.
        [p, n, f, Token::Str]
            if p.is_kw("PREPARE")
                && f.is_kw("FROM")
                && !piece[spans[3].start..spans[3].end].contains('\\') =>
        {
            let literal = &piece[spans[3].start..spans[3].end];
            Some(CursorStatement::Prepare {
                name: name(n)?,
                statement: crate::effects::unquote(Dialect::MySql, literal),
            })
        }
        [p, n, f, ..] if p.is_kw("PREPARE") && f.is_kw("FROM") => {
            Some(CursorStatement::Deallocate {
                name: Some(name(n)?),
            })
        }
        [e, n, rest @ ..]
            if e.is_kw("EXECUTE")
                && !n.is_kw("IMMEDIATE")
                && rest.first().is_none_or(|u| u.is_kw("USING")) =>
        {
            Some(CursorStatement::Execute { name: name(n)? })
        }
        [d, p, n] if (d.is_kw("DEALLOCATE") || d.is_kw("DROP")) && p.is_kw("PREPARE") => {
            Some(CursorStatement::Deallocate {
                name: Some(name(n)?),
            })
        }
        _ => None,
    }
}
