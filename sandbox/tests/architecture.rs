//! The sandbox's import graph runs one way, from the lifecycle that drives an environment down to
//! what it is built of. At the bottom: ids, errors, the configuration and the accept loop (`net`);
//! above them the environment's parts and the Telemetry API's records; the shared state
//! (`lifecycle::state`) that the three APIs and the running processes read and change; the APIs
//! and the phases above it; the `Sandbox` and the command line on top.
//!
//! A room is a top-level module of `src/`, except in the four folders of the core (`api`,
//! `environment`, `lifecycle`, `telemetry`), whose files lean on each other's files across
//! folders (the state in `lifecycle/` is below the environment's processes, the network in
//! `environment/` below the telemetry delivery): there each file is a room. Every `crate::` path
//! in a room's code (tests included; comments are not imports) must name the room itself or one
//! it may use, and the rooms form no cycle.
//!
//! The sandbox is a product of its own: its code names none of lambda-lens's crates (its
//! `Cargo.toml` is held by `harness/tests/boundaries.rs`, with every other crate's).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each room and the rooms it may import.
const ALLOWED: &[(&str, &[&str])] = &[
    // The bottom.
    ("ids", &[]),
    ("error", &[]),
    ("config", &["error", "logs"]),
    ("net", &[]),
    // The environment's parts and the records, on nothing above them.
    ("environment", &[]),
    ("environment::procfs", &[]),
    ("environment::output", &[]),
    ("environment::cgroup", &["ids"]),
    ("environment::namespace", &["ids"]),
    ("environment::network", &["net"]),
    ("telemetry::records", &[]),
    ("telemetry::queue", &["telemetry::records"]),
    ("telemetry", &["environment::network"]),
    // The log group, worked out from the captured lines and records.
    ("logs", &["environment::output", "telemetry::records"]),
    // The state the APIs and the processes share.
    (
        "lifecycle::state",
        &[
            "config",
            "ids",
            "environment::cgroup",
            "environment::namespace",
            "environment::network",
            "environment::output",
            "telemetry",
            "telemetry::records",
        ],
    ),
    (
        "environment::memory",
        &["environment::procfs", "lifecycle::state"],
    ),
    (
        "environment::process",
        &[
            "error",
            "environment::output",
            "lifecycle::state",
            "telemetry::records",
        ],
    ),
    // The three APIs, and the server that routes to them.
    ("api::response", &[]),
    (
        "api::runtime",
        &[
            "config",
            "api::response",
            "lifecycle::state",
            "telemetry::records",
        ],
    ),
    (
        "api::extensions",
        &[
            "config",
            "ids",
            "api::response",
            "lifecycle::state",
            "telemetry::records",
        ],
    ),
    (
        "api::telemetry",
        &[
            "config",
            "api::response",
            "api::extensions",
            "lifecycle::state",
            "telemetry",
            "telemetry::records",
        ],
    ),
    (
        "api::server",
        &[
            "net",
            "api::response",
            "api::runtime",
            "api::extensions",
            "api::telemetry",
            "lifecycle::state",
        ],
    ),
    ("api", &[]),
    // The lifecycle's phases, and the Sandbox that runs them.
    ("lifecycle::outcome", &["environment::output", "lifecycle::state"]),
    (
        "lifecycle::phases",
        &[
            "config",
            "error",
            "ids",
            "environment::output",
            "environment::process",
            "lifecycle::outcome",
            "lifecycle::state",
            "telemetry::records",
        ],
    ),
    (
        "lifecycle::invoke",
        &[
            "ids",
            "environment::memory",
            "environment::process",
            "environment::procfs",
            "lifecycle::outcome",
            "lifecycle::phases",
            "lifecycle::state",
            "telemetry::records",
        ],
    ),
    (
        "lifecycle::restore",
        &[
            "lifecycle::outcome",
            "lifecycle::phases",
            "lifecycle::state",
            "telemetry::records",
        ],
    ),
    (
        "lifecycle::managed",
        &[
            "lifecycle::invoke",
            "lifecycle::outcome",
            "lifecycle::state",
            "telemetry::records",
        ],
    ),
    (
        "lifecycle::sandbox",
        &[
            "config",
            "error",
            "api::server",
            "environment::cgroup",
            "environment::network",
            "environment::output",
            "environment::process",
            "lifecycle::invoke",
            "lifecycle::managed",
            "lifecycle::outcome",
            "lifecycle::phases",
            "lifecycle::restore",
            "lifecycle::state",
            "logs",
            "telemetry",
            "telemetry::records",
        ],
    ),
    ("lifecycle", &[]),
    // `lambda-sandbox local invoke`, and the command line on top.
    (
        "local",
        &[
            "config",
            "error",
            "ids",
            "environment::process",
            "lifecycle::outcome",
            "lifecycle::sandbox",
            "logs",
        ],
    ),
    (
        "cli",
        &[
            "config",
            "error",
            "local",
            "lifecycle::outcome",
            "lifecycle::sandbox",
            "logs",
        ],
    ),
];

/// lambda-lens's crates, as a dependency (`-`) and as a path in code (`_`).
const LAMBDA_LENS_CRATES: &[&str] = &[
    "lambda-lens",
    "lambda-lens-telemetry",
    "lambda-lens-report",
    "lambda-lens-harness",
    "emf-spec",
    "local-cloudwatch",
];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn src() -> PathBuf {
    manifest_dir().join("src")
}

fn files(dir: &Path, extension: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, extension, out);
        } else if path.extension().is_some_and(|e| e == extension) {
            out.push(path);
        }
    }
}

/// The text without its comments (from `//` to the end of the line): a doc link may point
/// anywhere, an import may not.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| line.find("//").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path that follows `crate::`, with each item of a `crate::{a::X, b::{c, d}}` group
/// spelled out.
fn crate_paths(text: &str) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices("crate::") {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let mut rest = text[at + "crate::".len()..].chars().peekable();
        use_tree(&mut rest, Vec::new(), &mut found);
    }
    found.retain(|path| !path.is_empty());
    found
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Reads one use tree (`a::b::X`, `a::{b, c::D}`, `a as b`) after `prefix`, into `out`.
fn use_tree(chars: &mut Chars<'_>, mut prefix: Vec<String>, out: &mut BTreeSet<Vec<String>>) {
    loop {
        skip_space(chars);
        if chars.peek() == Some(&'{') {
            chars.next();
            loop {
                skip_space(chars);
                match chars.peek() {
                    None => return,
                    Some('}') => {
                        chars.next();
                        return;
                    }
                    Some(',') => {
                        chars.next();
                    }
                    Some(_) => {
                        use_tree(chars, prefix.clone(), out);
                        // An alias (`x as y`): up to the item's end.
                        while chars.peek().is_some_and(|c| *c != ',' && *c != '}') {
                            chars.next();
                        }
                    }
                }
            }
        }
        let segment: String =
            std::iter::from_fn(|| chars.next_if(|c| c.is_alphanumeric() || *c == '_')).collect();
        if segment.is_empty() {
            out.insert(prefix);
            return;
        }
        if segment != "self" {
            prefix.push(segment);
        }
        if chars.next_if_eq(&':').is_some() && chars.next_if_eq(&':').is_some() {
            continue;
        }
        out.insert(prefix);
        return;
    }
}

fn skip_space(chars: &mut Chars<'_>) {
    while chars.next_if(|c| c.is_whitespace()).is_some() {}
}

/// The module a file holds: `api/server.rs` is `api::server`, `local/template/mod.rs` is
/// `local::template`.
fn module(file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src()).unwrap().with_extension("");
    let mut path: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    path
}

/// The items the crate root re-exports (`lib.rs`'s `pub use`), each with the path it names.
fn reexports() -> BTreeMap<String, Vec<String>> {
    let lib = code(&std::fs::read_to_string(src().join("lib.rs")).unwrap());
    let mut found = BTreeSet::new();
    for (at, _) in lib.match_indices("pub use ") {
        let mut rest = lib[at + "pub use ".len()..].chars().peekable();
        use_tree(&mut rest, Vec::new(), &mut found);
    }
    found
        .into_iter()
        .filter_map(|path| Some((path.last()?.clone(), path)))
        .collect()
}

/// The room a module path falls in: the longest room that begins it, after a re-exported
/// name of the crate root is read as the path it names.
fn room_of(
    path: &[String],
    rooms: &BTreeSet<&str>,
    reexports: &BTreeMap<String, Vec<String>>,
) -> Option<String> {
    let resolved;
    let path = match path.first().and_then(|first| reexports.get(first)) {
        Some(target) => {
            resolved = target.iter().chain(&path[1..]).cloned().collect::<Vec<_>>();
            &resolved
        }
        None => path,
    };
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|candidate| rooms.contains(candidate.as_str()))
}

/// Each room and the rooms its code imports.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let rooms: BTreeSet<&str> = ALLOWED.iter().map(|(room, _)| *room).collect();
    let reexports = reexports();
    let mut sources = Vec::new();
    files(&src(), "rs", &mut sources);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &sources {
        let module = module(file);
        if matches!(module.as_slice(), [root] if root == "lib" || root == "main") {
            continue;
        }
        let Some(room) = room_of(&module, &rooms, &reexports) else {
            panic!("{} is in a room the graph does not know", file.display());
        };
        let uses = graph.entry(room.clone()).or_default();
        for path in crate_paths(&code(&std::fs::read_to_string(file).unwrap())) {
            match room_of(&path, &rooms, &reexports) {
                Some(used) if used == room => {}
                Some(used) => {
                    uses.insert(used);
                }
                None => panic!(
                    "{} uses crate::{}, in no room the graph knows",
                    file.display(),
                    path.join("::")
                ),
            }
        }
    }
    graph
}

#[test]
fn every_room_imports_only_the_rooms_below_it() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let graph = graph();
    let mut wrong = Vec::new();
    for (room, uses) in &graph {
        for used in uses {
            if !allowed[room.as_str()].contains(&used.as_str()) {
                wrong.push(format!("{room} uses crate::{used}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports the graph does not allow:\n{}",
        wrong.join("\n")
    );
    let seen: BTreeSet<&str> = graph.keys().map(String::as_str).collect();
    let known: BTreeSet<&str> = allowed.keys().copied().collect();
    assert_eq!(seen, known, "every room of the graph exists");
}

#[test]
fn the_rooms_form_no_cycle() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    for (room, uses) in &allowed {
        for used in *uses {
            assert!(
                allowed.contains_key(used),
                "{room} may use {used}, which is no room"
            );
        }
    }
    // Take away, again and again, the rooms that use nothing left; a cycle is what remains.
    let mut left: BTreeSet<&str> = allowed.keys().copied().collect();
    loop {
        let bottom: Vec<&str> = left
            .iter()
            .copied()
            .filter(|room| allowed[room].iter().all(|used| !left.contains(used)))
            .collect();
        if bottom.is_empty() {
            break;
        }
        for room in bottom {
            left.remove(room);
        }
    }
    // Then those no room left uses: what remains is on a circle.
    loop {
        let top: Vec<&str> = left
            .iter()
            .copied()
            .filter(|room| !left.iter().any(|other| allowed[other].contains(room)))
            .collect();
        if top.is_empty() {
            break;
        }
        for room in top {
            left.remove(room);
        }
    }
    assert!(
        left.is_empty(),
        "these rooms import each other in a circle: {left:?}"
    );
}

#[test]
fn the_path_reader_finds_single_grouped_and_reexported_imports() {
    let text = code(
        "use crate::ids;\nuse crate::{api::server::{self, serve}, lifecycle::state::Shared as S};\n\
         let x = crate::Sandbox::start; // crate::cli\n$crate::error; my_crate::config;",
    );
    let found: Vec<String> = crate_paths(&text).into_iter().map(|p| p.join("::")).collect();
    assert_eq!(
        found,
        [
            "Sandbox::start",
            "api::server",
            "api::server::serve",
            "ids",
            "lifecycle::state::Shared"
        ]
    );
    let rooms: BTreeSet<&str> = ALLOWED.iter().map(|(room, _)| *room).collect();
    let path = |p: &str| p.split("::").map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        room_of(&path("Sandbox"), &rooms, &reexports()).as_deref(),
        Some("lifecycle::sandbox")
    );
    assert_eq!(
        room_of(&path("api::server::serve"), &rooms, &reexports()).as_deref(),
        Some("api::server")
    );
}

#[test]
fn the_sandbox_names_no_crate_of_lambda_lens() {
    let root = manifest_dir();
    let mut sources = Vec::new();
    files(&root.join("src"), "rs", &mut sources);
    files(&root.join("tests"), "rs", &mut sources);
    let mut wrong = Vec::new();
    for file in &sources {
        let text = code(&std::fs::read_to_string(file).unwrap());
        for name in LAMBDA_LENS_CRATES {
            let path = name.replace('-', "_");
            if text
                .match_indices(&path)
                .any(|(at, _)| !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
            {
                wrong.push(format!("{} names {path}", file.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the sandbox names lambda-lens:\n{}",
        wrong.join("\n")
    );
}
