//! Statement policy and masking as one session hook: every statement a client sends is analysed
//! (cached by text, or by shape for statements that differ only in literals) and evaluated
//! against `[[rules]]` for the session's user, groups and target, before a byte of it reaches
//! the database; statements whose results could not be masked safely are refused too; and each
//! result the session receives is masked per the `[[masks]]` that apply to it. Protocol-neutral: the adapters map a refusal to their own
//! error (PostgreSQL 42501, MySQL 1142/42000).

use std::sync::Arc;

use policy::{AnalysisCache, Decision, Dialect, RuleSet, ShapedSql, Subject, ON_PARSE_ERROR_RULE};

mod lexing;
mod review;

use crate::live::Live;
use crate::masks::{MaskCounts, RowPlan, SessionMasks};
use crate::metrics::TargetMetrics;
use crate::recorder::SessionRecorder;
use crate::session::{
    Barrier, ColumnDesc, LexReport, Relations, ResultEnd, ResultOf, RowFields, RowLimitHold,
    SessionHooks, StatementDecision,
};

/// How many statement shapes a session without rules remembers the kinds of.
const KINDS_REMEMBERED: usize = 256;

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
    /// The masks that apply to this session, narrowed from the policy in force.
    masks: Option<SessionMasks>,
    /// The plan of the result now streaming.
    plan: Option<RowPlan>,
    /// The plan its recorded rows get, when this session is exempt from masks the audit log
    /// still applies (see `SessionRecorder::masks_exempt_rows`), and a row to apply it to.
    audit_plan: Option<RowPlan>,
    audit_row: RowFields,
    /// Every mask, as the audit log applies them (built when first needed).
    audit_masks: Option<SessionMasks>,
    /// What the audit log records of the diagnostic just seen, when it masks more than the
    /// client saw masked.
    audit_diagnostic: Option<String>,
    /// The catalog's relations, as last handed over by the adapter.
    relations: Option<Arc<Relations>>,
    /// Declared cursors → the query each runs (a FETCH returns what it selects).
    cursors: NamedTexts,
    /// PostgreSQL's SQL-level prepared statements → the statement each runs: an `EXECUTE`
    /// returns what it would.
    prepared_sql: NamedTexts,
    /// The audit log's recorder for this session, with `[audit]`.
    recorder: Option<SessionRecorder>,
    /// Analyses for the audit records of sessions without rules.
    analyses: Arc<AnalysisCache>,
    /// The accepted statement's record must be durable before it runs (sync mode).
    barrier: Option<Barrier>,
    /// Rows of the current result the mask plan or the recorder must see.
    recording_rows: bool,
    /// MySQL `SHOW GRANTS` is in flight: its rows carry the login's password hash.
    hide_credentials: bool,
    scratch: Vec<u8>,
    /// `[approvals]`, and how this session is named to them.
    review: Option<review::Reviewer>,
    /// Prepared statements whose executions need approval (judged with their parameters).
    review_at_execute: std::collections::HashSet<String>,
    /// Prepared writes whose parameters can decide whether they are bounded
    /// (`WHERE id = coalesce($1, id)`): each execution is judged again with its values.
    judged_at_bind: std::collections::HashSet<String>,
    /// A token-signed session ends at its first statement after this (seconds since epoch).
    deadline: Option<i64>,
    /// What masking did to the result now streaming, for the metrics.
    counts: MaskCounts,
    /// The last statement's analysis: rules, audit and metrics each ask for it.
    last: Option<(String, Arc<policy::Analysis>)>,
    /// Statement kinds by shape, for counting in sessions without rules or audit.
    kinds: std::collections::HashMap<Box<str>, Vec<policy::StatementKind>>,
    /// How the server will read the next statement's quotes.
    lexing: lexing::SessionLexing,
    /// The session's upstream login, checked when the session changes user.
    upstream_login: Option<crate::identities::SessionLogin>,
    /// Set when a change of user left the session on a role that does not fit the new user:
    /// the session ends at its next statement.
    login_mismatch: Option<String>,
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
            masks: None,
            plan: None,
            audit_plan: None,
            audit_row: RowFields::new(),
            audit_masks: None,
            audit_diagnostic: None,
            relations: None,
            cursors: Default::default(),
            prepared_sql: Default::default(),
            recorder: None,
            analyses: Arc::new(AnalysisCache::new(256)),
            barrier: None,
            recording_rows: false,
            hide_credentials: false,
            scratch: Vec::new(),
            review: None,
            review_at_execute: Default::default(),
            judged_at_bind: Default::default(),
            deadline: None,
            counts: MaskCounts::default(),
            last: None,
            kinds: Default::default(),
            lexing: lexing::SessionLexing::new(dialect),
            upstream_login: None,
            login_mismatch: None,
        }
    }

    /// The kinds of `sql`'s statements by keyword, remembered by shape (keywords are the same
    /// for every text of one shape).
    fn classified(&mut self, sql: &str) -> Vec<policy::StatementKind> {
        let Some(shape) = policy::shape(self.dialect, sql) else {
            return policy::classify(self.dialect, sql);
        };
        if let Some(kinds) = self.kinds.get(shape.key()) {
            return kinds.clone();
        }
        let kinds = policy::classify(self.dialect, sql);
        if self.kinds.len() >= KINDS_REMEMBERED {
            self.kinds.clear();
        }
        self.kinds.insert(shape.key().into(), kinds.clone());
        kinds
    }

    /// `sql`'s analysis: from the rules' cache when there are rules, so that a statement is
    /// parsed once for rules, audit and metrics alike; remembered for the statement's next ask.
    fn analysis(&mut self, s: &ShapedSql<'_>) -> Arc<policy::Analysis> {
        let sql = s.sql();
        if let Some((text, analysis)) = &self.last {
            if text == sql {
                return Arc::clone(analysis);
            }
        }
        let analysis = match self.live.policy() {
            Some(p) => p.cache.get_or_analyze_shaped(s),
            None => self.analyses.get_or_analyze_shaped(s),
        };
        let text = match self.last.take() {
            Some((mut text, _)) => {
                text.clear();
                text.push_str(sql);
                text
            }
            None => sql.to_string(),
        };
        self.last = Some((text, Arc::clone(&analysis)));
        analysis
    }

    /// Adds the result's mask counts to the target's metrics.
    fn flush_counts(&mut self) {
        if self.counts.is_empty() {
            return;
        }
        let mut l = self.metrics.labelled();
        for (f, n) in self.counts.masked.drain(..) {
            *l.masked.entry(f).or_default() += n;
        }
        for (k, n) in self.counts.detected.drain(..) {
            *l.detected.entry(k.to_string()).or_default() += n;
        }
    }

    /// Counts a statement by kind and verdict.
    fn count_statement(&mut self, sql: &str, label: &'static str, decision: &StatementDecision) {
        let verdict = match (decision, label) {
            (StatementDecision::Refuse { .. }, "allow") => "refused",
            (_, l) => l,
        };
        // The analysis the rules or the recorder made (a cache hit); otherwise a keyword pass,
        // so that a session without rules never parses statements just to count them.
        let metrics = Arc::clone(&self.metrics);
        let count = |kinds: &mut dyn Iterator<Item = policy::StatementKind>| {
            let mut l = metrics.labelled();
            for kind in kinds {
                *l.statements.entry((kind.as_str(), verdict)).or_default() += 1;
            }
        };
        if self.live.policy().is_none() && self.recorder.is_none() {
            let kinds = self.classified(sql);
            count(&mut kinds.into_iter());
        } else {
            let analysis = self.analysis(&ShapedSql::new(self.dialect, sql));
            count(&mut analysis.statements.iter().map(|s| s.kind));
        }
    }

    /// Remembers the role the session logged in upstream as (for `database`), so that a change
    /// of user to someone whose identity is another role ends the session instead of lending
    /// them this one.
    pub fn with_upstream_identity(
        mut self,
        upstream: Arc<crate::upstream::UpstreamTarget>,
        database: Option<String>,
        user: String,
    ) -> Self {
        self.upstream_login = Some(crate::identities::SessionLogin {
            upstream,
            database,
            user,
        });
        self
    }

    /// Ends the session at its first statement after `deadline` (seconds since the epoch).
    pub fn with_deadline(mut self, deadline: Option<i64>) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sends `review` verdicts to `[approvals]`; `hold_key` names this session to cancels.
    pub fn with_approvals(
        mut self,
        approvals: Option<Arc<crate::approvals::Approvals>>,
        hold_key: String,
        client_addr: String,
    ) -> Self {
        self.review = approvals.map(|approvals| review::Reviewer {
            approvals,
            hold_key,
            client_addr,
        });
        self
    }

    /// Records the session in the audit log.
    pub fn with_recorder(
        mut self,
        recorder: Option<SessionRecorder>,
        analyses: Arc<AnalysisCache>,
    ) -> Self {
        self.recorder = recorder;
        self.analyses = analyses;
        self
    }

    /// The session's masks under the policy in force now (re-narrowed after a reload or a
    /// change of user); `None` when nothing is masked for it.
    fn masks(&mut self) -> Option<&SessionMasks> {
        let policy = self.live.masks()?;
        if !self.masks.as_ref().is_some_and(|m| m.is_from(&policy)) {
            self.masks = Some(policy.for_session(&self.groups, &self.target));
        }
        self.masks.as_ref().filter(|m| !m.is_empty())
    }

    /// What the audit log records of a diagnostic this session sees clear but every mask
    /// would withhold (see `SessionRecorder::masks_exempt_rows`).
    fn audit_diagnostic_text(
        &mut self,
        of: Option<ResultOf<'_>>,
        code: &str,
        message: &str,
    ) -> Option<String> {
        if !self.audit_masks_more() {
            return None;
        }
        self.withheld_for(&SessionMasksRef::Audit, of, code, message)
    }

    /// Whether the audit log masks what this session sees clear: it records with every mask
    /// (built into `audit_masks`) unless `record_exempt_clear`, and this session is exempt
    /// from some.
    fn audit_masks_more(&mut self) -> bool {
        if !self
            .recorder
            .as_ref()
            .is_some_and(|r| r.masks_exempt_rows())
        {
            return false;
        }
        let Some(policy) = self.live.masks() else {
            return false;
        };
        if !self
            .audit_masks
            .as_ref()
            .is_some_and(|m| m.is_from(&policy))
        {
            self.audit_masks = Some(policy.for_session(&[], &self.target));
        }
        let Some(full) = self.audit_masks.as_ref() else {
            return false;
        };
        match &self.masks {
            Some(m) if m.is_from(&policy) => m.masks_less_than(full),
            _ => policy
                .for_session(&self.groups, &self.target)
                .masks_less_than(full),
        }
    }

    /// The text a diagnostic is replaced with under `which` masks, if any: withheld when its
    /// statement reads masked data, or writes or changes a table with masked columns (whose
    /// rows it may quote: `Failing row contains (…)`, `Key (ssn)=(…)`); detector hits redacted
    /// otherwise.
    fn withheld_for(
        &mut self,
        which: &SessionMasksRef,
        of: Option<ResultOf<'_>>,
        code: &str,
        message: &str,
    ) -> Option<String> {
        let dialect = self.dialect;
        let relations = self.relations.clone();
        let checks = |m: Option<&SessionMasks>| m.is_some_and(|m| m.checks_statements());
        let analysis = match of {
            Some(of) if checks(self.masks_ref(which)) => {
                Some(self.analysis(&ShapedSql::new(dialect, of.sql)))
            }
            _ => None,
        };
        let masks = self.masks_ref(which)?;
        let withheld = match of {
            Some(of) => {
                let touches = analysis.as_ref().is_some_and(|a| {
                    a.statements
                        .get(of.index)
                        .is_none_or(|info| masks.may_quote_rows(info))
                });
                touches
                    || masks.reads_masked(
                        &ShapedSql::new(dialect, of.sql),
                        of.index,
                        relations.as_deref(),
                    )
            }
            None => masks.checks_statements(),
        };
        if withheld {
            // Said as it is: a CREATE refused for want of a privilege reads nothing masked, but
            // in a masked session any statement that is not a plain read may quote rows.
            return Some(format!("sluice: the database's message is withheld: in a masked session, the errors of statements that read masked data or are not plain reads may quote values (SQLSTATE {code})"));
        }
        masks.redact_diagnostic(message)
    }

    fn masks_ref(&self, which: &SessionMasksRef) -> Option<&SessionMasks> {
        match which {
            SessionMasksRef::Session => self.masks.as_ref().filter(|m| !m.is_empty()),
            SessionMasksRef::Audit => self.audit_masks.as_ref(),
        }
    }

    /// The plan recorded rows get when this session sees clear what the audit log masks.
    fn audit_plan(
        &mut self,
        dialect: Dialect,
        of: Option<ResultOf<'_>>,
        columns: &[ColumnDesc],
        relations: Option<&Relations>,
    ) -> Option<RowPlan> {
        if !self.audit_masks_more() {
            return None;
        }
        self.audit_masks
            .as_ref()?
            .plan(dialect, of, columns, relations)
    }

    /// Remembers a prepared write whose parameters sit where they could unbound it.
    fn judge_at_bind_if_needed(&mut self, s: &ShapedSql<'_>) {
        if self.live.policy().is_none() {
            return;
        }
        let analysis = self.analysis(s);
        // `WHERE id = $1` is bounded whatever `$1` is: only parameters that could unbound
        // the write (`coalesce($1, id)`, `LIKE $1`) are worth an analysis per execution.
        let writes = analysis.statements.iter().any(|info| {
            info.placeholders > 0
                && info.parameters_matter()
                && info.kinds().any(|k| {
                    matches!(
                        k,
                        policy::StatementKind::Update | policy::StatementKind::Delete
                    )
                })
        });
        if writes {
            self.judged_at_bind.insert(s.sql().to_string());
        }
    }

    /// A prepared write run with these parameters, judged as the text the server runs: a
    /// refusal when the rules block it (or would send it for approval, which a prepared
    /// execution cannot wait for unless prepared for review).
    fn judge_with_parameters(
        &mut self,
        sql: &str,
        params: &[Option<String>],
    ) -> Option<StatementDecision> {
        if !self.judged_at_bind.contains(sql) || self.review_at_execute.contains(sql) {
            return None;
        }
        let policy = self.live.policy()?;
        let bound = policy::bind_literals(self.dialect, sql, params);
        let analysis = policy
            .cache
            .get_or_analyze_shaped(&ShapedSql::new(self.dialect, &bound));
        let subject = Subject {
            user: &self.user,
            groups: &self.groups,
            target: &self.target,
        };
        let verdict = policy.rules.evaluate(&analysis, &subject);
        let rule = verdict.rule.clone().unwrap_or_default();
        if verdict.decision == Decision::Allow {
            return None;
        }
        // The refused execution is recorded like any refused statement.
        if let Some(recorder) = self.recorder.as_mut() {
            let masks = self.live.masks();
            let prepared = self
                .analyses
                .get_or_analyze_shaped(&ShapedSql::new(self.dialect, sql));
            let _ = recorder.execution(
                self.dialect,
                sql,
                params,
                &prepared,
                masks.as_deref(),
                Some(&rule),
                "block",
            );
        }
        match verdict.decision {
            Decision::Allow => None,
            _ => Some(self.refuse(
                &rule,
                format!(
                    "sluice: execution blocked by rule \"{rule}\" with these parameters{}",
                    verdict.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
                ),
            )),
        }
    }

    /// `sql` as the server will read it, in the standard spelling the analysis assumes; a text
    /// sluice cannot read for sure is refused (and recorded) here.
    fn read<'a>(&mut self, sql: &'a str) -> Result<std::borrow::Cow<'a, str>, StatementDecision> {
        // A session with no rules, masks or log has nothing a misread could get past.
        if self.recorder.is_none() && self.live.policy().is_none() && self.live.masks().is_none() {
            return Ok(std::borrow::Cow::Borrowed(sql));
        }
        let refused = match self.lexing.read(sql) {
            Ok(text) => return Ok(text),
            Err(message) => message,
        };
        const RULE: &str = "[lexing]";
        let decision = self.refuse(RULE, refused);
        // The log's literal masking would read the text the way sluice could not: unless the
        // log keeps texts as sent, it gets a fingerprint of the statement instead.
        let kept = self
            .recorder
            .as_ref()
            .is_some_and(|r| r.literals() == policy::LiteralMode::Keep);
        let recorded = match kept {
            true => std::borrow::Cow::Borrowed(sql),
            false => std::borrow::Cow::Owned(unread_statement(sql)),
        };
        let s = ShapedSql::new(self.dialect, &recorded);
        let decision = self.record(&s, decision, Some(RULE.into()), "block");
        self.count_statement(sql, "block", &decision);
        Err(decision)
    }

    fn refuse(&self, rule: &str, message: String) -> StatementDecision {
        TargetMetrics::count(&self.metrics.statements_refused);
        tracing::warn!(target = %self.target, user = %self.user, %rule, "statement refused");
        StatementDecision::Refuse { message }
    }

    /// Forgets the names a statement about to be sent may free (only sessions with masks
    /// need them). Forgetting early is safe: a forgotten name stands for nothing, so its
    /// results are judged by nothing. Definitions wait for the server's word
    /// ([`SessionHooks::on_completed`]): a `PREPARE` or `DECLARE` that fails (the name is
    /// taken, the transaction aborted) must not change what the name stands for.
    fn track_cursors(&mut self, sql: &str) {
        // Cursors (but those WITH HOLD, which then count as unknown) close with their
        // transaction, and those declared since a savepoint with a rollback to it.
        if ends_transaction(sql) || rolls_back_to_savepoint(sql) {
            self.cursors.clear();
        }
        if first_word_is(sql, "discard") {
            self.cursors.clear();
            self.prepared_sql.clear();
        }
        if !policy::mentions_named_statements(sql) {
            return;
        }
        for c in policy::cursors(self.dialect, sql).into_iter().flatten() {
            match c {
                policy::CursorStatement::Deallocate { name } => {
                    self.prepared_sql.close(name.as_deref())
                }
                policy::CursorStatement::Close { name } => self.cursors.close(name.as_deref()),
                _ => {}
            }
        }
    }

    /// A FETCH's result is judged by its cursor's query, an EXECUTE's by its prepared
    /// statement; an unknown cursor or statement by nothing (fail closed).
    fn fetched_query(&self, of: ResultOf<'_>) -> Option<Option<String>> {
        if !policy::mentions_named_statements(of.sql) {
            return None;
        }
        match policy::cursors(self.dialect, of.sql)
            .into_iter()
            .nth(of.index)
            .flatten()
        {
            Some(policy::CursorStatement::Fetch { name }) => Some(self.cursors.text(&name)),
            Some(policy::CursorStatement::Execute { name }) => Some(self.prepared_sql.text(&name)),
            _ => None,
        }
    }

    fn check_masks(&mut self, s: &ShapedSql<'_>) -> StatementDecision {
        let sql = s.sql();
        if self.masks().is_some() {
            self.track_cursors(sql);
        }
        // The analysis is only asked for when a column mask could refuse the statement: a
        // session with detectors alone would otherwise parse for nothing.
        if !self.masks().is_some_and(|m| m.checks_statements()) {
            return StatementDecision::Forward;
        }
        let relations = self.relations.clone();
        let analysis = self.analysis(s);
        let Some(masks) = self.masks() else {
            return StatementDecision::Forward;
        };
        match masks.check_statement(s, &analysis, relations.as_deref()) {
            Ok(()) => StatementDecision::Forward,
            Err(message) => self.refuse("[[masks]]", message),
        }
    }

    /// The rules' and masks' decision, with the rule that made it and its name for the log.
    fn decide(&mut self, s: &ShapedSql<'_>) -> Verdict {
        // A word check first, so that statements which cannot be such are not parsed here.
        let mentions = |w: &str| {
            s.sql()
                .as_bytes()
                .windows(w.len())
                .any(|b| b.eq_ignore_ascii_case(w.as_bytes()))
        };
        if (mentions("password") || mentions("alter")) && {
            let analysis = self.analysis(s);
            let login = self.upstream_login.as_ref().map(|l| l.user.as_str());
            analysis
                .statements
                .iter()
                .any(|st| changes_login(&st.fingerprint, login))
        } {
            let message = "sluice: statement refused: it would change the database login sluice uses for this session (its password, settings or name); an administrator changes that on a direct connection".to_string();
            return Verdict {
                decision: self.refuse("[login]", message),
                rule: Some("[login]".into()),
                label: "block",
                review: None,
            };
        }
        let Some(policy) = self.live.policy() else {
            return self.masks_decision(s);
        };
        let analysis = self.analysis(s);
        let subject = Subject {
            user: &self.user,
            groups: &self.groups,
            target: &self.target,
        };
        let verdict = policy.rules.evaluate(&analysis, &subject);
        for (rule, would) in &verdict.dry_run {
            tracing::info!(target = %self.target, user = %self.user, %rule, would = %would, "dry-run rule matched; statement allowed");
        }
        if let Some(limit) = verdict.row_limit.as_ref() {
            if let Err(why) = self.undoable(&analysis) {
                let message = format!(
                    "sluice: statement blocked by rule \"{}\": {why}, so a write held to at most {} changed rows cannot run{}",
                    limit.rule,
                    limit.limit,
                    limit.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
                );
                return Verdict {
                    decision: self.refuse(&limit.rule, message),
                    rule: Some(limit.rule.clone()),
                    label: "block",
                    review: None,
                };
            }
        }
        let rule = verdict.rule.as_deref().unwrap_or_default();
        let message = match verdict.decision {
            Decision::Allow => return self.masks_decision(s),
            Decision::Block if rule == ON_PARSE_ERROR_RULE => format!(
                "sluice: statement blocked by [policy] on_parse_error: it could not be parsed ({})",
                analysis.parse_error.as_deref().unwrap_or("unknown syntax")
            ),
            Decision::Block => match &verdict.message {
                Some(m) => format!("sluice: statement blocked by rule \"{rule}\": {m}"),
                None => format!("sluice: statement blocked by rule \"{rule}\""),
            },
            // Masks still apply to what an approved statement returns: judge them first.
            Decision::Review if self.review.is_some() => {
                return match self.masks_decision(s) {
                    Verdict {
                        decision: StatementDecision::Forward,
                        ..
                    } => Verdict {
                        decision: StatementDecision::Forward,
                        rule: Some(rule.to_string()),
                        label: "review",
                        review: Some(verdict.message.clone()),
                    },
                    refused => refused,
                }
            }
            Decision::Review => format!(
                "sluice: statement requires approval under rule \"{rule}\"{}, and this sluice has no [approvals] section; it was not run",
                verdict.message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
            ),
        };
        let label = match verdict.decision {
            Decision::Review => "review",
            _ => "block",
        };
        Verdict {
            decision: self.refuse(rule, message),
            rule: Some(rule.to_string()),
            label,
            review: None,
        }
    }

    /// Whether a write can be undone when it goes over a row limit. PostgreSQL rolls back
    /// everything; MySQL only tables of a transactional engine, which the catalog names.
    fn undoable(&self, analysis: &policy::Analysis) -> Result<(), String> {
        if self.dialect != Dialect::MySql {
            return Ok(());
        }
        let relations = self.relations.as_deref();
        let known = relations.and_then(|r| r.transactional.as_ref());
        let tables = relations.and_then(|r| r.tables.as_ref());
        for table in analysis
            .statements
            .iter()
            .flat_map(|s| &s.tables)
            .filter(|t| t.access == policy::Access::Write)
        {
            let name = table.name.to_lowercase();
            let schema = table.schema.as_deref().map(str::to_lowercase);
            let named =
                |(s, t): &&(String, String)| *t == name && schema.as_ref().is_none_or(|x| x == s);
            // Every table the name may mean (an unqualified one: in any database) rolls back.
            let undoable = match (known, tables) {
                (Some(known), Some(tables)) => {
                    known.iter().any(|k| named(&k))
                        && tables.iter().filter(named).all(|t| known.contains(t))
                }
                _ => false,
            };
            if !undoable {
                return Err(format!(
                    "sluice cannot tell that table `{}` can roll a write back (it is not a table of a transactional engine such as InnoDB)",
                    table.qualified_name()
                ));
            }
        }
        Ok(())
    }

    fn masks_decision(&mut self, s: &ShapedSql<'_>) -> Verdict {
        match self.check_masks(s) {
            StatementDecision::Forward => Verdict {
                decision: StatementDecision::Forward,
                rule: None,
                label: "allow",
                review: None,
            },
            refused => Verdict {
                decision: refused,
                rule: Some("[[masks]]".into()),
                label: "block",
                review: None,
            },
        }
    }

    /// Records the statement and the decision; a statement the log cannot take is refused.
    fn record(
        &mut self,
        s: &ShapedSql<'_>,
        decision: StatementDecision,
        rule: Option<String>,
        label: &'static str,
    ) -> StatementDecision {
        if self.recorder.is_none() {
            return decision;
        }
        let analysis = self.analysis(s);
        let Some(recorder) = self.recorder.as_mut() else {
            return decision;
        };
        let masks = self.live.masks();
        let recorded = recorder.statement(s, &analysis, masks.as_deref(), rule.as_deref(), label);
        self.admit(recorded, decision)
    }

    /// A statement the log took runs (after its barrier, in sync mode); one it could not take
    /// is refused.
    fn admit(
        &mut self,
        recorded: Result<Option<audit::Ticket>, String>,
        decision: StatementDecision,
    ) -> StatementDecision {
        let forward = decision == StatementDecision::Forward;
        match recorded {
            Ok(Some(ticket)) if forward => {
                self.barrier = Some(Barrier::Durable(ticket));
                decision
            }
            Ok(_) => decision,
            Err(message) if forward => self.refuse("[audit]", message),
            Err(_) => decision,
        }
    }
}

impl SessionHooks for StatementGate {
    fn on_statement(&mut self, sql: &str) -> StatementDecision {
        self.hide_credentials = self.dialect == Dialect::MySql && shows_grants(sql);
        let text = match self.read(sql) {
            Ok(text) => text,
            Err(refused) => return refused,
        };
        let sql = &*text;
        // One shape pass for the rules' cache, the masks' lineage and the log's literals.
        let s = ShapedSql::new(self.dialect, sql);
        let v = self.decide(&s);
        let label = v.label;
        let decision = self.record(&s, v.decision, v.rule.clone(), v.label);
        let decision = match (v.review, decision) {
            (Some(message), StatementDecision::Forward) => {
                let rule = v.rule.unwrap_or_default();
                self.ask_approval(sql, &[], &rule, message.as_deref())
            }
            (_, decision) => decision,
        };
        self.count_statement(sql, label, &decision);
        decision
    }

    fn on_prepare(&mut self, sql: &str) -> StatementDecision {
        if self.dialect == Dialect::MySql && shows_grants(sql) {
            // Its rows are cleaned of password hashes only when it runs as a query.
            return self.refuse(
                "[login]",
                "sluice: SHOW GRANTS cannot be prepared through sluice; send it as a query".into(),
            );
        }
        let text = match self.read(sql) {
            Ok(text) => text,
            Err(refused) => return refused,
        };
        let sql = &*text;
        let s = ShapedSql::new(self.dialect, sql);
        let v = self.decide(&s);
        self.judge_at_bind_if_needed(&s);
        if v.review.is_some() {
            // Nothing runs at prepare time: each execution asks, with its parameters.
            self.review_at_execute.insert(sql.to_string());
            let decision = self.record(&s, StatementDecision::Forward, v.rule, "review_at_execute");
            self.count_statement(sql, "review", &decision);
            return decision;
        }
        let label = v.label;
        let decision = self.record(&s, v.decision, v.rule, v.label);
        self.count_statement(sql, label, &decision);
        decision
    }

    fn notification(&mut self, payload: &str) -> Option<String> {
        let masks = self.masks()?;
        // Any session or trigger may send one, carrying anything it read: sluice cannot tell
        // where a payload comes from, so a masked session gets none (fail closed).
        if masks.checks_statements() {
            return (!payload.is_empty()).then(|| "[REDACTED]".to_string());
        }
        masks.redact_diagnostic(payload)
    }

    fn as_read(&self, sql: &str) -> Option<String> {
        self.lexing.remembered(sql)
    }

    fn take_barrier(&mut self) -> Option<Barrier> {
        self.barrier.take()
    }

    fn withdraw_hold(&mut self) -> Option<Barrier> {
        let rv = self.review.as_ref()?;
        let (approvals, key) = (Arc::clone(&rv.approvals), rv.hold_key.clone());
        Some(Barrier::Blocking(Box::new(move || {
            approvals.withdraw_held_because(&key, "the client went away while it waited");
            Ok(())
        })))
    }

    fn wants_columns(&self) -> bool {
        if self.recorder.is_some() || self.hide_credentials {
            return true;
        }
        match self.live.masks() {
            None => false,
            Some(policy) => match &self.masks {
                Some(m) if m.is_from(&policy) => !m.is_empty(),
                // Not narrowed yet (or a reload since): decide when the columns come.
                _ => true,
            },
        }
    }

    fn wants_relations(&self) -> bool {
        self.wants_columns()
            || (self.dialect == Dialect::MySql
                && self.live.policy().is_some_and(|p| p.rules.has_row_limits()))
    }

    fn on_columns(&mut self, of: Option<ResultOf<'_>>, columns: &[ColumnDesc]) -> bool {
        // A result names its statement as the client wrote it; judge it as the server read it.
        let rewritten = of.and_then(|of| self.lexing.remembered(of.sql));
        let of = read_as_server(&rewritten, of);
        let dialect = self.dialect;
        let relations = self.relations.clone();
        let fetched = of.and_then(|of| self.fetched_query(of));
        let of = match &fetched {
            Some(Some(query)) => Some(ResultOf {
                sql: query,
                index: 0,
            }),
            Some(None) => None,
            None => of,
        };
        self.plan = self
            .masks()
            .and_then(|m| m.plan(dialect, of, columns, relations.as_deref()));
        self.recording_rows = self.recorder.as_mut().is_some_and(|r| r.columns(columns));
        self.audit_plan = match self.recording_rows {
            true => self.audit_plan(dialect, of, columns, relations.as_deref()),
            false => None,
        };
        self.plan.is_some() || self.recording_rows || self.hide_credentials
    }

    fn wants_rows(&self) -> bool {
        self.plan.is_some()
            || self.hide_credentials
            || self.recorder.as_ref().is_some_and(|r| r.wants_rows())
    }

    fn wants_binds(&self) -> bool {
        self.recorder.is_some()
            || !self.review_at_execute.is_empty()
            || !self.judged_at_bind.is_empty()
    }

    fn on_bind(&mut self, sql: Option<&str>, params: &[Option<String>]) -> StatementDecision {
        let rewritten = sql.and_then(|sql| self.lexing.remembered(sql));
        let sql = rewritten.as_deref().or(sql);
        if let Some(refused) = sql.and_then(|sql| self.judge_with_parameters(sql, params)) {
            return refused;
        }
        let review = sql.filter(|s| self.review_at_execute.contains(*s));
        let sql_or_unseen = sql.unwrap_or("(a prepared statement sluice did not see prepared)");
        let analysis = self
            .recorder
            .is_some()
            .then(|| self.analysis(&ShapedSql::new(self.dialect, sql_or_unseen)));
        let decision = match (self.recorder.as_mut(), analysis) {
            (Some(recorder), Some(analysis)) => {
                let sql = sql_or_unseen;
                let masks = self.live.masks();
                let recorded = recorder.execution(
                    self.dialect,
                    sql,
                    params,
                    &analysis,
                    masks.as_deref(),
                    None,
                    "allow",
                );
                self.admit(recorded, StatementDecision::Forward)
            }
            _ => StatementDecision::Forward,
        };
        match (review, decision) {
            (Some(sql), StatementDecision::Forward) => {
                // The rules in force now decide whether this execution still needs approval.
                let sql = sql.to_string();
                let v = self.decide(&ShapedSql::new(self.dialect, &sql));
                match v.review {
                    Some(message) => {
                        let rule = v.rule.unwrap_or_default();
                        self.ask_approval(&sql, params, &rule, message.as_deref())
                    }
                    None => v.decision,
                }
            }
            (_, decision) => decision,
        }
    }

    fn on_completed(&mut self, of: ResultOf<'_>) {
        if self.masks().is_none() || !policy::mentions_named_statements(of.sql) {
            return;
        }
        let rewritten = self.lexing.remembered(of.sql);
        let Some(of) = read_as_server(&rewritten, Some(of)) else {
            return;
        };
        let completed = policy::cursors(self.dialect, of.sql)
            .into_iter()
            .nth(of.index)
            .flatten();
        match completed {
            Some(policy::CursorStatement::Prepare { name, statement }) => {
                self.prepared_sql.completed(name, statement)
            }
            Some(policy::CursorStatement::Declare { name, query }) => {
                self.cursors.completed(name, query)
            }
            _ => {}
        }
    }

    fn on_result_end(&mut self, end: &ResultEnd) {
        self.hide_credentials = false;
        self.plan = None;
        self.audit_plan = None;
        self.flush_counts();
        if let Some(r) = self.recorder.as_mut() {
            r.result_end(end);
        }
    }

    fn on_result_part_end(&mut self, end: &ResultEnd) {
        // Only the record: the masking plan still serves the results that follow.
        if let Some(r) = self.recorder.as_mut() {
            r.result_end(end);
        }
    }

    fn diagnostic(
        &mut self,
        of: Option<ResultOf<'_>>,
        code: &str,
        message: &str,
    ) -> Option<String> {
        let rewritten = of.and_then(|of| self.lexing.remembered(of.sql));
        let of = read_as_server(&rewritten, of);
        self.audit_diagnostic = self.audit_diagnostic_text(of, code, message);
        self.masks()?;
        self.withheld_for(&SessionMasksRef::Session, of, code, message)
    }

    fn on_error(&mut self, code: &str, message: &str) {
        self.plan = None;
        self.flush_counts();
        let audited = self.audit_diagnostic.take();
        if let Some(r) = self.recorder.as_mut() {
            r.error(code, audited.as_deref().unwrap_or(message));
        }
    }

    fn holds_writes(&self) -> bool {
        self.live.policy().is_some_and(|p| p.rules.has_row_limits())
    }

    fn row_limit(&mut self, sql: &str) -> Option<RowLimitHold> {
        let policy = self.live.policy()?;
        if !policy.rules.has_row_limits() {
            return None;
        }
        // A prepared statement is held as it was read when prepared (the session's reading may
        // have changed since); a query as it is read now. Text that cannot be read now was
        // refused when it was judged, so its plain reading serves.
        let text = match self.lexing.remembered(sql) {
            Some(text) => text,
            None => match self.lexing.read(sql) {
                Ok(text) => text.into_owned(),
                Err(_) => sql.to_string(),
            },
        };
        let analysis = self.analysis(&ShapedSql::new(self.dialect, &text));
        let subject = Subject {
            user: &self.user,
            groups: &self.groups,
            target: &self.target,
        };
        let limit = policy.rules.evaluate(&analysis, &subject).row_limit?;
        Some(RowLimitHold {
            limit: limit.limit,
            rule: limit.rule,
            message: limit.message,
        })
    }

    fn on_function_call(&mut self, oid: u32) -> StatementDecision {
        // libpq's and JDBC's large-object calls (lo_open, loread, lowrite, …: fixed OIDs of
        // pg_catalog) move a large object's bytes and nothing else.
        const LARGE_OBJECTS: &[u32] = &[
            715, 952, 953, 954, 955, 956, 957, 958, 964, 1004, 3170, 3171, 3172,
        ];
        let judged =
            self.recorder.is_some() || self.live.policy().is_some() || self.live.masks().is_some();
        if !judged || LARGE_OBJECTS.contains(&oid) {
            return StatementDecision::Forward;
        }
        self.refuse(
            "[protocol]",
            format!("sluice: a FunctionCall message (function OID {oid}) is refused: only large-object calls may come this way; call the function in SQL (SELECT f(…)), where rules, masks and the audit log see it"),
        )
    }

    fn row_limit_exceeded(&mut self, message: &str) {
        TargetMetrics::count(&self.metrics.statements_refused);
        tracing::warn!(target = %self.target, user = %self.user, "a write went over its row limit and was undone");
        self.on_error("42501", message);
    }

    fn on_end(&mut self, reason: &str) {
        self.flush_counts();
        if let Some(r) = self.recorder.as_mut() {
            r.end(reason);
        }
    }

    fn on_relations(&mut self, relations: Arc<Relations>) {
        self.relations = Some(relations);
    }

    fn on_row(&mut self, fields: &mut RowFields) {
        if self.hide_credentials {
            fields.iter_mut().flatten().for_each(hide_secrets);
        }
        let audit = match (&self.audit_plan, &self.audit_masks, self.recording_rows) {
            (Some(plan), Some(masks), true)
                if self.recorder.as_ref().is_some_and(|r| r.wants_rows()) =>
            {
                self.audit_row.clone_from(fields);
                // Counted nowhere: the client saw these values in clear.
                let mut uncounted = MaskCounts::default();
                masks.apply(plan, &mut self.audit_row, &mut self.scratch, &mut uncounted);
                true
            }
            _ => false,
        };
        if let (Some(masks), Some(plan)) = (self.masks.as_ref(), self.plan.as_ref()) {
            masks.apply(plan, fields, &mut self.scratch, &mut self.counts);
        }
        if let Some(r) = self.recorder.as_mut().filter(|_| self.recording_rows) {
            match audit {
                true => r.row(&self.audit_row),
                false => r.row(fields),
            }
        }
    }

    fn session_over(&mut self) -> Option<String> {
        if let Some(why) = self.login_mismatch.take() {
            return Some(why);
        }
        let deadline = self.deadline?;
        (crate::auth::jwt::now_secs() >= deadline).then(|| {
            tracing::info!(target = %self.target, user = %self.user, "token-signed session ended at its deadline");
            format!(
                "sluice: your sign-in token expired (session deadline {}); sign in again with a fresh token",
                audit::format_rfc3339_micros(deadline.saturating_mul(1_000_000))
            )
        })
    }

    fn on_lexing(&mut self, report: LexReport) {
        self.lexing.report(report);
    }

    fn on_identity(&mut self, user: &str, groups: &[String]) {
        // COM_CHANGE_USER signs in with a password of [[users]]: no token deadline.
        self.deadline = None;
        self.masks = None;
        if let Some(r) = self.recorder.as_mut() {
            r.set_identity(user, groups);
        }
        if let Some(Err(why)) = self.upstream_login.as_ref().map(|l| l.check(user, groups)) {
            tracing::warn!(target = %self.target, from = %self.user, to = %user, reason = %why, "the upstream identity does not fit the new user; the session ends");
            self.login_mismatch = Some(why);
        }
        self.user = user.to_string();
        self.groups = groups.to_vec();
    }
}

/// What the rules and masks decided about a statement.
struct Verdict {
    decision: StatementDecision,
    /// The rule that decided, for the log.
    rule: Option<String>,
    /// The decision's name in the log.
    label: &'static str,
    /// `Some(rule message)`: the statement needs approval (and `[approvals]` is configured).
    review: Option<Option<String>>,
}

/// What the log records of a statement sluice could not read for sure: its size and digest.
fn unread_statement(sql: &str) -> String {
    use sha2::Digest;
    format!(
        "/* not recorded: sluice could not tell how the server would read its quotes; {} bytes, sha256 {} */",
        sql.len(),
        hex::encode(sha2::Sha256::digest(sql.as_bytes()))
    )
}

/// Names that stand for a statement text: cursors (`FETCH name` returns what the declared
/// query selects) and SQL-level prepared statements (`EXECUTE name`).
#[derive(Default)]
struct NamedTexts(std::collections::HashMap<String, String>);

impl NamedTexts {
    /// The server completed a definition of `name`: it was free, and now stands for `text`.
    fn completed(&mut self, name: String, text: String) {
        self.0.insert(name, text);
    }

    /// Closes one name, or all of them.
    fn close(&mut self, name: Option<&str>) {
        match name {
            Some(name) => {
                self.0.remove(name);
            }
            None => self.0.clear(),
        }
    }

    /// The text `name` stands for; `None` when unknown.
    fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// Whose masks judge a diagnostic: the session's, or every mask (the audit log's).
enum SessionMasksRef {
    Session,
    Audit,
}

/// `ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name`, as the first words.
fn rolls_back_to_savepoint(sql: &str) -> bool {
    let mut words = sql
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty());
    words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("rollback"))
        && words.take(2).any(|w| w.eq_ignore_ascii_case("to"))
}

/// `COMMIT`, `END`, `ABORT` or a `ROLLBACK` that is not to a savepoint, as the first words.
fn ends_transaction(sql: &str) -> bool {
    let mut words = sql
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase);
    match words.next().as_deref() {
        Some("commit" | "end" | "abort") => true,
        Some("rollback") => !words.take(3).any(|w| w == "to"),
        _ => false,
    }
}

/// Whether `sql` holds MySQL's `SHOW GRANTS`, whose rows show an account's password hash
/// (`IDENTIFIED BY PASSWORD '*…'`, `IDENTIFIED VIA ed25519 USING '…'`).
fn shows_grants(sql: &str) -> bool {
    // Asked of every MySQL statement: words compared in place, nothing allocated.
    let mut words = sql
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty());
    let mut previous = words.next();
    words.any(|w| {
        let show = previous.is_some_and(|p| p.eq_ignore_ascii_case("show"));
        previous = Some(w);
        show && w.eq_ignore_ascii_case("grants")
    })
}

/// Replaces the quoted secret after `PASSWORD` or `USING` in a grant with a placeholder.
fn hide_secrets(value: &mut Vec<u8>) {
    let text = String::from_utf8_lossy(value).into_owned();
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = ["PASSWORD '", "USING '"]
        .iter()
        .filter_map(|k| rest.find(k).map(|i| (i, k.len())))
        .min()
    {
        let (i, len) = at;
        out.push_str(&rest[..i + len]);
        rest = &rest[i + len..];
        let end = rest.find('\'').unwrap_or(rest.len());
        out.push_str("<hidden by sluice>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    *value = out.into_bytes();
}

/// Whether a statement (its fingerprint: words, comments and literals gone) changes the login
/// sluice itself uses upstream (named `login`, when known): `SET PASSWORD` for it, or `ALTER
/// USER` / `ALTER ROLE` of it (password, settings, name). Any role may do this to itself, so
/// every session of an identity could lock the others out, or give itself a password to log
/// in directly and read unmasked data. A name sluice cannot read (a literal) counts as it.
fn changes_login(fingerprint: &str, login: Option<&str>) -> bool {
    let words: Vec<String> = fingerprint
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '?'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let is_self = |name: Option<&String>| {
        name.is_none_or(|n| {
            matches!(
                n.as_str(),
                "current_user" | "session_user" | "current_role" | "user" | "all" | "?"
            ) || login.is_some_and(|l| n.eq_ignore_ascii_case(l))
        })
    };
    let at = |k: usize| words.get(k).map(String::as_str);
    match (at(0), at(1)) {
        (Some("set"), Some("password")) => at(2) != Some("for") || is_self(words.get(3)),
        (Some("alter"), Some("user" | "role")) => {
            let name = if at(2) == Some("if") { 4 } else { 2 };
            is_self(words.get(name))
        }
        _ => false,
    }
}

/// A result or diagnostic names its statement as the client wrote it; it is judged by the
/// text as the server read it, where sluice rewrote it (see `SessionLexing::remembered`).
fn read_as_server<'a>(
    rewritten: &'a Option<String>,
    of: Option<ResultOf<'a>>,
) -> Option<ResultOf<'a>> {
    match (rewritten, of) {
        (Some(sql), Some(of)) => Some(ResultOf {
            sql,
            index: of.index,
        }),
        (_, of) => of,
    }
}

/// Whether `sql`'s first word is `word` (ASCII, any case).
fn first_word_is(sql: &str, word: &str) -> bool {
    sql.split(|c: char| c.is_whitespace() || c == ';')
        .find(|w| !w.is_empty())
        .is_some_and(|w| w.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(rules: &str, groups: &[&str]) -> StatementGate {
        let config = crate::config::Config::parse(rules, Default::default()).unwrap();
        let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        StatementGate::new(
            crate::live::Live::new(crate::live::LiveParts {
                users: crate::auth::UserDirectory::from_config(&[]).unwrap(),
                policy: Some(StatementPolicy::new(config.rule_set().unwrap())),
                masks: crate::masks::MaskPolicy::compile(&config).unwrap(),
            }),
            Dialect::Postgres,
            "u",
            &groups,
            "t",
            Default::default(),
        )
    }

    #[test]
    fn an_unread_statement_is_logged_by_size_and_digest_only() {
        let sql = r#"SELECT "x\" , ssn FROM c WHERE ssn = '123-45-6789' -- ""#;
        let logged = unread_statement(sql);
        assert!(
            !logged.contains("123-45-6789") && !logged.contains("ssn"),
            "{logged}"
        );
        assert!(logged.contains(&format!("{} bytes", sql.len())), "{logged}");
        assert_ne!(logged, unread_statement("SELECT 1"));
    }

    #[test]
    fn cursor_statements_are_noticed_in_any_case_and_position() {
        for sql in [
            "DECLARE c CURSOR FOR SELECT 1",
            "begin; declare c cursor for select ssn from t",
            "FETCH 10 FROM c",
            "fetch",
            "Close c",
            "select 1; CLOSE ALL",
        ] {
            assert!(policy::mentions_named_statements(sql), "{sql}");
        }
        for sql in [
            "SELECT abalance FROM pgbench_accounts WHERE aid = 1",
            "select decl, fet, clos from t",
            "",
            "d",
            "SELECT 'déclare'",
        ] {
            assert!(!policy::mentions_named_statements(sql), "{sql}");
        }
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

#[cfg(test)]
mod login_tests {
    use super::changes_login;
    use policy::{analyze, Dialect};

    fn changes(dialect: Dialect, sql: &str) -> bool {
        analyze(dialect, sql)
            .statements
            .iter()
            .any(|s| changes_login(&s.fingerprint, Some("analyst_ro")))
    }

    #[test]
    fn grants_show_no_password_hash() {
        assert!(super::shows_grants("show  GRANTS for current_user"));
        assert!(!super::shows_grants("SELECT 'grants'"));
        let mut row = b"GRANT USAGE ON *.* TO `analyst_ro`@`127.0.0.1` IDENTIFIED BY PASSWORD '*9FAF4E00778CE1454DFAF416146A8E533A332BC7'".to_vec();
        super::hide_secrets(&mut row);
        assert_eq!(
            String::from_utf8(row).unwrap(),
            "GRANT USAGE ON *.* TO `analyst_ro`@`127.0.0.1` IDENTIFIED BY PASSWORD '<hidden by sluice>'"
        );
        let mut row =
            b"GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED VIA ed25519 USING 'abc' OR unix_socket"
                .to_vec();
        super::hide_secrets(&mut row);
        assert_eq!(
            String::from_utf8(row).unwrap(),
            "GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED VIA ed25519 USING '<hidden by sluice>' OR unix_socket"
        );
    }

    #[test]
    fn the_login_sluice_uses_is_not_the_clients_to_change() {
        for (dialect, sql) in [
            (Dialect::MySql, "SET PASSWORD = PASSWORD('x')"),
            (
                Dialect::MySql,
                "set password = '*9FAF4E00778CE1454DFAF416146A8E533A332BC7'",
            ),
            (
                Dialect::MySql,
                "SET PASSWORD FOR CURRENT_USER() = PASSWORD('x')",
            ),
            (
                Dialect::MySql,
                "SET PASSWORD FOR 'analyst_ro'@'%' = PASSWORD('x')",
            ),
            (
                Dialect::MySql,
                "/* hi */ ALTER USER CURRENT_USER() IDENTIFIED BY 'x'",
            ),
            (Dialect::Postgres, "ALTER ROLE analyst_ro PASSWORD 'x'"),
            (
                Dialect::Postgres,
                "BEGIN; ALTER USER current_user PASSWORD 'x'; ROLLBACK",
            ),
            (
                Dialect::Postgres,
                "ALTER ROLE \"analyst_ro\" SET search_path = 'x'",
            ),
            (
                Dialect::Postgres,
                "ALTER ROLE ALL SET statement_timeout = 1",
            ),
            (Dialect::Postgres, "ALTER USER analyst_ro RENAME TO x"),
        ] {
            assert!(changes(dialect, sql), "{sql}");
        }
        for (dialect, sql) in [
            (Dialect::Postgres, "ALTER ROLE reporting PASSWORD 'x'"),
            (Dialect::Postgres, "SELECT 'set password' AS s"),
            (Dialect::MySql, "SELECT 'SET PASSWORD = 1'"),
            (Dialect::MySql, "ALTER TABLE users ADD COLUMN password text"),
            (
                Dialect::MySql,
                "UPDATE users SET password = 'x' WHERE id = 1",
            ),
        ] {
            assert!(!changes(dialect, sql), "{sql}");
        }
    }
}
