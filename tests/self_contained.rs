//! The repository stands alone: no file of it refers to a path outside it.
//!
//! A clone of the repository, with nothing beside it, must build, document itself and
//! pass its tests. A reference to a file that only exists on the machine it was
//! written on (a sibling directory, a home directory) works there and fails everywhere
//! else, so this test fails when any file of the repository (as `git ls-files` lists
//! it; every file under the crate root, less `target/` and `node_modules/`, without
//! git) holds:
//!
//! - a relative path whose `../` climb out of the repository, read from the file's
//!   own directory, or from the repository root when it names nothing from there
//!   (so `include_str!("../proxy.yaml")` in `benches/` passes, a data file at
//!   `../elsewhere/cases.json` read by a test does not);
//! - an absolute path under a home or workspace directory (`/home/`, `/Users/`,
//!   `/work/`);
//! - a Markdown link to a relative path that does not exist in the repository.
//!
//! This file is the only one not checked: it names the patterns it looks for.

use std::path::{Component, Path, PathBuf};

const SELF: &str = "tests/self_contained.rs";
const ABSOLUTE_ROOTS: [&str; 3] = ["/home/", "/Users/", "/work/"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's files, relative to its root.
fn files() -> Vec<PathBuf> {
    let root = root();
    let listed = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(&root)
        .output()
        .ok()
        .filter(|o| o.status.success() && !o.stdout.is_empty());
    if let Some(out) = listed {
        return out
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
            .collect();
    }
    // No git (an unpacked archive): every file but the build's and npm's.
    let mut found = Vec::new();
    let mut dirs = vec![PathBuf::new()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let rel = dir.join(entry.file_name());
            let name = entry.file_name();
            if matches!(name.to_str(), Some(".git" | "target" | "node_modules")) {
                continue;
            }
            match entry.file_type() {
                Ok(t) if t.is_dir() => dirs.push(rel),
                Ok(t) if t.is_file() => found.push(rel),
                _ => {}
            }
        }
    }
    found
}

/// `base` joined with `rel`, `..` resolved lexically; `None` when it climbs above
/// `base`'s root (the repository root, depth 0).
fn resolve(base: &Path, rel: &str) -> Option<PathBuf> {
    let mut parts: Vec<String> = base
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p.to_string()),
        }
    }
    Some(parts.iter().collect())
}

/// The relative paths in `text` that start with `../`, each up to the first character
/// that cannot be part of a path. A `../` right after a path character (`/a/../b`,
/// a URL path being normalised) is not one.
fn dot_dot_paths(text: &str) -> Vec<(usize, String)> {
    let bytes = text.as_bytes();
    let is_path = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-');
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(i) = text[at..].find("../").map(|i| i + at) {
        let before = i.checked_sub(1).map(|j| bytes[j]);
        if before.is_none_or(|b| !(is_path(b) || b == b'%' || b == b'\\')) {
            let end = (i..bytes.len())
                .find(|&j| !is_path(bytes[j]))
                .unwrap_or(bytes.len());
            let line = text[..i].matches('\n').count() + 1;
            found.push((line, text[i..end].to_string()));
            at = end;
        } else {
            at = i + 3;
        }
    }
    found
}

/// Relative targets of Markdown links and images: `](target)` or `](target "title")`.
fn markdown_links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = rest[..end].split_whitespace().next().unwrap_or("");
            let target = target.split('#').next().unwrap_or("");
            let external = target.contains("://") || target.starts_with("mailto:");
            if !target.is_empty() && !external {
                found.push((n + 1, target.to_string()));
            }
            rest = &rest[end..];
        }
    }
    found
}

fn problems_in(file: &Path, text: &str) -> Vec<String> {
    let root = root();
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut problems = Vec::new();
    for (line, path) in dot_dot_paths(text) {
        let from_dir = resolve(dir, &path);
        let from_root = resolve(Path::new(""), &path);
        let outside = match (&from_dir, &from_root) {
            (None, _) => true,
            (Some(d), None) => !root.join(d).exists(),
            (Some(_), Some(_)) => false,
        };
        if outside {
            problems.push(format!(
                "{}:{line}: `{path}` is outside the repository",
                file.display()
            ));
        }
    }
    for (n, line) in text.lines().enumerate() {
        for abs in ABSOLUTE_ROOTS {
            if line.contains(abs) {
                problems.push(format!(
                    "{}:{}: names `{abs}`, a directory of one machine",
                    file.display(),
                    n + 1
                ));
            }
        }
    }
    if file.extension().is_some_and(|e| e == "md") {
        for (line, target) in markdown_links(text) {
            let exists = if target.starts_with('/') {
                false
            } else {
                resolve(dir, &target).is_some_and(|p| root.join(p).exists())
            };
            if !exists {
                problems.push(format!(
                    "{}:{line}: the link `{target}` leads to no file of the repository",
                    file.display()
                ));
            }
        }
    }
    problems
}

#[test]
fn no_file_refers_to_a_path_outside_the_repository() {
    let root = root();
    let files = files();
    assert!(
        files.iter().any(|f| f == Path::new("Cargo.toml")),
        "the file list holds Cargo.toml: {} files",
        files.len()
    );
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in &files {
        if file == Path::new(SELF) {
            continue;
        }
        let Ok(bytes) = std::fs::read(root.join(file)) else {
            continue;
        };
        checked += 1;
        problems.extend(problems_in(file, &String::from_utf8_lossy(&bytes)));
    }
    assert!(
        problems.is_empty(),
        "{} of {checked} files refer to paths outside the repository:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_check_sees_what_it_looks_for() {
    let found = |file: &str, text: &str| problems_in(Path::new(file), text);
    assert_eq!(
        found("tests/cookies.rs", r#"join("../shared/testdata/x.json")"#).len(),
        1
    );
    assert_eq!(
        found("README.md", "The contract is `../shared/DESIGN.md`.").len(),
        1
    );
    assert_eq!(
        found("README.md", "see [the design](../shared/DESIGN.md)").len(),
        2
    );
    assert_eq!(found("docs/a.md", "[cfg](../proxy.yaml)").len(), 0);
    assert_eq!(found("docs/a.md", "[gone](missing.md)").len(), 1);
    assert_eq!(
        found("benches/a.rs", r#"include_str!("../proxy.yaml")"#).len(),
        0
    );
    assert_eq!(
        found("src/a/b.rs", r#"include_str!("../../proxy.yaml")"#).len(),
        0
    );
    assert_eq!(
        found("src/a.rs", r#"("/a/../b", "/b"), "/../secret""#).len(),
        0
    );
    assert_eq!(found("bench/run.sh", "cd /work/main && make").len(), 1);
}
