//! The `sluice` binary as users run it: `passwd`, `check` and `serve` refusals (`demo` has its
//! own test, `demo.rs`).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

fn example_config() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sluice.example.toml")
}

#[test]
fn passwd_reads_stdin_and_prints_a_verifier_that_authenticates() {
    let mut child = Command::new(SLUICE)
        .arg("passwd")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap();
    let hash = hash.trim();
    assert!(hash.starts_with("SCRAM-SHA-256$4096:"), "{hash}");
    // The printed verifier is accepted by the config loader.
    let text = format!("[[users]]\nname = \"u\"\npassword_hash = \"{hash}\"\n");
    sluice::config::Config::parse(&text, Default::default()).unwrap();
}

#[test]
fn passwd_refuses_an_empty_password() {
    let out = Command::new(SLUICE)
        .arg("passwd")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty password"));
}

#[test]
fn check_reports_a_misspelled_key_with_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[server]\nadmin_listen = \"127.0.0.1:9480\"\nlog_fromat = \"json\"\n",
    )
    .unwrap();
    let out = Command::new(SLUICE)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("log_fromat") && err.contains("line 3"),
        "{err}"
    );
}

#[test]
fn check_accepts_the_spec_example_once_its_hashes_are_real() {
    let text = std::fs::read_to_string(example_config()).unwrap();
    let hash = sluice::auth::hash_password("x");
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("password_hash") {
                format!("password_hash = \"{hash}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(SLUICE)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ok (2 targets, 2 users)"), "{stdout}");
    assert!(
        !stdout.contains("not enforced"),
        "every section of the example is enforced: {stdout}"
    );
}

/// The compose deployments' configs (`docker-compose.yml`, and the two replicas behind HAProxy
/// of `deploy/scale-out/`) are valid as shipped.
#[test]
fn check_accepts_the_deployment_configs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (file, summary) in [
        ("deploy/sluice.toml", "ok (2 targets, 1 users)"),
        ("deploy/scale-out/sluice.toml", "ok (2 targets, 1 users)"),
    ] {
        let out = Command::new(SLUICE)
            .args(["check", "--config"])
            .arg(root.join(file))
            .env("APP_PG_PASSWORD", "x")
            .env("APP_MYSQL_PASSWORD", "x")
            .env("SLUICE_AUDIT_KEY", "x")
            .env("SLUICE_CONTROL_PASSWORD", "x")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(summary),
            "{file}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!stdout.contains("not enforced"), "{file}: {stdout}");
    }
}

#[test]
fn serve_refuses_a_jwt_section_whose_keys_it_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.toml");
    std::fs::write(
        &path,
        "[jwt]\nissuer = \"https://idp.example.com/\"\naudience = \"sluice\"\njwks_file = \"missing-jwks.json\"\n",
    )
    .unwrap();
    let out = Command::new(SLUICE)
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[jwt] jwks_file") && stderr.contains("missing-jwks.json"),
        "{stderr}"
    );
}

#[test]
fn serve_names_a_missing_password_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.toml");
    std::fs::write(
        &path,
        "[[targets]]\nname = \"t\"\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:0\"\nupstream = \"127.0.0.1:1\"\nuser = \"u\"\npassword_env = \"SLUICE_TEST_SURELY_UNSET\"\n",
    )
    .unwrap();
    let out = Command::new(SLUICE)
        .args(["serve", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SLUICE_TEST_SURELY_UNSET"));
}

#[test]
fn check_live_logs_in_to_every_upstream_and_names_the_one_that_fails() {
    use sluice::launcher::{MariaDbOptions, MariaDbServer, PgOptions, PgServer};
    let pg = PgServer::start(PgOptions::default()).unwrap();
    let maria = MariaDbServer::start(MariaDbOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pg.pw"), &pg.opts.password).unwrap();
    std::fs::write(dir.path().join("my.pw"), &maria.opts.password).unwrap();
    let target = |name: &str, proto: &str, upstream: &str, user: &str, pw: &str| {
        format!(
            "[[targets]]\nname = \"{name}\"\nprotocol = \"{proto}\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\nuser = \"{user}\"\npassword_file = \"{pw}\"\nupstream_tls = \"disable\"\nconnect_timeout = \"2s\"\n"
        )
    };
    let good = target("pg", "postgres", &pg.addr(), &pg.opts.user, "pg.pw")
        + &target("my", "mysql", &maria.addr(), &maria.opts.user, "my.pw");
    let path = dir.path().join("sluice.toml");
    std::fs::write(&path, &good).unwrap();
    let out = Command::new(SLUICE)
        .args(["check", "--live", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("target \"pg\": logged in") && stdout.contains("target \"my\": logged in"),
        "{stdout}"
    );

    // A wrong upstream password is a failure found: exit 1, the target named.
    std::fs::write(dir.path().join("my.pw"), "not-the-password").unwrap();
    let out = Command::new(SLUICE)
        .args(["check", "--live", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("target \"my\": FAILED"), "{stdout}");
    assert!(stdout.contains("target \"pg\": logged in"), "{stdout}");
}

#[test]
fn check_warns_about_rules_that_can_never_match_and_names_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.toml");
    std::fs::write(
        &path,
        "[[rules]]\nname = \"everything\"\nwhen = {}\naction = \"allow\"\n\n[[rules]]\nname = \"no-drop\"\nwhen = { statements = [\"drop\"] }\naction = \"block\"\n\n[[rules]]\nname = \"odd\"\nwhen = { statements = [\"select\"], without_where = true }\naction = \"block\"\n",
    )
    .unwrap();
    let out = Command::new(SLUICE)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("\"no-drop\" can never match"), "{stdout}");
    assert!(stdout.contains("\"odd\" can never match"), "{stdout}");

    std::fs::write(
        &path,
        "[[rules]]\nname = \"typo\"\nwhen = { statements = [\"trunacte\"] }\naction = \"block\"\n",
    )
    .unwrap();
    let out = Command::new(SLUICE)
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("typo") && stderr.contains("trunacte"),
        "{stderr}"
    );
}

#[test]
fn check_refuses_bad_globs_and_unknown_kinds_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sluice.toml");
    for (rule, when, named) in [
        ("empty-table-glob", "tables = [\"\"]", "when.tables"),
        ("control-char-user", "users = [\"al\\tice\"]", "when.users"),
        ("empty-group-glob", "groups = [\"\"]", "when.groups"),
        (
            "bad-kind",
            "statements = [\"delete\", \"upsert\"]",
            "upsert",
        ),
    ] {
        std::fs::write(
            &path,
            format!(
                "[[rules]]\nname = \"fine\"\nwhen = {{ statements = [\"drop\"] }}\naction = \"block\"\n\n[[rules]]\nname = \"{rule}\"\nwhen = {{ {when} }}\naction = \"block\"\n"
            ),
        )
        .unwrap();
        let out = Command::new(SLUICE)
            .args(["check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{rule}: {stderr}");
        assert!(
            stderr.contains(&format!("rule \"{rule}\"")) && stderr.contains(named),
            "{rule}: {stderr}"
        );
        assert!(
            !stderr.contains("\"fine\""),
            "only the bad rule is named: {stderr}"
        );
    }
}

#[test]
fn check_live_names_the_mask_column_that_matches_no_live_column() {
    use sluice::launcher::{MariaDbOptions, MariaDbServer, PgOptions, PgServer};
    let pg = PgServer::start(PgOptions::default()).unwrap();
    pg.load_sample_schema().unwrap();
    let maria = MariaDbServer::start(MariaDbOptions::default()).unwrap();
    maria.load_sample_schema().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pg.pw"), &pg.opts.password).unwrap();
    std::fs::write(dir.path().join("my.pw"), &maria.opts.password).unwrap();
    let target = |name: &str, proto: &str, upstream: &str, user: &str, pw: &str| {
        format!(
            "[[targets]]\nname = \"{name}\"\nprotocol = \"{proto}\"\nlisten = \"127.0.0.1:0\"\nupstream = \"{upstream}\"\nuser = \"{user}\"\npassword_file = \"{pw}\"\nupstream_tls = \"disable\"\nconnect_timeout = \"2s\"\n"
        )
    };
    // The PostgreSQL target has no `database`: it logs in to the one named like its user.
    let targets = target("pg", "postgres", &pg.addr(), &pg.opts.user, "pg.pw")
        + &target("my", "mysql", &maria.addr(), &maria.opts.user, "my.pw");
    let mask =
        |columns: &str| format!("\n[[masks]]\ncolumns = [{columns}]\nfunction = \"redact\"\n");
    let check = |masks: &str| {
        let path = dir.path().join("sluice.toml");
        std::fs::write(&path, format!("{targets}{masks}")).unwrap();
        let out = Command::new(SLUICE)
            .args(["check", "--live", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };

    // Each pattern matches on one protocol's target only; case does not matter, nor globs.
    let good = mask("\"public.customers.email\", \"shop.customers.SSN\"")
        + &mask("\"*.*.card_number\", \"Customers.birth_date\"");
    let (code, out) = check(&good);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("[[masks]]: every column pattern matches a column"),
        "{out}"
    );

    // A typo is a failure found: exit 1, the mask and its pattern named, the others not.
    let typo = mask("\"public.customers.email\"")
        + &mask("\"public.customers.emial\", \"shop.customers.ssn\"");
    let (code, out) = check(&typo);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            "[[masks]] #2: column \"public.customers.emial\" matches no column of any target"
        ),
        "{out}"
    );
    assert!(
        !out.contains("#1:") && !out.contains("\"shop.customers.ssn\" matches"),
        "{out}"
    );
    assert!(
        out.contains("target \"pg\": logged in") && out.contains("target \"my\": logged in"),
        "{out}"
    );
}
