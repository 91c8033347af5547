//! Masking, rules and the audit log hold however the session makes the server read quotes.
//!
//! Each attack below was found by a black-box attacker working as a masked user: session
//! settings (`sql_mode` spelt with escapes, quoted names or values the server rejects) and
//! client character sets whose multibyte characters end in a backslash byte make the server
//! read a statement differently from a reader that assumes the defaults. After every attack no
//! clear sensitive value (nor its hex, reversed or digits-only form) may reach the client or
//! the audit log, and the session stays usable.

use std::process::Command;

use mysql_async::prelude::*;
use sluice_tests::*;

const SSN: &str = "123-45-6789";
const EMAIL: &str = "alice.secret@example.com";
const CARD: &str = "4111111111111111";

/// Every form of the clear values a client must not receive.
fn forbidden() -> Vec<String> {
    let mut v = Vec::new();
    for clear in [SSN, EMAIL, CARD] {
        v.push(clear.to_string());
        v.push(clear.chars().rev().collect());
        v.push(hex::encode_upper(clear));
    }
    v.push("123456789".into());
    v
}

fn leaks(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    forbidden()
        .into_iter()
        .filter(|f| lower.contains(&f.to_lowercase()))
        .collect()
}

fn config(table: &str, rules: bool) -> String {
    std::env::set_var("SLUICE_LEXING_KEY", "lexing-test-key");
    let rules = match rules {
        true => {
            "[[rules]]\nname = \"no-drop\"\nwhen = { statements = [\"drop\", \"truncate\"] }\naction = \"block\"\n"
        }
        false => "",
    };
    format!(
        r#"
{audit}
[[masks]]
columns = ["*.{table}.ssn"]
function = "partial"
keep_last = 4

[[masks]]
columns = ["*.{table}.email"]
function = "email"

[[masks]]
columns = ["*.{table}.card_number"]
function = "hash"
key_env = "SLUICE_LEXING_KEY"

{rules}
"#,
        audit = audit_section("SLUICE_LEXING_KEY")
    )
}

/// MySQL attacks: each is a list of raw statements sent one by one on a fresh session.
fn mysql_attacks(t: &str) -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let probes = || {
        vec![
            format!("SELECT concat(\"ssn\", '') AS p1 FROM {t}").into_bytes(),
            format!("SELECT concat(\"{t}\".\"email\") AS p2 FROM {t}").into_bytes(),
            format!("SELECT hex(\"card_number\") AS p3 FROM {t}").into_bytes(),
        ]
    };
    let with = |first: &[&str]| {
        let mut v: Vec<Vec<u8>> = first.iter().map(|s| s.as_bytes().to_vec()).collect();
        v.extend(probes());
        v
    };
    let gbk = |body: &str| {
        let mut v = b"SELECT '\xbf\\'".to_vec();
        v.extend_from_slice(body.as_bytes());
        v
    };
    vec![
        (
            "an unknown escape in the mode's name",
            with(&[r"SET sql_mode='ANSI_QUOTE\S'"]),
        ),
        (
            "an escape before the mode's name",
            with(&[r"SET sql_mode='\ANSI_QUOTES'"]),
        ),
        (
            "a rejected SET after ANSI_QUOTES",
            with(&[
                "SET sql_mode='ANSI_QUOTES'",
                r"SET sql_mode='ANSI_QUOTE\S,BOGUS'",
            ]),
        ),
        (
            "a rejected escaped SET after ANSI_QUOTES",
            with(&["SET sql_mode='ANSI_QUOTES'", r"SET sql_mode='ANSI\_QUOTES'"]),
        ),
        (
            "a backticked variable name",
            with(&["SET @@session.`sql_mode`='ANSI_QUOTES'"]),
        ),
        (
            "a backticked SESSION name",
            with(&["SET SESSION `sql_mode` = 'ANSI_QUOTES'"]),
        ),
        (
            "a backslash ending a GBK character",
            vec![
                b"SET NAMES gbk".to_vec(),
                gbk(&format!(
                    ", concat(ssn) AS leak, ' AS y FROM {t} # ' FROM {t}"
                )),
            ],
        ),
        (
            "a backslash ending a Big5 character",
            vec![b"SET NAMES big5".to_vec(), {
                let mut v = b"SELECT '\xa5\\'".to_vec();
                v.extend(format!(", concat(email) AS leak, ' AS y FROM {t} # ' FROM {t}").bytes());
                v
            }],
        ),
        // Valid UTF-8 whose last byte leads a two-byte character of the client charset, which
        // takes the backslash as its second byte.
        (
            "valid UTF-8 ending in a GBK lead byte",
            vec![
                b"SET NAMES gbk".to_vec(),
                valid_utf8_lead(b"\xE1\x81\x81", t),
            ],
        ),
        (
            "valid UTF-8 ending in an SJIS lead byte",
            vec![b"SET NAMES sjis".to_vec(), valid_utf8_lead(b"\xC3\x81", t)],
        ),
        (
            "valid UTF-8 ending in a cp932 lead byte, charset set as a variable",
            vec![
                b"SET character_set_client = cp932".to_vec(),
                valid_utf8_lead(b"\xC3\x81", t),
            ],
        ),
        (
            "valid UTF-8 ending in a Big5 lead byte",
            vec![
                b"SET NAMES big5".to_vec(),
                valid_utf8_lead(b"\xE1\xA1\xA1", t),
            ],
        ),
    ]
}

/// `SELECT '<c>\' , concat(ssn) … #' …`: to the client charset, `<c>` and the backslash end
/// in one character and `concat(ssn)` is read; to a UTF-8 reader it is inside a string.
fn valid_utf8_lead(c: &[u8], t: &str) -> Vec<u8> {
    let mut v = b"SELECT '".to_vec();
    v.extend_from_slice(c);
    v.extend(format!("\\' , concat(ssn) AS leak FROM {t} #' , 'b' FROM {t}").bytes());
    v
}

/// Statements whose literals the log must mask; the mode tricks make a reader take the
/// compared value for an identifier or a string's inside.
fn mysql_audit_attacks(t: &str) -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let by_value = |set: &[&str]| {
        let mut v: Vec<Vec<u8>> = set.iter().map(|s| s.as_bytes().to_vec()).collect();
        v.push(format!("SELECT id FROM {t} WHERE ssn = \"{SSN}\"").into_bytes());
        v.push(format!("SELECT id FROM {t} WHERE email = \"{EMAIL}\"").into_bytes());
        v
    };
    vec![
        (
            "ANSI_QUOTES turned off through a backticked name",
            by_value(&["SET sql_mode='ANSI_QUOTES'", "SET @@session.`sql_mode`=''"]),
        ),
        (
            "a SET the server rejects",
            by_value(&["SET sql_mode=' ANSI_QUOTES'"]),
        ),
        (
            "a SET with a tab the server rejects",
            by_value(&["SET sql_mode='\tANSI_QUOTES'"]),
        ),
        ("a GBK character hiding a comparison", {
            let mut v = vec![b"SET NAMES gbk".to_vec()];
            let mut s = b"SELECT id, '\xbf\\' AS tag FROM ".to_vec();
            s.extend(format!("{t} WHERE ssn = \"{SSN}\" # '").bytes());
            v.push(s);
            v
        }),
    ]
}

async fn mysql_run(conn: &mut mysql_async::Conn, sql: &[u8]) -> String {
    let mut seen = String::new();
    match conn.query_iter(sql).await {
        Ok(mut result) => loop {
            match result.collect::<mysql_async::Row>().await {
                Ok(rows) => {
                    for row in rows {
                        for v in row.unwrap() {
                            match v {
                                mysql_async::Value::Bytes(b) => {
                                    seen.push_str(&String::from_utf8_lossy(&b))
                                }
                                other => seen.push_str(&format!("{other:?}")),
                            }
                            seen.push('|');
                        }
                    }
                }
                Err(e) => {
                    seen.push_str(&e.to_string());
                    break;
                }
            }
            if result.is_empty() {
                break;
            }
        },
        Err(e) => seen.push_str(&e.to_string()),
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_quote_tricks_leak_nothing_to_the_client_or_the_log() {
    let upstream = mariadb_native();
    let t = unique("lexleak");
    let mut direct = mysql_direct(upstream).await;
    direct
        .query_drop(format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, name TEXT, ssn VARCHAR(11), email VARCHAR(64), card_number VARCHAR(19));
             INSERT INTO {t} VALUES (1, 'Alice', '{SSN}', '{EMAIL}', '{CARD}');
             CREATE TABLE {t}_victim (id INT); INSERT INTO {t}_victim VALUES (1)"
        ))
        .await
        .unwrap();
    let proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: config(&t, true),
            ..ProxyOpts::default()
        },
    )
    .await;
    let mut problems = Vec::new();
    // A DROP behind valid UTF-8 that ends in a lead byte of the client charset.
    for (charset, c) in [
        ("gbk", &b"\xE1\x81\x81"[..]),
        ("sjis", &b"\xC3\x81"[..]),
        ("big5", &b"\xE1\xA1\xA1"[..]),
    ] {
        let mut conn = proxy.mysql().await;
        mysql_run(&mut conn, format!("SET NAMES {charset}").as_bytes()).await;
        let mut drop = b"SELECT '".to_vec();
        drop.extend_from_slice(c);
        drop.extend(format!("\\' ; DROP TABLE {t}_victim; #'").bytes());
        let answer = mysql_run(&mut conn, &drop).await;
        let still: Result<Option<i64>, _> = direct
            .query_first(format!("SELECT count(*) FROM {t}_victim"))
            .await;
        if still.as_ref().ok() != Some(&Some(1)) {
            problems.push(format!("{charset}: a DROP got past the rules: {answer}"));
            let _ = direct
                .query_drop(format!(
                    "CREATE TABLE IF NOT EXISTS {t}_victim (id INT); INSERT INTO {t}_victim VALUES (1)"
                ))
                .await;
        }
    }
    let attacks = mysql_attacks(&t).into_iter().chain(mysql_audit_attacks(&t));
    for (name, statements) in attacks {
        let mut conn = proxy.mysql().await;
        for sql in &statements {
            let seen = mysql_run(&mut conn, sql).await;
            let found = leaks(&seen);
            if !found.is_empty() {
                problems.push(format!(
                    "{name}: {:?} sent {found:?} to the client",
                    String::from_utf8_lossy(sql)
                ));
            }
        }
        let one: Result<Option<i64>, _> = conn.query_first("SELECT 1").await;
        if one.as_ref().ok().copied().flatten() != Some(1) {
            problems.push(format!("{name}: the session is not usable: {one:?}"));
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logged = leaks(&proxy.audit_text());
    if !logged.is_empty() {
        problems.push(format!("the audit log holds {logged:?}"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The first value of `sql`'s first row through sluice; the statement must not be refused.
async fn first(conn: &mut mysql_async::Conn, sql: String) -> Option<String> {
    conn.query_first::<String, _>(&sql)
        .await
        .unwrap_or_else(|e| panic!("{sql} was refused: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_sessions_that_change_sql_mode_are_read_as_the_server_reads_them() {
    let upstream = mariadb_native();
    let t = unique("lexmode");
    let mut direct = mysql_direct(upstream).await;
    direct
        .query_drop(format!(
            "CREATE TABLE {t} (id INT PRIMARY KEY, ssn VARCHAR(11)); INSERT INTO {t} VALUES (1, '{SSN}')"
        ))
        .await
        .unwrap();
    let proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: config(&t, false),
            ..ProxyOpts::default()
        },
    )
    .await;
    let mut conn = proxy.mysql().await;
    // The server unescapes the mode's name: "ssn" is the column, masked.
    first(&mut conn, r"SET sql_mode = 'ANSI_QUOTE\S'".into()).await;
    let masked = first(&mut conn, format!("SELECT \"ssn\" FROM {t}")).await;
    assert_eq!(masked.as_deref(), Some("*******6789"));
    // Turned off through a quoted name: "ssn" is a string again.
    first(&mut conn, "SET @@session.`sql_mode` = ''".into()).await;
    let literal = first(&mut conn, format!("SELECT \"ssn\" FROM {t}")).await;
    assert_eq!(literal.as_deref(), Some("ssn"));
    // A value the server rejects changes nothing.
    assert!(conn
        .query_drop("SET sql_mode = ' ANSI_QUOTES'")
        .await
        .is_err());
    let still: Option<String> = conn
        .query_first(format!("SELECT \"ssn\" FROM {t}"))
        .await
        .unwrap();
    assert_eq!(still.as_deref(), Some("ssn"));
    // `||` is OR to sluice; under PIPES_AS_CONCAT the server concatenates: refused, not guessed.
    first(&mut conn, "SET sql_mode = 'PIPES_AS_CONCAT'".into()).await;
    let refused = conn.query_drop("SELECT 'a' || 'b'").await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.to_string().contains("PIPES_AS_CONCAT")),
        "{refused:?}"
    );
    first(&mut conn, "SET sql_mode = ''".into()).await;
    let or: Option<i64> = conn.query_first("SELECT 1 || 0").await.unwrap();
    assert_eq!(or, Some(1));
}

/// `psql -f` of raw bytes in a client encoding: psql sends them as they are.
fn psql_file(conn: &str, encoding: &str, sql: &[u8]) -> String {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, sql).unwrap();
    let out = Command::new("psql")
        .arg("-X")
        .arg(conn)
        .args(["-v", "ON_ERROR_STOP=0", "-f"])
        .arg(file.path())
        .env("PGCLIENTENCODING", encoding)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("psql runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_client_encodings_hide_nothing_from_rules_masks_or_the_log() {
    let upstream = pg_scram();
    let t = unique("lexleak");
    let direct = pg_direct(upstream).await;
    direct
        .batch_execute(&format!(
            "CREATE TABLE {t} (id int PRIMARY KEY, name text, ssn text, email text, card_number text);
             INSERT INTO {t} VALUES (1, 'Alice', '{SSN}', '{EMAIL}', '{CARD}');
             CREATE TABLE {t}_victim (id int); INSERT INTO {t}_victim VALUES (1)"
        ))
        .await
        .unwrap();
    let proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: config(&t, true),
            ..ProxyOpts::default()
        },
    )
    .await;
    let conn = proxy.conn_str(USER, PASSWORD, "");
    let mut problems = Vec::new();

    // SJIS: 0x95 0x5C is one character to the server, a byte and a backslash to a UTF-8 reader.
    let mut sjis = b"SELECT id, E'\x95\\' AS tag, ssn FROM ".to_vec();
    sjis.extend(format!("{t} WHERE ssn = $${SSN}$$; -- '\n").bytes());
    sjis.extend(b"SELECT E'\x95\\', concat(ssn, email) AS leak, ' FROM ");
    sjis.extend(format!("{t} -- ' FROM {t};\n").bytes());
    let out = psql_file(&conn, "SJIS", &sjis);
    let found = leaks(&out);
    if !found.is_empty() {
        problems.push(format!("SJIS: psql received {found:?}: {out}"));
    }

    // An E-string continued on the next line: the continuation takes E's escapes.
    let client = proxy.connect().await;
    let continued = format!("SELECT E'a'\n'\\'' AS a, upper(ssn) AS s FROM {t} --'");
    for result in [
        client
            .simple_query(&continued)
            .await
            .map(|m| format!("{m:?}")),
        client
            .query(&continued, &[])
            .await
            .map(|rows| format!("{rows:?}")),
    ] {
        let seen = match result {
            Ok(rows) => rows,
            Err(e) => e.to_string(),
        };
        let found = leaks(&seen);
        if !found.is_empty() {
            problems.push(format!("a continued E-string sent {found:?}: {seen}"));
        }
    }

    // Valid UTF-8 whose last byte leads a two-byte character of the client encoding.
    for (encoding, c) in [
        ("SJIS", &b"\xC3\x81"[..]),
        ("GBK", &b"\xE1\x81\x81"[..]),
        ("BIG5", &b"\xE1\xA1\xA1"[..]),
    ] {
        let mut leak = b"SELECT E'".to_vec();
        leak.extend_from_slice(c);
        leak.extend(format!("\\' , upper(ssn) AS leak FROM {t} --' , 'x' FROM {t};\n").bytes());
        let out = psql_file(&conn, encoding, &leak);
        let found = leaks(&out);
        if !found.is_empty() {
            problems.push(format!("{encoding}: psql received {found:?}: {out}"));
        }
        let mut drop = b"SELECT E'".to_vec();
        drop.extend_from_slice(c);
        drop.extend(format!("\\' \\; DROP TABLE {t}_victim; --'\n").bytes());
        let out = psql_file(&conn, encoding, &drop);
        let still: Result<i64, _> = direct
            .query_one(&format!("SELECT count(*) FROM {t}_victim"), &[])
            .await
            .map(|r| r.get(0));
        if still.as_ref().ok() != Some(&1) {
            problems.push(format!(
                "{encoding}: a DROP got past the rules ({still:?}): {out}"
            ));
            let _ = direct
                .batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {t}_victim (id int); INSERT INTO {t}_victim VALUES (1)"
                ))
                .await;
        }
    }

    // LATIN1: bytes that are no UTF-8 must not carry a statement past the rules (`\;` makes
    // psql send both statements in one Query).
    let mut latin1 = format!("DROP TABLE {t}_victim \\; SELECT 'caf").into_bytes();
    latin1.extend(b"\xe9';\n");
    let out = psql_file(&conn, "LATIN1", &latin1);
    let still: Result<i64, _> = direct
        .query_one(&format!("SELECT count(*) FROM {t}_victim"), &[])
        .await
        .map(|r| r.get(0));
    if still.as_ref().ok() != Some(&1) {
        problems.push(format!(
            "LATIN1: a DROP behind a non-UTF-8 byte ran ({still:?}): {out}"
        ));
    }

    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let log = proxy.audit_text();
    let logged = leaks(&log);
    if !logged.is_empty() {
        problems.push(format!("the audit log holds {logged:?}"));
    }
    // Every statement that ran is in the log: a result never comes without its statement.
    let reader = audit::AuditReader::open(proxy.dir.path().join("audit")).unwrap();
    let mut export = Vec::new();
    audit::export_jsonl(&reader, &audit::Filter::default(), &mut export).unwrap();
    let kinds: Vec<String> = String::from_utf8_lossy(&export)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|r| r["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    let statements = kinds.iter().filter(|k| *k == "statement").count();
    let results = kinds.iter().filter(|k| *k == "result").count();
    if results > statements {
        problems.push(format!(
            "the log holds {results} results for {statements} statements"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
