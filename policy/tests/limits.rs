//! Very long and deeply nested input must be analyzed without overflowing the stack.

use policy::{analyze, mask_literals, Dialect, LiteralMode, SensitiveColumns, StatementKind};

fn nested_parens(depth: usize) -> String {
    format!("SELECT {}1{}", "(".repeat(depth), ")".repeat(depth))
}

fn nested_subqueries(depth: usize) -> String {
    format!(
        "DELETE FROM t WHERE id IN {}1{}",
        "(SELECT ".repeat(depth),
        ")".repeat(depth)
    )
}

/// SQL functions whose bodies define SQL functions, around a deep subquery.
fn nested_bodies(depth: usize) -> String {
    let mut sql = nested_subqueries(2_000);
    for i in 0..depth {
        sql = format!("CREATE FUNCTION f{i}() RETURNS void LANGUAGE sql AS $f{i}$ {sql} $f{i}$");
    }
    sql
}

fn nested_do_blocks(depth: usize) -> String {
    let mut sql = "DROP TABLE t".to_string();
    for i in 0..depth {
        sql = format!("DO $d{i}$ BEGIN {sql}; END $d{i}$");
    }
    sql
}

fn nested_prepares(depth: usize) -> String {
    let mut sql = "DELETE FROM t".to_string();
    for _ in 0..depth {
        sql = format!("PREPARE s FROM '{}'", sql.replace('\'', "''"));
    }
    sql
}

fn hostile_inputs() -> Vec<(Dialect, String)> {
    let long_in = format!(
        "SELECT * FROM t WHERE id IN ({})",
        (0..200_000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(long_in.len() > 1_000_000);
    let long_string = format!("INSERT INTO t VALUES ('{}')", "x".repeat(1 << 20));
    vec![
        (Dialect::Postgres, nested_bodies(12)),
        (Dialect::Postgres, nested_do_blocks(300)),
        (Dialect::MySql, nested_prepares(12)),
        (
            Dialect::MySql,
            format!(
                "CREATE PROCEDURE p() BEGIN {} END",
                "DELETE FROM t WHERE (SELECT 1); SET @s = 'DROP TABLE t'; ".repeat(5_000)
            ),
        ),
        (Dialect::Postgres, nested_parens(10_000)),
        (Dialect::MySql, nested_parens(10_000)),
        (Dialect::Postgres, nested_subqueries(5_000)),
        (
            Dialect::Postgres,
            format!("SELECT {}", "-".repeat(10_000) + "1"),
        ),
        (
            Dialect::Postgres,
            format!("SELECT {}", "NOT ".repeat(10_000) + "true"),
        ),
        (Dialect::Postgres, "(".repeat(10_000)),
        (Dialect::Postgres, format!("/*{}", "/*".repeat(10_000))),
        (
            Dialect::MySql,
            format!("{} SELECT 1 */", "/*!".repeat(10_000)),
        ),
        (Dialect::Postgres, long_in),
        (Dialect::MySql, long_string),
        (Dialect::Postgres, "SELECT 1;".repeat(20_000)),
        (
            Dialect::Postgres,
            format!("SELECT {} FROM t", "a + ".repeat(50_000) + "1"),
        ),
        (
            Dialect::Postgres,
            format!("SELECT {} FROM t", "a + ".repeat(999) + "1"),
        ),
        (
            Dialect::MySql,
            format!("DELETE FROM t WHERE {} 1", "a = 1 AND ".repeat(499)),
        ),
        (
            Dialect::Postgres,
            format!(
                "UPDATE t SET a = 1 WHERE {}",
                "a = 1 OR ".repeat(5_000) + "b = 2"
            ),
        ),
    ]
}

#[test]
fn deep_nesting_falls_back_instead_of_overflowing() {
    let a = analyze(Dialect::Postgres, &nested_parens(10_000));
    assert!(a.parse_error.is_some());
    assert_eq!(a.statements[0].kind, StatementKind::Select);
    assert!(!a.statements[0].parsed);
    let a = analyze(Dialect::Postgres, &nested_subqueries(5_000));
    assert_eq!(a.statements[0].kind, StatementKind::Delete);
    assert_eq!(a.statements[0].has_where, Some(true));
}

#[test]
fn everything_runs_on_a_small_stack() {
    let inputs = hostile_inputs();
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let sensitive = SensitiveColumns::new(["ssn"]).expect("patterns");
            for (i, (dialect, sql)) in inputs.iter().enumerate() {
                eprintln!("input {i}");
                let a = analyze(*dialect, sql);
                // Unterminated comments hold no statement, but never pass as clean.
                assert!(
                    !a.statements.is_empty() || a.parse_error.is_some(),
                    "{}",
                    &sql[..sql.len().min(40)]
                );
                let _ = mask_literals(*dialect, sql, &sensitive, LiteralMode::Mask);
            }
        })
        .expect("spawn");
    handle.join().expect("no stack overflow or panic");
}

#[test]
fn nesting_too_deep_to_follow_assumes_the_worst() {
    for (dialect, sql) in [
        (Dialect::Postgres, nested_bodies(12)),
        (Dialect::Postgres, nested_do_blocks(300)),
        (Dialect::MySql, nested_prepares(12)),
    ] {
        let a = analyze(dialect, &sql);
        let s = &a.statements[0];
        assert!(s.code, "{}", &sql[..40]);
        assert!(s
            .kinds()
            .any(|k| k == StatementKind::Delete || k == StatementKind::Drop));
        assert!(
            !s.parsed || s.has_where == Some(false) || s.effects.contains(&StatementKind::Drop)
        );
    }
}

#[test]
fn long_operator_chains_parse_up_to_a_limit_then_fall_back() {
    let ok = analyze(
        Dialect::Postgres,
        &format!("SELECT {} FROM t", "a + ".repeat(999) + "1"),
    );
    assert!(ok.parsed(), "{:?}", ok.parse_error);
    let over = analyze(
        Dialect::Postgres,
        &format!("SELECT {} FROM t", "a + ".repeat(5_000) + "1"),
    );
    assert!(!over.parsed());
    assert!(over.parse_error.unwrap_or_default().contains("too complex"));
    let a = analyze(
        Dialect::Postgres,
        &format!("DELETE FROM t WHERE {} 1 = 1", "a = 1 OR ".repeat(5_000)),
    );
    assert_eq!(a.statements[0].has_where, Some(false));
}

#[test]
fn long_statements_are_parsed() {
    let sql = format!(
        "SELECT * FROM t WHERE id IN ({})",
        (0..200_000)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let a = analyze(Dialect::Postgres, &sql);
    assert!(a.parsed(), "{:?}", a.parse_error);
    assert_eq!(
        a.statements[0].fingerprint,
        "SELECT * FROM t WHERE id IN (?)"
    );
}
