//! Literal masking for the audit log.
//!
//! The audit log records statement text, and statement text carries data: `WHERE ssn =
//! '123-45-6789'`. Before a statement is recorded, literals that are compared with, assigned to
//! or inserted into a sensitive column are replaced by `'***'`, and the positions of bind
//! parameters in those places are reported so that the caller can mask the bound values too.
//! Text the parser cannot read is redacted wholesale instead (fail closed).

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use sqlparser::ast::{
    AssignmentTarget, BinaryOperator, Expr, FromTable, FunctionArg, FunctionArgExpr,
    FunctionArguments, Ident, JoinConstraint, JoinOperator, ObjectName, OnConflictAction, OnInsert,
    Select, SelectItem, SetExpr, Statement, TableFactor, TableObject, TableWithJoins,
    UpdateTableFromKind, Value, ValueWithSpan, Visit, VisitMut, Visitor, VisitorMut,
};

use crate::analysis::{normalize_ident, parse_statements};
use crate::glob::Glob;
use crate::lex::{tokenize_spanned, Token};
use crate::Dialect;

/// How much of a statement's literals the audit log may see.
///
/// ```
/// assert_ne!(policy::LiteralMode::Mask, policy::LiteralMode::Redact);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LiteralMode {
    /// Literals tied to sensitive columns become `'***'`; the rest are kept.
    Mask,
    /// Every literal becomes `?`.
    Redact,
    /// Text is recorded as sent.
    Keep,
}

/// Column patterns whose values must not reach the audit log.
///
/// Each pattern is `column`, `table.column` or `schema.table.column`; every part is a
/// case-insensitive glob. A pattern with a schema also matches a table referenced without
/// one, because the search path is not known here: masking too much is the safe mistake.
///
/// ```
/// let s = policy::SensitiveColumns::new(["ssn", "public.employees.salary"]).unwrap();
/// assert!(s.matches(None, Some("customers"), "SSN"));
/// assert!(s.matches(None, Some("employees"), "salary"));
/// assert!(!s.matches(Some("hr"), Some("employees"), "salary"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct SensitiveColumns {
    patterns: Vec<ColumnPattern>,
}

#[derive(Clone, Debug)]
struct ColumnPattern {
    schema: Option<Glob>,
    table: Option<Glob>,
    column: Glob,
}

impl SensitiveColumns {
    /// Compiles patterns; fails on empty parts or more than three parts.
    ///
    /// ```
    /// assert!(policy::SensitiveColumns::new(["a.b.c.d"]).is_err());
    /// ```
    pub fn new<I, S>(patterns: I) -> Result<SensitiveColumns, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut compiled = Vec::new();
        for pattern in patterns {
            let pattern = pattern.as_ref();
            let parts: Vec<&str> = pattern.split('.').collect();
            let glob =
                |p: &str| Glob::new(p).map_err(|e| format!("column pattern {pattern:?}: {e}"));
            let (schema, table, column) = match parts.as_slice() {
                [c] => (None, None, glob(c)?),
                [t, c] => (None, Some(glob(t)?), glob(c)?),
                [s, t, c] => (Some(glob(s)?), Some(glob(t)?), glob(c)?),
                _ => return Err(format!("column pattern {pattern:?}: expected column, table.column or schema.table.column")),
            };
            compiled.push(ColumnPattern {
                schema,
                table,
                column,
            });
        }
        Ok(SensitiveColumns { patterns: compiled })
    }

    /// True when no pattern is configured.
    ///
    /// ```
    /// assert!(policy::SensitiveColumns::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `column` of `schema.table` is sensitive. `table = None` means the table is
    /// unknown; only bare `column` patterns match then.
    ///
    /// ```
    /// let s = policy::SensitiveColumns::new(["billing.*.card_*"]).unwrap();
    /// assert!(s.matches(Some("billing"), Some("payments"), "card_number"));
    /// ```
    pub fn matches(&self, schema: Option<&str>, table: Option<&str>, column: &str) -> bool {
        self.patterns.iter().any(|p| {
            p.column.matches(column)
                && match (&p.table, table) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(tg), Some(t)) => {
                        tg.matches(t)
                            && match (&p.schema, schema) {
                                (Some(sg), Some(s)) => sg.matches(s),
                                _ => true,
                            }
                    }
                }
        })
    }

    /// Whether any pattern could match some column of `schema.table` (`schema = None`: any
    /// schema). Callers that cannot list the table's columns use this to fail closed.
    ///
    /// ```
    /// let s = policy::SensitiveColumns::new(["public.customers.ssn"]).unwrap();
    /// assert!(s.may_cover_table(None, "customers"));
    /// assert!(!s.may_cover_table(Some("public"), "orders"));
    /// ```
    pub fn may_cover_table(&self, schema: Option<&str>, table: &str) -> bool {
        self.patterns.iter().any(|p| match &p.table {
            None => true,
            Some(tg) => {
                tg.matches(table)
                    && match (&p.schema, schema) {
                        (Some(sg), Some(s)) => sg.matches(s),
                        _ => true,
                    }
            }
        })
    }
}

/// A statement made safe for the audit log.
///
/// ```
/// let s = policy::SensitiveColumns::new(["ssn"]).unwrap();
/// let m = policy::mask_literals(policy::Dialect::Postgres,
///     "SELECT * FROM c WHERE ssn = $2 AND id = $1", &s, policy::LiteralMode::Mask);
/// assert_eq!(m.masked_params, [2]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaskedStatement {
    /// The text to record.
    pub text: String,
    /// 1-based positions of bind parameters bound to sensitive columns, ascending.
    pub masked_params: Vec<usize>,
    /// Every bind parameter is masked: the text could not be read, so where they stand is
    /// unknown (fail closed).
    pub all_params_masked: bool,
}

/// Masks `sql` for the audit log according to `mode`.
///
/// In `Mask` mode, a literal becomes `'***'` when it is compared with (`=`, `<>`, `<`, …,
/// `IN (…)`, `LIKE`, `BETWEEN`), assigned to (`UPDATE … SET col = …`, `ON CONFLICT … SET`,
/// `ON DUPLICATE KEY UPDATE`) or inserted into (`INSERT (cols) VALUES …`, by position) a
/// sensitive column. An INSERT without a column list into a table that may hold sensitive
/// columns has all of its values masked, since the positions are unknown. Text that does not
/// parse is redacted instead.
///
/// ```
/// use policy::{mask_literals, Dialect, LiteralMode, SensitiveColumns};
/// let s = SensitiveColumns::new(["customers.ssn"]).unwrap();
/// let m = mask_literals(Dialect::Postgres,
///     "UPDATE customers SET ssn = '123-45-6789', name = 'Ann' WHERE id = 7", &s, LiteralMode::Mask);
/// assert_eq!(m.text, "UPDATE customers SET ssn = '***', name = 'Ann' WHERE id = 7");
/// let m = mask_literals(Dialect::Postgres, "SELECT 'x', 1", &s, LiteralMode::Redact);
/// assert_eq!(m.text, "SELECT ?, ?");
/// ```
pub fn mask_literals(
    dialect: Dialect,
    sql: &str,
    sensitive: &SensitiveColumns,
    mode: LiteralMode,
) -> MaskedStatement {
    if mode == LiteralMode::Keep {
        return MaskedStatement {
            text: sql.to_string(),
            masked_params: Vec::new(),
            all_params_masked: false,
        };
    }
    let expanded = match dialect {
        Dialect::MySql => crate::lex::expand_mysql_executable_comments(sql),
        Dialect::Postgres => std::borrow::Cow::Borrowed(sql),
    };
    let Ok(mut statements) = parse_statements(dialect, &expanded) else {
        return MaskedStatement {
            text: redact_tokens(dialect, &expanded),
            masked_params: Vec::new(),
            all_params_masked: true,
        };
    };
    let question_marks = question_mark_ordinals(&statements);
    let mut masked_params = HashSet::new();
    for statement in &mut statements {
        let scope = TableScope::of(statement);
        let mut masker = Masker {
            sensitive,
            scope,
            question_marks: &question_marks,
            masked_params: &mut masked_params,
            masked_at: Vec::new(),
            rows_from_literals: false,
            mask_everything: false,
        };
        if defines_over_sensitive(dialect, statement, sensitive) {
            masker.mask_everything = true;
        }
        masker.mask_statement(statement);
        if mode == LiteralMode::Redact {
            let _ = VisitMut::visit(statement, &mut RedactAll);
        }
    }
    let mut masked_params: Vec<usize> = masked_params.into_iter().collect();
    masked_params.sort_unstable();
    let text = statements
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    MaskedStatement {
        text,
        masked_params,
        all_params_masked: false,
    }
}

/// A definition (a constraint, an index predicate, a default, a generated column, a policy, a
/// trigger's condition, a type change's USING) compares literals with columns, or writes them,
/// in expressions the masker does not follow: over a table that may hold a sensitive column
/// every literal is masked. A routine's or trigger's body is text sluice does not read: always.
fn defines_over_sensitive(
    dialect: Dialect,
    statement: &Statement,
    sensitive: &SensitiveColumns,
) -> bool {
    use crate::StatementKind as K;
    if !matches!(
        crate::classify::classify(dialect, statement),
        K::Create | K::Alter | K::Ddl
    ) {
        return false;
    }
    if matches!(
        statement,
        Statement::CreateFunction(_)
            | Statement::CreateProcedure { .. }
            | Statement::CreateTrigger(_)
    ) {
        return true;
    }
    let names_sensitive = sqlparser::ast::visit_relations(statement, |name| {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident())
            .map(normalize_ident)
            .collect();
        let covered = match parts.split_last() {
            Some((t, rest)) => sensitive.may_cover_table(rest.last().map(String::as_str), t),
            None => true,
        };
        match covered {
            true => ControlFlow::Break(()),
            false => ControlFlow::Continue(()),
        }
    });
    names_sensitive.is_break()
}

/// Token-level redaction for text that does not parse: literals become `?`, comments go
/// (they may hold data too), everything else is kept as written.
fn redact_tokens(dialect: Dialect, sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut previous_end = 0;
    for s in tokenize_spanned(dialect, sql) {
        if s.start > previous_end {
            out.push(' ');
        }
        match s.token {
            Token::Str | Token::Number => out.push('?'),
            _ => out.push_str(sql.get(s.start..s.end).unwrap_or("?")),
        }
        previous_end = s.end;
    }
    out.trim().to_string()
}

/// MySQL `?` parameters are numbered by their position in the text; the AST walk does not
/// always follow the text, so their source spans decide.
pub(crate) fn question_mark_ordinals(statements: &[Statement]) -> HashMap<(u64, u64), usize> {
    struct Collect(Vec<(u64, u64)>);
    impl Visitor for Collect {
        type Break = ();
        fn pre_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<()> {
            if matches!(&value.value, Value::Placeholder(p) if p == "?") {
                self.0
                    .push((value.span.start.line, value.span.start.column));
            }
            ControlFlow::Continue(())
        }
    }
    let mut collect = Collect(Vec::new());
    for statement in statements {
        let _ = statement.visit(&mut collect);
    }
    collect.0.sort_unstable();
    collect.0.dedup();
    collect
        .0
        .into_iter()
        .enumerate()
        .map(|(i, pos)| (pos, i + 1))
        .collect()
}

struct RedactAll;

impl VisitorMut for RedactAll {
    type Break = ();
    fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
        if !matches!(
            value.value,
            Value::Null | Value::Boolean(_) | Value::Placeholder(_)
        ) {
            value.value = Value::Placeholder("?".into());
        }
        ControlFlow::Continue(())
    }
}

/// The tables a statement references, by alias and by name, to resolve column references.
#[derive(Default)]
pub(crate) struct TableScope {
    /// alias or table name → (schema, table)
    by_name: HashMap<String, (Option<String>, String)>,
    all: Vec<(Option<String>, String)>,
    /// Names given to SELECT items (`ssn AS s`): ORDER BY and MySQL's HAVING may read them.
    output_names: HashSet<String>,
}

impl TableScope {
    pub(crate) fn of(statement: &Statement) -> TableScope {
        struct Collect(TableScope);
        impl Visitor for Collect {
            type Break = ();
            fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
                if let TableFactor::Table { name, alias, .. } = factor {
                    let alias = alias.as_ref().map(|a| &a.name);
                    match (only_keyword(name), alias) {
                        // `FROM ONLY customers` reads as table `ONLY` aliased `customers`.
                        (true, Some(table)) => {
                            self.0.add(&ObjectName::from(vec![table.clone()]), None)
                        }
                        _ => self.0.add(name, alias),
                    }
                }
                ControlFlow::Continue(())
            }
            fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
                for item in &select.projection {
                    if let SelectItem::ExprWithAlias { alias, .. } = item {
                        self.0
                            .output_names
                            .insert(normalize_ident(alias).to_lowercase());
                    }
                }
                ControlFlow::Continue(())
            }
            fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
                if let Statement::Insert(insert) = statement {
                    if let TableObject::TableName(name) = &insert.table {
                        self.0.add(name, None);
                    }
                }
                ControlFlow::Continue(())
            }
        }
        let mut collect = Collect(TableScope::default());
        let _ = statement.visit(&mut collect);
        collect.0
    }

    fn add(&mut self, name: &ObjectName, alias: Option<&Ident>) {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident())
            .map(normalize_ident)
            .collect();
        let Some((table, rest)) = parts.split_last() else {
            return;
        };
        let entry = (rest.last().cloned(), table.clone());
        self.by_name.insert(table.to_lowercase(), entry.clone());
        if let Some(alias) = alias {
            self.by_name
                .insert(normalize_ident(alias).to_lowercase(), entry.clone());
        }
        if !self.all.contains(&entry) {
            self.all.push(entry);
        }
    }

    /// Whether any table of the statement may hold a sensitive column.
    fn may_hold_sensitive(&self, sensitive: &SensitiveColumns) -> bool {
        self.all
            .iter()
            .any(|(s, t)| sensitive.may_cover_table(s.as_deref(), t))
    }

    /// Whether `name` is a table of the statement, by name or alias.
    fn names_a_table(&self, name: &Ident) -> bool {
        self.by_name
            .contains_key(&normalize_ident(name).to_lowercase())
    }

    /// Whether a column reference (`col`, `t.col`, `s.t.col`) is sensitive.
    fn is_sensitive(&self, sensitive: &SensitiveColumns, parts: &[Ident]) -> bool {
        let Some((column, qualifier)) = parts.split_last() else {
            return false;
        };
        let column = normalize_ident(column);
        match qualifier {
            [] if self.all.is_empty() => sensitive.matches(None, None, &column),
            // Unqualified: sensitive if it would be in any table of the statement.
            [] => self
                .all
                .iter()
                .any(|(s, t)| sensitive.matches(s.as_deref(), Some(t), &column)),
            [.., table] => {
                let key = normalize_ident(table).to_lowercase();
                match self.by_name.get(&key) {
                    Some((s, t)) => sensitive.matches(s.as_deref(), Some(t), &column),
                    None => {
                        let schema = qualifier
                            .len()
                            .checked_sub(2)
                            .map(|i| normalize_ident(&qualifier[i]));
                        sensitive.matches(schema.as_deref(), Some(&normalize_ident(table)), &column)
                    }
                }
            }
        }
    }
}

/// Whether `expr` reads any column.
fn has_column_reference(expr: &Expr) -> bool {
    sqlparser::ast::visit_expressions(expr, |e| match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Whether `expr` reads a column that is not sensitive (besides the sensitive one it holds).
fn has_other_column_reference(expr: &Expr, masker: &Masker<'_>) -> bool {
    sqlparser::ast::visit_expressions(expr, |e| match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) if !masker.column_is_sensitive(e) => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Whether the statement reads rows that are not a table's: a CTE, a derived table (VALUES
/// included) or a table function. Their columns can carry literals anywhere in the statement.
fn makes_rows(statement: &Statement) -> bool {
    struct Find;
    impl Visitor for Find {
        type Break = ();
        fn pre_visit_query(&mut self, query: &sqlparser::ast::Query) -> ControlFlow<()> {
            if query.with.is_some() {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            match factor {
                TableFactor::Table { args: None, .. } | TableFactor::NestedJoin { .. } => {
                    ControlFlow::Continue(())
                }
                _ => ControlFlow::Break(()),
            }
        }
    }
    statement.visit(&mut Find).is_break()
}

/// Whether `name` is PostgreSQL's `ONLY` keyword, which sqlparser reads as a table name.
fn only_keyword(name: &ObjectName) -> bool {
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .is_some_and(|i| i.quote_style.is_none() && i.value.eq_ignore_ascii_case("only")),
        _ => false,
    }
}

/// Whether a join names its columns as written (`ON …`, a cross join) rather than matching
/// them by name (`NATURAL`, `USING`), where a sensitive column meets the other side unseen.
fn join_is_resolvable(operator: &JoinOperator) -> bool {
    use JoinOperator as J;
    let constraint = match operator {
        J::Join(c)
        | J::Inner(c)
        | J::Left(c)
        | J::LeftOuter(c)
        | J::Right(c)
        | J::RightOuter(c)
        | J::FullOuter(c)
        | J::CrossJoin(c)
        | J::Semi(c)
        | J::LeftSemi(c)
        | J::RightSemi(c)
        | J::Anti(c)
        | J::LeftAnti(c)
        | J::RightAnti(c)
        | J::StraightJoin(c) => c,
        _ => return false,
    };
    matches!(constraint, JoinConstraint::On(_) | JoinConstraint::None)
}

fn joins_are_resolvable(tables: &[TableWithJoins]) -> bool {
    tables
        .iter()
        .all(|t| t.joins.iter().all(|j| join_is_resolvable(&j.join_operator)))
}

/// Whether the statement has a column reference the masker cannot resolve with certainty to a
/// table's column: a column of a CTE, derived table, table function or alias column list, a
/// set operation's column, a NATURAL or USING join, a whole-row reference (`customers`,
/// `c.*`), a SELECT item's name, an unknown qualifier, or a full-text `MATCH`. In a statement
/// over a table that may hold a sensitive column, any of these masks every literal.
fn has_unresolved_reference(statement: &Statement, scope: &TableScope) -> bool {
    struct Find<'s>(&'s TableScope);
    impl Visitor for Find<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, query: &sqlparser::ast::Query) -> ControlFlow<()> {
            let set_operation = matches!(query.body.as_ref(), SetExpr::SetOperation { .. });
            if query.with.is_some() || set_operation {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<()> {
            match joins_are_resolvable(&select.from) {
                true => ControlFlow::Continue(()),
                false => ControlFlow::Break(()),
            }
        }
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            match factor {
                TableFactor::Table {
                    args: None, alias, ..
                } if alias.as_ref().is_none_or(|a| a.columns.is_empty()) => {
                    ControlFlow::Continue(())
                }
                TableFactor::NestedJoin {
                    table_with_joins,
                    alias: None,
                } if joins_are_resolvable(std::slice::from_ref(table_with_joins)) => {
                    ControlFlow::Continue(())
                }
                _ => ControlFlow::Break(()),
            }
        }
        fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<()> {
            let resolvable = match statement {
                Statement::Update(update) => {
                    joins_are_resolvable(std::slice::from_ref(&update.table))
                        && match &update.from {
                            Some(UpdateTableFromKind::BeforeSet(t))
                            | Some(UpdateTableFromKind::AfterSet(t)) => joins_are_resolvable(t),
                            None => true,
                        }
                }
                Statement::Delete(delete) => {
                    let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) =
                        &delete.from;
                    joins_are_resolvable(from)
                        && delete.using.as_deref().is_none_or(joins_are_resolvable)
                }
                _ => true,
            };
            match resolvable {
                true => ControlFlow::Continue(()),
                false => ControlFlow::Break(()),
            }
        }
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            let unresolved = match expr {
                // A table's name as a value is its whole row; a SELECT item's name is not a
                // table's column.
                Expr::Identifier(ident) => {
                    self.0.names_a_table(ident)
                        || self
                            .0
                            .output_names
                            .contains(&normalize_ident(ident).to_lowercase())
                }
                Expr::CompoundIdentifier(parts) => match parts.split_last() {
                    Some((_, [.., table])) => !self.0.names_a_table(table),
                    _ => true,
                },
                Expr::QualifiedWildcard(..) | Expr::Wildcard(..) | Expr::MatchAgainst { .. } => {
                    true
                }
                Expr::Function(f) => match &f.args {
                    FunctionArguments::List(list) => list.args.iter().any(|a| {
                        matches!(
                            a,
                            FunctionArg::Unnamed(FunctionArgExpr::QualifiedWildcard(_))
                                | FunctionArg::Named {
                                    arg: FunctionArgExpr::QualifiedWildcard(_),
                                    ..
                                }
                        )
                    }),
                    _ => false,
                },
                _ => false,
            };
            match unresolved {
                true => ControlFlow::Break(()),
                false => ControlFlow::Continue(()),
            }
        }
    }
    statement.visit(&mut Find(scope)).is_break()
}

pub(crate) struct Masker<'a> {
    pub(crate) sensitive: &'a SensitiveColumns,
    pub(crate) scope: TableScope,
    pub(crate) question_marks: &'a HashMap<(u64, u64), usize>,
    pub(crate) masked_params: &'a mut HashSet<usize>,
    /// Where each masked literal starts (line, column), for [`crate::LiteralPlan`].
    pub(crate) masked_at: Vec<(u64, u64)>,
    /// The statement reads rows from something other than tables (a CTE, a derived table, a
    /// VALUES list, a table function), where a literal can become a column's value.
    pub(crate) rows_from_literals: bool,
    /// A sensitive column meets a value the masker cannot follow to its literal (a column of
    /// a CTE, say): every literal of the statement is masked.
    pub(crate) mask_everything: bool,
}

impl Masker<'_> {
    /// Whether `expr` is, or is computed from, a sensitive column: `lower(ssn) = '…'` and
    /// `ssn || '' = '…'` leak the value just as well as `ssn = '…'`.
    fn column_is_sensitive(&self, expr: &Expr) -> bool {
        let found = sqlparser::ast::visit_expressions(expr, |e| {
            let sensitive = match e {
                Expr::Identifier(ident) => self
                    .scope
                    .is_sensitive(self.sensitive, std::slice::from_ref(ident)),
                Expr::CompoundIdentifier(parts) => self.scope.is_sensitive(self.sensitive, parts),
                _ => false,
            };
            if sensitive {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        found.is_break()
    }

    fn name_is_sensitive(&self, name: &ObjectName) -> bool {
        let parts: Vec<Ident> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().cloned())
            .collect();
        self.scope.is_sensitive(self.sensitive, &parts)
    }

    /// Masks one literal (`'***'`), or records a bind parameter's position.
    fn mask_value(&mut self, v: &mut ValueWithSpan) {
        match &v.value {
            Value::Placeholder(p) => {
                let position = match p.strip_prefix('$') {
                    Some(n) => n.parse::<usize>().ok(),
                    None => self
                        .question_marks
                        .get(&(v.span.start.line, v.span.start.column))
                        .copied(),
                };
                if let Some(position) = position {
                    self.masked_params.insert(position);
                }
            }
            Value::Null => {}
            Value::SingleQuotedString(s) if s == "***" => {}
            _ => {
                self.masked_at
                    .push((v.span.start.line, v.span.start.column));
                v.value = Value::SingleQuotedString("***".into());
            }
        }
    }

    /// Masks every literal and parameter within `node` (subqueries included).
    fn mask_within<N: VisitMut>(&mut self, node: &mut N) {
        struct Within<'m, 'a>(&'m mut Masker<'a>);
        impl VisitorMut for Within<'_, '_> {
            type Break = ();
            fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
                self.0.mask_value(value);
                ControlFlow::Continue(())
            }
        }
        let _ = node.visit(&mut Within(self));
    }

    /// Masks `expr`, a value bound to a sensitive column: a literal (possibly cast, negated or
    /// parenthesized) or parameter directly, and every literal of anything computed. A value
    /// read from a column of rows the statement makes itself (a CTE, VALUES) is followed no
    /// further: every literal of the statement is masked then.
    fn mask(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Value(v) => self.mask_value(v),
            Expr::Nested(inner)
            | Expr::Cast { expr: inner, .. }
            | Expr::UnaryOp { expr: inner, .. } => self.mask(inner),
            Expr::Tuple(items) | Expr::Array(sqlparser::ast::Array { elem: items, .. }) => {
                for item in items {
                    self.mask(item);
                }
            }
            _ => {
                if self.rows_from_literals && has_column_reference(expr) {
                    self.mask_everything = true;
                }
                self.mask_within(expr);
            }
        }
    }

    /// Visits `statement`, masking what meets a sensitive column, then everything if a value
    /// could not be followed.
    pub(crate) fn mask_statement(&mut self, statement: &mut Statement) {
        self.rows_from_literals = makes_rows(statement);
        if self.scope.may_hold_sensitive(self.sensitive)
            && has_unresolved_reference(statement, &self.scope)
        {
            self.mask_everything = true;
        }
        let _ = VisitMut::visit(statement, self);
        if self.mask_everything {
            self.mask_within(statement);
        }
    }

    /// Whether an INSERT's target may hold a sensitive column where the positions of its values
    /// are unknown (no column list).
    fn table_may_be_sensitive(&self, table: &TableObject) -> bool {
        match table {
            TableObject::TableName(name) => self.object_may_be_sensitive(name),
            _ => true,
        }
    }

    fn object_may_be_sensitive(&self, name: &ObjectName) -> bool {
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident())
            .map(normalize_ident)
            .collect();
        match parts.split_last() {
            Some((t, rest)) => self
                .sensitive
                .may_cover_table(rest.last().map(String::as_str), t),
            None => true,
        }
    }

    fn mask_assignments(&mut self, assignments: &mut [sqlparser::ast::Assignment]) {
        for assignment in assignments {
            let sensitive = match &assignment.target {
                AssignmentTarget::ColumnName(name) => self.name_is_sensitive(name),
                AssignmentTarget::Tuple(names) => names.iter().any(|n| self.name_is_sensitive(n)),
            };
            if sensitive {
                self.mask(&mut assignment.value);
            }
        }
    }
}

impl VisitorMut for Masker<'_> {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            // Connectives and subqueries only hold expressions; those are visited on their own,
            // so `id = 7 AND ssn = '…'` keeps the 7.
            Expr::BinaryOp {
                op: BinaryOperator::And | BinaryOperator::Or | BinaryOperator::Xor,
                ..
            }
            | Expr::UnaryOp { .. }
            | Expr::Nested(_)
            | Expr::Subquery(_)
            | Expr::Exists { .. }
            | Expr::Identifier(_)
            | Expr::CompoundIdentifier(_)
            | Expr::Value(_) => {}
            // Anything else that involves a sensitive column (`ssn = …`, `lower(ssn) LIKE …`,
            // `strpos(ssn, …)`, `ssn IN (SELECT …)`, `CASE WHEN ssn …`): every literal in it
            // says something about the column's values.
            _ if self.column_is_sensitive(expr) => {
                if self.rows_from_literals && has_other_column_reference(expr, self) {
                    self.mask_everything = true;
                }
                self.mask_within(expr);
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, statement: &mut Statement) -> ControlFlow<()> {
        match statement {
            Statement::Update(update) => self.mask_assignments(&mut update.assignments),
            Statement::Insert(insert) => {
                self.mask_assignments(&mut insert.assignments);
                match &mut insert.on {
                    Some(OnInsert::DuplicateKeyUpdate(assignments)) => {
                        self.mask_assignments(assignments)
                    }
                    Some(OnInsert::OnConflict(conflict)) => {
                        if let OnConflictAction::DoUpdate(update) = &mut conflict.action {
                            self.mask_assignments(&mut update.assignments);
                        }
                    }
                    _ => {}
                }
                let columns: Vec<bool> = insert
                    .columns
                    .iter()
                    .map(|c| self.name_is_sensitive(c))
                    .collect();
                // No column list: positions are unknown, so a table that may hold sensitive
                // columns has every value masked.
                let mask_all =
                    insert.columns.is_empty() && self.table_may_be_sensitive(&insert.table);
                if let Some(source) = &mut insert.source {
                    match source.body.as_mut() {
                        SetExpr::Values(values) if source.with.is_none() => {
                            for row in &mut values.rows {
                                for (i, value) in row.content.iter_mut().enumerate() {
                                    if mask_all || columns.get(i).copied().unwrap_or(false) {
                                        self.mask(value);
                                    }
                                }
                            }
                        }
                        // `INSERT … SELECT`: which literal lands in which column is not followed.
                        _ if mask_all || columns.contains(&true) => self.mask_everything = true,
                        _ => {}
                    }
                }
            }
            // Which clause writes what is not followed: a MERGE into a table that may hold a
            // sensitive column has every literal masked.
            Statement::Merge(merge) => {
                if let TableFactor::Table { name, .. } = &merge.table {
                    if self.object_may_be_sensitive(name) {
                        self.mask_everything = true;
                    }
                } else {
                    self.mask_everything = true;
                }
            }
            // `EXECUTE name(…)`, `EXECUTE s USING …`, `EXECUTE IMMEDIATE '…'`: the prepared
            // text is not known here, so nothing of it is kept.
            Statement::Execute { .. } => self.mask_everything = true,
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Black-box round 8, finding 2: a DBA's constraint, index predicate, default, policy or
    /// routine body kept the value it compared with a masked column in the log.
    #[test]
    fn literals_of_definitions_over_sensitive_tables_are_masked() {
        let s = SensitiveColumns::new(["customers.ssn", "employees.salary"]).unwrap();
        let pg = [
            "ALTER TABLE employees ADD CONSTRAINT v2 CHECK (salary <> 131313.13)",
            "CREATE INDEX v2i ON customers (id) WHERE ssn = '999-00-1313'",
            "ALTER TABLE employees ALTER COLUMN salary SET DEFAULT 131313.13",
            "CREATE POLICY p ON customers USING (ssn = '999-00-1313')",
            "ALTER TABLE customers ALTER COLUMN ssn TYPE text USING (ssn || '999-00-1313')",
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 FROM customers WHERE ssn = '999-00-1313' $$ LANGUAGE sql",
        ];
        let my = [
            "ALTER TABLE employees ADD CONSTRAINT c CHECK (salary <> 131313.13)",
            "ALTER TABLE employees ALTER COLUMN salary SET DEFAULT 131313.13",
            "ALTER TABLE employees ADD COLUMN g INT AS (salary = 131313.13)",
        ];
        for (dialect, sql) in pg
            .iter()
            .map(|q| (Dialect::Postgres, q))
            .chain(my.iter().map(|q| (Dialect::MySql, q)))
        {
            let m = mask_literals(dialect, sql, &s, LiteralMode::Mask);
            assert!(
                !m.text.contains("1313"),
                "{dialect:?} {sql} was logged as {}",
                m.text
            );
        }
        let m = mask_literals(
            Dialect::Postgres,
            "CREATE INDEX i ON orders (id) WHERE total > 100",
            &s,
            LiteralMode::Mask,
        );
        assert!(m.text.contains("100"), "nothing sensitive: {}", m.text);
    }

    fn mask(d: Dialect, sql: &str, cols: &[&str]) -> MaskedStatement {
        let s = SensitiveColumns::new(cols).expect("patterns");
        mask_literals(d, sql, &s, LiteralMode::Mask)
    }

    #[test]
    fn comparisons_with_sensitive_columns_are_masked() {
        let m = mask(Dialect::Postgres, "SELECT * FROM customers c WHERE c.ssn = '123' AND name = 'Ann' AND c.email IN ('a@x', 'b@x') AND ssn LIKE '1%' AND ssn BETWEEN '1' AND '2'", &["customers.ssn", "email"]);
        assert!(
            !m.text.contains("123") && !m.text.contains("a@x") && !m.text.contains("1%"),
            "{}",
            m.text
        );
        assert!(m.text.contains("'Ann'"), "{}", m.text);
        let m = mask(
            Dialect::Postgres,
            "SELECT * FROM t WHERE '555' = ssn",
            &["ssn"],
        );
        assert!(!m.text.contains("555"), "{}", m.text);
        let m = mask(
            Dialect::Postgres,
            "SELECT * FROM other WHERE ssn = '555'",
            &["customers.ssn"],
        );
        assert!(m.text.contains("555"), "{}", m.text);
    }

    #[test]
    fn inserts_are_masked_by_position() {
        let m = mask(
            Dialect::MySql,
            "INSERT INTO customers (name, ssn) VALUES ('Ann', '1'), ('Bob', ?)",
            &["ssn"],
        );
        assert_eq!(
            m.text,
            "INSERT INTO customers (name, ssn) VALUES ('Ann', '***'), ('Bob', ?)"
        );
        assert_eq!(m.masked_params, [1]);
        let m = mask(
            Dialect::MySql,
            "INSERT INTO customers VALUES ('Ann', '1')",
            &["customers.ssn"],
        );
        assert!(!m.text.contains("Ann"), "{}", m.text);
        let m = mask(
            Dialect::MySql,
            "INSERT INTO orders VALUES ('Ann', '1')",
            &["customers.ssn"],
        );
        assert!(m.text.contains("Ann"), "{}", m.text);
    }

    #[test]
    fn question_marks_are_numbered_by_text_position() {
        let m = mask(
            Dialect::MySql,
            "UPDATE c SET name = ?, ssn = ? WHERE id = ? AND card = ?",
            &["ssn", "card"],
        );
        assert_eq!(m.masked_params, [2, 4]);
    }

    #[test]
    fn upserts_are_masked() {
        let m = mask(
            Dialect::Postgres,
            "INSERT INTO c (id, ssn) VALUES (1, '9') ON CONFLICT (id) DO UPDATE SET ssn = '8'",
            &["ssn"],
        );
        assert!(
            !m.text.contains("'9'") && !m.text.contains("'8'"),
            "{}",
            m.text
        );
        let m = mask(
            Dialect::MySql,
            "INSERT INTO c (id, ssn) VALUES (1, '9') ON DUPLICATE KEY UPDATE ssn = '8'",
            &["ssn"],
        );
        assert!(
            !m.text.contains("'9'") && !m.text.contains("'8'"),
            "{}",
            m.text
        );
    }

    /// The value a statement writes to or compares with a sensitive column must not reach the
    /// log however it is spelt: in an expression, a subquery, a VALUES list or CTE joined in,
    /// an INSERT's SELECT, a MERGE, or a prepared statement's EXECUTE.
    #[test]
    fn literals_reaching_a_sensitive_column_by_any_route_are_masked() {
        let cases = [
            (Dialect::Postgres, "UPDATE customers SET ssn = '300' || '-12-3456' WHERE id = 7"),
            (Dialect::MySql, "UPDATE customers SET ssn = CONCAT('300', '-12-3456') WHERE id = 7"),
            (Dialect::Postgres, "UPDATE customers SET ssn = 300123456 + 0 WHERE id = 7"),
            (Dialect::Postgres, "SELECT id FROM customers WHERE ssn = lower('300-12-3456')"),
            (Dialect::Postgres, "SELECT id FROM customers WHERE ssn = (SELECT '300-12-3456')"),
            (Dialect::Postgres, "SELECT id FROM customers WHERE ssn IN (SELECT '300-12-3456')"),
            (Dialect::Postgres, "SELECT id FROM customers WHERE strpos(ssn, '300-12-3456') > 0"),
            (Dialect::Postgres, "SELECT id FROM customers WHERE ssn ~ '^300-12-3456$'"),
            (Dialect::MySql, "SELECT id FROM customers WHERE ssn REGEXP '^300-12-3456$'"),
            (Dialect::Postgres, "SELECT c.id FROM customers c JOIN (VALUES ('300-12-3456')) v(x) ON c.ssn = v.x"),
            (Dialect::Postgres, "WITH v(x) AS (VALUES ('300-12-3456')) SELECT id FROM customers, v WHERE ssn = x"),
            (Dialect::Postgres, "SELECT c.id FROM customers c JOIN unnest(ARRAY['300-12-3456']) v(x) ON c.ssn = v.x"),
            (Dialect::Postgres, "UPDATE customers SET ssn = v.x FROM (VALUES ('300-12-3456')) v(x) WHERE id = 7"),
            (Dialect::Postgres, "INSERT INTO customers (name, ssn) SELECT 'Ann', '300-12-3456'"),
            (Dialect::MySql, "INSERT INTO customers (name, ssn) SELECT 'Ann', '300-12-3456'"),
            (Dialect::Postgres, "INSERT INTO customers (name, ssn) VALUES ('Ann', '300' || '-12-3456')"),
            (Dialect::Postgres, "MERGE INTO customers c USING (VALUES (7, '300-12-3456')) v(id, x) ON c.id = v.id WHEN MATCHED THEN UPDATE SET ssn = v.x"),
            (Dialect::Postgres, "MERGE INTO customers c USING orders o ON c.id = o.id WHEN NOT MATCHED THEN INSERT (id, ssn) VALUES (7, '300-12-3456')"),
            (Dialect::Postgres, "EXECUTE upd('300-12-3456', 7)"),
        ];
        for (dialect, sql) in cases {
            let m = mask(dialect, sql, &["customers.ssn"]);
            assert!(
                !m.text.contains("300") && !m.text.contains("3456"),
                "{sql}\n  recorded as {}",
                m.text
            );
        }
        // What has nothing to do with the sensitive column stays readable.
        let m = mask(
            Dialect::Postgres,
            "SELECT c.id FROM customers c JOIN orders o ON c.ssn = o.ssn WHERE o.id = 7 AND c.name = 'Ann'",
            &["customers.ssn"],
        );
        assert!(
            m.text.contains("7") && m.text.contains("'Ann'"),
            "{}",
            m.text
        );
        let m = mask(
            Dialect::Postgres,
            "UPDATE customers SET ssn = '1' || '2', name = 'Ann' WHERE id = 7",
            &["customers.ssn"],
        );
        assert!(
            m.text.contains("'Ann'") && m.text.contains("= 7"),
            "{}",
            m.text
        );
    }

    /// Black-box findings F2 and F3: a column reached through an alias column list, a derived
    /// table, a CTE, LATERAL, a set operation, a NATURAL or USING join, a whole row, `ONLY`,
    /// `MATCH … AGAINST` or a prepared statement's `EXECUTE … USING` cannot be followed with
    /// certainty, so the statement is masked whole.
    #[test]
    fn literals_meeting_columns_the_masker_cannot_resolve_are_masked() {
        use Dialect::{MySql, Postgres};
        let cases = [
            (
                Postgres,
                "SELECT id FROM customers c(i,n,e,s) WHERE s = 'ZQ1'",
            ),
            (Postgres, "SELECT id FROM customers c(i,n,e,s) WHERE s = $1"),
            (
                Postgres,
                "SELECT id FROM (SELECT id, ssn AS s FROM customers) q WHERE s = 'ZQ1'",
            ),
            (
                Postgres,
                "SELECT id FROM (SELECT id, ssn FROM customers) q(a, b) WHERE b = 'ZQ1'",
            ),
            (
                Postgres,
                "SELECT id FROM (SELECT * FROM customers) q WHERE q.ssn = 'ZQ1'",
            ),
            (
                Postgres,
                "WITH q AS (SELECT id, ssn AS s FROM customers) SELECT id FROM q WHERE s = 'ZQ1'",
            ),
            (
                Postgres,
                "WITH q(a, b) AS (SELECT id, ssn FROM customers) SELECT a FROM q WHERE b = $1",
            ),
            (
                Postgres,
                "SELECT c.id FROM customers c, LATERAL (SELECT c.ssn AS z) l WHERE z = 'ZQ1'",
            ),
            (
                Postgres,
                "SELECT id FROM customers NATURAL JOIN (SELECT 'ZQ1'::text AS ssn) x",
            ),
            (
                Postgres,
                "SELECT id FROM customers JOIN (SELECT 'ZQ1'::text AS ssn) x USING (ssn)",
            ),
            (Postgres, "SELECT ssn FROM customers UNION SELECT 'ZQ1'"),
            (Postgres, "SELECT ssn FROM customers INTERSECT SELECT $1"),
            (
                Postgres,
                "SELECT id FROM customers WHERE to_jsonb(customers)->>'ssn' = 'ZQ1'",
            ),
            (
                Postgres,
                "SELECT id FROM customers WHERE customers::text LIKE '%ZQ1%'",
            ),
            (
                Postgres,
                "SELECT id FROM customers c WHERE c = ROW(1, 'n', 'e', 'ZQ1')::customers",
            ),
            (
                Postgres,
                "SELECT id FROM customers c WHERE row_to_json(c.*)::text LIKE '%ZQ1%'",
            ),
            (
                Postgres,
                "COPY (SELECT i FROM customers c(i,n,e,s) WHERE s = 'ZQ1') TO STDOUT",
            ),
            (
                Postgres,
                "UPDATE ONLY customers SET ssn = 'ZQ1' WHERE id = 99999",
            ),
            (Postgres, "DELETE FROM ONLY customers WHERE ssn = 'ZQ1'"),
            (Postgres, "SELECT id FROM ONLY customers WHERE ssn = 'ZQ1'"),
            (
                Postgres,
                "SELECT ssn AS s FROM customers ORDER BY s = 'ZQ1'",
            ),
            (
                MySql,
                "SELECT id FROM (SELECT id, ssn AS s FROM customers) q WHERE s = 'ZQ1'",
            ),
            (
                MySql,
                "SELECT id FROM (SELECT id, ssn AS s FROM customers) q WHERE s = ?",
            ),
            (
                MySql,
                "WITH q AS (SELECT id, ssn AS s FROM customers) SELECT id FROM q WHERE s = 'ZQ1'",
            ),
            (
                MySql,
                "SELECT id FROM customers NATURAL JOIN (SELECT 'ZQ1' AS ssn) x",
            ),
            (
                MySql,
                "SELECT id FROM customers JOIN (SELECT 'ZQ1' AS ssn) x USING (ssn)",
            ),
            (MySql, "SELECT ssn FROM customers UNION SELECT 'ZQ1'"),
            (
                MySql,
                "SELECT id FROM customers WHERE MATCH(ssn) AGAINST ('ZQ1')",
            ),
            (
                MySql,
                "SELECT id FROM customers WHERE MATCH(ssn) AGAINST (?)",
            ),
            (MySql, "SELECT ssn AS s FROM customers HAVING s = 'ZQ1'"),
            (MySql, "EXECUTE s1 USING 'ZQ1'"),
            (
                MySql,
                "EXECUTE IMMEDIATE 'SELECT id FROM customers WHERE ssn = ?' USING 'ZQ1'",
            ),
            (
                MySql,
                "PREPARE s1 FROM 'SELECT id FROM customers WHERE ssn = ''ZQ1'''",
            ),
        ];
        for (dialect, sql) in cases {
            let m = mask(dialect, sql, &["customers.ssn"]);
            assert!(!m.text.contains("ZQ1"), "{sql}\n  recorded as {}", m.text);
            if !sql.starts_with("EXECUTE") && (sql.contains('$') || sql.contains('?')) {
                assert!(
                    m.all_params_masked || m.masked_params == [1],
                    "{sql}: parameters {:?}",
                    m.masked_params
                );
            }
        }
        // Statements whose references all resolve stay readable, and so do unresolved
        // references over tables that cannot hold a sensitive column.
        for (dialect, sql) in [
            (
                Postgres,
                "SELECT id FROM customers c WHERE c.id = 7 AND ssn = 'x'",
            ),
            (
                Postgres,
                "UPDATE ONLY customers SET name = 'x' WHERE id = 7",
            ),
            (Postgres, "SELECT count(*) FROM customers WHERE id = 7"),
            (
                Postgres,
                "SELECT c.id FROM customers c JOIN orders o ON c.id = o.cid WHERE o.id = 7",
            ),
            (
                Postgres,
                "SELECT id FROM (SELECT id FROM orders) q WHERE id = 7",
            ),
            (MySql, "SELECT ssn AS s FROM customers WHERE id = 7"),
            (
                MySql,
                "SELECT id FROM orders NATURAL JOIN items WHERE id = 7",
            ),
        ] {
            let m = mask(dialect, sql, &["customers.ssn"]);
            assert!(m.text.contains('7'), "{sql}\n  recorded as {}", m.text);
        }
    }

    /// Finding F4: text the proxy cannot read (a statement prepared where it did not see it)
    /// has every bound parameter masked.
    #[test]
    fn parameters_of_unreadable_text_are_all_masked() {
        let m = mask(
            Dialect::Postgres,
            "(a prepared statement sluice did not see prepared)",
            &["customers.ssn"],
        );
        assert!(m.all_params_masked);
    }

    #[test]
    fn unparseable_text_is_redacted() {
        let m = mask(
            Dialect::Postgres,
            "SELEKT ssn FROM t WHERE ssn = '123' -- secret",
            &["ssn"],
        );
        assert_eq!(m.text, "SELEKT ssn FROM t WHERE ssn = ?");
    }

    #[test]
    fn keep_and_redact() {
        let s = SensitiveColumns::default();
        let sql = "SELECT * FROM t WHERE a = 'x'";
        assert_eq!(
            mask_literals(Dialect::Postgres, sql, &s, LiteralMode::Keep).text,
            sql
        );
        assert_eq!(
            mask_literals(Dialect::Postgres, sql, &s, LiteralMode::Redact).text,
            "SELECT * FROM t WHERE a = ?"
        );
    }
}
