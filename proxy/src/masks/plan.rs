//! One result's masking plan: what happens to each column, decided once when the columns are
//! known, then applied to every row with a reused scratch buffer.

use std::sync::Arc;

use masking::{ColumnType, MaskFunction, MaskOutcome, TypeKind};
use policy::{Dialect, ShapedSql, Source};

use super::SessionMasks;
use crate::session::{ColumnDesc, ColumnOrigin, Relations, ResultOf, RowFields};

#[derive(Debug)]
enum Action {
    Pass,
    Mask {
        function: Arc<MaskFunction>,
        ty: ColumnType,
    },
    /// A text value that no mask names: content detectors look inside it. `whole` when the
    /// value's encoding has lengths inside it (PostgreSQL binary arrays and records): a hit
    /// cannot be rewritten in place, so the value becomes NULL.
    Detect {
        whole: bool,
    },
}

/// Values masked and detector hits in the rows of one result, kept in the session and added to
/// the target's metrics when the result ends (no shared counter is touched per row).
#[derive(Debug, Default)]
pub struct MaskCounts {
    pub masked: Vec<(String, u64)>,
    pub detected: Vec<(&'static str, u64)>,
}

impl MaskCounts {
    fn masked(&mut self, function: &str) {
        match self.masked.iter_mut().find(|(f, _)| f == function) {
            Some((_, n)) => *n += 1,
            None => self.masked.push((function.to_string(), 1)),
        }
    }

    fn detected(&mut self, kind: &'static str) {
        match self.detected.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => *n += 1,
            None => self.detected.push((kind, 1)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.masked.is_empty() && self.detected.is_empty()
    }
}

/// What to do with each column of one result.
#[derive(Debug)]
pub struct RowPlan {
    actions: Vec<Action>,
}

/// Whether `schema.table` is a base table, as far as the catalog says (no list: assume so).
fn is_base_table(relations: &Relations, schema: &str, table: &str) -> bool {
    match &relations.tables {
        Some(tables) => tables.contains(&(schema.to_lowercase(), table.to_lowercase())),
        None => !relations
            .views
            .keys()
            .any(|(s, t)| s.eq_ignore_ascii_case(schema) && t.eq_ignore_ascii_case(table)),
    }
}

fn is_textual(ty: ColumnType) -> bool {
    matches!(ty.kind, TypeKind::Text | TypeKind::Json | TypeKind::Other)
}

impl SessionMasks {
    /// The plan for a result, or `None` when every value may pass as it is (the rows are then
    /// forwarded raw, never decoded).
    pub fn plan(
        &self,
        dialect: Dialect,
        of: Option<ResultOf<'_>>,
        columns: &[ColumnDesc],
        relations: Option<&Relations>,
    ) -> Option<RowPlan> {
        if self.is_empty() {
            return None;
        }
        let lineages = of.map(|of| (self.lineage(&ShapedSql::new(dialect, of.sql)), of.index));
        let lineage = lineages.as_ref().and_then(|(l, i)| l.get(*i));
        // When the statement's output columns cannot be lined up with the result (a `*`, a
        // result the adapter could not attribute), every source of every output counts.
        let per_column = lineage
            .and_then(|l| l.columns.as_ref())
            .filter(|c| c.len() == columns.len());
        let opaque = [Source::Opaque];
        let all: &[Source] = lineage.map_or(&opaque[..], |l| &l.all_outputs[..]);
        let detect = !self.detectors.is_empty();
        let mut any = false;
        let actions = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let lineage_column = per_column.map(|cols| &cols[i]);
                let masked = self.column_mask(c, lineage_column, all, relations);
                let action = match masked {
                    Some(function) => Action::Mask {
                        function,
                        ty: c.value_type,
                    },
                    None if detect && is_textual(c.value_type) => Action::Detect {
                        whole: c.value_type.kind == TypeKind::Other
                            && c.value_type.wire == masking::Wire::PgBinary,
                    },
                    None => Action::Pass,
                };
                any |= !matches!(action, Action::Pass);
                action
            })
            .collect();
        any.then_some(RowPlan { actions })
    }

    /// The mask one result column gets, if any. A column that passes one masked column
    /// through whole gets that column's function; anything derived from one gets a constant,
    /// never a shape-keeping mask (see `passes_whole`). `lineage` is the statement's own
    /// account of the column when it lines up with the result; `all`, every source otherwise.
    fn column_mask(
        &self,
        c: &ColumnDesc,
        lineage: Option<&policy::OutputColumn>,
        all: &[Source],
        relations: Option<&Relations>,
    ) -> Option<Arc<MaskFunction>> {
        let lineage_sources = || lineage.map_or(all, |col| &col.sources[..]);
        // Whether the lineage says the column is one source column, whole.
        let lineage_whole = || {
            lineage.is_some_and(|col| {
                col.direct
                    && col
                        .sources
                        .iter()
                        .all(|s| self.passes_whole(s, relations, 0))
            })
        };
        let (masked, whole) = match &c.origin {
            // A name the catalog does not know as a base table (a MySQL derived-table alias,
            // a view): the statement's lineage decides, through views.
            ColumnOrigin::Named {
                schema,
                table,
                column,
            } if relations.is_some_and(|r| !is_base_table(r, schema, table)) => {
                let f = self.first_masked(lineage_sources(), relations)?.0;
                let whole =
                    lineage_whole() || self.view_column_whole(relations, schema, table, column);
                (f, whole)
            }
            ColumnOrigin::Named {
                schema,
                table,
                column,
            } => (self.origin_mask(schema, table, column)?, true),
            ColumnOrigin::View {
                schema,
                table,
                column,
                sources,
            } => match self.origin_mask(schema, table, column) {
                Some(f) => (f, true),
                None => {
                    let f = self.first_masked(sources.iter(), relations)?.0;
                    (f, self.view_column_whole(relations, schema, table, column))
                }
            },
            ColumnOrigin::Unknown | ColumnOrigin::PgAttribute { .. } => {
                let f = self.first_masked(lineage_sources(), relations)?.0;
                (f, lineage_whole())
            }
        };
        Some(match whole {
            true => Arc::clone(masked),
            false => self.derived_mask(),
        })
    }

    /// Masks one row in place, counting what it did.
    pub fn apply(
        &self,
        plan: &RowPlan,
        fields: &mut RowFields,
        scratch: &mut Vec<u8>,
        counts: &mut MaskCounts,
    ) {
        for (field, action) in fields.iter_mut().zip(&plan.actions) {
            let Some(value) = field.as_mut() else {
                continue;
            };
            match action {
                Action::Pass => {}
                Action::Mask { function, ty } => {
                    counts.masked(function.name());
                    scratch.clear();
                    match function.apply(*ty, value, scratch) {
                        MaskOutcome::Value => std::mem::swap(value, scratch),
                        MaskOutcome::Null => *field = None,
                    }
                }
                Action::Detect { whole } => {
                    let mut hit = false;
                    for &d in &self.detectors {
                        let rule = &self.policy.detectors[d];
                        scratch.clear();
                        if rule
                            .set
                            .mask_hits_seen(value, &rule.function, scratch, |h| {
                                counts.detected(h.kind.name())
                            })
                        {
                            std::mem::swap(value, scratch);
                            hit = true;
                        }
                    }
                    if hit && *whole {
                        *field = None;
                    }
                }
            }
        }
        // A row with more fields than columns described is not the protocol; mask the rest.
        for field in fields.iter_mut().skip(plan.actions.len()) {
            *field = None;
        }
    }
}
