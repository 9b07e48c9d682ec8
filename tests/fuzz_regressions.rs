//! Replays every committed fuzz input under tests/fuzz_regressions/<target>/ through the same code
//! the libFuzzer targets run (fuzz/harness.rs): each file there once crashed a target (or is a
//! hand-made input of a class a fix covers), so each must now run to completion.
//! `make fuzz` and docs/RELIABILITY.md describe the fuzzing itself.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions").join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.expect("readable directory").path()).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    for path in inputs(target) {
        let data = std::fs::read(&path).expect("readable input");
        eprintln!("replaying {}", path.display());
        run(&data);
    }
}

#[test]
fn npy_inputs() {
    replay("npy", harness::npy);
}

#[test]
fn npz_inputs() {
    replay("npz", harness::npz);
}

#[test]
fn csv_inputs() {
    replay("csv", harness::csv);
}

#[test]
fn config_inputs() {
    replay("config", harness::config);
}

#[test]
fn model_load_inputs() {
    replay("model_load", harness::model_load);
}

#[test]
fn ffi_calls_inputs() {
    replay("ffi_calls", harness::ffi_calls);
}
