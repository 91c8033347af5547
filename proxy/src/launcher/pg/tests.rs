//! End-to-end tests of the launcher: each starts real PostgreSQL servers.

use super::*;
use std::process::Output;

/// Runs `psql` over TCP as a normal client would.
fn client_psql(conninfo: &str, password: &str, sql: &str) -> Output {
    let mut cmd = PgTools::get().unwrap().client_cmd("psql", Path::new("/"));
    cmd.args(["-X", "-q", "-A", "-t", "-w", "-d", conninfo, "-c", sql])
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap()
}

fn tcp(srv: &PgServer, extra: &str) -> String {
    format!(
        "host={} port={} user={} dbname={} {extra}",
        srv.host, srv.port, srv.opts.user, srv.opts.database
    )
}

fn stdout_ok(out: &Output) -> String {
    assert!(out.status.success(), "psql failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn scram_login_works_and_wrong_password_fails() {
    let srv = PgServer::start(PgOptions::default()).unwrap();
    assert_eq!(srv.addr(), format!("127.0.0.1:{}", srv.port));
    let ok = client_psql(&tcp(&srv, ""), "app-secret", "select 1");
    assert_eq!(stdout_ok(&ok), "1");
    let bad = client_psql(&tcp(&srv, ""), "wrong", "select 1");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("password authentication failed"),
        "{stderr}"
    );
    let stored = srv
        .psql_superuser(
            "postgres",
            "select rolpassword from pg_authid where rolname = 'app'",
        )
        .unwrap();
    assert!(stored.trim().starts_with("SCRAM-SHA-256$"), "{stored}");
}

#[test]
fn md5_server_stores_md5_hash() {
    let opts = PgOptions {
        auth: PgAuth::Md5,
        ..PgOptions::default()
    };
    let srv = PgServer::start(opts).unwrap();
    let out = srv
        .psql_superuser(
            "postgres",
            "select rolpassword like 'md5%' from pg_authid where rolname = 'app'",
        )
        .unwrap();
    assert_eq!(out.trim(), "t");
    let ok = client_psql(&tcp(&srv, ""), "app-secret", "select 2");
    assert_eq!(stdout_ok(&ok), "2");
    assert!(!client_psql(&tcp(&srv, ""), "nope", "select 2")
        .status
        .success());
}

#[test]
fn tls_server_verifies_against_test_ca() {
    let opts = PgOptions {
        tls: true,
        ..PgOptions::default()
    };
    let srv = PgServer::start(opts).unwrap();
    let pki = srv.pki.as_ref().unwrap();
    assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let mode = fs::metadata(&pki.server_key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let ca = pki.ca_cert.display();
    let sql = "select ssl from pg_stat_ssl where pid = pg_backend_pid()";
    let by_ip = format!(
        "host=127.0.0.1 port={} user=app dbname=app sslmode=verify-full sslrootcert={ca}",
        srv.port
    );
    assert_eq!(stdout_ok(&client_psql(&by_ip, "app-secret", sql)), "t");
    let by_name = by_ip.replace("host=127.0.0.1", "host=localhost");
    assert_eq!(stdout_ok(&client_psql(&by_name, "app-secret", sql)), "t");
    // A hostname not in the SANs must be rejected by verify-full.
    let wrong = format!("{by_ip} hostaddr=127.0.0.1").replace("host=127.0.0.1", "host=db.invalid");
    let out = client_psql(&wrong, "app-secret", sql);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not match host name"), "{stderr}");
}

#[test]
fn stop_and_restart_keep_port_and_data() {
    let mut srv = PgServer::start(PgOptions::default()).unwrap();
    let sql = "create table keep(x int); insert into keep values (42); \
               grant select on keep to app;";
    srv.psql_superuser("app", sql).unwrap();
    let port = srv.port;
    srv.stop().unwrap();
    srv.stop().unwrap(); // idempotent
    assert!(!client_psql(&tcp(&srv, ""), "app-secret", "select 1")
        .status
        .success());
    srv.restart().unwrap();
    assert_eq!(srv.port, port);
    let out = client_psql(&tcp(&srv, ""), "app-secret", "select x from keep");
    assert_eq!(stdout_ok(&out), "42");
}

#[test]
fn two_servers_at_once_and_drop_removes_dir() {
    let a = PgServer::start(PgOptions::default()).unwrap();
    let b = PgServer::start(PgOptions {
        auth: PgAuth::Trust,
        user: "other".into(),
        database: "otherdb".into(),
        ..PgOptions::default()
    })
    .unwrap();
    assert_ne!(a.port, b.port);
    assert_eq!(
        stdout_ok(&client_psql(&tcp(&a, ""), "app-secret", "select 'a'")),
        "a"
    );
    // Trust: any password (or none) is accepted.
    assert_eq!(
        stdout_ok(&client_psql(&tcp(&b, ""), "", "select current_user")),
        "other"
    );
    let (dir_a, dir_b) = (a.root.clone(), b.root.clone());
    assert!(a.socket_dir().starts_with(&dir_a));
    drop(a);
    assert!(!dir_a.exists());
    assert!(dir_b.exists());
    drop(b);
    assert!(!dir_b.exists());
}

#[test]
fn sample_schema_is_owned_by_app_user() {
    let srv = PgServer::start(PgOptions::default()).unwrap();
    srv.load_sample_schema().unwrap();
    // Loading twice must work: the demo may re-run it.
    srv.load_sample_schema().unwrap();
    let sql = "select (select count(*) from customers) || ',' || \
               (select count(*) from orders) || ',' || (select count(*) from employees)";
    let counts = stdout_ok(&client_psql(&tcp(&srv, ""), "app-secret", sql));
    assert_eq!(counts, "20,40,5");
    // The app user owns the tables, so it can write through sequences too.
    let ins = "insert into customers(name) values ('New Person') returning id";
    assert_eq!(
        stdout_ok(&client_psql(&tcp(&srv, ""), "app-secret", ins)),
        "21"
    );
}
