//! The import graph of `src/` runs one way along the data path, as the crate docs draw it:
//! intake → join → metrics → emf → sink; the pipeline and the lifecycle above them; the model
//! and the configuration beside. Every `crate::` path in a room's files (tests included) must
//! name the room itself or one it may use.
#![allow(clippy::unwrap_used, clippy::panic, reason = "tests fail loudly")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each room and the rooms it may import.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("text", &[]),
    ("kept", &[]),
    // The configuration checks names against the metric catalogue and the EMF limits.
    ("config", &["metrics", "emf", "text"]),
    ("logging", &["config"]),
    ("intake", &["model", "config", "text", "kept"]),
    ("resources", &["model"]),
    ("join", &["model"]),
    ("metrics", &["model"]),
    ("emf", &["metrics"]),
    ("sink", &["kept"]),
    (
        "pipeline",
        &[
            "model",
            "config",
            "text",
            "intake",
            "join",
            "metrics",
            "emf",
            "sink",
            "resources",
        ],
    ),
    (
        "lifecycle",
        &[
            "model",
            "config",
            "text",
            "intake",
            "pipeline",
            "resources",
            "sink",
        ],
    ),
];

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The first segment of every path that follows `crate::`, including each item of a
/// `crate::{a::X, b}` group.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let rest = &text[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.insert(first_segment(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            found.insert(first_segment(&item));
        } else {
            found.insert(first_segment(rest));
        }
    }
    found.remove("");
    found
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The room a file belongs to: its folder under `src/`, or its own name.
fn room(file: &Path) -> String {
    let relative = file.strip_prefix(src()).unwrap();
    let first = relative
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

#[test]
fn every_room_imports_only_the_rooms_before_it_on_the_data_path() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut rooms_seen = BTreeSet::new();
    let mut wrong = Vec::new();
    for file in &files {
        let room = room(file);
        if matches!(room.as_str(), "lib" | "main") {
            continue;
        }
        rooms_seen.insert(room.clone());
        let Some(may) = allowed.get(room.as_str()) else {
            panic!("{} is in a room the graph does not know: {room}", file.display());
        };
        let text = std::fs::read_to_string(file).unwrap();
        for used in crate_paths(&text) {
            if used != room && !may.contains(&used.as_str()) {
                wrong.push(format!("{} ({room}) uses crate::{used}", file.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the data path:\n{}",
        wrong.join("\n")
    );
    let known: BTreeSet<String> = ALLOWED.iter().map(|(r, _)| (*r).to_owned()).collect();
    assert_eq!(rooms_seen, known, "every room of the graph exists");
}

#[test]
fn the_path_reader_finds_single_and_grouped_imports() {
    let text = "use crate::model::X;\nuse crate::{join::Joiner, metrics::{a, b}, emf};\n/// [x](crate::sink)";
    let found: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(found, ["emf", "join", "metrics", "model", "sink"]);
}
