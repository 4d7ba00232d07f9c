#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests fail loudly")]

use super::*;

const NOW: i64 = 1_764_000_000_000;

fn doc(body: Value) -> String {
    body.to_string()
}

fn invocation(id: usize, duration: f64) -> String {
    doc(json!({
        "_aws": {"Timestamp": NOW - 1000, "CloudWatchMetrics": [{
            "Namespace": "LambdaLens",
            "Dimensions": [["FunctionName"], ["FunctionName", "Version"]],
            "Metrics": [{"Name": "Duration", "Unit": "Milliseconds"}, {"Name": "Errors", "Unit": "Count", "StorageResolution": 1}],
        }]},
        "FunctionName": "shop", "Version": "7", "RequestId": format!("r{id}"),
        "Duration": duration, "Errors": 0,
    }))
}

#[test]
fn every_metric_of_every_dimension_set_is_a_datum() {
    let d = read(invocation(1, 12.5), NOW).unwrap();
    assert_eq!(d.data.len(), 4);
    let (ns, first) = &d.data[0];
    assert_eq!(ns, "LambdaLens");
    assert_eq!(first.name, "Duration");
    assert_eq!(first.unit.as_deref(), Some("Milliseconds"));
    assert_eq!(first.dimensions, [("FunctionName".to_owned(), "shop".to_owned())]);
    assert_eq!(
        (first.values.as_slice(), first.counts.as_slice()),
        (&[12.5][..], &[1.0][..])
    );
    assert_eq!(first.timestamp_ms, NOW - 1000);
    assert_eq!(first.storage_resolution, None);
    let errors = &d.data[3].1;
    assert_eq!(errors.dimensions.len(), 2);
    assert_eq!(errors.storage_resolution, Some(1), "StorageResolution honoured");
}

#[test]
fn arrays_and_values_with_counts_become_distinct_values_with_counts() {
    let text = doc(json!({
        "_aws": {"Timestamp": NOW, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [[]],
            "Metrics": [{"Name": "A"}, {"Name": "B"}]}]},
        "A": [3, 1, 3, 3],
        "B": {"Values": [5, 6], "Counts": [2, 4]},
    }));
    let d = read(text, NOW).unwrap();
    assert_eq!(d.data[0].1.values, [3.0, 1.0]);
    assert_eq!(d.data[0].1.counts, [3.0, 1.0]);
    assert_eq!(d.data[1].1.values, [5.0, 6.0]);
    assert_eq!(d.data[1].1.points(), 6);
}

#[test]
fn more_than_150_distinct_values_are_several_data() {
    let many: Vec<f64> = (0..400).map(f64::from).collect();
    let text = doc(json!({
        "_aws": {"Timestamp": NOW, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [[]], "Metrics": [{"Name": "A"}]}]},
        "A": {"Values": many, "Counts": vec![1; 400]},
    }));
    let d = read(text, NOW).unwrap();
    let sizes: Vec<usize> = d.data.iter().map(|(_, d)| d.values.len()).collect();
    assert_eq!(sizes, [150, 150, 100]);
}

#[test]
fn a_timestamp_cloudwatch_would_refuse_is_the_time_of_sending() {
    for stamp in [NOW - 15 * 24 * 3_600_000, NOW + 3 * 3_600_000] {
        let text = doc(json!({
            "_aws": {"Timestamp": stamp, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [[]], "Metrics": [{"Name": "A"}]}]},
            "A": 1,
        }));
        assert_eq!(read(text, NOW).unwrap().data[0].1.timestamp_ms, NOW);
    }
}

#[test]
fn not_emf_is_none() {
    assert!(read("{\"a\":1}".to_owned(), NOW).is_none());
    assert!(read("nope".to_owned(), NOW).is_none());
}

#[test]
fn requests_hold_at_most_1000_data_of_whole_documents() {
    // 4 data a document: 250 documents fill a request exactly.
    let docs: Vec<Document> = (0..600)
        .map(|i| read(invocation(i, i as f64), NOW).unwrap())
        .collect();
    let requests = pack(docs);
    let sizes: Vec<usize> = requests.iter().map(|r| r.data.len()).collect();
    assert_eq!(sizes, [1000, 1000, 400]);
    let fallbacks: Vec<usize> = requests.iter().map(|r| r.fallback.len()).collect();
    assert_eq!(
        fallbacks,
        [250, 250, 100],
        "each document's own text is its fallback"
    );
    assert!(requests[0].fallback[0].contains("\"RequestId\":\"r0\""));
}

#[test]
fn requests_stay_under_the_size_limit() {
    let long = "x".repeat(1000);
    let docs: Vec<Document> = (0..1000)
        .map(|i| {
            let text = doc(json!({
                "_aws": {"Timestamp": NOW, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["D"]], "Metrics": [{"Name": "A"}]}]},
                "D": format!("{long}{i}"), "A": 1,
            }));
            read(text, NOW).unwrap()
        })
        .collect();
    let requests = pack(docs);
    assert!(requests.len() > 1, "{} requests", requests.len());
    for r in &requests {
        let bytes: usize = r.data.iter().map(Datum::encoded_bytes).sum();
        assert!(bytes <= MAX_REQUEST_BYTES);
    }
    assert_eq!(requests.iter().map(|r| r.data.len()).sum::<usize>(), 1000);
}

/// A document of 1,200 data (100 metrics on 12 dimension sets), too many for one request.
fn wide_document(level: Option<&str>) -> String {
    let names: Vec<String> = (0..100).map(|i| format!("M{i}")).collect();
    let sets: Vec<Vec<String>> = (0..12).map(|i| vec![format!("D{i}")]).collect();
    let mut body = json!({
        "_aws": {"Timestamp": NOW, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": sets,
            "Metrics": names.iter().map(|n| json!({"Name": n})).collect::<Vec<_>>()}]},
    });
    for i in 0..12 {
        body[format!("D{i}")] = json!("v");
    }
    for n in &names {
        body[n.as_str()] = json!([1, 2]);
    }
    if let Some(level) = level {
        body["level"] = json!(level);
    }
    doc(body)
}

#[test]
fn a_document_too_large_for_one_request_is_cut_and_each_part_falls_back_alone() {
    let requests = pack(vec![read(wide_document(None), NOW).unwrap()]);
    let sizes: Vec<usize> = requests.iter().map(|r| r.data.len()).collect();
    assert_eq!(sizes, [1000, 200]);
    // The fallback of each part carries exactly its values.
    for r in &requests {
        let points: u64 = r
            .fallback
            .iter()
            .flat_map(|line| read(line.clone(), NOW).unwrap().data)
            .map(|(_, d)| d.points())
            .sum();
        assert_eq!(points, r.points());
    }
}

#[test]
fn namespaces_never_share_a_request() {
    let a = doc(
        json!({"_aws": {"Timestamp": NOW, "CloudWatchMetrics": [{"Namespace": "A", "Dimensions": [[]], "Metrics": [{"Name": "X"}]}]}, "X": 1}),
    );
    let b = a.replace("\"A\"", "\"B\"");
    let requests = pack(vec![
        read(a.clone(), NOW).unwrap(),
        read(b, NOW).unwrap(),
        read(a, NOW).unwrap(),
    ]);
    let names: Vec<(&str, usize)> = requests
        .iter()
        .map(|r| (r.namespace.as_str(), r.data.len()))
        .collect();
    assert_eq!(names, [("A", 2), ("B", 1)]);
}

#[test]
fn the_fallback_of_a_cut_document_keeps_its_level() {
    // Under Lambda's JSON log format a line without the level is dropped at WARN and above.
    for level in [Some("WARN"), None] {
        let requests = pack(vec![read(wide_document(level), NOW).unwrap()]);
        assert_eq!(requests.len(), 2, "the document is cut");
        for line in requests.iter().flat_map(|r| &r.fallback) {
            let written: Value = serde_json::from_str(line).unwrap();
            assert_eq!(written.get("level").and_then(Value::as_str), level, "{line}");
        }
    }
}
