//! `sluice audit …`: the auditor's commands over an audit directory (`[audit] dir`).
//!
//! Every command reads the redb segments directly, so it works on a stopped proxy and on a
//! running one alike (the writer opens its segments in redb's `SingleWriter` mode). The
//! commands write to any [`Write`] so they can be tested without a process; `main.rs` maps
//! [`CliError`] to the exit codes of CONTRACT.md: 0 ok, 1 failure found, 2 usage/config error.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use audit::{AuditError, AuditReader, ExportReport, Filter, SessionSummary};
use serde::Serialize;

use crate::config::{AuditConfig, Config, HumanDuration};

/// Exit code: everything fine.
pub const EXIT_OK: u8 = 0;
/// Exit code: a failure was found (a bad record, a session without records).
pub const EXIT_FAILED: u8 = 1;
/// Exit code: usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// The environment variable read for the HMAC key with `--dir` when `--key-env` is not given.
pub const DEFAULT_KEY_ENV: &str = "SLUICE_AUDIT_KEY";

/// Why a command stopped: the exit code and what to print on stderr (nothing when empty, as
/// for a closed stdout pipe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    /// `message`: a text, or an error whose Display is what the user reads.
    pub fn usage(message: impl ToString) -> CliError {
        CliError {
            code: EXIT_USAGE,
            message: message.to_string(),
        }
    }

    pub fn failed(message: impl ToString) -> CliError {
        CliError {
            code: EXIT_FAILED,
            message: message.to_string(),
        }
    }

    /// A write to the output failed. A closed pipe (`sluice audit export | head`) is not an
    /// error worth reporting.
    pub(crate) fn output(e: io::Error) -> CliError {
        if e.kind() == io::ErrorKind::BrokenPipe {
            CliError {
                code: EXIT_OK,
                message: String::new(),
            }
        } else {
            CliError::failed(format!("cannot write the output: {e}"))
        }
    }

    fn audit(e: AuditError) -> CliError {
        match e {
            AuditError::Io(e) => CliError::output(e),
            AuditError::NotFound(what) => CliError::failed(format!("{what} has no records")),
            other => CliError::usage(other.to_string()),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Where the HMAC key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// An environment variable; its value, byte for byte, is the key.
    Env(String),
    /// A file; its contents, trimmed of surrounding whitespace, are the key.
    File(PathBuf),
    /// Not configured: only `verify` needs the key, and it fails with this message.
    Missing(String),
}

/// Why the audit key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the audit key is not available: environment variable {0} is not set")]
    EnvNotSet(String),
    #[error("cannot read the audit key file {}: {source}", path.display())]
    File { path: PathBuf, source: io::Error },
    #[error("the audit key in {0} is empty")]
    EmptyEnv(String),
    #[error("the audit key file {} is empty", .0.display())]
    EmptyFile(PathBuf),
    /// Not configured ([`KeySource::Missing`]'s message).
    #[error("{0}")]
    Missing(String),
}

impl KeySource {
    /// Reads the key.
    pub fn key(&self) -> Result<Vec<u8>, KeyError> {
        let key = match self {
            KeySource::Env(name) => std::env::var_os(name)
                .ok_or_else(|| KeyError::EnvNotSet(name.clone()))?
                .into_encoded_bytes(),
            KeySource::File(path) => {
                let bytes = std::fs::read(path).map_err(|source| KeyError::File {
                    path: path.clone(),
                    source,
                })?;
                bytes.trim_ascii().to_vec()
            }
            KeySource::Missing(why) => return Err(KeyError::Missing(why.clone())),
        };
        if key.is_empty() {
            return Err(match self {
                KeySource::Env(name) => KeyError::EmptyEnv(name.clone()),
                KeySource::File(path) => KeyError::EmptyFile(path.clone()),
                KeySource::Missing(why) => KeyError::Missing(why.clone()),
            });
        }
        Ok(key)
    }
}

/// A config without `[audit]`, asked for its audit log.
#[derive(Debug, thiserror::Error)]
#[error("the config has no [audit] section: there is no audit log to read (or pass --dir)")]
pub struct NoAuditSection;

/// An audit directory and its key, as the commands read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSource {
    pub dir: PathBuf,
    pub key: KeySource,
}

impl LogSource {
    /// A directory given on the command line (`--dir`), the key in `key_env`.
    pub fn from_dir(dir: impl Into<PathBuf>, key_env: Option<&str>) -> LogSource {
        LogSource {
            dir: dir.into(),
            key: KeySource::Env(key_env.unwrap_or(DEFAULT_KEY_ENV).to_string()),
        }
    }

    /// The `[audit]` section of a loaded config: `dir` and `key_file` resolved against the
    /// config file's directory.
    pub fn from_config(config: &Config) -> Result<LogSource, NoAuditSection> {
        let audit = config.audit.as_ref().ok_or(NoAuditSection)?;
        Ok(Self::from_section(audit, config))
    }

    fn from_section(audit: &AuditConfig, config: &Config) -> LogSource {
        let key = match (&audit.key_env, &audit.key_file) {
            (Some(_), Some(_)) => {
                KeySource::Missing("[audit] sets both key_env and key_file; set one".into())
            }
            (Some(env), None) => KeySource::Env(env.clone()),
            (None, Some(file)) => KeySource::File(config.path(Path::new(file))),
            (None, None) => KeySource::Missing(
                "[audit] sets neither key_env nor key_file: the HMAC key is needed to verify the log"
                    .into(),
            ),
        };
        LogSource {
            dir: config.path(Path::new(&audit.dir)),
            key,
        }
    }

    /// Loads the config file and takes its `[audit]` section; `key_env` (from `--key-env`)
    /// overrides the configured key.
    pub fn from_config_file(path: &Path, key_env: Option<&str>) -> Result<LogSource, CliError> {
        let config = Config::load(path).map_err(CliError::usage)?;
        let mut src = LogSource::from_config(&config)
            .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
        if let Some(env) = key_env {
            src.key = KeySource::Env(env.to_string());
        }
        Ok(src)
    }

    /// The key, or a usage error saying why there is none.
    pub fn read_key(&self) -> Result<Vec<u8>, CliError> {
        self.key.key().map_err(CliError::usage)
    }

    /// Checks that the directory is readable and opens a reader on it.
    pub fn reader(&self) -> Result<AuditReader, CliError> {
        self.check_dir()?;
        AuditReader::open(&self.dir).map_err(|e| {
            CliError::usage(format!(
                "cannot read the audit directory {}: {e}",
                self.dir.display()
            ))
        })
    }

    fn check_dir(&self) -> Result<(), CliError> {
        std::fs::read_dir(&self.dir).map(drop).map_err(|e| {
            CliError::usage(format!(
                "cannot read the audit directory {}: {e}",
                self.dir.display()
            ))
        })
    }
}

/// Parses a time given as RFC 3339 (`2024-05-01T12:00:00Z`, or a bare date) or as a duration
/// ago (`90s`, `15m`, `1h`, `7d`), into microseconds since the epoch.
///
/// ```
/// let now = 1_714_566_896_000_000;
/// assert_eq!(sluice::audit_cli::parse_time("1h", now), Ok(now - 3_600_000_000));
/// assert_eq!(sluice::audit_cli::parse_time("2024-05-01T12:34:56Z", now), Ok(now));
/// assert!(sluice::audit_cli::parse_time("yesterday", now).is_err());
/// ```
pub fn parse_time(text: &str, now_micros: i64) -> Result<i64, BadTime> {
    if let Some(t) = audit::parse_rfc3339(text) {
        return Ok(t);
    }
    match HumanDuration::parse(text) {
        Ok(d) => {
            let ago = i64::try_from(d.0.as_micros()).unwrap_or(i64::MAX);
            Ok(now_micros.saturating_sub(ago))
        }
        Err(_) => Err(BadTime(text.to_string())),
    }
}

/// A time option's value that is neither a time nor a duration ago.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is neither an RFC 3339 time (2024-05-01T12:00:00Z) nor a duration ago (30m, 1h, 7d)"
)]
pub struct BadTime(pub String);

/// A selection option that cannot be used; the text names the option (without `--`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{option}: {source}")]
pub struct FilterError {
    pub option: &'static str,
    pub source: BadTime,
}

/// The selection options shared by `sessions`, `export` and `GET /api/sessions`, as given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterArgs {
    pub since: Option<String>,
    pub until: Option<String>,
    pub user: Option<String>,
    pub target: Option<String>,
    pub session: Option<u64>,
}

impl FilterArgs {
    /// The reader's filter; times relative to `now_micros`. The error names the option.
    pub fn to_filter(&self, now_micros: i64) -> Result<Filter, FilterError> {
        let time = |option: &'static str, v: &Option<String>| {
            v.as_deref()
                .map(|t| parse_time(t, now_micros).map_err(|source| FilterError { option, source }))
                .transpose()
        };
        Ok(Filter {
            since: time("since", &self.since)?,
            until: time("until", &self.until)?,
            user: self.user.clone(),
            target: self.target.clone(),
            session: self.session,
        })
    }
}

pub(crate) fn filter_or_usage(args: &FilterArgs) -> Result<Filter, CliError> {
    args.to_filter(audit::now_micros())
        .map_err(|e| CliError::usage(format!("--{e}")))
}

/// A session summary as JSON (`sessions --json`, `GET /api/sessions`): the fields of
/// [`SessionSummary`] (`started`/`ended` in µs since the epoch) plus `started_at`/`ended_at`
/// in RFC 3339.
#[derive(Serialize)]
pub struct SessionJson<'a> {
    #[serde(flatten)]
    pub summary: &'a SessionSummary,
    pub started_at: String,
    pub ended_at: Option<String>,
}

impl<'a> SessionJson<'a> {
    pub fn new(summary: &'a SessionSummary) -> SessionJson<'a> {
        SessionJson {
            summary,
            started_at: audit::format_rfc3339_micros(summary.started),
            ended_at: summary.ended.map(audit::format_rfc3339_micros),
        }
    }
}

/// A time in the table: RFC 3339 to the second.
pub(crate) fn table_time(ts_micros: i64) -> String {
    let full = audit::format_rfc3339_micros(ts_micros);
    match full.get(..19) {
        Some(secs) => format!("{secs}Z"),
        None => full,
    }
}

/// `sluice audit sessions`: an aligned table, or one JSON object a line with `json`.
pub fn sessions(
    src: &LogSource,
    args: &FilterArgs,
    json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let filter = filter_or_usage(args)?;
    let reader = src.reader()?;
    let list = audit::sessions(&reader, &filter).map_err(CliError::audit)?;
    if json {
        for s in &list {
            let line = serde_json::to_string(&SessionJson::new(s))
                .map_err(|e| CliError::failed(e.to_string()))?;
            writeln!(out, "{line}").map_err(CliError::output)?;
        }
    } else {
        write_session_table(&list, out).map_err(CliError::output)?;
    }
    out.flush().map_err(CliError::output)?;
    if reader.incomplete() {
        return Err(incomplete_warning());
    }
    Ok(())
}

pub(crate) fn incomplete_warning() -> CliError {
    CliError {
        code: EXIT_OK,
        message: "warning: some segments or records could not be read (locked or damaged); the output is incomplete".into(),
    }
}

pub(crate) const HEADERS: [&str; 9] = [
    "session",
    "target",
    "user",
    "client",
    "started",
    "ended",
    "statements",
    "blocked",
    "errors",
];
/// Columns aligned right (numbers).
pub(crate) const RIGHT: [bool; 9] = [true, false, false, false, false, false, true, true, true];

fn write_session_table(list: &[SessionSummary], out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<Vec<String>> = list.iter().map(session_cells).collect();
    write_table(&HEADERS, &RIGHT, &rows, out)
}

pub(crate) fn session_cells(s: &SessionSummary) -> Vec<String> {
    vec![
        s.session.to_string(),
        s.target.clone(),
        s.user.clone(),
        s.client_addr.clone(),
        table_time(s.started),
        s.ended.map(table_time).unwrap_or_else(|| "-".into()),
        s.statements.to_string(),
        s.blocked.to_string(),
        s.errors.to_string(),
    ]
}

/// An aligned table: `right[i]` aligns column `i` to the right.
pub(crate) fn write_table(
    headers: &[&str],
    right: &[bool],
    rows: &[Vec<String>],
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[&str]| -> String {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let width = widths.get(i).copied().unwrap_or(0);
            let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
            if right.get(i).copied().unwrap_or(false) {
                s.push_str(&pad);
                s.push_str(cell);
            } else {
                s.push_str(cell);
                s.push_str(&pad);
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(headers))?;
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    Ok(())
}

/// `sluice audit replay`: the session's transcript; `speed` paces it (`1` = real time).
pub fn replay(
    src: &LogSource,
    session: u64,
    speed: Option<f64>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    if let Some(s) = speed {
        if !(s.is_finite() && s > 0.0) {
            return Err(CliError::usage(format!(
                "--speed must be a positive number (1 = real time, 2 = twice as fast), not {s}"
            )));
        }
    }
    let reader = src.reader()?;
    audit::replay(&reader, session, speed, out).map_err(CliError::audit)?;
    Ok(())
}

/// The export formats.
pub const EXPORT_FORMATS: &[&str] = &["jsonl"];

/// `sluice audit export`: the selected records, one JSON object a line.
pub fn export(
    src: &LogSource,
    args: &FilterArgs,
    format: &str,
    out: &mut dyn Write,
) -> Result<ExportReport, CliError> {
    if !EXPORT_FORMATS.contains(&format) {
        return Err(CliError::usage(format!(
            "unknown export format {format:?} (supported: {})",
            EXPORT_FORMATS.join(", ")
        )));
    }
    let filter = filter_or_usage(args)?;
    let reader = src.reader()?;
    let report = audit::export_jsonl(&reader, &filter, out).map_err(CliError::audit)?;
    if report.incomplete {
        return Err(incomplete_warning());
    }
    Ok(report)
}

/// `sluice audit verify`: recomputes the hash chain. Returns [`EXIT_OK`] after printing a
/// summary line, or [`EXIT_FAILED`] after printing the line naming the first bad record.
pub fn verify(src: &LogSource, out: &mut dyn Write) -> Result<u8, CliError> {
    src.check_dir()?;
    let key = src.read_key()?;
    let (line, code) = match audit::verify(&src.dir, &key) {
        Ok(r) => (verified_line(&src.dir, &r), EXIT_OK),
        Err(e) => {
            let at = match e.seq {
                Some(seq) => format!("record {seq} (segment {})", e.segment),
                None => format!("segment {}", e.segment),
            };
            (
                format!("audit log verification FAILED at {at}: {}", e.reason),
                EXIT_FAILED,
            )
        }
    };
    writeln!(out, "{line}").map_err(CliError::output)?;
    out.flush().map_err(CliError::output)?;
    Ok(code)
}

fn verified_line(dir: &Path, r: &audit::VerifyReport) -> String {
    let (Some(first), Some(last)) = (r.first_seq, r.last_seq) else {
        return format!("audit log verified: no records in {}", dir.display());
    };
    let mut line = format!(
        "audit log verified: {} record{} in {} segment{} (seq {first}..{last}), head hash {}",
        r.records,
        if r.records == 1 { "" } else { "s" },
        r.segments,
        if r.segments == 1 { "" } else { "s" },
        hex::encode(r.head_hash)
    );
    if let Some(c) = r.checkpoint_seq {
        line.push_str(&format!(
            "; records 1..{c} were pruned by retention (checkpoint verified)"
        ));
    }
    if r.incomplete {
        line.push_str("; the newest segment is locked by another process and was not checked");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_durations_ago() {
        let now = 10_000_000_000;
        assert_eq!(parse_time("1970-01-01T00:00:01Z", now), Ok(1_000_000));
        assert_eq!(parse_time("90s", now), Ok(now - 90_000_000));
        assert_eq!(parse_time("7d", now), Ok(now - 7 * 86_400_000_000));
        assert!(parse_time("1w", now)
            .unwrap_err()
            .to_string()
            .contains("RFC 3339"));
        let f = FilterArgs {
            since: Some("bogus".into()),
            ..Default::default()
        };
        assert!(f
            .to_filter(now)
            .unwrap_err()
            .to_string()
            .starts_with("since: "));
    }

    #[test]
    fn config_section_resolves_against_the_config_dir() {
        let config = Config::parse(
            "[audit]\ndir = \"data/audit\"\nkey_file = \"audit.key\"\n",
            PathBuf::from("/etc/sluice"),
        )
        .unwrap();
        let src = LogSource::from_config(&config).unwrap();
        assert_eq!(src.dir, Path::new("/etc/sluice/data/audit"));
        assert_eq!(
            src.key,
            KeySource::File(PathBuf::from("/etc/sluice/audit.key"))
        );
        let none = Config::parse("", PathBuf::from("/etc/sluice")).unwrap();
        assert!(LogSource::from_config(&none)
            .unwrap_err()
            .to_string()
            .contains("no [audit] section"));
    }

    #[test]
    fn key_files_are_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "  s3cret\n").unwrap();
        assert_eq!(KeySource::File(path.clone()).key().unwrap(), b"s3cret");
        std::fs::write(&path, "\n").unwrap();
        assert!(KeySource::File(path)
            .key()
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(KeySource::Env("SLUICE_TEST_SURELY_UNSET_VAR".into())
            .key()
            .unwrap_err()
            .to_string()
            .contains("not set"));
    }
}
