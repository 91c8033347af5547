//! `[[masks]]`, `[[detectors]]` and `[masking]`, compiled once per configuration and narrowed
//! to each session (its user, groups and target). Protocol-neutral: the adapters hand over
//! columns with their origins and rows as fields; this decides which values are masked and
//! which statements are refused because their results could not be masked safely.
//!
//! How a result column is judged:
//! * a column whose origin the wire (or the catalog) names is masked when a mask names that
//!   origin — aliases and `SELECT *` are covered by construction;
//! * a column of a view is judged by the sources the view definition gives it;
//! * any other column (an expression, an aggregate, a column the catalog could not resolve) is
//!   judged by the statement's lineage: if anything it is computed from is masked, so is it
//!   (`on_derived = "mask"`), and when the lineage cannot be lined up with the result, every
//!   source of every output counts (fail closed).

mod caches;
pub mod check;
mod closed_world;
pub use closed_world::reveals_values_outside_masks;
mod plan;

use std::sync::{Arc, Mutex};

use masking::{DetectorKind, DetectorSet, MaskFunction, MaskSpec};
use policy::{Dialect, Glob, Lineage, ShapedSql, Source};

use crate::config::{Config, DetectorConfig, MaskConfig};
use crate::session::{Relations, ViewColumn, ViewColumns};
use caches::{LineageCache, LiteralPlanCache, LINEAGE_CACHE_MAX_TEXT};
pub use plan::{MaskCounts, RowPlan};

/// One `schema.table.column` pattern (each part a glob; fewer parts leave the rest open).
#[derive(Debug)]
struct ColumnPattern {
    schema: Option<Glob>,
    table: Option<Glob>,
    column: Glob,
}

impl ColumnPattern {
    fn parse(pattern: &str) -> Result<ColumnPattern, String> {
        let glob = |p: &str| Glob::new(p).map_err(|e| format!("column {pattern:?}: {e}"));
        let parts: Vec<&str> = pattern.split('.').collect();
        let (schema, table, column) = match parts.as_slice() {
            [c] => (None, None, glob(c)?),
            [t, c] => (None, Some(glob(t)?), glob(c)?),
            [s, t, c] => (Some(glob(s)?), Some(glob(t)?), glob(c)?),
            _ => {
                return Err(format!(
                    "column {pattern:?}: expected schema.table.column (or table.column, column)"
                ))
            }
        };
        Ok(ColumnPattern {
            schema,
            table,
            column,
        })
    }

    /// `None` parts are unknown and match anything (fail closed).
    fn covers(&self, schema: Option<&str>, table: Option<&str>) -> bool {
        let part = |g: &Option<Glob>, v: Option<&str>| match (g, v) {
            (Some(g), Some(v)) => g.matches(v),
            _ => true,
        };
        part(&self.table, table) && part(&self.schema, schema)
    }

    fn matches(&self, schema: Option<&str>, table: Option<&str>, column: &str) -> bool {
        self.column.matches(column) && self.covers(schema, table)
    }
}

#[derive(Debug)]
struct MaskRule {
    columns: Vec<ColumnPattern>,
    function: Arc<MaskFunction>,
    except_groups: Vec<Glob>,
}

#[derive(Debug)]
struct DetectorRule {
    set: Arc<DetectorSet>,
    function: Arc<MaskFunction>,
    targets: Option<Vec<Glob>>,
    except_groups: Vec<Glob>,
}

/// `[masking]`: what happens where a mask cannot simply be applied by origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaskSettings {
    /// `on_derived = "block"`: refuse statements that compute outputs from masked columns.
    pub derived_block: bool,
    /// `on_predicate = "block"`: refuse statements that filter, join or sort on masked columns.
    pub predicate_block: bool,
    /// `on_unknown_column = "block"`: refuse statements whose output origins cannot be told.
    pub unknown_block: bool,
    /// `on_opaque = "mask"`: let a masked session call functions sluice cannot see into and
    /// mask what they return, instead of refusing the statement (the default, `"block"`).
    pub opaque_mask: bool,
}

/// Every mask of a configuration.
#[derive(Debug)]
pub struct MaskPolicy {
    rules: Vec<MaskRule>,
    detectors: Vec<DetectorRule>,
    settings: MaskSettings,
    /// What a value of unknowable origin gets.
    fail_closed: Arc<MaskFunction>,
    lineages: LineageCache,
    literal_plans: LiteralPlanCache,
    /// Every masked column pattern, for masking literals in the audit log.
    sensitive: policy::SensitiveColumns,
}

fn globs(list: &[String], what: &str) -> Result<Vec<Glob>, String> {
    list.iter()
        .map(|g| Glob::new(g).map_err(|e| format!("{what} {g:?}: {e}")))
        .collect()
}

fn setting(value: Option<&str>, key: &str, alternative: &str) -> Result<bool, String> {
    match value {
        None => Ok(false),
        Some(v) if v == alternative => Ok(true),
        Some("allow") if alternative == "block" && key != "on_derived" => Ok(false),
        Some("mask") if key == "on_derived" => Ok(false),
        Some(v) => Err(format!(
            "[masking] {key} = {v:?}: expected {}",
            if key == "on_derived" {
                "\"mask\" or \"block\""
            } else {
                "\"allow\" or \"block\""
            }
        )),
    }
}

/// Where mask keys come from: the environment when serving, a stand-in when only checking.
type KeyLookup<'a> = &'a dyn Fn(&str) -> Option<Vec<u8>>;

fn env_key(name: &str) -> Option<Vec<u8>> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(String::into_bytes)
}

fn compile_function(m: &MaskConfig, what: &str, keys: KeyLookup) -> Result<MaskFunction, String> {
    let key = match &m.key_env {
        Some(env) => Some(keys(env).ok_or_else(|| format!("{what}: key_env {env:?} is not set"))?),
        None => None,
    };
    let spec = MaskSpec {
        function: m.function.clone(),
        keep_first: m.keep_first,
        keep_last: m.keep_last,
        fill: m.fill.clone(),
        step: m.step,
        pattern: m.pattern.clone(),
        replacement: m.replacement.clone(),
        value: m.value.clone(),
        key,
        precision: m.precision.clone(),
    };
    MaskFunction::compile(&spec).map_err(|e| format!("{what}: {e}"))
}

fn plain_spec(function: &str) -> MaskSpec {
    MaskSpec {
        function: function.to_string(),
        keep_first: None,
        keep_last: None,
        fill: None,
        step: None,
        pattern: None,
        replacement: None,
        value: None,
        key: None,
        precision: None,
    }
}

fn compile_detector(d: &DetectorConfig, what: &str) -> Result<DetectorRule, String> {
    let kinds = d
        .kinds
        .iter()
        .map(|k| DetectorKind::parse(k).map_err(|e| format!("{what}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let set =
        DetectorSet::new(&kinds, &d.patterns, &d.dictionary).map_err(|e| format!("{what}: {e}"))?;
    let function =
        MaskFunction::compile(&plain_spec(&d.function)).map_err(|e| format!("{what}: {e}"))?;
    Ok(DetectorRule {
        set: Arc::new(set),
        function: Arc::new(function),
        targets: d
            .targets
            .as_deref()
            .map(|t| globs(t, "targets"))
            .transpose()
            .map_err(|e| format!("{what}: {e}"))?,
        except_groups: globs(&d.except_groups, "except_groups")
            .map_err(|e| format!("{what}: {e}"))?,
    })
}

impl MaskPolicy {
    /// Compiles the masking sections; `None` when the file has none (sessions then never
    /// decode a row).
    pub fn compile(config: &Config) -> Result<Option<Arc<MaskPolicy>>, String> {
        Self::compile_with(config, &env_key)
    }

    /// Checks the masking sections without needing their keys (for `sluice check` and config
    /// validation).
    pub fn validate(config: &Config) -> Result<(), String> {
        Self::compile_with(config, &|_| Some(b"key".to_vec())).map(|_| ())
    }

    fn compile_with(config: &Config, keys: KeyLookup) -> Result<Option<Arc<MaskPolicy>>, String> {
        if config.masks.is_empty() && config.detectors.is_empty() && config.masking.is_none() {
            return Ok(None);
        }
        let mut rules = Vec::new();
        for (i, m) in config.masks.iter().enumerate() {
            let what = format!("[[masks]] #{}", i + 1);
            if m.columns.is_empty() {
                return Err(format!("{what}: columns must name at least one column"));
            }
            rules.push(MaskRule {
                columns: m
                    .columns
                    .iter()
                    .map(|c| ColumnPattern::parse(c).map_err(|e| format!("{what}: {e}")))
                    .collect::<Result<_, _>>()?,
                function: Arc::new(compile_function(m, &what, keys)?),
                except_groups: globs(&m.except_groups, "except_groups")
                    .map_err(|e| format!("{what}: {e}"))?,
            });
        }
        let detectors = config
            .detectors
            .iter()
            .enumerate()
            .map(|(i, d)| compile_detector(d, &format!("[[detectors]] #{}", i + 1)))
            .collect::<Result<_, _>>()?;
        let m = config.masking.clone().unwrap_or_default();
        let settings = MaskSettings {
            derived_block: setting(m.on_derived.as_deref(), "on_derived", "block")?,
            predicate_block: setting(m.on_predicate.as_deref(), "on_predicate", "block")?,
            unknown_block: setting(m.on_unknown_column.as_deref(), "on_unknown_column", "block")?,
            opaque_mask: match m.on_opaque.as_deref() {
                None | Some("block") => false,
                Some("mask") => true,
                Some(v) => {
                    return Err(format!(
                        "[masking] on_opaque = {v:?}: expected \"block\" or \"mask\""
                    ))
                }
            },
        };
        let fail_closed =
            MaskFunction::compile(&plain_spec("redact")).map_err(|e| format!("internal: {e}"))?;
        Ok(Some(Arc::new(MaskPolicy {
            rules,
            detectors,
            settings,
            fail_closed: Arc::new(fail_closed),
            lineages: LineageCache::default(),
            literal_plans: LiteralPlanCache::default(),
            sensitive: policy::SensitiveColumns::new(
                config.masks.iter().flat_map(|m| m.columns.iter()),
            )
            .map_err(|e| format!("[[masks]]: {e}"))?,
        })))
    }

    /// Every masked column, for the audit log's literal masking (whoever the user is: the log
    /// never holds a masked column's literal in clear).
    pub fn sensitive_columns(&self) -> &policy::SensitiveColumns {
        &self.sensitive
    }

    /// How to mask the literals of every statement shaped like `sql` for the audit log,
    /// planned once per shape; `None` when it must be masked by a full parse.
    pub fn literal_plan(
        &self,
        dialect: Dialect,
        sql: &str,
        shape: &policy::Shape,
    ) -> Option<Arc<policy::LiteralPlan>> {
        self.literal_plans.get(dialect, sql, shape, &self.sensitive)
    }

    /// `text` with every detector hit (of any detector) redacted, for the audit log.
    pub fn redact_detected(&self, text: String) -> String {
        // Nothing is copied until a detector masks something: most texts have no hit, and
        // they are returned as they came.
        let mut masked: Option<Vec<u8>> = None;
        let mut out = Vec::new();
        for d in &self.detectors {
            out.clear();
            let current = masked.as_deref().unwrap_or(text.as_bytes());
            if d.set.mask_hits(current, &self.fail_closed, &mut out) {
                masked = Some(std::mem::take(&mut out));
            }
        }
        match masked {
            None => text,
            Some(bytes) => match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            },
        }
    }

    /// The masks that apply to one session.
    pub fn for_session(self: &Arc<Self>, groups: &[String], target: &str) -> SessionMasks {
        let exempt = |except: &[Glob]| except.iter().any(|g| groups.iter().any(|u| g.matches(u)));
        let rules = (0..self.rules.len())
            .filter(|&i| !exempt(&self.rules[i].except_groups))
            .collect();
        let detectors = (0..self.detectors.len())
            .filter(|&i| {
                let d = &self.detectors[i];
                !exempt(&d.except_groups)
                    && d.targets
                        .as_ref()
                        .is_none_or(|t| t.iter().any(|g| g.matches(target)))
            })
            .collect();
        SessionMasks {
            policy: Arc::clone(self),
            rules,
            detectors,
            last_lineage: Mutex::default(),
        }
    }
}

/// The masks in force for one session.
#[derive(Debug)]
pub struct SessionMasks {
    policy: Arc<MaskPolicy>,
    /// Indices into `policy.rules` / `policy.detectors`.
    rules: Vec<usize>,
    detectors: Vec<usize>,
    /// The session's last statement's lineage: the statement check and the result plan both
    /// ask for it, and the shared cache would cost a shape pass and a shared lock each time.
    last_lineage: Mutex<Option<LastLineage>>,
}

/// A statement's dialect, text and lineage.
type LastLineage = (Dialect, String, Arc<Vec<Lineage>>);

impl SessionMasks {
    /// Whether `other` (from the same policy) masks anything this one does not.
    pub fn masks_less_than(&self, other: &SessionMasks) -> bool {
        other.rules.iter().any(|r| !self.rules.contains(r))
            || other.detectors.iter().any(|d| !self.detectors.contains(d))
    }

    /// Whether this session sees every value in clear.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.detectors.is_empty()
    }

    /// Whether [`SessionMasks::check_statement`] can refuse anything: only column masks can.
    pub fn checks_statements(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Whether this was narrowed from `policy` (a reload replaces the policy).
    pub fn is_from(&self, policy: &Arc<MaskPolicy>) -> bool {
        Arc::ptr_eq(&self.policy, policy)
    }

    fn rules(&self) -> impl Iterator<Item = &MaskRule> {
        self.rules.iter().map(|&i| &self.policy.rules[i])
    }

    /// The mask for a column whose origin is known exactly.
    fn origin_mask(&self, schema: &str, table: &str, column: &str) -> Option<&Arc<MaskFunction>> {
        self.rules()
            .find(|r| {
                r.columns
                    .iter()
                    .any(|p| p.matches(Some(schema), Some(table), column))
            })
            .map(|r| &r.function)
    }

    /// The mask a value computed from `source` must get, if any. Unknown parts match
    /// (fail closed): an unqualified table could be in any schema, a column with no table
    /// could be in any table, a whole row holds every column.
    fn source_mask(&self, source: &Source) -> Option<&Arc<MaskFunction>> {
        match source {
            Source::Column { tables, column } => self
                .rules()
                .find(|r| {
                    r.columns.iter().any(|p| {
                        if tables.is_empty() {
                            p.matches(None, None, column)
                        } else {
                            tables
                                .iter()
                                .any(|(s, t)| p.matches(s.as_deref(), Some(t), column))
                        }
                    })
                })
                .map(|r| &r.function),
            Source::AllColumns { schema, table } => self
                .rules()
                .find(|r| {
                    r.columns
                        .iter()
                        .any(|p| p.covers(schema.as_deref(), Some(table)))
                })
                .map(|r| &r.function),
            Source::Opaque => (!self.rules.is_empty()).then_some(&self.policy.fail_closed),
        }
    }

    /// Like [`SessionMasks::source_mask`], following sources through views: a column of a
    /// view is computed from whatever the view definition computes it from.
    fn source_mask_via(
        &self,
        source: &Source,
        relations: Option<&Relations>,
        depth: usize,
    ) -> Option<&Arc<MaskFunction>> {
        if let Some(f) = self.source_mask(source) {
            return Some(f);
        }
        let relations = relations?;
        if depth >= MAX_VIEW_DEPTH {
            return self.source_mask(&Source::Opaque);
        }
        let deeper = |srcs: &[Source]| {
            srcs.iter()
                .find_map(|s| self.source_mask_via(s, Some(relations), depth + 1))
        };
        // A relation the catalog knows neither as a table nor as a view was made after the
        // catalog was read (by another session, or by SQL sluice did not recognise as DDL):
        // what it holds cannot be told, so its values are masked (fail closed).
        let unknown = |schema: &Option<String>, table: &str| {
            !known_relation(relations, schema.as_deref(), table)
        };
        match source {
            Source::Column { tables, .. } if tables.iter().any(|(s, t)| unknown(s, t)) => {
                self.source_mask(&Source::Opaque)
            }
            Source::AllColumns { schema, table } if unknown(schema, table) => {
                self.source_mask(&Source::Opaque)
            }
            Source::Column { tables, column } => tables.iter().find_map(|(schema, table)| {
                views_named(relations, schema.as_deref(), table)
                    .find_map(|v| deeper(view_column(v, column)))
            }),
            Source::AllColumns { schema, table } => {
                views_named(relations, schema.as_deref(), table).find_map(|v| deeper(&v.all))
            }
            Source::Opaque => None,
        }
    }

    /// What a value derived from a masked column gets: the type's fixed redaction.
    pub(super) fn derived_mask(&self) -> Arc<MaskFunction> {
        Arc::clone(&self.policy.fail_closed)
    }

    /// Whether a value read from `source` is that column's value, whole: a base table's column,
    /// or a view column that passes one such column through unchanged (at every level). Only
    /// then may a shape-keeping mask (`partial`, `email`, `hash`, …) apply; anything derived
    /// gets a constant, because a mask applied to a slice, a sum or a reversal of the value
    /// would hand the user the value back piece by piece.
    pub(super) fn passes_whole(
        &self,
        source: &Source,
        relations: Option<&Relations>,
        depth: usize,
    ) -> bool {
        let Source::Column { tables, column } = source else {
            return false;
        };
        let Some(relations) = relations else {
            return true;
        };
        if depth >= MAX_VIEW_DEPTH {
            return false;
        }
        tables.iter().all(|(schema, table)| {
            views_named(relations, schema.as_deref(), table).all(|v| {
                find_view_column(v, column).is_some_and(|c| {
                    c.direct
                        && c.sources.len() == 1
                        && self.passes_whole(&c.sources[0], Some(relations), depth + 1)
                })
            })
        })
    }

    /// Whether the view column `schema.table.column` passes one column through whole.
    pub(super) fn view_column_whole(
        &self,
        relations: Option<&Relations>,
        schema: &str,
        table: &str,
        column: &str,
    ) -> bool {
        let source = Source::Column {
            tables: vec![(Some(schema.to_string()), table.to_string())],
            column: column.to_string(),
        };
        relations.is_some_and(|r| views_named(r, Some(schema), table).next().is_some())
            && self.passes_whole(&source, relations, 0)
    }

    /// The first masked source among `sources`, as (its mask, a description for messages).
    fn first_masked<'a>(
        &self,
        sources: impl IntoIterator<Item = &'a Source>,
        relations: Option<&Relations>,
    ) -> Option<(&Arc<MaskFunction>, String)> {
        sources.into_iter().find_map(|s| {
            self.source_mask_via(s, relations, 0)
                .map(|f| (f, describe(s)))
        })
    }

    /// The lineage of `sql`, cached by text or shape.
    pub fn lineage(&self, s: &ShapedSql<'_>) -> Arc<Vec<Lineage>> {
        let (dialect, sql) = (s.dialect(), s.sql());
        let mut last = self.last_lineage.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((d, text, lineage)) = last.as_ref() {
            if *d == dialect && text == sql {
                return Arc::clone(lineage);
            }
        }
        let lineage = self.policy.lineages.get(s);
        // A huge text is not kept: a session would hold it until its next statement.
        if sql.len() > LINEAGE_CACHE_MAX_TEXT {
            *last = None;
            return lineage;
        }
        match last.as_mut() {
            Some((d, text, l)) => {
                *d = dialect;
                text.clear();
                text.push_str(sql);
                *l = Arc::clone(&lineage);
            }
            None => *last = Some((dialect, sql.to_string(), Arc::clone(&lineage))),
        }
        lineage
    }

    /// Whether statement `index` of `s` reads a column masked for this session, in its results
    /// or its predicates, or reads what sluice cannot attribute: then whatever the database
    /// says about it (errors, notices) may carry masked values.
    pub fn reads_masked(
        &self,
        s: &ShapedSql<'_>,
        index: usize,
        relations: Option<&Relations>,
    ) -> bool {
        if self.rules.is_empty() {
            return false;
        }
        let lineages = self.lineage(s);
        let Some(l) = lineages.get(index) else {
            return true;
        };
        // What nested queries compute counts even when nothing uses it: the server may still
        // evaluate it, and its errors quote what it read.
        let read = || {
            l.all_outputs
                .iter()
                .chain(&l.predicates)
                .chain(&l.copied)
                .chain(&l.evaluated)
        };
        read().any(|s| *s == Source::Opaque) || self.first_masked(read(), relations).is_some()
    }

    /// Redacts what the session's detectors find in a diagnostic's text.
    pub fn redact_diagnostic(&self, text: &str) -> Option<String> {
        if self.detectors.is_empty() {
            return None;
        }
        let redacted = self.policy.redact_detected(text.to_string());
        (redacted != text).then_some(redacted)
    }

    /// Statements whose results cannot be masked safely are refused before they run: copies of
    /// masked data into tables, files or variables, and whatever `[masking]` says to block.
    pub fn check_statement(
        &self,
        s: &ShapedSql<'_>,
        analysis: &policy::Analysis,
        relations: Option<&Relations>,
    ) -> Result<(), String> {
        if !self.checks_statements() {
            return Ok(());
        }
        let settings = self.policy.settings;
        let (dialect, sql) = (s.dialect(), s.sql());
        let lineages = self.lineage(s);
        let copies = match analysis
            .statements
            .iter()
            .any(|s| s.kind == policy::StatementKind::CopyTo)
        {
            true => policy::copy_out(dialect, sql),
            false => Vec::new(),
        };
        let named = match dialect == Dialect::MySql && policy::mentions_named_statements(sql) {
            true => policy::cursors(dialect, sql),
            false => Vec::new(),
        };
        for (i, info) in analysis.statements.iter().enumerate() {
            match named.get(i) {
                Some(Some(policy::CursorStatement::Prepare { statement, .. })) => {
                    self.check_mysql_prepare(statement, relations)?
                }
                _ => self.check_closed_world(info, relations)?,
            }
        }
        for (i, l) in lineages.iter().enumerate() {
            // COPY to the client is masked field by field in text and CSV; binary COPY (or one
            // sluice cannot read the options of) is refused if it reads masked columns.
            let unmaskable_copy = analysis
                .statements
                .get(i)
                .is_some_and(|s| s.kind == policy::StatementKind::CopyTo)
                && !matches!(
                    copies.get(i),
                    Some(Some(c)) if c.format != policy::CopyFormat::Binary
                );
            if let Some(target) = &l.copies_into {
                if let Some((_, col)) = self.first_masked(&l.copied, relations) {
                    return Err(format!(
                        "sluice: statement refused: it would copy the masked column {col} into {}",
                        match target {
                            policy::CopyTarget::Table => "a table",
                            policy::CopyTarget::File => "a file",
                            policy::CopyTarget::UserVariable => "a user variable",
                        }
                    ));
                }
            }
            if unmaskable_copy && l.copies_into.is_none() {
                if let Some((_, col)) = self.first_masked(&l.all_outputs, relations) {
                    return Err(match copies.get(i) {
                        Some(Some(_)) => format!("sluice: COPY refused: it would read the masked column {col} in binary format, which sluice cannot mask; use the text or CSV format"),
                        _ => format!("sluice: COPY refused: sluice cannot read its options (or its query), so it cannot mask what it would read ({col}); write it with plain text or CSV options, or as a SELECT"),
                    });
                }
            }
            if settings.predicate_block {
                if let Some((_, col)) = self.first_masked(&l.predicates, relations) {
                    return Err(format!("sluice: statement refused by [masking] on_predicate = \"block\": it filters, joins or sorts on the masked column {col}"));
                }
            }
            if settings.unknown_block && l.all_outputs.contains(&Source::Opaque) {
                return Err("sluice: statement refused by [masking] on_unknown_column = \"block\": the origin of its result columns cannot be established".into());
            }
            // A value computed from a masked column can drive an error or a delay
            // (`CASE WHEN ssn LIKE '3%' THEN 1/0 END`): as much a predicate as a WHERE clause.
            if settings.derived_block || settings.predicate_block {
                let derived: Vec<&Source> = match &l.columns {
                    Some(cols) => cols
                        .iter()
                        .filter(|c| !c.direct)
                        .flat_map(|c| c.sources.iter())
                        .collect(),
                    None => l
                        .all_outputs
                        .iter()
                        .filter(|s| !matches!(s, Source::AllColumns { .. }))
                        .collect(),
                };
                if let Some((_, col)) = self.first_masked(derived, relations) {
                    let setting = match settings.derived_block {
                        true => "on_derived",
                        false => "on_predicate",
                    };
                    return Err(format!("sluice: statement refused by [masking] {setting} = \"block\": a result column is computed from the masked column {col}"));
                }
            }
        }
        Ok(())
    }
}

impl SessionMasks {
    /// MySQL `PREPARE s FROM '<sql>'` is dynamic SQL, code to a masked session, unless its
    /// text is one plain read, which is then judged as if it ran here (EXECUTE's results are
    /// masked by it): `PREPARE q FROM 'SELECT id, note FROM t'` works as the SELECT does.
    fn check_mysql_prepare(
        &self,
        statement: &str,
        relations: Option<&Relations>,
    ) -> Result<(), String> {
        let inner = policy::analyze(Dialect::MySql, statement);
        let plain_read = matches!(inner.statements.as_slice(), [only]
            if only.parsed && only.kind == policy::StatementKind::Select && !only.code && !only.opaque_code);
        if !plain_read {
            return Err("sluice: statement refused for a masked session: it prepares SQL that is not one plain read (a function, procedure, write or statement sluice cannot read), whose results sluice cannot see into".into());
        }
        self.check_statement(
            &ShapedSql::new(Dialect::MySql, statement),
            &inner,
            relations,
        )
    }
}

/// Views are followed this deep (a view of a view of …); deeper counts as unknown origin.
const MAX_VIEW_DEPTH: usize = 8;

/// The views a possibly unqualified name may denote.
fn views_named<'r>(
    relations: &'r Relations,
    schema: Option<&'r str>,
    table: &'r str,
) -> impl Iterator<Item = &'r ViewColumns> + 'r {
    relations
        .views
        .iter()
        .filter(move |((s, t), _)| {
            t.eq_ignore_ascii_case(table) && schema.is_none_or(|x| x.eq_ignore_ascii_case(s))
        })
        .map(|(_, v)| &**v)
}

/// Schemas whose relations are the server's own (metadata, not user data).
const SYSTEM_SCHEMAS: &[&str] = &["information_schema", "pg_catalog", "mysql", "sys"];

/// Whether the catalog knows `schema.table` (any schema, when unqualified) as a base table or
/// a view. Without a list of base tables, every relation counts as known.
fn known_relation(relations: &Relations, schema: Option<&str>, table: &str) -> bool {
    let Some(tables) = &relations.tables else {
        return true;
    };
    if schema.is_some_and(|s| SYSTEM_SCHEMAS.iter().any(|x| s.eq_ignore_ascii_case(x))) {
        return true;
    }
    let table = table.to_lowercase();
    let schema = schema.map(str::to_lowercase);
    tables
        .iter()
        .any(|(s, t)| *t == table && schema.as_ref().is_none_or(|x| x == s))
        || views_named(relations, schema.as_deref(), &table)
            .next()
            .is_some()
}

/// What one column of a view is computed from (all of the view, if the name is not found).
fn view_column<'v>(view: &'v ViewColumns, column: &str) -> &'v [Source] {
    find_view_column(view, column).map_or(&view.all[..], |c| &c.sources[..])
}

fn find_view_column<'v>(view: &'v ViewColumns, column: &str) -> Option<&'v ViewColumn> {
    view.columns.iter().find(|c| {
        c.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(column))
    })
}

fn describe(s: &Source) -> String {
    match s {
        Source::Column { tables, column } => match tables.as_slice() {
            [(Some(schema), t)] => format!("{schema}.{t}.{column}"),
            [(None, t)] => format!("{t}.{column}"),
            _ => column.clone(),
        },
        Source::AllColumns {
            schema: Some(s),
            table,
        } => format!("{s}.{table}.*"),
        Source::AllColumns {
            schema: None,
            table,
        } => format!("{table}.*"),
        Source::Opaque => "(of unknown origin)".into(),
    }
}

#[cfg(test)]
mod tests;
