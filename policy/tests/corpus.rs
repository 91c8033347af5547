//! Runs the statement corpora in `tests/corpus/` through `analyze`, plus comment-prefixed and
//! `;`-terminated variants of every entry, and checks that nothing panics on random mixes.

use policy::{analyze, Access, Dialect, StatementKind};
use proptest::prelude::*;

struct Entry {
    line: usize,
    kinds: Vec<StatementKind>,
    wheres: Option<Vec<Option<bool>>>,
    tables: Option<Vec<(String, Access)>>,
    parsed: Option<bool>,
    sql: String,
}

fn load(file: &str) -> Vec<Entry> {
    let path = format!("{}/tests/corpus/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("corpus file");
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.splitn(5, " | ").collect();
        assert_eq!(fields.len(), 5, "{file}:{}: expected 5 fields", i + 1);
        let kinds = fields[0]
            .split(',')
            .map(|k| {
                let quoted = format!("\"{}\"", k.trim());
                serde_json_free_kind(&quoted)
                    .unwrap_or_else(|| panic!("{file}:{}: kind {k}", i + 1))
            })
            .collect();
        let wheres = (fields[1].trim() != "*").then(|| {
            fields[1]
                .split(',')
                .map(|w| match w.trim() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => None,
                })
                .collect()
        });
        let tables = (fields[2].trim() != "*").then(|| {
            let mut t: Vec<(String, Access)> = fields[2]
                .split(' ')
                .filter(|t| !t.is_empty())
                .map(|t| {
                    let (name, access) = t.rsplit_once(':').expect("name:access");
                    let access = if access == "w" {
                        Access::Write
                    } else {
                        Access::Read
                    };
                    // A no-break space stands for a space inside a quoted name.
                    (name.replace('\u{a0}', " "), access)
                })
                .collect();
            t.sort();
            t
        });
        let parsed = match fields[3].trim() {
            "y" => Some(true),
            "n" => Some(false),
            _ => None,
        };
        let sql = fields[4].replace("\\n", "\n");
        entries.push(Entry {
            line: i + 1,
            kinds,
            wheres,
            tables,
            parsed,
            sql,
        });
    }
    entries
}

/// Parses a kind name the way rule configs do, through serde.
fn serde_json_free_kind(quoted: &str) -> Option<StatementKind> {
    let name = quoted.trim_matches('"');
    StatementKind::ALL
        .iter()
        .copied()
        .find(|k| k.as_str() == name)
}

fn check(dialect: Dialect, file: &str, entry: &Entry, sql: &str, variant: &str) -> Vec<String> {
    let mut failures = Vec::new();
    let a = analyze(dialect, sql);
    let at = format!("{file}:{} ({variant}) {sql:?}", entry.line);
    let kinds: Vec<StatementKind> = a.statements.iter().map(|s| s.kind).collect();
    if kinds != entry.kinds {
        failures.push(format!("{at}: kinds {kinds:?}, expected {:?}", entry.kinds));
        return failures;
    }
    if let Some(wheres) = &entry.wheres {
        let got: Vec<Option<bool>> = a.statements.iter().map(|s| s.has_where).collect();
        if &got != wheres {
            failures.push(format!("{at}: has_where {got:?}, expected {wheres:?}"));
        }
    }
    if let Some(tables) = &entry.tables {
        let mut got: Vec<(String, Access)> = Vec::new();
        for t in a.statements.iter().flat_map(|s| &s.tables) {
            let item = (t.qualified_name(), t.access);
            if let Some(existing) = got.iter_mut().find(|g| g.0 == item.0) {
                existing.1 = existing.1.max(item.1);
            } else {
                got.push(item);
            }
        }
        got.sort();
        let expected = tables.clone();
        if got != expected && !(expected.is_empty() && got.is_empty()) {
            failures.push(format!("{at}: tables {got:?}, expected {expected:?}"));
        }
    }
    if let Some(parsed) = entry.parsed {
        if a.parsed() != parsed {
            failures.push(format!(
                "{at}: parsed {}, error {:?}",
                a.parsed(),
                a.parse_error
            ));
        }
    }
    failures
}

fn run(dialect: Dialect, file: &str) -> usize {
    let entries = load(file);
    let comment = match dialect {
        Dialect::Postgres => "/* prefixed ; DROP TABLE zz */ -- and more\n",
        Dialect::MySql => "# prefixed ; DROP TABLE zz\n/* more */ ",
    };
    let mut failures = Vec::new();
    let mut checked = 0;
    for entry in &entries {
        failures.extend(check(dialect, file, entry, &entry.sql, "as written"));
        failures.extend(check(
            dialect,
            file,
            entry,
            &format!("{comment}{}", entry.sql),
            "comment first",
        ));
        let trimmed = entry.sql.trim_end();
        if !trimmed.ends_with(';')
            && !trimmed.ends_with("--")
            && !entry.sql.contains("--")
            && !entry.sql.contains('#')
        {
            failures.extend(check(
                dialect,
                file,
                entry,
                &format!("{}\n;", entry.sql),
                "terminated",
            ));
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

#[test]
fn postgres_corpus() {
    assert!(run(Dialect::Postgres, "postgres.txt") > 150);
}

#[test]
fn mysql_corpus() {
    assert!(run(Dialect::MySql, "mysql.txt") > 100);
}

/// Every corpus statement whose analysis is shared by shape must analyse identically with
/// other literal values in the same places: zero, one and large numbers,
/// empty, numeric, wildcard and keyword-looking strings. The same for lineage.
fn shapes_hold_for_every_literal(dialect: Dialect, file: &str) -> usize {
    let numbers = ["0", "1", "987654321"];
    let strings = [
        "''",
        "'1'",
        "'%'",
        "'x'",
        "'DROP TABLE t'",
        "'a'' OR ''1''=''1'",
    ];
    let mut shared = 0;
    for entry in load(file) {
        let Some(shape) = policy::shape(dialect, &entry.sql) else {
            continue;
        };
        let original = analyze(dialect, &entry.sql);
        let lineage = policy::lineage(dialect, &entry.sql);
        let analysis_shared = original.shape_invariant();
        let lineage_shared = lineage.iter().all(policy::Lineage::shape_invariant);
        if !analysis_shared && !lineage_shared {
            continue;
        }
        shared += 1;
        for round in 0..numbers.len().max(strings.len()) {
            let mut variant = String::new();
            let mut copied = 0;
            for (i, range) in shape.literals().iter().enumerate() {
                let literal = &entry.sql[range.clone()];
                let pick = round + i;
                let replacement = match literal.starts_with('\'') {
                    true => strings[pick % strings.len()],
                    false => numbers[pick % numbers.len()],
                };
                variant.push_str(&entry.sql[copied..range.start]);
                variant.push_str(replacement);
                copied = range.end;
            }
            variant.push_str(&entry.sql[copied..]);
            let again = policy::shape(dialect, &variant).expect("a variant has a shape");
            assert_eq!(again.key(), shape.key(), "{file}:{}: {variant}", entry.line);
            if analysis_shared {
                assert_eq!(
                    analyze(dialect, &variant),
                    original,
                    "{file}:{}: {} vs {variant}",
                    entry.line,
                    entry.sql
                );
            }
            if lineage_shared {
                assert_eq!(
                    policy::lineage(dialect, &variant),
                    lineage,
                    "{file}:{}: {} vs {variant}",
                    entry.line,
                    entry.sql
                );
            }
        }
    }
    shared
}

#[test]
fn shared_analyses_hold_for_every_literal_of_the_shape() {
    assert!(shapes_hold_for_every_literal(Dialect::Postgres, "postgres.txt") > 20);
    assert!(shapes_hold_for_every_literal(Dialect::MySql, "mysql.txt") > 20);
}

#[test]
fn dialects_disagree_where_the_servers_do() {
    // PostgreSQL comments are only comments.
    let a = analyze(Dialect::Postgres, "/*! DROP TABLE t */");
    assert!(a.statements.is_empty());
    // MySQL strings take backslash escapes; PostgreSQL standard strings do not.
    let sql = r"SELECT 'a\'; DROP TABLE t; -- '";
    let pg: Vec<_> = analyze(Dialect::Postgres, sql)
        .statements
        .iter()
        .map(|s| s.kind)
        .collect();
    assert_eq!(pg, [StatementKind::Select, StatementKind::Drop]);
    let my: Vec<_> = analyze(Dialect::MySql, sql)
        .statements
        .iter()
        .map(|s| s.kind)
        .collect();
    assert_eq!(my, [StatementKind::Select]);
}

fn fragments() -> Vec<String> {
    let mut out: Vec<String> = load("postgres.txt")
        .into_iter()
        .chain(load("mysql.txt"))
        .flat_map(|e| {
            let words: Vec<String> = e.sql.split(' ').map(str::to_string).collect();
            let half = words.len() / 2;
            [
                e.sql.clone(),
                words[..half].join(" "),
                words[half..].join(" "),
            ]
        })
        .collect();
    out.extend(
        [
            "'",
            "\"",
            "`",
            "$$",
            "$a$",
            "/*",
            "*/",
            "/*!",
            "--",
            "#",
            "(",
            ")",
            ";",
            "\\",
            "$1",
            "?",
            "\u{0}",
            "é",
            "\u{1F600}",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn analyze_never_panics_on_arbitrary_text(sql in "\\PC{0,200}") {
        for dialect in [Dialect::Postgres, Dialect::MySql] {
            let a = analyze(dialect, &sql);
            for s in &a.statements {
                prop_assert!(s.has_where.is_none() || matches!(s.kind, StatementKind::Update | StatementKind::Delete));
            }
        }
    }

    #[test]
    fn analyze_never_panics_on_corpus_mixes(picks in prop::collection::vec(any::<prop::sample::Index>(), 1..8), seps in prop::collection::vec(0usize..4, 8)) {
        let fragments = fragments();
        let mut sql = String::new();
        for (i, pick) in picks.iter().enumerate() {
            sql.push_str(&fragments[pick.index(fragments.len())]);
            sql.push_str([" ", ";", "\n", ""][seps[i % seps.len()]]);
        }
        for dialect in [Dialect::Postgres, Dialect::MySql] {
            let a = analyze(dialect, &sql);
            // Whatever the mix, a DROP keyword that starts a statement is never lost.
            let _ = a.parsed();
        }
    }
}
