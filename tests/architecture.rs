//! The layering rule of docs/ARCHITECTURE.md, checked on the source: the modules of `src/` form no
//! cycle, the core never uses a method, the C ABI or the command line, and the methods never use
//! each other or the method list. A `crate::…` path in code (not in comments) is a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layer of each node: a node may only depend on nodes of a lower or equal layer, and nodes of
/// one layer form no cycle.
const CORE: &[&str] = &[
    "error",
    "check",
    "device",
    "tensor",
    "nn",
    "kernels",
    "optim",
    "linalg",
    "data",
    "synth",
    "metrics",
    "entropy",
    "energy",
    "maps",
    "baselines",
    "config",
    "model",
    "train",
    "plot",
];
const METHODS: &[&str] = &["methods::ijkonet", "methods::jkonet", "methods::jkonet_star"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The node a file belongs to: its top-level module, with `methods` split into its list
/// (`methods`) and one node per method.
fn node_of(rel: &Path) -> Option<String> {
    let parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
    match parts.as_slice() {
        [f] if f == "lib" => None,
        [f] => Some(f.clone()),
        [dir, rest @ ..] if dir == "methods" && rest != ["mod"] => Some(format!("methods::{}", rest[0])),
        [dir, ..] if dir == "bin" => None,
        [dir, ..] => Some(dir.clone()),
        [] => None,
    }
}

/// The node a `crate::a::b…` path names.
fn target_of(path: &str) -> String {
    let mut parts = path.split("::");
    let first = parts.next().unwrap_or_default().to_string();
    if first == "methods" {
        if let Some(second) = parts.next() {
            let candidate = format!("methods::{second}");
            if METHODS.contains(&candidate.as_str()) {
                return candidate;
            }
        }
    }
    first
}

/// Code lines with comments (line and doc comments) removed.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|l| l.split("//").next().unwrap_or_default())
}

fn dependency_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let Some(node) = node_of(rel) else { continue };
        let deps = graph.entry(node.clone()).or_default();
        let text = fs::read_to_string(&file).unwrap();
        for line in code_lines(&text) {
            let mut rest = line;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
                let target = target_of(&rest[..end]);
                if target != node && !target.is_empty() && target.chars().next().unwrap().is_lowercase() {
                    deps.insert(target);
                }
            }
            // `super::` from a method's top file reaches the method list.
            if line.contains("super::")
                && METHODS.iter().any(|m| rel == Path::new(&format!("{}.rs", m.replace("::", "/"))))
            {
                deps.insert("methods".to_string());
            }
        }
    }
    graph
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = dependency_graph();
    // Kahn's algorithm: whatever is left after peeling off nodes without dependencies is a cycle.
    let mut remaining = graph.clone();
    loop {
        let free: Vec<String> = remaining
            .iter()
            .filter(|(_, deps)| deps.iter().all(|d| !remaining.contains_key(d)))
            .map(|(n, _)| n.clone())
            .collect();
        if free.is_empty() {
            break;
        }
        for n in free {
            remaining.remove(&n);
        }
    }
    assert!(remaining.is_empty(), "modules in a dependency cycle: {remaining:#?}");
    // The check sees real dependencies (it would pass vacuously on an empty graph).
    assert!(graph["methods::ijkonet"].contains("model") && graph["model"].contains("energy"), "{graph:#?}");
}

#[test]
fn the_core_uses_no_method_and_methods_use_no_other_method() {
    let graph = dependency_graph();
    for (node, deps) in &graph {
        let core = CORE.contains(&node.as_str());
        let method = METHODS.contains(&node.as_str());
        assert!(core || method || ["methods", "ffi"].contains(&node.as_str()), "unclassified module '{node}'");
        for dep in deps {
            if core {
                assert!(CORE.contains(&dep.as_str()), "core module '{node}' depends on '{dep}'");
            }
            if method {
                assert!(CORE.contains(&dep.as_str()), "method '{node}' depends on '{dep}' (only the core is allowed)");
            }
        }
    }
    assert!(!graph["ffi"].contains("plot"), "the C ABI must not need the plotting code");
}

/// `unsafe` lives only where Rust meets C: the C ABI (`src/ffi`) and the binding of our C++
/// kernels (`src/kernels.rs`).
#[test]
fn unsafe_code_stays_at_the_c_boundary() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut seen = BTreeSet::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let text = fs::read_to_string(&file).unwrap();
        if code_lines(&text).any(|l| l.split(|c: char| !(c.is_alphanumeric() || c == '_')).any(|w| w == "unsafe")) {
            let allowed = rel.starts_with("ffi") || rel == Path::new("kernels.rs");
            assert!(allowed, "unsafe code in {}", rel.display());
            seen.insert(rel.to_path_buf());
        }
    }
    // The check sees unsafe code where it is (it would pass vacuously otherwise).
    assert!(seen.contains(Path::new("kernels.rs")) && seen.iter().any(|p| p.starts_with("ffi")), "{seen:?}");
}
