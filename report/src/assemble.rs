//! From what a source observed to the report: picks each figure from the namespace that has it
//! (`AWS/Lambda` first where Lambda publishes it, lambda-lens otherwise), derives the rates, the
//! cost and the recommendation, and says why each missing figure is missing.

use crate::model::{
    Cost, Duration, Errors, Init, Memory, PostRuntime, Recommendation, Report, SCHEMA, Scaling, Series,
    SnapStart, SourceInfo, Unanswered, WindowInfo,
};
use crate::observe::{Ns, Observations, Window};
use crate::recommend::{self, Observed};
use crate::stats::Stat::{self, Average, Maximum, P, SampleCount, Sum};

/// Lambda's duration price, US dollars per GB-second (us-east-1 list prices, 2026-11), used only
/// when lambda-lens's `EstimatedCost` is not there.
pub const PRICE_PER_GB_SECOND_X86_64: f64 = 0.000_016_666_7;
pub const PRICE_PER_GB_SECOND_ARM64: f64 = 0.000_013_333_4;

/// What the user told the report beyond the source.
#[derive(Debug, Clone)]
pub struct Options {
    pub function: String,
    /// The function's configured timeout (CloudWatch does not hold it).
    pub timeout_ms: Option<f64>,
    /// The memory size, when the user states it.
    pub memory_mb: Option<f64>,
    pub headroom_percent: f64,
    /// `true` for arm64 prices in the cost fallback.
    pub arm64: bool,
}

struct Missing<'a> {
    obs: &'a Observations,
    source: &'a SourceInfo,
    function: &'a str,
    list: Vec<Unanswered>,
}

impl Missing<'_> {
    fn add(&mut self, question: &str, reason: String) {
        self.list.push(Unanswered {
            question: question.to_owned(),
            reason,
        });
    }

    /// Why `metric` of `ns` has no value.
    fn why(&self, ns: Ns, metric: &str) -> String {
        let f = self.function;
        match (ns, self.obs.lambda_data) {
            (Ns::Lambda, None) => format!(
                "Lambda publishes {metric} in AWS/Lambda only; EMF files hold what lambda-lens measured inside \
                 the execution environment, which cannot see it (make the report from CloudWatch)"
            ),
            (Ns::Lambda, Some(false)) => {
                format!("AWS/Lambda has no data for {f} in the window, so {metric} is not there either")
            }
            (Ns::Lambda, Some(true)) => match metric {
                "IteratorAge" => {
                    "not published for this function: Lambda publishes IteratorAge only for stream \
                                  event sources (Kinesis, DynamoDB Streams)"
                        .into()
                }
                "Throttles" => "no Throttles data points in the window".into(),
                "PostRuntimeExtensionsDuration" => {
                    "no PostRuntimeExtensionsDuration in the window (Lambda publishes it only for functions \
                     with extensions)"
                        .into()
                }
                _ => format!("no {metric} data points in AWS/Lambda in the window"),
            },
            (Ns::Lens, _) if !self.obs.lens_data => match self.source.kind {
                "emf" => format!("the EMF files hold no lambda-lens invocation metric for {f}"),
                _ => format!(
                    "lambda-lens's namespace {} has no data for {f} in the window: is the layer attached, and \
                     is LAMBDA_LENS_NAMESPACE {}?",
                    self.source.namespace, self.source.namespace
                ),
            },
            (Ns::Lens, _) => match metric {
                "RestoreDuration" => "no SnapStart restore in the window (not a SnapStart function?)".into(),
                _ => format!(
                    "no lambda-lens {metric} in the window: switched off (LAMBDA_LENS_METRICS) or not \
                     published by this function"
                ),
            },
        }
    }
}

fn first(obs: &Observations, metric: &'static str, stat: Stat) -> Option<(f64, Ns)> {
    obs.get(Ns::Lambda, metric, stat)
        .map(|v| (v, Ns::Lambda))
        .or_else(|| obs.get(Ns::Lens, metric, stat).map(|v| (v, Ns::Lens)))
}

/// A count read from CloudWatch or EMF: whole. A sum of statistics can carry a float's error
/// (12.000000000000002), which must not reach the output.
fn count(v: Option<f64>) -> Option<f64> {
    v.map(f64::round)
}

fn ratio(part: Option<f64>, whole: Option<f64>) -> Option<f64> {
    match (part, whole) {
        (Some(p), Some(w)) if w > 0.0 => Some(p / w * 100.0),
        _ => None,
    }
}

fn label(ns: Ns, metric: &str, source: &SourceInfo) -> String {
    match ns {
        Ns::Lambda => format!("AWS/Lambda {metric}"),
        Ns::Lens => format!("{} {metric}", source.namespace),
    }
}

/// The report for `obs`: each figure from the namespace that has it, the rates, the cost and
/// the recommendation derived from them, and why each missing figure is missing (in the order
/// of the sections below).
pub fn assemble(obs: &Observations, window: &Window, source: SourceInfo, opts: &Options) -> Report {
    let mut missing = Missing {
        obs,
        source: &source,
        function: &opts.function,
        list: Vec::new(),
    };
    let invocations = invocations(obs, &mut missing);
    let errors = errors(obs, invocations, &mut missing);
    let duration = duration(obs, opts, &mut missing);
    let memory = memory(obs, opts, &mut missing);
    let init = init(obs, invocations, &mut missing);
    let snap_start = snap_start(obs, &mut missing);
    let scaling = scaling(obs, &mut missing);
    let post_runtime = post_runtime(obs, &mut missing);
    let cost = estimate_cost(obs, invocations, memory.size_mb, opts, missing.source);
    if cost.estimated_usd.is_none() {
        let why = missing.why(Ns::Lens, "EstimatedCost");
        missing.add("estimated cost", why);
    }
    let observed = memory
        .size_mb
        .zip(memory.max_used_max_mb)
        .map(|(size_mb, peak_mb)| Observed {
            size_mb,
            peak_mb,
            out_of_memory: errors.out_of_memory.unwrap_or(0.0),
            invocations,
            estimated_cost_usd: cost.estimated_usd,
            p99_of_timeout_percent: duration.p99_of_timeout_percent,
        });
    let recommendation = recommendation(observed, opts.headroom_percent, &mut missing);
    let unanswered = missing.list;
    let notes = notes(obs, init_denominator_note(obs, &init, &source));
    Report {
        schema: SCHEMA,
        function: opts.function.clone(),
        window: WindowInfo {
            start: window.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            end: window.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            period_seconds: obs.period_seconds,
        },
        series: series(obs, &source),
        unanswered,
        source,
        invocations,
        errors,
        duration,
        memory,
        init,
        snap_start,
        scaling,
        post_runtime,
        cost,
        recommendation,
        notes,
    }
}

/// What stands in for `AWS/Lambda` `Invocations` as the cold-start share's denominator, when it
/// is not there; `None` when it is (or when there is no share).
fn init_denominator_note(obs: &Observations, init: &Init, source: &SourceInfo) -> Option<String> {
    init.cold_start_rate_percent?;
    if obs.get(Ns::Lambda, "Invocations", Sum).is_some() {
        return None;
    }
    let why = match obs.lambda_data {
        None => "EMF files do not hold AWS/Lambda",
        Some(_) => "AWS/Lambda has no Invocations for the function in the window",
    };
    let stand_in = if obs.get(Ns::Lens, "Invocations", Sum).is_some() {
        format!("{} Invocations", source.namespace)
    } else {
        format!(
            "the invocations lambda-lens reported ({} ColdStarts samples)",
            source.namespace
        )
    };
    Some(format!(
        "the cold-start share is of {stand_in}, not of AWS/Lambda Invocations ({why}): invocations without \
         lambda-lens's report are not counted"
    ))
}

/// Invocations: Lambda's count, else the invocations lambda-lens saw (ColdStarts is 0 or 1 on
/// every invocation, so its sample count is theirs).
fn invocations(obs: &Observations, missing: &mut Missing<'_>) -> Option<f64> {
    let invocations = count(
        obs.get(Ns::Lambda, "Invocations", Sum)
            .or_else(|| obs.get(Ns::Lens, "Invocations", Sum))
            .or_else(|| obs.get(Ns::Lens, "ColdStarts", SampleCount)),
    );
    if invocations.is_none() {
        let why = missing.why(Ns::Lambda, "Invocations");
        missing.add("invocations", why);
    }
    invocations
}

/// Errors (Lambda's, else lambda-lens's errors and timeouts), timeouts, out-of-memory kills and
/// the error rate.
fn errors(obs: &Observations, invocations: Option<f64>, missing: &mut Missing<'_>) -> Errors {
    let lens = |m, s| obs.get(Ns::Lens, m, s);
    let lens_failed = lens("Errors", Sum).map(|e| e + lens("Timeouts", Sum).unwrap_or(0.0));
    let errors_total = count(obs.get(Ns::Lambda, "Errors", Sum).or(lens_failed));
    let errors = Errors {
        errors: errors_total,
        timeouts: count(lens("Timeouts", Sum)),
        out_of_memory: count(lens("OutOfMemory", Sum)),
        error_rate_percent: ratio(errors_total, invocations),
    };
    if errors.errors.is_none() {
        let why = missing.why(Ns::Lambda, "Errors");
        missing.add("errors and error rate", why);
    }
    for (q, m, v) in [
        ("timeouts", "Timeouts", errors.timeouts),
        ("out-of-memory kills", "OutOfMemory", errors.out_of_memory),
    ] {
        if v.is_none() {
            let why = missing.why(Ns::Lens, m);
            missing.add(q, why);
        }
    }
    errors
}

/// The duration's percentiles from the namespace that has it, and how close they come to the
/// configured timeout.
fn duration(obs: &Observations, opts: &Options, missing: &mut Missing<'_>) -> Duration {
    let duration_ns = first(obs, "Duration", Maximum).map(|(_, ns)| ns);
    let d = |s| duration_ns.and_then(|ns| obs.get(ns, "Duration", s));
    let mut duration = Duration {
        p50_ms: d(P(50)),
        p90_ms: d(P(90)),
        p99_ms: d(P(99)),
        max_ms: d(Maximum),
        timeout_ms: opts.timeout_ms,
        metric: duration_ns.map(|ns| label(ns, "Duration", missing.source)),
        ..Duration::default()
    };
    duration.p99_of_timeout_percent = ratio(duration.p99_ms, duration.timeout_ms);
    duration.max_of_timeout_percent = ratio(duration.max_ms, duration.timeout_ms);
    if duration.max_ms.is_none() {
        let why = missing.why(Ns::Lambda, "Duration");
        missing.add("duration", why);
    }
    if duration.timeout_ms.is_none() {
        missing.add(
            "duration against the timeout",
            "the configured timeout is in neither CloudWatch nor the EMF: pass --timeout (e.g. --timeout 30s)".into(),
        );
    }
    duration
}

/// The memory size (the user's, lambda-lens's, the source's, else derived) and the peaks and
/// utilisation lambda-lens measured.
fn memory(obs: &Observations, opts: &Options, missing: &mut Missing<'_>) -> Memory {
    let lens = |m, s| obs.get(Ns::Lens, m, s);
    let used_max = lens("MaxMemoryUsed", Maximum);
    let util_max = lens("MemoryUtilization", Maximum);
    let size = opts
        .memory_mb
        .or_else(|| lens("MemorySize", Maximum))
        .or(obs.memory_size_mb)
        .or_else(|| match (used_max, util_max) {
            // With one memory size in the window, the invocation with the highest use has the
            // highest utilisation too: size = used ÷ utilisation.
            (Some(u), Some(p)) if p > 0.0 => Some((u / p * 100.0).round()),
            _ => None,
        });
    let memory = Memory {
        size_mb: size,
        max_used_p99_mb: lens("MaxMemoryUsed", P(99)),
        max_used_max_mb: used_max,
        utilization_p99_percent: lens("MemoryUtilization", P(99))
            .or_else(|| ratio(lens("MaxMemoryUsed", P(99)), size)),
        utilization_max_percent: util_max.or_else(|| ratio(used_max, size)),
    };
    if memory.max_used_max_mb.is_none() {
        let why = missing.why(Ns::Lens, "MaxMemoryUsed");
        missing.add("max memory used and utilisation", why);
    }
    if memory.size_mb.is_none() {
        missing.add(
            "memory size",
            "neither MemorySize nor MaxMemoryUsed with MemoryUtilization is there: pass --memory MB".into(),
        );
    }
    memory
}

/// Cold starts, their share of the invocations and the init duration. The share's denominator
/// is the report's invocations: `AWS/Lambda` `Invocations` where CloudWatch has it, not the
/// number of `ColdStarts` samples (which counts only what lambda-lens saw and reported).
fn init(obs: &Observations, invocations: Option<f64>, missing: &mut Missing<'_>) -> Init {
    let lens = |m, s| obs.get(Ns::Lens, m, s);
    let cold_starts = count(lens("ColdStarts", Sum));
    let init = Init {
        cold_starts,
        cold_start_rate_percent: ratio(cold_starts, invocations),
        init_p50_ms: lens("InitDuration", P(50)),
        init_p99_ms: lens("InitDuration", P(99)),
    };
    if cold_starts.is_none() {
        let why = missing.why(Ns::Lens, "ColdStarts");
        missing.add("cold starts and cold-start rate", why);
    }
    if init.init_p50_ms.is_none() {
        let why = if cold_starts == Some(0.0) {
            "no cold start in the window".to_owned()
        } else {
            missing.why(Ns::Lens, "InitDuration")
        };
        missing.add("init duration", why);
    }
    init
}

/// SnapStart's restores and their duration.
fn snap_start(obs: &Observations, missing: &mut Missing<'_>) -> SnapStart {
    let snap_start = SnapStart {
        restores: count(obs.get(Ns::Lens, "RestoreDuration", SampleCount)),
        restore_p50_ms: obs.get(Ns::Lens, "RestoreDuration", P(50)),
        restore_max_ms: obs.get(Ns::Lens, "RestoreDuration", Maximum),
    };
    if snap_start.restores.is_none() {
        let why = missing.why(Ns::Lens, "RestoreDuration");
        missing.add("SnapStart restore duration", why);
    }
    snap_start
}

/// What only Lambda publishes of the function's scaling: throttles, peak concurrency, iterator
/// age.
fn scaling(obs: &Observations, missing: &mut Missing<'_>) -> Scaling {
    let scaling = Scaling {
        throttles: count(obs.get(Ns::Lambda, "Throttles", Sum)),
        peak_concurrent_executions: count(obs.get(Ns::Lambda, "ConcurrentExecutions", Maximum)),
        iterator_age_max_ms: obs.get(Ns::Lambda, "IteratorAge", Maximum),
    };
    for (q, m, v) in [
        ("throttles", "Throttles", scaling.throttles),
        (
            "peak concurrent executions",
            "ConcurrentExecutions",
            scaling.peak_concurrent_executions,
        ),
        ("iterator age", "IteratorAge", scaling.iterator_age_max_ms),
    ] {
        if v.is_none() {
            let why = missing.why(Ns::Lambda, m);
            missing.add(q, why);
        }
    }
    scaling
}

/// What extensions cost each invocation after the runtime's response: Lambda's
/// PostRuntimeExtensionsDuration, else lambda-lens's PostRuntimeDuration.
fn post_runtime(obs: &Observations, missing: &mut Missing<'_>) -> PostRuntime {
    let lens = |m, s| obs.get(Ns::Lens, m, s);
    let lambda = |m, s| obs.get(Ns::Lambda, m, s);
    let post_runtime = match lambda("PostRuntimeExtensionsDuration", Average) {
        Some(avg) => PostRuntime {
            average_ms: Some(avg),
            p99_ms: lambda("PostRuntimeExtensionsDuration", P(99)),
            max_ms: lambda("PostRuntimeExtensionsDuration", Maximum),
            metric: Some(label(Ns::Lambda, "PostRuntimeExtensionsDuration", missing.source)),
        },
        None => PostRuntime {
            average_ms: lens("PostRuntimeDuration", Average),
            p99_ms: lens("PostRuntimeDuration", P(99)),
            max_ms: lens("PostRuntimeDuration", Maximum),
            metric: lens("PostRuntimeDuration", Average)
                .map(|_| label(Ns::Lens, "PostRuntimeDuration", missing.source)),
        },
    };
    if post_runtime.average_ms.is_none() {
        let why = match obs.lambda_data {
            Some(true) => missing.why(Ns::Lambda, "PostRuntimeExtensionsDuration"),
            _ => missing.why(Ns::Lens, "PostRuntimeDuration"),
        };
        missing.add(
            "post-runtime duration (what extensions cost each invocation)",
            why,
        );
    }
    post_runtime
}

/// The memory recommendation; none without the memory size and the observed peak.
fn recommendation(
    observed: Option<Observed>,
    headroom_percent: f64,
    missing: &mut Missing<'_>,
) -> Option<Recommendation> {
    let recommendation = observed.map(|o| recommend::recommend(&o, headroom_percent));
    if recommendation.is_none() {
        missing.add(
            "memory recommendation",
            "it needs the memory size and the observed peak (lambda-lens MaxMemoryUsed)".into(),
        );
    }
    recommendation
}

/// A note for each metric read from only some invocations (the others in aggregated EMF
/// documents).
fn notes(obs: &Observations, init: Option<String>) -> Vec<String> {
    obs.coverage
        .iter()
        .map(|c| {
            format!(
                "{} is from {:.0} of {:.0} invocations: the others are in aggregated EMF documents, which carry \
                 only the selected metrics (LAMBDA_LENS_METRICS)",
                c.metric, c.invocations_with_value, c.invocations
            )
        })
        .chain(init)
        .chain(obs.notes.iter().cloned())
        .collect()
}

fn estimate_cost(
    obs: &Observations,
    invocations: Option<f64>,
    size: Option<f64>,
    opts: &Options,
    source: &SourceInfo,
) -> Cost {
    let per_million = |usd: f64| invocations.filter(|&n| n > 0.0).map(|n| usd / n * 1e6);
    if let Some(usd) = obs.get(Ns::Lens, "EstimatedCost", Sum) {
        return Cost {
            estimated_usd: Some(usd),
            per_million_invocations_usd: per_million(usd),
            basis: Some(format!(
                "{} EstimatedCost: billed duration × memory × the region's list price, plus requests",
                source.namespace
            )),
        };
    }
    match (first(obs, "Duration", Sum), size, invocations) {
        (Some((ms, _)), Some(mb), Some(n)) => {
            let (price, arch) = if opts.arm64 {
                (PRICE_PER_GB_SECOND_ARM64, "arm64")
            } else {
                (PRICE_PER_GB_SECOND_X86_64, "x86_64")
            };
            let usd = ms / 1000.0 * mb / 1024.0 * price + n * recommend::PRICE_PER_REQUEST_USD;
            Cost {
                estimated_usd: Some(usd),
                per_million_invocations_usd: per_million(usd),
                basis: Some(format!(
                    "duration × memory × the {arch} us-east-1 list price (2026-11), plus requests \
                     (lambda-lens EstimatedCost is not there)"
                )),
            }
        }
        _ => Cost::default(),
    }
}

fn series(obs: &Observations, source: &SourceInfo) -> Vec<Series> {
    let mut out = Vec::new();
    let mut push = |chart, name: String, unit, points: Vec<(i64, f64)>| {
        if !points.is_empty() {
            out.push(Series {
                chart,
                name,
                unit,
                points,
            });
        }
    };
    let pick = |metric: &'static str, stat: Stat| {
        let lambda = obs.series(Ns::Lambda, metric, stat);
        if lambda.is_empty() {
            (Ns::Lens, obs.series(Ns::Lens, metric, stat).to_vec())
        } else {
            (Ns::Lambda, lambda.to_vec())
        }
    };
    let (ns, inv) = pick("Invocations", Sum);
    push("invocations", label(ns, "Invocations", source), "Count", inv);
    let lambda_errors = obs.series(Ns::Lambda, "Errors", Sum);
    if lambda_errors.is_empty() {
        // lambda-lens counts timeouts apart from errors; add them, as AWS/Lambda does.
        let mut merged: std::collections::BTreeMap<i64, f64> = std::collections::BTreeMap::new();
        for &(t, v) in obs
            .series(Ns::Lens, "Errors", Sum)
            .iter()
            .chain(obs.series(Ns::Lens, "Timeouts", Sum))
        {
            *merged.entry(t).or_default() += v;
        }
        push(
            "invocations",
            format!("{} Errors + Timeouts", source.namespace),
            "Count",
            merged.into_iter().collect(),
        );
    } else {
        push(
            "invocations",
            "AWS/Lambda Errors".into(),
            "Count",
            lambda_errors.to_vec(),
        );
    }
    for (stat, name) in [(P(50), "p50"), (P(90), "p90"), (P(99), "p99"), (Maximum, "max")] {
        let (ns, points) = pick("Duration", stat);
        push(
            "duration",
            format!("{} {name}", label(ns, "Duration", source)),
            "Milliseconds",
            points,
        );
    }
    for (stat, name) in [(P(99), "p99"), (Maximum, "max")] {
        push(
            "memory",
            format!("{} {name}", label(Ns::Lens, "MaxMemoryUsed", source)),
            "Megabytes",
            obs.series(Ns::Lens, "MaxMemoryUsed", stat).to_vec(),
        );
    }
    push(
        "coldStarts",
        label(Ns::Lens, "ColdStarts", source),
        "Count",
        obs.series(Ns::Lens, "ColdStarts", Sum).to_vec(),
    );
    push(
        "scaling",
        "AWS/Lambda Throttles".into(),
        "Count",
        obs.series(Ns::Lambda, "Throttles", Sum).to_vec(),
    );
    push(
        "scaling",
        "AWS/Lambda ConcurrentExecutions max".into(),
        "Count",
        obs.series(Ns::Lambda, "ConcurrentExecutions", Maximum).to_vec(),
    );
    out
}

#[cfg(test)]
mod tests;
