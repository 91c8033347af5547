//! `rows_over`: which statements are held to a row limit when they run, which are decided
//! before they run, and how the limit combines with the other rules.

use policy::{analyze, Decision, Dialect, RuleAction, RuleConfig, RuleSet, StatementVerdict};

const RULES: &str = r#"
[[rules]]
name = "dba"
when = { groups = ["dba"] }
action = "allow"

[[rules]]
name = "big-writes"
when = { statements = ["update", "delete"], rows_over = 3 }
action = "block"
message = "ask a DBA"

[[rules]]
name = "huge-writes"
when = { statements = ["write"], rows_over = 1000 }
action = "block"

[[rules]]
name = "unbounded"
when = { statements = ["update", "delete"], without_where = true }
action = "review"
"#;

fn rules() -> RuleSet {
    #[derive(serde::Deserialize)]
    struct Config {
        rules: Vec<RuleConfig>,
    }
    let config: Config = toml::from_str(RULES).expect("rules parse");
    RuleSet::compile(&config.rules, RuleAction::Block).expect("rules compile")
}

fn eval(dialect: Dialect, sql: &str, groups: &[&str]) -> StatementVerdict {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    let subject = policy::Subject {
        user: "mallory",
        groups: &groups,
        target: "t",
    };
    rules().evaluate(&analyze(dialect, sql), &subject)
}

fn limit(v: &StatementVerdict) -> Option<(String, u64)> {
    v.row_limit.as_ref().map(|l| (l.rule.clone(), l.limit))
}

#[test]
fn plain_writes_run_held_to_the_tightest_limit_before_the_deciding_rule() {
    for (dialect, sql) in [
        (
            Dialect::Postgres,
            "DELETE FROM t WHERE id IS DISTINCT FROM NULL",
        ),
        (Dialect::Postgres, "UPDATE t SET v = 'x' WHERE id > 0"),
        (Dialect::Postgres, "DELETE FROM vv WHERE one = 1"),
        (Dialect::MySql, "DELETE FROM t WHERE id > 0"),
        (Dialect::MySql, "UPDATE t SET v = 'x' WHERE id > 0 LIMIT 10"),
        (
            Dialect::Postgres,
            "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN DELETE",
        ),
    ] {
        let v = eval(dialect, sql, &[]);
        assert_eq!(v.decision, Decision::Allow, "{sql}: {v:?}");
        assert_eq!(limit(&v), Some(("big-writes".into(), 3)), "{sql}");
    }
    let v = eval(Dialect::Postgres, "INSERT INTO t SELECT * FROM u", &[]);
    assert_eq!(limit(&v), Some(("huge-writes".into(), 1000)));
    // The rule that decides first ends the search: DBAs are not held.
    assert_eq!(
        limit(&eval(
            Dialect::Postgres,
            "DELETE FROM t WHERE id > 0",
            &["dba"]
        )),
        None
    );
    // A later rule still decides what the limit lets through: this one waits for approval.
    let v = eval(Dialect::Postgres, "DELETE FROM t", &[]);
    assert_eq!(v.decision, Decision::Review);
    assert_eq!(limit(&v), Some(("big-writes".into(), 3)));
    // Reads are not held.
    assert_eq!(
        limit(&eval(Dialect::Postgres, "SELECT * FROM t", &[])),
        None
    );
}

#[test]
fn writes_whose_count_cannot_be_seen_whole_are_blocked_before_they_run() {
    for (dialect, sql) in [
        (
            Dialect::Postgres,
            "WITH d AS (DELETE FROM t RETURNING id) DELETE FROM u WHERE id = 1",
        ),
        (
            Dialect::Postgres,
            "WITH d AS (DELETE FROM t RETURNING id) SELECT count(*) FROM d",
        ),
        (
            Dialect::Postgres,
            "EXPLAIN ANALYZE DELETE FROM t WHERE id > 0",
        ),
        (
            Dialect::Postgres,
            "COPY (DELETE FROM t WHERE id > 0 RETURNING id) TO STDOUT",
        ),
        (
            Dialect::Postgres,
            "ALTER TABLE t ADD FOREIGN KEY (pid) REFERENCES p (id) ON DELETE CASCADE",
        ),
        (
            Dialect::MySql,
            "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (pid) REFERENCES p (id) ON UPDATE SET NULL",
        ),
        (
            Dialect::Postgres,
            "CREATE FUNCTION f() RETURNS void LANGUAGE sql AS 'DELETE FROM t WHERE id > 0'",
        ),
    ] {
        let v = eval(dialect, sql, &[]);
        assert_eq!(v.decision, Decision::Block, "{sql}: {v:?}");
        assert_eq!(v.rule.as_deref(), Some("big-writes"), "{sql}");
        assert_eq!(v.row_limit, None, "{sql}");
    }
}

#[test]
fn a_held_write_in_a_batch_blocks_the_batch() {
    let v = eval(
        Dialect::Postgres,
        "SELECT 1; DELETE FROM t WHERE id = 1",
        &[],
    );
    assert_eq!(v.decision, Decision::Block);
    assert_eq!(v.rule.as_deref(), Some("big-writes"));
    assert!(
        v.message
            .as_deref()
            .is_some_and(|m| m.contains("statement of its own") && m.contains("ask a DBA")),
        "{v:?}"
    );
    let v = eval(Dialect::Postgres, "SELECT 1; SELECT 2", &[]);
    assert_eq!(v.decision, Decision::Allow);
}

#[test]
fn cascading_foreign_keys_are_unbounded_writes_of_the_table_they_are_added_to() {
    let a = analyze(
        Dialect::Postgres,
        "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (pid) REFERENCES p ON DELETE CASCADE",
    );
    assert!(a.statements[0].unbounded_write(), "{:?}", a.statements[0]);
    let a = analyze(
        Dialect::Postgres,
        "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (pid) REFERENCES p ON DELETE RESTRICT ON UPDATE NO ACTION",
    );
    assert!(!a.statements[0].unbounded_write(), "{:?}", a.statements[0]);
}

#[test]
fn rows_over_only_blocks_and_is_enforced() {
    for extra in [
        "action = \"review\"",
        "action = \"block\"\nmode = \"dry_run\"",
    ] {
        let rule: RuleConfig = toml::from_str(&format!(
            "name = \"r\"\nwhen = {{ statements = [\"delete\"], rows_over = 5 }}\n{extra}"
        ))
        .expect("parses");
        let err = RuleSet::compile(&[rule], RuleAction::Block).expect_err(extra);
        assert!(err.contains("rows_over"), "{err}");
    }
}

/// Found by the black-box round on `rows_over`: each was a way around the rules.
#[test]
fn second_round_spellings_are_decided_before_they_run() {
    let block = |dialect, sql: &str| {
        let v = eval(dialect, sql, &[]);
        assert_eq!(v.decision, Decision::Block, "{sql}: {v:?}");
    };
    let code = |dialect, sql: &str| {
        let a = analyze(dialect, sql);
        assert!(a.statements.iter().any(|s| s.code), "{sql}: {a:?}");
    };
    // EXPLAIN's British spelling runs the statement too.
    for sql in [
        "EXPLAIN (ANALYSE) DELETE FROM t",
        "EXPLAIN (ANALYSE 1, FORMAT json) DELETE FROM t WHERE id > 0",
        "EXPLAIN (BUFFERS, ANALYSE on) UPDATE t SET v = 1 WHERE id > $1",
        "EXPLAIN (ANALYZE false, ANALYSE true) DELETE FROM t WHERE id > 0",
    ] {
        block(Dialect::Postgres, sql);
    }
    code(
        Dialect::Postgres,
        "EXPLAIN (ANALYSE) SELECT lo_export(1, '/tmp/x')",
    );
    // Calls run bodies sluice cannot see; LOAD loads native code.
    code(
        Dialect::MySql,
        "CALL sys.execute_prepared_stmt('DELETE FROM t')",
    );
    code(
        Dialect::MySql,
        "CALL mysql.DropGeometryColumn('', 'd', 't', 'c')",
    );
    code(Dialect::Postgres, "CALL p()");
    code(Dialect::Postgres, "LOAD '/tmp/evil.so'");
    // Writing the catalog defines code and drops things.
    for (dialect, sql) in [
        (
            Dialect::Postgres,
            "UPDATE pg_catalog.pg_attribute SET attisdropped = true WHERE attrelid = 1 AND attname = 'note'",
        ),
        (Dialect::Postgres, "DELETE FROM pg_class WHERE oid = 1"),
        (Dialect::Postgres, "INSERT INTO pg_catalog.pg_proc SELECT * FROM pg_proc WHERE oid = 1"),
        (Dialect::MySql, "INSERT INTO mysql.proc (db, name) VALUES ('d', 'evil')"),
    ] {
        code(dialect, sql);
        let a = analyze(dialect, sql);
        assert!(
            a.statements[0].kinds().any(|k| k == policy::StatementKind::Drop),
            "{sql}"
        );
    }
}

#[test]
fn harmless_spellings_stay_allowed() {
    let v = eval(
        Dialect::Postgres,
        "WITH x AS (SELECT 1 AS k) UPDATE t SET n = n WHERE id = (SELECT k FROM x)",
        &[],
    );
    assert_eq!(v.decision, Decision::Allow, "{v:?}");
    assert_eq!(limit(&v), Some(("big-writes".into(), 3)));
    for (dialect, sql) in [
        (Dialect::Postgres, "ALTER INDEX i RENAME TO j"),
        (Dialect::Postgres, "ALTER TABLE t RENAME CONSTRAINT c TO d"),
        (Dialect::MySql, "ALTER TABLE t RENAME INDEX i TO j"),
    ] {
        let a = analyze(dialect, sql);
        assert!(
            !a.statements[0]
                .kinds()
                .any(|k| k == policy::StatementKind::Drop),
            "{sql}: {a:?}"
        );
    }
}

#[test]
fn settings_that_hold_code_are_code() {
    for (dialect, sql) in [
        (Dialect::MySql, "SET GLOBAL init_connect = 'DELETE FROM t'"),
        (Dialect::MySql, "SET @@global.general_log_file = '/tmp/x'"),
        (Dialect::Postgres, "SET session_replication_role = replica"),
        (
            Dialect::Postgres,
            "ALTER ROLE app SET session_preload_libraries = '/tmp/x.so'",
        ),
    ] {
        let a = analyze(dialect, sql);
        assert!(a.statements.iter().any(|s| s.code), "{sql}: {a:?}");
    }
    for (dialect, sql) in [
        (Dialect::MySql, "SET NAMES utf8mb4"),
        (Dialect::MySql, "SET SESSION sql_mode = 'ANSI'"),
        (Dialect::Postgres, "SET search_path = app"),
        (Dialect::Postgres, "SELECT init_connect FROM settings"),
    ] {
        let a = analyze(dialect, sql);
        assert!(!a.statements.iter().any(|s| s.code), "{sql}: {a:?}");
    }
}
