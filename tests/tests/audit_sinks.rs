//! Central audit (issue 28, part B) end to end: three sluice instances — two in this process,
//! one a process of its own that is `kill -9`ed — ship their audit logs to a throwaway central
//! PostgreSQL. Sessions through all three appear centrally with none missing or duplicated
//! after a sink outage and after crashes (and a rewound cursor, as a crash between delivery
//! and the cursor write leaves it); `verify --store` passes and names a tampered, a forged and
//! a deleted row; `/readyz` and the lag metrics report the outage. The HTTP sink delivers to a
//! receiver in this test in each of its three formats, with ids that are the same when a batch
//! is retried.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice::audit_cli::{FilterArgs, KeySource};
use sluice::audit_store_cli::{self, StoreSource};
use sluice::shipper::pg_conn::PgStore;
use sluice_tests::*;
use tokio_postgres::NoTls;

const KEY_ENV: &str = "SLUICE_SINKS_TEST_KEY";
const KEY: &str = "sinks-test-key";
const PW_ENV: &str = "SLUICE_SINKS_TEST_CENTRAL_PW";
const HEADER_ENV: &str = "SLUICE_SINKS_TEST_HEADER";

fn set_env(central_password: &str) {
    std::env::set_var(KEY_ENV, KEY);
    std::env::set_var(PW_ENV, central_password);
    std::env::set_var(HEADER_ENV, "Authorization: Splunk test-token");
}

fn central_url(central: &PgServer) -> String {
    format!(
        "postgres://{}@{}/{}",
        central.opts.user,
        central.addr(),
        central.opts.database
    )
}

/// `[audit]` (its keys continue the section) with this instance's name and the central sink.
fn audit_with_sink(central: &PgServer, instance: &str) -> String {
    format!(
        "{}instance = \"{instance}\"\n\n[[audit.sinks]]\nname = \"central\"\nkind = \"postgres\"\nurl = \"{}\"\npassword_env = \"{PW_ENV}\"\ntls = \"verify-full\"\nca_file = {:?}\ntimeout = \"2s\"\nmax_lag = \"1s\"\n",
        audit_section(KEY_ENV),
        central_url(central),
        central.pki.as_ref().expect("the central store has TLS").ca_cert
    )
}

async fn central_client(central: &PgServer) -> tokio_postgres::Client {
    let conn = format!(
        "host=127.0.0.1 port={} user={} password={} dbname={}",
        central.port, central.opts.user, central.opts.password, central.opts.database
    );
    let (client, conn) = tokio_postgres::connect(&conn, NoTls)
        .await
        .expect("central store");
    tokio::spawn(conn);
    client
}

/// Records in a local audit directory.
fn local_records(dir: &Path) -> Vec<audit::Record> {
    let reader = audit::AuditReader::open(dir).expect("audit dir");
    let records: Vec<audit::Record> = reader
        .records(&audit::Filter::default())
        .collect::<Result<_, _>>()
        .expect("local log readable");
    records
}

/// (rows, distinct seqs, max seq) of `instance` in the central store; nothing while no sink
/// has created its tables yet (a sink migrates when it first has records to ship).
async fn central_counts(client: &tokio_postgres::Client, instance: &str) -> (i64, i64, i64) {
    let counted = client
        .query_one(
            "SELECT count(*), count(DISTINCT seq), coalesce(max(seq), 0) FROM sluice_audit_records WHERE instance = $1",
            &[&instance],
        )
        .await;
    match counted {
        Ok(row) => (row.get(0), row.get(1), row.get(2)),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => (0, 0, 0),
        Err(e) => panic!("count: {e:?}"),
    }
}

/// Waits until the central store holds exactly the local log of `instance`, record for record
/// (same seqs, same stored bytes), none twice.
async fn wait_mirrored(central: &PgServer, instance: &str, dir: &Path) {
    let client = central_client(central).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let local = local_records(dir);
        let (rows, distinct, max) = central_counts(&client, instance).await;
        assert_eq!(
            rows, distinct,
            "{instance}: a record is stored twice centrally"
        );
        if !local.is_empty() && rows == local.len() as i64 && max == local.len() as i64 {
            let stored: Vec<String> = client
                .query(
                    "SELECT record FROM sluice_audit_records WHERE instance = $1 ORDER BY seq",
                    &[&instance],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            let want: Vec<String> = local
                .iter()
                .map(|r| String::from_utf8(r.stored_bytes()).unwrap())
                .collect();
            assert_eq!(
                stored, want,
                "{instance}: central rows differ from the local log"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{instance}: central has {rows} rows (max seq {max}), the local log {}",
            local.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the local log holds `n` session ends.
async fn wait_local_ends(dir: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while local_records(dir)
        .iter()
        .filter(|r| r.body.kind() == "session_end")
        .count()
        < n
    {
        assert!(
            Instant::now() < deadline,
            "session ends not recorded locally"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A session through sluice at `port` running `statements`, then closed.
async fn session(port: u16, statements: &[String]) {
    let conn = format!("host=127.0.0.1 port={port} user={USER} password={PASSWORD} dbname=app");
    let (client, conn) = tokio_postgres::connect(&conn, NoTls)
        .await
        .expect("connect through sluice");
    let task = tokio::spawn(conn);
    for s in statements {
        client
            .simple_query(s)
            .await
            .expect("statement through sluice");
    }
    drop(client);
    let _ = task.await;
}

fn statements(tag: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("SELECT 'row {i}' AS {tag}"))
        .collect()
}

/// A sluice process (the instance that gets `kill -9`ed).
struct Instance {
    child: Child,
    port: u16,
    admin: String,
}

fn write_process_config(dir: &Path, upstream: &PgServer, central: &PgServer) -> PathBuf {
    std::fs::write(
        dir.join("upstream.pw"),
        format!("{}\n", upstream.opts.password),
    )
    .unwrap();
    let text = format!(
        "[server]\nadmin_listen = \"127.0.0.1:0\"\n\n[[users]]\nname = \"{USER}\"\npassword_hash = \"{}\"\ngroups = [\"analysts\"]\n\n[[targets]]\nname = \"pg\"\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{}\"\nuser = \"{}\"\npassword_file = \"upstream.pw\"\nupstream_tls = \"disable\"\n\n{}",
        sluice::auth::hash_password(PASSWORD),
        upstream.addr(),
        upstream.opts.user,
        audit_with_sink(central, "c")
    );
    let path = dir.join("sluice.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn spawn_instance(config: &Path) -> Instance {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice_instance"))
        .arg(config)
        .arg("pg")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sluice_instance starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("sluice_instance says where it listens");
    let parts: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        parts.first(),
        Some(&"listening"),
        "sluice_instance: {line:?}"
    );
    let port = parts[1].rsplit_once(':').unwrap().1.parse().unwrap();
    Instance {
        child,
        port,
        admin: parts[2].to_string(),
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn store_source(central: &PgServer) -> StoreSource {
    let url = format!("{}?sslmode=require", central_url(central));
    StoreSource {
        store: PgStore::new(&url, Some(PW_ENV), None, None).unwrap(),
        key: KeySource::Env(KEY_ENV.into()),
        instance: None,
    }
}

async fn verify_store(central: &PgServer) -> (u8, String) {
    let mut out = Vec::new();
    let code = audit_store_cli::verify(&store_source(central), &mut out)
        .await
        .expect("verify runs");
    (code, String::from_utf8(out).unwrap())
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("admin API answers");
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A seq of `instance` holding a statement record.
async fn a_statement_seq(client: &tokio_postgres::Client, instance: &str, nth: i64) -> i64 {
    client
        .query_one(
            "SELECT seq FROM sluice_audit_records WHERE instance = $1 AND kind = 'statement' ORDER BY seq OFFSET $2 LIMIT 1",
            &[&instance, &nth],
        )
        .await
        .unwrap()
        .get(0)
}

/// Three instances migrating a fresh database at once apply each migration once.
async fn migrations_apply_once_with_concurrent_starts(central: &PgServer) {
    central
        .psql_superuser(
            "postgres",
            &format!("CREATE DATABASE fresh OWNER {};", central.opts.user),
        )
        .unwrap();
    let url = format!("postgres://{}@{}/fresh", central.opts.user, central.addr());
    let store = PgStore::new(&url, Some(PW_ENV), None, None).unwrap();
    let runs = (0..3).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut client = store.connect().await.unwrap();
            sluice::shipper::pg_sink::migrate(&mut client).await
        })
    });
    for r in futures_util::future::join_all(runs).await {
        r.unwrap().expect("a concurrent migration succeeds");
    }
    let client = store.connect().await.unwrap();
    let versions: Vec<i32> = client
        .query(
            "SELECT version FROM sluice_audit_schema ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let want: Vec<i32> = sluice::shipper::pg_sink::MIGRATIONS
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(versions, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_ship_to_central_postgres_through_outage_and_crashes() {
    let upstream = pg_scram();
    let mut central = PgServer::start(PgOptions {
        tls: true,
        ..PgOptions::default()
    })
    .expect("central PostgreSQL");
    set_env(&central.opts.password);
    let opts = |instance: &str| ProxyOpts {
        extra_config: audit_with_sink(&central, instance),
        ..ProxyOpts::default()
    };
    migrations_apply_once_with_concurrent_starts(&central).await;
    let a = Proxy::start(upstream, opts("a")).await;
    let b = Proxy::start(upstream, opts("b")).await;
    let c_dir = tempfile::tempdir().unwrap();
    let c_config = write_process_config(c_dir.path(), upstream, &central);
    let mut c = spawn_instance(&c_config);
    let dirs: BTreeMap<&str, PathBuf> = [
        ("a", a.dir.path().join("audit")),
        ("b", b.dir.path().join("audit")),
        ("c", c_dir.path().join("audit")),
    ]
    .into();

    // Sessions through all three, shipped.
    for (port, tag) in [(a.port(), "a"), (b.port(), "b"), (c.port, "c")] {
        session(port, &statements(tag, 3)).await;
    }
    for (name, dir) in &dirs {
        wait_mirrored(&central, name, dir).await;
    }
    let client = central_client(&central).await;
    let partitions: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'sluice_audit_records'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(partitions >= 1, "records go into day partitions");
    let tls_sinks: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND application_name = 'sluice-audit' AND datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        tls_sinks, 3,
        "each instance's sink connects with TLS (verify-full)"
    );
    drop(client);

    // The central store goes down: statements go on, lag shows, readiness fails.
    central.stop().unwrap();
    for (port, tag) in [(a.port(), "a"), (b.port(), "b"), (c.port, "c")] {
        session(port, &statements(tag, 2)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let admin_a = format!("http://{}", a.server.as_ref().unwrap().admin_addr());
    let (status, body) = get(&format!("{admin_a}/readyz")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("audit sink \"central\" lags"), "{body}");
    let (_, metrics) = get(&format!("{admin_a}/metrics")).await;
    let lag: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sluice_audit_sink_lag_records{sink=\"central\"} "))
        .expect("lag metric")
        .parse()
        .unwrap();
    assert!(lag > 0, "{metrics}");
    central.restart().unwrap();
    for (name, dir) in &dirs {
        wait_mirrored(&central, name, dir).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get(&format!("{admin_a}/readyz")).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ready again once caught up: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // kill -9 right after a session, and again with the cursor rewound (a crash between a
    // delivery and its cursor write): nothing is lost, nothing stored twice.
    session(c.port, &statements("c", 4)).await;
    // Killed once the session is in its local log (async mode may lose the last
    // flush_interval of records to a crash; the sink mirrors what the log kept).
    wait_local_ends(&dirs["c"], 3).await;
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    c = spawn_instance(&c_config);
    session(c.port, &statements("c", 1)).await;
    wait_mirrored(&central, "c", &dirs["c"]).await;
    c.child.kill().unwrap();
    c.child.wait().unwrap();
    std::fs::write(dirs["c"].join("ship-central.cursor"), "0\n").unwrap();
    c = spawn_instance(&c_config);
    let all = local_records(&dirs["c"]).len() as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, m) = get(&format!("http://{}/metrics", c.admin)).await;
        let shipped = m
            .lines()
            .find_map(|l| {
                l.strip_prefix("sluice_audit_sink_shipped_records_total{sink=\"central\"} ")
            })
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if shipped >= all {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rewound cursor re-sent {shipped} of {all}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_mirrored(&central, "c", &dirs["c"]).await;

    // The store across instances: sessions, export, replay, verify.
    let src = store_source(&central);
    let mut out = Vec::new();
    audit_store_cli::sessions(&src, &FilterArgs::default(), true, &mut out)
        .await
        .unwrap();
    let sessions: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let per_instance: BTreeMap<String, usize> =
        sessions.iter().fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s["instance"].as_str().unwrap().to_string())
                .or_default() += 1;
            m
        });
    assert_eq!(
        per_instance,
        [("a".into(), 2), ("b".into(), 2), ("c".into(), 4)].into()
    );
    assert!(
        sessions.iter().all(|s| !s["ended_at"].is_null()),
        "every session ended"
    );
    let mut out = Vec::new();
    let n = audit_store_cli::export(&src, &FilterArgs::default(), "jsonl", &mut out)
        .await
        .unwrap();
    let total: usize = dirs.values().map(|d| local_records(d).len()).sum();
    assert_eq!(n as usize, total);
    let ids: BTreeSet<(String, u64)> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["instance"].as_str().unwrap().to_string(),
                v["seq"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ids.len(), total, "export lines are distinct records");
    let a_session = sessions.iter().find(|s| s["instance"] == "a").unwrap()["session"]
        .as_u64()
        .unwrap();
    let mut out = Vec::new();
    let src_a = StoreSource {
        instance: Some("a".into()),
        ..store_source(&central)
    };
    audit_store_cli::replay(&src_a, a_session, None, &mut out)
        .await
        .unwrap();
    let transcript = String::from_utf8(out).unwrap();
    assert!(transcript.contains("session end"), "{transcript}");
    let (code, report) = verify_store(&central).await;
    assert_eq!(code, 0, "{report}");
    for i in ["a", "b", "c"] {
        assert!(
            report.contains(&format!("instance {i}: verified")),
            "{report}"
        );
    }

    // export --follow --store: everything shipped, then what instances ship next.
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let out = StopAfter {
        lines: Arc::clone(&lines),
        want: total + 3,
        buf: Vec::new(),
    };
    let src = store_source(&central);
    let mut out = out;
    let everything = FilterArgs::default();
    let follow = audit_store_cli::follow_store(&src, &everything, &mut out);
    let drive = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(
            lines.lock().unwrap().len(),
            total,
            "everything shipped first"
        );
        session(a.port(), &statements("a", 1)).await;
    };
    let (followed, ()) = tokio::time::timeout(Duration::from_secs(20), async {
        tokio::join!(follow, drive)
    })
    .await
    .expect("follow printed the newly shipped records");
    let err = followed.unwrap_err();
    assert_eq!(err.code, 0, "{err:?}");
    let followed: Vec<(String, u64)> = lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["instance"].as_str().unwrap().to_string(),
                v["seq"].as_u64().unwrap(),
            )
        })
        .collect();
    let first: BTreeSet<(String, u64)> = followed[..total].iter().cloned().collect();
    assert_eq!(first, ids, "the records shipped so far, each once");
    let a_before = followed[..total].iter().filter(|(i, _)| i == "a").count() as u64;
    let want: Vec<(String, u64)> = (a_before + 1..=a_before + 3)
        .map(|s| ("a".to_string(), s))
        .collect();
    assert_eq!(
        followed[total..].to_vec(),
        want,
        "then the new ones, in order"
    );
    wait_mirrored(&central, "a", &dirs["a"]).await;

    // Tampering is found and named: an edited column, a forged record, a deleted row, rows
    // deleted from the end.
    let client = central_client(&central).await;
    let seq = a_statement_seq(&client, "b", 1).await;
    let original: String = client
        .query_one(
            "SELECT statement FROM sluice_audit_records WHERE instance = 'b' AND seq = $1",
            &[&seq],
        )
        .await
        .unwrap()
        .get(0);
    client
        .execute("UPDATE sluice_audit_records SET statement = 'SELECT 42' WHERE instance = 'b' AND seq = $1", &[&seq])
        .await
        .unwrap();
    let (code, report) = verify_store(&central).await;
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains(&format!(
            "instance b: verification FAILED at record {seq}: column statement does not match"
        )),
        "{report}"
    );
    assert!(
        report.contains("instance a: verified") && report.contains("instance c: verified"),
        "{report}"
    );
    client
        .execute(
            "UPDATE sluice_audit_records SET statement = $2 WHERE instance = 'b' AND seq = $1",
            &[&seq, &original],
        )
        .await
        .unwrap();
    assert_eq!(verify_store(&central).await.0, 0);
    let seq = a_statement_seq(&client, "c", 2).await;
    client
        .execute("UPDATE sluice_audit_records SET record = replace(record, 'SELECT', 'select') WHERE instance = 'c' AND seq = $1", &[&seq])
        .await
        .unwrap();
    let (code, report) = verify_store(&central).await;
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains(&format!(
            "instance c: verification FAILED at record {seq}: hash does not match"
        )),
        "{report}"
    );
    let seq = a_statement_seq(&client, "a", 0).await;
    client
        .execute(
            "DELETE FROM sluice_audit_records WHERE instance = 'a' AND seq = $1",
            &[&seq],
        )
        .await
        .unwrap();
    let (_, report) = verify_store(&central).await;
    assert!(
        report.contains(&format!(
            "instance a: verification FAILED at record {}: gap: expected seq {seq}",
            seq + 1
        )) && report.contains(&format!("records {seq}..={seq} missing")),
        "{report}"
    );
    let last = local_records(&dirs["b"]).len() as i64;
    client
        .execute(
            "DELETE FROM sluice_audit_records WHERE instance = 'b' AND seq >= $1",
            &[&(last - 1)],
        )
        .await
        .unwrap();
    let (_, report) = verify_store(&central).await;
    assert!(
        report.contains(&format!(
            "instance b: verification FAILED at record {}: the rows end at seq {}, but the instance shipped through seq {last} (records {}..={last} missing: deleted from the end)",
            last - 1,
            last - 2,
            last - 1
        )),
        "{report}"
    );
}

/// What the test receiver got: (path, headers' authorization, body) per request.
type Received = Arc<Mutex<Vec<(String, String, String)>>>;

/// An HTTP receiver that answers the first request on each path with 503 (so the batch is
/// retried) and the rest with 200 (Elasticsearch's `_bulk` answer for `/bulk`).
async fn receiver() -> (String, Received) {
    use axum::extract::{Path as UrlPath, State};
    use axum::http::{HeaderMap, StatusCode};
    let got: Received = Arc::default();
    async fn take(
        State(got): State<Received>,
        UrlPath(path): UrlPath<String>,
        headers: HeaderMap,
        body: String,
    ) -> (StatusCode, String) {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut g = got.lock().unwrap();
        let first = !g.iter().any(|(p, _, _)| *p == path);
        g.push((path.clone(), auth, body));
        if path == "refuse" {
            return (StatusCode::BAD_REQUEST, "bad index".into());
        }
        if first {
            return (StatusCode::SERVICE_UNAVAILABLE, "warming up".into());
        }
        (StatusCode::OK, r#"{"errors":false,"items":[]}"#.into())
    }
    let app = axum::Router::new()
        .route("/{path}", axum::routing::post(take))
        .with_state(Arc::clone(&got));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), got)
}

fn http_sinks(base: &str) -> String {
    let mut s = format!("{}instance = \"h\"\n", audit_section(KEY_ENV));
    for (name, format) in [
        ("splunk", "splunk_hec"),
        ("bulk", "elasticsearch_bulk"),
        ("loki", "loki"),
    ] {
        s += &format!(
            "\n[[audit.sinks]]\nname = \"{name}\"\nkind = \"http\"\nurl = \"{base}/{name}\"\nformat = \"{format}\"\nheader_env = \"{HEADER_ENV}\"\nbatch_records = 4\ntimeout = \"2s\"\n"
        );
    }
    s + &format!(
        "\n[[audit.sinks]]\nname = \"refuse\"\nkind = \"http\"\nurl = \"{base}/refuse\"\nformat = \"loki\"\n"
    )
}

/// The ids in one request body of `format`.
fn ids_in(path: &str, body: &str) -> Vec<String> {
    match path {
        "splunk" => body
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("HEC event JSON");
                assert_eq!(v["host"], "h");
                assert_eq!(v["sourcetype"], "sluice:audit");
                assert!(v["time"].as_f64().unwrap() > 1.6e9, "{l}");
                assert_eq!(v["event"]["instance"], "h");
                v["event"]["id"].as_str().unwrap().to_string()
            })
            .collect(),
        "bulk" => {
            let lines: Vec<serde_json::Value> = body
                .lines()
                .map(|l| serde_json::from_str(l).expect("NDJSON"))
                .collect();
            assert_eq!(lines.len() % 2, 0, "action and document lines pair up");
            lines
                .chunks(2)
                .map(|pair| {
                    let id = pair[0]["index"]["_id"]
                        .as_str()
                        .expect("index action with _id");
                    assert_eq!(pair[1]["id"], id, "the document carries its _id");
                    assert!(pair[1]["kind"].is_string() && pair[1]["hash"].is_string());
                    id.to_string()
                })
                .collect()
        }
        "loki" => {
            let v: serde_json::Value = serde_json::from_str(body).expect("Loki push JSON");
            let streams = v["streams"].as_array().unwrap();
            assert_eq!(streams.len(), 1);
            assert_eq!(streams[0]["stream"]["instance"], "h");
            streams[0]["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|pair| {
                    let ns: i128 = pair[0].as_str().unwrap().parse().expect("ns timestamp");
                    assert!(ns > 1_600_000_000_000_000_000);
                    let line: serde_json::Value =
                        serde_json::from_str(pair[1].as_str().unwrap()).unwrap();
                    line["id"].as_str().unwrap().to_string()
                })
                .collect()
        }
        other => panic!("unexpected path {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sink_delivers_each_format_with_stable_ids_across_retries() {
    set_env("unused");
    let (base, got) = receiver().await;
    let proxy = Proxy::start(
        pg_scram(),
        ProxyOpts {
            extra_config: http_sinks(&base),
            ..ProxyOpts::default()
        },
    )
    .await;
    session(proxy.port(), &statements("h", 3)).await;
    let dir = proxy.dir.path().join("audit");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let local = local_records(&dir).len();
        let want: BTreeSet<String> = (1..=local as u64).map(|s| format!("h:{s}")).collect();
        let g = got.lock().unwrap().clone();
        let delivered = |path: &str| -> BTreeSet<String> {
            // Requests after the first on a path were answered 200.
            g.iter()
                .filter(|(p, _, _)| p == path)
                .skip(1)
                .flat_map(|(p, _, b)| ids_in(p, b))
                .collect()
        };
        let done = ["splunk", "bulk", "loki"]
            .iter()
            .all(|p| delivered(p) == want);
        if done && local > 0 {
            for path in ["splunk", "bulk", "loki"] {
                let attempts: Vec<&(String, String, String)> =
                    g.iter().filter(|(p, _, _)| p == path).collect();
                assert!(attempts
                    .iter()
                    .all(|(_, auth, _)| auth == "Splunk test-token"));
                // The refused first batch came again with the same ids (first in the retry,
                // which may carry records written since).
                let refused = ids_in(path, &attempts[0].2);
                let retried = ids_in(path, &attempts[1].2);
                assert!(
                    !refused.is_empty() && retried.starts_with(&refused),
                    "{path}: {refused:?} then {retried:?}"
                );
                let all: Vec<String> = attempts
                    .iter()
                    .skip(1)
                    .flat_map(|(p, _, b)| ids_in(p, b))
                    .collect();
                assert_eq!(
                    all.len(),
                    want.len(),
                    "{path}: each record delivered once after the retry"
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered: {:?}",
            g.iter()
                .map(|(p, _, b)| (p.clone(), ids_in(p, b)))
                .collect::<Vec<_>>()
        );
        drop(g);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, metrics) = get(&format!(
        "http://{}/metrics",
        proxy.server.as_ref().unwrap().admin_addr()
    ))
    .await;
    for sink in ["splunk", "bulk", "loki"] {
        let line = format!("sluice_audit_sink_failures_total{{sink=\"{sink}\"}} 1\n");
        assert!(metrics.contains(&line), "{metrics}");
    }
    // A sink that answers 4xx is not retried forever: its records are counted as rejected
    // and the cursor moves on.
    let metric = |m: &str, name: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}{{sink=\"refuse\"}} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(u64::MAX)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, m) = get(&format!(
            "http://{}/metrics",
            proxy.server.as_ref().unwrap().admin_addr()
        ))
        .await;
        let local = local_records(&dir).len() as u64;
        if metric(&m, "sluice_audit_sink_rejected_records_total") == local
            && metric(&m, "sluice_audit_sink_lag_records") == 0
        {
            assert_eq!(metric(&m, "sluice_audit_sink_failures_total"), 0, "{m}");
            assert_eq!(
                metric(&m, "sluice_audit_sink_shipped_records_total"),
                0,
                "{m}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // export --follow prints what the log holds, then new records as they come.
    let before = local_records(&dir).len();
    let want = before + 3;
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let out = StopAfter {
        lines: Arc::clone(&lines),
        want,
        buf: Vec::new(),
    };
    let src = sluice::audit_cli::LogSource::from_dir(&dir, Some(KEY_ENV));
    let follower = tokio::task::spawn_blocking(move || {
        let mut out = out;
        sluice::audit_store_cli::follow(&src, &FilterArgs::default(), &mut out)
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        lines.lock().unwrap().len(),
        before,
        "the existing records first"
    );
    session(proxy.port(), &statements("f", 1)).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), follower).await;
    let err = ended
        .expect("follow printed the new records")
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, 0, "a closed output ends follow quietly: {err:?}");
    let seqs: Vec<u64> = lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=want as u64).collect::<Vec<_>>());
}

/// An output that takes `want` lines, then fails as a closed pipe does.
struct StopAfter {
    lines: Arc<Mutex<Vec<String>>>,
    want: usize,
    buf: Vec<u8>,
}

impl std::io::Write for StopAfter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut lines = self.lines.lock().unwrap();
        if lines.len() >= self.want {
            return Err(std::io::ErrorKind::BrokenPipe.into());
        }
        self.buf.extend_from_slice(data);
        while let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            lines.push(String::from_utf8_lossy(&line).trim_end().to_string());
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A one-request-per-connection HTTPS receiver with a certificate of `pki`: records each
/// request's path and answers 200.
async fn tls_receiver(pki: &sluice::launcher::certs::TestPki) -> (u16, Arc<Mutex<Vec<String>>>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.server_cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&pki.server_key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let paths: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&paths);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                // A failed handshake (a client that does not trust us) is simply dropped.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Reads until the body is complete (Content-Length).
                let path = loop {
                    let Ok(n) = tls.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let len: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break text
                            .split_whitespace()
                            .nth(1)
                            .unwrap_or_default()
                            .to_string();
                    }
                };
                seen.lock().unwrap().push(path);
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, paths)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_sinks_trust_their_ca_file_and_nothing_else() {
    set_env("unused");
    let pki_dir = tempfile::tempdir().unwrap();
    let pki =
        sluice::launcher::certs::TestPki::generate(pki_dir.path(), &["localhost", "127.0.0.1"])
            .unwrap();
    let (port, paths) = tls_receiver(&pki).await;
    let mut config = format!("{}instance = \"t\"\n", audit_section(KEY_ENV));
    for (name, ca) in [
        ("trusting", format!("ca_file = {:?}\n", pki.ca_cert)),
        ("untrusting", String::new()),
    ] {
        config += &format!(
            "\n[[audit.sinks]]\nname = \"{name}\"\nkind = \"http\"\nurl = \"https://localhost:{port}/{name}\"\nformat = \"loki\"\ntimeout = \"2s\"\n{ca}"
        );
    }
    let proxy = Proxy::start(
        pg_scram(),
        ProxyOpts {
            extra_config: config,
            ..ProxyOpts::default()
        },
    )
    .await;
    session(proxy.port(), &statements("t", 1)).await;
    let admin = format!(
        "http://{}/metrics",
        proxy.server.as_ref().unwrap().admin_addr()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, m) = get(&admin).await;
        let value = |name: &str, sink: &str| -> u64 {
            m.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}{{sink=\"{sink}\"}} ")))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        let shipped = value("sluice_audit_sink_shipped_records_total", "trusting");
        let failures = value("sluice_audit_sink_failures_total", "untrusting");
        if shipped > 0
            && shipped == local_records(&proxy.dir.path().join("audit")).len() as u64
            && failures >= 2
        {
            assert_eq!(
                value("sluice_audit_sink_shipped_records_total", "untrusting"),
                0
            );
            assert!(value("sluice_audit_sink_lag_records", "untrusting") > 0);
            break;
        }
        assert!(Instant::now() < deadline, "{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let paths = paths.lock().unwrap().clone();
    assert!(paths.iter().all(|p| p == "/trusting"), "{paths:?}");
}

#[tokio::test]
async fn a_sink_without_its_password_or_header_stops_the_start() {
    set_env("unused");
    for (sink, want) in [
        (
            "kind = \"postgres\"\nurl = \"postgres://a@127.0.0.1:1/db\"\npassword_env = \"SLUICE_SINKS_TEST_SURELY_UNSET\"",
            "password_env \"SLUICE_SINKS_TEST_SURELY_UNSET\" is not set",
        ),
        (
            "kind = \"http\"\nurl = \"http://127.0.0.1:1/x\"\nformat = \"loki\"\nheader_env = \"SLUICE_SINKS_TEST_SURELY_UNSET\"",
            "header_env \"SLUICE_SINKS_TEST_SURELY_UNSET\" is not set",
        ),
    ] {
        let opts = ProxyOpts {
            extra_config: format!("{}\n[[audit.sinks]]\nname = \"s\"\n{sink}\n", audit_section(KEY_ENV)),
            ..ProxyOpts::default()
        };
        let err = Proxy::try_start(pg_scram().into(), opts).await.err().expect("refused");
        assert!(err.contains("[[audit.sinks]] \"s\"") && err.contains(want), "{err}");
    }
}

/// A sink whose receiver answers with a redirect to another host: sluice does not follow it,
/// so neither the records nor the sink's auth header reach that host; the batch stays in the
/// local log and is counted as failing (black-box round 7, finding 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sink_does_not_follow_a_redirect() {
    use axum::extract::{Path as UrlPath, State};
    use axum::http::{header::LOCATION, StatusCode};
    set_env("unused");
    type Paths = Arc<Mutex<Vec<String>>>;
    let got: Paths = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .route(
            "/{path}",
            axum::routing::post(
                move |State(got): State<Paths>, UrlPath(path): UrlPath<String>| async move {
                    got.lock().unwrap().push(path.clone());
                    let elsewhere = format!("http://localhost:{port}/stolen");
                    match path.as_str() {
                        "moved" => (StatusCode::TEMPORARY_REDIRECT, [(LOCATION, elsewhere)]),
                        _ => (StatusCode::OK, [(LOCATION, String::new())]),
                    }
                },
            ),
        )
        .with_state(Arc::clone(&got));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let extra = format!(
        "{}instance = \"r\"\n\n[[audit.sinks]]\nname = \"moved\"\nkind = \"http\"\nurl = \"http://127.0.0.1:{port}/moved\"\nformat = \"splunk_hec\"\nheader_env = \"{HEADER_ENV}\"\ntimeout = \"2s\"\n",
        audit_section(KEY_ENV)
    );
    let proxy = Proxy::start(
        pg_scram(),
        ProxyOpts {
            extra_config: extra,
            ..ProxyOpts::default()
        },
    )
    .await;
    session(proxy.port(), &statements("r", 2)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.lock().unwrap().iter().filter(|p| *p == "moved").count() < 2 {
        assert!(Instant::now() < deadline, "the sink never tried twice");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let paths = got.lock().unwrap().clone();
    assert!(
        !paths.iter().any(|p| p == "stolen"),
        "the batch followed the redirect: {paths:?}"
    );
    let admin = proxy.server.as_ref().unwrap().admin_addr();
    let (_, metrics) = get(&format!("http://{admin}/metrics")).await;
    let failing = metrics
        .lines()
        .find(|l| l.starts_with("sluice_audit_sink_failures_total") && l.contains("moved"))
        .unwrap_or_else(|| panic!("no failure count for the sink in\n{metrics}"));
    assert!(!failing.ends_with(" 0"), "{failing}");
}

/// A cursor file edited forward, past the end of the local log, must not stop shipping in
/// silence: sluice ships from the start again (the ids make re-sent records no-ops)
/// (black-box round 7, finding 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_ahead_of_the_log_ships_from_the_start() {
    set_env("unused");
    let (base, got) = receiver().await;
    let extra = format!(
        "{}instance = \"h\"\n\n[[audit.sinks]]\nname = \"splunk\"\nkind = \"http\"\nurl = \"{base}/splunk\"\nformat = \"splunk_hec\"\ntimeout = \"2s\"\n",
        audit_section(KEY_ENV)
    );
    let mut proxy = Proxy::start(
        pg_scram(),
        ProxyOpts {
            extra_config: extra,
            ..ProxyOpts::default()
        },
    )
    .await;
    let dir = proxy.dir.path().join("audit");
    let delivered = |got: &Received| -> BTreeSet<String> {
        got.lock()
            .unwrap()
            .iter()
            .skip(1) // the first request was answered 503
            .flat_map(|(path, _, body)| ids_in(path, body))
            .collect()
    };
    let wait_all = |got: Received, dir: PathBuf| async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let local = local_records(&dir).len() as u64;
            let want: BTreeSet<String> = (1..=local).map(|s| format!("h:{s}")).collect();
            let have = delivered(&got);
            if want.is_subset(&have) {
                return local;
            }
            assert!(
                Instant::now() < deadline,
                "records {:?} never reached the sink",
                want.difference(&have).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    session(proxy.port(), &statements("c", 2)).await;
    let before = wait_all(Arc::clone(&got), dir.clone()).await;
    proxy.shutdown().await;
    std::fs::write(dir.join("ship-splunk.cursor"), "100000\n").unwrap();
    proxy.restart().await;
    session(proxy.port(), &statements("c2", 2)).await;
    let after = wait_all(Arc::clone(&got), dir.clone()).await;
    assert!(after > before, "the second session was recorded locally");
}
