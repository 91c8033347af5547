//! End-to-end tests of the launcher: each starts real MariaDB servers.

use super::*;
use std::process::Output;

/// Runs the `mariadb` CLI over TCP as a normal client would.
fn client(srv: &MariaDbServer, password: &str, extra: &[&str], sql: &str) -> Output {
    let mut cmd = MariaDbTools::get().unwrap().client_cmd(Path::new("/"));
    cmd.args(["-h", &srv.host, "-P", &srv.port.to_string()])
        .arg(format!("-u{}", srv.opts.user))
        .arg(format!("-p{password}"))
        .args(["--batch", "--raw", "-N", "--connect-timeout=10"])
        .args(extra)
        .args(["-e", sql, &srv.opts.database])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout_ok(out: &Output) -> String {
    assert!(out.status.success(), "mariadb failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn native_password_login_works_and_wrong_password_fails() {
    let srv = MariaDbServer::start(MariaDbOptions::default()).unwrap();
    assert_eq!(srv.addr(), format!("127.0.0.1:{}", srv.port));
    assert_eq!(stdout_ok(&client(&srv, "app-secret", &[], "select 1")), "1");
    let bad = client(&srv, "wrong", &[], "select 1");
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("Access denied"), "{stderr}");
    let plugins = srv
        .sql_root(
            None,
            "select host, plugin from mysql.user where user = 'app' order by host",
        )
        .unwrap();
    assert_eq!(
        plugins.trim(),
        "127.0.0.1\tmysql_native_password\nlocalhost\tmysql_native_password"
    );
    // PROCESS is granted, so the app user sees root's busy thread too.
    let mut busy = srv.tools.client_cmd(&srv.root);
    let mut busy = busy
        .args(["-uroot", "-e", "do sleep(30)"])
        .arg(format!("--socket={}", srv.socket_path().display()))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let sql = "select count(*) from information_schema.processlist where user = 'root'";
    let deadline = Instant::now() + Duration::from_secs(10);
    while stdout_ok(&client(&srv, "app-secret", &[], sql)) != "1" {
        assert!(Instant::now() < deadline, "root thread never visible");
        sleep(Duration::from_millis(50));
    }
    busy.kill().unwrap();
    busy.wait().unwrap();
    // No TLS configured: the server must say so.
    let ssl = srv.sql_root(None, "select @@have_ssl").unwrap();
    assert_eq!(ssl.trim(), "DISABLED");
}

#[test]
fn ed25519_user_uses_plugin_and_cli_login_works() {
    let opts = MariaDbOptions {
        auth: MariaDbAuth::Ed25519,
        ..MariaDbOptions::default()
    };
    let srv = MariaDbServer::start(opts).unwrap();
    let plugin = srv
        .sql_root(
            Some("mysql"),
            "select distinct plugin from user where user = 'app'",
        )
        .unwrap();
    assert_eq!(plugin.trim(), "ed25519");
    let who = client(&srv, "app-secret", &[], "select current_user()");
    assert_eq!(stdout_ok(&who), "app@127.0.0.1");
    assert!(!client(&srv, "nope", &[], "select 1").status.success());
}

#[test]
fn tls_server_verifies_against_test_ca() {
    let opts = MariaDbOptions {
        tls: true,
        ..MariaDbOptions::default()
    };
    let srv = MariaDbServer::start(opts).unwrap();
    let pki = srv.pki.as_ref().unwrap();
    assert!(pki.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let mode = fs::metadata(&pki.server_key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let ca = format!("--ssl-ca={}", pki.ca_cert.display());
    let tls = ["--ssl", &ca, "--ssl-verify-server-cert"];
    let out = client(&srv, "app-secret", &tls, "show status like 'Ssl_cipher'");
    let cipher = stdout_ok(&out);
    let value = cipher.strip_prefix("Ssl_cipher\t").unwrap_or("");
    assert!(!value.trim().is_empty(), "{cipher:?}");
    // Plaintext stays allowed (require_secure_transport is off).
    let plain = client(&srv, "app-secret", &["--skip-ssl"], "select 1");
    assert_eq!(stdout_ok(&plain), "1");
}

#[test]
fn stop_and_restart_keep_port_and_data() {
    let mut srv = MariaDbServer::start(MariaDbOptions::default()).unwrap();
    srv.sql_root(
        Some("shop"),
        "create table keep(x int); insert into keep values (42);",
    )
    .unwrap();
    let port = srv.port;
    srv.stop().unwrap();
    srv.stop().unwrap(); // idempotent
    assert!(!client(&srv, "app-secret", &[], "select 1").status.success());
    assert!(srv.sql_root(None, "select 1").is_err());
    srv.restart().unwrap();
    assert_eq!(srv.port, port);
    let out = client(&srv, "app-secret", &[], "select x from keep");
    assert_eq!(stdout_ok(&out), "42");
    // Restarting a running server works too.
    srv.restart().unwrap();
    assert_eq!(srv.sql_root(None, "select 7").unwrap().trim(), "7");
}

#[test]
fn two_servers_at_once_and_drop_removes_dir() {
    let a = MariaDbServer::start(MariaDbOptions::default()).unwrap();
    let b = MariaDbServer::start(MariaDbOptions {
        user: "o'ther\\".into(),
        password: "p'w\\x".into(),
        database: "other-db".into(),
        ..MariaDbOptions::default()
    })
    .unwrap();
    assert_ne!(a.port, b.port);
    assert_eq!(stdout_ok(&client(&a, "app-secret", &[], "select 'a'")), "a");
    // Quoting survives awkward names and passwords.
    let who = client(&b, "p'w\\x", &[], "select database()");
    assert_eq!(stdout_ok(&who), "other-db");
    let (dir_a, dir_b) = (a.root.clone(), b.root.clone());
    assert!(a.socket_path().starts_with(&dir_a));
    assert!(a.log_file().exists());
    drop(a);
    assert!(!dir_a.exists());
    assert!(dir_b.exists());
    drop(b);
    assert!(!dir_b.exists());
}

#[test]
fn sample_schema_loads_twice_with_expected_rows() {
    let srv = MariaDbServer::start(MariaDbOptions::default()).unwrap();
    srv.load_sample_schema().unwrap();
    // Loading twice must work: the demo may re-run it.
    srv.load_sample_schema().unwrap();
    let sql = "select concat((select count(*) from customers), ',', \
               (select count(*) from orders), ',', (select count(*) from employees))";
    assert_eq!(stdout_ok(&client(&srv, "app-secret", &[], sql)), "20,40,5");
    // Same generated values as the PostgreSQL schema, and UTF-8 intact.
    let sql = "select concat(amount, ' ', status, ' ', ordered_at) from orders where id = 1; \
               select name from customers where id = 20";
    assert_eq!(
        stdout_ok(&client(&srv, "app-secret", &[], sql)),
        "42.78 paid 2024-01-05 13:17:00\nTomás Novak"
    );
    // The app user has full rights on its database.
    let ins = "insert into customers(name) values ('New Person'); select last_insert_id()";
    assert_eq!(stdout_ok(&client(&srv, "app-secret", &[], ins)), "21");
}

#[test]
fn big_packets_are_allowed() {
    let srv = MariaDbServer::start(MariaDbOptions::default()).unwrap();
    let max = srv.sql_root(None, "select @@max_allowed_packet").unwrap();
    assert_eq!(max.trim(), (64 * 1024 * 1024).to_string());
    let err = srv
        .sql_root(None, "select * from no_such_db.t")
        .unwrap_err();
    assert!(format!("{err:#}").contains("ERROR"), "{err:#}");
}
