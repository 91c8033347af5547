//! `[cluster]` end to end: three sluice processes (`sluice_node`, the `sluice serve` code) share
//! approvals through a throwaway control PostgreSQL (a database of its own in the test
//! PostgreSQL), both protocols. A statement held on one instance is decided through another's
//! API; a ticket issued by one is redeemed once by another; `required = 2` counts approvers on
//! different instances; a request whose instance is `kill -9`ed is marked abandoned; each
//! webhook is acknowledged exactly once while the instance delivering it is killed.

// Shared with approvals.rs; this binary uses part of it.
#[allow(dead_code)]
#[path = "support/approvals.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mysql_async::prelude::*;
use sluice_tests::*;
use support::*;
use tokio_postgres::NoTls;

const CONTROL_PW_ENV: &str = "SLUICE_TEST_CONTROL_PW";
const HOOK_ENV: &str = "SLUICE_TEST_CLUSTER_HOOK_SECRET";
/// A second approver, and an approver who also runs statements.
const CAROL: (&str, &str) = ("carol", "carol-pw");
const DAVE: (&str, &str) = ("dave", "dave-pw");

/// One sluice process.
struct Node {
    name: String,
    config: PathBuf,
    child: Child,
    admin: Admin,
    pg: SocketAddr,
    my: SocketAddr,
}

impl Node {
    /// Starts `sluice_node` on `config` and waits for its ready line.
    fn start(name: &str, config: PathBuf) -> Node {
        Node::try_start(name, config).unwrap_or_else(|e| panic!("{name} did not start: {e}"))
    }

    /// Starts `sluice_node`; `Err` with its log when it exits instead of getting ready.
    fn try_start(name: &str, config: PathBuf) -> Result<Node, String> {
        let log = std::fs::File::create(config.with_extension("log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice_node"))
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if !line.starts_with("ready ") {
            let _ = child.wait();
            return Err(std::fs::read_to_string(config.with_extension("log")).unwrap_or_default());
        }
        let field = |k: &str| -> String {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(&format!("{k}=")))
                .unwrap_or_default()
                .to_string()
        };
        Ok(Node {
            name: name.into(),
            admin: Admin::at(format!("http://{}", field("admin"))),
            pg: field("pg").parse().unwrap(),
            my: field("my").parse().unwrap(),
            config,
            child,
        })
    }

    async fn pg_as(&self, user: &str, password: &str) -> tokio_postgres::Client {
        let (c, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user={user} password={password} dbname=app",
                self.pg.port()
            ),
            NoTls,
        )
        .await
        .unwrap_or_else(|e| panic!("connect through {}: {e}", self.name));
        tokio::spawn(conn);
        c
    }

    async fn pg(&self) -> tokio_postgres::Client {
        self.pg_as(USER, PASSWORD).await
    }

    async fn mysql(&self) -> mysql_async::Conn {
        mysql_async::Conn::new(mysql_opts(self.my.port(), USER, PASSWORD, Some("shop")))
            .await
            .unwrap()
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three instances, the control database and the webhook receiver.
struct Cluster {
    nodes: Vec<Node>,
    hook: HookReceiver,
    control: tokio_postgres::Client,
    _dir: tempfile::TempDir,
}

struct Shape {
    mode: &'static str,
    required: u32,
    heartbeat: &'static str,
    instance_timeout: &'static str,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            mode: "hold",
            required: 1,
            heartbeat: "300ms",
            instance_timeout: "2s",
        }
    }
}

/// `control` and `tls` (and `ca_file`) of `[cluster]` for database `db` of `server`.
fn control_keys(server: &PgServer, db: &str, tls: &str) -> String {
    format!(
        "control = \"postgres://{}@127.0.0.1:{}/{db}\"\ntls = \"{tls}\"\n",
        server.opts.user, server.port
    )
}

fn config_text(shape: &Shape, name: &str, control: &str, hook: SocketAddr) -> String {
    let pg = pg_scram();
    let my = mariadb_native();
    let mut text = format!(
        "[server]\nadmin_listen = \"127.0.0.1:0\"\nshutdown_grace = \"1s\"\nadmin_groups = [\"dba\"]\n\n\
         [cluster]\n{control}password_env = \"{CONTROL_PW_ENV}\"\n\
         instance = \"{name}\"\nheartbeat_interval = \"{}\"\ninstance_timeout = \"{}\"\n\n",
        shape.heartbeat, shape.instance_timeout
    );
    for (user, pw, group) in [
        (USER, PASSWORD, "analysts"),
        (OTHER_USER, OTHER_PASSWORD, "dba"),
        (CAROL.0, CAROL.1, "dba"),
        (DAVE.0, DAVE.1, "dba"),
    ] {
        text += &format!(
            "[[users]]\nname = \"{user}\"\npassword_hash = \"{}\"\ngroups = [\"{group}\"]\n",
            sluice::auth::hash_password(pw)
        );
    }
    for (t, proto, addr, user) in [
        ("pg", "postgres", pg.addr(), &pg.opts.user),
        ("my", "mysql", my.addr(), &my.opts.user),
    ] {
        text += &format!(
            "[[targets]]\nname = \"{t}\"\nprotocol = \"{proto}\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{addr}\"\n\
             user = \"{user}\"\npassword_file = \"{t}.pw\"\nupstream_tls = \"disable\"\n"
        );
    }
    text += &format!(
        r#"
[[rules]]
name = "unbounded-writes"
when = {{ statements = ["update", "delete"], without_where = true }}
action = "review"
message = "a DBA must look at this"

[approvals]
mode = "{}"
timeout = "60s"
required = {}
approver_groups = ["dba"]
dir = "approvals-{name}"

[[approvals.webhooks]]
url = "http://{hook}/hook"
secret_env = "{HOOK_ENV}"
"#,
        shape.mode, shape.required
    );
    text
}

impl Cluster {
    /// A fresh control database and three instances started at the same moment.
    async fn start(shape: Shape) -> Cluster {
        let pg = pg_scram();
        mariadb_native();
        let db = unique("ctl");
        pg.psql_superuser(
            "postgres",
            &format!("CREATE DATABASE {db} OWNER {}", pg.opts.user),
        )
        .unwrap();
        std::env::set_var(CONTROL_PW_ENV, &pg.opts.password);
        std::env::set_var(HOOK_ENV, std::str::from_utf8(HOOK_SECRET).unwrap());
        let hook = HookReceiver::start(200).await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pg.pw"), &pg.opts.password).unwrap();
        std::fs::write(dir.path().join("my.pw"), &mariadb_native().opts.password).unwrap();
        let starts: Vec<_> = (1..=3)
            .map(|i| {
                let name = format!("node{i}");
                let path = dir.path().join(format!("{name}.toml"));
                let control = control_keys(pg, &db, "disable");
                std::fs::write(&path, config_text(&shape, &name, &control, hook.addr)).unwrap();
                std::thread::spawn(move || Node::start(&name, path))
            })
            .collect();
        let nodes = starts.into_iter().map(|h| h.join().unwrap()).collect();
        let (control, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user={} password={} dbname={db}",
                pg.port, pg.opts.user, pg.opts.password
            ),
            NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        Cluster {
            nodes,
            hook,
            control,
            _dir: dir,
        }
    }

    /// Waits until request `id`, read through `node`'s API, is in `state`.
    async fn wait_state(&self, node: usize, id: &str, state: &str) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        for _ in 0..150 {
            last = self.nodes[node].admin.get(id).await;
            if last["state"] == state {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{id} never became {state} on node{}: {last}", node + 1);
    }
}

async fn pg_table(rows: &str) -> String {
    let t = unique("cl");
    pg_direct(pg_scram())
        .await
        .batch_execute(&format!(
            "CREATE TABLE {t} (n int); INSERT INTO {t} VALUES {rows}"
        ))
        .await
        .unwrap();
    t
}

async fn pg_sum(t: &str) -> i64 {
    pg_direct(pg_scram())
        .await
        .query_one(&format!("SELECT sum(n)::bigint FROM {t}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_starting_at_once_migrate_once_and_register() {
    let c = Cluster::start(Shape::default()).await;
    let versions: Vec<i32> = c
        .control
        .query(
            "SELECT version FROM sluice_schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1]);
    let names: Vec<String> = c
        .control
        .query("SELECT name FROM sluice_instances ORDER BY name", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["node1", "node2", "node3"]);
    // `sluice check --live` reaches the control database and reads the schema version.
    let node = &c.nodes[0];
    let config = sluice::config::Config::load(&node.config).unwrap();
    let lines = sluice::server::check_upstreams(&config).await.unwrap();
    assert!(
        lines.iter().any(
            |l| l.starts_with("[cluster]: control database") && l.ends_with("schema version 1")
        ),
        "{lines:?}"
    );
    // A wrong password (in a variable of its own: other tests start nodes meanwhile).
    let mut wrong = config.clone();
    std::env::set_var("SLUICE_TEST_WRONG_CONTROL_PW", "wrong");
    wrong.cluster.as_mut().unwrap().password_env = Some("SLUICE_TEST_WRONG_CONTROL_PW".into());
    let lines = sluice::server::check_upstreams(&wrong).await.unwrap_err();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[cluster]: FAILED") && l.contains("password")),
        "{lines:?}"
    );
    // A reload cannot change [cluster]: it says so, and the running instance keeps its own.
    let node = &c.nodes[0];
    let text = std::fs::read_to_string(&node.config).unwrap();
    std::fs::write(
        &node.config,
        text.replace(
            "heartbeat_interval = \"300ms\"",
            "heartbeat_interval = \"1s\"",
        ),
    )
    .unwrap();
    let (status, body) = node.admin.reload().await;
    assert_ne!(status, 200);
    assert!(
        body.contains("[cluster] changed: that needs a restart"),
        "{body}"
    );
    std::fs::write(&node.config, text).unwrap();
    let (status, body) = node.admin.reload().await;
    assert_eq!(status, 200, "{body}");
    // Requests decided more than a week ago are forgotten (at start, then hourly); pending
    // ones and recent decisions stay.
    for (id, state, age) in [
        ("apr_old_denied", "denied", "8 days"),
        ("apr_new_denied", "denied", "1 day"),
        ("apr_old_pending", "pending", "8 days"),
    ] {
        c.control
            .execute(
                &format!(
                    "INSERT INTO sluice_approval_requests (id, state, mode, fingerprint, created_at, \
                     expires_at, updated_at, data) VALUES ($1, $2, 'ticket', 'x', 0, 0, now() - interval '{age}', '{{}}')"
                ),
                &[&id, &state],
            )
            .await
            .unwrap();
    }
    let mut c = c;
    c.nodes[0].kill9();
    let config = c.nodes[0].config.clone();
    c.nodes[0] = Node::start("node1", config);
    let left: Vec<String> = c
        .control
        .query(
            "SELECT id FROM sluice_approval_requests WHERE id LIKE 'apr\\_%\\_%' ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, ["apr_new_denied", "apr_old_pending"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_on_one_instance_approved_on_another_denied_on_a_third_both_protocols() {
    let c = Cluster::start(Shape::default()).await;
    // PostgreSQL: held on node1, approved through node2's API: it completes.
    let t = pg_table("(1), (2)").await;
    let held = c.nodes[0].pg().await;
    let sql = format!("UPDATE {t} SET n = n + 10");
    let run = tokio::spawn(async move { held.execute(sql.as_str(), &[]).await });
    let req = c.nodes[1].admin.wait_pending(&t).await;
    let id = req["id"].as_str().unwrap().to_string();
    assert!(!run.is_finished(), "held until a decision");
    let (status, body) = c.nodes[1].admin.decide(&id, "approve", None).await;
    assert_eq!(status, 200, "{body}");
    let n = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("the held statement completes at once")
        .unwrap()
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(pg_sum(&t).await, 23);
    c.wait_state(2, &id, "approved").await;

    // Denied through node3: the client on node1 gets the reason, nothing ran.
    let held = c.nodes[0].pg().await;
    let sql = format!("DELETE FROM {t}");
    let run = tokio::spawn(async move { held.execute(sql.as_str(), &[]).await });
    let req = c.nodes[2]
        .admin
        .wait_pending(&format!("DELETE FROM {t}"))
        .await;
    let id = req["id"].as_str().unwrap().to_string();
    let (status, _) = c.nodes[2]
        .admin
        .decide(&id, "deny", Some("not during business hours"))
        .await;
    assert_eq!(status, 200);
    let err = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    let msg = err.as_db_error().unwrap().message().to_string();
    assert!(
        msg.contains("denied by bob") && msg.contains("not during business hours"),
        "{msg}"
    );
    assert_eq!(pg_sum(&t).await, 23);
    // The decision is on record in the control database, with the instance that took it.
    let row = c
        .control
        .query_one(
            "SELECT approver, approve, reason, instance FROM sluice_approval_decisions WHERE request_id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), OTHER_USER);
    assert!(!row.get::<_, bool>(1));
    assert_eq!(row.get::<_, String>(3), "node3");

    // MySQL: held on node2, approved through node3.
    let mt = unique("clm");
    let mut direct = mysql_direct(mariadb_native()).await;
    direct
        .query_drop(format!(
            "CREATE TABLE {mt} (n int); INSERT INTO {mt} VALUES (1), (2)"
        ))
        .await
        .unwrap();
    let mut held = c.nodes[1].mysql().await;
    let sql = format!("UPDATE {mt} SET n = n + 5");
    let run =
        tokio::spawn(async move { held.query_drop(sql).await.map(|()| held.affected_rows()) });
    let req = c.nodes[2].admin.wait_pending(&mt).await;
    let (status, _) = c.nodes[2]
        .admin
        .decide(req["id"].as_str().unwrap(), "approve", None)
        .await;
    assert_eq!(status, 200);
    let affected = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(affected, 2);
    let sum: Option<i64> = direct
        .query_first(format!("SELECT CAST(SUM(n) AS SIGNED) FROM {mt}"))
        .await
        .unwrap();
    assert_eq!(sum, Some(13));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_issued_by_one_instance_is_honoured_once_by_another() {
    let c = Cluster::start(Shape {
        mode: "ticket",
        ..Shape::default()
    })
    .await;
    let t = pg_table("(1), (2)").await;
    let sql = format!("UPDATE {t} SET n = n * 2");
    let err = c.nodes[0]
        .pg()
        .await
        .execute(sql.as_str(), &[])
        .await
        .unwrap_err();
    let id = ticket_id(err.as_db_error().unwrap().message());
    // Asking again on another instance names the same ticket.
    let again = c.nodes[2]
        .pg()
        .await
        .execute(sql.as_str(), &[])
        .await
        .unwrap_err();
    assert_eq!(ticket_id(again.as_db_error().unwrap().message()), id);
    let (status, _) = c.nodes[1].admin.decide(&id, "approve", None).await;
    assert_eq!(status, 200);
    // Redeemed on node3, once.
    let n = c.nodes[2]
        .pg()
        .await
        .execute(sql.as_str(), &[])
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(pg_sum(&t).await, 6);
    c.wait_state(0, &id, "used").await;
    // A second run, on any instance, is a new request: refused, not run.
    for node in [&c.nodes[1], &c.nodes[2]] {
        let err = node
            .pg()
            .await
            .execute(sql.as_str(), &[])
            .await
            .unwrap_err();
        assert_ne!(ticket_id(err.as_db_error().unwrap().message()), id);
    }
    assert_eq!(pg_sum(&t).await, 6);

    // MySQL: issued on node2, redeemed on node1, refused again on node3.
    let mt = unique("clm");
    let mut direct = mysql_direct(mariadb_native()).await;
    direct
        .query_drop(format!(
            "CREATE TABLE {mt} (n int); INSERT INTO {mt} VALUES (1)"
        ))
        .await
        .unwrap();
    let sql = format!("DELETE FROM {mt}");
    let err = c.nodes[1].mysql().await.query_drop(&sql).await.unwrap_err();
    let id = ticket_id(&err.to_string());
    let (status, _) = c.nodes[2].admin.decide(&id, "approve", None).await;
    assert_eq!(status, 200);
    let mut conn = c.nodes[0].mysql().await;
    conn.query_drop(&sql).await.unwrap();
    assert_eq!(conn.affected_rows(), 1);
    let err = c.nodes[2].mysql().await.query_drop(&sql).await.unwrap_err();
    assert_ne!(ticket_id(&err.to_string()), id);

    // A webhook's link, issued by node1, works on node3 (a login there), once: node2 then
    // refuses it as used.
    let t = pg_table("(5)").await;
    let sql = format!("DELETE FROM {t}");
    let err = c.nodes[0]
        .pg()
        .await
        .execute(sql.as_str(), &[])
        .await
        .unwrap_err();
    let id = ticket_id(err.as_db_error().unwrap().message());
    let link = c.hook.wait_for(&id).await.link("approve_url");
    assert!(link.starts_with(&c.nodes[0].admin.base), "{link}");
    let on3 = link.replace(&c.nodes[0].admin.base, &c.nodes[2].admin.base);
    let mut carol = Browser::login(&c.nodes[2].admin, CAROL.0, CAROL.1).await;
    let (status, page) = carol.get(&on3).await;
    assert_eq!(status, 200, "{page}");
    let (status, page) = carol.submit_link(&on3, &page).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("approved"), "{page}");
    let on2 = link.replace(&c.nodes[0].admin.base, &c.nodes[1].admin.base);
    let mut bob = Browser::login(&c.nodes[1].admin, OTHER_USER, OTHER_PASSWORD).await;
    let (status, page) = bob.get(&on2).await;
    assert_eq!(
        status, 403,
        "a used link is refused on every instance: {page}"
    );
    assert_eq!(
        c.nodes[1]
            .pg()
            .await
            .execute(sql.as_str(), &[])
            .await
            .unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_two_counts_distinct_approvers_across_instances() {
    let c = Cluster::start(Shape {
        required: 2,
        ..Shape::default()
    })
    .await;
    let t = pg_table("(1)").await;
    // dave (an approver himself) runs it: his own approval never counts, on any instance.
    let held = c.nodes[0].pg_as(DAVE.0, DAVE.1).await;
    let sql = format!("UPDATE {t} SET n = 100");
    let run = tokio::spawn(async move { held.execute(sql.as_str(), &[]).await });
    let req = c.nodes[0].admin.wait_pending(&t).await;
    let id = req["id"].as_str().unwrap().to_string();
    let (status, _) = c.nodes[1]
        .admin
        .decide_as(DAVE.0, DAVE.1, &id, "approve", None)
        .await;
    assert_eq!(status, 403);
    // bob through node2 and node3 at the same moment: one counts, the other is refused.
    let (a, b) = tokio::join!(
        c.nodes[1].admin.decide(&id, "approve", None),
        c.nodes[2].admin.decide(&id, "approve", None)
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let ok = if a.0 == 200 { &a.1 } else { &b.1 };
    assert_eq!(ok["state"], "pending", "one of two");
    assert_eq!(ok["approvals"].as_array().unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!run.is_finished(), "one approver is not enough");
    // carol on node3: two distinct approvers, the statement runs on node1.
    let (status, body) = c.nodes[2]
        .admin
        .decide_as(CAROL.0, CAROL.1, &id, "approve", None)
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("approved")),
        "{body}"
    );
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pg_sum(&t).await, 100);
    let approvers: Vec<(String, String)> = c
        .control
        .query(
            "SELECT approver, instance FROM sluice_approval_decisions WHERE request_id = $1 ORDER BY approver",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(approvers.len(), 2);
    assert_eq!(approvers[0].0, "bob");
    assert!(["node2", "node3"].contains(&approvers[0].1.as_str()));
    assert_eq!(approvers[1], ("carol".to_string(), "node3".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_instance_is_killed_is_marked_abandoned() {
    let mut c = Cluster::start(Shape::default()).await;
    let t = pg_table("(1)").await;
    let held = c.nodes[0].pg().await;
    let sql = format!("DELETE FROM {t}");
    let _run = tokio::spawn(async move { held.execute(sql.as_str(), &[]).await });
    let req = c.nodes[1].admin.wait_pending(&t).await;
    let id = req["id"].as_str().unwrap().to_string();
    c.nodes[0].kill9();
    // instance_timeout is 2s: well within the wait.
    let r = c.wait_state(1, &id, "abandoned").await;
    assert!(r["decision_reason"]
        .as_str()
        .unwrap()
        .contains("stopped answering"));
    let listed = c.nodes[2].admin.list("abandoned").await;
    assert!(listed.iter().any(|r| r["id"] == id.as_str()));
    // Too late to approve.
    let (status, _) = c.nodes[2].admin.decide(&id, "approve", None).await;
    assert_eq!(status, 409);
    assert_eq!(pg_sum(&t).await, 1);
    // The approvers' page on another instance shows it as abandoned, with the reason.
    let driver = WebDriver::start().await;
    driver
        .goto(&format!("{}/approvals", c.nodes[2].admin.base))
        .await;
    driver.type_into("#user", OTHER_USER).await;
    driver.type_into("#password", OTHER_PASSWORD).await;
    driver.click("#login").await;
    let text = driver.wait_for_text("#abandoned", &id).await;
    assert!(
        text.contains(&format!("DELETE FROM {t}")) && text.contains("stopped answering"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_webhook_is_acknowledged_once_while_the_delivering_instance_is_killed() {
    let mut c = Cluster::start(Shape {
        mode: "ticket",
        ..Shape::default()
    })
    .await;
    // Three requests through three instances, all three polling one outbox.
    let mut ids = Vec::new();
    for node in &c.nodes {
        let t = pg_table("(1)").await;
        let err = node
            .pg()
            .await
            .execute(&format!("DELETE FROM {t}"), &[])
            .await
            .unwrap_err();
        ids.push(ticket_id(err.as_db_error().unwrap().message()));
    }
    for id in &ids {
        c.hook.wait_for(id).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in &ids {
        assert_eq!(c.hook.of(id).len(), 1, "{id} was sent more than once");
    }

    // The receiver hangs; the instance holding the delivery is killed mid-delivery.
    c.hook.set_status(HANG);
    let t = pg_table("(1)").await;
    let err = c.nodes[0]
        .pg()
        .await
        .execute(&format!("DELETE FROM {t}"), &[])
        .await
        .unwrap_err();
    let id = ticket_id(err.as_db_error().unwrap().message());
    c.hook.wait_attempts(&id, 1).await;
    let claimant: String = c
        .control
        .query_one(
            "SELECT claimed_by FROM sluice_webhook_outbox WHERE request_id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    c.hook.set_status(200);
    let victim = c.nodes.iter().position(|n| n.name == claimant).unwrap();
    c.nodes[victim].kill9();
    // Another instance takes the delivery over once the lease runs out (15 s).
    for _ in 0..250 {
        if c.hook.acknowledged(&id) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(c.hook.acknowledged(&id), 1);
    let row = c
        .control
        .query_one(
            "SELECT outcome, delivered_by FROM sluice_webhook_outbox WHERE request_id = $1",
            &[&id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "delivered");
    assert_ne!(row.get::<_, String>(1), claimant);
    // Restarted, the killed instance sends nothing again.
    let config = c.nodes[victim].config.clone();
    c.nodes[victim] = Node::start(&claimant, config);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(c.hook.acknowledged(&id), 1);
    assert_eq!(
        c.hook.of(&id).len(),
        2,
        "the hung attempt and the acknowledged one"
    );
    for id in &ids {
        assert_eq!(c.hook.of(id).len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_carries_decisions_without_listen_and_a_lost_control_database_fails_closed() {
    let c = Cluster::start(Shape::default()).await;
    let db: String = c
        .control
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap()
        .get(0);
    let pg = pg_scram();
    let superuser = |sql: String| pg.psql_superuser("postgres", &sql).unwrap();
    // No new connections to the control database, and every LISTEN connection cut: the
    // instances keep their other connection, and fall back to polling.
    superuser(format!("ALTER DATABASE {db} CONNECTION LIMIT 0"));
    superuser(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND query LIKE 'LISTEN%'"
    ));
    let t = pg_table("(1)").await;
    let held = c.nodes[0].pg().await;
    let sql = format!("UPDATE {t} SET n = 7");
    let run = tokio::spawn(async move { held.execute(sql.as_str(), &[]).await });
    let req = c.nodes[1].admin.wait_pending(&t).await;
    let (status, _) = c.nodes[1]
        .admin
        .decide(req["id"].as_str().unwrap(), "approve", None)
        .await;
    assert_eq!(status, 200);
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .expect("polling (every second) releases the statement")
        .unwrap()
        .unwrap();
    assert_eq!(pg_sum(&t).await, 7);

    // Now node1 loses the control database altogether: a statement needing review is
    // refused with the reason, and the others run as before.
    superuser(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND application_name = 'sluice node1'"
    ));
    let client = c.nodes[0].pg().await;
    let err = client
        .execute(&format!("DELETE FROM {t}"), &[])
        .await
        .unwrap_err();
    let msg = err.as_db_error().unwrap().message().to_string();
    assert!(
        msg.contains("needs approval")
            && msg.contains("could not be stored")
            && msg.contains("control database"),
        "{msg}"
    );
    let n: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(n, 1);
    assert_eq!(pg_sum(&t).await, 7);

    // Back: the next request is stored and held again.
    superuser(format!("ALTER DATABASE {db} CONNECTION LIMIT -1"));
    let held = c.nodes[0].pg().await;
    let sql = format!("DELETE FROM {t}");
    let run = tokio::spawn(async move { held.execute(sql.as_str(), &[]).await });
    let req = c.nodes[2]
        .admin
        .wait_pending(&format!("DELETE FROM {t}"))
        .await;
    let (status, _) = c.nodes[2]
        .admin
        .decide(req["id"].as_str().unwrap(), "approve", None)
        .await;
    assert_eq!(status, 200);
    tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// HAProxy in front of the three instances' PostgreSQL and MySQL listeners, round robin.
struct Balancer {
    child: Child,
    pg: u16,
    my: u16,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Balancer {
    fn start(nodes: &[Node]) -> Balancer {
        let haproxy = [
            "/usr/sbin/haproxy",
            "/usr/local/sbin/haproxy",
            "/usr/bin/haproxy",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("haproxy is not installed (apt-get install haproxy; ./sluice-dev test does)");
        let (pg, my) = (free_port(), free_port());
        let mut cfg = "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 5m\n  timeout server 5m\n"
            .to_string();
        for (name, port, addr) in [
            ("pg", pg, nodes.iter().map(|n| n.pg).collect::<Vec<_>>()),
            ("my", my, nodes.iter().map(|n| n.my).collect()),
        ] {
            cfg += &format!(
                "frontend {name}\n  bind 127.0.0.1:{port}\n  default_backend {name}_nodes\n"
            );
            cfg += &format!("backend {name}_nodes\n  balance roundrobin\n");
            for (i, a) in addr.iter().enumerate() {
                cfg += &format!("  server node{} {a}\n", i + 1);
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, cfg).unwrap();
        let child = Command::new(haproxy)
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", pg)).is_ok()
                && std::net::TcpStream::connect(("127.0.0.1", my)).is_ok()
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Balancer {
            child,
            pg,
            my,
            _dir: dir,
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_through_haproxy_are_held_on_every_instance_and_released_by_any() {
    let c = Cluster::start(Shape::default()).await;
    let lb = Balancer::start(&c.nodes);
    // Three sessions through the balancer: round robin puts one on each instance.
    let t = pg_table("(1)").await;
    let mut runs = Vec::new();
    for i in 0..3 {
        let (client, conn) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user={USER} password={PASSWORD} dbname=app",
                lb.pg
            ),
            NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(conn);
        let sql = format!("UPDATE {t} SET n = n + {}", 10 * (i + 1));
        runs.push(tokio::spawn(async move {
            client.execute(sql.as_str(), &[]).await
        }));
        c.nodes[0]
            .admin
            .wait_pending(&format!("n + {}", 10 * (i + 1)))
            .await;
    }
    let held: Vec<(String, String)> = c
        .control
        .query(
            "SELECT id, holding_instance FROM sluice_approval_requests WHERE state = 'pending' ORDER BY holding_instance",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let holders: Vec<&str> = held.iter().map(|h| h.1.as_str()).collect();
    assert_eq!(holders, ["node1", "node2", "node3"]);
    // Each is approved through the next instance's API, not the one holding it.
    for (i, (id, _)) in held.iter().enumerate() {
        let (status, _) = c.nodes[(i + 1) % 3].admin.decide(id, "approve", None).await;
        assert_eq!(status, 200);
    }
    for run in runs {
        let n = tokio::time::timeout(Duration::from_secs(5), run)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(n, 1);
    }
    assert_eq!(pg_sum(&t).await, 61);

    // MySQL through the balancer too: denied through whichever instance is not holding it.
    let mt = unique("clm");
    let mut direct = mysql_direct(mariadb_native()).await;
    direct
        .query_drop(format!(
            "CREATE TABLE {mt} (n int); INSERT INTO {mt} VALUES (1)"
        ))
        .await
        .unwrap();
    let mut conn = mysql_async::Conn::new(mysql_opts(lb.my, USER, PASSWORD, Some("shop")))
        .await
        .unwrap();
    let sql = format!("DELETE FROM {mt}");
    let run = tokio::spawn(async move { conn.query_drop(sql).await });
    let req = c.nodes[2].admin.wait_pending(&mt).await;
    let id = req["id"].as_str().unwrap().to_string();
    let holder: String = c
        .control
        .query_one(
            "SELECT holding_instance FROM sluice_approval_requests WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    let other = c.nodes.iter().find(|n| n.name != holder).unwrap();
    let (status, _) = other.admin.decide(&id, "deny", Some("keep the row")).await;
    assert_eq!(status, 200);
    let text = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("1142") && text.contains("keep the row"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_connection_uses_tls_and_verifies_the_certificate_like_a_target() {
    let server = pg(PgAuth::Scram, true);
    let db = unique("ctl");
    server
        .psql_superuser(
            "postgres",
            &format!("CREATE DATABASE {db} OWNER {}", server.opts.user),
        )
        .unwrap();
    std::env::set_var(CONTROL_PW_ENV, &server.opts.password);
    std::env::set_var(HOOK_ENV, std::str::from_utf8(HOOK_SECRET).unwrap());
    let hook = HookReceiver::start(200).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pg.pw"), &pg_scram().opts.password).unwrap();
    std::fs::write(dir.path().join("my.pw"), &mariadb_native().opts.password).unwrap();
    let ca = server.pki.as_ref().unwrap().ca_cert.clone();
    let other_ca =
        sluice::launcher::certs::TestPki::generate(&dir.path().join("other"), &["localhost"])
            .unwrap()
            .ca_cert;
    let node_config = |name: &str, ca: &std::path::Path| {
        let control = format!(
            "{}ca_file = {:?}\n",
            control_keys(server, &db, "verify-full"),
            ca
        );
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            config_text(&Shape::default(), name, &control, hook.addr),
        )
        .unwrap();
        path
    };
    // A certificate from another CA: the instance does not start, and says why.
    let log = Node::try_start("wrongca", node_config("wrongca", &other_ca))
        .err()
        .expect("an unverifiable control server is refused");
    assert!(
        log.contains("[cluster]") && log.contains("certificate"),
        "{log}"
    );
    // The right CA: it starts, registered over an encrypted connection.
    let _node = Node::start("tls1", node_config("tls1", &ca));
    let direct = pg_direct(server).await;
    let ssl: bool = direct
        .query_one(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name = 'sluice tls1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl);
}
