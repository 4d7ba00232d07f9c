//! The lambda-lens demo scenario: the sample function with the extension layer in the sandbox,
//! through a cold start, warm invocations, an error, a timeout, an out-of-memory and a 64 MB
//! allocation, then shutdown. `make demo` prints its table; the end-to-end suite asserts it.
//!
//! The sandbox knows nothing of lambda-lens: this module only reads what the extension printed
//! (EMF documents on its stdout) and sets it beside what the sandbox measured.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::emf_spec;
use lambda_sandbox::{
    Config, InitializationType, InvokeOutcome, Sandbox, SandboxError, ShutdownOutcome, ShutdownReason,
    Source, Stream, TelemetryRecord,
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
    /// host's 127.0.0.1 (the local CloudWatch of the API sink's runs).
    pub private_network: bool,
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
        isolation: sandbox.isolation().describe(),
    })
}

/// A metric's value in one document: a number, or the sum of an array / Values×Counts.
pub fn metric(doc: &Map<String, Value>, name: &str) -> Option<f64> {
    match doc.get(name)? {
        Value::Number(n) => n.as_f64(),
        Value::Array(values) => Some(values.iter().filter_map(Value::as_f64).sum()),
        Value::Object(o) => {
            let values = o.get("Values")?.as_array()?;
            let counts = o.get("Counts")?.as_array()?;
            Some(
                values
                    .iter()
                    .zip(counts)
                    .filter_map(|(v, c)| Some(v.as_f64()? * c.as_f64()?))
                    .sum(),
            )
        }
        _ => None,
    }
}

/// What one metric looked like over a run: how many values, their range.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSummary {
    pub name: String,
    pub unit: String,
    pub values: u64,
    pub min: f64,
    pub max: f64,
}

/// Every metric found in `lines` (EMF documents), in order of first appearance. Arrays and the
/// `Values`/`Counts` form count each value.
pub fn summarize<'a>(lines: impl IntoIterator<Item = &'a String>) -> Vec<MetricSummary> {
    let mut out: Vec<MetricSummary> = Vec::new();
    for line in lines {
        let Ok(doc) = serde_json::from_str::<Map<String, Value>>(line) else {
            continue;
        };
        let defs = doc
            .get("_aws")
            .and_then(|a| a.get("CloudWatchMetrics"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|d| d.get("Metrics").and_then(Value::as_array))
            .flatten();
        for def in defs {
            let name = def.get("Name").and_then(Value::as_str).unwrap_or_default();
            let unit = def.get("Unit").and_then(Value::as_str).unwrap_or("None");
            let values: Vec<(f64, u64)> = match doc.get(name) {
                Some(Value::Number(n)) => n.as_f64().map(|v| (v, 1)).into_iter().collect(),
                Some(Value::Array(a)) => a.iter().filter_map(|v| Some((v.as_f64()?, 1))).collect(),
                Some(Value::Object(o)) => {
                    let v = o
                        .get("Values")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let c = o
                        .get("Counts")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    v.iter()
                        .zip(&c)
                        .filter_map(|(v, c)| Some((v.as_f64()?, c.as_u64()?)))
                        .collect()
                }
                _ => Vec::new(),
            };
            let index = match out.iter().position(|m| m.name == name) {
                Some(i) => i,
                None => {
                    out.push(MetricSummary {
                        name: name.to_owned(),
                        unit: unit.to_owned(),
                        values: 0,
                        min: f64::INFINITY,
                        max: f64::NEG_INFINITY,
                    });
                    out.len() - 1
                }
            };
            let Some(entry) = out.get_mut(index) else {
                continue;
            };
            for (v, count) in values {
                entry.values += count;
                entry.min = entry.min.min(v);
                entry.max = entry.max.max(v);
            }
        }
    }
    out
}

fn figure(v: f64) -> String {
    if !v.is_finite() {
        "-".to_owned()
    } else if v != 0.0 && v.abs() < 0.01 {
        format!("{v:.3e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// A table of every metric: name, unit, number of values, smallest and largest.
pub fn render_summary(summary: &[MetricSummary]) -> String {
    let mut rows = vec![[
        "metric".to_owned(),
        "unit".to_owned(),
        "values".to_owned(),
        "min".to_owned(),
        "max".to_owned(),
    ]];
    for m in summary {
        rows.push([
            m.name.clone(),
            m.unit.clone(),
            m.values.to_string(),
            figure(m.min),
            figure(m.max),
        ]);
    }
    table(&rows)
}

/// Left-aligned columns, a rule under the first row.
pub fn table<R: AsRef<[String]>>(rows: &[R]) -> String {
    let columns = rows.first().map_or(0, |r| r.as_ref().len());
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|r| r.as_ref().get(c).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .as_ref()
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
        if n == 0 {
            let rule = widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1);
            let _ = writeln!(out, "{}", "-".repeat(rule));
        }
    }
    out
}

/// Log bytes the extension wrote per invocation (every EMF line and its newline).
pub fn bytes_per_invocation(report: &DemoReport) -> f64 {
    let bytes: usize = report.emf_lines.iter().map(|l| l.len() + 1).sum();
    bytes as f64 / report.steps.len().max(1) as f64
}

/// The sum of a metric over every document reported for a step.
pub fn reported(step: &StepResult, name: &str) -> Option<f64> {
    let values: Vec<f64> = step.reported.iter().filter_map(|d| metric(d, name)).collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

fn property<'a>(step: &'a StepResult, name: &str) -> Option<&'a str> {
    step.reported
        .iter()
        .find_map(|d| d.get(name).and_then(Value::as_str))
}

fn number(v: Option<f64>) -> String {
    match v {
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "-".to_owned(),
    }
}

/// The table `make demo` prints: one row per invocation, from the extension's EMF, with the
/// sandbox's own status beside it for comparison.
pub fn render(report: &DemoReport) -> String {
    let header = [
        "#",
        "step",
        "request",
        "sandbox",
        "reported",
        "errorType",
        "Cold",
        "Err",
        "T/O",
        "OOM",
        "Duration",
        "Billed",
        "MaxMem",
        "Init",
    ];
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|h| (*h).to_owned()).collect()];
    for (i, step) in report.steps.iter().enumerate() {
        let o = &step.outcome;
        rows.push(vec![
            (i + 1).to_string(),
            step.label.to_owned(),
            o.request_id.chars().take(8).collect(),
            o.status.as_str().to_owned(),
            if step.reported.is_empty() {
                "NOT REPORTED".to_owned()
            } else {
                property(step, "Status").unwrap_or("?").to_owned()
            },
            property(step, "ErrorType").unwrap_or("-").to_owned(),
            number(reported(step, "ColdStarts")),
            number(reported(step, "Errors")),
            number(reported(step, "Timeouts")),
            number(reported(step, "OutOfMemory")),
            number(reported(step, "Duration")),
            number(reported(step, "BilledDuration")),
            number(reported(step, "MaxMemoryUsed")),
            number(reported(step, "InitDuration")),
        ]);
    }
    let mut out = table(&rows);
    let _ = writeln!(
        out,
        "\nDuration, Billed, Init in ms; MaxMem in MB. {} EMF documents from the extension, {} invalid, {} stray stdout lines.",
        report.emf_lines.len(),
        report.invalid.len(),
        report.stray_stdout.len()
    );
    if let Some(ext) = report
        .shutdown
        .processes
        .iter()
        .find(|p| p.source == Source::Extension(EXTENSION_NAME.to_owned()))
    {
        let after = ext
            .exited_after_shutdown
            .map_or("-".to_owned(), |d| format!("{} ms", d.as_millis()));
        let _ = writeln!(
            out,
            "Shutdown: the extension exited with {:?} {after} after SHUTDOWN{}.",
            ext.exit,
            if ext.killed { " (killed)" } else { "" }
        );
    }
    out
}
