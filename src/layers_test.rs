//! The layer rule, enforced: `formats` -> `etcd` -> `ops` (-> the binary's
//! `cli`), no upward paths. The compiler already keeps the library from
//! naming the binary's `cli`; this test catches a lower layer naming a higher
//! one (`crate::etcd` from `formats`, `crate::ops` from `etcd`), which the
//! compiler allows because they are one crate.

use std::path::{Path, PathBuf};

/// Each layer's directory under `src/` and the layers above it, which it must not name.
const RULES: &[(&str, &[&str])] = &[
    ("formats", &["etcd", "ops", "cli"]),
    ("etcd", &["ops", "cli"]),
    ("ops", &["cli"]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module names a line reaches through `crate::`: `crate::etcd::x`
/// gives `etcd`; `crate::{etcd::x, formats}` gives `etcd` and `formats`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = rest.get(at + "crate::".len()..).unwrap_or("");
        if let Some(group) = after.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or("");
            for item in inner.split(',') {
                let head: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.push(head);
            }
        } else {
            names.push(
                after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
        rest = after;
    }
    names
}

/// Every `src/<layer>/**.rs` line (comments aside) that names a layer above it.
fn upward_paths(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (layer, above) in RULES {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        files.sort();
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                found.push(format!("{}: unreadable", file.display()));
                continue;
            };
            // `use crate::{a, b}` may span lines: join a statement's lines
            // while a `crate::{` group is open, reporting its first line.
            let mut open: Option<(usize, String)> = None;
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                let (start, joined) = match open.take() {
                    Some((start, mut acc)) => {
                        acc.push(' ');
                        acc.push_str(code);
                        (start, acc)
                    }
                    None => (n, code.to_string()),
                };
                if joined.contains("crate::{") && !joined.contains('}') {
                    open = Some((start, joined));
                    continue;
                }
                for name in crate_paths(&joined) {
                    if above.contains(&name.as_str()) {
                        found.push(format!(
                            "{}:{}: `crate::{name}` from {layer}/ (a lower layer must not use a higher one): {}",
                            file.display(),
                            start + 1,
                            text.lines().nth(start).unwrap_or("").trim()
                        ));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn no_upward_use_between_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = upward_paths(&src);
    assert!(found.is_empty(), "upward paths:\n{}", found.join("\n"));
}

#[test]
fn the_scan_sees_plain_and_grouped_paths() {
    assert_eq!(crate_paths("use crate::etcd::ids::MemberId;"), ["etcd"]);
    assert_eq!(
        crate_paths("use crate::{ops::keys, formats::bbolt};"),
        ["ops", "formats"]
    );
    assert!(crate_paths("use super::page;").is_empty());
}

#[test]
fn the_scan_fails_naming_the_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let formats = dir.path().join("formats");
    std::fs::create_dir_all(&formats).unwrap_or_else(|e| panic!("mkdir: {e}"));
    std::fs::write(
        formats.join("bad.rs"),
        "//! doc naming crate::etcd is fine\nuse crate::{\n    etcd::ids,\n};\n",
    )
    .unwrap_or_else(|e| panic!("write: {e}"));
    let found = upward_paths(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("bad.rs:2:"), "{found:?}");
}
