//! A statement's *shape*: its text with every number and string literal replaced by a marker,
//! found in one cheap pass over the bytes.
//!
//! pgbench, ORMs that inline values and most hand-written applications send the same few
//! statements with different literals, so a cache keyed by raw text never hits. Keyed by shape,
//! `SELECT abalance FROM pgbench_accounts WHERE aid = 17` and `… WHERE aid = 42` share one
//! analysis, and sluice parses each statement once instead of once per call.
//!
//! Sharing an analysis is only sound when every tokenizer involved (this pass, sqlparser's, and
//! the server's, under any session setting) splits the text into the same tokens. So this pass
//! recognizes only *plain* text and gives up on anything where tokenizers can disagree:
//! comments (MySQL's `/*! … */` runs code), backslashes (escapes depend on
//! `standard_conforming_strings` and `NO_BACKSLASH_ESCAPES`), dollar quotes, prefixed strings
//! (`E'…'`, `x'…'`, `_utf8'…'`, `U&'…'`), adjacent strings (which concatenate), numbers glued
//! to words (`1abc` is an identifier in MySQL), control characters, and non-ASCII outside
//! string literals. Such text has no shape and is analysed in full every time. Whitespace is
//! kept as written: only literals are replaced.

use std::ops::Range;

use crate::Dialect;

/// Replaces a number literal in a shape key.
const NUMBER: char = '\u{1}';
/// Replaces a string literal in a shape key.
const STRING: char = '\u{2}';

/// A statement's text with its literals replaced, and where those literals were.
///
/// ```
/// use policy::{shape, Dialect};
/// let a = shape(Dialect::Postgres, "SELECT * FROM t WHERE id = 17 AND name = 'Ann'").unwrap();
/// let b = shape(Dialect::Postgres, "SELECT * FROM t WHERE id = 42 AND name = 'Bob'").unwrap();
/// assert_eq!(a.key(), b.key());
/// assert_eq!(a.literals().len(), 2);
/// // Comments can hide code (MySQL executable comments): no shape, a full analysis instead.
/// assert!(shape(Dialect::MySql, "SELECT 1 /*! ; DROP TABLE t */").is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shape {
    key: String,
    literals: Vec<Range<usize>>,
}

impl Shape {
    /// The text with each number replaced by `\u{1}` and each string by `\u{2}`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The byte ranges of the literals in the original text, in order.
    pub fn literals(&self) -> &[Range<usize>] {
        &self.literals
    }
}

/// A statement's text with its [`Shape`], found at most once however many caches the
/// statement visits (rules, lineage, the log's literal masking). The shape is computed on
/// first use, and can only be paired with the text it was computed from.
///
/// ```
/// use policy::{Dialect, ShapedSql};
/// let s = ShapedSql::new(Dialect::Postgres, "SELECT * FROM t WHERE id = 17");
/// assert_eq!(s.sql(), "SELECT * FROM t WHERE id = 17");
/// assert_eq!(s.shape().unwrap().literals(), [27..29]);
/// assert!(ShapedSql::new(Dialect::MySql, "SELECT 1 /* c */").shape().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct ShapedSql<'a> {
    dialect: Dialect,
    sql: &'a str,
    shape: std::cell::OnceCell<Option<Shape>>,
}

impl<'a> ShapedSql<'a> {
    /// `sql` in `dialect`; nothing is computed yet.
    pub fn new(dialect: Dialect, sql: &'a str) -> ShapedSql<'a> {
        ShapedSql {
            dialect,
            sql,
            shape: std::cell::OnceCell::new(),
        }
    }

    /// The dialect the text is in.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The text.
    pub fn sql(&self) -> &'a str {
        self.sql
    }

    /// The text's shape ([`shape`]), computed on the first call.
    pub fn shape(&self) -> Option<&Shape> {
        self.shape
            .get_or_init(|| shape(self.dialect, self.sql))
            .as_ref()
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// The shape of `sql`, or `None` when the text is not plain enough for its shape to be trusted
/// (see the module documentation).
///
/// ```
/// use policy::{shape, Dialect};
/// assert!(shape(Dialect::Postgres, "SELECT 'a\\' FROM t").is_none()); // a backslash
/// assert!(shape(Dialect::MySql, "SELECT * FROM 1abc").is_none()); // a number glued to a word
/// assert_eq!(shape(Dialect::Postgres, "SELECT $1, 2").unwrap().literals(), [11..12]);
/// ```
pub fn shape(dialect: Dialect, sql: &str) -> Option<Shape> {
    let bytes = sql.as_bytes();
    let mut key = String::with_capacity(sql.len());
    let mut literals = Vec::new();
    // Bytes of `sql` not yet copied into `key`.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'\'' => {
                // A prefix (`E'`, `x'`, `_utf8'`, `U&'`) changes what the string means.
                if i > 0 && (is_word_byte(bytes[i - 1]) || bytes[i - 1] == b'&') {
                    return None;
                }
                let end = quoted_end(bytes, i, b'\'')?;
                // `'a' 'b'` is one literal to both servers: keep the shape simple instead.
                let mut next = end;
                while next < bytes.len() && bytes[next].is_ascii_whitespace() {
                    next += 1;
                }
                if bytes.get(next) == Some(&b'\'') {
                    return None;
                }
                key.push_str(&sql[copied..i]);
                key.push(STRING);
                literals.push(i..end);
                copied = end;
                i = end;
            }
            // Quoted identifiers are kept as written; they are skipped whole so that a quote
            // inside them is not taken for a string.
            b'"' | b'`' => {
                // MySQL's `"…"` is a string, or an identifier under ANSI_QUOTES: it cannot be
                // told which, so it has no shape.
                let other_dialect = match dialect {
                    Dialect::Postgres => b'`',
                    Dialect::MySql => b'"',
                };
                if b == other_dialect {
                    return None;
                }
                i = quoted_end(bytes, i, b)?;
            }
            b'0'..=b'9' => {
                if i > 0 && (is_word_byte(bytes[i - 1]) || bytes[i - 1] == b'.') {
                    // Part of a word (`t1`, `$1`) or a qualified name: kept as written.
                    if bytes[i - 1] == b'.' {
                        return None;
                    }
                    i += 1;
                    continue;
                }
                let end = number_end(bytes, i)?;
                key.push_str(&sql[copied..i]);
                key.push(NUMBER);
                literals.push(i..end);
                copied = end;
                i = end;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                while i < bytes.len() && is_word_byte(bytes[i]) {
                    i += 1;
                }
            }
            // `$1` (PostgreSQL): a parameter, kept. Any other `$` opens a dollar quote.
            b'$' => {
                if dialect != Dialect::Postgres
                    || !bytes.get(i + 1).is_some_and(|d| d.is_ascii_digit())
                {
                    return None;
                }
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                if i < bytes.len() && is_word_byte(bytes[i]) {
                    return None;
                }
            }
            // Comments and escapes: where tokenizers disagree.
            b'-' if bytes.get(i + 1) == Some(&b'-') => return None,
            b'/' if bytes.get(i + 1) == Some(&b'*') => return None,
            b'#' | b'\\' => return None,
            b'(' | b')' | b',' | b';' | b'.' | b'=' | b'<' | b'>' | b'+' | b'-' | b'*' | b'/'
            | b'%' | b'^' | b'|' | b'&' | b'!' | b'~' | b'@' | b':' | b'[' | b']' | b'?' => i += 1,
            _ => return None,
        }
    }
    key.push_str(&sql[copied..]);
    Some(Shape { key, literals })
}

/// The end (exclusive) of the quoted token opening at `start`, where a doubled quote stands for
/// itself; `None` when it is unterminated or holds a backslash.
fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match *bytes.get(i)? {
            b'\\' => return None,
            q if q == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return Some(i + 1);
                }
            }
            _ => i += 1,
        }
    }
}

/// The end of the number starting at `start`: digits, an optional fraction, an optional
/// exponent. `None` when a word character, a dot or a quote follows directly (`1abc`, `0x1f`,
/// `1.2.3`, `1'a'`), where dialects part ways.
fn number_end(bytes: &[u8], start: usize) -> Option<usize> {
    let digits = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(start);
    if bytes.get(i) == Some(&b'.') && bytes.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
        i = digits(i + 1);
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
        if bytes.get(i + 1 + sign).is_some_and(|d| d.is_ascii_digit()) {
            i = digits(i + 1 + sign);
        }
    }
    match bytes.get(i) {
        Some(&b) if is_word_byte(b) || matches!(b, b'.' | b'\'' | b'"' | b'`') || b >= 0x80 => None,
        _ => Some(i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(d: Dialect, sql: &str) -> Option<String> {
        shape(d, sql).map(|s| s.key)
    }

    #[test]
    fn literals_are_replaced_and_the_rest_kept() {
        let s = shape(
            Dialect::Postgres,
            "SELECT abalance FROM pgbench_accounts WHERE aid = 81234;",
        )
        .unwrap();
        assert_eq!(
            s.key,
            "SELECT abalance FROM pgbench_accounts WHERE aid = \u{1};"
        );
        assert_eq!(s.literals.len(), 1);
        assert_eq!(s.literals[0], 50..55);
        let s = shape(Dialect::MySql, "INSERT INTO t VALUES (1.5e-3, 'it''s', -7)").unwrap();
        assert_eq!(s.key, "INSERT INTO t VALUES (\u{1}, \u{2}, -\u{1})");
        assert_eq!(s.literals.len(), 3);
        // Numbers inside words and parameters are not literals.
        let s = shape(
            Dialect::Postgres,
            "SELECT t1.c2 FROM t1 WHERE a = $12 AND b = 3",
        )
        .unwrap();
        assert_eq!(s.literals.len(), 1);
        // Quoted identifiers are skipped whole, quote characters inside included.
        let s = shape(Dialect::Postgres, "SELECT \"it's\" FROM t WHERE a = 'x'").unwrap();
        assert_eq!(s.literals.len(), 1);
        let s = shape(Dialect::MySql, "SELECT `it's` FROM t WHERE a = 'x'").unwrap();
        assert_eq!(s.literals.len(), 1);
        // Non-ASCII inside a string is data, like any other.
        assert!(shape(Dialect::Postgres, "SELECT 'café' FROM t").is_some());
    }

    #[test]
    fn statements_differing_only_in_literals_share_a_key() {
        for (a, b) in [
            (
                "SELECT * FROM t WHERE id = 1",
                "SELECT * FROM t WHERE id = 999",
            ),
            (
                "UPDATE t SET a = 'x' WHERE id = 2",
                "UPDATE t SET a = 'yy' WHERE id = 3",
            ),
        ] {
            assert_eq!(key(Dialect::Postgres, a), key(Dialect::Postgres, b));
        }
        // A number and a string are different shapes.
        assert_ne!(
            key(Dialect::Postgres, "SELECT * FROM t WHERE id = 1"),
            key(Dialect::Postgres, "SELECT * FROM t WHERE id = '1'")
        );
        // Structure, names and whitespace all count.
        assert_ne!(
            key(Dialect::Postgres, "DELETE FROM t WHERE id = 1"),
            key(Dialect::Postgres, "DELETE FROM u WHERE id = 1")
        );
    }

    #[test]
    fn text_where_tokenizers_can_disagree_has_no_shape() {
        for (d, sql) in [
            // Backslash escapes: one string to MySQL, a string and a DROP to PostgreSQL.
            (Dialect::MySql, "SELECT 'a\\' ; DROP TABLE t; -- '"),
            (Dialect::Postgres, "SELECT 'a\\' ; DROP TABLE t; -- '"),
            (Dialect::Postgres, "SELECT E'a' FROM t"),
            (Dialect::MySql, "SELECT x'1f' FROM t"),
            (Dialect::MySql, "SELECT _utf8'a' FROM t"),
            (Dialect::Postgres, "SELECT U&'a' FROM t"),
            (Dialect::Postgres, "SELECT 'a'\n'b' FROM t"),
            (
                Dialect::MySql,
                "SELECT 1 /*! , (SELECT ssn FROM c) */ FROM t",
            ),
            (Dialect::MySql, "SELECT 1 # comment"),
            (Dialect::Postgres, "SELECT 1 -- comment"),
            (Dialect::Postgres, "SELECT $$a$$, 1"),
            (Dialect::Postgres, "SELECT $a$x$a$, 1"),
            (Dialect::MySql, "SELECT * FROM 1abc WHERE a = 1"),
            (Dialect::MySql, "SELECT 0x1f"),
            (Dialect::MySql, "SELECT 1e"),
            (Dialect::Postgres, "SELECT 1.2.3"),
            (Dialect::Postgres, "SELECT t.1 FROM t"),
            (Dialect::Postgres, "SELECT 'unterminated"),
            (Dialect::Postgres, "SELECT \"unterminated, 1"),
            (Dialect::Postgres, "SELECT 1 FROM `t`"),
            (Dialect::Postgres, "SELECT 1\u{0} FROM t"),
            (Dialect::Postgres, "SELECT 1 FROM tablé"),
            (Dialect::MySql, "SELECT \"a\\\"b\", 1"),
            (Dialect::MySql, "SELECT \"secret\", 1"),
        ] {
            assert_eq!(shape(d, sql), None, "{sql:?} must have no shape");
        }
        // Nothing to replace: the text is its own key.
        let s = shape(Dialect::Postgres, "SELECT a FROM t WHERE b = $1").unwrap();
        assert_eq!(
            (s.key(), s.literals().len()),
            ("SELECT a FROM t WHERE b = $1", 0)
        );
    }
}
