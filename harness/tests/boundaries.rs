//! The boundaries between the repository's crates, read from every `Cargo.toml`: the extension
//! and its telemetry model know nothing of the sandbox or of this harness (the sandbox plays
//! Lambda, which the extension meets only over HTTP and processes); the sandbox knows nothing of
//! lambda-lens; the harness stands on the sandbox and the two small crates beside it (the EMF
//! checker and the local CloudWatch); the report takes the harness only for its end-to-end
//! suites, which read the demo's life.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each crate of the repository, the crates of the repository it may depend on, and those it
/// may take as a dev-dependency only (tests, benches).
const ALLOWED: &[(&str, &[&str], &[&str])] = &[
    ("lambda-lens-telemetry", &[], &[]),
    (
        "lambda-lens",
        &["lambda-lens-telemetry"],
        &["emf-spec", "local-cloudwatch"],
    ),
    (
        "lambda-lens-report",
        &[],
        &["lambda-lens-harness", "local-cloudwatch"],
    ),
    ("sample-function", &[], &[]),
    ("lambda-sandbox", &[], &[]),
    ("emf-spec", &[], &[]),
    ("local-cloudwatch", &[], &[]),
    (
        "lambda-lens-harness",
        &["lambda-sandbox", "emf-spec", "local-cloudwatch"],
        &[],
    ),
    (
        "lambda-lens-fuzz",
        &["lambda-lens", "lambda-lens-telemetry", "emf-spec"],
        &[],
    ),
    // The bench's peers, built from the crate registry: none of ours.
    ("floor", &[], &[]),
    ("telemetry-floor", &[], &[]),
    ("crate-pattern", &[], &[]),
];

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Every `Cargo.toml` below `dir`, outside build output and hidden folders.
fn manifests(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                manifests(&path, out);
            }
        } else if name == "Cargo.toml" {
            out.push(path);
        }
    }
}

/// A manifest's package name and its dependencies, each with whether it is a dev-dependency:
/// `name = ...`, `name.workspace = true` and `[dependencies.name]`, in any target's tables,
/// read as the package they name (`package = "..."`).
fn read(manifest: &str) -> (Option<String>, Vec<(String, bool)>) {
    let mut package = None;
    let mut dependencies = Vec::new();
    let mut section = String::new();
    for line in manifest.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if let Some(header) = line.strip_prefix('[') {
            section = header.trim_end_matches(']').to_owned();
            if let Some((table, name)) = section.rsplit_once('.')
                && is_dependencies(table)
            {
                dependencies.push((
                    name.trim_matches('"').to_owned(),
                    table.ends_with("dev-dependencies"),
                ));
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if section == "package" && key.trim() == "name" {
            package = Some(value.trim().trim_matches('"').to_owned());
        }
        if !is_dependencies(&section) {
            continue;
        }
        let name = match value.split_once("package") {
            Some((_, package)) => package.split('"').nth(1).unwrap_or_default(),
            None => key.split('.').next().unwrap_or_default(),
        };
        dependencies.push((
            name.trim().trim_matches('"').to_owned(),
            section.ends_with("dev-dependencies"),
        ));
    }
    (package, dependencies)
}

/// A package's table of dependencies (`[dependencies]`, `[dev-dependencies]`,
/// `[build-dependencies]`, `[target.'cfg(..)'.dependencies]`), not the workspace's shared one.
fn is_dependencies(section: &str) -> bool {
    !section.starts_with("workspace") && section.ends_with("dependencies")
}

#[test]
fn every_crate_depends_only_on_the_crates_it_may() {
    let mut paths = Vec::new();
    manifests(&repository(), &mut paths);
    let crates: BTreeMap<String, (PathBuf, Vec<(String, bool)>)> = paths
        .iter()
        .filter_map(|path| {
            let (package, dependencies) = read(&std::fs::read_to_string(path).unwrap());
            Some((package?, (path.clone(), dependencies)))
        })
        .collect();
    let allowed: BTreeMap<&str, (&[&str], &[&str])> = ALLOWED
        .iter()
        .map(|(name, normal, dev)| (*name, (*normal, *dev)))
        .collect();
    let mut wrong = Vec::new();
    for (name, (path, dependencies)) in &crates {
        let Some((normal, dev)) = allowed.get(name.as_str()) else {
            wrong.push(format!(
                "{} ({name}) is a crate the boundaries do not know",
                path.display()
            ));
            continue;
        };
        for (dependency, is_dev) in dependencies {
            let ours = crates.contains_key(dependency);
            let may =
                normal.contains(&dependency.as_str()) || (*is_dev && dev.contains(&dependency.as_str()));
            if ours && !may {
                let kind = if *is_dev { "dev-dependency" } else { "dependency" };
                wrong.push(format!("{name} has the {kind} {dependency} ({})", path.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies across the boundaries:\n{}",
        wrong.join("\n")
    );
    for needed in [
        "lambda-lens",
        "lambda-lens-telemetry",
        "lambda-sandbox",
        "lambda-lens-harness",
    ] {
        assert!(crates.contains_key(needed), "{needed}'s Cargo.toml was found");
    }
}

#[test]
fn the_manifest_reader_finds_every_kind_of_dependency() {
    let manifest = "[package]\nname = \"x\"\n[dependencies]\ntokio = { workspace = true }\nserde.workspace = true\n\
                    lens = { package = \"lambda-lens\", path = \"../extension\" }\n\
                    [target.'cfg(unix)'.dev-dependencies]\nemf-spec = \"1\" # a comment\n# old = \"1\"\n\
                    [dev-dependencies.local-cloudwatch]\npath = \"x\"\n[workspace.dependencies]\nnot-one = \"1\"\n";
    let (package, dependencies) = read(manifest);
    assert_eq!(package.as_deref(), Some("x"));
    let expected = [
        ("tokio", false),
        ("serde", false),
        ("lambda-lens", false),
        ("emf-spec", true),
        ("local-cloudwatch", true),
    ];
    assert_eq!(dependencies, expected.map(|(name, dev)| (name.to_owned(), dev)));
}
