//! The masks' caches, keyed by statement text or, where the cached value holds for every text
//! of one [`policy::Shape`], by shape: statements that differ only in literals are parsed once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use policy::{Dialect, Lineage, LiteralPlan, Shape, ShapedSql};

/// Lineages by statement text, or by [`policy::Shape`] when the lineage holds for every text
/// of the shape (so that statements differing only in literals are parsed once). Bounded: when
/// full it starts over, which costs a few re-parses and never grows without limit.
#[derive(Debug, Default)]
pub(super) struct LineageCache {
    map: Mutex<HashMap<LineageKey, Arc<Vec<Lineage>>>>,
}

/// Exact texts and shape keys apart, as in [`policy::AnalysisCache`].
#[derive(Debug, PartialEq, Eq, Hash)]
enum LineageKey {
    Text(Dialect, Box<str>),
    Shape(Dialect, Box<str>),
}

const LINEAGE_CACHE: usize = 4096;
/// Longer statements are analysed every time rather than kept.
pub(super) const LINEAGE_CACHE_MAX_TEXT: usize = 16 * 1024;

impl LineageCache {
    pub(super) fn get(&self, s: &ShapedSql<'_>) -> Arc<Vec<Lineage>> {
        let (dialect, sql) = (s.dialect(), s.sql());
        let shaped = s
            .shape()
            .map(|s| LineageKey::Shape(dialect, s.key().into()));
        let text = {
            let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(hit) = shaped.as_ref().and_then(|k| map.get(k)) {
                return Arc::clone(hit);
            }
            let text = LineageKey::Text(dialect, sql.into());
            if let Some(hit) = map.get(&text) {
                return Arc::clone(hit);
            }
            text
        };
        let lineage = Arc::new(policy::lineage(dialect, sql));
        if sql.len() <= LINEAGE_CACHE_MAX_TEXT {
            let key = match shaped {
                Some(k) if lineage.iter().all(Lineage::shape_invariant) => k,
                _ => text,
            };
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= LINEAGE_CACHE {
                map.clear();
            }
            map.insert(key, Arc::clone(&lineage));
        }
        lineage
    }
}

/// Literal plans for the audit log, by shape (`None`: mask that shape by a full parse).
#[derive(Debug, Default)]
pub(super) struct LiteralPlanCache {
    map: Mutex<HashMap<(Dialect, Box<str>), PlanOrParse>>,
}

/// A shape's plan, or `None`: mask that shape by a full parse.
type PlanOrParse = Option<Arc<LiteralPlan>>;

impl LiteralPlanCache {
    pub(super) fn get(
        &self,
        dialect: Dialect,
        sql: &str,
        shape: &Shape,
        sensitive: &policy::SensitiveColumns,
    ) -> Option<Arc<LiteralPlan>> {
        let key = (dialect, Box::<str>::from(shape.key()));
        if let Some(hit) = self.map.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return hit.clone();
        }
        let plan = LiteralPlan::new(dialect, sql, shape, sensitive).map(Arc::new);
        if sql.len() <= LINEAGE_CACHE_MAX_TEXT {
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= LINEAGE_CACHE {
                map.clear();
            }
            map.insert(key, plan.clone());
        }
        plan
    }
}
