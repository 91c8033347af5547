//! The statement policy as a session hook: every statement a client sends is analysed (cached by
//! text) and evaluated against `[[rules]]` for the session's user, groups and target, before a
//! byte of it reaches the database. Protocol-neutral: the adapters map a refusal to their own
//! error (PostgreSQL 42501, MySQL 1142/42000).

use std::sync::Arc;

use policy::{AnalysisCache, Decision, Dialect, RuleSet, Subject, ON_PARSE_ERROR_RULE};

use crate::live::Live;
use crate::metrics::TargetMetrics;
use crate::session::{ColumnDesc, RowFields, SessionHooks, StatementDecision};

/// What every session of a proxy shares for statement policy.
pub struct StatementPolicy {
    pub rules: RuleSet,
    pub cache: AnalysisCache,
}

impl StatementPolicy {
    pub fn new(rules: RuleSet) -> Arc<Self> {
        Arc::new(StatementPolicy {
            rules,
            cache: AnalysisCache::new(4096),
        })
    }
}

/// One session's gate. It reads the rules in force at each statement, so a reload applies to
/// open sessions from their next statement on.
pub struct StatementGate {
    live: Arc<Live>,
    dialect: Dialect,
    user: String,
    groups: Vec<String>,
    target: String,
    metrics: Arc<TargetMetrics>,
}

impl StatementGate {
    pub fn new(
        live: Arc<Live>,
        dialect: Dialect,
        user: &str,
        groups: &[String],
        target: &str,
        metrics: Arc<TargetMetrics>,
    ) -> Self {
        StatementGate {
            live,
            dialect,
            user: user.into(),
            groups: groups.to_vec(),
            target: target.into(),
            metrics,
        }
    }
}

impl SessionHooks for StatementGate {
    fn on_statement(&mut self, sql: &str) -> StatementDecision {
        let Some(policy) = self.live.policy() else {
            return StatementDecision::Forward;
        };
        let analysis = policy.cache.get_or_analyze(self.dialect, sql);
        let subject = Subject {
            user: &self.user,
            groups: &self.groups,
            target: &self.target,
        };
        let verdict = policy.rules.evaluate(&analysis, &subject);
        for (rule, would) in &verdict.dry_run {
            tracing::info!(target = %self.target, user = %self.user, %rule, would = %would, "dry-run rule matched; statement allowed");
        }
        let rule = verdict.rule.as_deref().unwrap_or_default();
        let message = match verdict.decision {
            Decision::Allow => return StatementDecision::Forward,
            Decision::Block if rule == ON_PARSE_ERROR_RULE => format!(
                "sluice: statement blocked by [policy] on_parse_error: it could not be parsed ({})",
                analysis.parse_error.as_deref().unwrap_or("unknown syntax")
            ),
            Decision::Block => match &verdict.message {
                Some(m) => format!("sluice: statement blocked by rule \"{rule}\": {m}"),
                None => format!("sluice: statement blocked by rule \"{rule}\""),
            },
            // Until approvals land, a statement that needs one is refused and says so.
            Decision::Review => format!(
                "sluice: statement requires approval under rule \"{rule}\"{}; approvals are not available in this build, so it was not run",
                verdict.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
            ),
        };
        TargetMetrics::count(&self.metrics.statements_refused);
        tracing::warn!(target = %self.target, user = %self.user, %rule, decision = %verdict.decision, "statement refused");
        StatementDecision::Refuse { message }
    }

    fn wants_columns(&self) -> bool {
        false
    }

    fn on_columns(&mut self, _columns: &[ColumnDesc]) -> bool {
        false
    }

    fn on_row(&mut self, _fields: &mut RowFields) {}

    fn on_identity(&mut self, user: &str, groups: &[String]) {
        self.user = user.to_string();
        self.groups = groups.to_vec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(rules: &str, groups: &[&str]) -> StatementGate {
        let config = crate::config::Config::parse(rules, Default::default()).unwrap();
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        StatementGate::new(
            crate::live::Live::new(
                crate::auth::UserDirectory::from_config(&[]).unwrap(),
                Some(StatementPolicy::new(config.rule_set().unwrap())),
            ),
            Dialect::Postgres,
            "u",
            &groups,
            "t",
            Default::default(),
        )
    }

    const RULES: &str = "[[rules]]\nname = \"no-drop\"\nwhen = { statements = [\"drop\"] }\naction = \"block\"\nmessage = \"ask a DBA\"\n\n[[rules]]\nname = \"unbounded\"\nwhen = { statements = [\"delete\"], without_where = true }\naction = \"review\"\n";

    #[test]
    fn blocks_name_the_rule_and_its_message() {
        let mut g = gate(RULES, &[]);
        assert_eq!(g.on_statement("SELECT 1"), StatementDecision::Forward);
        let StatementDecision::Refuse { message } = g.on_statement("/* x */ DROP TABLE t") else {
            panic!()
        };
        assert_eq!(
            message,
            "sluice: statement blocked by rule \"no-drop\": ask a DBA"
        );
        let StatementDecision::Refuse { message } = g.on_statement("DELETE FROM t WHERE 1=1")
        else {
            panic!()
        };
        assert!(
            message.contains("requires approval under rule \"unbounded\""),
            "{message}"
        );
    }

    #[test]
    fn unparsable_statements_are_blocked_by_default() {
        let mut g = gate(RULES, &[]);
        let StatementDecision::Refuse { message } = g.on_statement("SELEKT 1") else {
            panic!()
        };
        assert!(message.contains("on_parse_error"), "{message}");
    }
}
