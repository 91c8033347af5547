//! Column lineage: which source columns each result column of a statement derives from.
//!
//! The proxy masks result columns by where they come from. A plain `ssn` (or `c.ssn AS x`, or
//! `t.x` over a derived table that selects `ssn AS x`) can be masked like the column itself;
//! `lower(ssn)` or `row_to_json(c)` derive from it and fall under `[masking] on_derived`; a
//! `WHERE ssn = …` uses it as a predicate (`on_predicate`). [`lineage`] reports all three,
//! plus where a statement copies values to (a table, a server file, a user variable).
//!
//! Names follow the crate's conventions (lowercased unless quoted). Table names are kept as
//! written: an unqualified table has no schema, and the caller resolves the search path and
//! views. Whatever the analysis cannot follow is [`Source::Opaque`], never silently nothing.

mod dml;
mod expr;
mod from;
mod query;
mod scope;

use sqlparser::ast::{CopySource, Statement};

use self::query::Ctx;
use self::scope::{Col, Item, QueryOut, Relation, Scope};
use crate::analysis::{normalize_ident, parse_statements};
use crate::classify::{classify, explain_runs};
use crate::lex::{self, Token};
use crate::{Dialect, StatementKind};

/// A source a value may come from.
///
/// ```
/// use policy::{lineage, Dialect, Source};
/// let l = &lineage(Dialect::Postgres, "SELECT c.ssn FROM public.customers c")[0];
/// let column = Source::Column {
///     tables: vec![(Some("public".into()), "customers".into())],
///     column: "ssn".into(),
/// };
/// assert_eq!(l.all_outputs, [column]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A column of a base table (or view: the caller resolves views). `tables` lists every
    /// table in scope the column may belong to: one entry when the reference is qualified or
    /// unambiguous, several when an unqualified column could come from any of several FROM
    /// items (the caller must treat it as sensitive if ANY candidate is). Each table is
    /// `(schema, name)`, with the schema `None` when unqualified.
    Column {
        /// The candidate tables, `(schema, name)`.
        tables: Vec<(Option<String>, String)>,
        /// The column name.
        column: String,
    },
    /// Every column of a table: `SELECT c FROM customers c` (a whole-row reference), `c.*`,
    /// `*`, `row_to_json(c)`, `to_jsonb(c.*)`, `TABLE customers`, `COPY customers TO STDOUT`.
    AllColumns {
        /// The schema (PostgreSQL) or database (MySQL), if the table was qualified.
        schema: Option<String>,
        /// The table name.
        table: String,
    },
    /// Something the analysis could not follow: an unknown relation or alias, a user
    /// variable, an unparsed statement, nesting past the depth limit. Callers fail closed on it.
    Opaque,
}

/// Where one output column of a statement's result comes from.
///
/// ```
/// use policy::{lineage, Dialect};
/// let l = &lineage(Dialect::Postgres, "SELECT ssn AS x, lower(ssn) FROM customers")[0];
/// let columns = l.columns.as_ref().unwrap();
/// assert_eq!((columns[0].name.as_deref(), columns[0].direct), (Some("x"), true));
/// assert_eq!((columns[1].name.as_deref(), columns[1].direct), (Some("lower"), false));
/// assert_eq!(columns[0].sources, columns[1].sources);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputColumn {
    /// The output name as the client sees it (alias or column name), lowercased per
    /// convention; `None` when the database invents it (`?column?`, MySQL's expression text).
    pub name: Option<String>,
    /// Every source the value depends on (deduplicated). Empty for constants like `1` or
    /// `now()`.
    pub sources: Vec<Source>,
    /// True when the output is a source column passed through unchanged: a plain column
    /// reference, possibly aliased, or through subqueries/CTEs that pass it unchanged (for a
    /// UNION, when every branch does). False for any expression, function, cast, aggregate,
    /// CASE, concatenation, whole-row reference, etc.
    pub direct: bool,
}

/// Where a statement copies values to, beyond the client's result.
///
/// ```
/// use policy::{lineage, CopyTarget, Dialect};
/// let l = &lineage(Dialect::Postgres, "CREATE TABLE x AS SELECT ssn FROM customers")[0];
/// assert_eq!(l.copies_into, Some(CopyTarget::Table));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CopyTarget {
    /// A table: `CREATE TABLE … AS`, `SELECT … INTO t` (PostgreSQL), `INSERT … SELECT`, an
    /// `UPDATE … SET` (or upsert) whose values read columns, `MERGE`.
    Table,
    /// A file on the server: `COPY … TO 'file'` / `PROGRAM`, MySQL `INTO OUTFILE`/`DUMPFILE`.
    File,
    /// A MySQL user variable: `SELECT … INTO @v`, `SELECT @v := col`.
    UserVariable,
}

/// The lineage of one statement.
///
/// ```
/// use policy::{lineage, Dialect, Source};
/// let l = &lineage(Dialect::Postgres, "SELECT * FROM customers WHERE id = 1")[0];
/// assert_eq!(l.columns, None);
/// assert_eq!(l.all_outputs, [Source::AllColumns { schema: None, table: "customers".into() }]);
/// assert_eq!(l.predicates.len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Lineage {
    /// The output columns, in order, when their number is known from the text. `None` when it
    /// is not (a `*` or `t.*` expansion: use [`Lineage::all_outputs`] then). `Some(vec![])`
    /// for statements that return no rows (DDL, DML without RETURNING, `SELECT … INTO`).
    pub columns: Option<Vec<OutputColumn>>,
    /// Union of the sources of every output column (wildcard expansions as
    /// [`Source::AllColumns`], resolved through derived tables and CTEs). A caller that cannot
    /// line result columns up with `columns` uses this (fail closed).
    pub all_outputs: Vec<Source>,
    /// Columns used in WHERE, JOIN … ON/USING (NATURAL: every column of both sides), ORDER BY,
    /// GROUP BY, HAVING, DISTINCT ON, LIMIT, window PARTITION/ORDER, aggregate FILTER/ORDER BY,
    /// anywhere in the statement including subqueries; also the outputs of `IN (SELECT …)`
    /// and scalar subqueries used in those places.
    pub predicates: Vec<Source>,
    /// Where the statement copies values that the user may read later (see [`CopyTarget`]).
    /// When several places are written, the first found.
    pub copies_into: Option<CopyTarget>,
    /// The sources whose values are copied by `copies_into`.
    pub copied: Vec<Source>,
    /// The outputs of every nested query (derived table, CTE, LATERAL, subquery, EXISTS),
    /// used by the statement or not: the server may compute them all (a volatile expression
    /// is not optimised away), and an error it raises there quotes what they read, though no
    /// result column shows it.
    pub evaluated: Vec<Source>,
    /// Holds for every text of the statement's [`crate::Shape`]: a plain SELECT, INSERT,
    /// UPDATE or DELETE whose lineage no literal's value decided. False by default.
    pub(crate) shape_invariant: bool,
}

impl Lineage {
    /// True when this lineage holds for every statement of the same [`crate::Shape`].
    ///
    /// ```
    /// use policy::{lineage, Dialect};
    /// assert!(lineage(Dialect::Postgres, "SELECT ssn FROM c WHERE id = 3")[0].shape_invariant());
    /// // `ORDER BY 1` names an output column by a literal's value.
    /// assert!(!lineage(Dialect::Postgres, "SELECT ssn, id FROM c ORDER BY 1")[0].shape_invariant());
    /// ```
    pub fn shape_invariant(&self) -> bool {
        self.shape_invariant
    }

    fn opaque() -> Lineage {
        Lineage {
            columns: None,
            all_outputs: vec![Source::Opaque],
            ..Lineage::default()
        }
    }
}

/// Lineage of every statement in `sql`, one entry per statement, lined up with
/// [`crate::analyze`]'s statements. An unparseable statement gives a [`Lineage`] whose columns
/// are `None` and whose outputs are `[Source::Opaque]`.
///
/// Never panics; nesting past the analysis's depth limit becomes [`Source::Opaque`].
///
/// ```
/// use policy::{lineage, CopyTarget, Dialect, Source};
/// let l = lineage(Dialect::MySql, "SELECT @x := ssn FROM customers; SELEC 1");
/// assert_eq!(l[0].copies_into, Some(CopyTarget::UserVariable));
/// assert_eq!(l[1].all_outputs, [Source::Opaque]);
/// ```
pub fn lineage(dialect: Dialect, sql: &str) -> Vec<Lineage> {
    let expanded = match dialect {
        Dialect::MySql => lex::expand_mysql_executable_comments(sql),
        Dialect::Postgres => std::borrow::Cow::Borrowed(sql),
    };
    // sqlparser reads MySQL `SHOW … WHERE <anything>` as a list of words, dropping what it
    // does not understand (a subquery, a function call); such a SHOW is judged piece by piece.
    let odd_show = |piece: &str| dialect == Dialect::MySql && mysql_show_odd_filter(piece);
    let per_piece = dialect == Dialect::MySql
        && mentions_show(&expanded)
        && lex::split_statements(dialect, &expanded)
            .into_iter()
            .any(odd_show);
    match parse_statements(dialect, &expanded) {
        Ok(statements) if !per_piece => statements.iter().map(|s| statement(dialect, s)).collect(),
        // As `analyze` does: parse each piece alone, so one bad statement costs only itself.
        _ => lex::split_statements(dialect, &expanded)
            .into_iter()
            .flat_map(|piece| match parse_statements(dialect, piece) {
                _ if odd_show(piece) => vec![Lineage::opaque()],
                Ok(parsed) if !parsed.is_empty() && !crate::fallback::is_opaque(dialect, piece) => {
                    parsed.iter().map(|s| statement(dialect, s)).collect()
                }
                _ => vec![unparsed(dialect, piece)],
            })
            .collect(),
    }
}

/// Whether `sql` spells `show` anywhere (a cheap test before splitting it into statements).
fn mentions_show(sql: &str) -> bool {
    sql.as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"show"))
}

/// Whether `piece` is a MySQL `SHOW` whose `LIKE`/`WHERE` filter is more than the listing's
/// own columns compared with literals: a subquery, a function call or a variable there could
/// pick the listed rows by what a masked column holds.
fn mysql_show_odd_filter(piece: &str) -> bool {
    let tokens = lex::tokenize_spanned(Dialect::MySql, piece);
    let mut t = tokens.iter().map(|s| &s.token).peekable();
    if !t.next().is_some_and(|k| k.is_kw("SHOW")) {
        return false;
    }
    let mut in_filter = false;
    while let Some(tok) = t.next() {
        if tok.is_kw("WHERE") || tok.is_kw("LIKE") {
            in_filter = true;
        }
        if !in_filter {
            continue;
        }
        let plain = match tok {
            Token::Word(w) => {
                const CALLABLE: [&str; 5] = ["IN", "NOT", "AND", "OR", "XOR"];
                !w.eq_ignore_ascii_case("SELECT")
                    && (t.peek() != Some(&&Token::LParen)
                        || CALLABLE.iter().any(|k| w.eq_ignore_ascii_case(k)))
            }
            Token::Punct(c) => matches!(c, '=' | '<' | '>' | '!'),
            Token::Placeholder => false,
            _ => true,
        };
        if !plain {
            return true;
        }
    }
    false
}

/// What a statement sends back.
enum Shape {
    Rows(QueryOut),
    /// No result rows at all.
    Nothing,
    /// Rows, but none from user tables (EXPLAIN, SHOW, DESCRIBE).
    Metadata,
    /// Rows from who knows where.
    Opaque,
}

fn statement(dialect: Dialect, statement: &Statement) -> Lineage {
    let mut ctx = Ctx::new(dialect);
    let root = Scope::default();
    let shape = match statement {
        Statement::Query(query) => {
            let out = ctx.query(query, &root);
            if ctx.rows_diverted {
                Shape::Nothing
            } else {
                Shape::Rows(out)
            }
        }
        Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_)
        | Statement::Merge(_) => Shape::Rows(ctx.dml(statement, &root)),
        Statement::CreateTable(create) => {
            if let Some(query) = &create.query {
                let out = ctx.query(query, &root);
                ctx.copy(CopyTarget::Table, &out.all());
            }
            Shape::Nothing
        }
        Statement::CreateView(view) => {
            let out = ctx.query(&view.query, &root);
            if view.materialized {
                ctx.copy(CopyTarget::Table, &out.all());
            }
            Shape::Nothing
        }
        Statement::Copy {
            source, to, target, ..
        } => {
            if !*to {
                Shape::Nothing
            } else {
                let out = match source {
                    CopySource::Table {
                        table_name,
                        columns,
                    } => {
                        let parts = expr::name_parts(table_name);
                        let parts = &parts[parts.len().saturating_sub(2)..];
                        let (schema, table) = match parts {
                            [schema, table] => (Some(schema.clone()), table.clone()),
                            [table] => (None, table.clone()),
                            _ => (None, String::new()),
                        };
                        let relation = Relation::base(None, schema, table, false);
                        if columns.is_empty() {
                            QueryOut {
                                items: vec![Item::Star(vec![std::rc::Rc::new(relation)])],
                            }
                        } else {
                            QueryOut {
                                items: columns
                                    .iter()
                                    .map(|c| {
                                        let name = normalize_ident(c);
                                        let col = match relation.lookup(&name, 2) {
                                            scope::Lookup::Definite(col)
                                            | scope::Lookup::Maybe(col) => col,
                                            scope::Lookup::Absent => Col::opaque(),
                                        };
                                        Item::Column {
                                            name: Some(name),
                                            col,
                                        }
                                    })
                                    .collect(),
                            }
                        }
                    }
                    CopySource::Query(query) => ctx.query(query, &root),
                };
                match target {
                    sqlparser::ast::CopyTarget::Stdout | sqlparser::ast::CopyTarget::Stdin => {
                        Shape::Rows(out)
                    }
                    sqlparser::ast::CopyTarget::File { .. }
                    | sqlparser::ast::CopyTarget::Program { .. } => {
                        ctx.copy(CopyTarget::File, &out.all());
                        Shape::Nothing
                    }
                }
            }
        }
        Statement::Declare { stmts } => match stmts.iter().find_map(|d| d.for_query.as_ref()) {
            Some(query) => Shape::Rows(ctx.query(query, &root)),
            None => Shape::Nothing,
        },
        // The proxy follows cursors by their declaration.
        Statement::Fetch { .. } => Shape::Opaque,
        Statement::Explain {
            statement: inner, ..
        } => {
            let inner_lineage = self::statement(dialect, inner);
            let runs = explain_runs(statement);
            // MySQL's plans quote values the optimizer read from single-row tables
            // (`<cache>(concat('123-45-6789', …))`), and an EXPLAIN ANALYZE runs the statement,
            // whose errors may quote what it read: either says what the statement reads.
            let all_outputs = match dialect {
                _ if dialect == Dialect::MySql || runs => {
                    let mut all = inner_lineage.all_outputs.clone();
                    for s in &inner_lineage.predicates {
                        if !all.contains(s) {
                            all.push(s.clone());
                        }
                    }
                    all
                }
                _ => Vec::new(),
            };
            return Lineage {
                columns: None,
                all_outputs,
                evaluated: inner_lineage.evaluated,
                predicates: inner_lineage.predicates,
                copies_into: inner_lineage.copies_into.filter(|_| runs),
                copied: if runs {
                    inner_lineage.copied
                } else {
                    Vec::new()
                },
                shape_invariant: false,
            };
        }
        // PREPARE returns nothing, but what it prepares is what EXECUTE will return.
        Statement::Prepare {
            statement: inner, ..
        } => return self::statement(dialect, inner),
        // MySQL's warnings and errors quote the values that caused them: their messages are
        // of unknown origin, their levels and codes are not.
        Statement::ShowVariable { variable }
            if dialect == Dialect::MySql
                && variable.first().is_some_and(|v| {
                    v.value.eq_ignore_ascii_case("warnings")
                        || v.value.eq_ignore_ascii_case("errors")
                }) =>
        {
            let column = |name: &str, sources: Vec<Source>| OutputColumn {
                name: Some(name.into()),
                sources,
                direct: false,
            };
            return Lineage {
                columns: Some(vec![
                    column("level", Vec::new()),
                    column("code", Vec::new()),
                    column("message", vec![Source::Opaque]),
                ]),
                all_outputs: vec![Source::Opaque],
                ..Lineage::default()
            };
        }
        Statement::ExplainTable { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowProcessList { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowCharset { .. }
        | Statement::ShowObjects { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowCollation { .. } => Shape::Metadata,
        Statement::Use(_)
        | Statement::Discard { .. }
        | Statement::Deallocate { .. }
        | Statement::Close { .. }
        | Statement::LISTEN { .. }
        | Statement::UNLISTEN { .. }
        | Statement::NOTIFY { .. }
        | Statement::Kill { .. }
        | Statement::LockTables { .. }
        | Statement::UnlockTables
        | Statement::Lock(_)
        | Statement::Flush { .. } => Shape::Nothing,
        _ => match classify(dialect, statement) {
            StatementKind::Drop
            | StatementKind::Truncate
            | StatementKind::Alter
            | StatementKind::Create
            | StatementKind::Ddl
            | StatementKind::Grant
            | StatementKind::Revoke
            | StatementKind::Set
            | StatementKind::Transaction => Shape::Nothing,
            StatementKind::Explain => Shape::Metadata,
            _ => Shape::Opaque,
        },
    };
    let (columns, all_outputs) = match shape {
        Shape::Rows(out) => (
            out.columns().map(|columns| {
                columns
                    .into_iter()
                    .map(|(name, col)| OutputColumn {
                        name,
                        sources: col.sources,
                        direct: col.direct,
                    })
                    .collect()
            }),
            out.all(),
        ),
        Shape::Nothing => (Some(Vec::new()), Vec::new()),
        Shape::Metadata => (None, Vec::new()),
        Shape::Opaque => (None, vec![Source::Opaque]),
    };
    let plain = matches!(
        statement,
        Statement::Query(_) | Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_)
    );
    Lineage {
        columns,
        all_outputs,
        predicates: ctx.predicates.into_vec(),
        copies_into: ctx.copies_into,
        copied: ctx.copied.into_vec(),
        evaluated: ctx.evaluated.into_vec(),
        shape_invariant: plain && !ctx.literal_dependent,
    }
}

/// A statement sqlparser rejected. Two shapes it cannot read are common enough to handle:
/// `TABLE name` and MySQL's `SELECT … INTO OUTFILE | DUMPFILE | @var` after the select list.
/// Everything else is opaque.
fn unparsed(dialect: Dialect, piece: &str) -> Lineage {
    let tokens = lex::tokenize_spanned(dialect, piece);
    if let Some(lineage) = table_statement(&tokens) {
        return lineage;
    }
    if dialect == Dialect::MySql {
        if let Some(lineage) = mysql_select_into(piece, &tokens) {
            return lineage;
        }
        if mysql_routine_listing(&tokens) {
            return Lineage {
                columns: None,
                ..Lineage::default()
            };
        }
    }
    Lineage::opaque()
}

/// MySQL `SHOW {FUNCTION | PROCEDURE | PACKAGE [BODY]} STATUS [LIKE 'p' | WHERE …]`, which
/// sqlparser does not accept: routine names, definers and dates, no table data (mariadb-dump
/// `--routines` reads them). Only filters of the listing's own columns compared with
/// literals are recognised: a subquery or a function call in the WHERE clause could select
/// rows by what a masked column holds, so anything else stays opaque.
fn mysql_routine_listing(tokens: &[lex::Spanned]) -> bool {
    let mut t = tokens.iter().map(|s| &s.token).peekable();
    if !t.next().is_some_and(|k| k.is_kw("SHOW")) {
        return false;
    }
    match t.next() {
        Some(k) if k.is_kw("FUNCTION") || k.is_kw("PROCEDURE") => {}
        Some(k) if k.is_kw("PACKAGE") => {
            if t.peek().is_some_and(|k| k.is_kw("BODY")) {
                t.next();
            }
        }
        _ => return false,
    }
    if !t.next().is_some_and(|k| k.is_kw("STATUS")) {
        return false;
    }
    const WORDS: [&str; 17] = [
        "db",
        "name",
        "type",
        "definer",
        "modified",
        "created",
        "security_type",
        "comment",
        "and",
        "or",
        "not",
        "like",
        "in",
        "is",
        "null",
        "where",
        "escape",
    ];
    t.all(|tok| match tok {
        Token::Word(w) => WORDS.iter().any(|k| w.eq_ignore_ascii_case(k)),
        Token::QuotedIdent(q) => WORDS[..8].iter().any(|k| q.eq_ignore_ascii_case(k)),
        Token::Str | Token::Number | Token::Comma | Token::LParen | Token::RParen => true,
        Token::Punct(c) => matches!(c, '=' | '<' | '>' | '!'),
        Token::Semicolon => true,
        _ => false,
    })
}

/// `TABLE [ONLY] [schema.]name [*]` (PostgreSQL shorthand for `SELECT * FROM name`).
fn table_statement(tokens: &[lex::Spanned]) -> Option<Lineage> {
    let mut t = tokens.iter().map(|s| &s.token).peekable();
    if !t.next()?.is_kw("TABLE") {
        return None;
    }
    if t.peek().is_some_and(|tok| tok.is_kw("ONLY")) {
        t.next();
    }
    let part = |tok: &Token| match tok {
        Token::Word(w) => Some(w.to_lowercase()),
        Token::QuotedIdent(q) => Some(q.clone()),
        _ => None,
    };
    let mut parts = vec![part(t.next()?)?];
    while t.peek() == Some(&&Token::Dot) {
        t.next();
        parts.push(part(t.next()?)?);
    }
    if t.peek() == Some(&&Token::Punct('*')) {
        t.next();
    }
    if t.next().is_some() || parts.len() > 3 {
        return None;
    }
    let table = parts.pop()?;
    let source = Source::AllColumns {
        schema: parts.pop(),
        table,
    };
    Some(Lineage {
        columns: None,
        all_outputs: vec![source],
        ..Lineage::default()
    })
}

/// MySQL `SELECT … INTO OUTFILE 'f' …` / `INTO DUMPFILE 'f'` / `INTO @a, @b`, where sqlparser
/// does not accept them: the query without its INTO clause, whose rows go to the target.
fn mysql_select_into(piece: &str, tokens: &[lex::Spanned]) -> Option<Lineage> {
    let first = &tokens.first()?.token;
    if !(first.is_kw("SELECT") || first.is_kw("WITH") || *first == Token::LParen) {
        return None;
    }
    let mut depth = 0usize;
    let mut into = None;
    for (i, s) in tokens.iter().enumerate() {
        match &s.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            t if depth == 0 && t.is_kw("INTO") => {
                into = Some(i);
                break;
            }
            _ => {}
        }
    }
    let into = into?;
    let target = match tokens.get(into + 1).map(|s| &s.token) {
        Some(t) if t.is_kw("OUTFILE") || t.is_kw("DUMPFILE") => CopyTarget::File,
        Some(Token::Word(_)) => CopyTarget::UserVariable,
        _ => return None,
    };
    const ENDS: [&str; 11] = [
        "FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "FOR", "LOCK", "UNION", "WINDOW",
        "EXCEPT",
    ];
    let end = tokens[into..]
        .iter()
        .find(|s| ENDS.iter().any(|k| s.token.is_kw(k)) || s.token == Token::Semicolon)
        .map_or(piece.len(), |s| s.start);
    let start = tokens[into].start;
    let stripped = format!("{}{}", &piece[..start], &piece[end..]);
    let statements = parse_statements(Dialect::MySql, &stripped).ok()?;
    let [inner] = statements.as_slice() else {
        return None;
    };
    if !matches!(inner, Statement::Query(_)) {
        return None;
    }
    let mut lineage = statement(Dialect::MySql, inner);
    if lineage.copies_into.is_none() {
        lineage.copies_into = Some(target);
    }
    for source in std::mem::take(&mut lineage.all_outputs) {
        if !lineage.copied.contains(&source) {
            lineage.copied.push(source);
        }
    }
    lineage.columns = Some(Vec::new());
    Some(lineage)
}
