//! sluice reads quotes exactly as the server does, under every setting that changes lexing.
//!
//! For a corpus of tricky texts, each is run on a real server (directly, no sluice) under each
//! setting: PostgreSQL `standard_conforming_strings` on/off, MariaDB's default,
//! `NO_BACKSLASH_ESCAPES`, `ANSI_QUOTES` and both. Two things are compared with what sluice's
//! reader (`policy::standardize` for that setting, then sluice's analysis) makes of the text:
//! - **statement boundaries**: every text carries probe `INSERT`s into tables `pN`; each probe
//!   the server ran must be an INSERT into `pN` in sluice's analysis (sluice may see more when
//!   the server fails early, never fewer);
//! - **literal spans and values**: the standardized text, run under the *default* setting,
//!   returns exactly the rows the original returned under its own setting (PostgreSQL rejects
//!   a text with a syntax error whole, running none of it: only the probe check applies then).

use mysql_async::prelude::*;
use policy::{analyze, standardize, Dialect, LexMode, StatementKind};
use sluice_tests::*;

/// Texts whose reading depends on backslashes, quotes and comments. `{i}` marks a probe slot
/// (`INSERT INTO p<i> VALUES (1)`), numbered in order.
const PG_TEXTS: &[&str] = &[
    "SELECT E'a'\n'\\'' ; {1}; -- '",
    "SELECT e'a' \n\t'\\'' ; {1}; -- '",
    r"SELECT 'a\'' ; {1}; -- '",
    r"SELECT 'a\\' ; {1}; -- '",
    r"SELECT E'a\'' ; {1}; -- '",
    r"SELECT 'a\' , 'b' ; {1}; -- '",
    "SELECT 'x\\'\n'y' ; {1}; -- '",
    "SELECT 'a'\n'b\\'' ; {1}; -- '",
    r"SELECT N'a\'' ; {1}; -- '",
    r"SELECT U&'\0041' ; {1}",
    r"SELECT $$a\'$$ ; {1}; -- '",
    r"SELECT $q$'\$q$ ; {1}",
    r#"SELECT 1 AS "a\" ; {1}; -- ""#,
    r"SELECT /* ' \' */ 'x' ; {1}",
    r"SELECT /* /* ' */ \' */ 'x' ; {1}",
    r"SELECT 'a' -- \'
; {1}",
    r"SELECT 1e'\'' ; {1}; -- '",
    r"SELECT B'01' , X'1f' ; {1}",
    r"SELECT 'C:\path\n' ; {1}",
    r"SELECT '\\\'' ; {1}; -- '",
    r"SELECT 'it''s' , '\''' ; {1} ; -- ''",
    r"{1}; SELECT 'a\' ; {2}; -- ' ; {3}",
];

const MY_TEXTS: &[&str] = &[
    r"SELECT 1 /*!99999 , ' */ ; {1}; -- '",
    r"SELECT 1 /*!50699 , ' */ ; {1}; -- '",
    r"SELECT 1 /*M!99999 , ' */ ; {1}; -- '",
    r"SELECT 1 /*!999999 , ' */ ; {1}; -- '",
    r"SELECT 1 /*!100000 , ' */ ; {1}; -- '",
    r"SELECT 'a\' ; {1}; -- '",
    r"SELECT 'a\\' ; {1}; -- '",
    r"SELECT 'a\'' ; {1}; -- '",
    r#"SELECT "a\" ; {1}; -- ""#,
    r#"SELECT "a" ; {1}"#,
    r#"SELECT "x\"y" ; {1}; -- ""#,
    r"SELECT `a\` ; {1}",
    r"SELECT 'it''s', 'a\'' ; {1} ; -- '",
    r"SELECT 1 -- \'
; {1}",
    r"SELECT 1 --\' ; {1} ; -- '",
    r"SELECT 1 # ' \'
; {1}",
    r"SELECT /* ' */ 'x' ; {1}",
    r"SELECT /*! 'a\' */ ; {1}; -- '",
    r"SELECT _utf8mb4'a\' ; {1}; -- '",
    r"SELECT X'41' , 'b\\' ; {1}",
    r#"SELECT 'a"\'' , "b'\"" ; {1}; -- '"#,
    r"SELECT '\\\' ; {1}; -- '",
    r"{1}; SELECT 'a\' ; {2}; -- ' ; {3}",
];

fn with_probes(text: &str) -> (String, usize) {
    let mut out = text.to_string();
    let mut n = 0;
    while let Some(at) = out.find(&format!("{{{}}}", n + 1)) {
        n += 1;
        let marker = format!("{{{n}}}");
        out.replace_range(
            at..at + marker.len(),
            &format!("INSERT INTO p{n} VALUES (1)"),
        );
    }
    (out, n)
}

/// The probe tables sluice's analysis says the text writes.
fn predicted_probes(dialect: Dialect, mode: LexMode, sql: &str) -> Vec<usize> {
    let text = standardize(dialect, mode, sql);
    let mut probes: Vec<usize> = analyze(dialect, &text)
        .statements
        .iter()
        .filter(|s| s.kind == StatementKind::Insert)
        .flat_map(|s| s.tables.iter())
        .filter_map(|t| t.name.strip_prefix('p').and_then(|n| n.parse().ok()))
        .collect();
    probes.sort();
    probes.dedup();
    probes
}

const PG_MODES: &[(&str, LexMode)] = &[
    (
        "on",
        LexMode {
            backslash_escapes: false,
            ansi_quotes: false,
            server: None,
        },
    ),
    (
        "off",
        LexMode {
            backslash_escapes: true,
            ansi_quotes: false,
            server: None,
        },
    ),
];

async fn pg_rows(
    client: &tokio_postgres::Client,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, String> {
    let messages = client.simple_query(sql).await.map_err(|e| {
        e.as_db_error()
            .map(|d| d.code().code().to_string())
            .unwrap_or_else(|| e.to_string())
    })?;
    Ok(messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect())
}

#[tokio::test]
async fn postgres_statement_boundaries_and_literals_match_the_server() {
    let server = pg_scram();
    let client = pg_direct(server).await;
    let mut failures = Vec::new();
    let mut probed = 0;
    for (setting, mode) in PG_MODES {
        for text in PG_TEXTS {
            let (sql, probes) = with_probes(text);
            let schema = unique("lexpg");
            let mut setup = format!("CREATE SCHEMA {schema}; SET search_path = {schema};");
            for n in 1..=probes {
                setup.push_str(&format!("CREATE TABLE p{n} (x int);"));
            }
            client.batch_execute(&setup).await.expect("probe tables");
            client
                .batch_execute(&format!("SET standard_conforming_strings = {setting}"))
                .await
                .expect("setting");
            let direct = pg_rows(&client, &sql).await;
            let mut ran = Vec::new();
            for n in 1..=probes {
                let rows = client
                    .query_one(&format!("SELECT count(*) FROM p{n}"), &[])
                    .await
                    .expect("probe count");
                if rows.get::<_, i64>(0) > 0 {
                    ran.push(n);
                }
            }
            probed += usize::from(!ran.is_empty());
            let predicted = predicted_probes(Dialect::Postgres, *mode, &sql);
            if !ran.iter().all(|n| predicted.contains(n)) {
                failures.push(format!(
                    "scs={setting}: {sql:?}: the server ran probes {ran:?}, sluice saw {predicted:?}"
                ));
            }
            // The standard spelling means the same under the default setting.
            let standard = standardize(Dialect::Postgres, *mode, &sql).into_owned();
            client
                .batch_execute(&format!(
                    "DROP SCHEMA {schema} CASCADE; CREATE SCHEMA {schema}; SET standard_conforming_strings = on;"
                ))
                .await
                .expect("reset");
            for n in 1..=probes {
                client
                    .batch_execute(&format!("CREATE TABLE p{n} (x int)"))
                    .await
                    .expect("probe tables");
            }
            let restated = pg_rows(&client, &standard).await;
            // A text the server rejects whole ran nothing: only the probes above speak for it.
            if direct.is_ok() && direct != restated {
                failures.push(format!(
                    "scs={setting}: {sql:?} gave {direct:?}, its standard spelling {standard:?} gave {restated:?}"
                ));
            }
            client
                .batch_execute(&format!("RESET search_path; DROP SCHEMA {schema} CASCADE"))
                .await
                .expect("cleanup");
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Most texts are valid under most settings: the probes must really have run.
    assert!(probed >= PG_TEXTS.len(), "only {probed} texts ran a probe");
}

const MY_MODES: &[(&str, LexMode)] = &[
    (
        "",
        LexMode {
            backslash_escapes: true,
            ansi_quotes: false,
            server: None,
        },
    ),
    (
        "NO_BACKSLASH_ESCAPES",
        LexMode {
            backslash_escapes: false,
            ansi_quotes: false,
            server: None,
        },
    ),
    (
        "ANSI_QUOTES",
        LexMode {
            backslash_escapes: true,
            ansi_quotes: true,
            server: None,
        },
    ),
    (
        "ANSI_QUOTES,NO_BACKSLASH_ESCAPES",
        LexMode {
            backslash_escapes: false,
            ansi_quotes: true,
            server: None,
        },
    ),
];

async fn my_rows(conn: &mut mysql_async::Conn, sql: &str) -> Result<Vec<Vec<String>>, String> {
    let mut result = conn.query_iter(sql).await.map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    loop {
        let set: Vec<mysql_async::Row> = result.collect().await.map_err(|e| e.to_string())?;
        rows.extend(set.into_iter().map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| format!("{v:?}"))
                .collect::<Vec<_>>()
        }));
        if result.is_empty() {
            break;
        }
    }
    Ok(rows)
}

/// Fresh probe tables, then the session's sql_mode.
async fn reset(conn: &mut mysql_async::Conn, probes: usize, mode: &str) {
    let mut s = String::from("SET sql_mode = '';");
    for n in 1..=probes {
        s.push_str(&format!(
            "DROP TABLE IF EXISTS p{n}; CREATE TABLE p{n} (x int);"
        ));
    }
    s.push_str(&format!("SET sql_mode = '{mode}'"));
    conn.query_drop(s).await.expect("probe tables");
}

#[tokio::test]
async fn mysql_statement_boundaries_and_literals_match_the_server() {
    let server = mariadb_native();
    let mut conn = mysql_direct(server).await;
    let version: Option<String> = conn.query_first("SELECT VERSION()").await.unwrap();
    let known = policy::MysqlServer::from_version(&version.unwrap_or_default());
    assert!(known.is_some(), "the server's version reads");
    let mut failures = Vec::new();
    let mut probed = 0;
    for (setting, mode) in MY_MODES {
        let mode = &LexMode {
            server: known,
            ..*mode
        };
        for text in MY_TEXTS {
            let (sql, probes) = with_probes(text);
            reset(&mut conn, probes, setting).await;
            let direct = my_rows(&mut conn, &sql).await;
            // The connection may be left mid-error; a fresh one reads the probes.
            let mut check = mysql_direct(server).await;
            let mut ran = Vec::new();
            for n in 1..=probes {
                let count: Option<i64> = check
                    .query_first(format!("SELECT count(*) FROM p{n}"))
                    .await
                    .expect("probe count");
                if count.unwrap_or(0) > 0 {
                    ran.push(n);
                }
            }
            drop(check);
            probed += usize::from(!ran.is_empty());
            let predicted = predicted_probes(Dialect::MySql, *mode, &sql);
            if !ran.iter().all(|n| predicted.contains(n)) {
                failures.push(format!(
                    "sql_mode={setting:?}: {sql:?}: the server ran probes {ran:?}, sluice saw {predicted:?}"
                ));
            }
            let standard = standardize(Dialect::MySql, *mode, &sql).into_owned();
            conn = mysql_direct(server).await;
            reset(&mut conn, probes, "").await;
            let restated = my_rows(&mut conn, &standard).await;
            let same = match (&direct, &restated) {
                (Ok(a), Ok(b)) => a == b,
                (Err(_), Err(_)) => true,
                _ => false,
            };
            if !same {
                failures.push(format!(
                    "sql_mode={setting:?}: {sql:?} gave {direct:?}, its standard spelling {standard:?} gave {restated:?}"
                ));
            }
            conn = mysql_direct(server).await;
        }
    }
    for n in 1..=3 {
        let _ = conn.query_drop(format!("DROP TABLE IF EXISTS p{n}")).await;
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        probed >= 2 * MY_TEXTS.len(),
        "only {probed} texts ran a probe"
    );
}
