use super::*;
use crate::emf::{EmfConfig, EmfEncoder};
use crate::metrics::RecordKind;
use crate::metrics::catalogue as m;
use serde_json::{Value, json};

const MINUTE: i64 = 1_795_600_800_000; // a whole minute

fn record(ts: i64, id: &str, duration: f64, cold: bool) -> MetricRecord {
    let mut r = MetricRecord::new(RecordKind::Invocation, ts);
    r.value(&m::INVOCATIONS, 1.0);
    r.value(&m::COLD_STARTS, if cold { 1.0 } else { 0.0 });
    r.value(&m::DURATION, duration);
    r.text("RequestId", Some(id));
    r
}

fn encoder() -> EmfEncoder {
    EmfEncoder::new(EmfConfig {
        namespace: "LambdaLens".into(),
        dimension_sets: vec![vec!["FunctionName".into()]],
        static_dimensions: vec![("FunctionName".into(), "f".into())],
        high_resolution: false,
        level: None,
    })
}

fn docs(batches: &[Aggregate]) -> Vec<Value> {
    let mut out = Vec::new();
    for b in batches {
        encoder().encode_batch(b, &mut out);
    }
    out.iter().map(|d| serde_json::from_str(d).unwrap()).collect()
}

#[test]
fn golden_batched_document() {
    let mut b = Batcher::new(false, true, false, 10_000);
    let mut out = Vec::new();
    b.add(&record(MINUTE + 5_000, "r1", 12.5, true), 0, &mut out);
    b.add(&record(MINUTE + 1_000, "r2", 3.0, false), 1, &mut out);
    assert!(out.is_empty());
    b.flush_all(&mut out);
    assert_eq!(
        docs(&out),
        [json!({
            "_aws": {
                "Timestamp": MINUTE + 1_000,
                "CloudWatchMetrics": [{
                    "Namespace": "LambdaLens",
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [
                        {"Name": "Invocations", "Unit": "Count"},
                        {"Name": "ColdStarts", "Unit": "Count"},
                        {"Name": "Duration", "Unit": "Milliseconds"}
                    ]
                }]
            },
            "FunctionName": "f",
            "Invocations": [1.0, 1.0],
            "ColdStarts": [1.0, 0.0],
            "Duration": [12.5, 3.0],
            "RequestIds": ["r1", "r2"]
        })]
    );
}

#[test]
fn golden_compact_document() {
    let mut b = Batcher::new(true, true, false, 10_000);
    let mut out = Vec::new();
    for (i, d) in [5.0, 5.0, 7.0, 5.0].into_iter().enumerate() {
        b.add(
            &record(MINUTE + i as i64, &format!("r{i}"), d, i == 0),
            0,
            &mut out,
        );
    }
    b.flush_all(&mut out);
    let doc = &docs(&out)[0];
    assert_eq!(doc["Invocations"], json!({"Values": [1.0], "Counts": [4]}));
    assert_eq!(doc["ColdStarts"], json!({"Values": [1.0, 0.0], "Counts": [1, 3]}));
    assert_eq!(doc["Duration"], json!({"Values": [5.0, 7.0], "Counts": [3, 1]}));
}

#[test]
fn a_full_array_is_written_and_a_new_batch_opened() {
    let mut b = Batcher::new(false, true, false, 10_000);
    let mut out = Vec::new();
    for i in 0..250 {
        b.add(
            &record(MINUTE + i, &format!("r{i}"), i as f64, false),
            0,
            &mut out,
        );
    }
    assert_eq!(out.len(), 2);
    b.flush_all(&mut out);
    let lens: Vec<usize> = docs(&out)
        .iter()
        .map(|d| d["Duration"].as_array().unwrap().len())
        .collect();
    assert_eq!(lens, [100, 100, 50]);
    assert_eq!(out.iter().map(Aggregate::invocations).sum::<u64>(), 250);
}

#[test]
fn compact_batches_hold_more_invocations_when_values_repeat() {
    let mut b = Batcher::new(true, true, false, 10_000);
    let mut out = Vec::new();
    for i in 0..1_000 {
        b.add(
            &record(MINUTE + i, &format!("r{i}"), (i % 10) as f64, false),
            0,
            &mut out,
        );
    }
    assert!(out.is_empty());
    b.flush_all(&mut out);
    assert_eq!(out[0].invocations(), 1_000);
    let doc = &docs(&out)[0];
    assert_eq!(doc["Invocations"]["Counts"], json!([1000]));
    assert_eq!(doc["RequestIds"].as_array().unwrap().len(), MAX_REQUEST_IDS);
    assert_eq!(doc["RequestIdsOmitted"], json!(900));
}

#[test]
fn values_of_different_minutes_or_dimensions_are_not_mixed() {
    let mut b = Batcher::new(false, true, false, 10_000);
    let mut out = Vec::new();
    b.add(&record(MINUTE + 59_999, "a", 1.0, false), 0, &mut out);
    b.add(&record(MINUTE + 60_000, "b", 1.0, false), 0, &mut out);
    let mut cold = record(MINUTE, "c", 1.0, true);
    cold.dimensions.push(("ColdStart", "true".into()));
    b.add(&cold, 0, &mut out);
    b.flush_all(&mut out);
    assert_eq!(out.len(), 3);
}

#[test]
fn high_resolution_batches_by_second() {
    let mut b = Batcher::new(false, true, true, 10_000);
    let mut out = Vec::new();
    b.add(&record(MINUTE + 100, "a", 1.0, false), 0, &mut out);
    b.add(&record(MINUTE + 1_100, "b", 1.0, false), 0, &mut out);
    b.flush_all(&mut out);
    assert_eq!(out.len(), 2);
}

#[test]
fn a_batch_is_due_after_the_interval() {
    let mut b = Batcher::new(false, true, false, 10_000);
    let mut out = Vec::new();
    b.add(&record(MINUTE, "a", 1.0, false), 1_000, &mut out);
    b.add(&record(MINUTE + 1, "b", 1.0, false), 5_000, &mut out);
    assert_eq!(b.next_deadline(), Some(11_000));
    b.due(10_999, &mut out);
    assert!(out.is_empty());
    b.due(11_000, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(b.next_deadline(), None);
}

#[test]
fn every_batched_document_stays_within_the_limits() {
    // Every metric of the catalogue, 100 long values each: the worst case for size.
    let mut b = Batcher::new(false, true, false, 10_000);
    let mut out = Vec::new();
    for i in 0..100 {
        let mut r = MetricRecord::new(RecordKind::Invocation, MINUTE + i);
        for def in m::ALL {
            r.value(def, 123_456_789.123_456_78 + i as f64);
        }
        r.text("RequestId", Some(&format!("{i:036}")));
        b.add(&r, 0, &mut out);
    }
    b.flush_all(&mut out);
    let mut lines = Vec::new();
    for batch in &out {
        encoder().encode_batch(batch, &mut lines);
    }
    for line in &lines {
        assert!(line.len() <= super::super::MAX_DOCUMENT_BYTES, "{}", line.len());
        let doc: Value = serde_json::from_str(line).unwrap();
        let metrics = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap();
        assert!(metrics.len() <= 100);
        for def in metrics {
            let name = def["Name"].as_str().unwrap();
            assert!(doc[name].as_array().unwrap().len() <= 100);
        }
    }
}

#[test]
fn adaptive_aggregates_count_invocations_without_listing_their_ids() {
    let mut b = Batcher::new(false, false, false, 10_000);
    let mut out = Vec::new();
    b.add(&record(MINUTE, "r1", 1.0, false), 0, &mut out);
    b.add(&record(MINUTE + 1, "r2", 2.0, false), 0, &mut out);
    b.flush_all(&mut out);
    let doc = &docs(&out)[0];
    assert_eq!(doc["Invocations"], json!([1.0, 1.0]));
    assert!(doc.get("RequestIds").is_none() && doc.get("RequestIdsOmitted").is_none());
    assert_eq!(doc["Duration"], json!([1.0, 2.0]));
}
