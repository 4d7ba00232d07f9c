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

/// A package's dependencies: the package each names, and whether it is a dev-dependency.
type Dependencies = Vec<(String, bool)>;

/// The workspaces of the repository: the project's, the fuzz targets' and the bench peers'.
const WORKSPACES: &[&str] = &["Cargo.toml", "fuzz/Cargo.toml", "harness/peers/Cargo.toml"];

/// Each package of a workspace with its manifest and its dependencies (the package each names,
/// and whether it is a dev-dependency), as cargo itself reads them (`cargo metadata --no-deps`:
/// no resolution, no network).
fn packages(workspace: &Path) -> Vec<(String, PathBuf, Dependencies)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(workspace)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata {}: {}",
        workspace.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            let dependencies = package["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| (text(&d["name"]), d["kind"] == "dev"))
                .collect();
            (
                text(&package["name"]),
                PathBuf::from(text(&package["manifest_path"])),
                dependencies,
            )
        })
        .collect()
}

#[test]
fn every_crate_depends_only_on_the_crates_it_may() {
    let crates: BTreeMap<String, (PathBuf, Dependencies)> = WORKSPACES
        .iter()
        .flat_map(|w| packages(&repository().join(w)))
        .map(|(name, path, dependencies)| (name, (path, dependencies)))
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
    for (name, _, _) in ALLOWED {
        assert!(
            crates.contains_key(*name),
            "{name} was not found in the workspaces"
        );
    }
}
