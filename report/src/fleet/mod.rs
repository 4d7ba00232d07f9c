//! `lambda-lens-report --all`: every function with lambda-lens data in a window, one row each
//! (the single report's figures and recommendation, by calling [`crate::assemble::assemble`]),
//! ranked, with the fleet's totals and, with `--compare-to`, what moved since the previous
//! window.
//!
//! ```text
//! ListMetrics ──names──▶ (GetResources: --tag) ──▶ GetMetricData ×⌈N/41⌉ ──▶ rows ──▶ rank ──▶ table | JSON
//! ```

pub mod model;
pub mod rank;
pub mod read;
pub mod table;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::assemble::{Options, assemble};
use crate::error::ReportError;
use crate::model::{SourceInfo, WindowInfo};
use crate::observe::{Ns, Observations, Window};
use crate::source::cloudwatch::CloudWatch;
use crate::stats::Stat::P;

pub use model::{Change, FleetReport, Row, SCHEMA, Selection, Totals};
pub use rank::SortKey;
pub use read::Filter;

/// Seconds in the month the monthly figures are scaled to (30 days).
pub const MONTH_SECONDS: f64 = 30.0 * 86_400.0;

/// What `--all` was asked for, beyond the window and the source.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub filter: Filter,
    pub sort: SortKey,
    /// `--compare-to`: the length of the previous window, in seconds.
    pub compare_seconds: Option<i64>,
    /// `--timeout`, for every function (CloudWatch holds no function's timeout).
    pub timeout_ms: Option<f64>,
    pub headroom_percent: f64,
    pub arm64: bool,
}

fn window_info(w: &Window) -> WindowInfo {
    WindowInfo {
        start: w.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        end: w.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        period_seconds: w.seconds(),
    }
}

/// The fleet report from CloudWatch.
pub async fn fleet(
    cw: &CloudWatch,
    window: Window,
    opts: &FleetOptions,
    now: DateTime<Utc>,
) -> Result<FleetReport, ReportError> {
    let mut reader = read::Reader::new(cw).await?;
    // Named functions are read as named: no listing to find them.
    let mut names = if opts.filter.functions.is_empty() {
        reader.discover(&window, now).await?
    } else {
        opts.filter.functions.iter().cloned().collect()
    };
    names.retain(|n| opts.filter.keeps(n));
    if !opts.filter.tags.is_empty() {
        let tagged = reader.tagged(&opts.filter.tags).await?;
        names.retain(|n| tagged.contains(n));
    }
    let names: Vec<String> = names.into_iter().collect();
    let (mut current, mut notes) = reader.read(&names, &window, now).await?;
    // A row is a function with lambda-lens data in the window: one with only AWS/Lambda's (the
    // layer detached, or lambda-lens data older than the window) is not one.
    current.retain(|_, obs| obs.lens_data);
    let source = SourceInfo {
        kind: "cloudwatch",
        region: Some(reader.region().to_owned()),
        namespace: cw.namespace.clone(),
        files: Vec::new(),
    };
    let mut rows: Vec<Row> = current
        .iter()
        .map(|(name, obs)| row(name, obs, &window, &source, opts))
        .collect();
    for (name, obs) in &current {
        if obs.lambda_data != Some(true) {
            notes.push(stand_in_note(name, obs, &cw.namespace));
        }
    }
    let mut previous_window = None;
    let mut previous_cost = None;
    if let Some(secs) = opts.compare_seconds {
        let before = Window {
            start: window.start - chrono::Duration::seconds(secs),
            end: window.start,
        };
        let present: Vec<String> = current.keys().cloned().collect();
        let (earlier, earlier_notes) = reader.read(&present, &before, now).await?;
        notes.extend(earlier_notes.into_iter().map(|n| format!("previous window: {n}")));
        let earlier_rows: BTreeMap<&String, Row> = earlier
            .iter()
            .map(|(name, obs)| (name, row(name, obs, &before, &source, opts)))
            .collect();
        previous_cost = Some(earlier_rows.values().filter_map(|r| r.monthly_cost_usd).sum());
        for r in &mut rows {
            r.change = Some(rank::change(r, earlier_rows.get(&r.function)));
        }
        previous_window = Some(window_info(&before));
    }
    if rows.is_empty() {
        let mut what = Vec::new();
        if !opts.filter.functions.is_empty() {
            what.push(format!("among {}", opts.filter.functions.join(", ")));
        }
        if let Some(p) = &opts.filter.prefix {
            what.push(format!("with the prefix {p}"));
        }
        for (k, v) in &opts.filter.tags {
            what.push(format!("tagged {k}={v}"));
        }
        return Err(ReportError::NoFleet {
            what: what.join(" "),
            start: window.start.to_rfc3339(),
            end: window.end.to_rfc3339(),
            where_: format!("CloudWatch ({}: {})", reader.region(), cw.namespace),
        });
    }
    for r in &mut rows {
        rank::score(r);
    }
    rank::sort(&mut rows, opts.sort);
    let mut totals = rank::totals(&rows);
    totals.previous_monthly_cost_usd = previous_cost;
    notes.extend(
        opts.filter
            .functions
            .iter()
            .filter(|f| !current.contains_key(*f))
            .map(|f| format!("{f}: no lambda-lens data in the window (not attached, another region or namespace, or a typo)")),
    );
    Ok(FleetReport {
        schema: SCHEMA,
        region: reader.region().to_owned(),
        namespace: cw.namespace.clone(),
        window: window_info(&window),
        previous_window,
        selection: Selection {
            functions: opts.filter.functions.clone(),
            prefix: opts.filter.prefix.clone(),
            tags: opts.filter.tags.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        },
        sort: opts.sort.name(),
        rows,
        totals,
        requests: reader.sender.requests,
        notes,
    })
}

/// One function's row: the single report's figures (assembled by the same code) and the
/// monthly figures at the window's rate.
pub fn row(name: &str, obs: &Observations, window: &Window, source: &SourceInfo, opts: &FleetOptions) -> Row {
    let options = Options {
        function: name.to_owned(),
        timeout_ms: opts.timeout_ms,
        memory_mb: None,
        headroom_percent: opts.headroom_percent,
        arm64: opts.arm64,
    };
    let report = assemble(obs, window, source.clone(), &options);
    let month = MONTH_SECONDS / window.seconds() as f64;
    let cold_starts = report.init.cold_starts;
    // Of AWS/Lambda Invocations; without them, of lambda-lens's stand-in (noted).
    let cold_start_percent = report.init.cold_start_rate_percent;
    Row {
        function: name.to_owned(),
        invocations: report.invocations,
        errors: report.errors.errors,
        error_rate_percent: report.errors.error_rate_percent,
        timeouts: report.errors.timeouts,
        out_of_memory: report.errors.out_of_memory,
        p99_duration_ms: report.duration.p99_ms,
        timeout_ms: report.duration.timeout_ms,
        p99_of_timeout_percent: report.duration.p99_of_timeout_percent,
        cold_starts,
        cold_start_percent,
        init_p90_ms: obs.get(Ns::Lens, "InitDuration", P(90)),
        max_memory_used_mb: report.memory.max_used_max_mb,
        memory_size_mb: report.memory.size_mb,
        memory_used_percent: report.memory.utilization_max_percent,
        cost_usd: report.cost.estimated_usd,
        monthly_cost_usd: report.cost.estimated_usd.map(|c| c * month),
        monthly_cost_change_usd: report
            .recommendation
            .as_ref()
            .and_then(|r| r.cost_change_usd)
            .map(|c| c * month),
        recommendation: report.recommendation,
        attention: 0.0,
        reasons: Vec::new(),
        change: None,
    }
}

/// What stands in for `AWS/Lambda`'s figures of a function it has no data for.
fn stand_in_note(name: &str, obs: &Observations, namespace: &str) -> String {
    use crate::stats::Stat::{Maximum, SampleCount, Sum};
    let has = |metric, stat| obs.get(Ns::Lens, metric, stat).is_some();
    let invocations = if has("Invocations", Sum) {
        format!("{namespace} Invocations")
    } else if has("ColdStarts", SampleCount) {
        format!("the invocations lambda-lens reported ({namespace} ColdStarts samples)")
    } else {
        "none".to_owned()
    };
    let errors = if has("Errors", Sum) {
        format!("{namespace} Errors + Timeouts")
    } else {
        format!("none ({namespace} Errors is a log property unless LAMBDA_LENS_METRICS selects it)")
    };
    let duration = if has("Duration", Maximum) {
        format!("{namespace} Duration")
    } else {
        format!("none ({namespace} Duration is a log property unless LAMBDA_LENS_METRICS selects it)")
    };
    format!(
        "{name}: AWS/Lambda has no data for it in the window, so lambda-lens's own figures stand in (invocations \
         it did not report are not counted): invocations and the cold-start share's denominator: {invocations}; \
         errors: {errors}; duration: {duration}"
    )
}
