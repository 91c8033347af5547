//! Inline masking end to end: masked columns never reach a masked user in clear, whatever the
//! query looks like, in text and binary formats, through the simple and extended protocols.
//! Every result of a leak corpus is scanned for the clear sensitive values of the sample data.

use mysql_async::prelude::*;
use sluice_tests::*;
use tokio_postgres::types::{FromSql, Type};

/// The clear values that must never reach alice (group analysts).
const SSNS: [&str; 2] = ["123-45-6789", "587-65-4321"];
const EMAILS: [&str; 2] = ["alice.smith@example.com", "bob.jones@example.org"];
const CARDS: [&str; 2] = ["4111111111111111", "5500005555555559"];
const SALARY: &str = "123456.78";

/// The masks of the sample data; with `detectors`, content detectors too. The leak corpora run
/// without detectors, so that what they prove is masking by origin and lineage alone.
fn masks(schema: &str, detectors: bool) -> String {
    std::env::set_var("SLUICE_TEST_MASK_KEY", "test-mask-key");
    let text = format!(
        r#"
[[masks]]
columns = ["{schema}.customers.ssn"]
function = "partial"
keep_last = 4
except_groups = ["dba"]

[[masks]]
columns = ["{schema}.customers.email"]
function = "email"
except_groups = ["dba"]

[[masks]]
columns = ["{schema}.customers.card_number"]
function = "hash"
key_env = "SLUICE_TEST_MASK_KEY"
except_groups = ["dba"]

[[masks]]
columns = ["{schema}.employees.salary"]
function = "null"
except_groups = ["dba"]

[[masks]]
columns = ["{schema}.customers.birth_date"]
function = "generalize"
except_groups = ["dba"]

[[detectors]]
kinds = ["credit_card", "email", "us_ssn"]
function = "redact"
except_groups = ["dba"]
"#
    );
    match detectors {
        true => text,
        false => text
            .split("[[detectors]]")
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

const PG_SCHEMA: &str = "
CREATE TABLE customers (id int PRIMARY KEY, name text, ssn text, email text, card_number text, birth_date date, notes text);
CREATE TABLE employees (id int PRIMARY KEY, name text, salary numeric(10,2));
CREATE TABLE orders (id int PRIMARY KEY, customer_id int, total numeric(10,2));
INSERT INTO customers VALUES
  (1, 'Alice Smith', '123-45-6789', 'alice.smith@example.com', '4111111111111111', '1985-07-23', 'VIP'),
  (2, 'Bob Jones', '587-65-4321', 'bob.jones@example.org', '5500005555555559', '1990-01-15', 'NOTES');
INSERT INTO employees VALUES (1, 'Carol', 123456.78), (2, 'Dan', 65000.00);
INSERT INTO orders VALUES (10, 1, 99.50), (11, 2, 12.00);
CREATE VIEW customer_contacts AS SELECT id, name AS full_name, email, ssn AS tax_id FROM customers;
CREATE VIEW contact_ids AS SELECT full_name, lower(tax_id) AS tid FROM customer_contacts;
";

/// Free text in an unmasked column: with detectors on, it carries PII for them to find.
fn free_text(detectors: bool) -> &'static str {
    match detectors {
        true => "reach me at bob.jones@example.org or 587-65-4321",
        false => "reach me by phone",
    }
}

/// Every clear sensitive value, as alice must never see it (and reversed, for `reverse()`).
fn clear_values() -> Vec<String> {
    let mut v: Vec<String> = SSNS
        .iter()
        .chain(EMAILS.iter())
        .chain(CARDS.iter())
        .map(|s| s.to_string())
        .collect();
    v.push(SALARY.into());
    v.push("123456".into());
    v.push("1985-07-23".into());
    v.push("1990-01-15".into());
    let reversed: Vec<String> = v.iter().map(|s| s.chars().rev().collect()).collect();
    v.extend(reversed);
    // Digits only: `replace(ssn, '-', '')`.
    v.push("123456789".into());
    v.push("587654321".into());
    v
}

fn leaks_in(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    clear_values()
        .into_iter()
        .filter(|v| lower.contains(&v.to_lowercase()))
        .collect()
}

/// The leak corpus for PostgreSQL: every way of reading a masked column we know of.
fn pg_leak_corpus(s: &str) -> Vec<String> {
    let q = |sql: &str| sql.replace("S.", &format!("{s}."));
    [
        "SELECT ssn FROM S.customers",
        "SELECT ssn AS x FROM S.customers",
        "SELECT c.ssn FROM S.customers c",
        "SELECT * FROM S.customers",
        "SELECT c.* FROM S.customers c",
        "SELECT id, email, card_number, birth_date FROM S.customers ORDER BY id",
        "SELECT \"ssn\" FROM S.customers",
        "SELECT upper(ssn) FROM S.customers",
        "SELECT lower(email) FROM S.customers",
        "SELECT ssn || '' FROM S.customers",
        "SELECT ssn::text FROM S.customers",
        "SELECT CAST(ssn AS varchar(20)) FROM S.customers",
        "SELECT concat(ssn) FROM S.customers",
        "SELECT concat('x', ssn, 'y') FROM S.customers",
        "SELECT coalesce(ssn, '') FROM S.customers",
        "SELECT substr(ssn, 1, 11) FROM S.customers",
        "SELECT reverse(ssn) FROM S.customers",
        "SELECT replace(ssn, '-', '') FROM S.customers",
        "SELECT format('%s', ssn) FROM S.customers",
        "SELECT CASE WHEN id > 0 THEN ssn END FROM S.customers",
        "SELECT row_to_json(c) FROM S.customers c",
        "SELECT to_jsonb(c.*) FROM S.customers c",
        "SELECT c FROM S.customers c",
        "SELECT json_agg(c) FROM S.customers c",
        "SELECT json_agg(ssn) FROM S.customers",
        "SELECT array_agg(ssn) FROM S.customers",
        "SELECT string_agg(ssn, ',') FROM S.customers",
        "SELECT string_agg(email, ';' ORDER BY id) FROM S.customers",
        "SELECT max(ssn), min(card_number) FROM S.customers",
        "SELECT json_build_object('s', ssn) FROM S.customers",
        "SELECT ARRAY[ssn, email] FROM S.customers",
        "SELECT (SELECT ssn FROM S.customers WHERE id = 1)",
        "SELECT x FROM (SELECT ssn AS x FROM S.customers) t",
        "SELECT * FROM (SELECT ssn, email FROM S.customers) t",
        "WITH t AS (SELECT ssn FROM S.customers) SELECT ssn FROM t",
        "WITH t AS (SELECT upper(ssn) AS u FROM S.customers) SELECT * FROM t",
        "SELECT ssn FROM S.customers UNION ALL SELECT 'x'",
        "SELECT 'x' UNION SELECT email FROM S.customers",
        "SELECT o.id, c.ssn, c.email FROM S.orders o JOIN S.customers c ON c.id = o.customer_id",
        "SELECT o.id, c.* FROM S.orders o LEFT JOIN S.customers c ON c.id = o.customer_id",
        "SELECT o.id, l.s FROM S.orders o, LATERAL (SELECT ssn AS s FROM S.customers c WHERE c.id = o.customer_id) l",
        "SELECT * FROM S.customer_contacts",
        "SELECT tax_id, email FROM S.customer_contacts",
        "SELECT upper(tax_id) FROM S.customer_contacts",
        "SELECT * FROM S.contact_ids",
        "SELECT upper(tid) FROM S.contact_ids",
        "SELECT c.tid FROM S.contact_ids c JOIN S.orders o ON true",
        "SELECT salary FROM S.employees",
        "SELECT salary * 1 FROM S.employees",
        "SELECT sum(salary) FROM S.employees",
        "SELECT salary::text FROM S.employees",
        "SELECT e.* FROM S.employees e",
        "SELECT birth_date FROM S.customers",
        "SELECT birth_date::text FROM S.customers",
        "SELECT to_char(birth_date, 'YYYY-MM-DD') FROM S.customers",
        "SELECT card_number FROM S.customers",
        "SELECT notes FROM S.customers",
        "SELECT upper(notes) FROM S.customers",
        "SELECT ssn FROM S.customers WHERE id = 1; SELECT email FROM S.customers",
        "SELECT 1; SELECT * FROM S.customers",
        "VALUES ((SELECT email FROM S.customers WHERE id = 2))",
        "SELECT id, ssn FROM S.customers ORDER BY 1 LIMIT 1 OFFSET 1",
        "SELECT DISTINCT ssn FROM S.customers",
        "SELECT ssn FROM S.customers GROUP BY ssn",
        "SELECT (c).ssn FROM (SELECT c FROM S.customers c) x",
        "SELECT id, (SELECT string_agg(ssn, ',') FROM S.customers) FROM S.orders",
        "UPDATE S.customers SET name = name WHERE id = 1 RETURNING ssn, email",
        "UPDATE S.customers SET name = name WHERE id = 2 RETURNING *",
        "INSERT INTO S.customers (id, name, ssn) VALUES (99, 'Tmp', '123-45-6789') RETURNING ssn, upper(ssn)",
        "DELETE FROM S.customers WHERE id = 99 RETURNING *",
    ]
    .iter()
    .map(|sql| q(sql))
    .collect()
}

/// Raw field bytes, whatever the type: what a binary-format client receives.
struct Raw(Option<Vec<u8>>);
impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw.to_vec())))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

async fn pg_setup(detectors: bool) -> (Proxy, String) {
    let upstream = pg_scram();
    let schema = unique("mask");
    let (direct, conn) = tokio_postgres::connect(&direct_conn_str(upstream), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    direct
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path = {schema}; {}",
            PG_SCHEMA.replace("NOTES", free_text(detectors))
        ))
        .await
        .unwrap();
    let proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: masks(&schema, detectors),
            ..ProxyOpts::default()
        },
    )
    .await;
    (proxy, schema)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_leak_corpus_finds_no_clear_value_in_text_or_binary() {
    let (proxy, schema) = pg_setup(false).await;
    let client = proxy.connect().await;
    let corpus = pg_leak_corpus(&schema);
    assert!(corpus.len() >= 60, "{} queries", corpus.len());
    let mut answered = 0;
    for sql in &corpus {
        // Simple protocol, text format.
        match client.simple_query(sql).await {
            Ok(messages) => {
                answered += 1;
                let mut text = String::new();
                for m in &messages {
                    if let tokio_postgres::SimpleQueryMessage::Row(row) = m {
                        for i in 0..row.len() {
                            text += row.get(i).unwrap_or("NULL");
                            text += "|";
                        }
                    }
                }
                let leaks = leaks_in(&text);
                assert!(leaks.is_empty(), "{sql} leaked {leaks:?} in text: {text}");
            }
            Err(e) => {
                let msg = e
                    .as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_default();
                assert!(
                    msg.starts_with("sluice:"),
                    "{sql}: only sluice may refuse: {e:?}"
                );
            }
        }
        // Extended protocol, binary format (multi-statement strings cannot be prepared).
        if sql.contains(';') {
            continue;
        }
        if let Ok(rows) = client.query(sql.as_str(), &[]).await {
            let mut bytes = Vec::new();
            for row in &rows {
                for i in 0..row.len() {
                    if let Raw(Some(v)) = row.get::<_, Raw>(i) {
                        bytes.extend_from_slice(&v);
                        bytes.push(b'|');
                    }
                }
            }
            let text = String::from_utf8_lossy(&bytes);
            let leaks = leaks_in(&text);
            assert!(leaks.is_empty(), "{sql} leaked {leaks:?} in binary: {text}");
        }
    }
    assert!(
        answered * 10 >= corpus.len() * 8,
        "most of the corpus must be answered (masked), not refused: {answered} of {}",
        corpus.len()
    );
    // Cursors: a FETCH returns what its cursor's query selects, expressions included.
    let mut text = String::new();
    client.batch_execute("BEGIN").await.unwrap();
    client
        .batch_execute(&format!(
            "DECLARE cur CURSOR FOR SELECT id, ssn, upper(email) AS e, row_to_json(c), upper(name) FROM {schema}.customers c"
        ))
        .await
        .unwrap();
    for sql in ["FETCH 1 FROM cur", "FETCH ALL FROM cur"] {
        for m in client.simple_query(sql).await.unwrap() {
            if let tokio_postgres::SimpleQueryMessage::Row(row) = m {
                for i in 0..row.len() {
                    text += row.get(i).unwrap_or("NULL");
                    text += "|";
                }
            }
        }
    }
    client.batch_execute("COMMIT").await.unwrap();
    assert!(text.contains("*******6789"), "{text}");
    // Values derived from a masked column get a constant, never a shape-keeping mask (which
    // would let a user rebuild the value slice by slice); an expression over clear columns
    // passes, as in the declared query (not redacted for want of a statement).
    assert!(
        text.contains("*******6789|[REDACTED]|null|ALICE SMITH|"),
        "{text}"
    );
    assert!(!text.contains("A***@"), "{text}");
    assert!(leaks_in(&text).is_empty(), "a cursor leaked: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_masked_values_are_valid_for_their_types_and_exempt_groups_see_clear() {
    let (proxy, s) = pg_setup(true).await;
    let mut alice = proxy.connect().await;
    let sql = format!(
        "SELECT id, name, ssn, email, card_number, birth_date, notes FROM {s}.customers ORDER BY id"
    );
    // Binary format through a prepared statement, decoded by the driver into real types.
    let rows = alice.query(sql.as_str(), &[]).await.unwrap();
    assert_eq!(rows.len(), 2);
    let ssn: String = rows[0].get("ssn");
    assert_eq!(ssn, "*******6789");
    let email: String = rows[0].get("email");
    assert_eq!(email, "a***@example.com");
    let card: String = rows[0].get("card_number");
    assert!(!CARDS.contains(&card.as_str()), "{card}");
    assert!(card.chars().all(|c| c.is_ascii_hexdigit()), "{card}");
    let name: String = rows[0].get("name");
    assert_eq!(name, "Alice Smith", "unmasked columns are untouched");
    // The detector redacts what it finds inside unmasked text.
    let notes: String = rows[1].get("notes");
    assert!(
        !notes.contains("bob.jones@example.org") && !notes.contains("587-65-4321"),
        "{notes}"
    );
    assert!(notes.starts_with("reach me at "), "{notes}");
    // The masked date is still a date (generalized to the year), in both formats.
    let year_only: Vec<tokio_postgres::SimpleQueryMessage> = alice
        .simple_query(&format!("SELECT birth_date FROM {s}.customers ORDER BY id"))
        .await
        .unwrap();
    let texts: Vec<&str> = year_only
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["1985-01-01", "1990-01-01"]);
    let Raw(Some(binary_date)) = rows[0].get::<_, Raw>("birth_date") else {
        panic!("birth_date is not NULL")
    };
    let days = i32::from_be_bytes(binary_date.try_into().unwrap());
    assert_eq!(days, -5478, "1985-01-01 is 5478 days before 2000-01-01");
    // The hash is deterministic: the same value masks the same way in text and binary, and in
    // another session.
    let again = alice
        .simple_query(&format!(
            "SELECT card_number FROM {s}.customers WHERE id = 1"
        ))
        .await
        .unwrap();
    let text_card = again.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(text_card.as_deref(), Some(card.as_str()));
    // A portal read a row at a time (Execute with max_rows) is masked on every Execute.
    let tx = alice.transaction().await.unwrap();
    let portal = tx
        .bind(
            &format!("SELECT ssn, upper(email) FROM {s}.customers ORDER BY id"),
            &[],
        )
        .await
        .unwrap();
    for want in ["*******6789", "*******4321"] {
        let rows = tx.query_portal(&portal, 1).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<_, String>(0), want);
        assert!(!EMAILS
            .iter()
            .any(|e| rows[0].get::<_, String>(1).eq_ignore_ascii_case(e)));
    }
    tx.commit().await.unwrap();
    // NULL-masked salary decodes as NULL.
    let salary: Raw = alice
        .query_one(
            &format!("SELECT salary FROM {s}.employees WHERE id = 1"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(salary.0.is_none(), "a null-masked numeric is NULL");

    // bob is in group dba: clear values.
    let bob = proxy.try_connect(OTHER_USER, OTHER_PASSWORD).await.unwrap();
    let row = bob
        .query_one(
            &format!("SELECT ssn, email, birth_date::text FROM {s}.customers WHERE id = 1"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "123-45-6789");
    assert_eq!(row.get::<_, String>(1), "alice.smith@example.com");
    assert_eq!(row.get::<_, String>(2), "1985-07-23");
}

/// libpq sends its own Describe of the portal with every execution (Bind, Describe, Execute,
/// Sync), and sluice lets that answer describe the rows instead of asking again. pgbench is a
/// libpq client of both kinds: `-M extended` (an unnamed statement each time) and `-M prepared`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_detector_hits_inside_binary_arrays_and_records_leave_valid_values() {
    // Element lengths live inside a binary array or record: a hit rewritten in place would
    // leave the old lengths (telling the hidden value's length) and a value no client can
    // decode (the black-box attacker's psycopg crashed on one).
    let (proxy, s) = pg_setup(true).await;
    let alice = proxy.connect().await;
    let array =
        format!("SELECT ARRAY['card 4111 1111 1111 1111', 'plain'] AS a FROM {s}.orders LIMIT 1");
    let rows = alice.query(array.as_str(), &[]).await.unwrap();
    let a: Option<Vec<String>> = rows[0].get("a");
    assert_eq!(
        a, None,
        "a binary array with a hit is NULL, never rewritten inside"
    );
    let record = format!("SELECT ROW(notes, id) AS r FROM {s}.customers WHERE id = 2");
    let rows = alice.query(record.as_str(), &[]).await.unwrap();
    assert_eq!(rows[0].len(), 1);
    let Raw(r) = rows[0].get("r");
    assert_eq!(r, None, "a binary record with a hit is NULL");
    // Text format rewrites inside the literal, which stays one.
    let text = alice.simple_query(&array).await.unwrap();
    let shown = match &text[1] {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).unwrap_or_default().to_string(),
        other => panic!("{other:?}"),
    };
    assert!(
        shown.starts_with('{') && shown.contains("[REDACTED]") && !shown.contains("4111"),
        "{shown}"
    );
    // Arrays without a hit pass untouched.
    let rows = alice
        .query("SELECT ARRAY['plain', 'text'] AS a", &[])
        .await
        .unwrap();
    let a: Option<Vec<String>> = rows[0].get("a");
    assert_eq!(a, Some(vec!["plain".to_string(), "text".to_string()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_libpq_executions_described_by_the_client_are_masked() {
    let (proxy, s) = pg_setup(false).await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("read.sql");
    std::fs::write(
        &script,
        format!(
            "SELECT id, ssn, upper(email) AS ue, card_number AS card FROM {s}.customers WHERE id = :n \\gset\n\
             \\shell echo row :id :ssn :ue :card\n"
        ),
    )
    .unwrap();
    for mode in ["extended", "prepared"] {
        let out = std::process::Command::new("pgbench")
            .args(["-n", "-M", mode, "-t", "2", "-D", "n=2", "-f"])
            .arg(&script)
            .arg(proxy.conn_str(USER, PASSWORD, ""))
            .env_remove("PGPASSWORD")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("pgbench runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{mode}: {}{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("row ")).collect();
        assert_eq!(rows.len(), 2, "{mode}: one row per transaction: {stdout}");
        for row in rows {
            let fields: Vec<&str> = row.split(' ').collect();
            assert_eq!(fields[1..3], ["2", "*******4321"], "{mode}: {row}");
            assert_eq!(fields[3], "[REDACTED]", "{mode}: derived: {row}");
            assert!(!CARDS.contains(&fields[4]), "{mode}: {row}");
            assert!(leaks_in(row).is_empty(), "{mode} leaked: {row}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_what_it_cannot_mask_and_the_session_goes_on() {
    let (proxy, s) = pg_setup(false).await;
    let alice = proxy.connect().await;
    for sql in [
        format!("CREATE TABLE {s}.stolen AS SELECT ssn FROM {s}.customers"),
        format!("INSERT INTO {s}.orders (id, customer_id, total) SELECT id + 100, id, length(ssn) FROM {s}.customers"),
        format!("SELECT ssn INTO {s}.stolen2 FROM {s}.customers"),
        format!("COPY {s}.customers TO STDOUT (FORMAT binary)"),
        format!("COPY (SELECT ssn FROM {s}.customers) TO STDOUT WITH BINARY"),
    ] {
        let err = alice.simple_query(&sql).await.unwrap_err();
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {err:?}"
        );
        let one: i32 = alice.query_one("SELECT 1", &[]).await.unwrap().get(0);
        assert_eq!(one, 1);
    }
    // Unmasked columns copy fine.
    let copied = alice
        .copy_out(&format!(
            "COPY (SELECT id, name FROM {s}.customers ORDER BY id) TO STDOUT"
        ))
        .await
        .unwrap();
    let chunks: Vec<bytes::Bytes> = futures_util::TryStreamExt::try_collect(copied)
        .await
        .unwrap();
    assert_eq!(chunks.concat(), b"1\tAlice Smith\n2\tBob Jones\n");
    // COPY in text and CSV format is masked field by field, like result rows.
    for (sql, want) in [
        (
            format!("COPY (SELECT id, ssn, email FROM {s}.customers ORDER BY id) TO STDOUT"),
            "1\t*******6789\ta***@example.com\n2\t*******4321\tb***@example.org\n",
        ),
        (
            format!("COPY (SELECT id, upper(ssn), birth_date FROM {s}.customers ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)"),
            "id,upper,birth_date\n1,[REDACTED],1985-01-01\n2,[REDACTED],1990-01-01\n",
        ),
        // FORCE_QUOTE, as PostgreSQL writes it: every non-NULL value of those columns quoted.
        (
            format!("COPY (SELECT id, ssn, email FROM {s}.customers ORDER BY id) TO STDOUT (FORMAT csv, FORCE_QUOTE *)"),
            "\"1\",\"*******6789\",\"a***@example.com\"\n\"2\",\"*******4321\",\"b***@example.org\"\n",
        ),
        (
            format!("COPY (SELECT id, ssn, name FROM {s}.customers ORDER BY id) TO STDOUT (FORMAT csv, HEADER, FORCE_QUOTE (ssn))"),
            "id,ssn,name\n1,\"*******6789\",Alice Smith\n2,\"*******4321\",Bob Jones\n",
        ),
    ] {
        let copied = alice.copy_out(&sql).await.unwrap();
        let chunks: Vec<bytes::Bytes> =
            futures_util::TryStreamExt::try_collect(copied).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&chunks.concat()), want, "{sql}");
    }
    let copied = alice
        .copy_out(&format!("COPY {s}.customers TO STDOUT"))
        .await
        .unwrap();
    let chunks: Vec<bytes::Bytes> = futures_util::TryStreamExt::try_collect(copied)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&chunks.concat()).to_string();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        leaks_in(&text).is_empty(),
        "COPY of the whole table leaked: {text}"
    );
    assert!(
        text.contains("Alice Smith") && text.contains("*******6789"),
        "{text}"
    );
    // Exempt users may copy.
    let bob = proxy.try_connect(OTHER_USER, OTHER_PASSWORD).await.unwrap();
    bob.simple_query(&format!(
        "CREATE TABLE {s}.copied AS SELECT ssn FROM {s}.customers"
    ))
    .await
    .unwrap();
}

/// MySQL: the same sample data, in tables named apart per test inside the `shop` database.
struct MyNames {
    c: String,
    e: String,
    o: String,
    v: String,
}

fn my_masks(n: &MyNames, detectors: bool) -> String {
    masks("shop", detectors)
        .replace("shop.customers.", &format!("shop.{}.", n.c))
        .replace("shop.employees.", &format!("shop.{}.", n.e))
}

fn my_leak_corpus(n: &MyNames) -> Vec<String> {
    let q = |sql: &str| {
        sql.replace("CUST", &n.c)
            .replace("EMPL", &n.e)
            .replace("ORDR", &n.o)
            .replace("VIEW", &n.v)
    };
    [
        "SELECT ssn FROM CUST",
        "SELECT ssn AS x FROM CUST",
        "SELECT c.ssn FROM CUST c",
        "SELECT * FROM CUST",
        "SELECT c.* FROM CUST c",
        "SELECT `ssn` FROM shop.CUST",
        "SELECT id, email, card_number, birth_date FROM CUST ORDER BY id",
        "SELECT UPPER(ssn) FROM CUST",
        "SELECT LOWER(email) FROM CUST",
        "SELECT CONCAT(ssn) FROM CUST",
        "SELECT CONCAT('x', ssn, 'y') FROM CUST",
        "SELECT CONCAT_WS(',', name, ssn) FROM CUST",
        "SELECT COALESCE(ssn, '') FROM CUST",
        "SELECT IFNULL(email, '') FROM CUST",
        "SELECT CAST(ssn AS CHAR) FROM CUST",
        "SELECT CONVERT(ssn, CHAR) FROM CUST",
        "SELECT SUBSTR(ssn, 1, 11) FROM CUST",
        "SELECT SUBSTRING(email, 1) FROM CUST",
        "SELECT LEFT(ssn, 11) FROM CUST",
        "SELECT REVERSE(ssn) FROM CUST",
        "SELECT REPLACE(ssn, '-', '') FROM CUST",
        "SELECT CASE WHEN id > 0 THEN ssn END FROM CUST",
        "SELECT IF(id > 0, ssn, NULL) FROM CUST",
        "SELECT GROUP_CONCAT(ssn) FROM CUST",
        "SELECT GROUP_CONCAT(email ORDER BY id SEPARATOR ';') FROM CUST",
        "SELECT JSON_OBJECT('s', ssn) FROM CUST",
        "SELECT JSON_ARRAY(ssn, email) FROM CUST",
        "SELECT JSON_ARRAYAGG(ssn) FROM CUST",
        "SELECT MAX(ssn), MIN(card_number) FROM CUST",
        "SELECT HEX(ssn) FROM CUST",
        "SELECT (SELECT ssn FROM CUST WHERE id = 1)",
        "SELECT x FROM (SELECT ssn AS x FROM CUST) t",
        "SELECT * FROM (SELECT ssn, email FROM CUST) t",
        "WITH t AS (SELECT ssn FROM CUST) SELECT ssn FROM t",
        "WITH t AS (SELECT UPPER(ssn) AS u FROM CUST) SELECT * FROM t",
        "SELECT ssn FROM CUST UNION ALL SELECT 'x'",
        "SELECT 'x' UNION SELECT email FROM CUST",
        "SELECT o.id, c.ssn, c.email FROM ORDR o JOIN CUST c ON c.id = o.customer_id",
        "SELECT o.id, c.* FROM ORDR o LEFT JOIN CUST c ON c.id = o.customer_id",
        "SELECT * FROM VIEW",
        "SELECT tax_id, email FROM VIEW",
        "SELECT UPPER(tax_id) FROM VIEW",
        "SELECT * FROM VIEW_ids",
        "SELECT UPPER(tid) FROM VIEW_ids",
        "SELECT x.tid FROM VIEW_ids x JOIN ORDR o ON TRUE",
        "SELECT salary FROM EMPL",
        "SELECT salary * 1 FROM EMPL",
        "SELECT SUM(salary) FROM EMPL",
        "SELECT CAST(salary AS CHAR) FROM EMPL",
        "SELECT e.* FROM EMPL e",
        "SELECT birth_date FROM CUST",
        "SELECT CAST(birth_date AS CHAR) FROM CUST",
        "SELECT DATE_FORMAT(birth_date, '%Y-%m-%d') FROM CUST",
        "SELECT card_number FROM CUST",
        "SELECT notes FROM CUST",
        "SELECT UPPER(notes) FROM CUST",
        "SELECT DISTINCT ssn FROM CUST",
        "SELECT ssn FROM CUST GROUP BY ssn",
        "SELECT id, ssn FROM CUST ORDER BY 1 LIMIT 1 OFFSET 1",
        "SELECT ssn FROM CUST WHERE id = 1; SELECT email FROM CUST",
        "SELECT 1; SELECT * FROM CUST",
        "SELECT @x := ssn FROM CUST",
        "SELECT ssn INTO @y FROM CUST LIMIT 1",
        "SELECT id, (SELECT GROUP_CONCAT(ssn) FROM CUST) FROM ORDR",
        "SELECT /*!50000 ssn */ FROM CUST",
    ]
    .iter()
    .map(|s| q(s))
    .collect()
}

async fn my_setup(detectors: bool) -> (Proxy, MyNames) {
    let upstream = mariadb_native();
    let n = MyNames {
        c: unique("customers"),
        e: unique("employees"),
        o: unique("orders"),
        v: unique("contacts"),
    };
    let mut direct = mysql_direct(upstream).await;
    let script = format!(
        "CREATE TABLE {c} (id INT PRIMARY KEY, name TEXT, ssn VARCHAR(11), email VARCHAR(64), card_number VARCHAR(19), birth_date DATE, notes TEXT);
         CREATE TABLE {e} (id INT PRIMARY KEY, name TEXT, salary DECIMAL(10,2));
         CREATE TABLE {o} (id INT PRIMARY KEY, customer_id INT, total DECIMAL(10,2));
         INSERT INTO {c} VALUES
           (1, 'Alice Smith', '123-45-6789', 'alice.smith@example.com', '4111111111111111', '1985-07-23', 'VIP'),
           (2, 'Bob Jones', '587-65-4321', 'bob.jones@example.org', '5500005555555559', '1990-01-15', '{notes}');
         INSERT INTO {e} VALUES (1, 'Carol', 123456.78), (2, 'Dan', 65000.00);
         INSERT INTO {o} VALUES (10, 1, 99.50), (11, 2, 12.00);
         CREATE VIEW {v} AS SELECT id, name AS full_name, email, ssn AS tax_id FROM {c};
         CREATE VIEW {v}_ids AS SELECT full_name, LOWER(tax_id) AS tid FROM {v};",
        notes = free_text(detectors),
        c = n.c,
        e = n.e,
        o = n.o,
        v = n.v
    );
    direct.query_drop(script).await.unwrap();
    let proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: my_masks(&n, detectors),
            ..ProxyOpts::default()
        },
    )
    .await;
    (proxy, n)
}

fn my_value_text(v: &mysql_async::Value) -> String {
    match v {
        mysql_async::Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        mysql_async::Value::NULL => "NULL".into(),
        other => other.as_sql(true),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_leak_corpus_finds_no_clear_value_in_text_or_binary() {
    let (proxy, n) = my_setup(false).await;
    let mut conn = proxy.mysql().await;
    let corpus = my_leak_corpus(&n);
    assert!(corpus.len() >= 60, "{} queries", corpus.len());
    let mut answered = 0;
    for sql in &corpus {
        // Text protocol (COM_QUERY), every result set.
        match conn.query_iter(sql.as_str()).await {
            Ok(mut result) => {
                let mut text = String::new();
                while !result.is_empty() {
                    let rows: Vec<mysql_async::Row> = result.collect().await.unwrap();
                    for row in rows {
                        for v in row.unwrap() {
                            text += &my_value_text(&v);
                            text += "|";
                        }
                    }
                }
                answered += 1;
                let leaks = leaks_in(&text);
                assert!(
                    leaks.is_empty(),
                    "{sql} leaked {leaks:?} in text rows: {text}"
                );
            }
            Err(e) => assert!(
                e.to_string().contains("sluice"),
                "{sql}: only sluice may refuse: {e}"
            ),
        }
        if sql.contains(';') || sql.contains('@') {
            continue;
        }
        // Binary protocol (COM_STMT_EXECUTE).
        if let Ok(rows) = conn.exec::<mysql_async::Row, _, _>(sql.as_str(), ()).await {
            let mut text = String::new();
            for row in rows {
                for v in row.unwrap() {
                    text += &my_value_text(&v);
                    text += "|";
                }
            }
            let leaks = leaks_in(&text);
            assert!(
                leaks.is_empty(),
                "{sql} leaked {leaks:?} in binary rows: {text}"
            );
        }
    }
    assert!(
        answered * 10 >= corpus.len() * 8,
        "most of the corpus must be answered (masked), not refused: {answered} of {}",
        corpus.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_masked_values_decode_in_both_protocols_and_exempt_groups_see_clear() {
    let (proxy, n) = my_setup(true).await;
    let mut alice = proxy.mysql().await;
    let sql = format!(
        "SELECT id, name, ssn, email, birth_date FROM {} ORDER BY id",
        n.c
    );
    type R = (i32, String, String, String, mysql_async::Value);
    let text: Vec<R> = alice.query(sql.as_str()).await.unwrap();
    let binary: Vec<R> = alice.exec(sql.as_str(), ()).await.unwrap();
    for rows in [&text, &binary] {
        assert_eq!(rows[0].1, "Alice Smith");
        assert_eq!(rows[0].2, "*******6789");
        assert_eq!(rows[0].3, "a***@example.com");
        let date = match &rows[0].4 {
            mysql_async::Value::Date(y, m, d, ..) => (*y, *m, *d),
            mysql_async::Value::Bytes(b) => {
                assert_eq!(b.as_slice(), b"1985-01-01");
                (1985, 1, 1)
            }
            other => panic!("birth_date: {other:?}"),
        };
        assert_eq!(date, (1985, 1, 1));
    }
    let salary: Option<String> = alice
        .exec_first(format!("SELECT salary FROM {} WHERE id = 1", n.e), ())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        salary, None,
        "a null-masked decimal is NULL in the binary protocol"
    );
    // Refused: copying masked data somewhere readable.
    let err = alice
        .query_drop(format!(
            "CREATE TABLE {}_copy AS SELECT ssn FROM {}",
            n.c, n.c
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("masked column"), "{err}");
    let one: Option<i32> = alice.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));

    let mut bob = proxy.mysql_as(OTHER_USER, OTHER_PASSWORD).await;
    let clear: Vec<(String, String)> = bob
        .exec(format!("SELECT ssn, email FROM {} ORDER BY id", n.c), ())
        .await
        .unwrap();
    assert_eq!(
        clear[0],
        (
            "123-45-6789".to_string(),
            "alice.smith@example.com".to_string()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn masking_settings_block_guessing_and_derived_values_in_both_protocols() {
    let (pg_proxy, s) = pg_setup(false).await;
    drop(pg_proxy);
    let settings = "\n[masking]\non_derived = \"block\"\non_predicate = \"block\"\n";
    let proxy = Proxy::start(
        pg_scram(),
        ProxyOpts {
            extra_config: masks(&s, false) + settings,
            ..ProxyOpts::default()
        },
    )
    .await;
    let alice = proxy.connect().await;
    for sql in [
        format!("SELECT id FROM {s}.customers WHERE ssn = '123-45-6789'"),
        format!("SELECT id FROM {s}.customers ORDER BY ssn"),
        format!("SELECT count(*) FROM {s}.customers GROUP BY email"),
        format!("SELECT upper(ssn) FROM {s}.customers"),
        format!("SELECT tax_id || '' FROM {s}.customer_contacts"),
    ] {
        let err = alice.simple_query(&sql).await.unwrap_err();
        let msg = err
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_default();
        assert!(msg.contains("[masking]"), "{sql}: {msg}");
    }
    // Plain reads of masked columns are still masked, not refused.
    let row = alice
        .query_one(&format!("SELECT ssn FROM {s}.customers WHERE id = 1"), &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "*******6789");

    let (_my, n) = my_setup(false).await;
    let proxy = Proxy::start_mysql(
        mariadb_native(),
        ProxyOpts {
            extra_config: my_masks(&n, false) + settings,
            ..ProxyOpts::default()
        },
    )
    .await;
    let mut conn = proxy.mysql().await;
    for sql in [
        format!("SELECT id FROM {} WHERE ssn LIKE '123%'", n.c),
        format!("SELECT CONCAT(ssn, '') FROM {}", n.c),
    ] {
        let err = conn.query_drop(&sql).await.unwrap_err();
        assert!(err.to_string().contains("[masking]"), "{sql}: {err}");
    }
    let ssn: Option<String> = conn
        .query_first(format!("SELECT ssn FROM {} WHERE id = 1", n.c))
        .await
        .unwrap();
    assert_eq!(ssn.as_deref(), Some("*******6789"));
}
