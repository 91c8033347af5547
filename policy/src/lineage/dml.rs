//! INSERT / UPDATE / DELETE / MERGE: their RETURNING lists, predicates and copies.

use std::rc::Rc;

use sqlparser::ast::{
    FromTable, OnConflictAction, OnInsert, SetExpr, Statement, TableObject, UpdateTableFromKind,
};

use super::expr::name_parts;
use super::query::Ctx;
use super::scope::{QueryOut, Relation, Scope};
use super::{CopyTarget, Source};
use crate::analysis::normalize_ident;

impl Ctx {
    /// INSERT / UPDATE / DELETE / MERGE: what they copy, filter on and return.
    pub(super) fn dml(&mut self, statement: &Statement, outer: &Scope<'_>) -> QueryOut {
        let mut scope = Scope::child(outer);
        let returning = match statement {
            Statement::Insert(insert) => {
                let target = match &insert.table {
                    TableObject::TableName(name) => {
                        let parts = name_parts(name);
                        let parts = &parts[parts.len().saturating_sub(2)..];
                        let alias = insert
                            .table_alias
                            .as_ref()
                            .map(|a| normalize_ident(&a.alias));
                        match parts {
                            [table] => Relation::base(alias, None, table.clone(), false),
                            [schema, table] => {
                                Relation::base(alias, Some(schema.clone()), table.clone(), false)
                            }
                            _ => Relation::opaque(alias),
                        }
                    }
                    _ => Relation::opaque(None),
                };
                let target = Rc::new(target);
                if let Some(source) = &insert.source {
                    let out = self.query(source, outer);
                    let all = out.all();
                    if !all.is_empty() || !matches!(source.body.as_ref(), SetExpr::Values(_)) {
                        self.copy(CopyTarget::Table, &all);
                    }
                }
                scope.relations.push(Rc::clone(&target));
                let mut assignments: Vec<&sqlparser::ast::Assignment> =
                    insert.assignments.iter().collect();
                let mut conflict_filter = None;
                match &insert.on {
                    Some(OnInsert::DuplicateKeyUpdate(a)) => assignments.extend(a),
                    Some(OnInsert::OnConflict(c)) => {
                        if let OnConflictAction::DoUpdate(update) = &c.action {
                            assignments.extend(&update.assignments);
                            conflict_filter = update.selection.as_ref();
                        }
                        // The row that failed to go in, with the target's columns.
                        if let Some((schema, table)) = target.base_table() {
                            scope.relations.push(Rc::new(Relation::base(
                                Some("excluded".into()),
                                schema,
                                table,
                                false,
                            )));
                        }
                    }
                    _ => {}
                }
                for a in assignments {
                    let sources = self.sources(&a.value, &scope);
                    if !sources.is_empty() {
                        self.copy(CopyTarget::Table, &sources);
                    }
                }
                if let Some(filter) = conflict_filter {
                    self.predicate(filter, &scope);
                }
                insert.returning.as_deref()
            }
            Statement::Update(update) => {
                self.add_from_item(&update.table, outer, &mut scope);
                if let Some(
                    UpdateTableFromKind::BeforeSet(from) | UpdateTableFromKind::AfterSet(from),
                ) = &update.from
                {
                    for item in from {
                        self.add_from_item(item, outer, &mut scope);
                    }
                }
                for a in &update.assignments {
                    let sources = self.sources(&a.value, &scope);
                    if !sources.is_empty() {
                        self.copy(CopyTarget::Table, &sources);
                    }
                }
                if let Some(selection) = &update.selection {
                    self.predicate(selection, &scope);
                }
                self.order_predicates(&update.order_by, &scope);
                update.returning.as_deref()
            }
            Statement::Delete(delete) => {
                let from = match &delete.from {
                    FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
                };
                for item in from.iter().chain(delete.using.iter().flatten()) {
                    self.add_from_item(item, outer, &mut scope);
                }
                if let Some(selection) = &delete.selection {
                    self.predicate(selection, &scope);
                }
                self.order_predicates(&delete.order_by, &scope);
                delete.returning.as_deref()
            }
            Statement::Merge(merge) => {
                let target = self.table_factor(&merge.table, outer, &scope);
                scope.relations.extend(target);
                let source = self.table_factor(&merge.source, outer, &scope);
                scope.relations.extend(source);
                self.predicate(&merge.on, &scope);
                // The WHEN clauses are not followed: whatever they write may come from anywhere.
                self.copy(CopyTarget::Table, &[Source::Opaque]);
                None
            }
            _ => return QueryOut::opaque(),
        };
        match returning {
            Some(items) => self.projection(items, &scope),
            None => QueryOut::default(),
        }
    }
}
