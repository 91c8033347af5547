//! Sealed masking, attacked. A masked user with a SQL client tries to get clear values out by
//! every route the threat model names: derived values decoded slice by slice, errors, notices,
//! warnings, opaque functions and procedures, SQL held in strings, statistics, schema
//! tampering, a stale catalog, multi-statement strings, cursors, session state, notifications,
//! large objects and sequences, in both protocols, text and binary. Each attempt passes when
//! no clear sample value — nor its reverse, digits, hex or base64 — reaches the client in any
//! form (rows, errors, notices, notifications), and the session still answers afterwards. The
//! audit log must hold no clear value either, exempt users' results included, while exempt
//! users still see clear values and ordinary application SQL is not refused.
//!
//! Predicate inference (`WHERE ssn LIKE '3%'`) is the channel `on_predicate = "allow"`
//! documents as open; it is not attempted here.

use std::sync::{Arc, Mutex};

use base64::Engine;
use futures_util::StreamExt;
use mysql_async::prelude::*;
use sluice_tests::raw_pg::{raw_login_as, read_msg};
use sluice_tests::*;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{AsyncMessage, Client, NoTls, SimpleQueryMessage};

/// The clear values of row 1, each under a different mask.
const SSN: &str = "371-28-9465"; // partial, keep_last 4: the hidden part is "371-28"
const EMAIL: &str = "quincy.zephyr@example.net"; // email: q***@example.net
const CARD: &str = "5500005555555559"; // hash
const BIRTH: &str = "1979-08-23"; // generalize: 1979-01-01
const SALARY: &str = "187342"; // null

fn config(key_env: &str) -> String {
    std::env::set_var(key_env, "masking-adversarial-key");
    format!(
        r#"
{audit}
[[masks]]
columns = ["*.customers.ssn"]
function = "partial"
keep_last = 4
except_groups = ["dba"]

[[masks]]
columns = ["*.customers.email"]
function = "email"
except_groups = ["dba"]

[[masks]]
columns = ["*.customers.card_number"]
function = "hash"
key_env = "{key_env}"
except_groups = ["dba"]

[[masks]]
columns = ["*.customers.birth_date"]
function = "generalize"
except_groups = ["dba"]

[[masks]]
columns = ["*.employees.salary"]
function = "null"
except_groups = ["dba"]
"#,
        audit = audit_section(key_env)
    )
}

/// Every form of a clear value that counts as a leak.
fn needles() -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    for (value, what) in [
        (SSN, "ssn"),
        (EMAIL, "email"),
        (CARD, "card_number"),
        (BIRTH, "birth_date"),
        (SALARY, "salary"),
    ] {
        let reversed: String = value.chars().rev().collect();
        let digits: String = value.chars().filter(char::is_ascii_digit).collect();
        out.push((value.to_string(), what));
        out.push((reversed, what));
        if digits.len() >= 6 && digits != value {
            out.push((digits, what));
        }
        out.push((hex::encode(value), what));
        out.push((hex::encode_upper(value), what));
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        out.push((b64.trim_end_matches('=').to_string(), what));
    }
    // The parts the masks hide.
    for (part, what) in [
        ("371-28", "ssn prefix"),
        ("371 28", "ssn prefix"),
        ("37128", "ssn prefix"),
        ("quincy", "email local part"),
        ("zephyr", "email local part"),
        ("08-23", "birth date"),
        ("0823", "birth date"),
        ("55000055", "card prefix"),
    ] {
        out.push((part.to_string(), what));
    }
    out.push(("2dbce".into(), "salary hex"));
    out
}

fn leaks_in(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    needles()
        .into_iter()
        .filter(|(n, _)| lower.contains(&n.to_lowercase()))
        .map(|(n, what)| format!("{what} as {n:?}"))
        .collect()
}

/// Like [`leaks_in`], for the audit log, whose hash chain is hex: a needle of a few hex
/// digits would match a digest by chance, so only needles of 10 characters or more, or with
/// characters a digest lacks, count there.
fn leaks_in_log(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    needles()
        .into_iter()
        .filter(|(n, _)| n.len() >= 10 || !n.chars().all(|c| c.is_ascii_hexdigit()))
        .filter(|(n, _)| lower.contains(&n.to_lowercase()))
        .map(|(n, what)| format!("{what} as {n:?}"))
        .collect()
}

/// A date from days since 2000-01-01 (PostgreSQL's binary date), as `YYYY-MM-DD`.
fn civil(days_since_2000: i64) -> String {
    // Howard Hinnant's days-to-civil, from 1970-01-01.
    let z = days_since_2000 + 10957 + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A binary-format field as text a leak scan can read, whatever its type.
struct Rendered(String);
impl<'a> FromSql<'a> for Rendered {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let int = |n: usize| {
            let mut b = [0u8; 8];
            let bytes = raw.get(..n).unwrap_or_default();
            let fill = if bytes.first().is_some_and(|x| x & 0x80 != 0) {
                0xff
            } else {
                0
            };
            b[..8 - n].fill(fill);
            b[8 - n..].copy_from_slice(bytes);
            i64::from_be_bytes(b)
        };
        let text = match *ty {
            Type::INT2 if raw.len() == 2 => int(2).to_string(),
            Type::INT4 if raw.len() == 4 => int(4).to_string(),
            Type::INT8 if raw.len() == 8 => int(8).to_string(),
            Type::DATE if raw.len() == 4 => civil(int(4)),
            Type::TIMESTAMP | Type::TIMESTAMPTZ if raw.len() == 8 => {
                civil(int(8).div_euclid(86_400_000_000))
            }
            Type::FLOAT8 if raw.len() == 8 => f64::from_be_bytes(raw.try_into()?).to_string(),
            Type::NUMERIC => <f64 as FromSql>::from_sql(&Type::FLOAT8, raw)
                .map(|f| f.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        };
        Ok(Rendered(format!(
            "{text} {} {}",
            String::from_utf8_lossy(raw),
            hex::encode(raw)
        )))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Rendered("NULL".into()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// What went wrong across a suite's attempts.
#[derive(Default)]
struct Findings {
    attempts: usize,
    answered: usize,
    leaks: Vec<String>,
    unusable: Vec<String>,
}

impl Findings {
    fn assert_clean(&self, what: &str, min_attempts: usize) {
        assert!(
            self.leaks.is_empty() && self.unusable.is_empty(),
            "{what}: {} of {} attempts leaked:\n{}\nsessions left unusable:\n{}",
            self.leaks.len(),
            self.attempts,
            self.leaks.join("\n"),
            self.unusable.join("\n")
        );
        assert!(
            self.attempts >= min_attempts,
            "{what}: only {} attempts",
            self.attempts
        );
    }
}

// ---------------------------------------------------------------- PostgreSQL

/// A client through sluice whose notices and notifications are kept.
async fn pg_client(proxy: &Proxy, user: &str, password: &str) -> (Client, Arc<Mutex<String>>) {
    let (client, mut connection) =
        tokio_postgres::connect(&proxy.conn_str(user, password, ""), NoTls)
            .await
            .unwrap();
    let heard = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&heard);
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            let line = match m {
                Ok(AsyncMessage::Notice(n)) => format!("notice {n:?}\n"),
                Ok(AsyncMessage::Notification(n)) => {
                    format!("notification {} {}\n", n.channel(), n.payload())
                }
                Ok(_) => continue,
                Err(e) => {
                    sink.lock()
                        .unwrap()
                        .push_str(&format!("connection {e:?}\n"));
                    break;
                }
            };
            sink.lock().unwrap().push_str(&line);
        }
    });
    (client, heard)
}

async fn pg_setup() -> (Proxy, String, Client) {
    let upstream = pg_scram();
    let s = unique("seal");
    let direct = pg_direct(upstream).await;
    direct
        .batch_execute(&format!(
            "CREATE SCHEMA {s};
             CREATE TABLE {s}.customers (id int PRIMARY KEY, name text NOT NULL, ssn text,
                 email text, card_number text, birth_date date);
             INSERT INTO {s}.customers VALUES
                 (1, 'Person One', '{SSN}', '{EMAIL}', '{CARD}', '{BIRTH}'),
                 (2, 'Other', '000-00-0000', 'o@example.org', '4000000000000002', '2000-01-01');
             CREATE TABLE {s}.employees (id int PRIMARY KEY, name text, salary int);
             INSERT INTO {s}.employees VALUES (1, 'Person One', {SALARY});
             CREATE TABLE {s}.notes (id int, body text);
             CREATE FUNCTION {s}.leak_fn() RETURNS text LANGUAGE sql
                 AS 'SELECT ssn FROM {s}.customers WHERE id = 1';
             CREATE FUNCTION {s}.leak_srf() RETURNS SETOF {s}.customers LANGUAGE sql
                 AS 'SELECT * FROM {s}.customers';
             CREATE FUNCTION {s}.noisy() RETURNS int LANGUAGE plpgsql AS $$
                 BEGIN RAISE NOTICE '%', (SELECT email FROM {s}.customers WHERE id = 1);
                 RETURN 1; END $$;
             CREATE PROCEDURE {s}.leak_proc(INOUT x text) LANGUAGE sql
                 AS 'SELECT ssn FROM {s}.customers WHERE id = 1';
             CREATE SEQUENCE {s}.seq;
             CREATE FUNCTION {s}.tell() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                 PERFORM pg_notify('cust', 'changed ssn=' || NEW.ssn);
                 IF NEW.name = 'boom' THEN RAISE NOTICE 'row %', NEW.email; END IF;
                 RETURN NEW; END $$;
             CREATE TRIGGER tell AFTER UPDATE ON {s}.customers
                 FOR EACH ROW EXECUTE FUNCTION {s}.tell();
             CREATE FUNCTION {s}.late() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                 IF NEW.name = 'late' THEN RAISE EXCEPTION 'bad row: ssn %', NEW.ssn; END IF;
                 RETURN NEW; END $$;
             CREATE CONSTRAINT TRIGGER late AFTER UPDATE ON {s}.customers
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {s}.late();
             CREATE FUNCTION {s}.peek() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                 IF NEW.id = 77 THEN
                     RAISE NOTICE 'for %', (SELECT ssn FROM {s}.customers WHERE id = 1);
                 END IF;
                 IF NEW.id = 78 THEN
                     RAISE EXCEPTION 'refused for %', (SELECT email FROM {s}.customers WHERE id = 1);
                 END IF;
                 RETURN NEW; END $$;
             CREATE TRIGGER peek BEFORE INSERT ON {s}.notes
                 FOR EACH ROW EXECUTE FUNCTION {s}.peek();
             CREATE VIEW {s}.v_cust AS SELECT id, name, ssn, email FROM {s}.customers;
             ANALYZE {s}.customers; ANALYZE {s}.employees;"
        ))
        .await
        .unwrap();
    let proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: config("SLUICE_SEAL_PG_KEY"),
            ..ProxyOpts::default()
        },
    )
    .await;
    (proxy, s, direct)
}

/// Derived-value templates: each is applied to every masked column of its kind.
const PG_TEXT_DERIVED: &[&str] = &[
    "substr({c}, 1, 4)",
    "substr({c}, 5, 4)",
    "'xxxxxxxx' || substr({c}, 1, 4)",
    "reverse({c})",
    "upper({c})",
    "{c} || ''",
    "concat({c}, '')",
    "left({c}, 6)",
    "right({c}, 8)",
    "md5({c})",
    "encode(convert_to({c}, 'UTF8'), 'hex')",
    "encode(convert_to({c}, 'UTF8'), 'base64')",
    "{c}::varchar(40)",
    "replace({c}, '-', '')",
    "translate({c}, '0123456789', 'abcdefghij')",
    "regexp_replace({c}, '(.)', '\\1 ', 'g')",
    "split_part({c}, '-', 1)",
    "lpad({c}, 30, '*')",
    "format('%s!', {c})",
    "quote_literal({c})",
    "to_json({c})::text",
    "json_build_object('v', {c})::text",
    "array[{c}]::text",
    "(SELECT string_agg({c}, ',') FROM {t} x)",
    "ascii(substr({c}, 1, 1))",
    "length({c}) * 0 + ascii(substr({c}, 2, 1))",
    "CASE WHEN {c} IS NULL THEN '' ELSE {c} END",
    "coalesce({c}, 'x')",
    "(SELECT {c})",
];

const PG_DATE_DERIVED: &[&str] = &[
    "{c}::timestamp",
    "{c}::timestamptz",
    "{c} + interval '0 day'",
    "{c} + 0",
    "to_char({c}, 'YYYY-MM-DD')",
    "extract(day from {c})",
    "extract(doy from {c})",
    "({c} - date '1900-01-01') * 100",
    "{c}::text",
    "date_trunc('day', {c})",
    "make_date(1, 1, 1) + ({c} - date '1900-01-01')",
];

const PG_INT_DERIVED: &[&str] = &[
    "{c} * 1",
    "{c} + 0",
    "{c}::text",
    "{c}::numeric",
    "-{c}",
    "{c} % 1000",
    "{c} / 1000",
    "to_char({c}, '999999')",
    "{c}::float8",
    "sum({c}) OVER ()",
];

fn pg_attempts(s: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let c = format!("{s}.customers");
    let e = format!("{s}.employees");
    let one = |sql: String| vec![sql];
    for template in PG_TEXT_DERIVED {
        for col in ["ssn", "email", "card_number"] {
            let expr = template.replace("{c}", col).replace("{t}", &c);
            out.push(one(format!("SELECT {expr} FROM {c} WHERE id = 1")));
        }
    }
    for template in PG_DATE_DERIVED {
        let expr = template.replace("{c}", "birth_date");
        out.push(one(format!("SELECT {expr} FROM {c} WHERE id = 1")));
    }
    for template in PG_INT_DERIVED {
        let expr = template.replace("{c}", "salary");
        out.push(one(format!("SELECT {expr} FROM {e} WHERE id = 1")));
    }
    let steps: &[&[&str]] = &[
        // Diagnostics.
        &["SELECT ssn::int FROM {c}"],
        &["SELECT email::int FROM {c}"],
        &["SELECT card_number::int2 FROM {c}"],
        &["SELECT ssn::json FROM {c}"],
        &["SELECT ssn::uuid FROM {c}"],
        &["SELECT birth_date::text::int FROM {c}"],
        &["SELECT id FROM {c} WHERE ssn::int > 0"],
        &["SELECT to_date(email, 'YYYY') FROM {c}"],
        &["SELECT xmlparse(document email) FROM {c}"],
        &["UPDATE {c} SET name = NULL WHERE id = 1"],
        &["UPDATE {e} SET name = name, id = NULL WHERE id = 1"],
        &["INSERT INTO {c} SELECT * FROM {c} WHERE id = 1"],
        &["ALTER TABLE {c} ADD CONSTRAINT ck CHECK (ssn::int > 0)"],
        &["CREATE UNIQUE INDEX ON {c} ((ssn::int))"],
        &["SELECT {s}.noisy()"],
        &["DO $$ BEGIN RAISE NOTICE '%', (SELECT ssn FROM {c} WHERE id = 1); END $$"],
        &["DO $$ BEGIN RAISE EXCEPTION '%', (SELECT email FROM {c} WHERE id = 1); END $$"],
        // Opaque functions and procedures, SQL held in strings.
        &["SELECT {s}.leak_fn()"],
        &["SELECT * FROM {s}.leak_srf()"],
        &["SELECT x.ssn FROM {s}.leak_srf() x"],
        &["CALL {s}.leak_proc(NULL)"],
        &["SET search_path = {s}, public", "SELECT leak_fn()"],
        &["SELECT query_to_xml('SELECT ssn FROM {c}', true, false, '')"],
        &["SELECT table_to_xml('{c}', true, false, '')"],
        &["SELECT schema_to_xml('{s}', true, false, '')"],
        &["SELECT database_to_xml(true, false, '')"],
        &["BEGIN", "DECLARE cx CURSOR FOR SELECT ssn FROM {c}", "SELECT cursor_to_xml('cx', 3, false, false, '')", "ROLLBACK"],
        &["SELECT * FROM ts_stat('SELECT to_tsvector(ssn) FROM {c}')"],
        &["SELECT ts_rewrite('a'::tsquery, 'SELECT ssn::tsquery, ssn::tsquery FROM {c}')"],
        &["CREATE FUNCTION {s}.mine() RETURNS text LANGUAGE sql AS 'SELECT ssn FROM {c} LIMIT 1'", "SELECT {s}.mine()"],
        &["CREATE FUNCTION {s}.mine2() RETURNS SETOF text LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY EXECUTE 'SELECT ema' || 'il FROM {c}'; END $$", "SELECT * FROM {s}.mine2()"],
        &["PREPARE q AS SELECT {s}.leak_fn()", "EXECUTE q"],
        &["SELECT pg_read_file('/etc/hostname')"],
        &["SELECT set_config('my.w', ssn, false) FROM {c} WHERE id = 1", "SELECT current_setting('my.w', true)"],
        // Statistics and other sessions' statements.
        &["SELECT most_common_vals::text, histogram_bounds::text FROM pg_stats WHERE schemaname = '{s}'"],
        &["SELECT * FROM pg_catalog.pg_stats"],
        &["SELECT stavalues1::text FROM pg_statistic"],
        &["SELECT * FROM pg_stats_ext"],
        &["SELECT query FROM pg_stat_activity"],
        &["SELECT * FROM pg_stat_get_activity(NULL)"],
        // Schema tampering.
        &["ALTER TABLE {c} ADD COLUMN s2 text GENERATED ALWAYS AS (ssn) STORED", "SELECT s2 FROM {c}"],
        &["ALTER TABLE {c} RENAME COLUMN ssn TO not_masked", "SELECT not_masked FROM {c}"],
        &["ALTER TABLE {e} RENAME TO pay", "SELECT * FROM {s}.pay"],
        &["ALTER TABLE {c} ALTER COLUMN birth_date TYPE text", "SELECT birth_date FROM {c}"],
        &["CREATE VIEW {s}.v1 AS SELECT id, ssn AS x FROM {c}", "SELECT * FROM {s}.v1"],
        &["CREATE TABLE {s}.par (ssn text, email text)", "ALTER TABLE {c} INHERIT {s}.par", "SELECT * FROM {s}.par"],
        &["CREATE RULE r AS ON SELECT TO {s}.notes DO INSTEAD SELECT id, ssn FROM {c}"],
        &["CREATE TRIGGER t BEFORE INSERT ON {s}.notes FOR EACH ROW EXECUTE FUNCTION {s}.noisy()"],
        &["CREATE MATERIALIZED VIEW {s}.mv AS SELECT ssn FROM {c}", "SELECT * FROM {s}.mv"],
        &["CREATE TABLE {s}.copy AS SELECT ssn FROM {c}", "SELECT * FROM {s}.copy"],
        &["ALTER TABLE {c} SET SCHEMA public", "SELECT ssn FROM public.customers"],
        // Triggers a DBA wrote, fired by the masked user: notifications, notices, errors, and
        // deferred ones at COMMIT.
        &["LISTEN cust", "UPDATE {c} SET name = name WHERE id = 1", "SELECT 1"],
        &["UPDATE {c} SET name = 'boom' WHERE id = 1", "UPDATE {c} SET name = 'Person One' WHERE id = 1"],
        &["BEGIN", "UPDATE {c} SET name = 'late' WHERE id = 1", "COMMIT"],
        &["BEGIN; UPDATE {c} SET name = 'late' WHERE id = 1; END"],
        &["INSERT INTO {s}.notes VALUES (77, 'x')"],
        &["INSERT INTO {s}.notes VALUES (78, 'x')"],
        // Objects of the masked user's own over a DBA's view of masked columns, whose hidden
        // predicates would fail quoting them; tables that inherit or copy a masked one.
        &["CREATE VIEW {s}.alice_v5 AS SELECT id FROM {s}.v_cust WHERE ssn::int > 0", "SELECT id FROM {s}.alice_v5"],
        &["CREATE TABLE {s}.alice_t (id int)", "ALTER TABLE {s}.alice_t ENABLE ROW LEVEL SECURITY", "ALTER TABLE {s}.alice_t FORCE ROW LEVEL SECURITY", "CREATE POLICY p ON {s}.alice_t USING ((SELECT email::int FROM {s}.v_cust LIMIT 1) > 0)", "SELECT * FROM {s}.alice_t"],
        &["CREATE TABLE {s}.kid () INHERITS ({c})", "SELECT * FROM {s}.kid"],
        &["CREATE TABLE {s}.like_c (LIKE {c})"],
        &["ALTER TABLE {s}.notes INHERIT {c}"],
        // Errors from a sample size and from EXPLAIN ANALYZE, which runs its statement.
        &["SELECT * FROM {s}.notes TABLESAMPLE bernoulli ((SELECT ssn::int FROM {c} LIMIT 1))"],
        &["EXPLAIN ANALYZE SELECT ssn::int FROM {c}"],
        &["EXPLAIN (ANALYZE, FORMAT json) SELECT (SELECT email::int FROM {c} LIMIT 1)"],
        &["EXPLAIN ANALYZE SELECT substr(ssn, 1, 6) FROM {c}"],
        // Names spelt with Unicode escapes, which the server decodes.
        &[r#"SELECT reverse(U&"\0073sn") FROM {c}"#],
        &[r#"SELECT x.U&"\0073sn" || '' FROM {c} x"#],
        &[r#"SELECT U&"!0073sn" UESCAPE '!' || '' FROM {c}"#],
        &[r#"SELECT U&"\0073alary" * 1 FROM {e}"#],
        &[r#"SELECT U&"\0062irth\005fdate" + 0 FROM {c}"#],
        &[r#"SELECT U&"\0073sn"::int FROM {c}"#],
        &[r#"COPY (SELECT reverse(U&"\0073sn") FROM {c}) TO STDOUT"#],
        &[r#"COPY (SELECT U&"\0073sn" FROM {c}) TO STDOUT (FORMAT binary)"#],
        &[r#"ALTER TABLE {s}.U&"\0063ustomers" ADD COLUMN leak1 text GENERATED ALWAYS AS (reverse(ssn)) STORED"#, "SELECT leak1 FROM {c}"],
        &[r#"CREATE TEMP TABLE tmp1 AS SELECT id, U&"\0073sn" AS s FROM {c}"#, "SELECT * FROM tmp1"],
        &[r#"INSERT INTO {s}.notes SELECT id, U&"\0065mail" FROM {c}"#, "SELECT body FROM {s}.notes"],
        &["ANALYZE {c}", r#"SELECT histogram_bounds::text FROM U&"pg\005fstats" WHERE schemaname = '{s}'"#],
        &[r#"SELECT most_common_vals::text FROM pg_catalog.U&"pg\005fstats""#],
        // Multi-statement strings and cursors.
        &["SELECT 1; SELECT ssn, email FROM {c}"],
        &["SELECT ssn FROM {c}; SELECT 2"],
        &["SET application_name = 'x'; SELECT substr(ssn, 1, 6) FROM {c}"],
        &["BEGIN", "DECLARE c9 CURSOR FOR SELECT ssn || '', birth_date + interval '0 day' FROM {c}", "SAVEPOINT sp", "DECLARE c9 CURSOR FOR SELECT name || '', now() FROM {c}", "ROLLBACK TO sp", "FETCH 3 FROM c9", "ROLLBACK"],
        &["BEGIN", "DECLARE c8 CURSOR FOR SELECT substr(email, 1, 6) FROM {c}", "FETCH ALL FROM c8", "COMMIT"],
        // A DEALLOCATE, DISCARD or CLOSE the server refuses (in an aborted transaction block) frees
        // nothing, so the PREPARE or DECLARE that follows fails and the name keeps its first
        // text (the black-box attacker's F1).
        &["PREPARE pz AS SELECT ssn || '' x, card_number || '' y FROM {c} WHERE id = 1", "BEGIN", "SELECT 1/0", "DEALLOCATE pz", "ROLLBACK", "PREPARE pz AS SELECT name || '' x, name || '' y FROM {c} WHERE id = 1", "EXECUTE pz", "DEALLOCATE ALL"],
        &["PREPARE pz AS SELECT email || '' x FROM {c} WHERE id = 1", "BEGIN", "SELECT 1/0", "DEALLOCATE ALL", "ROLLBACK", "PREPARE pz AS SELECT name || '' x FROM {c} WHERE id = 1", "EXECUTE pz", "DEALLOCATE ALL"],
        &["PREPARE pz AS SELECT ssn || '' x FROM {c} WHERE id = 1", "BEGIN", "DISCARD ALL", "ROLLBACK", "PREPARE pz AS SELECT name || '' x FROM {c} WHERE id = 1", "EXECUTE pz", "DEALLOCATE ALL"],
        &["DECLARE cz CURSOR WITH HOLD FOR SELECT ssn || '' x, email || '' y FROM {c} WHERE id = 1", "BEGIN", "SELECT 1/0", "CLOSE cz", "ROLLBACK", "DECLARE cz CURSOR WITH HOLD FOR SELECT name || '' x, name || '' y FROM {c} WHERE id = 1", "FETCH 1 FROM cz", "CLOSE ALL"],
        &["BEGIN", "DECLARE cw CURSOR FOR SELECT ssn || '' x FROM {c}", "SAVEPOINT sw", "CLOSE cw", "ROLLBACK TO sw", "DECLARE cw CURSOR FOR SELECT name || '' x FROM {c}", "FETCH ALL FROM cw", "ROLLBACK"],
        // Session state, notifications, large objects, sequences, locks.
        &["SELECT set_config('application_name', ssn, false) FROM {c} WHERE id = 1", "SELECT application_name FROM pg_stat_activity"],
        &["SELECT set_config('my.v', email, false) FROM {c} WHERE id = 1", "SHOW my.v"],
        &["LISTEN ch", "SELECT pg_notify('ch', ssn) FROM {c} WHERE id = 1", "SELECT 1"],
        &["LISTEN ch2", "NOTIFY ch2, 'harmless'", "SELECT 1"],
        &["SELECT lo_from_bytea(0, convert_to(email, 'UTF8')) FROM {c} WHERE id = 1"],
        &["SELECT setval('{s}.seq', replace(ssn, '-', '')::bigint) FROM {c} WHERE id = 1", "SELECT last_value FROM {s}.seq"],
        &["SELECT pg_advisory_lock(replace(ssn, '-', '')::bigint) FROM {c} WHERE id = 1", "SELECT objid FROM pg_locks WHERE locktype = 'advisory'"],
        &["SELECT setseed(0.5)"],
        // Copies and COPY.
        &["INSERT INTO {s}.notes SELECT id, ssn FROM {c}", "SELECT body FROM {s}.notes"],
        &["UPDATE {s}.notes SET body = (SELECT email FROM {c} LIMIT 1)"],
        &["COPY (SELECT substr(ssn, 1, 6) FROM {c}) TO STDOUT"],
        &["COPY {c} TO STDOUT"],
        &["COPY (SELECT * FROM {s}.leak_srf()) TO STDOUT"],
        &["EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM {c} WHERE ssn = '1'"],
        // Ordered-set aggregates return one of their sort keys (the black-box attacker's F1);
        // an ORDER BY inside an aggregate's parentheses orders its values.
        &["SELECT id, percentile_disc(0) WITHIN GROUP (ORDER BY salary) FROM {e} GROUP BY id"],
        &["SELECT percentile_cont(0) WITHIN GROUP (ORDER BY salary) FROM {e}"],
        &["SELECT percentile_disc(ARRAY[0, 1]) WITHIN GROUP (ORDER BY salary)::text FROM {e}"],
        &["SELECT mode() WITHIN GROUP (ORDER BY salary) FROM {e}"],
        &["SELECT id, mode() WITHIN GROUP (ORDER BY ssn) FROM {c} GROUP BY id"],
        &["SELECT mode() WITHIN GROUP (ORDER BY replace(ssn, '-', ' ')) FROM {c} WHERE id = 1"],
        &["SELECT mode() WITHIN GROUP (ORDER BY email) FROM {c} WHERE id = 1"],
        &["SELECT mode() WITHIN GROUP (ORDER BY card_number DESC) FROM {c}"],
        &["SELECT mode() WITHIN GROUP (ORDER BY birth_date) FROM {c} WHERE id = 1"],
        &["SELECT percentile_disc(1) WITHIN GROUP (ORDER BY birth_date) FROM {c} WHERE id < 2"],
        &["SELECT mode() WITHIN GROUP (ORDER BY ssn) FILTER (WHERE id = 1) FROM {c}"],
        &["SELECT (SELECT mode() WITHIN GROUP (ORDER BY ssn || '') FROM {c} WHERE id = 1)"],
        &["SELECT x FROM (SELECT mode() WITHIN GROUP (ORDER BY email) AS x FROM {c}) s WHERE x LIKE 'q%'"],
        &["SELECT string_agg(ssn, ',' ORDER BY ssn) FROM {c}"],
        &["SELECT array_agg(email ORDER BY birth_date)::text FROM {c}"],
        &["SELECT json_agg(birth_date ORDER BY ssn)::text FROM {c}"],
    ];
    for attempt in steps {
        out.push(
            attempt
                .iter()
                .map(|sql| sql.replace("{c}", &c).replace("{e}", &e).replace("{s}", s))
                .collect(),
        );
    }
    out
}

/// Plays one attempt's steps: simple protocol, then (for single statements) the extended
/// protocol in binary format. Returns everything the client received.
async fn pg_play(client: &Client, steps: &[String]) -> (String, bool) {
    let mut seen = String::new();
    let mut answered = false;
    for sql in steps {
        if sql.starts_with("COPY") && sql.contains("TO STDOUT") {
            match client.copy_out(sql.as_str()).await {
                Ok(stream) => {
                    let chunks: Vec<Result<bytes::Bytes, _>> = stream.collect().await;
                    for c in chunks {
                        match c {
                            Ok(b) => seen.push_str(&String::from_utf8_lossy(&b)),
                            Err(e) => seen.push_str(&format!("{e:?}")),
                        }
                    }
                    answered = true;
                }
                Err(e) => seen.push_str(&format!("{e:?}\n")),
            }
            continue;
        }
        match client.simple_query(sql).await {
            Ok(messages) => {
                answered = true;
                for m in messages {
                    if let SimpleQueryMessage::Row(row) = m {
                        for i in 0..row.len() {
                            seen.push_str(row.get(i).unwrap_or("NULL"));
                            seen.push('|');
                        }
                        seen.push('\n');
                    }
                }
            }
            Err(e) => seen.push_str(&format!("{e:?}\n")),
        }
        let single = !sql.contains(';')
            && ["SELECT", "WITH", "VALUES", "TABLE"]
                .iter()
                .any(|k| sql.starts_with(k));
        if single {
            match client.query(sql.as_str(), &[]).await {
                Ok(rows) => {
                    for row in &rows {
                        for i in 0..row.len() {
                            if let Ok(Rendered(text)) = row.try_get::<_, Rendered>(i) {
                                seen.push_str(&text);
                                seen.push('|');
                            }
                        }
                    }
                }
                Err(e) => seen.push_str(&format!("{e:?}\n")),
            }
        }
    }
    (seen, answered)
}

async fn pg_usable(client: &Client) -> bool {
    let _ = client.simple_query("ROLLBACK").await;
    matches!(
        client
            .query_one("SELECT 41 + 1", &[])
            .await
            .map(|r| r.get::<_, i32>(0)),
        Ok(42)
    )
}

/// Decoding loops as an attacker runs them: one query per slice, then the pieces put
/// together. Returns what each loop rebuilt.
async fn pg_decoding_loops(client: &Client, c: &str, e: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let text = |sql: String| async move {
        match client.simple_query(&sql).await {
            Ok(ms) => ms
                .into_iter()
                .find_map(|m| match m {
                    SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_string()),
                    _ => None,
                })
                .unwrap_or_default(),
            Err(_) => String::new(),
        }
    };
    // Character by character, from the slices and from their codes.
    let mut sliced = String::new();
    let mut coded = String::new();
    for k in 1..=11 {
        sliced += &text(format!("SELECT substr(ssn, {k}, 1) FROM {c} WHERE id = 1")).await;
        let code = text(format!(
            "SELECT ascii(substr(ssn, {k}, 1)) FROM {c} WHERE id = 1"
        ))
        .await;
        if let Some(ch) = code.parse::<u32>().ok().and_then(char::from_u32) {
            coded.push(ch);
        }
    }
    out.push(("ssn by substr".into(), sliced, SSN.to_string()));
    out.push(("ssn by ascii codes".into(), coded, SSN.to_string()));
    // A four-character window slid along: the mask keeps the last four of whatever it gets.
    let mut window = String::new();
    for k in [1, 5, 9] {
        let w = text(format!(
            "SELECT 'xxxxxxxx' || substr(ssn, {k}, 4) FROM {c} WHERE id = 1"
        ))
        .await;
        window += w.trim_start_matches('*').trim_start_matches('x');
    }
    out.push(("ssn by sliding window".into(), window, SSN.to_string()));
    // The email's local part reversed into the domain the mask keeps.
    let reversed = text(format!("SELECT reverse(email) FROM {c} WHERE id = 1")).await;
    out.push((
        "email by reverse".into(),
        reversed.chars().rev().collect(),
        EMAIL.to_string(),
    ));
    // The date from day counts.
    let days = text(format!(
        "SELECT (birth_date - date '2000-01-01') FROM {c} WHERE id = 1"
    ))
    .await;
    let date = days.parse::<i64>().map(civil).unwrap_or_default();
    out.push(("birth_date by day count".into(), date, BIRTH.to_string()));
    // The salary from its thousands and remainder.
    let high = text(format!("SELECT salary / 1000 FROM {e} WHERE id = 1")).await;
    let low = text(format!("SELECT salary % 1000 FROM {e} WHERE id = 1")).await;
    let salary = match (high.parse::<i64>(), low.parse::<i64>()) {
        (Ok(h), Ok(l)) => (h * 1000 + l).to_string(),
        _ => String::new(),
    };
    out.push(("salary by division".into(), salary, SALARY.to_string()));
    // A codebook of hashes of single digits, matched against each digit's hash.
    let mut codebook = Vec::new();
    for d in 0..10 {
        codebook.push(
            text(format!(
                "SELECT substr(card_number, 1, 0) || '{d}' FROM {c} WHERE id = 1"
            ))
            .await,
        );
    }
    let mut card = String::new();
    for k in 1..=16 {
        let h = text(format!(
            "SELECT substr(card_number, {k}, 1) FROM {c} WHERE id = 1"
        ))
        .await;
        if let Some(d) = codebook.iter().position(|x| *x == h && !h.is_empty()) {
            card += &d.to_string();
        }
    }
    out.push(("card by hash codebook".into(), card, CARD.to_string()));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_masked_user_gets_no_clear_value_by_any_route() {
    let (proxy, s, direct) = pg_setup().await;
    let (mut client, mut heard) = pg_client(&proxy, USER, PASSWORD).await;
    // The catalog is read once before the view below exists.
    client
        .simple_query(&format!("SELECT id FROM {s}.customers WHERE id = 2"))
        .await
        .unwrap();
    let mut found = Findings::default();
    let mut attempts = pg_attempts(&s);
    // A view a DBA creates while the masked session is open is masked at once.
    direct
        .batch_execute(&format!(
            "CREATE VIEW {s}.fresh AS SELECT id, ssn AS code, email AS contact FROM {s}.customers"
        ))
        .await
        .unwrap();
    attempts.push(vec![format!("SELECT * FROM {s}.fresh")]);
    attempts.push(vec![format!(
        "SELECT code, contact FROM {s}.fresh WHERE id = 1"
    )]);
    for steps in &attempts {
        found.attempts += 1;
        let (seen, answered) = pg_play(&client, steps).await;
        found.answered += usize::from(answered);
        // One more round trip first, so that notices and notifications have arrived.
        let usable = pg_usable(&client).await;
        let notices = std::mem::take(&mut *heard.lock().unwrap());
        let leaks = leaks_in(&format!("{seen}\n{notices}"));
        if !leaks.is_empty() {
            found
                .leaks
                .push(format!("{steps:?}: {leaks:?} in {seen} {notices}"));
        }
        if !usable {
            found.unusable.push(format!("{steps:?}"));
            (client, heard) = pg_client(&proxy, USER, PASSWORD).await;
        }
    }
    let (c, e) = (format!("{s}.customers"), format!("{s}.employees"));
    for (how, rebuilt, clear) in pg_decoding_loops(&client, &c, &e).await {
        found.attempts += 1;
        if rebuilt == clear || !leaks_in(&rebuilt).is_empty() {
            found.leaks.push(format!("{how}: rebuilt {rebuilt:?}"));
        }
    }
    found.assert_clean("PostgreSQL", 130);

    // Exempt users still see clear values; the masked user still gets masked ones.
    let (dba, _) = pg_client(&proxy, OTHER_USER, OTHER_PASSWORD).await;
    let row = dba
        .query_one(
            &format!("SELECT ssn, email, birth_date::text FROM {c} WHERE id = 1"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        (SSN.into(), EMAIL.into())
    );
    assert_eq!(row.get::<_, String>(2), BIRTH);
    // An exempt user's ordered-set aggregate is clear to them, and logged with the masks.
    let row = dba
        .query_one(
            &format!(
                "SELECT mode() WITHIN GROUP (ORDER BY ssn), \
                 percentile_disc(0) WITHIN GROUP (ORDER BY email) FROM {c} WHERE id = 1"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, String>(0), row.get::<_, String>(1)),
        (SSN.into(), EMAIL.into())
    );
    let row = client
        .query_one(
            &format!("SELECT ssn, email, birth_date FROM {c} WHERE id = 1"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "*******9465");
    assert_eq!(row.get::<_, String>(1), "q***@example.net");

    // SQL-level prepared statements are judged by what they prepare, like the statement itself
    // (pg_dump uses them): computed columns that read nothing masked stay clear.
    let mut text = String::new();
    for sql in [
        "PREPARE plain AS SELECT 'hello'::text t, 1 + 1 i, format_type(23, -1) ft".to_string(),
        "EXECUTE plain".to_string(),
        format!(
            "PREPARE masked(int) AS SELECT ssn, substr(email, 1, 3), name FROM {c} WHERE id = $1"
        ),
        "EXECUTE masked(1)".to_string(),
    ] {
        for m in client.simple_query(&sql).await.unwrap() {
            if let SimpleQueryMessage::Row(row) = m {
                for i in 0..row.len() {
                    text += row.get(i).unwrap_or("NULL");
                    text += "|";
                }
            }
        }
    }
    assert_eq!(
        text, "hello|2|integer|*******9465|[REDACTED]|Person One|",
        "EXECUTE is judged by its PREPARE"
    );

    // Ordinary application SQL is not refused.
    for sql in [
        format!("SELECT c.id, c.name, c.email FROM {c} c WHERE c.id = $1 LIMIT 1"),
        format!("SELECT count(*), max(id), now(), current_user, lower(name) FROM {c} GROUP BY name"),
        format!("INSERT INTO {s}.notes (id, body) VALUES (9, upper('x')) RETURNING id"),
        format!("UPDATE {s}.notes SET body = coalesce(body, '') || 'y' WHERE id = 9"),
        format!("SELECT nextval('{s}.seq'), gen_random_uuid(), to_char(now(), 'YYYY')"),
        format!("SELECT n.id, json_agg(c.name) FROM {s}.notes n LEFT JOIN {c} c ON c.id = n.id GROUP BY n.id"),
        "SELECT version(), pg_backend_pid(), current_database()".to_string(),
        "SELECT current_setting('server_version_num'), pg_is_in_recovery()".to_string(),
        "SELECT pg_catalog.set_config('search_path', '', false)".to_string(),
        "SELECT set_config(name, 'view, foreign-table', false) FROM pg_settings WHERE name = 'search_path'".to_string(),
        "SELECT pg_advisory_lock(42), pg_advisory_unlock(42)".to_string(),
        format!("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = '{c}'::regclass AND a.attnum > 0"),
    ] {
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = match sql.contains("$1") {
            true => vec![&1i32],
            false => vec![],
        };
        let r = client.query(sql.as_str(), &params).await;
        assert!(r.is_ok(), "{sql}: {r:?}");
    }

    // Nothing clear reached the audit log: not the attempts', nor the exempt user's results.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let audit = proxy.audit_text();
    assert!(
        audit.contains("q***@example.net"),
        "the log records results"
    );
    let leaks = leaks_in_log(&audit);
    assert!(leaks.is_empty(), "the audit log holds {leaks:?}");
}

/// Sends `messages` as one write and reads until `syncs` ReadyForQuery have come; returns the
/// DataRow fields seen, as text.
async fn raw_exchange(
    sock: &mut tokio::net::TcpStream,
    messages: &bytes::BytesMut,
    syncs: usize,
) -> String {
    use tokio::io::AsyncWriteExt;
    sock.write_all(messages).await.unwrap();
    let mut seen = String::new();
    let mut ready = 0;
    while ready < syncs {
        let (tag, body) = read_msg(sock).await.unwrap();
        match tag {
            b'D' => seen.push_str(&format!("{}\n", String::from_utf8_lossy(&body))),
            b'Z' => ready += 1,
            _ => {}
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_name_changes_the_server_skipped_after_an_error_change_nothing() {
    use postgres_protocol::message::frontend;
    let (proxy, s, _direct) = pg_setup().await;
    let c = format!("{s}.customers");
    let clear = format!("SELECT ssn || '' x, email || '' y FROM {c} WHERE id = 1");
    let harmless = format!("SELECT name || '' x, name || '' y FROM {c} WHERE id = 1");
    // Pipelined (the third batch sent before any answer) and one batch at a time.
    for pipelined in [true, false] {
        let (mut sock, key) = raw_login_as(proxy.addr, USER, PASSWORD).await;
        key.unwrap_or_else(|e| panic!("login: {}", String::from_utf8_lossy(&e)));
        let mut buf = bytes::BytesMut::new();
        frontend::parse("s1", &clear, [], &mut buf).unwrap();
        frontend::sync(&mut buf);
        raw_exchange(&mut sock, &buf, 1).await;
        // An error first: the server skips the Close and the Parse behind it, up to the Sync.
        buf.clear();
        frontend::parse("", "SELECT 1/0", [], &mut buf).unwrap();
        frontend::bind("", "", [], [], |_: (), _| unreachable!(), [], &mut buf).unwrap_or(());
        frontend::execute("", 0, &mut buf).unwrap();
        frontend::close(b'S', "s1", &mut buf).unwrap();
        frontend::parse("s1", &harmless, [], &mut buf).unwrap();
        frontend::sync(&mut buf);
        let mut third = bytes::BytesMut::new();
        frontend::bind("", "s1", [], [], |_: (), _| unreachable!(), [], &mut third).unwrap_or(());
        frontend::execute("", 0, &mut third).unwrap();
        frontend::sync(&mut third);
        let seen = match pipelined {
            true => {
                buf.extend_from_slice(&third);
                raw_exchange(&mut sock, &buf, 2).await
            }
            false => {
                raw_exchange(&mut sock, &buf, 1).await;
                raw_exchange(&mut sock, &third, 1).await
            }
        };
        // The server ran the first statement: its row comes back, masked.
        assert!(!seen.is_empty(), "pipelined {pipelined}: no row came back");
        let leaks = leaks_in(&seen);
        assert!(
            leaks.is_empty(),
            "pipelined {pipelined}: {leaks:?} in {seen:?}"
        );
    }
}

/// One simple Query on a raw socket as the masked user: everything the client receives
/// (CopyData bodies as they are, errors as text) up to ReadyForQuery.
async fn pg_raw_query(proxy: &Proxy, sql: &str) -> Vec<u8> {
    use tokio::io::AsyncWriteExt;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], proxy.port()));
    let (mut s, login) = raw_pg::raw_login_as(addr, USER, PASSWORD).await;
    assert!(login.is_ok(), "login: {login:?}");
    let mut buf = bytes::BytesMut::new();
    postgres_protocol::message::frontend::query(sql, &mut buf).unwrap();
    s.write_all(&buf).await.unwrap();
    let mut seen = Vec::new();
    loop {
        let (tag, body) =
            tokio::time::timeout(std::time::Duration::from_secs(60), raw_pg::read_msg(&mut s))
                .await
                .expect("an answer within a minute")
                .unwrap();
        match tag {
            b'd' | b'E' | b'N' => {
                seen.extend_from_slice(&body);
                seen.push(b'\n');
            }
            b'Z' => return seen,
            _ => {}
        }
    }
}

/// COPY is masked by where its columns really come from in the session, and its rows are split
/// as PostgreSQL wrote them. Found by a black-box attacker: a COPY's names were resolved on
/// sluice's own connection (default `search_path`), and its text rows split as if every byte
/// below 0x80 were ASCII, which SJIS and BIG5 characters break.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_copy_is_masked_whatever_the_search_path_and_encoding() {
    let (proxy, s, direct) = pg_setup().await;
    let (client, heard) = pg_client(&proxy, USER, PASSWORD).await;
    // The session reads the catalog's views before the ones below exist.
    client
        .simple_query(&format!("SELECT id FROM {s}.customers WHERE id = 2"))
        .await
        .unwrap();
    // A view in another schema, and a table of the same name as one on sluice's own search
    // path whose masked column sits where that one has an unmasked column.
    direct
        .batch_execute(&format!(
            "CREATE SCHEMA {s}_rpt;
             CREATE VIEW {s}_rpt.foo2 AS SELECT id, ssn AS a FROM {s}.customers;
             CREATE TABLE IF NOT EXISTS public.customers (id int, name text, ssn text,
                 email text, card_number text, birth_date date);
             CREATE SCHEMA {s}_t1;
             CREATE TABLE {s}_t1.customers (id int, ssn text, name text, email text,
                 birth_date text, card_number text);
             INSERT INTO {s}_t1.customers VALUES (1, '{SSN}', '{EMAIL}', '{CARD}', '{BIRTH}', '{EMAIL}');"
        ))
        .await
        .unwrap();
    let (rpt, t1) = (format!("{s}_rpt"), format!("{s}_t1"));
    let attempts: Vec<Vec<String>> = vec![
        vec![
            format!("SET search_path = {rpt}"),
            "COPY (SELECT id, a FROM foo2 WHERE id = 1) TO STDOUT".into(),
        ],
        vec![
            format!("SET search_path = {t1}"),
            "COPY customers TO STDOUT".into(),
        ],
        vec![
            format!("SET search_path = {t1}, public"),
            "COPY (SELECT * FROM customers) TO STDOUT (FORMAT csv)".into(),
        ],
        vec![
            "BEGIN".into(),
            format!("SET LOCAL search_path = {t1}"),
            "COPY customers (ssn, name) TO STDOUT".into(),
            "ROLLBACK".into(),
        ],
        vec![
            format!("SELECT set_config('search_path', '{t1}', false)"),
            "COPY customers TO STDOUT".into(),
        ],
        // The table's name is also a CTE's, in another scope.
        vec![
            format!("SET search_path = {t1}, public"),
            "COPY (SELECT b.* FROM (WITH customers AS (SELECT 1 AS id) SELECT id FROM customers) a, \
             customers b) TO STDOUT"
                .into(),
        ],
    ];
    let mut found = Findings::default();
    let mut rpt_view = String::new();
    for steps in &attempts {
        found.attempts += 1;
        let (seen, answered) = pg_play(&client, steps).await;
        found.answered += usize::from(answered);
        let _ = client.simple_query("RESET search_path").await;
        let usable = pg_usable(&client).await;
        let notices = std::mem::take(&mut *heard.lock().unwrap());
        let leaks = leaks_in(&format!("{seen}\n{notices}"));
        if !leaks.is_empty() {
            found.leaks.push(format!("{steps:?}: {leaks:?} in {seen}"));
        }
        if !usable {
            found.unusable.push(format!("{steps:?}"));
        }
        if steps[1].contains("foo2") {
            rpt_view = seen;
        }
    }
    // The search path given at startup.
    let (at_start, conn) = tokio_postgres::connect(
        &proxy.conn_str(USER, PASSWORD, &format!("options='-csearch_path={t1}'")),
        NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    found.attempts += 1;
    let (seen, _) = pg_play(&at_start, &["COPY customers TO STDOUT".to_string()]).await;
    let leaks = leaks_in(&seen);
    if !leaks.is_empty() {
        found
            .leaks
            .push(format!("startup search_path: {leaks:?} in {seen}"));
    }

    // Multi-byte characters whose second byte is a backslash (SJIS ソ, BIG5 許) before the
    // masked columns; the encoding named by the COPY, set earlier, or set in the same string.
    let query = |j1: &str, enc: &str| {
        format!(
            "COPY (SELECT convert_from('\\x{j1}'::bytea, '{enc}') j1, ssn, 'p1' p1, email, \
             'p2' p2, card_number, birth_date FROM {s}.customers WHERE id = 1) TO STDOUT"
        )
    };
    let mut encoded = Vec::new();
    for (j1, enc) in [("835c", "SJIS"), ("a55c", "BIG5")] {
        let copy = query(j1, enc);
        for sql in [
            format!("{copy} (ENCODING '{enc}')"),
            format!("{copy} (FORMAT csv, DELIMITER '\\', QUOTE '\"', ENCODING '{enc}')"),
            format!("SET client_encoding = '{enc}'; {copy}"),
            format!("BEGIN; SET LOCAL client_encoding = '{enc}'; {copy}; COMMIT"),
        ] {
            found.attempts += 1;
            let seen = pg_raw_query(&proxy, &sql).await;
            let text = String::from_utf8_lossy(&seen).into_owned();
            let leaks = leaks_in(&text);
            if !leaks.is_empty() {
                found.leaks.push(format!("{sql}: {leaks:?} in {text:?}"));
            }
            encoded.push((sql, seen));
        }
        // Set in one query, used in the next (the server has reported it by then).
        found.attempts += 1;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], proxy.port()));
        let (mut raw, login) = raw_pg::raw_login_as(addr, USER, PASSWORD).await;
        assert!(login.is_ok());
        let mut seen = Vec::new();
        // Then again behind a BEGIN in the same string (as drivers pipeline one).
        for sql in [
            format!("SET client_encoding = '{enc}'"),
            copy.clone(),
            format!("BEGIN; {copy}; COMMIT"),
        ] {
            use tokio::io::AsyncWriteExt;
            let mut buf = bytes::BytesMut::new();
            postgres_protocol::message::frontend::query(&sql, &mut buf).unwrap();
            raw.write_all(&buf).await.unwrap();
            loop {
                let (tag, body) = raw_pg::read_msg(&mut raw).await.unwrap();
                if matches!(tag, b'd' | b'E') {
                    seen.extend_from_slice(&body);
                }
                if tag == b'Z' {
                    break;
                }
            }
        }
        let text = String::from_utf8_lossy(&seen).into_owned();
        let leaks = leaks_in(&text);
        if !leaks.is_empty() {
            found
                .leaks
                .push(format!("{enc} set before: {leaks:?} in {text:?}"));
        }
        encoded.push((format!("{enc} set before"), seen));
    }
    found.assert_clean("PostgreSQL COPY", 17);

    // Not merely refused: what sluice can place is masked as the same SELECT is.
    let select = client
        .simple_query(&format!("SELECT id, a FROM {rpt}.foo2 WHERE id = 1"))
        .await
        .unwrap();
    let masked = select.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => Some(format!("{}\t{}", r.get(0)?, r.get(1)?)),
        _ => None,
    });
    assert_eq!(
        Some(rpt_view.trim_end()),
        masked.as_deref(),
        "the view read through the session's search_path"
    );
    for (sql, seen) in &encoded {
        let split_right: usize = [
            &b"\x83\x5c\t*******9465\tp1\t"[..],
            b"\xa5\x5c\t*******9465\tp1\t",
        ]
        .iter()
        .map(|w| seen.windows(w.len()).filter(|x| x == w).count())
        .sum();
        let expected = match sql.as_str() {
            s if s.ends_with("set before") => 2,
            s if s.contains("ENCODING") && !s.contains("csv") => 1,
            _ => 0,
        };
        assert!(
            split_right >= expected,
            "{sql}: {:?}",
            String::from_utf8_lossy(seen)
        );
    }
}

// ---------------------------------------------------------------- MySQL

async fn my_setup() -> (Proxy, String, mysql_async::Conn) {
    let upstream = mariadb_native();
    let n = unique("seal");
    let mut direct = mysql_direct(upstream).await;
    direct
        .query_drop(format!(
            "CREATE TABLE {n}_customers (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL,
                 ssn VARCHAR(11), email VARCHAR(60), card_number VARCHAR(20), birth_date DATE);
             INSERT INTO {n}_customers VALUES
                 (1, 'Person One', '{SSN}', '{EMAIL}', '{CARD}', '{BIRTH}'),
                 (2, 'Other', '000-00-0000', 'o@example.org', '4000000000000002', '2000-01-01');
             CREATE TABLE {n}_employees (id INT PRIMARY KEY, name VARCHAR(40), salary INT);
             INSERT INTO {n}_employees VALUES (1, 'Person One', {SALARY});
             CREATE TABLE {n}_notes (id INT, body TEXT);
             CREATE FUNCTION {n}_leak_fn() RETURNS VARCHAR(20) READS SQL DATA
                 RETURN (SELECT ssn FROM {n}_customers WHERE id = 1);
             CREATE PROCEDURE {n}_leak_proc() SELECT ssn, email FROM {n}_customers;
             CREATE SEQUENCE {n}_seq;
             CREATE TRIGGER {n}_sig BEFORE INSERT ON {n}_notes FOR EACH ROW BEGIN
                 DECLARE m VARCHAR(100);
                 IF NEW.id = 77 THEN
                     SELECT ssn INTO m FROM {n}_customers WHERE id = 1;
                     SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = m;
                 END IF;
             END;
             ANALYZE TABLE {n}_customers PERSISTENT FOR ALL;"
        ))
        .await
        .unwrap();
    let proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: config("SLUICE_SEAL_MY_KEY")
                .replace("*.customers.", &format!("*.{n}_customers."))
                .replace("*.employees.", &format!("*.{n}_employees.")),
            ..ProxyOpts::default()
        },
    )
    .await;
    (proxy, n, direct)
}

const MY_TEXT_DERIVED: &[&str] = &[
    "substr({c}, 1, 4)",
    "substr({c}, 5, 4)",
    "concat('xxxxxxxx', substr({c}, 1, 4))",
    "reverse({c})",
    "upper({c})",
    "concat({c}, '')",
    "left({c}, 6)",
    "right({c}, 8)",
    "md5({c})",
    "hex({c})",
    "to_base64({c})",
    "cast({c} AS CHAR(40))",
    "replace({c}, '-', '')",
    "insert({c}, 1, 0, 'x')",
    "lpad({c}, 30, '*')",
    "quote({c})",
    "json_object('v', {c})",
    "json_array({c})",
    "(SELECT group_concat({c}) FROM {t} x)",
    "ascii(substr({c}, 1, 1))",
    "ord(substr({c}, 2, 1))",
    "if({c} IS NULL, '', {c})",
    "ifnull({c}, 'x')",
    "coalesce({c}, 'x')",
    "(SELECT {c})",
    "concat_ws(',', {c}, 'x')",
    "elt(1, {c})",
    "substring_index({c}, '@', 1)",
    "char_length({c}) * 0 + ascii(substr({c}, 3, 1))",
];

const MY_DATE_DERIVED: &[&str] = &[
    "cast({c} AS DATETIME)",
    "timestamp({c})",
    "unix_timestamp({c})",
    "datediff({c}, '1900-01-01') * 100",
    "day({c}) * 100",
    "dayofyear({c})",
    "date_format({c}, '%Y-%m-%d')",
    "{c} + 0",
    "to_days({c})",
    "date_add({c}, INTERVAL 0 DAY)",
];

const MY_INT_DERIVED: &[&str] = &[
    "{c} * 1",
    "{c} + 0",
    "cast({c} AS CHAR)",
    "-{c}",
    "{c} % 1000",
    "{c} DIV 1000",
    "format({c}, 0)",
    "hex({c})",
    "conv({c}, 10, 16)",
    "sum({c}) OVER ()",
];

fn my_attempts(n: &str) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    let c = format!("{n}_customers");
    let e = format!("{n}_employees");
    for template in MY_TEXT_DERIVED {
        for col in ["ssn", "email", "card_number"] {
            let expr = template.replace("{c}", col).replace("{t}", &c);
            out.push(vec![format!("SELECT {expr} FROM {c} WHERE id = 1")]);
        }
    }
    for template in MY_DATE_DERIVED {
        let expr = template.replace("{c}", "birth_date");
        out.push(vec![format!("SELECT {expr} FROM {c} WHERE id = 1")]);
    }
    for template in MY_INT_DERIVED {
        let expr = template.replace("{c}", "salary");
        out.push(vec![format!("SELECT {expr} FROM {e} WHERE id = 1")]);
    }
    let steps: &[&[&str]] = &[
        // Diagnostics and warnings.
        &["SELECT ssn + 0 FROM {c}", "SHOW WARNINGS"],
        &["SELECT ssn + 0 FROM {c}; SHOW WARNINGS"],
        &["SELECT cast(email AS DATE) FROM {c}", "SHOW WARNINGS"],
        &["SELECT email + 0 FROM {c}", "SHOW ERRORS"],
        &["UPDATE {c} SET name = name WHERE ssn = 5"],
        &["SET sql_mode = (SELECT ssn FROM {c} WHERE id = 1)"],
        &["SET time_zone = (SELECT ssn FROM {c} WHERE id = 1)"],
        &["SET lc_time_names = (SELECT email FROM {c} WHERE id = 1)"],
        &["SET @@session.default_storage_engine = (SELECT email FROM {c} WHERE id = 1)"],
        &["ALTER TABLE {c} ADD CONSTRAINT ck2 CHECK (ssn + 0 > 0)"],
        &["ALTER TABLE {c} ADD UNIQUE KEY u1 (card_number(1))"],
        &["INSERT INTO {c} SELECT * FROM {c} WHERE id = 1"],
        &["SELECT extractvalue(ssn, '/a/b[') FROM {c}"],
        &["SELECT updatexml(email, '/a', ssn) FROM {c}"],
        &["SELECT json_extract(email, '$.a') FROM {c}"],
        &["GET DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT", "SELECT @m"],
        &["SELECT ssn + 0 FROM {c}; GET DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT; SELECT @m"],
        // Opaque functions and procedures.
        &["SELECT {n}_leak_fn()"],
        &["SELECT shop.{n}_leak_fn()"],
        &["CALL {n}_leak_proc()"],
        &["CREATE FUNCTION {n}_mine() RETURNS VARCHAR(20) RETURN (SELECT ssn FROM {c} LIMIT 1)", "SELECT {n}_mine()"],
        &["CREATE PROCEDURE {n}_mine2() SELECT email FROM {c}", "CALL {n}_mine2()"],
        &["BEGIN NOT ATOMIC SELECT ssn FROM {c}; END"],
        &["PREPARE s1 FROM 'SELECT ssn FROM {c}'", "EXECUTE s1"],
        &["SET @q = 'SELECT email FROM {c}'", "PREPARE s2 FROM @q", "EXECUTE s2"],
        &["EXECUTE IMMEDIATE 'SELECT substr(ssn, 1, 6) FROM {c}'"],
        &["SELECT load_file('/etc/hostname')"],
        &["SELECT get_lock(ssn, 0) FROM {c} WHERE id = 1", "SELECT is_used_lock(ssn) FROM {c}"],
        &["SELECT last_insert_id(salary) FROM {e}", "SELECT last_insert_id()"],
        // Statistics and other sessions' statements.
        &["SELECT * FROM mysql.column_stats"],
        &["SELECT min_value, max_value FROM mysql.column_stats WHERE table_name = '{c}'"],
        &["SELECT decode_histogram(hist_type, histogram) FROM mysql.column_stats"],
        &["SELECT info FROM information_schema.processlist"],
        &["SHOW FULL PROCESSLIST"],
        &["SELECT * FROM performance_schema.events_statements_history"],
        &["SHOW ENGINE INNODB STATUS"],
        // Schema tampering.
        &["ALTER TABLE {c} ADD COLUMN s2 VARCHAR(20) AS (ssn) VIRTUAL", "SELECT s2 FROM {c}"],
        &["ALTER TABLE {e} ADD COLUMN sal2 INT AS (salary) PERSISTENT", "SELECT sal2 FROM {e}"],
        &["ALTER TABLE {c} RENAME COLUMN ssn TO not_masked", "SELECT not_masked FROM {c}"],
        &["RENAME TABLE {e} TO {n}_pay", "SELECT * FROM {n}_pay"],
        &["ALTER TABLE {c} MODIFY birth_date VARCHAR(20)", "SELECT birth_date FROM {c}"],
        &["CREATE VIEW {n}_v1 AS SELECT id, ssn AS x FROM {c}", "SELECT * FROM {n}_v1"],
        &["CREATE TABLE {n}_copy AS SELECT ssn FROM {c}", "SELECT * FROM {n}_copy"],
        &["CREATE TRIGGER {n}_t BEFORE INSERT ON {n}_notes FOR EACH ROW SET NEW.body = (SELECT ssn FROM {c} LIMIT 1)"],
        &["HANDLER {c} OPEN", "HANDLER {c} READ FIRST", "HANDLER {c} CLOSE"],
        // Plans, traces, user variables and locks that quote what the server read.
        &["EXPLAIN FORMAT=JSON SELECT o.id FROM {n}_notes o JOIN {c} c ON o.body = concat(c.ssn, '|', c.email) WHERE c.id = 1"],
        &["EXPLAIN SELECT o.id FROM {n}_notes o JOIN {c} c ON o.body = c.ssn WHERE c.id = 1"],
        &["DO @all := (SELECT group_concat(ssn) FROM {c})", "SELECT * FROM information_schema.user_variables"],
        &["SET @v = 1", "SHOW USER_VARIABLES"],
        &["SET optimizer_trace = 'enabled=on'", "SELECT o.id FROM {n}_notes o JOIN {c} c ON o.body = c.email WHERE c.id = 1", "SELECT * FROM information_schema.optimizer_trace"],
        &["DO get_lock((SELECT ssn FROM {c} WHERE id = 1), 0)", "SELECT * FROM information_schema.metadata_lock_info"],
        &["SET sql_mode = @all"],
        &["INSERT INTO {n}_notes VALUES (77, 'x')"],
        // Multi-statement strings.
        &["SELECT 1; SELECT ssn, email FROM {c}"],
        // A mode set for one statement: under ANSI_QUOTES "ssn" names the column.
        &["SET STATEMENT sql_mode = 'ANSI_QUOTES' FOR SELECT \"ssn\", \"email\" FROM {c}"],
        &["SET STATEMENT sql_mode = 'ANSI' FOR SELECT \"ssn\" FROM {c}; SELECT 1"],
        &["SELECT ssn, email FROM {c} WHERE id = 1; SELECT 2"],
        &["SET @q = 1; SELECT birth_date, substr(ssn, 1, 6) FROM {c}; SELECT 3"],
        // Copies into variables and tables.
        &["SELECT ssn INTO @x FROM {c} WHERE id = 1", "SELECT @x"],
        &["SET @y = (SELECT email FROM {c} WHERE id = 1)", "SELECT @y"],
        &["SELECT @z := ssn FROM {c}", "SELECT @z"],
        &["INSERT INTO {n}_notes SELECT id, ssn FROM {c}", "SELECT body FROM {n}_notes"],
        &["SELECT ssn FROM {c} INTO OUTFILE '/tmp/{n}.txt'"],
        // Ordered-set aggregates return one of their sort keys (the black-box attacker's F1);
        // an ORDER BY inside an aggregate's parentheses orders its values.
        &["SELECT id, PERCENTILE_DISC(0) WITHIN GROUP (ORDER BY salary) OVER (PARTITION BY id) FROM {e}"],
        &["SELECT id, PERCENTILE_CONT(0) WITHIN GROUP (ORDER BY salary) OVER (PARTITION BY id) FROM {e}"],
        &["SELECT PERCENTILE_CONT(1) WITHIN GROUP (ORDER BY salary DESC) OVER () FROM {e}"],
        &["SELECT PERCENTILE_DISC(0) WITHIN GROUP (ORDER BY ssn) OVER (PARTITION BY id) FROM {c}"],
        &["SELECT PERCENTILE_DISC(0) WITHIN GROUP (ORDER BY replace(ssn, '-', ' ')) OVER () FROM {c} WHERE id = 1"],
        &["SELECT PERCENTILE_DISC(0) WITHIN GROUP (ORDER BY email) OVER () FROM {c} WHERE id = 1"],
        &["SELECT PERCENTILE_DISC(0) WITHIN GROUP (ORDER BY birth_date) OVER () FROM {c} WHERE id = 1"],
        &["SELECT MEDIAN(salary) OVER () FROM {e}"],
        &["SELECT GROUP_CONCAT(ssn ORDER BY ssn SEPARATOR ';') FROM {c}"],
        &["SELECT GROUP_CONCAT(email ORDER BY birth_date DESC LIMIT 1) FROM {c}"],
        &["SELECT JSON_ARRAYAGG(birth_date ORDER BY ssn) FROM {c}"],
    ];
    for attempt in steps {
        out.push(
            attempt
                .iter()
                .map(|sql| sql.replace("{c}", &c).replace("{e}", &e).replace("{n}", n))
                .collect(),
        );
    }
    out
}

fn my_value_text(v: &mysql_async::Value) -> String {
    match v {
        mysql_async::Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        mysql_async::Value::NULL => "NULL".into(),
        other => other.as_sql(true),
    }
}

async fn my_play(conn: &mut mysql_async::Conn, steps: &[String]) -> (String, bool) {
    let mut seen = String::new();
    let mut answered = false;
    for sql in steps {
        match conn.query_iter(sql.as_str()).await {
            Ok(mut result) => {
                while !result.is_empty() {
                    match result.collect::<mysql_async::Row>().await {
                        Ok(rows) => {
                            answered = true;
                            for row in rows {
                                for v in row.unwrap() {
                                    seen.push_str(&my_value_text(&v));
                                    seen.push('|');
                                }
                                seen.push('\n');
                            }
                        }
                        Err(e) => {
                            seen.push_str(&format!("{e}\n"));
                            break;
                        }
                    }
                }
            }
            Err(e) => seen.push_str(&format!("{e}\n")),
        }
        if sql.contains(';') || !sql.starts_with("SELECT") || sql.contains('@') {
            continue;
        }
        match conn.exec::<mysql_async::Row, _, _>(sql.as_str(), ()).await {
            Ok(rows) => {
                for row in rows {
                    for v in row.unwrap() {
                        seen.push_str(&my_value_text(&v));
                        seen.push('|');
                    }
                }
            }
            Err(e) => seen.push_str(&format!("{e}\n")),
        }
    }
    (seen, answered)
}

async fn my_usable(conn: &mut mysql_async::Conn) -> bool {
    matches!(
        conn.query_first::<i64, _>("SELECT 41 + 1").await,
        Ok(Some(42))
    )
}

async fn my_decoding_loops(
    conn: &mut mysql_async::Conn,
    c: &str,
    e: &str,
) -> Vec<(String, String, String)> {
    async fn text(conn: &mut mysql_async::Conn, sql: String) -> String {
        match conn.query_first::<mysql_async::Value, _>(sql).await {
            Ok(Some(v)) => my_value_text(&v),
            _ => String::new(),
        }
    }
    let mut out = Vec::new();
    let (mut sliced, mut coded) = (String::new(), String::new());
    for k in 1..=11 {
        sliced += &text(
            conn,
            format!("SELECT substr(ssn, {k}, 1) FROM {c} WHERE id = 1"),
        )
        .await;
        let code = text(
            conn,
            format!("SELECT ascii(substr(ssn, {k}, 1)) FROM {c} WHERE id = 1"),
        )
        .await;
        if let Some(ch) = code.parse::<u32>().ok().and_then(char::from_u32) {
            coded.push(ch);
        }
    }
    out.push(("ssn by substr".into(), sliced, SSN.to_string()));
    out.push(("ssn by ascii codes".into(), coded, SSN.to_string()));
    let hexed = text(conn, format!("SELECT hex(ssn) FROM {c} WHERE id = 1")).await;
    let unhexed = hex::decode(hexed.trim_start_matches('*')).unwrap_or_default();
    out.push((
        "ssn by hex".into(),
        String::from_utf8_lossy(&unhexed).into_owned(),
        SSN.to_string(),
    ));
    let reversed = text(conn, format!("SELECT reverse(email) FROM {c} WHERE id = 1")).await;
    out.push((
        "email by reverse".into(),
        reversed.chars().rev().collect(),
        EMAIL.to_string(),
    ));
    let day = text(
        conn,
        format!("SELECT day(birth_date) FROM {c} WHERE id = 1"),
    )
    .await;
    let month = text(
        conn,
        format!("SELECT month(birth_date) FROM {c} WHERE id = 1"),
    )
    .await;
    out.push((
        "birth_date by day and month".into(),
        format!("1979-{month:0>2}-{day:0>2}"),
        BIRTH.to_string(),
    ));
    let high = text(
        conn,
        format!("SELECT salary DIV 1000 FROM {e} WHERE id = 1"),
    )
    .await;
    let low = text(conn, format!("SELECT salary % 1000 FROM {e} WHERE id = 1")).await;
    let salary = match (high.parse::<i64>(), low.parse::<i64>()) {
        (Ok(h), Ok(l)) => (h * 1000 + l).to_string(),
        _ => String::new(),
    };
    out.push(("salary by division".into(), salary, SALARY.to_string()));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_masked_user_gets_no_clear_value_by_any_route() {
    let (proxy, n, mut direct) = my_setup().await;
    let mut conn = proxy.mysql().await;
    let c = format!("{n}_customers");
    let e = format!("{n}_employees");
    conn.query_drop(format!("SELECT id FROM {c} WHERE id = 2"))
        .await
        .unwrap();
    // A view a DBA creates while the masked session is open is masked at once.
    direct
        .query_drop(format!(
            "CREATE VIEW {n}_fresh AS SELECT id, ssn AS code, email AS contact FROM {c}"
        ))
        .await
        .unwrap();
    // Another session's plan, by its upstream thread id (black-box round 8, finding 3): sluice
    // refuses it, rather than pass it to the server, whatever the id.
    let thread: Option<u64> = direct.query_first("SELECT CONNECTION_ID()").await.unwrap();
    for show in ["EXPLAIN", "ANALYZE", "EXPLAIN FORMAT=JSON"] {
        let sql = format!("SHOW {show} FOR {}", thread.unwrap_or(1));
        let err = conn.query_drop(&sql).await.unwrap_err().to_string();
        assert!(
            err.contains("1142") && err.contains("sluice"),
            "{sql}: {err}"
        );
    }
    let mut attempts = my_attempts(&n);
    attempts.push(vec![format!("SELECT * FROM {n}_fresh")]);
    attempts.push(vec![format!(
        "SELECT code, contact FROM {n}_fresh WHERE id = 1"
    )]);
    let mut found = Findings::default();
    for steps in &attempts {
        found.attempts += 1;
        let (seen, answered) = my_play(&mut conn, steps).await;
        found.answered += usize::from(answered);
        let leaks = leaks_in(&seen);
        if !leaks.is_empty() {
            found.leaks.push(format!("{steps:?}: {leaks:?} in {seen}"));
        }
        if !my_usable(&mut conn).await {
            found.unusable.push(format!("{steps:?}"));
            conn = proxy.mysql().await;
        }
    }
    for (how, rebuilt, clear) in my_decoding_loops(&mut conn, &c, &e).await {
        found.attempts += 1;
        if rebuilt == clear || !leaks_in(&rebuilt).is_empty() {
            found.leaks.push(format!("{how}: rebuilt {rebuilt:?}"));
        }
    }
    // PyMySQL-style multi-statement strings (no CLIENT_DEPRECATE_EOF): every result masked.
    found.assert_clean("MySQL", 120);

    let mut dba = proxy.mysql_as(OTHER_USER, OTHER_PASSWORD).await;
    let clear: Option<(String, String)> = dba
        .query_first(format!("SELECT ssn, email FROM {c} WHERE id = 1"))
        .await
        .unwrap();
    assert_eq!(clear, Some((SSN.into(), EMAIL.into())));
    // An exempt user's ordered-set aggregate is clear to them, and logged with the masks.
    let clear: Option<(String, String)> = dba
        .query_first(format!(
            "SELECT PERCENTILE_DISC(0) WITHIN GROUP (ORDER BY ssn) OVER (), \
             PERCENTILE_DISC(0) WITHIN GROUP (ORDER BY email) OVER () FROM {c} WHERE id = 1"
        ))
        .await
        .unwrap();
    assert_eq!(clear, Some((SSN.into(), EMAIL.into())));
    let masked: Option<(String, String)> = conn
        .query_first(format!("SELECT ssn, email FROM {c} WHERE id = 1"))
        .await
        .unwrap();
    assert_eq!(
        masked,
        Some(("*******9465".into(), "q***@example.net".into()))
    );

    for sql in [
        format!("SELECT c.id, c.name, c.email FROM {c} c WHERE c.id = 1 LIMIT 1"),
        format!("SELECT count(*), max(id), now(), current_user(), lower(name) FROM {c} GROUP BY name"),
        format!("INSERT INTO {n}_notes (id, body) VALUES (9, upper('x'))"),
        "SELECT last_insert_id(), database(), version(), connection_id()".to_string(),
        format!("UPDATE {n}_notes SET body = concat(ifnull(body, ''), 'y') WHERE id = 9"),
        format!("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{c}'"),
        "SHOW TABLES".to_string(),
        format!("SET STATEMENT max_statement_time = 10 FOR SELECT name FROM {c}"),
        "SHOW WARNINGS".to_string(),
    ] {
        let r = conn.query_drop(sql.as_str()).await;
        assert!(r.is_ok(), "{sql}: {r:?}");
    }

    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let audit = proxy.audit_text();
    assert!(
        audit.contains("q***@example.net"),
        "the log records results"
    );
    let leaks = leaks_in_log(&audit);
    assert!(leaks.is_empty(), "the audit log holds {leaks:?}");
}

// ---------------------------------------------------------------- generalize

/// `generalize` on the columns a black-box attacker found it too gentle with.
fn generalize_config() -> String {
    r#"
[[masks]]
columns = ["*.*.gen_ts", "*.*.gen_tsn", "*.*.gen_n"]
function = "generalize"
except_groups = ["dba"]
"#
    .into()
}

/// Timestamps keep only their year, as dates do (the documented default), in text and
/// binary; a numeric column coarser than the default step (`numeric(3,-2)`) is not handed
/// back unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generalize_keeps_only_the_year_of_timestamps_and_never_the_clear_number() {
    // PostgreSQL.
    let upstream = pg_scram();
    let s = unique("gen");
    let direct = pg_direct(upstream).await;
    direct
        .batch_execute(&format!(
            "CREATE SCHEMA {s};
             CREATE TABLE {s}.t (id int, gen_ts timestamptz(0), gen_tsn timestamp(3),
                 gen_n numeric(3,-2));
             INSERT INTO {s}.t VALUES
                 (1, '1985-03-14 10:11:12+00', '1985-03-14 10:11:12.345', 12300);"
        ))
        .await
        .unwrap();
    let proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: generalize_config(),
            ..ProxyOpts::default()
        },
    )
    .await;
    let (client, _) = pg_client(&proxy, USER, PASSWORD).await;
    let sql = format!("SELECT gen_ts, gen_tsn, gen_n FROM {s}.t WHERE id = 1");
    let text: Vec<String> = client
        .simple_query(&sql)
        .await
        .unwrap()
        .into_iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(
                (0..3)
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .unwrap();
    // The session's time zone may move the hour, never the year.
    assert!(text[0].starts_with("1985-01-01 00:00:00"), "{text:?}");
    assert_eq!(text[1], "1985-01-01 00:00:00", "{text:?}");
    assert!(!text[2].contains("123"), "the clear number: {text:?}");
    assert_eq!(text[2], "12000", "{text:?}");
    let row = client.query_one(sql.as_str(), &[]).await.unwrap();
    for i in 0..2 {
        let Rendered(binary) = row.get(i);
        assert!(
            binary.starts_with("1985-01-01 "),
            "binary column {i}: {binary}"
        );
    }
    let (dba, _) = pg_client(&proxy, OTHER_USER, OTHER_PASSWORD).await;
    let clear = dba.simple_query(&sql).await.unwrap();
    assert!(
        clear.iter().any(|m| matches!(m,
            SimpleQueryMessage::Row(r) if r.get(2) == Some("12300")
                && r.get(1) == Some("1985-03-14 10:11:12.345"))),
        "exempt users see the clear values"
    );

    // MariaDB: DATETIME and TIMESTAMP(3), text and binary protocols.
    let upstream = mariadb_native();
    let n = unique("gen");
    let mut direct = mysql_direct(upstream).await;
    direct
        .query_drop(format!(
            "CREATE TABLE {n}_t (id INT, gen_ts DATETIME, gen_tsn TIMESTAMP(3) NULL);
             INSERT INTO {n}_t VALUES (1, '1985-03-14 10:11:12', '1985-03-14 10:11:12.345')"
        ))
        .await
        .unwrap();
    let proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: generalize_config(),
            ..ProxyOpts::default()
        },
    )
    .await;
    let mut conn = proxy.mysql().await;
    let sql = format!("SELECT id, gen_ts, gen_tsn FROM {n}_t WHERE id = 1");
    let text: Vec<mysql_async::Row> = conn.query(sql.as_str()).await.unwrap();
    let binary: Vec<mysql_async::Row> = conn.exec(sql.as_str(), ()).await.unwrap();
    for (how, rows) in [("text", &text), ("binary", &binary)] {
        let row = rows.first().expect("one row");
        let values: Vec<String> = (1..3)
            .map(|i| row.as_ref(i).map(my_value_text).unwrap_or_default())
            .map(|v| v.trim_matches('\'').to_string())
            .collect();
        for v in &values {
            // The binary protocol's value shows no time when it is midnight.
            assert!(
                v == "1985-01-01" || v.starts_with("1985-01-01 00:00:00"),
                "{how}: {values:?}"
            );
        }
    }
}

// ---------------------------------------------------------------- benchmarks as applications

/// The benchmarks' own workloads, run as a masked user: nothing they send is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_and_sysbench_run_for_a_masked_user() {
    let masks = |table: &str, column: &str| {
        format!("[[masks]]\ncolumns = [\"*.{table}.{column}\"]\nfunction = \"redact\"\nexcept_groups = [\"dba\"]\n")
    };
    // PostgreSQL: pgbench's TPC-B-like script and select-only, simple and prepared.
    let upstream = pg_scram();
    let init = std::process::Command::new("pgbench")
        .args(["-i", "-s", "1", "-q"])
        .arg(direct_conn_str(upstream))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("pgbench runs");
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: masks("pgbench_accounts", "filler"),
            ..ProxyOpts::default()
        },
    )
    .await;
    for args in [&["-t", "30"][..], &["-S", "-M", "prepared", "-t", "30"]] {
        let out = std::process::Command::new("pgbench")
            .args(["-n", "-c", "2"])
            .args(args)
            .arg(proxy.conn_str(USER, PASSWORD, ""))
            .env_remove("PGPASSWORD")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("pgbench runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "pgbench {args:?}: {text}");
        assert!(text.contains("number of failed transactions: 0"), "{text}");
    }

    // MySQL: sysbench's read-write workload (prepared statements), tables made directly.
    let upstream = mariadb_native();
    let sysbench = |port: u16, user: &str, password: &str, command: &str| {
        std::process::Command::new("sysbench")
            .args([
                "oltp_read_write",
                "--db-driver=mysql",
                "--mysql-host=127.0.0.1",
                &format!("--mysql-port={port}"),
                &format!("--mysql-user={user}"),
                &format!("--mysql-password={password}"),
                &format!("--mysql-db={}", upstream.opts.database),
                "--mysql-ssl=off",
                "--tables=1",
                "--table-size=200",
                "--threads=2",
                "--events=40",
                "--time=0",
                command,
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("sysbench runs")
    };
    let _ = sysbench(
        upstream.port,
        &upstream.opts.user,
        &upstream.opts.password,
        "cleanup",
    );
    let prepared = sysbench(
        upstream.port,
        &upstream.opts.user,
        &upstream.opts.password,
        "prepare",
    );
    assert!(
        prepared.status.success(),
        "{}",
        String::from_utf8_lossy(&prepared.stderr)
    );
    let proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: masks("sbtest1", "c"),
            ..ProxyOpts::default()
        },
    )
    .await;
    let run = sysbench(proxy.port(), USER, PASSWORD, "run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.status.success(), "sysbench run: {text}");
    assert!(
        !text.contains("FATAL") && !text.contains("sluice:"),
        "{text}"
    );
}
