//! Upstream identities end to end, both protocols: `[[targets.identities]]` maps alice's group
//! (`analysts`) to a read-only database role made for the test, and bob (`dba`) stays on the
//! target's own user. Which role each session got is asked of the database itself
//! (`current_user` / `CURRENT_USER()`), privileges are the database's own, session settings take
//! effect, `require_identity` refuses users no identity fits, and the audit log names the role.

use mysql_async::prelude::*;
use sluice_tests::*;
use tokio_postgres::error::SqlState;

const KEY_ENV: &str = "SLUICE_TEST_IDENTITIES_AUDIT_KEY";

/// `[audit]` in the proxy's directory, so every session's start is recorded.
fn audit_config() -> String {
    std::env::set_var(KEY_ENV, "identities-test-key");
    format!("[audit]\ndir = \"audit\"\nflush_interval = \"10ms\"\nkey_env = \"{KEY_ENV}\"\n")
}

/// A password for a role, handed to sluice through an environment variable of its own.
fn password_env(role: &str) -> (String, String) {
    let (var, pw) = (
        format!("SLUICE_TEST_PW_{}", role.to_uppercase()),
        format!("{role}-pw"),
    );
    std::env::set_var(&var, &pw);
    (var, pw)
}

/// The `session_start` records of the proxy's audit log (read after it stopped), as
/// `(user, upstream_user)`.
fn session_starts(proxy: &Proxy) -> Vec<(String, Option<String>)> {
    let reader = audit::AuditReader::open(proxy.dir.path().join("audit")).unwrap();
    let mut out = Vec::new();
    audit::export_jsonl(&reader, &audit::Filter::default(), &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["kind"] == "session_start")
        .map(|r| {
            let user = r["user"].as_str().unwrap_or_default().to_string();
            (user, r["upstream_user"].as_str().map(str::to_string))
        })
        .collect()
}

/// Creates a login role that may read (and, with `write`, insert into) `schema.t`.
async fn pg_role(upstream: &PgServer, role: &str, password: &str, schema: &str, write: bool) {
    upstream
        .psql_superuser(
            "postgres",
            &format!("CREATE ROLE {role} LOGIN PASSWORD '{password}';"),
        )
        .unwrap_or_else(|e| panic!("create role {role}: {e:#}"));
    let grants = match write {
        true => "SELECT, INSERT",
        false => "SELECT",
    };
    pg_direct(upstream)
        .await
        .batch_execute(&format!(
            "GRANT USAGE ON SCHEMA {schema} TO {role}; GRANT {grants} ON {schema}.t TO {role};"
        ))
        .await
        .unwrap();
}

/// A schema with one table `t`, owned by the target's own user.
async fn pg_schema(upstream: &PgServer) -> String {
    let s = unique("ids");
    pg_direct(upstream)
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {s}; CREATE TABLE {s}.t (id int); INSERT INTO {s}.t VALUES (1);"
        ))
        .await
        .unwrap();
    s
}

async fn pg_one(client: &tokio_postgres::Client, sql: &str) -> String {
    client.query_one(sql, &[]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sessions_log_in_as_their_groups_role() {
    let upstream = pg_scram();
    let schema = pg_schema(upstream).await;
    let ro = unique("ro");
    let (var, pw) = password_env(&ro);
    pg_role(upstream, &ro, &pw, &schema, false).await;
    let extra = format!(
        "[[targets.identities]]\ngroups = [\"analy*\"]\nuser = \"{ro}\"\npassword_env = \"{var}\"\n\
         session_settings = {{ statement_timeout = \"4s\", search_path = \"{schema}, public\" }}\n\n{}",
        audit_config()
    );
    let mut proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: extra,
            ..ProxyOpts::default()
        },
    )
    .await;

    let alice = proxy.connect().await;
    assert_eq!(pg_one(&alice, "SELECT current_user::text").await, ro);
    // The settings are the session's defaults: in force, and again after DISCARD ALL.
    assert_eq!(pg_one(&alice, "SHOW statement_timeout").await, "4s");
    let n: i32 = alice
        .query_one("SELECT id FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "search_path finds the schema's table unqualified");
    alice
        .batch_execute("SET statement_timeout = '9s'")
        .await
        .unwrap();
    assert_eq!(pg_one(&alice, "SHOW statement_timeout").await, "9s");
    alice.batch_execute("DISCARD ALL").await.unwrap();
    assert_eq!(pg_one(&alice, "SHOW statement_timeout").await, "4s");
    // RESET ALL too: both settings return to the identity's, not the server's defaults.
    alice
        .batch_execute("SET search_path = public; SET statement_timeout = '8s'")
        .await
        .unwrap();
    assert_eq!(pg_one(&alice, "SHOW search_path").await, "public");
    alice.batch_execute("RESET ALL").await.unwrap();
    assert_eq!(pg_one(&alice, "SHOW statement_timeout").await, "4s");
    assert_eq!(
        pg_one(&alice, "SHOW search_path").await,
        format!("{schema}, public")
    );
    alice
        .batch_execute("SET search_path = public")
        .await
        .unwrap();
    alice.batch_execute("DISCARD ALL").await.unwrap();
    let n: i32 = alice
        .query_one("SELECT id FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        n, 1,
        "after DISCARD ALL the identity's search_path finds the table"
    );
    // The database itself refuses the read-only role's write.
    let err = alice
        .batch_execute(&format!("INSERT INTO {schema}.t VALUES (2)"))
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{err:?}"
    );

    let bob = proxy.try_connect(OTHER_USER, OTHER_PASSWORD).await.unwrap();
    assert_eq!(
        pg_one(&bob, "SELECT current_user::text").await,
        upstream.opts.user
    );
    assert_eq!(pg_one(&bob, "SHOW statement_timeout").await, "0");
    bob.batch_execute(&format!("INSERT INTO {schema}.t VALUES (3)"))
        .await
        .unwrap();

    drop((alice, bob));
    proxy.shutdown().await;
    let starts = session_starts(&proxy);
    assert!(
        starts.contains(&(USER.into(), Some(ro.clone()))),
        "{starts:?}"
    );
    assert!(
        starts.contains(&(OTHER_USER.into(), Some(upstream.opts.user.clone()))),
        "{starts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_require_identity_refuses_users_no_identity_fits() {
    let upstream = pg_scram();
    let schema = pg_schema(upstream).await;
    let rw = unique("rw");
    let (var, pw) = password_env(&rw);
    pg_role(upstream, &rw, &pw, &schema, true).await;
    let extra = format!(
        "[[targets.identities]]\ngroups = [\"dba\"]\nuser = \"{rw}\"\npassword_env = \"{var}\"\n"
    );
    let proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: format!("require_identity = true\n{extra}"),
            ..ProxyOpts::default()
        },
    )
    .await;
    let err = proxy.try_connect(USER, PASSWORD).await.unwrap_err();
    let db = err.as_db_error().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(
        db.code(),
        &SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
        "{db:?}"
    );
    assert!(
        db.message().contains("no upstream identity"),
        "{}",
        db.message()
    );
    let bob = proxy.try_connect(OTHER_USER, OTHER_PASSWORD).await.unwrap();
    assert_eq!(pg_one(&bob, "SELECT current_user::text").await, rw);
}

/// Creates a MariaDB account (over TCP from 127.0.0.1) that may read, or also insert into,
/// `shop`.
fn mysql_account(server: &MariaDbServer, user: &str, password: &str, write: bool) {
    let grants = match write {
        true => "SELECT, INSERT",
        false => "SELECT",
    };
    server
        .sql_root(
            None,
            &format!(
                "CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}';\n\
                 GRANT {grants} ON shop.* TO '{user}'@'127.0.0.1';\n"
            ),
        )
        .unwrap_or_else(|e| panic!("create account {user}: {e:#}"));
}

fn mysql_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

async fn mysql_one(conn: &mut mysql_async::Conn, sql: &str) -> String {
    let v: Option<String> = conn.query_first(sql).await.unwrap();
    v.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_sessions_log_in_as_their_groups_role() {
    let server = mariadb_native();
    let table = unique("ids");
    mysql_direct(server)
        .await
        .query_drop(format!("CREATE TABLE {table} (id int)"))
        .await
        .unwrap();
    let ro = unique("ro");
    let (var, pw) = password_env(&ro);
    mysql_account(server, &ro, &pw, false);
    let extra = format!(
        "[[targets.identities]]\ngroups = [\"analysts\"]\nuser = \"{ro}\"\npassword_env = \"{var}\"\n\
         session_settings = {{ sql_mode = \"STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION\", max_statement_time = 7 }}\n\n{}",
        audit_config()
    );
    let mut proxy = Proxy::start_mysql(
        server,
        ProxyOpts {
            extra_config: extra,
            ..ProxyOpts::default()
        },
    )
    .await;

    let mut alice = proxy.mysql().await;
    assert_eq!(
        mysql_one(&mut alice, "SELECT CURRENT_USER()").await,
        format!("{ro}@127.0.0.1")
    );
    assert_eq!(
        mysql_one(&mut alice, "SELECT @@SESSION.sql_mode").await,
        "STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION"
    );
    let time: f64 = alice
        .query_first("SELECT @@SESSION.max_statement_time")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(time, 7.0);
    let err = alice
        .query_drop(format!("INSERT INTO {table} VALUES (1)"))
        .await
        .unwrap_err();
    assert_eq!(mysql_code(&err), Some(1142), "{err}");

    let mut bob = proxy.mysql_as(OTHER_USER, OTHER_PASSWORD).await;
    let user = mysql_one(&mut bob, "SELECT CURRENT_USER()").await;
    assert!(
        user.starts_with(&format!("{}@", server.opts.user)),
        "{user}"
    );
    bob.query_drop(format!("INSERT INTO {table} VALUES (2)"))
        .await
        .unwrap();

    // COM_CHANGE_USER keeps the upstream connection: bob's session must not serve alice as
    // the target's own user. Her first statement ends it.
    let to_alice = mysql_async::ChangeUserOpts::default()
        .with_user(Some(USER.into()))
        .with_pass(Some(PASSWORD.into()));
    bob.change_user(to_alice).await.unwrap();
    let err = bob
        .query_drop(format!("INSERT INTO {table} VALUES (3)"))
        .await
        .unwrap_err();
    assert_eq!(mysql_code(&err), Some(1045), "{err}");
    assert!(err.to_string().contains("another database role"), "{err}");
    let rows: Vec<i32> = mysql_direct(server)
        .await
        .query(format!("SELECT id FROM {table} ORDER BY id"))
        .await
        .unwrap();
    assert_eq!(rows, [2]);

    drop((alice, bob));
    proxy.shutdown().await;
    let starts = session_starts(&proxy);
    assert!(
        starts.contains(&(USER.into(), Some(ro.clone()))),
        "{starts:?}"
    );
    assert!(
        starts.contains(&(OTHER_USER.into(), Some(server.opts.user.clone()))),
        "{starts:?}"
    );
}

/// A sluice in front of `server` (config starting with `before`) whose `groups` log in as a new
/// MySQL account (`write`: it may change rows); the proxy, the account and its password.
async fn mysql_identity(
    server: &MariaDbServer,
    before: &str,
    groups: &str,
    write: bool,
) -> (Proxy, String, String) {
    let name = unique(if write { "rw" } else { "ro" });
    let (var, pw) = password_env(&name);
    mysql_account(server, &name, &pw, write);
    let extra = format!(
        "{before}[[targets.identities]]\ngroups = [\"{groups}\"]\nuser = \"{name}\"\npassword_env = \"{var}\"\n"
    );
    let opts = ProxyOpts {
        extra_config: extra,
        ..ProxyOpts::default()
    };
    (Proxy::start_mysql(server, opts).await, name, pw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_require_identity_refuses_users_no_identity_fits() {
    let server = mariadb_native();
    let (proxy, rw, _) = mysql_identity(server, "require_identity = true\n", "d*", true).await;
    let err = mysql_async::Conn::new(mysql_opts(proxy.port(), USER, PASSWORD, Some("shop")))
        .await
        .unwrap_err();
    assert_eq!(mysql_code(&err), Some(1045), "{err}");
    assert!(err.to_string().contains("no upstream identity"), "{err}");
    let mut bob = proxy.mysql_as(OTHER_USER, OTHER_PASSWORD).await;
    assert_eq!(
        mysql_one(&mut bob, "SELECT CURRENT_USER()").await,
        format!("{rw}@127.0.0.1")
    );
}

/// The identity's settings of a MySQL session, as the database reports them:
/// `(sql_mode, wait_timeout)`.
async fn mysql_settings(conn: &mut mysql_async::Conn) -> (String, u64) {
    let row: Option<(String, u64)> = conn
        .query_first("SELECT @@SESSION.sql_mode, @@SESSION.wait_timeout")
        .await
        .unwrap();
    row.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_settings_are_sent_again_after_a_reset_and_a_change_of_user() {
    let server = mariadb_native();
    let ro = unique("ro");
    let (var, pw) = password_env(&ro);
    mysql_account(server, &ro, &pw, false);
    // Two analysts, so that COM_CHANGE_USER keeps the session's role.
    let carol = sluice::auth::hash_password("carol-pw");
    let extra = format!(
        "[[users]]\nname = \"carol\"\npassword_hash = \"{carol}\"\ngroups = [\"analysts\"]\n\n\
         [[targets.identities]]\ngroups = [\"analysts\"]\nuser = \"{ro}\"\npassword_env = \"{var}\"\n\
         session_settings = {{ sql_mode = \"NO_BACKSLASH_ESCAPES,STRICT_ALL_TABLES\", wait_timeout = 1234 }}\n"
    );
    let proxy = Proxy::start_mysql(
        server,
        ProxyOpts {
            extra_config: extra,
            ..ProxyOpts::default()
        },
    )
    .await;
    let wanted = ("NO_BACKSLASH_ESCAPES,STRICT_ALL_TABLES".to_string(), 1234);
    let mut alice = proxy.mysql().await;
    assert_eq!(mysql_settings(&mut alice).await, wanted);

    // The client changes both, then resets its session: the identity's values are back, not
    // the server's defaults.
    alice
        .query_drop("SET SESSION sql_mode = 'ANSI_QUOTES', SESSION wait_timeout = 99")
        .await
        .unwrap();
    assert_eq!(
        mysql_settings(&mut alice).await,
        ("ANSI_QUOTES".to_string(), 99)
    );
    assert!(
        alice.reset().await.unwrap(),
        "COM_RESET_CONNECTION was sent"
    );
    assert_eq!(mysql_settings(&mut alice).await, wanted);
    // Quoting still follows the session: with NO_BACKSLASH_ESCAPES back, '\' is a character.
    let text: String = alice.query_first("SELECT 'a\\b'").await.unwrap().unwrap();
    assert_eq!(text, "a\\b");

    // COM_CHANGE_USER resets the upstream session too; carol gets the same role, settings again.
    alice
        .query_drop("SET SESSION wait_timeout = 55")
        .await
        .unwrap();
    let to_carol = mysql_async::ChangeUserOpts::default()
        .with_user(Some("carol".into()))
        .with_pass(Some("carol-pw".into()));
    alice.change_user(to_carol).await.unwrap();
    assert_eq!(mysql_settings(&mut alice).await, wanted);
    assert_eq!(
        mysql_one(&mut alice, "SELECT CURRENT_USER()").await,
        format!("{ro}@127.0.0.1")
    );
}

/// `GET /metrics`, or `POST /api/reload` as bob (in `admin_groups` here): (status, body).
async fn admin(proxy: &Proxy, path: &str) -> (u16, String) {
    let url = format!(
        "http://{}{path}",
        proxy.server.as_ref().unwrap().admin_addr()
    );
    let http = reqwest::Client::new();
    let request = match path {
        "/metrics" => http.get(url),
        _ => http.post(url).basic_auth(OTHER_USER, Some(OTHER_PASSWORD)),
    };
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// `sluice_identity_sessions_total` of target `target` for `role`, 0 when absent.
async fn identity_sessions(proxy: &Proxy, target: &str, role: &str) -> u64 {
    let (status, body) = admin(proxy, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    let prefix = format!("sluice_identity_sessions_total{{target=\"{target}\",");
    let label = format!("identity=\"{role}\"}} ");
    body.lines()
        .find(|l| l.starts_with(&prefix) && l.contains(&label))
        .and_then(|l| l.rsplit(' ').next())
        .map(|n| n.parse().unwrap())
        .unwrap_or(0)
}

/// One `[[targets.identities]]` entry mapping analysts to `role` (password from its variable).
fn analysts_entry(role: &str) -> String {
    format!(
        "[[targets.identities]]\ngroups = [\"analysts\"]\nuser = \"{role}\"\npassword_env = \"SLUICE_TEST_PW_{}\"\n",
        role.to_uppercase()
    )
}

/// Rewrites the proxy's file with `to` in place of `from`, reloads through the API and points
/// the proxy at the target's new address (a changed target restarts); returns the reply.
async fn reload_replacing(proxy: &mut Proxy, target: &str, from: &str, to: &str) -> String {
    let file = proxy.dir.path().join("sluice.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(from));
    std::fs::write(&file, text.replace(from, to)).unwrap();
    let (status, body) = admin(proxy, "/api/reload").await;
    assert_eq!(status, 200, "{body}");
    proxy.addr = proxy.server.as_ref().unwrap().addr(target).unwrap();
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reload_maps_new_sessions_anew_and_metrics_count_each_identity() {
    let upstream = pg_scram();
    let schema = pg_schema(upstream).await;
    let (first, second) = (unique("ro"), unique("ro"));
    for role in [&first, &second] {
        let (_, pw) = password_env(role);
        pg_role(upstream, role, &pw, &schema, false).await;
    }
    let mut proxy = Proxy::start(
        upstream,
        ProxyOpts {
            server_extra: "admin_groups = [\"dba\"]\n".into(),
            extra_config: analysts_entry(&first),
            ..ProxyOpts::default()
        },
    )
    .await;
    let old = proxy.connect().await;
    assert_eq!(pg_one(&old, "SELECT current_user::text").await, first);
    let bob = proxy.try_connect(OTHER_USER, OTHER_PASSWORD).await.unwrap();
    let own = upstream.opts.user.clone();
    assert_eq!(pg_one(&bob, "SELECT current_user::text").await, own);
    assert_eq!(identity_sessions(&proxy, "pg", &first).await, 1);
    assert_eq!(identity_sessions(&proxy, "pg", &own).await, 1);

    let body = reload_replacing(
        &mut proxy,
        "pg",
        &analysts_entry(&first),
        &analysts_entry(&second),
    )
    .await;
    assert!(
        body.contains("identities: 1 mapping for target \"pg\"; open sessions keep theirs"),
        "{body}"
    );
    let new = proxy.connect().await;
    assert_eq!(pg_one(&new, "SELECT current_user::text").await, second);
    assert_eq!(
        pg_one(&old, "SELECT current_user::text").await,
        first,
        "the open session keeps its login"
    );
    assert_eq!(identity_sessions(&proxy, "pg", &first).await, 1);
    assert_eq!(identity_sessions(&proxy, "pg", &second).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_reload_maps_new_sessions_anew_and_metrics_count_each_identity() {
    let server = mariadb_native();
    let (first, second) = (unique("ro"), unique("ro"));
    for role in [&first, &second] {
        let (_, pw) = password_env(role);
        mysql_account(server, role, &pw, false);
    }
    let mut proxy = Proxy::start_mysql(
        server,
        ProxyOpts {
            server_extra: "admin_groups = [\"dba\"]\n".into(),
            extra_config: analysts_entry(&first),
            ..ProxyOpts::default()
        },
    )
    .await;
    let mut old = proxy.mysql().await;
    let role_of = |r: &str| format!("{r}@127.0.0.1");
    assert_eq!(
        mysql_one(&mut old, "SELECT CURRENT_USER()").await,
        role_of(&first)
    );
    let mut bob = proxy.mysql_as(OTHER_USER, OTHER_PASSWORD).await;
    let bob_is = mysql_one(&mut bob, "SELECT CURRENT_USER()").await;
    assert!(
        bob_is.starts_with(&format!("{}@", server.opts.user)),
        "{bob_is}"
    );
    assert_eq!(identity_sessions(&proxy, "my", &first).await, 1);
    assert_eq!(identity_sessions(&proxy, "my", &server.opts.user).await, 1);

    let body = reload_replacing(
        &mut proxy,
        "my",
        &analysts_entry(&first),
        &analysts_entry(&second),
    )
    .await;
    assert!(
        body.contains("identities: 1 mapping for target \"my\"; open sessions keep theirs"),
        "{body}"
    );
    let mut new = proxy.mysql().await;
    assert_eq!(
        mysql_one(&mut new, "SELECT CURRENT_USER()").await,
        role_of(&second)
    );
    assert_eq!(
        mysql_one(&mut old, "SELECT CURRENT_USER()").await,
        role_of(&first),
        "the open session keeps its login"
    );
    assert_eq!(identity_sessions(&proxy, "my", &first).await, 1);
    assert_eq!(identity_sessions(&proxy, "my", &second).await, 1);
}

/// The captured log lines that mention `needle`.
fn log_lines(needle: &str) -> Vec<String> {
    let logs = captured_logs();
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    text.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_identity_password_is_the_usual_unavailable_target_and_the_log_says_why() {
    let _ = captured_logs();
    let (upstream, schema) = (pg_scram(), pg_schema(pg_scram()).await);
    let server = mariadb_native();
    let role = unique("ro");
    let (var, pw) = password_env(&role);
    pg_role(upstream, &role, &pw, &schema, false).await;
    mysql_account(server, &role, &pw, false);
    // sluice is given another password than the role's.
    std::env::set_var(&var, "not-the-password");
    let opts = ProxyOpts {
        extra_config: analysts_entry(&role),
        ..ProxyOpts::default()
    };
    let pg_proxy = Proxy::start(upstream, opts.clone()).await;
    let err = pg_proxy.try_connect(USER, PASSWORD).await.unwrap_err();
    let db = err.as_db_error().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(db.code().code(), "08006", "{db:?}");
    assert!(
        db.message()
            .contains("target \"pg\" is unavailable: the database rejected sluice's credentials"),
        "{}",
        db.message()
    );
    let my_proxy = Proxy::start_mysql(server, opts).await;
    let err = mysql_async::Conn::new(mysql_opts(my_proxy.port(), USER, PASSWORD, Some("shop")))
        .await
        .unwrap_err();
    assert_eq!(mysql_code(&err), Some(1429), "{err}");
    assert!(
        err.to_string()
            .contains("target \"my\" is unavailable: the database rejected sluice's credentials"),
        "{err}"
    );
    // Only the log says why, naming the role; the password appears nowhere.
    let lines = log_lines(&format!("upstream_user={role}"));
    assert!(
        lines.iter().any(|l| l.contains("target=pg")
            && l.contains("upstream connection failed")
            && l.contains("password authentication failed")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("target=my")
            && l.contains("upstream login failed")
            && l.contains("Access denied")),
        "{lines:#?}"
    );
    assert!(log_lines("not-the-password").is_empty());
    // check --live fails on the identity it cannot log in as, and says which.
    for proxy in [&pg_proxy, &my_proxy] {
        let lines = sluice::server::check_upstreams(&proxy.config)
            .await
            .expect_err("an identity that cannot log in fails the check");
        let failed = format!("identity \"{role}\": FAILED: cannot log in: the database rejected sluice's credentials");
        assert!(lines.iter().any(|l| l.contains(&failed)), "{lines:#?}");
    }
}

/// `sluice check --live`'s lines for the proxy's config (it must find no failure).
async fn check_live(proxy: &Proxy) -> Vec<String> {
    sluice::server::check_upstreams(&proxy.config)
        .await
        .unwrap_or_else(|lines| panic!("check --live failed:\n{}", lines.join("\n")))
}

/// Identities for a restricted and a privileged role, both for masked groups.
fn two_identities(ro: &str, rw: &str, mask: &str) -> String {
    format!(
        "[[targets.identities]]\ngroups = [\"analysts\"]\nuser = \"{ro}\"\npassword_env = \"SLUICE_TEST_PW_{}\"\n\
         [[targets.identities]]\ngroups = [\"bi-*\"]\nuser = \"{rw}\"\npassword_env = \"SLUICE_TEST_PW_{}\"\n\n\
         [[masks]]\ncolumns = [\"{mask}\"]\nfunction = \"redact\"\nexcept_groups = [\"dba\"]\n",
        ro.to_uppercase(),
        rw.to_uppercase()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_check_live_reports_what_each_identity_may_do_on_masked_tables() {
    let upstream = pg_scram();
    let (db, ro, rw) = (unique("idcheck"), unique("ro"), unique("rw"));
    let app = upstream.opts.user.clone();
    let mut roles = String::new();
    for role in [&ro, &rw] {
        let (_, pw) = password_env(role);
        roles += &format!("CREATE ROLE {role} LOGIN PASSWORD '{pw}';\n");
    }
    upstream
        .psql_superuser("postgres", &format!("{roles}CREATE DATABASE {db};"))
        .unwrap();
    // The recommended grants for the restricted role: SELECT, no CREATE anywhere, and pg_stats
    // kept from PUBLIC; the privileged one may create in the schema and read pg_stats.
    upstream
        .psql_superuser(
            &db,
            &format!(
                "REVOKE CREATE ON SCHEMA public FROM PUBLIC; REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC;\n\
                 CREATE SCHEMA s; CREATE TABLE s.people (id int, ssn text);\n\
                 INSERT INTO s.people VALUES (1, '123-45-6789'); ANALYZE s.people;\n\
                 GRANT USAGE ON SCHEMA s TO {app}, {ro}, {rw}; GRANT SELECT ON s.people TO {app}, {ro}, {rw};\n\
                 GRANT CREATE ON SCHEMA s TO {rw};\n\
                 REVOKE SELECT ON pg_catalog.pg_stats FROM PUBLIC; GRANT SELECT ON pg_catalog.pg_stats TO {app}, {rw};\n"
            ),
        )
        .unwrap();
    let proxy = Proxy::start(
        upstream,
        ProxyOpts {
            database: Some(db.clone()),
            extra_config: two_identities(&ro, &rw, "s.people.ssn"),
            ..ProxyOpts::default()
        },
    )
    .await;
    let lines = check_live(&proxy).await;
    let restricted = format!("target \"pg\": identity \"{ro}\": logged in; 1 masked columns; SELECT on masked tables: s.people; may create in: none; pg_stats of masked columns: none");
    let privileged = format!("target \"pg\": identity \"{rw}\": logged in; 1 masked columns; SELECT on masked tables: s.people; may create in: s; pg_stats of masked columns: s.people.ssn");
    assert_report(
        &lines,
        [&restricted, &privileged],
        &rw,
        &[
            "may create tables or functions in s",
            "may read pg_stats of masked columns s.people.ssn",
        ],
    );
    // What the check says is what the database does.
    let as_ro = format!(
        "host=127.0.0.1 port={} user={ro} password={ro}-pw dbname={db}",
        upstream.port
    );
    let (ro_client, conn) = tokio_postgres::connect(&as_ro, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let err = ro_client
        .batch_execute("SELECT * FROM pg_stats")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{err:?}"
    );
    for create in [
        "CREATE TABLE s.copy (ssn text)",
        "CREATE TEMP TABLE copy (ssn text)",
    ] {
        let err = ro_client.batch_execute(create).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{create}: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_check_live_reports_what_each_identity_may_do_on_masked_tables() {
    let server = mariadb_native();
    let (table, ro, rw) = (unique("idcheck"), unique("ro"), unique("rw"));
    mysql_direct(server)
        .await
        .query_drop(format!("CREATE TABLE shop.{table} (id int, ssn text)"))
        .await
        .unwrap();
    for role in [&ro, &rw] {
        let (_, pw) = password_env(role);
        mysql_account(server, role, &pw, false);
    }
    server
        .sql_root(
            None,
            &format!(
                "GRANT CREATE, CREATE ROUTINE ON shop.* TO '{rw}'@'127.0.0.1';\n\
                 GRANT SELECT ON mysql.column_stats TO '{rw}'@'127.0.0.1';\n\
                 GRANT FILE ON *.* TO '{rw}'@'127.0.0.1';\n"
            ),
        )
        .unwrap();
    let proxy = Proxy::start_mysql(
        server,
        ProxyOpts {
            extra_config: two_identities(&ro, &rw, &format!("shop.{table}.ssn")),
            ..ProxyOpts::default()
        },
    )
    .await;
    let lines = check_live(&proxy).await;
    let restricted = format!("target \"my\": identity \"{ro}\": logged in; 1 masked columns; SELECT on masked tables: shop.{table}; may create in: none; mysql.column_stats of masked columns: none");
    let privileged = format!("target \"my\": identity \"{rw}\": logged in; 1 masked columns; SELECT on masked tables: shop.{table}; may create in: shop; mysql.column_stats of masked columns: shop.{table}.ssn; also: FILE");
    assert_report(
        &lines,
        [&restricted, &privileged],
        &rw,
        &[
            "may create tables or functions in shop",
            &format!("may read mysql.column_stats of masked columns shop.{table}.ssn"),
            "has FILE",
        ],
    );
}

/// `check --live` printed both identities' lines, and exactly these warnings about the
/// privileged one `rw`, in order.
fn assert_report(lines: &[String], identities: [&String; 2], rw: &str, warned: &[&str]) {
    let text = lines.join("\n");
    for line in identities {
        assert!(lines.contains(line), "{text}");
    }
    let warnings: Vec<&String> = lines.iter().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), warned.len(), "{text}");
    for (w, what) in warnings.iter().zip(warned) {
        assert!(
            w.contains(&format!("identity \"{rw}\" serves masked groups")) && w.contains(what),
            "{w} should say {what}: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_logs_analysts_in_as_a_role_that_may_only_select() {
    let setup = sluice::demo::prepare(sluice::demo::Listen {
        pg: "127.0.0.1:0",
        mysql: "127.0.0.1:0",
        admin: "127.0.0.1:0",
    })
    .await
    .unwrap_or_else(|e| panic!("demo: {e}"));
    let server = sluice::server::start(&setup.config).await.unwrap();
    let (pg_port, my_port) = (
        server.addr("demo-pg").unwrap().port(),
        server.addr("demo-mysql").unwrap().port(),
    );
    let role = sluice::demo::ANALYST_ROLE;
    let (db, shop) = (&setup.pg.opts.database, &setup.maria.opts.database);
    let pg_as = |user: &str, password: &str, port: u16| {
        format!("host=127.0.0.1 port={port} user={user} password={password} dbname={db}")
    };
    let connect = |conn_str: String| async move {
        let (c, conn) = tokio_postgres::connect(&conn_str, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c
    };

    // PostgreSQL: alice is the analysts' role, which the database itself keeps from CREATE.
    let alice = connect(pg_as("alice", "alice", pg_port)).await;
    assert_eq!(pg_one(&alice, "SELECT current_user::text").await, role);
    let ssn = pg_one(&alice, "SELECT ssn FROM customers WHERE id = 1").await;
    assert!(ssn.ends_with("6789") && ssn != "123-45-6789", "{ssn}");
    let err = alice
        .batch_execute("CREATE TABLE mine (n int)")
        .await
        .unwrap_err();
    let db_err = err.as_db_error().unwrap_or_else(|| panic!("{err:?}"));
    // Its text is withheld from a masked session, but the error is the database's own.
    assert_eq!(
        db_err.code(),
        &SqlState::INSUFFICIENT_PRIVILEGE,
        "{db_err:?}"
    );
    assert_eq!(
        db_err.routine(),
        Some("aclcheck_error"),
        "the database refuses it: {db_err:?}"
    );
    let dora = connect(pg_as("dora", "dora", pg_port)).await;
    assert_eq!(
        pg_one(&dora, "SELECT current_user::text").await,
        setup.pg.opts.user
    );
    // The role cannot read the statistics views either, asked directly.
    let pw = std::fs::read_to_string(setup.dir.path().join("analyst.pw")).unwrap();
    let direct = connect(pg_as(role, &pw, setup.pg.port)).await;
    let err = direct
        .batch_execute("SELECT * FROM pg_stats")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&SqlState::INSUFFICIENT_PRIVILEGE),
        "{err:?}"
    );

    // MariaDB: the same role, SELECT only.
    let mut alice = mysql_async::Conn::new(mysql_opts(my_port, "alice", "alice", Some(shop)))
        .await
        .unwrap();
    assert_eq!(
        mysql_one(&mut alice, "SELECT CURRENT_USER()").await,
        format!("{role}@127.0.0.1")
    );
    let err = alice
        .query_drop("CREATE TABLE mine (n int)")
        .await
        .unwrap_err();
    assert_eq!(mysql_code(&err), Some(1142), "{err}");
    let mut direct = mysql_async::Conn::new(mysql_opts(setup.maria.port, role, &pw, Some(shop)))
        .await
        .unwrap();
    let err = direct
        .query_drop("SELECT * FROM mysql.column_stats")
        .await
        .unwrap_err();
    assert_eq!(mysql_code(&err), Some(1142), "{err}");

    // check --live finds nothing to warn about for the demo's identities.
    let lines = sluice::server::check_upstreams(&setup.config)
        .await
        .unwrap_or_else(|l| panic!("{}", l.join("\n")));
    let text = lines.join("\n");
    for expected in [
        format!("target \"demo-pg\": identity \"{role}\": logged in; 5 masked columns; SELECT on masked tables: public.customers, public.employees; may create in: none; pg_stats of masked columns: none"),
        format!("target \"demo-mysql\": identity \"{role}\": logged in; 5 masked columns; SELECT on masked tables: {shop}.customers, {shop}.employees; may create in: none; mysql.column_stats of masked columns: none"),
    ] {
        assert!(lines.contains(&expected), "{expected}\nnot in\n{text}");
    }
    assert!(!text.contains("warning:"), "{text}");
    server.shutdown().await;
}

/// Found by the black-box round on identities: a role may change its own password (and then
/// log in directly, unmasked, locking every other analyst out), and MySQL's `SHOW GRANTS`
/// shows the login's password hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_cannot_change_or_see_the_login_sluice_uses() {
    let server = mariadb_native();
    let (proxy, ro, pw) = mysql_identity(server, "", "analysts", false).await;
    let mut alice = proxy.mysql().await;
    for sql in [
        "SET PASSWORD = PASSWORD('x')".to_string(),
        format!("SET PASSWORD FOR '{ro}'@'%' = PASSWORD('x')"),
        "ALTER USER CURRENT_USER() IDENTIFIED BY 'x'".to_string(),
    ] {
        let err = alice.query_drop(&sql).await.expect_err(&sql);
        assert_eq!(mysql_code(&err), Some(1142), "{sql}: {err}");
    }
    let grants: Vec<String> = alice.query("SHOW GRANTS").await.unwrap();
    assert!(
        grants
            .iter()
            .any(|g| g.contains("IDENTIFIED BY PASSWORD '<hidden by sluice>'")),
        "{grants:?}"
    );
    assert!(!grants.iter().any(|g| g.contains("'*")), "{grants:?}");
    // The role's own password still works: nothing was changed.
    let mut direct = mysql_async::Conn::new(mysql_opts(server.port, &ro, &pw, None))
        .await
        .expect("the identity's password is unchanged");
    direct.query_drop("SELECT 1").await.unwrap();

    let upstream = pg_scram();
    let schema = pg_schema(upstream).await;
    let pg_ro = unique("ro");
    let (var, pw) = password_env(&pg_ro);
    pg_role(upstream, &pg_ro, &pw, &schema, false).await;
    let proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: format!(
                "[[targets.identities]]\ngroups = [\"analysts\"]\nuser = \"{pg_ro}\"\npassword_env = \"{var}\"\n"
            ),
            ..ProxyOpts::default()
        },
    )
    .await;
    let alice = proxy.connect().await;
    for sql in [
        format!("ALTER ROLE {pg_ro} PASSWORD 'x'"),
        "ALTER USER CURRENT_USER PASSWORD 'x'".to_string(),
        format!("ALTER ROLE {pg_ro} SET statement_timeout = 1"),
    ] {
        let err = alice.simple_query(&sql).await.expect_err(&sql);
        assert_eq!(
            err.as_db_error().map(|d| d.code().code()),
            Some("42501"),
            "{sql}: {err}"
        );
    }
}
