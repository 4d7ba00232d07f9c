//! Logging controls: the demo's function and layer under a logging configuration (format,
//! levels, log group, destination), the log group as CloudWatch Logs would hold it, and the
//! metrics CloudWatch would extract from it ([`emf_spec::extract`]) set beside the truth: what the
//! sandbox itself measured and reported for each invocation.
//!
//! Only lambda-lens's metrics under its defaults are compared (the namespace `LambdaLens`, the
//! dimension set `FunctionName`), each with the figure of the sandbox's reports it stands for.

use std::fmt::Write as _;

use emf_spec::{Extraction, MetricKey, dimensions};
use lambda_sandbox::{
    InvokeOutcome, LogDestination, LogFormat, LogLevel, LoggingConfig, SandboxError, Status,
};
use serde_json::json;

use super::{DemoConfig, DemoReport, Step, table};

/// lambda-lens's default namespace.
pub const NAMESPACE: &str = "LambdaLens";

/// The steps of each logging configuration: a cold start, warm invocations (one with function
/// log lines, which a level filter may remove), an error.
pub fn logging_scenario() -> Vec<Step> {
    vec![
        Step {
            label: "cold start",
            payload: json!({}),
        },
        Step {
            label: "warm, logs",
            payload: json!({"log_lines": 3}),
        },
        Step {
            label: "error",
            payload: json!({"fail": "card declined"}),
        },
        Step {
            label: "warm",
            payload: json!({"sleep_ms": 5}),
        },
    ]
}

/// What the sandbox measured and reported, per invocation: the truth the extracted metrics are
/// compared with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Truth {
    pub invocations: usize,
    /// Invocations whose report carries an init duration (the first after an init phase).
    pub cold_starts: usize,
    /// Status `error` or `failure`.
    pub errors: usize,
    pub timeouts: usize,
    /// Error type `Runtime.OutOfMemory`.
    pub out_of_memory: usize,
    /// The report's `durationMs`, per invocation.
    pub durations_ms: Vec<f64>,
    /// The report's `billedDurationMs`, per invocation.
    pub billed_ms: Vec<f64>,
    /// The report's `initDurationMs`, where there is one.
    pub init_durations_ms: Vec<f64>,
    /// The report's `maxMemoryUsedMB`, per invocation.
    pub max_memory_used_mb: Vec<f64>,
    /// The function's memory size.
    pub memory_mb: u32,
}

impl Truth {
    pub fn of(outcomes: &[InvokeOutcome], memory_mb: u32) -> Self {
        let count = |f: &dyn Fn(&InvokeOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
        Self {
            invocations: outcomes.len(),
            cold_starts: count(&|o| o.init_duration_ms.is_some()),
            errors: count(&|o| matches!(o.status, Status::Error | Status::Failure)),
            timeouts: count(&|o| o.status == Status::Timeout),
            out_of_memory: count(&|o| o.error_type.as_deref() == Some("Runtime.OutOfMemory")),
            durations_ms: outcomes.iter().map(|o| o.duration_ms).collect(),
            billed_ms: outcomes.iter().map(|o| o.billed_duration_ms as f64).collect(),
            init_durations_ms: outcomes.iter().filter_map(|o| o.init_duration_ms).collect(),
            max_memory_used_mb: outcomes.iter().map(|o| o.max_memory_used_mb as f64).collect(),
            memory_mb,
        }
    }
}

/// One metric compared: what was extracted and what it should be.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub metric: &'static str,
    /// How many values were extracted (a count metric's SampleCount).
    pub extracted_values: usize,
    /// How many values the truth has: one per invocation, or per cold start for `InitDuration`.
    pub truth_values: usize,
    /// What was extracted and what it should be, for a failure's message.
    pub extracted: String,
    pub truth: String,
    pub equal: bool,
}

/// lambda-lens's metrics under its defaults (`LAMBDA_LENS_METRICS=default`, docs/metrics.md)
/// that stand for a figure of the sandbox's reports.
pub const DEFAULT_METRICS: &[&str] = &[
    "ColdStarts",
    "Timeouts",
    "OutOfMemory",
    "InitDuration",
    "MaxMemoryUsed",
    "MemoryUtilization",
];

/// Metrics that are properties by default, compared when a run selects them.
pub const MORE_METRICS: &[&str] = &["Invocations", "Errors", "Duration", "BilledDuration"];

/// How close two durations must be: the sandbox reports them to the microsecond, and lambda-lens
/// writes the reported number back (JSON's shortest round trip), so any difference beyond
/// floating-point noise is a real one.
const DURATION_PRECISION_MS: f64 = 0.000_5;

/// Compares the metrics `selected` (names from [`DEFAULT_METRICS`] and [`MORE_METRICS`]) of
/// `function_name`, extracted from its log group, with the truth: one check per metric.
pub fn compare(extraction: &Extraction, truth: &Truth, function_name: &str, selected: &[&str]) -> Vec<Check> {
    let n = truth.invocations;
    selected
        .iter()
        .map(|&name| {
            let key = MetricKey::new(NAMESPACE, name, dimensions([("FunctionName", function_name)]));
            let values = extraction.values(&key);
            match name {
                "ColdStarts" => counted(name, &values, truth.cold_starts, n),
                "Timeouts" => counted(name, &values, truth.timeouts, n),
                "OutOfMemory" => counted(name, &values, truth.out_of_memory, n),
                "Errors" => counted(name, &values, truth.errors, n),
                "Invocations" => counted(name, &values, n, n),
                "Duration" => same_values(name, values, &truth.durations_ms, DURATION_PRECISION_MS),
                "BilledDuration" => same_values(name, values, &truth.billed_ms, 0.0),
                "InitDuration" => same_values(name, values, &truth.init_durations_ms, DURATION_PRECISION_MS),
                "MaxMemoryUsed" => same_values(name, values, &truth.max_memory_used_mb, 0.0),
                // lambda-lens writes the percentage to two decimals (docs/metrics.md).
                "MemoryUtilization" => {
                    let expected: Vec<f64> = truth
                        .max_memory_used_mb
                        .iter()
                        .map(|used| (used / f64::from(truth.memory_mb) * 10_000.0).round() / 100.0)
                        .collect();
                    same_values(name, values, &expected, 0.005 + 1e-9)
                }
                _ => Check {
                    metric: "(unknown metric)",
                    extracted_values: 0,
                    truth_values: 0,
                    extracted: name.to_owned(),
                    truth: "-".to_owned(),
                    equal: false,
                },
            }
        })
        .collect()
}

/// The metric's name as a `'static` column name (from the lists).
fn column(name: &str) -> &'static str {
    DEFAULT_METRICS
        .iter()
        .chain(MORE_METRICS)
        .find(|m| **m == name)
        .copied()
        .unwrap_or("(unknown metric)")
}

/// A count metric: written as 0 or 1 on every invocation, so its SampleCount is the number of
/// invocations and its Sum the number counted (`Invocations`: 1 on each). Shown as `Sum of
/// SampleCount`.
fn counted(name: &str, values: &[f64], counted: usize, invocations: usize) -> Check {
    // (A sum of nothing is -0.0 in Rust: start from +0.0.)
    let sum = values.iter().fold(0.0, |a, v| a + v);
    Check {
        metric: column(name),
        extracted_values: values.len(),
        truth_values: invocations,
        extracted: format!("Sum {sum} of {} values", values.len()),
        truth: format!("Sum {counted} of {invocations} values"),
        // Sums of 0s and 1s are exact.
        equal: values.len() == invocations && sum == counted as f64,
    }
}

/// The same values, in any order (an aggregated document may carry them in another order), each
/// within `precision`. Shown as how many values, and whether each matched.
fn same_values(name: &str, mut values: Vec<f64>, truth: &[f64], precision: f64) -> Check {
    let mut expected = truth.to_vec();
    values.sort_by(f64::total_cmp);
    expected.sort_by(f64::total_cmp);
    let equal = values.len() == expected.len()
        && values
            .iter()
            .zip(&expected)
            .all(|(a, b)| (a - b).abs() <= precision);
    Check {
        metric: column(name),
        extracted_values: values.len(),
        truth_values: expected.len(),
        extracted: format!("{values:?}"),
        truth: format!("{expected:?}"),
        equal,
    }
}

/// One logging configuration's result: its log group and what was extracted from it.
#[derive(Debug, Clone)]
pub struct LoggingResult {
    /// The configuration, as the table names it.
    pub label: String,
    /// The log group's name, or where the logs went instead.
    pub group: String,
    /// Whether CloudWatch Logs extracts EMF from this destination (not from S3 or Firehose).
    pub extracts: bool,
    /// The events that reached the log group (after the level filter and the 64 KiB cut).
    pub events: usize,
    pub extraction: Extraction,
    pub truth: Truth,
    pub checks: Vec<Check>,
}

impl LoggingResult {
    /// The expected answer: every metric equal to the truth and no document refused where
    /// CloudWatch Logs extracts; nothing extracted where it does not.
    pub fn as_expected(&self) -> bool {
        if self.extracts {
            self.extraction.validation_errors == 0 && self.checks.iter().all(|c| c.equal)
        } else {
            self.extraction.data.is_empty()
        }
    }

    /// What differs, for a failure's message.
    pub fn differences(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.equal)
            .map(|c| format!("{}: extracted {}, truth {}", c.metric, c.extracted, c.truth))
            .collect();
        if self.extraction.validation_errors > 0 {
            out.push(format!(
                "{} EMF documents refused (EMFValidationErrors)",
                self.extraction.validation_errors
            ));
        }
        if !self.extracts && !self.extraction.data.is_empty() {
            out.push(format!(
                "{} data extracted where CloudWatch Logs extracts nothing",
                self.extraction.data.len()
            ));
        }
        out
    }
}

/// One logging configuration to run: Lambda's `LoggingConfig` and destination, and which of
/// lambda-lens's metrics to compare (its defaults unless `LAMBDA_LENS_METRICS` is in `env`).
#[derive(Debug, Clone)]
pub struct LoggingCase {
    pub label: String,
    pub logging: LoggingConfig,
    /// Extra environment for the function and the extension.
    pub env: Vec<(String, String)>,
    pub metrics: Vec<&'static str>,
}

impl LoggingCase {
    /// lambda-lens's defaults (no variable set) under `logging`.
    pub fn new(label: impl Into<String>, logging: LoggingConfig) -> Self {
        Self {
            label: label.into(),
            logging,
            env: Vec::new(),
            metrics: DEFAULT_METRICS.to_vec(),
        }
    }
}

/// JSON format at `level` (the system level at Lambda's default, INFO).
pub fn json_at(level: LogLevel) -> LoggingConfig {
    LoggingConfig {
        format: LogFormat::Json,
        application_level: Some(level),
        ..LoggingConfig::default()
    }
}

/// Every configuration the end-to-end suite runs: Text (Lambda's default); JSON at every
/// application level; a custom log group; every metric (JSON, WARN); S3 and Firehose, where
/// CloudWatch Logs extracts nothing.
pub fn cases() -> Vec<LoggingCase> {
    let mut cases = vec![LoggingCase::new("Text (default)", LoggingConfig::default())];
    cases.extend(
        LogLevel::ALL
            .into_iter()
            .map(|level| LoggingCase::new(format!("JSON, {level}"), json_at(level))),
    );
    cases.push(LoggingCase::new(
        "JSON, WARN, custom log group",
        LoggingConfig {
            log_group: Some("/lambda-lens/custom-group".to_owned()),
            ..json_at(LogLevel::Warn)
        },
    ));
    let mut every = LoggingCase::new("JSON, WARN, every metric", json_at(LogLevel::Warn));
    every.env = vec![("LAMBDA_LENS_METRICS".to_owned(), "all".to_owned())];
    every.metrics = DEFAULT_METRICS.iter().chain(MORE_METRICS).copied().collect();
    cases.push(every);
    for destination in [LogDestination::S3, LogDestination::Firehose] {
        cases.push(LoggingCase::new(
            format!("JSON, WARN, to {destination}"),
            LoggingConfig {
                destination,
                ..json_at(LogLevel::Warn)
            },
        ));
    }
    cases
}

/// Runs `steps` in a fresh sandbox under `case` and compares what CloudWatch Logs would extract
/// from the log group with the sandbox's own reports.
pub async fn run_case(
    base: &DemoConfig,
    case: &LoggingCase,
    steps: &[Step],
) -> Result<(LoggingResult, DemoReport), SandboxError> {
    let mut config = base.clone();
    config.logging = case.logging.clone();
    config.env.extend(case.env.iter().cloned());
    let report = super::run(&config, steps).await?;
    let outcomes: Vec<InvokeOutcome> = report.steps.iter().map(|s| s.outcome.clone()).collect();
    let truth = Truth::of(&outcomes, config.memory_mb);
    let group = &report.log_group;
    let extracts = group.extracts_emf();
    let extraction = if extracts {
        emf_spec::extract(group.messages())
    } else {
        Extraction::default()
    };
    let checks = compare(&extraction, &truth, &config.function_name, &case.metrics);
    let result = LoggingResult {
        label: case.label.clone(),
        group: if extracts {
            group.name.clone()
        } else {
            format!("({}: not extracted)", group.destination)
        },
        extracts,
        events: group.events.len(),
        extraction,
        truth,
        checks,
    };
    Ok((result, report))
}

/// The table of results: one row per configuration, with the values extracted against the
/// values the reports give (over every metric compared) and how many metrics were equal.
pub fn render_results(results: &[LoggingResult]) -> String {
    let mut rows = vec![
        [
            "configuration",
            "log group",
            "events",
            "not EMF",
            "refused",
            "values extracted / truth",
            "metrics equal",
            "as expected",
        ]
        .map(String::from),
    ];
    for r in results {
        let extracted: usize = r.checks.iter().map(|c| c.extracted_values).sum();
        let truth: usize = r.checks.iter().map(|c| c.truth_values).sum();
        let equal = r.checks.iter().filter(|c| c.equal).count();
        rows.push([
            r.label.clone(),
            r.group.clone(),
            r.events.to_string(),
            // Nothing is read where CloudWatch Logs extracts nothing.
            if r.extracts {
                r.extraction.not_emf.to_string()
            } else {
                "-".to_owned()
            },
            if r.extracts {
                r.extraction.validation_errors.to_string()
            } else {
                "-".to_owned()
            },
            format!("{extracted} / {truth}"),
            format!("{equal} of {}", r.checks.len()),
            if r.as_expected() { "yes" } else { "NO" }.to_owned(),
        ]);
    }
    let mut out = table(&rows);
    let more = results.iter().any(|r| r.checks.len() > DEFAULT_METRICS.len());
    let _ = writeln!(
        out,
        "values: of lambda-lens's default metrics that stand for a report's figure ({}{}), what CloudWatch Logs \
         would extract from the log group / what the sandbox's reports give; equal: a count metric's Sum and \
         SampleCount, the others value by value.",
        DEFAULT_METRICS.join(", "),
        if more {
            format!("; with every metric also {}", MORE_METRICS.join(", "))
        } else {
            String::new()
        }
    );
    out
}

/// One result metric by metric: what CloudWatch Logs would extract beside what the sandbox's
/// reports give.
pub fn render_checks(result: &LoggingResult) -> String {
    let mut rows = vec![
        [
            "metric",
            "extracted from the log group",
            "the sandbox's reports",
            "equal",
        ]
        .map(String::from),
    ];
    rows.extend(result.checks.iter().map(|c| {
        [
            c.metric.to_owned(),
            c.extracted.clone(),
            c.truth.clone(),
            if c.equal { "yes" } else { "NO" }.to_owned(),
        ]
    }));
    table(&rows)
}

#[cfg(test)]
mod tests;
