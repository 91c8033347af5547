//! Replays the fuzzing corpus and past crashes (`fuzz/corpus`, `fuzz/regressions`) through the
//! proxy's fuzz targets, so that every CI run checks them without a fuzzing engine.

/// Runs every file of `fuzz/corpus/<target>` and `fuzz/regressions/<target>` through `f`,
/// naming the file that panics. The corpus must not be empty: a target nothing checks is a
/// target that silently stopped being checked.
fn replay(target: &str, f: fn(&[u8])) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut count = 0;
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for path in entries.map(|e| e.expect("a readable corpus directory").path()) {
            let data = std::fs::read(&path).expect("a readable corpus file");
            if std::panic::catch_unwind(|| f(&data)).is_err() {
                panic!("{target}: {} panics", path.display());
            }
            count += 1;
        }
    }
    assert!(count > 0, "no corpus for {target} under {}", root.display());
}

#[test]
fn pg_session() {
    replay("pg_session", sluice::fuzzing::pg_session);
}

#[test]
fn pg_startup() {
    replay("pg_startup", sluice::fuzzing::pg_startup);
}

#[test]
fn scram_client() {
    replay("scram_client", sluice::fuzzing::scram_client);
}

#[test]
fn mysql_session() {
    replay("mysql_session", sluice::fuzzing::mysql_session);
}

#[test]
fn mysql_handshake() {
    replay("mysql_handshake", sluice::fuzzing::mysql_handshake);
}

#[test]
fn config_toml() {
    replay("config_toml", sluice::fuzzing::config_toml);
}

#[test]
fn admin_request() {
    replay("admin_request", sluice::fuzzing::admin_request);
}
