use super::*;
use crate::metrics::{Group, MetricDef, RecordKind, Unit, catalogue};
use serde_json::{Value, json};

fn config() -> EmfConfig {
    EmfConfig {
        namespace: "LambdaLens".into(),
        dimension_sets: vec![
            vec!["FunctionName".into()],
            vec!["FunctionName".into(), "ColdStart".into()],
        ],
        static_dimensions: vec![("FunctionName".into(), "checkout".into())],
        high_resolution: false,
    }
}

fn encoder() -> EmfEncoder {
    EmfEncoder::new(config())
}

fn invocation(timestamp_ms: i64) -> MetricRecord {
    MetricRecord::new(RecordKind::Invocation, timestamp_ms)
}

fn parse(doc: &str) -> Value {
    serde_json::from_str(doc).unwrap()
}

#[test]
fn golden_single_invocation_document() {
    let mut r = invocation(1_795_600_800_130);
    r.value(&catalogue::INVOCATIONS, 1.0);
    r.value(&catalogue::DURATION, 52.3);
    r.text("RequestId", Some("6d68ca91"));
    r.dimensions.push(("ColdStart", "true".into()));
    r.properties.push(("MemorySizeMB", PropertyValue::Number(128.0)));
    let mut out = Vec::new();
    let stats = encoder().encode(&r, &mut out);
    assert_eq!(stats.documents, 1);
    assert_eq!(out.len(), 1);
    assert!(!out[0].contains('\n'));
    assert_eq!(
        parse(&out[0]),
        json!({
            "_aws": {
                "Timestamp": 1_795_600_800_130_i64,
                "CloudWatchMetrics": [{
                    "Namespace": "LambdaLens",
                    "Dimensions": [["FunctionName"], ["FunctionName", "ColdStart"]],
                    "Metrics": [
                        {"Name": "Invocations", "Unit": "Count"},
                        {"Name": "Duration", "Unit": "Milliseconds"}
                    ]
                }]
            },
            "FunctionName": "checkout",
            "Invocations": 1.0,
            "Duration": 52.3,
            "RequestId": "6d68ca91",
            "ColdStart": "true",
            "MemorySizeMB": 128.0
        })
    );
}

#[test]
fn a_set_whose_keys_all_have_values_is_used() {
    let mut r = invocation(1);
    r.value(&catalogue::INVOCATIONS, 1.0);
    r.dimensions.push(("ColdStart", "true".into()));
    let mut out = Vec::new();
    encoder().encode(&r, &mut out);
    let doc = parse(&out[0]);
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["FunctionName"], ["FunctionName", "ColdStart"]])
    );
    assert_eq!(
        doc["ColdStart"],
        json!("true"),
        "the dimension wins over a property of that name"
    );
}

/// 250 metrics with distinct names (`M0` to `M249`).
fn many() -> Vec<&'static MetricDef> {
    (0..250)
        .map(|i| {
            let def = MetricDef {
                index: u8::MAX,
                name: Box::leak(format!("M{i}").into_boxed_str()),
                unit: Unit::Count,
                group: Group::Core,
                about: "test",
            };
            &*Box::leak(Box::new(def))
        })
        .collect()
}

#[test]
fn more_than_100_metrics_are_split_into_several_documents() {
    let mut r = invocation(1);
    for (i, def) in many().into_iter().enumerate() {
        r.value(def, i as f64);
    }
    r.text("RequestId", Some("x"));
    let mut out = Vec::new();
    let stats = encoder().encode(&r, &mut out);
    assert_eq!(stats.documents, 3);
    let counts: Vec<usize> = out
        .iter()
        .map(|d| {
            parse(d)["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(counts, [100, 100, 50]);
    assert!(out.iter().all(|d| parse(d)["RequestId"] == json!("x")));
}

#[test]
fn non_finite_values_are_dropped_and_counted() {
    let mut r = invocation(1);
    r.value(&catalogue::INVOCATIONS, 1.0);
    r.value(&catalogue::DURATION, f64::NAN);
    r.value(&catalogue::BILLED_DURATION, f64::INFINITY);
    let mut out = Vec::new();
    let stats = encoder().encode(&r, &mut out);
    assert_eq!(stats.non_finite_dropped, 2);
    let doc = parse(&out[0]);
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(doc.get("Duration").is_none());
}

#[test]
fn a_record_with_no_values_writes_nothing() {
    let mut out = Vec::new();
    assert_eq!(encoder().encode(&invocation(1), &mut out).documents, 0);
    assert!(out.is_empty());
}

#[test]
fn high_resolution_sets_storage_resolution() {
    let mut cfg = config();
    cfg.high_resolution = true;
    let mut r = invocation(1);
    r.value(&catalogue::INVOCATIONS, 1.0);
    let mut out = Vec::new();
    EmfEncoder::new(cfg).encode(&r, &mut out);
    assert_eq!(
        parse(&out[0])["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"],
        json!(1)
    );
}

#[test]
fn long_dimension_values_are_cut_and_empty_ones_left_out() {
    let mut cfg = config();
    cfg.static_dimensions = vec![("FunctionName".into(), "f".repeat(2000))];
    let mut r = invocation(1);
    r.value(&catalogue::INVOCATIONS, 1.0);
    r.dimensions.push(("ColdStart", String::new().into()));
    let mut out = Vec::new();
    EmfEncoder::new(cfg).encode(&r, &mut out);
    let doc = parse(&out[0]);
    assert_eq!(doc["FunctionName"].as_str().unwrap().len(), 1024);
    assert_eq!(
        doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["FunctionName"]])
    );
}
