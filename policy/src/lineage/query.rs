//! Queries, FROM lists and DML RETURNING lists → [`QueryOut`].

use std::rc::Rc;

use sqlparser::ast::{
    Cte, Distinct, Expr, GroupByExpr, LimitClause, NamedWindowExpr, OrderBy, OrderByKind, Query,
    Select, SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Value,
};

use super::expr::{name_parts, window_predicates};
use super::scope::{Col, Item, QueryOut, Relation, Scope, Sources};
use super::{CopyTarget, Source};
use crate::analysis::normalize_ident;
use crate::Dialect;

/// How many queries deep (subqueries, derived tables, CTE bodies) the analysis follows; past
/// it, a query's output is [`Source::Opaque`]. The parser's own recursion limit keeps real
/// nesting below this in practice; this bound keeps the walk's stack use small regardless.
pub(super) const MAX_QUERY_DEPTH: usize = 16;

/// How many times a recursive CTE is re-analyzed to let its sources settle before the rest is
/// assumed to be anything ([`Source::Opaque`]).
const MAX_RECURSION_PASSES: usize = 6;

/// The state of one statement's analysis.
pub(super) struct Ctx {
    pub(super) dialect: Dialect,
    pub(super) depth: usize,
    pub(super) predicates: Sources,
    pub(super) copies_into: Option<CopyTarget>,
    pub(super) copied: Sources,
    /// The outputs of every nested query, used or not (see [`super::Lineage::evaluated`]).
    pub(super) evaluated: Sources,
    /// A `SELECT … INTO` sends its rows somewhere else instead of to the client.
    pub(super) rows_diverted: bool,
    /// A literal's value decided something (`ORDER BY 2` names an output column).
    pub(super) literal_dependent: bool,
}

impl Ctx {
    pub(super) fn new(dialect: Dialect) -> Ctx {
        Ctx {
            dialect,
            depth: 0,
            predicates: Sources::default(),
            copies_into: None,
            copied: Sources::default(),
            evaluated: Sources::default(),
            rows_diverted: false,
            literal_dependent: false,
        }
    }

    /// Records that `sources` are copied into `target`.
    pub(super) fn copy(&mut self, target: CopyTarget, sources: &[Source]) {
        if self.copies_into.is_none() {
            self.copies_into = Some(target);
        }
        self.copied.extend(sources);
    }

    pub(super) fn query(&mut self, query: &Query, outer: &Scope<'_>) -> QueryOut {
        if self.depth >= MAX_QUERY_DEPTH {
            self.evaluated.push(Source::Opaque);
            return QueryOut::opaque();
        }
        self.depth += 1;
        let out = self.query_inner(query, outer);
        if self.depth > 1 {
            self.evaluated.extend(&out.all());
        }
        self.depth -= 1;
        out
    }

    fn query_inner(&mut self, query: &Query, outer: &Scope<'_>) -> QueryOut {
        let mut scope = Scope::child(outer);
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.cte(cte, with.recursive, &mut scope);
            }
        }
        let out = self.set_expr(&query.body, &scope, query.order_by.as_ref());
        if let Some(limit) = &query.limit_clause {
            let exprs: Vec<&Expr> = match limit {
                LimitClause::LimitOffset {
                    limit,
                    offset,
                    limit_by,
                } => limit
                    .iter()
                    .chain(offset.iter().map(|o| &o.value))
                    .chain(limit_by)
                    .collect(),
                LimitClause::OffsetCommaLimit { offset, limit } => vec![offset, limit],
            };
            for e in exprs {
                self.predicate(e, &scope);
            }
        }
        if let Some(quantity) = query.fetch.as_ref().and_then(|f| f.quantity.as_ref()) {
            self.predicate(quantity, &scope);
        }
        out
    }

    fn cte(&mut self, cte: &Cte, recursive: bool, scope: &mut Scope<'_>) {
        let name = normalize_ident(&cte.alias.name);
        let names: Vec<String> = cte
            .alias
            .columns
            .iter()
            .map(|c| normalize_ident(&c.name))
            .collect();
        if !recursive {
            let out = self.query(&cte.query, scope).rename(&names);
            scope.ctes.push((name, Rc::new(out)));
            return;
        }
        // A recursive CTE's columns are what its first branch gives, plus whatever the
        // recursive branch adds on each round: iterate until nothing new turns up.
        let mut approx = match cte.query.body.as_ref() {
            SetExpr::SetOperation { left, .. } => self.set_expr(left, scope, None),
            _ => self.query(&cte.query, scope),
        }
        .rename(&names);
        let mut settled = false;
        for _ in 0..MAX_RECURSION_PASSES {
            scope.ctes.push((name.clone(), Rc::new(approx.clone())));
            let next = self.query(&cte.query, scope).rename(&names);
            scope.ctes.pop();
            let merged = merge_recursive(&approx, &next);
            let same = merged.columns() == approx.columns() && merged.all() == approx.all();
            approx = merged;
            if same {
                settled = true;
                break;
            }
        }
        if !settled {
            approx = merge_recursive(&approx, &QueryOut::opaque());
        }
        scope.ctes.push((name, Rc::new(approx)));
    }

    pub(super) fn set_expr(
        &mut self,
        body: &SetExpr,
        scope: &Scope<'_>,
        order_by: Option<&OrderBy>,
    ) -> QueryOut {
        if let SetExpr::Select(select) = body {
            return self.select(select, scope, order_by);
        }
        let out = match body {
            SetExpr::Select(_) => QueryOut::opaque(),
            SetExpr::Query(query) => self.query(query, scope),
            SetExpr::SetOperation { left, right, .. } => {
                let left = self.set_expr(left, scope, None);
                let right = self.set_expr(right, scope, None);
                set_operation(left, right)
            }
            SetExpr::Values(values) => self.values(values, scope),
            SetExpr::Insert(statement)
            | SetExpr::Update(statement)
            | SetExpr::Delete(statement)
            | SetExpr::Merge(statement) => self.dml(statement, scope),
            SetExpr::Table(table) => {
                let unquote = |s: &str| match s.strip_prefix('"').and_then(|s| s.strip_suffix('"'))
                {
                    Some(inner) => inner.to_string(),
                    None => s.to_lowercase(),
                };
                let schema = table.schema_name.as_deref().map(unquote);
                match table.table_name.as_deref().map(unquote) {
                    Some(name) => self.table_star(schema, name, scope),
                    None => QueryOut::opaque(),
                }
            }
        };
        if let Some(order_by) = order_by {
            let empty = Scope::child(scope);
            self.order_by(order_by, &out, &empty);
        }
        out
    }

    /// `TABLE name`: every column of a CTE or of a table.
    pub(super) fn table_star(
        &mut self,
        schema: Option<String>,
        name: String,
        scope: &Scope<'_>,
    ) -> QueryOut {
        let relation = match (schema.is_none(), scope.cte(&name)) {
            (true, Some(cte)) => Relation::derived(Some(name), (*cte).clone()),
            _ => Relation::base(None, schema, name, false),
        };
        QueryOut {
            items: vec![Item::Star(vec![Rc::new(relation)])],
        }
    }

    fn values(&mut self, values: &sqlparser::ast::Values, scope: &Scope<'_>) -> QueryOut {
        let mut columns: Vec<Sources> = Vec::new();
        for row in &values.rows {
            for (i, e) in row.content.iter().enumerate() {
                if columns.len() <= i {
                    columns.push(Sources::default());
                }
                let sources = self.sources(e, scope);
                columns[i].extend(&sources);
            }
        }
        let items = columns
            .into_iter()
            .enumerate()
            .map(|(i, sources)| Item::Column {
                name: match self.dialect {
                    Dialect::Postgres => Some(format!("column{}", i + 1)),
                    Dialect::MySql => None,
                },
                col: Col::derived(sources.into_vec()),
            })
            .collect();
        QueryOut { items }
    }

    fn select(
        &mut self,
        select: &Select,
        outer: &Scope<'_>,
        order_by: Option<&OrderBy>,
    ) -> QueryOut {
        let mut scope = Scope::child(outer);
        for item in &select.from {
            self.add_from_item(item, outer, &mut scope);
        }
        if !select.lateral_views.is_empty() {
            scope.relations.push(Rc::new(Relation::opaque(None)));
        }
        for e in select.prewhere.iter().chain(&select.selection) {
            self.predicate(e, &scope);
        }
        let out = self.projection(&select.projection, &scope);
        if let Some(Distinct::On(exprs)) = &select.distinct {
            for e in exprs {
                self.predicate(e, &scope);
            }
        }
        match &select.group_by {
            GroupByExpr::Expressions(exprs, _) => {
                for e in exprs {
                    self.by_output(e, &out, &scope, false);
                }
            }
            GroupByExpr::All(_) => self.predicates.extend(&out.all()),
        }
        if let Some(having) = &select.having {
            self.by_output(having, &out, &scope, false);
        }
        for window in &select.named_window {
            if let NamedWindowExpr::WindowSpec(spec) = &window.1 {
                window_predicates(self, spec, &scope);
            }
        }
        for e in select
            .qualify
            .iter()
            .chain(&select.cluster_by)
            .chain(&select.distribute_by)
            .chain(select.sort_by.iter().map(|o| &o.expr))
        {
            self.predicate(e, &scope);
        }
        for c in &select.connect_by {
            match c {
                sqlparser::ast::ConnectByKind::ConnectBy { relationships, .. } => {
                    for e in relationships {
                        self.predicate(e, &scope);
                    }
                }
                sqlparser::ast::ConnectByKind::StartWith { condition, .. } => {
                    self.predicate(condition, &scope)
                }
            }
        }
        if let Some(order_by) = order_by {
            self.order_by(order_by, &out, &scope);
        }
        if let Some(into) = &select.into {
            let target = match self.dialect {
                Dialect::Postgres => CopyTarget::Table,
                Dialect::MySql => CopyTarget::UserVariable,
            };
            let _ = into;
            self.copy(target, &out.all());
            self.rows_diverted = true;
        }
        out
    }

    fn order_by(&mut self, order_by: &OrderBy, out: &QueryOut, scope: &Scope<'_>) {
        match &order_by.kind {
            OrderByKind::Expressions(exprs) => {
                for o in exprs {
                    self.by_output(&o.expr, out, scope, true);
                }
            }
            OrderByKind::All(_) => self.predicates.extend(&out.all()),
        }
    }

    /// A GROUP BY / HAVING / ORDER BY key, which may name an output column by alias or
    /// position. With `output_first` (ORDER BY), an output alias hides an input column of the
    /// same name; otherwise both count.
    fn by_output(&mut self, e: &Expr, out: &QueryOut, scope: &Scope<'_>, output_first: bool) {
        if let Expr::Identifier(ident) = e {
            let name = normalize_ident(ident);
            let mut matched = false;
            for item in &out.items {
                if let Item::Column { name: Some(n), col } = item {
                    if *n == name {
                        self.predicates.extend(&col.sources);
                        matched = true;
                    }
                }
            }
            if matched && output_first {
                return;
            }
        }
        if let Expr::Value(v) = e {
            if let Value::Number(n, _) = &v.value {
                self.literal_dependent = true;
                if let Ok(position) = n.parse::<usize>() {
                    match out.columns() {
                        Some(columns) => {
                            if let Some((_, col)) =
                                position.checked_sub(1).and_then(|i| columns.get(i))
                            {
                                self.predicates.extend(&col.sources);
                            }
                        }
                        None => self.predicates.extend(&out.all()),
                    }
                    return;
                }
            }
        }
        self.predicate(e, scope);
    }

    /// A select list or RETURNING list.
    pub(super) fn projection(&mut self, items: &[SelectItem], scope: &Scope<'_>) -> QueryOut {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(match item {
                SelectItem::UnnamedExpr(e) => Item::Column {
                    name: self.output_name(e),
                    col: self.column_of(e, scope),
                },
                SelectItem::ExprWithAlias { expr, alias } => Item::Column {
                    name: Some(normalize_ident(alias)),
                    col: self.column_of(expr, scope),
                },
                SelectItem::ExprWithAliases { expr, aliases } => Item::Column {
                    name: aliases.first().map(normalize_ident),
                    col: self.column_of(expr, scope),
                },
                SelectItem::Wildcard(_) => Item::Star(scope.own_relations()),
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(n),
                    _,
                ) => {
                    let parts = name_parts(n);
                    let parts = &parts[parts.len().saturating_sub(2)..];
                    let relation = scope
                        .relation(parts)
                        .unwrap_or_else(|| Rc::new(Relation::opaque(None)));
                    Item::Star(vec![relation])
                }
                SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(e), _) => {
                    let sources = self.sources(e, scope);
                    Item::Star(vec![Rc::new(Relation::function(None, Vec::new(), sources))])
                }
            });
        }
        QueryOut { items: out }
    }

    /// The name the database gives an unaliased output, when it is predictable.
    fn output_name(&self, expr: &Expr) -> Option<String> {
        let pg = self.dialect == Dialect::Postgres;
        let mut e = expr;
        loop {
            e = match e {
                Expr::Nested(inner) => inner,
                Expr::Cast { expr, .. } if pg => expr,
                Expr::Subquery(q) if pg => match q.body.as_ref() {
                    SetExpr::Select(s) => match s.projection.as_slice() {
                        [SelectItem::UnnamedExpr(inner)] => inner,
                        [SelectItem::ExprWithAlias { alias, .. }] => {
                            return Some(normalize_ident(alias))
                        }
                        _ => return None,
                    },
                    _ => return None,
                },
                _ => break,
            };
        }
        match e {
            Expr::Identifier(i) if i.value.starts_with('@') && !pg => None,
            Expr::Identifier(i) => Some(normalize_ident(i)),
            Expr::CompoundIdentifier(parts) => parts.last().map(normalize_ident),
            Expr::Function(f) if pg => f
                .name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(normalize_ident),
            Expr::Case { .. } if pg => Some("case".into()),
            Expr::Exists { .. } if pg => Some("exists".into()),
            Expr::Array(_) if pg => Some("array".into()),
            _ => None,
        }
    }
}

/// Column i of a UNION / INTERSECT / EXCEPT: either branch's column i.
fn set_operation(left: QueryOut, right: QueryOut) -> QueryOut {
    match (left.columns(), right.columns()) {
        (Some(l), Some(r)) if l.len() == r.len() => QueryOut {
            items: l
                .into_iter()
                .zip(r)
                .map(|((name, a), (_, b))| Item::Column {
                    name,
                    col: a.union(&b),
                })
                .collect(),
        },
        // Arity unknown or different: every column may be anything either side gives.
        (Some(l), r) if !l.is_empty() || r.as_ref().is_some_and(|r| !r.is_empty()) => {
            let l = match r {
                Some(r) if r.len() > l.len() => r,
                _ => l,
            };
            let mut all = Sources::default();
            all.extend(&left.all());
            all.extend(&right.all());
            let col = Col::derived(all.into_vec());
            QueryOut {
                items: l
                    .into_iter()
                    .map(|(name, _)| Item::Column {
                        name,
                        col: col.clone(),
                    })
                    .collect(),
            }
        }
        _ => {
            let mut items = left.items;
            items.extend(right.items);
            QueryOut { items }
        }
    }
}

/// One more round of a recursive CTE: column-wise union, never direct.
fn merge_recursive(approx: &QueryOut, next: &QueryOut) -> QueryOut {
    let merged = set_operation(approx.clone(), next.clone());
    QueryOut {
        items: merged
            .items
            .into_iter()
            .map(|item| match item {
                Item::Column { name, col } => Item::Column {
                    name,
                    col: Col::derived(col.sources),
                },
                star => star,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use crate::{lineage, Dialect, Source};

    #[test]
    fn what_nested_queries_compute_is_evaluated_even_when_unused() {
        let ssn = Source::Column {
            tables: vec![(None, "c".into())],
            column: "ssn".into(),
        };
        for sql in [
            "SELECT count(*) FROM (SELECT (ssn || random())::int FROM c) s",
            "WITH w AS (SELECT ssn FROM c) SELECT count(*) FROM w",
            "SELECT 1 WHERE EXISTS (SELECT ssn FROM c)",
            "SELECT (SELECT 1 FROM (SELECT ssn FROM c) s)",
        ] {
            let l = &lineage(Dialect::Postgres, sql)[0];
            assert!(!l.all_outputs.contains(&ssn), "{sql}: {:?}", l.all_outputs);
            assert!(l.evaluated.contains(&ssn), "{sql}: {:?}", l.evaluated);
        }
        let l = &lineage(Dialect::Postgres, "SELECT name FROM c")[0];
        assert!(l.evaluated.is_empty(), "a flat query nests nothing");
    }
}
