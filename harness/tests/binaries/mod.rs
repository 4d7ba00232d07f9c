//! The built `lambda-lens` layer and sample function (located by `lambda_lens_harness::built`),
//! and what the suites that run them in the sandbox share: the Python with awslambdaric, scratch
//! folders, a demo run, the sandbox's command and `local invoke` runs read back.
#![allow(dead_code, reason = "shared by several test binaries")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

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

/// `lambda-sandbox local invoke`, for its arguments to be added.
pub(crate) fn local_invoke_command() -> Command {
    let mut command = Command::new(sandbox_cli());
    command.args(["local", "invoke"]);
    command
}

/// Runs `command`: its output, with its stdout and stderr as text.
pub(crate) fn output_text(command: &mut Command) -> (Output, String, String) {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

/// Runs `lambda-sandbox local invoke` with `args`.
pub(crate) fn local_invoke(args: &[&str]) -> (Output, String, String) {
    output_text(local_invoke_command().args(args))
}

/// A path as an argument (the suites' folders are UTF-8).
pub(crate) fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_else(|| panic!("not UTF-8: {}", p.display()))
}

/// The REPORT line of the log.
pub(crate) fn report(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("REPORT RequestId: "))
        .unwrap_or_else(|| panic!("no REPORT line:\n{stderr}"))
}

/// Every EMF document in the log (one per line).
pub(crate) fn emf(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|d| d.pointer("/_aws/CloudWatchMetrics").is_some())
        .collect()
}

/// The extension's name in the sandbox's output and reports.
pub(crate) const EXTENSION: &str = "lambda-lens";

/// A sandbox configuration for the sample function with the built layer at `layer` (one of the
/// sink variants), named `function`, in `region`; `SANDBOX_ECHO` set: output echoed live.
pub(crate) fn sink_config(layer: PathBuf, function: &str, region: &str) -> lambda_sandbox::Config {
    let mut config = lambda_sandbox::Config::new(lambda_lens_harness::built::bootstrap());
    config.layer_dir = Some(layer);
    config.function_name = function.to_owned();
    config.region = region.to_owned();
    config.echo_output = std::env::var_os("SANDBOX_ECHO").is_some();
    config
}

/// What the extension wrote in a sandbox run: its stdout, every line checked to be valid EMF
/// (the line and its document), and its log (stderr).
pub(crate) struct ExtensionOutput {
    pub(crate) emf: Vec<(String, serde_json::Map<String, Value>)>,
    pub(crate) log: Vec<String>,
}

pub(crate) fn extension_output(sandbox: &lambda_sandbox::Sandbox) -> ExtensionOutput {
    let mut out = ExtensionOutput {
        emf: Vec::new(),
        log: Vec::new(),
    };
    for line in sandbox.output_of(&lambda_sandbox::Source::Extension(EXTENSION.to_owned())) {
        if line.stream == lambda_sandbox::Stream::Stdout {
            let doc = emf_spec::check_line(&line.text)
                .unwrap_or_else(|p| panic!("invalid EMF {p:?}: {}", line.text));
            out.emf.push((line.text, doc));
        } else {
            out.log.push(line.text);
        }
    }
    out
}

/// Every life of the extension (a timeout or an out-of-memory kill resets the environment)
/// ended within its deadline.
pub(crate) fn assert_extension_finished(shutdown: &lambda_sandbox::ShutdownOutcome, log: &[String]) {
    let ext = shutdown
        .of(&lambda_sandbox::Source::Extension(EXTENSION.to_owned()))
        .unwrap_or_else(|| panic!("the extension ran: {log:?}"));
    assert!(
        !ext.killed,
        "the extension finished within the shutdown deadline: {log:?}"
    );
}

/// The longest an invocation waited after its runtime was done (extensions' share).
pub(crate) fn max_post_runtime_ms(outcomes: &[lambda_sandbox::InvokeOutcome]) -> f64 {
    outcomes
        .iter()
        .filter_map(|o| Some(o.duration_ms - o.runtime_duration_ms?))
        .fold(0.0, f64::max)
}
