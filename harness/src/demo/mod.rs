//! The lambda-lens demo scenario: the sample function with the extension layer in the sandbox,
//! through a cold start, warm invocations, an error, a timeout, an out-of-memory and a 64 MB
//! allocation, then shutdown. `make demo` prints its table; the end-to-end suite asserts it.
//!
//! The sandbox knows nothing of lambda-lens: this module only reads what the extension printed
//! (EMF documents on its stdout) and sets it beside what the sandbox measured.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};

pub mod logging;
mod render;

use lambda_sandbox::{
    Config, InitializationType, InvokeOutcome, LogGroup, LoggingConfig, Sandbox, SandboxError,
    ShutdownOutcome, ShutdownReason, Source, Stream, TelemetryRecord,
};
pub use render::{
    MetricSummary, bytes_per_invocation, metric, render, render_summary, reported, summarize, table,
};

/// The extension's file name in the layer, and so its name in the sandbox's output.
pub const EXTENSION_NAME: &str = "lambda-lens";

/// One invocation of the scenario.
#[derive(Debug, Clone)]
pub struct Step {
    pub label: &'static str,
    pub payload: Value,
}

/// The scenario `make demo` runs. The function is given 128 MB and a 1 s timeout.
pub fn scenario() -> Vec<Step> {
    vec![
        Step {
            label: "cold start",
            payload: json!({}),
        },
        Step {
            label: "warm",
            payload: json!({"sleep_ms": 20}),
        },
        Step {
            label: "warm, logs",
            payload: json!({"log_lines": 5, "response_bytes": 2048}),
        },
        Step {
            label: "cpu 60 ms",
            // In a private network the bytes go through the sandbox's echo peer (see `run`);
            // the wait puts lambda-lens's sample at INVOKE before them.
            payload: json!({"wait_ms": 30, "cpu_ms": 60, "network_bytes": 1_048_576}),
        },
        Step {
            label: "leak fds, threads",
            payload: json!({"write_tmp_bytes": 4_194_304, "open_files": 32, "threads": 8, "leak": true}),
        },
        Step {
            label: "error",
            payload: json!({"fail": "card declined"}),
        },
        Step {
            label: "timeout",
            payload: json!({"timeout": true}),
        },
        Step {
            label: "after timeout",
            payload: json!({}),
        },
        Step {
            label: "allocate 64 MB",
            payload: json!({"allocate_mb": 64}),
        },
        Step {
            label: "out of memory",
            payload: json!({"allocate_mb": 200}),
        },
        Step {
            label: "after OOM",
            payload: json!({}),
        },
    ]
}

/// A SnapStart environment: restored from its snapshot, then warm.
pub fn snapstart_scenario() -> Vec<Step> {
    vec![
        Step {
            label: "restored",
            payload: json!({}),
        },
        Step {
            label: "warm",
            payload: json!({"sleep_ms": 5}),
        },
    ]
}

/// Lambda Managed Instances: invocations that overlap in one environment.
pub fn managed_instances_scenario() -> Vec<Step> {
    ["concurrent 1", "concurrent 2", "concurrent 3", "concurrent 4"]
        .into_iter()
        .map(|label| Step {
            label,
            payload: json!({"sleep_ms": 200}),
        })
        .collect()
}

/// Many plain warm invocations, to measure log volume per invocation.
pub fn volume_scenario(invocations: usize) -> Vec<Step> {
    (0..invocations)
        .map(|i| Step {
            label: "plain",
            payload: json!({"sleep_ms": i % 3}),
        })
        .collect()
}

/// Paths and settings of a demo run.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub bootstrap: PathBuf,
    pub layer: PathBuf,
    pub function_name: String,
    pub memory_mb: u32,
    pub timeout: Duration,
    pub echo_output: bool,
    /// Extra environment for the function and the extension.
    pub env: Vec<(String, String)>,
    pub init_type: InitializationType,
    /// Managed Instances: the steps run all at once.
    pub concurrent: bool,
    /// Records a subscriber may have queued before the sandbox drops (`platform.logsDropped`).
    pub telemetry_queue_limit: Option<usize>,
    /// Every Nth telemetry batch delivered twice.
    pub duplicate_every: Option<u32>,
    /// Cap the CPU at Lambda's share for the memory size (`Config::cpu_limit`). Off by default:
    /// the scenario's timings (a 1 s timeout, 60 ms of CPU, a 200 MB allocation that must end
    /// as out of memory, not as a timeout) are sized for a whole core; the sandbox's own
    /// default is on.
    pub cpu_limit: bool,
    /// Give the environment a private network (`Config::private_network`), where the sandbox
    /// may: the steps' `network_bytes` then cross its interface, through the sandbox's echo
    /// peer. Off by default: an environment in its own network cannot reach an endpoint on the
    /// host's 127.0.0.1 (the local CloudWatch of the put-metric-data runs).
    pub private_network: bool,
    /// The function's ephemeral storage (Lambda's default: 512 MB): its own `/tmp`, a tmpfs of
    /// this size (`Config::private_tmp_mb`), where the sandbox can make one (root, a mount
    /// namespace); elsewhere, or with `None`, the function shares the host's `/tmp` and
    /// `TmpUsed` is the host disk's use. [`DemoReport::tmp`] says which it got.
    pub ephemeral_storage_mb: Option<u32>,
    /// The function's logging configuration (`Config::logging`; Lambda's default: Text, the
    /// group `/aws/lambda/<function>` in CloudWatch Logs). [`DemoReport::log_group`] is what it
    /// let reach the group.
    pub logging: LoggingConfig,
}

impl DemoConfig {
    pub fn new(bootstrap: impl Into<PathBuf>, layer: impl Into<PathBuf>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            layer: layer.into(),
            function_name: "lambda-lens-demo".to_owned(),
            memory_mb: 128,
            timeout: Duration::from_secs(1),
            echo_output: false,
            env: Vec::new(),
            init_type: InitializationType::OnDemand,
            concurrent: false,
            telemetry_queue_limit: None,
            duplicate_every: None,
            cpu_limit: false,
            private_network: false,
            ephemeral_storage_mb: Some(512),
            logging: LoggingConfig::default(),
        }
    }
}

/// One step: what the sandbox measured and what the extension reported for that request.
#[derive(Debug, Clone)]
pub struct StepResult {
    pub label: &'static str,
    pub outcome: InvokeOutcome,
    /// The extension's EMF documents whose `RequestId` is this invocation's.
    pub reported: Vec<Map<String, Value>>,
}

#[derive(Debug, Clone)]
pub struct DemoReport {
    pub steps: Vec<StepResult>,
    pub shutdown: ShutdownOutcome,
    /// Every EMF line the extension printed, in order.
    pub emf_lines: Vec<String>,
    /// Lines of the extension's stdout that are not valid EMF, with the problems found.
    pub invalid: Vec<(String, Vec<String>)>,
    /// Lines on the extension's stdout that are not EMF at all (nothing else should be there).
    pub stray_stdout: Vec<String>,
    /// Every telemetry record the sandbox generated.
    pub telemetry: Vec<TelemetryRecord>,
    /// What isolated the environment (`Isolation::describe`).
    pub isolation: String,
    /// The function's `/tmp`: its own, a tmpfs of this many MB, or the host's, and why.
    pub tmp: Result<u32, String>,
    /// The log group as CloudWatch Logs (or S3, or Firehose) would hold it after the run.
    pub log_group: LogGroup,
}

impl DemoReport {
    /// Every EMF line as a JSON object (a line that is not one is in `invalid` already).
    pub fn documents(&self) -> Vec<Map<String, Value>> {
        self.emf_lines
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// The step, its `network_bytes` sent through `peer` when there is one.
fn through_peer(step: &Step, peer: Option<std::net::SocketAddr>) -> Step {
    let mut step = step.clone();
    if let (Some(peer), Some(payload)) = (peer, step.payload.as_object_mut())
        && payload.contains_key("network_bytes")
    {
        payload
            .entry("network_peer")
            .or_insert_with(|| Value::String(peer.to_string()));
    }
    step
}

/// Runs the scenario in a fresh sandbox.
pub async fn run(demo: &DemoConfig, steps: &[Step]) -> Result<DemoReport, SandboxError> {
    let mut config = Config::new(&demo.bootstrap);
    config.layer_dir = Some(demo.layer.clone());
    config.function_name = demo.function_name.clone();
    config.memory_mb = demo.memory_mb;
    config.timeout = demo.timeout;
    config.echo_output = demo.echo_output;
    config.env = demo.env.clone();
    config.set_initialization_type(demo.init_type);
    config.duplicate_every = demo.duplicate_every;
    config.cpu_limit = demo.cpu_limit;
    config.private_network = demo.private_network;
    config.private_tmp_mb = demo.ephemeral_storage_mb;
    config.logging = demo.logging.clone();
    if let Some(limit) = demo.telemetry_queue_limit {
        config.telemetry_queue_limit = limit;
    }

    let mut sandbox = Sandbox::start(config).await?;
    let steps: Vec<Step> = steps
        .iter()
        .map(|s| through_peer(s, sandbox.echo_peer()))
        .collect();
    let mut outcomes = Vec::with_capacity(steps.len());
    if demo.concurrent {
        let payloads = steps.iter().map(|s| s.payload.clone()).collect();
        let results = sandbox.invoke_concurrent(payloads).await?;
        outcomes.extend(steps.iter().map(|s| s.label).zip(results));
    } else {
        for step in &steps {
            outcomes.push((step.label, sandbox.invoke(step.payload.clone()).await?));
        }
    }
    let shutdown = sandbox.shutdown(ShutdownReason::Spindown).await?;

    let mut emf_lines = Vec::new();
    let mut invalid = Vec::new();
    let mut stray_stdout = Vec::new();
    let mut by_request: HashMap<String, Vec<Map<String, Value>>> = HashMap::new();
    let source = Source::Extension(EXTENSION_NAME.to_owned());
    for line in sandbox.output_of(&source) {
        if line.stream != Stream::Stdout {
            continue;
        }
        if !emf_spec::is_emf(&line.text) {
            stray_stdout.push(line.text);
            continue;
        }
        match emf_spec::check_line(&line.text) {
            Ok(doc) => {
                if let Some(id) = doc.get("RequestId").and_then(Value::as_str) {
                    by_request.entry(id.to_owned()).or_default().push(doc.clone());
                }
            }
            Err(problems) => invalid.push((line.text.clone(), problems)),
        }
        emf_lines.push(line.text);
    }
    let steps = outcomes
        .into_iter()
        .map(|(label, outcome)| StepResult {
            label,
            reported: by_request.remove(&outcome.request_id).unwrap_or_default(),
            outcome,
        })
        .collect();
    Ok(DemoReport {
        steps,
        shutdown,
        emf_lines,
        invalid,
        stray_stdout,
        telemetry: sandbox.telemetry(),
        log_group: sandbox.log_group(),
        isolation: sandbox.isolation().describe(),
        tmp: match (demo.ephemeral_storage_mb, &sandbox.isolation().mounts) {
            (Some(mb), Ok(_)) => Ok(mb),
            (Some(_), Err(why)) => Err(format!("no private mount namespace: {why}")),
            (None, _) => Err("no private /tmp asked for (DemoConfig::ephemeral_storage_mb)".to_owned()),
        },
    })
}
