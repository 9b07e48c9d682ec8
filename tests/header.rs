//! The committed C header must be exactly what build.rs generates from src/ffi with cbindgen, so
//! the header shipped to C/C++ users can never drift from the code. Regenerate it with
//! `IJKONET_UPDATE_HEADER=1 cargo build`.

const GENERATED: &str = include_str!(concat!(env!("OUT_DIR"), "/ijkonet.h"));

#[test]
fn committed_header_matches_the_generated_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("include/ijkonet.h");
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if committed != GENERATED {
        let line = committed.lines().zip(GENERATED.lines()).position(|(a, b)| a != b).map_or_else(
            || format!("lengths differ ({} vs {} lines)", committed.lines().count(), GENERATED.lines().count()),
            |i| format!("first difference at line {}", i + 1),
        );
        panic!(
            "include/ijkonet.h is out of date with src/ffi ({line}); regenerate it with `IJKONET_UPDATE_HEADER=1 cargo build`"
        );
    }
}

#[test]
fn header_declares_the_version_macros_of_cargo_toml() {
    let major = format!("#define IJKONET_VERSION_MAJOR {}", env!("CARGO_PKG_VERSION_MAJOR"));
    let minor = format!("#define IJKONET_VERSION_MINOR {}", env!("CARGO_PKG_VERSION_MINOR"));
    let patch = format!("#define IJKONET_VERSION_PATCH {}", env!("CARGO_PKG_VERSION_PATCH"));
    for line in [major, minor, patch] {
        assert!(GENERATED.contains(&line), "missing `{line}`");
    }
    let abi = format!("#define IJKONET_ABI_VERSION {}", ijkonet::ffi::IJKONET_ABI_VERSION);
    assert!(GENERATED.contains(&abi), "missing `{abi}`");
}

#[test]
fn every_exported_function_is_declared_and_documented() {
    // Every `ijk_` function of the Rust source appears in the header preceded by a doc comment.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for part in text.split("extern \"C\" fn ijk_").skip(1) {
            names.push(format!("ijk_{}", part.split('(').next().unwrap().trim()));
        }
    }
    assert!(names.len() > 40, "found only {} exported functions", names.len());
    let lines: Vec<&str> = GENERATED.lines().collect();
    for name in &names {
        let (plain, pointer) = (format!(" {name}("), format!("*{name}("));
        let declares = |l: &&str| !l.trim_start().starts_with('*') && (l.contains(&plain) || l.contains(&pointer));
        let at = lines.iter().position(declares);
        let at = at.unwrap_or_else(|| panic!("{name} is not declared in the header"));
        assert!(lines[at - 1].trim_end().ends_with("*/"), "{name} has no documentation comment");
    }
}
