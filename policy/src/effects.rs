//! What a statement does besides its primary kind: the code it defines or runs, what that
//! code's body does, and the destruction hidden in DDL not called DROP.
//!
//! Works on the forgiving lexer's tokens of one statement's text (the original text on the
//! fallback path, sqlparser's rendering on the parsed path), so both paths give the same
//! answers. Bodies written in SQL are analysed statement by statement with [`crate::analyze`];
//! bodies in other languages (plpgsql, …) and dynamic SQL are scanned for keywords, string
//! contents included, and fail closed: a string that mentions DELETE counts as an unbounded
//! DELETE.

use std::cell::Cell;

use crate::lex::{tokenize_spanned, Spanned, Token};
use crate::{Analysis, Dialect, StatementInfo, StatementKind as K, TableRef};

/// How deeply bodies may nest (a string inside a body inside a string …) before the analysis
/// gives up and assumes the worst.
const MAX_NESTING: usize = 6;

thread_local! {
    static NESTING: Cell<usize> = const { Cell::new(0) };
}

/// Holds one level of [`NESTING`] while alive.
struct Nested;

impl Nested {
    fn enter() -> Option<Nested> {
        NESTING.with(|n| {
            let depth = n.get();
            (depth < MAX_NESTING).then(|| {
                n.set(depth + 1);
                Nested
            })
        })
    }
}

impl Drop for Nested {
    fn drop(&mut self) {
        NESTING.with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// The effects found for one statement.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    kinds: Vec<K>,
    tables: Vec<TableRef>,
    /// `Some(false)` when an UPDATE/DELETE among the effects is unbounded.
    dml_where: Option<bool>,
    pub(crate) code: bool,
    opaque: bool,
    /// Some SQL inside could only be classified by keywords.
    unparsed: bool,
    /// `PREPARE … FROM '<sql>'` / `EXECUTE IMMEDIATE '<sql>'` whose SQL parsed completely.
    pub(crate) literal_parsed: bool,
}

impl Effects {
    fn add(&mut self, kind: K) {
        if !self.kinds.contains(&kind) {
            self.kinds.push(kind);
        }
    }

    fn add_dml(&mut self, kind: K, bounded: bool) {
        self.add(kind);
        self.dml_where = Some(self.dml_where.unwrap_or(true) && bounded);
    }

    fn add_table(&mut self, table: &TableRef) {
        match self
            .tables
            .iter_mut()
            .find(|t| t.schema == table.schema && t.name == table.name)
        {
            Some(t) => t.access = t.access.max(table.access),
            None => self.tables.push(table.clone()),
        }
    }

    /// Everything `analysis` says, as effects.
    fn absorb(&mut self, analysis: &Analysis) {
        for s in &analysis.statements {
            for kind in s.kinds() {
                self.add(kind);
            }
            if let Some(bounded) = s.has_where {
                self.dml_where = Some(self.dml_where.unwrap_or(true) && bounded);
            }
            s.tables.iter().for_each(|t| self.add_table(t));
            self.code |= s.code;
            self.opaque |= s.opaque_code;
            self.unparsed |= !s.parsed;
        }
        self.unparsed |= analysis.parse_error.is_some();
    }

    /// Nesting too deep to follow: assume the worst.
    fn worst(&mut self) {
        for kind in [K::Drop, K::Truncate, K::Alter, K::Create, K::Insert] {
            self.add(kind);
        }
        self.add_dml(K::Delete, false);
        self.add_dml(K::Update, false);
        self.code = true;
        self.opaque = true;
        self.unparsed = true;
    }

    /// Adds the effects to `info`. Code and effects make the analysis depend on the text.
    pub(crate) fn apply(self, info: &mut StatementInfo) {
        for kind in self.kinds {
            if kind != info.kind && !info.effects.contains(&kind) {
                info.effects.push(kind);
            }
        }
        for table in &self.tables {
            match info
                .tables
                .iter_mut()
                .find(|t| t.schema == table.schema && t.name == table.name)
            {
                Some(t) => t.access = t.access.max(table.access),
                None => info.tables.push(table.clone()),
            }
        }
        if let Some(bounded) = self.dml_where {
            info.has_where = Some(info.has_where.unwrap_or(true) && bounded);
        }
        info.code |= self.code || self.opaque;
        info.opaque_code |= self.opaque;
        info.parsed &= !self.unparsed;
        if info.code || !info.effects.is_empty() {
            info.literal_dependent = true;
        }
    }
}

/// A statement's tokens and text.
struct Text<'a> {
    dialect: Dialect,
    sql: &'a str,
    spans: Vec<Spanned>,
}

impl Text<'_> {
    fn kw(&self, i: usize) -> String {
        self.spans
            .get(i)
            .and_then(|s| s.token.keyword())
            .unwrap_or_default()
    }

    fn token(&self, i: usize) -> Option<&Token> {
        self.spans.get(i).map(|s| &s.token)
    }

    /// The text of tokens `from..to`.
    fn slice(&self, from: usize, to: usize) -> &str {
        let (Some(first), Some(last)) = (self.spans.get(from), self.spans.get(to.wrapping_sub(1)))
        else {
            return "";
        };
        self.sql.get(first.start..last.end).unwrap_or_default()
    }

    /// First index in `from..` holding the word `word` outside parentheses.
    fn find_top(&self, from: usize, word: &str) -> Option<usize> {
        let mut depth = 0usize;
        for i in from..self.spans.len() {
            match &self.spans[i].token {
                Token::LParen => depth += 1,
                Token::RParen => depth = depth.saturating_sub(1),
                t if depth == 0 && t.is_kw(word) => return Some(i),
                _ => {}
            }
        }
        None
    }
}

/// The effects of the single statement `sql` (no top-level `;` needed, but tolerated).
pub(crate) fn of_statement(dialect: Dialect, sql: &str) -> Effects {
    let text = Text {
        dialect,
        sql,
        spans: tokenize_spanned(dialect, sql),
    };
    let mut e = Effects::default();
    let start = (0..text.spans.len())
        .find(|&i| text.token(i) != Some(&Token::LParen))
        .unwrap_or(0);
    match text.kw(start).as_str() {
        "CREATE" => create(&text, start + 1, &mut e),
        "ALTER" => alter(&text, start + 1, &mut e),
        "RENAME" => e.add(K::Drop),
        "DO" if dialect == Dialect::Postgres => {
            e.code = true;
            e.opaque = true;
            scan_strings(&text, start + 1, text.spans.len(), false, &mut e);
        }
        "PREPARE" if text.find_top(start, "AS").is_none() => {
            if let Some(from) = text.find_top(start, "FROM") {
                dynamic_sql(&text, from + 1, &mut e);
            }
        }
        "EXECUTE" if text.kw(start + 1) == "IMMEDIATE" => dynamic_sql(&text, start + 2, &mut e),
        "BEGIN" if text.kw(start + 1) == "NOT" && text.kw(start + 2) == "ATOMIC" => {
            e.code = true;
            procedural(&text, start + 3, text.spans.len(), &mut e);
        }
        _ => {}
    }
    e
}

/// `PREPARE s FROM <source>` / `EXECUTE IMMEDIATE <source>`: a lone string literal is the
/// statement that will run and is analysed as such; anything else cannot be seen.
fn dynamic_sql(text: &Text, at: usize, e: &mut Effects) {
    e.code = true;
    let rest = text.spans.get(at + 1..).unwrap_or_default();
    let literal = matches!(text.token(at), Some(Token::Str))
        && rest.iter().all(|s| s.token == Token::Semicolon);
    if !literal {
        e.opaque = true;
        scan_strings(text, at, text.spans.len(), true, e);
        return;
    }
    let inner = unquote(text.dialect, text.slice(at, at + 1));
    match Nested::enter() {
        Some(_guard) => {
            let analysis = crate::analyze(text.dialect, &inner);
            e.absorb(&analysis);
            e.literal_parsed = analysis.parsed();
            if !e.literal_parsed {
                // Not understood: whatever it mentions counts, failing closed.
                scan_text(text.dialect, &inner, true, e);
            }
        }
        None => e.worst(),
    }
}

/// Words after `CREATE` that name an object that is not code: the scan stops there.
const PLAIN_OBJECTS: &[&str] = &[
    "TABLE",
    "VIEW",
    "INDEX",
    "SEQUENCE",
    "SCHEMA",
    "DATABASE",
    "TYPE",
    "DOMAIN",
    "ROLE",
    "USER",
    "EXTENSION",
    "SERVER",
    "POLICY",
    "PUBLICATION",
    "SUBSCRIPTION",
    "TABLESPACE",
    "COLLATION",
    "CAST",
    "OPERATOR",
    "CONVERSION",
    "STATISTICS",
    "LANGUAGE",
    "TEXT",
    "GROUP",
    "SPATIAL",
    "FULLTEXT",
    "LOGFILE",
    "RESOURCE",
    "SYNONYM",
];

fn create(text: &Text, from: usize, e: &mut Effects) {
    let or_replace = text.kw(from) == "OR" && text.kw(from + 1) == "REPLACE";
    let end = text.spans.len().min(from + 24);
    for i in from..end {
        if text.token(i) == Some(&Token::LParen) {
            return;
        }
        let word = text.kw(i);
        match word.as_str() {
            "FUNCTION" | "PROCEDURE" | "PACKAGE" => return routine(text, i + 1, e),
            "TRIGGER" => return trigger(text, i + 1, e),
            // An extension or a language installs code (and dblink runs SQL sluice cannot see).
            "EXTENSION" | "LANGUAGE" => {
                e.code = true;
                e.opaque = true;
                return;
            }
            "RULE" | "EVENT" => {
                e.code = true;
                if let Some(body) = text.find_top(i + 1, "DO") {
                    procedural(text, body + 1, text.spans.len(), e);
                }
                return;
            }
            // MariaDB `CREATE OR REPLACE TABLE` drops the old table; a replaced view or
            // sequence is gone too.
            "TABLE" | "VIEW" | "SEQUENCE" if or_replace => return e.add(K::Drop),
            w if PLAIN_OBJECTS.contains(&w) => return,
            _ => {}
        }
    }
}

/// A function or procedure from just after `FUNCTION`/`PROCEDURE`.
fn routine(text: &Text, from: usize, e: &mut Effects) {
    e.code = true;
    let end = text.spans.len();
    let language = text
        .find_top(from, "LANGUAGE")
        .and_then(|i| match text.token(i + 1) {
            Some(Token::Word(w)) => Some(w.to_ascii_lowercase()),
            Some(Token::Str) => {
                Some(unquote(text.dialect, text.slice(i + 1, i + 2)).to_ascii_lowercase())
            }
            _ => None,
        });
    let sql_body = language.as_deref().is_none_or(|l| l == "sql");
    // PostgreSQL bodies are strings after AS (`AS 'body'`, `AS $$ … $$`); C functions name a
    // file and a symbol there, which a keyword scan leaves alone.
    let as_at = text.find_top(from, "AS");
    if let Some(as_at) = as_at.filter(|_| text.dialect == Dialect::Postgres) {
        if matches!(text.token(as_at + 1), Some(Token::Str)) {
            let body = unquote(text.dialect, text.slice(as_at + 1, as_at + 2));
            if sql_body {
                analyse_sql(text.dialect, &body, e);
            } else {
                e.opaque = true;
                scan_text(text.dialect, &body, false, e);
            }
        }
    }
    // SQL-standard bodies (`BEGIN ATOMIC … END`, `RETURN …`) and MySQL bodies are tokens.
    match text.dialect {
        // The other strings of a PostgreSQL definition are settings, not code.
        Dialect::Postgres => statements_in(text, from, end, e),
        Dialect::MySql => procedural(text, from, end, e),
    }
}

/// A trigger from just after `TRIGGER`: its body follows `FOR EACH ROW|STATEMENT` (PostgreSQL
/// triggers only call a function there).
fn trigger(text: &Text, from: usize, e: &mut Effects) {
    e.code = true;
    let body = (from..text.spans.len())
        .find(|&i| matches!(text.kw(i).as_str(), "ROW" | "STATEMENT") && text.kw(i - 1) == "EACH")
        .map_or(from, |i| i + 1);
    procedural(text, body, text.spans.len(), e);
}

/// A body given as SQL text: analysed like any statement sent to sluice.
fn analyse_sql(dialect: Dialect, body: &str, e: &mut Effects) {
    match Nested::enter() {
        Some(_guard) => e.absorb(&crate::analyze(dialect, body)),
        None => e.worst(),
    }
}

/// Tokens `from..to` of a procedural SQL body (MySQL routines, triggers and events, SQL
/// standard bodies, rules): every statement that starts inside is analysed from its first
/// word to the next `;`, whatever control flow surrounds it. Its strings are scanned too,
/// failing closed, because the body may build SQL from them (`SET @s = 'DROP …'; PREPARE st
/// FROM @s`), and a batch split at the body's `;` may have cut the `PREPARE` off.
fn procedural(text: &Text, from: usize, to: usize, e: &mut Effects) {
    statements_in(text, from, to, e);
    if (from..to).any(|i| matches!(text.kw(i).as_str(), "PREPARE" | "EXECUTE")) {
        e.opaque = true;
    }
    scan_strings(text, from, to, true, e);
}

/// Analyses each statement that starts among tokens `from..to`, up to its `;`.
fn statements_in(text: &Text, from: usize, to: usize, e: &mut Effects) {
    let mut i = from;
    while i < to {
        if !is_head(text, i, from) {
            i += 1;
            continue;
        }
        let end = (i..to)
            .find(|&j| text.token(j) == Some(&Token::Semicolon))
            .unwrap_or(to);
        match Nested::enter() {
            Some(_guard) => e.absorb(&crate::analyze(text.dialect, text.slice(i, end))),
            None => e.worst(),
        }
        i = end + 1;
    }
}

/// True when the word at `i` starts a statement worth analysing inside a body.
fn is_head(text: &Text, i: usize, body_start: usize) -> bool {
    let word = text.kw(i);
    let previous = if i > body_start {
        text.kw(i - 1)
    } else {
        String::new()
    };
    let next_paren = text.token(i + 1) == Some(&Token::LParen);
    match word.as_str() {
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" => {
            !matches!(previous.as_str(), "FOR" | "ON" | "KEY" | "NO")
        }
        "REPLACE" => !next_paren && previous != "OR",
        "DROP" | "TRUNCATE" | "ALTER" | "CREATE" | "RENAME" | "GRANT" | "REVOKE" | "COPY"
        | "CALL" | "PREPARE" => !next_paren,
        "LOAD" => matches!(text.kw(i + 1).as_str(), "DATA" | "XML"),
        "EXECUTE" => text.kw(i + 1) == "IMMEDIATE",
        "DO" => text.dialect == Dialect::Postgres && matches!(text.token(i + 1), Some(Token::Str)),
        _ => false,
    }
}

/// Scans the contents of the string literals among tokens `from..to`: code bodies, or SQL
/// built at run time (`dynamic`).
fn scan_strings(text: &Text, from: usize, to: usize, dynamic: bool, e: &mut Effects) {
    for i in from..to.min(text.spans.len()) {
        // `COMMENT 'deletes old rows'` is prose.
        if text.token(i) == Some(&Token::Str) && text.kw(i.wrapping_sub(1)) != "COMMENT" {
            scan_text(
                text.dialect,
                &unquote(text.dialect, text.slice(i, i + 1)),
                dynamic,
                e,
            );
        }
    }
}

/// Keyword scan of code sluice cannot parse (a plpgsql body, a string run as SQL): every
/// statement keyword counts as that kind, and string contents are scanned the same way as
/// `dynamic` SQL, whose UPDATE and DELETE count as unbounded. The statements of a body that
/// is not dynamic are also analysed one by one, which decides their WHERE.
fn scan_text(dialect: Dialect, body: &str, dynamic: bool, e: &mut Effects) {
    let Some(_guard) = Nested::enter() else {
        return e.worst();
    };
    let text = Text {
        dialect,
        sql: body,
        spans: tokenize_spanned(dialect, body),
    };
    for i in 0..text.spans.len() {
        let previous = if i == 0 {
            String::new()
        } else {
            text.kw(i - 1)
        };
        let kind = match text.kw(i).as_str() {
            "DROP" => K::Drop,
            "TRUNCATE" => K::Truncate,
            "ALTER" => K::Alter,
            "CREATE" => K::Create,
            "GRANT" => K::Grant,
            "REVOKE" => K::Revoke,
            "MERGE" => K::Merge,
            "COPY" => K::CopyFrom,
            "RENAME" => K::Drop,
            "INSERT" => K::Insert,
            "REPLACE" if text.token(i + 1) != Some(&Token::LParen) => K::Insert,
            "UPDATE" | "DELETE" if !matches!(previous.as_str(), "FOR" | "ON" | "KEY") => {
                let kind = if text.kw(i) == "UPDATE" {
                    K::Update
                } else {
                    K::Delete
                };
                if dynamic {
                    e.add_dml(kind, false);
                } else {
                    e.add(kind);
                }
                continue;
            }
            "EXECUTE" | "PREPARE" | "DO" => {
                e.code = true;
                continue;
            }
            _ => {
                if text.token(i) == Some(&Token::Str) {
                    scan_text(dialect, &unquote(dialect, text.slice(i, i + 1)), true, e);
                }
                continue;
            }
        };
        e.add(kind);
    }
    // Whole statements in the text still get their full analysis (`ALTER … TYPE` → drop).
    statements_in(&text, 0, text.spans.len(), e);
}

/// The destruction an `ALTER …` does, from just after `ALTER`.
fn alter(text: &Text, from: usize, e: &mut Effects) {
    if text.kw(from) == "EVENT" {
        if let Some(body) = text.find_top(from, "DO") {
            e.code = true;
            procedural(text, body + 1, text.spans.len(), e);
        }
        return;
    }
    for i in from..text.spans.len() {
        match text.kw(i).as_str() {
            // Not `ALTER COLUMN c DROP DEFAULT / NOT NULL / IDENTITY / EXPRESSION`.
            "DROP"
                if !matches!(
                    text.kw(i + 1).as_str(),
                    "DEFAULT" | "NOT" | "IDENTITY" | "EXPRESSION"
                ) =>
            {
                e.add(K::Drop)
            }
            // An index or a constraint renamed keeps every row and column.
            "RENAME" if matches!(text.kw(i + 1).as_str(), "INDEX" | "KEY" | "CONSTRAINT") => {}
            "RENAME" if text.kw(from) == "INDEX" => {}
            // The old name is gone; whether the new one replaces something cannot be known.
            "RENAME" | "DETACH" | "EXCHANGE" | "DISCARD" => e.add(K::Drop),
            "TRUNCATE" => e.add(K::Truncate),
            "BLACKHOLE"
                if text.kw(i.saturating_sub(1)) == "ENGINE"
                    || text.kw(i.saturating_sub(2)) == "ENGINE" =>
            {
                e.add(K::Drop)
            }
            _ => {}
        }
    }
    if let Some(actions) = table_actions(text, from) {
        for a in actions {
            if changes_column_type(text, a) {
                e.add(K::Drop);
            }
        }
    }
    referential_actions(text, from, e);
}

/// `… REFERENCES p ON DELETE CASCADE` added to a table arms a write of it that a later,
/// bounded-looking `DELETE FROM p WHERE id = 1` fires on every matching row, uncounted: the
/// ALTER is that write, unbounded (`CASCADE` on delete deletes; `SET NULL` / `SET DEFAULT`, and
/// any action on update, update).
fn referential_actions(text: &Text, from: usize, e: &mut Effects) {
    for i in from..text.spans.len() {
        if text.kw(i) != "ON" || !matches!(text.kw(i + 1).as_str(), "DELETE" | "UPDATE") {
            continue;
        }
        let action = text.kw(i + 2);
        let destructive = action == "CASCADE"
            || (action == "SET" && matches!(text.kw(i + 3).as_str(), "NULL" | "DEFAULT"));
        if !destructive {
            continue;
        }
        match (text.kw(i + 1).as_str(), action.as_str()) {
            ("DELETE", "CASCADE") => e.add_dml(K::Delete, false),
            _ => e.add_dml(K::Update, false),
        }
    }
}

/// Where each action of an `ALTER [ONLINE|IGNORE] [FOREIGN] TABLE [IF EXISTS] [ONLY] name [*]`
/// starts; `None` for other ALTERs.
fn table_actions(text: &Text, from: usize) -> Option<Vec<usize>> {
    let table = (from..(from + 4).min(text.spans.len())).find(|&i| text.kw(i) == "TABLE")?;
    let mut i = table + 1;
    while matches!(text.kw(i).as_str(), "IF" | "EXISTS" | "ONLY") {
        i += 1;
    }
    i += 1; // the name
    while text.token(i) == Some(&Token::Dot) {
        i += 2;
    }
    if text.token(i) == Some(&Token::Punct('*')) {
        i += 1;
    }
    let mut starts = vec![i];
    let mut depth = 0usize;
    for j in i..text.spans.len() {
        match text.token(j) {
            Some(Token::LParen) => depth += 1,
            Some(Token::RParen) => depth = depth.saturating_sub(1),
            Some(Token::Comma) if depth == 0 => starts.push(j + 1),
            _ => {}
        }
    }
    Some(starts)
}

/// `MODIFY …`, `CHANGE …` (MySQL), `ALTER [COLUMN] c [SET DATA] TYPE …`: the column's values
/// are converted and may be lost. Every such change counts, whatever the types.
fn changes_column_type(text: &Text, at: usize) -> bool {
    match text.kw(at).as_str() {
        "MODIFY" | "CHANGE" => true,
        "ALTER" => {
            let mut i = at + 1;
            if text.kw(i) == "COLUMN" {
                i += 1;
            }
            i += 1; // the column
            text.kw(i) == "TYPE"
                || (text.kw(i) == "SET" && text.kw(i + 1) == "DATA" && text.kw(i + 2) == "TYPE")
        }
        _ => false,
    }
}

/// The contents of a string literal token's text, as the server reads it: `'it''s'`, `E'…'`
/// (PostgreSQL, backslash escapes), `N'…'`, `'a\'b'` and `"…"` (MySQL), `$tag$…$tag$`.
pub(crate) fn unquote(dialect: Dialect, literal: &str) -> String {
    if let Some(rest) = literal.strip_prefix('$') {
        let Some(tag_end) = rest.find('$') else {
            return literal.to_string();
        };
        let tag = &literal[..tag_end + 2];
        let body = &literal[tag.len()..];
        return body.strip_suffix(tag).unwrap_or(body).to_string();
    }
    let Some(open) = literal.find(['\'', '"']) else {
        return literal.to_string();
    };
    let quote = if literal[open..].starts_with('"') {
        '"'
    } else {
        '\''
    };
    let escapes = dialect == Dialect::MySql || literal[..open].eq_ignore_ascii_case("e");
    let body = &literal[open + 1..];
    let body = body.strip_suffix(quote).unwrap_or(body);
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote && chars.peek() == Some(&quote) {
            chars.next();
            out.push(quote);
        } else if c == '\\' && escapes {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some('b') => out.push('\u{8}'),
                Some('Z') => out.push('\u{1a}'),
                // MySQL keeps the backslash of `\%` and `\_` (LIKE patterns).
                Some(x @ ('%' | '_')) if dialect == Dialect::MySql => {
                    out.push('\\');
                    out.push(x);
                }
                Some(x) => out.push(x),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Access;

    fn written(e: &Effects) -> Vec<String> {
        e.tables
            .iter()
            .filter(|t| t.access == Access::Write)
            .map(TableRef::qualified_name)
            .collect()
    }

    #[test]
    fn unquote_handles_every_spelling() {
        let (pg, my) = (Dialect::Postgres, Dialect::MySql);
        assert_eq!(unquote(pg, "'it''s'"), "it's");
        assert_eq!(unquote(pg, "'a\\b'"), "a\\b");
        assert_eq!(unquote(pg, "E'a\\'b'"), "a'b");
        assert_eq!(unquote(pg, "$x$ DROP $x$"), " DROP ");
        assert_eq!(unquote(pg, "$$a$$"), "a");
        assert_eq!(unquote(my, "\"q\"\"\""), "q\"");
        assert_eq!(unquote(my, "'\\DROP\\tTABLE t'"), "DROP\tTABLE t");
        assert_eq!(unquote(my, "'a\\%'"), "a\\%");
    }

    #[test]
    fn bodies_report_tables() {
        let e = of_statement(
            Dialect::MySql,
            "CREATE PROCEDURE p() BEGIN DELETE FROM billing.t; END",
        );
        assert_eq!(written(&e), ["billing.t"]);
        assert!(e.code && e.kinds.contains(&K::Delete));
        assert_eq!(e.dml_where, Some(false));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut sql = String::from("DROP TABLE t");
        for _ in 0..10 {
            sql = format!("PREPARE s FROM '{}'", sql.replace('\'', "''"));
        }
        let e = of_statement(Dialect::MySql, &sql);
        assert!(e.kinds.contains(&K::Drop) && e.code);
    }
}
