//! Entry points for coverage-guided fuzzing (`fuzz/`) and for the test that replays its corpus
//! (`policy/tests/fuzz_corpus.rs`). Not an API.

use crate::{
    analyze, classify, copy_out, cursors, lineage, shape, Decision, Dialect, RuleAction,
    RuleConfig, RuleMatch, RuleMode, RuleSet, StatementVerdict, Subject,
};

/// Every analysis sluice makes of a statement text, over arbitrary text: none may panic.
/// The first byte picks the dialect.
pub fn analyze_sql(data: &[u8]) {
    let Some((&d, rest)) = data.split_first() else {
        return;
    };
    let dialect = dialect(d);
    let sql = String::from_utf8_lossy(rest);
    let analysis = analyze(dialect, &sql);
    let _ = analysis.shape_invariant();
    let _ = lineage(dialect, &sql);
    let _ = classify(dialect, &sql);
    let _ = copy_out(dialect, &sql);
    let _ = cursors(dialect, &sql);
    let _ = shape(dialect, &sql);
    let _ = crate::canonical_text(dialect, &sql);
    let _ = crate::bind_literals(dialect, &sql, &[Some("1".into()), None]);
}

/// A statement gets the same verdict alone, under `EXPLAIN ANALYZE` (which runs it), and as
/// one of two statements of a text (whose verdict is the stricter of the two). `data`: a
/// dialect byte, then two statements separated by a 0xFF byte.
pub fn verdicts(data: &[u8]) {
    let Some((&d, rest)) = data.split_first() else {
        return;
    };
    let dialect = dialect(d);
    let mut halves = rest.splitn(2, |&b| b == 0xFF);
    let a = String::from_utf8_lossy(halves.next().unwrap_or_default());
    let b = String::from_utf8_lossy(halves.next().unwrap_or_default());
    let Some(alone) = single(dialect, &a) else {
        return;
    };
    if let Some(explained) = single(dialect, &format!("EXPLAIN ANALYZE {a}")) {
        assert_eq!(
            alone.decision, explained.decision,
            "{a:?} alone and under EXPLAIN ANALYZE"
        );
    }
    let Some(other) = single(dialect, &b) else {
        return;
    };
    let both = format!("{a}\n;\n{b}");
    let analysis = analyze(dialect, &both);
    if analysis.statements.len() == 2 && analysis.parsed() {
        let verdict = rules().evaluate(&analysis, &subject());
        let strictest = [alone.decision, other.decision]
            .into_iter()
            .max_by_key(|d| d.severity())
            .unwrap_or(Decision::Allow);
        assert_eq!(verdict.decision, strictest, "{both:?}");
    }
}

fn dialect(byte: u8) -> Dialect {
    match byte & 1 {
        0 => Dialect::Postgres,
        _ => Dialect::MySql,
    }
}

/// The verdict for `sql` when it is exactly one statement the parser read.
fn single(dialect: Dialect, sql: &str) -> Option<StatementVerdict> {
    let analysis = analyze(dialect, sql);
    (analysis.statements.len() == 1 && analysis.parsed())
        .then(|| rules().evaluate(&analysis, &subject()))
}

fn subject() -> Subject<'static> {
    Subject {
        user: "alice",
        groups: &[],
        target: "t",
    }
}

/// Rules of the condition kinds a statement's text decides (kinds, tables, WHERE).
fn rules() -> &'static RuleSet {
    static RULES: std::sync::OnceLock<RuleSet> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        let rule = |name: &str, statements: &[&str], action: RuleAction| RuleConfig {
            name: name.into(),
            when: RuleMatch {
                statements: Some(statements.iter().map(|s| s.to_string()).collect()),
                ..RuleMatch::default()
            },
            action,
            message: None,
            mode: RuleMode::default(),
        };
        let mut unbounded = rule("unbounded", &["update", "delete"], RuleAction::Review);
        unbounded.when.without_where = Some(true);
        let mut billing = rule("billing", &["write"], RuleAction::Block);
        billing.when.tables = Some(vec!["billing.*".into()]);
        let rules = [
            rule("no-drop", &["drop", "truncate"], RuleAction::Block),
            rule("no-code", &["code"], RuleAction::Block),
            unbounded,
            billing,
            rule("ddl", &["ddl"], RuleAction::Review),
        ];
        RuleSet::compile(&rules, RuleAction::Block).expect("the fuzzing rules compile")
    })
}
