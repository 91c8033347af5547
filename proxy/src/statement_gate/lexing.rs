//! Reading a statement the way the server will: which quotes escape, which quotes name
//! columns. The adapters report what the server says (PostgreSQL's `standard_conforming_strings`
//! ParameterStatus, MySQL's `NO_BACKSLASH_ESCAPES` status flag); `ANSI_QUOTES`, which MySQL
//! reports nowhere, is followed here from the session's own `SET sql_mode` statements. Text read
//! under a non-default mode is rewritten into its default spelling ([`policy::standardize`])
//! before rules, masks or the log see it, and text whose meaning depends on a mode sluice cannot
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
    /// MySQL `ANSI_QUOTES`; `None` after a `SET sql_mode` sluice could not read.
    ansi: Option<bool>,
    /// What the server said of `ANSI_QUOTES` when the session began (a reset goes back to it).
    ansi_at_login: bool,
    /// Texts read under a non-default mode → their standard spelling, for the results and
    /// executions that name them later.
    rewritten: HashMap<String, String>,
    /// A `PREPARE` this session made may set `sql_mode` when executed.
    prepared_mode_change: bool,
    /// Protocol-level prepared statements (COM_STMT_PREPARE) that assign `sql_mode`: their
    /// executions change the mode.
    prepared_assignments: std::collections::HashSet<String>,
}

impl SessionLexing {
    pub fn new(dialect: Dialect) -> Self {
        SessionLexing {
            dialect,
            backslash: Some(LexMode::standard(dialect).backslash_escapes),
            ansi: Some(false),
            ansi_at_login: false,
            rewritten: HashMap::new(),
            prepared_mode_change: false,
            prepared_assignments: Default::default(),
        }
    }

    pub fn report(&mut self, report: LexReport) {
        match report {
            LexReport::Backslash(on) => self.backslash = Some(on),
            LexReport::Unsettled => self.backslash = None,
            LexReport::Reset => {
                self.backslash = Some(LexMode::standard(self.dialect).backslash_escapes);
                self.ansi = Some(self.ansi_at_login);
            }
            LexReport::AnsiQuotes(on) => {
                self.ansi = Some(on);
                self.ansi_at_login = on;
            }
        }
    }

    /// The modes the server may be in now.
    fn possible(&self) -> Vec<LexMode> {
        let b: &[bool] = match self.backslash {
            Some(true) => &[true],
            Some(false) => &[false],
            None => &[false, true],
        };
        let a: &[bool] = match self.ansi {
            Some(true) => &[true],
            Some(false) => &[false],
            None => &[false, true],
        };
        b.iter()
            .flat_map(|&backslash_escapes| {
                a.iter().map(move |&ansi_quotes| LexMode {
                    backslash_escapes,
                    ansi_quotes,
                })
            })
            .collect()
    }

    /// `sql` in the standard spelling of what the server will read, or why sluice cannot tell.
    pub fn read<'a>(&mut self, sql: &'a str) -> Result<Cow<'a, str>, String> {
        let standard = LexMode::standard(self.dialect);
        let known = match (self.backslash, self.ansi) {
            (Some(b), Some(a)) => Some(LexMode {
                backslash_escapes: b,
                ansi_quotes: a,
            }),
            _ => None,
        };
        if known == Some(standard) && !self.mode_may_change_midway(sql) {
            return Ok(Cow::Borrowed(sql));
        }
        let mode = match known {
            Some(mode) => mode,
            None => {
                let possible = self.possible();
                if !policy::reads_alike(self.dialect, &possible, sql) {
                    return Err(self.unsure_why());
                }
                possible[0]
            }
        };
        if self.mode_may_change_midway(sql)
            && !policy::reads_alike(self.dialect, &LexMode::all(self.dialect), sql)
        {
            return Err("sluice: a statement that changes sql_mode must come last in its string when the statements after it hold quotes or backslashes (sluice could not tell how the server will read them); send them separately".into());
        }
        let text = policy::standardize(self.dialect, mode, sql);
        if let Cow::Owned(rewritten) = &text {
            if self.rewritten.len() >= REMEMBERED {
                self.rewritten.clear();
            }
            self.rewritten.insert(sql.to_string(), rewritten.clone());
        }
        Ok(text)
    }

    fn unsure_why(&self) -> String {
        match (self.backslash, self.dialect) {
            (None, Dialect::Postgres) => "sluice: this statement reads differently with standard_conforming_strings on and off, and statements still running ahead of it may change that setting; send it after they complete, or write it with E'' strings or parameters".into(),
            (None, Dialect::MySql) => "sluice: this statement reads differently with and without NO_BACKSLASH_ESCAPES, and sluice cannot tell which is in force; send it again on its own".into(),
            _ => "sluice: this statement reads differently with and without ANSI_QUOTES, and sluice could not tell the session's sql_mode (it was set to a value sluice cannot read); set it with a literal, e.g. SET sql_mode = '…', and send the statement again".into(),
        }
    }

    /// MySQL reads a multi-statement string one statement at a time, so a `SET sql_mode` (or an
    /// `EXECUTE` that may run one) changes how the statements after it are read.
    fn mode_may_change_midway(&self, sql: &str) -> bool {
        self.dialect == Dialect::MySql
            && sql.contains(';')
            && (contains_ignore_case(sql, "sql_mode") || contains_ignore_case(sql, "execute"))
    }

    /// The standard spelling remembered for `sql`, if it was rewritten (free while nothing
    /// was).
    pub fn remembered(&self, sql: &str) -> Option<String> {
        if self.rewritten.is_empty() {
            return None;
        }
        self.rewritten.get(sql).cloned()
    }

    /// MySQL: refuses `SET GLOBAL sql_mode` values that would turn `ANSI_QUOTES` on for new
    /// sessions (sluice assumes new sessions start without it).
    pub fn check_assignments(&self, text: &str) -> Result<(), String> {
        if self.dialect != Dialect::MySql || !contains_ignore_case(text, "sql_mode") {
            return Ok(());
        }
        for a in policy::sql_mode_assignments(text) {
            if a.global && a.ansi_quotes() != Some(false) {
                return Err("sluice: SET GLOBAL sql_mode may only be given a literal value without ANSI_QUOTES (or a mode implying it) through sluice".into());
            }
        }
        Ok(())
    }

    /// MySQL: a statement prepared at the protocol level (standard spelling); if it assigns
    /// `sql_mode`, its executions are followed ([`SessionLexing::executing`]).
    pub fn prepared(&mut self, text: &str) {
        if self.dialect == Dialect::MySql && contains_ignore_case(text, "sql_mode") {
            self.prepared_assignments.insert(text.to_string());
        }
    }

    /// Whether executions of prepared statements must be shown to [`SessionLexing::executing`].
    pub fn watches_executions(&self) -> bool {
        !self.prepared_assignments.is_empty()
    }

    /// MySQL: a prepared statement (standard spelling) is about to run. A value bound to `?`
    /// cannot be read here, so such an assignment leaves `ANSI_QUOTES` unknown.
    pub fn executing(&mut self, text: &str) {
        if self.prepared_assignments.contains(text) {
            self.forwarded(text);
        }
    }

    /// MySQL: follows `ANSI_QUOTES` through the statement about to run (standard spelling).
    pub fn forwarded(&mut self, text: &str) {
        if self.dialect != Dialect::MySql {
            return;
        }
        let mentions_mode = contains_ignore_case(text, "sql_mode");
        if mentions_mode {
            for a in policy::sql_mode_assignments(text) {
                if !a.global {
                    self.ansi = a.ansi_quotes();
                }
            }
        }
        let prepares = contains_ignore_case(text, "prepare");
        if prepares && (mentions_mode || !prepares_from_literal(text)) {
            self.prepared_mode_change = true;
        }
        if contains_ignore_case(text, "execute")
            && (self.prepared_mode_change || contains_ignore_case(text, "immediate"))
        {
            self.ansi = None;
        }
    }
}

/// `PREPARE name FROM '…'`: the statement's text is a literal sluice can read.
fn prepares_from_literal(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower
        .find(" from ")
        .map(|at| lower[at + 6..].trim_start())
        .is_some_and(|rest| rest.starts_with('\'') || rest.starts_with('"'))
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let n = needle.as_bytes();
    haystack
        .as_bytes()
        .windows(n.len())
        .any(|w| w.eq_ignore_ascii_case(n))
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
    fn mysql_ansi_quotes_follow_set_sql_mode() {
        let mut l = SessionLexing::new(Dialect::MySql);
        l.forwarded("SET SESSION sql_mode = 'ANSI'");
        assert_eq!(
            l.read(r#"SELECT "ssn" FROM t"#).unwrap(),
            "SELECT `ssn` FROM t"
        );
        l.forwarded("SET sql_mode = CONCAT(@@sql_mode, '')");
        assert!(l.read(r#"SELECT "ssn" FROM t"#).is_err());
        assert!(l.read("SELECT ssn FROM t").is_ok());
        l.forwarded("SET sql_mode = 'STRICT_ALL_TABLES'");
        assert!(l.read(r#"SELECT "x""#).is_ok());
        assert!(l
            .check_assignments("SET GLOBAL sql_mode = 'ANSI_QUOTES'")
            .is_err());
        assert!(l
            .check_assignments("SET @@global.sql_mode = @@session.sql_mode")
            .is_err());
        assert!(l
            .check_assignments("SET GLOBAL sql_mode = 'STRICT_ALL_TABLES'")
            .is_ok());
    }

    #[test]
    fn mysql_mode_changes_inside_a_string_are_refused_when_they_matter() {
        let mut l = SessionLexing::new(Dialect::MySql);
        let sql = r"SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\' ; DROP TABLE t; -- '";
        assert!(l.read(sql).is_err());
        assert!(l.read("SET sql_mode = 'ANSI'; SELECT 1").is_ok());
        l.forwarded("PREPARE s FROM @q");
        l.forwarded("EXECUTE s");
        assert!(l.read(r#"SELECT "a""#).is_err());
    }

    #[test]
    fn mysql_prepared_assignments_take_effect_when_executed() {
        let mut l = SessionLexing::new(Dialect::MySql);
        l.prepared("SET sql_mode = ?");
        assert!(l.watches_executions());
        assert!(l.read(r#"SELECT "a""#).is_ok());
        l.executing("SET sql_mode = ?");
        assert!(l.read(r#"SELECT "a""#).is_err());
        l.prepared("SET sql_mode = 'ANSI_QUOTES'");
        l.executing("SET sql_mode = 'ANSI_QUOTES'");
        assert_eq!(l.read(r#"SELECT "a""#).unwrap(), "SELECT `a`");
    }
}
