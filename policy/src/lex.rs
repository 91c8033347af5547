//! A small, forgiving SQL lexer that never fails.
//!
//! sqlparser's tokenizer gives up on input it does not like (an unterminated string, a stray
//! byte), but the fallback classifier must still say *something* about such text, and must not
//! be fooled by keywords hidden in comments, strings or dollar-quoted bodies. This lexer knows
//! just enough of both dialects to skip those correctly, and treats everything else as words and
//! punctuation. It is iterative, so no input can exhaust the stack.

use crate::Dialect;

/// One significant token; comments and whitespace are dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    /// A bare word (keyword or identifier), as written.
    Word(String),
    /// A quoted identifier, unquoted (`"Foo"` → `Foo`).
    QuotedIdent(String),
    /// Any string literal (contents are irrelevant to classification).
    Str,
    /// A numeric literal.
    Number,
    /// A bind parameter: `$1` (PostgreSQL) or `?` (MySQL).
    Placeholder,
    /// `;`
    Semicolon,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `.`
    Dot,
    /// `,`
    Comma,
    /// Any other punctuation or operator character.
    Punct(char),
}

impl Token {
    /// The keyword this token spells, upper-cased, if it is a bare word.
    pub(crate) fn keyword(&self) -> Option<String> {
        match self {
            Token::Word(w) => Some(w.to_ascii_uppercase()),
            _ => None,
        }
    }

    /// True if this token is the bare word `kw` (case-insensitive).
    pub(crate) fn is_kw(&self, kw: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(kw))
    }
}

/// Splits `sql` into significant tokens. Never fails: unterminated constructs run to the end.
#[cfg(test)]
pub(crate) fn tokenize(dialect: Dialect, sql: &str) -> Vec<Token> {
    tokenize_spanned(dialect, sql)
        .into_iter()
        .map(|s| s.token)
        .collect()
}

/// A token with the byte range of `sql` it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spanned {
    pub(crate) token: Token,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Like [`tokenize`], keeping where each token is.
pub(crate) fn tokenize_spanned(dialect: Dialect, sql: &str) -> Vec<Spanned> {
    let (offsets, chars): (Vec<usize>, Vec<char>) = sql.char_indices().unzip();
    let byte_at = |i: usize| offsets.get(i).copied().unwrap_or(sql.len());
    let mut spanned = Vec::new();
    let mut tokens: Vec<Token> = Vec::with_capacity(1);
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        // Each branch below pushes at most one token into `tokens`; it is moved out at once.
        tokens.clear();
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if let Some(end) = comment_end(dialect, &chars, i) {
            i = end;
        } else if c == '\'' {
            // PostgreSQL standard strings take no backslash escapes, except E'..' (handled below).
            i = skip_quoted(&chars, i, '\'', dialect == Dialect::MySql);
            tokens.push(Token::Str);
        } else if (c == 'e' || c == 'E') && next == Some('\'') && dialect == Dialect::Postgres {
            i = skip_quoted(&chars, i + 1, '\'', true);
            tokens.push(Token::Str);
        } else if c == '"' {
            if dialect == Dialect::MySql {
                // Without ANSI_QUOTES, MySQL reads "..." as a string.
                i = skip_quoted(&chars, i, '"', true);
                tokens.push(Token::Str);
            } else {
                let (text, end) = quoted_ident(&chars, i, '"');
                tokens.push(Token::QuotedIdent(text));
                i = end;
            }
        } else if c == '`' && dialect == Dialect::MySql {
            let (text, end) = quoted_ident(&chars, i, '`');
            tokens.push(Token::QuotedIdent(text));
            i = end;
        } else if c == '$' && dialect == Dialect::Postgres {
            if next.is_some_and(|n| n.is_ascii_digit()) {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
                tokens.push(Token::Placeholder);
            } else if let Some(end) = dollar_quoted_end(&chars, i) {
                i = end;
                tokens.push(Token::Str);
            } else {
                tokens.push(Token::Punct('$'));
                i += 1;
            }
        } else if c == '?' && dialect == Dialect::MySql {
            tokens.push(Token::Placeholder);
            i += 1;
        } else if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            tokens.push(Token::Number);
        } else if is_word_start(c) {
            let start = i;
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            tokens.push(match c {
                ';' => Token::Semicolon,
                '(' => Token::LParen,
                ')' => Token::RParen,
                '.' => Token::Dot,
                ',' => Token::Comma,
                other => Token::Punct(other),
            });
            i += 1;
        }
        if let Some(token) = tokens.pop() {
            spanned.push(Spanned {
                token,
                start: byte_at(start),
                end: byte_at(i),
            });
        }
    }
    spanned
}

/// The largest number of operators chained in one expression, summed over enclosing
/// parentheses: an upper bound on how deep the parser's expression tree can get from operator
/// chains. Commas, `;` and clause keywords end a chain.
pub(crate) fn max_operator_chain(dialect: Dialect, sql: &str) -> usize {
    let mut levels: Vec<usize> = vec![0];
    let (mut total, mut max) = (0usize, 0usize);
    for spanned in tokenize_spanned(dialect, sql) {
        let chained = match &spanned.token {
            Token::LParen => {
                levels.push(0);
                false
            }
            Token::RParen => {
                if levels.len() > 1 {
                    total -= levels.pop().unwrap_or(0);
                }
                false
            }
            Token::Comma | Token::Semicolon => {
                total -= std::mem::take(levels.last_mut().unwrap_or(&mut 0));
                false
            }
            Token::Punct(c) => !matches!(c, '$' | '@'),
            Token::Word(w) => {
                let upper = w.to_ascii_uppercase();
                if matches!(
                    upper.as_str(),
                    "SELECT"
                        | "FROM"
                        | "WHERE"
                        | "SET"
                        | "VALUES"
                        | "ON"
                        | "HAVING"
                        | "GROUP"
                        | "ORDER"
                        | "LIMIT"
                        | "RETURNING"
                        | "WHEN"
                        | "THEN"
                        | "ELSE"
                ) {
                    total -= std::mem::take(levels.last_mut().unwrap_or(&mut 0));
                    false
                } else {
                    matches!(
                        upper.as_str(),
                        "AND"
                            | "OR"
                            | "NOT"
                            | "IS"
                            | "LIKE"
                            | "ILIKE"
                            | "BETWEEN"
                            | "IN"
                            | "COLLATE"
                            | "SIMILAR"
                            | "XOR"
                            | "DIV"
                            | "MOD"
                            | "REGEXP"
                            | "RLIKE"
                    )
                }
            }
            _ => false,
        };
        if chained {
            if let Some(top) = levels.last_mut() {
                *top += 1;
            }
            total += 1;
            max = max.max(total);
        }
    }
    max
}

/// Splits `sql` into statements at `;` outside strings, comments and quoted identifiers.
/// Pieces holding no token at all (empty statements, lone comments) are dropped.
pub(crate) fn split_statements(dialect: Dialect, sql: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut piece_start = 0;
    let mut has_tokens = false;
    for spanned in tokenize_spanned(dialect, sql) {
        if spanned.token == Token::Semicolon {
            if has_tokens {
                pieces.push(&sql[piece_start..spanned.start]);
            }
            piece_start = spanned.end;
            has_tokens = false;
        } else {
            has_tokens = true;
        }
    }
    if has_tokens {
        pieces.push(&sql[piece_start..]);
    }
    pieces
}

fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '@'
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || c == '@'
}

/// If a comment starts at `i`, the index just past it.
fn comment_end(dialect: Dialect, chars: &[char], i: usize) -> Option<usize> {
    let c = chars[i];
    let next = chars.get(i + 1).copied();
    let line_comment = match (c, next) {
        // MySQL needs whitespace after `--` (`1--1` is arithmetic there).
        ('-', Some('-')) => {
            dialect == Dialect::Postgres
                || chars
                    .get(i + 2)
                    .is_none_or(|c| c.is_whitespace() || c.is_control())
        }
        ('#', _) => dialect == Dialect::MySql,
        _ => false,
    };
    if line_comment {
        let mut j = i;
        while j < chars.len() && chars[j] != '\n' {
            j += 1;
        }
        return Some(j);
    }
    if c == '/' && next == Some('*') {
        // PostgreSQL block comments nest; MySQL's end at the first `*/`.
        let nests = dialect == Dialect::Postgres;
        let mut depth = 1usize;
        let mut j = i + 2;
        while j < chars.len() {
            if chars[j] == '*' && chars.get(j + 1) == Some(&'/') {
                depth -= 1;
                j += 2;
                if depth == 0 {
                    return Some(j);
                }
            } else if nests && chars[j] == '/' && chars.get(j + 1) == Some(&'*') {
                depth += 1;
                j += 2;
            } else {
                j += 1;
            }
        }
        return Some(chars.len());
    }
    None
}

/// Skips a quoted run starting at the opening quote `i`; a doubled quote is an escaped quote.
fn skip_quoted(chars: &[char], i: usize, quote: char, backslash_escapes: bool) -> usize {
    let mut j = i + 1;
    while j < chars.len() {
        if backslash_escapes && chars[j] == '\\' {
            j += 2;
        } else if chars[j] == quote {
            if chars.get(j + 1) == Some(&quote) {
                j += 2;
            } else {
                return j + 1;
            }
        } else {
            j += 1;
        }
    }
    chars.len()
}

fn quoted_ident(chars: &[char], i: usize, quote: char) -> (String, usize) {
    let end = skip_quoted(chars, i, quote, false);
    let inner_end = if end <= chars.len() && end > i + 1 && chars.get(end - 1) == Some(&quote) {
        end - 1
    } else {
        end
    };
    let doubled: String = [quote, quote].iter().collect();
    let text: String = chars[i + 1..inner_end.max(i + 1)].iter().collect();
    (text.replace(&doubled, &quote.to_string()), end)
}

/// If a PostgreSQL dollar quote (`$$` or `$tag$`) opens at `i`, the index just past its close.
fn dollar_quoted_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    if chars.get(j) != Some(&'$') {
        return None;
    }
    let tag = &chars[i..=j];
    let mut k = j + 1;
    while k + tag.len() <= chars.len() {
        if &chars[k..k + tag.len()] == tag {
            return Some(k + tag.len());
        }
        k += 1;
    }
    Some(chars.len())
}

/// Rewrites MySQL/MariaDB executable comments (`/*! … */`, `/*!50001 … */`, `/*M! … */`) into
/// their content, because the server runs that content: `/*! DROP TABLE t */` is a DROP.
///
/// Only markers outside string literals, quoted identifiers and ordinary comments are touched.
/// Markers become spaces of the same byte length, so the text keeps its shape. Version-gated
/// comments are always expanded: the analyzer cannot know the server's version, and assuming
/// the content runs is the cautious choice.
pub(crate) fn expand_mysql_executable_comments(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains("/*!") && !sql.contains("/*M!") {
        return std::borrow::Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let mut in_executable = false;
    while i < bytes.len() {
        let b = bytes[i];
        let rest = &bytes[i..];
        if b == b'\'' || b == b'"' || b == b'`' {
            let end = skip_quoted_bytes(bytes, i, b, b != b'`');
            out.extend_from_slice(&bytes[i..end]);
            i = end;
        } else if rest.starts_with(b"/*!") || rest.starts_with(b"/*M!") {
            let mut j = i + if rest.starts_with(b"/*!") { 3 } else { 4 };
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            out.extend(std::iter::repeat_n(b' ', j - i));
            in_executable = true;
            i = j;
        } else if in_executable && rest.starts_with(b"*/") {
            out.extend_from_slice(b"  ");
            in_executable = false;
            i += 2;
        } else if rest.starts_with(b"/*") {
            let end = find(bytes, i + 2, b"*/").map_or(bytes.len(), |p| p + 2);
            out.extend_from_slice(&bytes[i..end]);
            i = end;
        } else if b == b'#'
            || (rest.starts_with(b"--")
                && rest
                    .get(2)
                    .is_none_or(|c| c.is_ascii_whitespace() || c.is_ascii_control()))
        {
            let end = find(bytes, i, b"\n").unwrap_or(bytes.len());
            out.extend_from_slice(&bytes[i..end]);
            i = end;
        } else {
            out.push(b);
            i += 1;
        }
    }
    // Only ASCII bytes were replaced by ASCII spaces, on ASCII boundaries, so this cannot fail;
    // if it somehow did, the original text is the safe answer.
    match String::from_utf8(out) {
        Ok(s) => std::borrow::Cow::Owned(s),
        Err(_) => std::borrow::Cow::Borrowed(sql),
    }
}

fn skip_quoted_bytes(bytes: &[u8], i: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut j = i + 1;
    while j < bytes.len() {
        if backslash_escapes && bytes[j] == b'\\' {
            j += 2;
        } else if bytes[j] == quote {
            if bytes.get(j + 1) == Some(&quote) {
                j += 2;
            } else {
                return j + 1;
            }
        } else {
            j += 1;
        }
    }
    bytes.len()
}

fn find(haystack: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(d: Dialect, sql: &str) -> Vec<String> {
        tokenize(d, sql).iter().filter_map(Token::keyword).collect()
    }

    #[test]
    fn comments_and_strings_hide_nothing_from_words() {
        assert_eq!(
            words(Dialect::Postgres, "/* DROP */ select 'DROP' -- DROP\n"),
            ["SELECT"]
        );
        assert_eq!(words(Dialect::Postgres, "/* a /* DROP */ b */ x"), ["X"]);
        assert_eq!(
            words(Dialect::Postgres, "select $f$ DROP $x$ $f$"),
            ["SELECT"]
        );
        assert_eq!(
            words(Dialect::Postgres, "select $$ DROP $$, $1"),
            ["SELECT"]
        );
        assert_eq!(words(Dialect::Postgres, "select E'\\' DROP '"), ["SELECT"]);
        assert_eq!(
            words(Dialect::MySql, "select 'a\\' DROP', # DROP\n x"),
            ["SELECT", "X"]
        );
        assert_eq!(words(Dialect::MySql, "select 1--1"), ["SELECT"]);
    }

    #[test]
    fn statements_split_on_top_level_semicolons_only() {
        let pieces = split_statements(
            Dialect::Postgres,
            "SELECT ';'; ; /* ; */ DROP TABLE t; -- x",
        );
        assert_eq!(pieces, ["SELECT ';'", " /* ; */ DROP TABLE t"]);
        let pieces = split_statements(Dialect::Postgres, "DO $$ BEGIN; END $$; SELECT 1");
        assert_eq!(pieces, ["DO $$ BEGIN; END $$", " SELECT 1"]);
    }

    #[test]
    fn operator_chains_are_measured() {
        assert_eq!(max_operator_chain(Dialect::Postgres, "SELECT a + b + c"), 2);
        assert_eq!(
            max_operator_chain(Dialect::Postgres, "SELECT a + b, c + d"),
            1
        );
        assert_eq!(
            max_operator_chain(Dialect::Postgres, "SELECT a + (b + (c + d))"),
            3
        );
        assert_eq!(
            max_operator_chain(Dialect::Postgres, "SELECT (a + b) + (c + d)"),
            2
        );
        assert_eq!(
            max_operator_chain(Dialect::Postgres, "SELECT 1 WHERE a AND b OR c"),
            2
        );
    }

    #[test]
    fn mysql_comments_do_not_nest() {
        assert_eq!(words(Dialect::MySql, "/* a /* b */ DROP"), ["DROP"]);
    }

    #[test]
    fn quoted_identifiers_keep_case() {
        let t = tokenize(Dialect::Postgres, r#""My ""T""""#);
        assert_eq!(t, [Token::QuotedIdent("My \"T\"".into())]);
        let t = tokenize(Dialect::MySql, "`a``b`");
        assert_eq!(t, [Token::QuotedIdent("a`b".into())]);
    }

    #[test]
    fn unterminated_constructs_run_to_the_end() {
        assert_eq!(tokenize(Dialect::Postgres, "'abc").len(), 1);
        assert_eq!(tokenize(Dialect::Postgres, "$a$ abc").len(), 1);
        assert_eq!(tokenize(Dialect::Postgres, "/* abc").len(), 0);
        assert_eq!(tokenize(Dialect::MySql, "\"ab").len(), 1);
    }

    #[test]
    fn executable_comments_are_expanded_outside_strings_only() {
        let e = expand_mysql_executable_comments("/*! DROP TABLE t */");
        assert_eq!(e.trim(), "DROP TABLE t");
        let e = expand_mysql_executable_comments("/*!50001 DROP TABLE t*/");
        assert_eq!(e.trim(), "DROP TABLE t");
        let e = expand_mysql_executable_comments("/*M!100100 DROP TABLE t*/");
        assert_eq!(e.trim(), "DROP TABLE t");
        let s = "SELECT '/*! DROP */'";
        assert_eq!(expand_mysql_executable_comments(s), s);
        let s = "SELECT 1 /* /*! DROP */";
        assert_eq!(expand_mysql_executable_comments(s), s);
        let e = expand_mysql_executable_comments("SELECT 1 /*! , '*/' */");
        assert_eq!(e, "SELECT 1     , '*/'   ");
    }
}
