//! Reading a statement the way the server will: which quotes escape, which quotes name
//! columns, which bytes end a character. The adapters report what the server says:
//! PostgreSQL's `standard_conforming_strings` and `client_encoding` ParameterStatus, MySQL's
//! `NO_BACKSLASH_ESCAPES` status flag, and MySQL's `ANSI_QUOTES` and client character set,
//! which the adapter asks the server for after anything that may have changed them. Text read under a
//! non-default mode is rewritten into its default spelling ([`policy::standardize`]) before
//! rules, masks or the log see it, and text whose meaning depends on something sluice cannot
//! pin down is refused rather than guessed at.

use std::borrow::Cow;
use std::collections::HashMap;

use policy::{Dialect, LexMode};

use crate::session::LexReport;

/// How many rewritten texts a session remembers for their results and executions.
const REMEMBERED: usize = 1024;

/// What one session knows of its server's lexing.
pub struct SessionLexing {
    dialect: Dialect,
    /// Backslash escapes in plain strings; `None` while statements that may change it are in
    /// flight.
    backslash: Option<bool>,
    /// MySQL `ANSI_QUOTES`; `None` until the server has said, after a change.
    ansi: Option<bool>,
    /// The client encoding may hide a backslash in a two-byte character; `None`: unknown.
    multibyte: Option<bool>,
    /// MySQL `PIPES_AS_CONCAT`; `None`: unknown.
    pipes_as_concat: Option<bool>,
    /// The MySQL server, for version-conditional comments.
    server: Option<policy::MysqlServer>,
    /// Texts read under a non-default mode → their standard spelling, for the results and
    /// executions that name them later.
    rewritten: HashMap<String, String>,
}

impl SessionLexing {
    pub fn new(dialect: Dialect) -> Self {
        SessionLexing {
            dialect,
            backslash: Some(LexMode::standard(dialect).backslash_escapes),
            ansi: Some(false),
            multibyte: Some(false),
            pipes_as_concat: Some(false),
            server: None,
            rewritten: HashMap::new(),
        }
    }

    pub fn report(&mut self, report: LexReport) {
        match report {
            LexReport::Backslash(on) => self.backslash = Some(on),
            LexReport::Unsettled => self.backslash = None,
            LexReport::AnsiQuotes(on) => self.ansi = on,
            LexReport::Multibyte(on) => self.multibyte = on,
            LexReport::PipesAsConcat(on) => self.pipes_as_concat = on,
            LexReport::MysqlServer(server) => self.server = Some(server),
        }
    }

    /// The modes the server may be in now.
    fn possible(&self) -> Vec<LexMode> {
        LexMode::all(self.dialect)
            .into_iter()
            .filter(|m| self.backslash.is_none_or(|b| b == m.backslash_escapes))
            .filter(|m| self.ansi.is_none_or(|a| a == m.ansi_quotes))
            .map(|m| LexMode {
                server: self.server,
                ..m
            })
            .collect()
    }

    /// `sql` in the standard spelling of what the server will read, or why sluice cannot tell.
    pub fn read<'a>(&mut self, sql: &'a str) -> Result<Cow<'a, str>, String> {
        if self.dialect == Dialect::MySql && self.server.is_none() && versioned_comment(sql) {
            return Err("sluice: this statement has a version-conditional comment (/*!NNNNN … */) and sluice does not know the server's version to tell whether it runs".into());
        }
        let midway = self.mode_may_change_midway(sql);
        if let Some(why) = self.multibyte_hazard(sql, midway) {
            return Err(why);
        }
        // sluice reads `||` as MySQL's default OR; under PIPES_AS_CONCAT the server reads
        // concatenation.
        if self.dialect == Dialect::MySql
            && self.pipes_as_concat != Some(false)
            && sql.contains("||")
        {
            return Err("sluice: this session's sql_mode may make || string concatenation (PIPES_AS_CONCAT, ANSI, …), which sluice does not read; use CONCAT() or OR".into());
        }
        if midway && !policy::reads_alike(self.dialect, &LexMode::all(self.dialect), sql) {
            return Err("sluice: a statement that may change sql_mode must come last in its string when the statements after it hold quotes or backslashes (sluice could not tell how the server will read them); send them separately".into());
        }
        let mode = match (self.backslash, self.ansi) {
            (Some(backslash_escapes), Some(ansi_quotes)) => LexMode {
                backslash_escapes,
                ansi_quotes,
                server: self.server,
            },
            _ => {
                let possible = self.possible();
                if !policy::reads_alike(self.dialect, &possible, sql) {
                    return Err(self.unsure_why());
                }
                possible[0]
            }
        };
        let text = policy::standardize(self.dialect, mode, sql);
        match &text {
            Cow::Owned(rewritten) => {
                if self.rewritten.len() >= REMEMBERED {
                    self.rewritten.clear();
                }
                self.rewritten.insert(sql.to_string(), rewritten.clone());
            }
            // The same text read another way before must not speak for this reading.
            Cow::Borrowed(_) if !self.rewritten.is_empty() => {
                self.rewritten.remove(sql);
            }
            Cow::Borrowed(_) => {}
        }
        Ok(text)
    }

    fn unsure_why(&self) -> String {
        match (self.backslash, self.dialect) {
            (None, Dialect::Postgres) => "sluice: this statement reads differently with standard_conforming_strings on and off, and statements still running ahead of it may change that setting; send it after they complete, or write it with E'' strings or parameters".into(),
            (None, Dialect::MySql) => "sluice: this statement reads differently with and without NO_BACKSLASH_ESCAPES, and commands still running ahead of it may change that; send it again once they complete".into(),
            _ => "sluice: this statement reads differently with and without ANSI_QUOTES, and sluice has not yet learnt the session's new sql_mode from the server; send it again once the statements before it complete".into(),
        }
    }

    /// In a client encoding whose two-byte characters may end in an ASCII byte (GBK, Big5,
    /// SJIS, …), a non-ASCII byte right before `\`, `` ` ``, `|`, `@`, `[`, `]`, `^`, `{`, `}`
    /// or `~` may begin a character that swallows it: sluice, reading bytes, cannot tell where
    /// strings end. Checked while such an encoding is (or may be) in force.
    fn multibyte_hazard(&self, sql: &str, midway: bool) -> Option<String> {
        if self.multibyte == Some(false) && !midway {
            return None;
        }
        let b = sql.as_bytes();
        let hazard = b.windows(2).any(|w| {
            w[0] >= 0x80
                && matches!(
                    w[1],
                    b'\\' | b'`' | b'|' | b'@' | b'[' | b']' | b'^' | b'{' | b'}' | b'~'
                )
        });
        hazard.then(|| "sluice: in this session's client character set (GBK, Big5, SJIS, …) a multibyte character can end in a backslash or similar byte, and this statement has one right after a non-ASCII character; sluice cannot tell where its strings end. Use UTF-8".into())
    }

    /// MySQL reads a multi-statement string one statement at a time, so a `SET sql_mode` (or an
    /// `EXECUTE` that may run one) changes how the statements after it are read.
    fn mode_may_change_midway(&self, sql: &str) -> bool {
        self.dialect == Dialect::MySql && sql.contains(';') && policy::may_change_reading(sql)
    }

    /// The standard spelling remembered for `sql`, if it was rewritten (free while nothing
    /// was).
    pub fn remembered(&self, sql: &str) -> Option<String> {
        if self.rewritten.is_empty() {
            return None;
        }
        self.rewritten.get(sql).cloned()
    }
}

/// `/*!` or `/*M!` followed by a version number.
fn versioned_comment(sql: &str) -> bool {
    let b = sql.as_bytes();
    (0..b.len()).any(|i| {
        let rest = &b[i..];
        let after = match rest {
            [b'/', b'*', b'!', ..] => 3,
            [b'/', b'*', b'M', b'!', ..] => 4,
            _ => return false,
        };
        rest.get(after).is_some_and(u8::is_ascii_digit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mode_costs_nothing_and_changes_nothing() {
        let mut l = SessionLexing::new(Dialect::Postgres);
        assert!(matches!(l.read(r"SELECT 'a\''"), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn postgres_off_is_rewritten_and_unsettled_is_refused_only_when_it_matters() {
        let mut l = SessionLexing::new(Dialect::Postgres);
        l.report(LexReport::Backslash(true));
        let sql = r"SELECT 'a\'' ; DROP TABLE t; -- '";
        assert_eq!(l.read(sql).unwrap(), r"SELECT E'a\'' ; DROP TABLE t; -- '");
        assert_eq!(
            l.remembered(sql).unwrap(),
            r"SELECT E'a\'' ; DROP TABLE t; -- '"
        );
        l.report(LexReport::Unsettled);
        assert!(l.read(sql).is_err());
        assert!(l.read(r"SELECT 'C:\path'").is_ok());
    }

    #[test]
    fn mysql_ansi_quotes_follow_what_the_server_says() {
        let mut l = SessionLexing::new(Dialect::MySql);
        l.report(LexReport::AnsiQuotes(Some(true)));
        assert_eq!(
            l.read(r#"SELECT "ssn" FROM t"#).unwrap(),
            "SELECT `ssn` FROM t"
        );
        l.report(LexReport::AnsiQuotes(None));
        assert!(l.read(r#"SELECT "ssn" FROM t"#).is_err());
        assert!(l.read("SELECT ssn FROM t").is_ok());
        l.report(LexReport::AnsiQuotes(Some(false)));
        assert!(l.read(r#"SELECT "ssn" FROM t"#).is_ok());
        assert_eq!(
            l.remembered(r#"SELECT "ssn" FROM t"#),
            None,
            "a stale reading"
        );
    }

    #[test]
    fn mysql_mode_changes_inside_a_string_are_refused_when_they_matter() {
        let mut l = SessionLexing::new(Dialect::MySql);
        let sql = r"SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\' ; DROP TABLE t; -- '";
        assert!(l.read(sql).is_err());
        assert!(l.read("SET sql_mode = 'ANSI'; SELECT 1").is_ok());
    }

    #[test]
    fn reading_sql_mode_is_no_change_of_it() {
        // mysql-test's set_statement: a procedure body that reads @@sql_mode and quotes a
        // name. Only SET changes sql_mode (a routine runs under its own and restores the
        // caller's), so nothing here can change how the rest is read.
        let mut l = SessionLexing::new(Dialect::MySql);
        let body = "CREATE PROCEDURE p6() BEGIN\nSELECT @@sql_mode;\nSELECT \"t1\".* FROM t1;\nEND";
        assert!(l.read(body).is_ok());
        assert!(l.read("SELECT @@sql_mode; SELECT \"t1\", 'a\\'b'").is_ok());
        assert!(l
            .read("SET @@sql_mode = 'ANSI'; SELECT 'a\\' ; DROP TABLE t; -- '")
            .is_err());
    }

    #[test]
    fn in_a_multibyte_encoding_a_non_ascii_byte_before_a_backslash_is_refused() {
        let mut my = SessionLexing::new(Dialect::MySql);
        let hidden = "SELECT '\u{1041}\\' , concat(ssn) FROM t #' , 'b' FROM t";
        assert!(my.read(hidden).is_ok(), "UTF-8: the backslash is one");
        my.report(LexReport::Multibyte(Some(true)));
        assert!(my.read(hidden).is_err());
        assert!(my.read("SELECT '\u{FFFD}`'").is_err());
        assert!(my.read("SELECT 'caf\u{e9}', '\\n'").is_ok());
        my.report(LexReport::Multibyte(None));
        assert!(my.read(hidden).is_err(), "unknown counts as unsafe");
        let mut pg = SessionLexing::new(Dialect::Postgres);
        assert!(pg.read("SELECT E'\u{C1}\\' ; DROP TABLE t; --'").is_ok());
        pg.report(LexReport::Multibyte(Some(true)));
        assert!(pg.read("SELECT E'\u{C1}\\' ; DROP TABLE t; --'").is_err());
        let mut midway = SessionLexing::new(Dialect::MySql);
        assert!(midway
            .read("SET NAMES gbk; SELECT '\u{1041}\\' , ssn FROM t #'")
            .is_err());
    }
}
