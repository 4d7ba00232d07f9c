//! The report from EMF files: the documents lambda-lens writes (one JSON object a line, as in
//! `target/demo/emf.jsonl` or lines exported from a log group), read as CloudWatch would read
//! them: a member is a number, an array of numbers, or `{"Values": [...], "Counts": [...]}`.
//! Documents of one invocation carry `Invocations` 1; the aggregated documents of the adaptive
//! and batched modes carry the number of invocations they hold and only the selected metrics.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::error::ReportError;
use crate::observe::{Coverage, Ns, Observations, SERIES, SUMMARY, Window, series_period};
use crate::stats::{self, Sample};

/// Metrics that every invocation carries when it is switched on (so a shortfall is worth a note).
const PER_INVOCATION: &[&str] = &[
    "Errors",
    "Timeouts",
    "OutOfMemory",
    "ColdStarts",
    "Duration",
    "PostRuntimeDuration",
    "MaxMemoryUsed",
    "MemoryUtilization",
    "EstimatedCost",
];

/// One lambda-lens document.
struct Doc {
    millis: i64,
    members: Map<String, Value>,
}

/// Reads the documents of the files; returns them by function name.
fn read(files: &[PathBuf]) -> Result<BTreeMap<String, Vec<Doc>>, ReportError> {
    let mut by_function: BTreeMap<String, Vec<Doc>> = BTreeMap::new();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|source| ReportError::Read {
            path: path.clone(),
            source,
        })?;
        for line in text.lines() {
            // A log export may carry other lines: only EMF documents count.
            let Ok(Value::Object(members)) = serde_json::from_str::<Value>(line.trim()) else {
                continue;
            };
            let Some(millis) = members
                .get("_aws")
                .and_then(|a| a.get("Timestamp"))
                .and_then(Value::as_f64)
            else {
                continue;
            };
            let Some(function) = members.get("FunctionName").and_then(Value::as_str) else {
                continue;
            };
            by_function.entry(function.to_owned()).or_default().push(Doc {
                #[allow(clippy::cast_possible_truncation, reason = "epoch milliseconds fit in i64")]
                millis: millis as i64,
                members,
            });
        }
    }
    Ok(by_function)
}

/// The samples of one member: a number, an array of numbers, or `Values`/`Counts`.
fn samples(value: &Value) -> Vec<Sample> {
    let one = |v: &Value| v.as_f64().map(|value| Sample { value, count: 1.0 });
    match value {
        Value::Number(_) => one(value).into_iter().collect(),
        Value::Array(items) => items.iter().filter_map(one).collect(),
        Value::Object(o) => {
            let values = o.get("Values").and_then(Value::as_array);
            let counts = o.get("Counts").and_then(Value::as_array);
            match values {
                Some(values) => values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| {
                        let count = counts.and_then(|c| c.get(i)).map_or(Some(1.0), Value::as_f64)?;
                        Some(Sample {
                            value: v.as_f64()?,
                            count,
                        })
                    })
                    .collect(),
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

fn weight(samples: &[Sample]) -> f64 {
    samples.iter().map(|s| s.count).sum()
}

fn time(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis).single().unwrap_or_default()
}

/// What the files say about `function` (or the only function they hold) in `window` (or the
/// span of its documents). Returns the observations, the window and the function's name.
pub fn observe(
    files: &[PathBuf],
    function: Option<&str>,
    window: Option<Window>,
) -> Result<(Observations, Window, String), ReportError> {
    let mut by_function = read(files)?;
    let found = by_function.keys().cloned().collect::<Vec<_>>().join(", ");
    if by_function.is_empty() {
        return Err(ReportError::NoEmf {
            files: files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let name = match function {
        Some(f) => f.to_owned(),
        None if by_function.len() == 1 => by_function.keys().next().cloned().unwrap_or_default(),
        None => return Err(ReportError::SeveralFunctions { found }),
    };
    let Some(docs) = by_function.remove(&name) else {
        return Err(ReportError::NoSuchFunctionInEmf {
            function: name,
            found,
        });
    };
    let window = window.unwrap_or_else(|| {
        let first = docs.iter().map(|d| d.millis).min().unwrap_or_default();
        let last = docs.iter().map(|d| d.millis).max().unwrap_or_default();
        Window {
            start: time(first.div_euclid(1000) * 1000),
            end: time((last.div_euclid(1000) + 1) * 1000),
        }
    });
    let period = series_period(&window, 1);
    let start_ms = window.start.timestamp_millis();
    let end_ms = window.end.timestamp_millis();

    let metrics: BTreeSet<&'static str> = SUMMARY
        .iter()
        .chain(SERIES)
        .filter(|k| k.ns == Ns::Lens)
        .map(|k| k.metric)
        .collect();
    // (metric, bucket) → samples, and metric → samples over the window.
    let mut all: BTreeMap<&'static str, Vec<Sample>> = BTreeMap::new();
    let mut buckets: BTreeMap<(&'static str, i64), Vec<Sample>> = BTreeMap::new();
    let mut invocations = 0.0;
    let mut memory_size_mb: Option<f64> = None;
    for doc in docs.iter().filter(|d| d.millis >= start_ms && d.millis < end_ms) {
        let m = &doc.members;
        // Invocations is 1 in a document of one invocation and the number held in an aggregate.
        let n = m
            .get("Invocations")
            .map_or(0.0, |v| samples(v).iter().map(|s| s.value * s.count).sum::<f64>());
        if n <= 0.0 {
            continue; // an environment document (init, shutdown, dropped telemetry)
        }
        invocations += n;
        let bucket = (doc.millis - start_ms) / 1000 / period;
        let adaptive_aggregate = !m.contains_key("RequestId") && !m.contains_key("RequestIds");
        if let Some(mb) = m.get("MemorySizeMB").and_then(Value::as_f64) {
            memory_size_mb = Some(memory_size_mb.map_or(mb, |x: f64| x.max(mb)));
        }
        for &metric in &metrics {
            let mut s = match metric {
                "Invocations" => vec![Sample { value: n, count: 1.0 }],
                _ => m.get(metric).map(samples).unwrap_or_default(),
            };
            // An adaptive aggregate holds only ordinary invocations: every failure has a
            // document of its own, so its invocations did not fail.
            if s.is_empty() && metric == "Errors" && adaptive_aggregate {
                s.push(Sample { value: 0.0, count: n });
            }
            if s.is_empty() {
                continue;
            }
            all.entry(metric).or_default().extend(&s);
            buckets.entry((metric, bucket)).or_default().extend(s);
        }
    }
    if invocations <= 0.0 {
        return Err(ReportError::NoData {
            function: name,
            start: window.start.to_rfc3339(),
            end: window.end.to_rfc3339(),
            where_: "the EMF files".into(),
        });
    }

    let mut obs = Observations {
        period_seconds: period,
        lens_data: true,
        lambda_data: None,
        memory_size_mb,
        ..Observations::default()
    };
    for k in SUMMARY.iter().filter(|k| k.ns == Ns::Lens) {
        if let Some(v) = all.get(k.metric).and_then(|s| stats::compute(k.stat, s)) {
            obs.summary.insert(*k, v);
        }
    }
    for k in SERIES.iter().filter(|k| k.ns == Ns::Lens) {
        let points: Vec<(i64, f64)> = buckets
            .iter()
            .filter(|((metric, _), _)| *metric == k.metric)
            .filter_map(|((_, b), s)| {
                Some((window.start.timestamp() + b * period, stats::compute(k.stat, s)?))
            })
            .collect();
        if !points.is_empty() {
            obs.series.insert(*k, points);
        }
    }
    for metric in PER_INVOCATION {
        let with = all.get(metric).map_or(0.0, |s| weight(s));
        if with > 0.0 && with < invocations {
            obs.coverage.push(Coverage {
                metric,
                invocations_with_value: with,
                invocations,
            });
        }
    }
    Ok((obs, window, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(lines: &[Value]) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "lambda-lens-report-emf-{}-{}.jsonl",
            std::process::id(),
            lines.len()
        ));
        let text: Vec<String> = lines.iter().map(Value::to_string).collect();
        std::fs::write(&path, text.join("\n")).unwrap();
        path
    }

    fn aws(ms: i64) -> Value {
        serde_json::json!({"Timestamp": ms, "CloudWatchMetrics": [{"Namespace": "LambdaLens",
            "Dimensions": [["FunctionName"]], "Metrics": [{"Name": "ColdStarts"}]}]})
    }

    #[test]
    fn values_and_counts_weigh_like_repeated_values_and_aggregates_count_their_invocations() {
        let t = 1_795_600_800_000;
        let path = write(&[
            serde_json::json!({"_aws": aws(t), "FunctionName": "f", "RequestId": "a", "Invocations": 1.0,
                "Errors": 1.0, "Timeouts": 0.0, "ColdStarts": 1.0, "Duration": 500.0, "MemorySizeMB": 256.0}),
            serde_json::json!({"_aws": aws(t + 1500), "FunctionName": "f", "Invocations": 4,
                "ColdStarts": {"Values": [0.0], "Counts": [4]}, "Timeouts": [0.0, 0.0, 0.0, 0.0],
                "MaxMemoryUsed": {"Values": [10.0, 30.0], "Counts": [3, 1]}}),
            serde_json::json!({"_aws": aws(t), "FunctionName": "other", "Invocations": 1.0}),
            serde_json::json!({"_aws": aws(t), "FunctionName": "f", "Shutdowns": 1.0}),
        ]);
        let (obs, window, name) = observe(&[path], Some("f"), None).unwrap();
        assert_eq!(name, "f");
        assert_eq!(window.seconds(), 2);
        let lens = |m, s| obs.get(Ns::Lens, m, s);
        assert_eq!(lens("Invocations", stats::Stat::Sum), Some(5.0));
        assert_eq!(lens("Errors", stats::Stat::Sum), Some(1.0));
        assert_eq!(lens("ColdStarts", stats::Stat::SampleCount), Some(5.0));
        assert!((lens("MaxMemoryUsed", stats::Stat::P(99)).unwrap() - 29.4).abs() < 1e-9);
        assert_eq!(lens("MaxMemoryUsed", stats::Stat::Maximum), Some(30.0));
        assert_eq!(obs.memory_size_mb, Some(256.0));
        // Duration only on the invocation with a document of its own.
        assert!(
            obs.coverage
                .iter()
                .any(|c| c.metric == "Duration" && c.invocations_with_value == 1.0)
        );
        assert_eq!(
            obs.series(Ns::Lens, "Invocations", stats::Stat::Sum),
            &[(t / 1000, 1.0), (t / 1000 + 1, 4.0)]
        );
    }

    #[test]
    fn a_function_not_in_the_files_is_named_with_those_that_are() {
        let path =
            write(&[serde_json::json!({"_aws": aws(1), "FunctionName": "checkout", "Invocations": 1.0})]);
        let err = observe(&[path], Some("chekout"), None).err().unwrap();
        assert!(err.to_string().contains("checkout"), "{err}");
    }
}
