//! `sluice audit sessions|replay|export|verify --store postgres://…`: the auditor's commands
//! over the central store every instance ships to (see [`crate::shipper`]), and
//! `sluice audit export --follow [--store …]`, which keeps printing new records (of a local log,
//! or as instances ship them) for log shippers. Exit codes as in [`crate::audit_cli`].

use std::io::Write;
use std::time::Duration;

use crate::audit_cli::{
    self, CliError, FilterArgs, KeySource, LogSource, SessionJson, EXIT_FAILED, EXIT_OK,
};
use crate::shipper::pg_conn::PgStore;
use crate::shipper::store::{self, InstanceReport};

/// A central store and the key its chains are verified with.
pub struct StoreSource {
    pub store: PgStore,
    pub key: KeySource,
    /// Only this instance (replay, verify).
    pub instance: Option<String>,
}

impl StoreSource {
    async fn client(&self) -> Result<tokio_postgres::Client, CliError> {
        self.store.connect().await.map_err(CliError::usage)
    }
}

/// `sessions --store`: the table gets an `instance` column first; JSON lines an `instance`
/// field.
pub async fn sessions(
    src: &StoreSource,
    args: &FilterArgs,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let filter = audit_cli::filter_or_usage(args)?;
    let client = src.client().await?;
    let list = store::sessions(&client, &filter)
        .await
        .map_err(CliError::failed)?;
    if json {
        for (instance, s) in &list {
            let mut v = serde_json::to_value(SessionJson::new(s))
                .map_err(|e| CliError::failed(e.to_string()))?;
            if let Some(m) = v.as_object_mut() {
                m.insert("instance".into(), instance.clone().into());
            }
            writeln!(out, "{v}").map_err(CliError::output)?;
        }
    } else {
        let mut headers = vec!["instance"];
        headers.extend(audit_cli::HEADERS);
        let mut right = vec![false];
        right.extend(audit_cli::RIGHT);
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|(i, s)| {
                let mut row = vec![i.clone()];
                row.extend(audit_cli::session_cells(s));
                row
            })
            .collect();
        audit_cli::write_table(&headers, &right, &rows, out).map_err(CliError::output)?;
    }
    out.flush().map_err(CliError::output)
}

/// `replay --store`.
pub async fn replay(
    src: &StoreSource,
    session: u64,
    speed: Option<f64>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if speed.is_some_and(|s| !(s.is_finite() && s > 0.0)) {
        return Err(CliError::usage("--speed must be a positive number"));
    }
    let client = src.client().await?;
    let records = store::session_records(&client, session, src.instance.as_deref())
        .await
        .map_err(CliError::failed)?;
    audit::replay_records(records, session, speed, out).map_err(|e| match e {
        audit::AuditError::NotFound(what) => CliError::failed(format!("{what} has no records")),
        audit::AuditError::Io(e) => CliError::output(e),
        other => CliError::failed(other.to_string()),
    })?;
    Ok(())
}

/// `export --store`: export lines with `instance` first, in time order.
pub async fn export(
    src: &StoreSource,
    args: &FilterArgs,
    format: &str,
    out: &mut dyn Write,
) -> Result<u64, CliError> {
    if !audit_cli::EXPORT_FORMATS.contains(&format) {
        return Err(CliError::usage(format!("unknown export format {format:?}")));
    }
    let filter = audit_cli::filter_or_usage(args)?;
    let client = src.client().await?;
    let n = store::export(&client, &filter, out)
        .await
        .map_err(CliError::failed)?;
    out.flush().map_err(CliError::output)?;
    Ok(n)
}

/// `export --follow --store`: records with `instance` first, then new ones as instances ship
/// them, until the output closes.
pub async fn follow_store(
    src: &StoreSource,
    args: &FilterArgs,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let filter = audit_cli::filter_or_usage(args)?;
    let client = src.client().await?;
    match store::follow(&client, &filter, out, FOLLOW_POLL).await {
        Ok(()) => Ok(()),
        Err(store::FollowError::Output(e)) => Err(CliError::output(e)),
        Err(store::FollowError::Store(e)) => Err(CliError::failed(e)),
    }
}

/// `verify --store`: a line per instance; [`EXIT_FAILED`] when any chain does not verify.
pub async fn verify(src: &StoreSource, out: &mut dyn Write) -> Result<u8, CliError> {
    let key = src.key.key().map_err(CliError::usage)?;
    let client = src.client().await?;
    let reports = store::verify(&client, &key, src.instance.as_deref())
        .await
        .map_err(CliError::failed)?;
    if reports.is_empty() {
        return Err(CliError::failed(match &src.instance {
            Some(i) => format!("the central store has no records of instance {i:?}"),
            None => "the central store has no records".to_string(),
        }));
    }
    let mut failed = 0;
    for r in &reports {
        let line = match &r.failure {
            Some((seq, reason)) => {
                failed += 1;
                format!(
                    "instance {}: verification FAILED at record {seq}: {reason}",
                    r.instance
                )
            }
            None => verified_line(r),
        };
        writeln!(out, "{line}").map_err(CliError::output)?;
    }
    let total: u64 = reports.iter().map(|r| r.records).sum();
    let summary = if failed > 0 {
        format!(
            "central audit store verification FAILED for {failed} of {} instance(s)",
            reports.len()
        )
    } else {
        format!(
            "central audit store verified: {} instance(s), {total} record(s)",
            reports.len()
        )
    };
    writeln!(out, "{summary}").map_err(CliError::output)?;
    out.flush().map_err(CliError::output)?;
    Ok(if failed > 0 { EXIT_FAILED } else { EXIT_OK })
}

fn verified_line(r: &InstanceReport) -> String {
    let mut line = format!(
        "instance {}: verified {} record(s) (seq {}..{}), head hash {}",
        r.instance,
        r.records,
        r.first_seq.unwrap_or(0),
        r.last_seq.unwrap_or(0),
        hex::encode(r.head_hash)
    );
    if let Some(c) = r.checkpoint_seq {
        line.push_str(&format!(
            "; records 1..{c} were pruned (checkpoint verified)"
        ));
    }
    line
}

/// How often `export --follow` looks for new records.
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// `export --follow`: the selected records, then every new one as it is written, until the
/// output closes (or the process is stopped). Reads only what is new on each pass.
pub fn follow(src: &LogSource, args: &FilterArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let filter = audit_cli::filter_or_usage(args)?;
    src.reader()?;
    let mut next = 1u64;
    loop {
        let reader = src.reader()?;
        let mut printed = false;
        for entry in reader.entries_from(next) {
            let entry = match entry {
                Ok(e) => e,
                // The newest segment mid-rotation or locked: try again on the next pass.
                Err(_) => break,
            };
            next = entry.seq + 1;
            let Ok(r) = audit::Record::from_stored(&entry.bytes) else {
                continue;
            };
            if filter.matches(&r) {
                writeln!(out, "{}", r.export_line()).map_err(CliError::output)?;
                printed = true;
            }
        }
        if printed {
            out.flush().map_err(CliError::output)?;
        }
        std::thread::sleep(FOLLOW_POLL);
    }
}
