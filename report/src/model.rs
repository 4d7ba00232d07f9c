//! The report: every figure of the monitoring questions for one function and one window, the
//! memory recommendation and the questions that could not be answered. Its serde form is the
//! `--json` output (documented in `docs/report.md`; `schema` changes when a field changes
//! meaning). Counts are whole numbers: rounded when assembled (a sum of CloudWatch statistics
//! can carry a float's error, 12.000000000000002) and written as JSON integers.

use serde::Serialize;

/// The `schema` member of the JSON output.
pub const SCHEMA: &str = "lambda-lens-report/1";

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema: &'static str,
    pub function: String,
    pub source: SourceInfo,
    pub window: WindowInfo,
    #[serde(serialize_with = "crate::render::json::count")]
    pub invocations: Option<f64>,
    pub errors: Errors,
    pub duration: Duration,
    pub memory: Memory,
    pub init: Init,
    pub snap_start: SnapStart,
    pub scaling: Scaling,
    pub post_runtime: PostRuntime,
    pub cost: Cost,
    pub recommendation: Option<Recommendation>,
    pub unanswered: Vec<Unanswered>,
    /// Figures computed from part of the invocations, and why.
    pub notes: Vec<String>,
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SourceInfo {
    /// `cloudwatch` or `emf`.
    pub kind: &'static str,
    pub region: Option<String>,
    pub namespace: String,
    pub files: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WindowInfo {
    /// RFC 3339, UTC.
    pub start: String,
    pub end: String,
    /// The period of each point of `series`.
    pub period_seconds: i64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Errors {
    /// Invocations that failed, timeouts and out-of-memory kills included (as `AWS/Lambda`
    /// `Errors` counts them).
    #[serde(serialize_with = "crate::render::json::count")]
    pub errors: Option<f64>,
    #[serde(serialize_with = "crate::render::json::count")]
    pub timeouts: Option<f64>,
    #[serde(serialize_with = "crate::render::json::count")]
    pub out_of_memory: Option<f64>,
    /// `errors` ÷ `invocations` × 100.
    pub error_rate_percent: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Duration {
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// The configured timeout (`--timeout`; CloudWatch does not hold it).
    pub timeout_ms: Option<f64>,
    /// `p99Ms` ÷ `timeoutMs` × 100.
    pub p99_of_timeout_percent: Option<f64>,
    /// `maxMs` ÷ `timeoutMs` × 100.
    pub max_of_timeout_percent: Option<f64>,
    /// Where the durations come from (`AWS/Lambda Duration` or `lambda-lens Duration`).
    pub metric: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Memory {
    pub size_mb: Option<f64>,
    pub max_used_p99_mb: Option<f64>,
    pub max_used_max_mb: Option<f64>,
    pub utilization_p99_percent: Option<f64>,
    pub utilization_max_percent: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Init {
    #[serde(serialize_with = "crate::render::json::count")]
    pub cold_starts: Option<f64>,
    /// Cold starts ÷ invocations × 100.
    pub cold_start_rate_percent: Option<f64>,
    pub init_p50_ms: Option<f64>,
    pub init_p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SnapStart {
    #[serde(serialize_with = "crate::render::json::count")]
    pub restores: Option<f64>,
    pub restore_p50_ms: Option<f64>,
    pub restore_max_ms: Option<f64>,
}

/// What only `AWS/Lambda` knows.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Scaling {
    #[serde(serialize_with = "crate::render::json::count")]
    pub throttles: Option<f64>,
    #[serde(serialize_with = "crate::render::json::count")]
    pub peak_concurrent_executions: Option<f64>,
    pub iterator_age_max_ms: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PostRuntime {
    pub average_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    pub metric: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    /// US dollars for the window.
    pub estimated_usd: Option<f64>,
    pub per_million_invocations_usd: Option<f64>,
    /// How it was estimated.
    pub basis: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    pub current_mb: f64,
    pub recommended_mb: u32,
    /// `increase`, `decrease` or `keep`.
    pub action: &'static str,
    pub observed_peak_mb: f64,
    pub headroom_percent: f64,
    /// The observed peak plus the headroom: the least the recommended size must hold.
    pub needed_mb: f64,
    /// The cost of the window at the recommended size minus its cost now, at the observed
    /// durations (US dollars; negative is a saving).
    pub cost_change_usd: Option<f64>,
    pub cost_change_percent: Option<f64>,
    /// The CPU share at the recommended size against the current one, in percent.
    pub cpu_share_percent_of_current: f64,
    pub reason: String,
    pub warning: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Unanswered {
    pub question: String,
    pub reason: String,
}

/// One line of a chart: points of `[epoch seconds, value]`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    /// The chart it belongs to: `invocations`, `duration`, `memory`, `coldStarts`, `scaling`.
    pub chart: &'static str,
    pub name: String,
    pub unit: &'static str,
    pub points: Vec<(i64, f64)>,
}
