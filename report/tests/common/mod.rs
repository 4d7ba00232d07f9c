//! Shared by the report's end-to-end tests: the built layer and function, a sandbox run of
//! them, a local CloudWatch (ministack) and the report binary.
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use local_cloudwatch::LocalCloudWatch;

use serde_json::{Map, Value};

pub(crate) use lambda_lens_harness::built::workspace;

/// `target/report-tests/NAME`, emptied.
pub(crate) fn scratch(name: &str) -> PathBuf {
    let dir = workspace().join("target/report-tests").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The demo scenario (cold start, warm, CPU, error, timeout, 64 MB, out of memory, ...) of the
/// real sample function with the real layer in the sandbox, with `env` for the extension.
/// Returns the EMF lines it printed.
pub(crate) fn sandbox_run(env: &[(&str, &str)]) -> Vec<String> {
    let (bootstrap, layer) = lambda_lens_harness::built::paths();
    let mut config = lambda_lens_harness::demo::DemoConfig::new(bootstrap, layer);
    config.env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    config.echo_output = std::env::var_os("SANDBOX_ECHO").is_some();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime
        .block_on(lambda_lens_harness::demo::run(
            &config,
            &lambda_lens_harness::demo::scenario(),
        ))
        .unwrap();
    assert!(report.invalid.is_empty(), "invalid EMF: {:?}", report.invalid);
    report.emf_lines
}

pub(crate) fn documents(lines: &[String]) -> Vec<Map<String, Value>> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub(crate) fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Runs `lambda-lens-report` with `args` and `env` (and nothing of the caller's AWS settings).
pub(crate) fn report(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lambda-lens-report"));
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    // Never ask an instance-metadata address off this machine for credentials.
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    let home = workspace().join("target/report-tests/empty-home");
    std::fs::create_dir_all(&home).unwrap();
    cmd.env("HOME", &home);
    cmd.env("AWS_CONFIG_FILE", home.join("config"));
    cmd.env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A port nothing listens on (bound, then released).
pub(crate) fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The local CloudWatch (`local_cloudwatch`: ministack from `.venv-cloudwatch`).
pub(crate) fn local_cloudwatch() -> LocalCloudWatch {
    LocalCloudWatch::start().unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

pub(crate) mod browser;
pub(crate) mod ministack;
pub(crate) mod proxy;
pub(crate) mod seed;
