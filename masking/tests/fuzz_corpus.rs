//! Replays the fuzzing corpus and past crashes (`fuzz/corpus`, `fuzz/regressions`) through the
//! masking fuzz target, so that every CI run checks them without a fuzzing engine.

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
fn mask_value() {
    replay("mask_value", masking::fuzzing::mask_value);
}
