//! The values a statement's masked text hides, so that nothing else recorded about the
//! statement gives them back: PostgreSQL's `EXPLAIN` prints the plan's literals
//! (`Filter: (ssn = 'ZQ7…'::text)`) and MySQL names an unaliased result column by its text
//! (`ssn = 'ZQ7…'`).

use crate::lex::{tokenize_spanned, Token};
use crate::Dialect;

/// Values shorter than this are not hidden elsewhere: scrubbing every `7` or `ab` out of a
/// result would make the log unreadable, and so little says next to nothing.
pub const MIN_HIDDEN_LEN: usize = 3;

/// The values of the literals of `sql` that `masked` (its text as the log records it) no
/// longer shows, each as the server would print it: a string's contents with its quotes and
/// doubled quotes undone, a number's digits.
///
/// ```
/// use policy::{hidden_literals, Dialect};
/// let sql = "SELECT id FROM c WHERE ssn = 'ZQ7W''X' AND id = 1234";
/// let masked = "SELECT id FROM c WHERE ssn = '***' AND id = 1234";
/// assert_eq!(hidden_literals(Dialect::Postgres, sql, masked), ["ZQ7W'X"]);
/// ```
pub fn hidden_literals(dialect: Dialect, sql: &str, masked: &str) -> Vec<String> {
    let mut hidden = Vec::new();
    for t in tokenize_spanned(dialect, sql) {
        if !matches!(t.token, Token::Str | Token::Number) {
            continue;
        }
        let Some(source) = sql.get(t.start..t.end) else {
            continue;
        };
        if masked.contains(source) {
            continue;
        }
        let value = match t.token {
            Token::Str => unquote(source),
            _ => source.to_string(),
        };
        if value.chars().count() >= MIN_HIDDEN_LEN && !hidden.contains(&value) {
            hidden.push(value);
        }
    }
    hidden
}

/// A string literal's contents: prefixes (`E`, `N`, `_utf8mb4`…) and quotes removed, doubled
/// quotes undone; dollar quoting too. Escapes stay as written.
fn unquote(source: &str) -> String {
    if let Some(rest) = source.strip_prefix('$') {
        let tag_end = rest.find('$').map_or(0, |i| i + 2).min(source.len());
        let (tag, body) = source.split_at(tag_end);
        return body.strip_suffix(tag).unwrap_or(body).to_string();
    }
    let Some(open) = source.find(['\'', '"', '`']) else {
        return source.to_string();
    };
    let quote = &source[open..=open];
    let body = &source[open + 1..];
    let body = body.strip_suffix(quote).unwrap_or(body);
    body.replace(&format!("{quote}{quote}"), quote)
}

/// `text` with every occurrence of each hidden value replaced by `***`.
///
/// ```
/// let hidden = vec!["ZQ7WX".to_string()];
/// assert_eq!(policy::scrub_hidden("Filter: (ssn = 'ZQ7WX'::text)", &hidden), "Filter: (ssn = '***'::text)");
/// ```
pub fn scrub_hidden(text: &str, hidden: &[String]) -> String {
    let mut out = text.to_string();
    for v in hidden {
        if out.contains(v.as_str()) {
            out = out.replace(v.as_str(), "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_strings_and_numbers_are_found_kept_ones_are_not() {
        let sql = "SELECT a FROM t WHERE ssn = E'QQ1234' AND card = 411111 AND n = 'kept' AND d = $x$QQDOLLAR$x$";
        let masked =
            "SELECT a FROM t WHERE ssn = '***' AND card = '***' AND n = 'kept' AND d = '***'";
        assert_eq!(
            hidden_literals(Dialect::Postgres, sql, masked),
            ["QQ1234", "411111", "QQDOLLAR"]
        );
        let sql = "SELECT ssn = _utf8mb4'QQMY' FROM t WHERE x = \"QQDQ\"";
        let masked = "SELECT ssn = '***' FROM t WHERE x = '***'";
        assert_eq!(
            hidden_literals(Dialect::MySql, sql, masked),
            ["QQMY", "QQDQ"]
        );
        assert!(hidden_literals(Dialect::Postgres, "SELECT 'ab'", "SELECT '***'").is_empty());
    }
}
