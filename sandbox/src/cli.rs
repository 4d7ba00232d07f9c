//! The `lambda-sandbox` command: init, invoke each payload, shut down, print a summary.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use clap::Parser;

use crate::local::{InvokeArgs, LocalError};
use crate::{
    Config, InitializationType, InvokeOutcome, Sandbox, SandboxError, ShutdownOutcome, ShutdownReason,
};

/// Why a run of the CLI stopped (exit status 1).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: not a JSON payload: {source}")]
    Payload {
        path: PathBuf,
        line: usize,
        source: serde_json::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot print the summary: {0}")]
    Print(#[source] std::io::Error),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Local(#[from] LocalError),
}

/// The command line: a run of the given bootstrap and layer, or `local invoke` of a SAM
/// template's function.
#[derive(Debug, clap::Parser)]
#[command(
    name = "lambda-sandbox",
    version,
    about = "A local AWS Lambda execution environment with a real Telemetry API",
    long_about = "Runs --bootstrap as a Lambda custom runtime, with the extensions of --layer, on a \
local copy of the Runtime, Extensions and Telemetry APIs; invokes it once per payload (default: \
one {}), shuts down, and prints one summary line per invocation, the shutdown, and the \
processes' output.\n\n`lambda-sandbox local invoke` runs a function of a SAM template instead, \
as `sam local invoke` does.",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: Args,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// SAM's local commands, with a working Telemetry API.
    Local {
        #[command(subcommand)]
        command: LocalCommand,
    },
}

#[derive(Debug, clap::Subcommand)]
enum LocalCommand {
    /// Invokes a function of a SAM template once, as `sam local invoke` does, and prints its
    /// logs (START, END, REPORT), the EMF metrics in them, and its response.
    Invoke(InvokeArgs),
}

/// The options of a run (without a subcommand).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct Args {
    /// Runtime executable.
    #[arg(long = "bootstrap", value_name = "PATH", required = true)]
    pub config_bootstrap: Option<PathBuf>,
    /// Layer directory; every executable in DIR/extensions/ is an extension.
    #[arg(long, value_name = "DIR")]
    pub layer: Option<PathBuf>,
    /// Function name [default: sandbox-function].
    #[arg(long)]
    pub name: Option<String>,
    /// Memory size and limit in MB [default: 128].
    #[arg(long, value_name = "MB")]
    pub memory: Option<u32>,
    /// Function timeout [default: 3000].
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Time extensions get after SHUTDOWN [default: 2000].
    #[arg(long, value_name = "MS")]
    pub shutdown_deadline_ms: Option<u64>,
    /// AWS_REGION [default: us-east-1].
    #[arg(long)]
    pub region: Option<String>,
    /// LoggingConfig.LogFormat: Text (default) or JSON; sets AWS_LAMBDA_LOG_FORMAT. JSON
    /// writes the platform's lines as JSON objects and filters lines by level.
    #[arg(long, value_name = "FORMAT", value_parser = log_format)]
    pub log_format: Option<crate::LogFormat>,
    /// LoggingConfig.ApplicationLogLevel (JSON only; TRACE, DEBUG, INFO, WARN, ERROR, FATAL;
    /// default INFO); sets AWS_LAMBDA_LOG_LEVEL. Lines below it (a line without a valid
    /// "level" is INFO) do not reach the log group.
    #[arg(long, alias = "log-level", value_name = "LEVEL", value_parser = log_level)]
    pub application_log_level: Option<crate::LogLevel>,
    /// LoggingConfig.SystemLogLevel (JSON only; DEBUG, INFO, WARN; default INFO): WARN keeps
    /// START and REPORT of successful invocations out of the log group (not out of the
    /// Telemetry API).
    #[arg(long, value_name = "LEVEL", value_parser = log_level)]
    pub system_log_level: Option<crate::LogLevel>,
    /// LoggingConfig.LogGroup [default: /aws/lambda/<name>]; sets AWS_LAMBDA_LOG_GROUP_NAME.
    #[arg(long, value_name = "NAME")]
    pub log_group: Option<String>,
    /// Where the logs go: cloudwatch-logs (default; EMF documents become metrics), s3 or
    /// firehose (the same events, but no EMF metric is extracted from them).
    #[arg(long, value_name = "DEST", value_parser = log_destination)]
    pub log_destination: Option<crate::LogDestination>,
    /// Keep every extension line in the log group: by default the application level filters
    /// the extensions' lines as it filters the function's.
    #[arg(long)]
    pub no_extension_log_filter: bool,
    /// Write the log group's events there, as JSON lines {"timestamp":ms,"message":"..."}.
    #[arg(long = "log-group-file", value_name = "FILE")]
    pub log_group_file: Option<PathBuf>,
    /// AWS_LAMBDA_INITIALIZATION_TYPE: on-demand (default), provisioned-concurrency,
    /// snap-start or lambda-managed-instances.
    #[arg(long = "init-type", value_name = "TYPE", value_parser = init_type)]
    pub init_type: Option<InitializationType>,
    /// lambda-managed-instances only: AWS_LAMBDA_MAX_CONCURRENCY [default: 8]; the payloads
    /// are then invoked all at once.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,
    /// Extra environment variable, K=V (repeatable).
    #[arg(long = "env", value_name = "K=V", value_parser = crate::local::key_value)]
    pub env: Vec<(String, String)>,
    /// Payloads, each a JSON value.
    #[arg(value_name = "PAYLOAD_JSON", value_parser = json_payload)]
    pub payloads: Vec<Value>,
    /// JSON lines file, one payload per line.
    #[arg(long = "payloads", value_name = "FILE")]
    pub payload_file: Option<PathBuf>,
    /// Write every generated telemetry record there (JSON lines).
    #[arg(long = "telemetry", value_name = "FILE")]
    pub telemetry_file: Option<PathBuf>,
    /// Echo process output live to stderr instead of at the end.
    #[arg(long)]
    pub echo: bool,
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
    /// Give the environment its own /tmp, a tmpfs of MB (Lambda's default ephemeral storage:
    /// 512); it hides the host's /tmp from the function and its extensions.
    #[arg(long, value_name = "MB", num_args = 0..=1, default_missing_value = "512")]
    pub private_tmp: Option<u32>,
    /// Give the environment its own network namespace: the APIs on its loopback, an eth0
    /// whose traffic /proc/net/dev counts, an echo peer on the other end (root, iproute2).
    #[arg(long)]
    pub private_network: bool,
    /// Proactive initialisation: the first invoke comes MS after the init ended, the
    /// environment frozen meanwhile [default: 0].
    #[arg(long, value_name = "MS")]
    pub init_gap_ms: Option<u64>,
    /// Tenant isolation mode: every invoke's tenant id (Lambda-Runtime-Aws-Tenant-Id to the
    /// runtime, tenantId in platform.start, runtimeDone and report).
    #[arg(long, value_name = "ID")]
    pub tenant_id: Option<String>,
}

fn init_type(s: &str) -> Result<InitializationType, String> {
    InitializationType::parse(s).ok_or_else(|| {
        format!("{s:?}: expected on-demand, provisioned-concurrency, snap-start or lambda-managed-instances")
    })
}

fn log_format(s: &str) -> Result<crate::LogFormat, String> {
    crate::LogFormat::parse(s).ok_or_else(|| format!("{s:?}: expected Text or JSON"))
}

fn log_level(s: &str) -> Result<crate::LogLevel, String> {
    crate::LogLevel::parse(s)
        .ok_or_else(|| format!("{s:?}: expected TRACE, DEBUG, INFO, WARN, ERROR or FATAL"))
}

fn log_destination(s: &str) -> Result<crate::LogDestination, String> {
    crate::LogDestination::parse(s).ok_or_else(|| format!("{s:?}: expected cloudwatch-logs, s3 or firehose"))
}

fn json_payload(s: &str) -> Result<Value, String> {
    serde_json::from_str(s).map_err(|e| format!("not JSON: {e}"))
}

impl Args {
    /// The sandbox configuration these arguments describe.
    pub fn config(&self) -> Config {
        let mut c = Config::new(self.config_bootstrap.clone().unwrap_or_default());
        c.layer_dir.clone_from(&self.layer);
        if let Some(n) = &self.name {
            c.function_name.clone_from(n);
        }
        if let Some(m) = self.memory {
            c.memory_mb = m;
        }
        if let Some(t) = self.timeout_ms {
            c.timeout = Duration::from_millis(t);
        }
        if let Some(d) = self.shutdown_deadline_ms {
            c.shutdown_deadline = Duration::from_millis(d);
        }
        if let Some(r) = &self.region {
            c.region.clone_from(r);
        }
        if let Some(t) = self.init_type {
            c.set_initialization_type(t);
        }
        if let Some(n) = self.concurrency {
            c.max_concurrency = n;
        }
        c.logging = crate::LoggingConfig {
            format: self.log_format.unwrap_or_default(),
            application_level: self.application_log_level,
            system_level: self.system_log_level,
            log_group: self.log_group.clone(),
            destination: self.log_destination.unwrap_or_default(),
            filter_extensions: !self.no_extension_log_filter,
        };
        c.env.clone_from(&self.env);
        c.echo_output = self.echo;
        c.cgroups = !self.no_cgroups;
        c.cpu_limit = !self.no_cpu_limit;
        c.private_mounts = !self.no_private_mounts;
        c.private_tmp_mb = self.private_tmp;
        c.private_network = self.private_network;
        if let Some(ms) = self.init_gap_ms {
            c.init_gap = Duration::from_millis(ms);
        }
        c
    }

    /// Inline payloads, then the file's lines; `{}` when there are none.
    pub fn all_payloads(&self) -> Result<Vec<Value>, CliError> {
        let mut out = self.payloads.clone();
        if let Some(f) = &self.payload_file {
            let text = std::fs::read_to_string(f).map_err(|source| CliError::Read {
                path: f.clone(),
                source,
            })?;
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let payload = serde_json::from_str(line).map_err(|source| CliError::Payload {
                    path: f.clone(),
                    line: i + 1,
                    source,
                })?;
                out.push(payload);
            }
        }
        if out.is_empty() {
            out.push(Value::Object(serde_json::Map::new()));
        }
        Ok(out)
    }
}

/// One summary line for an invocation.
pub fn summary(n: usize, o: &InvokeOutcome) -> String {
    format!(
        "invoke {n} request_id={} status={} error_type={} duration_ms={:.3} billed_ms={} max_memory_mb={} restore_ms={} init_ms={}",
        o.request_id,
        o.status.as_str(),
        o.error_type.as_deref().unwrap_or("-"),
        o.duration_ms,
        o.billed_duration_ms,
        o.max_memory_used_mb,
        o.restore_duration_ms
            .map_or_else(|| "-".to_owned(), |d| format!("{d:.3}")),
        o.init_duration_ms
            .map_or_else(|| "-".to_owned(), |d| format!("{d:.3}")),
    )
}

fn shutdown_lines(s: &ShutdownOutcome) -> Vec<String> {
    let mut out = vec![format!("shutdown reason={}", s.reason.as_str())];
    for p in &s.processes {
        out.push(format!(
            "process {} pid={} exit={:?} killed={} exited_after_shutdown_ms={}",
            p.source,
            p.pid,
            p.exit,
            p.killed,
            p.exited_after_shutdown
                .map_or_else(|| "-".to_owned(), |d| d.as_millis().to_string()),
        ));
    }
    out
}

async fn run(args: Args, out: &mut impl Write) -> Result<(), CliError> {
    let payloads = args.all_payloads()?;
    let config = args.config();
    let logging = config.logging.describe(&config.function_name);
    let mut sandbox = Sandbox::start(config).await?;
    let w = |out: &mut dyn Write, line: &str| writeln!(out, "{line}").map_err(CliError::Print);
    w(out, &logging)?;
    w(out, &sandbox.isolation().describe())?;
    for i in sandbox.init_outcomes() {
        w(
            out,
            &format!(
                "init phase={} status={} duration_ms={:.3}",
                i.phase,
                i.status.as_str(),
                i.duration_ms
            ),
        )?;
    }
    let concurrent = args.init_type == Some(InitializationType::LambdaManagedInstances);
    let outcomes = if concurrent {
        sandbox.invoke_concurrent(payloads).await?
    } else {
        let mut all = Vec::new();
        let options = crate::InvokeOptions {
            tenant_id: args.tenant_id.clone(),
        };
        for p in payloads {
            all.push(sandbox.invoke_with(p, options.clone()).await?);
        }
        all
    };
    let mut resets_printed = false;
    for (n, o) in outcomes.iter().enumerate() {
        w(out, &summary(n + 1, o))?;
        // The invocations of one concurrent batch share one reset.
        if let Some(reset) = o.reset.as_ref().filter(|_| !(concurrent && resets_printed)) {
            resets_printed = true;
            for line in shutdown_lines(reset) {
                w(out, &format!("  reset: {line}"))?;
            }
        }
    }
    let s = sandbox.shutdown(ShutdownReason::Spindown).await?;
    for line in shutdown_lines(&s) {
        w(out, &line)?;
    }
    if !args.echo {
        for l in sandbox.output() {
            w(out, &format!("[{} {}] {}", l.source, l.stream.as_str(), l.text))?;
        }
    }
    if let Some(f) = &args.log_group_file {
        std::fs::write(f, sandbox.log_group().to_json_lines()).map_err(|source| CliError::Write {
            path: f.clone(),
            source,
        })?;
    }
    if let Some(f) = &args.telemetry_file {
        let text: String = sandbox
            .telemetry()
            .iter()
            .map(|r| format!("{}\n", r.to_json()))
            .collect();
        std::fs::write(f, text).map_err(|source| CliError::Write {
            path: f.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Entry point of the binary: 0 when every payload was invoked, 1 on a sandbox error, 2 on a
/// usage error.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // Help and version go to stdout with 0, usage errors to stderr with 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    // The sandbox's own warnings (a failed accept, a lost invocation task) on stderr;
    // LAMBDA_SANDBOX_LOG=debug|info|warn|error chooses how much (warn by default).
    let level = std::env::var("LAMBDA_SANDBOX_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::WARN);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false)
        .init();
    let mut stderr = std::io::stderr();
    if cli.run.tenant_id.is_some() && cli.run.init_type == Some(InitializationType::LambdaManagedInstances) {
        let _ = writeln!(
            stderr,
            "error: --tenant-id is not supported with --init-type lambda-managed-instances"
        );
        return ExitCode::from(2);
    }
    if cli.run.concurrency.is_some() && cli.run.init_type != Some(InitializationType::LambdaManagedInstances)
    {
        let _ = writeln!(
            stderr,
            "error: --concurrency needs --init-type lambda-managed-instances"
        );
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(stderr, "lambda-sandbox: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let result = match cli.command {
        Some(Command::Local {
            command: LocalCommand::Invoke(args),
        }) => runtime
            .block_on(crate::local::invoke(&args, &mut stdout, &mut std::io::stderr()))
            .map_err(CliError::from),
        None => runtime.block_on(run(cli.run, &mut stdout)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(stderr, "lambda-sandbox: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("lambda-sandbox").chain(v.iter().copied()))
    }

    fn run_args(v: &[&str]) -> Args {
        parse(v).unwrap().run
    }

    #[test]
    fn parses_all_options() {
        let a = run_args(&[
            "--bootstrap",
            "/b",
            "--layer",
            "/l",
            "--memory",
            "256",
            "--timeout-ms",
            "500",
            "--env",
            "A=1=2",
            "--name",
            "fn",
            "{\"x\":1}",
        ]);
        let c = a.config();
        assert_eq!(c.bootstrap, PathBuf::from("/b"));
        assert_eq!(c.layer_dir, Some(PathBuf::from("/l")));
        assert_eq!(c.memory_mb, 256);
        assert_eq!(c.timeout, Duration::from_millis(500));
        assert_eq!(c.env, vec![("A".to_owned(), "1=2".to_owned())]);
        assert_eq!(c.function_name, "fn");
        assert_eq!(a.all_payloads().unwrap(), vec![serde_json::json!({"x": 1})]);
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &["--layer", "/l"][..],
            &["--bootstrap"],
            &["--bootstrap", "/b", "--memory", "lots"],
            &["--bootstrap", "/b", "--frobnicate"],
            &["--bootstrap", "/b", "not json"],
            &["--bootstrap", "/b", "--init-type", "warm"],
            &[
                "--bootstrap",
                "/b",
                "--init-type",
                "lambda-managed-instances",
                "--concurrency",
                "0",
            ],
            &["--bootstrap", "/b", "local", "invoke"],
        ] {
            let e = parse(bad).map(|_| ()).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}: {e}");
        }
        assert_eq!(parse(&["--help"]).unwrap_err().exit_code(), 0);
        let lmi = ["--init-type", "lambda-managed-instances", "--concurrency"];
        let a = run_args(&[&["--bootstrap", "/b"], &lmi[..], &["4"]].concat());
        assert_eq!(a.config().max_concurrency, 4);
        let snap = run_args(&["--bootstrap", "/b", "--init-type", "snap-start"]).config();
        assert_eq!(snap.initialization_type, InitializationType::SnapStart);
        assert_eq!(snap.init_timeout, Duration::from_secs(130));
        let a = run_args(&["--bootstrap", "/b"]);
        assert_eq!(a.all_payloads().unwrap(), vec![serde_json::json!({})]);
    }

    #[test]
    fn logging_flags_make_the_logging_config() {
        let c = run_args(&[
            "--bootstrap",
            "/b",
            "--log-format",
            "json",
            "--log-level",
            "warn",
            "--system-log-level",
            "WARN",
            "--log-group",
            "/custom/group",
            "--log-destination",
            "firehose",
            "--no-extension-log-filter",
        ])
        .config();
        assert_eq!(
            c.logging,
            crate::LoggingConfig {
                format: crate::LogFormat::Json,
                application_level: Some(crate::LogLevel::Warn),
                system_level: Some(crate::LogLevel::Warn),
                log_group: Some("/custom/group".to_owned()),
                destination: crate::LogDestination::Firehose,
                filter_extensions: false,
            }
        );
        let app = run_args(&["--bootstrap", "/b", "--application-log-level", "ERROR"]).config();
        assert_eq!(app.logging.application_level, Some(crate::LogLevel::Error));
        // A level with Text is refused as Lambda's API refuses it, when the sandbox starts.
        assert!(app.validate().is_err());
        assert_eq!(
            run_args(&["--bootstrap", "/b"]).config().logging,
            crate::LoggingConfig::default()
        );
        for bad in [
            &["--bootstrap", "/b", "--log-format", "yaml"][..],
            &["--bootstrap", "/b", "--log-level", "loud"],
            &["--bootstrap", "/b", "--log-destination", "kinesis"],
        ] {
            assert_eq!(parse(bad).map(|_| ()).unwrap_err().exit_code(), 2, "{bad:?}");
        }
    }

    #[test]
    fn local_invoke_takes_sams_flags() {
        let cli = parse(&[
            "local",
            "invoke",
            "Fn",
            "-t",
            "t.yaml",
            "-e",
            "event.json",
            "-n",
            "env.json",
            "--parameter-overrides",
            "A=1",
            "ParameterKey=B,ParameterValue=2",
        ])
        .unwrap();
        let Some(Command::Local {
            command: LocalCommand::Invoke(args),
        }) = cli.command
        else {
            panic!("not local invoke: {cli:?}");
        };
        assert_eq!(args.function.as_deref(), Some("Fn"));
        assert_eq!(args.template, PathBuf::from("t.yaml"));
        assert_eq!(args.event, Some(PathBuf::from("event.json")));
        assert_eq!(args.env_vars, Some(PathBuf::from("env.json")));
        assert_eq!(
            args.parameter_overrides,
            [("A".to_owned(), "1".to_owned()), ("B".to_owned(), "2".to_owned())]
        );
        let defaults = parse(&["local", "invoke"]).unwrap();
        let Some(Command::Local {
            command: LocalCommand::Invoke(args),
        }) = defaults.command
        else {
            panic!("not local invoke");
        };
        assert_eq!(args.template, PathBuf::from("template.yaml"));
        assert_eq!(args.function, None);
    }
}
