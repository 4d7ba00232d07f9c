//! `lambda-lens --version` and the first log line name the workspace's version, as the
//! workspace's `Cargo.toml` sets it (read here from the file, not from Cargo's variables), and
//! `CHANGELOG.md` has an entry for it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail loudly"
)]

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `version = "..."` of `[workspace.package]` in the workspace's `Cargo.toml`.
fn workspace_version() -> String {
    let text = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let section = text
        .split("\n[")
        .find(|part| part.starts_with("workspace.package]"))
        .expect("a [workspace.package] section");
    section
        .lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("a version in [workspace.package]")
        .to_owned()
}

fn expected_line() -> String {
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "x86_64"
    };
    let mut sinks = vec!["emf"];
    if cfg!(feature = "put-metric-data") {
        sinks.push("put-metric-data");
    }
    if cfg!(feature = "otlp") {
        sinks.push("otlp");
    }
    let sinks = sinks.join(", ");
    format!("lambda-lens {} ({arch}; sinks: {sinks}", workspace_version())
}

#[test]
fn version_prints_the_workspace_version_and_exits() {
    for flag in ["--version", "-V"] {
        let out = Command::new(env!("CARGO_BIN_EXE_lambda-lens"))
            .arg(flag)
            .env_clear()
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{flag}: {:?}", out.status);
        assert!(stdout.starts_with(&expected_line()), "{flag}: {stdout}");
        assert!(
            stdout.ends_with(")\n") && stdout.lines().count() == 1,
            "{flag}: {stdout}"
        );
        assert!(
            out.stderr.is_empty(),
            "{flag}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_first_log_line_names_the_version_before_any_warning() {
    // Outside Lambda (no AWS_LAMBDA_RUNTIME_API) the extension logs its start-up lines and stops;
    // a refused variable makes a warning that used to come first.
    let out = Command::new(env!("CARGO_BIN_EXE_lambda-lens"))
        .env_clear()
        .env("LAMBDA_LENS_DIMENSIONS", "NotADimension")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let mut lines = stderr.lines();
    let first = lines.next().unwrap_or_default();
    assert!(
        first.contains(&format!("{}). Lambda logging controls", expected_line())),
        "{stderr}"
    );
    assert!(lines.any(|line| line.contains("NotADimension")), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing but EMF on stdout");
}

#[test]
fn the_changelog_has_an_entry_for_the_version() {
    let changelog = std::fs::read_to_string(root().join("CHANGELOG.md")).unwrap();
    let heading = format!("## [{}]", workspace_version());
    assert!(
        changelog.lines().any(|line| line.starts_with(&heading)),
        "CHANGELOG.md has no {heading} entry"
    );
}

#[test]
fn the_cdk_construct_has_the_workspace_version() {
    // CHANGELOG.md promises one version for every product, the CDK construct's npm package too.
    let version = workspace_version();
    let read = |file: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(root().join("cdk").join(file)).unwrap()).unwrap()
    };
    let package = read("package.json");
    assert_eq!(package["version"], version.as_str(), "cdk/package.json");
    let lock = read("package-lock.json");
    assert_eq!(lock["version"], version.as_str(), "cdk/package-lock.json");
    assert_eq!(
        lock["packages"][""]["version"],
        version.as_str(),
        "cdk/package-lock.json's root package"
    );
}
