//! The built `lambda-lens` layer and sample function (located by `lambda_lens_harness::built`),
//! and what the suites that run them in the sandbox share: the Python with awslambdaric, scratch
//! folders, a demo run, the sandbox's command.
#![allow(dead_code, reason = "shared by several test binaries")]

use std::path::PathBuf;

use lambda_lens_harness::built::workspace;

fn from_env(var: &str, default: PathBuf) -> PathBuf {
    std::env::var_os(var).map_or(default, PathBuf::from)
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

/// A demo run of the built layer and function with `env` (`SANDBOX_ECHO` set: the processes'
/// output is echoed live).
pub(crate) fn demo_config(env: &[(&str, &str)]) -> lambda_lens_harness::demo::DemoConfig {
    let (bootstrap, layer) = lambda_lens_harness::built::paths();
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
