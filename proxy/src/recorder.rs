//! `[audit]` as a session's recorder: what each session does goes into the tamper-evident log
//! of the `audit` crate, with statements' literals masked per `query_literals` and result rows
//! exactly as the client received them (after masking), up to `record_rows` per result.
//! Protocol-neutral: the session hook calls it.
//!
//! Nothing runs unaudited: while the log cannot write, new statements are refused with a
//! clear error; in `sync` mode a statement reaches the database only once its record is
//! durable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use audit::{AuditLog, Draft, RecordBody, ResultColumn, Ticket};
use policy::{Dialect, LiteralMode};

use crate::config::{AuditMode, Config, QueryLiterals};
use crate::masks::MaskPolicy;
use crate::session::{ColumnDesc, ColumnOrigin, ResultEnd, RowFields};

/// Rows of one result kept for its record even when `record_rows = -1` (a record is written
/// whole; an unbounded one would hold a whole result in memory).
const MAX_RECORDED_ROWS: usize = 10_000;

/// The proxy's audit log and how it records.
pub struct Auditor {
    log: AuditLog,
    dir: std::path::PathBuf,
    /// Rows recorded per result.
    record_rows: usize,
    literals: LiteralMode,
    /// `record_exempt_clear`: record exempt users' rows as they saw them (clear).
    exempt_clear: bool,
    next_session: AtomicU64,
}

/// Who a session is, for its records.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    // Shared with every record of the session (see `audit::Draft`).
    pub target: Arc<str>,
    pub user: Arc<str>,
    pub groups: Arc<[String]>,
    pub client_addr: Arc<str>,
    pub tls: bool,
    pub application_name: Option<String>,
    pub database: Option<String>,
    /// The database role the session logged in upstream as (its upstream identity).
    pub upstream_user: Option<String>,
}

fn key(config: &Config, a: &crate::config::AuditConfig) -> Result<Vec<u8>, String> {
    match (&a.key_env, &a.key_file) {
        (Some(_), Some(_)) => Err("[audit]: set key_env or key_file, not both".into()),
        (Some(env), None) => std::env::var(env)
            .ok()
            .filter(|k| !k.is_empty())
            .map(String::into_bytes)
            .ok_or_else(|| format!("[audit]: key_env {env:?} is not set")),
        (None, Some(file)) => {
            let path = config.path(std::path::Path::new(file));
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("[audit]: cannot read key_file {}: {e}", path.display()))?;
            let key = text.trim();
            match key.is_empty() {
                true => Err(format!("[audit]: key_file {} is empty", path.display())),
                false => Ok(key.as_bytes().to_vec()),
            }
        }
        (None, None) => {
            Err("[audit]: key_env or key_file must name the HMAC key of the hash chain".into())
        }
    }
}

impl Auditor {
    /// Opens the log of `[audit]`; `None` without that section.
    pub fn open(config: &Config) -> Result<Option<Arc<Auditor>>, String> {
        let Some(a) = &config.audit else {
            return Ok(None);
        };
        let mut c =
            audit::AuditConfig::new(config.path(std::path::Path::new(&a.dir)), key(config, a)?);
        c.mode = match a.mode.unwrap_or(AuditMode::Async) {
            AuditMode::Async => audit::Mode::Async,
            AuditMode::Sync => audit::Mode::Sync,
        };
        if let Some(f) = &a.flush_interval {
            c.flush_interval = f.0;
        }
        c.retention = a.retention.as_ref().map(|r| r.0);
        std::fs::create_dir_all(&c.dir)
            .map_err(|e| format!("[audit]: cannot create {}: {e}", c.dir.display()))?;
        let dir = c.dir.clone();
        let log = AuditLog::open(c).map_err(|e| format!("[audit]: {e}"))?;
        let record_rows = match a.record_rows.unwrap_or(1000) {
            n if n < 0 => MAX_RECORDED_ROWS,
            n => usize::try_from(n)
                .unwrap_or(MAX_RECORDED_ROWS)
                .min(MAX_RECORDED_ROWS),
        };
        Ok(Some(Arc::new(Auditor {
            log,
            dir,
            record_rows,
            exempt_clear: a.record_exempt_clear.unwrap_or(false),
            literals: match a.query_literals.unwrap_or(QueryLiterals::Mask) {
                QueryLiterals::Mask => LiteralMode::Mask,
                QueryLiterals::Redact => LiteralMode::Redact,
                QueryLiterals::Keep => LiteralMode::Keep,
            },
            // Unique across restarts: sessions count up from the start time in microseconds.
            next_session: AtomicU64::new(u64::try_from(audit::now_micros()).unwrap_or(1)),
        })))
    }

    /// Where the log's segments are.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The log itself (health, stats, flush).
    pub fn log(&self) -> &AuditLog {
        &self.log
    }

    /// Starts recording a session that has authenticated.
    pub fn session(self: &Arc<Self>, info: SessionInfo) -> SessionRecorder {
        let session = self.next_session.fetch_add(1, Ordering::Relaxed);
        let mut r = SessionRecorder {
            auditor: Arc::clone(self),
            session,
            info,
            next_statement: 1,
            result: None,
            hidden: Vec::new(),
            mask_rows_whole: false,
        };
        r.write(RecordBody::SessionStart {
            tls: r.info.tls,
            application_name: r.info.application_name.clone(),
            database: r.info.database.clone(),
            upstream_user: r.info.upstream_user.clone(),
        });
        r.write(RecordBody::Auth {
            ok: true,
            method: "password".into(),
            reason: None,
        });
        r
    }

    /// A session whose client signed in but whose database could not be had (unreachable, too
    /// slow for `connect_timeout`, or refusing the session): its start and, at once, its end,
    /// whose reason says why, as the end of a session that lost its database does.
    pub fn upstream_failed(self: &Arc<Self>, info: SessionInfo, reason: &str) {
        self.session(info).end(reason);
    }

    /// A reload of the configuration (`config_hash`: the file's SHA-256), asked for by `by`.
    pub fn reload(&self, by: &str, config_hash: &str) {
        let d = Draft::new(
            0,
            "",
            by,
            RecordBody::Reload {
                config_hash: config_hash.to_string(),
            },
        );
        if let Err(e) = self.log.record(d) {
            tracing::error!(error = %e, "the audit log could not record a reload");
        }
    }

    /// A failed login, under a session of its own.
    pub fn auth_failed(&self, target: &str, user: &str, client_addr: &str, reason: &str) {
        let session = self.next_session.fetch_add(1, Ordering::Relaxed);
        let mut d = Draft::new(
            session,
            target,
            user,
            RecordBody::Auth {
                ok: false,
                method: "password".into(),
                reason: Some(reason.into()),
            },
        );
        d.client_addr = client_addr.into();
        if let Err(e) = self.log.record(d) {
            tracing::error!(error = %e, "the audit log could not record a failed login");
        }
    }
}

struct ResultInProgress {
    statement_id: u64,
    columns: Vec<ResultColumn>,
    binary: Vec<bool>,
    rows: Vec<Vec<Option<String>>>,
    started: std::time::Instant,
    truncated: bool,
}

/// A statement's text and parameters as the log shows them, per `mode`: a literal or
/// parameter bound to a masked column is `***`, and detector hits are redacted.
pub fn masked_statement(
    mode: LiteralMode,
    s: &policy::ShapedSql<'_>,
    params: &[Option<String>],
    masks: Option<&MaskPolicy>,
) -> (String, Vec<Option<String>>) {
    let (dialect, sql) = (s.dialect(), s.sql());
    let empty = policy::SensitiveColumns::default();
    let sensitive = masks.map_or(&empty, |m| m.sensitive_columns());
    // Plain text is masked by its shape's plan, without a parse; with nothing sensitive there
    // is nothing to plan. Anything else is masked by a full parse.
    let planned = match s.shape() {
        Some(shape) if mode != LiteralMode::Keep => match masks {
            Some(m) if !sensitive.is_empty() => m
                .literal_plan(dialect, sql, shape)
                .map(|plan| plan.render(sql, shape, mode)),
            _ => Some(policy::LiteralPlan::nothing_sensitive(shape).render(sql, shape, mode)),
        },
        _ => None,
    };
    let masked = planned.unwrap_or_else(|| policy::mask_literals(dialect, sql, sensitive, mode));
    let detected = |v: String| match (mode, masks) {
        (LiteralMode::Keep, _) | (_, None) => v,
        (_, Some(m)) => m.redact_detected(v),
    };
    let params = params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p.as_ref().map(|v| match mode {
                LiteralMode::Keep => v.clone(),
                LiteralMode::Redact => "?".to_string(),
                LiteralMode::Mask
                    if masked.all_params_masked || masked.masked_params.contains(&(i + 1)) =>
                {
                    "***".into()
                }
                LiteralMode::Mask => detected(v.clone()),
            })
        })
        .collect();
    (detected(masked.text), params)
}

/// What a statement's record hides: the literals its masked text no longer shows and the
/// parameters recorded as `***`, as they would appear in its results.
fn hidden_values(
    mode: LiteralMode,
    s: &policy::ShapedSql<'_>,
    masked_text: &str,
    params: &[Option<String>],
    masked_params: &[Option<String>],
) -> Vec<String> {
    if mode == LiteralMode::Keep {
        return Vec::new();
    }
    let mut hidden = policy::hidden_literals(s.dialect(), s.sql(), masked_text);
    for (clear, recorded) in params.iter().zip(masked_params) {
        if let (Some(clear), Some(recorded)) = (clear, recorded) {
            if clear != recorded
                && clear.chars().count() >= policy::MIN_HIDDEN_LEN
                && !hidden.contains(clear)
            {
                hidden.push(clear.clone());
            }
        }
    }
    hidden
}

/// The statements' kinds, comma-separated (`select`, or `transaction,update,transaction`).
fn statement_kinds(analysis: &policy::Analysis) -> String {
    match analysis.statements.as_slice() {
        [one] => one.kind.as_str().to_string(),
        all => {
            let mut kinds = String::new();
            for (i, s) in all.iter().enumerate() {
                if i > 0 {
                    kinds.push(',');
                }
                kinds.push_str(s.kind.as_str());
            }
            kinds
        }
    }
}

/// One session's recorder.
pub struct SessionRecorder {
    auditor: Arc<Auditor>,
    session: u64,
    info: SessionInfo,
    next_statement: u64,
    result: Option<ResultInProgress>,
    /// The values the last statement's record masked (its literals and parameters): scrubbed
    /// from what is recorded of its results and errors, which can echo them (EXPLAIN's plan,
    /// MySQL's names of unaliased columns).
    hidden: Vec<String>,
    /// The last statement's rows are recorded masked whole: an EXPLAIN whose record hid
    /// something (its plan prints constants as the server folded them, `upper('x')` as `'X'`,
    /// which no scrub of the typed values finds), or a read of statistics or statement texts
    /// (`pg_stat_activity`, `pg_prepared_statements`, the process list …) under masks the log
    /// applies: they quote values and literals no mask names.
    mask_rows_whole: bool,
}

impl SessionRecorder {
    fn draft(&self, body: RecordBody) -> Draft {
        // Built whole: `Draft::new` would allocate an empty group list and address only for
        // them to be replaced, two allocations per record.
        Draft {
            session: self.session,
            ts_micros: audit::now_micros(),
            target: Arc::clone(&self.info.target),
            user: Arc::clone(&self.info.user),
            groups: Arc::clone(&self.info.groups),
            client_addr: Arc::clone(&self.info.client_addr),
            body,
        }
    }

    /// Writes a record nothing waits on (see [`audit::AuditLog::record_trailing`]).
    fn write(&mut self, body: RecordBody) {
        if let Err(e) = self.auditor.log.record_detached(self.draft(body), true) {
            tracing::error!(session = self.session, error = %e, "the audit log could not take a record");
        }
    }

    /// The session's id in the log.
    pub fn id(&self) -> u64 {
        self.session
    }

    /// How statements' literals are shown.
    pub fn literals(&self) -> LiteralMode {
        self.auditor.literals
    }

    /// The session acts for another user from now on.
    pub fn set_identity(&mut self, user: &str, groups: &[String]) {
        self.info.user = user.into();
        self.info.groups = groups.into();
    }

    /// A statement record: the text (and an execution's parameters) masked as
    /// `query_literals` says: a literal or parameter bound to a masked column is `***`, and
    /// detector hits are redacted.
    #[allow(clippy::too_many_arguments)]
    fn statement_body(
        &mut self,
        s: &policy::ShapedSql<'_>,
        params: &[Option<String>],
        analysis: &policy::Analysis,
        masks: Option<&MaskPolicy>,
        rule: Option<&str>,
        decision: &str,
    ) -> RecordBody {
        let (text, masked_params) = masked_statement(self.auditor.literals, s, params, masks);
        self.hidden = hidden_values(self.auditor.literals, s, &text, params, &masked_params);
        let explains = analysis
            .statements
            .iter()
            .any(|s| s.kind == policy::StatementKind::Explain);
        let reveals = masks.is_some()
            && !self.auditor.exempt_clear
            && analysis
                .statements
                .iter()
                .any(crate::masks::reveals_values_outside_masks);
        self.mask_rows_whole = (explains && !self.hidden.is_empty()) || reveals;
        let params = masked_params;
        let statement_id = self.next_statement;
        self.next_statement += 1;
        let mut tables: Vec<String> = analysis
            .statements
            .iter()
            .flat_map(|s| s.tables.iter().map(|t| t.qualified_name()))
            .collect();
        tables.dedup();
        RecordBody::Statement {
            statement_id,
            text,
            params,
            statement_kind: statement_kinds(analysis),
            tables,
            rule: rule.map(str::to_string),
            decision: decision.to_string(),
        }
    }

    /// Records a statement and the decision on it. `Err` when the log cannot take it: the
    /// statement must then not run. In sync mode the ticket must be waited on before the
    /// statement is forwarded.
    pub fn statement(
        &mut self,
        s: &policy::ShapedSql<'_>,
        analysis: &policy::Analysis,
        masks: Option<&MaskPolicy>,
        rule: Option<&str>,
        decision: &str,
    ) -> Result<Option<Ticket>, String> {
        let body = self.statement_body(s, &[], analysis, masks, rule, decision);
        self.submit(body)
    }

    /// Submits a statement record: `Err` when the log cannot take it; in sync mode, the ticket
    /// to wait on before the statement runs.
    fn submit(&mut self, body: RecordBody) -> Result<Option<Ticket>, String> {
        let draft = self.draft(body);
        // Only a sync-mode submitter waits on its record.
        let submitted = match self.auditor.log.mode() {
            audit::Mode::Sync => self.auditor.log.record(draft).map(Some),
            audit::Mode::Async => self
                .auditor
                .log
                .record_detached(draft, false)
                .map(|()| None),
        };
        match submitted {
            Ok(ticket) => Ok(ticket),
            Err(e) => Err(format!(
                "sluice: the audit log cannot record statements right now ({e}); statements are refused until it recovers"
            )),
        }
    }

    /// A prepared statement runs with these parameters: recorded as a statement of its own,
    /// with the same guarantees as [`SessionRecorder::statement`].
    /// `rule` and `decision` say what decided on it (`block` when its parameters made it a
    /// write the rules refuse).
    #[allow(clippy::too_many_arguments)]
    pub fn execution(
        &mut self,
        dialect: Dialect,
        sql: &str,
        params: &[Option<String>],
        analysis: &policy::Analysis,
        masks: Option<&MaskPolicy>,
        rule: Option<&str>,
        decision: &str,
    ) -> Result<Option<Ticket>, String> {
        let s = policy::ShapedSql::new(dialect, sql);
        let body = self.statement_body(&s, params, analysis, masks, rule, decision);
        self.submit(body)
    }

    /// A result's columns; `true` while its rows are wanted for the record.
    pub fn columns(&mut self, columns: &[ColumnDesc]) -> bool {
        let statement_id = self.next_statement.saturating_sub(1);
        self.result = Some(ResultInProgress {
            statement_id,
            columns: columns
                .iter()
                .map(|c| ResultColumn {
                    name: policy::scrub_hidden(&c.name, &self.hidden),
                    origin: match &c.origin {
                        ColumnOrigin::Named {
                            schema,
                            table,
                            column,
                        }
                        | ColumnOrigin::View {
                            schema,
                            table,
                            column,
                            ..
                        } => Some(format!("{schema}.{table}.{column}")),
                        _ => None,
                    },
                    // A type without a known name (a PostgreSQL extension's, say) is
                    // recorded by its protocol code.
                    type_name: match c.type_name {
                        Some(name) => name.to_string(),
                        None => format!("type {}", c.type_code),
                    },
                })
                .collect(),
            binary: columns.iter().map(|c| c.binary).collect(),
            rows: Vec::new(),
            started: std::time::Instant::now(),
            truncated: false,
        });
        self.auditor.record_rows > 0
    }

    /// Whether rows are recorded with every mask applied, whatever the session was exempt
    /// from: the log's reader is not necessarily the DBA who saw them (`record_exempt_clear`).
    pub fn masks_exempt_rows(&self) -> bool {
        !self.auditor.exempt_clear
    }

    /// Whether more rows of the current result are wanted.
    pub fn wants_rows(&self) -> bool {
        self.result
            .as_ref()
            .is_some_and(|r| r.rows.len() < self.auditor.record_rows)
    }

    /// A row as the client receives it.
    pub fn row(&mut self, fields: &RowFields) {
        let limit = self.auditor.record_rows;
        let hidden = &self.hidden;
        let whole = self.mask_rows_whole;
        let Some(r) = self.result.as_mut() else {
            return;
        };
        if r.rows.len() >= limit {
            r.truncated = true;
            return;
        }
        let row = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                f.as_ref()
                    .map(|v| match r.binary.get(i).copied().unwrap_or(false) {
                        _ if whole => "***".to_string(),
                        false if hidden.is_empty() => String::from_utf8_lossy(v).into_owned(),
                        false => policy::scrub_hidden(&String::from_utf8_lossy(v), hidden),
                        true => format!("\\x{}", hex::encode(v)),
                    })
            })
            .collect();
        r.rows.push(row);
    }

    /// The statement's result is complete.
    pub fn result_end(&mut self, end: &ResultEnd) {
        let r = self.result.take();
        let statement_id = r
            .as_ref()
            .map_or(self.next_statement.saturating_sub(1), |r| r.statement_id);
        let (columns, rows, duration, truncated) = match r {
            Some(r) => {
                let truncated =
                    r.truncated || (end.rows as usize) > r.rows.len() && !r.rows.is_empty();
                (r.columns, r.rows, r.started.elapsed(), truncated)
            }
            None => (Vec::new(), Vec::new(), std::time::Duration::ZERO, false),
        };
        self.write(RecordBody::Result {
            statement_id,
            columns,
            rows,
            row_count: end.rows,
            bytes: end.bytes,
            duration_micros: u64::try_from(duration.as_micros()).unwrap_or(u64::MAX),
            rows_affected: end.rows_affected,
            truncated,
        });
    }

    /// An error the client received.
    pub fn error(&mut self, code: &str, message: &str) {
        self.result = None;
        let statement_id = Some(self.next_statement.saturating_sub(1)).filter(|&n| n > 0);
        let message = policy::scrub_hidden(message, &self.hidden);
        self.write(RecordBody::Error {
            statement_id,
            code: code.into(),
            message,
        });
    }

    /// The session is over.
    pub fn end(&mut self, reason: &str) {
        self.write(RecordBody::SessionEnd {
            reason: reason.into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_record_names_every_statement_kind_in_order() {
        let kinds = |sql: &str| statement_kinds(&policy::analyze(policy::Dialect::Postgres, sql));
        assert_eq!(kinds("SELECT 1"), "select");
        assert_eq!(
            kinds("BEGIN; UPDATE t SET a = 1 WHERE id = 2; COMMIT"),
            "transaction,update,transaction"
        );
    }
}
