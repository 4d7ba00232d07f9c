//! The `lambda-sandbox` command: init, invoke each payload, shut down, print a summary.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::{
    Config, InitializationType, InvokeOutcome, Sandbox, SandboxError, ShutdownOutcome, ShutdownReason,
};

/// A command line the CLI cannot run; printed with the usage (exit status 2).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

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
}

/// Usage text.
pub const USAGE: &str = "\
usage: lambda-sandbox --bootstrap PATH [options] [PAYLOAD_JSON ...]

Runs PATH as a Lambda custom runtime, with the extensions of --layer, on a local copy of the
Runtime, Extensions and Telemetry APIs; invokes it once per payload (default: one {}), shuts
down, and prints one summary line per invocation, the shutdown, and the processes' output.

options:
  --bootstrap PATH           runtime executable (required)
  --layer DIR                layer directory; every executable in DIR/extensions/ is an extension
  --name NAME                function name (sandbox-function)
  --memory MB                memory size and limit (128)
  --timeout-ms MS            function timeout (3000)
  --shutdown-deadline-ms MS  time extensions get after SHUTDOWN (2000)
  --region REGION            AWS_REGION (us-east-1)
  --log-format Text|JSON     sets AWS_LAMBDA_LOG_FORMAT
  --log-level LEVEL          sets AWS_LAMBDA_LOG_LEVEL
  --init-type TYPE           on-demand (default), provisioned-concurrency, snap-start or
                             lambda-managed-instances (AWS_LAMBDA_INITIALIZATION_TYPE)
  --concurrency N            lambda-managed-instances only: AWS_LAMBDA_MAX_CONCURRENCY (8);
                             the payloads are then invoked all at once
  --env K=V                  extra environment variable (repeatable)
  --payloads FILE            JSON lines file, one payload per line
  --telemetry FILE           write every generated telemetry record there (JSON lines)
  --echo                     echo process output live to stderr instead of at the end
  -h, --help                 this text";

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    /// Sandbox settings.
    pub config_bootstrap: PathBuf,
    /// Layer.
    pub layer: Option<PathBuf>,
    /// Function name.
    pub name: Option<String>,
    /// Memory MB.
    pub memory: Option<u32>,
    /// Timeout.
    pub timeout_ms: Option<u64>,
    /// Shutdown deadline.
    pub shutdown_deadline_ms: Option<u64>,
    /// Region.
    pub region: Option<String>,
    /// Log format.
    pub log_format: Option<String>,
    /// Log level.
    pub log_level: Option<String>,
    /// Initialization type.
    pub init_type: Option<InitializationType>,
    /// Managed Instances concurrency.
    pub concurrency: Option<u32>,
    /// Extra env.
    pub env: Vec<(String, String)>,
    /// Payloads given inline.
    pub payloads: Vec<Value>,
    /// Payload file.
    pub payload_file: Option<PathBuf>,
    /// Telemetry output file.
    pub telemetry_file: Option<PathBuf>,
    /// Echo live.
    pub echo: bool,
}

/// Parses arguments (without the program name). `Ok(None)` asks for the usage text.
pub fn parse(args: &[String]) -> Result<Option<Args>, UsageError> {
    let mut bootstrap = None;
    let mut a = Args {
        config_bootstrap: PathBuf::new(),
        layer: None,
        name: None,
        memory: None,
        timeout_ms: None,
        shutdown_deadline_ms: None,
        region: None,
        log_format: None,
        log_level: None,
        init_type: None,
        concurrency: None,
        env: Vec::new(),
        payloads: Vec::new(),
        payload_file: None,
        telemetry_file: None,
        echo: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| UsageError(format!("{flag} needs a value")))
        };
        let number = |flag: &str, v: String| {
            v.parse::<u64>()
                .map_err(|_| UsageError(format!("{flag}: {v:?} is not a number")))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--bootstrap" => bootstrap = Some(PathBuf::from(value(arg)?)),
            "--layer" => a.layer = Some(PathBuf::from(value(arg)?)),
            "--name" => a.name = Some(value(arg)?),
            "--memory" => {
                let v = number(arg, value(arg)?)?;
                a.memory =
                    Some(u32::try_from(v).map_err(|_| UsageError("--memory is too large".to_owned()))?);
            }
            "--timeout-ms" => a.timeout_ms = Some(number(arg, value(arg)?)?),
            "--shutdown-deadline-ms" => a.shutdown_deadline_ms = Some(number(arg, value(arg)?)?),
            "--region" => a.region = Some(value(arg)?),
            "--log-format" => a.log_format = Some(value(arg)?),
            "--log-level" => a.log_level = Some(value(arg)?),
            "--init-type" => {
                let v = value(arg)?;
                a.init_type = Some(InitializationType::parse(&v).ok_or_else(|| {
                    UsageError(format!(
                        "--init-type {v:?}: expected on-demand, provisioned-concurrency, snap-start or lambda-managed-instances"
                    ))
                })?);
            }
            "--concurrency" => {
                let v = number(arg, value(arg)?)?;
                a.concurrency = Some(u32::try_from(v).ok().filter(|n| *n >= 1).ok_or_else(|| {
                    UsageError("--concurrency must be between 1 and 4294967295".to_owned())
                })?);
            }
            "--env" => {
                let v = value(arg)?;
                let (k, val) = v
                    .split_once('=')
                    .ok_or_else(|| UsageError(format!("--env {v:?}: expected K=V")))?;
                a.env.push((k.to_owned(), val.to_owned()));
            }
            "--payloads" => a.payload_file = Some(PathBuf::from(value(arg)?)),
            "--telemetry" => a.telemetry_file = Some(PathBuf::from(value(arg)?)),
            "--echo" => a.echo = true,
            s if s.starts_with("--") => return Err(UsageError(format!("unknown option {s}"))),
            s => a.payloads.push(
                serde_json::from_str(s).map_err(|e| UsageError(format!("payload {s:?} is not JSON: {e}")))?,
            ),
        }
    }
    a.config_bootstrap = bootstrap.ok_or_else(|| UsageError("--bootstrap is required".to_owned()))?;
    if a.concurrency.is_some() && a.init_type != Some(InitializationType::LambdaManagedInstances) {
        return Err(UsageError(
            "--concurrency needs --init-type lambda-managed-instances".to_owned(),
        ));
    }
    Ok(Some(a))
}

impl Args {
    /// The sandbox configuration these arguments describe.
    pub fn config(&self) -> Config {
        let mut c = Config::new(&self.config_bootstrap);
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
        c.log_format.clone_from(&self.log_format);
        c.log_level.clone_from(&self.log_level);
        c.env.clone_from(&self.env);
        c.echo_output = self.echo;
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
    let mut sandbox = Sandbox::start(args.config()).await?;
    let w = |out: &mut dyn Write, line: &str| writeln!(out, "{line}").map_err(CliError::Print);
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
        for p in payloads {
            all.push(sandbox.invoke(p).await?);
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut stderr = std::io::stderr();
    let parsed = match parse(&args) {
        Ok(Some(a)) => a,
        Ok(None) => {
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = writeln!(stderr, "lambda-sandbox: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(stderr, "lambda-sandbox: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    match runtime.block_on(run(parsed, &mut stdout)) {
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

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn parses_all_options() {
        let a = parse(&s(&[
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
        ]))
        .unwrap()
        .unwrap();
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
        assert!(parse(&s(&["--layer", "/l"])).is_err());
        assert!(parse(&s(&["--bootstrap"])).is_err());
        assert!(parse(&s(&["--bootstrap", "/b", "--memory", "lots"])).is_err());
        assert!(parse(&s(&["--bootstrap", "/b", "--frobnicate"])).is_err());
        assert!(parse(&s(&["--bootstrap", "/b", "not json"])).is_err());
        assert_eq!(parse(&s(&["--help"])), Ok(None));
        assert!(parse(&s(&["--bootstrap", "/b", "--init-type", "warm"])).is_err());
        assert!(parse(&s(&["--bootstrap", "/b", "--concurrency", "4"])).is_err());
        let lmi = ["--init-type", "lambda-managed-instances", "--concurrency"];
        assert!(parse(&s(&[&["--bootstrap", "/b"], &lmi[..], &["0"]].concat())).is_err());
        let a = parse(&s(&[&["--bootstrap", "/b"], &lmi[..], &["4"]].concat()))
            .unwrap()
            .unwrap();
        assert_eq!(a.config().max_concurrency, 4);
        let snap = parse(&s(&["--bootstrap", "/b", "--init-type", "snap-start"]))
            .unwrap()
            .unwrap()
            .config();
        assert_eq!(snap.initialization_type, InitializationType::SnapStart);
        assert_eq!(snap.init_timeout, Duration::from_secs(130));
        let a = parse(&s(&["--bootstrap", "/b"])).unwrap().unwrap();
        assert_eq!(a.all_payloads().unwrap(), vec![serde_json::json!({})]);
    }
}
