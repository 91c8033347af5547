//! The fallback path: keyword-level classification of text sqlparser could not parse.
//!
//! Everything here works on the forgiving lexer in [`crate::lex`], so comments, strings and
//! dollar-quoted bodies can never contribute keywords, and nothing here can fail. The answers
//! lean strict: an UPDATE/DELETE only counts as bounded when its WHERE plainly names a column
//! and has no top-level OR, and a COPY whose direction is unclear counts as a write.

use std::collections::HashSet;

use crate::analysis::collapse_lists;
use crate::lex::{tokenize_spanned, Token};
use crate::{Access, Dialect, StatementInfo, StatementKind, TableRef};

/// True when the single statement `sql` runs code the analyzer cannot see into (a PostgreSQL
/// `DO` block, MySQL `PREPARE … FROM`, MariaDB `BEGIN NOT ATOMIC`), whether or not sqlparser
/// accepts it: such statements are always classified here.
pub(crate) fn is_opaque(dialect: Dialect, sql: &str) -> bool {
    let tokens: Vec<Token> = tokenize_spanned(dialect, sql)
        .into_iter()
        .map(|s| s.token)
        .collect();
    kind_of(dialect, &tokens).2
}

/// The kind of a single statement from its keywords alone: no effects, no bodies.
pub(crate) fn kind_only(dialect: Dialect, sql: &str) -> StatementKind {
    let tokens: Vec<Token> = tokenize_spanned(dialect, sql)
        .into_iter()
        .map(|s| s.token)
        .collect();
    kind_of(dialect, &tokens).0
}

/// Classifies a single statement (no top-level `;`) without parsing it.
pub(crate) fn classify_one(dialect: Dialect, sql: &str) -> StatementInfo {
    let spanned = tokenize_spanned(dialect, sql);
    let tokens: Vec<Token> = spanned.iter().map(|s| s.token.clone()).collect();
    let (kind, start, _) = kind_of(dialect, &tokens);
    let has_where = match kind {
        StatementKind::Update | StatementKind::Delete => Some(where_bounds_rows(&tokens[start..])),
        _ => None,
    };
    let mut dollar_params = HashSet::new();
    let mut question_marks = 0;
    for s in &spanned {
        if s.token == Token::Placeholder {
            match sql.get(s.start..s.end) {
                Some(text) if text.starts_with('$') => {
                    dollar_params.insert(text);
                }
                _ => question_marks += 1,
            }
        }
    }
    let statement = spanned
        .get(start)
        .and_then(|s| sql.get(s.start..))
        .unwrap_or_default();
    let effects = crate::effects::of_statement(dialect, statement);
    let dynamic = kind == StatementKind::Other && effects.code;
    let mut info = StatementInfo {
        kind,
        // The words of code and dynamic SQL are no table references of their own; the tables
        // their bodies touch come with the effects.
        tables: if dynamic {
            Vec::new()
        } else {
            tables(&tokens, kind)
        },
        has_where,
        placeholders: dollar_params.len() + question_marks,
        fingerprint: fingerprint(&tokens),
        // `PREPARE s FROM '<sql>'` is understood exactly when its SQL is.
        parsed: effects.literal_parsed,
        effects: Vec::new(),
        code: false,
        opaque_code: false,
        calls: crate::calls::in_tokens(dialect, &tokens),
        literal_dependent: true,
        parameter_dependent: true,
        counts_its_rows: false,
    };
    effects.apply(&mut info);
    // PostgreSQL's `LOAD 'file'` loads a shared library into the server process: native code.
    if dialect == Dialect::Postgres && kw(&tokens, start) == "LOAD" {
        info.kind = StatementKind::Other;
        info.code = true;
        info.opaque_code = true;
    }
    info
}

fn kw(tokens: &[Token], i: usize) -> String {
    tokens.get(i).and_then(Token::keyword).unwrap_or_default()
}

/// The statement's kind, where the statement that decides it starts (after `EXPLAIN ANALYZE`
/// or `PREPARE … AS`), and whether it runs code the analyzer cannot see.
fn kind_of(dialect: Dialect, tokens: &[Token]) -> (StatementKind, usize, bool) {
    use StatementKind as K;
    let mut pos = 0;
    // Each round either returns or moves `pos` forward, so this ends.
    while pos < tokens.len() {
        if tokens[pos] == Token::LParen {
            pos += 1;
            continue;
        }
        let kind = match kw(tokens, pos).as_str() {
            "EXPLAIN" | "DESCRIBE" | "DESC" => match explained_statement(tokens, pos + 1) {
                Some(next) => {
                    pos = next;
                    continue;
                }
                None => K::Explain,
            },
            "PREPARE" => {
                if kw(tokens, pos + 1) == "TRANSACTION" {
                    K::Transaction
                } else if let Some(as_pos) =
                    (pos + 1..tokens.len()).find(|&i| kw(tokens, i) == "AS")
                {
                    // PostgreSQL `PREPARE name [(types)] AS statement`: judged as the statement.
                    pos = as_pos + 1;
                    continue;
                } else {
                    // MySQL `PREPARE s FROM @sql` / `FROM '…'`: dynamic SQL we cannot see.
                    return (K::Other, pos, true);
                }
            }
            "DO" if dialect == Dialect::Postgres => return (K::Other, pos, true),
            // MariaDB `ANALYZE [FORMAT=JSON] <statement>` runs the statement (and reports its
            // plan), so it is what it runs. `ANALYZE TABLE t` is table maintenance.
            "ANALYZE" if dialect == Dialect::MySql => match analyzed_statement(tokens, pos + 1) {
                Some(next) => {
                    pos = next;
                    continue;
                }
                None => K::Other,
            },
            "WITH" => {
                most_severe_dml(tokens, pos).unwrap_or_else(|| select_kind(dialect, tokens, pos))
            }
            "SELECT" | "VALUES" | "TABLE" => select_kind(dialect, tokens, pos),
            "INSERT" | "REPLACE" => K::Insert,
            "UPDATE" => K::Update,
            "DELETE" => K::Delete,
            "MERGE" => K::Merge,
            "COPY" => copy_kind(tokens, pos),
            "LOAD" => K::CopyFrom,
            "DROP" => K::Drop,
            "TRUNCATE" => K::Truncate,
            "ALTER" => K::Alter,
            "CREATE" => K::Create,
            "RENAME" | "COMMENT" => K::Ddl,
            "GRANT" => K::Grant,
            "REVOKE" => K::Revoke,
            "SET" | "RESET" => K::Set,
            // MariaDB's anonymous compound statement runs code.
            "BEGIN" if kw(tokens, pos + 1) == "NOT" && kw(tokens, pos + 2) == "ATOMIC" => {
                return (K::Other, pos, true)
            }
            "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "END"
            | "ABORT" | "XA" => K::Transaction,
            "CALL" => K::Call,
            _ => K::Other,
        };
        return (kind, pos, false);
    }
    (K::Other, pos.min(tokens.len()), false)
}

/// After `EXPLAIN`: where the explained statement starts, if EXPLAIN will really run it
/// (`ANALYZE`, or an `(ANALYZE …)` option list without an explicit false).
fn explained_statement(tokens: &[Token], mut pos: usize) -> Option<usize> {
    let mut analyze = false;
    while pos < tokens.len() {
        match kw(tokens, pos).as_str() {
            "ANALYZE" | "ANALYSE" => {
                analyze = true;
                pos += 1;
            }
            "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "WITH" | "VALUES" | "TABLE"
            | "REPLACE" | "CREATE" | "EXECUTE" | "DECLARE" => break,
            _ if tokens[pos] == Token::LParen => {
                let close = matching_paren(tokens, pos);
                for i in pos + 1..close {
                    if matches!(kw(tokens, i).as_str(), "ANALYZE" | "ANALYSE") {
                        let arg = kw(tokens, i + 1);
                        analyze |= !matches!(arg.as_str(), "FALSE" | "OFF")
                            && tokens.get(i + 1) != Some(&Token::Number);
                    }
                }
                pos = close + 1;
            }
            _ => pos += 1,
        }
    }
    (analyze && pos < tokens.len()).then_some(pos)
}

/// After MariaDB's `ANALYZE`: where the statement it runs starts (past an optional
/// `FORMAT = JSON`), or None for `ANALYZE [NO_WRITE_TO_BINLOG | LOCAL] TABLE …`.
fn analyzed_statement(tokens: &[Token], mut pos: usize) -> Option<usize> {
    if kw(tokens, pos) == "FORMAT" {
        pos += 1;
        if tokens.get(pos) == Some(&Token::Punct('=')) {
            pos += 1;
        }
        pos += 1; // JSON
    }
    // `TABLE` here is the maintenance form, not MySQL 8's `TABLE t` query.
    let starts_statement = tokens.get(pos) == Some(&Token::LParen)
        || matches!(
            kw(tokens, pos).as_str(),
            "SELECT" | "INSERT" | "REPLACE" | "UPDATE" | "DELETE" | "WITH" | "VALUES"
        );
    starts_statement.then_some(pos)
}

fn matching_paren(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// True when the word at `i` starts a DML statement rather than being part of another clause
/// (`FOR UPDATE`, `ON DUPLICATE KEY UPDATE`, `ON CONFLICT DO UPDATE`, `ON DELETE CASCADE`).
fn is_dml_head(tokens: &[Token], i: usize) -> Option<StatementKind> {
    let kind = match kw(tokens, i).as_str() {
        "INSERT" => StatementKind::Insert,
        "UPDATE" => StatementKind::Update,
        "DELETE" => StatementKind::Delete,
        "MERGE" => StatementKind::Merge,
        _ => return None,
    };
    let previous = if i == 0 {
        String::new()
    } else {
        kw(tokens, i - 1)
    };
    (!matches!(previous.as_str(), "FOR" | "ON" | "KEY" | "DO" | "NO")).then_some(kind)
}

/// The most destructive DML anywhere in a `WITH …` statement, data-modifying CTEs included.
fn most_severe_dml(tokens: &[Token], from: usize) -> Option<StatementKind> {
    let severity = |k: StatementKind| match k {
        StatementKind::Delete => 4,
        StatementKind::Update => 3,
        StatementKind::Merge => 2,
        _ => 1,
    };
    (from..tokens.len())
        .filter_map(|i| is_dml_head(tokens, i))
        .max_by_key(|k| severity(*k))
}

/// SELECT, unless a top-level INTO makes it a table creation (PostgreSQL) or a file export
/// (MySQL `INTO OUTFILE` / `INTO DUMPFILE`).
fn select_kind(dialect: Dialect, tokens: &[Token], from: usize) -> StatementKind {
    let mut depth = 0usize;
    for i in from..tokens.len() {
        match &tokens[i] {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            t if depth == 0 && t.is_kw("INTO") => {
                return match kw(tokens, i + 1).as_str() {
                    "OUTFILE" | "DUMPFILE" => StatementKind::CopyTo,
                    _ if dialect == Dialect::MySql => StatementKind::Select,
                    _ => StatementKind::Create,
                };
            }
            _ => {}
        }
    }
    StatementKind::Select
}

/// `COPY t FROM …` writes, `COPY t TO …` reads; unclear direction counts as a write.
fn copy_kind(tokens: &[Token], from: usize) -> StatementKind {
    let mut depth = 0usize;
    for t in &tokens[from..] {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            t if depth == 0 && t.is_kw("TO") => return StatementKind::CopyTo,
            t if depth == 0 && t.is_kw("FROM") => return StatementKind::CopyFrom,
            _ => {}
        }
    }
    StatementKind::CopyFrom
}

/// Whether an UPDATE/DELETE's WHERE plainly bounds the rows. Only a WHERE at the statement's
/// own level counts; it must compare something that looks like a column (a name right next to
/// a comparison), and a top-level OR (which could hide `OR 1=1`) makes it unbounded.
fn where_bounds_rows(tokens: &[Token]) -> bool {
    let Some(start) = top_level_position(tokens, "WHERE") else {
        return false;
    };
    let clause = &tokens[start + 1..];
    if top_level_position(clause, "OR").is_some() {
        return false;
    }
    let is_column = |t: Option<&Token>| match t {
        Some(Token::QuotedIdent(_)) => true,
        Some(Token::Word(w)) => {
            !matches!(
                w.to_ascii_uppercase().as_str(),
                "TRUE"
                    | "FALSE"
                    | "NOT"
                    | "NULL"
                    | "IS"
                    | "AND"
                    | "LIKE"
                    | "IN"
                    | "BETWEEN"
                    | "RETURNING"
                    | "LIMIT"
                    | "ORDER"
                    | "BY"
                    | "WHERE"
                    | "ANY"
                    | "ALL"
                    | "EXISTS"
                    | "CURRENT_USER"
                    | "SESSION_USER"
                    | "CURRENT_ROLE"
                    | "CURRENT_DATE"
                    | "CURRENT_TIME"
                    | "CURRENT_TIMESTAMP"
                    | "LOCALTIME"
                    | "LOCALTIMESTAMP"
            ) && !w.starts_with('@')
        }
        _ => false,
    };
    let is_comparison = |t: &Token| {
        matches!(t, Token::Punct('=' | '<' | '>' | '!'))
            || ["IN", "LIKE", "ILIKE", "BETWEEN", "IS"]
                .iter()
                .any(|k| t.is_kw(k))
    };
    // Parenthesis levels that open a subquery: a name in there may be the subquery's own.
    let mut subquery: Vec<bool> = Vec::new();
    clause.iter().enumerate().any(|(i, t)| {
        match t {
            Token::LParen => subquery.push(matches!(
                kw(clause, i + 1).as_str(),
                "SELECT" | "WITH" | "VALUES" | "TABLE"
            )),
            Token::RParen => {
                subquery.pop();
            }
            _ => {}
        }
        !subquery.contains(&true)
            && is_comparison(t)
            && (is_column(i.checked_sub(1).and_then(|p| clause.get(p)))
                || is_column(clause.get(i + 1)))
    })
}

/// Position of keyword `kw` outside parentheses.
fn top_level_position(tokens: &[Token], kw: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            t if depth == 0 && t.is_kw(kw) => return Some(i),
            _ => {}
        }
    }
    None
}

/// Best-effort tables: the name after FROM/INTO/UPDATE/TABLE/JOIN/USING/TRUNCATE/COPY.
fn tables(tokens: &[Token], kind: StatementKind) -> Vec<TableRef> {
    // CTE names (`name AS (` or `name (cols) AS (`) are not tables.
    let mut cte_names = HashSet::new();
    for i in 0..tokens.len() {
        if tokens[i].is_kw("AS") && tokens.get(i + 1) == Some(&Token::LParen) {
            let mut j = i;
            if j > 0 && tokens[j - 1] == Token::RParen {
                j = (0..j - 1)
                    .rev()
                    .find(|&k| tokens[k] == Token::LParen)
                    .unwrap_or(0);
            }
            if let Some(name) = j.checked_sub(1).and_then(|k| ident_text(&tokens[k])) {
                cte_names.insert(name);
            }
        }
    }
    let mut out: Vec<TableRef> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let word = kw(tokens, i);
        let previous = if i == 0 {
            String::new()
        } else {
            kw(tokens, i - 1)
        };
        let write = match word.as_str() {
            "INTO" => {
                matches!(previous.as_str(), "INSERT" | "REPLACE" | "MERGE" | "IGNORE")
                    || matches!(kind, StatementKind::Create | StatementKind::CopyFrom)
            }
            "UPDATE" if is_dml_head(tokens, i).is_some() => true,
            // `DELETE [LOW_PRIORITY] [QUICK] [IGNORE] FROM t` (MySQL modifiers skipped).
            "FROM" => (0..i)
                .rev()
                .map(|k| kw(tokens, k))
                .find(|w| !matches!(w.as_str(), "LOW_PRIORITY" | "QUICK" | "IGNORE"))
                .is_some_and(|w| w == "DELETE"),
            "TABLE" => kind.is_ddl(),
            "TRUNCATE" | "COPY" => kind != StatementKind::CopyTo,
            "JOIN" | "USING" => false,
            // `ALTER TABLE t [NO] INHERIT parent`, `… ATTACH PARTITION p`: the other table.
            "INHERIT" | "INHERITS" | "PARTITION" if kind.is_ddl() => false,
            _ => {
                i += 1;
                continue;
            }
        };
        let mut j = i + 1;
        while matches!(
            kw(tokens, j).as_str(),
            "IF" | "NOT"
                | "EXISTS"
                | "ONLY"
                | "LOW_PRIORITY"
                | "IGNORE"
                | "QUICK"
                | "TABLE"
                | "LATERAL"
                | "TEMPORARY"
                | "TEMP"
        ) {
            j += 1;
        }
        // FROM, USING, TABLE and TRUNCATE may name a comma-separated list of tables.
        let list = matches!(word.as_str(), "FROM" | "USING" | "TABLE" | "TRUNCATE");
        loop {
            let Some((schema, name, next)) = qualified_name(tokens, j) else {
                i = j.max(i + 1);
                break;
            };
            let is_cte = schema.is_none() && cte_names.contains(&name);
            let is_keyword =
                is_clause_keyword(&name) && matches!(tokens.get(j), Some(Token::Word(_)));
            // A CTE name is only skipped as a read: nothing can write to a CTE.
            if !is_keyword && (!is_cte || write) {
                let access = if write { Access::Write } else { Access::Read };
                match out
                    .iter_mut()
                    .find(|t| t.schema == schema && t.name == name)
                {
                    Some(existing) => existing.access = existing.access.max(access),
                    None => out.push(TableRef {
                        schema,
                        name,
                        access,
                    }),
                }
            }
            i = next;
            // Skip an alias (`t AS x`, `t x`), then go on if a comma continues the list.
            let mut k = next;
            if kw(tokens, k) == "AS" {
                k += 1;
            }
            match tokens.get(k) {
                Some(Token::QuotedIdent(_)) => k += 1,
                Some(Token::Word(w)) if !is_clause_keyword(w) => k += 1,
                _ => {}
            }
            if !(list && !is_keyword && tokens.get(k) == Some(&Token::Comma)) {
                break;
            }
            j = k + 1;
        }
    }
    out
}

/// Words that start a clause, so they are neither table names nor aliases.
fn is_clause_keyword(word: &str) -> bool {
    matches!(
        word.to_ascii_uppercase().as_str(),
        "SELECT"
            | "VALUES"
            | "STDIN"
            | "STDOUT"
            | "WITH"
            | "SET"
            | "WHERE"
            | "OUTFILE"
            | "DUMPFILE"
            | "JOIN"
            | "LEFT"
            | "RIGHT"
            | "INNER"
            | "OUTER"
            | "FULL"
            | "CROSS"
            | "NATURAL"
            | "ON"
            | "USING"
            | "GROUP"
            | "ORDER"
            | "LIMIT"
            | "OFFSET"
            | "HAVING"
            | "WINDOW"
            | "UNION"
            | "EXCEPT"
            | "INTERSECT"
            | "FOR"
            | "RETURNING"
            | "CASCADE"
            | "RESTRICT"
            | "LATERAL"
            | "TO"
            | "FROM"
            | "INTO"
            | "AS"
            | "RESTART"
            | "CONTINUE"
    )
}

fn ident_text(token: &Token) -> Option<String> {
    match token {
        Token::Word(w) => Some(w.to_lowercase()),
        Token::QuotedIdent(q) => Some(q.clone()),
        _ => None,
    }
}

/// `a`, `a.b` or `a.b.c` starting at `i`: (schema, table, index after the name).
fn qualified_name(tokens: &[Token], i: usize) -> Option<(Option<String>, String, usize)> {
    let mut parts = vec![ident_text(tokens.get(i)?)?];
    let mut j = i + 1;
    while tokens.get(j) == Some(&Token::Dot) {
        match tokens.get(j + 1).and_then(ident_text) {
            Some(part) => parts.push(part),
            None => break,
        }
        j += 2;
    }
    let name = parts.pop()?;
    Some((parts.pop(), name, j))
}

/// A normalized rendering: literals as `?`, single spaces, lists collapsed.
fn fingerprint(tokens: &[Token]) -> String {
    let mut out = String::new();
    let mut glue_next = true;
    for t in tokens {
        let (text, glue_before, glue_after) = match t {
            Token::Word(w) => (w.to_uppercase(), false, false),
            Token::QuotedIdent(q) => (format!("\"{q}\""), false, false),
            Token::Str | Token::Number | Token::Placeholder => ("?".to_string(), false, false),
            Token::Semicolon => (";".into(), true, false),
            Token::LParen => ("(".into(), false, true),
            Token::RParen => (")".into(), true, false),
            Token::Dot => (".".into(), true, true),
            Token::Comma => (",".into(), true, false),
            Token::Punct(c) => (c.to_string(), false, false),
        };
        if !(glue_next || glue_before) {
            out.push(' ');
        }
        out.push_str(&text);
        glue_next = glue_after;
    }
    collapse_lists(&out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use StatementKind as K;

    fn kind(d: Dialect, sql: &str) -> StatementKind {
        classify_one(d, sql).kind
    }

    #[test]
    fn first_keywords_decide() {
        let pg = Dialect::Postgres;
        assert_eq!(kind(pg, "/* x */ DROP TABLE t garbage garbage"), K::Drop);
        assert_eq!(kind(pg, "-- x\ntruncate t ((("), K::Truncate);
        assert_eq!(
            kind(pg, "WITH d AS (DELETE FROM t RETURNING *) SELECT ((("),
            K::Delete
        );
        assert_eq!(
            kind(pg, "WITH d AS (SELECT 1 FOR UPDATE) SELECT ((("),
            K::Select
        );
        assert_eq!(kind(pg, "EXPLAIN ANALYZE DELETE FROM t ((("), K::Delete);
        assert_eq!(
            kind(pg, "EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET ((("),
            K::Update
        );
        assert_eq!(
            kind(pg, "EXPLAIN (ANALYZE false) UPDATE t SET ((("),
            K::Explain
        );
        assert_eq!(kind(pg, "EXPLAIN DELETE FROM t ((("), K::Explain);
        let my = Dialect::MySql;
        assert_eq!(kind(my, "ANALYZE DELETE FROM t"), K::Delete);
        assert_eq!(
            kind(my, "analyze format=json UPDATE t SET a = 1"),
            K::Update
        );
        assert_eq!(
            kind(my, "ANALYZE FORMAT = JSON INSERT INTO t SELECT 1"),
            K::Insert
        );
        assert_eq!(kind(my, "ANALYZE SELECT * FROM t"), K::Select);
        assert_eq!(kind(my, "ANALYZE NO_WRITE_TO_BINLOG TABLE t"), K::Other);
        assert_eq!(kind(my, "ANALYZE TABLE t"), K::Other);
        assert_eq!(kind(pg, "ANALYZE DELETE FROM t"), K::Other);
        assert_eq!(
            classify_one(my, "ANALYZE DELETE FROM t WHERE 1 = 1").has_where,
            Some(false)
        );
        assert_eq!(
            classify_one(my, "ANALYZE DELETE FROM t WHERE id = 1").has_where,
            Some(true)
        );
        assert_eq!(
            kind(pg, "PREPARE p (int) AS DELETE FROM t WHERE ((("),
            K::Delete
        );
        assert_eq!(kind(pg, "COPY t (a, b) FROM STDIN ((("), K::CopyFrom);
        assert_eq!(kind(pg, "COPY (SELECT 1 FROM x) TO STDOUT ((("), K::CopyTo);
        assert_eq!(kind(pg, "SELECT * INTO newt FROM t ((("), K::Create);
        assert_eq!(
            kind(Dialect::MySql, "SELECT * FROM t INTO OUTFILE '/tmp/x' ((("),
            K::CopyTo
        );
        assert_eq!(kind(pg, "((SELECT 1"), K::Select);
        assert_eq!(kind(pg, ""), K::Other);
    }

    #[test]
    fn do_blocks_are_opaque() {
        let info = classify_one(Dialect::Postgres, "DO $$ BEGIN DROP TABLE t; END $$");
        assert_eq!(
            (info.kind, info.opaque_code, info.code, info.parsed),
            (K::Other, true, true, false)
        );
        // The keyword scan of the body finds what it drops.
        assert_eq!(info.effects, [K::Drop]);
        assert_eq!(info.tables.len(), 1);
        assert_eq!(
            (info.tables[0].name.as_str(), info.tables[0].access),
            ("t", Access::Write)
        );
    }

    #[test]
    fn where_is_judged_strictly() {
        let pg = Dialect::Postgres;
        assert_eq!(
            classify_one(pg, "DELETE FROM t WHERE id = 1 (((").has_where,
            Some(true)
        );
        assert_eq!(
            classify_one(pg, "DELETE FROM t WHERE 1 = 1 (((").has_where,
            Some(false)
        );
        assert_eq!(
            classify_one(pg, "DELETE FROM t WHERE a = 1 OR 1 = 1").has_where,
            Some(false)
        );
        assert_eq!(classify_one(pg, "DELETE FROM t (((").has_where, Some(false));
        assert_eq!(classify_one(pg, "SELECT 1 (((").has_where, None);
    }

    #[test]
    fn tables_are_found_best_effort() {
        let info = classify_one(
            Dialect::Postgres,
            "INSERT INTO Billing.\"Inv\" SELECT * FROM u JOIN v ON (((",
        );
        let names: Vec<_> = info
            .tables
            .iter()
            .map(|t| (t.qualified_name(), t.access))
            .collect();
        assert_eq!(
            names,
            [
                ("billing.Inv".to_string(), Access::Write),
                ("u".to_string(), Access::Read),
                ("v".to_string(), Access::Read)
            ]
        );
        let info = classify_one(Dialect::Postgres, "DROP TABLE IF EXISTS a.b (((");
        assert_eq!(info.tables[0].qualified_name(), "a.b");
        assert_eq!(info.tables[0].access, Access::Write);
        let info = classify_one(
            Dialect::Postgres,
            "WITH x AS (SELECT 1) SELECT * FROM x, y (((",
        );
        assert_eq!(info.tables.len(), 1);
        assert_eq!(info.tables[0].name, "y");
    }

    #[test]
    fn fingerprint_and_placeholders() {
        let info = classify_one(
            Dialect::Postgres,
            "select  a FROM t where x = 'secret' and y in (1,2,3) and z = $1 and w = $1 (((",
        );
        assert!(!info.fingerprint.contains("secret"));
        assert!(
            info.fingerprint.starts_with("SELECT A FROM T WHERE X = ?"),
            "{}",
            info.fingerprint
        );
        assert!(info.fingerprint.contains("IN (?)"), "{}", info.fingerprint);
        assert_eq!(info.placeholders, 1);
    }
}
