use std::path::PathBuf;

use super::super::Config;
use super::*;

const TARGET: &str = "[[targets]]\nname = \"t\"\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:1\"\nupstream = \"h:5432\"\nuser = \"owner\"\n";
const MYSQL_TARGET: &str = "[[targets]]\nname = \"m\"\nprotocol = \"mysql\"\nlisten = \"127.0.0.1:2\"\nupstream = \"h:3306\"\nuser = \"owner\"\n";

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, PathBuf::new()).map_err(|e| e.to_string())
}

fn refused(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn identities_parse_in_order_with_their_settings() {
    let text = format!(
        "{TARGET}require_identity = true\n\
         [[targets.identities]]\ngroups = [\"analysts\", \"bi-*\"]\nuser = \"analyst_ro\"\npassword_env = \"RO_PW\"\ndatabase = \"app\"\n\
         session_settings = {{ statement_timeout = \"5s\", search_path = \"reporting, public\", work_mem = 4096, jit = false }}\n\
         [[targets.identities]]\ngroups = [\"*\"]\nuser = \"reader\"\npassword_file = \"reader.pw\"\n"
    );
    let c = parse(&text).unwrap();
    let t = &c.targets[0];
    assert!(t.require_identity);
    assert_eq!(t.identities.len(), 2);
    let first = &t.identities[0];
    assert_eq!(first.user, "analyst_ro");
    assert_eq!(first.database.as_deref(), Some("app"));
    let keys: Vec<&str> = first
        .session_settings
        .0
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        keys,
        ["statement_timeout", "search_path", "work_mem", "jit"]
    );
    assert_eq!(first.session_settings.0[2].1, SettingValue::Integer(4096));
    assert_eq!(first.session_settings.0[3].1.postgres_text(), "off");
    assert_eq!(
        t.identities[1].password_file,
        Some(PathBuf::from("reader.pw"))
    );
}

#[test]
fn a_target_without_identities_is_as_before() {
    let c = parse(TARGET).unwrap();
    assert!(c.targets[0].identities.is_empty());
    assert!(!c.targets[0].require_identity);
}

#[test]
fn an_unknown_key_in_an_identity_is_named() {
    let err = refused(&format!(
        "{TARGET}[[targets.identities]]\ngroups = [\"a\"]\nuser = \"ro\"\npasword_env = \"X\"\n"
    ));
    assert!(err.contains("pasword_env"), "{err}");
}

#[test]
fn both_password_sources_are_refused() {
    let err = refused(&format!(
        "{TARGET}[[targets.identities]]\ngroups = [\"a\"]\nuser = \"ro\"\npassword_env = \"X\"\npassword_file = \"f\"\n"
    ));
    assert!(
        err.contains(
            "target \"t\": identities[0] (user \"ro\"): set password_env or password_file, not both"
        ),
        "{err}"
    );
}

#[test]
fn empty_groups_and_bad_globs_are_refused() {
    let err = refused(&format!(
        "{TARGET}[[targets.identities]]\ngroups = []\nuser = \"ro\"\n"
    ));
    assert!(
        err.contains("identities[0] (user \"ro\"): groups is empty"),
        "{err}"
    );
    let err = refused(&format!(
        "{TARGET}[[targets.identities]]\ngroups = [\"ok\", \"\"]\nuser = \"ro\"\n"
    ));
    assert!(err.contains("groups \"\": empty pattern"), "{err}");
    let err = refused(&format!(
        "{TARGET}[[targets.identities]]\ngroups = [\"a\\tb\"]\nuser = \"ro\"\n"
    ));
    assert!(err.contains("control character"), "{err}");
}

#[test]
fn require_identity_needs_an_identity() {
    let err = refused(&format!("{TARGET}require_identity = true\n"));
    assert!(
        err.contains("require_identity = true needs at least one [[targets.identities]]"),
        "{err}"
    );
}

#[test]
fn a_database_the_target_never_serves_is_refused() {
    let err = refused(&format!(
        "{TARGET}database = \"app\"\n[[targets.identities]]\ngroups = [\"a\"]\nuser = \"ro\"\ndatabase = \"other\"\n"
    ));
    assert!(err.contains("database \"other\" is never reached"), "{err}");
}

#[test]
fn setting_names_must_be_plain_identifiers() {
    for (target, key) in [
        (TARGET, "\"search_path; DROP\""),
        (TARGET, "\"1abc\""),
        (TARGET, "\"a..b\""),
        (MYSQL_TARGET, "\"app.tenant\""),
        (MYSQL_TARGET, "\"`x`\""),
    ] {
        let err = refused(&format!(
            "{target}[[targets.identities]]\ngroups = [\"a\"]\nuser = \"ro\"\nsession_settings = {{ {key} = \"v\" }}\n"
        ));
        assert!(err.contains("is not a plain setting name"), "{key}: {err}");
    }
    let c = parse(&format!(
        "{TARGET}[[targets.identities]]\ngroups = [\"a\"]\nuser = \"ro\"\nsession_settings = {{ \"app.tenant\" = \"x\" }}\n"
    ));
    assert!(c.is_ok(), "{c:?}");
}

#[test]
fn startup_parameters_sluice_owns_are_not_settings() {
    let err = refused(&format!(
        "{TARGET}[[targets.identities]]\ngroups = [\"a\"]\nuser = \"ro\"\nsession_settings = {{ database = \"x\" }}\n"
    ));
    assert!(err.contains("is set by sluice itself"), "{err}");
}

#[test]
fn setting_values_are_checked() {
    let err = refused(&format!(
        "{MYSQL_TARGET}[[targets.identities]]\ngroups = [\"a\"]\nuser = \"ro\"\nsession_settings = {{ sql_mode = \"a\\u0000b\" }}\n"
    ));
    assert!(err.contains("control character"), "{err}");
    let err = refused(&format!(
        "{MYSQL_TARGET}[[targets.identities]]\ngroups = [\"a\"]\nuser = \"ro\"\nsession_settings = {{ sql_mode = [\"a\"] }}\n"
    ));
    assert!(err.contains("a string, a number or a boolean"), "{err}");
}

#[test]
fn identity_passwords_are_read_as_the_targets_own() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ro.pw"), "s3cret\r\n").unwrap();
    let text = format!(
        "{TARGET}[[targets.identities]]\ngroups = [\"a\"]\nuser = \"ro\"\npassword_file = \"ro.pw\"\n\
         [[targets.identities]]\ngroups = [\"b\"]\nuser = \"rw\"\npassword_env = \"SLUICE_TEST_UNSET_IDENTITY_PW\"\n"
    );
    let c = Config::parse(&text, dir.path().to_path_buf()).unwrap();
    let t = &c.targets[0];
    assert_eq!(
        t.identities[0]
            .password("t", 0, &c.base_dir)
            .unwrap()
            .as_deref(),
        Some("s3cret")
    );
    let err = t.identities[1]
        .password("t", 1, &c.base_dir)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "target \"t\": identities[1] (user \"rw\"): environment variable SLUICE_TEST_UNSET_IDENTITY_PW (password_env) is not set"
    );
}

const JWT: &str = "[jwt]\nissuer = \"https://idp.example/\"\naudience = \"sluice\"\njwks_file = \"jwks.json\"\n\n";

#[test]
fn password_from_token_needs_jwt_and_no_other_password_source() {
    let entry = "[[targets.identities]]\ngroups = [\"sso\"]\nuser = \"sso_ro\"\npassword_from = \"token\"\n";
    let c = parse(&format!("{JWT}{TARGET}{entry}")).unwrap();
    assert_eq!(
        c.targets[0].identities[0].password_from,
        Some(PasswordFrom::Token)
    );
    let err = refused(&format!("{TARGET}{entry}"));
    assert!(
        err.contains(
            "identities[0] (user \"sso_ro\"): password_from = \"token\" needs [jwt] sign-in"
        ),
        "{err}"
    );
    for other in ["password_env = \"X\"\n", "password_file = \"f\"\n"] {
        let err = refused(&format!("{JWT}{TARGET}{entry}{other}"));
        assert!(
            err.contains("password_from = \"token\" takes the password from the client's token; remove password_env / password_file"),
            "{err}"
        );
    }
    let err = refused(&format!(
        "{JWT}{TARGET}{}",
        entry.replace("\"token\"", "\"tokens\"")
    ));
    assert!(err.contains("unknown variant `tokens`"), "{err}");
}
