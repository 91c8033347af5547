use super::*;

fn example_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sluice.example.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("the spec example {} must be readable: {e}", path.display()));
    // The example carries placeholder hashes ("...") where `sluice passwd` output goes.
    let real = crate::auth::hash_password("example");
    text.lines()
        .map(|l| {
            if l.trim_start().starts_with("password_hash") {
                format!("password_hash = \"{real}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_spec_example_parses() {
    let c = Config::parse(&example_text(), PathBuf::from("/etc/sluice")).unwrap();
    assert_eq!(c.targets.len(), 2);
    assert_eq!(c.targets[0].upstream_tls, UpstreamTls::VerifyFull);
    assert_eq!(c.targets[0].max_connections, 500);
    assert_eq!(c.users[1].groups, vec!["dba".to_string()]);
    let names: Vec<&str> = c.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "no-drop",
            "dba-code",
            "no-code",
            "unbounded-write",
            "mass-write",
            "contractors-read-only",
            "billing-writes"
        ]
    );
    assert_eq!(
        c.path(Path::new("certs/x.crt")),
        PathBuf::from("/etc/sluice/certs/x.crt")
    );
    assert!(c.jwt.is_some() && c.approvals.is_some() && c.audit.is_some());
    assert_eq!(c.rule_set().unwrap().len(), 7);
}

#[test]
fn a_misspelled_key_is_named_with_its_line() {
    let text = "[server]\nadmin_listen = \"127.0.0.1:1\"\n\n[server.tls]\ncert_file = \"a\"\nkey_file = \"b\"\nrequre = true\n";
    let err = Config::parse(text, PathBuf::new()).unwrap_err().to_string();
    assert!(err.contains("requre"), "{err}");
    assert!(err.contains("line 7"), "{err}");
}

#[test]
fn an_unknown_section_is_refused() {
    let err = Config::parse("[servr]\n", PathBuf::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("servr"), "{err}");
}

#[test]
fn a_bad_password_hash_is_refused() {
    let text = "[[users]]\nname = \"a\"\npassword_hash = \"md5abc\"\n";
    let err = Config::parse(text, PathBuf::new()).unwrap_err().to_string();
    assert!(err.contains("password_hash"), "{err}");
}

#[test]
fn verify_full_needs_a_ca_file() {
    let text = "[[targets]]\nname = \"t\"\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:1\"\nupstream = \"h:5432\"\nuser = \"u\"\nupstream_tls = \"verify-full\"\n";
    let err = Config::parse(text, PathBuf::new()).unwrap_err().to_string();
    assert!(err.contains("upstream_ca_file"), "{err}");
}

#[test]
fn duplicate_listen_addresses_are_refused() {
    let t = |n: &str| {
        format!("[[targets]]\nname = \"{n}\"\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:7\"\nupstream = \"h:5432\"\nuser = \"u\"\n")
    };
    let err = Config::parse(&(t("a") + &t("b")), PathBuf::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("127.0.0.1:7"), "{err}");
}

#[test]
fn host_port_splitting() {
    assert_eq!(split_host_port("db:5432"), Some(("db", 5432)));
    assert_eq!(split_host_port("[::1]:5432"), Some(("::1", 5432)));
    assert_eq!(split_host_port("db"), None);
    assert_eq!(split_host_port(":5432"), None);
}

#[test]
fn an_unknown_statement_kind_in_a_rule_is_refused() {
    let text = "[[rules]]\nname = \"r\"\nwhen = { statements = [\"dorp\"] }\naction = \"block\"\n";
    let err = Config::parse(text, PathBuf::new()).unwrap_err().to_string();
    assert!(err.contains("dorp"), "{err}");
}

#[test]
fn worker_threads_is_read_and_bounded() {
    let c = Config::parse("[server]\nworker_threads = 1\n", PathBuf::new()).unwrap();
    assert_eq!(c.server.worker_threads, Some(1));
    let c = Config::parse("[server]\n", PathBuf::new()).unwrap();
    assert_eq!(c.server.worker_threads, None);
    let err = Config::parse("[server]\nworker_threads = 0\n", PathBuf::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("server.worker_threads must be between 1 and 1024, not 0"),
        "{err}"
    );
}

#[test]
fn login_settings_have_defaults_and_are_checked_against_each_other() {
    use std::time::Duration;
    let c = Config::parse("", PathBuf::new()).unwrap();
    assert_eq!(c.login.handshake_timeout.0, Duration::from_secs(60));
    assert_eq!(c.login.failure_delay.0, Duration::from_millis(250));
    assert_eq!(c.login.idle_timeout, None);
    let c = Config::parse(
        "[login]\nfailure_delay = \"1s\"\nmax_failure_delay = \"8s\"\nidle_timeout = \"30m\"\n",
        PathBuf::new(),
    )
    .unwrap();
    assert_eq!(c.login.max_failure_delay.0, Duration::from_secs(8));
    assert_eq!(
        c.login.idle_timeout.map(|d| d.0),
        Some(Duration::from_secs(1800))
    );
    for (text, why) in [
        (
            "max_failure_delay = \"90s\"",
            "shorter than login.handshake_timeout",
        ),
        (
            "failure_delay = \"20s\"",
            "must not exceed login.max_failure_delay",
        ),
        ("idle_timeout = \"0s\"", "idle_timeout must be more than 0"),
        (
            "handshake_timeout = \"0s\"",
            "handshake_timeout must be more than 0",
        ),
        ("lockout = true", "unknown field"),
    ] {
        let err = Config::parse(&format!("[login]\n{text}\n"), PathBuf::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains(why), "{text}: {err}");
    }
}

fn with_cluster(section: &str) -> Result<Config, String> {
    Config::parse(
        &format!("[cluster]\n{section}"),
        PathBuf::from("/etc/sluice"),
    )
    .map_err(|e| e.to_string())
}

#[test]
fn cluster_section_defaults_and_checks() {
    let c = with_cluster(
        "control = \"postgres://sluice@ctl.internal:5432/sluice\"\npassword_env = \"CTL_PW\"\n",
    )
    .unwrap();
    let cl = c.cluster.unwrap();
    assert_eq!(cl.heartbeat(), std::time::Duration::from_secs(5));
    assert_eq!(cl.timeout(), std::time::Duration::from_secs(30));
    assert_eq!(cl.tls, UpstreamTls::Prefer);
    for (section, needle) in [
        ("control = \"mysql://a@b:1/c\"", "must be a postgres://"),
        ("control = \"postgres://u:secret@h:5432/d\"", "not in the URL"),
        ("control = \"postgres://u@h:5432/d?sslmode=require\"", "[cluster] tls"),
        ("control = \"postgres://h:5432/d\"", "names no user"),
        ("control = \"postgres://u@h:5432\"", "names no database"),
        ("control = \"postgres://u@h:5432/d\"\ntls = \"verify-full\"", "needs ca_file"),
        ("control = \"postgres://u@h:5432/d\"\npassword_env = \"A\"\npassword_file = \"b\"", "not both"),
        ("control = \"postgres://u@h:5432/d\"\nheartbeat_interval = \"10s\"\ninstance_timeout = \"10s\"", "instance_timeout must be longer"),
        ("control = \"postgres://u@h:5432/d\"\ninstance = \" \"", "must not be empty"),
        ("control = \"postgres://u@h:5432/d\"\nhearbeat_interval = \"1s\"", "unknown field"),
    ] {
        let e = with_cluster(section).map(|_| ()).unwrap_err();
        assert!(e.contains(needle), "{section}: {e}");
    }
}
