//! FROM lists: tables, derived tables, CTE references, functions and joins → [`Relation`]s.

use std::rc::Rc;

use sqlparser::ast::{
    JoinConstraint, JoinOperator, TableAlias, TableFactor, TableSampleKind, TableWithJoins,
};

use super::expr::name_parts;
use super::query::{Ctx, MAX_QUERY_DEPTH};
use super::scope::{Col, Relation, Scope, Sources};
use super::Source;
use crate::analysis::normalize_ident;
use crate::Dialect;

impl Ctx {
    /// Adds one FROM item (a relation and its joins) to `scope`.
    pub(super) fn add_from_item(
        &mut self,
        item: &TableWithJoins,
        outer: &Scope<'_>,
        scope: &mut Scope<'_>,
    ) {
        let relations = self.table_factor(&item.relation, outer, scope);
        scope.relations.extend(relations);
        for join in &item.joins {
            let relations = self.table_factor(&join.relation, outer, scope);
            let joined: Vec<Rc<Relation>> = relations.clone();
            scope.relations.extend(relations);
            if let JoinOperator::AsOf {
                match_condition, ..
            } = &join.join_operator
            {
                self.predicate(match_condition, scope);
            }
            let constraint = crate::classify::join_constraint(&join.join_operator);
            match constraint {
                Some(JoinConstraint::On(e)) => self.predicate(e, scope),
                Some(JoinConstraint::Using(names)) => {
                    for n in names {
                        if let Some(column) = name_parts(n).pop() {
                            let col = scope.resolve_column(&column).unwrap_or_else(Col::opaque);
                            self.predicates.extend(&col.sources);
                        }
                    }
                }
                // NATURAL joins on the columns both sides share, which are not known here.
                Some(JoinConstraint::Natural) => {
                    for r in scope.relations.iter().chain(&joined) {
                        self.predicates.extend(&r.all);
                    }
                }
                Some(JoinConstraint::None) | None => {}
            }
        }
    }

    pub(super) fn table_factor(
        &mut self,
        factor: &TableFactor,
        outer: &Scope<'_>,
        scope: &Scope<'_>,
    ) -> Vec<Rc<Relation>> {
        // A sample's size is evaluated (and may fail, quoting what it read) like a predicate.
        if let TableFactor::Table {
            sample: Some(TableSampleKind::BeforeTableAlias(s) | TableSampleKind::AfterTableAlias(s)),
            ..
        } = factor
        {
            if let Some(q) = &s.quantity {
                self.predicate(&q.value, scope);
            }
            if let Some(offset) = &s.offset {
                self.predicate(offset, scope);
            }
        }
        let relation = match factor {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                let mut parts = name_parts(name);
                if let Some(args) = args {
                    let mut sources = Sources::default();
                    for arg in &args.args {
                        sources.extend(&self.function_arg(arg, scope));
                    }
                    if crate::calls::unmodeled(self.dialect, name).is_some() {
                        sources.extend(&[Source::Opaque]);
                    }
                    let name = alias_name(alias).or_else(|| parts.pop());
                    Relation::function(name, alias_columns(alias), sources.into_vec())
                } else {
                    let mut alias_name = alias_name(alias);
                    if self.dialect == Dialect::Postgres
                        && parts.len() == 1
                        && name.0.first().and_then(|p| p.as_ident()).is_some_and(|i| {
                            i.quote_style.is_none() && i.value.eq_ignore_ascii_case("only")
                        })
                    {
                        // `FROM ONLY t` read as table `only` with alias `t`.
                        if let Some(real) = alias_name.take() {
                            parts = vec![real];
                        }
                    }
                    let parts = &parts[parts.len().saturating_sub(2)..];
                    match parts {
                        [table] if scope.cte(table).is_some() => {
                            let cte = scope.cte(table).map(|c| (*c).clone()).unwrap_or_default();
                            let out = cte.rename(&alias_columns(alias));
                            Relation::derived(
                                Some(alias_name.unwrap_or_else(|| table.clone())),
                                out,
                            )
                        }
                        [table] => {
                            Relation::base(alias_name, None, table.clone(), has_columns(alias))
                        }
                        [schema, table] => Relation::base(
                            alias_name,
                            Some(schema.clone()),
                            table.clone(),
                            has_columns(alias),
                        ),
                        _ => Relation::opaque(alias_name),
                    }
                }
            }
            TableFactor::Derived {
                lateral,
                subquery,
                alias,
                ..
            } => {
                let out = if *lateral {
                    self.query(subquery, scope)
                } else {
                    self.query(subquery, outer)
                };
                Relation::derived(alias_name(alias), out.rename(&alias_columns(alias)))
            }
            TableFactor::TableFunction { expr, alias } => {
                self.predicate(expr, scope);
                let sources = self.sources(expr, scope);
                Relation::function(alias_name(alias), alias_columns(alias), sources)
            }
            TableFactor::Function {
                name, args, alias, ..
            } => {
                let mut sources = Sources::default();
                for arg in args {
                    sources.extend(&self.function_arg(arg, scope));
                }
                if crate::calls::unmodeled(self.dialect, name).is_some() {
                    sources.extend(&[Source::Opaque]);
                }
                let name = alias_name(alias).or_else(|| name_parts(name).pop());
                Relation::function(name, alias_columns(alias), sources.into_vec())
            }
            TableFactor::UNNEST {
                alias, array_exprs, ..
            } => {
                let mut sources = Sources::default();
                for e in array_exprs {
                    self.predicate(e, scope);
                    sources.extend(&self.sources(e, scope));
                }
                Relation::function(alias_name(alias), alias_columns(alias), sources.into_vec())
            }
            TableFactor::JsonTable {
                json_expr, alias, ..
            }
            | TableFactor::OpenJsonTable {
                json_expr, alias, ..
            } => {
                self.predicate(json_expr, scope);
                let sources = self.sources(json_expr, scope);
                Relation::function(alias_name(alias), alias_columns(alias), sources)
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let mut inner = Scope {
                    parent: scope.parent,
                    relations: scope.relations.clone(),
                    ctes: Vec::new(),
                };
                let before = inner.relations.len();
                if self.depth >= MAX_QUERY_DEPTH {
                    return vec![Rc::new(Relation::opaque(alias_name(alias)))];
                }
                self.depth += 1;
                self.add_from_item(table_with_joins, outer, &mut inner);
                self.depth -= 1;
                let members: Vec<Rc<Relation>> = inner.relations.split_off(before);
                match alias_name(alias) {
                    Some(name) => Relation::group(Some(name), members),
                    None => return members,
                }
            }
            TableFactor::Pivot { alias, .. }
            | TableFactor::Unpivot { alias, .. }
            | TableFactor::MatchRecognize { alias, .. }
            | TableFactor::XmlTable { alias, .. }
            | TableFactor::SemanticView { alias, .. } => Relation::opaque(alias_name(alias)),
            TableFactor::UnpivotExpr { value_alias, .. } => {
                Relation::opaque(Some(normalize_ident(value_alias)))
            }
        };
        vec![Rc::new(relation)]
    }

    fn function_arg(
        &mut self,
        arg: &sqlparser::ast::FunctionArg,
        scope: &Scope<'_>,
    ) -> Vec<Source> {
        use sqlparser::ast::{FunctionArg, FunctionArgExpr};
        let arg = match arg {
            FunctionArg::Named { arg, .. }
            | FunctionArg::ExprNamed { arg, .. }
            | FunctionArg::Unnamed(arg) => arg,
        };
        match arg {
            // How many rows a set-returning function gives depends on its arguments: they
            // are predicates too (`generate_series(1, ascii(…))` counts out a value).
            FunctionArgExpr::Expr(e) => {
                self.predicate(e, scope);
                self.sources(e, scope)
            }
            _ => vec![Source::Opaque],
        }
    }
}

fn alias_name(alias: &Option<TableAlias>) -> Option<String> {
    alias.as_ref().map(|a| normalize_ident(&a.name))
}

fn alias_columns(alias: &Option<TableAlias>) -> Vec<String> {
    alias
        .iter()
        .flat_map(|a| a.columns.iter().map(|c| normalize_ident(&c.name)))
        .collect()
}

fn has_columns(alias: &Option<TableAlias>) -> bool {
    alias.as_ref().is_some_and(|a| !a.columns.is_empty())
}
