//! `review` verdicts: the statement goes to `[approvals]`. In hold mode it is forwarded behind
//! a barrier that waits for the decision; in ticket mode it runs only when an approved ticket
//! for the identical statement is redeemed, and is otherwise refused with the ticket id.

use std::sync::Arc;

use policy::LiteralMode;

use super::StatementGate;
use crate::approvals::{ApprovalMode, ApprovalRequest, Approvals, NewRequest, Redeemed};
use crate::session::{Barrier, StatementDecision};

/// A session's link to `[approvals]`.
pub(crate) struct Reviewer {
    pub approvals: Arc<Approvals>,
    /// What a cancel of this session is addressed by.
    pub hold_key: String,
    pub client_addr: String,
}

fn ticket_message(a: &Approvals, r: &ApprovalRequest, rule: &str, again: bool) -> String {
    let why = r
        .reason
        .as_deref()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    let state = if again {
        "is still waiting for approval"
    } else {
        "needs approval"
    };
    format!(
        "sluice: this statement {state} under rule \"{rule}\"{why}: ticket {id}; approve it at {url}/approvals/{id}, then run the identical statement again within {ttl}s (it runs once)",
        id = r.id,
        url = a.settings().public_url,
        ttl = a.settings().ticket_ttl.as_secs(),
    )
}

impl StatementGate {
    /// Sends `sql` (with `params`, for an execution) for approval; the decision is what the
    /// adapter does now.
    pub(super) fn ask_approval(
        &mut self,
        sql: &str,
        params: &[Option<String>],
        rule: &str,
        message: Option<&str>,
    ) -> StatementDecision {
        let Some(rv) = &self.review else {
            return self.refuse(rule, "sluice: approvals are not configured".into());
        };
        let approvals = Arc::clone(&rv.approvals);
        let literals = self
            .recorder
            .as_ref()
            .map_or(LiteralMode::Mask, |r| r.literals());
        let masks = self.live.masks();
        let (mut shown, shown_params) = crate::recorder::masked_statement(
            literals,
            &policy::ShapedSql::new(self.dialect, sql),
            params,
            masks.as_deref(),
        );
        if !shown_params.is_empty() {
            let list: Vec<String> = shown_params
                .iter()
                .enumerate()
                .map(|(i, p)| match p {
                    Some(v) => format!("${}={v:?}", i + 1),
                    None => format!("${}=NULL", i + 1),
                })
                .collect();
            shown = format!("{shown}\n-- parameters: {}", list.join(", "));
        }
        let request = NewRequest {
            target: &self.target,
            user: &self.user,
            groups: &self.groups,
            client_addr: &rv.client_addr,
            session: self.recorder.as_ref().map_or(0, |r| r.id()),
            dialect: self.dialect,
            sql,
            params,
            masked: shown,
            rule,
            reason: message,
            hold_key: Some(rv.hold_key.clone()),
        };
        let not_stored = |e: crate::approvals::ApprovalsError| {
            format!("sluice: this statement needs approval under rule \"{rule}\", but the request could not be stored ({e}); it was not run")
        };
        match approvals.settings().mode {
            ApprovalMode::Ticket => {
                let outcome = approvals.redeem(&request);
                let refusal = match outcome {
                    Ok(Redeemed::Run(r)) => {
                        tracing::info!(id = %r.id, target = %self.target, user = %self.user, "approved ticket redeemed; statement runs");
                        return StatementDecision::Forward;
                    }
                    Ok(Redeemed::Pending(r)) => ticket_message(&approvals, &r, rule, true),
                    Ok(Redeemed::None) => match approvals.request(request) {
                        Ok(r) => ticket_message(&approvals, &r, rule, false),
                        Err(e) => not_stored(e),
                    },
                    Err(e) => not_stored(e),
                };
                self.barrier = None;
                self.refuse(rule, refusal)
            }
            ApprovalMode::Hold => match approvals.request(request) {
                Ok(r) => {
                    let audit = self.barrier.take();
                    self.barrier = Some(Barrier::Blocking(Box::new(move || {
                        approvals.wait(&r.id)?;
                        match audit {
                            Some(durable) => durable.wait_blocking(),
                            None => Ok(()),
                        }
                    })));
                    StatementDecision::Forward
                }
                Err(e) => {
                    self.barrier = None;
                    self.refuse(rule, not_stored(e))
                }
            },
        }
    }
}
