//! The text that identifies a statement for approval tickets: the same tokens with the same
//! literals, whatever the whitespace, comments or trailing semicolons around them.
//!
//! A MySQL executable comment (`/*! … */`, `/*!50000 … */`, `/*M! … */`) is not a comment to
//! the server: its content runs. So it counts as the tokens it holds, or a ticket approved for
//! `DELETE … WHERE id = 1` would run `DELETE … WHERE id = 1 /*! OR 1 = 1 */`.

use crate::lex::{expand_mysql_executable_comments, tokenize_spanned, Token};
use crate::Dialect;

/// `sql` with every token separated by one space, comments dropped and trailing semicolons
/// removed. Literals, identifiers and keywords are kept exactly as written, so two texts are
/// canonically equal only when they would run the very same statement.
///
/// ```
/// use policy::{canonical_text, Dialect};
/// let a = canonical_text(Dialect::Postgres, "UPDATE t  SET x = 1 -- fix\n;");
/// assert_eq!(a, "UPDATE t SET x = 1");
/// assert_ne!(a, canonical_text(Dialect::Postgres, "UPDATE t SET x = 2"));
/// ```
pub fn canonical_text(dialect: Dialect, sql: &str) -> String {
    let sql = match dialect {
        Dialect::MySql => expand_mysql_executable_comments(sql),
        Dialect::Postgres => std::borrow::Cow::Borrowed(sql),
    };
    let sql = sql.as_ref();
    let tokens = tokenize_spanned(dialect, sql);
    let keep = tokens
        .iter()
        .rposition(|t| t.token != Token::Semicolon)
        .map_or(0, |i| i + 1);
    let mut out = String::with_capacity(sql.len());
    for t in &tokens[..keep] {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&sql[t.start..t.end]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_quoted_text_are_kept_exactly() {
        let d = Dialect::MySql;
        assert_eq!(
            canonical_text(d, "DELETE FROM t WHERE a = 'x  y' /* c */ ;;"),
            "DELETE FROM t WHERE a = 'x  y'"
        );
        assert_ne!(
            canonical_text(d, "DELETE FROM t WHERE a = 'x'"),
            canonical_text(d, "DELETE FROM t WHERE a = 'X'")
        );
        assert_eq!(
            canonical_text(Dialect::Postgres, "select $1,\n\t$2"),
            "select $1 , $2"
        );
    }

    #[test]
    fn what_an_executable_comment_holds_counts() {
        let d = Dialect::MySql;
        let approved = canonical_text(d, "delete from junk where id = 1");
        for smuggled in [
            "delete from junk where id = 1 /*!50000 or 1=1 */",
            "delete from junk where id = 1 /*! or 1=1 */",
            "delete from junk where id = 1 /*M!100100 or 1=1 */",
        ] {
            assert_ne!(canonical_text(d, smuggled), approved, "{smuggled}");
        }
        assert_eq!(
            canonical_text(d, "delete from junk where id = 1 /* or 1=1 */"),
            approved,
            "an ordinary comment does not run"
        );
    }
}
