//! The fuzz corpora (`fuzz/corpus/<target>/`) replayed on stable, as ordinary tests: each input
//! goes through the same function the cargo-fuzz target calls (`fuzz/src/lib.rs`, included here
//! as a module), so every finding that became a corpus entry stays fixed. One test per target.
//!
//! Fuzzing itself: `cargo +nightly fuzz run <target>` in `fuzz/` (see `fuzz/README.md`).

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code, unreachable_pub)]
mod targets;

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let data = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "fuzz/corpus/{target}/{name} panics");
        count += 1;
    }
    assert!(count > 0, "the {target} corpus is empty");
}

#[test]
fn sign_corpus() {
    replay("sign", targets::sign);
}

#[test]
fn verify_corpus() {
    replay("verify", targets::verify);
}

#[test]
fn profile_corpus() {
    replay("profile", targets::profile);
}

#[test]
fn documents_corpus() {
    replay("documents", targets::documents);
}

#[test]
fn eventstream_corpus() {
    replay("eventstream", targets::eventstream);
}

#[test]
fn spec_corpus() {
    replay("spec", targets::spec);
}
