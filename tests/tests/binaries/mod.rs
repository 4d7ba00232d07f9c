//! Where the built `lambda-lens` layer and sample function are. `make test` builds them and
//! passes their paths; run by hand, `make layer` first. Shared by the sandbox's suites that run
//! lambda-lens as their extension (environment, local invoke) and, through a `#[path]` include
//! in `tests/lens/tests/binaries`, by the harness's suites.
#![allow(dead_code, reason = "shared by several test binaries")]

use std::path::PathBuf;

/// The workspace's root (the first folder above this crate with a `Cargo.lock`).
fn workspace() -> PathBuf {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(manifest)
        .to_path_buf()
}

fn from_env(var: &str, default: PathBuf) -> PathBuf {
    std::env::var_os(var).map_or(default, PathBuf::from)
}

/// `(bootstrap, layer directory)`; panics with the fix when they are missing.
pub(crate) fn paths() -> (PathBuf, PathBuf) {
    let layer = from_env("LAMBDA_LENS_LAYER", workspace().join("target/layer"));
    let bootstrap = from_env(
        "LAMBDA_LENS_BOOTSTRAP",
        workspace().join("target/function/bootstrap"),
    );
    let extension = layer.join("extensions/lambda-lens");
    for path in [&bootstrap, &extension] {
        assert!(
            path.is_file(),
            "{} is missing: run `make layer` (or `make test`, which builds it) first",
            path.display()
        );
    }
    (bootstrap, layer)
}

/// The Python interpreter with awslambdaric (`make test` installs it into the project's
/// virtualenv from requirements-test.txt and passes LAMBDA_SANDBOX_PYTHON).
pub(crate) fn python() -> PathBuf {
    let p = from_env("LAMBDA_SANDBOX_PYTHON", workspace().join(".venv/bin/python"));
    assert!(
        p.is_file(),
        "{} is missing: run `make test` (it installs awslambdaric into .venv)",
        p.display()
    );
    p
}

/// A fresh, empty folder for one test's files.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lambda-sandbox-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let made = std::fs::create_dir_all(&dir);
    assert!(made.is_ok(), "{}: {made:?}", dir.display());
    dir
}

/// The extension executable itself.
pub(crate) fn extension() -> PathBuf {
    paths().1.join("extensions/lambda-lens")
}

/// The sample function alone (any layer variant may go with it).
pub(crate) fn bootstrap() -> PathBuf {
    let bootstrap = from_env(
        "LAMBDA_LENS_BOOTSTRAP",
        workspace().join("target/function/bootstrap"),
    );
    assert!(
        bootstrap.is_file(),
        "{} is missing: run `make layer` first",
        bootstrap.display()
    );
    bootstrap
}

/// The layer built with the PutMetricData sink (`make layer SINK=api`).
pub(crate) fn api_layer() -> PathBuf {
    let layer = from_env("LAMBDA_LENS_LAYER_API", workspace().join("target/layer-api"));
    assert!(
        layer.join("extensions/lambda-lens").is_file(),
        "{} is missing: run `make layer SINK=api` (or `make test`, which builds it) first",
        layer.display()
    );
    layer
}
