//! Replays every committed fuzzing input (fuzz/corpus/<target>/*, and
//! fuzz/regressions/<target>/* for crashes once found) through its target:
//! what the fuzzer learned is checked on every `cargo test`.

use std::path::Path;

#[test]
fn every_committed_input_is_handled() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut replayed = 0;
    for (name, target) in cognate_fuzzing::TARGETS {
        let mut for_target = 0;
        for folder in ["corpus", "regressions"] {
            let dir = root.join(folder).join(name);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.expect("a corpus entry").path();
                let data = std::fs::read(&path).expect("a corpus file");
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "{name} panics on {}", path.display());
                for_target += 1;
            }
        }
        assert!(for_target > 0, "no committed inputs for the {name} target");
        replayed += for_target;
    }
    println!("replayed {replayed} inputs");
}
