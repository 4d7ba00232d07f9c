//! From what a source observed to the report: picks each figure from the namespace that has it
//! (`AWS/Lambda` first where Lambda publishes it, lambda-lens otherwise), derives the rates, the
//! cost and the recommendation, and says why each missing figure is missing.

use crate::model::{
    Cost, Duration, Errors, Init, Memory, PostRuntime, Report, SCHEMA, Scaling, Series, SnapStart,
    SourceInfo, Unanswered, WindowInfo,
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

pub fn assemble(obs: &Observations, window: &Window, source: SourceInfo, opts: &Options) -> Report {
    let mut missing = Missing {
        obs,
        source: &source,
        function: &opts.function,
        list: Vec::new(),
    };
    let lens = |m, s| obs.get(Ns::Lens, m, s);
    let lambda = |m, s| obs.get(Ns::Lambda, m, s);

    // Invocations: Lambda's count, else the invocations lambda-lens saw (ColdStarts is 0 or 1 on
    // every invocation, so its sample count is theirs).
    let invocations = lambda("Invocations", Sum)
        .or_else(|| lens("Invocations", Sum))
        .or_else(|| lens("ColdStarts", SampleCount));
    if invocations.is_none() {
        let why = missing.why(Ns::Lambda, "Invocations");
        missing.add("invocations", why);
    }

    let lens_failed = lens("Errors", Sum).map(|e| e + lens("Timeouts", Sum).unwrap_or(0.0));
    let errors_total = lambda("Errors", Sum).or(lens_failed);
    let errors = Errors {
        errors: errors_total,
        timeouts: lens("Timeouts", Sum),
        out_of_memory: lens("OutOfMemory", Sum),
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

    let duration_ns = first(obs, "Duration", Maximum).map(|(_, ns)| ns);
    let d = |s| duration_ns.and_then(|ns| obs.get(ns, "Duration", s));
    let mut duration = Duration {
        p50_ms: d(P(50)),
        p90_ms: d(P(90)),
        p99_ms: d(P(99)),
        max_ms: d(Maximum),
        timeout_ms: opts.timeout_ms,
        metric: duration_ns.map(|ns| label(ns, "Duration", &source)),
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

    let cold_starts = lens("ColdStarts", Sum);
    let init = Init {
        cold_starts,
        cold_start_rate_percent: ratio(cold_starts, lens("ColdStarts", SampleCount).or(invocations)),
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

    let snap_start = SnapStart {
        restores: lens("RestoreDuration", SampleCount),
        restore_p50_ms: lens("RestoreDuration", P(50)),
        restore_max_ms: lens("RestoreDuration", Maximum),
    };
    if snap_start.restores.is_none() {
        let why = missing.why(Ns::Lens, "RestoreDuration");
        missing.add("SnapStart restore duration", why);
    }

    let scaling = Scaling {
        throttles: lambda("Throttles", Sum),
        peak_concurrent_executions: lambda("ConcurrentExecutions", Maximum),
        iterator_age_max_ms: lambda("IteratorAge", Maximum),
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

    let post_runtime = match lambda("PostRuntimeExtensionsDuration", Average) {
        Some(avg) => PostRuntime {
            average_ms: Some(avg),
            p99_ms: lambda("PostRuntimeExtensionsDuration", P(99)),
            max_ms: lambda("PostRuntimeExtensionsDuration", Maximum),
            metric: Some(label(Ns::Lambda, "PostRuntimeExtensionsDuration", &source)),
        },
        None => PostRuntime {
            average_ms: lens("PostRuntimeDuration", Average),
            p99_ms: lens("PostRuntimeDuration", P(99)),
            max_ms: lens("PostRuntimeDuration", Maximum),
            metric: lens("PostRuntimeDuration", Average)
                .map(|_| label(Ns::Lens, "PostRuntimeDuration", &source)),
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

    let cost = estimate_cost(obs, invocations, size, opts, &source);
    if cost.estimated_usd.is_none() {
        let why = missing.why(Ns::Lens, "EstimatedCost");
        missing.add("estimated cost", why);
    }

    let recommendation = match (size, used_max) {
        (Some(size_mb), Some(peak_mb)) => Some(recommend::recommend(
            &Observed {
                size_mb,
                peak_mb,
                out_of_memory: errors.out_of_memory.unwrap_or(0.0),
                invocations,
                estimated_cost_usd: cost.estimated_usd,
                p99_of_timeout_percent: duration.p99_of_timeout_percent,
            },
            opts.headroom_percent,
        )),
        _ => {
            missing.add(
                "memory recommendation",
                "it needs the memory size and the observed peak (lambda-lens MaxMemoryUsed)".into(),
            );
            None
        }
    };

    let notes = obs
        .coverage
        .iter()
        .map(|c| {
            format!(
                "{} is from {:.0} of {:.0} invocations: the others are in aggregated EMF documents, which carry \
                 only the selected metrics (LAMBDA_LENS_METRICS)",
                c.metric, c.invocations_with_value, c.invocations
            )
        })
        .collect();

    Report {
        schema: SCHEMA,
        function: opts.function.clone(),
        window: WindowInfo {
            start: window.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            end: window.end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            period_seconds: obs.period_seconds,
        },
        series: series(obs, &source),
        unanswered: missing.list,
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
