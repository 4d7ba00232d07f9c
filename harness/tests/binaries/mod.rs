//! Where the built `lambda-lens` layer and sample function are, for the suites that run them in
//! the sandbox. `make test` builds them and passes their paths; run by hand, `make layer` first.
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
    let layer = from_env("LAMBDA_LENS_LAYER", workspace().join("target/layers/x86_64"));
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

/// The layer built with the PutMetricData sink (`make layer SINK=put-metric-data`).
pub(crate) fn put_metric_data_layer() -> PathBuf {
    let layer = from_env(
        "LAMBDA_LENS_LAYER_PUT_METRIC_DATA",
        workspace().join("target/layers/x86_64-put-metric-data"),
    );
    assert!(
        layer.join("extensions/lambda-lens").is_file(),
        "{} is missing: run `make layer SINK=put-metric-data` (or `make test`, which builds it) first",
        layer.display()
    );
    layer
}

/// A demo run of the built layer and function with `env` (`SANDBOX_ECHO` set: the processes'
/// output is echoed live).
pub(crate) fn demo_config(env: &[(&str, &str)]) -> lambda_lens_harness::demo::DemoConfig {
    let (bootstrap, layer) = paths();
    let mut c = lambda_lens_harness::demo::DemoConfig::new(bootstrap, layer);
    c.echo_output = std::env::var_os("SANDBOX_ECHO").is_some();
    c.env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    c
}

/// The `lambda-sandbox` command, built beside this test binary by `cargo test --workspace`
/// (another crate's binary has no `CARGO_BIN_EXE_` here); `LAMBDA_SANDBOX_BIN` overrides it.
pub(crate) fn sandbox_cli() -> PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("lambda-sandbox")))
        .unwrap_or_default();
    let cli = from_env("LAMBDA_SANDBOX_BIN", beside);
    assert!(
        cli.is_file(),
        "{} is missing: build it with `cargo build -p lambda-sandbox` (cargo test --workspace does)",
        cli.display()
    );
    cli
}
