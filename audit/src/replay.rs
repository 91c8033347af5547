//! A readable transcript of one session.

use std::io::Write;
use std::time::Duration;

use crate::reader::{AuditReader, Filter};
use crate::record::{Record, RecordBody, ResultColumn};
use crate::time::format_rfc3339_micros;
use crate::AuditError;

/// Writes session `session` as a transcript to `out`: time offsets from its first record,
/// each statement with its decision and rule, results as aligned tables of the recorded
/// (masked) rows, row counts, errors, approvals and the end. With `speed`, sleeps between
/// events to pace them like the original (`2.0` = twice as fast). Returns the number of
/// events; [`AuditError::NotFound`] if the session has no records.
///
/// ```
/// use audit::{AuditConfig, AuditLog, Draft, RecordBody};
/// let dir = tempfile::tempdir().unwrap();
/// let log = AuditLog::open(AuditConfig::new(dir.path(), b"k".to_vec())).unwrap();
/// log.record(Draft::new(9, "app-pg", "alice", RecordBody::SessionEnd { reason: "client closed".into() })).unwrap();
/// log.close().unwrap();
/// let mut out = Vec::new();
/// let reader = audit::AuditReader::open(dir.path()).unwrap();
/// assert_eq!(audit::replay(&reader, 9, None, &mut out).unwrap(), 1);
/// assert!(String::from_utf8(out).unwrap().contains("+0.000s  session end: client closed"));
/// ```
pub fn replay(
    reader: &AuditReader,
    session: u64,
    speed: Option<f64>,
    out: &mut dyn Write,
) -> Result<u64, AuditError> {
    let filter = Filter {
        session: Some(session),
        ..Filter::default()
    };
    replay_records(reader.records(&filter).flatten(), session, speed, out)
}

/// [`replay`] over records from elsewhere (a central store): `records` are the session's, in
/// order.
///
/// ```
/// use audit::{Draft, RecordBody};
/// let mut head = audit::ChainHead::genesis();
/// let r = head.append(b"k", Draft::new(9, "t", "u", RecordBody::SessionEnd { reason: "bye".into() }));
/// let mut out = Vec::new();
/// assert_eq!(audit::replay_records([r], 9, None, &mut out).unwrap(), 1);
/// ```
pub fn replay_records(
    records: impl IntoIterator<Item = Record>,
    session: u64,
    speed: Option<f64>,
    out: &mut dyn Write,
) -> Result<u64, AuditError> {
    let mut start: Option<i64> = None;
    let mut last_ts = 0i64;
    let mut events = 0u64;
    for r in records {
        let t0 = *start.get_or_insert_with(|| {
            header(out, &r).ok();
            r.ts_micros
        });
        if let Some(speed) = speed.filter(|s| s.is_finite() && *s > 0.0) {
            let gap = r.ts_micros.saturating_sub(last_ts).max(0) as f64 / speed;
            if events > 0 && gap > 0.0 {
                out.flush()?;
                std::thread::sleep(Duration::from_micros(gap.min(3.6e9) as u64));
            }
        }
        last_ts = r.ts_micros;
        let offset = r.ts_micros.saturating_sub(t0) as f64 / 1e6;
        event(out, offset, &r)?;
        events += 1;
    }
    if events == 0 {
        return Err(AuditError::NotFound(format!("session {session}")));
    }
    out.flush()?;
    Ok(events)
}

fn header(out: &mut dyn Write, r: &Record) -> std::io::Result<()> {
    let groups = if r.groups.is_empty() {
        String::new()
    } else {
        format!(" ({})", r.groups.join(", "))
    };
    writeln!(
        out,
        "session {}  target {}  user {}{}  from {}",
        r.session, r.target, r.user, groups, r.client_addr
    )?;
    writeln!(out, "started {}", format_rfc3339_micros(r.ts_micros))?;
    writeln!(out)
}

const INDENT: &str = "          ";

fn event(out: &mut dyn Write, offset: f64, r: &Record) -> std::io::Result<()> {
    let at = format!("+{offset:.3}s");
    match &r.body {
        RecordBody::SessionStart {
            tls,
            application_name,
            database,
            upstream_user,
        } => writeln!(
            out,
            "{at}  session start: user {} from {}{}{}{}{}",
            r.user,
            r.client_addr,
            if *tls { ", tls" } else { ", no tls" },
            application_name
                .as_ref()
                .map(|a| format!(", application {a}"))
                .unwrap_or_default(),
            database
                .as_ref()
                .map(|d| format!(", database {d}"))
                .unwrap_or_default(),
            upstream_user
                .as_ref()
                .map(|u| format!(", upstream user {u}"))
                .unwrap_or_default(),
        ),
        RecordBody::Auth { ok, method, reason } => writeln!(
            out,
            "{at}  auth {} ({method}){}",
            if *ok { "ok" } else { "FAILED" },
            reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        RecordBody::Statement {
            statement_id,
            text,
            params,
            statement_kind,
            tables,
            rule,
            decision,
        } => {
            let rule = rule
                .as_ref()
                .map(|r| format!(", rule {r}"))
                .unwrap_or_default();
            writeln!(
                out,
                "{at}  [{statement_id}] {statement_kind} -> {decision}{rule}"
            )?;
            for line in text.lines() {
                writeln!(out, "{INDENT}{line}")?;
            }
            if !params.is_empty() {
                let ps: Vec<String> = params
                    .iter()
                    .enumerate()
                    .map(|(i, p)| format!("${}={}", i + 1, p.as_deref().unwrap_or("NULL")))
                    .collect();
                writeln!(out, "{INDENT}params: {}", ps.join(", "))?;
            }
            if !tables.is_empty() {
                writeln!(out, "{INDENT}tables: {}", tables.join(", "))?;
            }
            Ok(())
        }
        RecordBody::Result {
            statement_id,
            columns,
            rows,
            row_count,
            bytes,
            duration_micros,
            rows_affected,
            truncated,
        } => {
            let affected = rows_affected
                .map(|a| format!(", {a} affected"))
                .unwrap_or_default();
            writeln!(
                out,
                "{at}  [{statement_id}] result: {row_count} row{}{affected}, {bytes} bytes, {:.3} ms",
                if *row_count == 1 { "" } else { "s" },
                *duration_micros as f64 / 1e3
            )?;
            if !columns.is_empty() {
                table(out, columns, rows)?;
                if *truncated {
                    writeln!(out, "{INDENT}({} of {row_count} rows recorded)", rows.len())?;
                }
            }
            Ok(())
        }
        RecordBody::Error {
            statement_id,
            code,
            message,
        } => writeln!(
            out,
            "{at}  {}error {code}: {message}",
            statement_id.map(|s| format!("[{s}] ")).unwrap_or_default()
        ),
        RecordBody::Approval {
            approval_id,
            event,
            by,
            reason,
        } => writeln!(
            out,
            "{at}  approval {approval_id} {event}{}{}",
            by.as_ref().map(|b| format!(" by {b}")).unwrap_or_default(),
            reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        RecordBody::SessionEnd { reason } => writeln!(out, "{at}  session end: {reason}"),
        RecordBody::Checkpoint {
            pruned_through_seq, ..
        } => writeln!(
            out,
            "{at}  checkpoint: records through {pruned_through_seq} pruned"
        ),
        RecordBody::Reload { config_hash } => {
            writeln!(out, "{at}  configuration reloaded ({config_hash})")
        }
    }
}

/// Renders rows as an aligned text table:
///
/// ```text
/// | id | email        |
/// |----+--------------|
/// | 1  | a***@x.com   |
/// ```
fn table(
    out: &mut dyn Write,
    columns: &[ResultColumn],
    rows: &[Vec<Option<String>>],
) -> std::io::Result<()> {
    let cell = |row: &[Option<String>], i: usize| -> String {
        match row.get(i) {
            Some(Some(v)) => v.replace(['\n', '\r', '\t'], " "),
            Some(None) => "NULL".into(),
            None => String::new(),
        }
    };
    let mut widths: Vec<usize> = columns.iter().map(|c| c.name.chars().count()).collect();
    for row in rows {
        for (i, w) in widths.iter_mut().enumerate() {
            *w = (*w).max(cell(row, i).chars().count());
        }
    }
    let line = |vals: Vec<String>| -> String {
        let parts: Vec<String> = vals
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!(" {v}{} ", " ".repeat(w.saturating_sub(v.chars().count()))))
            .collect();
        format!("{INDENT}|{}|", parts.join("|"))
    };
    writeln!(
        out,
        "{}",
        line(columns.iter().map(|c| c.name.clone()).collect())
    )?;
    let sep: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    writeln!(out, "{INDENT}|{}|", sep.join("+"))?;
    for row in rows {
        writeln!(
            out,
            "{}",
            line((0..columns.len()).map(|i| cell(row, i)).collect())
        )?;
    }
    Ok(())
}
