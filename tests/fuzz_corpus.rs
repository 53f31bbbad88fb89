//! The fuzz corpus (`fuzz/corpus/<target>/`, minimised, committed) replayed through the same
//! target functions the fuzzer runs (`fuzz/targets.rs`), so every input a fuzzing run found
//! interesting, crashes that were fixed included, stays a regression test on stable.

#[path = "../fuzz/targets.rs"]
mod targets;

#[test]
fn every_fuzz_target_replays_its_corpus_without_a_finding() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, target) in targets::TARGETS {
        let dir = root.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{name}: empty corpus");
        let mut accepted = 0;
        for input in inputs {
            let bytes = std::fs::read(&input).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&bytes));
            match outcome {
                Ok(ok) => accepted += usize::from(ok),
                Err(_) => panic!("{name}: {} fails", input.display()),
            }
        }
        // Some input gets past the reader, so the target's invariant is exercised.
        assert!(accepted > 0, "{name}: the reader rejects its whole corpus");
    }
}
