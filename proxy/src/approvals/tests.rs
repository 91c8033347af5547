use super::*;

fn settings(dir: &std::path::Path, mode: ApprovalMode, required: usize) -> Settings {
    Settings {
        mode,
        timeout: Duration::from_secs(60),
        ticket_ttl: Duration::from_secs(60),
        required,
        approver_groups: vec!["dba".into()],
        webhooks: Vec::new(),
        dir: dir.to_path_buf(),
        public_url: "http://127.0.0.1:9480".into(),
    }
}

fn who(user: &str, group: &str) -> Identity {
    Identity {
        user: user.into(),
        groups: vec![group.into()],
    }
}

fn ask<'a>(sql: &'a str, user: &'a str, groups: &'a [String]) -> NewRequest<'a> {
    NewRequest {
        target: "pg",
        user,
        groups,
        client_addr: "127.0.0.1:5555",
        session: 1,
        dialect: policy::Dialect::Postgres,
        sql,
        params: &[],
        masked: sql.to_string(),
        rule: "unbounded",
        reason: Some("needs a DBA"),
        hold_key: Some("pg:7".into()),
    }
}

#[test]
fn approvers_are_distinct_members_and_never_the_requester() {
    let dir = tempfile::tempdir().unwrap();
    let a = Approvals::open(settings(dir.path(), ApprovalMode::Hold, 2), None).unwrap();
    let groups = vec!["dba".to_string()];
    let r = a.request(ask("DELETE FROM t", "ann", &groups)).unwrap();
    let err = a.decide(&r.id, &who("ann", "dba"), true, None).unwrap_err();
    assert!(matches!(err, DecideError::Forbidden(_)), "{err:?}");
    let err = a
        .decide(&r.id, &who("eve", "analysts"), true, None)
        .unwrap_err();
    assert!(matches!(err, DecideError::Forbidden(_)), "{err:?}");
    let r1 = a.decide(&r.id, &who("bob", "dba"), true, None).unwrap();
    assert_eq!((r1.state, r1.approvals.len()), (RequestState::Pending, 1));
    let err = a.decide(&r.id, &who("bob", "dba"), true, None).unwrap_err();
    assert!(matches!(err, DecideError::Conflict(_)), "{err:?}");
    let r2 = a.decide(&r.id, &who("cid", "dba"), true, None).unwrap();
    assert_eq!(r2.state, RequestState::Approved);
    assert_eq!(a.wait(&r.id), Ok(()));
}

#[test]
fn denial_needs_a_reason_and_is_what_the_waiter_gets() {
    let dir = tempfile::tempdir().unwrap();
    let a = Approvals::open(settings(dir.path(), ApprovalMode::Hold, 1), None).unwrap();
    let groups = vec![];
    let r = a.request(ask("DELETE FROM t", "ann", &groups)).unwrap();
    let err = a
        .decide(&r.id, &who("bob", "dba"), false, Some("  "))
        .unwrap_err();
    assert!(matches!(err, DecideError::BadRequest(_)));
    a.decide(&r.id, &who("bob", "dba"), false, Some("not on a Friday"))
        .unwrap();
    let msg = a.wait(&r.id).unwrap_err();
    assert!(
        msg.contains("denied by bob") && msg.contains("not on a Friday"),
        "{msg}"
    );
}

#[test]
fn a_cancel_withdraws_only_that_sessions_request() {
    let dir = tempfile::tempdir().unwrap();
    let a = Approvals::open(settings(dir.path(), ApprovalMode::Hold, 1), None).unwrap();
    let groups = vec![];
    let mine = a.request(ask("DELETE FROM t", "ann", &groups)).unwrap();
    let mut other = ask("DELETE FROM u", "ann", &groups);
    other.hold_key = Some("pg:8".into());
    let other = a.request(other).unwrap();
    assert!(a.withdraw_held("pg:7"));
    assert!(a.wait(&mine.id).unwrap_err().contains("withdrawn"));
    assert_eq!(a.get(&other.id).unwrap().state, RequestState::Pending);
}

#[test]
fn tickets_run_once_only_for_the_identical_statement_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let groups = vec![];
    let id = {
        let a = Approvals::open(settings(dir.path(), ApprovalMode::Ticket, 1), None).unwrap();
        let n = ask("UPDATE t SET x = 1", "ann", &groups);
        assert!(matches!(a.redeem(&n).unwrap(), Redeemed::None));
        let r = a.request(n).unwrap();
        let again = ask("UPDATE t SET x = 1", "ann", &groups);
        assert!(matches!(a.redeem(&again).unwrap(), Redeemed::Pending(p) if p.id == r.id));
        a.decide(&r.id, &who("bob", "dba"), true, None).unwrap();
        r.id
    };
    let a = Approvals::open(settings(dir.path(), ApprovalMode::Ticket, 1), None).unwrap();
    let other_literal = ask("UPDATE t SET x = 2", "ann", &groups);
    assert!(matches!(a.redeem(&other_literal).unwrap(), Redeemed::None));
    let other_user = ask("UPDATE t SET x = 1", "cid", &groups);
    assert!(matches!(a.redeem(&other_user).unwrap(), Redeemed::None));
    let same = ask("UPDATE  t SET x = 1 ;", "ann", &groups);
    assert!(matches!(a.redeem(&same).unwrap(), Redeemed::Run(r) if r.id == id));
    assert!(
        matches!(a.redeem(&same).unwrap(), Redeemed::None),
        "a ticket runs once"
    );
}

#[test]
fn a_hold_left_pending_by_an_earlier_run_is_cancelled_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let groups = vec![];
    let id = {
        let a = Approvals::open(settings(dir.path(), ApprovalMode::Hold, 1), None).unwrap();
        a.request(ask("DELETE FROM t", "ann", &groups)).unwrap().id
    };
    let a = Approvals::open(settings(dir.path(), ApprovalMode::Hold, 1), None).unwrap();
    assert_eq!(a.get(&id).unwrap().state, RequestState::Cancelled);
}

#[test]
fn links_are_single_use_and_bound_to_their_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path(), ApprovalMode::Hold, 1);
    s.webhooks.push(Webhook {
        url: "http://127.0.0.1:1/hook".into(),
        secret: b"k".to_vec(),
        format: WebhookFormat::Json,
    });
    let a = Approvals::open(s, None).unwrap();
    let groups = vec![];
    let r = a.request(ask("DELETE FROM t", "ann", &groups)).unwrap();
    let other = a.request(ask("DELETE FROM u", "ann", &groups)).unwrap();
    let body = a.pending_deliveries().unwrap();
    let mine = body.iter().find(|d| d.request_id == r.id).unwrap();
    let v: serde_json::Value = serde_json::from_str(&mine.body).unwrap();
    let url = v["approve_url"].as_str().unwrap();
    let token = url.split("token=").nth(1).unwrap();
    assert!(
        a.check_link(&other.id, token).is_err(),
        "bound to its request"
    );
    assert!(a.check_link(&r.id, "forged").is_err());
    a.decide_by_link(&r.id, token, &who("bob", "dba"), true, None)
        .unwrap();
    assert!(
        matches!(a.check_link(&r.id, token), Err(DecideError::Forbidden(m)) if m.contains("used"))
    );
}
