//! What a demo run printed, read and shown: a metric's value in an EMF document, a summary of
//! every metric in a run, and the tables `make demo` prints.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use lambda_sandbox::Source;

use super::{DemoReport, EXTENSION_NAME, StepResult};

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
