//! What lambda-lens costs its users, from what it wrote: custom metrics (each distinct
//! namespace, metric name and dimension values is one) and log bytes per invocation, priced at
//! CloudWatch's list prices, beside CloudWatch Lambda Insights.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// The date of the prices below (check them before changing it).
pub const PRICES_DATE: &str = "2026-11";
/// USD per custom metric a month (us-east-1, first 10,000 metrics).
pub const PRICE_PER_METRIC_MONTH: f64 = 0.30;
/// USD per GB of log data ingested (us-east-1, standard log class, first tier).
pub const PRICE_PER_GB_INGESTED: f64 = 0.50;
/// CloudWatch Lambda Insights, as its public pricing example counts it: 8 custom metrics per
/// function and about 1 KB of log per invocation.
pub const INSIGHTS_METRICS: usize = 8;
pub const INSIGHTS_BYTES_PER_INVOCATION: f64 = 1_000.0;
/// Invocations a month the table prices.
pub const MONTHLY_INVOCATIONS: [f64; 3] = [1e6, 1e7, 1e8];
/// The fleet the table prices: this many functions, each at the first of
/// [`MONTHLY_INVOCATIONS`].
pub const FLEET_FUNCTIONS: usize = 500;
/// USD per GB of OpenTelemetry metrics ingested at CloudWatch. The guide ("OTel metrics pricing
/// and storage") says the model (per GB ingested, no per-metric charge, 15 months kept) and
/// sends the figure to the pricing page, whose figures are drawn by script and were not read
/// here: this is an assumption (class d), the first tier of log ingestion. The table also says
/// the highest price per GB at which the OTLP rows still meet their target.
pub const OTEL_PRICE_PER_GB: f64 = 0.50;

/// What one OTLP run sent, from the test receiver's records.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpVolume {
    /// Requests answered 200, per invocation.
    pub requests_per_invocation: f64,
    /// Body bytes as sent (gzip), per invocation.
    pub wire_bytes_per_invocation: f64,
    /// CloudWatch's billed size as its guide counts it (each data point's own size, its
    /// metric's name and its resource's attributes), per invocation.
    pub billed_bytes_per_invocation: f64,
    /// Invocations the data points count (`faas.invocations` + `faas.errors` +
    /// `faas.timeouts`).
    pub invocations_counted: f64,
}

/// Measures the receiver's records (`otlp::OtlpReceiver::records`) of a run of `invocations`.
pub fn measure_otlp(records: &[Map<String, Value>], invocations: usize) -> OtlpVolume {
    let kind = |r: &Map<String, Value>, k: &str| r.get("kind").and_then(Value::as_str) == Some(k);
    let num = |r: &Map<String, Value>, k: &str| r.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let n = invocations.max(1) as f64;
    let ok: Vec<&Map<String, Value>> = records
        .iter()
        .filter(|r| kind(r, "request") && num(r, "status") == 200.0)
        .collect();
    let points: Vec<&Map<String, Value>> = records
        .iter()
        .filter(|r| kind(r, "point") && r.get("accepted") == Some(&Value::Bool(true)))
        .collect();
    let counted = points
        .iter()
        .filter(|p| {
            matches!(
                p.get("metric").and_then(Value::as_str),
                Some("faas.invocations" | "faas.errors" | "faas.timeouts")
            )
        })
        .map(|p| num(p, "value"))
        .sum();
    OtlpVolume {
        requests_per_invocation: ok.len() as f64 / n,
        wire_bytes_per_invocation: ok.iter().map(|r| num(r, "bytes")).sum::<f64>() / n,
        billed_bytes_per_invocation: points.iter().map(|p| num(p, "billed_bytes")).sum::<f64>() / n,
        invocations_counted: counted,
    }
}

/// USD a month for OTLP at `billed_bytes_per_invocation` and `invocations`.
pub fn otlp_monthly_cost(billed_bytes_per_invocation: f64, invocations: f64) -> f64 {
    billed_bytes_per_invocation * invocations / 1e9 * OTEL_PRICE_PER_GB
}

/// The highest USD per GB at which OTLP costs at most `ceiling` a month at `invocations`.
pub fn otlp_break_even_price(billed_bytes_per_invocation: f64, invocations: f64, ceiling: f64) -> f64 {
    ceiling / (billed_bytes_per_invocation * invocations / 1e9)
}

/// What one run wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    /// Distinct metric streams: namespace, metric name, dimension set with its values.
    pub custom_metrics: usize,
    /// Bytes of every line, newline included, divided by the invocations run.
    pub bytes_per_invocation: f64,
    /// Invocations counted in aggregated documents (no request id), and their documents' bytes
    /// per such invocation (`None` when there are none).
    pub aggregated_invocations: u64,
    pub aggregated_bytes_per_invocation: Option<f64>,
    /// Documents about one invocation (with a `RequestId`).
    pub single_documents: usize,
}

fn document(line: &str) -> Option<Map<String, Value>> {
    match serde_json::from_str(line) {
        Ok(Value::Object(doc)) => Some(doc),
        _ => None,
    }
}

/// The metric streams of one EMF document.
fn streams(doc: &Map<String, Value>, out: &mut BTreeSet<String>) {
    let directives = doc
        .get("_aws")
        .and_then(|a| a.get("CloudWatchMetrics"))
        .and_then(Value::as_array);
    for directive in directives.into_iter().flatten() {
        let namespace = directive
            .get("Namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let sets = directive.get("Dimensions").and_then(Value::as_array);
        let metrics = directive.get("Metrics").and_then(Value::as_array);
        for metric in metrics.into_iter().flatten() {
            let name = metric.get("Name").and_then(Value::as_str).unwrap_or_default();
            for set in sets.into_iter().flatten() {
                let dims: Vec<String> = set
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(|k| format!("{k}={}", doc.get(k).and_then(Value::as_str).unwrap_or_default()))
                    .collect();
                out.insert(format!("{namespace}/{name}/{}", dims.join(",")));
            }
        }
    }
}

/// Measures the lines one run of `invocations` invocations wrote.
pub fn measure(lines: &[String], invocations: usize) -> Volume {
    let mut metrics = BTreeSet::new();
    let (mut aggregated, mut aggregated_bytes, mut singles) = (0u64, 0usize, 0usize);
    for line in lines {
        let Some(doc) = document(line) else {
            continue;
        };
        streams(&doc, &mut metrics);
        if doc.contains_key("RequestId") {
            singles += 1;
        } else if let Some(count) = doc.get("Invocations").and_then(invocation_count) {
            aggregated += count;
            aggregated_bytes += line.len() + 1;
        }
    }
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    Volume {
        custom_metrics: metrics.len(),
        bytes_per_invocation: bytes as f64 / invocations.max(1) as f64,
        aggregated_invocations: aggregated,
        aggregated_bytes_per_invocation: (aggregated > 0)
            .then(|| aggregated_bytes as f64 / aggregated as f64),
        single_documents: singles,
    }
}

/// How many invocations an aggregated document counts: its `Invocations` property, or the
/// length of the `Invocations` metric's values when that metric (same name) is selected.
fn invocation_count(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::Array(values) => Some(values.len() as u64),
        Value::Object(o) => Some(
            o.get("Counts")?
                .as_array()?
                .iter()
                .filter_map(Value::as_u64)
                .sum(),
        ),
        _ => None,
    }
}

/// USD a month for `metrics` custom metrics and `bytes_per_invocation` of log at `invocations`.
pub fn monthly_cost(metrics: usize, bytes_per_invocation: f64, invocations: f64) -> f64 {
    metrics as f64 * PRICE_PER_METRIC_MONTH + bytes_per_invocation * invocations / 1e9 * PRICE_PER_GB_INGESTED
}

#[cfg(test)]
mod tests {
    use super::*;

    const SINGLE: &str = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"L","Dimensions":[["FunctionName"],["FunctionName","ColdStart"]],"Metrics":[{"Name":"ColdStarts","Unit":"Count"},{"Name":"MaxMemoryUsed","Unit":"Megabytes"}]}]},"FunctionName":"f","ColdStart":"true","ColdStarts":1,"MaxMemoryUsed":30,"RequestId":"r1"}"#;
    const AGGREGATE: &str = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"L","Dimensions":[["FunctionName"],["FunctionName","ColdStart"]],"Metrics":[{"Name":"ColdStarts","Unit":"Count"}]}]},"FunctionName":"f","ColdStart":"false","ColdStarts":[0,0,0],"Invocations":3}"#;

    #[test]
    fn counts_metric_streams_by_dimension_values_and_bytes_per_invocation() {
        let lines = vec![SINGLE.to_owned(), AGGREGATE.to_owned()];
        let v = measure(&lines, 4);
        // ColdStarts and MaxMemoryUsed by FunctionName (2), ColdStarts and MaxMemoryUsed by
        // FunctionName,ColdStart=true (2), ColdStarts by FunctionName,ColdStart=false (1).
        assert_eq!(v.custom_metrics, 5);
        assert_eq!(v.single_documents, 1);
        assert_eq!(v.aggregated_invocations, 3);
        let total = (SINGLE.len() + AGGREGATE.len() + 2) as f64;
        assert_eq!(v.bytes_per_invocation, total / 4.0);
        assert_eq!(
            v.aggregated_bytes_per_invocation,
            Some((AGGREGATE.len() + 1) as f64 / 3.0)
        );
    }

    #[test]
    fn otlp_volume_from_the_receivers_records() {
        let line = |v: Value| v.as_object().unwrap().clone();
        let records = vec![
            line(serde_json::json!({"kind": "request", "status": 200, "bytes": 300})),
            line(serde_json::json!({"kind": "request", "status": 503, "bytes": 300})),
            line(
                serde_json::json!({"kind": "point", "accepted": true, "metric": "faas.invocations", "value": 3, "billed_bytes": 100}),
            ),
            line(
                serde_json::json!({"kind": "point", "accepted": true, "metric": "faas.errors", "value": 1, "billed_bytes": 100}),
            ),
            line(
                serde_json::json!({"kind": "point", "accepted": false, "metric": "faas.invocations", "value": 1, "billed_bytes": 100}),
            ),
            line(
                serde_json::json!({"kind": "point", "accepted": true, "metric": "faas.invoke_duration", "count": 4, "billed_bytes": 200}),
            ),
        ];
        let v = measure_otlp(&records, 4);
        assert_eq!(v.requests_per_invocation, 0.25);
        assert_eq!(v.wire_bytes_per_invocation, 75.0);
        assert_eq!(v.billed_bytes_per_invocation, 100.0);
        assert_eq!(v.invocations_counted, 4.0);
        // 100 bytes an invocation, 100 million invocations: 10 GB.
        assert!((otlp_monthly_cost(100.0, 1e8) - 10.0 * OTEL_PRICE_PER_GB).abs() < 1e-9);
        assert!((otlp_break_even_price(100.0, 1e6, 0.29) - 2.9).abs() < 1e-9);
    }

    #[test]
    fn a_month_of_metrics_and_logs() {
        // 8 metrics and 1 KB per invocation at 100 million invocations: 2.40 + 50.00.
        let cost = monthly_cost(8, 1_000.0, 1e8);
        assert!((cost - 52.4).abs() < 1e-9, "{cost}");
    }
}
