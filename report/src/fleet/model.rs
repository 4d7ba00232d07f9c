//! The fleet report: one row per function, the fleet's totals and, with `--compare-to`, what
//! moved since the previous window. Its serde form is the `--all --json` output (documented in
//! `docs/report.md`; `schema` changes when a field changes meaning).

use serde::Serialize;

use crate::model::{Recommendation, WindowInfo};
pub use crate::source::cloudwatch::Requests;

/// The `schema` member of the fleet's JSON output.
pub const SCHEMA: &str = "lambda-lens-report/fleet/1";

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FleetReport {
    pub schema: &'static str,
    pub region: String,
    pub namespace: String,
    pub window: WindowInfo,
    /// The previous window `--compare-to` read, if any.
    pub previous_window: Option<WindowInfo>,
    /// How the functions were chosen (`all`, or the filters given).
    pub selection: Selection,
    /// The `--sort` key the rows are in.
    pub sort: &'static str,
    pub rows: Vec<Row>,
    pub totals: Totals,
    /// The CloudWatch and tagging requests the run made.
    pub requests: Requests,
    /// Functions named with `--functions` that have no lambda-lens data in the window, and
    /// other things a reader should know.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    pub functions: Vec<String>,
    pub prefix: Option<String>,
    /// `KEY=VALUE`, every one must match.
    pub tags: Vec<String>,
}

/// One function's figures over the window (a `null` is a figure its metrics do not give).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub function: String,
    /// `AWS/Lambda` `Invocations`.
    #[serde(serialize_with = "crate::render::json::count")]
    pub invocations: Option<f64>,
    /// `AWS/Lambda` `Errors` (timeouts and out-of-memory kills included).
    #[serde(serialize_with = "crate::render::json::count")]
    pub errors: Option<f64>,
    pub error_rate_percent: Option<f64>,
    /// lambda-lens `Timeouts`.
    #[serde(serialize_with = "crate::render::json::count")]
    pub timeouts: Option<f64>,
    /// lambda-lens `OutOfMemory`.
    #[serde(serialize_with = "crate::render::json::count")]
    pub out_of_memory: Option<f64>,
    pub p99_duration_ms: Option<f64>,
    /// `--timeout`, when given (CloudWatch holds no function's timeout).
    pub timeout_ms: Option<f64>,
    pub p99_of_timeout_percent: Option<f64>,
    /// lambda-lens `ColdStarts`.
    #[serde(serialize_with = "crate::render::json::count")]
    pub cold_starts: Option<f64>,
    /// Cold starts ÷ `AWS/Lambda` `Invocations` × 100.
    pub cold_start_percent: Option<f64>,
    /// lambda-lens `InitDuration` p90.
    pub init_p90_ms: Option<f64>,
    /// lambda-lens `MaxMemoryUsed` maximum.
    pub max_memory_used_mb: Option<f64>,
    /// The memory size (from `MaxMemoryUsed` ÷ `MemoryUtilization`, as the single report
    /// derives it).
    pub memory_size_mb: Option<f64>,
    pub memory_used_percent: Option<f64>,
    /// US dollars for the window.
    pub cost_usd: Option<f64>,
    /// `costUsd` at the window's rate over 30 days.
    pub monthly_cost_usd: Option<f64>,
    /// The single report's recommendation (`recommendation.costChangeUsd` is for the window).
    pub recommendation: Option<Recommendation>,
    /// The recommendation's cost change over 30 days (negative: a saving).
    pub monthly_cost_change_usd: Option<f64>,
    /// The attention score `--sort attention` ranks by (see docs/report.md).
    pub attention: f64,
    /// Why the row needs attention, most pressing first.
    pub reasons: Vec<String>,
    /// With `--compare-to`: the previous window's figures and what moved.
    pub change: Option<Change>,
}

/// What moved between the previous window and this one.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// `false` when the function had no data in the previous window (a new function).
    pub seen_before: bool,
    #[serde(serialize_with = "crate::render::json::count")]
    pub previous_invocations: Option<f64>,
    #[serde(serialize_with = "crate::render::json::count")]
    pub previous_errors: Option<f64>,
    pub previous_error_rate_percent: Option<f64>,
    pub previous_p99_duration_ms: Option<f64>,
    pub previous_monthly_cost_usd: Option<f64>,
    /// Each a sentence: new errors, new timeouts or out-of-memory kills, a p99 that doubled, a
    /// cost that grew by half or more, a cold-start share that doubled.
    pub moved: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub functions: usize,
    #[serde(serialize_with = "crate::render::json::whole")]
    pub invocations: f64,
    #[serde(serialize_with = "crate::render::json::whole")]
    pub errors: f64,
    #[serde(serialize_with = "crate::render::json::whole")]
    pub timeouts: f64,
    #[serde(serialize_with = "crate::render::json::whole")]
    pub out_of_memory: f64,
    pub cost_usd: f64,
    pub monthly_cost_usd: f64,
    /// The sum of the recommendations' monthly savings (decreases only), a positive figure.
    pub monthly_saving_usd: f64,
    /// The sum of the recommendations' monthly extra cost (increases only), a positive figure.
    pub monthly_extra_cost_usd: f64,
    /// Functions whose cost is unknown (not in `costUsd`).
    pub functions_without_cost: usize,
    /// With `--compare-to`: the previous window's monthly cost of the same functions.
    pub previous_monthly_cost_usd: Option<f64>,
}
