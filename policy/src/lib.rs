//! sluice-policy decides what a SQL statement *is* and whether sluice lets it run.
//!
//! It is the pure core behind sluice's `[[rules]]` and `[policy]` config sections: it takes SQL
//! text and gives back facts (statement kind, tables read and written, whether an UPDATE or
//! DELETE is bounded by a real WHERE clause) and verdicts (allow, block, review). It does no I/O
//! and spawns nothing, so the proxy can call it inline on every statement.
//!
//! ```
//! use policy::{analyze, Dialect, StatementKind};
//!
//! let analysis = analyze(Dialect::Postgres, "SELECT 1; DELETE FROM orders WHERE 1 = 1");
//! assert_eq!(analysis.statements[1].kind, StatementKind::Delete);
//! assert_eq!(analysis.statements[1].has_where, Some(false)); // a tautology is no WHERE
//! ```
//!
//! # What is in here
//!
//! * [`analyze`] parses with [`sqlparser`] and, when that fails, falls back to a keyword-level
//!   classifier that skips comments, strings and dollar-quoted bodies ([`StatementInfo::parsed`]
//!   says which path produced a statement). Adversarial spellings are handled: keywords hidden
//!   in comments, `;`-separated batches, MySQL executable comments (`/*! DROP TABLE t */`),
//!   data-modifying CTEs, `EXPLAIN ANALYZE <dml>`, `PREPARE … AS <dml>`. Statements that
//!   define or run code are flagged ([`StatementInfo::code`]) and what their bodies do, like
//!   the destruction hidden in DDL not called DROP, becomes [`StatementInfo::effects`].
//! * [`RuleSet`] compiles `[[rules]]` and evaluates an [`Analysis`] for a [`Subject`] into a
//!   [`StatementVerdict`]: ordered rules, first match wins, dry-run rules reported but not
//!   enforced, the strictest statement of a batch decides, and unparsed statements are subject to
//!   `[policy] on_parse_error`.
//! * [`mask_literals`] rewrites statement text for the audit log so that literals compared with
//!   or written to sensitive columns are never recorded.
//! * [`lineage`] follows every result column of a statement back to the source columns it
//!   derives from (through aliases, joins, derived tables, CTEs, set operations and
//!   functions), and reports the columns used as predicates and the values copied into
//!   tables, files or user variables, for result masking.
//! * [`AnalysisCache`] is a bounded LRU of analyses, because applications send the same few
//!   hundred statement texts over and over.
//!
//! # Conventions
//!
//! * Identifiers are lowercased unless they were quoted (`"Invoices"` stays `Invoices`), the way
//!   PostgreSQL folds them. Rule globs match case-insensitively, so this only matters to callers
//!   who compare names themselves.
//! * Whenever the analysis is unsure, it errs towards the stricter answer: an unknown statement
//!   is `Other` and unparsed, a `WHERE` that might be a tautology counts as none, and executable
//!   comments are assumed to run.
//! * Nothing here panics on any input, and no input can overflow the stack: the parser runs with
//!   a recursion limit, and everything past it is handled by iterative code.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod analysis;
mod bind;
mod bounds;
mod builtins;
mod cache;
mod calls;
mod canonical;
mod classify;
mod copy;
mod cursor;
mod effects;
mod fallback;
#[doc(hidden)]
pub mod fuzzing;
mod glob;
mod hidden;
mod lex;
mod lexing;
mod lineage;
mod literal_plan;
mod literals;
mod rules;
mod shape;
mod tautology;
mod uescape;

pub use bind::bind_literals;
pub use builtins::{function_class, FunctionClass};
pub use cache::AnalysisCache;
pub use calls::FunctionCall;
pub use canonical::canonical_text;
pub use copy::{copy_out, CopyFormat, CopyOut, ForceQuote};
pub use cursor::{cursors, mentions_named_statements, CursorStatement};
pub use glob::Glob;
pub use hidden::{hidden_literals, scrub_hidden, MIN_HIDDEN_LEN};
pub use lexing::{
    may_change_reading, multibyte_hazard, reads_alike, sql_mode_has_ansi_quotes,
    sql_mode_has_pipes_as_concat, standardize, LexMode, MysqlServer,
};
pub use lineage::{lineage, CopyTarget, Lineage, OutputColumn, Source};
pub use literal_plan::LiteralPlan;
pub use literals::{mask_literals, LiteralMode, MaskedStatement, SensitiveColumns};
pub use rules::{
    Decision, KindSelector, RowLimit, RuleAction, RuleConfig, RuleMatch, RuleMode, RuleSet,
    StatementVerdict, Subject, ON_PARSE_ERROR_RULE,
};
pub use shape::{shape, Shape, ShapedSql};
pub use uescape::decode_unicode_escapes;

/// The SQL dialect of the target database, which decides quoting, comments and placeholders.
///
/// ```
/// use policy::Dialect;
/// assert_ne!(Dialect::Postgres, Dialect::MySql);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL: `"ident"`, `$1` placeholders, nested `/* */`, `$$` dollar quotes.
    Postgres,
    /// MySQL and MariaDB: `` `ident` ``, `?` placeholders, `#` comments, `/*! */` executable
    /// comments.
    MySql,
}

/// What a statement does, as far as rules are concerned.
///
/// In rule configs these are written in snake_case (`"copy_from"`). Three more names select
/// groups of statements there (see [`KindSelector`]): `"write"`, `"ddl"` and `"code"`.
/// A statement has one primary kind and may have more ([`StatementInfo::effects`]): a
/// function whose body drops a table, or an `ALTER TABLE … DROP COLUMN`, also counts as a drop.
///
/// ```
/// use policy::{analyze, Dialect, StatementKind};
/// let a = analyze(Dialect::Postgres, "COPY t FROM STDIN");
/// assert_eq!(a.statements[0].kind, StatementKind::CopyFrom);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    /// `SELECT`, `VALUES`, `TABLE t`, and `WITH … SELECT` without data-modifying CTEs.
    Select,
    /// `INSERT` and MySQL `REPLACE`.
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `MERGE`.
    Merge,
    /// `COPY … FROM` and MySQL `LOAD DATA`: bulk writes into a table.
    CopyFrom,
    /// `COPY … TO` and MySQL `SELECT … INTO OUTFILE`: bulk reads out of the database.
    CopyTo,
    /// DDL that is none of drop/truncate/alter/create: `COMMENT ON`, `RENAME TABLE`, ….
    Ddl,
    /// `DROP …`.
    Drop,
    /// `TRUNCATE`.
    Truncate,
    /// `ALTER …`.
    Alter,
    /// `CREATE …`, and `SELECT … INTO new_table` (PostgreSQL), which creates a table.
    Create,
    /// `GRANT`.
    Grant,
    /// `REVOKE`.
    Revoke,
    /// `SET`, `RESET`, `SET ROLE`, … .
    Set,
    /// `BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`, … .
    Transaction,
    /// `CALL`.
    Call,
    /// `EXPLAIN` without `ANALYZE` (with `ANALYZE`, the explained statement's kind is used,
    /// because it really runs).
    Explain,
    /// Everything else, including PostgreSQL `DO` blocks (see [`StatementInfo::code`]).
    Other,
}

impl StatementKind {
    /// Every kind, in declaration order.
    ///
    /// ```
    /// assert_eq!(policy::StatementKind::ALL.len(), 19);
    /// ```
    pub const ALL: [StatementKind; 19] = [
        StatementKind::Select,
        StatementKind::Insert,
        StatementKind::Update,
        StatementKind::Delete,
        StatementKind::Merge,
        StatementKind::CopyFrom,
        StatementKind::CopyTo,
        StatementKind::Ddl,
        StatementKind::Drop,
        StatementKind::Truncate,
        StatementKind::Alter,
        StatementKind::Create,
        StatementKind::Grant,
        StatementKind::Revoke,
        StatementKind::Set,
        StatementKind::Transaction,
        StatementKind::Call,
        StatementKind::Explain,
        StatementKind::Other,
    ];

    /// The snake_case name used in configs and logs.
    ///
    /// ```
    /// assert_eq!(policy::StatementKind::CopyFrom.as_str(), "copy_from");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            StatementKind::Select => "select",
            StatementKind::Insert => "insert",
            StatementKind::Update => "update",
            StatementKind::Delete => "delete",
            StatementKind::Merge => "merge",
            StatementKind::CopyFrom => "copy_from",
            StatementKind::CopyTo => "copy_to",
            StatementKind::Ddl => "ddl",
            StatementKind::Drop => "drop",
            StatementKind::Truncate => "truncate",
            StatementKind::Alter => "alter",
            StatementKind::Create => "create",
            StatementKind::Grant => "grant",
            StatementKind::Revoke => "revoke",
            StatementKind::Set => "set",
            StatementKind::Transaction => "transaction",
            StatementKind::Call => "call",
            StatementKind::Explain => "explain",
            StatementKind::Other => "other",
        }
    }

    /// True for kinds that change table data: insert, update, delete, merge, copy_from.
    ///
    /// ```
    /// assert!(policy::StatementKind::Merge.is_write());
    /// assert!(!policy::StatementKind::CopyTo.is_write());
    /// ```
    pub fn is_write(self) -> bool {
        matches!(
            self,
            StatementKind::Insert
                | StatementKind::Update
                | StatementKind::Delete
                | StatementKind::Merge
                | StatementKind::CopyFrom
        )
    }

    /// True for schema changes: ddl, drop, truncate, alter, create.
    ///
    /// ```
    /// assert!(policy::StatementKind::Truncate.is_ddl());
    /// ```
    pub fn is_ddl(self) -> bool {
        matches!(
            self,
            StatementKind::Ddl
                | StatementKind::Drop
                | StatementKind::Truncate
                | StatementKind::Alter
                | StatementKind::Create
        )
    }
}

impl std::fmt::Display for StatementKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a statement reads a table or changes it (or its definition).
///
/// ```
/// use policy::{analyze, Access, Dialect};
/// let a = analyze(Dialect::Postgres, "INSERT INTO t SELECT * FROM u");
/// assert_eq!(a.statements[0].tables[0].access, Access::Write);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// The statement only reads the table.
    Read,
    /// The statement writes rows of the table, or creates, alters, drops or truncates it.
    Write,
}

/// A table a statement touches.
///
/// Names are lowercased unless they were quoted. For three-part names (`db.schema.table`) the
/// first part is dropped; in MySQL, `db.table` puts the database in `schema`.
///
/// ```
/// use policy::{analyze, Dialect};
/// let a = analyze(Dialect::Postgres, r#"SELECT * FROM Billing."Invoices""#);
/// let t = &a.statements[0].tables[0];
/// assert_eq!((t.schema.as_deref(), t.name.as_str()), (Some("billing"), "Invoices"));
/// assert_eq!(t.qualified_name(), "billing.Invoices");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableRef {
    /// The schema (PostgreSQL) or database (MySQL) it was qualified with, if any.
    pub schema: Option<String>,
    /// The table (or view, index, sequence) name.
    pub name: String,
    /// Read or write.
    pub access: Access,
}

impl TableRef {
    /// `schema.name`, or just `name` when unqualified.
    ///
    /// ```
    /// let t = policy::TableRef { schema: None, name: "t".into(), access: policy::Access::Read };
    /// assert_eq!(t.qualified_name(), "t");
    /// ```
    pub fn qualified_name(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The facts about one statement that rules are evaluated on.
///
/// ```
/// use policy::{analyze, Dialect, StatementKind};
/// let info = &analyze(Dialect::MySql, "UPDATE t SET a = ? WHERE id = ?").statements[0];
/// assert_eq!((info.kind, info.has_where, info.placeholders), (StatementKind::Update, Some(true), 2));
/// assert!(info.parsed);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementInfo {
    /// What the statement does.
    pub kind: StatementKind,
    /// Tables read and written, deduplicated, in first-seen order. Includes the targets of
    /// DROP/CREATE/ALTER/TRUNCATE. Names of CTEs are not tables and are left out.
    pub tables: Vec<TableRef>,
    /// For UPDATE and DELETE: `Some(true)` when a WHERE clause bounds the rows, `Some(false)`
    /// when there is none, it is a tautology (`WHERE 1=1`, `WHERE true`, `x OR 1=1`, …), or it
    /// references no column of the tables written or joined (`WHERE (SELECT true)`,
    /// `WHERE now() > '2000-01-01'`, `WHERE $1`), so it decides nothing row by row. Also set
    /// for statements whose [`effects`](StatementInfo::effects) include an UPDATE or DELETE
    /// (a procedure's body): `Some(false)` when any of those is unbounded. `None` otherwise.
    pub has_where: Option<bool>,
    /// How many bind parameters (`$1`, `?`) the statement uses.
    pub placeholders: usize,
    /// The statement normalized for grouping in logs: literals replaced with `?`, whitespace
    /// and comments normalized, lists of parameters collapsed.
    pub fingerprint: String,
    /// True when sqlparser understood the statement; false when the fallback classifier
    /// produced this from keywords.
    pub parsed: bool,
    /// Kinds the statement has besides [`kind`](StatementInfo::kind), deduplicated, never
    /// containing `kind` itself: what a function, procedure, trigger, event or rule body does
    /// (`CREATE FUNCTION … AS 'DROP TABLE t'` has effect `drop`), what a `PREPARE … FROM
    /// '<sql>'` or `EXECUTE IMMEDIATE '<sql>'` would run, and what destructive DDL not called
    /// DROP really does (`ALTER TABLE … DROP COLUMN`, a column type change, `RENAME TABLE`,
    /// `CREATE OR REPLACE TABLE` → `drop`; `ALTER TABLE … TRUNCATE PARTITION` → `truncate`).
    /// Rules match these like the primary kind.
    pub effects: Vec<StatementKind>,
    /// True when the statement defines or runs code: `CREATE [OR REPLACE]
    /// FUNCTION/PROCEDURE/TRIGGER/RULE/EVENT/PACKAGE`, `ALTER EVENT … DO`, PostgreSQL `DO`,
    /// MySQL `PREPARE … FROM`, `EXECUTE IMMEDIATE`, MariaDB `BEGIN NOT ATOMIC … END`. Rules
    /// select these with the `"code"` statement name (`"do"` is an alias).
    pub code: bool,
    /// True when the statement runs code the analyzer cannot see into, so its
    /// [`effects`](StatementInfo::effects) come from a keyword scan at best: PostgreSQL `DO`
    /// blocks, functions in languages other than SQL (plpgsql, …), and dynamic SQL such as
    /// MySQL `PREPARE … FROM @variable`. Always also [`code`](StatementInfo::code).
    pub opaque_code: bool,
    /// Calls to functions sluice does not model (user-defined, extension, or built-ins that
    /// read or send data not in their arguments), deduplicated. A masked session may not make
    /// them (`[masking] on_opaque`).
    pub calls: Vec<FunctionCall>,
    /// The analysis could change with the values of the statement's literals (a WHERE clause
    /// folded as constants), so it must not be shared across one [`Shape`].
    pub(crate) literal_dependent: bool,
    /// Whether the row bound could change with the values bound to its parameters
    /// (`WHERE id = coalesce($1, id)`, `WHERE v LIKE $1`), as opposed to parameters that only
    /// name rows (`WHERE id = $1`) or values written.
    pub(crate) parameter_dependent: bool,
    /// True when the statement is one INSERT, UPDATE, DELETE or MERGE (an upsert included)
    /// whose own row count — PostgreSQL's command tag, MySQL's affected rows — covers every row
    /// it changes: no second write in a CTE or subquery, not run by `EXPLAIN ANALYZE`, `COPY`
    /// or `PREPARE`, no code. Only such statements can be held to a rule's `rows_over`.
    pub counts_its_rows: bool,
}

/// The result of analyzing one SQL string, which may hold several statements.
///
/// ```
/// use policy::{analyze, Dialect};
/// let a = analyze(Dialect::Postgres, "SELECT 1; SELEC 2");
/// assert!(!a.parsed());
/// assert!(a.parse_error.is_some());
/// assert_eq!(a.statements.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Analysis {
    /// One entry per statement, in order. Empty for empty input (or only comments).
    pub statements: Vec<StatementInfo>,
    /// sqlparser's error when the text did not parse; the statements then come from the
    /// fallback classifier.
    pub parse_error: Option<String>,
}

impl StatementInfo {
    /// The primary [`kind`](StatementInfo::kind) followed by the
    /// [`effects`](StatementInfo::effects).
    ///
    /// ```
    /// use policy::{analyze, Dialect, StatementKind as K};
    /// let a = analyze(Dialect::Postgres, "ALTER TABLE t DROP COLUMN c");
    /// assert_eq!(a.statements[0].kinds().collect::<Vec<_>>(), [K::Alter, K::Drop]);
    /// ```
    pub fn kinds(&self) -> impl Iterator<Item = StatementKind> + '_ {
        std::iter::once(self.kind).chain(self.effects.iter().copied())
    }

    /// Whether an execution's parameters could change whether this statement is bounded: then
    /// each execution is worth judging with its values (see [`crate::bind_literals`]).
    ///
    /// ```
    /// let a = |sql| policy::analyze(policy::Dialect::Postgres, sql).statements[0].parameters_matter();
    /// assert!(a("DELETE FROM t WHERE v LIKE $1"));
    /// assert!(!a("UPDATE t SET v = $1 WHERE id = $2"));
    /// ```
    pub fn parameters_matter(&self) -> bool {
        self.parameter_dependent
    }

    /// True when the statement (or its body) is an UPDATE or DELETE that no real WHERE bounds.
    ///
    /// ```
    /// let a = policy::analyze(policy::Dialect::Postgres, "DELETE FROM t WHERE (SELECT true)");
    /// assert!(a.statements[0].unbounded_write());
    /// ```
    pub fn unbounded_write(&self) -> bool {
        self.has_where == Some(false)
            && self
                .kinds()
                .any(|k| matches!(k, StatementKind::Update | StatementKind::Delete))
    }
}

impl Analysis {
    /// True when this analysis holds for every text of the same [`Shape`]: everything parsed,
    /// every statement is a plain SELECT, INSERT, UPDATE or DELETE, and nothing in it depended
    /// on a literal's value. Other statements (DDL, `SET`, `COPY`, `PREPARE`, `DO`, …) can give
    /// literals meaning, so they are analysed text by text.
    ///
    /// ```
    /// use policy::{analyze, Dialect};
    /// assert!(analyze(Dialect::Postgres, "DELETE FROM t WHERE id = 7").shape_invariant());
    /// assert!(!analyze(Dialect::Postgres, "DELETE FROM t WHERE 1 = 2").shape_invariant());
    /// assert!(!analyze(Dialect::MySql, "PREPARE s FROM 'SELECT 1'").shape_invariant());
    /// ```
    pub fn shape_invariant(&self) -> bool {
        self.parsed()
            && !self.statements.is_empty()
            && self.statements.iter().all(|s| {
                !s.literal_dependent
                    && !s.opaque_code
                    && !s.code
                    && s.effects.is_empty()
                    && matches!(
                        s.kind,
                        StatementKind::Select
                            | StatementKind::Insert
                            | StatementKind::Update
                            | StatementKind::Delete
                    )
            })
    }

    /// True when every statement was understood by the parser.
    ///
    /// ```
    /// assert!(policy::analyze(policy::Dialect::Postgres, "SELECT 1").parsed());
    /// ```
    pub fn parsed(&self) -> bool {
        self.parse_error.is_none() && self.statements.iter().all(|s| s.parsed)
    }
}

/// Analyzes `sql`, which may hold several `;`-separated statements.
///
/// Never fails and never panics: text the parser rejects is classified by keywords instead,
/// with [`Analysis::parse_error`] set and [`StatementInfo::parsed`] false.
///
/// ```
/// use policy::{analyze, Dialect, StatementKind};
/// let a = analyze(Dialect::MySql, "/*!50001 DROP TABLE t */");
/// assert_eq!(a.statements[0].kind, StatementKind::Drop);
/// let a = analyze(Dialect::Postgres, "EXPLAIN ANALYZE DELETE FROM t");
/// assert_eq!(a.statements[0].kind, StatementKind::Delete);
/// ```
pub fn analyze(dialect: Dialect, sql: &str) -> Analysis {
    analyze_text(dialect, sql)
}

/// The kind of each statement in `sql`, from its keywords alone: one tokenizer pass, no
/// parse. For counting (metrics), where a full [`analyze`] would cost more than the count is
/// worth; never for deciding what may run.
///
/// ```
/// use policy::{classify, Dialect, StatementKind};
/// assert_eq!(classify(Dialect::Postgres, "SELECT 1; DROP TABLE t"), [StatementKind::Select, StatementKind::Drop]);
/// ```
pub fn classify(dialect: Dialect, sql: &str) -> Vec<StatementKind> {
    let expanded = match dialect {
        Dialect::MySql => lex::expand_mysql_executable_comments(sql),
        Dialect::Postgres => std::borrow::Cow::Borrowed(sql),
    };
    lex::split_statements(dialect, &expanded)
        .into_iter()
        .map(|s| fallback::kind_only(dialect, s))
        .collect()
}

fn analyze_text(dialect: Dialect, sql: &str) -> Analysis {
    let expanded = match dialect {
        Dialect::MySql => match lex::expand_mysql_executable_comments(sql) {
            std::borrow::Cow::Borrowed(text) => lexing::mysql_logical_operators(text),
            std::borrow::Cow::Owned(text) => {
                std::borrow::Cow::Owned(lexing::mysql_logical_operators(&text).into_owned())
            }
        },
        Dialect::Postgres => std::borrow::Cow::Borrowed(sql),
    };
    match analysis::parse_statements(dialect, &expanded) {
        Ok(mut statements) => Analysis {
            statements: statements
                .iter_mut()
                .map(|s| analysis::describe(dialect, s))
                .map(|info| analysis::harden(dialect, info))
                .collect(),
            parse_error: None,
        },
        // One bad statement must not cost the others their analysis: split the text ourselves
        // and parse each piece alone, falling back to keywords only where that fails too.
        Err(error) => Analysis {
            statements: lex::split_statements(dialect, &expanded)
                .into_iter()
                .flat_map(|piece| match analysis::parse_statements(dialect, piece) {
                    Ok(mut parsed)
                        if !parsed.is_empty() && !fallback::is_opaque(dialect, piece) =>
                    {
                        parsed
                            .iter_mut()
                            .map(|s| analysis::describe(dialect, s))
                            .collect()
                    }
                    _ => vec![fallback::classify_one(dialect, piece)],
                })
                .map(|info| analysis::harden(dialect, info))
                .collect(),
            parse_error: Some(error),
        },
    }
}
