//! `lambda-sandbox local invoke`: runs a function of a SAM template the way `sam local invoke`
//! does (its `Runtime`, `Handler`, `MemorySize`, `Timeout`, `Architectures`, `Environment` and
//! `Layers` and `LoggingConfig`, with `Globals`; SAM's `--env-vars` and
//! `--parameter-overrides`), but in the sandbox, so its extensions get a working Telemetry API.
//! It prints the logs as the function's log group would hold them (with Lambda's `START`, `END`
//! and `REPORT` lines, or their JSON objects, after `LoggingConfig`'s level filters) and the
//! metrics CloudWatch would extract from them on stderr, and the function's response on stdout,
//! as SAM does.

mod env_vars;
mod image;
mod metrics;
mod node;
mod stage;
mod template;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::{Architecture, Config, Sandbox, SandboxError, ShutdownReason};

/// Why `local invoke` could not run the function (exit status 1).
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The template is not a template.
    #[error("{path}: not a usable SAM template: {message}")]
    Template {
        /// The template.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The function asked for is not in the template.
    #[error("{}; the template's functions: {}", match asked {
        Some(id) => format!("no function {id:?} in the template"),
        None => "the template has several functions (or none): name one".to_owned(),
    }, if functions.is_empty() { "none".to_owned() } else { functions.join(", ") })]
    NoSuchFunction {
        /// The logical id given.
        asked: Option<String>,
        /// The template's function ids.
        functions: Vec<String>,
    },
    /// A property cannot be used.
    #[error("{what}: {message}")]
    Property {
        /// `LogicalId.Property`.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// A property needs a value known only once the stack is deployed.
    #[error("{what}: {why}")]
    Unresolved {
        /// `LogicalId.Property`.
        what: String,
        /// Which intrinsic, and what to do.
        why: String,
    },
    /// The function's or a layer's folder is missing.
    #[error("{id}: no folder to run; tried {} (run `sam build` first, or fix its CodeUri/ContentUri)",
        tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" and "))]
    Artifact {
        /// The logical id.
        id: String,
        /// The folders looked at.
        tried: Vec<PathBuf>,
    },
    /// The runtime cannot be run here.
    #[error("{function}: {message}")]
    Runtime {
        /// The function's logical id.
        function: String,
        /// What is wrong, and what would fix it.
        message: String,
    },
    /// An executable of the other architecture, and no qemu-user to run it.
    #[error("{} is an {machine} executable and this machine is {host}: install qemu-user (Debian: apt-get install qemu-user) to run it under emulation, or build it for {host}", path.display())]
    Architecture {
        /// The executable.
        path: PathBuf,
        /// Its architecture.
        machine: &'static str,
        /// This machine's.
        host: &'static str,
    },
    /// The `--env-vars` file is not in SAM's format.
    #[error("--env-vars {path}: {message}")]
    EnvVars {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `--event` is not JSON.
    #[error("--event {path}: not JSON: {source}")]
    Event {
        /// The file (`-` for stdin).
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// The sandbox failed.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The output could not be written.
    #[error("cannot print: {0}")]
    Print(#[source] std::io::Error),
}

/// `lambda-sandbox local invoke`'s arguments (SAM's names).
#[derive(Debug, Clone, clap::Args)]
pub struct InvokeArgs {
    /// The function's logical id (optional when the template has one function).
    pub function: Option<String>,
    /// The SAM template.
    #[arg(short = 't', long = "template", default_value = "template.yaml")]
    pub template: PathBuf,
    /// A JSON file with the event (`-` reads it from stdin); `{}` when absent.
    #[arg(short = 'e', long = "event")]
    pub event: Option<PathBuf>,
    /// A JSON file of environment variable values, in SAM's format ({"Parameters": {..},
    /// "LogicalId": {..}}); only variables the template declares are set.
    #[arg(short = 'n', long = "env-vars")]
    pub env_vars: Option<PathBuf>,
    /// Template parameter values, `Key=Value` (repeatable, or several in one argument).
    #[arg(long = "parameter-overrides", num_args = 1.., value_parser = key_value)]
    pub parameter_overrides: Vec<(String, String)>,
    /// `AWS_REGION` and `AWS::Region`.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// The Python interpreter with awslambdaric, for Python runtimes (default: python3 on PATH).
    #[arg(long, env = "LAMBDA_SANDBOX_PYTHON", default_value = "python3")]
    pub python: PathBuf,
    /// Time the extensions get after SHUTDOWN, in ms (Lambda: 2000).
    #[arg(long, default_value_t = 2000)]
    pub shutdown_deadline_ms: u64,
    /// Do not use a cgroup: measure memory from /proc and freeze with SIGSTOP.
    #[arg(long)]
    pub no_cgroups: bool,
    /// Do not cap the CPU at Lambda's share for the memory size (one vCPU at 1,769 MB).
    #[arg(long)]
    pub no_cpu_limit: bool,
    /// Do not give the environment a private mount namespace (its /etc/hosts naming
    /// sandbox.localdomain).
    #[arg(long)]
    pub no_private_mounts: bool,
    /// The Node.js that runs nodejs runtimes (default: node on PATH); a version other than the
    /// runtime's runs with a warning.
    #[arg(long, env = "LAMBDA_SANDBOX_NODE", default_value = "node")]
    pub node: PathBuf,
    /// The folder where `npm ci` installed aws-lambda-ric, AWS's runtime interface client for
    /// Node.js (`make node-ric` installs it into sandbox/node-ric).
    #[arg(long = "node-ric", env = "LAMBDA_SANDBOX_NODE_RIC", default_value = node::DEFAULT_RIC_FOLDER)]
    pub node_ric: PathBuf,
}

/// `KEY=VALUE`, also in CloudFormation's `ParameterKey=K,ParameterValue=V` form.
pub fn key_value(s: &str) -> Result<(String, String), String> {
    if let Some(rest) = s.strip_prefix("ParameterKey=")
        && let Some((k, v)) = rest.split_once(",ParameterValue=")
    {
        return Ok((k.to_owned(), v.to_owned()));
    }
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?}: expected KEY=VALUE")),
    }
}

/// Runs the invocation: logs and metrics to `log`, the response to `out`.
pub async fn invoke(args: &InvokeArgs, out: &mut impl Write, log: &mut impl Write) -> Result<(), LocalError> {
    let template = template::Template::load(&args.template, &args.parameter_overrides, &args.region)?;
    let function = template.function(args.function.as_deref())?;
    let (environment, ignored) = env_vars::apply(&function, args.env_vars.as_deref())?;
    let event = read_event(args.event.as_deref())?;
    let python = resolve_python(&function, &args.python)?;
    let node = node::resolve(
        &function.id,
        function.runtime.as_deref().unwrap_or_default(),
        &args.node,
        &args.node_ric,
    )?;
    let staged = stage::stage(&template, &function, &python, node.as_ref())?;

    let say = |log: &mut dyn Write, line: &str| writeln!(log, "{line}").map_err(LocalError::Print);
    say(
        log,
        &format!(
            "Invoking {} ({}, {}, {} MB, timeout {} s) in lambda-sandbox, with the Telemetry API",
            function.id,
            function.runtime.as_deref().unwrap_or("image"),
            function.architecture,
            function.memory_mb,
            function.timeout_s
        ),
    )?;
    for note in &staged.notes {
        say(log, &format!("  {note}"))?;
    }
    for (name, value) in &environment {
        if value.is_none() {
            say(
                log,
                &format!("  warning: {name} needs a deployed stack and is left empty; give it in --env-vars"),
            )?;
        }
    }
    if !ignored.is_empty() {
        say(
            log,
            &format!(
                "  warning: --env-vars sets {}, which the template does not declare for {}: left out, as sam local invoke does",
                ignored.join(", "),
                function.id
            ),
        )?;
    }

    let mut config = Config::new(&staged.bootstrap);
    config.layer_dir = Some(staged.layer_dir.clone());
    config.task_root = Some(staged.task_root.clone());
    config.function_name.clone_from(&function.name);
    config.runtime = function.runtime.clone().unwrap_or_default();
    config.handler.clone_from(&function.handler);
    config.memory_mb = function.memory_mb;
    config.timeout = Duration::from_secs(function.timeout_s);
    config.region.clone_from(&args.region);
    config.architecture = if function.architecture == "arm64" {
        Architecture::Arm64
    } else {
        Architecture::X86_64
    };
    config.shutdown_deadline = Duration::from_millis(args.shutdown_deadline_ms);
    config.cgroups = !args.no_cgroups;
    config.cpu_limit = !args.no_cpu_limit;
    config.private_mounts = !args.no_private_mounts;
    config.env = staged.env.clone();
    config
        .env
        .extend(environment.into_iter().map(|(k, v)| (k, v.unwrap_or_default())));
    config.logging = function.logging.clone();
    say(
        log,
        &format!("  {}", config.logging.describe(&config.function_name)),
    )?;

    let mut sandbox = Sandbox::start(config).await?;
    say(log, &format!("  {}", sandbox.isolation().describe()))?;
    let outcome = sandbox.invoke(event).await?;
    sandbox.shutdown(ShutdownReason::Spindown).await?;

    // The log as the function's log group would hold it: Lambda's system lines (START, END,
    // REPORT in Text; JSON objects in JSON) and the lines the level filter keeps. Runtimes
    // write a multi-line message as one log event with carriage returns between its lines
    // (awslambdaric does, for tracebacks); a terminal shows them as lines.
    let group = sandbox.log_group();
    for message in group.messages() {
        say(log, &message.replace('\r', "\n"))?;
    }
    if group.extracts_emf() {
        metrics::print(group.messages(), log).map_err(LocalError::Print)?;
    } else {
        say(
            log,
            &format!(
                "Metrics: none extracted: the logs go to {}, where no EMF document becomes a metric",
                group.destination
            ),
        )?;
    }
    out.write_all(&outcome.response)
        .and_then(|()| writeln!(out))
        .map_err(LocalError::Print)?;
    drop(staged);
    Ok(())
}

fn read_event(path: Option<&Path>) -> Result<Value, LocalError> {
    let Some(path) = path else {
        return Ok(Value::Object(serde_json::Map::new()));
    };
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|source| LocalError::Read {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| LocalError::Event {
        path: path.to_owned(),
        source,
    })
}

/// For a Python runtime: the interpreter, checked to have awslambdaric.
fn resolve_python(function: &template::FunctionSpec, python: &Path) -> Result<PathBuf, LocalError> {
    let runtime = function.runtime.as_deref().unwrap_or_default();
    if stage::python_version(runtime).is_none() {
        return Ok(python.to_owned());
    }
    let probe = std::process::Command::new(python)
        .args(["-c", "import awslambdaric, sys; print(sys.executable)"])
        .output();
    match probe {
        Ok(o) if o.status.success() => Ok(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())),
        Ok(o) => Err(LocalError::Runtime {
            function: function.id.clone(),
            message: format!(
                "{runtime} runs under awslambdaric, which {} cannot import ({}): `{} -m pip install awslambdaric`, or give another interpreter with --python",
                python.display(),
                String::from_utf8_lossy(&o.stderr)
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or_default(),
                python.display()
            ),
        }),
        Err(e) => Err(LocalError::Runtime {
            function: function.id.clone(),
            message: format!(
                "{runtime} needs a Python interpreter with awslambdaric; cannot start {}: {e} (give one with --python)",
                python.display()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_overrides_take_both_spellings() {
        assert_eq!(key_value("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert_eq!(
            key_value("ParameterKey=Arch,ParameterValue=arm64"),
            Ok(("Arch".into(), "arm64".into()))
        );
        assert!(key_value("=x").is_err());
        assert!(key_value("nothing").is_err());
    }
}
