//! The statement rules of the repository's `sluice.example.toml`, evaluated end to end.

use policy::{
    analyze, Decision, Dialect, RuleAction, RuleConfig, RuleSet, StatementVerdict, Subject,
    ON_PARSE_ERROR_RULE,
};

/// Copied from the example config's `[[rules]]` and `[policy]` sections.
const EXAMPLE: &str = r#"
[[rules]]
name = "no-drop"
when = { statements = ["drop", "truncate"] }
action = "block"
message = "DROP and TRUNCATE are not allowed through sluice; ask a DBA."

[[rules]]
name = "unbounded-write"
when = { statements = ["update", "delete"], without_where = true }
action = "review"

[[rules]]
name = "mass-write"
when = { statements = ["update", "delete"], rows_over = 1000 }
action = "block"
message = "Changes to more than 1000 rows at once need a DBA."

[[rules]]
name = "contractors-read-only"
when = { groups = ["contractors"], statements = ["write", "ddl"] }
action = "block"

[[rules]]
name = "billing-writes"
when = { tables = ["billing.*"], statements = ["write"] }
action = "review"
mode = "dry_run"                         # log what it would do, do not enforce

[policy]
on_parse_error = "block"
"#;

#[derive(serde::Deserialize)]
struct Config {
    rules: Vec<RuleConfig>,
    policy: Policy,
}

#[derive(serde::Deserialize)]
struct Policy {
    on_parse_error: RuleAction,
}

fn example() -> RuleSet {
    let config: Config = toml::from_str(EXAMPLE).expect("example config parses");
    let set = RuleSet::compile(&config.rules, config.policy.on_parse_error).expect("compiles");
    assert!(set.warnings().is_empty(), "{:?}", set.warnings());
    set
}

fn eval(sql: &str, groups: &[&str]) -> StatementVerdict {
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    let subject = Subject {
        user: "alice",
        groups: &groups,
        target: "app-pg",
    };
    example().evaluate(&analyze(Dialect::Postgres, sql), &subject)
}

#[test]
fn drop_and_truncate_are_blocked_by_no_drop() {
    for sql in [
        "DROP TABLE t",
        "TRUNCATE t",
        "/* hi */ drop table if exists a.b",
        "SELECT 1; DROP TABLE t",
    ] {
        let v = eval(sql, &[]);
        assert_eq!(v.decision, Decision::Block, "{sql}");
        assert_eq!(v.rule.as_deref(), Some("no-drop"), "{sql}");
        assert!(v
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("ask a DBA"));
    }
    assert_eq!(eval("SELECT 1; DROP TABLE t", &[]).statement_index, Some(1));
    let my = example().evaluate(
        &analyze(Dialect::MySql, "/*!50001 DROP TABLE t */"),
        &Subject {
            user: "u",
            groups: &[],
            target: "app-mysql",
        },
    );
    assert_eq!(my.decision, Decision::Block);
}

#[test]
fn unbounded_deletes_and_updates_go_to_review() {
    for sql in [
        "DELETE FROM t",
        "DELETE FROM t WHERE 1=1",
        "UPDATE t SET a = 1 WHERE true",
        "EXPLAIN ANALYZE DELETE FROM t",
        "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
    ] {
        let v = eval(sql, &[]);
        assert_eq!(
            (v.decision, v.rule.as_deref()),
            (Decision::Review, Some("unbounded-write")),
            "{sql}"
        );
    }
    let v = eval("DELETE FROM t WHERE id = 1", &[]);
    assert_eq!((v.decision, v.rule), (Decision::Allow, None));
}

#[test]
fn contractors_cannot_write_but_can_read() {
    let v = eval("INSERT INTO t VALUES (1)", &["contractors"]);
    assert_eq!(
        (v.decision, v.rule.as_deref()),
        (Decision::Block, Some("contractors-read-only"))
    );
    let v = eval("CREATE TABLE x (a int)", &["staff", "contractors"]);
    assert_eq!(v.decision, Decision::Block);
    let v = eval("SELECT * FROM t", &["contractors"]);
    assert_eq!(v.decision, Decision::Allow);
    let v = eval("INSERT INTO t VALUES (1)", &["staff"]);
    assert_eq!(v.decision, Decision::Allow);
}

#[test]
fn billing_dry_run_allows_and_reports() {
    let v = eval("UPDATE billing.invoices SET paid = true WHERE id = 7", &[]);
    assert_eq!(v.decision, Decision::Allow);
    assert_eq!(v.rule, None);
    assert_eq!(
        v.dry_run,
        [("billing-writes".to_string(), Decision::Review)]
    );
    // An enforcing rule before it decides first, and evaluation stops there.
    let v = eval("INSERT INTO billing.invoices VALUES (1)", &["contractors"]);
    assert_eq!(v.decision, Decision::Block);
    assert!(v.dry_run.is_empty());
    // Reads from billing do not match a write rule.
    assert!(eval("SELECT * FROM billing.invoices", &[])
        .dry_run
        .is_empty());
}

#[test]
fn unparsed_statements_are_never_silently_allowed() {
    let v = eval("SELEC * FROM t", &[]);
    assert_eq!(
        (v.decision, v.rule.as_deref()),
        (Decision::Block, Some(ON_PARSE_ERROR_RULE))
    );
    // A DO block can run anything: blocked by on_parse_error.
    let v = eval("DO $$ BEGIN DROP TABLE t; END $$", &[]);
    assert_eq!(v.decision, Decision::Block);
    // The fallback's facts still feed the rules: an unparsable DROP is blocked by no-drop.
    let v = eval("DROP TABLE t (((", &[]);
    assert_eq!(v.rule.as_deref(), Some("no-drop"));
    // With on_parse_error = allow, the fallback's facts decide alone.
    let config: Config = toml::from_str(EXAMPLE).expect("parses");
    let lenient = RuleSet::compile(&config.rules, RuleAction::Allow).expect("compiles");
    let subject = Subject {
        user: "u",
        groups: &[],
        target: "t",
    };
    assert_eq!(
        lenient
            .evaluate(&analyze(Dialect::Postgres, "SELEC 1"), &subject)
            .decision,
        Decision::Allow
    );
    assert_eq!(
        lenient
            .evaluate(&analyze(Dialect::Postgres, "DELETE FROM t ((("), &subject)
            .decision,
        Decision::Review
    );
}

#[test]
fn do_blocks_can_be_allowed_explicitly() {
    let rules: Vec<RuleConfig> = toml::from_str::<Config>(&format!(
        "{}\n{}",
        r#"
[[rules]]
name = "dba-do"
when = { statements = ["do"], groups = ["dba"] }
action = "allow"
"#,
        EXAMPLE
    ))
    .expect("parses")
    .rules;
    let set = RuleSet::compile(&rules, RuleAction::Block).expect("compiles");
    let dba = vec!["dba".to_string()];
    let sql = analyze(Dialect::Postgres, "DO $$ BEGIN PERFORM 1; END $$");
    let v = set.evaluate(
        &sql,
        &Subject {
            user: "d",
            groups: &dba,
            target: "t",
        },
    );
    assert_eq!(
        (v.decision, v.rule.as_deref()),
        (Decision::Allow, Some("dba-do"))
    );
    let v = set.evaluate(
        &sql,
        &Subject {
            user: "e",
            groups: &[],
            target: "t",
        },
    );
    assert_eq!(v.decision, Decision::Block);
}

#[test]
fn tables_users_and_targets_match_by_glob() {
    let rules: Vec<RuleConfig> = toml::from_str::<Config>(
        r#"
[[rules]]
name = "secrets"
when = { tables = ["Secrets", "vault.*"], users = ["app-*"], targets = ["prod-?"] }
action = "block"
[policy]
on_parse_error = "block"
"#,
    )
    .expect("parses")
    .rules;
    let set = RuleSet::compile(&rules, RuleAction::Block).expect("compiles");
    let s = |user, target| Subject {
        user,
        groups: &[],
        target,
    };
    let a = analyze(Dialect::Postgres, "SELECT * FROM public.secrets");
    assert_eq!(
        set.evaluate(&a, &s("app-web", "prod-1")).decision,
        Decision::Block
    );
    assert_eq!(
        set.evaluate(&a, &s("alice", "prod-1")).decision,
        Decision::Allow
    );
    assert_eq!(
        set.evaluate(&a, &s("app-web", "prod-12")).decision,
        Decision::Allow
    );
    let a = analyze(Dialect::Postgres, "SELECT * FROM x JOIN vault.keys ON true");
    assert_eq!(
        set.evaluate(&a, &s("APP-web", "PROD-2")).decision,
        Decision::Block
    );
}

#[test]
fn compile_errors_and_warnings_name_the_rule() {
    let parse = |text: &str| {
        toml::from_str::<Config>(&format!("{text}\n[policy]\non_parse_error = \"block\""))
            .map(|c| c.rules)
    };
    let rules = parse("[[rules]]\nname = \"x\"\nwhen = { statements = [\"select\", \"nope\"] }\naction = \"block\"").expect("parses");
    let err = RuleSet::compile(&rules, RuleAction::Block).unwrap_err();
    assert!(err.contains("\"x\"") && err.contains("nope"), "{err}");
    let rules = parse("[[rules]]\nname = \"g\"\nwhen = { tables = [\"\"] }\naction = \"block\"")
        .expect("parses");
    assert!(RuleSet::compile(&rules, RuleAction::Block)
        .unwrap_err()
        .contains("\"g\""));
    assert!(
        parse("[[rules]]\nname = \"u\"\nwhen = { tabels = [\"t\"] }\naction = \"block\"").is_err()
    );
    let rules = parse(
        "[[rules]]\nname = \"all\"\nwhen = {}\naction = \"review\"\n\
         [[rules]]\nname = \"later\"\nwhen = { statements = [\"insert\"], without_where = true }\naction = \"block\"",
    )
    .expect("parses");
    let set = RuleSet::compile(&rules, RuleAction::Block).expect("compiles");
    let warnings = set.warnings().join("\n");
    assert!(
        warnings.contains("\"all\" matches every statement"),
        "{warnings}"
    );
    assert!(
        warnings.contains("\"later\" can never match: the earlier rule \"all\""),
        "{warnings}"
    );
    assert!(warnings.contains("without_where"), "{warnings}");
    let dup = parse("[[rules]]\nname = \"d\"\nwhen = {}\naction = \"allow\"\n[[rules]]\nname = \"d\"\nwhen = {}\naction = \"allow\"").expect("parses");
    assert!(RuleSet::compile(&dup, RuleAction::Block)
        .unwrap_err()
        .contains("same name"));
}

#[test]
fn the_strictest_statement_of_a_batch_decides() {
    let v = eval("DELETE FROM t; DROP TABLE u; SELECT 1", &[]);
    assert_eq!((v.decision, v.statement_index), (Decision::Block, Some(1)));
    let v = eval("SELECT 1; DELETE FROM t", &[]);
    assert_eq!((v.decision, v.statement_index), (Decision::Review, Some(1)));
    let v = eval("", &[]);
    assert_eq!((v.decision, v.statement_index), (Decision::Allow, None));
}

#[test]
fn bounded_writes_run_held_to_mass_write_and_approved_ones_do_not() {
    let v = eval("DELETE FROM t WHERE id > 5", &[]);
    assert_eq!(v.decision, Decision::Allow);
    assert_eq!(
        v.row_limit.map(|l| (l.rule, l.limit)),
        Some(("mass-write".to_string(), 1000))
    );
    // Decided by unbounded-write first: once approved, it runs whole.
    let v = eval("DELETE FROM t", &[]);
    assert_eq!((v.decision, v.row_limit), (Decision::Review, None));
    // A count that cannot be seen whole is refused by mass-write before it runs.
    let v = eval(
        "WITH d AS (DELETE FROM t WHERE id > 5 RETURNING id) DELETE FROM u WHERE id = 1",
        &[],
    );
    assert_eq!(
        (v.decision, v.rule.as_deref()),
        (Decision::Block, Some("mass-write"))
    );
}
