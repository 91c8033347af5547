//! The admin listener: liveness, readiness, and Prometheus metrics that count what happened.

use sluice_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A plain HTTP/1.1 GET; returns (status, body).
async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: sluice\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let opts = ProxyOpts {
        extra_config: "[[rules]]\nname = \"no-drop\"\nwhen = { statements = [\"drop\"] }\naction = \"block\"\n".into(),
        ..ProxyOpts::default()
    };
    let mut proxy = Proxy::start(pg_scram(), opts).await;
    let admin = proxy.server.as_ref().unwrap().admin_addr();
    assert_eq!(get(admin, "/healthz").await, (200, "ok\n".to_string()));
    assert_eq!(get(admin, "/readyz").await, (200, "ready\n".to_string()));

    assert!(proxy.try_connect(USER, "wrong").await.is_err());
    let client = proxy.connect().await;
    assert!(client
        .batch_execute("DROP TABLE nothing_here")
        .await
        .is_err());

    let (status, body) = get(admin, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "sluice_sessions_active{target=\"pg\",protocol=\"postgres\"} 1",
        "sluice_sessions_total{target=\"pg\",protocol=\"postgres\"} 1",
        "sluice_auth_failures_total{target=\"pg\",protocol=\"postgres\"} 1",
        "sluice_statements_refused_total{target=\"pg\",protocol=\"postgres\"} 1",
        "# TYPE sluice_sessions_total counter",
    ] {
        assert!(
            body.lines().any(|l| l == line),
            "missing {line:?} in\n{body}"
        );
    }
    drop(client);
    proxy.shutdown().await;
    assert!(
        TcpStream::connect(admin).await.is_err(),
        "the admin listener stops with sluice"
    );
}

/// A plain HTTP/1.1 request with an empty body, optionally with basic credentials; returns
/// (status, body).
async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = auth
        .map(|(u, p)| {
            use base64::Engine;
            let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            format!("Authorization: Basic {b}\r\n")
        })
        .unwrap_or_default();
    s.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: sluice\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `POST` as bob, who is in `admin_groups` in these tests.
async fn post(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    request(addr, "POST", path, Some((OTHER_USER, OTHER_PASSWORD))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_requires_an_admin_except_for_health_and_metrics() {
    let opts = ProxyOpts {
        server_extra: "admin_groups = [\"dba\"]\n".into(),
        ..ProxyOpts::default()
    };
    let mut proxy = Proxy::start(pg_scram(), opts).await;
    let admin = proxy.server.as_ref().unwrap().admin_addr();
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            request(admin, "GET", path, None).await.0,
            200,
            "{path} is public"
        );
    }
    let (status, body) = request(admin, "POST", "/api/reload", None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = request(admin, "POST", "/api/reload", Some((OTHER_USER, "wrong"))).await;
    assert_eq!(status, 401);
    let (status, body) = request(admin, "POST", "/api/reload", Some((USER, PASSWORD))).await;
    assert_eq!(status, 403, "alice is no admin: {body}");
    assert!(body.contains("admin_groups"), "{body}");
    let (status, body) = post(admin, "/api/reload").await;
    assert_eq!(status, 200, "bob is: {body}");
    proxy.shutdown().await;

    // admin_public = [] protects the metrics too.
    let opts = ProxyOpts {
        server_extra: "admin_groups = [\"dba\"]\nadmin_public = [\"/healthz\"]\n".into(),
        ..ProxyOpts::default()
    };
    let mut proxy = Proxy::start(pg_scram(), opts).await;
    let admin = proxy.server.as_ref().unwrap().admin_addr();
    assert_eq!(request(admin, "GET", "/healthz", None).await.0, 200);
    assert_eq!(request(admin, "GET", "/metrics", None).await.0, 401);
    let (status, body) =
        request(admin, "GET", "/metrics", Some((OTHER_USER, OTHER_PASSWORD))).await;
    assert_eq!(status, 200);
    assert!(body.contains("sluice_sessions_total"), "{body}");
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_changes_rules_and_users_without_dropping_sessions() {
    let opts = ProxyOpts {
        server_extra: "admin_groups = [\"dba\"]\n".into(),
        extra_config: "[[rules]]\nname = \"no-drop\"\nwhen = { statements = [\"drop\"] }\naction = \"block\"\n".into(),
        ..ProxyOpts::default()
    };
    let mut proxy = Proxy::start(pg_scram(), opts).await;
    let admin = proxy.server.as_ref().unwrap().admin_addr();
    let file = proxy.dir.path().join("sluice.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    let client = proxy.connect().await;
    client
        .batch_execute("CREATE TEMP TABLE before_reload (n int)")
        .await
        .expect("creating tables is allowed before the reload");
    assert!(
        proxy.try_connect("carol", "carol-pw").await.is_err(),
        "carol is not a user yet"
    );

    let added = format!(
        "{original}\n[[rules]]\nname = \"no-create\"\nwhen = {{ statements = [\"create\"] }}\naction = \"block\"\nmessage = \"no new tables\"\n\n[[users]]\nname = \"carol\"\npassword_hash = \"{}\"\ngroups = []\n",
        sluice::auth::hash_password("carol-pw")
    );
    std::fs::write(&file, &added).unwrap();
    let (status, body) = post(admin, "/api/reload").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("2 rules"), "{body}");

    // The open session sees the new rule at its next statement.
    let err = client
        .batch_execute("CREATE TEMP TABLE after_reload (n int)")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE)
    );
    let msg = err.as_db_error().map(|e| e.message().to_string());
    assert!(
        msg.as_deref()
            .is_some_and(|m| m.contains("no-create") && m.contains("no new tables")),
        "{msg:?}"
    );
    let carol = proxy
        .try_connect("carol", "carol-pw")
        .await
        .expect("a user added by the reload can log in");
    let one: i32 = carol.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);

    // An invalid file is rejected with the reason, and the running config stays.
    std::fs::write(
        &file,
        format!("{added}\n[[rules]]\nname = \"typo\"\nwhenn = {{}}\naction = \"block\"\n"),
    )
    .unwrap();
    let (status, body) = post(admin, "/api/reload").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("whenn"),
        "the error names the bad key: {body}"
    );
    assert!(client
        .batch_execute("CREATE TEMP TABLE still_blocked (n int)")
        .await
        .is_err());
    assert!(proxy.try_connect("carol", "carol-pw").await.is_ok());

    // Removing a user takes effect for new logins; the open session goes on.
    std::fs::write(&file, &original).unwrap();
    let (status, body) = post(admin, "/api/reload").await;
    assert_eq!(status, 200, "{body}");
    assert!(proxy.try_connect("carol", "carol-pw").await.is_err());
    let one: i32 = carol.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1, "sessions opened before the reload are not dropped");
    client
        .batch_execute("CREATE TEMP TABLE allowed_again (n int)")
        .await
        .expect("the rule removed by the reload no longer applies");
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_a_scripted_workload_did() {
    let upstream = pg_scram();
    let schema = unique("metrics");
    let direct = pg_direct(upstream).await;
    direct
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {schema}.people (ssn text, note text);
             INSERT INTO {schema}.people VALUES ('123-45-6789', 'write to ann@example.com'), ('987-65-4321', 'nothing')"
        ))
        .await
        .unwrap();
    let opts = ProxyOpts {
        max_connections: 2,
        extra_config: format!(
            r#"
[[rules]]
name = "no-drop"
when = {{ statements = ["drop"] }}
action = "block"

[[masks]]
columns = ["{schema}.people.ssn"]
function = "partial"
keep_last = 4

[[detectors]]
kinds = ["email"]
function = "redact"
"#
        ),
        ..ProxyOpts::default()
    };
    let mut proxy = Proxy::start(upstream, opts).await;
    let admin = proxy.server.as_ref().unwrap().admin_addr();

    let a = proxy.connect().await;
    let b = proxy.connect().await;
    assert!(
        proxy.try_connect(USER, PASSWORD).await.is_err(),
        "over max_connections"
    );
    drop(b);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(proxy.try_connect(USER, "wrong").await.is_err());
    for _ in 0..3 {
        a.simple_query("SELECT 1").await.unwrap();
    }
    assert!(a.batch_execute("DROP TABLE nothing_here").await.is_err());
    a.batch_execute(&format!(
        "INSERT INTO {schema}.people VALUES ('000-00-0000', 'x')"
    ))
    .await
    .unwrap();
    let rows = a
        .simple_query(&format!(
            "SELECT ssn, note FROM {schema}.people WHERE ssn <> '000-00-0000'"
        ))
        .await
        .unwrap();
    let rows = rows
        .iter()
        .filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))
        .count();
    assert_eq!(rows, 2);

    let (status, body) = request(admin, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    let l = "target=\"pg\",protocol=\"postgres\"";
    for line in [
        format!("sluice_sessions_active{{{l}}} 1"),
        format!("sluice_sessions_total{{{l}}} 2"),
        format!("sluice_auth_failures_total{{{l}}} 1"),
        format!("sluice_connections_refused_total{{{l}}} 1"),
        format!("sluice_statements_refused_total{{{l}}} 1"),
        format!("sluice_statements_total{{{l},kind=\"select\",verdict=\"allow\"}} 4"),
        format!("sluice_statements_total{{{l},kind=\"drop\",verdict=\"block\"}} 1"),
        format!("sluice_statements_total{{{l},kind=\"insert\",verdict=\"allow\"}} 1"),
        format!("sluice_masked_values_total{{{l},mask=\"partial\"}} 2"),
        format!("sluice_detector_hits_total{{{l},kind=\"email\"}} 1"),
        format!("sluice_upstream_connect_seconds_count{{{l}}} 2"),
    ] {
        assert!(
            body.lines().any(|x| x == line),
            "missing {line:?} in\n{body}"
        );
    }
    let value = |name: &str| -> f64 {
        body.lines()
            .find_map(|x| x.strip_prefix(&format!("{name}{{{l}}} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{body}"))
    };
    assert!(value("sluice_upstream_connect_seconds_sum") > 0.0);
    assert!(value("sluice_client_bytes_sent_total") > 100.0);
    assert!(value("sluice_upstream_bytes_sent_total") > 100.0);
    drop(a);
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_changes_masks_and_listeners_under_open_sessions_and_is_audited() {
    let upstream = pg_scram();
    let schema = unique("reload");
    let direct = pg_direct(upstream).await;
    direct
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {schema}.people (ssn text); INSERT INTO {schema}.people VALUES ('123-45-6789')"
        ))
        .await
        .unwrap();
    std::env::set_var("SLUICE_TEST_RELOAD_AUDIT_KEY", "reload-key");
    let mask = |function: &str| {
        format!("\n[[masks]]\ncolumns = [\"{schema}.people.ssn\"]\nfunction = \"{function}\"\n")
    };
    let opts = ProxyOpts {
        server_extra: "admin_groups = [\"dba\"]\n".into(),
        extra_config: format!(
            "[audit]\ndir = \"audit\"\nflush_interval = \"10ms\"\nkey_env = \"SLUICE_TEST_RELOAD_AUDIT_KEY\"\n{}",
            mask("redact")
        ),
        ..ProxyOpts::default()
    };
    let mut proxy = Proxy::start(upstream, opts).await;
    let admin = proxy.server.as_ref().unwrap().admin_addr();
    let file = proxy.dir.path().join("sluice.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    let client = proxy.connect().await;
    let select = format!("SELECT ssn FROM {schema}.people");
    let first: String = client.query_one(&select, &[]).await.unwrap().get(0);
    assert_ne!(first, "123-45-6789");

    // A changed mask applies to the open session's next statement.
    let partial = original.replace(
        &mask("redact"),
        &format!("{}keep_last = 4\n", mask("partial")),
    );
    std::fs::write(&file, &partial).unwrap();
    let (status, body) = post(admin, "/api/reload").await;
    assert_eq!(status, 200, "{body}");
    let second: String = client.query_one(&select, &[]).await.unwrap().get(0);
    assert!(
        second.ends_with("6789") && second != "123-45-6789",
        "{second}"
    );

    // A new target starts listening; the open session is not dropped.
    let block = partial
        .split("[[targets]]")
        .nth(1)
        .and_then(|t| t.split("\n\n").next())
        .unwrap()
        .to_string();
    let second_target = format!(
        "\n[[targets]]{}\n",
        block.replace("name = \"pg\"", "name = \"pg2\"")
    );
    std::fs::write(&file, format!("{partial}{second_target}")).unwrap();
    let (status, body) = post(admin, "/api/reload").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("added [\"pg2\"]"), "{body}");
    let pg2 = proxy
        .server
        .as_ref()
        .unwrap()
        .addr("pg2")
        .expect("pg2 listens");
    let conn_str = format!(
        "host=127.0.0.1 port={} user={USER} password={PASSWORD} dbname=app",
        pg2.port()
    );
    let (on_pg2, conn) = tokio_postgres::connect(&conn_str, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let masked: String = on_pg2.query_one(&select, &[]).await.unwrap().get(0);
    assert!(masked.ends_with("6789") && masked != "123-45-6789");

    // Removed again: it stops accepting, its open session goes on.
    std::fs::write(&file, &partial).unwrap();
    let (status, body) = post(admin, "/api/reload").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("removed [\"pg2\"]"), "{body}");
    assert!(tokio_postgres::connect(&conn_str, tokio_postgres::NoTls)
        .await
        .is_err());
    let one: i32 = on_pg2.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);

    // A file that does not parse changes nothing: the partial mask is still in force.
    std::fs::write(
        &file,
        format!("{partial}\n[[masks]]\ncolumns = []\nfunction = \"nope\"\n"),
    )
    .unwrap();
    let (status, _) = post(admin, "/api/reload").await;
    assert_eq!(status, 400);
    let still: String = client.query_one(&select, &[]).await.unwrap().get(0);
    assert_eq!(still, second);

    // Each accepted reload is an audit record carrying the file's SHA-256, by the admin.
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(partial.as_bytes()));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let reader = audit::AuditReader::open(proxy.dir.path().join("audit")).unwrap();
    let filter = audit::Filter::default();
    let reloads: Vec<(String, String)> = reader
        .records(&filter)
        .filter_map(Result::ok)
        .filter_map(|r| match r.body {
            audit::RecordBody::Reload { config_hash } => Some((r.user, config_hash)),
            _ => None,
        })
        .collect();
    assert_eq!(reloads.len(), 3, "{reloads:?}");
    assert!(
        reloads.iter().all(|(by, _)| by == OTHER_USER),
        "{reloads:?}"
    );
    assert_eq!(reloads[2].1, hash);
    drop((client, on_pg2));
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_says_which_upstream_is_unreachable() {
    let port = sluice::launcher::free_port().unwrap();
    let spec = UpstreamSpec {
        protocol: "postgres",
        addr: format!("127.0.0.1:{port}"),
        user: "app".into(),
        password: "pw".into(),
        database: "app".into(),
        ca: None,
    };
    let mut proxy = Proxy::try_start(spec, ProxyOpts::default()).await.unwrap();
    let admin = proxy.server.as_ref().unwrap().admin_addr();
    let (status, body) = request(admin, "GET", "/readyz", None).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("target \"pg\"") && body.contains(&port.to_string()),
        "{body}"
    );
    assert_eq!(
        request(admin, "GET", "/healthz", None).await.0,
        200,
        "alive all the same"
    );
    proxy.shutdown().await;
}
