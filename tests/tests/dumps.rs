//! Dump round trips through sluice (issue 24): `pg_dump` (plain into `psql`, custom into
//! `pg_restore`) and `mariadb-dump --routines` into `mariadb`, of a schema with a table of
//! masked columns, a view, functions and procedures.
//!
//! * As an exempt user the dump is the direct dump, once the lines that differ between any
//!   two runs (the random `\restrict` key, the dump's date, sluice's version suffix) are
//!   normalised.
//! * As a masked user the dump runs to the end, restores cleanly into a fresh database, and
//!   the restored rows hold the masked values: not the clear ones, valid for their type and
//!   within their column's declared size; the routines and the view restore and work.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use mysql_async::prelude::*;
use sluice_tests::*;

const SSN: [&str; 2] = ["123-45-6789", "987-65-4321"];
const EMAIL: [&str; 2] = ["annabel@example.com", "bob@example.org"];
const SALARY: [&str; 2] = ["123456.78", "99.99"];

fn masks(prefix: &str) -> String {
    format!(
        r#"
[[masks]]
columns = ["{prefix}.people.email"]
function = "email"
except_groups = ["dba"]

[[masks]]
columns = ["{prefix}.people.ssn"]
function = "partial"
except_groups = ["dba"]

[[masks]]
columns = ["{prefix}.people.salary"]
function = "generalize"
step = 1000
except_groups = ["dba"]
"#
    )
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Drops the lines that differ between two dumps of the same data: pg_dump's random
/// `\restrict` key, mariadb-dump's date and server version (sluice appends `-sluice`).
fn normalise(dump: &str) -> String {
    dump.lines()
        .filter(|l| {
            !(l.starts_with("\\restrict ")
                || l.starts_with("\\unrestrict ")
                || l.starts_with("-- Dump completed on")
                || l.starts_with("-- Server version"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks one restored (masked) row: id, name, email, ssn, salary as text.
fn check_masked_row(row: &[String], how: &str) {
    let i: usize = row[0].parse().expect("id");
    let i = i - 1;
    assert_eq!(
        row[1],
        ["Ann", "Bob"][i],
        "{how}: unmasked columns are clear"
    );
    let (email, ssn, salary) = (&row[2], &row[3], &row[4]);
    assert_ne!(email, EMAIL[i], "{how}: email masked");
    assert!(
        email.chars().count() <= 20
            && email.contains('@')
            && (email.ends_with("@example.com") || email.ends_with("@example.org")),
        "{how}: {email} is an address that fits varchar(20)"
    );
    assert_ne!(ssn, SSN[i], "{how}: ssn masked");
    assert_eq!(ssn.chars().count(), 11, "{how}: {ssn} fits char(11)");
    assert_ne!(salary, SALARY[i], "{how}: salary masked");
    let n: f64 = salary
        .parse()
        .unwrap_or_else(|_| panic!("{how}: {salary} is a number"));
    assert!(
        n.abs() < 1e6 && n % 1000.0 == 0.0,
        "{how}: {salary} fits numeric(8,2), generalised"
    );
}

// ---------------------------------------------------------------- PostgreSQL

fn pg_schema_sql(s: &str) -> String {
    format!(
        "CREATE SCHEMA {s};
         CREATE TABLE {s}.people (id int PRIMARY KEY, name text NOT NULL, email varchar(20),
             ssn char(11), salary numeric(8,2), photo bytea, tags text[], doc jsonb);
         INSERT INTO {s}.people VALUES
             (1, 'Ann', '{e0}', '{s0}', {m0}, '\\x00ff10', ARRAY['a','b'], '{{\"k\": 1}}'),
             (2, 'Bob', '{e1}', '{s1}', {m1}, NULL, NULL, NULL);
         CREATE VIEW {s}.names AS SELECT id, name FROM {s}.people;
         CREATE FUNCTION {s}.plus(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x + 1';
         CREATE FUNCTION {s}.greet(who text) RETURNS text LANGUAGE plpgsql
             AS $$ BEGIN RETURN 'hello ' || who; END $$;
         CREATE PROCEDURE {s}.touch(n int) LANGUAGE sql AS 'SELECT n';",
        e0 = EMAIL[0],
        e1 = EMAIL[1],
        s0 = SSN[0],
        s1 = SSN[1],
        m0 = SALARY[0],
        m1 = SALARY[1],
    )
}

fn pg_dump(conn: &str, schema: &str, format: &str, out: &Path) {
    let o = Command::new("pg_dump")
        .arg(conn)
        .args(["-n", schema, format, "-f"])
        .arg(out)
        .stdin(Stdio::null())
        .output()
        .expect("pg_dump runs");
    ok(o, &format!("pg_dump {format} of {conn}"));
}

/// A custom-format dump as the SQL script pg_restore would run.
fn pg_restore_script(dump: &Path) -> String {
    let o = Command::new("pg_restore")
        .arg("-f")
        .arg("-")
        .arg(dump)
        .output()
        .expect("pg_restore runs");
    ok(o, "pg_restore -f -")
}

/// A fresh database owned by the app user.
fn pg_fresh_db(upstream: &PgServer, name: &str) -> String {
    upstream
        .psql_superuser("postgres", &format!("CREATE DATABASE {name} OWNER app"))
        .unwrap();
    format!(
        "host=127.0.0.1 port={} user=app password={} dbname={name}",
        upstream.port, upstream.opts.password
    )
}

/// What a restored database holds: the people rows, and the routines and view at work.
fn pg_restored(conn: &str, s: &str) -> (Vec<Vec<String>>, String) {
    let rows = ok(
        psql(
            conn,
            &[
                "-A",
                "-t",
                "-F",
                "\t",
                "-c",
                &format!("SELECT id, name, email, ssn, salary FROM {s}.people ORDER BY id"),
            ],
        ),
        "read the restored rows",
    );
    let rows = rows
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    let routines = ok(
        psql(
            conn,
            &[
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                &format!("SELECT {s}.plus(1), {s}.greet('x'), (SELECT count(*) FROM {s}.names)"),
                "-c",
                &format!("CALL {s}.touch(1)"),
            ],
        ),
        "the restored routines run",
    );
    (rows, routines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_dump_round_trips_masked_and_exempt() {
    let upstream = pg_scram();
    let s = unique("dump");
    pg_direct(upstream)
        .await
        .batch_execute(&pg_schema_sql(&s))
        .await
        .unwrap();
    let proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: masks(&s),
            ..ProxyOpts::default()
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name);
    let direct = direct_conn_str(upstream);
    let exempt = proxy.conn_str(OTHER_USER, OTHER_PASSWORD, "sslmode=disable");
    let masked = proxy.conn_str(USER, PASSWORD, "sslmode=disable");
    // pg_dump blocks the runtime's thread: run the dumps on a blocking thread each.
    let jobs = [
        (direct.clone(), "direct"),
        (exempt, "exempt"),
        (masked, "masked"),
    ];
    for (conn, who) in jobs {
        let (s, plain, custom) = (
            s.clone(),
            file(&format!("{who}.sql")),
            file(&format!("{who}.dump")),
        );
        tokio::task::spawn_blocking(move || {
            pg_dump(&conn, &s, "-Fp", &plain);
            pg_dump(&conn, &s, "-Fc", &custom);
        })
        .await
        .unwrap();
    }
    let read = |name: &str| std::fs::read_to_string(file(name)).unwrap();

    // Exempt: the direct dump, plain and custom.
    assert_eq!(
        normalise(&read("exempt.sql")),
        normalise(&read("direct.sql"))
    );
    assert_eq!(
        normalise(&pg_restore_script(&file("exempt.dump"))),
        normalise(&pg_restore_script(&file("direct.dump")))
    );
    assert!(
        read("exempt.sql").contains(SSN[0]),
        "the exempt dump is clear"
    );

    // Masked: no clear value anywhere in either dump.
    let masked_script = pg_restore_script(&file("masked.dump"));
    for text in [read("masked.sql"), masked_script] {
        for clear in SSN.iter().chain(&EMAIL).chain(&SALARY) {
            assert!(!text.contains(clear), "the masked dump holds {clear}");
        }
        assert!(text.contains("CREATE FUNCTION") && text.contains("CREATE PROCEDURE"));
    }

    // Masked plain dump into psql, masked custom dump into pg_restore: each restores cleanly.
    let plain_db = pg_fresh_db(upstream, &format!("{s}_plain"));
    ok(
        psql(
            &plain_db,
            &[
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
                file("masked.sql").to_str().unwrap(),
            ],
        ),
        "psql restores the masked plain dump",
    );
    let custom_db = pg_fresh_db(upstream, &format!("{s}_custom"));
    let o = Command::new("pg_restore")
        .args(["--exit-on-error", "-d", &custom_db])
        .arg(file("masked.dump"))
        .output()
        .unwrap();
    ok(o, "pg_restore restores the masked custom dump");
    for (db, how) in [(plain_db, "plain"), (custom_db, "custom")] {
        let (rows, routines) = pg_restored(&db, &s);
        assert_eq!(rows.len(), 2, "{how}: {rows:?}");
        for row in &rows {
            check_masked_row(row, how);
        }
        assert_eq!(
            routines.lines().next(),
            Some("2|hello x|2"),
            "{how}: {routines}"
        );
    }
}

// ---------------------------------------------------------------- MariaDB

fn my_schema_sql() -> String {
    format!(
        "CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(10) NOT NULL, email VARCHAR(20),
             ssn CHAR(11), salary DECIMAL(8,2), photo BLOB, doc JSON);
         INSERT INTO people VALUES
             (1, 'Ann', '{e0}', '{s0}', {m0}, x'00ff10', '{{\"k\": 1}}'),
             (2, 'Bob', '{e1}', '{s1}', {m1}, NULL, NULL);
         CREATE VIEW names AS SELECT id, name FROM people;
         CREATE FUNCTION plus(x INT) RETURNS INT DETERMINISTIC RETURN x + 1;
         CREATE FUNCTION greet(who VARCHAR(10)) RETURNS VARCHAR(20) DETERMINISTIC
             RETURN concat('hello ', who);
         CREATE PROCEDURE touch(n INT) SELECT n;
         CREATE TRIGGER people_name BEFORE INSERT ON people FOR EACH ROW SET NEW.name = trim(NEW.name);",
        e0 = EMAIL[0],
        e1 = EMAIL[1],
        s0 = SSN[0],
        s1 = SSN[1],
        m0 = SALARY[0],
        m1 = SALARY[1],
    )
}

fn mariadb_dump(port: u16, user: &str, password: &str, db: &str) -> String {
    let o = Command::new("mariadb-dump")
        .args(["-h", "127.0.0.1", "--skip-ssl", "--routines", "--triggers"])
        .arg(format!("-P{port}"))
        .arg(format!("-u{user}"))
        .arg(format!("-p{password}"))
        .arg(db)
        .stdin(Stdio::null())
        .output()
        .expect("mariadb-dump runs");
    ok(o, &format!("mariadb-dump as {user} on port {port}"))
}

/// Runs `sql` with the mariadb CLI as the app user, directly; warnings shown.
fn mariadb_cli(server: &MariaDbServer, db: &str, sql: &str) -> String {
    let mut child = Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "--skip-ssl",
            "--batch",
            "-N",
            "--show-warnings",
        ])
        .arg(format!("-P{}", server.port))
        .arg(format!("-u{}", server.opts.user))
        .arg(format!("-p{}", server.opts.password))
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mariadb runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .unwrap();
    ok(child.wait_with_output().unwrap(), "mariadb")
}

fn my_fresh_db(server: &MariaDbServer, name: &str) {
    server
        .sql_root(
            None,
            &format!(
                "CREATE DATABASE {name};
                 GRANT ALL ON {name}.* TO 'app'@'127.0.0.1';
                 GRANT ALL ON {name}.* TO 'app'@'localhost';"
            ),
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_dump_with_routines_round_trips_masked_and_exempt() {
    let upstream = mariadb_native();
    let db = unique("dump");
    my_fresh_db(upstream, &db);
    let mut direct = mysql_async::Conn::new(mysql_opts(
        upstream.port,
        &upstream.opts.user,
        &upstream.opts.password,
        Some(&db),
    ))
    .await
    .unwrap();
    direct.query_drop(my_schema_sql()).await.unwrap();
    let proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: masks(&db),
            ..ProxyOpts::default()
        },
    )
    .await;
    let (port, dbc) = (proxy.port(), db.clone());
    let (direct_dump, exempt, masked) = tokio::task::spawn_blocking(move || {
        (
            mariadb_dump(upstream.port, "app", &upstream.opts.password, &dbc),
            mariadb_dump(port, OTHER_USER, OTHER_PASSWORD, &dbc),
            mariadb_dump(port, USER, PASSWORD, &dbc),
        )
    })
    .await
    .unwrap();

    assert_eq!(normalise(&exempt), normalise(&direct_dump));
    assert!(exempt.contains(SSN[0]), "the exempt dump is clear");
    for clear in SSN.iter().chain(&EMAIL).chain(&SALARY) {
        assert!(!masked.contains(clear), "the masked dump holds {clear}");
    }
    for routine in [
        "FUNCTION `plus`",
        "FUNCTION `greet`",
        "PROCEDURE `touch`",
        "TRIGGER",
    ] {
        assert!(masked.contains(routine), "the masked dump has {routine}");
    }

    // Restored into a fresh database without a warning (a value too long for its column
    // would be cut with one, since the dump turns strict mode off).
    let restored = format!("{db}_r");
    my_fresh_db(upstream, &restored);
    let out = mariadb_cli(upstream, &restored, &masked);
    assert!(!out.contains("Warning"), "restore warned: {out}");
    let rows = mariadb_cli(
        upstream,
        &restored,
        "SELECT id, name, email, ssn, salary FROM people ORDER BY id",
    );
    let rows: Vec<Vec<String>> = rows
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in &rows {
        check_masked_row(row, "mariadb");
    }
    let works = mariadb_cli(
        upstream,
        &restored,
        "SELECT plus(1), greet('x'), (SELECT count(*) FROM names); CALL touch(7);",
    );
    assert_eq!(works, "2\thello x\t2\n7\n");
}

/// The routine listings mariadb-dump reads are metadata: a masked user sees the names (the
/// failure was `SHOW CREATE FUNCTION ''`); a listing filtered by a subquery stays masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masked_sessions_read_routine_listings_but_not_through_filters() {
    let upstream = mariadb_native();
    let db = unique("listing");
    my_fresh_db(upstream, &db);
    let mut direct = mysql_async::Conn::new(mysql_opts(
        upstream.port,
        &upstream.opts.user,
        &upstream.opts.password,
        Some(&db),
    ))
    .await
    .unwrap();
    direct.query_drop(my_schema_sql()).await.unwrap();
    let proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: masks(&db),
            ..ProxyOpts::default()
        },
    )
    .await;
    let mut alice = mysql_async::Conn::new(mysql_opts(proxy.port(), USER, PASSWORD, Some(&db)))
        .await
        .unwrap();
    for (sql, name) in [
        (format!("SHOW FUNCTION STATUS WHERE Db = '{db}'"), "greet"),
        (format!("SHOW PROCEDURE STATUS WHERE Db = '{db}'"), "touch"),
    ] {
        let rows: Vec<mysql_async::Row> = alice.query(&sql).await.unwrap();
        let names: Vec<String> = rows
            .iter()
            .map(|r| r.get::<String, _>("Name").unwrap())
            .collect();
        assert!(names.iter().any(|n| n == name), "{sql}: {names:?}");
    }
    let body: Vec<mysql_async::Row> = alice.query("SHOW CREATE FUNCTION `plus`").await.unwrap();
    let text: String = body[0].get("Create Function").unwrap();
    assert!(text.contains("RETURN x + 1"), "{text}");

    // The listed rows depend on a masked value here: what comes back is masked.
    let sql = format!(
        "SHOW PROCEDURE STATUS WHERE Db = '{db}' AND (SELECT ssn FROM people WHERE id = 1) LIKE '1%'"
    );
    match alice.query::<mysql_async::Row, _>(&sql).await {
        Ok(rows) => {
            for r in rows {
                assert_ne!(r.get::<String, _>("Name").unwrap(), "touch", "{sql}");
            }
        }
        Err(e) => assert!(e.to_string().contains("sluice"), "{e}"),
    }
}
