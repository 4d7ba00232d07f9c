//! Where `make layer` (`make layers`, `make test`) puts the built layers and the sample function:
//! under the workspace's `target/`, or where `make test` says in the environment
//! (`LAMBDA_LENS_LAYER`, `LAMBDA_LENS_BOOTSTRAP`, `LAMBDA_LENS_LAYER_ARM64`,
//! `LAMBDA_LENS_LAYER_PUT_METRIC_DATA`, `LAMBDA_LENS_LAYER_OTLP`). For every suite that runs them, the harness's and the
//! report's; each locator panics with the command that builds what is missing.

use std::path::{Path, PathBuf};

/// The workspace's root, the folder above this crate.
pub fn workspace() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map_or_else(|| manifest.to_path_buf(), Path::to_path_buf)
}

/// `var`'s path, else `default` under the workspace.
fn located(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| workspace().join(default), PathBuf::from)
}

/// `file`, which `command` builds; panics with that command when it is missing.
fn built(file: PathBuf, command: &str) -> PathBuf {
    assert!(
        file.is_file(),
        "{} is missing: run `{command}` (or `make test`, which builds it) first",
        file.display()
    );
    file
}

/// A layer folder whose extension `command` builds.
fn layer_at(var: &str, default: &str, command: &str) -> PathBuf {
    let layer = located(var, default);
    built(layer.join("extensions/lambda-lens"), command);
    layer
}

/// The sample function's `bootstrap` (x86_64; any layer variant may go with it).
pub fn bootstrap() -> PathBuf {
    built(
        located("LAMBDA_LENS_BOOTSTRAP", "target/function/bootstrap"),
        "make layer",
    )
}

/// The default layer for x86_64.
pub fn layer() -> PathBuf {
    layer_at("LAMBDA_LENS_LAYER", "target/layers/x86_64", "make layer")
}

/// `(bootstrap, layer directory)` of the default x86_64 build.
pub fn paths() -> (PathBuf, PathBuf) {
    (bootstrap(), layer())
}

/// The default layer's extension executable itself.
pub fn extension() -> PathBuf {
    layer().join("extensions/lambda-lens")
}

/// The layer built with the PutMetricData sink.
pub fn put_metric_data_layer() -> PathBuf {
    layer_at(
        "LAMBDA_LENS_LAYER_PUT_METRIC_DATA",
        "target/layers/x86_64-put-metric-data",
        "make layer SINK=put-metric-data",
    )
}

/// The layer built with the OTLP sink.
pub fn otlp_layer() -> PathBuf {
    layer_at(
        "LAMBDA_LENS_LAYER_OTLP",
        "target/layers/x86_64-otlp",
        "make layer SINK=otlp",
    )
}

/// The default layer for arm64.
pub fn arm64_layer() -> PathBuf {
    layer_at("LAMBDA_LENS_LAYER_ARM64", "target/layers/arm64", "make layers")
}

/// The sample function's folder for arm64 (its `bootstrap` inside).
pub fn arm64_function() -> PathBuf {
    let function = workspace().join("target/function-arm64");
    built(function.join("bootstrap"), "make layers");
    function
}
