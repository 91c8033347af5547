//! A prepared statement with its parameters in place, so that rules judge what runs.
//!
//! A rule verdict must be the same however a statement arrives. `DELETE FROM t WHERE id =
//! coalesce($1, id)` is bounded as text, and deletes every row when `$1` is NULL; `v LIKE $1`
//! with `'%'` likewise. Writing each bound value into the text as a literal gives the
//! statement the server will run, for the analysis to judge again.

use crate::lex::{tokenize_spanned, Token};
use crate::Dialect;

/// `sql` with each placeholder (`$n` in PostgreSQL, `?` in order in MySQL) replaced by its
/// parameter as a literal: `NULL`, a number for a binary value of 1, 2, 4 or 8 bytes (how
/// drivers send integers; given as `\x…` hex), or a quoted string (other binary values stay
/// a non-NULL string). A placeholder without a parameter stays as it is.
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
            Some(value) if binary_integer(value).is_some() => {
                out.push_str(&binary_integer(value).unwrap_or_default().to_string());
            }
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

/// A binary parameter (`\x` and hex) of an integer's width, read as a big-endian integer.
fn binary_integer(value: &str) -> Option<i64> {
    let hex = value.strip_prefix("\\x")?;
    if !matches!(hex.len(), 2 | 4 | 8 | 16) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let raw = u64::from_str_radix(hex, 16).ok()?;
    let bits = hex.len() as u32 * 4;
    // Sign-extend from the parameter's own width.
    let shift = 64 - bits;
    Some(((raw << shift) as i64) >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_integers_become_numbers() {
        let sql = bind_literals(
            Dialect::Postgres,
            "DELETE FROM t WHERE id = id + $1 AND v = $2",
            &[Some("\\x00000000".into()), Some("\\xffff".into())],
        );
        assert_eq!(sql, "DELETE FROM t WHERE id = id + 0 AND v = -1");
        assert_eq!(binary_integer("\\x0102"), Some(258));
        assert_eq!(binary_integer("\\x010203"), None);
    }
}
