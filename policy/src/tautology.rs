//! Does a WHERE clause really bound the rows an UPDATE or DELETE touches?
//!
//! `DELETE FROM t WHERE 1=1` is the classic way to get an unbounded delete past a naive
//! "must have a WHERE" check, so predicates are folded as constants. The folding is
//! deliberately one-sided: it may call a bounded predicate a tautology (the statement then goes
//! to review), but it must not call a tautology bounded. Recursion follows the parsed AST, whose
//! depth the parser already limited.

use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value};

/// A constant value, as far as folding needs one.
#[derive(Clone, Debug, PartialEq)]
enum Const {
    Bool(bool),
    Number(f64),
    Text(String),
    Null,
}

impl Const {
    /// SQL truthiness: MySQL treats non-zero numbers as true (`WHERE 1`), and so does this,
    /// for both dialects, because PostgreSQL rejects such a WHERE anyway.
    fn truthy(&self) -> Option<bool> {
        match self {
            Const::Bool(b) => Some(*b),
            Const::Number(n) => Some(*n != 0.0),
            Const::Text(t) => t.trim().parse::<f64>().ok().map(|n| n != 0.0),
            Const::Null => None,
        }
    }
}

/// How deep constant folding may look. Deeper literal-only expressions (`1+1+…+1 = 500`) count
/// as tautologies: an expression nobody writes by hand must not buy a pass.
const MAX_FOLD_DEPTH: usize = 64;

/// True when `predicate` holds for every row (or every row with non-NULL columns, which is
/// still "every row" as far as an accidental mass update is concerned).
pub(crate) fn is_tautology(predicate: &Expr) -> bool {
    let mut folder = Folder::default();
    let result = folder.is_tautology(predicate);
    result || folder.too_deep
}

/// True when `predicate` is a constant that holds for no row (`1 = 2`, `false`, `NULL`): as a
/// term of an OR it widens nothing.
pub(crate) fn never_holds(predicate: &Expr) -> bool {
    let mut folder = Folder::default();
    matches!(folder.fold(strip_parens(predicate), 0), Some(c) if c.truthy() != Some(true))
}

/// True when whether `predicate` is a tautology could depend on the values of its number or
/// string literals, so that statements differing only in those literals (one
/// [`crate::Shape`]) must not share the verdict: `1 = 1` and `1 = 2`, `x LIKE '%'` and
/// `x LIKE 'a%'`, `x OR 1` and `x OR 0`. The one literal that never matters is an operand
/// of a comparison whose other side is a plain column (`aid = 17`, `id IN (1, 2)`,
/// `d BETWEEN 1 AND 5`): the folder never treats such a comparison as constant.
pub(crate) fn depends_on_literals(predicate: &Expr) -> bool {
    depends_on_values(predicate, false)
}

/// Like [`depends_on_literals`], for the values bound to parameters: `id = $1` never matters,
/// `coalesce($1, id)` or `v LIKE $1` may.
pub(crate) fn depends_on_parameters(predicate: &Expr) -> bool {
    depends_on_values(predicate, true)
}

fn depends_on_values(predicate: &Expr, parameters: bool) -> bool {
    use sqlparser::ast::Visit;
    use std::collections::HashSet;
    use std::ops::ControlFlow;

    fn is_column(e: &Expr) -> bool {
        matches!(
            strip_parens(e),
            Expr::Identifier(_) | Expr::CompoundIdentifier(_)
        )
    }
    /// A literal, possibly negated: `17`, `'x'`, `-3`.
    fn literal(e: &Expr) -> Option<&Expr> {
        match e {
            Expr::Value(_) => Some(e),
            Expr::UnaryOp {
                op: UnaryOperator::Minus | UnaryOperator::Plus,
                expr,
            } if matches!(**expr, Expr::Value(_)) => Some(expr),
            _ => None,
        }
    }
    #[derive(Default)]
    struct Finder {
        /// Literals compared with a plain column, by address.
        harmless: HashSet<usize>,
        found: bool,
        /// Look for parameters rather than literals.
        parameters: bool,
    }
    impl sqlparser::ast::Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            let mut harmless = |e: &Expr| {
                if let Some(l) = literal(e) {
                    self.harmless.insert(std::ptr::from_ref(l) as usize);
                }
            };
            match expr {
                Expr::BinaryOp {
                    left,
                    op:
                        BinaryOperator::Eq
                        | BinaryOperator::NotEq
                        | BinaryOperator::Lt
                        | BinaryOperator::LtEq
                        | BinaryOperator::Gt
                        | BinaryOperator::GtEq,
                    right,
                } => {
                    if is_column(left) {
                        harmless(right);
                    }
                    if is_column(right) {
                        harmless(left);
                    }
                }
                Expr::InList { expr, list, .. } if is_column(expr) => {
                    list.iter().for_each(harmless)
                }
                Expr::Between {
                    expr, low, high, ..
                } if is_column(expr) => {
                    harmless(low);
                    harmless(high);
                }
                Expr::Value(v)
                    if (if self.parameters {
                        matches!(v.value, Value::Placeholder(_))
                    } else {
                        !matches!(
                            v.value,
                            Value::Boolean(_) | Value::Null | Value::Placeholder(_)
                        )
                    }) && !self.harmless.contains(&(std::ptr::from_ref(expr) as usize)) =>
                {
                    self.found = true;
                    return ControlFlow::Break(());
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder {
        parameters,
        ..Finder::default()
    };
    let _ = predicate.visit(&mut finder);
    finder.found
}

/// The operands of a chain of `op` (`a AND b AND c` → `[a, b, c]`), found iteratively:
/// sqlparser builds long chains as left-deep trees, too deep to walk recursively.
pub(crate) fn chain<'e>(expr: &'e Expr, op: &BinaryOperator) -> Vec<&'e Expr> {
    let mut operands = Vec::new();
    let mut pending = vec![expr];
    while let Some(e) = pending.pop() {
        match strip_parens(e) {
            Expr::BinaryOp {
                left,
                op: this,
                right,
            } if this == op => {
                pending.push(right);
                pending.push(left);
            }
            other => operands.push(other),
        }
    }
    operands
}

pub(crate) fn strip_parens(mut expr: &Expr) -> &Expr {
    while let Expr::Nested(inner) = expr {
        expr = inner;
    }
    expr
}

/// `expr` without what cannot change its value (or is taken not to, failing closed):
/// parentheses, casts, `+x`, `-(-x)`, `+ 0`, `- 0`, `* 1`, `/ 1`, `DIV 1`, `x IS TRUE`,
/// `x = true`, one-argument `coalesce`/`least`/`greatest`, `greatest(x, x)`, `coalesce(x, …)`,
/// `ifnull(x, …)`, `nullif(x, …)`, `CASE WHEN true THEN x END` and `(SELECT x)` (so
/// `id = id + 0` is seen as `id = id`).
fn without_no_ops(mut expr: &Expr) -> &Expr {
    // A number, cast or quoted as it may be (`0::int2`, `'0'` bound for a parameter).
    let is = |e: &Expr, n: &str| {
        let mut e = strip_parens(e);
        while let Expr::Cast { expr, .. } = e {
            e = strip_parens(expr);
        }
        matches!(e, Expr::Value(v) if matches!(&v.value, Value::Number(x, _) | Value::SingleQuotedString(x) if x == n))
    };
    let is_true =
        |e: &Expr| matches!(strip_parens(e), Expr::Value(v) if v.value == Value::Boolean(true));
    loop {
        expr = match strip_parens(expr) {
            Expr::Cast { expr, .. }
            | Expr::Collate { expr, .. }
            | Expr::IsTrue(expr)
            | Expr::UnaryOp {
                op: UnaryOperator::Plus,
                expr,
            } => expr,
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr: inner,
            } => match strip_parens(inner) {
                Expr::UnaryOp {
                    op: UnaryOperator::Minus,
                    expr,
                } => expr,
                _ => return strip_parens(expr),
            },
            Expr::BinaryOp { left, op, right } => match op {
                BinaryOperator::Plus | BinaryOperator::Minus if is(right, "0") => left,
                BinaryOperator::Plus if is(left, "0") => right,
                BinaryOperator::Multiply
                | BinaryOperator::Divide
                | BinaryOperator::MyIntegerDivide
                    if is(right, "1") =>
                {
                    left
                }
                BinaryOperator::Multiply if is(left, "1") => right,
                BinaryOperator::BitwiseOr
                | BinaryOperator::BitwiseXor
                | BinaryOperator::PGBitwiseXor
                    if is(right, "0") =>
                {
                    left
                }
                BinaryOperator::Eq if is_true(right) => left,
                BinaryOperator::StringConcat if is_empty_text(right) => left,
                BinaryOperator::StringConcat if is_empty_text(left) => right,
                _ => return strip_parens(expr),
            },
            Expr::Function(f) => match first_argument(f) {
                Some(first) => first,
                None => return strip_parens(expr),
            },
            // `CASE WHEN <always true> THEN x … END` is `x`.
            Expr::Case {
                operand: None,
                conditions,
                ..
            } if conditions
                .first()
                .is_some_and(|c| is_true(&c.condition) || is_tautology(&c.condition)) =>
            {
                &conditions[0].result
            }
            Expr::Subquery(q) => match scalar_without_from(q) {
                Some(e) => e,
                None => return strip_parens(expr),
            },
            other => return other,
        };
    }
}

/// The argument a call returns unchanged (or is taken to): `coalesce(x)`, `least(x)`,
/// `greatest(x, x)`, `coalesce(x, …)`, `ifnull(x, …)`, `nullif(x, …)`.
fn first_argument(f: &sqlparser::ast::Function) -> Option<&Expr> {
    use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args: Vec<&Expr> = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect::<Option<_>>()?;
    let name = f.name.0.last()?.as_ident()?.value.to_ascii_lowercase();
    // NULL arguments change nothing here: `coalesce(NULL, x)` is `x`, `greatest(x, NULL)` too.
    let args: Vec<&Expr> = args.into_iter().filter(|a| !is_null(a)).collect();
    let first = *args.first()?;
    let all_same = args.iter().all(|a| same(a, first));
    match name.as_str() {
        "coalesce" | "ifnull" | "nullif" | "nvl" | "isnull" => Some(first),
        // MySQL `IF(<always true>, x, …)`.
        "if" if args.len() == 3 && is_tautology(args[0]) => Some(args[1]),
        "least" | "greatest" if all_same => Some(first),
        _ => None,
    }
}

fn is_null(e: &Expr) -> bool {
    matches!(strip_parens(e), Expr::Value(v) if v.value == Value::Null)
}

/// `coalesce(p, x)` (or `ifnull`, `nvl`) may be `x` itself: when `p` is NULL, a bound parameter
/// for one. Comparing it with `x` is taken as comparing `x` with itself.
fn may_be(call: &Expr, x: &Expr) -> bool {
    calls_with(call, &["coalesce", "ifnull", "nvl", "isnull"], x)
}

/// Whether `call` is one of `functions` with `x` among its arguments.
fn calls_with(call: &Expr, functions: &[&str], x: &Expr) -> bool {
    use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let Expr::Function(f) = strip_parens(call) else {
        return false;
    };
    let named = f
        .name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .is_some_and(|i| functions.iter().any(|n| i.value.eq_ignore_ascii_case(n)));
    let FunctionArguments::List(list) = &f.args else {
        return false;
    };
    named
        && list
            .args
            .iter()
            .any(|a| matches!(a, FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) if same(e, x)))
}

/// `(SELECT x)`: a subquery without FROM that only passes one value through.
fn scalar_without_from(q: &sqlparser::ast::Query) -> Option<&Expr> {
    use sqlparser::ast::{SelectItem, SetExpr};
    match q.body.as_ref() {
        SetExpr::Select(s) if s.from.is_empty() && s.selection.is_none() => {
            match s.projection.as_slice() {
                [SelectItem::UnnamedExpr(e)] => Some(e),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The same expression once no-ops are set aside. Volatile calls (`random() = random()`)
/// count as the same too: calling a bounded predicate a tautology is the safe mistake.
fn same(a: &Expr, b: &Expr) -> bool {
    without_no_ops(a) == without_no_ops(b)
}

/// `x IS NULL` / `x IS NOT NULL`, `p` / `NOT p`: one of the two holds for every row.
fn complementary(a: &Expr, b: &Expr) -> bool {
    fn not(e: &Expr) -> Option<&Expr> {
        match strip_parens(e) {
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => Some(strip_parens(expr)),
            _ => None,
        }
    }
    // `(v = 'a') IS NOT NULL` holds exactly where `v IS NOT NULL` does.
    fn nullable_part(e: &Expr) -> &Expr {
        match strip_parens(e) {
            Expr::BinaryOp { left, right, .. } if !has_column(right) => nullable_part(left),
            Expr::BinaryOp { left, right, .. } if !has_column(left) => nullable_part(right),
            other => other,
        }
    }
    match (strip_parens(a), strip_parens(b)) {
        (Expr::IsNull(x), Expr::IsNotNull(y)) | (Expr::IsNotNull(x), Expr::IsNull(y)) => {
            same(nullable_part(x), nullable_part(y))
        }
        (Expr::IsNotTrue(x), y) | (y, Expr::IsNotTrue(x)) if same(x, y) => true,
        (
            Expr::BinaryOp {
                left: l1,
                op: BinaryOperator::Eq,
                right: r1,
            },
            Expr::BinaryOp {
                left: l2,
                op: BinaryOperator::NotEq,
                right: r2,
            },
        )
        | (
            Expr::BinaryOp {
                left: l2,
                op: BinaryOperator::NotEq,
                right: r2,
            },
            Expr::BinaryOp {
                left: l1,
                op: BinaryOperator::Eq,
                right: r1,
            },
        ) if same(l1, l2) && same(r1, r2) => true,
        (x, y) => not(x).is_some_and(|x| x == y) || not(y).is_some_and(|y| y == x),
    }
}

/// `x IN (…, x, …)` and `x IN (SELECT x)`: the value is always among its own list.
fn member_of_itself(expr: &Expr) -> bool {
    match strip_parens(expr) {
        Expr::InList {
            expr,
            list,
            negated: false,
        } => list.iter().any(|e| same(e, expr)),
        Expr::InSubquery {
            expr,
            subquery,
            negated: false,
        } => match subquery.body.as_ref() {
            sqlparser::ast::SetExpr::Select(select) if select.from.is_empty() => {
                matches!(select.projection.as_slice(), [sqlparser::ast::SelectItem::UnnamedExpr(e)] if same(e, expr))
            }
            // `x IN (VALUES (x))`.
            sqlparser::ast::SetExpr::Values(values) => values
                .rows
                .iter()
                .any(|row| matches!(row.as_slice(), [e] if same(e, expr))),
            _ => false,
        },
        _ => false,
    }
}

#[derive(Default)]
struct Folder {
    too_deep: bool,
}

impl Folder {
    fn is_tautology(&mut self, predicate: &Expr) -> bool {
        match strip_parens(predicate) {
            e @ Expr::BinaryOp {
                op: BinaryOperator::Or,
                ..
            } => {
                let disjuncts = chain(e, &BinaryOperator::Or);
                disjuncts
                    .iter()
                    .enumerate()
                    .any(|(i, a)| disjuncts[i + 1..].iter().any(|b| complementary(a, b)))
                    || disjuncts.into_iter().any(|d| self.is_tautology_operand(d))
            }
            e @ Expr::BinaryOp {
                op: BinaryOperator::And,
                ..
            } => chain(e, &BinaryOperator::And)
                .into_iter()
                .all(|c| self.is_tautology_operand(c)),
            other => self.is_tautology_operand(other),
        }
    }

    /// A chain operand: never itself a chain of the same operator, so recursing into
    /// `is_tautology` from here alternates AND/OR and stays as shallow as the parentheses,
    /// which the parser's recursion limit bounds.
    fn is_tautology_operand(&mut self, expr: &Expr) -> bool {
        // `(p) = true` and `p IS TRUE` are `p`.
        match without_no_ops(expr) {
            e @ Expr::BinaryOp {
                op: BinaryOperator::Or | BinaryOperator::And,
                ..
            } => self.is_tautology(e),
            // `x = x`, `x <= x`, `f(x) = f(x) + 0`, `x <=> x`: true for every row where x is
            // not NULL.
            Expr::BinaryOp { left, op, right }
                if matches!(
                    op,
                    BinaryOperator::Eq
                        | BinaryOperator::LtEq
                        | BinaryOperator::GtEq
                        | BinaryOperator::Spaceship
                ) && same(left, right) =>
            {
                true
            }
            // `x - x = 0`.
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } if is_zero_difference(left) || is_zero_difference(right) => {
                matches!(self.fold(right, 0).or_else(|| self.fold(left, 0)), Some(Const::Number(n)) if n == 0.0)
            }
            // `NOT x <> x`, `NOT x < x`.
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } if matches!(strip_parens(expr), Expr::BinaryOp { left, op: BinaryOperator::NotEq | BinaryOperator::Lt | BinaryOperator::Gt, right } if same(left, right)) => {
                true
            }
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } if same(expr, low) && same(expr, high) => true,
            // `x LIKE x`, `x ~ ''`, `x REGEXP ''`: match every non-NULL x.
            Expr::Like {
                negated: false,
                expr,
                pattern,
                ..
            } if same(expr, pattern) => true,
            Expr::RLike {
                negated: false,
                pattern,
                ..
            } if self.matches_everything(pattern) => true,
            Expr::BinaryOp {
                op:
                    BinaryOperator::PGRegexMatch
                    | BinaryOperator::PGRegexIMatch
                    | BinaryOperator::Regexp,
                right,
                ..
            } if self.matches_everything(right) => true,
            // `x = ANY(ARRAY[x, …])`.
            Expr::AnyOp {
                left,
                compare_op: BinaryOperator::Eq,
                right,
                ..
            } if matches!(strip_parens(right), Expr::Array(a) if a.elem.iter().any(|e| same(e, left))) => {
                true
            }
            // `EXISTS (SELECT 1 [WHERE <tautology>])` without FROM.
            Expr::Exists {
                subquery,
                negated: false,
            } if matches!(subquery.body.as_ref(), sqlparser::ast::SetExpr::Select(s) if s.from.is_empty() && s.selection.as_ref().is_none_or(is_tautology)) => {
                true
            }
            Expr::IsNotDistinctFrom(left, right) if same(left, right) => true,
            // `ISNULL(id) IS NOT NULL`, `(id IS NULL) IS NOT NULL`.
            Expr::IsNotNull(inner) if never_null(inner) => true,
            Expr::BinaryOp {
                left,
                op: BinaryOperator::GtEq,
                right,
            } if count_at_least_nothing(left, right) => true,
            Expr::Exists {
                subquery,
                negated: false,
            } if exists_over_values(subquery) => true,
            // `x = coalesce(NULL, x)`, `x = coalesce($1, x)`.
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq | BinaryOperator::LtEq | BinaryOperator::GtEq,
                right,
            } if may_be(left, right) || may_be(right, left) => true,
            // `NOT (x IS DISTINCT FROM x)`.
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } if matches!(strip_parens(expr), Expr::IsDistinctFrom(l, r) if same(l, r)) => true,
            // `x + 1 > x`, `x < x + 1`.
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Gt | BinaryOperator::GtEq,
                right,
            } if exceeds(left, right) => true,
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Lt | BinaryOperator::LtEq,
                right,
            } if exceeds(right, left) => true,
            // `x <> ALL('{}')`: a quantifier over nothing holds.
            Expr::AllOp { right, .. } if is_empty_array(right) => true,
            // `x >= least(x, …)`, `x <= greatest(x, …)`: at most (least) `x` where not NULL.
            Expr::BinaryOp {
                left,
                op: BinaryOperator::GtEq,
                right,
            } if calls_with(right, &["least"], left) => true,
            Expr::BinaryOp {
                left,
                op: BinaryOperator::LtEq,
                right,
            } if calls_with(right, &["greatest"], left) => true,
            Expr::SimilarTo {
                negated: false,
                pattern,
                ..
            } if matches!(self.fold(pattern, 0), Some(Const::Text(p)) if !p.is_empty() && p.chars().all(|c| c == '%')) => {
                true
            }
            e if member_of_itself(e) => true,
            // `x LIKE '%'` matches every non-NULL x.
            Expr::Like {
                negated: false,
                pattern,
                ..
            }
            | Expr::ILike {
                negated: false,
                pattern,
                ..
            } if matches!(self.fold(pattern, 0), Some(Const::Text(p)) if !p.is_empty() && p.chars().all(|c| c == '%')) => {
                true
            }
            other => self.fold(other, 0).and_then(|c| c.truthy()) == Some(true),
        }
    }

    /// A regular expression that every string matches: one that matches the empty string
    /// (`''`, `.*`, `()`, `a|`) is found in any string.
    fn matches_everything(&mut self, pattern: &Expr) -> bool {
        matches!(self.fold(pattern, 0), Some(Const::Text(p)) if regex::Regex::new(&p).is_ok_and(|r| r.is_match("")))
    }

    /// Folds an expression made only of literals into a constant.
    fn fold(&mut self, expr: &Expr, depth: usize) -> Option<Const> {
        if depth > MAX_FOLD_DEPTH {
            self.too_deep = true;
            return None;
        }
        let depth = depth + 1;
        match expr {
            Expr::Value(v) => match &v.value {
                Value::Boolean(b) => Some(Const::Bool(*b)),
                Value::Number(n, _) => n.parse::<f64>().ok().map(Const::Number),
                Value::Null => Some(Const::Null),
                Value::SingleQuotedString(s)
                | Value::DoubleQuotedString(s)
                | Value::EscapedStringLiteral(s)
                | Value::NationalStringLiteral(s) => Some(Const::Text(s.clone())),
                Value::DollarQuotedString(s) => Some(Const::Text(s.value.clone())),
                _ => None,
            },
            Expr::Nested(inner) => self.fold(inner, depth),
            Expr::Cast { expr, .. } => self.fold(expr, depth),
            Expr::UnaryOp { op, expr } => {
                let value = self.fold(expr, depth)?;
                match op {
                    UnaryOperator::Not => match value.truthy() {
                        Some(b) => Some(Const::Bool(!b)),
                        None => Some(Const::Null),
                    },
                    UnaryOperator::Minus => match value {
                        Const::Number(n) => Some(Const::Number(-n)),
                        _ => None,
                    },
                    UnaryOperator::Plus => Some(value),
                    _ => None,
                }
            }
            Expr::IsNull(inner) => self
                .fold(inner, depth)
                .map(|c| Const::Bool(c == Const::Null)),
            Expr::IsNotNull(inner) => self
                .fold(inner, depth)
                .map(|c| Const::Bool(c != Const::Null)),
            Expr::IsTrue(inner) => self
                .fold(inner, depth)
                .map(|c| Const::Bool(c.truthy() == Some(true))),
            Expr::IsNotFalse(inner) => self
                .fold(inner, depth)
                .map(|c| Const::Bool(c.truthy() != Some(false))),
            Expr::IsFalse(inner) => self
                .fold(inner, depth)
                .map(|c| Const::Bool(c.truthy() == Some(false))),
            Expr::IsNotTrue(inner) => self
                .fold(inner, depth)
                .map(|c| Const::Bool(c.truthy() != Some(true))),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::StringConcat,
                right,
            } => match (self.fold(left, depth)?, self.fold(right, depth)?) {
                (Const::Text(l), Const::Text(r)) => Some(Const::Text(l + &r)),
                _ => None,
            },
            Expr::BinaryOp { left, op, right } => {
                let left = self.fold(left, depth);
                let right = self.fold(right, depth);
                fold_binary(left, op, right)
            }
            // `concat('%')`, `concat('%', '')`: constant text.
            Expr::Function(f)
                if f.name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .is_some_and(|i| i.value.eq_ignore_ascii_case("concat")) =>
            {
                use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
                let FunctionArguments::List(list) = &f.args else {
                    return None;
                };
                let mut text = String::new();
                for a in &list.args {
                    let FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) = a else {
                        return None;
                    };
                    match self.fold(e, depth)? {
                        Const::Text(t) => text.push_str(&t),
                        Const::Number(n) => text.push_str(&n.to_string()),
                        _ => return None,
                    }
                }
                Some(Const::Text(text))
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                let needle = self.fold(expr, depth)?;
                let mut found = false;
                for item in list {
                    if compare(&needle, &self.fold(item, depth)?)? == std::cmp::Ordering::Equal {
                        found = true;
                    }
                }
                Some(Const::Bool(found != *negated))
            }
            // `x = ANY('{}')`: nothing to match.
            Expr::AnyOp { right, .. } if is_empty_array(right) => Some(Const::Bool(false)),
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let value = self.fold(expr, depth)?;
                let inside = compare(&value, &self.fold(low, depth)?)? != std::cmp::Ordering::Less
                    && compare(&value, &self.fold(high, depth)?)? != std::cmp::Ordering::Greater;
                Some(Const::Bool(inside != *negated))
            }
            // `CASE WHEN id = 1 THEN true ELSE true END`: every branch the same constant, whatever
            // the conditions (no ELSE is an ELSE NULL).
            Expr::Case {
                conditions,
                else_result,
                ..
            } => {
                let mut results = conditions.iter().map(|c| &c.result).collect::<Vec<_>>();
                let null = Expr::Value(Value::Null.into());
                results.push(else_result.as_deref().unwrap_or(&null));
                self.same_constant(&results, depth)
            }
            // MySQL `IF(c, 1, 1)`: both branches the same constant.
            Expr::Function(f) if function_named(f, &["if"]) => match function_args(f) {
                Some(args) if args.len() == 3 => self.same_constant(&args[1..], depth),
                _ => None,
            },
            _ => None,
        }
    }

    /// The constant every one of `exprs` folds to, when they all fold to the same one.
    fn same_constant(&mut self, exprs: &[&Expr], depth: usize) -> Option<Const> {
        let (first, rest) = exprs.split_first()?;
        let value = self.fold(first, depth)?;
        for e in rest {
            if self.fold(e, depth)? != value {
                return None;
            }
        }
        Some(value)
    }
}

/// Whether `f` is a call of one of `names` (unqualified or in any schema), any case.
fn function_named(f: &sqlparser::ast::Function, names: &[&str]) -> bool {
    f.name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .is_some_and(|i| names.iter().any(|n| i.value.eq_ignore_ascii_case(n)))
}

/// A call's plain positional arguments; `None` when any is named, a wildcard or a subquery.
fn function_args(f: &sqlparser::ast::Function) -> Option<Vec<&Expr>> {
    use sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect()
}

/// An expression that is never NULL whatever the row: `x IS NULL` and its kin, MySQL
/// `ISNULL(x)`, and the counts `num_nulls(…)`/`num_nonnulls(…)`.
fn never_null(e: &Expr) -> bool {
    match strip_parens(e) {
        Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsNotTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotFalse(_)
        | Expr::IsUnknown(_)
        | Expr::IsNotUnknown(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..) => true,
        Expr::Function(f) => function_named(f, &["isnull", "num_nulls", "num_nonnulls"]),
        _ => false,
    }
}

/// `num_nulls(…) >= 0`, `num_nonnulls(…) >= 0`: counts are never negative.
fn count_at_least_nothing(left: &Expr, right: &Expr) -> bool {
    let count = matches!(strip_parens(left), Expr::Function(f) if function_named(f, &["num_nulls", "num_nonnulls"]));
    let zero = matches!(strip_parens(right), Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n.parse::<f64>().is_ok_and(|n| n <= 0.0)));
    count && zero
}

/// `EXISTS (SELECT … FROM (VALUES (…)) v)`: a derived table of literal rows has rows whatever
/// they hold, so the EXISTS holds for every row (without a WHERE of its own).
fn exists_over_values(subquery: &sqlparser::ast::Query) -> bool {
    use sqlparser::ast::{SetExpr, TableFactor};
    let SetExpr::Select(s) = subquery.body.as_ref() else {
        return false;
    };
    s.selection.as_ref().is_none_or(is_tautology)
        && s.from.len() == 1
        && s.from[0].joins.is_empty()
        && matches!(&s.from[0].relation, TableFactor::Derived { subquery, .. }
            if matches!(subquery.body.as_ref(), SetExpr::Values(v) if !v.rows.is_empty()))
}

fn fold_binary(left: Option<Const>, op: &BinaryOperator, right: Option<Const>) -> Option<Const> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    match op {
        // Short-circuit: `<anything> OR true` is true even when the other side is a column.
        BinaryOperator::Or => {
            let (l, r) = (
                left.and_then(|c| c.truthy()),
                right.and_then(|c| c.truthy()),
            );
            match (l, r) {
                (Some(true), _) | (_, Some(true)) => Some(Const::Bool(true)),
                (Some(false), Some(false)) => Some(Const::Bool(false)),
                _ => None,
            }
        }
        BinaryOperator::And => {
            let (l, r) = (
                left.and_then(|c| c.truthy()),
                right.and_then(|c| c.truthy()),
            );
            match (l, r) {
                (Some(false), _) | (_, Some(false)) => Some(Const::Bool(false)),
                (Some(true), Some(true)) => Some(Const::Bool(true)),
                _ => None,
            }
        }
        _ => {
            // A comparison or arithmetic with NULL is NULL whatever the other side: `(id =
            // NULL) IS NULL` holds for every row.
            if matches!(left, Some(Const::Null)) || matches!(right, Some(Const::Null)) {
                return Some(Const::Null);
            }
            let (left, right) = (left?, right?);
            let ordering = compare(&left, &right);
            let result = match op {
                BinaryOperator::Eq | BinaryOperator::Spaceship => ordering? == Equal,
                BinaryOperator::NotEq => ordering? != Equal,
                BinaryOperator::Lt => ordering? == Less,
                BinaryOperator::LtEq => ordering? != Greater,
                BinaryOperator::Gt => ordering? == Greater,
                BinaryOperator::GtEq => ordering? != Less,
                BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply => {
                    let (Const::Number(a), Const::Number(b)) = (left, right) else {
                        return None;
                    };
                    return Some(Const::Number(match op {
                        BinaryOperator::Plus => a + b,
                        BinaryOperator::Minus => a - b,
                        _ => a * b,
                    }));
                }
                _ => return None,
            };
            Some(Const::Bool(result))
        }
    }
}

/// Compares two constants the way both databases would for the cases that matter here;
/// `None` when NULL is involved or the types do not compare.
fn compare(left: &Const, right: &Const) -> Option<std::cmp::Ordering> {
    match (left, right) {
        (Const::Number(a), Const::Number(b)) => a.partial_cmp(b),
        (Const::Text(a), Const::Text(b)) => Some(a.cmp(b)),
        (Const::Bool(a), Const::Bool(b)) => Some(a.cmp(b)),
        // MySQL compares '1' = 1 numerically; PostgreSQL casts the unknown literal.
        (Const::Text(t), Const::Number(n)) => t.trim().parse::<f64>().ok()?.partial_cmp(n),
        (Const::Number(n), Const::Text(t)) => n.partial_cmp(&t.trim().parse::<f64>().ok()?),
        (Const::Bool(b), Const::Number(n)) => f64::from(u8::from(*b)).partial_cmp(n),
        (Const::Number(n), Const::Bool(b)) => n.partial_cmp(&f64::from(u8::from(*b))),
        _ => None,
    }
}

fn is_empty_text(e: &Expr) -> bool {
    matches!(strip_parens(e), Expr::Value(v) if matches!(&v.value, Value::SingleQuotedString(s) if s.is_empty()))
}

/// An empty array: `ARRAY[]`, `'{}'`, either cast.
fn is_empty_array(e: &Expr) -> bool {
    match without_no_ops(e) {
        Expr::Array(a) => a.elem.is_empty(),
        Expr::Value(v) => matches!(&v.value, Value::SingleQuotedString(s) if s.trim() == "{}"),
        _ => false,
    }
}

/// `x + c` with `c` a positive number, compared with `x`.
fn exceeds(bigger: &Expr, x: &Expr) -> bool {
    let positive = |e: &Expr| matches!(strip_parens(e), Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n.parse::<f64>().is_ok_and(|n| n > 0.0)));
    matches!(strip_parens(bigger), Expr::BinaryOp { left, op: BinaryOperator::Plus, right }
        if (same(left, x) && positive(right)) || (same(right, x) && positive(left)))
}

/// `x - x`, `x * 0`: zero wherever x is not NULL.
fn is_zero_difference(e: &Expr) -> bool {
    let zero = |e: &Expr| matches!(strip_parens(e), Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n.parse::<f64>() == Ok(0.0)));
    matches!(strip_parens(e), Expr::BinaryOp { left, op: BinaryOperator::Minus, right } if same(left, right))
        || matches!(strip_parens(e), Expr::BinaryOp { left, op: BinaryOperator::Multiply, right } if zero(left) || zero(right))
}

/// Whether `e` names a column anywhere.
fn has_column(e: &Expr) -> bool {
    use sqlparser::ast::Visit;
    struct Finder;
    impl sqlparser::ast::Visitor for Finder {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> std::ops::ControlFlow<()> {
            match e {
                Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                    std::ops::ControlFlow::Break(())
                }
                _ => std::ops::ControlFlow::Continue(()),
            }
        }
    }
    e.visit(&mut Finder).is_break()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::{MySqlDialect, PostgreSqlDialect};
    use sqlparser::parser::Parser;

    fn predicate(sql_where: &str) -> Expr {
        let sql = format!("DELETE FROM t WHERE {sql_where}");
        let stmts = Parser::parse_sql(&PostgreSqlDialect {}, &sql)
            .or_else(|_| Parser::parse_sql(&MySqlDialect {}, &sql))
            .expect("test predicate parses");
        // Moved out, not cloned: cloning a deep expression costs a lot of stack in debug.
        match stmts.into_iter().next() {
            Some(sqlparser::ast::Statement::Delete(d)) => d.selection.expect("has where"),
            _ => panic!("not a delete"),
        }
    }

    #[test]
    fn literal_dependence() {
        for p in [
            "aid = 17",
            "17 = aid",
            "t.id <> -3 AND name = 'x'",
            "id IN (1, 2, 3) OR d BETWEEN 1 AND 5",
            "a = $1 AND b IS NULL AND c = true",
        ] {
            assert!(!depends_on_literals(&predicate(p)), "{p}");
        }
        for p in [
            "1 = 1",
            "1 = 2",
            "id = 5 OR 1",
            "name LIKE '%'",
            "a + 1 = 2",
            "id = 5 OR 'a' = 'a'",
            "f(1) = id",
            "id IN (1, 2 + 0)",
        ] {
            assert!(depends_on_literals(&predicate(p)), "{p}");
        }
    }

    #[test]
    fn tautologies_are_recognized() {
        for p in [
            "1=1",
            "true",
            "'a'='a'",
            "1",
            "NOT false",
            "id = 5 OR 1=1",
            "(1=1)",
            "2 > 1",
            "1 <> 2",
            "1 IN (1, 2)",
            "3 BETWEEN 1 AND 5",
            "NULL IS NULL",
            "1 = 1 AND 2 = 2",
            "id = id",
            "name LIKE '%'",
            "'1' = 1",
            "1 + 1 = 2",
            "true IS TRUE",
            "NOT (1 = 2)",
            "x > 3 OR true",
            "CAST(1 AS int) = 1",
            "-1 < 0",
            "a = 1 OR b = 2 OR 1 = 1 OR c = 3",
            "(a = 1 AND 1 = 1) OR (2 = 2 AND 3 = 3)",
            // The black-box attacker's second round.
            "CASE WHEN id = 1 THEN true ELSE true END",
            "(CASE WHEN id = 1 THEN 1 ELSE 1 END) = 1",
            "IF(id = 1, 1, 1)",
            "num_nonnulls(id) >= 0",
            "ISNULL(id) IS NOT NULL",
            "(id IS NULL) IS NOT NULL",
            "EXISTS (SELECT 1 FROM (VALUES (t.id)) v(x))",
        ] {
            assert!(is_tautology(&predicate(p)), "{p} should be a tautology");
        }
    }

    #[test]
    fn absurdly_deep_constant_expressions_count_as_tautologies() {
        let p = predicate(&format!("{} = 100", "1 + ".repeat(99) + "1"));
        assert!(is_tautology(&p));
        let p = predicate(&format!("{} = 7", "1 + ".repeat(99) + "1"));
        assert!(is_tautology(&p), "too deep to fold: treated as unbounded");
        let p = predicate(&format!(
            "id = 1 AND {}",
            "x = 1 AND ".repeat(400) + "y = 2"
        ));
        assert!(!is_tautology(&p));
    }

    #[test]
    fn real_predicates_bound_the_rows() {
        for p in [
            "id = 1",
            "1 = 2",
            "false",
            "NULL",
            "id = 1 AND 1 = 1",
            "name LIKE 'a%'",
            "id IN (1, 2)",
            "x = y",
            "1 = 1 AND id = 3",
            "NOT true",
            "0",
            "id > 0 OR id < 0",
            "CASE WHEN id = 1 THEN true ELSE false END",
            "CASE WHEN id = 1 THEN true END",
            "IF(id = 1, 1, 0)",
            "deleted_at IS NOT NULL",
            "num_nonnulls(id) >= 1",
            "EXISTS (SELECT 1 FROM (VALUES (t.id)) v(x) WHERE v.x = 3)",
        ] {
            assert!(!is_tautology(&predicate(p)), "{p} should bound the rows");
        }
    }
}
