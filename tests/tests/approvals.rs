//! Approvals end to end, both protocols: a statement a rule sends to review waits (hold) or
//! gets a ticket; approvers decide through the API, the CLI's client and the webhook's links;
//! the webhook arrives signed, exactly once, also across a receiver outage and a restart.

#[path = "support/approvals.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mysql_async::prelude::*;
use sluice_tests::*;
use support::*;
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_hold_waits_for_approval_and_refuses_on_deny_cancel_or_timeout() {
    let upstream = pg_scram();
    let hook = HookReceiver::start(200).await;
    let proxy = Proxy::start(upstream, approvals_opts("hold", "6s", 1, &hook)).await;
    let admin = Admin::of(&proxy);
    let (direct, t) = pg_table(upstream, "held", "(1), (2), (3)").await;

    // Approve: the statement runs, as if the database had been slow.
    let held = proxy.connect().await;
    let sql = format!("UPDATE {t} SET n = n + 10");
    let run = tokio::spawn(async move { held.execute(sql.as_str(), &[]).await.map(|n| (n, held)) });
    let req = admin.wait_pending(&t).await;
    assert_eq!(req["user"], USER);
    assert_eq!(req["rule"], "unbounded-writes");
    assert!(!run.is_finished(), "the statement waits for its approval");
    // Other sessions are not held up meanwhile.
    let other = proxy.connect().await;
    let one: i32 = other.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    // The webhook came, signed with the shared secret, carrying the contract's fields.
    let delivery = hook.wait_for(req["id"].as_str().unwrap()).await;
    assert!(verify_signature(
        HOOK_SECRET,
        &delivery.signature,
        &delivery.body
    ));
    assert!(!verify_signature(
        b"another secret",
        &delivery.signature,
        &delivery.body
    ));
    let tampered = delivery.body.replace(USER, "mallory");
    assert!(!verify_signature(
        HOOK_SECRET,
        &delivery.signature,
        &tampered
    ));
    let payload: serde_json::Value = serde_json::from_str(&delivery.body).unwrap();
    for field in [
        "id",
        "target",
        "user",
        "groups",
        "client_addr",
        "statement",
        "rule",
        "reason",
        "created_at",
        "expires_at",
        "approve_url",
        "deny_url",
        "page_url",
    ] {
        assert!(
            payload.get(field).is_some(),
            "webhook body lacks {field}: {payload}"
        );
    }
    assert_eq!(payload["reason"], "a DBA must look at this");
    assert!(payload["statement"].as_str().unwrap().contains(&t));

    // The requester cannot approve (alice is no approver), nor can bob approve twice.
    let (status, _) = admin
        .decide_as(USER, PASSWORD, req["id"].as_str().unwrap(), "approve", None)
        .await;
    assert_eq!(status, 403);
    let (status, body) = admin
        .decide(req["id"].as_str().unwrap(), "approve", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "approved");
    let (n, held) = run.await.unwrap().unwrap();
    assert_eq!(n, 3);
    let sum: i64 = direct
        .query_one(&format!("SELECT sum(n)::bigint FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sum, 36, "the approved UPDATE changed the rows");

    // Deny: the client gets the reason; the session stays usable.
    let sql = format!("DELETE FROM {t}");
    let run = tokio::spawn(async move { (held.execute(sql.as_str(), &[]).await, held) });
    let req = admin.wait_pending(&format!("DELETE FROM {t}")).await;
    let (status, _) = admin
        .decide(req["id"].as_str().unwrap(), "deny", None)
        .await;
    assert_eq!(status, 400, "a denial needs a reason");
    let (status, _) = admin
        .decide(
            req["id"].as_str().unwrap(),
            "deny",
            Some("not during business hours"),
        )
        .await;
    assert_eq!(status, 200);
    let (result, held) = run.await.unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE), "{err}");
    let msg = err.as_db_error().unwrap().message().to_string();
    assert!(
        msg.contains("denied by bob") && msg.contains("not during business hours"),
        "{msg}"
    );
    let count: i64 = direct
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 3, "the denied DELETE never ran");
    let one: i32 = held.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);

    // Inside a transaction, a denial aborts it as a database error would.
    held.batch_execute("BEGIN").await.unwrap();
    let sql = format!("UPDATE {t} SET n = 0");
    let run = tokio::spawn(async move { (held.execute(sql.as_str(), &[]).await, held) });
    let req = admin.wait_pending(&format!("UPDATE {t} SET n = 0")).await;
    admin
        .decide(req["id"].as_str().unwrap(), "deny", Some("no"))
        .await;
    let (result, held) = run.await.unwrap();
    assert!(result.is_err());
    let err = held.query_one("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::IN_FAILED_SQL_TRANSACTION),
        "{err}"
    );
    held.batch_execute("ROLLBACK").await.unwrap();

    // A client cancel withdraws the request.
    let token = held.cancel_token();
    let sql = format!("DELETE FROM {t} WHERE true");
    let run = tokio::spawn(async move { (held.execute(sql.as_str(), &[]).await, held) });
    let req = admin
        .wait_pending(&format!("DELETE FROM {t} WHERE true"))
        .await;
    token.cancel_query(NoTls).await.unwrap();
    let (result, held) = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap();
    let msg = result
        .unwrap_err()
        .as_db_error()
        .unwrap()
        .message()
        .to_string();
    assert!(msg.contains("withdrawn"), "{msg}");
    assert_eq!(
        admin.get(req["id"].as_str().unwrap()).await["state"],
        "cancelled"
    );

    // No decision in time: a clear error, and the link can no longer be used.
    let sql = format!("UPDATE {t} SET n = 1");
    let started = std::time::Instant::now();
    let err = held.execute(sql.as_str(), &[]).await.unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "held until the timeout"
    );
    let msg = err.as_db_error().unwrap().message().to_string();
    assert!(msg.contains("timed out"), "{msg}");
    let expired = admin.list("expired").await;
    let id = expired[0]["id"].as_str().unwrap().to_string();
    let link = hook.wait_for(&id).await.link("approve_url");
    let mut browser = Browser::login(&admin, OTHER_USER, OTHER_PASSWORD).await;
    let (status, page) = browser.get(&link).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("expired"), "{page}");

    // What happened is in the audit log and in the metrics.
    let events = approval_events(&proxy);
    for e in ["requested", "approved", "denied", "cancelled", "expired"] {
        assert!(
            events.iter().any(|(ev, _)| ev == e),
            "no {e} record in {events:?}"
        );
    }
    assert!(events
        .iter()
        .any(|(ev, by)| ev == "approved" && by.as_deref() == Some(OTHER_USER)));
    let metrics = admin.metrics().await;
    for line in [
        "sluice_approvals_pending 0",
        "sluice_approvals_requested_total 5",
        "sluice_approvals_decided_total{outcome=\"approved\"} 1",
        "sluice_approvals_decided_total{outcome=\"denied\"} 2",
        "sluice_approvals_decided_total{outcome=\"cancelled\"} 1",
        "sluice_approvals_decided_total{outcome=\"expired\"} 1",
        "sluice_approval_decision_seconds_count 3",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in\n{metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_hold_waits_for_approval_and_kill_query_withdraws_it() {
    let server = mariadb_native();
    let hook = HookReceiver::start(200).await;
    let proxy = Proxy::start_mysql(server, approvals_opts("hold", "5s", 1, &hook)).await;
    let admin = Admin::of(&proxy);
    let (mut direct, t) = mysql_table(server, "held", "(1), (2), (3)").await;

    let mut held = proxy.mysql().await;
    let sql = format!("UPDATE {t} SET n = n + 10");
    let run = tokio::spawn(async move { held.query_drop(sql).await.map(|_| held) });
    let req = admin.wait_pending(&t).await;
    let mut other = proxy.mysql().await;
    let one: Option<i64> = other.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1), "other sessions keep working");
    let delivery = hook.wait_for(req["id"].as_str().unwrap()).await;
    assert!(verify_signature(
        HOOK_SECRET,
        &delivery.signature,
        &delivery.body
    ));
    admin
        .decide(req["id"].as_str().unwrap(), "approve", None)
        .await;
    let mut held = run.await.unwrap().unwrap();
    assert_eq!(held.affected_rows(), 3);
    let sum: Option<i64> = direct
        .query_first(format!("SELECT SUM(n) FROM {t}"))
        .await
        .unwrap();
    assert_eq!(sum, Some(36));

    let sql = format!("DELETE FROM {t}");
    let run = tokio::spawn(async move { (held.query_drop(sql).await, held) });
    let req = admin.wait_pending(&format!("DELETE FROM {t}")).await;
    admin
        .decide(req["id"].as_str().unwrap(), "deny", Some("keep the rows"))
        .await;
    let (result, mut held) = run.await.unwrap();
    let text = result.unwrap_err().to_string();
    assert!(
        text.contains("1142") && text.contains("keep the rows"),
        "{text}"
    );
    let one: Option<i64> = held.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1), "the session stays usable");

    // KILL QUERY <sluice connection id> from another session of the same user withdraws it.
    let id = held.id();
    let sql = format!("DELETE FROM {t} WHERE 1 = 1");
    let run = tokio::spawn(async move { (held.query_drop(sql).await, held) });
    let req = admin
        .wait_pending(&format!("DELETE FROM {t} WHERE 1 = 1"))
        .await;
    other.query_drop(format!("KILL QUERY {id}")).await.unwrap();
    let (result, mut held) = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .unwrap()
        .unwrap();
    assert!(result.unwrap_err().to_string().contains("withdrawn"));
    assert_eq!(
        admin.get(req["id"].as_str().unwrap()).await["state"],
        "cancelled"
    );
    let count: Option<i64> = direct
        .query_first(format!("SELECT COUNT(*) FROM {t}"))
        .await
        .unwrap();
    assert_eq!(count, Some(3));

    // No decision in time: a clear error, and the session stays usable.
    let started = std::time::Instant::now();
    let err = held
        .query_drop(format!("UPDATE {t} SET n = 0"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "held until the timeout"
    );
    assert!(err.contains("1142") && err.contains("timed out"), "{err}");
    let one: Option<i64> = held.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
}

/// A client killed while its statement waits for an approver, in both protocols: the request
/// is withdrawn at once (the approver sees why), and an approval that comes later runs nothing.
/// Before, the held statement ran when approved, for a client that was long gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_while_its_statement_is_held_withdraws_it() {
    let hook = HookReceiver::start(200).await;
    let upstream = pg_scram();
    let proxy = Proxy::start(upstream, approvals_opts("hold", "60s", 1, &hook)).await;
    let (direct, t) = pg_table(upstream, "gone", "(1), (2), (3)").await;
    let psql = Command::new("psql")
        .arg("-X")
        .arg(proxy.conn_str(USER, PASSWORD, ""))
        .args(["-c", &format!("DELETE FROM {t}")])
        .env_remove("PGPASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sql = format!("DELETE FROM {t}");
    approve_after_the_client_is_killed(&proxy, psql, &sql).await;
    let count: i64 = direct
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 3, "the DELETE of a client that was gone never ran");

    let server = mariadb_native();
    let proxy = Proxy::start_mysql(server, approvals_opts("hold", "60s", 1, &hook)).await;
    let mut direct = mysql_direct(server).await;
    direct
        .query_drop(format!(
            "CREATE TABLE {t} (n INT); INSERT INTO {t} VALUES (1), (2), (3)"
        ))
        .await
        .unwrap();
    let mariadb = Command::new("mariadb")
        .args(["--no-defaults", "-h127.0.0.1"])
        .args([
            &format!("-P{}", proxy.port()),
            &format!("-u{USER}"),
            &format!("-p{PASSWORD}"),
            "shop",
            "-e",
            &sql,
        ])
        .env_remove("MYSQL_PWD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    approve_after_the_client_is_killed(&proxy, mariadb, &sql).await;
    let count: Option<i64> = direct
        .query_first(format!("SELECT COUNT(*) FROM {t}"))
        .await
        .unwrap();
    assert_eq!(
        count,
        Some(3),
        "the DELETE of a client that was gone never ran"
    );
}

/// Stopping sluice refuses a statement held for an approver: the session ends within the
/// grace period instead of waiting for a person (black-box round 7: a SIGTERM waited minutes,
/// until the request timed out, and a restart meanwhile found the audit directory in use).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_refuses_a_held_statement_within_the_grace() {
    let hook = HookReceiver::start(200).await;
    let upstream = pg_scram();
    // A timeout well past the grace (short enough that, were the hold not refused, the
    // blocking wait would not keep this test's runtime alive for long).
    let mut opts = approvals_opts("hold", "40s", 1, &hook);
    opts.shutdown_grace = "5s";
    let mut proxy = Proxy::start(upstream, opts).await;
    let (direct, t) = pg_table(upstream, "stop", "(1), (2), (3)").await;
    let held = proxy.connect().await;
    let sql = format!("DELETE FROM {t}");
    let run = tokio::spawn(async move { held.execute(sql.as_str(), &[]).await });
    Admin::of(&proxy)
        .wait_pending(&format!("DELETE FROM {t}"))
        .await;
    let left = proxy.shutdown().await;
    assert_eq!(left, 0, "the held session ended within the grace");
    let err = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("the held client got its answer")
        .unwrap()
        .unwrap_err();
    let msg = err.as_db_error().map(|e| e.message().to_string());
    assert!(
        msg.as_deref().is_some_and(|m| m.contains("shutting down")),
        "{err:?}"
    );
    let count: i64 = direct
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 3, "the held DELETE never ran");
    assert!(approval_events(&proxy)
        .iter()
        .any(|(e, _)| e == "cancelled"));
}

/// Waits for `client`'s statement `sql` to be held, kills the client, and checks that the
/// request is withdrawn with the reason, that approving it now fails, and that the log says so.
async fn approve_after_the_client_is_killed(proxy: &Proxy, mut client: Child, sql: &str) {
    let admin = Admin::of(proxy);
    let req = admin.wait_pending(sql).await;
    let id = req["id"].as_str().unwrap().to_string();
    client.kill().unwrap();
    client.wait().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let withdrawn = loop {
        let now = admin.get(&id).await;
        if now["state"] != "pending" || std::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(withdrawn["state"], "cancelled", "{withdrawn}");
    let why = withdrawn["decision_reason"].as_str().unwrap_or_default();
    assert!(why.contains("went away"), "{withdrawn}");
    let (status, body) = admin.decide(&id, "approve", None).await;
    assert_ne!(
        status, 200,
        "a withdrawn request cannot be approved: {body}"
    );
    // Time for a statement that would wrongly run after the approval to do so.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = approval_events(proxy);
    assert!(
        events.iter().any(|(e, _)| e == "cancelled"),
        "no cancelled record in {events:?}"
    );
    assert!(!events.iter().any(|(e, _)| e == "approved"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_run_the_identical_statement_once_and_survive_a_restart() {
    let upstream = pg_scram();
    let hook = HookReceiver::start(200).await;
    let mut proxy = Proxy::start(upstream, approvals_opts("ticket", "10m", 1, &hook)).await;
    let (direct, t) = pg_table(upstream, "tick", "(1), (2)").await;
    let sql = format!("UPDATE {t} SET n = n + 1");

    let client = proxy.connect().await;
    let err = client.batch_execute(&sql).await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
    let msg = err.as_db_error().unwrap().message().to_string();
    let id = ticket_id(&msg);
    assert!(
        msg.contains(&format!("/approvals/{id}")),
        "the message carries the link: {msg}"
    );
    // Asking again before approval names the same ticket.
    let again = client.batch_execute(&sql).await.unwrap_err();
    assert_eq!(ticket_id(again.as_db_error().unwrap().message()), id);
    Admin::of(&proxy).decide(&id, "approve", None).await;

    // A restart between approval and re-run keeps the ticket.
    drop(client);
    proxy.restart().await;
    let admin = Admin::of(&proxy);
    let client = proxy.connect().await;
    // A changed literal and another user need tickets of their own.
    let changed = client
        .batch_execute(&format!("UPDATE {t} SET n = n + 2"))
        .await
        .unwrap_err();
    assert_ne!(ticket_id(changed.as_db_error().unwrap().message()), id);
    let bob = proxy.try_connect(OTHER_USER, OTHER_PASSWORD).await.unwrap();
    let bobs = bob.batch_execute(&sql).await.unwrap_err();
    assert_ne!(ticket_id(bobs.as_db_error().unwrap().message()), id);
    // The identical statement (whitespace aside) runs, once.
    client.batch_execute(&format!("{sql}  ;")).await.unwrap();
    let sum: i64 = direct
        .query_one(&format!("SELECT sum(n)::bigint FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sum, 5);
    let second = client.batch_execute(&sql).await.unwrap_err();
    assert_ne!(
        ticket_id(second.as_db_error().unwrap().message()),
        id,
        "a ticket runs once"
    );
    assert_eq!(admin.get(&id).await["state"], "used");

    // Prepared statements: the ticket is for these parameters.
    let stmt = client
        .prepare(&format!("UPDATE {t} SET n = $1"))
        .await
        .unwrap();
    let err = client.execute(&stmt, &[&7i32]).await.unwrap_err();
    let pid = ticket_id(err.as_db_error().unwrap().message());
    let shown = admin.get(&pid).await;
    // tokio-postgres binds an int4 in binary: the approver sees its bytes.
    assert!(
        shown["statement"]
            .as_str()
            .unwrap()
            .contains("$1=\"\\\\x00000007\""),
        "{shown}"
    );
    admin.decide(&pid, "approve", None).await;
    let err = client.execute(&stmt, &[&8i32]).await.unwrap_err();
    assert_ne!(
        ticket_id(err.as_db_error().unwrap().message()),
        pid,
        "other parameters, other ticket"
    );
    assert_eq!(client.execute(&stmt, &[&7i32]).await.unwrap(), 2);
    let sum: i64 = direct
        .query_one(&format!("SELECT sum(n)::bigint FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(sum, 14);
}

/// MySQL runs what an executable comment holds, so a ticket approved for a statement must not
/// run that statement with more smuggled into `/*! … */` (black-box round 7, finding 1: an
/// approved one-row DELETE deleted every row).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_tickets_count_what_executable_comments_hold() {
    let server = mariadb_native();
    let hook = HookReceiver::start(200).await;
    let proxy = Proxy::start_mysql(server, approvals_opts("ticket", "10m", 1, &hook)).await;
    let admin = Admin::of(&proxy);
    let (mut direct, t) = mysql_table(server, "tick", "(1), (2)").await;
    let sql = format!("UPDATE {t} SET n = n + 1");
    let mut client = proxy.mysql().await;
    let err = client.query_drop(&sql).await.unwrap_err().to_string();
    let id = ticket_id(&err);
    admin.decide(&id, "approve", None).await;
    for smuggled in [
        format!("UPDATE {t} SET n = n + 1 /*!50000 , n = n + 100 */"),
        format!("UPDATE {t} SET n = n + 1 /*M!100100 , n = n + 100 */"),
    ] {
        let err = client.query_drop(&smuggled).await.unwrap_err().to_string();
        assert_ne!(ticket_id(&err), id, "{smuggled} must not redeem {id}");
    }
    let sum: Option<i64> = direct
        .query_first(format!("SELECT SUM(n) FROM {t}"))
        .await
        .unwrap();
    assert_eq!(sum, Some(3), "nothing ran on the approved ticket");
    assert_eq!(admin.get(&id).await["state"], "approved");
    // The statement approved still runs, once.
    client.query_drop(&sql).await.unwrap();
    let sum: Option<i64> = direct
        .query_first(format!("SELECT SUM(n) FROM {t}"))
        .await
        .unwrap();
    assert_eq!(sum, Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvals_from_distinct_approvers_and_single_use_links() {
    let upstream = pg_scram();
    let hook = HookReceiver::start(200).await;
    let mut opts = approvals_opts("ticket", "10m", 2, &hook);
    opts.extra_config += &extra_user("carol", "carol-pw", "dba");
    let proxy = Proxy::start(upstream, opts).await;
    let admin = Admin::of(&proxy);
    let t = unique("two");
    pg_direct(upstream)
        .await
        .batch_execute(&format!("CREATE TABLE {t} (n int)"))
        .await
        .unwrap();

    // bob asks; bob may not approve his own request.
    let bob = proxy.try_connect(OTHER_USER, OTHER_PASSWORD).await.unwrap();
    let err = bob
        .batch_execute(&format!("DELETE FROM {t}"))
        .await
        .unwrap_err();
    let id = ticket_id(err.as_db_error().unwrap().message());
    let (status, body) = admin.decide(&id, "approve", None).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("own request"));

    // alice asks; bob's approval is one of two, and counts once.
    let alice = proxy.connect().await;
    let err = alice
        .batch_execute(&format!("UPDATE {t} SET n = 1"))
        .await
        .unwrap_err();
    let id = ticket_id(err.as_db_error().unwrap().message());
    let (_, body) = admin.decide(&id, "approve", None).await;
    assert_eq!(body["state"], "pending");
    let (status, _) = admin.decide(&id, "approve", None).await;
    assert_eq!(
        status, 409,
        "a second approval by the same person does not count"
    );
    assert!(
        alice
            .batch_execute(&format!("UPDATE {t} SET n = 1"))
            .await
            .is_err(),
        "one approval of two is not enough"
    );

    // carol approves through the webhook's link: the link page needs a login, then works once.
    let link = hook.wait_for(&id).await.link("approve_url");
    let mut anonymous = Browser::anonymous(&admin);
    let (status, page) = anonymous.get(&link).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("name=\"password\""),
        "asks to sign in first: {page}"
    );
    let mut carol = Browser::login(&admin, "carol", "carol-pw").await;
    let (status, page) = carol.get(&link).await;
    assert_eq!(status, 200, "{page}");
    let (status, page) = carol.submit_link(&link, &page).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("approved"), "{page}");
    let (status, page) = carol.get(&link).await;
    assert_eq!(status, 403, "a used link is refused: {page}");
    let forged = link.replace("token=", "token=00");
    let (status, _) = carol.get(&forged).await;
    assert_eq!(status, 403, "a forged token is refused");
    alice
        .batch_execute(&format!("UPDATE {t} SET n = 1"))
        .await
        .unwrap();

    // The CLI's client lists and decides the same way.
    let err = alice
        .batch_execute(&format!("DELETE FROM {t}"))
        .await
        .unwrap_err();
    let id = ticket_id(err.as_db_error().unwrap().message());
    let listed = cli(
        &admin,
        OTHER_USER,
        OTHER_PASSWORD,
        sluice::approvals_cli::ApprovalsAction::List {
            state: "pending".into(),
            json: false,
        },
    )
    .await
    .unwrap();
    assert!(
        listed.contains(&id) && listed.contains(&format!("DELETE FROM {t}")),
        "{listed}"
    );
    let out = cli(
        &admin,
        OTHER_USER,
        OTHER_PASSWORD,
        sluice::approvals_cli::ApprovalsAction::Decide {
            id: id.clone(),
            approve: false,
            reason: Some("no".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(out.trim(), format!("{id}: denied (0 of 2 approvals)"));
    // A reload that lowers `required` applies to new requests.
    let file = proxy.dir.path().join("sluice.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("required = 2", "required = 1")).unwrap();
    let (status, body) = admin.reload().await;
    assert_eq!(status, 200, "{body}");
    let err = alice
        .batch_execute(&format!("UPDATE {t} SET n = 3"))
        .await
        .unwrap_err();
    let id = ticket_id(err.as_db_error().unwrap().message());
    let (_, body) = admin.decide(&id, "approve", None).await;
    assert_eq!(
        body["state"], "approved",
        "one approval suffices now: {body}"
    );
    let wrong = cli(
        &admin,
        OTHER_USER,
        "bad",
        sluice::approvals_cli::ApprovalsAction::List {
            state: "pending".into(),
            json: true,
        },
    )
    .await
    .unwrap_err();
    assert!(wrong.contains("401"), "{wrong}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_arrive_once_after_an_outage_and_after_a_restart() {
    let upstream = pg_scram();
    let hook = HookReceiver::start(503).await;
    let mut proxy = Proxy::start(upstream, approvals_opts("ticket", "10m", 1, &hook)).await;
    let t = unique("hook");
    pg_direct(upstream)
        .await
        .batch_execute(&format!("CREATE TABLE {t} (n int)"))
        .await
        .unwrap();
    let client = proxy.connect().await;
    let err = client
        .batch_execute(&format!("DELETE FROM {t}"))
        .await
        .unwrap_err();
    let id = ticket_id(err.as_db_error().unwrap().message());
    // The receiver is down: deliveries are retried.
    hook.wait_attempts(&id, 2).await;
    hook.set_status(200);
    hook.wait_for(&id).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        hook.acknowledged(&id),
        1,
        "delivered exactly once after the outage"
    );

    // Down again; sluice restarts with the delivery still owed, and sends it after.
    hook.set_status(503);
    let err = client
        .batch_execute(&format!("UPDATE {t} SET n = 2"))
        .await
        .unwrap_err();
    let id = ticket_id(err.as_db_error().unwrap().message());
    hook.wait_attempts(&id, 1).await;
    drop(client);
    proxy.shutdown().await;
    hook.set_status(200);
    proxy.restart().await;
    hook.wait_for(&id).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        hook.acknowledged(&id),
        1,
        "delivered exactly once after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvers_sign_in_and_approve_in_a_real_browser() {
    let upstream = pg_scram();
    let hook = HookReceiver::start(200).await;
    let proxy = Proxy::start(upstream, approvals_opts("hold", "60s", 1, &hook)).await;
    let admin = Admin::of(&proxy);
    let t = unique("page");
    let direct = pg_direct(upstream).await;
    direct
        .batch_execute(&format!(
            "CREATE TABLE {t} (n int); INSERT INTO {t} VALUES (1)"
        ))
        .await
        .unwrap();

    let held = proxy.connect().await;
    let sql = format!("UPDATE {t} SET n = 42");
    let run = tokio::spawn(async move { held.execute(sql.as_str(), &[]).await });
    admin.wait_pending(&t).await;

    let driver = WebDriver::start().await;
    driver.goto(&format!("{}/approvals", admin.base)).await;
    driver.type_into("#user", OTHER_USER).await;
    driver.type_into("#password", OTHER_PASSWORD).await;
    driver.click("#login").await;
    let text = driver
        .wait_for_text("#requests", &format!("UPDATE {t} SET n = 42"))
        .await;
    assert!(text.contains(USER), "the page shows who asked: {text}");
    driver.click("#requests button.approve").await;
    let n = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(n, 1, "the held statement completed after the click");
    let status = driver.wait_for_text("#status", "approved").await;
    assert!(status.contains("approved"), "{status}");
    let v: i32 = direct
        .query_one(&format!("SELECT n FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 42);
}
