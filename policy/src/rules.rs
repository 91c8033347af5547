//! `[[rules]]`: compiling the config and evaluating analyses against it.
//!
//! Rules are ordered and the first enforcing rule that matches a statement decides it;
//! statements no rule matches are allowed. Dry-run rules are recorded when they match and
//! evaluation goes on past them, so a DBA can watch what a rule would do before enforcing it.
//! In a batch, the strictest statement decides (block > review > allow). Statements the parser
//! could not understand are evaluated on the fallback classifier's facts, and are then never
//! allowed unless `[policy] on_parse_error` says so.

use std::collections::HashSet;

use crate::glob::Glob;
use crate::{Analysis, StatementInfo, StatementKind};

/// The pseudo-rule named in verdicts that `[policy] on_parse_error` decided.
///
/// ```
/// assert_eq!(policy::ON_PARSE_ERROR_RULE, "policy.on_parse_error");
/// ```
pub const ON_PARSE_ERROR_RULE: &str = "policy.on_parse_error";

/// One `[[rules]]` entry, as written in the config.
///
/// ```
/// let rule: policy::RuleConfig = toml::from_str(r#"
///     name = "no-drop"
///     when = { statements = ["drop", "truncate"] }
///     action = "block"
/// "#).unwrap();
/// assert_eq!(rule.mode, policy::RuleMode::Enforce);
/// ```
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name, reported in verdicts, errors and the audit log.
    pub name: String,
    /// Conditions; all present ones must hold.
    pub when: RuleMatch,
    /// What happens to a matching statement.
    pub action: RuleAction,
    /// Shown to the client (and logged) when the rule blocks or holds a statement.
    pub message: Option<String>,
    /// `enforce` (default) or `dry_run`.
    #[serde(default)]
    pub mode: RuleMode,
}

/// The `when` table of a rule. Absent conditions always hold; an empty `when` matches every
/// statement (allowed, but reported by [`RuleSet::warnings`]).
///
/// ```
/// let m: policy::RuleMatch = toml::from_str(r#"tables = ["billing.*"]"#).unwrap();
/// assert!(m.statements.is_none());
/// ```
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleMatch {
    /// Statement kinds (see [`KindSelector::parse`] for the names); any may match.
    pub statements: Option<Vec<String>>,
    /// Table globs, matched against `schema.table` and against the bare `table`; the rule
    /// matches if any table of the statement matches any glob.
    pub tables: Option<Vec<String>>,
    /// Group globs; the rule matches if any of the subject's groups matches.
    pub groups: Option<Vec<String>>,
    /// User globs.
    pub users: Option<Vec<String>>,
    /// Target globs (the `[[targets]].name` the statement came through).
    pub targets: Option<Vec<String>>,
    /// `true`: only UPDATE/DELETE without a real WHERE (see [`StatementInfo::has_where`];
    /// a procedure whose body deletes without one counts). `false`: only statements that are
    /// *not* such unbounded writes.
    pub without_where: Option<bool>,
    /// Matches a write that changes more than this many rows, as the database counts them
    /// (PostgreSQL's command tag, MySQL's affected rows). sluice runs such a write so that it
    /// can be undone, and undoes it when it goes over; see [`RowLimit`]. A write whose count
    /// cannot be seen whole (a second write in a CTE, `EXPLAIN ANALYZE`, code, a cascading
    /// foreign key being added) matches without running. Only `action = "block"`.
    pub rows_over: Option<u64>,
}

/// What a rule does to the statements it matches.
///
/// ```
/// let a: policy::RuleAction = toml::Value::String("review".into()).try_into().unwrap();
/// assert_eq!(a, policy::RuleAction::Review);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Let it run (and stop looking at later rules).
    Allow,
    /// Refuse it.
    Block,
    /// Hold it for an approver.
    Review,
}

impl RuleAction {
    /// The decision this action produces.
    ///
    /// ```
    /// assert_eq!(policy::RuleAction::Block.decision(), policy::Decision::Block);
    /// ```
    pub fn decision(self) -> Decision {
        match self {
            RuleAction::Allow => Decision::Allow,
            RuleAction::Block => Decision::Block,
            RuleAction::Review => Decision::Review,
        }
    }
}

/// Whether a rule is enforced or only reported.
///
/// ```
/// assert_eq!(policy::RuleMode::default(), policy::RuleMode::Enforce);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleMode {
    /// The rule decides statements it matches.
    #[default]
    Enforce,
    /// The rule is recorded in [`StatementVerdict::dry_run`] and evaluation continues.
    DryRun,
}

/// One name from `when.statements`.
///
/// ```
/// use policy::{KindSelector, StatementKind};
/// assert_eq!(KindSelector::parse("copy_from"), Ok(KindSelector::Kind(StatementKind::CopyFrom)));
/// assert_eq!(KindSelector::parse("WRITE"), Ok(KindSelector::Write));
/// assert!(KindSelector::parse("dropp").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KindSelector {
    /// Exactly this kind. `"ddl"` is *not* this: it parses to [`KindSelector::Ddl`].
    Kind(StatementKind),
    /// `"write"`: insert, update, delete, merge, copy_from.
    Write,
    /// `"ddl"`: ddl, drop, truncate, alter, create.
    Ddl,
    /// `"code"` (or its older alias `"do"`): statements that define or run code — functions,
    /// procedures, triggers, rules, events, PostgreSQL `DO` blocks, MySQL `PREPARE … FROM`,
    /// `EXECUTE IMMEDIATE`, MariaDB `BEGIN NOT ATOMIC`; see [`StatementInfo::code`]. An
    /// extension.
    Code,
}

impl KindSelector {
    /// Parses a statement name (case-insensitive): any [`StatementKind`] in snake_case, or
    /// `write`, `ddl`, `code` (`do` is an alias of `code`).
    ///
    /// ```
    /// assert_eq!(policy::KindSelector::parse("ddl"), Ok(policy::KindSelector::Ddl));
    /// assert_eq!(policy::KindSelector::parse("do"), Ok(policy::KindSelector::Code));
    /// ```
    pub fn parse(name: &str) -> Result<KindSelector, String> {
        let lower = name.trim().to_ascii_lowercase();
        match lower.as_str() {
            "write" => return Ok(KindSelector::Write),
            "ddl" => return Ok(KindSelector::Ddl),
            "code" | "do" => return Ok(KindSelector::Code),
            _ => {}
        }
        StatementKind::ALL
            .iter()
            .find(|k| k.as_str() == lower)
            .map(|k| KindSelector::Kind(*k))
            .ok_or_else(|| {
                let known: Vec<&str> = StatementKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .filter(|k| *k != "ddl")
                    .chain(["write", "ddl", "code", "do"])
                    .collect();
                format!(
                    "unknown statement kind {name:?} (known: {})",
                    known.join(", ")
                )
            })
    }

    /// True when `info`'s kind or one of its [`effects`](StatementInfo::effects) is selected.
    ///
    /// ```
    /// use policy::{analyze, Dialect, KindSelector, StatementKind};
    /// let a = analyze(Dialect::Postgres, "TRUNCATE t");
    /// assert!(KindSelector::Ddl.matches(&a.statements[0]));
    /// let f = analyze(Dialect::Postgres, "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DROP TABLE t'");
    /// assert!(KindSelector::Kind(StatementKind::Drop).matches(&f.statements[0]));
    /// assert!(KindSelector::Code.matches(&f.statements[0]));
    /// ```
    pub fn matches(&self, info: &StatementInfo) -> bool {
        match self {
            KindSelector::Kind(kind) => info.kinds().any(|k| k == *kind),
            KindSelector::Write => info.kinds().any(StatementKind::is_write),
            KindSelector::Ddl => info.kinds().any(StatementKind::is_ddl),
            KindSelector::Code => info.code,
        }
    }

    /// True when the selector can select an UPDATE or DELETE (so `without_where` makes sense).
    fn can_select_update_or_delete(&self) -> bool {
        match self {
            KindSelector::Kind(k) => matches!(k, StatementKind::Update | StatementKind::Delete),
            KindSelector::Write => true,
            // A body's DELETE makes the defining statement an unbounded write too.
            KindSelector::Ddl | KindSelector::Code => true,
        }
    }
}

/// Who sent a statement, and where to.
///
/// ```
/// let groups = vec!["contractors".to_string()];
/// let s = policy::Subject { user: "carol", groups: &groups, target: "app-pg" };
/// assert_eq!(s.groups.len(), 1);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// The sluice user name.
    pub user: &'a str,
    /// The user's groups.
    pub groups: &'a [String],
    /// The `[[targets]].name` the session is connected to.
    pub target: &'a str,
}

/// The outcome for a statement (or a batch).
///
/// ```
/// assert!(policy::Decision::Block.severity() > policy::Decision::Review.severity());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Run it.
    Allow,
    /// Refuse it.
    Block,
    /// Hold it for approval.
    Review,
}

impl Decision {
    /// Strictness: allow 0 < review 1 < block 2.
    ///
    /// ```
    /// assert_eq!(policy::Decision::Allow.severity(), 0);
    /// ```
    pub fn severity(self) -> u8 {
        match self {
            Decision::Allow => 0,
            Decision::Review => 1,
            Decision::Block => 2,
        }
    }

    /// `allow`, `block` or `review`.
    ///
    /// ```
    /// assert_eq!(policy::Decision::Review.as_str(), "review");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Block => "block",
            Decision::Review => "review",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`RuleSet::evaluate`] decided.
///
/// ```
/// let rules = policy::RuleSet::compile(&[], policy::RuleAction::Block).unwrap();
/// let a = policy::analyze(policy::Dialect::Postgres, "SELECT 1");
/// let v = rules.evaluate(&a, &policy::Subject { user: "u", groups: &[], target: "t" });
/// assert_eq!((v.decision, v.rule), (policy::Decision::Allow, None));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementVerdict {
    /// The decision for the whole text (the strictest over its statements).
    pub decision: Decision,
    /// The rule that decided, or [`ON_PARSE_ERROR_RULE`]; `None` when nothing matched.
    pub rule: Option<String>,
    /// The deciding rule's `message`.
    pub message: Option<String>,
    /// Dry-run rules that matched, with what they would have decided, over all statements.
    pub dry_run: Vec<(String, Decision)>,
    /// Which statement of a batch decided (0-based); `None` when no rule decided anything.
    pub statement_index: Option<usize>,
    /// The tightest `rows_over` rule the statement must be held to when it runs (never set
    /// when the decision is block).
    pub row_limit: Option<RowLimit>,
}

/// A `rows_over` rule that could not be decided before the statement runs: the write runs,
/// and when it changes more than `limit` rows it is undone and refused with the rule's
/// message, as if the rule had blocked it.
///
/// ```
/// use policy::*;
/// let rules: Vec<RuleConfig> = vec![toml::from_str(r#"
///     name = "big-deletes"
///     when = { statements = ["delete"], rows_over = 100 }
///     action = "block"
/// "#).unwrap()];
/// let set = RuleSet::compile(&rules, RuleAction::Block).unwrap();
/// let subject = Subject { user: "app", groups: &[], target: "t" };
/// let v = set.evaluate(&analyze(Dialect::Postgres, "DELETE FROM t WHERE id > 5"), &subject);
/// assert_eq!(v.decision, Decision::Allow);
/// assert_eq!(v.row_limit.map(|l| l.limit), Some(100));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowLimit {
    /// The rule's name.
    pub rule: String,
    /// The most rows the statement may change.
    pub limit: u64,
    /// The rule's `message`.
    pub message: Option<String>,
}

#[derive(Clone, Debug)]
struct CompiledRule {
    name: String,
    statements: Option<Vec<KindSelector>>,
    tables: Option<Vec<Glob>>,
    groups: Option<Vec<Glob>>,
    users: Option<Vec<Glob>>,
    targets: Option<Vec<Glob>>,
    without_where: Option<bool>,
    rows_over: Option<u64>,
    decision: Decision,
    message: Option<String>,
    dry_run: bool,
}

impl CompiledRule {
    fn matches(&self, info: &StatementInfo, subject: &Subject) -> bool {
        let any = |globs: &Option<Vec<Glob>>, value: &str| {
            globs
                .as_ref()
                .is_none_or(|g| g.iter().any(|g| g.matches(value)))
        };
        self.statements
            .as_ref()
            .is_none_or(|s| s.iter().any(|sel| sel.matches(info)))
            && self
                .without_where
                .is_none_or(|wanted| info.unbounded_write() == wanted)
            && any(&self.users, subject.user)
            && any(&self.targets, subject.target)
            && self.groups.as_ref().is_none_or(|globs| {
                subject
                    .groups
                    .iter()
                    .any(|group| globs.iter().any(|g| g.matches(group)))
            })
            && self.tables.as_ref().is_none_or(|globs| {
                info.tables.iter().any(|t| {
                    let qualified = t.qualified_name();
                    globs
                        .iter()
                        .any(|g| g.matches(&qualified) || g.matches(&t.name))
                })
            })
    }

    fn is_catch_all(&self) -> bool {
        let all = |globs: &Option<Vec<Glob>>| {
            globs
                .as_ref()
                .is_none_or(|g| g.iter().any(Glob::matches_everything))
        };
        self.statements.is_none()
            && self.without_where.is_none()
            && self.rows_over.is_none()
            && all(&self.users)
            && all(&self.targets)
            // `tables = ["*"]` still needs a table, `groups = ["*"]` a group.
            && self.tables.is_none()
            && self.groups.is_none()
    }
}

/// Compiled `[[rules]]` plus `[policy] on_parse_error`.
///
/// ```
/// use policy::*;
/// let rules: Vec<RuleConfig> = vec![toml::from_str(r#"
///     name = "no-drop"
///     when = { statements = ["drop", "truncate"] }
///     action = "block"
///     message = "ask a DBA"
/// "#).unwrap()];
/// let set = RuleSet::compile(&rules, RuleAction::Block).unwrap();
/// let subject = Subject { user: "app", groups: &[], target: "app-pg" };
/// let v = set.evaluate(&analyze(Dialect::Postgres, "SELECT 1; DROP TABLE t"), &subject);
/// assert_eq!(v.decision, Decision::Block);
/// assert_eq!(v.rule.as_deref(), Some("no-drop"));
/// assert_eq!(v.statement_index, Some(1));
/// ```
#[derive(Clone, Debug)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    on_parse_error: RuleAction,
    warnings: Vec<String>,
}

impl RuleSet {
    /// Compiles rules. Errors name the rule: an empty or duplicate name, an unknown statement
    /// kind, a bad glob. Suspicious but legal rules are reported by [`RuleSet::warnings`].
    ///
    /// ```
    /// let bad: policy::RuleConfig = toml::from_str(r#"
    ///     name = "x"
    ///     when = { statements = ["dropp"] }
    ///     action = "block"
    /// "#).unwrap();
    /// let err = policy::RuleSet::compile(&[bad], policy::RuleAction::Block).unwrap_err();
    /// assert!(err.contains("rule \"x\"") && err.contains("dropp"));
    /// ```
    pub fn compile(rules: &[RuleConfig], on_parse_error: RuleAction) -> Result<RuleSet, String> {
        let mut compiled = Vec::with_capacity(rules.len());
        let mut names = HashSet::new();
        let mut warnings = Vec::new();
        for rule in rules {
            let name = rule.name.trim();
            if name.is_empty() {
                return Err(format!("rule #{}: `name` is empty", compiled.len() + 1));
            }
            if !names.insert(name.to_string()) {
                return Err(format!("rule {name:?}: another rule has the same name"));
            }
            let err = |e: String| format!("rule {name:?}: {e}");
            let globs = |field: &str, patterns: &Option<Vec<String>>| {
                patterns
                    .as_ref()
                    .map(|ps| {
                        ps.iter()
                            .map(|p| Glob::new(p).map_err(|e| err(format!("`when.{field}`: {e}"))))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()
            };
            let statements = rule
                .when
                .statements
                .as_ref()
                .map(|names| {
                    names
                        .iter()
                        .map(|n| {
                            KindSelector::parse(n)
                                .map_err(|e| err(format!("`when.statements`: {e}")))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?;
            let c = CompiledRule {
                name: name.to_string(),
                statements,
                tables: globs("tables", &rule.when.tables)?,
                groups: globs("groups", &rule.when.groups)?,
                users: globs("users", &rule.when.users)?,
                targets: globs("targets", &rule.when.targets)?,
                without_where: rule.when.without_where,
                rows_over: rule.when.rows_over,
                decision: rule.action.decision(),
                message: rule.message.clone(),
                dry_run: rule.mode == RuleMode::DryRun,
            };
            if c.rows_over.is_some() && (c.decision != Decision::Block || c.dry_run) {
                return Err(err(
                    "`when.rows_over` needs `action = \"block\"` and an enforced rule: the \
                     write is undone when it goes over, and cannot be held for an approver or \
                     let through"
                        .into(),
                ));
            }
            warnings.extend(lint(&c, &compiled));
            compiled.push(c);
        }
        Ok(RuleSet {
            rules: compiled,
            on_parse_error,
            warnings,
        })
    }

    /// Legal but suspicious rules: catch-alls, rules shadowed by an earlier catch-all, empty
    /// condition lists, `without_where` on kinds other than update/delete.
    ///
    /// ```
    /// let r: policy::RuleConfig = toml::from_str(r#"
    ///     name = "everything"
    ///     when = {}
    ///     action = "review"
    /// "#).unwrap();
    /// let set = policy::RuleSet::compile(&[r], policy::RuleAction::Block).unwrap();
    /// assert!(set.warnings()[0].contains("matches every statement"));
    /// ```
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// How many rules there are.
    ///
    /// ```
    /// assert_eq!(policy::RuleSet::compile(&[], policy::RuleAction::Allow).unwrap().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when a rule has `rows_over`: writes may then need to run held to a limit.
    ///
    /// ```
    /// assert!(!policy::RuleSet::compile(&[], policy::RuleAction::Allow).unwrap().has_row_limits());
    /// ```
    pub fn has_row_limits(&self) -> bool {
        self.rules.iter().any(|r| r.rows_over.is_some())
    }

    /// True when there are no rules.
    ///
    /// ```
    /// assert!(policy::RuleSet::compile(&[], policy::RuleAction::Allow).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Decides `analysis` for `subject`. See the module docs for the semantics.
    ///
    /// ```
    /// use policy::*;
    /// let set = RuleSet::compile(&[], RuleAction::Review).unwrap();
    /// let subject = Subject { user: "u", groups: &[], target: "t" };
    /// let v = set.evaluate(&analyze(Dialect::Postgres, "SELEC 1"), &subject);
    /// assert_eq!(v.decision, Decision::Review);
    /// assert_eq!(v.rule.as_deref(), Some(ON_PARSE_ERROR_RULE));
    /// ```
    pub fn evaluate(&self, analysis: &Analysis, subject: &Subject) -> StatementVerdict {
        let mut verdict = StatementVerdict {
            decision: Decision::Allow,
            rule: None,
            message: None,
            dry_run: Vec::new(),
            statement_index: None,
            row_limit: None,
        };
        // (severity, decided by a rule): the verdict with the highest rank wins, earliest first.
        let mut best_rank = (0u8, false);
        for (index, info) in analysis.statements.iter().enumerate() {
            let (decision, rule, message) =
                self.decide(info, analysis, subject, &mut verdict.dry_run);
            let rank = (decision.severity(), rule.is_some());
            if rank > best_rank {
                best_rank = rank;
                verdict.decision = decision;
                verdict.rule = rule;
                verdict.message = message;
                verdict.statement_index = Some(index);
            }
        }
        if verdict.decision != Decision::Block {
            self.hold_to_row_limits(analysis, subject, &mut verdict);
        }
        // A parse error with no statement at all still must not slip through.
        if analysis.statements.is_empty() && analysis.parse_error.is_some() {
            let decision = self.on_parse_error.decision();
            if decision != Decision::Allow {
                verdict.decision = decision;
                verdict.rule = Some(ON_PARSE_ERROR_RULE.to_string());
                verdict.message = Some(parse_error_message(analysis));
            }
        }
        verdict
    }

    fn decide(
        &self,
        info: &StatementInfo,
        analysis: &Analysis,
        subject: &Subject,
        dry_run: &mut Vec<(String, Decision)>,
    ) -> (Decision, Option<String>, Option<String>) {
        let mut decided: Option<&CompiledRule> = None;
        for rule in &self.rules {
            if !rule.matches(info, subject) {
                continue;
            }
            // A count seen only once the write runs: decided then (see `hold_to_row_limits`).
            if rule.rows_over.is_some() && info.counts_its_rows {
                continue;
            }
            if rule.dry_run {
                dry_run.push((rule.name.clone(), rule.decision));
                continue;
            }
            decided = Some(rule);
            break;
        }
        let mut result = match decided {
            Some(rule) => (rule.decision, Some(rule.name.clone()), rule.message.clone()),
            None => (Decision::Allow, None, None),
        };
        // Unparsed statements are only allowed when the config allows parse errors, or when a
        // rule explicitly selected code (`statements = ["code"]`) and allowed it.
        let explicitly_allowed_opaque = info.code
            && decided.is_some_and(|r| {
                r.statements
                    .as_ref()
                    .is_some_and(|s| s.contains(&KindSelector::Code))
            });
        if !info.parsed
            && result.0 == Decision::Allow
            && self.on_parse_error != RuleAction::Allow
            && !explicitly_allowed_opaque
        {
            result = (
                self.on_parse_error.decision(),
                Some(ON_PARSE_ERROR_RULE.to_string()),
                Some(parse_error_message(analysis)),
            );
        }
        result
    }
}

impl RuleSet {
    /// Sets `verdict.row_limit` to the tightest `rows_over` rule that comes before the rule
    /// that decided each statement. A batch with such a statement is blocked by that rule:
    /// one write's count must be seen, and undone, on its own.
    fn hold_to_row_limits(
        &self,
        analysis: &Analysis,
        subject: &Subject,
        verdict: &mut StatementVerdict,
    ) {
        for (index, info) in analysis.statements.iter().enumerate() {
            if !info.counts_its_rows {
                continue;
            }
            for rule in &self.rules {
                if !rule.matches(info, subject) {
                    continue;
                }
                let Some(limit) = rule.rows_over else {
                    if !rule.dry_run {
                        break;
                    }
                    continue;
                };
                if analysis.statements.len() > 1 {
                    verdict.decision = Decision::Block;
                    verdict.rule = Some(rule.name.clone());
                    verdict.message = Some(format!(
                        "a write held to at most {limit} changed rows must be sent as a \
                         statement of its own{}",
                        rule.message
                            .as_deref()
                            .map(|m| format!(" ({m})"))
                            .unwrap_or_default()
                    ));
                    verdict.statement_index = Some(index);
                    verdict.row_limit = None;
                    return;
                }
                if verdict.row_limit.as_ref().is_none_or(|l| limit < l.limit) {
                    verdict.row_limit = Some(RowLimit {
                        rule: rule.name.clone(),
                        limit,
                        message: rule.message.clone(),
                    });
                }
            }
        }
    }
}

fn parse_error_message(analysis: &Analysis) -> String {
    match &analysis.parse_error {
        Some(e) => format!("sluice could not parse the statement ({e})"),
        None => "sluice could not analyze the statement".to_string(),
    }
}

/// Warnings about `rule`, given the rules before it.
fn lint(rule: &CompiledRule, earlier: &[CompiledRule]) -> Vec<String> {
    let mut out = Vec::new();
    let name = &rule.name;
    if let Some(shadow) = earlier.iter().find(|r| !r.dry_run && r.is_catch_all()) {
        out.push(format!(
            "rule {name:?} can never match: the earlier rule {:?} matches every statement",
            shadow.name
        ));
    }
    if rule.is_catch_all() {
        out.push(format!("rule {name:?} matches every statement"));
    }
    for (field, empty) in [
        (
            "statements",
            rule.statements.as_ref().is_some_and(Vec::is_empty),
        ),
        ("tables", rule.tables.as_ref().is_some_and(Vec::is_empty)),
        ("groups", rule.groups.as_ref().is_some_and(Vec::is_empty)),
        ("users", rule.users.as_ref().is_some_and(Vec::is_empty)),
        ("targets", rule.targets.as_ref().is_some_and(Vec::is_empty)),
    ] {
        if empty {
            out.push(format!(
                "rule {name:?} can never match: `when.{field}` is empty"
            ));
        }
    }
    if rule.without_where == Some(true) {
        if let Some(selectors) = &rule.statements {
            if !selectors
                .iter()
                .any(KindSelector::can_select_update_or_delete)
            {
                out.push(format!(
                    "rule {name:?} can never match: `without_where = true` only matches UPDATE \
                     and DELETE, which `when.statements` does not select"
                ));
            }
        }
    }
    out
}
