//! Function calls a statement makes that sluice does not model: what a masked session may not
//! use (see [`crate::FunctionClass`]). Found in every expression and table function of the
//! statement, wherever it is (select list, WHERE, defaults, subqueries, `FROM f()`).

use sqlparser::ast::{Expr, FunctionArguments, ObjectName, TableFactor};

use crate::analysis::normalize_ident;
use crate::{function_class, Dialect, FunctionClass};

/// A call to a function sluice does not model.
///
/// ```
/// use policy::{analyze, Dialect, FunctionClass};
/// let a = analyze(Dialect::Postgres, "SELECT lower(name), my_fn(ssn) FROM customers");
/// let calls = &a.statements[0].calls;
/// assert_eq!(calls.len(), 1);
/// assert_eq!((calls[0].name.as_str(), calls[0].class), ("my_fn", FunctionClass::Opaque));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionCall {
    /// The name as written, qualified if it was (`schema.name`), normalized.
    pub name: String,
    /// Never [`FunctionClass::Modeled`].
    pub class: FunctionClass,
}

/// The call `name` makes, if sluice does not model it.
pub(crate) fn unmodeled(dialect: Dialect, name: &ObjectName) -> Option<FunctionCall> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident())
        .map(normalize_ident)
        .collect();
    let (function, rest) = parts.split_last()?;
    let class = function_class(dialect, rest.last().map(String::as_str), function);
    (class != FunctionClass::Modeled).then(|| FunctionCall {
        name: parts.join("."),
        class,
    })
}

/// The call an expression makes itself (not its arguments'), if unmodeled.
pub(crate) fn of_expr(dialect: Dialect, expr: &Expr) -> Option<FunctionCall> {
    match expr {
        // MySQL `LAST_INSERT_ID(expr)` stores `expr` for later; without an argument it only
        // reads the session's last generated id.
        Expr::Function(f)
            if dialect == Dialect::MySql
                && matches!(&f.args, FunctionArguments::List(l) if l.args.is_empty())
                && unmodeled(dialect, &f.name).is_some_and(|c| c.name == "last_insert_id") =>
        {
            None
        }
        Expr::Function(f) => unmodeled(dialect, &f.name),
        _ => None,
    }
}

/// The call a table function in FROM makes, if unmodeled.
pub(crate) fn of_table_factor(dialect: Dialect, factor: &TableFactor) -> Option<FunctionCall> {
    match factor {
        TableFactor::Table {
            name,
            args: Some(_),
            ..
        }
        | TableFactor::Function { name, .. } => unmodeled(dialect, name),
        _ => None,
    }
}

/// Adds `call` unless already listed.
pub(crate) fn push(calls: &mut Vec<FunctionCall>, call: Option<FunctionCall>) {
    if let Some(call) = call {
        if !calls.contains(&call) {
            calls.push(call);
        }
    }
}
