//! Statement kinds from sqlparser's AST, and the objects DDL statements change.
//!
//! Kept apart from the table walk in [`crate::analysis`] because it is one long mapping over
//! sqlparser's `Statement` variants, which grows with every sqlparser release.

use sqlparser::ast::{Expr, JoinConstraint, JoinOperator, ObjectName, Query, Statement};

use crate::{Dialect, StatementKind};

/// True for `EXPLAIN ANALYZE x` and `EXPLAIN (ANALYZE [true|on|1]) x`.
pub(crate) fn explain_runs(statement: &Statement) -> bool {
    let Statement::Explain {
        analyze, options, ..
    } = statement
    else {
        return false;
    };
    *analyze
        || options.iter().flatten().any(|o| {
            (o.name.value.eq_ignore_ascii_case("analyze")
                || o.name.value.eq_ignore_ascii_case("analyse"))
                && match &o.arg {
                    None => true,
                    // Anything but an explicit false/off/0 counts as on: the cautious reading.
                    Some(arg) => !matches!(
                        arg.to_string().to_ascii_lowercase().as_str(),
                        "false" | "off" | "0"
                    ),
                }
        })
}

/// Maps a statement to its kind, before looking inside for nested DML.
pub(crate) fn classify(dialect: Dialect, statement: &Statement) -> StatementKind {
    use StatementKind as K;
    match statement {
        Statement::Query(query) => match select_into_table(dialect, query) {
            Some(_) => K::Create,
            None => K::Select,
        },
        Statement::Insert(_) => K::Insert,
        Statement::Update(_) => K::Update,
        Statement::Delete(_) => K::Delete,
        Statement::Merge(_) => K::Merge,
        Statement::Copy { to: false, .. } | Statement::LoadData { .. } => K::CopyFrom,
        Statement::Copy { to: true, .. } | Statement::Unload { .. } => K::CopyTo,
        Statement::Truncate(_) => K::Truncate,
        Statement::Drop { .. }
        | Statement::DropFunction(_)
        | Statement::DropDomain(_)
        | Statement::DropProcedure { .. }
        | Statement::DropSecret { .. }
        | Statement::DropPolicy(_)
        | Statement::DropConnector { .. }
        | Statement::DropExtension(_)
        | Statement::DropOperator(_)
        | Statement::DropOperatorFamily(_)
        | Statement::DropOperatorClass(_)
        | Statement::DropTrigger(_) => K::Drop,
        Statement::AlterTable(_)
        | Statement::AlterSchema(_)
        | Statement::AlterIndex { .. }
        | Statement::AlterView { .. }
        | Statement::AlterFunction(_)
        | Statement::AlterType(_)
        | Statement::AlterCollation(_)
        | Statement::AlterOperator(_)
        | Statement::AlterOperatorFamily(_)
        | Statement::AlterOperatorClass(_)
        | Statement::AlterTextSearch(_)
        | Statement::AlterRole { .. }
        | Statement::AlterPolicy(_)
        | Statement::AlterConnector { .. }
        | Statement::AlterUser(_) => K::Alter,
        Statement::CreateView(_)
        | Statement::CreateTable(_)
        | Statement::CreateVirtualTable { .. }
        | Statement::CreateIndex(_)
        | Statement::CreateRole(_)
        | Statement::CreateSecret { .. }
        | Statement::CreateServer(_)
        | Statement::CreatePolicy(_)
        | Statement::CreateConnector(_)
        | Statement::CreateOperator(_)
        | Statement::CreateOperatorFamily(_)
        | Statement::CreateOperatorClass(_)
        | Statement::CreateTextSearch(_)
        | Statement::CreateExtension(_)
        | Statement::CreateCollation(_)
        | Statement::CreateSchema { .. }
        | Statement::CreateDatabase { .. }
        | Statement::CreateFunction(_)
        | Statement::CreateTrigger(_)
        | Statement::CreateProcedure { .. }
        | Statement::CreateMacro { .. }
        | Statement::CreateStage { .. }
        | Statement::CreateFileFormat { .. }
        | Statement::CreateWarehouse(_)
        | Statement::CreateSequence { .. }
        | Statement::CreateDomain(_)
        | Statement::CreateType { .. }
        | Statement::CreateUser(_) => K::Create,
        Statement::Comment { .. } | Statement::RenameTable(_) => K::Ddl,
        Statement::Grant(_) => K::Grant,
        Statement::Revoke(_) | Statement::Deny(_) => K::Revoke,
        Statement::Set(_) | Statement::Reset(_) => K::Set,
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => K::Transaction,
        Statement::Call(_) => K::Call,
        Statement::Explain { .. } | Statement::ExplainTable { .. } => K::Explain,
        _ => K::Other,
    }
}

/// The table a `SELECT … INTO name` creates (PostgreSQL). In MySQL, `SELECT … INTO @var` only
/// sets variables, so it stays a SELECT there.
pub(crate) fn select_into_table(dialect: Dialect, query: &Query) -> Option<ObjectName> {
    if dialect != Dialect::Postgres {
        return None;
    }
    let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    let into = select.into.as_ref()?;
    into.targets.iter().find_map(|target| match target {
        Expr::Identifier(ident) => Some(ObjectName::from(vec![ident.clone()])),
        Expr::CompoundIdentifier(idents) => Some(ObjectName::from(idents.clone())),
        _ => None,
    })
}

/// Objects a DDL statement changes (the visitor reports only some of them as relations).
pub(crate) fn ddl_targets(statement: &Statement) -> Vec<ObjectName> {
    match statement {
        Statement::Drop { names, table, .. } => {
            names.iter().cloned().chain(table.iter().cloned()).collect()
        }
        Statement::Truncate(t) => t.table_names.iter().map(|t| t.name.clone()).collect(),
        Statement::AlterTable(a) => vec![a.name.clone()],
        Statement::AlterIndex { name, .. } | Statement::AlterView { name, .. } => {
            vec![name.clone()]
        }
        Statement::CreateTable(c) => vec![c.name.clone()],
        Statement::CreateView(c) => vec![c.name.clone()],
        Statement::CreateIndex(c) => vec![c.table_name.clone()],
        Statement::RenameTable(renames) => renames
            .iter()
            .flat_map(|r| [r.old_name.clone(), r.new_name.clone()])
            .collect(),
        Statement::Comment {
            object_type: sqlparser::ast::CommentObject::Table,
            object_name,
            ..
        } => vec![object_name.clone()],
        _ => Vec::new(),
    }
}

/// A join's condition, whatever its operator (an `ASOF` join's match condition aside).
pub(crate) fn join_constraint(op: &JoinOperator) -> Option<&JoinConstraint> {
    match op {
        JoinOperator::Join(c)
        | JoinOperator::Inner(c)
        | JoinOperator::Left(c)
        | JoinOperator::LeftOuter(c)
        | JoinOperator::Right(c)
        | JoinOperator::RightOuter(c)
        | JoinOperator::FullOuter(c)
        | JoinOperator::CrossJoin(c)
        | JoinOperator::Semi(c)
        | JoinOperator::LeftSemi(c)
        | JoinOperator::RightSemi(c)
        | JoinOperator::Anti(c)
        | JoinOperator::LeftAnti(c)
        | JoinOperator::RightAnti(c)
        | JoinOperator::StraightJoin(c)
        | JoinOperator::AsOf { constraint: c, .. } => Some(c),
        JoinOperator::CrossApply
        | JoinOperator::OuterApply
        | JoinOperator::ArrayJoin
        | JoinOperator::LeftArrayJoin
        | JoinOperator::InnerArrayJoin => None,
    }
}

/// True for joins that keep only the rows that match on both sides (MySQL's `CROSS JOIN … ON`
/// is an inner join): outer and anti joins keep rows whatever their condition says.
pub(crate) fn keeps_only_matches(op: &JoinOperator) -> bool {
    matches!(
        op,
        JoinOperator::Join(_)
            | JoinOperator::Inner(_)
            | JoinOperator::CrossJoin(_)
            | JoinOperator::StraightJoin(_)
            | JoinOperator::Semi(_)
            | JoinOperator::LeftSemi(_)
            | JoinOperator::RightSemi(_)
    )
}
