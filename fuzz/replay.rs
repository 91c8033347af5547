//! The corpus replay every crate's `tests/fuzz_corpus.rs` includes (by path): one copy of the
//! loop, so that what CI checks of the fuzz targets is the same everywhere.

/// Runs every file of `fuzz/corpus/<target>` and `fuzz/regressions/<target>` through `f`,
/// naming the file that panics. The corpus must not be empty: a target nothing checks is a
/// target that silently stopped being checked.
pub fn replay(target: &str, f: fn(&[u8])) {
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
