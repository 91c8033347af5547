use super::*;
use crate::session::{ColumnDesc, ColumnOrigin, ResultOf, RowFields};

fn policy(extra: &str) -> Arc<MaskPolicy> {
    let text = format!(
        "[[masks]]\ncolumns = [\"public.customers.ssn\", \"*.*.tax_id\"]\nfunction = \"redact\"\nexcept_groups = [\"dba\"]\n{extra}"
    );
    let config = Config::parse(&text, Default::default()).unwrap();
    MaskPolicy::compile(&config).unwrap().unwrap()
}

fn text_column(name: &str, origin: ColumnOrigin) -> ColumnDesc {
    ColumnDesc {
        name: name.into(),
        origin,
        type_code: 25,
        type_name: Some("text"),
        binary: false,
        value_type: masking::ColumnType::pg(25, false),
    }
}

fn named(table: &str, column: &str) -> ColumnOrigin {
    ColumnOrigin::Named {
        schema: "public".into(),
        table: table.into(),
        column: column.into(),
    }
}

fn masked_row(m: &SessionMasks, sql: &str, columns: &[ColumnDesc]) -> Option<RowFields> {
    let plan = m.plan(
        Dialect::Postgres,
        Some(ResultOf { sql, index: 0 }),
        columns,
        None,
    )?;
    let mut row: RowFields = columns
        .iter()
        .map(|_| Some(b"123-45-6789".to_vec()))
        .collect();
    m.apply(&plan, &mut row, &mut Vec::new(), &mut Default::default());
    Some(row)
}

#[test]
fn origin_decides_for_plain_columns_and_lineage_for_expressions() {
    let m = policy("").for_session(&["analysts".into()], "t");
    let redacted = Some(b"[REDACTED]".to_vec());
    let clear = Some(b"123-45-6789".to_vec());
    // An alias does not hide the origin.
    let cols = [
        text_column("x", named("customers", "ssn")),
        text_column("name", named("customers", "name")),
    ];
    assert_eq!(
        masked_row(&m, "SELECT ssn AS x, name FROM customers", &cols),
        Some(vec![redacted.clone(), clear.clone()])
    );
    // An expression has no origin on the wire: its lineage decides.
    let cols = [
        text_column("upper", ColumnOrigin::Unknown),
        text_column("lower", ColumnOrigin::Unknown),
    ];
    assert_eq!(
        masked_row(&m, "SELECT upper(ssn), lower(name) FROM customers", &cols),
        Some(vec![redacted.clone(), clear.clone()])
    );
    // Nothing masked: no plan, rows pass raw.
    let cols = [text_column("name", named("customers", "name"))];
    assert!(masked_row(&m, "SELECT name FROM customers", &cols).is_none());
    // Without a statement, unknown origins fail closed.
    let cols = [text_column("x", ColumnOrigin::Unknown)];
    assert!(m.plan(Dialect::Postgres, None, &cols, None).is_some());
}

#[test]
fn exempt_groups_see_clear_values() {
    let m = policy("").for_session(&["dba".into()], "t");
    assert!(m.is_empty());
}

#[test]
fn copies_of_masked_data_and_blocked_settings_are_refused() {
    let m = policy("[masking]\non_predicate = \"block\"\non_derived = \"block\"\n")
        .for_session(&[], "t");
    for sql in [
        "CREATE TABLE x AS SELECT ssn FROM customers",
        "INSERT INTO t SELECT ssn FROM customers",
        "SELECT name FROM customers WHERE ssn = '1'",
        "SELECT upper(ssn) FROM customers",
        "COPY customers TO STDOUT (FORMAT binary)",
        // A row count that a masked value decides.
        "SELECT count(*) FROM customers c, generate_series(1, ascii(substr(c.ssn, 1, 1))) g WHERE c.id = 1",
        "SELECT count(*) FROM customers c, unnest(string_to_array(c.ssn, '-')) x",
    ] {
        assert!(
            m.check_statement(
                &policy::ShapedSql::new(Dialect::Postgres, sql),
                &policy::analyze(Dialect::Postgres, sql),
                None
            )
            .is_err(),
            "{sql}"
        );
    }
    for sql in [
        "SELECT ssn FROM customers",
        "SELECT name FROM customers WHERE id = 1",
    ] {
        assert_eq!(
            m.check_statement(
                &policy::ShapedSql::new(Dialect::Postgres, sql),
                &policy::analyze(Dialect::Postgres, sql),
                None
            ),
            Ok(()),
            "{sql}"
        );
    }
}

#[test]
fn bad_masking_settings_are_config_errors() {
    let text = "[masking]\non_derived = \"allow\"\n";
    let err = Config::parse(text, Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("on_derived"), "{err}");
    let text = "[[masks]]\ncolumns = [\"a.b.c.d\"]\nfunction = \"redact\"\n";
    let err = Config::parse(text, Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("a.b.c.d"), "{err}");
}

#[test]
fn detector_hits_are_redacted_for_the_log_and_other_text_is_kept_as_it_came() {
    let p = policy("\n[[detectors]]\nkinds = [\"email\"]\nfunction = \"redact\"\n");
    let clean = String::from("SELECT 1 FROM t WHERE a = 'x'");
    let at = clean.as_ptr();
    let kept = p.redact_detected(clean);
    assert_eq!(kept, "SELECT 1 FROM t WHERE a = 'x'");
    assert_eq!(kept.as_ptr(), at, "a text without a hit is not copied");
    let masked = p.redact_detected("WHERE email = 'alice@example.com' OR id = 2".into());
    assert!(!masked.contains("alice@example.com"), "{masked}");
    assert!(
        masked.starts_with("WHERE email = '") && masked.ends_with("' OR id = 2"),
        "{masked}"
    );
}

fn check(m: &SessionMasks, dialect: Dialect, sql: &str) -> Result<(), String> {
    m.check_statement(
        &policy::ShapedSql::new(dialect, sql),
        &policy::analyze(dialect, sql),
        None,
    )
}

#[test]
fn a_masked_session_may_not_use_what_sluice_cannot_see_into() {
    let block = policy("").for_session(&["analysts".into()], "t");
    let mask = policy("[masking]\non_opaque = \"mask\"\n").for_session(&["analysts".into()], "t");
    let exempt = policy("").for_session(&["dba".into()], "t");
    // Opaque: refused by default, masked with on_opaque = "mask".
    for sql in [
        "SELECT my_fn(1)",
        "SELECT * FROM app.report()",
        "SELECT table_to_xml('customers', true, false, '')",
    ] {
        let err = check(&block, Dialect::Postgres, sql).unwrap_err();
        assert!(err.contains("on_opaque"), "{sql}: {err}");
        assert_eq!(check(&mask, Dialect::Postgres, sql), Ok(()), "{sql}");
        assert_eq!(check(&exempt, Dialect::Postgres, sql), Ok(()), "{sql}");
    }
    // Side effects, code, statistics and DDL around masked tables: refused whatever the setting.
    for (dialect, sql) in [
        (
            Dialect::Postgres,
            "SELECT pg_notify('c', ssn) FROM customers",
        ),
        (
            Dialect::Postgres,
            "SELECT set_config('a.b', name, false) FROM customers",
        ),
        (Dialect::Postgres, "CALL p()"),
        // SQL held in a string runs whatever it says.
        (
            Dialect::Postgres,
            "SELECT query_to_xml('SELECT ssn FROM customers', true, false, '')",
        ),
        (Dialect::Postgres, "DO $$ BEGIN NULL; END $$"),
        (
            Dialect::Postgres,
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ),
        (Dialect::Postgres, "SELECT * FROM pg_stats"),
        (Dialect::Postgres, "SELECT query FROM pg_stat_activity"),
        (
            Dialect::Postgres,
            "SELECT statement FROM pg_prepared_statements",
        ),
        (
            Dialect::Postgres,
            "SELECT name, statement FROM pg_catalog.pg_cursors",
        ),
        (
            Dialect::Postgres,
            "ALTER TABLE customers RENAME COLUMN ssn TO x",
        ),
        (
            Dialect::Postgres,
            "CREATE VIEW v AS SELECT ssn FROM public.customers",
        ),
        (Dialect::MySql, "SELECT * FROM mysql.column_stats"),
        (Dialect::MySql, "SHOW FULL PROCESSLIST"),
        (Dialect::MySql, "SET sql_mode = (SELECT ssn FROM customers)"),
        (Dialect::MySql, "SELECT get_lock(name, 0) FROM customers"),
    ] {
        assert!(check(&mask, dialect, sql).is_err(), "{sql}");
        assert_eq!(check(&exempt, dialect, sql), Ok(()), "{sql}");
    }
    // Ordinary SQL passes.
    for (dialect, sql) in [
        (
            Dialect::Postgres,
            "SELECT lower(name), count(*), now() FROM customers GROUP BY 1",
        ),
        // (No DDL here: `*.*.tax_id` covers every table, so any table may hold masked columns.)
        (Dialect::Postgres, "SELECT current_setting('TimeZone')"),
        (
            Dialect::MySql,
            "SELECT last_insert_id(), concat(name, '!') FROM customers",
        ),
        (Dialect::MySql, "SET NAMES utf8mb4"),
    ] {
        assert_eq!(check(&block, dialect, sql), Ok(()), "{sql}");
    }
}

#[test]
fn a_copy_sluice_cannot_read_is_refused_for_what_it_is() {
    let m = policy("").for_session(&["analysts".into()], "t");
    let binary = check(
        &m,
        Dialect::Postgres,
        "COPY customers TO STDOUT (FORMAT binary)",
    );
    assert!(binary.unwrap_err().contains("binary format"));
    // `FORCE_QUOTE *` is read (sqlparser takes only a list of names there): no longer refused.
    let star = check(
        &m,
        Dialect::Postgres,
        "COPY customers TO STDOUT WITH (FORMAT csv, FORCE_QUOTE *)",
    );
    assert_eq!(star, Ok(()));
}

#[test]
fn a_copy_column_list_is_no_call() {
    let m = policy("").for_session(&["analysts".into()], "t");
    let copy = check(
        &m,
        Dialect::Postgres,
        "COPY customers (ssn) TO STDOUT (FORMAT csv, FORCE_QUOTE *, HEADER)",
    );
    assert_eq!(copy, Ok(()));
}
