//! The parsed path: sqlparser's AST → [`StatementInfo`].
//!
//! Tables come from one AST walk (sqlparser's visitor) that records every relation read, every
//! nested INSERT/UPDATE/DELETE/MERGE (data-modifying CTEs hide those inside SELECTs), and the
//! CTE names in scope, so that a reference to a CTE is not mistaken for a table. DDL targets are
//! added explicitly, because the visitor does not report all of them as relations.

use std::collections::HashSet;
use std::ops::ControlFlow;

use sqlparser::ast::{
    FromTable, ObjectName, Query, Statement, TableFactor, TableObject, TableWithJoins,
    UpdateTableFromKind, Value, ValueWithSpan, Visit, VisitMut, Visitor, VisitorMut,
};
use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};
use sqlparser::parser::Parser;

use crate::bounds::{joins_tie, predicate_bounds, target_scopes};
use crate::classify::{classify, ddl_targets, explain_runs, select_into_table};
use crate::tautology::{depends_on_literals, depends_on_parameters};
use crate::{Access, Dialect, StatementInfo, StatementKind, TableRef};

/// How deep the parser may recurse. sqlparser's default (50) is kept: it is ample for real
/// queries, and the AST walks, `Display` and `Drop` that follow all recurse along the same
/// depth, so a small bound keeps every one of them safe on small thread stacks.
pub(crate) const RECURSION_LIMIT: usize = 50;

/// The most operators one expression may chain (`a + b + …`, `x AND y AND …`) before the text
/// is left to the fallback. sqlparser builds such chains iteratively, but as a left-deep tree
/// that `Clone`, `Display`, `Drop` and every visitor then walk recursively, one stack frame per
/// operator; the recursion limit does not cover them. 1,000 leaves a wide margin on a 256 KiB
/// stack in a debug build, and is far beyond what applications send.
pub(crate) const MAX_OPERATOR_CHAIN: usize = 1_000;

/// Parses `sql` into statements, or returns the parser's error message.
pub(crate) fn parse_statements(dialect: Dialect, sql: &str) -> Result<Vec<Statement>, String> {
    let chain = crate::lex::max_operator_chain(dialect, sql);
    if chain > MAX_OPERATOR_CHAIN {
        return Err(format!(
            "statement too complex to analyze safely: {chain} chained operators (limit {MAX_OPERATOR_CHAIN})"
        ));
    }
    let plain = match dialect {
        Dialect::Postgres => match catalog_operators_plain(sql) {
            std::borrow::Cow::Borrowed(s) => force_quote_all_named(s),
            std::borrow::Cow::Owned(s) => {
                std::borrow::Cow::Owned(force_quote_all_named(&s).into_owned())
            }
        },
        Dialect::MySql => std::borrow::Cow::Borrowed(sql),
    };
    let parse = |d: &dyn sqlparser::dialect::Dialect| {
        Parser::new(d)
            .with_recursion_limit(RECURSION_LIMIT)
            .try_with_sql(&plain)
            .and_then(|mut p| p.parse_statements())
            .map_err(|e| e.to_string())
    };
    match dialect {
        Dialect::Postgres => parse(&PostgreSqlDialect {}),
        Dialect::MySql => parse(&MySqlDialect {}),
    }
}

/// `sql` with PostgreSQL's qualified spelling of built-in operators, `OPERATOR(pg_catalog.=)`
/// (what pg_dump and psql's `\d` send, so that no user operator shadows the built-in one),
/// written as the operator itself, which sqlparser reads (it reads `a OPERATOR(s.op) b`, but
/// not before `ANY (…)`). Operators of any other schema stay as they are.
fn catalog_operators_plain(sql: &str) -> std::borrow::Cow<'_, str> {
    use crate::lex::Token;
    if !sql
        .as_bytes()
        .windows(8)
        .any(|w| w.eq_ignore_ascii_case(b"operator"))
    {
        return std::borrow::Cow::Borrowed(sql);
    }
    let tokens = crate::lex::tokenize_spanned(Dialect::Postgres, sql);
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    let mut i = 0;
    while i < tokens.len() {
        let is = |k: usize, t: &Token| tokens.get(i + k).is_some_and(|s| &s.token == t);
        let catalog = matches!(tokens.get(i).map(|s| &s.token), Some(Token::Word(w)) if w.eq_ignore_ascii_case("operator"))
            && is(1, &Token::LParen)
            && matches!(tokens.get(i + 2).map(|s| &s.token), Some(Token::Word(w)) if w.eq_ignore_ascii_case("pg_catalog"))
            && is(3, &Token::Dot);
        let symbols = tokens
            .iter()
            .skip(i + 4)
            .take_while(|s| matches!(s.token, Token::Punct(_)))
            .count();
        if catalog && symbols > 0 && is(4 + symbols, &Token::RParen) {
            let (first, last) = (&tokens[i + 4], &tokens[i + 3 + symbols]);
            out.push_str(&sql[copied..tokens[i].start]);
            out.push(' ');
            out.push_str(&sql[first.start..last.end]);
            out.push(' ');
            copied = tokens[i + 4 + symbols].end;
            i += 5 + symbols;
            continue;
        }
        i += 1;
    }
    out.push_str(&sql[copied..]);
    std::borrow::Cow::Owned(out)
}

/// The name standing for "every column" in a COPY's `FORCE_QUOTE`, which sqlparser reads only
/// as a list of names: `FORCE_QUOTE *` is read as `FORCE_QUOTE ("*")` (and the legacy
/// `FORCE QUOTE *` as `FORCE QUOTE "*"`). A column really named `*` would be read as all of
/// them, which changes only which values are quoted.
pub const FORCE_QUOTE_ALL: &str = "*";

fn force_quote_all_named(sql: &str) -> std::borrow::Cow<'_, str> {
    use crate::lex::Token;
    if !sql
        .as_bytes()
        .windows(5)
        .any(|w| w.eq_ignore_ascii_case(b"force"))
    {
        return std::borrow::Cow::Borrowed(sql);
    }
    let tokens = crate::lex::tokenize_spanned(Dialect::Postgres, sql);
    let word = |i: usize, w: &str| matches!(tokens.get(i).map(|s| &s.token), Some(Token::Word(x)) if x.eq_ignore_ascii_case(w));
    let star = |i: usize| matches!(tokens.get(i).map(|s| &s.token), Some(Token::Punct('*')));
    let mut out = String::with_capacity(sql.len() + 8);
    let mut copied = 0;
    for i in 0..tokens.len() {
        let replacement = if word(i, "force_quote") && star(i + 1) {
            "(\"*\")"
        } else if word(i, "force") && word(i + 1, "quote") && star(i + 2) {
            "\"*\""
        } else {
            continue;
        };
        let at = if star(i + 1) { i + 1 } else { i + 2 };
        out.push_str(&sql[copied..tokens[at].start]);
        out.push_str(replacement);
        copied = tokens[at].end;
    }
    if copied == 0 {
        return std::borrow::Cow::Borrowed(sql);
    }
    out.push_str(&sql[copied..]);
    std::borrow::Cow::Owned(out)
}

/// Describes one parsed statement. The statement is consumed: its literals are redacted in
/// place for the fingerprint (cloning a deep AST would cost stack for nothing).
pub(crate) fn describe(dialect: Dialect, statement: &mut Statement) -> StatementInfo {
    let mut info = describe_inner(dialect, statement);
    let (fingerprint, placeholders) = fingerprint(statement);
    info.fingerprint = fingerprint;
    info.placeholders = placeholders;
    info
}

fn describe_inner(dialect: Dialect, statement: &Statement) -> StatementInfo {
    let mut walk = Walk {
        dialect: Some(dialect),
        ..Walk::default()
    };
    // The visitor never breaks, so the ControlFlow result carries nothing.
    let _ = statement.visit(&mut walk);

    walk.apply_fixups();
    let (mut kind, mut has_where) = (classify(dialect, statement), None);
    let mut writes: Vec<ObjectName> = Vec::new();
    match statement {
        // EXPLAIN ANALYZE runs the statement, so it is what it explains.
        Statement::Explain {
            statement: inner, ..
        } if explain_runs(statement) => {
            let mut info = describe_inner(dialect, inner);
            info.counts_its_rows = false;
            return info;
        }
        Statement::Explain { .. } => {
            // Plain EXPLAIN only plans: whatever the inner statement would write, it reads.
            let mut info = finish(kind, None, walk.reads_with(&[]), Vec::new());
            info.calls = walk.calls;
            return info;
        }
        // PREPARE is where a later EXECUTE's statement can be seen, so it is judged as that.
        Statement::Prepare {
            statement: inner, ..
        } => {
            let mut info = describe_inner(dialect, inner);
            info.counts_its_rows = false;
            return info;
        }
        _ => {}
    }
    if !walk.dml.is_empty()
        && matches!(
            kind,
            StatementKind::Select
                | StatementKind::Insert
                | StatementKind::Update
                | StatementKind::Delete
                | StatementKind::Merge
        )
    {
        // The most destructive DML in the statement decides its kind: `WITH d AS (DELETE …)
        // SELECT …` deletes, whatever the outer statement looks like.
        let worst = walk
            .dml
            .iter()
            .map(|d| d.kind)
            .max_by_key(|k| dml_severity(*k));
        if let Some(worst) = worst {
            kind = worst;
        }
        if matches!(kind, StatementKind::Update | StatementKind::Delete) {
            let bounded = walk
                .dml
                .iter()
                .filter(|d| matches!(d.kind, StatementKind::Update | StatementKind::Delete))
                .all(|d| d.bounded);
            has_where = Some(bounded);
        }
        for d in &walk.dml {
            writes.extend(d.targets.iter().cloned());
        }
    }
    writes.extend(ddl_targets(statement));
    if let Statement::Query(query) = statement {
        if let Some(into) = select_into_table(dialect, query) {
            writes.push(into);
        }
    }
    let copied = copy_table(statement);
    if let Some((table, false)) = &copied {
        writes.push(table.clone());
    }
    let mut reads = walk.reads_with(&writes);
    if let Some((table, true)) = copied {
        reads.push(table);
    }
    // `WITH x AS (SELECT …) UPDATE …` reports its count like the UPDATE it is.
    let top = match statement {
        Statement::Query(q) => match &*q.body {
            sqlparser::ast::SetExpr::Insert(s)
            | sqlparser::ast::SetExpr::Update(s)
            | sqlparser::ast::SetExpr::Delete(s)
            | sqlparser::ast::SetExpr::Merge(s) => s,
            _ => statement,
        },
        _ => statement,
    };
    let counts_its_rows = walk.dml.len() == 1
        && matches!(
            classify(dialect, top),
            StatementKind::Insert
                | StatementKind::Update
                | StatementKind::Delete
                | StatementKind::Merge
        );
    let mut info = finish(kind, has_where, reads, writes);
    info.counts_its_rows = counts_its_rows;
    info.calls = std::mem::take(&mut walk.calls);
    info.literal_dependent = walk.literal_dependent;
    info.parameter_dependent = walk.parameter_dependent;
    if may_have_effects(kind) {
        crate::effects::of_statement(dialect, &statement.to_string()).apply(&mut info);
    }
    add_nested(dialect, statement, &walk, &mut info);
    info.counts_its_rows &= !info.code;
    info
}

/// What a statement can do beyond what its words say.
/// - `CALL` runs a procedure whose body sluice does not see (MariaDB's own
///   `sys.execute_prepared_stmt` runs any SQL it is given): code, opaque.
/// - A write to a system catalog (`pg_catalog.pg_class`, `mysql.proc`, …) can drop a table,
///   destroy a column or define code without the statement that does so: code, and a drop.
pub(crate) fn harden(dialect: Dialect, mut info: StatementInfo) -> StatementInfo {
    if info.kinds().any(|k| k == StatementKind::Call) {
        info.code = true;
        info.opaque_code = true;
    }
    let system = info
        .tables
        .iter()
        .any(|t| t.access == Access::Write && is_system_table(dialect, t));
    if system {
        info.code = true;
        if info.kind != StatementKind::Drop && !info.effects.contains(&StatementKind::Drop) {
            info.effects.push(StatementKind::Drop);
        }
    }
    if sets_unsafe_setting(dialect, &info.fingerprint) {
        info.code = true;
        info.opaque_code = true;
    }
    info.counts_its_rows &= !info.code;
    info
}

/// Settings whose value is code or a server file: MySQL's `init_connect` runs its SQL at other
/// users' logins, the log files write where they point; PostgreSQL's preload lists load native
/// code, and `session_replication_role` turns off triggers and foreign keys.
const UNSAFE_SETTINGS: &[&str] = &[
    "INIT_CONNECT",
    "INIT_FILE",
    "INIT_SLAVE",
    "GENERAL_LOG_FILE",
    "SLOW_QUERY_LOG_FILE",
    "PLUGIN_DIR",
    "SESSION_PRELOAD_LIBRARIES",
    "LOCAL_PRELOAD_LIBRARIES",
    "SHARED_PRELOAD_LIBRARIES",
    "DYNAMIC_LIBRARY_PATH",
    "SESSION_REPLICATION_ROLE",
    "ALLOW_SYSTEM_TABLE_MODS",
];

/// A `SET` (or PostgreSQL `ALTER SYSTEM` / `ALTER ROLE … SET`) naming one of
/// [`UNSAFE_SETTINGS`], read from the statement's fingerprint (its words, literals hidden).
fn sets_unsafe_setting(dialect: Dialect, fingerprint: &str) -> bool {
    let upper = fingerprint.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let sets = match words.first() {
        Some(&"SET") => true,
        Some(&"ALTER") => dialect == Dialect::Postgres && words.contains(&"SET"),
        _ => false,
    };
    sets && words.iter().any(|w| UNSAFE_SETTINGS.contains(w))
}

/// A table of the server's own catalog. PostgreSQL finds `pg_catalog` first whatever the
/// search path, so an unqualified `pg_*` name counts; a MySQL name counts when qualified.
fn is_system_table(dialect: Dialect, t: &crate::TableRef) -> bool {
    let schema = t.schema.as_deref().map(str::to_ascii_lowercase);
    match dialect {
        Dialect::Postgres => match schema.as_deref() {
            Some("pg_catalog" | "information_schema" | "pg_toast") => true,
            Some(_) => false,
            None => t.name.to_ascii_lowercase().starts_with("pg_"),
        },
        Dialect::MySql => matches!(
            schema.as_deref(),
            Some("mysql" | "sys" | "performance_schema" | "information_schema")
        ),
    }
}

/// Statements nested in another run with it: MariaDB's `IF … THEN TRUNCATE t; END IF`,
/// PostgreSQL's `COPY (DELETE … RETURNING *) TO STDOUT`. Their kinds count as effects, a
/// compound statement is code, and their UPDATEs and DELETEs bound the WHERE verdict.
fn add_nested(dialect: Dialect, statement: &Statement, walk: &Walk, info: &mut StatementInfo) {
    if matches!(
        statement,
        Statement::If(_) | Statement::While(_) | Statement::Case(_)
    ) {
        info.code = true;
    }
    // PostgreSQL's `LOAD 'file'` (and DuckDB-style `LOAD`/`INSTALL`) load native code into
    // the server process.
    if matches!(
        statement,
        Statement::Load { .. } | Statement::Install { .. }
    ) {
        info.code = true;
        info.opaque_code = true;
    }
    // Calls that run SQL or programs sluice cannot see make the statement opaque code.
    // `COPY … PROGRAM` runs a program; `COPY … TO/FROM 'file'` reads or writes a file on the
    // database host (a table's own storage included).
    let program = matches!(
        statement,
        Statement::Copy {
            target: sqlparser::ast::CopyTarget::Program { .. }
                | sqlparser::ast::CopyTarget::File { .. },
            ..
        }
    );
    if walk.runs_code || program {
        info.code = true;
        info.opaque_code = true;
    }
    let mut nested = NestedKinds {
        dialect,
        depth: 0,
        kinds: Vec::new(),
    };
    let _ = statement.visit(&mut nested);
    let writes = || walk.dml.iter().chain(&walk.hidden);
    for kind in nested.kinds.into_iter().chain(writes().map(|d| d.kind)) {
        if kind != info.kind && !info.effects.contains(&kind) {
            info.effects.push(kind);
        }
    }
    let unbounded = writes()
        .any(|d| matches!(d.kind, StatementKind::Update | StatementKind::Delete) && !d.bounded);
    if unbounded {
        info.has_where = Some(false);
    }
}

/// The kinds of every statement below the outermost one.
struct NestedKinds {
    dialect: Dialect,
    depth: usize,
    kinds: Vec<StatementKind>,
}

impl Visitor for NestedKinds {
    type Break = ();

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        self.depth += 1;
        if self.depth > 1 {
            self.kinds.push(classify(self.dialect, statement));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, _statement: &Statement) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

/// The table of a `COPY t …`, and whether it is copied out (`TO`) rather than in.
fn copy_table(statement: &Statement) -> Option<(ObjectName, bool)> {
    match statement {
        Statement::Copy {
            source: sqlparser::ast::CopySource::Table { table_name, .. },
            to,
            ..
        } => Some((table_name.clone(), *to)),
        _ => None,
    }
}

/// Kinds whose statements may define code or destroy more than their name says. The check
/// works on the statement's rendering, so plain DML (the hot path) skips it.
fn may_have_effects(kind: StatementKind) -> bool {
    matches!(
        kind,
        StatementKind::Alter | StatementKind::Create | StatementKind::Ddl | StatementKind::Other
    )
}

fn finish(
    kind: StatementKind,
    has_where: Option<bool>,
    reads: Vec<ObjectName>,
    writes: Vec<ObjectName>,
) -> StatementInfo {
    let mut tables: Vec<TableRef> = Vec::new();
    let mut seen: HashSet<(Option<String>, String)> = HashSet::new();
    // Writes first, so that a table both read and written is listed once, as written.
    for (name, access) in writes
        .iter()
        .map(|n| (n, Access::Write))
        .chain(reads.iter().map(|n| (n, Access::Read)))
    {
        if let Some((schema, table)) = split_name(name) {
            if seen.insert((schema.clone(), table.clone())) {
                tables.push(TableRef {
                    schema,
                    name: table,
                    access,
                });
            }
        }
    }
    StatementInfo {
        kind,
        tables,
        has_where,
        placeholders: 0,
        fingerprint: String::new(),
        parsed: true,
        effects: Vec::new(),
        code: false,
        opaque_code: false,
        calls: Vec::new(),
        literal_dependent: false,
        parameter_dependent: false,
        counts_its_rows: false,
    }
}

fn dml_severity(kind: StatementKind) -> u8 {
    match kind {
        StatementKind::Delete => 4,
        StatementKind::Update => 3,
        StatementKind::Merge => 2,
        StatementKind::Insert => 1,
        _ => 0,
    }
}

/// `(schema, table)` of an object name, normalized: unquoted parts lowercased.
pub(crate) fn split_name(name: &ObjectName) -> Option<(Option<String>, String)> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(normalize_ident)
        .collect();
    let (table, rest) = parts.split_last()?;
    Some((rest.last().cloned(), table.clone()))
}

pub(crate) fn normalize_ident(ident: &sqlparser::ast::Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// One INSERT/UPDATE/DELETE/MERGE found anywhere in a statement.
struct Dml {
    kind: StatementKind,
    targets: Vec<ObjectName>,
    /// For UPDATE/DELETE: a WHERE that is not a tautology.
    bounded: bool,
}

/// The CTEs of one `WITH`, and which of their bodies the walk is inside.
struct CteScope {
    names: Vec<String>,
    recursive: bool,
    bodies: Vec<*const Query>,
    /// Index of the CTE whose body is being walked, if any: a non-recursive CTE sees only the
    /// CTEs before it, so `WITH t AS (SELECT * FROM t)` reads the real table `t`.
    inside: Option<usize>,
}

#[derive(Default)]
struct Walk {
    dialect: Option<Dialect>,
    /// Names sqlparser got wrong, with the right ones (see [`misparsed_modifier`]).
    fixups: Vec<(ObjectName, ObjectName)>,
    reads: Vec<ObjectName>,
    dml: Vec<Dml>,
    /// Updates and deletes a statement of another kind makes: an upsert's conflict update,
    /// MySQL `REPLACE`, a `MERGE` clause. They are effects; they never change the kind.
    hidden: Vec<Dml>,
    /// A function that runs SQL sluice cannot see was called (`dblink_exec`, …).
    runs_code: bool,
    /// Calls to functions sluice does not model.
    calls: Vec<crate::FunctionCall>,
    scopes: Vec<CteScope>,
    /// Queries that opened a scope, so that the matching post-visit closes it.
    scope_owners: Vec<*const Query>,
    /// A WHERE clause whose verdict could change with its literals' values.
    literal_dependent: bool,
    /// … or with the values bound to its parameters.
    parameter_dependent: bool,
}

impl Walk {
    fn apply_fixups(&mut self) {
        for (wrong, right) in std::mem::take(&mut self.fixups) {
            let names = self
                .reads
                .iter_mut()
                .chain(self.dml.iter_mut().flat_map(|d| d.targets.iter_mut()));
            for name in names {
                if *name == wrong {
                    *name = right.clone();
                }
            }
        }
    }

    fn is_cte_reference(&self, name: &ObjectName) -> bool {
        let [part] = name.0.as_slice() else {
            return false;
        };
        let Some(ident) = part.as_ident() else {
            return false;
        };
        let name = normalize_ident(ident);
        self.scopes.iter().any(|scope| {
            let visible = match (scope.recursive, scope.inside) {
                (false, Some(i)) => &scope.names[..i],
                _ => &scope.names[..],
            };
            visible.contains(&name)
        })
    }

    /// True when the rows of every changed table are bounded (one scope of names per table,
    /// see [`target_scopes`]): `selection` decides row by row on it (a bare column name counts
    /// only when a `single` table is read), or an inner join condition in `tables` ties it to
    /// another table. No changed table known: not bounded.
    fn bounds(
        &self,
        selection: Option<&sqlparser::ast::Expr>,
        scopes: &[Vec<String>],
        tables: &[TableWithJoins],
        single: bool,
    ) -> bool {
        let dialect = self.dialect.unwrap_or(Dialect::Postgres);
        !scopes.is_empty()
            && scopes.iter().all(|scope| {
                selection.is_some_and(|w| predicate_bounds(dialect, w, scope, single))
                    || joins_tie(dialect, tables, scope)
            })
    }

    /// A `MERGE`'s UPDATE and DELETE clauses, each bounded by the `ON` condition or its own
    /// `AND` condition on the target (qualified names only: the source's columns are in scope).
    fn merge_clauses(&mut self, merge: &sqlparser::ast::Merge, targets: &[ObjectName]) {
        use sqlparser::ast::MergeAction;
        let dialect = self.dialect.unwrap_or(Dialect::Postgres);
        let names: Vec<String> = targets.iter().filter_map(last_name).collect();
        let mut scope = Vec::new();
        crate::bounds::factor_names(&merge.table, &mut scope);
        // The source joins the target: a copy of it meets every row.
        let scopes = target_scopes(&[], &[&merge.table, &merge.source], &names);
        if let Some(with_copies) = scopes.into_iter().next() {
            scope = with_copies;
        }
        let on = predicate_bounds(dialect, &merge.on, &scope, false);
        for clause in &merge.clauses {
            let kind = match clause.action {
                MergeAction::Update(_) => StatementKind::Update,
                MergeAction::Delete { .. } => StatementKind::Delete,
                _ => continue,
            };
            let own = clause
                .predicate
                .as_ref()
                .is_some_and(|p| predicate_bounds(dialect, p, &scope, false));
            self.hidden.push(Dml {
                kind,
                targets: targets.to_vec(),
                bounded: on || own,
            });
        }
    }

    /// Reads that are not also written (those are reported once, as writes).
    fn reads_with(&self, writes: &[ObjectName]) -> Vec<ObjectName> {
        let written: HashSet<_> = writes.iter().filter_map(split_name).collect();
        self.reads
            .iter()
            .filter(|r| split_name(r).is_none_or(|n| !written.contains(&n)))
            .cloned()
            .collect()
    }
}

impl Visitor for Walk {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let ptr: *const Query = query;
        for scope in &mut self.scopes {
            if let Some(i) = scope.bodies.iter().position(|b| *b == ptr) {
                scope.inside = Some(i);
            }
        }
        if let Some(with) = &query.with {
            self.scopes.push(CteScope {
                names: with
                    .cte_tables
                    .iter()
                    .map(|c| normalize_ident(&c.alias.name))
                    .collect(),
                recursive: with.recursive,
                bodies: with
                    .cte_tables
                    .iter()
                    .map(|c| &*c.query as *const Query)
                    .collect(),
                inside: None,
            });
            self.scope_owners.push(ptr);
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let ptr: *const Query = query;
        if self.scope_owners.last() == Some(&ptr) {
            self.scope_owners.pop();
            self.scopes.pop();
        }
        for scope in &mut self.scopes {
            if scope.inside.is_some_and(|i| scope.bodies[i] == ptr) {
                scope.inside = None;
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        if let Some(dialect) = self.dialect {
            crate::calls::push(
                &mut self.calls,
                crate::calls::of_table_factor(dialect, factor),
            );
        }
        if let TableFactor::Table {
            name,
            alias: Some(alias),
            ..
        } = factor
        {
            if misparsed_modifier(self.dialect, name) {
                let right = ObjectName::from(vec![alias.name.clone()]);
                self.fixups.push((name.clone(), right));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &sqlparser::ast::Expr) -> ControlFlow<()> {
        if let sqlparser::ast::Expr::Function(f) = expr {
            self.runs_code |= last_name(&f.name).is_some_and(|n| runs_sql(&n));
        }
        if let Some(dialect) = self.dialect {
            crate::calls::push(&mut self.calls, crate::calls::of_expr(dialect, expr));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        // `FROM dblink(…)`: a table function is visited as a relation.
        self.runs_code |= last_name(relation).is_some_and(|n| runs_sql(&n));
        if !self.is_cte_reference(relation) {
            self.reads.push(relation.clone());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
        // A new table that inherits from others (its rows show in theirs) or copies their
        // shape reads them.
        if let Statement::CreateTable(create) = statement {
            self.reads.extend(create.inherits.iter().flatten().cloned());
            if let Some(
                sqlparser::ast::CreateTableLikeKind::Parenthesized(like)
                | sqlparser::ast::CreateTableLikeKind::Plain(like),
            ) = &create.like
            {
                self.reads.push(like.name.clone());
            }
        }
        let dml = match statement {
            Statement::Insert(insert) => {
                let targets = match &insert.table {
                    TableObject::TableName(name) => vec![name.clone()],
                    _ => Vec::new(),
                };
                self.hidden.extend(hidden_in_insert(insert, &targets));
                Dml {
                    kind: StatementKind::Insert,
                    targets,
                    bounded: true,
                }
            }
            Statement::Update(update) => {
                self.literal_dependent |=
                    update.selection.as_ref().is_some_and(depends_on_literals);
                self.parameter_dependent |=
                    update.selection.as_ref().is_some_and(depends_on_parameters);
                let from = match &update.from {
                    Some(UpdateTableFromKind::BeforeSet(t) | UpdateTableFromKind::AfterSet(t)) => {
                        &t[..]
                    }
                    None => &[],
                };
                let targets = tables_of(std::slice::from_ref(&update.table));
                let tables: Vec<TableWithJoins> = std::iter::once(&update.table)
                    .chain(from)
                    .cloned()
                    .collect();
                let refs: Vec<&TableWithJoins> = tables.iter().collect();
                let single = from.is_empty() && update.table.joins.is_empty();
                let names = updated_names(update, single);
                let scopes = target_scopes(&refs, &[], &names);
                Dml {
                    kind: StatementKind::Update,
                    bounded: self.bounds(update.selection.as_ref(), &scopes, &tables, single),
                    targets,
                }
            }
            Statement::Delete(delete) => {
                let from = match &delete.from {
                    FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
                };
                let targets: Vec<ObjectName> = if delete.tables.is_empty() {
                    from.iter()
                        .filter_map(|t| table_name(&t.relation))
                        .collect()
                } else {
                    // MySQL multi-table DELETE names its targets, possibly by alias.
                    let using = delete.using.as_deref().unwrap_or(&[]);
                    delete
                        .tables
                        .iter()
                        .map(|t| resolve_alias(t, from, using))
                        .collect()
                };
                self.literal_dependent |=
                    delete.selection.as_ref().is_some_and(depends_on_literals);
                self.parameter_dependent |=
                    delete.selection.as_ref().is_some_and(depends_on_parameters);
                let using = delete.using.as_deref().unwrap_or(&[]);
                let names: Vec<String> = if delete.tables.is_empty() {
                    targets.iter().filter_map(last_name).collect()
                } else {
                    // Multi-table DELETE: the names it lists (tables or aliases) are the targets.
                    delete.tables.iter().filter_map(last_name).collect()
                };
                let tables: Vec<TableWithJoins> = from.iter().chain(using).cloned().collect();
                let refs: Vec<&TableWithJoins> = tables.iter().collect();
                let names = match (delete.tables.is_empty(), from.first()) {
                    // `DELETE FROM t [AS x] USING …`: the first FROM item is the target.
                    (true, Some(first)) => {
                        let mut n = Vec::new();
                        crate::bounds::factor_names(&first.relation, &mut n);
                        n
                    }
                    _ => names,
                };
                let scopes = target_scopes(&refs, &[], &names);
                let single = tables.len() == 1 && tables[0].joins.is_empty();
                Dml {
                    kind: StatementKind::Delete,
                    targets,
                    bounded: self.bounds(delete.selection.as_ref(), &scopes, &tables, single),
                }
            }
            Statement::Merge(merge) => {
                let targets: Vec<ObjectName> = table_name(&merge.table).into_iter().collect();
                self.merge_clauses(merge, &targets);
                Dml {
                    kind: StatementKind::Merge,
                    targets,
                    bounded: true,
                }
            }
            _ => return ControlFlow::Continue(()),
        };
        self.dml.push(dml);
        ControlFlow::Continue(())
    }
}

/// sqlparser reads `UPDATE ONLY t` (PostgreSQL) and `UPDATE LOW_PRIORITY t` (MySQL) as table
/// `only` / `low_priority` with alias `t`. These words are reserved in their dialects, so an
/// unquoted single-part table of that name is always such a misreading, and the alias is the
/// real table.
fn misparsed_modifier(dialect: Option<Dialect>, name: &ObjectName) -> bool {
    let [part] = name.0.as_slice() else {
        return false;
    };
    let Some(ident) = part.as_ident() else {
        return false;
    };
    if ident.quote_style.is_some() {
        return false;
    }
    let word = ident.value.to_ascii_uppercase();
    match dialect {
        Some(Dialect::Postgres) => word == "ONLY",
        Some(Dialect::MySql) => matches!(word.as_str(), "LOW_PRIORITY" | "IGNORE" | "QUICK"),
        None => false,
    }
}

fn table_name(factor: &TableFactor) -> Option<ObjectName> {
    match factor {
        TableFactor::Table { name, .. } => Some(name.clone()),
        _ => None,
    }
}

/// Every table of a FROM-like list, joins included (a MySQL multi-table UPDATE may write any).
fn tables_of(list: &[TableWithJoins]) -> Vec<ObjectName> {
    list.iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
        .filter_map(table_name)
        .collect()
}

fn resolve_alias(
    name: &ObjectName,
    from: &[TableWithJoins],
    using: &[TableWithJoins],
) -> ObjectName {
    let [part] = name.0.as_slice() else {
        return name.clone();
    };
    let Some(wanted) = part.as_ident().map(normalize_ident) else {
        return name.clone();
    };
    from.iter()
        .chain(using)
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
        .find_map(|factor| match factor {
            TableFactor::Table {
                name: real,
                alias: Some(alias),
                ..
            } if normalize_ident(&alias.name) == wanted => Some(real.clone()),
            _ => None,
        })
        .unwrap_or_else(|| name.clone())
}

/// Literals → `?` (in place), then `Display`; also counts bind parameters on the way.
fn fingerprint(statement: &mut Statement) -> (String, usize) {
    struct Redact {
        dollar_params: HashSet<String>,
        question_marks: usize,
    }
    impl VisitorMut for Redact {
        type Break = ();
        fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
            match &value.value {
                Value::Placeholder(p) if p.starts_with('$') => {
                    self.dollar_params.insert(p.clone());
                }
                Value::Placeholder(_) => self.question_marks += 1,
                Value::Null | Value::Boolean(_) => {}
                _ => value.value = Value::Placeholder("?".into()),
            }
            ControlFlow::Continue(())
        }
    }
    let mut redact = Redact {
        dollar_params: HashSet::new(),
        question_marks: 0,
    };
    let _ = VisitMut::visit(statement, &mut redact);
    let placeholders = redact.dollar_params.len() + redact.question_marks;
    (collapse_lists(&statement.to_string()), placeholders)
}

/// `IN (?, ?, ?)` → `IN (?)` and `VALUES (?), (?)` → `VALUES (?)`, so that statements that
/// differ only in list length group together.
pub(crate) fn collapse_lists(text: &str) -> String {
    let mut out = text.to_string();
    for (from, to) in [("?, ?", "?"), ("(?), (?)", "(?)")] {
        while out.contains(from) {
            out = out.replace(from, to);
        }
    }
    out
}

/// The update hidden in an upsert (`ON CONFLICT … DO UPDATE`, `ON DUPLICATE KEY UPDATE`) and
/// the delete hidden in MySQL `REPLACE`. Rows listed in `VALUES` bound them; a `SELECT` as the
/// source can name every row of the table, and so can a set-returning function in `VALUES`
/// (`VALUES (generate_series(1, 1000000), …)`), so they do not.
fn hidden_in_insert(insert: &sqlparser::ast::Insert, targets: &[ObjectName]) -> Vec<Dml> {
    use sqlparser::ast::{OnConflictAction, OnInsert, SetExpr};
    let bounded = insert
        .source
        .as_ref()
        .is_none_or(|q| match q.body.as_ref() {
            SetExpr::Values(values) => !returns_sets(values),
            _ => false,
        });
    let mut hidden = Vec::new();
    let updates = match &insert.on {
        Some(OnInsert::DuplicateKeyUpdate(_)) => true,
        Some(OnInsert::OnConflict(c)) => matches!(c.action, OnConflictAction::DoUpdate(_)),
        _ => false,
    };
    if updates {
        hidden.push(Dml {
            kind: StatementKind::Update,
            targets: targets.to_vec(),
            bounded,
        });
    }
    if insert.replace_into {
        hidden.push(Dml {
            kind: StatementKind::Delete,
            targets: targets.to_vec(),
            bounded,
        });
    }
    hidden
}

/// Whether `node` calls a set-returning function (one call, many rows).
fn returns_sets(node: &impl Visit) -> bool {
    const SETS: &[&str] = &[
        "unnest",
        "generate_series",
        "generate_subscripts",
        "regexp_matches",
        "regexp_split_to_table",
        "string_to_table",
        "pg_ls_dir",
    ];
    struct Finder(bool);
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &sqlparser::ast::Expr) -> ControlFlow<()> {
            if let sqlparser::ast::Expr::Function(f) = expr {
                let set = last_name(&f.name).is_some_and(|n| {
                    SETS.contains(&n.as_str())
                        || (n.starts_with("json")
                            && (n.contains("_each")
                                || n.contains("elements")
                                || n.contains("keys")
                                || n.contains("recordset")
                                || n.contains("path_query")))
                });
                if set {
                    self.0 = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder(false);
    let _ = node.visit(&mut finder);
    finder.0
}

/// Functions that reach past the SQL sluice sees: they run SQL held in a string or on another
/// connection (dblink's, query-to-XML, `ts_stat`), or read and write files on the database
/// host (large-object import and export, `pg_read_file`, adminpack's `pg_file_write`).
fn runs_sql(function: &str) -> bool {
    function.starts_with("dblink")
        || function.starts_with("query_to_xml")
        || matches!(
            function,
            "ts_stat"
                | "lo_import"
                | "lo_export"
                | "pg_read_file"
                | "pg_read_binary_file"
                | "pg_file_write"
                | "pg_file_rename"
                | "pg_file_unlink"
        )
}

/// The names of the tables an UPDATE changes: the qualifiers of its `SET` columns (MySQL's
/// multi-table UPDATE changes those tables only); every table when one column is bare and
/// several are read; the first table otherwise.
fn updated_names(update: &sqlparser::ast::Update, single: bool) -> Vec<String> {
    use sqlparser::ast::AssignmentTarget;
    let first = || {
        let mut n = Vec::new();
        crate::bounds::factor_names(&update.table.relation, &mut n);
        n
    };
    if single {
        return first();
    }
    let mut names = Vec::new();
    for a in &update.assignments {
        let columns: Vec<&ObjectName> = match &a.target {
            AssignmentTarget::ColumnName(c) => vec![c],
            AssignmentTarget::Tuple(cs) => cs.iter().collect(),
        };
        for c in columns {
            match c.0.len() {
                0 | 1 => {
                    // A bare column may belong to any table read: all of them may change.
                    let mut all = Vec::new();
                    let from = match &update.from {
                        Some(
                            UpdateTableFromKind::BeforeSet(t) | UpdateTableFromKind::AfterSet(t),
                        ) => &t[..],
                        None => &[],
                    };
                    for t in std::iter::once(&update.table).chain(from) {
                        for f in
                            std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation))
                        {
                            crate::bounds::factor_names(f, &mut all);
                        }
                    }
                    // PostgreSQL's `UPDATE t … FROM u` changes `t` alone.
                    return if update.from.is_some() { first() } else { all };
                }
                n => {
                    if let Some(q) = c.0[n - 2].as_ident() {
                        names.push(normalize_ident(q));
                    }
                }
            }
        }
    }
    if names.is_empty() {
        first()
    } else {
        names
    }
}

/// The last part of a name, normalized: what a column may be qualified with.
fn last_name(name: &ObjectName) -> Option<String> {
    name.0
        .last()
        .and_then(|p| p.as_ident())
        .map(normalize_ident)
}

#[cfg(test)]
mod tests {
    use crate::{analyze, Access, Dialect, StatementKind as K};

    fn one(d: Dialect, sql: &str) -> crate::StatementInfo {
        let a = analyze(d, sql);
        assert!(a.parse_error.is_none(), "{sql}: {:?}", a.parse_error);
        assert_eq!(a.statements.len(), 1, "{sql}");
        a.statements.into_iter().next().expect("one statement")
    }

    fn names(info: &crate::StatementInfo) -> Vec<(String, Access)> {
        info.tables
            .iter()
            .map(|t| (t.qualified_name(), t.access))
            .collect()
    }

    #[test]
    fn catalog_operators_in_pg_dumps_spelling_parse_and_others_do_not() {
        let i = one(
            Dialect::Postgres,
            "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relkind OPERATOR(pg_catalog.=) ANY (array['r','v']) AND c.relname OPERATOR(pg_catalog.~) '^(t)$' AND c.relname operator(PG_CATALOG.!~~*) 'x'",
        );
        assert_eq!(names(&i), [("pg_catalog.pg_class".into(), Access::Read)]);
        // A user's schema may define `=` to do anything: not read as the built-in.
        let sql = "SELECT 1 WHERE 1 OPERATOR(evil.=) ANY (array[1])";
        assert_eq!(super::catalog_operators_plain(sql), sql);
    }

    #[test]
    fn dml_targets_are_writes_and_sources_reads() {
        let i = one(
            Dialect::Postgres,
            "INSERT INTO a.t SELECT * FROM u JOIN v ON true",
        );
        assert_eq!(
            names(&i),
            [
                ("a.t".into(), Access::Write),
                ("u".into(), Access::Read),
                ("v".into(), Access::Read)
            ]
        );
        let i = one(
            Dialect::Postgres,
            "UPDATE t SET x = (SELECT max(x) FROM t) WHERE id = 1",
        );
        assert_eq!(names(&i), [("t".into(), Access::Write)]);
        let i = one(
            Dialect::MySql,
            "DELETE a FROM t1 AS a JOIN t2 AS b ON a.id = b.id WHERE b.x = 1",
        );
        assert_eq!(i.kind, K::Delete);
        assert_eq!(names(&i)[0], ("t1".into(), Access::Write));
        assert!(names(&i).contains(&("t2".into(), Access::Read)));
    }

    #[test]
    fn cte_names_are_not_tables_but_shadowed_tables_are() {
        let i = one(
            Dialect::Postgres,
            "WITH x AS (SELECT * FROM t) SELECT * FROM x",
        );
        assert_eq!(names(&i), [("t".into(), Access::Read)]);
        let i = one(
            Dialect::Postgres,
            "WITH t AS (SELECT * FROM t) SELECT * FROM t",
        );
        assert_eq!(names(&i), [("t".into(), Access::Read)]);
        let i = one(
            Dialect::Postgres,
            "SELECT * FROM (WITH s AS (SELECT 1) SELECT * FROM s) q, s",
        );
        assert_eq!(names(&i), [("s".into(), Access::Read)]);
    }

    #[test]
    fn data_modifying_ctes_decide_the_kind() {
        let i = one(
            Dialect::Postgres,
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        );
        assert_eq!((i.kind, i.has_where), (K::Delete, Some(false)));
        assert_eq!(names(&i), [("t".into(), Access::Write)]);
        let i = one(
            Dialect::Postgres,
            "WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) INSERT INTO log SELECT * FROM d",
        );
        assert_eq!((i.kind, i.has_where), (K::Delete, Some(true)));
    }

    #[test]
    fn explain_analyze_is_what_it_runs() {
        let i = one(Dialect::Postgres, "EXPLAIN ANALYZE DELETE FROM t");
        assert_eq!((i.kind, i.has_where), (K::Delete, Some(false)));
        let i = one(
            Dialect::Postgres,
            "EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1",
        );
        assert_eq!(i.kind, K::Update);
        let i = one(Dialect::Postgres, "EXPLAIN DELETE FROM t");
        assert_eq!(i.kind, K::Explain);
        assert_eq!(names(&i), [("t".into(), Access::Read)]);
    }

    #[test]
    fn ddl_targets_are_reported() {
        let i = one(Dialect::Postgres, "DROP TABLE IF EXISTS a, b.c CASCADE");
        assert_eq!(
            names(&i),
            [("a".into(), Access::Write), ("b.c".into(), Access::Write)]
        );
        let i = one(Dialect::Postgres, "TRUNCATE ONLY t");
        assert_eq!(
            (i.kind, names(&i)),
            (K::Truncate, vec![("t".into(), Access::Write)])
        );
        let i = one(Dialect::Postgres, "ALTER TABLE t ADD COLUMN c int");
        assert_eq!(
            (i.kind, names(&i)),
            (K::Alter, vec![("t".into(), Access::Write)])
        );
        let i = one(Dialect::Postgres, "CREATE TABLE n AS SELECT * FROM o");
        assert_eq!(i.kind, K::Create);
        assert_eq!(
            names(&i),
            [("n".into(), Access::Write), ("o".into(), Access::Read)]
        );
        let i = one(Dialect::Postgres, "SELECT * INTO n FROM o");
        assert_eq!(i.kind, K::Create);
        assert_eq!(names(&i)[0], ("n".into(), Access::Write));
    }

    #[test]
    fn fingerprints_hide_literals_and_count_parameters() {
        let i = one(
            Dialect::Postgres,
            "SELECT * FROM t WHERE a = 'secret' AND b IN (1, 2, 3) AND c = $1 AND d = $1",
        );
        assert!(!i.fingerprint.contains("secret"), "{}", i.fingerprint);
        assert!(i.fingerprint.contains("IN (?)"), "{}", i.fingerprint);
        assert_eq!(i.placeholders, 1);
        let i = one(Dialect::MySql, "INSERT INTO t VALUES (?, ?), (?, ?)");
        assert_eq!(i.placeholders, 4);
    }
}
