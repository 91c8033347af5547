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
    let err = Config::parse(text, Default::default()).unwrap_err();
    assert!(err.contains("on_derived"), "{err}");
    let text = "[[masks]]\ncolumns = [\"a.b.c.d\"]\nfunction = \"redact\"\n";
    let err = Config::parse(text, Default::default()).unwrap_err();
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
