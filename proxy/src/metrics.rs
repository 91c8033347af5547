//! Counters every target keeps, rendered in the Prometheus text format for `GET /metrics`.
//! Plain atomics: the hot path pays one relaxed increment per session or refusal, never a lock.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// One target's counters.
#[derive(Debug, Default)]
pub struct TargetMetrics {
    pub sessions_active: AtomicI64,
    pub sessions_total: AtomicU64,
    pub auth_failures: AtomicU64,
    /// Logins slowed down by `[login]` throttling (a wait before the check or a delayed refusal).
    pub logins_throttled: AtomicU64,
    pub upstream_failures: AtomicU64,
    pub statements_refused: AtomicU64,
    /// Connections turned away before a session (max_connections, startup, allowed_groups).
    pub connections_refused: AtomicU64,
    /// Upstream logins and the time they took (connect, TLS, authentication).
    pub upstream_connects: AtomicU64,
    pub upstream_connect_micros: AtomicU64,
    /// Bytes sent to the database, and to clients.
    pub bytes_to_upstream: AtomicU64,
    pub bytes_to_clients: AtomicU64,
    /// Counters with labels of their own; updated once a statement or a result, not a row.
    pub labelled: Mutex<Labelled>,
}

/// Per-label counts of one target.
#[derive(Debug, Default)]
pub struct Labelled {
    /// (statement kind, verdict) → statements.
    pub statements: BTreeMap<(&'static str, &'static str), u64>,
    /// Mask function → values masked.
    pub masked: BTreeMap<String, u64>,
    /// Detector kind → hits.
    pub detected: BTreeMap<String, u64>,
    /// Upstream identity (the database role a session logged in as) → sessions started.
    pub identities: BTreeMap<String, u64>,
}

impl TargetMetrics {
    /// Counts a session as started; the guard counts it as ended when dropped.
    pub fn session(self: &Arc<Self>) -> SessionGuard {
        self.sessions_active.fetch_add(1, Ordering::Relaxed);
        self.sessions_total.fetch_add(1, Ordering::Relaxed);
        SessionGuard(Arc::clone(self))
    }

    /// Counts a session by the database role it logged in upstream as (its identity's, or the
    /// target's own user).
    pub fn identity_session(&self, role: &str) {
        *self
            .labelled()
            .identities
            .entry(role.to_string())
            .or_default() += 1;
    }

    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// An upstream login that started at `since` succeeded.
    pub fn upstream_connected(&self, since: std::time::Instant) {
        Self::count(&self.upstream_connects);
        let micros = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
        Self::add(&self.upstream_connect_micros, micros);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn labelled(&self) -> std::sync::MutexGuard<'_, Labelled> {
        self.labelled.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Keeps a session counted as active.
pub struct SessionGuard(Arc<TargetMetrics>);

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.0.sessions_active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A metric family: name, type, help, and how to read it from a target's counters.
type Family = (
    &'static str,
    &'static str,
    &'static str,
    fn(&TargetMetrics) -> i64,
);

/// All targets' counters.
#[derive(Debug, Default)]
pub struct Metrics {
    targets: Mutex<Vec<(String, &'static str, Arc<TargetMetrics>)>>,
    /// Admin API calls whose basic auth was slowed down by `[login]` throttling.
    pub admin_logins_throttled: AtomicU64,
}

impl Metrics {
    /// A target's counters, registered on first use; a target restarted by a reload keeps
    /// counting where it was.
    pub fn target(&self, name: &str, protocol: &'static str) -> Arc<TargetMetrics> {
        let mut targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, _, m)) = targets.iter().find(|(n, p, _)| n == name && *p == protocol) {
            return Arc::clone(m);
        }
        let m = Arc::new(TargetMetrics::default());
        targets.push((name.to_string(), protocol, Arc::clone(&m)));
        m
    }

    fn snapshot(&self) -> Vec<Target> {
        self.targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let targets = self.snapshot();
        let mut out = String::new();
        self.render_families(&targets, &mut out);
        render_connect_seconds(&targets, &mut out);
        render_labelled(&targets, &mut out);
        out
    }

    /// The families of FAMILIES, and the admin listener's throttled logins.
    fn render_families(&self, targets: &[Target], out: &mut String) {
        for (name, kind, help, value) in FAMILIES {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (target, protocol, m) in targets {
                let _ = writeln!(
                    out,
                    "{name}{{target=\"{target}\",protocol=\"{protocol}\"}} {}",
                    value(m)
                );
            }
            if name == "sluice_login_throttled_total" {
                let admin = self.admin_logins_throttled.load(Ordering::Relaxed);
                let _ = writeln!(out, "{name}{{listener=\"admin\"}} {admin}");
            }
        }
    }
}

/// A registered target: name, protocol, counters.
type Target = (String, &'static str, Arc<TargetMetrics>);

/// The upstream login time summary (sum and count per target).
fn render_connect_seconds(targets: &[Target], out: &mut String) {
    let name = "sluice_upstream_connect_seconds";
    let _ = writeln!(out, "# HELP {name} Time upstream logins took (connect, TLS, authentication).\n# TYPE {name} summary");
    for (target, protocol, m) in targets {
        let labels = format!("target=\"{target}\",protocol=\"{protocol}\"");
        let sum = m.upstream_connect_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let count = m.upstream_connects.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {sum:.6}\n{name}_count{{{labels}}} {count}"
        );
    }
}

/// The families of LABELLED.
fn render_labelled(targets: &[Target], out: &mut String) {
    for (name, help, pick) in LABELLED {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (target, protocol, m) in targets {
            for (labels, n) in pick(&m.labelled()) {
                let _ = writeln!(
                    out,
                    "{name}{{target=\"{target}\",protocol=\"{protocol}\",{labels}}} {n}"
                );
            }
        }
    }
}

/// The families with one unlabelled value per target.
const FAMILIES: [Family; 9] = [
    (
        "sluice_sessions_active",
        "gauge",
        "Client sessions open now.",
        |m| m.sessions_active.load(Ordering::Relaxed),
    ),
    (
        "sluice_sessions_total",
        "counter",
        "Client sessions started.",
        |m| m.sessions_total.load(Ordering::Relaxed) as i64,
    ),
    (
        "sluice_auth_failures_total",
        "counter",
        "Failed client authentications.",
        |m| m.auth_failures.load(Ordering::Relaxed) as i64,
    ),
    (
        "sluice_login_throttled_total",
        "counter",
        "Logins slowed down after failed ones ([login] failure_delay).",
        |m| m.logins_throttled.load(Ordering::Relaxed) as i64,
    ),
    (
        "sluice_upstream_failures_total",
        "counter",
        "Sessions refused because the database could not be reached or logged in to.",
        |m| m.upstream_failures.load(Ordering::Relaxed) as i64,
    ),
    (
        "sluice_statements_refused_total",
        "counter",
        "Statements refused (by [[rules]], [[masks]], approvals or the audit log).",
        |m| m.statements_refused.load(Ordering::Relaxed) as i64,
    ),
    (
        "sluice_connections_refused_total",
        "counter",
        "Connections turned away before a session started (limits, startup, allowed_groups).",
        |m| m.connections_refused.load(Ordering::Relaxed) as i64,
    ),
    (
        "sluice_upstream_bytes_sent_total",
        "counter",
        "Bytes sent to the database (what clients sent, and sluice's own messages).",
        |m| m.bytes_to_upstream.load(Ordering::Relaxed) as i64,
    ),
    (
        "sluice_client_bytes_sent_total",
        "counter",
        "Bytes sent to clients.",
        |m| m.bytes_to_clients.load(Ordering::Relaxed) as i64,
    ),
];

/// How to read a labelled family's (labels, count) pairs from a target's counters.
type Pick = fn(&Labelled) -> Vec<(String, u64)>;

/// The families with labels of their own (name, help, pick), all counters.
const LABELLED: [(&str, &str, Pick); 4] = [
    (
        "sluice_identity_sessions_total",
        "Client sessions started, by the upstream identity (database role) they logged in as.",
        |l| {
            l.identities
                .iter()
                .map(|(role, n)| (format!("identity=\"{}\"", label_value(role)), *n))
                .collect()
        },
    ),
    (
        "sluice_statements_total",
        "Statements by kind and verdict (allow, block, review, refused).",
        |l| {
            l.statements
                .iter()
                .map(|((k, v), n)| (format!("kind=\"{k}\",verdict=\"{v}\""), *n))
                .collect()
        },
    ),
    (
        "sluice_masked_values_total",
        "Values masked, by mask function.",
        |l| {
            l.masked
                .iter()
                .map(|(f, n)| (format!("mask=\"{f}\""), *n))
                .collect()
        },
    ),
    (
        "sluice_detector_hits_total",
        "Sensitive content found by [[detectors]], by kind.",
        |l| {
            l.detected
                .iter()
                .map(|(k, n)| (format!("kind=\"{k}\""), *n))
                .collect()
        },
    ),
];

/// A label value as the text format writes it: `\\`, `\"` and newlines escaped (a role name
/// may hold any of them).
fn label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_for_every_target() {
        let metrics = Metrics::default();
        let pg = metrics.target("app-pg", "postgres");
        let guard = pg.session();
        TargetMetrics::count(&pg.auth_failures);
        let text = metrics.render();
        assert!(
            text.contains("sluice_sessions_active{target=\"app-pg\",protocol=\"postgres\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("sluice_auth_failures_total{target=\"app-pg\",protocol=\"postgres\"} 1")
        );
        drop(guard);
        assert!(metrics
            .render()
            .contains("sluice_sessions_active{target=\"app-pg\",protocol=\"postgres\"} 0"));
        assert!(metrics
            .render()
            .contains("# TYPE sluice_sessions_total counter"));
    }

    #[test]
    fn sessions_are_counted_by_identity_with_escaped_names() {
        let metrics = Metrics::default();
        let pg = metrics.target("app-pg", "postgres");
        pg.identity_session("analyst_ro");
        pg.identity_session("analyst_ro");
        pg.identity_session("odd\"role\\");
        let text = metrics.render();
        assert!(text.contains("sluice_identity_sessions_total{target=\"app-pg\",protocol=\"postgres\",identity=\"analyst_ro\"} 2"), "{text}");
        assert!(text.contains("identity=\"odd\\\"role\\\\\"} 1"), "{text}");
    }
}
