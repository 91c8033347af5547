//! Counters every target keeps, rendered in the Prometheus text format for `GET /metrics`.
//! Plain atomics: the hot path pays one relaxed increment per session or refusal, never a lock.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// One target's counters.
#[derive(Debug, Default)]
pub struct TargetMetrics {
    pub sessions_active: AtomicI64,
    pub sessions_total: AtomicU64,
    pub auth_failures: AtomicU64,
    pub upstream_failures: AtomicU64,
    pub statements_refused: AtomicU64,
}

impl TargetMetrics {
    /// Counts a session as started; the guard counts it as ended when dropped.
    pub fn session(self: &Arc<Self>) -> SessionGuard {
        self.sessions_active.fetch_add(1, Ordering::Relaxed);
        self.sessions_total.fetch_add(1, Ordering::Relaxed);
        SessionGuard(Arc::clone(self))
    }

    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
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
    targets: Vec<(String, &'static str, Arc<TargetMetrics>)>,
}

impl Metrics {
    /// Registers a target (at start-up) and returns its counters.
    pub fn add_target(&mut self, name: &str, protocol: &'static str) -> Arc<TargetMetrics> {
        let m = Arc::new(TargetMetrics::default());
        self.targets
            .push((name.to_string(), protocol, Arc::clone(&m)));
        m
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let families: [Family; 5] = [
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
                "sluice_upstream_failures_total",
                "counter",
                "Sessions refused because the database could not be reached or logged in to.",
                |m| m.upstream_failures.load(Ordering::Relaxed) as i64,
            ),
            (
                "sluice_statements_refused_total",
                "counter",
                "Statements refused by [[rules]].",
                |m| m.statements_refused.load(Ordering::Relaxed) as i64,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (target, protocol, m) in &self.targets {
                let _ = writeln!(
                    out,
                    "{name}{{target=\"{target}\",protocol=\"{protocol}\"}} {}",
                    value(m)
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_for_every_target() {
        let mut metrics = Metrics::default();
        let pg = metrics.add_target("app-pg", "postgres");
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
}
