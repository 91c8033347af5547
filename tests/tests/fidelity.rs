//! Protocol fidelity measured by the databases' own regression suites (issue 23), the fixed CI
//! subset: PostgreSQL 15's regression files vendored in tests/fidelity/pg and MariaDB's
//! `mysql-test` files from the Debian package `mariadb-test` (tests/fidelity/mysql-subset),
//! each run directly and through sluice (no rules, audit on, the login exempt from a mask)
//! with the same client, and compared after normalising ports and server directories only.
//! Every file must give identical output. The full suites run with `./sluice-dev fidelity`;
//! docs/fidelity.md has their figures.

use sluice_tests::fidelity::{self, mysql, pg, Report, Verdict};

/// Fails with the report unless every file ran, gave a real output, and was identical.
fn assert_all_identical(report: &Report, files: usize) {
    assert_eq!(report.outcomes.len(), files, "{}", report.markdown());
    assert!(
        report.differing().is_empty(),
        "files differ through sluice:\n{}",
        report.markdown()
    );
    assert_eq!(report.identical(), files, "{}", report.markdown());
}

/// The outputs the comparison saw must be a suite's real output, not a failure to start.
fn assert_real_outputs(dir: &std::path::Path, side: &str, at_least_lines: usize) {
    for entry in std::fs::read_dir(dir.join(side)).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        assert!(
            text.lines().count() >= at_least_lines && !text.contains("did not run"),
            "{}: {text}",
            entry.path().display()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_regression_subset_is_identical_through_sluice() {
    let src = fidelity::vendored_pg();
    let out = tempfile::tempdir().unwrap();
    let tests = fidelity::pg_subset();
    assert!(tests.len() >= 20 && tests[0] == "test_setup", "{tests:?}");
    let report = pg::run(pg::Plan {
        libdir: pg::build_regress_lib(&src, &out.path().join("lib")),
        src,
        tests: tests.clone(),
        determinism: false,
        out: Some(out.path().to_path_buf()),
        timeout_secs: 180,
    })
    .await
    .unwrap();
    assert_real_outputs(out.path(), "sluice", 20);
    assert_all_identical(&report, tests.len());
}

async fn mysql_subset(protocol: mysql::Protocol, tests: Vec<String>) {
    let out = tempfile::tempdir().unwrap();
    let report = mysql::run(mysql::Plan {
        suite: mysql::suite_dir(),
        tests: tests.clone(),
        protocol,
        determinism: false,
        out: Some(out.path().to_path_buf()),
        timeout_secs: 180,
    })
    .await
    .unwrap();
    assert_real_outputs(out.path(), "sluice", 5);
    // A file the suite skips compares nothing: the subset holds none.
    assert_eq!(
        report.count(|v| *v == Verdict::Skipped),
        0,
        "{}",
        report.markdown()
    );
    assert_all_identical(&report, tests.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_mysql_test_subset_is_identical_through_sluice_text() {
    mysql_subset(mysql::Protocol::Text, fidelity::mysql_subset()).await;
}

/// The prepared-statement and cursor passes run the files that exercise those paths most.
fn binary_protocol_files() -> Vec<String> {
    fidelity::mysql_subset()
        .into_iter()
        .filter(|f| !fidelity::mysql_text_only().contains(f))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_mysql_test_subset_is_identical_through_sluice_prepared() {
    mysql_subset(mysql::Protocol::Ps, binary_protocol_files()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_mysql_test_subset_is_identical_through_sluice_cursors() {
    mysql_subset(mysql::Protocol::Cursor, binary_protocol_files()).await;
}

#[test]
fn the_comparison_sees_a_one_character_difference() {
    // The harness's own check: a comparison that could not fail would prove nothing.
    let direct = "SELECT 1;\n ?column? \n----------\n        1\n(1 row)\n";
    let proxied = direct.replace("(1 row)", "(1 rows)");
    assert_eq!(
        fidelity::judge(direct, None, direct, false),
        Verdict::Identical
    );
    match fidelity::judge(direct, None, &proxied, false) {
        Verdict::Differs(d) => assert!(d.starts_with("line 5:"), "{d}"),
        v => panic!("{v:?}"),
    }
    assert!(matches!(
        fidelity::judge(direct, Some(&proxied), direct, false),
        Verdict::Nondeterministic(_)
    ));
    let pairs = [("5432".to_string(), "PORT".to_string())];
    assert_eq!(
        fidelity::normalise("port 54321 at 5432, 15432", &pairs),
        "port 54321 at PORT, 15432"
    );
}

/// A false refusal the first measurement found (issue 23), for a masked user: a MERGE that
/// deletes was read as a copy of a masked column. (A CSV COPY with `FORCE_QUOTE *` is still
/// refused for a masked user: see docs/fidelity.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merge_that_deletes_is_not_refused_for_a_masked_user() {
    let upstream = sluice_tests::pg_scram();
    let t = sluice_tests::unique("fid_masked");
    let direct = sluice_tests::pg_direct(upstream).await;
    direct
        .batch_execute(&format!(
            "CREATE TABLE {t} (id int PRIMARY KEY, secret text);
             INSERT INTO {t} VALUES (1, 'clear-one'), (2, 'clear-two');
             CREATE TABLE {t}_src (id int PRIMARY KEY)"
        ))
        .await
        .unwrap();
    let proxy = sluice_tests::Proxy::start(
        upstream,
        sluice_tests::ProxyOpts {
            extra_config: format!(
                "[[masks]]\ncolumns = [\"public.{t}.secret\"]\nfunction = \"redact\"\n"
            ),
            ..Default::default()
        },
    )
    .await;
    let client = proxy.connect().await;
    client
        .batch_execute(&format!("INSERT INTO {t}_src VALUES (2)"))
        .await
        .unwrap();
    let merged = client
        .execute(
            &format!("MERGE INTO {t} USING {t}_src s ON {t}.id = s.id WHEN MATCHED THEN DELETE"),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(merged, 1);
    let left: i64 = direct
        .query_one(&format!("SELECT count(*) FROM {t}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 1);
}
