//! The driver matrix (issue 24): real client libraries through sluice, each running the small
//! program of `tests/drivers/<client>/` — psycopg 3 (text and binary), asyncpg, node-postgres,
//! pgJDBC, PyMySQL, mysql-connector-python, node mysql2 and MariaDB Connector/J.
//!
//! Each program creates a table, inserts, updates, deletes and reads it back (CRUD), reuses
//! one prepared statement, hits a duplicate key and carries on, reads a table of common types
//! (NULL, unicode, timestamps, numerics, bytea/blob, JSON, arrays where the database has
//! them) and a table with masked columns, text and prepared; it prints what it read as JSON.
//! It runs four times: connected directly to the database, through sluice as an exempt user
//! over plaintext and over TLS (verifying sluice's certificate), and as a masked user. The
//! exempt runs must print exactly what the direct run printed; the masked run too, except
//! the masked columns, which must differ from the clear values and be valid for their type
//! and declared size.
//!
//! One PostgreSQL, one MariaDB and one sluice (with a target for each) serve every client.
//! The clients' libraries are installed by `./sluice-dev test` (or `./sluice-dev drivers`):
//! Python packages into a venv and npm packages into a `node_modules` under
//! `$SLUICE_DRIVERS_DIR` (default `~/.cache/sluice-drivers`); the JDBC drivers and the JDK are
//! Debian packages.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use mysql_async::prelude::*;
use serde_json::Value;
use sluice_tests::*;

const EMAILS: [&str; 2] = ["ann.example@example.com", "bob@example.org"];
const SSNS: [&str; 2] = ["123-45-6789", "987-65-4321"];

/// The servers, the one sluice in front of both, and a runtime that keeps sluice serving.
struct Matrix {
    _rt: tokio::runtime::Runtime,
    pg: &'static PgServer,
    my: &'static MariaDbServer,
    proxy: Proxy,
    my_port: u16,
}

fn masks() -> String {
    let mut text = String::new();
    for prefix in ["drv.people", "shop.drv_people"] {
        text += &format!(
            r#"
[[masks]]
columns = ["{prefix}.email"]
function = "email"
except_groups = ["dba"]

[[masks]]
columns = ["{prefix}.ssn"]
function = "partial"
except_groups = ["dba"]

[[masks]]
columns = ["{prefix}.salary"]
function = "generalize"
step = 1000
except_groups = ["dba"]
"#
        );
    }
    text
}

fn mysql_target(my: &MariaDbServer) -> String {
    format!(
        "[[targets]]\nname = \"my\"\nprotocol = \"mysql\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{}\"\nuser = \"{}\"\npassword_file = \"upstream.pw\"\nupstream_tls = \"disable\"\nmax_connections = 100\nconnect_timeout = \"2s\"\n",
        my.addr(),
        my.opts.user
    )
}

const PG_FIXTURES: &str = r#"
CREATE SCHEMA drv;
CREATE TABLE drv.types (id int PRIMARY KEY, nothing text, uni text, ts timestamp,
    tstz timestamptz, d date, num numeric(14,4), f8 float8, flag bool, raw bytea, j json,
    jb jsonb, ints int[], texts text[], u uuid, big bigint);
INSERT INTO drv.types VALUES
    (1, NULL, 'héllo wörld ✓ 日本語 😀 ''q'' "d" \', '2024-02-29 13:14:15.123456',
     '2024-02-29 13:14:15.5+02', '1999-12-31', 12345678.9012, 3.25, true, '\x00ff7f80',
     '{"a": [1, "x"]}', '{"b": null, "c": 1.5}', '{1,2,NULL}', '{"a b","c,d"}',
     'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 9007199254740993),
    (2, NULL, '', NULL, NULL, NULL, -0.0001, -1e300, false, '\x', 'null', '[]', '{}', '{}',
     NULL, -9223372036854775808),
    (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE drv.people (id int PRIMARY KEY, name text, email varchar(40), ssn char(11),
    salary numeric(10,2));
"#;

const MY_FIXTURES: &str = r#"
CREATE TABLE drv_types (id INT PRIMARY KEY, nothing VARCHAR(10), uni VARCHAR(100),
    dt DATETIME(6), ts TIMESTAMP(3) NULL, d DATE, num DECIMAL(14,4), f DOUBLE,
    flag TINYINT(1), raw VARBINARY(16), blobby BLOB, j JSON, big BIGINT, tm TIME, yr YEAR)
    CHARSET utf8mb4;
INSERT INTO drv_types VALUES
    (1, NULL, 'héllo wörld ✓ 日本語 😀 ''q'' "d" \\', '2024-02-29 13:14:15.123456',
     '2024-02-29 13:14:15.500', '1999-12-31', 12345678.9012, 3.25, 1, x'00ff7f80',
     x'000102fffe', '{"a": [1, "x"]}', 9007199254740993, '-12:34:56', 2024),
    (2, NULL, '', NULL, NULL, NULL, -0.0001, -1e300, 0, x'', '', '[]',
     -9223372036854775808, '00:00:00', NULL),
    (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
CREATE TABLE drv_people (id INT PRIMARY KEY, name VARCHAR(20), email VARCHAR(40),
    ssn CHAR(11), salary DECIMAL(10,2)) CHARSET utf8mb4;
"#;

fn people_rows() -> String {
    format!(
        "VALUES (1, 'Ann', '{}', '{}', 123456.78), (2, 'Bob', '{}', '{}', 99.99)",
        EMAILS[0], SSNS[0], EMAILS[1], SSNS[1]
    )
}

fn matrix() -> &'static Matrix {
    static M: OnceLock<Matrix> = OnceLock::new();
    M.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (pg, my) = (pg_scram(), mariadb_native());
        let proxy = rt.block_on(async {
            pg_direct(pg)
                .await
                .batch_execute(&format!(
                    "{PG_FIXTURES} INSERT INTO drv.people {}",
                    people_rows()
                ))
                .await
                .unwrap();
            mysql_direct(my)
                .await
                .query_drop(format!(
                    "{MY_FIXTURES} INSERT INTO drv_people {}",
                    people_rows()
                ))
                .await
                .unwrap();
            let opts = ProxyOpts {
                client_tls: Some(false),
                extra_config: format!("{}\n{}", mysql_target(my), masks()),
                ..ProxyOpts::default()
            };
            Proxy::start(pg, opts).await
        });
        let my_port = proxy
            .server
            .as_ref()
            .and_then(|s| s.addr("my"))
            .expect("the MySQL target listens")
            .port();
        Matrix {
            _rt: rt,
            pg,
            my,
            proxy,
            my_port,
        }
    })
}

/// Where `./sluice-dev` installed the Python and npm clients.
fn drivers_dir() -> PathBuf {
    let dir = match std::env::var_os("SLUICE_DRIVERS_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/sluice-drivers"),
    };
    assert!(
        dir.join("stamp").exists(),
        "the driver-matrix clients are not installed in {}: run ./sluice-dev drivers (./sluice-dev test does it)",
        dir.display()
    );
    dir
}

fn programs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("drivers")
}

fn java_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("SLUICE_JAVA_DIR").unwrap_or_else(|| "/usr/share/java".into()))
}

fn java_classpath() -> String {
    let jars = java_dir();
    format!(
        "{}:{}",
        jars.join("postgresql.jar").display(),
        jars.join("mariadb-java-client.jar").display()
    )
}

/// The JDBC programs, compiled once per test binary.
fn java_classes() -> &'static Path {
    static CLASSES: OnceLock<PathBuf> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("driver-classes");
        let p = programs();
        let status = Command::new("javac")
            .args(["-nowarn", "-cp", &java_classpath(), "-d"])
            .arg(&out)
            .arg(p.join("common/Drv.java"))
            .arg(p.join("pgjdbc/PgJdbc.java"))
            .arg(p.join("mariadb-java/MariaJdbc.java"))
            .status()
            .expect("javac runs (Debian package default-jdk-headless)");
        assert!(status.success(), "javac of tests/drivers");
        out
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Proto {
    Pg,
    My,
}

#[derive(Clone, Copy, Debug)]
enum Who {
    Direct,
    Exempt,
    ExemptTls,
    Masked,
}

/// The command that runs `client`'s program, killed after two minutes if it hangs.
fn client_command(client: &str) -> Command {
    let p = programs();
    let mut cmd = Command::new("timeout");
    cmd.arg("120");
    match client {
        "psycopg-text" | "psycopg-binary" | "asyncpg" | "pymysql" | "mysql-connector" => {
            let dir = client.trim_end_matches("-text").trim_end_matches("-binary");
            cmd.arg(drivers_dir().join("venv/bin/python"))
                .arg(p.join(dir).join("run.py"));
            cmd.env("DRV_MODE", client.rsplit('-').next().unwrap_or_default());
        }
        "node-pg" | "mysql2" => {
            cmd.arg("node").arg(p.join(client).join("run.js"));
            cmd.env("NODE_PATH", drivers_dir().join("node/node_modules"));
        }
        "pgjdbc" | "mariadb-java" => {
            let main = if client == "pgjdbc" {
                "PgJdbc"
            } else {
                "MariaJdbc"
            };
            let cp = format!("{}:{}", java_classes().display(), java_classpath());
            cmd.args([
                "java",
                "-Xshare:auto",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                &cp,
                main,
            ]);
        }
        other => panic!("no client {other}"),
    }
    cmd
}

/// What `client` read, connected as `who`.
fn run(client: &str, proto: Proto, who: Who) -> Value {
    let m = matrix();
    let (user, password) = match who {
        Who::Direct => ("app", m.pg.opts.password.as_str()),
        Who::Exempt | Who::ExemptTls => (OTHER_USER, OTHER_PASSWORD),
        Who::Masked => (USER, PASSWORD),
    };
    let port = match (proto, who) {
        (Proto::Pg, Who::Direct) => m.pg.port,
        (Proto::My, Who::Direct) => m.my.port,
        (Proto::Pg, _) => m.proxy.port(),
        (Proto::My, _) => m.my_port,
    };
    let (database, types, people, table) = match proto {
        Proto::Pg => (
            "app",
            "drv.types",
            "drv.people",
            format!("drv.{}", unique("t")),
        ),
        Proto::My => ("shop", "drv_types", "drv_people", unique("drv_t")),
    };
    let ca = match who {
        Who::ExemptTls => m.proxy.ca_file(),
        _ => PathBuf::new(),
    };
    let out = client_command(client)
        .env("DRV_PORT", port.to_string())
        .env("DRV_USER", user)
        .env("DRV_PASSWORD", password)
        .env("DRV_DATABASE", database)
        .env("DRV_CA", &ca)
        .env("DRV_TABLE", table)
        .env("DRV_TYPES", types)
        .env("DRV_PEOPLE", people)
        .env("TZ", "UTC")
        .output()
        .expect("the client program runs");
    assert!(
        out.status.success(),
        "{client} as {who:?}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{client} as {who:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A value as text: a string without the type tag the programs put before non-JSON values
/// (`decimal:1.00`, `BigDecimal:1.00`), or a number.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s
            .rsplit_once(':')
            .map_or(s.as_str(), |(_, t)| t)
            .to_string(),
        other => other.to_string(),
    }
}

/// One masked row (id, name, email, ssn, salary) against the same row read directly.
fn check_masked_row(masked: &Value, clear: &Value, how: &str) {
    let (m, c) = (masked.as_array().unwrap(), clear.as_array().unwrap());
    assert_eq!(m.len(), 5, "{how}: {masked}");
    assert_eq!((&m[0], &m[1]), (&c[0], &c[1]), "{how}: unmasked columns");
    let email = m[2]
        .as_str()
        .unwrap_or_else(|| panic!("{how}: email {}", m[2]));
    assert!(
        EMAILS.contains(&c[2].as_str().unwrap()),
        "{how}: direct {clear}"
    );
    assert_ne!(m[2], c[2], "{how}: email masked");
    assert!(
        email.contains("***@example.") && email.chars().count() <= 40,
        "{how}: {email} is an address within varchar(40)"
    );
    let ssn = m[3]
        .as_str()
        .unwrap_or_else(|| panic!("{how}: ssn {}", m[3]));
    assert_ne!(m[3], c[3], "{how}: ssn masked");
    assert!(
        ssn.chars().count() == 11 && !ssn.contains(|c: char| c.is_ascii_digit()),
        "{how}: {ssn} fills char(11) and shows no digit"
    );
    let salary: f64 = text(&m[4])
        .parse()
        .unwrap_or_else(|_| panic!("{how}: salary {} is a number", m[4]));
    assert_ne!(m[4], c[4], "{how}: salary masked");
    assert!(
        salary % 1000.0 == 0.0 && salary.abs() < 1e8,
        "{how}: {salary} generalised within numeric(10,2)"
    );
}

fn check_masked(masked: &Value, direct: &Value, client: &str) {
    let rows = |v: &Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
    let (m, d) = (rows(masked, "masked"), rows(direct, "masked"));
    assert_eq!(m.len(), 2, "{client}: {m:?}");
    assert_eq!(d.len(), 2, "{client}: {d:?}");
    for (m, d) in m.iter().zip(&d) {
        check_masked_row(m, d, &format!("{client}, text"));
    }
    let (mp, dp) = (
        rows(masked, "masked_prepared"),
        rows(direct, "masked_prepared"),
    );
    assert!(!mp.is_empty() && mp.len() == dp.len(), "{client}: {mp:?}");
    for (m, d) in mp.iter().zip(&dp) {
        let (m, d) = (&m.as_array().unwrap()[0], &d.as_array().unwrap()[0]);
        check_masked_row(m, d, &format!("{client}, prepared"));
    }
}

/// The whole matrix row of one client.
fn matrix_row(client: &str, proto: Proto) {
    let direct = run(client, proto, Who::Direct);
    // The direct run is what the fixtures say, so a comparison with it means something.
    let crud = direct["crud"].to_string();
    assert!(
        crud.contains("one") && crud.contains("two") && !crud.contains("three"),
        "{crud}"
    );
    let duplicate = match proto {
        Proto::Pg => Value::from("23505"),
        Proto::My => Value::from(1062),
    };
    assert_eq!(direct["error"], duplicate, "{client}: the duplicate key");
    assert_eq!(
        direct["types"].as_array().map(Vec::len),
        Some(3),
        "{client}"
    );
    for who in [Who::Exempt, Who::ExemptTls] {
        let through = run(client, proto, who);
        assert_eq!(through, direct, "{client} as {who:?} differs from direct");
    }
    let masked = run(client, proto, Who::Masked);
    for key in [
        "crud",
        "prepared",
        "error",
        "after_error",
        "types",
        "types_prepared",
    ] {
        assert_eq!(masked[key], direct[key], "{client} masked user: {key}");
    }
    check_masked(&masked, &direct, client);
}

#[test]
fn psycopg_text() {
    matrix_row("psycopg-text", Proto::Pg);
}

#[test]
fn psycopg_binary() {
    matrix_row("psycopg-binary", Proto::Pg);
}

#[test]
fn asyncpg() {
    matrix_row("asyncpg", Proto::Pg);
}

#[test]
fn node_postgres() {
    matrix_row("node-pg", Proto::Pg);
}

#[test]
fn pgjdbc() {
    matrix_row("pgjdbc", Proto::Pg);
}

#[test]
fn pymysql() {
    matrix_row("pymysql", Proto::My);
}

#[test]
fn mysql_connector_python() {
    matrix_row("mysql-connector", Proto::My);
}

#[test]
fn node_mysql2() {
    matrix_row("mysql2", Proto::My);
}

#[test]
fn mariadb_connector_j() {
    matrix_row("mariadb-java", Proto::My);
}
