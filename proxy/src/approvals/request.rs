//! An approval request and what can happen to it.

use serde::{Deserialize, Serialize};

use super::ApprovalMode;

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Pending,
    Approved,
    Denied,
    Expired,
    /// The client withdrew it (a cancel, or its connection went away).
    Cancelled,
    /// A ticket that was approved and has been redeemed.
    Used,
    /// `[cluster]`: the instance holding the statement stopped answering (its client is gone).
    Abandoned,
}

impl RequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestState::Pending => "pending",
            RequestState::Approved => "approved",
            RequestState::Denied => "denied",
            RequestState::Expired => "expired",
            RequestState::Cancelled => "cancelled",
            RequestState::Used => "used",
            RequestState::Abandoned => "abandoned",
        }
    }

    pub fn parse(s: &str) -> Option<RequestState> {
        [
            RequestState::Pending,
            RequestState::Approved,
            RequestState::Denied,
            RequestState::Expired,
            RequestState::Cancelled,
            RequestState::Used,
            RequestState::Abandoned,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// One person's approval.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Approval {
    pub by: String,
    pub at: i64,
}

/// A held statement and what has been decided about it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub id: String,
    pub mode: ApprovalMode,
    pub state: RequestState,
    pub target: String,
    pub user: String,
    pub groups: Vec<String>,
    pub client_addr: String,
    /// Masked as in the audit log: never a sensitive value in clear.
    pub statement: String,
    pub rule: String,
    /// The rule's message.
    pub reason: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    pub expires_at: i64,
    pub required: usize,
    pub approvals: Vec<Approval>,
    pub decided_by: Option<String>,
    pub decision_reason: Option<String>,
    pub decided_at: Option<i64>,
    /// Ticket mode: the approved statement may run until then.
    pub ticket_expires_at: Option<i64>,
    /// The requesting session, for its audit records.
    pub session: u64,
    /// What identifies "the identical statement" (user, target, canonical text, parameters).
    pub(super) fingerprint: String,
    /// SHA-256 of the single-use token in the webhook's links.
    pub(super) link_token_sha256: String,
    pub(super) link_used: bool,
    /// The waiting session (hold mode), for cancels.
    pub(super) hold_key: Option<String>,
}

impl ApprovalRequest {
    /// The API's view: times in RFC 3339, nothing secret.
    pub fn to_json(&self) -> serde_json::Value {
        let t = audit::format_rfc3339_micros;
        serde_json::json!({
            "id": self.id,
            "mode": self.mode,
            "state": self.state.as_str(),
            "target": self.target,
            "user": self.user,
            "groups": self.groups,
            "client_addr": self.client_addr,
            "statement": self.statement,
            "rule": self.rule,
            "reason": self.reason,
            "created_at": t(self.created_at),
            "expires_at": t(self.expires_at),
            "required": self.required,
            "approvals": self.approvals.iter().map(|a| serde_json::json!({"by": a.by, "at": t(a.at)})).collect::<Vec<_>>(),
            "decided_by": self.decided_by,
            "decision_reason": self.decision_reason,
            "decided_at": self.decided_at.map(t),
            "ticket_expires_at": self.ticket_expires_at.map(t),
        })
    }
}

/// What a session asks approval for.
pub struct NewRequest<'a> {
    pub target: &'a str,
    pub user: &'a str,
    pub groups: &'a [String],
    pub client_addr: &'a str,
    pub session: u64,
    pub dialect: policy::Dialect,
    /// The statement as sent (for the fingerprint only; never stored).
    pub sql: &'a str,
    pub params: &'a [Option<String>],
    /// The statement as the audit log shows it.
    pub masked: String,
    pub rule: &'a str,
    pub reason: Option<&'a str>,
    /// Hold mode: the session's cancel handle (`pg:<pid>`, `mysql:<connection id>`).
    pub hold_key: Option<String>,
}

/// Why a decision was not taken; the HTTP status it maps to.
#[derive(Debug, PartialEq, Eq)]
pub enum DecideError {
    NotFound,
    /// 403: not an approver, self-approval, a bad link.
    Forbidden(String),
    /// 409: no longer pending, or already approved by this person.
    Conflict(String),
    /// 400: a deny without a reason.
    BadRequest(String),
    /// 503: the store or the audit log could not take it.
    Unavailable(String),
}

impl std::fmt::Display for DecideError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecideError::NotFound => f.write_str("no such approval request"),
            DecideError::Forbidden(m)
            | DecideError::Conflict(m)
            | DecideError::BadRequest(m)
            | DecideError::Unavailable(m) => f.write_str(m),
        }
    }
}

/// A ticket-mode statement, looked up.
pub enum Redeemed {
    /// Approved and now used: run it.
    Run(ApprovalRequest),
    /// Already asked for and not decided yet.
    Pending(ApprovalRequest),
    /// Nothing usable: ask.
    None,
}

/// The client's error for a request that ended without approval.
pub fn refusal(r: &ApprovalRequest, state: RequestState) -> String {
    match state {
        RequestState::Denied => format!(
            "sluice: statement denied by {} (approval {}): {}",
            r.decided_by.as_deref().unwrap_or("an approver"),
            r.id,
            r.decision_reason.as_deref().unwrap_or("no reason given")
        ),
        RequestState::Expired => format!(
            "sluice: approval request {} timed out with no decision; the statement was not run",
            r.id
        ),
        RequestState::Cancelled => format!(
            "sluice: approval request {} was withdrawn ({}); the statement was not run",
            r.id,
            r.decision_reason.as_deref().unwrap_or("cancelled")
        ),
        RequestState::Abandoned => format!(
            "sluice: approval request {} was abandoned (the sluice instance holding it stopped answering); the statement was not run",
            r.id
        ),
        _ => format!("sluice: approval request {} is {}", r.id, state.as_str()),
    }
}
