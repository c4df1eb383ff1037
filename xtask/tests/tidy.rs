//! Tidy checks (rust-analyzer style): every source file says what it is on line one (after inner attributes), and every
//! crate folder has its paragraph in ARCHITECTURE.md.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The first line that is not an inner attribute (`#![…]`) is a `//!` line.
fn starts_with_module_doc(text: &str) -> bool {
    text.lines()
        .find(|l| !l.starts_with("#!["))
        .is_some_and(|l| l.starts_with("//!"))
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let root = root();
    let mut files = Vec::new();
    for dir in ["crates", "xtask/src", "xtask/tests"] {
        rust_files(&root.join(dir), &mut files);
    }
    let missing: Vec<String> = files
        .iter()
        .filter(|p| !p.components().any(|c| c.as_os_str() == "target"))
        .filter(|p| !starts_with_module_doc(&std::fs::read_to_string(p).unwrap_or_default()))
        .map(|p| p.strip_prefix(&root).unwrap_or(p).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` first line: {missing:#?}"
    );
}

#[test]
fn every_crate_is_in_the_codemap() {
    let root = root();
    let arch =
        std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let mut crates: Vec<String> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| format!("crates/{}", e.file_name().to_string_lossy()))
        .collect();
    crates.push("xtask".into());
    let missing: Vec<&String> = crates
        .iter()
        .filter(|c| !arch.contains(&format!("### `{c}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "crates without a codemap paragraph: {missing:?}"
    );
}
