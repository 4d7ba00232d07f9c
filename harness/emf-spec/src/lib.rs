//! A checker for CloudWatch Embedded Metric Format documents, written from the specification
//! (not from the extension's encoder, so the two readings catch each other's mistakes).
//!
//! What it checks, per line: one JSON object on one line, at most 1 MB; `_aws.Timestamp` an
//! integer in epoch milliseconds; `_aws.CloudWatchMetrics` a non-empty array of directives,
//! each with a namespace (1–255 characters, not `AWS/`), dimension sets (arrays of at most 30
//! keys, each naming a top-level string member of 1–1024 characters) and at most 100 metrics
//! (unique names, units from the CloudWatch list, `StorageResolution` 1 or 60), each metric
//! naming a top-level member that is a finite number, an array of at most 100 numbers, or the
//! `{"Values": [...], "Counts": [...]}` form with matching lengths.
//!
//! Beside it, [`extract`]: CloudWatch Logs' side of the format, the metrics it would take from
//! the log events of a log group (each event's message on its own, the checker deciding which
//! documents are valid).

use serde_json::{Map, Value};

mod extract;

pub use extract::{Datum, Extraction, MetricKey, dimensions, extract};

pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
pub const MAX_METRICS_PER_DIRECTIVE: usize = 100;
pub const MAX_VALUES_PER_METRIC: usize = 100;
pub const MAX_DIMENSION_KEYS: usize = 30;

/// Units CloudWatch accepts (`StandardUnit`).
pub const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks one line of output: one document on one line (each stdout line becomes one log
/// event), and [`check_message`]'s rules. Returns the parsed document, or every problem found.
pub fn check_line(line: &str) -> Result<Map<String, Value>, Vec<String>> {
    let mut problems = Vec::new();
    if line.contains('\n') {
        problems.push("document spans more than one line".to_owned());
    }
    let doc = parse_and_check(line, &mut problems)?;
    if problems.is_empty() {
        Ok(doc)
    } else {
        Err(problems)
    }
}

/// Checks one log event's message as the specification reads it: the whole message one JSON
/// object (nothing before or after it), at most 1 MB, and the document's rules. Returns the
/// parsed document, or every problem found.
pub fn check_message(message: &str) -> Result<Map<String, Value>, Vec<String>> {
    let mut problems = Vec::new();
    let doc = parse_and_check(message, &mut problems)?;
    if problems.is_empty() {
        Ok(doc)
    } else {
        Err(problems)
    }
}

/// The size rule, the parse and the document's rules; `Err` only when there is no object to check.
fn parse_and_check(text: &str, problems: &mut Vec<String>) -> Result<Map<String, Value>, Vec<String>> {
    if text.len() > MAX_DOCUMENT_BYTES {
        problems.push(format!(
            "document is {} bytes, over the 1 MB event limit",
            text.len()
        ));
    }
    let doc = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(doc)) => doc,
        Ok(other) => return Err(vec![format!("not a JSON object: {other}")]),
        Err(err) => return Err(vec![format!("not JSON: {err}")]),
    };
    check_document(&doc, problems);
    Ok(doc)
}

/// Whether a line looks like an EMF document at all (has `_aws.CloudWatchMetrics`).
pub fn is_emf(line: &str) -> bool {
    serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v.get("_aws").and_then(|a| a.get("CloudWatchMetrics")).map(|_| ()))
        .is_some()
}

fn check_document(doc: &Map<String, Value>, problems: &mut Vec<String>) {
    let Some(aws) = doc.get("_aws").and_then(Value::as_object) else {
        problems.push("no `_aws` object".to_owned());
        return;
    };
    match aws.get("Timestamp") {
        Some(Value::Number(n))
            if n.as_u64()
                .is_some_and(|t| (1_000_000_000_000..10_000_000_000_000).contains(&t)) => {}
        other => problems.push(format!("`_aws.Timestamp` is not epoch milliseconds: {other:?}")),
    }
    let directives = match aws.get("CloudWatchMetrics").and_then(Value::as_array) {
        Some(d) if !d.is_empty() => d,
        _ => {
            problems.push("`_aws.CloudWatchMetrics` is not a non-empty array".to_owned());
            return;
        }
    };
    for (i, directive) in directives.iter().enumerate() {
        match directive.as_object() {
            Some(d) => check_directive(i, d, doc, problems),
            None => problems.push(format!("directive {i} is not an object")),
        }
    }
}

fn check_directive(i: usize, d: &Map<String, Value>, doc: &Map<String, Value>, problems: &mut Vec<String>) {
    match d.get("Namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() && ns.len() <= 255 && !ns.starts_with("AWS/") => {}
        other => problems.push(format!("directive {i}: bad Namespace {other:?}")),
    }
    match d.get("Dimensions").and_then(Value::as_array) {
        None => problems.push(format!("directive {i}: Dimensions is not an array")),
        // (a) the specification's JSON schema: at least one dimension set (which may itself be
        // empty). What CloudWatch does with none is not documented (d); a writer need not find out.
        Some(sets) if sets.is_empty() => {
            problems.push(format!("directive {i}: Dimensions has no dimension set"));
        }
        Some(sets) => {
            for set in sets {
                let Some(keys) = set.as_array() else {
                    problems.push(format!("directive {i}: a dimension set is not an array"));
                    continue;
                };
                if keys.len() > MAX_DIMENSION_KEYS {
                    problems.push(format!("directive {i}: a dimension set has {} keys", keys.len()));
                }
                for key in keys {
                    let Some(key) = key.as_str() else {
                        problems.push(format!("directive {i}: dimension key {key} is not a string"));
                        continue;
                    };
                    match doc.get(key) {
                        Some(Value::String(v)) if !v.is_empty() && v.chars().count() <= 1024 => {}
                        other => problems.push(format!(
                            "directive {i}: dimension {key:?} is not a string member of 1-1024 characters: {other:?}"
                        )),
                    }
                }
            }
        }
    }
    let Some(metrics) = d.get("Metrics").and_then(Value::as_array) else {
        problems.push(format!("directive {i}: Metrics is not an array"));
        return;
    };
    if metrics.len() > MAX_METRICS_PER_DIRECTIVE {
        problems.push(format!("directive {i}: {} metrics, over 100", metrics.len()));
    }
    let mut names = std::collections::HashSet::new();
    for m in metrics {
        let Some(name) = m.get("Name").and_then(Value::as_str) else {
            problems.push(format!("directive {i}: a metric has no Name"));
            continue;
        };
        if name.is_empty() || name.len() > 255 || !names.insert(name) {
            problems.push(format!(
                "directive {i}: metric name {name:?} is empty, too long or repeated"
            ));
        }
        if let Some(unit) = m.get("Unit")
            && !unit.as_str().is_some_and(|u| UNITS.contains(&u))
        {
            problems.push(format!("metric {name}: unit {unit} is not a CloudWatch unit"));
        }
        if let Some(res) = m.get("StorageResolution")
            && !matches!(res.as_u64(), Some(1 | 60))
        {
            problems.push(format!("metric {name}: StorageResolution {res} is not 1 or 60"));
        }
        check_value(name, doc.get(name), problems);
    }
}

fn finite_numbers(values: &[Value]) -> bool {
    values.iter().all(|v| v.as_f64().is_some_and(f64::is_finite))
}

fn check_value(name: &str, value: Option<&Value>, problems: &mut Vec<String>) {
    match value {
        Some(Value::Number(n)) if n.as_f64().is_some_and(f64::is_finite) => {}
        Some(Value::Array(values)) if values.len() <= MAX_VALUES_PER_METRIC && finite_numbers(values) => {}
        Some(Value::Object(o)) => {
            let values = o.get("Values").and_then(Value::as_array);
            let counts = o.get("Counts").and_then(Value::as_array);
            match (values, counts) {
                (Some(v), Some(c))
                    if v.len() == c.len()
                        && v.len() <= MAX_VALUES_PER_METRIC
                        && finite_numbers(v)
                        && finite_numbers(c) => {}
                _ => problems.push(format!("metric {name}: bad Values/Counts member")),
            }
        }
        other => problems.push(format!(
            "metric {name}: member is not a finite number or array of at most 100: {other:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"_aws":{"Timestamp":1795600800000,"CloudWatchMetrics":[{"Namespace":"LambdaLens","Dimensions":[["FunctionName"]],"Metrics":[{"Name":"Duration","Unit":"Milliseconds"},{"Name":"Invocations","Unit":"Count","StorageResolution":1}]}]},"FunctionName":"f","Duration":[1.5,2.5],"Invocations":{"Values":[1],"Counts":[3]},"RequestId":"r"}"#;

    #[test]
    fn a_valid_document_passes() {
        assert!(check_line(GOOD).is_ok(), "{:?}", check_line(GOOD));
        assert!(is_emf(GOOD));
        assert!(!is_emf(r#"{"message":"hello"}"#));
    }

    #[test]
    fn each_rule_is_enforced() {
        let cases = [
            (r#""Timestamp":1795600800000"#, r#""Timestamp":"now""#),
            (r#""Timestamp":1795600800000"#, r#""Timestamp":1795600800"#),
            (r#""Unit":"Milliseconds""#, r#""Unit":"Millis""#),
            (r#""StorageResolution":1"#, r#""StorageResolution":5"#),
            (r#""FunctionName":"f""#, r#""FunctionName":3"#),
            (r#""FunctionName":"f""#, r#""FunctionName":"""#),
            (r#""Duration":[1.5,2.5]"#, r#""Duration":"slow""#),
            (r#""Duration":[1.5,2.5]"#, r#""Duration":null"#),
            (r#""Counts":[3]"#, r#""Counts":[3,4]"#),
            (r#""Namespace":"LambdaLens""#, r#""Namespace":"AWS/Lambda""#),
            (r#"{"Name":"Invocations""#, r#"{"Name":"Duration""#),
            (r#"[["FunctionName"]]"#, "[]"),
        ];
        for (from, to) in cases {
            let bad = GOOD.replacen(from, to, 1);
            assert_ne!(bad, GOOD, "{from}");
            assert!(check_line(&bad).is_err(), "accepted after {from} -> {to}");
        }
        let many: Vec<String> = (0..101).map(|i| format!("{i}")).collect();
        let bad = GOOD.replacen("[1.5,2.5]", &format!("[{}]", many.join(",")), 1);
        assert!(check_line(&bad).is_err());
        let keys: Vec<String> = (0..31).map(|i| format!("\"K{i}\"")).collect();
        let bad = GOOD.replacen(r#"[["FunctionName"]]"#, &format!("[[{}]]", keys.join(",")), 1);
        assert!(check_line(&bad).is_err());
        assert!(check_line("[1]").is_err());
        assert!(check_line("not json").is_err());
    }
}
