//! Does an UPDATE's or DELETE's WHERE look at the rows at all?
//!
//! A WHERE that references no column of the table the statement changes decides the same for
//! every row: `WHERE (SELECT true)`, `WHERE now() > '2000-01-01'`, `WHERE $1`,
//! `WHERE EXISTS (SELECT 1 FROM u)`. Such a statement touches all rows or none, which is no
//! bound. So is a WHERE on a joined table only (`DELETE FROM t USING u WHERE u.k = 1` is a cross
//! join: every row of `t` goes); a join condition that ties the changed table to the other one
//! (`ON t.id = u.tid`) bounds it. The check is one-sided like the tautology folding: an
//! unqualified name inside a subquery with its own FROM might be that subquery's column, so it
//! does not count, and neither does a qualifier that a subquery redefines; in a statement over
//! several tables an unqualified name might be any table's, so only qualified names count.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, Ident, JoinConstraint, Query, SetExpr, TableFactor, TableWithJoins,
    Visit, Visitor,
};

use crate::classify::{join_constraint, keeps_only_matches};
use crate::tautology::{chain, is_tautology, never_holds, strip_parens};

use crate::analysis::normalize_ident;
use crate::Dialect;

/// Names that parse as identifiers but are values of the session, not columns.
const NOT_COLUMNS: &[&str] = &[
    "current_user",
    "session_user",
    "current_role",
    "current_catalog",
    "current_schema",
    "system_user",
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
    // PostgreSQL's system columns: the table's OID is the same for every row, and a row's
    // location and transaction stamps hold for every row that exists.
    "tableoid",
    "ctid",
    "xmin",
    "xmax",
    "cmin",
    "cmax",
];

/// The names a column of `tables` may be qualified with: each table's name and its alias.
fn qualifiers<'a>(tables: impl IntoIterator<Item = &'a TableWithJoins>) -> Vec<String> {
    let mut out = Vec::new();
    for t in tables {
        for factor in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            factor_names(factor, &mut out);
        }
    }
    out
}

pub(crate) fn factor_names(factor: &TableFactor, out: &mut Vec<String>) {
    if let TableFactor::Table { name, .. } = factor {
        if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
            out.push(normalize_ident(last));
        }
    }
    let alias = match factor {
        TableFactor::Table { alias, .. }
        | TableFactor::Derived { alias, .. }
        | TableFactor::TableFunction { alias, .. }
        | TableFactor::Function { alias, .. }
        | TableFactor::UNNEST { alias, .. } => alias.as_ref(),
        _ => None,
    };
    if let Some(alias) = alias {
        out.push(normalize_ident(&alias.name));
    }
}

/// The table a factor shows rows of: a named table, or a derived table that copies one whole
/// (`(SELECT id FROM t) s`, no WHERE), whose rows are the table's own.
fn shown_table(factor: &TableFactor) -> Option<String> {
    match factor {
        TableFactor::Table { name, .. } => name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(normalize_ident),
        TableFactor::Derived { subquery, .. } => match subquery.body.as_ref() {
            SetExpr::Select(s)
                if s.selection.is_none() && s.from.len() == 1 && s.from[0].joins.is_empty() =>
            {
                shown_table(&s.from[0].relation)
            }
            _ => None,
        },
        _ => None,
    }
}

fn factors<'a>(tables: &'a [&'a TableWithJoins]) -> impl Iterator<Item = &'a TableFactor> + 'a {
    tables
        .iter()
        .flat_map(|t| std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)))
}

/// For each changed table, the names its rows go by in the statement: its own name and alias,
/// and those of every copy of it joined in, because a table joined to itself meets every row
/// (`t.id = u.id` with `u` another `t` holds for all). `targets` names the changed tables (or
/// aliases of them); `extra` adds factors outside `tables` (a MERGE's source).
pub(crate) fn target_scopes(
    tables: &[&TableWithJoins],
    extra: &[&TableFactor],
    targets: &[String],
) -> Vec<Vec<String>> {
    let all: Vec<&TableFactor> = factors(tables).chain(extra.iter().copied()).collect();
    let mut changed: Vec<String> = Vec::new();
    for f in &all {
        let mut names = Vec::new();
        factor_names(f, &mut names);
        if let Some(table) = shown_table(f).filter(|_| names.iter().any(|n| targets.contains(n))) {
            if !changed.contains(&table) {
                changed.push(table);
            }
        }
    }
    changed
        .iter()
        .map(|table| {
            let mut scope = Vec::new();
            for f in all
                .iter()
                .filter(|f| shown_table(f).as_ref() == Some(table))
            {
                factor_names(f, &mut scope);
            }
            scope
        })
        .collect()
}

/// True when an inner join in `tables` is tied to the changed table by its condition
/// (`JOIN u ON t.id = u.tid`, not `ON true`, not a `LEFT JOIN`, which keeps every row).
pub(crate) fn joins_tie(
    dialect: Dialect,
    tables: &[TableWithJoins],
    qualifiers: &[String],
) -> bool {
    let in_scope = |f: &TableFactor| {
        let mut names = Vec::new();
        factor_names(f, &mut names);
        names.iter().any(|n| qualifiers.contains(n))
    };
    let pairs = tables
        .iter()
        .flat_map(|t| t.joins.iter().map(move |j| (in_scope(&t.relation), j)));
    pairs.into_iter().any(|(base_is_copy, j)| {
        if !keeps_only_matches(&j.join_operator) {
            return false;
        }
        let Some(constraint) = join_constraint(&j.join_operator) else {
            return false;
        };
        // The changed table joined to a copy of itself meets every row, whatever the
        // condition.
        if base_is_copy && in_scope(&j.relation) {
            return false;
        }
        match constraint {
            JoinConstraint::On(on) => predicate_bounds(dialect, on, qualifiers, false),
            // `USING (id)` compares a column of each side.
            JoinConstraint::Using(_) | JoinConstraint::Natural => true,
            JoinConstraint::None => false,
        }
    })
}

/// True when `predicate` decides row by row on the changed table. An AND does when any of its
/// terms does (the others only narrow it further), so `now() IS NOT NULL AND id = id` does
/// not; an OR only when every term does (or never holds) and the whole is no tautology;
/// anything else when it
/// is no tautology and reads a column of the table.
pub(crate) fn predicate_bounds(
    dialect: Dialect,
    predicate: &Expr,
    qualifiers: &[String],
    unqualified: bool,
) -> bool {
    let bounds = |e: &Expr| predicate_bounds(dialect, e, qualifiers, unqualified);
    match strip_parens(predicate) {
        e @ Expr::BinaryOp {
            op: BinaryOperator::And,
            ..
        } => chain(e, &BinaryOperator::And).into_iter().any(bounds),
        e @ Expr::BinaryOp {
            op: BinaryOperator::Or,
            ..
        } => {
            !is_tautology(e)
                && chain(e, &BinaryOperator::Or)
                    .into_iter()
                    .all(|d| never_holds(d) || bounds(d))
        }
        e => {
            // The changed table's names set aside, `t.id = u.id` over two copies of `t` reads
            // `id = id`: a tautology.
            let bare = without_qualifiers(e, qualifiers);
            !is_tautology(&bare)
                && !reads_itself(&bare, qualifiers)
                && references_targets(dialect, e, qualifiers, unqualified)
        }
    }
}

/// `e` with every column qualified by one of `qualifiers` left bare.
fn without_qualifiers(e: &Expr, qualifiers: &[String]) -> Expr {
    use sqlparser::ast::VisitMut;
    struct Strip<'a>(&'a [String]);
    impl sqlparser::ast::VisitorMut for Strip<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::CompoundIdentifier(parts) = e {
                let n = parts.len();
                if n >= 2 && self.0.contains(&normalize_ident(&parts[n - 2])) {
                    *e = Expr::Identifier(parts[n - 1].clone());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut bare = e.clone();
    let _ = VisitMut::visit(&mut bare, &mut Strip(qualifiers));
    bare
}

/// `id IN (SELECT id FROM t)` over the changed table itself: every row is in it.
fn reads_itself(e: &Expr, qualifiers: &[String]) -> bool {
    use sqlparser::ast::SelectItem;
    // `x IN (SELECT …)` and `x = ANY (SELECT …)` / `SOME` alike.
    let (expr, subquery) = match strip_parens(e) {
        Expr::InSubquery {
            expr,
            subquery,
            negated: false,
        } => (expr, subquery),
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            right,
            ..
        } => match strip_parens(right) {
            Expr::Subquery(q) => (left, q),
            _ => return false,
        },
        _ => return false,
    };
    let SetExpr::Select(s) = subquery.body.as_ref() else {
        return false;
    };
    let copies = s.selection.as_ref().is_none_or(is_tautology)
        && s.from.len() == 1
        && s.from[0].joins.is_empty()
        && shown_table(&s.from[0].relation).is_some_and(|t| qualifiers.contains(&t));
    let column = |e: &Expr| match strip_parens(e) {
        Expr::Identifier(i) => Some(normalize_ident(i)),
        Expr::CompoundIdentifier(p) => p.last().map(normalize_ident),
        _ => None,
    };
    copies
        && matches!(s.projection.as_slice(), [SelectItem::UnnamedExpr(p)] if column(p).is_some() && column(p) == column(expr))
}

/// True when `predicate` references a column of a table named (or aliased) in `qualifiers`;
/// `unqualified`: a bare column name counts too (the statement reads one table only).
pub(crate) fn references_targets(
    dialect: Dialect,
    predicate: &Expr,
    qualifiers: &[String],
    unqualified: bool,
) -> bool {
    let mut finder = Finder {
        dialect,
        qualifiers,
        unqualified,
        scopes: Vec::new(),
    };
    predicate.visit(&mut finder).is_break()
}

/// One subquery the walk is inside.
struct Scope {
    query: *const Query,
    has_from: bool,
    /// Names its FROM defines, which hide outer tables of the same name.
    names: Vec<String>,
}

struct Finder<'a> {
    dialect: Dialect,
    qualifiers: &'a [String],
    unqualified: bool,
    scopes: Vec<Scope>,
}

impl Finder<'_> {
    fn is_column(&self, ident: &Ident) -> bool {
        if ident.value.starts_with('@') {
            return false; // a MySQL user or system variable
        }
        match ident.quote_style {
            // Without ANSI_QUOTES, MySQL reads "x" as a string.
            Some('"') if self.dialect == Dialect::MySql => false,
            Some(_) => true,
            None => {
                let lower = ident.value.to_ascii_lowercase();
                !(NOT_COLUMNS.contains(&lower.as_str())
                    || (self.dialect == Dialect::Postgres && lower == "user"))
            }
        }
    }

    fn counts(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Identifier(ident) => {
                self.unqualified
                    && self.is_column(ident)
                    // The table's own name is its whole row (`WHERE t IS NOT NULL`), not a
                    // column.
                    && !self.qualifiers.contains(&normalize_ident(ident))
                    && self.scopes.iter().all(|s| !s.has_from)
            }
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let qualifier = normalize_ident(&parts[parts.len() - 2]);
                self.qualifiers.contains(&qualifier)
                    && self.is_column(&parts[parts.len() - 1])
                    && self.scopes.iter().all(|s| !s.names.contains(&qualifier))
            }
            _ => false,
        }
    }
}

/// Whether any SELECT of `body` has a FROM, and the names it defines.
fn from_names(body: &SetExpr, has_from: &mut bool, names: &mut Vec<String>) {
    match body {
        SetExpr::Select(select) => {
            *has_from |= !select.from.is_empty();
            names.extend(qualifiers(&select.from));
        }
        SetExpr::SetOperation { left, right, .. } => {
            from_names(left, has_from, names);
            from_names(right, has_from, names);
        }
        SetExpr::Query(q) => from_names(&q.body, has_from, names),
        _ => {}
    }
}

impl Visitor for Finder<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        let (mut has_from, mut names) = (false, Vec::new());
        from_names(&query.body, &mut has_from, &mut names);
        if let Some(with) = &query.with {
            names.extend(
                with.cte_tables
                    .iter()
                    .map(|c| normalize_ident(&c.alias.name)),
            );
        }
        self.scopes.push(Scope {
            query,
            has_from,
            names,
        });
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if self
            .scopes
            .last()
            .is_some_and(|s| std::ptr::eq(s.query, query))
        {
            self.scopes.pop();
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if self.counts(expr) {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}
