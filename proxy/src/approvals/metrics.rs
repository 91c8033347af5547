//! Approval counters for `GET /metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Approvals;

/// Counters for `GET /metrics`.
#[derive(Default)]
pub struct ApprovalMetrics {
    pub requested: AtomicU64,
    pub approved: AtomicU64,
    pub denied: AtomicU64,
    pub expired: AtomicU64,
    pub cancelled: AtomicU64,
    pub abandoned: AtomicU64,
    pub tickets_redeemed: AtomicU64,
    pub decision_micros_sum: AtomicU64,
    pub decisions: AtomicU64,
    pub webhook_deliveries: AtomicU64,
    pub webhook_failures: AtomicU64,
}

/// The approvals' counters, in Prometheus text format.
pub fn render_metrics(a: &Approvals) -> String {
    let m = &a.metrics;
    let v = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let mut out = String::new();
    out += "# HELP sluice_approvals_pending Statements waiting for approval.\n# TYPE sluice_approvals_pending gauge\n";
    out += &format!("sluice_approvals_pending {}\n", a.pending_count());
    out += "# HELP sluice_approvals_requested_total Approval requests created.\n# TYPE sluice_approvals_requested_total counter\n";
    out += &format!("sluice_approvals_requested_total {}\n", v(&m.requested));
    out += "# HELP sluice_approvals_decided_total Approval requests by outcome.\n# TYPE sluice_approvals_decided_total counter\n";
    for (outcome, c) in [
        ("approved", &m.approved),
        ("denied", &m.denied),
        ("expired", &m.expired),
        ("cancelled", &m.cancelled),
        ("abandoned", &m.abandoned),
    ] {
        out += &format!(
            "sluice_approvals_decided_total{{outcome=\"{outcome}\"}} {}\n",
            v(c)
        );
    }
    out += "# HELP sluice_approval_tickets_redeemed_total Approved tickets whose statement ran.\n# TYPE sluice_approval_tickets_redeemed_total counter\n";
    out += &format!(
        "sluice_approval_tickets_redeemed_total {}\n",
        v(&m.tickets_redeemed)
    );
    out += "# HELP sluice_approval_decision_seconds Time from request to approval or denial.\n# TYPE sluice_approval_decision_seconds summary\n";
    out += &format!(
        "sluice_approval_decision_seconds_sum {:.6}\nsluice_approval_decision_seconds_count {}\n",
        v(&m.decision_micros_sum) as f64 / 1e6,
        v(&m.decisions)
    );
    out += "# HELP sluice_approval_webhooks_total Webhook delivery attempts by result.\n# TYPE sluice_approval_webhooks_total counter\n";
    out += &format!(
        "sluice_approval_webhooks_total{{result=\"delivered\"}} {}\nsluice_approval_webhooks_total{{result=\"failed\"}} {}\n",
        v(&m.webhook_deliveries),
        v(&m.webhook_failures)
    );
    out
}
