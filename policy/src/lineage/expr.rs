//! The sources of an expression.
//!
//! The walk is iterative (an explicit work list), because operator chains can be a thousand
//! deep even under the parser's recursion limit. It recurses only into subqueries, which the
//! parser's limit and [`super::query::MAX_QUERY_DEPTH`] bound.

use sqlparser::ast::{
    AccessExpr, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArguments, HavingBound, ListAggOnOverflow, ObjectName, OrderByExpr, Subscript,
    WindowFrameBound, WindowSpec, WindowType,
};

use super::query::Ctx;
use super::scope::{Col, Lookup, Scope, Sources, MAX_STAR_CHAIN};
use super::Source;
use crate::analysis::normalize_ident;
use crate::Dialect;

/// Where the sources found under an expression go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dest {
    /// Into the value being computed.
    out: bool,
    /// Into [`Ctx::predicates`]: filters, sort keys, window keys.
    pred: bool,
    /// Into [`Ctx::copied`]: a MySQL `@var := …` assignment.
    copy: bool,
}

const OUT: Dest = Dest {
    out: true,
    pred: false,
    copy: false,
};
const PRED: Dest = Dest {
    out: false,
    pred: true,
    copy: false,
};

/// The parts of a name, normalized.
pub(super) fn name_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p.as_ident() {
            Some(ident) => normalize_ident(ident),
            None => p.to_string(),
        })
        .collect()
}

impl Ctx {
    /// The value of a select-list expression: its sources, and whether it is one column passed
    /// through unchanged.
    pub(super) fn column_of(&mut self, expr: &Expr, scope: &Scope<'_>) -> Col {
        let mut e = expr;
        while let Expr::Nested(inner) = e {
            e = inner;
        }
        match e {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                if let Some(col) = self.reference(e, scope) {
                    return col;
                }
            }
            Expr::Subquery(query) => {
                let out = self.query(query, scope);
                return match out.columns().as_deref() {
                    Some([(_, col)]) => col.clone(),
                    _ => Col::derived(out.all()),
                };
            }
            _ => {}
        }
        Col::derived(self.sources(expr, scope))
    }

    /// Every source `expr` depends on.
    pub(super) fn sources(&mut self, expr: &Expr, scope: &Scope<'_>) -> Vec<Source> {
        let mut out = Sources::default();
        self.walk(expr, scope, OUT, &mut out);
        out.into_vec()
    }

    /// Records the sources of a filter, join condition or sort key as predicates.
    pub(super) fn predicate(&mut self, expr: &Expr, scope: &Scope<'_>) {
        let mut out = Sources::default();
        self.walk(expr, scope, PRED, &mut out);
    }

    /// Records sort keys as predicates.
    pub(super) fn order_predicates(&mut self, order: &[OrderByExpr], scope: &Scope<'_>) {
        for o in order {
            self.predicate(&o.expr, scope);
        }
    }

    fn emit(&mut self, sources: &[Source], dest: Dest, out: &mut Sources) {
        if dest.out {
            out.extend(sources);
        }
        if dest.pred {
            self.predicates.extend(sources);
        }
        if dest.copy {
            self.copied.extend(sources);
        }
    }

    /// A column reference (`x`, `t.x`, `s.t.x`), or `None` when `expr` is none.
    fn reference(&mut self, expr: &Expr, scope: &Scope<'_>) -> Option<Col> {
        match expr {
            Expr::Identifier(ident) => {
                if self.dialect == Dialect::MySql && ident.quote_style.is_none() {
                    if ident.value.starts_with("@@") {
                        // A system variable: not data from any table.
                        return Some(Col::default());
                    }
                    if ident.value.starts_with('@') {
                        // A user variable may hold anything an earlier statement put there.
                        return Some(Col::opaque());
                    }
                }
                let name = normalize_ident(ident);
                let mut col = scope.resolve_column(&name);
                if self.dialect == Dialect::Postgres {
                    // PostgreSQL reads a relation's name used as a value as its whole row.
                    if let Some(relation) = scope.relation(std::slice::from_ref(&name)) {
                        let row = Col::derived(relation.all.clone());
                        col = Some(match col {
                            Some(c) => Col::derived(c.union(&row).sources),
                            None => row,
                        });
                    }
                }
                Some(col.unwrap_or_else(Col::opaque))
            }
            Expr::CompoundIdentifier(idents) => {
                let parts: Vec<String> = idents.iter().map(normalize_ident).collect();
                let parts = &parts[parts.len().saturating_sub(3)..];
                let Some((column, qualifier)) = parts.split_last() else {
                    return Some(Col::opaque());
                };
                let relation = scope.relation(qualifier).or_else(|| match qualifier {
                    [_, table] => scope.relation(std::slice::from_ref(table)),
                    _ => None,
                });
                Some(match relation.map(|r| r.lookup(column, MAX_STAR_CHAIN)) {
                    Some(Lookup::Definite(col) | Lookup::Maybe(col)) => col,
                    Some(Lookup::Absent) | None => Col::opaque(),
                })
            }
            _ => None,
        }
    }

    /// Every column of the relation `name` names, or opaque when it names none.
    fn relation_all(&self, name: &ObjectName, scope: &Scope<'_>) -> Vec<Source> {
        let parts = name_parts(name);
        let parts = &parts[parts.len().saturating_sub(2)..];
        match scope.relation(parts) {
            Some(r) => r.all.clone(),
            None => vec![Source::Opaque],
        }
    }

    /// Every column of every FROM item of the innermost level (an unqualified `*`).
    fn level_all(scope: &Scope<'_>) -> Vec<Source> {
        let mut all = Sources::default();
        for r in &scope.relations {
            all.extend(&r.all);
        }
        all.into_vec()
    }

    fn walk<'e>(&mut self, root: &'e Expr, scope: &Scope<'_>, dest: Dest, out: &mut Sources) {
        let mut work: Vec<(&'e Expr, Dest)> = vec![(root, dest)];
        while let Some((expr, dest)) = work.pop() {
            let pred = Dest {
                out: false,
                pred: true,
                copy: false,
            };
            match expr {
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                    let col = self.reference(expr, scope).unwrap_or_else(Col::opaque);
                    self.emit(&col.sources, dest, out);
                }
                Expr::Value(_) | Expr::TypedString(_) => {}
                Expr::Wildcard(_) => {
                    let all = Self::level_all(scope);
                    self.emit(&all, dest, out);
                }
                Expr::QualifiedWildcard(name, _) => {
                    let all = self.relation_all(name, scope);
                    self.emit(&all, dest, out);
                }
                Expr::Subquery(query) => {
                    let all = self.query(query, scope).all();
                    self.emit(&all, dest, out);
                }
                Expr::Exists { subquery, .. } => {
                    // Only whether a row exists: the subquery's own filters are predicates.
                    let _ = self.query(subquery, scope);
                }
                Expr::InSubquery { expr, subquery, .. } => {
                    work.push((expr, dest));
                    let all = self.query(subquery, scope).all();
                    self.emit(&all, dest, out);
                }
                Expr::BinaryOp { left, op, right } => {
                    let assigns_variable = self.dialect == Dialect::MySql
                        && matches!(op, BinaryOperator::Assignment)
                        && matches!(left.as_ref(), Expr::Identifier(i) if i.value.starts_with('@'));
                    if assigns_variable {
                        if self.copies_into.is_none() {
                            self.copies_into = Some(super::CopyTarget::UserVariable);
                        }
                        work.push((right, Dest { copy: true, ..dest }));
                    } else {
                        work.push((right, dest));
                        work.push((left, dest));
                    }
                }
                Expr::Function(f) => {
                    let name = f
                        .name
                        .0
                        .last()
                        .and_then(|p| p.as_ident())
                        .map(|i| i.value.to_ascii_lowercase())
                        .unwrap_or_default();
                    // What a function sluice does not model returns cannot be attributed.
                    if crate::calls::of_expr(self.dialect, expr).is_some() {
                        self.emit(&[Source::Opaque], dest, out);
                    }
                    // PostgreSQL's `set_config(name, value, …)` keeps the value in a setting
                    // that `current_setting` or `SHOW` read back later: a copy.
                    let dest = if self.dialect == Dialect::Postgres && name == "set_config" {
                        if self.copies_into.is_none() {
                            self.copies_into = Some(super::CopyTarget::UserVariable);
                        }
                        Dest { copy: true, ..dest }
                    } else {
                        dest
                    };
                    for args in [&f.parameters, &f.args] {
                        match args {
                            FunctionArguments::None => {}
                            FunctionArguments::Subquery(query) => {
                                let all = self.query(query, scope).all();
                                self.emit(&all, dest, out);
                            }
                            FunctionArguments::List(list) => {
                                // MariaDB's `NEXTVAL(seq)`: the argument names a sequence.
                                let names_sequence = self.dialect == Dialect::MySql
                                    && matches!(name.as_str(), "nextval" | "lastval" | "setval");
                                for (position, arg) in list.args.iter().enumerate() {
                                    if names_sequence && position == 0 {
                                        continue;
                                    }
                                    let arg = match arg {
                                        FunctionArg::Named { arg, .. } => arg,
                                        FunctionArg::ExprNamed { name, arg, .. } => {
                                            work.push((name, dest));
                                            arg
                                        }
                                        FunctionArg::Unnamed(arg) => arg,
                                    };
                                    match arg {
                                        FunctionArgExpr::Expr(e) => work.push((e, dest)),
                                        FunctionArgExpr::QualifiedWildcard(n) => {
                                            let all = self.relation_all(n, scope);
                                            self.emit(&all, dest, out);
                                        }
                                        // count(*) counts rows; it reads no column.
                                        FunctionArgExpr::Wildcard
                                        | FunctionArgExpr::WildcardWithOptions(_)
                                            if name == "count" => {}
                                        FunctionArgExpr::Wildcard
                                        | FunctionArgExpr::WildcardWithOptions(_) => {
                                            let all = Self::level_all(scope);
                                            self.emit(&all, dest, out);
                                        }
                                    }
                                }
                                push_clauses(&mut work, &list.clauses, dest);
                            }
                        }
                    }
                    if let Some(filter) = &f.filter {
                        work.push((filter, pred));
                    }
                    // `percentile_disc(0) WITHIN GROUP (ORDER BY x)` and `mode() WITHIN GROUP
                    // (ORDER BY x)` return one of the x: the sort key is the value.
                    push_order(&mut work, &f.within_group, Dest { pred: true, ..dest });
                    if let Some(WindowType::WindowSpec(spec)) = &f.over {
                        push_window(&mut work, spec, pred);
                    }
                }
                Expr::Case {
                    operand,
                    conditions,
                    else_result,
                    ..
                } => {
                    work.extend(operand.iter().map(|e| (e.as_ref(), dest)));
                    for when in conditions {
                        work.push((&when.condition, dest));
                        work.push((&when.result, dest));
                    }
                    work.extend(else_result.iter().map(|e| (e.as_ref(), dest)));
                }
                Expr::CompoundFieldAccess { root, access_chain } => {
                    work.push((root, dest));
                    for access in access_chain {
                        match access {
                            // `.field` names a field, not a column.
                            AccessExpr::Dot(_) => {}
                            AccessExpr::Subscript(Subscript::Index { index }) => {
                                work.push((index, dest))
                            }
                            AccessExpr::Subscript(Subscript::Slice {
                                lower_bound,
                                upper_bound,
                                stride,
                            }) => {
                                for e in [lower_bound, upper_bound, stride].into_iter().flatten() {
                                    work.push((e, dest));
                                }
                            }
                        }
                    }
                }
                Expr::MatchAgainst { columns, .. } => {
                    for c in columns {
                        let mut idents: Vec<_> =
                            c.0.iter().filter_map(|p| p.as_ident().cloned()).collect();
                        let e = match idents.len() {
                            1 => Expr::Identifier(idents.remove(0)),
                            _ => Expr::CompoundIdentifier(idents),
                        };
                        let col = self.reference(&e, scope).unwrap_or_else(Col::opaque);
                        self.emit(&col.sources, dest, out);
                    }
                }
                Expr::JsonAccess { value: e, .. }
                | Expr::IsFalse(e)
                | Expr::IsNotFalse(e)
                | Expr::IsTrue(e)
                | Expr::IsNotTrue(e)
                | Expr::IsNull(e)
                | Expr::IsNotNull(e)
                | Expr::IsUnknown(e)
                | Expr::IsNotUnknown(e)
                | Expr::IsJson { expr: e, .. }
                | Expr::IsNormalized { expr: e, .. }
                | Expr::UnaryOp { expr: e, .. }
                | Expr::Cast { expr: e, .. }
                | Expr::Extract { expr: e, .. }
                | Expr::Ceil { expr: e, .. }
                | Expr::Floor { expr: e, .. }
                | Expr::Collate { expr: e, .. }
                | Expr::Nested(e)
                | Expr::Prefixed { value: e, .. }
                | Expr::Named { expr: e, .. }
                | Expr::OuterJoin(e)
                | Expr::Prior(e) => work.push((e, dest)),
                Expr::Interval(i) => work.push((&i.value, dest)),
                Expr::Lambda(l) => work.push((&l.body, dest)),
                Expr::IsDistinctFrom(a, b)
                | Expr::IsNotDistinctFrom(a, b)
                | Expr::AtTimeZone {
                    timestamp: a,
                    time_zone: b,
                }
                | Expr::Position { expr: a, r#in: b }
                | Expr::InUnnest {
                    expr: a,
                    array_expr: b,
                    ..
                }
                | Expr::RLike {
                    expr: a,
                    pattern: b,
                    ..
                }
                | Expr::AnyOp {
                    left: a, right: b, ..
                }
                | Expr::AllOp {
                    left: a, right: b, ..
                } => {
                    work.push((b, dest));
                    work.push((a, dest));
                }
                Expr::MemberOf(m) => {
                    work.push((&m.array, dest));
                    work.push((&m.value, dest));
                }
                Expr::Like {
                    expr,
                    pattern,
                    escape_char,
                    ..
                }
                | Expr::ILike {
                    expr,
                    pattern,
                    escape_char,
                    ..
                }
                | Expr::SimilarTo {
                    expr,
                    pattern,
                    escape_char,
                    ..
                } => {
                    work.extend(escape_char.iter().map(|e| (e.as_ref(), dest)));
                    work.push((pattern, dest));
                    work.push((expr, dest));
                }
                Expr::InList { expr, list, .. } => {
                    work.extend(list.iter().map(|e| (e, dest)));
                    work.push((expr, dest));
                }
                Expr::Between {
                    expr, low, high, ..
                } => {
                    work.push((high, dest));
                    work.push((low, dest));
                    work.push((expr, dest));
                }
                Expr::Convert { expr, styles, .. } => {
                    work.extend(styles.iter().map(|e| (e, dest)));
                    work.push((expr, dest));
                }
                Expr::Substring {
                    expr,
                    substring_from,
                    substring_for,
                    ..
                } => {
                    for e in [substring_for, substring_from].into_iter().flatten() {
                        work.push((e, dest));
                    }
                    work.push((expr, dest));
                }
                Expr::Trim {
                    expr,
                    trim_what,
                    trim_characters,
                    ..
                } => {
                    work.extend(trim_characters.iter().flatten().map(|e| (e, dest)));
                    work.extend(trim_what.iter().map(|e| (e.as_ref(), dest)));
                    work.push((expr, dest));
                }
                Expr::Overlay {
                    expr,
                    overlay_what,
                    overlay_from,
                    overlay_for,
                } => {
                    work.extend(overlay_for.iter().map(|e| (e.as_ref(), dest)));
                    work.push((overlay_from, dest));
                    work.push((overlay_what, dest));
                    work.push((expr, dest));
                }
                Expr::GroupingSets(lists) | Expr::Cube(lists) | Expr::Rollup(lists) => {
                    work.extend(lists.iter().flatten().map(|e| (e, dest)));
                }
                Expr::Tuple(list) | Expr::Struct { values: list, .. } => {
                    work.extend(list.iter().map(|e| (e, dest)));
                }
                Expr::Array(array) => work.extend(array.elem.iter().map(|e| (e, dest))),
                Expr::Dictionary(fields) => {
                    work.extend(fields.iter().map(|f| (f.value.as_ref(), dest)));
                }
                Expr::Map(map) => {
                    for entry in &map.entries {
                        work.push((&entry.value, dest));
                        work.push((&entry.key, dest));
                    }
                }
            }
        }
    }
}

/// The clauses inside a call's parentheses (`string_agg(x, ',' ORDER BY y)`,
/// `GROUP_CONCAT(x ORDER BY y SEPARATOR ',')`, `LISTAGG(… ON OVERFLOW TRUNCATE filler)`).
///
/// Fail closed: a clause with an expression counts into the value unless it is known to only
/// filter rows. An ORDER BY inside an aggregate decides which value comes first (or, for some
/// aggregates, which value comes out at all), so it is a source of the value as well as a key.
fn push_clauses<'e>(
    work: &mut Vec<(&'e Expr, Dest)>,
    clauses: &'e [FunctionArgumentClause],
    dest: Dest,
) {
    let pred = Dest {
        out: false,
        pred: true,
        copy: false,
    };
    let value_and_key = Dest { pred: true, ..dest };
    for clause in clauses {
        match clause {
            FunctionArgumentClause::Where(e) => work.push((e, pred)),
            FunctionArgumentClause::OrderBy(order) => push_order(work, order, value_and_key),
            FunctionArgumentClause::Limit(e) => work.push((e, dest)),
            FunctionArgumentClause::Having(HavingBound(_, e)) => work.push((e, value_and_key)),
            FunctionArgumentClause::OnOverflow(ListAggOnOverflow::Truncate {
                filler: Some(e),
                ..
            }) => work.push((e, dest)),
            // No expression: a constant separator, a null treatment, a JSON option or type.
            FunctionArgumentClause::OnOverflow(_)
            | FunctionArgumentClause::IgnoreOrRespectNulls(_)
            | FunctionArgumentClause::Separator(_)
            | FunctionArgumentClause::JsonNullClause(_)
            | FunctionArgumentClause::JsonReturningClause(_) => {}
        }
    }
}

/// Sort keys, and the expressions of their `WITH FILL`, which produce rows of their own.
fn push_order<'e>(work: &mut Vec<(&'e Expr, Dest)>, order: &'e [OrderByExpr], dest: Dest) {
    for o in order {
        work.push((&o.expr, dest));
        if let Some(fill) = &o.with_fill {
            let filled = Dest { pred: true, ..dest };
            for e in [&fill.from, &fill.to, &fill.step].into_iter().flatten() {
                work.push((e, filled));
            }
        }
    }
}

fn push_window<'e>(work: &mut Vec<(&'e Expr, Dest)>, spec: &'e WindowSpec, pred: Dest) {
    work.extend(spec.partition_by.iter().map(|e| (e, pred)));
    push_order(work, &spec.order_by, pred);
    if let Some(frame) = &spec.window_frame {
        for bound in std::iter::once(&frame.start_bound).chain(frame.end_bound.as_ref()) {
            if let WindowFrameBound::Preceding(Some(e)) | WindowFrameBound::Following(Some(e)) =
                bound
            {
                work.push((e, pred));
            }
        }
    }
}

/// Records a named window's keys (`WINDOW w AS (PARTITION BY …)`) as predicates.
pub(super) fn window_predicates(ctx: &mut Ctx, spec: &WindowSpec, scope: &Scope<'_>) {
    let mut work = Vec::new();
    push_window(&mut work, spec, PRED);
    for (e, _) in work {
        ctx.predicate(e, scope);
    }
}
