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
        level: None,
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

/// Lambda may cut a long stdout line into several log events (reported at 64 KiB; AWS's emulator
/// stops relaying after a line over 64 KiB): every line stays at or under 32 KiB.
const LINE_LIMIT: usize = 32 * 1024;

/// A record of two metrics whose one document would be `LINE_LIMIT + over` bytes long (a padded
/// property makes up the length).
fn two_metrics_padded_to(over: isize) -> MetricRecord {
    let build = |padding: usize| {
        let mut r = invocation(1_795_600_800_130);
        r.value(&catalogue::INVOCATIONS, 1.0);
        r.value(&catalogue::DURATION, 52.3);
        r.text("Padding", Some(&"p".repeat(padding)));
        r
    };
    let mut out = Vec::new();
    encoder().encode(&build(0), &mut out);
    let base = out[0].len();
    build((LINE_LIMIT as isize + over - base as isize) as usize)
}

#[test]
fn a_document_at_the_line_limit_is_one_line() {
    let mut out = Vec::new();
    let stats = encoder().encode(&two_metrics_padded_to(0), &mut out);
    assert_eq!(stats.documents, 1);
    assert_eq!(out[0].len(), LINE_LIMIT);
}

#[test]
fn a_document_just_over_the_line_limit_is_split_and_loses_nothing() {
    let mut out = Vec::new();
    let stats = encoder().encode(&two_metrics_padded_to(1), &mut out);
    assert_eq!(stats.documents, 2, "split in two");
    assert!(
        out.iter().all(|l| l.len() <= LINE_LIMIT),
        "{:?}",
        out.iter().map(String::len).collect::<Vec<_>>()
    );
    let docs: Vec<Value> = out.iter().map(|l| parse(l)).collect();
    assert_eq!(docs[0]["Invocations"], json!(1.0));
    assert_eq!(docs[1]["Duration"], json!(52.3));
    assert!(
        docs.iter()
            .all(|d| d["Padding"].as_str().is_some_and(|p| p.len() > 30_000))
    );
}

#[test]
fn one_metric_over_the_line_limit_keeps_its_value_and_leaves_its_properties_out() {
    let mut r = invocation(1);
    r.value(&catalogue::INVOCATIONS, 1.0);
    r.text("RequestId", Some("r1"));
    r.text("Padding", Some(&"p".repeat(LINE_LIMIT)));
    let mut out = Vec::new();
    let stats = encoder().encode(&r, &mut out);
    assert_eq!(stats.documents, 1);
    assert!(out[0].len() <= LINE_LIMIT, "{}", out[0].len());
    let doc = parse(&out[0]);
    assert_eq!(doc["Invocations"], json!(1.0));
    assert!(doc.get("Padding").is_none());
}

#[test]
fn a_batch_over_the_line_limit_is_split_by_metric_and_loses_nothing() {
    // 100 values of 18 digits for each of 30 metrics: far over one line.
    let defs = many();
    let mut batcher = Batcher::new(false, true, false, 1_000);
    let mut aggregates = Vec::new();
    for i in 0..100 {
        let mut r = invocation(1_795_600_800_000);
        for def in &defs[..30] {
            r.value(def, (f64::from(i) + 1.0) / 7.0);
        }
        batcher.add(&r, 0, &mut aggregates);
    }
    batcher.flush_all(&mut aggregates);
    let mut out = Vec::new();
    for a in &aggregates {
        encoder().encode_batch(a, &mut out);
    }
    assert!(out.len() > 1);
    assert!(out.iter().all(|l| l.len() <= LINE_LIMIT));
    let values: usize = out
        .iter()
        .map(|l| {
            let doc = parse(l);
            defs[..30]
                .iter()
                .filter_map(|d| doc.get(d.name).and_then(Value::as_array).map(Vec::len))
                .sum::<usize>()
        })
        .sum();
    assert_eq!(values, 30 * 100);
}

#[test]
fn under_the_json_log_format_every_document_carries_the_level() {
    let mut cfg = config();
    cfg.level = Some("WARN");
    let mut r = invocation(1);
    r.value(&catalogue::INVOCATIONS, 1.0);
    // A property of that name would give the line another level: it is left out.
    r.text("level", Some("DEBUG"));
    let mut out = Vec::new();
    EmfEncoder::new(cfg.clone()).encode(&r, &mut out);
    assert_eq!(out.len(), 1);
    assert!(out[0].ends_with(r#","level":"WARN"}"#), "{}", out[0]);
    assert_eq!(parse(&out[0])["level"], json!("WARN"));
    // Batches too, and each part of a split document.
    let mut r = invocation(1);
    for (i, def) in many().into_iter().enumerate() {
        r.value(def, i as f64);
    }
    let mut batcher = Batcher::new(false, true, false, 1_000);
    let mut aggregates = Vec::new();
    batcher.add(&r, 0, &mut aggregates);
    batcher.flush_all(&mut aggregates);
    let mut out = Vec::new();
    let encoder = EmfEncoder::new(cfg);
    encoder.encode(&r, &mut out);
    encoder.encode_batch(&aggregates[0], &mut out);
    assert_eq!(out.len(), 6);
    assert!(out.iter().all(|l| parse(l)["level"] == json!("WARN")));
}

#[test]
fn under_the_text_log_format_no_level_is_written() {
    let mut r = invocation(1);
    r.value(&catalogue::INVOCATIONS, 1.0);
    let mut out = Vec::new();
    encoder().encode(&r, &mut out);
    assert!(!out[0].contains("level"), "{}", out[0]);
}
