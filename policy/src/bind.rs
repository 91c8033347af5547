//! A prepared statement with its parameters in place, so that rules judge what runs.
//!
//! A rule verdict must be the same however a statement arrives. `DELETE FROM t WHERE id =
//! coalesce($1, id)` is bounded as text, and deletes every row when `$1` is NULL; `v LIKE $1`
//! with `'%'` likewise. Writing each bound value into the text as a literal gives the
//! statement the server will run, for the analysis to judge again.

use crate::lex::{tokenize_spanned, Token};
use crate::Dialect;

/// `sql` with each placeholder (`$n` in PostgreSQL, `?` in order in MySQL) replaced by its
/// parameter as a literal: `NULL`, or a quoted string (binary values, given as `\x…` hex,
/// stay a non-NULL string). A placeholder without a parameter stays as it is.
///
/// ```
/// use policy::{bind_literals, Dialect};
/// let sql = bind_literals(Dialect::Postgres, "DELETE FROM t WHERE id = coalesce($1, id) AND v = $2", &[None, Some("it's".into())]);
/// assert_eq!(sql, "DELETE FROM t WHERE id = coalesce(NULL, id) AND v = 'it''s'");
/// let sql = bind_literals(Dialect::MySql, "UPDATE t SET v = ? WHERE w LIKE ?", &[Some("a\\b".into()), Some("%".into())]);
/// assert_eq!(sql, r"UPDATE t SET v = 'a\\b' WHERE w LIKE '%'");
/// ```
pub fn bind_literals(dialect: Dialect, sql: &str, params: &[Option<String>]) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut at = 0;
    let mut next = 0;
    for t in tokenize_spanned(dialect, sql) {
        if t.token != Token::Placeholder {
            continue;
        }
        let index = match dialect {
            Dialect::Postgres => sql[t.start + 1..t.end]
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1)),
            Dialect::MySql => {
                next += 1;
                Some(next - 1)
            }
        };
        let Some(param) = index.and_then(|i| params.get(i)) else {
            continue;
        };
        out.push_str(&sql[at..t.start]);
        match param {
            None => out.push_str("NULL"),
            Some(value) => {
                let escaped = match dialect {
                    Dialect::Postgres => value.replace('\'', "''"),
                    Dialect::MySql => value.replace('\\', "\\\\").replace('\'', "''"),
                };
                out.push('\'');
                out.push_str(&escaped);
                out.push('\'');
            }
        }
        at = t.end;
    }
    out.push_str(&sql[at..]);
    out
}
