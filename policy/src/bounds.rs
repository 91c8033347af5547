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
    // PostgreSQL's table OID: the same for every row of the table.
    "tableoid",
];

/// The names a column of `tables` may be qualified with: each table's name and its alias.
pub(crate) fn qualifiers<'a>(tables: impl IntoIterator<Item = &'a TableWithJoins>) -> Vec<String> {
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

/// The names the changed table answers to: for each factor of `tables` that is one of
/// `targets` (by name or alias), its name and alias.
pub(crate) fn target_qualifiers<'a>(
    tables: impl IntoIterator<Item = &'a TableWithJoins>,
    targets: &[String],
) -> Vec<String> {
    let mut out = Vec::new();
    for t in tables {
        for factor in std::iter::once(&t.relation).chain(t.joins.iter().map(|j| &j.relation)) {
            let mut names = Vec::new();
            factor_names(factor, &mut names);
            if names.iter().any(|n| targets.contains(n)) {
                out.extend(names);
            }
        }
    }
    out
}

/// True when an inner join in `tables` is tied to the changed table by its condition
/// (`JOIN u ON t.id = u.tid`, not `ON true`, not a `LEFT JOIN`, which keeps every row).
pub(crate) fn joins_tie(
    dialect: Dialect,
    tables: &[TableWithJoins],
    qualifiers: &[String],
) -> bool {
    tables.iter().flat_map(|t| &t.joins).any(|j| {
        if !keeps_only_matches(&j.join_operator) {
            return false;
        }
        let Some(constraint) = join_constraint(&j.join_operator) else {
            return false;
        };
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
        e => !is_tautology(e) && references_targets(dialect, e, qualifiers, unqualified),
    }
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
