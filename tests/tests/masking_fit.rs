//! Masked values fit their columns (issue 24, item 4): a masked `varchar(19)`, `char(4)`,
//! `numeric(5,2)` (PostgreSQL) or `VARCHAR(19)`, `CHAR(4)`, `DECIMAL(5,2)` (MariaDB) column's
//! value is no longer or larger than the column allows, in text and binary results, so a
//! masked dump restores: each masked row is inserted back into a table of the same column
//! types under strict mode (PostgreSQL always; MariaDB `STRICT_ALL_TABLES`), and must succeed.

use mysql_async::prelude::*;
use sluice_tests::*;
use tokio_postgres::types::{FromSql, Type};

/// Masks whose ordinary output does not fit these columns: a 32-character hash for a
/// 19-character card, `[REDACTED]` for a 4-character PIN, `a***@xyz.io` for a 9-character
/// address, and amounts generalized to -1000 (a multiple of 1000) or a constant of 1000000,
/// both beyond `numeric(5,2)`.
fn masks(prefix: &str) -> String {
    std::env::set_var("SLUICE_TEST_FIT_KEY", "fit-key");
    format!(
        r#"
[[masks]]
columns = ["{prefix}.card"]
function = "hash"
key_env = "SLUICE_TEST_FIT_KEY"

[[masks]]
columns = ["{prefix}.pin"]
function = "redact"

[[masks]]
columns = ["{prefix}.email"]
function = "email"

[[masks]]
columns = ["{prefix}.amount"]
function = "generalize"
step = 1000

[[masks]]
columns = ["{prefix}.bonus"]
function = "constant"
value = "1000000"
"#
    )
}

/// The clear rows: card, pin, email, amount, bonus.
const ROWS: [(&str, &str, &str, &str, &str); 2] = [
    (
        "4111-1111-1111-1111",
        "1234",
        "ab@xyz.io",
        "-999.99",
        "12.50",
    ),
    ("5500-0055-5555-5559", "9876", "cd@xyz.io", "999.99", "0.01"),
];

/// One masked row as text: card, pin, email, amount, bonus.
type Masked = (String, String, String, String, String);

fn check_fits(rows: &[Masked], how: &str) {
    assert_eq!(rows.len(), ROWS.len(), "{how}");
    for (masked, clear) in rows.iter().zip(ROWS) {
        let (card, pin, email, amount, bonus) = masked;
        // Masked, not clear.
        assert_ne!(card, clear.0, "{how}");
        assert_ne!(pin.trim_end(), clear.1, "{how}");
        assert_ne!(email, clear.2, "{how}");
        // The shortened forms: the hash's first 19 hex digits, `[RED`, fewer stars.
        assert_eq!(card.chars().count(), 19, "{how}: {card}");
        assert!(card.chars().all(|c| c.is_ascii_hexdigit()), "{how}: {card}");
        assert_eq!(pin, "[RED", "{how}");
        assert_eq!(email, &format!("{}*@xyz.io", &clear.2[..1]), "{how}");
        // -999.99 generalized by 1000 is -1000, clamped to the column's -999.99;
        // the constant 1000000 is clamped to 999.99.
        let expect_amount = if clear.3.starts_with('-') {
            "-999.99"
        } else {
            "0.00"
        };
        assert_eq!(amount, expect_amount, "{how}");
        assert_eq!(bonus, "999.99", "{how}");
    }
    // A hash cut to the column is still deterministic and tells values apart.
    assert_ne!(rows[0].0, rows[1].0, "{how}");
}

/// Raw binary field bytes, for `numeric` (tokio-postgres has no decimal type of its own).
struct Raw(Vec<u8>);
impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A PostgreSQL binary `numeric` as its text form.
fn pg_numeric_text(v: &[u8]) -> String {
    let be = |i: usize| i16::from_be_bytes([v[i], v[i + 1]]);
    let (ndigits, weight, sign, dscale) = (be(0), be(2), be(4) as u16, be(6) as usize);
    let digit = |i: i32| -> i16 {
        if i < 0 || i >= i32::from(ndigits) {
            0
        } else {
            be(8 + 2 * i as usize)
        }
    };
    let int: String = (0..=i32::from(weight))
        .map(|i| format!("{:04}", digit(i)))
        .collect();
    let int = match int.trim_start_matches('0') {
        "" => "0",
        s => s,
    };
    let mut frac: String = (weight as i32 + 1..)
        .take(dscale.div_ceil(4))
        .map(|i| format!("{:04}", digit(i)))
        .collect();
    frac.truncate(dscale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    match frac.is_empty() {
        true => format!("{sign}{int}"),
        false => format!("{sign}{int}.{frac}"),
    }
}

fn sql_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_masked_values_fit_their_columns_and_restore_in_text_and_binary() {
    let upstream = pg_scram();
    let schema = unique("fit");
    let (direct, conn) = tokio_postgres::connect(&direct_conn_str(upstream), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let columns = "id int, card varchar(19), pin char(4), email varchar(9), amount numeric(5,2), bonus numeric(5,2)";
    let mut setup = format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.cards ({columns}); CREATE TABLE {schema}.restored ({columns});"
    );
    for (i, r) in ROWS.iter().enumerate() {
        setup += &format!(
            "INSERT INTO {schema}.cards VALUES ({i}, '{}', '{}', '{}', {}, {});",
            r.0, r.1, r.2, r.3, r.4
        );
    }
    direct.batch_execute(&setup).await.unwrap();
    let proxy = Proxy::start(
        upstream,
        ProxyOpts {
            extra_config: masks(&format!("{schema}.cards")),
            ..ProxyOpts::default()
        },
    )
    .await;
    let alice = proxy.connect().await;
    let sql = format!("SELECT card, pin, email, amount, bonus FROM {schema}.cards ORDER BY id");

    // Text format (simple protocol).
    let mut text: Vec<Masked> = Vec::new();
    for m in alice.simple_query(&sql).await.unwrap() {
        if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
            let f = |i: usize| r.get(i).unwrap_or("NULL").to_string();
            text.push((f(0), f(1), f(2), f(3), f(4)));
        }
    }
    check_fits(&text, "PostgreSQL text");

    // Binary format (extended protocol).
    let binary: Vec<Masked> = alice
        .query(&sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let (amount, bonus): (Raw, Raw) = (r.get(3), r.get(4));
            (
                r.get(0),
                r.get(1),
                r.get(2),
                pg_numeric_text(&amount.0),
                pg_numeric_text(&bonus.0),
            )
        })
        .collect();
    check_fits(&binary, "PostgreSQL binary");

    // A masked dump restores: assignment to varchar(19)/char(4)/numeric(5,2) is strict.
    for (i, (card, pin, email, amount, bonus)) in text.iter().chain(&binary).enumerate() {
        direct
            .batch_execute(&format!(
                "INSERT INTO {schema}.restored VALUES ({i}, {}, {}, {}, {}, {})",
                sql_quote(card),
                sql_quote(pin),
                sql_quote(email),
                sql_quote(amount),
                sql_quote(bonus)
            ))
            .await
            .unwrap_or_else(|e| panic!("restoring masked row {i}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_masked_values_fit_their_columns_and_restore_under_strict_mode() {
    let upstream = mariadb_native();
    let table = unique("fit");
    let mut direct = mysql_direct(upstream).await;
    let columns = "id INT, card VARCHAR(19), pin CHAR(4), email VARCHAR(9), amount DECIMAL(5,2), bonus DECIMAL(5,2)";
    direct
        .query_drop(format!(
            "CREATE TABLE {table} ({columns}); CREATE TABLE {table}_restored ({columns})"
        ))
        .await
        .unwrap();
    for (i, r) in ROWS.iter().enumerate() {
        direct
            .exec_drop(
                format!("INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?)"),
                (i, r.0, r.1, r.2, r.3, r.4),
            )
            .await
            .unwrap();
    }
    let proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: masks(&format!("shop.{table}")),
            ..ProxyOpts::default()
        },
    )
    .await;
    let mut alice = proxy.mysql().await;
    let sql = format!("SELECT card, pin, email, amount, bonus FROM {table} ORDER BY id");
    let text: Vec<Masked> = alice.query(sql.as_str()).await.unwrap();
    check_fits(&text, "MariaDB text");
    let binary: Vec<Masked> = alice.exec(sql.as_str(), ()).await.unwrap();
    check_fits(&binary, "MariaDB binary");

    // Strict mode turns a too-long string or an out-of-range decimal into an error.
    direct
        .query_drop("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
        .await
        .unwrap();
    for (i, r) in text.iter().chain(&binary).enumerate() {
        direct
            .exec_drop(
                format!("INSERT INTO {table}_restored VALUES (?, ?, ?, ?, ?, ?)"),
                (i, &r.0, &r.1, &r.2, &r.3, &r.4),
            )
            .await
            .unwrap_or_else(|e| panic!("restoring masked row {i}: {e}"));
    }
    // The check itself bites: the unshortened hash does not fit.
    let err = direct
        .exec_drop(
            format!("INSERT INTO {table}_restored (id, card) VALUES (99, ?)"),
            ("0123456789abcdef0123456789abcdef",),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("too long"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_bit_columns_get_masked_values_they_store() {
    // A BIT(n) column's length counts bits: a 32-byte hash (or a redaction) must become
    // ceil(n / 8) bytes with no bit above n, or a restore fails under strict mode.
    let upstream = mariadb_native();
    let table = unique("fitbit");
    let mut direct = mysql_direct(upstream).await;
    let columns = "id INT, card BIT(3), pin BIT(12)";
    direct
        .query_drop(format!(
            "CREATE TABLE {table} ({columns}); CREATE TABLE {table}_restored ({columns});
             INSERT INTO {table} VALUES (1, b'101', b'111100001111'), (2, b'011', b'000011110000')"
        ))
        .await
        .unwrap();
    let proxy = Proxy::start_mysql(
        upstream,
        ProxyOpts {
            extra_config: masks(&format!("shop.{table}")),
            ..ProxyOpts::default()
        },
    )
    .await;
    let mut alice = proxy.mysql().await;
    let sql = format!("SELECT id, card, pin FROM {table} ORDER BY id");
    let text: Vec<(i32, Vec<u8>, Vec<u8>)> = alice.query(sql.as_str()).await.unwrap();
    let binary: Vec<(i32, Vec<u8>, Vec<u8>)> = alice.exec(sql.as_str(), ()).await.unwrap();
    for (id, card, pin) in text.iter().chain(&binary) {
        assert_eq!(
            (card.len(), pin.len()),
            (1, 2),
            "row {id}: {card:?} {pin:?}"
        );
        assert!(card[0] < 8 && pin[0] < 16, "row {id}: {card:?} {pin:?}");
        assert_ne!(
            (card.as_slice(), pin.as_slice()),
            (&[5u8][..], &[0x0f, 0x0f][..]),
            "row 1 masked"
        );
    }
    direct
        .query_drop("SET SESSION sql_mode = 'STRICT_ALL_TABLES'")
        .await
        .unwrap();
    for (id, card, pin) in text.iter().chain(&binary) {
        direct
            .exec_drop(
                format!("INSERT INTO {table}_restored VALUES (?, ?, ?)"),
                (id, card, pin),
            )
            .await
            .unwrap_or_else(|e| panic!("restoring masked row {id}: {e}"));
    }
}
