//! A masked session is a closed world: sluice can only vouch for values whose path from a table
//! to the client it can follow, so a session with column masks may not use what it cannot see
//! into. Checked before a statement runs, whatever its results would be:
//!
//! * code sluice cannot watch run: `CALL`, `DO`, defining functions, procedures, triggers,
//!   rules and events, and calls to functions outside the built-ins whose lineage is modelled
//!   (`[masking] on_opaque`; side-effecting built-ins such as `set_config` or `pg_notify` are
//!   refused whatever it says);
//! * statistics and other sessions' activity, which hold column values and statement texts
//!   (`pg_stats`, `pg_statistic`, `pg_stat_activity`, MariaDB `mysql.column_stats`, the
//!   process list, `performance_schema`, …);
//! * DDL on a table a mask covers, which could move masked data where no mask names it (a
//!   rename, a type change, a generated column, a view or trigger over it).

use policy::{FunctionClass, StatementInfo, StatementKind};

use super::SessionMasks;
use crate::session::Relations;

/// Relations whose rows are values of other tables' columns (statistics) or statement texts
/// (other sessions', or the session's own as the server keeps them), by name, in any schema.
const REVEALING_RELATIONS: &[&str] = &[
    // PostgreSQL: per-column statistics (most common values, histogram bounds) and the text
    // of every session's current statement.
    "pg_stats",
    "pg_stats_ext",
    "pg_stats_ext_exprs",
    "pg_statistic",
    "pg_statistic_ext_data",
    "pg_stat_activity",
    "pg_stat_statements",
    // The session's own earlier statement texts (PREPARE, DECLARE): the log masks their
    // literals when they are sent, not when a view gives them back.
    "pg_prepared_statements",
    "pg_cursors",
    // MariaDB: engine-independent column statistics (min, max, histogram), statement texts
    // of other sessions, the row values InnoDB locks, and the server's query logs.
    "column_stats",
    "column_statistics",
    "processlist",
    "innodb_trx",
    "innodb_locks",
    "innodb_lock_waits",
    "general_log",
    "slow_log",
    "threads",
    "events_statements_current",
    "events_statements_history",
    "events_statements_history_long",
    "events_statements_summary_by_digest",
    "prepared_statements_instances",
    // MariaDB: every user variable of the session (a variable's value is of unknown origin),
    // the optimizer's trace (it quotes values read from single-row tables), and lock names.
    "user_variables",
    "optimizer_trace",
    "metadata_lock_info",
];

/// Schemas made of such relations (MySQL's statement instrumentation and its `sys` views).
const REVEALING_SCHEMAS: &[&str] = &["performance_schema", "sys"];

/// What a statement reads that a masked session may not.
fn revealing_relation(info: &StatementInfo) -> Option<String> {
    info.tables.iter().find_map(|t| {
        let by_name = REVEALING_RELATIONS
            .iter()
            .any(|r| t.name.eq_ignore_ascii_case(r));
        let by_schema = t
            .schema
            .as_deref()
            .is_some_and(|s| REVEALING_SCHEMAS.iter().any(|r| s.eq_ignore_ascii_case(r)));
        (by_name || by_schema).then(|| t.qualified_name())
    })
}

/// Whether a statement reads statistics or statement texts, which hold column values and
/// literals no mask names (see [`REVEALING_RELATIONS`]): the audit log records its rows
/// masked whole, since a user subject to every mask could not have read them.
pub fn reveals_values_outside_masks(info: &StatementInfo) -> bool {
    revealing_relation(info).is_some() || revealing_show(info)
}

/// MySQL statements that show other sessions' statement texts, plans (`SHOW EXPLAIN|ANALYZE
/// FOR <thread>`, by the upstream thread id of any session) or locked rows.
fn revealing_show(info: &StatementInfo) -> bool {
    let f = &info.fingerprint;
    f.get(..4).is_some_and(|w| w.eq_ignore_ascii_case("show"))
        && [
            "PROCESSLIST",
            "ENGINE",
            "MUTEX",
            "USER_VARIABLES",
            "EXPLAIN",
            "ANALYZE",
        ]
        .iter()
        .any(|k| f.to_ascii_uppercase().contains(k))
}

fn is_ddl(kind: StatementKind) -> bool {
    matches!(
        kind,
        StatementKind::Ddl
            | StatementKind::Drop
            | StatementKind::Truncate
            | StatementKind::Alter
            | StatementKind::Create
    )
}

impl SessionMasks {
    /// Whether a mask of this session covers some column of `schema.table` (an unqualified
    /// name could be in any schema).
    fn covers_table(&self, schema: Option<&str>, table: &str) -> bool {
        self.rules()
            .any(|r| r.columns.iter().any(|p| p.covers(schema, Some(table))))
    }

    /// Whether what the database says about a statement may quote data its lineage does not
    /// account for: anything but a plain read (or its EXPLAIN), or a statement sluice cannot
    /// read. A write or a schema change can be answered with a whole row (`Failing row
    /// contains (…)`, `Key (ssn)=(…)`), and fires triggers, which may raise whatever they
    /// read; a COMMIT fires deferred ones; a MySQL SET may quote a variable. A read's errors
    /// come from the expressions it evaluates, which its lineage accounts for.
    pub fn may_quote_rows(&self, info: &StatementInfo) -> bool {
        !info.parsed || !matches!(info.kind, StatementKind::Select | StatementKind::Explain)
    }

    /// Whether every relation the statement reads is the server's own catalog (`pg_*`,
    /// `information_schema`), which holds no masked column: a side effect can then store
    /// nothing a mask would hide.
    fn reads_only_the_catalog(&self, info: &StatementInfo) -> bool {
        !info.tables.is_empty()
            && info.tables.iter().all(|t| {
                let system = match t.schema.as_deref() {
                    Some(s) => ["pg_catalog", "information_schema"]
                        .iter()
                        .any(|x| s.eq_ignore_ascii_case(x)),
                    None => t.name.to_ascii_lowercase().starts_with("pg_"),
                };
                system && !self.covers_table(t.schema.as_deref(), &t.name)
            })
    }

    /// Whether `schema.table` holds masked columns, or is a view that reads some (a view or a
    /// policy built over it would move them where no mask names them).
    fn carries_masked(
        &self,
        schema: Option<&str>,
        table: &str,
        relations: Option<&Relations>,
    ) -> bool {
        self.covers_table(schema, table)
            || relations.is_some_and(|r| {
                super::views_named(r, schema, table)
                    .any(|v| self.first_masked(v.all.iter(), Some(r)).is_some())
            })
    }

    /// The closed-world checks for one statement of a masked session.
    pub(super) fn check_closed_world(
        &self,
        info: &StatementInfo,
        relations: Option<&Relations>,
    ) -> Result<(), String> {
        if info.kind == StatementKind::Call {
            return Err("sluice: CALL refused for a masked session: sluice cannot see what a procedure returns or does".into());
        }
        if info.code || info.opaque_code {
            return Err("sluice: statement refused for a masked session: it defines or runs code (a function, procedure, trigger, rule, event or DO block) whose results sluice cannot see into".into());
        }
        for call in &info.calls {
            match call.class {
                FunctionClass::Modeled => {}
                // pg_dump: `SELECT set_config(name, '…', false) FROM pg_settings WHERE …`.
                FunctionClass::SideEffect if self.reads_only_the_catalog(info) => {}
                FunctionClass::SideEffect => {
                    return Err(format!("sluice: statement refused for a masked session: {}() stores or sends a value where sluice cannot mask it", call.name));
                }
                FunctionClass::Opaque if !self.policy.settings.opaque_mask => {
                    return Err(format!("sluice: statement refused for a masked session by [masking] on_opaque = \"block\": sluice cannot see what {}() reads or returns", call.name));
                }
                FunctionClass::Opaque => {}
            }
        }
        if let Some(relation) = revealing_relation(info) {
            return Err(format!("sluice: statement refused for a masked session: {relation} holds column values or other sessions' statements, which sluice cannot mask"));
        }
        if revealing_show(info) {
            return Err("sluice: statement refused for a masked session: it shows other sessions' statements or locked rows, which sluice cannot mask".into());
        }
        // MariaDB's `SET STATEMENT var = constant FOR <statement>` sets nothing from a table.
        let per_statement = info
            .fingerprint
            .get(..13)
            .is_some_and(|f| f.eq_ignore_ascii_case("set statement"));
        if info.kind == StatementKind::Set && !per_statement {
            if let Some(t) = info
                .tables
                .iter()
                .find(|t| self.covers_table(t.schema.as_deref(), &t.name))
            {
                return Err(format!("sluice: SET refused for a masked session: it would copy values of {}, which holds masked columns, into a setting", t.qualified_name()));
            }
        }
        let ddl = is_ddl(info.kind) || info.effects.iter().any(|k| is_ddl(*k));
        if ddl {
            if let Some(t) = info
                .tables
                .iter()
                .find(|t| self.carries_masked(t.schema.as_deref(), &t.name, relations))
            {
                return Err(format!("sluice: statement refused for a masked session: it changes the schema around {}, which holds masked columns; ask a DBA", t.qualified_name()));
            }
        }
        Ok(())
    }
}
