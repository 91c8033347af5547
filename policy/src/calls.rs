//! Function calls a statement makes that sluice does not model: what a masked session may not
//! use (see [`crate::FunctionClass`]). Found in every expression and table function of the
//! statement, wherever it is (select list, WHERE, defaults, subqueries, `FROM f()`).

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, ObjectName, TableFactor,
};

use crate::lex::Token;
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
    let (schema, function) = crate::analysis::split_name(name)?;
    let class = function_class(dialect, schema.as_deref(), &function);
    (class != FunctionClass::Modeled).then(|| FunctionCall {
        name: match schema {
            Some(schema) => format!("{schema}.{function}"),
            None => function,
        },
        class,
    })
}

/// The call an expression makes itself (not its arguments'), if unmodeled.
pub(crate) fn of_expr(dialect: Dialect, expr: &Expr) -> Option<FunctionCall> {
    match expr {
        // A side effect with nothing but constants (MySQL `LAST_INSERT_ID()` with none at all,
        // which only reads the session's last id) stores nothing it read.
        Expr::Function(f) => unmodeled(dialect, &f.name)
            .filter(|c| c.class != FunctionClass::SideEffect || !constant_call(f)),
        _ => None,
    }
}

/// Whether a call reads nothing but constants: its arguments, and no `WITHIN GROUP`, `FILTER`
/// or `OVER` part, which would feed it values from rows.
fn constant_call(f: &sqlparser::ast::Function) -> bool {
    constant_arguments(&f.parameters)
        && constant_arguments(&f.args)
        && f.within_group.is_empty()
        && f.filter.is_none()
        && f.over.is_none()
}

/// Whether every argument is a constant the client wrote (literals, parameters, casts and
/// operators over them): a side effect then stores nothing it read from the database
/// (`set_config('search_path', '', false)`, `pg_advisory_lock(42)`).
fn constant_arguments(args: &FunctionArguments) -> bool {
    let FunctionArguments::List(list) = args else {
        return matches!(args, FunctionArguments::None);
    };
    list.clauses.is_empty()
        && list.args.iter().all(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
            | FunctionArg::Named {
                arg: FunctionArgExpr::Expr(e),
                ..
            } => constant(e),
            _ => false,
        })
}

fn constant(e: &Expr) -> bool {
    match e {
        Expr::Value(_) | Expr::TypedString(_) => true,
        Expr::Nested(e) | Expr::UnaryOp { expr: e, .. } | Expr::Cast { expr: e, .. } => constant(e),
        Expr::BinaryOp { left, right, .. } => constant(left) && constant(right),
        _ => false,
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

/// Words that precede a parenthesis without being a call: keywords of the grammar and type
/// names (`VARCHAR(10)`).
const NOT_CALLS: &[&str] = &[
    "all",
    "and",
    "any",
    "array",
    "as",
    "between",
    "bigint",
    "binary",
    "bit",
    "by",
    "case",
    "char",
    "character",
    "check",
    "columns",
    "constraint",
    "decimal",
    "default",
    "dec",
    "double",
    "else",
    "enum",
    "exists",
    "fields",
    "filter",
    "float",
    "for",
    "from",
    "group",
    "having",
    "in",
    "index",
    "int",
    "integer",
    "interval",
    "into",
    "stdin",
    "stdout",
    "options",
    "is",
    "join",
    "key",
    "lines",
    "lock",
    "mode",
    "nchar",
    "not",
    "numeric",
    "nvarchar",
    "on",
    "or",
    "order",
    "over",
    "partition",
    "primary",
    "real",
    "references",
    "returning",
    "row",
    "select",
    "set",
    "smallint",
    "some",
    "table",
    "then",
    "time",
    "timestamp",
    "tinyint",
    "union",
    "unique",
    "using",
    "value",
    "values",
    "varbinary",
    "varchar",
    "view",
    "when",
    "where",
    "window",
    "with",
    "within",
    "year",
];

/// Calls sluice does not model, in a statement it could not parse: every word followed by a
/// parenthesis that is not a keyword, a type or a name of what is being created or written
/// (`INSERT INTO t (…)`). A fallback: it would rather name too many than too few.
pub(crate) fn in_tokens(dialect: Dialect, tokens: &[Token]) -> Vec<FunctionCall> {
    let mut calls = Vec::new();
    for (i, pair) in tokens.windows(2).enumerate() {
        let (Token::Word(word) | Token::QuotedIdent(word), Token::LParen) = (&pair[0], &pair[1])
        else {
            continue;
        };
        let lower = word.to_ascii_lowercase();
        let before = |k: usize| {
            i.checked_sub(k)
                .and_then(|j| tokens.get(j))
                .and_then(|t| match t {
                    Token::Word(w) => Some(w.to_ascii_lowercase()),
                    _ => None,
                })
        };
        let qualified = i > 0 && tokens.get(i - 1) == Some(&Token::Dot);
        let names_object = matches!(
            before(1).as_deref(),
            Some(
                "into"
                    | "table"
                    | "update"
                    | "join"
                    | "references"
                    | "index"
                    | "key"
                    | "view"
                    | "exists"
                    | "on"
                    | "using"
                    | "copy"
                    | "only"
            )
        );
        if (!qualified && NOT_CALLS.contains(&lower.as_str()))
            || names_object
            || (lower == "operator" && names_an_operator(&tokens[i + 2..]))
        {
            continue;
        }
        let schema = match qualified {
            true => before(2),
            false => None,
        };
        let class = function_class(dialect, schema.as_deref(), &lower);
        push(
            &mut calls,
            (class != FunctionClass::Modeled).then(|| FunctionCall {
                name: match &schema {
                    Some(s) => format!("{s}.{lower}"),
                    None => lower.clone(),
                },
                class,
            }),
        );
    }
    calls
}

/// Whether the tokens after `OPERATOR(` name an operator (`=`, `pg_catalog.~`), PostgreSQL's
/// spelling of a qualified operator (pg_dump's pattern lookups use it), rather than arguments
/// of a function called `operator`.
fn names_an_operator(after: &[Token]) -> bool {
    let symbol = |t: Option<&Token>| matches!(t, Some(Token::Punct(_)));
    match after.first() {
        Some(Token::Word(_) | Token::QuotedIdent(_)) => {
            after.get(1) == Some(&Token::Dot) && symbol(after.get(2))
        }
        first => symbol(first),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn unparsed_calls(sql: &str) -> Vec<String> {
        let tokens = crate::lex::tokenize(Dialect::Postgres, sql);
        in_tokens(Dialect::Postgres, &tokens)
            .into_iter()
            .map(|c| c.name)
            .collect()
    }

    #[test]
    fn a_qualified_operator_is_no_call_but_a_function_named_operator_is() {
        let pg_dump = "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relkind OPERATOR(pg_catalog.=) ANY (array['r', 'v']) AND c.relname OPERATOR(pg_catalog.~) '^(t)$'";
        assert_eq!(unparsed_calls(pg_dump), Vec::<String>::new());
        assert_eq!(
            unparsed_calls("SELECT 1 OPERATOR(+) 2"),
            Vec::<String>::new()
        );
        assert_eq!(
            unparsed_calls("SELECT operator(ssn) FROM t"),
            vec!["operator"]
        );
    }

    fn parsed_calls(sql: &str) -> Vec<String> {
        let a = crate::analyze(Dialect::Postgres, sql);
        a.statements[0]
            .calls
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    #[test]
    fn a_side_effect_with_constants_is_exempt_only_without_row_values() {
        assert!(parsed_calls("SELECT pg_advisory_lock(42)").is_empty());
        for sql in [
            "SELECT pg_advisory_lock(42) WITHIN GROUP (ORDER BY ssn) FROM t",
            "SELECT pg_advisory_lock(42) FILTER (WHERE ssn > '1') FROM t",
            "SELECT pg_advisory_lock(42) OVER (ORDER BY ssn) FROM t",
        ] {
            assert_eq!(parsed_calls(sql), vec!["pg_advisory_lock"], "{sql}");
        }
    }
}
